//! Topics over time, emerging-issue alerts and the topic × department matrix (supervisors and
//! admins). Read-only: the scanner keeps the topics (`insight::topics`).

use actix_web::{web, HttpResponse};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

use crate::clock;
use crate::domain::access::Role;
use crate::domain::calendar::local_date;
use crate::domain::topics::week_of;
use crate::error::{AppError, AppResult};
use crate::insight::topic_views::{self, DepartmentFilter, DocumentFilter, DocumentPage, TopicAlertView, TopicMatrix, TopicsOverview, DEFAULT_WEEKS, MAX_WEEKS};
use crate::interfaces::app::AppState;

use super::extract::Caller;

const READERS: &[Role] = &[Role::Supervisor, Role::Admin];

/// A `YYYY-MM-DD` query value.
pub fn day(field: &'static str, value: Option<&str>) -> AppResult<Option<NaiveDate>> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map(Some).map_err(|_| AppError::invalid(field, "a date YYYY-MM-DD")),
    }
}

fn bounded(field: &'static str, value: Option<i64>, default: i64, min: i64, max: i64) -> AppResult<i64> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(field, format!("{min} to {max}")))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopicsQuery {
    /// Weeks shown, the current one last (default 12).
    #[param(minimum = 1, maximum = 104)]
    pub weeks: Option<i64>,
    /// Topics listed at most, most comments in the last 7 days first (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Topics over time: per topic its weekly comments, share of bad reviews, departments and the
/// change of the last 7 days against the 7 days before.
#[utoipa::path(get, path = "/api/v1/topics", params(TopicsQuery), responses((status = 200, body = TopicsOverview)), security(("bearer" = [])))]
pub async fn list_topics(state: web::Data<AppState>, caller: Caller, query: web::Query<TopicsQuery>) -> AppResult<HttpResponse> {
    caller.0.require(READERS)?;
    let weeks = bounded("weeks", query.weeks, i64::from(DEFAULT_WEEKS), 1, i64::from(MAX_WEEKS))?;
    let limit = bounded("limit", query.limit, 50, 1, 500)?;
    let (weeks, limit) = (u32::try_from(weeks).unwrap_or(DEFAULT_WEEKS), usize::try_from(limit).unwrap_or(50));
    let overview = state.read_db(move |conn, _| topic_views::overview(conn, clock::now(), weeks, limit)).await?;
    Ok(HttpResponse::Ok().json(overview))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Only alerts raised on or after this day (`YYYY-MM-DD`).
    #[param(value_type = Option<String>, format = Date)]
    pub since: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// 新出现的问题: the emerging-issue alerts, newest first, each with its topic's label and top
/// terms, sample comments and the links to all of them.
#[utoipa::path(get, path = "/api/v1/topics/alerts", params(AlertsQuery), responses((status = 200, body = [TopicAlertView])), security(("bearer" = [])))]
pub async fn list_alerts(state: web::Data<AppState>, caller: Caller, query: web::Query<AlertsQuery>) -> AppResult<HttpResponse> {
    caller.0.require(READERS)?;
    let since = day("since", query.since.as_deref())?.map(crate::domain::calendar::start_of_local_day);
    let limit = bounded("limit", query.limit, 50, 1, 500)?;
    let alerts = state.read_db(move |conn, _| topic_views::alerts(conn, since, limit)).await?;
    Ok(HttpResponse::Ok().json(alerts))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MatrixQuery {
    /// First day (default: Monday eleven weeks before this week's).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day (default: today).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// The default period of the matrix: the twelve weeks up to today.
pub fn default_matrix_period() -> (NaiveDate, NaiveDate) {
    let now = clock::now();
    (week_of(now) - Days::new(7 * (u64::from(DEFAULT_WEEKS) - 1)), local_date(now))
}

/// 差评分项: comments, bad reviews, 差评率 and complaints per topic and department, each cell
/// linking to its comments and their cases.
#[utoipa::path(get, path = "/api/v1/topics/matrix", params(MatrixQuery), responses((status = 200, body = TopicMatrix)), security(("bearer" = [])))]
pub async fn get_matrix(state: web::Data<AppState>, caller: Caller, query: web::Query<MatrixQuery>) -> AppResult<HttpResponse> {
    caller.0.require(READERS)?;
    let (default_from, default_to) = default_matrix_period();
    let from = day("from", query.from.as_deref())?.unwrap_or(default_from);
    let to = day("to", query.to.as_deref())?.unwrap_or(default_to);
    let matrix = state.read_db(move |conn, _| topic_views::matrix(conn, from, to)).await?;
    Ok(HttpResponse::Ok().json(matrix))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DocumentsQuery {
    /// A department's code, or `unassigned` (complaints with none).
    #[param(max_length = 64)]
    pub department: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Only bad reviews and complaints (what the alerts count).
    pub issues_only: Option<bool>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// One topic's comments, newest first, each with its case when it opened one.
#[utoipa::path(get, path = "/api/v1/topics/{id}/documents", params(("id" = i64, Path, description = "topic id"), DocumentsQuery),
    responses((status = 200, body = DocumentPage), (status = 404, description = "no such topic")), security(("bearer" = [])))]
pub async fn list_documents(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, query: web::Query<DocumentsQuery>) -> AppResult<HttpResponse> {
    caller.0.require(READERS)?;
    let q = query.into_inner();
    if q.department.as_ref().is_some_and(|d| d.chars().count() > 64) {
        return Err(AppError::invalid("department", "a department code or unassigned"));
    }
    let filter = DocumentFilter {
        department: q.department.as_deref().filter(|d| !d.is_empty()).map(DepartmentFilter::parse),
        from: day("from", q.from.as_deref())?,
        to: day("to", q.to.as_deref())?,
        issues_only: q.issues_only.unwrap_or(false),
        limit: bounded("limit", q.limit, 50, 1, 500)?,
        offset: bounded("offset", q.offset, 0, 0, i64::MAX)?,
    };
    let id = id.into_inner();
    let page = state.read_db(move |conn, _| topic_views::documents(conn, id, &filter)).await?;
    Ok(HttpResponse::Ok().json(page))
}
