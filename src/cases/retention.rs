//! Retention of personal data (个人信息保护法 §19: kept no longer than needed). A case closed more
//! than the retention period ago (`HCP_RETENTION_YEARS`, default 3) has its citizen's name,
//! phone (and the 办件's e-mail) erased — the 办件's applicant for a review case, the contact of a complaint
//! and of the 办件 it names — by the scanner, each case with an audit event. The review, the
//! case and its timeline stay: statistics and the audit chain do not depend on who it was.

use chrono::{DateTime, Months, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clock;
use crate::db_run;
use crate::domain::case_flow::CaseState;
use crate::error::AppResult;
use crate::storage::audit::{self, AuditEntry};
use crate::storage::schema::{cases, complaints, reviews, sms_outbox, transactions};
use crate::storage::Conn;

pub const DEFAULT_RETENTION_YEARS: u32 = 3;
/// What an erased SMS number reads as (the column is NOT NULL).
const ERASED: &str = "";
/// Cases erased per transaction: a first run over years of backlog commits as it goes.
const BATCH: i64 = 500;

/// Erases the personal data of cases closed before `years` before `now`; the number of cases.
pub fn erase_expired(conn: &mut Conn, now: DateTime<Utc>, years: u32) -> AppResult<u64> {
    let Some(cutoff) = now.checked_sub_months(Months::new(years.saturating_mul(12))) else { return Ok(0) };
    let cutoff = clock::to_db(cutoff);
    let mut erased = 0;
    loop {
        let (seen, done) = conn.transaction(|conn| erase_batch(conn, cutoff, now))?;
        erased += done;
        // A short batch was the last; a full one may have more behind it.
        if seen < BATCH as usize {
            return Ok(erased);
        }
    }
}

type Expired = (i64, Option<i64>, Option<i64>);

/// Erases one batch: how many cases were due, and how many of those this call erased.
fn erase_batch(conn: &mut Conn, cutoff: NaiveDateTime, now: DateTime<Utc>) -> AppResult<(usize, u64)> {
    let candidates: Vec<i64> = db_run!(conn, |c| cases::table
        .filter(cases::state.eq(CaseState::Closed))
        .filter(cases::closed_at.lt(cutoff))
        .filter(cases::personal_data_erased_at.is_null())
        .order(cases::id)
        .limit(BATCH)
        .select(cases::id)
        .load(c))?;
    if candidates.is_empty() {
        return Ok((0, 0));
    }
    // Claimed by marking them, so that a scanner on another instance erases and audits each
    // case once.
    let at = clock::to_db(now);
    let expired: Vec<Expired> = db_run!(conn, |c| diesel::update(
        cases::table.filter(cases::id.eq_any(&candidates)).filter(cases::personal_data_erased_at.is_null())
    )
    .set(cases::personal_data_erased_at.eq(at))
    .returning((cases::id, cases::review_id, cases::complaint_id))
    .get_results(c))?;
    if expired.is_empty() {
        return Ok((candidates.len(), 0));
    }
    let case_ids: Vec<i64> = expired.iter().map(|e| e.0).collect();
    let review_ids: Vec<i64> = expired.iter().filter_map(|e| e.1).collect();
    let complaint_ids: Vec<i64> = expired.iter().filter_map(|e| e.2).collect();
    let mut transaction_ids: Vec<i64> = db_run!(conn, |c| reviews::table.filter(reviews::id.eq_any(&review_ids)).select(reviews::transaction_id).load(c))?;
    let named: Vec<Option<i64>> = db_run!(conn, |c| complaints::table.filter(complaints::id.eq_any(&complaint_ids)).select(complaints::transaction_id).load(c))?;
    transaction_ids.extend(named.into_iter().flatten());
    // A 办件 another case still needs (open, or closed within the period) keeps its applicant.
    let still_needed: Vec<i64> = db_run!(conn, |c| reviews::table
        .inner_join(cases::table.on(cases::review_id.eq(reviews::id.nullable())))
        .filter(reviews::transaction_id.eq_any(&transaction_ids))
        .filter(cases::personal_data_erased_at.is_null())
        .select(reviews::transaction_id)
        .load(c))?;
    let named_by_open: Vec<Option<i64>> = db_run!(conn, |c| complaints::table
        .inner_join(cases::table.on(cases::complaint_id.eq(complaints::id.nullable())))
        .filter(complaints::transaction_id.eq_any(&transaction_ids))
        .filter(cases::personal_data_erased_at.is_null())
        .select(complaints::transaction_id)
        .load(c))?;
    let still_needed: std::collections::HashSet<i64> = still_needed.into_iter().chain(named_by_open.into_iter().flatten()).collect();
    transaction_ids.retain(|id| !still_needed.contains(id));
    let none: Option<String> = None;
    // The lookup hashes go too: a phone's hash would still find the erased citizen's cases.
    db_run!(conn, |c| diesel::update(transactions::table.filter(transactions::id.eq_any(&transaction_ids)))
        .set((
            transactions::applicant_name.eq(&none),
            transactions::applicant_phone.eq(&none),
            transactions::applicant_phone_hash.eq(&none),
            transactions::applicant_email.eq(&none),
        ))
        .execute(c))?;
    db_run!(conn, |c| diesel::update(complaints::table.filter(complaints::id.eq_any(&complaint_ids)))
        .set((complaints::contact_name.eq(&none), complaints::contact_phone.eq(&none), complaints::contact_phone_hash.eq(&none)))
        .execute(c))?;
    // SMS once sent to them are kept as a record of sending, without the number.
    let numbers: Vec<String> = db_run!(conn, |c| transactions::table.filter(transactions::id.eq_any(&transaction_ids)).select(transactions::transaction_no).load(c))?;
    db_run!(conn, |c| diesel::update(sms_outbox::table.filter(sms_outbox::case_id.eq_any(&case_ids).or(sms_outbox::transaction_no.eq_any(&numbers))))
        .set(sms_outbox::phone.eq(ERASED))
        .execute(c))?;
    let detail = serde_json::json!({"fields": ["name", "phone", "email"], "reason": "retention period over"}).to_string();
    let entries: Vec<AuditEntry<'_>> = case_ids
        .iter()
        .map(|&id| AuditEntry {
            case_id: Some(id),
            actor: "system:retention",
            action: "erase_personal_data",
            from_state: None,
            to_state: None,
            note: None,
            detail: Some(detail.clone()),
            at,
        })
        .collect();
    audit::append_all(conn, &entries)?;
    Ok((candidates.len(), case_ids.len() as u64))
}
