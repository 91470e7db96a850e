//! What a citizen adds after rating: one 追评 (addendum) within 7 days, and the 回访 rating of
//! how a bad review was handled once the department's reply is approved. 不满意 reopens the
//! case to rectification and alerts supervisors.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::domain::access::Principal;
use crate::domain::rules::Rules;
use crate::cases::actions::{apply_action, ActionRequest};
use crate::clock;
use crate::db_run;
use crate::domain::case_flow::{Action, CaseState};
use crate::domain::grade::Stars;
use crate::domain::intake_rules::{check_text, string_enum, MAX_COMMENT_CHARS};
use crate::error::{AppError, AppResult};
use crate::storage::schema::review_follow_ups;
use crate::storage::{queries, Conn};

pub const ADDENDUM_DAYS: i64 = 7;

string_enum! {
    /// 回访满意度.
    Satisfaction {
        Satisfied = "satisfied",
        BasicallySatisfied = "basically_satisfied",
        Dissatisfied = "dissatisfied",
    }
}

impl Satisfaction {
    pub fn label(self) -> &'static str {
        match self {
            Satisfaction::Satisfied => "满意",
            Satisfaction::BasicallySatisfied => "基本满意",
            Satisfaction::Dissatisfied => "不满意",
        }
    }
}

pub enum FollowUp {
    Handling { satisfaction: Satisfaction, comment: Option<String> },
    Addendum { stars: Option<Stars>, comment: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRecorded {
    pub id: i64,
    /// The case's state afterwards, when the review has one.
    pub case_state: Option<String>,
}

pub fn record_follow_up(
    conn: &mut Conn,
    actor: &Principal,
    transaction_no: &str,
    follow_up: &FollowUp,
    now: DateTime<Utc>,
    rules: &Rules,
) -> AppResult<FollowUpRecorded> {
    let comment = match follow_up {
        FollowUp::Handling { comment, .. } => comment.as_deref(),
        FollowUp::Addendum { comment, .. } => Some(comment.as_str()),
    };
    if let Some(c) = comment {
        check_text("comment", c, MAX_COMMENT_CHARS)?;
    }
    conn.transaction(|conn| {
        let tx = queries::transaction_by_no(conn, transaction_no)?.ok_or_else(|| AppError::unknown_code("transaction_no", transaction_no))?;
        let review = queries::review_of_transaction(conn, tx.id)?
            .ok_or_else(|| AppError::conflict("not_rated", "rate the transaction first"))?;
        // Two follow-ups of one review at once (a double tap) must not both pass the checks below:
        // PostgreSQL locks the review's row; SQLite already holds its single write lock.
        if let Conn::Postgres(c) = conn {
            use crate::storage::schema::reviews;
            reviews::table.find(review.id).select(reviews::id).for_update().first::<i64>(&mut **c)?;
        }
        let case = queries::case_of_review(conn, review.id)?;
        let existing: Vec<(String, chrono::NaiveDateTime)> = db_run!(conn, |c| review_follow_ups::table
            .filter(review_follow_ups::review_id.eq(review.id))
            .select((review_follow_ups::kind, review_follow_ups::created_at))
            .load(c))?;
        let (kind, stars, satisfaction) = match follow_up {
            FollowUp::Addendum { stars, comment } => {
                if comment.trim().is_empty() {
                    return Err(AppError::invalid("comment", "an addendum needs a comment"));
                }
                if now > clock::from_db(review.rated_at) + Duration::days(ADDENDUM_DAYS) {
                    return Err(AppError::conflict("too_late", format!("追评 is possible within {ADDENDUM_DAYS} days of the rating")));
                }
                if existing.iter().any(|(k, _)| k == "addendum") {
                    return Err(AppError::conflict("already_added", "one addendum per review"));
                }
                ("addendum", stars.map(|s| i32::from(s.get())), None)
            }
            FollowUp::Handling { satisfaction, .. } => {
                let case = case.as_ref().ok_or_else(|| AppError::conflict("no_case", "only a bad review's handling can be rated"))?;
                let closed_at = match (case.state.as_str(), case.closed_at, &case.reply_text) {
                    (s, Some(closed), Some(_)) if s == CaseState::Closed.as_str() => closed,
                    _ => return Err(AppError::conflict("not_answered", "the department's reply is not final yet")),
                };
                // One 回访 rating per answer: a reopened and answered-again case may be rated again.
                if existing.iter().any(|(k, at)| k == "handling" && *at >= closed_at) {
                    return Err(AppError::conflict("already_rated", "this reply has been rated already"));
                }
                ("handling", None, Some(satisfaction.as_str()))
            }
        };
        let id: i64 = db_run!(conn, |c| diesel::insert_into(review_follow_ups::table)
            .values((
                review_follow_ups::review_id.eq(review.id),
                review_follow_ups::kind.eq(kind),
                review_follow_ups::stars.eq(stars),
                review_follow_ups::satisfaction.eq(satisfaction),
                review_follow_ups::comment.eq(comment.map(str::trim)),
                review_follow_ups::created_at.eq(clock::to_db(now)),
            ))
            .returning(review_follow_ups::id)
            .get_result(c))?;
        let mut case_state = case.as_ref().map(|c| c.state.as_str().to_owned());
        if let (FollowUp::Handling { satisfaction: Satisfaction::Dissatisfied, .. }, Some(case)) = (follow_up, &case) {
            let request = ActionRequest {
                action: Action::FollowUpDissatisfied,
                note: Some(comment.map(str::to_owned).unwrap_or_else(|| "回访不满意".to_owned())),
                department_code: None,
            };
            let reopened = apply_action(conn, actor, case.id, &request, now, rules)?;
            case_state = Some(reopened.state.as_str().to_owned());
        }
        Ok(FollowUpRecorded { id, case_state })
    })
}
