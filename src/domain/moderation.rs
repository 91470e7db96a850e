//! Moderation before 双公开: what a citizen typed into a public comment is filtered before it is
//! shown on `/public` or in Open311. Phone numbers, ID-card numbers and street addresses are
//! masked; a comment containing a phrase from the district's list is held (未审核) until a
//! supervisor publishes it or keeps it private (已审核). Comments without a held phrase need no
//! review (无需审核).

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::domain::exchange::AuditStatus;

/// Digits with a non-digit (or the start) before them kept in group 1: the regex crate has no
/// look-behind, and `\b` does not separate a Chinese character from a digit. Numbers may be
/// written with spaces, dashes or dots between digit groups (`138 1234 5678`, `+86 138-1234-5678`).
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    // Mobile numbers (optionally +86 / 0086), then landlines with an area code, in brackets or not.
    Regex::new(r"(^|[^0-9])((?:(?:\+|00)86[\s.-]?)?1[3-9][0-9](?:[\s.-]?[0-9]){8}|\(?0[0-9]{2,3}\)?[\s.-]?[0-9]{3,4}[\s.-]?[0-9]{4})")
        .expect("phone pattern")
});
static ID_CARD: LazyLock<Regex> = LazyLock::new(|| {
    // 18 characters (or the old 15 digits), with spaces between the region, birth date and serial.
    Regex::new(r"(^|[^0-9])([0-9]{6}[\s-]?(?:[0-9]{8}[\s-]?[0-9]{3}[0-9Xx]|[0-9]{6}[\s-]?[0-9]{3}))").expect("ID-card pattern")
});
/// A road, lane or village with its door number; building, unit and room numbers; and the
/// `3-2-501` form of building-unit-room.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\p{Han}(?:路|街|大道|巷|弄|胡同|村|里)\s*)([0-9]+)(\s*(?:号|弄))|()([0-9]+)(\s*(?:号楼|栋|幢|单元|室|号房|座))|(^|[^0-9])([0-9]{1,3}-[0-9]{1,2}-[0-9]{3,4})")
        .expect("address pattern")
});

/// Full-width digits, letters and punctuation as their ASCII forms, so that `１３８…` is the
/// number it reads as.
fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// Every digit of `text` but the first `keep_head` and last `keep_tail` digits as `*`;
/// separators stay.
fn stars(text: &str, keep_head: usize, keep_tail: usize) -> String {
    let digits = text.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if !c.is_ascii_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen <= keep_head || seen > digits.saturating_sub(keep_tail) { c } else { '*' }
        })
        .collect()
}

/// The comment as the public sees it: phone numbers keep their first three and last four
/// digits (`138****5678`), ID-card numbers only their first and last character, door, building
/// and room numbers none.
pub fn mask_personal_text(text: &str) -> String {
    let text = half_width(text);
    let text = ID_CARD.replace_all(&text, |c: &Captures<'_>| format!("{}{}", &c[1], stars(&c[2], 1, 1)));
    let text = PHONE.replace_all(&text, |c: &Captures<'_>| format!("{}{}", &c[1], stars(&c[2], 3, 4)));
    let text = ADDRESS.replace_all(&text, |c: &Captures<'_>| {
        let group = |i: usize| c.get(i).map(|m| m.as_str()).unwrap_or("");
        if c.get(2).is_some() {
            format!("{}{}{}", group(1), stars(group(2), 0, 0), group(3))
        } else if c.get(5).is_some() {
            format!("{}{}", stars(group(5), 0, 0), group(6))
        } else {
            format!("{}{}", group(7), stars(group(8), 0, 0))
        }
    });
    text.into_owned()
}

/// The first phrase of `phrases` the comment contains (case-insensitively for Latin letters).
pub fn held_phrase<'a>(comment: &str, phrases: &'a [String]) -> Option<&'a str> {
    let comment = comment.to_lowercase();
    phrases.iter().map(String::as_str).find(|p| !p.trim().is_empty() && comment.contains(&p.trim().to_lowercase()))
}

/// The 审核状态 a new review starts with: held only when it is to be public and its comment
/// contains a listed phrase.
pub fn initial_status(comment: Option<&str>, public: bool, phrases: &[String]) -> AuditStatus {
    match comment {
        Some(text) if public && held_phrase(text, phrases).is_some() => AuditStatus::Pending,
        _ => AuditStatus::NotNeeded,
    }
}

/// A supervisor's decision on a held comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Publish,
    KeepPrivate,
}

impl Decision {
    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "publish" => Some(Decision::Publish),
            "keep_private" => Some(Decision::KeepPrivate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Publish => "publish",
            Decision::KeepPrivate => "keep_private",
        }
    }
}

/// Seeded phrases: abuse and threats a district would not publish without a look.
pub const DEFAULT_HELD_PHRASES: [&str; 6] = ["傻逼", "去死", "骗子", "黑社会", "贪官", "举报你"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_id_numbers_and_addresses_are_masked() {
        let text = "我的电话13812345678，座机021-62345678，身份证310101199001011234，住在长宁路123号5号楼2单元501室，12月3日办理。";
        let masked = mask_personal_text(text);
        assert!(masked.contains("138****5678"), "{masked}");
        assert!(masked.contains("021-****5678"), "{masked}");
        assert!(masked.contains("3****************4"), "{masked}");
        assert!(masked.contains("长宁路***号") && masked.contains("*号楼*单元***室"), "{masked}");
        assert!(masked.contains("12月3日"), "dates stay: {masked}");
        assert!(!masked.contains("13812345678") && !masked.contains("310101199001011234"));
    }

    #[test]
    fn a_listed_phrase_holds_a_public_comment_only() {
        let phrases = vec!["骗子".to_owned(), "  ".to_owned()];
        assert_eq!(initial_status(Some("窗口人员是骗子"), true, &phrases), AuditStatus::Pending);
        assert_eq!(initial_status(Some("窗口人员是骗子"), false, &phrases), AuditStatus::NotNeeded);
        assert_eq!(initial_status(Some("办得很快"), true, &phrases), AuditStatus::NotNeeded);
        assert_eq!(initial_status(None, true, &phrases), AuditStatus::NotNeeded);
    }

    #[test]
    fn numbers_written_other_ways_are_masked_too() {
        for (text, gone) in [
            ("电话１３８１２３４５６７８", "1234"),
            ("电话138 1234 5678找我", "1234"),
            ("打+86 138-1234-5678", "1234"),
            ("座机(021)62345678", "2345"),
            ("座机021 6234 5678", "6234"),
            ("身份证310101 19900101 1234", "19900101"),
            ("身份证３１０１０１１９９００１０１１２３４", "19900101"),
            ("住在3-2-501", "501"),
        ] {
            let masked = mask_personal_text(text);
            assert!(!masked.contains(gone), "{text} → {masked}");
        }
        assert_eq!(mask_personal_text("电话138 1234 5678"), "电话138 **** 5678");
    }

    #[test]
    fn plain_numbers_are_left_alone() {
        for text in ["12345热线", "等了45分钟", "第3次来"] {
            assert_eq!(mask_personal_text(text), text);
        }
    }
}
