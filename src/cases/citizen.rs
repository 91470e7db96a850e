//! What a citizen holding a rating link sees: the transaction, their review, and — for a bad
//! review — the department's approved reply and their 回访 rating of it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db_run;
use crate::domain::case_flow::CaseState;
use crate::error::{AppError, AppResult};
use crate::storage::models::Review;
use crate::storage::schema::{departments, review_follow_ups, service_items, transactions, windows};
use crate::storage::{queries, Conn};

pub struct TransactionFacts {
    pub transaction_no: String,
    pub service_item: String,
    pub department: String,
    pub window: Option<String>,
    pub completed_at: NaiveDateTime,
}

pub struct RatingStatus {
    pub transaction: TransactionFacts,
    pub review: Option<Review>,
    /// The approved reply, once the case is closed with one.
    pub reply: Option<String>,
    /// The 回访 rating already given to the current reply.
    pub handling_rating: Option<String>,
    /// True while a bad review's case is still being handled.
    pub in_progress: bool,
    /// The citizen's 追评, once given (one per review).
    pub addendum: Option<Addendum>,
}

/// A 追评: what the citizen added after rating, and when.
pub struct Addendum {
    pub stars: Option<i32>,
    pub comment: Option<String>,
    pub created_at: NaiveDateTime,
}

impl RatingStatus {
    /// Until when a 追评 may be added: 7 days after the rating (`follow_ups::ADDENDUM_DAYS`).
    pub fn addendum_until(&self) -> Option<NaiveDateTime> {
        self.review.as_ref().map(|r| r.rated_at + chrono::Duration::days(crate::cases::follow_ups::ADDENDUM_DAYS))
    }

    /// Whether the page offers the 追评 form: rated, no 追评 yet, and within the 7 days.
    pub fn addendum_open(&self, now: NaiveDateTime) -> bool {
        self.addendum.is_none() && self.addendum_until().is_some_and(|until| now <= until)
    }
}

pub fn status(conn: &mut Conn, transaction_no: &str) -> AppResult<RatingStatus> {
    let row: Option<(i64, String, String, String, Option<String>, NaiveDateTime)> = db_run!(conn, |c| transactions::table
        .inner_join(service_items::table)
        .inner_join(departments::table.on(departments::id.eq(transactions::department_id)))
        .left_join(windows::table)
        .filter(transactions::transaction_no.eq(transaction_no))
        .select((
            transactions::id,
            transactions::transaction_no,
            service_items::name,
            departments::name,
            windows::name.nullable(),
            transactions::completed_at,
        ))
        .first(c)
        .optional())?;
    let (tx_id, no, item, department, window, completed_at) =
        row.ok_or_else(|| AppError::NotFound(format!("no transaction {transaction_no}")))?;
    let review = queries::review_of_transaction(conn, tx_id)?;
    let case = match &review {
        Some(r) => queries::case_of_review(conn, r.id)?,
        None => None,
    };
    let (mut reply, mut handling_rating, mut in_progress) = (None, None, false);
    if let (Some(case), Some(review)) = (&case, &review) {
        if case.state == CaseState::Closed && case.reply_text.is_some() {
            reply = case.reply_text.clone();
            let closed_at = case.closed_at.unwrap_or(NaiveDateTime::MIN);
            handling_rating = db_run!(conn, |c| review_follow_ups::table
                .filter(review_follow_ups::review_id.eq(review.id))
                .filter(review_follow_ups::kind.eq("handling"))
                .filter(review_follow_ups::created_at.ge(closed_at))
                .order(review_follow_ups::id.desc())
                .select(review_follow_ups::satisfaction)
                .first::<Option<String>>(c)
                .optional())?
            .flatten();
        } else {
            in_progress = case.state != CaseState::Closed;
        }
    }
    let addendum = match &review {
        Some(r) => db_run!(conn, |c| review_follow_ups::table
            .filter(review_follow_ups::review_id.eq(r.id))
            .filter(review_follow_ups::kind.eq("addendum"))
            .order(review_follow_ups::id.asc())
            .select((review_follow_ups::stars, review_follow_ups::comment, review_follow_ups::created_at))
            .first::<(Option<i32>, Option<String>, NaiveDateTime)>(c)
            .optional())?
        .map(|(stars, comment, created_at)| Addendum { stars, comment, created_at }),
        None => None,
    };
    Ok(RatingStatus {
        transaction: TransactionFacts { transaction_no: no, service_item: item, department, window, completed_at },
        review,
        reply,
        handling_rating,
        in_progress,
        addendum,
    })
}
