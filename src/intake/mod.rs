//! Intake: transactions (办件) pushed by business systems, reviews (评价) from citizens and
//! devices, complaints (投诉) from the 12345 hotline and elsewhere. Each request is one
//! database transaction: it lands whole or not at all.

pub mod default_ratings;
pub mod import;
pub mod writer;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::domain::rules::Rules;
use crate::domain::exchange::AuditStatus;
use crate::domain::moderation;
use crate::cases::work::{open_case, open_case_unaudited, open_cases_unaudited, OpenCase};
use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::integrity::ReviewOrigin;
use crate::domain::intake_rules::{check_code, check_email, check_text, Channel, ComplaintSource, ReviewContent, RoutedBy, MAX_COMPLAINT_CHARS};
use crate::error::{AppError, AppResult};
use crate::adapters::nlp::routing::ComplaintRouter;
use crate::storage::models::{NewComplaint, NewReview, NewTransaction, Transaction};
use crate::storage::schema::{cases, complaints, departments, reviews, transactions};
use crate::storage::audit::AuditEntry;
use crate::storage::personal_data::{self, PersonalText};
use crate::storage::{queries, Conn};

pub use crate::domain::intake_rules::RATING_LINK_DAYS;

#[derive(Debug, Clone)]
pub struct TransactionCommand {
    pub transaction_no: String,
    pub service_item_code: String,
    pub window_code: Option<String>,
    pub staff_no: Option<String>,
    pub channel: Channel,
    pub applicant_name: Option<String>,
    pub applicant_phone: Option<String>,
    pub applicant_email: Option<String>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub completed_at: DateTime<Utc>,
    /// The business system asks for the rating invitation by SMS (to `applicant_phone`).
    pub invite_by_sms: bool,
}

pub struct TransactionRecorded {
    pub transaction: Transaction,
    /// False when the same `transaction_no` was already stored (idempotent repeat).
    pub created: bool,
}

/// Stores a transaction with its 三对应 attribution. A repeat of the same `transaction_no`
/// returns the stored one: business systems retry.
/// Several 办件 in one database transaction (one commit, one WAL flush), each on its own
/// savepoint: one refused (an unknown code, other data under a used number) leaves the others
/// stored. The batch endpoint and the transaction writer both store through here.
///
/// The common case goes in bulk: 办件 whose item (and window and staff, when both or neither are
/// named) are known and active are looked up with one query per table and inserted with one
/// multi-row INSERT that skips numbers already stored. Everything else — a repeat, a number
/// twice in the batch, a code to refuse, a 三对应 lookup — is stored alone as the single call
/// stores it, after the bulk.
pub fn record_transactions(conn: &mut Conn, cmds: &[&TransactionCommand], now: DateTime<Utc>) -> AppResult<Vec<AppResult<TransactionRecorded>>> {
    conn.transaction(|conn| {
        // In a savepoint of its own: on PostgreSQL a failed statement (a NUL in a number, say)
        // would otherwise end the whole transaction; then every item goes alone.
        let in_bulk = conn.transaction(|conn| store_in_bulk(conn, cmds, now)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, items = cmds.len(), "transactions not stored in bulk; each goes alone");
            Vec::new()
        });
        let mut outcomes: Vec<Option<AppResult<TransactionRecorded>>> = cmds.iter().map(|_| None).collect();
        for (i, transaction) in in_bulk {
            outcomes[i] = Some(Ok(TransactionRecorded { transaction, created: true }));
        }
        let outcomes: Vec<AppResult<TransactionRecorded>> =
            outcomes.into_iter().zip(cmds).map(|(outcome, cmd)| outcome.unwrap_or_else(|| record_transaction(conn, cmd, now))).collect();
        // In the same transaction as the 办件: an invitation is never lost nor sent for nothing;
        // a repeat asks again and the outbox keeps it to one message.
        for (outcome, cmd) in outcomes.iter().zip(cmds) {
            if let (Ok(recorded), true) = (outcome, cmd.invite_by_sms) {
                crate::adapters::sms::outbox::queue_rating_invitation(conn, &recorded.transaction.transaction_no, now)?;
            }
        }
        Ok(outcomes)
    })
}

