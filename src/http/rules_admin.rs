//! The working-day calendar and SLA policies (admin).

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::calendar_admin::{load_year, store_year};
use crate::case_actions::recompute_open_deadlines;
use crate::clock;
use crate::db_run;
use crate::domain::calendar::YearCalendar;
use crate::domain::intake_rules::ComplaintSource;
use crate::domain::sla::SlaPolicy;
use crate::error::{AppError, AppResult};
use crate::master_data::audit_admin_change;
use crate::security::Role;
use crate::storage::schema::sla_policies;

use super::extract::Caller;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub year: i32,
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
    let y = state.db(move |conn, _| load_year(conn, year)).await?;
    Ok(HttpResponse::Ok().json(CalendarView { year, holidays: y.holidays, workdays: y.workdays }))
}

#[utoipa::path(put, path = "/api/v1/calendar/{year}", params(("year" = i32, Path)), request_body = CalendarBody,
    responses((status = 200, body = CalendarView), (status = 422, description = "a date misfiled or outside the year")), security(("bearer" = [])))]
pub async fn put_calendar(state: web::Data<AppState>, caller: Caller, year: web::Path<i32>, body: web::Json<CalendarBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let year = year.into_inner();
    check_year(year)?;
    let b = body.into_inner();
    if b.holidays.len() + b.workdays.len() > 366 {
        return Err(AppError::invalid("holidays", "more days than a year has"));
    }
    let validated = YearCalendar { year, holidays: b.holidays, workdays: b.workdays }
        .validated()
        .map_err(|e| AppError::invalid("holidays", e.to_string()))?;
    let actor = caller.0.actor_label();
    let view = state
        .db(move |conn, state| {
            let now = clock::now();
            conn.transaction(|conn| {
                store_year(conn, &validated, &actor, clock::to_db(now))?;
                audit_admin_change(conn, &actor, "put_calendar", json!({"year": year, "holidays": validated.holidays, "workdays": validated.workdays}), now)?;
                let rules = crate::app::Rules::load(conn)?;
                recompute_open_deadlines(conn, &rules, None)?;
                Ok::<_, AppError>(())
            })?;
            state.reload_rules(conn)?;
            Ok(CalendarView { year, holidays: validated.holidays.clone(), workdays: validated.workdays.clone() })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Case sources a policy can be set for.
pub fn sources() -> Vec<&'static str> {
    std::iter::once("review").chain(ComplaintSource::ALL.iter().map(|s| s.as_str())).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPolicyView {
    pub source: String,
    #[serde(flatten)]
    pub policy: SlaPolicy,
    /// True when no policy was set and the default applies.
    pub is_default: bool,
}

#[utoipa::path(get, path = "/api/v1/sla-policies", responses((status = 200, body = [SlaPolicyView])), security(("bearer" = [])))]
pub async fn list_sla_policies(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin, Role::Supervisor, Role::Department])?;
    let set: Vec<String> = state.db(|conn, _| Ok(db_run!(conn, |c| sla_policies::table.select(sla_policies::source).load(c))?)).await?;
    let rules = state.db(|conn, state| state.reload_rules(conn)).await?;
    let list: Vec<SlaPolicyView> = sources()
        .into_iter()
        .map(|s| SlaPolicyView { source: s.to_owned(), policy: rules.policy(s), is_default: !set.iter().any(|x| x == s) })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(put, path = "/api/v1/sla-policies/{source}", params(("source" = String, Path)), request_body = SlaPolicy,
    responses((status = 200, body = SlaPolicyView)), security(("bearer" = [])))]
pub async fn put_sla_policy(state: web::Data<AppState>, caller: Caller, source: web::Path<String>, body: web::Json<SlaPolicy>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let source = source.into_inner();
    if !sources().contains(&source.as_str()) {
        return Err(AppError::NotFound(format!("no case source {source:?}")));
    }
    let policy = body.into_inner();
    policy.validate().map_err(|m| AppError::invalid("policy", m))?;
    let actor = caller.0.actor_label();
    let view_source = source.clone();
    state
        .db(move |conn, state| {
            let now = clock::now();
            let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            conn.transaction(|conn| {
                db_run!(conn, |c| {
                    diesel::delete(sla_policies::table.filter(sla_policies::source.eq(&source))).execute(c)?;
                    diesel::insert_into(sla_policies::table)
                        .values((
                            sla_policies::source.eq(&source),
                            sla_policies::feedback_days.eq(as_i32(policy.feedback_days)),
                            sla_policies::reply_days.eq(as_i32(policy.reply_days)),
                            sla_policies::extended_reply_days.eq(as_i32(policy.extended_reply_days)),
                            sla_policies::supervision_days.eq(as_i32(policy.supervision_days)),
                            sla_policies::updated_at.eq(clock::to_db(now)),
                        ))
                        .execute(c)
                })?;
                audit_admin_change(conn, &actor, "put_sla_policy", json!({"source": source, "policy": policy}), now)?;
                let rules = crate::app::Rules::load(conn)?;
                recompute_open_deadlines(conn, &rules, Some(&source))?;
                Ok::<_, AppError>(())
            })?;
            state.reload_rules(conn)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(SlaPolicyView { source: view_source, policy, is_default: false }))
}
