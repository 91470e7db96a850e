//! Full-text search (检索) for staff over review comments, complaint texts and replies: the
//! query cut with the same jieba dictionary as the texts, every word required, filtered by
//! period, department, grade, source and topic, newest first, each hit with its matches marked.
//! A department's users search their own department's texts; supervisors, admins all. The
//! index is written with each text (`adapters::search`); this module also fills it for texts
//! stored before it existed (start-up, `haochaping reindex-search`).

use chrono::NaiveDate;
use serde::Serialize;

use crate::adapters::search::{self as indexing, complaint_text, query_terms, Text};
use crate::clock::{self, rfc3339_local};
use crate::domain::calendar::start_of_local_day;
use crate::domain::search::{
    check_query, department_key, match_ranges, month_keys, snippet_html, source_key, stars_key, DocSource, GradeFilter, COUNT_CAP, DEFAULT_LIMIT, MAX_LIMIT,
};
use crate::error::{AppError, AppResult};
use crate::insight::stats::{self, Scope};
use crate::storage::search::{self, Search};
use crate::storage::Conn;

/// A search as asked (the API's query string, the pages' form).
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    /// First and last day, `YYYY-MM-DD` in Beijing time, inclusive; each may be left open.
    pub from: Option<String>,
    pub to: Option<String>,
    pub department_code: Option<String>,
    /// `bad`, `basic`, `good`, `1`..`5` or `all`.
    pub grade: Option<String>,
    /// `review`, `complaint`, `reply` or `all`.
    pub source: Option<String>,
    pub topic: Option<i64>,
    pub page: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    /// The case the text belongs to; none for a review that opened none (3–5 stars).
    pub case_id: Option<i64>,
    pub transaction_no: Option<String>,
    /// `review` (a comment), `complaint` (title and content) or `reply` (the case's latest reply).
    pub source: String,
    /// The review's, complaint's or (for a reply) case's id.
    pub record_id: i64,
    pub department_code: Option<String>,
    pub department: Option<String>,
    /// The review's stars (for a reply, the reviewed ones); none for a complaint.
    pub stars: Option<i32>,
    /// When rated, received or replied (RFC 3339, Beijing time).
    pub occurred_at: String,
    /// The whole text, plain.
    pub text: String,
    /// About 90 characters around the first match, HTML-escaped, matches in `<mark>`.
    pub snippet: String,
    /// The matches in `text`: `[start, end)` offsets in Unicode characters (code points).
    pub highlights: Vec<[usize; 2]>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    pub q: String,
    /// The words looked for (the query cut by jieba; common words like 的 dropped).
    pub terms: Vec<String>,
    /// Hits in all, counted up to 1 000.
    pub total: i64,
    /// More than `total` hits: narrow the search to see them all.
    pub total_is_lower_bound: bool,
    /// `total_is_lower_bound` was estimated, not counted: on PostgreSQL, when both the share of
    /// the newest 10 000 texts that match and the database's statistics put the matches past
    /// 3 000.
    pub total_is_estimate: bool,
    pub page: i64,
    pub limit: i64,
    pub hits: Vec<SearchHit>,
}

fn day(value: Option<&str>, field: &'static str) -> AppResult<Option<NaiveDate>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9998).contains(&chrono::Datelike::year(d)))
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, "a day YYYY-MM-DD from 1970")),
    }
}

