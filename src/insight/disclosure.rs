//! Public disclosure (双公开): ratings marked public, with the department's approved reply to each
//! bad review, readable without login. Citizens' names are masked to the family name, anonymous
//! reviews show no name at all, phones are never shown; upheld-appeal reviews are left out.
//! Comments pass the moderation filter first: personal numbers and addresses typed into them are
//! masked, and one held for a listed phrase waits for a supervisor's decision.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db_run;
use crate::storage::personal_data::PersonalText;
use crate::domain::grade::Stars;
use crate::domain::exchange::AuditStatus;
use crate::domain::masking::mask_name;
use crate::domain::moderation::{held_phrase, mask_personal_text, Decision};
use crate::error::{AppError, AppResult};
use crate::storage::schema::{cases, departments, reviews, service_items, transactions};
use crate::storage::Conn;

#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PublicQuery {
    /// `bad` for 差评 only; default all grades.
    #[param(pattern = "^(bad|all)$")]
    pub grade: Option<String>,
    /// A department code.
    pub department: Option<String>,
    /// 1-based page; 20 per page unless `per_page` (at most 100) says otherwise.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicReview {
    pub id: i64,
    pub rated_at: String,
    pub stars: i32,
    pub level: String,
    pub is_bad: bool,
    pub department: String,
    pub service_item: String,
    pub tags: Vec<String>,
    pub comment: Option<String>,
    /// `张**`, or null for an anonymous review or a transaction without a name.
    pub reviewer: Option<String>,
    /// 已回复 / 处理中 / null (not a bad review).
    pub handling: Option<String>,
    /// The department's reply once the supervisor approved it.
    pub reply: Option<String>,
    pub replied_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicPage {
    pub items: Vec<PublicReview>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

type Row = (i64, NaiveDateTime, i32, String, Option<String>, bool, String, String, Option<PersonalText>, Option<String>, Option<String>, Option<NaiveDateTime>);

pub fn public_reviews(conn: &mut Conn, query: &PublicQuery) -> AppResult<PublicPage> {
    let per_page = query.per_page.unwrap_or(20);
    if !(1..=100).contains(&per_page) {
        return Err(AppError::invalid("per_page", "1 to 100"));
    }
    let page = query.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) {
        return Err(AppError::invalid("page", "1 or more"));
    }
    let bad_only = match query.grade.as_deref() {
        None | Some("all") => false,
        Some("bad") => true,
        Some(other) => return Err(AppError::invalid("grade", format!("bad or all, not {other:?}"))),
    };
    let department_id = match &query.department {
        Some(code) => Some(
            crate::storage::queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department", code))?.id,
        ),
        None => None,
    };
    macro_rules! selection {
        () => {{
            let mut q = reviews::table
                .inner_join(transactions::table.on(transactions::id.eq(reviews::transaction_id)))
                .inner_join(departments::table.on(departments::id.eq(reviews::department_id)))
                .inner_join(service_items::table.on(service_items::id.eq(reviews::service_item_id)))
                .left_join(cases::table.on(cases::review_id.eq(reviews::id.nullable())))
                .filter(reviews::is_public.eq(true))
                .filter(reviews::invalidated.eq(false))
                .filter(reviews::moderation.ne(i32::from(AuditStatus::Pending.code())))
                .into_boxed();
            if bad_only {
                q = q.filter(reviews::stars.le(2));
            }
            if let Some(d) = department_id {
                q = q.filter(reviews::department_id.eq(d));
            }
            q
        }};
    }
    let total: i64 = db_run!(conn, |c| selection!().count().get_result(c))?;
    let rows: Vec<Row> = db_run!(conn, |c| selection!()
        .order((reviews::rated_at.desc(), reviews::id.desc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((
            reviews::id,
            reviews::rated_at,
            reviews::stars,
            reviews::tags,
            reviews::comment,
            reviews::anonymous,
            departments::name,
            service_items::name,
            transactions::applicant_name,
            cases::state.nullable(),
            cases::reply_text.nullable(),
            cases::replied_at.nullable(),
        ))
        .load(c))?;
    let items = rows
        .into_iter()
        .map(|(id, rated_at, stars, tags, comment, anonymous, department, service_item, name, state, reply, replied_at)| {
            let is_bad = stars <= 2;
            // Only an approved answer is public: a reply waiting for audit may still be sent back.
            let approved = state.as_deref() == Some("closed") && reply.is_some();
            PublicReview {
                id,
                rated_at: clock::rfc3339_local(rated_at),
                stars,
                level: Stars::parse(i64::from(stars)).map(|s| s.level_name().to_owned()).unwrap_or_default(),
                is_bad,
                department,
                service_item,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                comment: comment.map(|text| mask_personal_text(&text)),
                reviewer: if anonymous { None } else { name.as_deref().map(mask_name) },
                handling: is_bad.then(|| if approved { "已回复".to_owned() } else { "处理中".to_owned() }),
                reply: if approved { reply } else { None },
                replied_at: if approved { replied_at.map(clock::rfc3339_local) } else { None },
            }
        })
        .collect();
    Ok(PublicPage { items, total, page, per_page })
}

/// A public comment held for a listed phrase, as the supervisor decides on it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeldComment {
    pub review_id: i64,
    pub rated_at: String,
    pub stars: i32,
    pub department: String,
    pub service_item: String,
    /// The comment with personal numbers and addresses masked.
    pub comment: String,
    /// The listed phrase it contains (none when the list changed since).
    pub phrase: Option<String>,
}

/// How many comments are held.
pub fn held_count(conn: &mut Conn) -> AppResult<i64> {
    Ok(db_run!(conn, |c| reviews::table.filter(reviews::moderation.eq(i32::from(AuditStatus::Pending.code()))).count().get_result(c))?)
}

/// Held comments, oldest first (at most `limit`).
pub fn held_comments(conn: &mut Conn, phrases: &[String], limit: i64) -> AppResult<Vec<HeldComment>> {
    let rows: Vec<(i64, NaiveDateTime, i32, String, String, Option<String>)> = db_run!(conn, |c| reviews::table
        .inner_join(departments::table.on(departments::id.eq(reviews::department_id)))
        .inner_join(service_items::table.on(service_items::id.eq(reviews::service_item_id)))
        .filter(reviews::moderation.eq(i32::from(AuditStatus::Pending.code())))
        .order(reviews::id)
        .limit(limit)
        .select((reviews::id, reviews::rated_at, reviews::stars, departments::name, service_items::name, reviews::comment))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(review_id, rated_at, stars, department, service_item, comment)| {
            let comment = comment.unwrap_or_default();
            HeldComment {
                review_id,
                rated_at: clock::rfc3339_local(rated_at),
                stars,
                department,
                service_item,
                phrase: held_phrase(&comment, phrases).map(str::to_owned),
                comment: mask_personal_text(&comment),
            }
        })
        .collect())
}