/// The bulk part of [`record_transactions`]: the stored 办件 by their command's index.
fn store_in_bulk(conn: &mut Conn, cmds: &[&TransactionCommand], now: DateTime<Utc>) -> AppResult<Vec<(usize, Transaction)>> {
    use crate::storage::models::{ServiceItem, Staff, Window};
    use crate::storage::schema::{service_items, staff, windows};
    use std::collections::{HashMap, HashSet};
    let item_codes: Vec<&str> = cmds.iter().map(|c| c.service_item_code.as_str()).collect();
    let window_codes: Vec<&str> = cmds.iter().filter_map(|c| c.window_code.as_deref()).collect();
    let staff_nos: Vec<&str> = cmds.iter().filter_map(|c| c.staff_no.as_deref()).collect();
    let items: HashMap<String, ServiceItem> =
        db_run!(conn, |c| service_items::table.filter(service_items::code.eq_any(&item_codes)).select(ServiceItem::as_select()).load(c))?
            .into_iter()
            .map(|i| (i.code.clone(), i))
            .collect();
    let window_rows: HashMap<String, Window> = if window_codes.is_empty() {
        HashMap::new()
    } else {
        db_run!(conn, |c| windows::table.filter(windows::code.eq_any(&window_codes)).select(Window::as_select()).load(c))?.into_iter().map(|w| (w.code.clone(), w)).collect()
    };
    let staff_rows: HashMap<String, Staff> = if staff_nos.is_empty() {
        HashMap::new()
    } else {
        db_run!(conn, |c| staff::table.filter(staff::staff_no.eq_any(&staff_nos)).select(Staff::as_select()).load(c))?.into_iter().map(|s| (s.staff_no.clone(), s)).collect()
    };
    let mut seen = HashSet::new();
    let mut indices = Vec::new();
    let mut rows: Vec<NewTransaction<'_>> = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        // Stored numbers are found by the INSERT itself (ON CONFLICT DO NOTHING): a lookup by a
        // list of numbers, prepared while the table was small, kept a sequential scan on
        // PostgreSQL as the table grew (the hot spot of the first measurement).
        let fresh = seen.insert(cmd.transaction_no.as_str());
        let Some(item) = items.get(&cmd.service_item_code).filter(|item| item.active) else { continue };
        let window = cmd.window_code.as_ref().map(|code| window_rows.get(code).filter(|w| w.active));
        let person = cmd.staff_no.as_ref().map(|no| staff_rows.get(no).filter(|p| p.active));
        let resolved = match (window, person) {
            (None, None) => Some((None, None)),
            (Some(Some(w)), Some(Some(p))) => Some((Some(w.id), Some(p.id))),
            // Unknown or closed codes, or one of the two (三对应 decides the other): alone.
            _ => None,
        };
        let (Some((window_id, staff_id)), true) = (resolved, fresh && valid_transaction(cmd, now).is_ok()) else { continue };
        indices.push(i);
        rows.push(NewTransaction {
            transaction_no: &cmd.transaction_no,
            service_item_id: item.id,
            department_id: item.department_id,
            window_id,
            staff_id,
            channel: cmd.channel.as_str(),
            applicant_name: PersonalText::of(cmd.applicant_name.as_deref()),
            applicant_phone: PersonalText::of(cmd.applicant_phone.as_deref()),
            applicant_phone_hash: cmd.applicant_phone.as_deref().and_then(personal_data::lookup_hash),
            applicant_email: cmd.applicant_email.as_deref(),
            accepted_at: cmd.accepted_at.map(clock::to_db),
            completed_at: clock::to_db(cmd.completed_at),
            created_at: clock::to_db(now),
        });
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // A number already stored (or taken meanwhile by another writer) is not inserted; it goes
    // alone, as a repeat.
    let inserted: Vec<Transaction> = db_run!(conn, |c| diesel::insert_into(transactions::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .returning(Transaction::as_returning())
        .get_results(c))?;
    let mut by_number: HashMap<String, Transaction> = inserted.into_iter().map(|t| (t.transaction_no.clone(), t)).collect();
    Ok(indices.into_iter().filter_map(|i| by_number.remove(&cmds[i].transaction_no).map(|t| (i, t))).collect())
}

/// The checks of a 办件 that need no database.
fn valid_transaction(cmd: &TransactionCommand, now: DateTime<Utc>) -> AppResult<()> {
    check_code("transaction_no", &cmd.transaction_no)?;
    if let Some(name) = &cmd.applicant_name {
        check_text("applicant_name", name, 100)?;
    }
    if let Some(phone) = &cmd.applicant_phone {
        check_text("applicant_phone", phone, 32)?;
    }
    if let Some(email) = &cmd.applicant_email {
        check_email("applicant_email", email)?;
    }
    if let Some(accepted) = cmd.accepted_at {
        if accepted > cmd.completed_at {
            return Err(AppError::invalid("accepted_at", "is after completed_at"));
        }
    }
    if cmd.completed_at > now + Duration::minutes(10) {
        return Err(AppError::invalid("completed_at", "is in the future"));
    }
    Ok(())
}

pub fn record_transaction(conn: &mut Conn, cmd: &TransactionCommand, now: DateTime<Utc>) -> AppResult<TransactionRecorded> {
    valid_transaction(cmd, now)?;
    let outcome: AppResult<TransactionRecorded> = conn.transaction(|conn| {
        if let Some(existing) = queries::transaction_by_no(conn, &cmd.transaction_no)? {
            // A retry carries the same data; different data is another 办件 under a used number.
            let differing = differing_fields(conn, &existing, cmd)?;
            if !differing.is_empty() {
                return Err(AppError::conflict_with(
                    "transaction_differs",
                    format!("transaction {:?} is stored with other values of {}; a repeat must carry the same data", cmd.transaction_no, differing.join(", ")),
                    json!({ "fields": differing }),
                ));
            }
            return Ok(TransactionRecorded { transaction: existing, created: false });
        }
        let item = queries::service_item_by_code(conn, &cmd.service_item_code)?
            .ok_or_else(|| AppError::unknown_code("service_item_code", &cmd.service_item_code))?;
        // Closed items, windows and staff who left keep their history but take nothing new.
        if !item.active {
            return Err(AppError::invalid("service_item_code", format!("service item {:?} is no longer active", item.code)));
        }
        let window = match &cmd.window_code {
            Some(code) => Some(queries::window_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("window_code", code))?),
            None => None,
        };
        if let Some(w) = window.as_ref().filter(|w| !w.active) {
            return Err(AppError::invalid("window_code", format!("window {:?} is no longer active", w.code)));
        }
        let person = match &cmd.staff_no {
            Some(no) => Some(queries::staff_by_no(conn, no)?.ok_or_else(|| AppError::unknown_code("staff_no", no))?),
            None => None,
        };
        if let Some(p) = person.as_ref().filter(|p| !p.active) {
            return Err(AppError::invalid("staff_no", format!("staff member {:?} is no longer active", p.staff_no)));
        }
        // 三对应: a counter transaction is attributed to whoever was assigned to the window
        // (or wherever the named staff sat) for this item when the applicant was served.
        let served_at = clock::to_db(cmd.accepted_at.unwrap_or(cmd.completed_at));
        let (mut window_id, mut staff_id) = (window.as_ref().map(|w| w.id), person.as_ref().map(|s| s.id));
        if window_id.is_some() != staff_id.is_some() {
            if let Some((w, s)) = queries::assignment_at(conn, window_id, staff_id, item.id, served_at)? {
                window_id = Some(w);
                staff_id = Some(s);
            }
        }
        let new = NewTransaction {
            transaction_no: &cmd.transaction_no,
            service_item_id: item.id,
            department_id: item.department_id,
            window_id,
            staff_id,
            channel: cmd.channel.as_str(),
            applicant_name: PersonalText::of(cmd.applicant_name.as_deref()),
            applicant_phone: PersonalText::of(cmd.applicant_phone.as_deref()),
            applicant_phone_hash: cmd.applicant_phone.as_deref().and_then(personal_data::lookup_hash),
            applicant_email: cmd.applicant_email.as_deref(),
            accepted_at: cmd.accepted_at.map(clock::to_db),
            completed_at: clock::to_db(cmd.completed_at),
            created_at: clock::to_db(now),
        };
        let transaction = db_run!(conn, |c| diesel::insert_into(transactions::table)
            .values(&new)
            .returning(Transaction::as_returning())
            .get_result(c))?;
        Ok(TransactionRecorded { transaction, created: true })
    });
    match outcome {
        // A concurrent repeat stored it first: answer as for any repeat.
        Err(e) if e.is_unique_violation() => match queries::transaction_by_no(conn, &cmd.transaction_no)? {
            Some(transaction) => Ok(TransactionRecorded { transaction, created: false }),
            None => Err(e),
        },
        other => other,
    }
}