/// A page of hits for a caller who sees `scope`.
pub fn search(conn: &mut Conn, scope: Scope, request: &SearchRequest) -> AppResult<SearchPage> {
    let q = check_query(&request.q).map_err(AppError::BadRequest)?.to_owned();
    let terms = query_terms(&q);
    if terms.is_empty() {
        return Err(AppError::BadRequest(format!("q {q:?} has no word to search for: punctuation and common words such as 的、了、我们 are not indexed")));
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", format!("1 to {MAX_LIMIT}")));
    }
    let page = request.page.unwrap_or(1);
    let offset = page.checked_sub(1).and_then(|p| p.checked_mul(limit)).filter(|o| *o >= 0);
    let offset = match offset {
        Some(o) if o < COUNT_CAP => o,
        Some(_) => return Err(AppError::invalid("page", format!("only the first {COUNT_CAP} hits are paged: narrow the search"))),
        None => return Err(AppError::invalid("page", "1 or more")),
    };
    let mut s = Search { terms: terms.clone(), limit, offset, ..Search::default() };
    let scope = stats::narrowed(conn, scope, request.department_code.as_deref().filter(|c| !c.is_empty()))?;
    if let Scope::Department(d) = scope {
        s.all_of.push(department_key(Some(d)));
    }
    match request.source.as_deref() {
        None | Some("") | Some("all") => {}
        Some(v) => s.all_of.push(source_key(DocSource::parse(v).ok_or_else(|| AppError::invalid("source", "review, complaint, reply or all"))?)),
    }
    if let Some(grade) = GradeFilter::parse(request.grade.as_deref().unwrap_or("")).map_err(|m| AppError::invalid("grade", m))? {
        s.any_of.push(grade.stars().map(stars_key).collect());
    }
    let (first, last) = (day(request.from.as_deref(), "from")?, day(request.to.as_deref(), "to")?);
    if let (Some(f), Some(l)) = (first, last) {
        if l < f {
            return Err(AppError::invalid("to", "must not be before from"));
        }
        if let Some(months) = month_keys(f, l) {
            s.any_of.push(months);
        }
    }
    s.from = first.map(|d| clock::to_db(start_of_local_day(d)));
    s.until = last.and_then(|d| d.succ_opt()).map(|d| clock::to_db(start_of_local_day(d)));
    if let Some(topic) = request.topic {
        if !search::topic_exists(conn, topic)? {
            return Err(AppError::invalid("topic", format!("no topic {topic}")));
        }
        s.topic_id = Some(topic);
    }
    let found = search::search(conn, &s)?;
    // Marked: each term, and each word of the query as typed (点赞 whole where jieba cut 点/赞).
    let mut needles = terms.clone();
    needles.extend(q.split_whitespace().map(str::to_lowercase));
    let hits = found
        .hits
        .into_iter()
        .map(|h| {
            let ranges = match_ranges(&h.text, &needles);
            SearchHit {
                case_id: h.case_id,
                transaction_no: h.transaction_no,
                source: h.source,
                record_id: h.record_id,
                department_code: h.department_code,
                department: h.department,
                stars: h.stars,
                occurred_at: rfc3339_local(h.occurred_at),
                snippet: snippet_html(&h.text, &ranges),
                highlights: ranges.into_iter().map(|(a, b)| [a, b]).collect(),
                text: h.text,
            }
        })
        .collect();
    Ok(SearchPage { q, terms, total: found.total, total_is_lower_bound: found.more, total_is_estimate: found.estimated, page, limit, hits })
}

/// Documents per transaction when filling the index: each holds SQLite's writer a few
/// milliseconds, so intake carries on meanwhile.
const INDEX_BATCH: i64 = 500;

/// What filling the index did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexReport {
    /// Texts indexed that were missing.
    pub indexed: u64,
    /// Documents whose terms were written again (`--retokenise`).
    pub retokenised: u64,
    /// Documents in the index afterwards.
    pub documents: i64,
}

/// Indexes every stored text that has no document (those stored before the index existed, or
/// by a build without it), in batches; `progress(done)` after each batch.
pub fn index_missing(conn: &mut Conn, progress: &mut dyn FnMut(u64)) -> AppResult<u64> {
    let mut done = 0u64;
    for source in DocSource::ALL {
        let mut after = 0i64;
        loop {
            let rows = search::unindexed(conn, source, after, INDEX_BATCH)?;
            let Some(last) = rows.last() else { break };
            after = last.record_id;
            let n = rows.len() as u64;
            let texts: Vec<Text> = rows
                .into_iter()
                .map(|r| Text {
                    source,
                    record_id: r.record_id,
                    case_id: r.case_id,
                    transaction_no: r.transaction_no,
                    department_id: r.department_id,
                    stars: r.stars,
                    occurred_at: r.occurred_at,
                    text: match source {
                        DocSource::Complaint => complaint_text(r.title.as_deref(), &r.text),
                        _ => r.text,
                    },
                })
                .collect();
            conn.transaction(|conn| indexing::index(conn, texts))?;
            done += n;
            progress(done);
        }
    }
    Ok(done)
}

/// Cuts every document's text again (after the user dictionary or the stop words changed:
/// `HCP_NLP_DIR`), in batches; searching keeps working meanwhile.
pub fn retokenise_all(conn: &mut Conn, progress: &mut dyn FnMut(u64)) -> AppResult<u64> {
    let mut done = 0u64;
    let mut after = 0i64;
    loop {
        let docs = search::stored_documents(conn, after, INDEX_BATCH)?;
        let Some(last) = docs.last() else { break };
        after = last.id;
        let terms: Vec<Vec<String>> = docs.iter().map(|d| indexing::document_terms(&d.text)).collect();
        conn.transaction(|conn| {
            for (doc, terms) in docs.iter().zip(terms) {
                search::retokenise(conn, doc, terms)?;
            }
            Ok::<_, AppError>(())
        })?;
        done += docs.len() as u64;
        progress(done);
    }
    Ok(done)
}

/// Texts there are to index, and documents indexed: for progress and the report.
pub fn index_counts(conn: &mut Conn) -> AppResult<(i64, i64)> {
    Ok((search::indexable_count(conn)?, search::document_count(conn)?))
}