/// What a decision on a held comment left.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModerationDecided {
    pub review_id: i64,
    /// 已审核.
    pub audit_status: String,
    pub is_public: bool,
}

/// A supervisor publishes a held comment or keeps it private; the decision goes on the audit
/// chain (with the review's case, if it has one). Only a held comment can be decided: 409 else.
pub fn decide(conn: &mut Conn, review_id: i64, decision: Decision, actor: &str, note: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> AppResult<ModerationDecided> {
    conn.transaction(|conn| {
        let held: Option<i32> = db_run!(conn, |c| reviews::table.find(review_id).select(reviews::moderation).first(c).optional())?;
        match held {
            None => return Err(AppError::NotFound(format!("review {review_id}"))),
            Some(code) if code != i32::from(AuditStatus::Pending.code()) => {
                return Err(AppError::conflict("not_held", "this comment is not waiting for a decision"))
            }
            Some(_) => {}
        }
        let public = decision == Decision::Publish;
        let updated = db_run!(conn, |c| diesel::update(
            reviews::table.find(review_id).filter(reviews::moderation.eq(i32::from(AuditStatus::Pending.code())))
        )
        .set((reviews::moderation.eq(i32::from(AuditStatus::Audited.code())), reviews::is_public.eq(public)))
        .execute(c))?;
        if updated == 0 {
            return Err(AppError::conflict("not_held", "this comment is not waiting for a decision"));
        }
        // The provincial feed sends the record again with its new 审核状态 and 是否公开.
        crate::storage::queries::note_exchange_change(conn, review_id, clock::to_db(now))?;
        let case_id: Option<i64> = db_run!(conn, |c| cases::table.filter(cases::review_id.eq(review_id)).select(cases::id).first(c).optional())?;
        crate::storage::audit::append(
            conn,
            crate::storage::audit::AuditEntry {
                case_id,
                actor,
                action: "moderate_comment",
                from_state: None,
                to_state: None,
                note,
                detail: Some(serde_json::json!({"review_id": review_id, "decision": decision.as_str()}).to_string()),
                at: clock::to_db(now),
            },
        )?;
        Ok(ModerationDecided { review_id, audit_status: "已审核".to_owned(), is_public: public })
    })
}