/// The fields of `cmd` that disagree with the stored transaction. A window or staff number the
/// request leaves out is not compared: 三对应 may have filled it in.
fn differing_fields(conn: &mut Conn, stored: &Transaction, cmd: &TransactionCommand) -> AppResult<Vec<&'static str>> {
    let mut differing = Vec::new();
    if queries::service_item_by_code(conn, &cmd.service_item_code)?.map(|i| i.id) != Some(stored.service_item_id) {
        differing.push("service_item_code");
    }
    if let Some(code) = &cmd.window_code {
        if queries::window_by_code(conn, code)?.map(|w| w.id) != stored.window_id {
            differing.push("window_code");
        }
    }
    if let Some(no) = &cmd.staff_no {
        if queries::staff_by_no(conn, no)?.map(|s| s.id) != stored.staff_id {
            differing.push("staff_no");
        }
    }
    let checks = [
        ("channel", stored.channel == cmd.channel.as_str()),
        ("applicant_name", stored.applicant_name.as_deref() == cmd.applicant_name.as_deref()),
        ("applicant_phone", stored.applicant_phone.as_deref() == cmd.applicant_phone.as_deref()),
        ("applicant_email", stored.applicant_email.as_deref() == cmd.applicant_email.as_deref()),
        ("accepted_at", stored.accepted_at == cmd.accepted_at.map(clock::to_db)),
        ("completed_at", stored.completed_at == clock::to_db(cmd.completed_at)),
    ];
    differing.extend(checks.iter().filter(|(_, same)| !same).map(|(field, _)| *field));
    Ok(differing)
}

pub fn rating_link_expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(RATING_LINK_DAYS)
}

pub struct ReviewCommand {
    pub transaction_no: String,
    pub content: ReviewContent,
    pub channel: Channel,
    pub anonymous: bool,
    pub is_public: bool,
    pub rated_at: DateTime<Utc>,
    /// The version of its band's tag set in force, set by [`ReviewCommand::under_rules`].
    pub tag_set_version: Option<i32>,
    /// 审核状态 of its public comment, set by [`ReviewCommand::under_rules`].
    pub moderation: AuditStatus,
    /// Where it came from, for the integrity flags (the handler fills it in).
    pub origin: ReviewOrigin,
}

impl ReviewCommand {
    /// Checks the tags against the band's set in force (422 naming an unknown tag) and records
    /// the version the review is rated under; holds a public comment with a listed phrase.
    pub fn under_rules(&mut self, rules: &Rules) -> AppResult<()> {
        self.tag_set_version = Some(rules.tag_sets.check(&self.content)?);
        self.moderation = moderation::initial_status(self.content.comment.as_deref(), self.is_public, &rules.held_phrases);
        Ok(())
    }
}

