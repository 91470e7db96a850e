//! Statistics, rankings, the monthly report, case exports, public disclosure and Open311: all
//! read-only, from the read replica when there is one ([`AppState::read_db`]).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::clock;
use crate::domain::calendar::local_date;
use crate::insight::disclosure::{self, PublicPage, PublicQuery};
use crate::error::{AppError, AppResult};
use crate::insight::open311::{self, RequestQuery, Service, ServiceRequest};
use crate::insight::frozen_reports::{self, Lookup, MonthVersions, Regenerated, ReportDocument, ReportRead, ServedReport};
use crate::domain::access::Role;
use crate::insight::stats::{self, GroupBy, Period, Ranking, Scope, Stats, Watchlist};

use super::extract::Caller;

/// What statistics a caller may read: supervisors and admins all, a department its own.
pub fn stats_scope(principal: &Principal) -> AppResult<Scope> {
    match principal {
        Principal::User { role: Role::Admin | Role::Supervisor, .. } => Ok(Scope::All),
        Principal::User { role: Role::Department, department_id: Some(d), .. } => Ok(Scope::Department(*d)),
        _ => Err(AppError::Forbidden("statistics are for staff".into())),
    }
}

fn this_month() -> String {
    local_date(clock::now()).format("%Y-%m").to_string()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// `YYYY-MM-DD` (inclusive, Beijing time) or RFC 3339; default: the first of this month.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// `YYYY-MM-DD` (inclusive) or RFC 3339; default: today.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// department, service_item, window, staff, channel, month or tag (差评分项: reviews per tag);
    /// default: totals only.
    #[param(pattern = "^(department|service_item|window|staff|channel|month|tag)$")]
    pub group_by: Option<String>,
    /// One department's figures only (a department's own staff see only theirs anyway).
    pub department_code: Option<String>,
}

fn period_of(from: Option<&str>, to: Option<&str>) -> AppResult<Period> {
    let month = Period::month(&this_month())?;
    let from = from.map(str::to_owned).unwrap_or_else(|| month.first_day().to_string());
    let to = to.map(str::to_owned).unwrap_or_else(|| local_date(clock::now()).to_string());
    Period::parse(&from, &to)
}

