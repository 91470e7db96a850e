//! Full-text search over review comments, complaint texts and replies, as pure rules: what a
//! query may ask, the filter keys (facets) a document is indexed under, and where the matches
//! stand in a text. The terms come from jieba (`adapters::search`), the rows from
//! `storage::search`.

use chrono::{Datelike, NaiveDate};

/// Longest query, in characters: a search is a few words, not a document.
pub const MAX_QUERY_CHARS: usize = 100;
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Hits counted at most: past this the total is given as "more than". Counting every one of
/// 300 000 matches of a common word would cost more than finding the first page.
pub const COUNT_CAP: i64 = 1000;
/// A period up to this many months is narrowed by its month keys in the index; a longer one by
/// the time of each match only.
pub const MAX_MONTH_KEYS: usize = 36;
/// Characters of text a snippet shows around the first match.
pub const SNIPPET_CHARS: usize = 90;
/// Characters shown before the first match.
const SNIPPET_LEAD: usize = 24;

/// What a document's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocSource {
    /// A review's comment (评价意见); `record_id` is the review's id.
    Review,
    /// A complaint's title and content (投诉); the complaint's id.
    Complaint,
    /// A case's reply (答复), the latest one given; the case's id.
    Reply,
}

impl DocSource {
    pub const ALL: [DocSource; 3] = [DocSource::Review, DocSource::Complaint, DocSource::Reply];

    pub fn as_str(self) -> &'static str {
        match self {
            DocSource::Review => "review",
            DocSource::Complaint => "complaint",
            DocSource::Reply => "reply",
        }
    }

    pub fn parse(s: &str) -> Option<DocSource> {
        DocSource::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            DocSource::Review => "评价意见",
            DocSource::Complaint => "投诉",
            DocSource::Reply => "答复",
        }
    }
}

/// The grade filter: a band (差评 1–2, 基本满意 3, 好评 4–5) or exact stars. Complaints have no
/// grade, so a grade filter keeps reviews and the replies to reviews only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradeFilter {
    Bad,
    Basic,
    Good,
    Stars(u8),
}

impl GradeFilter {
    /// `bad`, `basic`, `good` or `1`..`5`; `all` or nothing: no filter.
    pub fn parse(s: &str) -> Result<Option<GradeFilter>, String> {
        Ok(Some(match s {
            "" | "all" => return Ok(None),
            "bad" => GradeFilter::Bad,
            "basic" => GradeFilter::Basic,
            "good" => GradeFilter::Good,
            "1" | "2" | "3" | "4" | "5" => GradeFilter::Stars(s.as_bytes()[0] - b'0'),
            _ => return Err("bad, basic, good, all or stars 1 to 5".into()),
        }))
    }

    pub fn stars(self) -> std::ops::RangeInclusive<u8> {
        match self {
            GradeFilter::Bad => 1..=2,
            GradeFilter::Basic => 3..=3,
            GradeFilter::Good => 4..=5,
            GradeFilter::Stars(n) => n..=n,
        }
    }

    pub fn as_str(self) -> String {
        match self {
            GradeFilter::Bad => "bad".into(),
            GradeFilter::Basic => "basic".into(),
            GradeFilter::Good => "good".into(),
            GradeFilter::Stars(n) => n.to_string(),
        }
    }
}

/// The query text as given: trimmed, not empty, not too long (`Err`: what to tell the caller).
pub fn check_query(q: &str) -> Result<&str, String> {
    let q = q.trim();
    if q.is_empty() {
        return Err("q is empty: give the words to search for, e.g. q=排队".into());
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("q is longer than {MAX_QUERY_CHARS} characters: search for a few words"));
    }
    Ok(q)
}

/// The index's key of a department (`d0`: none yet, an unassigned complaint).
pub fn department_key(department_id: Option<i64>) -> String {
    format!("d{}", department_id.unwrap_or(0))
}

pub fn source_key(source: DocSource) -> String {
    format!("s{}", source.as_str())
}

pub fn stars_key(stars: u8) -> String {
    format!("g{stars}")
}

/// The key of the month (Beijing time) a document's day falls in.
pub fn month_key(day: NaiveDate) -> String {
    format!("m{:04}{:02}", day.year(), day.month())
}

/// The keys a document is found under besides its words: its department, source, stars and
/// month. Letters and digits only, so that SQLite's FTS5 keeps each one token.
pub fn facets(source: DocSource, department_id: Option<i64>, stars: Option<i32>, local_day: NaiveDate) -> Vec<String> {
    let mut keys = vec![department_key(department_id), source_key(source), month_key(local_day)];
    if let Some(s) = stars.and_then(|s| u8::try_from(s).ok()) {
        keys.push(stars_key(s));
    }
    keys
}

/// The month keys from `first` to `last` (days in Beijing time), or `None` past
/// [`MAX_MONTH_KEYS`] months.
pub fn month_keys(first: NaiveDate, last: NaiveDate) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    let mut month = first.with_day(1)?;
    while month <= last {
        if keys.len() == MAX_MONTH_KEYS {
            return None;
        }
        keys.push(month_key(month));
        month = month.checked_add_months(chrono::Months::new(1))?;
    }
    Some(keys)
}

