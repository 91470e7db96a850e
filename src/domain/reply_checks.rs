//! Checks of a department's reply before the supervisor audits it (答复提示). A warning never
//! blocks: the reply is accepted, the warnings go with it to the supervisor's audit queue.
//!
//! Pure: the caller tokenises both texts (the jieba tokenizer, stop words removed), finds whether
//! another case carries the same reply and loads the banned phrases; this decides.

use serde::{Deserialize, Serialize};

/// A reply with fewer content characters than this is "very short". Content characters are
/// letters, Chinese characters and digits; punctuation and spaces do not count. 15 lets through
/// the shortest real answers ("已对该窗口人员批评教育并增开两个窗口" is 18) and catches the
/// formulas that answer nothing ("已处理。", "收到，谢谢您的反馈！" are 3 and 8).
pub const MIN_REPLY_CHARS: usize = 15;

/// Off-topic is judged only when both sides have at least this many distinct content terms:
/// a one-tag review ("态度差") or a formula reply says too little to compare.
pub const OFF_TOPIC_MIN_TERMS: usize = 3;

/// Off-topic when the shared terms are fewer than this share of the smaller term set (the
/// overlap coefficient |A∩B| / min(|A|, |B|)). Jaccard would punish a long, thorough reply for
/// its length; the overlap coefficient asks only whether the reply takes up the complaint's words.
/// Measured with the project's tokenizer: replies that answer the complaint score 0.6–1.0 on
/// short complaints ("窗口排队两小时"; "营业执照办理材料被反复退回") and 0.125–0.17 on long
/// ones whose wording they do not repeat (a 公积金 complaint of 16 terms answered with "住房",
/// "公积金提取"; "态度恶劣…" answered with "工作人员"); boilerplate about 批评教育 and 培训 sent
/// to a 公积金 or 营业执照 complaint scores 0.0. So: one shared term of a short complaint
/// passes, one of ten or more is flagged, as is none at all.
pub const OFF_TOPIC_MAX_OVERLAP: f64 = 0.1;

/// The banned list until an admin sets one: phrases that belittle or turn the citizen away.
pub const DEFAULT_BANNED_REPLY_PHRASES: [&str; 6] = ["没事找事", "瞎投诉", "无理取闹", "爱投诉就投诉", "不归我们管", "自己去问"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// Fewer than [`MIN_REPLY_CHARS`] content characters.
    TooShort,
    /// Word for word the reply of another case.
    Copied,
    /// Contains a phrase of the banned list.
    BannedPhrase,
    /// Shares almost no terms with the review or complaint it answers.
    OffTopic,
}

impl WarningCode {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::TooShort => "too_short",
            WarningCode::Copied => "copied",
            WarningCode::BannedPhrase => "banned_phrase",
            WarningCode::OffTopic => "off_topic",
        }
    }
}

/// One finding about a reply: a stable `code` and what to tell the person (Chinese).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyWarning {
    /// `too_short`, `copied`, `banned_phrase` or `off_topic`.
    pub code: WarningCode,
    pub message: String,
}

/// What the checks look at.
pub struct ReplyFacts<'a> {
    /// The reply as stored (trimmed).
    pub reply: &'a str,
    /// Content terms of the reply.
    pub reply_terms: &'a [String],
    /// Content terms of what it answers: the review's comment and tags, or the complaint's title
    /// and content.
    pub complaint_terms: &'a [String],
    pub banned_phrases: &'a [String],
    /// Whether another case carries exactly this reply.
    pub copied: bool,
}

/// Letters, Chinese characters and digits in `text`.
pub fn content_chars(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// The overlap coefficient of two term lists (duplicates counted once), or `None` when either
/// has fewer than [`OFF_TOPIC_MIN_TERMS`] distinct terms.
pub fn term_overlap(a: &[String], b: &[String]) -> Option<f64> {
    let a: std::collections::BTreeSet<&str> = a.iter().map(String::as_str).collect();
    let b: std::collections::BTreeSet<&str> = b.iter().map(String::as_str).collect();
    let smaller = a.len().min(b.len());
    if smaller < OFF_TOPIC_MIN_TERMS {
        return None;
    }
    Some(a.intersection(&b).count() as f64 / smaller as f64)
}

/// The banned phrases `reply` contains, in the list's order (Latin letters compared without case).
pub fn banned_in<'p>(reply: &str, phrases: &'p [String]) -> Vec<&'p str> {
    let reply = reply.to_lowercase();
    phrases.iter().map(|p| p.trim()).filter(|p| !p.is_empty() && reply.contains(&p.to_lowercase())).collect()
}

