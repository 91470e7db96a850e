//! A read-only Open311 GeoReport v2 view of cases, so that existing civic tools can read them:
//! service items (and complaint sources, for complaints) as services, cases as service requests, with
//! `expected_datetime` from the reply deadline. Public like the disclosure page: a review case is
//! listed only when its review is public, and a complaint shows its title, never its content
//! or contact.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db_run;
use crate::domain::exchange::AuditStatus;
use crate::domain::moderation::mask_personal_text;
use crate::domain::case_flow::CaseState;
use crate::domain::intake_rules::ComplaintSource;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{cases, complaints, departments, reviews, service_items};
use crate::storage::Conn;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    pub metadata: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub keywords: String,
    pub group: String,
}

pub fn services(conn: &mut Conn) -> AppResult<Vec<Service>> {
    let items: Vec<(String, String, String)> = db_run!(conn, |c| service_items::table
        .inner_join(departments::table)
        .order(service_items::code.asc())
        .select((service_items::code, service_items::name, departments::name))
        .load(c))?;
    let mut out: Vec<Service> = items
        .into_iter()
        .map(|(code, name, department)| Service {
            service_code: code,
            description: format!("{department}办理的政务服务事项“{name}”的差评整改"),
            service_name: name,
            metadata: false,
            kind: "realtime".into(),
            keywords: "好差评,差评".into(),
            group: department,
        })
        .collect();
    out.extend(ComplaintSource::ALL.iter().map(|s| Service {
        service_code: s.as_str().to_owned(),
        service_name: crate::insight::stats::channel_label(s.as_str()).to_owned(),
        description: "未关联具体事项的投诉工单".into(),
        metadata: false,
        kind: "realtime".into(),
        keywords: "投诉".into(),
        group: "投诉".into(),
    }));
    Ok(out)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct RequestQuery {
    /// Comma-separated case ids.
    #[param(pattern = "^[0-9]{1,18}(,[0-9]{1,18})*$")]
    pub service_request_id: Option<String>,
    pub service_code: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub start_date: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub end_date: Option<String>,
    /// `open` or `closed`.
    #[param(pattern = "^(open|closed)$")]
    pub status: Option<String>,
    /// Open311 endpoints take a jurisdiction; there is one here.
    pub jurisdiction_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    pub service_request_id: String,
    pub status: String,
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// Open311 lists the newest 1 000 requests of the last 90 days unless dates are given.
const MAX_REQUESTS: i64 = 1000;

fn parse_time(value: &str, field: &'static str) -> AppResult<NaiveDateTime> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| clock::to_db(t.with_timezone(&Utc)))
        .map_err(|_| AppError::invalid(field, "expected a W3C (RFC 3339) date-time"))
}

type Row = (i64, String, String, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);

pub fn requests(conn: &mut Conn, q: &RequestQuery, now: DateTime<Utc>) -> AppResult<Vec<ServiceRequest>> {
    let ids: Option<Vec<i64>> = match &q.service_request_id {
        Some(list) => Some(
            list.split(',')
                .map(|s| s.trim().parse::<i64>().map_err(|_| AppError::invalid("service_request_id", "comma-separated case ids")))
                .collect::<AppResult<_>>()?,
        ),
        None => None,
    };
    let start = match &q.start_date {
        Some(s) => Some(parse_time(s, "start_date")?),
        None if ids.is_none() => Some(clock::to_db(now - chrono::Duration::days(90))),
        None => None,
    };
    let end = q.end_date.as_deref().map(|s| parse_time(s, "end_date")).transpose()?;
    let open = match q.status.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => return Err(AppError::invalid("status", format!("open or closed, not {other:?}"))),
    };
    let service_code = q.service_code.clone();
    let rows: Vec<Row> = db_run!(conn, |c| {
        let mut query = cases::table
            .left_join(departments::table.on(departments::id.nullable().eq(cases::department_id)))
            .left_join(reviews::table.on(reviews::id.nullable().eq(cases::review_id)))
            .left_join(complaints::table.on(complaints::id.nullable().eq(cases::complaint_id)))
            .left_join(service_items::table.on(service_items::id.nullable().eq(reviews::service_item_id.nullable())))
            // A review case is public only when its review is; complaints show their title only.
            .filter(
                reviews::is_public
                    .eq(true)
                    .and(reviews::invalidated.eq(false))
                    .and(reviews::moderation.ne(i32::from(AuditStatus::Pending.code())))
                    .or(cases::complaint_id.is_not_null()),
            )
            .into_boxed();
        if let Some(ids) = &ids {
            query = query.filter(cases::id.eq_any(ids.clone()));
        }
        if let Some(s) = start {
            query = query.filter(cases::opened_at.ge(s));
        }
        if let Some(e) = end {
            query = query.filter(cases::opened_at.le(e));
        }
        match open {
            Some(true) => query = query.filter(cases::state.ne(CaseState::Closed)),
            Some(false) => query = query.filter(cases::state.eq(CaseState::Closed)),
            None => {}
        }
        if let Some(code) = &service_code {
            query = query.filter(service_items::code.eq(code.clone()).or(service_items::code.is_null().and(cases::source.eq(code.clone()))));
        }
        query
            .order(cases::opened_at.desc())
            .limit(MAX_REQUESTS)
            .select((
                cases::id,
                cases::state,
                cases::source,
                cases::opened_at,
                cases::updated_at,
                cases::reply_due,
                departments::name.nullable(),
                service_items::code.nullable(),
                service_items::name.nullable(),
                reviews::comment.nullable(),
                complaints::title.nullable(),
                cases::reply_text.nullable(),
            ))
            .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, state, source, opened, updated, reply_due, department, item_code, item_name, comment, title, reply)| {
            let closed = state == "closed";
            let state_label = CaseState::parse(&state).map(|s| s.label()).unwrap_or("");
            ServiceRequest {
                service_request_id: id.to_string(),
                status: if closed { "closed".into() } else { "open".into() },
                // A reply to a complaint goes to the complainant and may repeat what they said: public
                // only for public reviews, which is all a review case here can be.
                status_notes: Some(match reply {
                    Some(reply) if closed && source == "review" => reply,
                    _ => state_label.to_owned(),
                }),
                service_name: item_name.unwrap_or_else(|| crate::insight::stats::channel_label(&source).to_owned()),
                service_code: item_code.unwrap_or_else(|| source.clone()),
                description: comment
                    .or(title)
                    .map(|text| mask_personal_text(&text))
                    .unwrap_or_else(|| if source == "review" { "差评".into() } else { "投诉".into() }),
                agency_responsible: department,
                service_notice: None,
                requested_datetime: clock::rfc3339_local(opened),
                updated_datetime: clock::rfc3339_local(updated),
                expected_datetime: reply_due.map(clock::rfc3339_local),
                address: None,
                lat: None,
                long: None,
                media_url: None,
            }
        })
        .collect())
}