/// A character compared without case: ASCII and other one-to-one lower-casing only, so that
/// offsets in the lowered text are offsets in the text.
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Where `needles` occur in `text`, as `[start, end)` character offsets (Unicode scalar values),
/// case-insensitively, overlapping and touching ones merged, in order.
pub fn match_ranges(text: &str, needles: &[String]) -> Vec<(usize, usize)> {
    let hay: Vec<char> = text.chars().map(fold).collect();
    let mut ranges = Vec::new();
    for needle in needles {
        let needle: Vec<char> = needle.chars().map(fold).collect();
        if needle.is_empty() || needle.len() > hay.len() {
            continue;
        }
        let mut at = 0;
        while at + needle.len() <= hay.len() {
            if hay[at..at + needle.len()] == needle[..] {
                ranges.push((at, at + needle.len()));
                at += needle.len();
            } else {
                at += 1;
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// About [`SNIPPET_CHARS`] characters of `text` around its first match, HTML-escaped, each
/// match in `<mark>`; `…` where the text was cut.
pub fn snippet_html(text: &str, ranges: &[(usize, usize)]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let first = ranges.first().map_or(0, |r| r.0);
    let mut start = first.saturating_sub(SNIPPET_LEAD);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    // Near the end of a long text, show the full width before it.
    start = start.min(end.saturating_sub(SNIPPET_CHARS));
    let mut out = String::with_capacity((end - start) * 3 + 32);
    if start > 0 {
        out.push('…');
    }
    let mut open = false;
    for (i, &c) in chars.iter().enumerate().take(end).skip(start) {
        if !open && ranges.iter().any(|r| r.0 <= i && i < r.1) {
            out.push_str("<mark>");
            open = true;
        }
        escape_into(&mut out, c);
        if open && !ranges.iter().any(|r| r.0 <= i + 1 && i + 1 < r.1) {
            out.push_str("</mark>");
            open = false;
        }
    }
    if open {
        out.push_str("</mark>");
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(check_query("  排队 "), Ok("排队"));
        assert!(check_query("   ").is_err());
        assert!(check_query(&"排".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(check_query(&"排".repeat(MAX_QUERY_CHARS)).is_ok());
    }

    #[test]
    fn grades_parse_to_star_ranges() {
        assert_eq!(GradeFilter::parse("bad").map(|g| g.map(GradeFilter::stars)), Ok(Some(1..=2)));
        assert_eq!(GradeFilter::parse("4").map(|g| g.map(GradeFilter::stars)), Ok(Some(4..=4)));
        assert_eq!(GradeFilter::parse("all"), Ok(None));
        assert!(GradeFilter::parse("6").is_err());
        assert!(GradeFilter::parse("worst").is_err());
    }

    #[test]
    fn month_keys_cover_the_period_and_stop_at_the_cap() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert_eq!(month_keys(d("2026-11-15"), d("2027-01-02")), Some(vec!["m202611".into(), "m202612".into(), "m202701".into()]));
        assert_eq!(month_keys(d("2020-01-01"), d("2026-01-01")), None);
        assert_eq!(facets(DocSource::Review, Some(3), Some(1), d("2026-11-30")), ["d3", "sreview", "m202611", "g1"]);
        assert_eq!(facets(DocSource::Complaint, None, None, d("2026-11-30")), ["d0", "scomplaint", "m202611"]);
    }

    #[test]
    fn ranges_are_character_offsets_merged_and_case_blind() {
        let text = "窗口排队两小时，排队的人很多。APP 登录不上";
        assert_eq!(match_ranges(text, &["排队".into()]), vec![(2, 4), (8, 10)]);
        assert_eq!(match_ranges(text, &["排".into(), "排队".into(), "队两".into()]), vec![(2, 5), (8, 10)]);
        assert_eq!(match_ranges(text, &["app".into()]), vec![(15, 18)]);
        assert_eq!(match_ranges(text, &["不存在".into()]), vec![]);
        // Touching matches are one mark: 点 and 赞 of 点赞.
        assert_eq!(match_ranges("给窗口点赞", &["点".into(), "赞".into()]), vec![(3, 5)]);
    }

    #[test]
    fn snippets_escape_html_and_mark_matches() {
        let text = "<b>排队</b> & 等待";
        let ranges = match_ranges(text, &["排队".into()]);
        assert_eq!(snippet_html(text, &ranges), "&lt;b&gt;<mark>排队</mark>&lt;/b&gt; &amp; 等待");
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{}排队{}", "前".repeat(200), "后".repeat(200));
        let ranges = match_ranges(&text, &["排队".into()]);
        let snippet = snippet_html(&text, &ranges);
        assert!(snippet.starts_with('…') && snippet.ends_with('…'), "{snippet}");
        assert!(snippet.contains("<mark>排队</mark>"), "{snippet}");
        assert_eq!(snippet.chars().filter(|c| *c == '前').count(), SNIPPET_LEAD);
        // A match near the end still shows a full snippet.
        let tail = format!("{}排队", "前".repeat(200));
        let snippet = snippet_html(&tail, &match_ranges(&tail, &["排队".into()]));
        assert!(snippet.ends_with("<mark>排队</mark>"), "{snippet}");
        assert_eq!(snippet.chars().count(), 1 + SNIPPET_CHARS + "<mark></mark>".len());
    }
}