/// Who gives a rating: the citizen through the signed link of one transaction, or an
/// integration (a window device, a counter system) with its key.
pub enum Rater<'a> {
    Citizen { link_transaction_no: &'a str },
    Integration,
}

/// A rating as it arrives, from the API or from the rating page.
pub struct RatingRequest {
    pub transaction_no: String,
    pub stars: i64,
    pub channel: Channel,
    pub tags: Vec<String>,
    pub comment: Option<String>,
    pub anonymous: bool,
    /// Whether the review (masked) may be shown on the public page; default true.
    pub public: Option<bool>,
    /// The device's time; integrations only. Default: now.
    pub rated_at: Option<DateTime<Utc>>,
}

/// The citizen-rating rules, once for the API and the page: a link rates its own transaction,
/// from a citizen's channel, at the time it is received; an integration may give the device's
/// time, never one in the future.
pub fn review_command(rater: &Rater<'_>, request: RatingRequest, now: DateTime<Utc>) -> AppResult<ReviewCommand> {
    let rated_at = match rater {
        Rater::Integration => request.rated_at.unwrap_or(now),
        Rater::Citizen { link_transaction_no } => {
            if *link_transaction_no != request.transaction_no {
                return Err(AppError::Forbidden("this rating link is for another transaction".into()));
            }
            if request.rated_at.is_some() {
                return Err(AppError::invalid("rated_at", "only integrations may set rated_at"));
            }
            if !request.channel.open_to_citizens() {
                return Err(AppError::invalid("channel", "a rating link can be used from pc, mobile, qr or sms"));
            }
            now
        }
    };
    if rated_at > now + Duration::minutes(10) {
        return Err(AppError::invalid("rated_at", "is in the future"));
    }
    Ok(ReviewCommand {
        content: ReviewContent::parse(request.stars, request.tags, request.comment)?,
        transaction_no: request.transaction_no,
        channel: request.channel,
        anonymous: request.anonymous,
        is_public: request.public.unwrap_or(true),
        rated_at,
        tag_set_version: None,
        moderation: AuditStatus::NotNeeded,
        origin: ReviewOrigin::default(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewRecorded {
    pub id: i64,
    pub is_bad: bool,
    pub case_id: Option<i64>,
}

/// 一事一评: stores the one review of a transaction and, for a bad one, opens its case.
pub fn record_review(conn: &mut Conn, cmd: &ReviewCommand, actor: &str, now: DateTime<Utc>, rules: &Rules) -> AppResult<ReviewRecorded> {
    if cmd.content.stars.is_bad() {
        let outcome = record_bad_review(conn, cmd, actor, now, rules);
        explain_conflict(conn, cmd, outcome)
    } else {
        record_good_review_alone(conn, cmd, now)
    }
}

/// A review that opens no case, on its own (see [`record_reviews_together`] for many at once).
pub fn record_good_review_alone(conn: &mut Conn, cmd: &ReviewCommand, now: DateTime<Utc>) -> AppResult<ReviewRecorded> {
    let outcome = match cmd.content.comment {
        // With its comment in the search index, in one transaction.
        Some(_) => conn.transaction(|conn| {
            let recorded = record_good_review(conn, cmd, now)?;
            let department_id: i64 = db_run!(conn, |c| reviews::table.find(recorded.id).select(reviews::department_id).first(c))?;
            crate::adapters::search::index(conn, review_text(cmd, &recorded, department_id).into_iter().collect())?;
            Ok(recorded)
        }),
        None => record_good_review(conn, cmd, now),
    };
    explain_conflict(conn, cmd, outcome)
}

/// A review's comment as a text of the search index (none without a comment).
fn review_text(cmd: &ReviewCommand, recorded: &ReviewRecorded, department_id: i64) -> Option<crate::adapters::search::Text> {
    Some(crate::adapters::search::Text {
        source: crate::domain::search::DocSource::Review,
        record_id: recorded.id,
        case_id: recorded.case_id,
        transaction_no: Some(cmd.transaction_no.clone()),
        department_id: Some(department_id),
        stars: Some(i32::from(cmd.content.stars.get())),
        occurred_at: clock::to_db(cmd.rated_at),
        text: cmd.content.comment.clone()?,
    })
}

/// Two submissions racing past the check: the UNIQUE index decides, and the loser is told
/// which review won.
fn explain_conflict<T>(conn: &mut Conn, cmd: &ReviewCommand, outcome: AppResult<T>) -> AppResult<T> {
    match outcome {
        Err(e) if e.is_unique_violation() => {
            let tx = queries::transaction_by_no(conn, &cmd.transaction_no)?;
            let existing = match tx {
                Some(tx) => queries::review_of_transaction(conn, tx.id)?,
                None => None,
            };
            match existing {
                Some(r) => Err(already_rated(&cmd.transaction_no, &r)),
                None => Err(e),
            }
        }
        other => other,
    }
}

/// What [`record_reviews_together`] decided for one review of the batch.
#[derive(Debug)]
pub enum BatchOutcome {
    Decided(AppResult<ReviewRecorded>),
    /// Already rated, or twice in this batch: [`record_good_review_alone`] finds out which
    /// review won (409).
    Alone,
}

/// One review of a batch; a bad one carries who opens its case and under which rules.
pub struct BatchReview<'a> {
    pub cmd: &'a ReviewCommand,
    pub now: DateTime<Utc>,
    pub opens_case: Option<(&'a str, &'a Rules)>,
}

/// Many reviews in one transaction: one lookup of their transactions, one multi-row INSERT of
/// the reviews, then one of the bad ones' cases and one of their mails, so reviews arriving
/// together share one commit (one WAL flush) and a few round trips instead of paying them
/// each. Returns each review's outcome and the cases' audit events, for the caller to append
/// last. Nothing is stored unless everything is: an error leaves no row.
pub fn record_reviews_together<'a>(conn: &mut Conn, batch: &[BatchReview<'a>]) -> AppResult<(Vec<BatchOutcome>, Vec<AuditEntry<'a>>)> {
    let tags: Vec<String> = batch.iter().map(|r| tags_json(r.cmd)).collect::<AppResult<_>>()?;
    conn.transaction(|conn| {
        let nos: Vec<&str> = batch.iter().map(|r| r.cmd.transaction_no.as_str()).collect();
        let found: Vec<(i64, String, i64, i64, Option<i64>, Option<i64>)> = db_run!(conn, |c| transactions::table
            .filter(transactions::transaction_no.eq_any(&nos))
            .select((
                transactions::id,
                transactions::transaction_no,
                transactions::department_id,
                transactions::service_item_id,
                transactions::window_id,
                transactions::staff_id,
            ))
            .load(c))?;
        let by_no: std::collections::HashMap<&str, Attribution> = found
            .iter()
            .map(|&(transaction_id, ref no, department_id, service_item_id, window_id, staff_id)| {
                (no.as_str(), Attribution { transaction_id, department_id, service_item_id, window_id, staff_id })
            })
            .collect();
        let mut outcomes: Vec<Option<BatchOutcome>> = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        let mut row_of_transaction = std::collections::HashMap::new();
        for (review, tags) in batch.iter().zip(&tags) {
            let Some(&attribution) = by_no.get(review.cmd.transaction_no.as_str()) else {
                outcomes.push(Some(BatchOutcome::Decided(Err(AppError::unknown_code("transaction_no", &review.cmd.transaction_no)))));
                continue;
            };
            if row_of_transaction.contains_key(&attribution.transaction_id) {
                outcomes.push(Some(BatchOutcome::Alone));
                continue;
            }
            row_of_transaction.insert(attribution.transaction_id, (outcomes.len(), attribution));
            outcomes.push(None);
            rows.push(new_review(review.cmd, tags, attribution, review.now));
        }
        let inserted: Vec<(i64, i64)> = match conn {
            _ if rows.is_empty() => Vec::new(),
            Conn::Postgres(c) => diesel::insert_into(reviews::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .returning((reviews::id, reviews::transaction_id))
                .get_results(&mut **c)?,
            // diesel runs a SQLite batch insert row by row and fails on a skipped row; the
            // rows still share the one commit, and SQLite has no round trips to save.
            Conn::Sqlite(c) => {
                let mut inserted = Vec::with_capacity(rows.len());
                for row in &rows {
                    let id: Option<(i64, i64)> = diesel::insert_into(reviews::table)
                        .values(row)
                        .on_conflict_do_nothing()
                        .returning((reviews::id, reviews::transaction_id))
                        .get_result(&mut **c)
                        .optional()?;
                    inserted.extend(id);
                }
                inserted
            }
        };
        let mut opening = Vec::new();
        let mut opened_by = Vec::new();
        for (id, transaction_id) in inserted {
            let Some(&(k, by)) = row_of_transaction.get(&transaction_id) else { continue };
            match batch[k].opens_case {
                None => outcomes[k] = Some(BatchOutcome::Decided(Ok(ReviewRecorded { id, is_bad: false, case_id: None }))),
                Some((actor, rules)) => {
                    let spec = OpenCase {
                        source: "review",
                        review_id: Some(id),
                        complaint_id: None,
                        department_id: Some(by.department_id),
                        window_id: by.window_id,
                        staff_id: by.staff_id,
                        committed_reply_due: None,
                    };
                    opening.push((spec, actor, batch[k].now, rules));
                    opened_by.push((k, id));
                }
            }
        }
        let (case_ids, events) = open_cases_unaudited(conn, &opening)?;
        for ((k, id), case_id) in opened_by.into_iter().zip(case_ids) {
            outcomes[k] = Some(BatchOutcome::Decided(Ok(ReviewRecorded { id, is_bad: true, case_id: Some(case_id) })));
        }
        // The comments into the search index, in this transaction: found once it commits.
        let texts = outcomes
            .iter()
            .zip(batch)
            .filter_map(|(outcome, review)| match outcome {
                Some(BatchOutcome::Decided(Ok(recorded))) => {
                    let by = by_no.get(review.cmd.transaction_no.as_str())?;
                    review_text(review.cmd, recorded, by.department_id)
                }
                _ => None,
            })
            .collect();
        crate::adapters::search::index(conn, texts)?;
        // A row the INSERT skipped: its transaction was rated before.
        Ok((outcomes.into_iter().map(|o| o.unwrap_or(BatchOutcome::Alone)).collect(), events))
    })
}

/// A review that opens no case (most of them) is one `INSERT … SELECT` that copies the
/// transaction's attribution and commits by itself: on PostgreSQL one round trip instead of
/// six, which is what `loadgen intake` is limited by. A repeat fails on the UNIQUE
/// index (409 in [`record_review`]); no row inserted means no such transaction.
fn record_good_review(conn: &mut Conn, cmd: &ReviewCommand, now: DateTime<Utc>) -> AppResult<ReviewRecorded> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp};
    let tags = tags_json(cmd)?;
    let stars = i32::from(cmd.content.stars.get());
    let (rated_at, created_at) = (clock::to_db(cmd.rated_at), clock::to_db(now));
    let inserted: Option<i64> = conn.single_write(|conn| {
        db_run!(conn, |c| {
            let attributed = transactions::table.filter(transactions::transaction_no.eq(&cmd.transaction_no)).select((
                transactions::id,
                stars.into_sql::<Integer>(),
                cmd.channel.as_str().into_sql::<Text>(),
                tags.as_str().into_sql::<Text>(),
                cmd.content.comment.as_deref().into_sql::<Nullable<Text>>(),
                cmd.anonymous.into_sql::<Bool>(),
                cmd.is_public.into_sql::<Bool>(),
                sql::<Bool>("FALSE"),
                transactions::department_id,
                transactions::service_item_id,
                transactions::window_id,
                transactions::staff_id,
                rated_at.into_sql::<Timestamp>(),
                created_at.into_sql::<Timestamp>(),
                cmd.tag_set_version.into_sql::<Nullable<Integer>>(),
                i32::from(cmd.moderation.code()).into_sql::<Integer>(),
                cmd.origin.address_hash.as_deref().into_sql::<Nullable<Text>>(),
                cmd.origin.device_hash.as_deref().into_sql::<Nullable<Text>>(),
                cmd.origin.staff_session.into_sql::<Bool>(),
            ));
            diesel::insert_into(reviews::table)
                .values(attributed)
                .into_columns((
                    reviews::transaction_id,
                    reviews::stars,
                    reviews::channel,
                    reviews::tags,
                    reviews::comment,
                    reviews::anonymous,
                    reviews::is_public,
                    reviews::invalidated,
                    reviews::department_id,
                    reviews::service_item_id,
                    reviews::window_id,
                    reviews::staff_id,
                    reviews::rated_at,
                    reviews::created_at,
                    reviews::tag_set_version,
                    reviews::moderation,
                    reviews::address_hash,
                    reviews::device_hash,
                    reviews::staff_session,
                ))
                .returning(reviews::id)
                .get_result(c)
                .optional()
        })
    })?;
    let id = inserted.ok_or_else(|| AppError::unknown_code("transaction_no", &cmd.transaction_no))?;
    Ok(ReviewRecorded { id, is_bad: false, case_id: None })
}

