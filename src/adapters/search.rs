//! Search indexing: the texts of reviews, complaints and replies cut into jieba terms, with the
//! same user dictionary as clustering and routing (`nlp::tokenize`), and written to the index
//! (`storage::search`) in the caller's transaction, so a text is found as soon as it is stored.

use chrono::NaiveDateTime;

use crate::adapters::nlp::tokenize::Tokenizer;
use crate::domain::search::DocSource;
use crate::error::AppResult;
use crate::storage::search::{self, NewDocument};
use crate::storage::Conn;

/// A stored text to index.
#[derive(Debug, Clone)]
pub struct Text {
    pub source: DocSource,
    pub record_id: i64,
    pub case_id: Option<i64>,
    pub transaction_no: Option<String>,
    /// The department handling its case (the review's own without a case).
    pub department_id: Option<i64>,
    pub stars: Option<i32>,
    pub occurred_at: NaiveDateTime,
    pub text: String,
}

/// A stored text's terms.
pub fn document_terms(text: &str) -> Vec<String> {
    Tokenizer::shared().search_terms(text, true)
}

/// A query's terms: each must be among a text's terms for the text to match.
pub fn query_terms(q: &str) -> Vec<String> {
    Tokenizer::shared().search_terms(q, false)
}

/// A complaint's text as indexed and shown: its title on the first line, if it has one.
pub fn complaint_text(title: Option<&str>, content: &str) -> String {
    match title.map(str::trim).filter(|t| !t.is_empty()) {
        Some(title) => format!("{title}\n{content}"),
        None => content.to_owned(),
    }
}

/// Indexes `texts` (a blank one too, without terms: so that the start-up pass does not take it
/// for missing each time).
pub fn index(conn: &mut Conn, texts: Vec<Text>) -> AppResult<()> {
    let docs: Vec<NewDocument> = texts
        .into_iter()
        .map(|t| NewDocument {
            terms: document_terms(&t.text),
            source: t.source,
            record_id: t.record_id,
            case_id: t.case_id,
            transaction_no: t.transaction_no,
            department_id: t.department_id,
            stars: t.stars,
            occurred_at: t.occurred_at,
            text: t.text,
        })
        .collect();
    if docs.is_empty() {
        return Ok(());
    }
    search::insert(conn, &docs)?;
    Ok(())
}

/// A reply given on case `case_id` (now with `department_id`): replaces the case's earlier one.
pub fn index_reply(conn: &mut Conn, case_id: i64, department_id: Option<i64>, reply: &str, at: NaiveDateTime) -> AppResult<()> {
    let (transaction_no, stars) = search::case_context(conn, case_id)?;
    let text = Text { source: DocSource::Reply, record_id: case_id, case_id: Some(case_id), transaction_no, department_id, stars, occurred_at: at, text: reply.to_owned() };
    index(conn, vec![text])
}

/// A case moved to another department: its texts follow it.
pub fn move_case(conn: &mut Conn, case_id: i64, department_id: Option<i64>) -> AppResult<()> {
    search::move_case(conn, case_id, department_id)?;
    Ok(())
}
