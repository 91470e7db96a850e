//! The access log of personal data (admins): who saw which citizen's unmasked name or phone.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

use crate::admin::access_log::{self, AccessLog, AccessLogFilter};
use crate::domain::access::Role;
use crate::error::{AppError, AppResult};
use crate::interfaces::app::AppState;

use super::extract::Caller;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    #[param(minimum = 1)]
    pub case_id: Option<i64>,
    /// A username.
    #[param(max_length = 200)]
    pub user: Option<String>,
    /// From this time (RFC 3339) or day (`YYYY-MM-DD`, Beijing time), inclusive.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]))?$")]
    pub from: Option<String>,
    /// To this time or day, inclusive.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]))?$")]
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// A time, or a Beijing day's first (`end` false) or last moment.
fn instant(field: &'static str, text: &str, end: bool) -> AppResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid(field, "a time with its offset (RFC 3339) or a day YYYY-MM-DD"))?;
    let local = if end { day.and_hms_micro_opt(23, 59, 59, 999_999) } else { day.and_hms_opt(0, 0, 0) };
    local
        .and_then(|t| Shanghai.from_local_datetime(&t).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| AppError::invalid(field, "not a day"))
}

#[utoipa::path(get, path = "/api/v1/access-log", params(AccessLogQuery),
    responses((status = 200, description = "JSON, or CSV with format=csv", content((AccessLog = "application/json"), (String = "text/csv")))),
    security(("bearer" = [])))]
pub async fn access_log(state: web::Data<AppState>, caller: Caller, query: web::Query<AccessLogQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let q = query.into_inner();
    if q.case_id.is_some_and(|id| id < 1) {
        return Err(AppError::invalid("case_id", "a case id, 1 or more"));
    }
    if q.user.as_ref().is_some_and(|u| u.chars().count() > 200) {
        return Err(AppError::invalid("user", "at most 200 characters"));
    }
    let filter = AccessLogFilter {
        case_id: q.case_id,
        user: q.user.filter(|u| !u.trim().is_empty()),
        from: q.from.as_deref().map(|t| instant("from", t, false)).transpose()?,
        to: q.to.as_deref().map(|t| instant("to", t, true)).transpose()?,
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(AppError::invalid("format", format!("json or csv, not {other:?}"))),
    };
    let log = state.db(move |conn, _| access_log::query(conn, &filter)).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", "attachment; filename=\"haochaping-access-log.csv\""))
            .body(access_log::csv(&log)?));
    }
    Ok(HttpResponse::Ok().json(log))
}