/// A bad review and its case, audit event and mail land in one transaction.
fn record_bad_review(conn: &mut Conn, cmd: &ReviewCommand, actor: &str, now: DateTime<Utc>, rules: &Rules) -> AppResult<ReviewRecorded> {
    conn.transaction(|conn| {
        let (recorded, opened) = store_bad_review(conn, cmd, actor, now, rules)?;
        crate::storage::audit::append(conn, opened)?;
        if faults::armed_for(&cmd.transaction_no) {
            // Mid-transaction, the review, its case and its audit event written: what a bug
            // here would leave behind is what the test checks is not stored.
            panic!("injected fault storing the review of {}", cmd.transaction_no);
        }
        Ok(recorded)
    })
}

/// A test-only switch (tests/faults.rs): the bad review of one 办件 number panics inside its
/// transaction, once. Keyed by number so that tests running side by side cannot trip each other.
pub mod faults {
    use std::collections::HashSet;
    use std::sync::Mutex;

    static ARMED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

    #[doc(hidden)]
    pub fn panic_on_review_of(transaction_no: &str) {
        ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert_with(HashSet::new).insert(transaction_no.to_owned());
    }

    pub(super) fn armed_for(transaction_no: &str) -> bool {
        ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut().is_some_and(|armed| armed.remove(transaction_no))
    }
}

