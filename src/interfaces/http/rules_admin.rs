//! The working-day calendar and SLA policies (admin).

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::interfaces::app::AppState;
use crate::admin::rules::{load_year, put_tag_set, replace_year, set_rating_policy, set_sla_policy, tag_sets, TagSetView, sla_policies_in_force, sources, SlaPolicyView};
use crate::clock;
use crate::domain::calendar::{YearCalendar, YearStatus};
use crate::domain::rating_policy::RatingPolicy;
use crate::domain::tag_sets::GradeBand;
use crate::domain::sla::SlaPolicy;
use crate::error::{AppError, AppResult};
use crate::domain::access::Role;

use super::extract::Caller;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub year: i32,
    /// `official` (from the State Council's notice) or `provisional` (generated from the
    /// statutory holidays, without 调休 weekends, until the notice is entered).
    pub status: String,
    /// Weekdays that are off (statutory holidays).
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are worked (调休).
    pub workdays: Vec<NaiveDate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    pub holidays: Vec<NaiveDate>,
    pub workdays: Vec<NaiveDate>,
}

fn check_year(year: i32) -> AppResult<()> {
    if !(2000..=2100).contains(&year) {
        return Err(AppError::NotFound(format!("no calendar for year {year}")));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/calendar/{year}", params(("year" = i32, Path)), responses((status = 200, body = CalendarView)), security(("bearer" = [])))]
pub async fn get_calendar(state: web::Data<AppState>, caller: Caller, year: web::Path<i32>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor, Role::Department])?;
    let year = year.into_inner();
    check_year(year)?;
    let (y, status) = state.db(move |conn, _| load_year(conn, year)).await?;
    Ok(HttpResponse::Ok().json(CalendarView { year, status: status.as_str().to_owned(), holidays: y.holidays, workdays: y.workdays }))
}

#[utoipa::path(put, path = "/api/v1/calendar/{year}", params(("year" = i32, Path)), request_body = CalendarBody,
    responses((status = 200, body = CalendarView), (status = 422, description = "a date misfiled or outside the year")), security(("bearer" = [])))]
pub async fn put_calendar(state: web::Data<AppState>, caller: Caller, year: web::Path<i32>, body: web::Json<CalendarBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let year = year.into_inner();
    check_year(year)?;
    let b = body.into_inner();
    let actor = caller.0.actor_label();
    let view = state
        .db(move |conn, state| {
            let stored = replace_year(conn, &actor, YearCalendar { year, holidays: b.holidays, workdays: b.workdays }, clock::now())?;
            state.rules.reload(conn)?;
            Ok(CalendarView { year, status: YearStatus::Official.as_str().to_owned(), holidays: stored.holidays, workdays: stored.workdays })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `SlaPolicyView` as it serialises: the policy's days flattened beside `source`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SlaPolicyEntry {
    source: String,
    /// Working days to verify (核实).
    feedback_days: u32,
    /// Working days to reply.
    reply_days: u32,
    /// Working days to reply once an extension is granted.
    extended_reply_days: u32,
    /// Working days for the supervisor's audit.
    supervision_days: u32,
    /// True when no policy was set and the default applies.
    is_default: bool,
}

#[utoipa::path(get, path = "/api/v1/sla-policies", responses((status = 200, body = [SlaPolicyEntry])), security(("bearer" = [])))]
pub async fn list_sla_policies(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor, Role::Department])?;
    let list = state.db(|conn, state| {
        let rules = state.rules.reload(conn)?;
        sla_policies_in_force(conn, &rules)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(put, path = "/api/v1/sla-policies/{source}", params(("source" = String, Path)), request_body = SlaPolicy,
    responses((status = 200, body = SlaPolicyEntry)), security(("bearer" = [])))]
pub async fn put_sla_policy(state: web::Data<AppState>, caller: Caller, source: web::Path<String>, body: web::Json<SlaPolicy>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let source = source.into_inner();
    if !sources().contains(&source.as_str()) {
        return Err(AppError::NotFound(format!("no case source {source:?}")));
    }
    let policy = body.into_inner();
    let actor = caller.0.actor_label();
    let view_source = source.clone();
    state
        .db(move |conn, state| {
            set_sla_policy(conn, &actor, &source, &policy, clock::now())?;
            state.rules.reload(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(SlaPolicyView { source: view_source, policy, is_default: false }))
}

#[utoipa::path(get, path = "/api/v1/rating-policy", responses((status = 200, body = RatingPolicy)), security(("bearer" = [])))]
pub async fn get_rating_policy(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor])?;
    let policy = state.db(|conn, _| crate::storage::rules::rating_policy(conn)).await?;
    Ok(HttpResponse::Ok().json(policy))
}

#[utoipa::path(put, path = "/api/v1/rating-policy", request_body = RatingPolicy,
    responses((status = 200, body = RatingPolicy), (status = 422, description = "days or stars out of range")), security(("bearer" = [])))]
pub async fn put_rating_policy(state: web::Data<AppState>, caller: Caller, body: web::Json<RatingPolicy>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, policy) = (caller.0.actor_label(), body.into_inner());
    let stored = state.db(move |conn, _| set_rating_policy(conn, &actor, &policy, clock::now())).await?;
    Ok(HttpResponse::Ok().json(stored))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TagSetQuery {
    /// Every version, not only those in force.
    pub history: Option<bool>,
}

/// Who reads the tag sets: staff, and the integrations whose devices offer them to citizens.
const TAG_SET_READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Department, Role::Integration];

#[utoipa::path(get, path = "/api/v1/tag-sets", params(TagSetQuery), responses((status = 200, body = [TagSetView])), security(("bearer" = [])))]
pub async fn get_tag_sets(state: web::Data<AppState>, caller: Caller, query: web::Query<TagSetQuery>) -> AppResult<HttpResponse> {
    caller.0.require(TAG_SET_READERS)?;
    let history = query.history.unwrap_or(false);
    let sets = state.db(move |conn, _| tag_sets(conn, history)).await?;
    Ok(HttpResponse::Ok().json(sets))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagSetBody {
    /// The band's tags, in the order the rating page shows them; repeats are kept once.
    #[schema(value_type = Vec<TagText>, min_items = 1, max_items = 30)]
    pub tags: Vec<String>,
}

/// One tag as the schema states it: not blank, at most 32 characters, no control characters.
pub struct TagText;

impl utoipa::PartialSchema for TagText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::domain::intake_rules::MAX_TAG_CHARS))
            .pattern(Some(r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))
            .into()
    }
}

impl utoipa::ToSchema for TagText {}

#[utoipa::path(put, path = "/api/v1/tag-sets/{band}", params(("band" = String, Path, description = "bad, basic or good")), request_body = TagSetBody,
    responses((status = 200, body = TagSetView, description = "the band's new version"), (status = 404, description = "no such band"), (status = 422, description = "no tags, too many or too long")),
    security(("bearer" = [])))]
pub async fn put_tag_set_of(state: web::Data<AppState>, caller: Caller, band: web::Path<String>, body: web::Json<TagSetBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let band = GradeBand::parse(&band).ok_or_else(|| AppError::NotFound(format!("no grade band {band:?}: bad, basic or good")))?;
    let (actor, tags) = (caller.0.actor_label(), body.into_inner().tags);
    let view = state
        .db(move |conn, state| {
            let view = put_tag_set(conn, &actor, band, &tags, clock::now())?;
            state.rules.reload(conn)?;
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
