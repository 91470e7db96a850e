//! The reply checks (答复提示) as the reply action runs them: the facts the pure check in
//! `domain::reply_checks` needs — the terms of the reply and of what it answers (jieba, stop
//! words removed), whether another case carries the same reply, the banned list — gathered here.

use diesel::prelude::*;

use crate::adapters::nlp::tokenize::Tokenizer;
use crate::db_run;
use crate::domain::reply_checks::{check_reply, ReplyFacts, ReplyWarning};
use crate::error::{AppError, AppResult};
use crate::storage::models::Case;
use crate::storage::schema::{cases, complaints, reviews};
use crate::storage::Conn;

/// Loads the tokenizer's dictionary (about 0.3 s the first time) so that it is not loaded
/// inside the reply's write transaction.
pub fn warm_up() {
    Tokenizer::shared();
}

/// The warnings of `reply` (trimmed) as the answer of `case`.
pub fn check(conn: &mut Conn, case: &Case, reply: &str) -> AppResult<Vec<ReplyWarning>> {
    let answered = answered_text(conn, case)?;
    let tokenizer = Tokenizer::shared();
    let (reply_terms, complaint_terms) = (tokenizer.tokens(reply), tokenizer.tokens(&answered));
    let banned_phrases = crate::storage::rules::banned_reply_phrases(conn)?;
    let copied = copied_from(conn, case, reply)?.is_some();
    Ok(check_reply(&ReplyFacts { reply, reply_terms: &reply_terms, complaint_terms: &complaint_terms, banned_phrases: &banned_phrases, copied }))
}

/// The stored warnings as JSON for `cases.reply_warnings`: null when there are none.
pub fn to_column(warnings: &[ReplyWarning]) -> AppResult<Option<String>> {
    if warnings.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(warnings).map(Some).map_err(AppError::internal)
}

/// What the checks found in the case's current reply (empty when nothing, or unreadable).
pub fn stored(case: &Case) -> Vec<ReplyWarning> {
    parse(case.reply_warnings.as_deref())
}

pub fn parse(column: Option<&str>) -> Vec<ReplyWarning> {
    column.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// What the reply answers: the review's comment and tags, or the complaint's title and content.
fn answered_text(conn: &mut Conn, case: &Case) -> AppResult<String> {
    if let Some(review_id) = case.review_id {
        let row: Option<(Option<String>, String)> =
            db_run!(conn, |c| reviews::table.find(review_id).select((reviews::comment, reviews::tags)).first(c).optional())?;
        return Ok(row
            .map(|(comment, tags)| {
                let tags: Vec<String> = serde_json::from_str(&tags).unwrap_or_default();
                format!("{} {}", comment.unwrap_or_default(), tags.join(" "))
            })
            .unwrap_or_default());
    }
    if let Some(complaint_id) = case.complaint_id {
        let row: Option<(Option<String>, String)> =
            db_run!(conn, |c| complaints::table.find(complaint_id).select((complaints::title, complaints::content)).first(c).optional())?;
        return Ok(row.map(|(title, content)| format!("{} {content}", title.unwrap_or_default())).unwrap_or_default());
    }
    Ok(String::new())
}

/// Another case whose current reply is exactly `reply`. The duplicates merged into this case
/// (并单) carry its own earlier reply and do not count.
fn copied_from(conn: &mut Conn, case: &Case, reply: &str) -> AppResult<Option<i64>> {
    let found: Option<i64> = db_run!(conn, |c| cases::table
        .filter(cases::id.ne(case.id))
        .filter(cases::reply_text.eq(reply))
        .filter(cases::merged_into.is_null().or(cases::merged_into.ne(case.id)))
        .select(cases::id)
        .first(c)
        .optional())?;
    Ok(found)
}