/// A bad review with its case and mail, returning the case's audit event for the caller to
/// append last.
fn store_bad_review<'a>(
    conn: &mut Conn,
    cmd: &ReviewCommand,
    actor: &'a str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> AppResult<(ReviewRecorded, AuditEntry<'a>)> {
    let tx = queries::transaction_by_no(conn, &cmd.transaction_no)?
        .ok_or_else(|| AppError::unknown_code("transaction_no", &cmd.transaction_no))?;
    if let Some(existing) = queries::review_of_transaction(conn, tx.id)? {
        return Err(already_rated(&cmd.transaction_no, &existing));
    }
    let tags = tags_json(cmd)?;
    let attribution = Attribution {
        transaction_id: tx.id,
        department_id: tx.department_id,
        service_item_id: tx.service_item_id,
        window_id: tx.window_id,
        staff_id: tx.staff_id,
    };
    let new = new_review(cmd, &tags, attribution, now);
    let id: i64 = db_run!(conn, |c| diesel::insert_into(reviews::table)
        .values(&new)
        .returning(reviews::id)
        .get_result(c))?;
    let spec = OpenCase {
        source: "review",
        review_id: Some(id),
        complaint_id: None,
        department_id: Some(tx.department_id),
        window_id: tx.window_id,
        staff_id: tx.staff_id,
        committed_reply_due: None,
    };
    let (case_id, opened) = open_case_unaudited(conn, &spec, actor, now, rules)?;
    let recorded = ReviewRecorded { id, is_bad: true, case_id: Some(case_id) };
    crate::adapters::search::index(conn, review_text(cmd, &recorded, tx.department_id).into_iter().collect())?;
    Ok((recorded, opened))
}