#[utoipa::path(get, path = "/api/v1/stats", params(StatsQuery), responses((status = 200, body = Stats)), security(("bearer" = [])))]
pub async fn get_stats(state: web::Data<AppState>, caller: Caller, query: web::Query<StatsQuery>) -> AppResult<HttpResponse> {
    let scope = stats_scope(&caller.0)?;
    let q = query.into_inner();
    let period = period_of(q.from.as_deref(), q.to.as_deref())?;
    let group_by = match q.group_by.as_deref() {
        None | Some("") => None,
        Some(g) => Some(GroupBy::parse(g).ok_or_else(|| AppError::invalid("group_by", "department, service_item, window, staff, channel, month or tag"))?),
    };
    let stats = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            let scope = stats::narrowed(conn, scope, q.department_code.as_deref())?;
            stats::compute(conn, period, group_by, scope, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RankingQuery {
    /// `YYYY-MM`; default this month.
    #[param(pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// `department` (default), `window` or `staff` (窗口人员).
    #[param(pattern = "^(department|window|staff)$")]
    pub by: Option<String>,
    /// Ratings a group needs in the month to be ranked (default 30).
    #[param(minimum = 1, maximum = 1000000)]
    pub min_ratings: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/rankings", params(RankingQuery), responses((status = 200, body = Ranking)), security(("bearer" = [])))]
pub async fn get_rankings(state: web::Data<AppState>, caller: Caller, query: web::Query<RankingQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let q = query.into_inner();
    let period = Period::month(q.month.as_deref().unwrap_or(&this_month()))?;
    let by = match q.by.as_deref() {
        None | Some("department") => GroupBy::Department,
        Some("window") => GroupBy::Window,
        Some("staff") => GroupBy::Staff,
        Some(_) => return Err(AppError::invalid("by", "department, window or staff")),
    };
    let min = min_ratings_of(q.min_ratings)?;
    let ranking = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            stats::month_ranking(conn, period, by, min, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ranking))
}

fn min_ratings_of(given: Option<i64>) -> AppResult<i64> {
    let min = given.unwrap_or(stats::DEFAULT_MIN_RATINGS);
    if !(1..=1_000_000).contains(&min) {
        return Err(AppError::invalid("min_ratings", "1 or more"));
    }
    Ok(min)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WatchlistQuery {
    /// `YYYY-MM`; default this month. Compared with the month before.
    #[param(pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// Ratings a staff member needs in each month to be ranked (default 30).
    #[param(minimum = 1, maximum = 1000000)]
    pub min_ratings: Option<i64>,
}

/// 连续两个月排名靠后的窗口人员: staff in the bottom two places of the staff ranking in the month
/// and in the month before.
#[utoipa::path(get, path = "/api/v1/staff/watchlist", params(WatchlistQuery), responses((status = 200, body = Watchlist)), security(("bearer" = [])))]
pub async fn get_staff_watchlist(state: web::Data<AppState>, caller: Caller, query: web::Query<WatchlistQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let q = query.into_inner();
    let month = q.month.unwrap_or_else(this_month);
    Period::month(&month)?;
    let min = min_ratings_of(q.min_ratings)?;
    let list = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            stats::watchlist(conn, &month, min, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `YYYY-MM`
    #[param(pattern = r"^(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$")]
    pub month: String,
    /// html (default), csv, xlsx or json (the status, the figures, what changed, the versions)
    #[param(pattern = "^(html|csv|xlsx|json)$")]
    pub format: Option<String>,
    /// Ranking minimum of a live report; a frozen one keeps the minimum it was built with
    /// (another is 400).
    #[param(minimum = 1, maximum = 1000000)]
    pub min_ratings: Option<i64>,
    /// A stored version of a frozen month (default: the newest).
    #[param(minimum = 1, maximum = 2147483647)]
    pub version: Option<i64>,
}

/// The report as a response: HTML and JSON inline, CSV and XLSX as a download, each saying
/// whether it is live or frozen (`X-Report-Status`, `X-Report-Version`, `X-Report-Hash`).
fn report_response(report: ServedReport) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type(report.content_type());
    for header in report.headers() {
        response.insert_header(header);
    }
    if let Some(disposition) = report.content_disposition() {
        response.insert_header(("Content-Disposition", disposition));
    }
    response.body(report.bytes)
}

/// A month that has closed is served from its stored snapshot; the first read after it closed
/// stores it (on the primary); the current month is built live.
#[utoipa::path(get, path = "/api/v1/reports/monthly", params(ReportQuery),
    responses((status = 200, description = "the report as HTML, CSV, XLSX or JSON; header X-Report-Status: live|frozen", body = ReportDocument),
              (status = 400, description = "min_ratings other than a frozen report's"), (status = 404, description = "no such version"),
              (status = 500, description = "integrity_check_failed: the stored version no longer matches its hash (报表快照校验失败)")),
    security(("bearer" = [])))]
pub async fn get_monthly_report(state: web::Data<AppState>, caller: Caller, query: web::Query<ReportQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let q = query.into_inner();
    let request = ReportRead::parse(&q.month, q.format.as_deref(), q.min_ratings, q.version)?;
    let freeze_days = state.config.report_freeze_days;
    let read = request.clone();
    let lookup = state.read_db(move |conn, state| {
        let rules = state.read_rules(conn)?;
        frozen_reports::read(conn, &read, clock::now(), &rules, freeze_days)
    }).await?;
    let report = match lookup {
        Lookup::Served(report) => report,
        Lookup::FreezeFirst => state.db(move |conn, state| {
            let rules = state.rules(conn)?;
            frozen_reports::monthly_report(conn, &request, clock::now(), &rules, freeze_days)
        }).await?,
    };
    Ok(report_response(report))
}

#[utoipa::path(get, path = "/api/v1/reports/monthly/{month}/versions", params(("month" = String, Path, pattern = r"^(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$", description = "`YYYY-MM`")),
    responses((status = 200, body = MonthVersions)), security(("bearer" = [])))]