/// The warnings of one reply, in a fixed order: too short, copied, banned phrase, off topic.
pub fn check_reply(facts: &ReplyFacts) -> Vec<ReplyWarning> {
    let mut warnings = Vec::new();
    let chars = content_chars(facts.reply);
    if chars < MIN_REPLY_CHARS {
        warnings.push(ReplyWarning {
            code: WarningCode::TooShort,
            message: format!("答复过短（{chars} 字，少于 {MIN_REPLY_CHARS} 字），请说明核实情况和整改措施。"),
        });
    }
    if facts.copied {
        warnings.push(ReplyWarning { code: WarningCode::Copied, message: "答复与其他案件的答复逐字相同，请针对本案情况答复。".into() });
    }
    let banned = banned_in(facts.reply, facts.banned_phrases);
    if !banned.is_empty() {
        let listed: Vec<String> = banned.iter().map(|p| format!("“{p}”")).collect();
        warnings.push(ReplyWarning { code: WarningCode::BannedPhrase, message: format!("答复含有不当用语{}，请修改措辞。", listed.join("、")) });
    }
    if term_overlap(facts.reply_terms, facts.complaint_terms).is_some_and(|o| o < OFF_TOPIC_MAX_OVERLAP) {
        warnings.push(ReplyWarning { code: WarningCode::OffTopic, message: "答复与群众反映的内容几乎没有共同之处，请确认是否答非所问。".into() });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &str) -> Vec<String> {
        words.split_whitespace().map(str::to_owned).collect()
    }

    fn banned() -> Vec<String> {
        DEFAULT_BANNED_REPLY_PHRASES.iter().map(|p| (*p).to_owned()).collect()
    }

    fn codes(facts: &ReplyFacts) -> Vec<&'static str> {
        check_reply(facts).iter().map(|w| w.code.as_str()).collect()
    }

    const GOOD: &str = "您好，关于您反映的窗口排队时间过长问题，我局已增开两个窗口并推行预约分流，高峰期排队已缩短到二十分钟以内。";

    #[test]
    fn a_good_reply_has_no_warnings() {
        let (reply, complaint) = (terms("反映 窗口 排队 时间 过长 问题 增开 窗口 推行 预约 分流 高峰期 排队 缩短 分钟"), terms("窗口 排队 小时"));
        let facts = ReplyFacts { reply: GOOD, reply_terms: &reply, complaint_terms: &complaint, banned_phrases: &banned(), copied: false };
        assert_eq!(codes(&facts), Vec::<&str>::new());
    }

    #[test]
    fn each_warning_on_its_own() {
        let none: Vec<String> = vec![];
        let short = ReplyFacts { reply: "已处理。", reply_terms: &none, complaint_terms: &none, banned_phrases: &banned(), copied: false };
        assert_eq!(codes(&short), ["too_short"]);
        assert!(check_reply(&short)[0].message.contains("3 字"), "{:?}", check_reply(&short));
        let copied = ReplyFacts { copied: true, reply: GOOD, ..short };
        assert_eq!(codes(&copied), ["copied"]);
        let rude = "经核实，窗口工作人员按规定办理，您属于没事找事，请勿瞎投诉，后续问题请自己去问。";
        let flagged = ReplyFacts { reply: rude, copied: false, ..copied };
        assert_eq!(codes(&flagged), ["banned_phrase"]);
        assert!(check_reply(&flagged)[0].message.contains("“没事找事”、“瞎投诉”、“自己去问”"), "{:?}", check_reply(&flagged));
        let (reply, complaint) = (terms("公积金 提取 材料 齐全 办结"), terms("窗口 排队 小时 叫号"));
        let off = ReplyFacts { reply: "您好，您的公积金提取材料已经齐全，业务已于当日办结，请留意到账短信。", reply_terms: &reply, complaint_terms: &complaint, ..flagged };
        assert_eq!(codes(&off), ["off_topic"]);
    }

    #[test]
    fn all_at_once_in_order() {
        let (reply, complaint) = (terms("瞎投诉 问题 处理 关注"), terms("窗口 排队 小时"));
        let facts = ReplyFacts { reply: "瞎投诉，已处理", reply_terms: &reply, complaint_terms: &complaint, banned_phrases: &banned(), copied: true };
        assert_eq!(codes(&facts), ["too_short", "copied", "banned_phrase", "off_topic"]);
    }

    #[test]
    fn thresholds() {
        assert_eq!(content_chars("收到，谢谢您的反馈！"), 8);
        assert_eq!(content_chars("已对该窗口人员批评教育并增开两个窗口"), 18);
        assert_eq!(content_chars("APP 2 号"), 5);
        // Too few terms on either side: not judged.
        assert_eq!(term_overlap(&terms("态度 差"), &terms("a b c d e")), None);
        // One of four complaint terms taken up: on topic.
        assert_eq!(term_overlap(&terms("窗口 排队 小时 叫号"), &terms("窗口 增开 预约 分流 缩短")), Some(0.25));
        // One of twelve: off topic.
        let long = terms("a b c d e f g h i j k l");
        let o = term_overlap(&long, &terms("a x y z u v w r s t p q")).expect("judged");
        assert!(o < OFF_TOPIC_MAX_OVERLAP, "{o}");
        // Repeated terms count once.
        assert_eq!(term_overlap(&terms("窗口 窗口 窗口 排队 小时"), &terms("窗口 排队 小时")), Some(1.0));
    }

    #[test]
    fn banned_phrases_ignore_blanks_and_latin_case() {
        let phrases = vec!["".to_owned(), " 瞎投诉 ".to_owned(), "NO WAY".to_owned()];
        assert_eq!(banned_in("这是瞎投诉, no way", &phrases), ["瞎投诉", "NO WAY"]);
        assert!(banned_in("认真答复", &phrases).is_empty());
    }
}