/// Who a review is about: copied from its transaction (三对应).
#[derive(Debug, Clone, Copy)]
struct Attribution {
    transaction_id: i64,
    department_id: i64,
    service_item_id: i64,
    window_id: Option<i64>,
    staff_id: Option<i64>,
}

fn new_review<'a>(cmd: &'a ReviewCommand, tags: &'a str, by: Attribution, now: DateTime<Utc>) -> NewReview<'a> {
    NewReview {
        transaction_id: by.transaction_id,
        stars: i32::from(cmd.content.stars.get()),
        channel: cmd.channel.as_str(),
        tags,
        comment: cmd.content.comment.as_deref(),
        anonymous: cmd.anonymous,
        is_public: cmd.is_public,
        invalidated: false,
        department_id: by.department_id,
        service_item_id: by.service_item_id,
        window_id: by.window_id,
        staff_id: by.staff_id,
        rated_at: clock::to_db(cmd.rated_at),
        created_at: clock::to_db(now),
        tag_set_version: cmd.tag_set_version,
        moderation: i32::from(cmd.moderation.code()),
        address_hash: cmd.origin.address_hash.as_deref(),
        device_hash: cmd.origin.device_hash.as_deref(),
        staff_session: cmd.origin.staff_session,
    }
}

/// The review's tags as stored: a JSON array.
fn tags_json(cmd: &ReviewCommand) -> AppResult<String> {
    serde_json::to_string(&cmd.content.tags).map_err(AppError::internal)
}

fn already_rated(transaction_no: &str, existing: &crate::storage::models::Review) -> AppError {
    AppError::conflict_with(
        "already_rated",
        format!("transaction {transaction_no} was already rated (review {}); 一事一评", existing.id),
        json!({ "review_id": existing.id, "rated_at": rfc3339_local(existing.rated_at) }),
    )
}

pub struct ComplaintCommand {
    pub source: ComplaintSource,
    pub external_no: String,
    pub title: Option<String>,
    pub content: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub received_at: DateTime<Utc>,
    pub department_code: Option<String>,
    pub service_item_code: Option<String>,
    pub transaction_no: Option<String>,
    /// The work order's own 承诺时限, if it carries one.
    pub commitment: Option<Commitment>,
}

/// A reply time a work order promises: a moment, or working days from its receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commitment {
    DueAt(DateTime<Utc>),
    WorkingDays(u32),
}

/// Longest promise a work order may carry, in working days (the 12345 rules' longest is 15; an
/// extended one 30).
pub const MAX_COMMITTED_WORKING_DAYS: u32 = 60;