pub async fn get_report_versions(state: web::Data<AppState>, caller: Caller, month: web::Path<String>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let month = month.into_inner();
    let freeze_days = state.config.report_freeze_days;
    let list = state.read_db(move |conn, _| frozen_reports::month_versions(conn, &month, clock::now(), freeze_days)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateRequest {
    /// Why the report is generated again (after late appeals, say), for the audit chain.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// Store a new version even when its figures equal the latest one's (default false: 409 `unchanged`).
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(post, path = "/api/v1/reports/monthly/{month}/regenerate", params(("month" = String, Path, pattern = r"^(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$", description = "`YYYY-MM`")),
    request_body = RegenerateRequest,
    responses((status = 201, body = Regenerated), (status = 409, description = "month_not_closed: the month is still live; unchanged: the figures equal the latest version's, nothing stored; report_changed: another version was stored meanwhile"),
              (status = 422, description = "no reason, or a reason over 500 characters")),
    security(("bearer" = [])))]
pub async fn regenerate_monthly_report(state: web::Data<AppState>, caller: Caller, month: web::Path<String>, body: web::Json<RegenerateRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let RegenerateRequest { reason, force } = body.into_inner();
    let (month, actor) = (month.into_inner(), caller.0.actor_label());
    frozen_reports::check_reason(&reason)?;
    let freeze_days = state.config.report_freeze_days;
    let stored = state.db(move |conn, state| {
        let rules = state.rules(conn)?;
        frozen_reports::regenerate(conn, &month, &actor, &reason, force, clock::now(), &rules, freeze_days)
    }).await?;
    Ok(HttpResponse::Created().json(stored))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Cases opened from this day (`YYYY-MM-DD`, inclusive); default the first of this month.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/exports/cases", params(ExportQuery),
    responses((status = 200, description = "CSV of cases with lifecycle timestamps")), security(("bearer" = [])))]
pub async fn export_cases(state: web::Data<AppState>, caller: Caller, query: web::Query<ExportQuery>) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let period = period_of(q.from.as_deref(), q.to.as_deref())?;
    let name = format!("haochaping-cases-{}-{}.csv", period.first_day(), period.last_day());
    let bytes = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            crate::insight::export::export(conn, &caller.0, period, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .body(bytes))
}

#[utoipa::path(get, path = "/api/v1/public/reviews", params(PublicQuery), responses((status = 200, body = PublicPage)))]
pub async fn public_reviews(state: web::Data<AppState>, query: web::Query<PublicQuery>) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let page = state.read_db(move |conn, _| disclosure::public_reviews(conn, &q)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/open311/v2/services.json", responses((status = 200, body = [Service])))]
pub async fn open311_services(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let list = state.read_db(|conn, _| open311::services(conn)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(get, path = "/open311/v2/requests.json", params(RequestQuery), responses((status = 200, body = [ServiceRequest])))]
pub async fn open311_requests(state: web::Data<AppState>, query: web::Query<RequestQuery>) -> AppResult<HttpResponse> {
    let q = query.into_inner();
    let list = state.read_db(move |conn, _| open311::requests(conn, &q, clock::now())).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(get, path = "/open311/v2/requests/{id}.json", params(("id" = i64, Path)), responses((status = 200, body = [ServiceRequest]), (status = 404)))]
pub async fn open311_request(state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let q = RequestQuery { service_request_id: Some(id.into_inner().to_string()), ..RequestQuery::default() };
    let list = state.read_db(move |conn, _| open311::requests(conn, &q, clock::now())).await?;
    if list.is_empty() {
        return Err(AppError::NotFound("no such public service request".into()));
    }
    Ok(HttpResponse::Ok().json(list))
}
