//! Public disclosure (双公开): ratings marked public, with the department's approved reply to each
//! bad review, readable without login. Citizens' names are masked to the family name, anonymous
//! reviews show no name at all, phones are never shown; upheld-appeal reviews are left out.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db_run;
use crate::domain::grade::Stars;
use crate::domain::masking::mask_name;
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

type Row = (i64, NaiveDateTime, i32, String, Option<String>, bool, String, String, Option<String>, Option<String>, Option<String>, Option<NaiveDateTime>);

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
                comment,
                reviewer: if anonymous { None } else { name.as_deref().map(mask_name) },
                handling: is_bad.then(|| if approved { "已回复".to_owned() } else { "处理中".to_owned() }),
                reply: if approved { reply } else { None },
                replied_at: if approved { replied_at.map(clock::rfc3339_local) } else { None },
            }
        })
        .collect();
    Ok(PublicPage { items, total, page, per_page })
}