/// The reply deadline a work order promised: `due_at` as given (after its receipt), or the end
/// of the n-th working day after it was received.
fn committed_reply_due(commitment: Option<Commitment>, received_at: DateTime<Utc>, rules: &Rules) -> AppResult<Option<DateTime<Utc>>> {
    match commitment {
        None => Ok(None),
        Some(Commitment::DueAt(due)) if due <= received_at => Err(AppError::invalid("due_at", "the promised reply time must be after received_at")),
        Some(Commitment::DueAt(due)) => Ok(Some(due)),
        Some(Commitment::WorkingDays(n)) if !(1..=MAX_COMMITTED_WORKING_DAYS).contains(&n) => {
            Err(AppError::invalid("committed_working_days", format!("1 to {MAX_COMMITTED_WORKING_DAYS} working days")))
        }
        Some(Commitment::WorkingDays(n)) => Ok(Some(rules.calendar.deadline(received_at, n))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintRecorded {
    pub case_id: i64,
    pub department_code: Option<String>,
    pub routed_by: RoutedBy,
    /// False for an idempotent repeat of the same `source` + `external_no`.
    pub created: bool,
}

/// Stores a complaint and opens its case; the same `source` + `external_no` again returns the
/// first one's case.
pub fn record_complaint(
    conn: &mut Conn,
    cmd: &ComplaintCommand,
    actor: &str,
    now: DateTime<Utc>,
    rules: &Rules,
    router: Option<&ComplaintRouter>,
) -> AppResult<ComplaintRecorded> {
    check_code("external_no", &cmd.external_no)?;
    if cmd.content.trim().is_empty() {
        return Err(AppError::invalid("content", "must not be blank"));
    }
    check_text("content", &cmd.content, MAX_COMPLAINT_CHARS)?;
    if let Some(t) = &cmd.title {
        check_text("title", t, 200)?;
    }
    if let Some(n) = &cmd.contact_name {
        check_text("contact_name", n, 100)?;
    }
    if let Some(p) = &cmd.contact_phone {
        check_text("contact_phone", p, 32)?;
    }
    let attempt = |conn: &mut Conn| {
        conn.transaction(|conn| {
            if let Some(found) = existing_complaint(conn, cmd)? {
                return Ok(found);
            }
            insert_complaint(conn, cmd, actor, now, rules, router)
        })
    };
    match attempt(conn) {
        // A concurrent repeat inserted first: answer with its case.
        Err(e) if e.is_unique_violation() => existing_complaint(conn, cmd)?.ok_or(e),
        other => other,
    }
}

fn existing_complaint(conn: &mut Conn, cmd: &ComplaintCommand) -> AppResult<Option<ComplaintRecorded>> {
    let found: Option<(i64, Option<String>, String)> = db_run!(conn, |c| complaints::table
        .inner_join(cases::table.on(cases::complaint_id.eq(complaints::id.nullable())))
        .left_join(departments::table.on(cases::department_id.eq(departments::id.nullable())))
        .filter(complaints::source.eq(cmd.source.as_str()))
        .filter(complaints::external_no.eq(&cmd.external_no))
        .select((cases::id, departments::code.nullable(), complaints::routed_by))
        .first(c)
        .optional())?;
    Ok(found.map(|(case_id, department_code, routed_by)| ComplaintRecorded {
        case_id,
        department_code,
        routed_by: RoutedBy::parse(&routed_by).unwrap_or(RoutedBy::Given),
        created: false,
    }))
}

fn insert_complaint(
    conn: &mut Conn,
    cmd: &ComplaintCommand,
    actor: &str,
    now: DateTime<Utc>,
    rules: &Rules,
    router: Option<&ComplaintRouter>,
) -> AppResult<ComplaintRecorded> {
    let named_department = match &cmd.department_code {
        Some(code) => Some(queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_code", code))?),
        None => None,
    };
    let item = match &cmd.service_item_code {
        Some(code) => Some(queries::service_item_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("service_item_code", code))?),
        None => None,
    };
    let tx = match &cmd.transaction_no {
        Some(no) => Some(queries::transaction_by_no(conn, no)?.ok_or_else(|| AppError::unknown_code("transaction_no", no))?),
        None => None,
    };
    // The department named by the caller wins; else the one the service item or transaction
    // belongs to; else the complaint waits for the router or a supervisor.
    let given = named_department
        .as_ref()
        .map(|d| d.id)
        .or(item.as_ref().map(|i| i.department_id))
        .or(tx.as_ref().map(|t| t.department_id));
    let (department_id, routed_by, suggestions) = match (given, router) {
        (Some(d), _) => (Some(d), RoutedBy::Given, None),
        (None, Some(router)) => {
            let text = format!("{}。{}", cmd.title.as_deref().unwrap_or(""), cmd.content);
            let decision = router.route(conn, &text)?;
            let by = if decision.department_id.is_some() { RoutedBy::Router } else { RoutedBy::Unassigned };
            let json = serde_json::to_string(&decision.suggestions).map_err(AppError::internal)?;
            (decision.department_id, by, Some(json))
        }
        (None, None) => (None, RoutedBy::Unassigned, None),
    };
    let new = NewComplaint {
        source: cmd.source.as_str(),
        external_no: &cmd.external_no,
        title: cmd.title.as_deref(),
        content: &cmd.content,
        contact_name: PersonalText::of(cmd.contact_name.as_deref()),
        contact_phone: PersonalText::of(cmd.contact_phone.as_deref()),
        contact_phone_hash: cmd.contact_phone.as_deref().and_then(personal_data::lookup_hash),
        received_at: clock::to_db(cmd.received_at),
        department_id,
        // A complaint about a 办件 is about its service item, unless it names another.
        service_item_id: item.as_ref().map(|i| i.id).or(tx.as_ref().map(|t| t.service_item_id)),
        transaction_id: tx.as_ref().map(|t| t.id),
        routed_by: routed_by.as_str(),
        route_suggestions: suggestions.as_deref(),
        created_at: clock::to_db(now),
    };
    let complaint_id: i64 = db_run!(conn, |c| diesel::insert_into(complaints::table)
        .values(&new)
        .returning(complaints::id)
        .get_result(c))?;
    let spec = OpenCase {
        source: cmd.source.as_str(),
        review_id: None,
        complaint_id: Some(complaint_id),
        department_id,
        window_id: tx.as_ref().and_then(|t| t.window_id),
        staff_id: tx.as_ref().and_then(|t| t.staff_id),
        committed_reply_due: committed_reply_due(cmd.commitment, cmd.received_at, rules)?,
    };
    let case_id = open_case(conn, &spec, actor, now, rules)?;
    crate::adapters::search::index(
        conn,
        vec![crate::adapters::search::Text {
            source: crate::domain::search::DocSource::Complaint,
            record_id: complaint_id,
            case_id: Some(case_id),
            transaction_no: cmd.transaction_no.clone(),
            department_id,
            stars: None,
            occurred_at: clock::to_db(cmd.received_at),
            text: crate::adapters::search::complaint_text(cmd.title.as_deref(), &cmd.content),
        }],
    )?;
    let department_code = match department_id {
        Some(id) => queries::department_by_id(conn, id)?.map(|d| d.code),
        None => None,
    };
    Ok(ComplaintRecorded { case_id, department_code, routed_by, created: true })
}
