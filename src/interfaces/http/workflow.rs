//! Case actions, alerts, and the citizen's follow-ups.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::cases::actions::{apply_action, ActionRequest};
use crate::cases::alerts::{self, AlertQuery, AlertView};
use crate::cases::work::{self, CaseView};
use crate::cases::work_orders;
use crate::clock;
use crate::domain::case_flow::Action;
use crate::domain::grade::Stars;
use crate::domain::sla::AlertLevel;
use crate::error::{AppError, AppResult};
use crate::cases::follow_ups::{record_follow_up, FollowUp, Satisfaction};
use crate::domain::access::Role;

use super::extract::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// verify, rectify, reply, approve, send_back, appeal, uphold_appeal, dismiss_appeal,
    /// request_extension, grant_extension, deny_extension, request_reassign, reassign, reopen
    #[schema(pattern = "^(verify|rectify|reply|approve|send_back|appeal|uphold_appeal|dismiss_appeal|request_extension|grant_extension|deny_extension|request_reassign|reassign|reopen)$")]
    pub action: String,
    /// The contact record, measures, reply text or reason; required where the action needs one.
    #[schema(max_length = 4000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub note: Option<String>,
    /// Target department of `reassign`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: Option<String>,
}

/// The case after an action, and what the reply checks found when the action was `reply`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAnswer {
    #[serde(flatten)]
    pub case: CaseView,
    /// 答复提示 of this reply (`too_short`, `copied`, `banned_phrase`, `off_topic`): the reply is
    /// accepted all the same and flagged on the supervisor's audit queue. Empty for a reply
    /// without warnings and for every other action.
    pub warnings: Vec<crate::domain::reply_checks::ReplyWarning>,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", request_body = ActionBody, params(("id" = i64, Path)),
    responses((status = 200, body = ActionAnswer), (status = 409, description = "not allowed in this state; lists allowed_actions"),
              (status = 403, description = "wrong role or department"), (status = 422, description = "missing note or department")),
    security(("bearer" = [])))]
pub async fn act_on_case(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<ActionBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Department, Role::Supervisor, Role::Admin])?;
    let id = id.into_inner();
    let b = body.into_inner();
    let action = Action::parse(&b.action)
        .filter(|a| *a != Action::FollowUpDissatisfied)
        .ok_or_else(|| AppError::invalid("action", format!("unknown action {:?}", b.action)))?;
    let request = ActionRequest { action, note: b.note, department_code: b.department_code };
    let view = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            let now = clock::now();
            let case = apply_action(conn, &caller.0, id, &request, now, &rules)?;
            let warnings = if request.action == Action::Reply { crate::cases::reply_checks::stored(&case) } else { Vec::new() };
            Ok::<_, AppError>(ActionAnswer { case: work::case_view(conn, &caller.0, &case, now, &rules)?, warnings })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    /// `due_soon`, `overdue` or `escalated`.
    #[param(value_type = Option<crate::domain::sla::AlertLevel>)]
    pub level: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Also alerts on deadlines that no longer apply (answered, extended, reassigned cases).
    pub history: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/alerts", params(AlertFilter), responses((status = 200, body = [AlertView])), security(("bearer" = [])))]
pub async fn list_alerts(state: web::Data<AppState>, caller: Caller, filter: web::Query<AlertFilter>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Department, Role::Supervisor, Role::Admin])?;
    let filter = filter.into_inner();
    let limit = filter.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1 to 1000"));
    }
    let level = match filter.level.as_deref() {
        None => None,
        Some(text) => Some(AlertLevel::parse(text).ok_or_else(|| AppError::invalid("level", format!("unknown level {text:?}")))?),
    };
    let query = AlertQuery { level, limit, history: filter.history.unwrap_or(false) };
    let list = state.db(move |conn, _| alerts::list_alerts(conn, &caller.0, &query)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBody {
    pub transaction_no: String,
    /// `handling` (回访满意度, after the reply) or `addendum` (追评, within 7 days).
    pub kind: String,
    /// For `handling`: `satisfied` 满意, `basically_satisfied` 基本满意, `dissatisfied` 不满意.
    pub satisfaction: Option<String>,
    /// For `addendum`: optional new stars.
    #[serde(default, deserialize_with = "crate::domain::json_numbers::integer_opt")]
    pub stars: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpCreated {
    pub id: i64,
    pub case_state: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/follow-ups", request_body = FollowUpBody,
    responses((status = 201, body = FollowUpCreated), (status = 409, description = "too early, too late, or already given")),
    security(("rating_token" = []), ("bearer" = [])))]
pub async fn create_follow_up(state: web::Data<AppState>, req: actix_web::HttpRequest, caller: Caller, body: web::Json<FollowUpBody>) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    match &caller.0 {
        Principal::Citizen { transaction_no } if *transaction_no == b.transaction_no => state.citizen_rating_quota(crate::interfaces::http::extract::client_address(&req)).await?,
        Principal::Citizen { .. } => return Err(AppError::Forbidden("this rating link is for another transaction".into())),
        Principal::ApiKey { .. } => {}
        Principal::User { .. } => return Err(AppError::Forbidden("follow-ups come from the citizen".into())),
    }
    let follow_up = match b.kind.as_str() {
        "handling" => {
            let text = b.satisfaction.as_deref().ok_or_else(|| AppError::invalid("satisfaction", "required for handling"))?;
            let satisfaction = Satisfaction::parse(text)
                .ok_or_else(|| AppError::invalid("satisfaction", "satisfied, basically_satisfied or dissatisfied"))?;
            if b.stars.is_some() {
                return Err(AppError::invalid("stars", "not part of a handling rating"));
            }
            FollowUp::Handling { satisfaction, comment: b.comment.filter(|c| !c.trim().is_empty()) }
        }
        "addendum" => {
            if b.satisfaction.is_some() {
                return Err(AppError::invalid("satisfaction", "not part of an addendum"));
            }
            let stars = b.stars.map(Stars::parse).transpose().map_err(|e| AppError::invalid("stars", e.to_string()))?;
            FollowUp::Addendum { stars, comment: b.comment.unwrap_or_default() }
        }
        other => return Err(AppError::invalid("kind", format!("unknown kind {other:?}; handling or addendum"))),
    };
    let recorded = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            record_follow_up(conn, &caller.0, &b.transaction_no, &follow_up, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Created().json(FollowUpCreated { id: recorded.id, case_state: recorded.case_state }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The duplicate complaints' case ids (1–100), merged into the case of the path.
    #[schema(min_items = 1, max_items = 100)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integers")]
    pub case_ids: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/merge", request_body = MergeBody, params(("id" = i64, Path, description = "the case that stays (主案)")),
    responses((status = 200, body = CaseView, description = "the case that stays, listing its merged duplicates"),
        (status = 409, description = "a case cannot be merged (a review, closed, already merged)"),
        (status = 422, description = "no ids, an id twice, the case itself, or no such case")),
    security(("bearer" = [])))]
pub async fn merge_cases(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<MergeBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor])?;
    let (id, ids) = (id.into_inner(), body.into_inner().case_ids);
    let view = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            let now = clock::now();
            let case = work_orders::merge(conn, &caller.0, id, &ids, now)?;
            work::case_view(conn, &caller.0, &case, now, &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoDepartmentsBody {
    /// Codes of the co-handling departments (协办), at most 20; `[]` removes them all.
    #[schema(max_items = 20)]
    pub department_codes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoDepartments {
    pub co_departments: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/cases/{id}/co-departments", request_body = CoDepartmentsBody, params(("id" = i64, Path)),
    responses((status = 200, body = CoDepartments), (status = 404, description = "no such case"),
        (status = 422, description = "an unknown department, or the handling department itself")),
    security(("bearer" = [])))]
pub async fn put_co_departments(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<CoDepartmentsBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor])?;
    let (id, codes) = (id.into_inner(), body.into_inner().department_codes);
    let co_departments = state.db(move |conn, _| work_orders::set_co_departments(conn, &caller.0, id, &codes, clock::now())).await?;
    Ok(HttpResponse::Ok().json(CoDepartments { co_departments }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[schema(min_length = 1, max_length = 4000)]
    pub note: String,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/notes", request_body = NoteBody, params(("id" = i64, Path)),
    responses((status = 201, body = CaseView, description = "the note is on the timeline"), (status = 404, description = "no such case, or not yours"),
        (status = 422, description = "a blank or too long note")),
    security(("bearer" = [])))]
pub async fn add_note(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<NoteBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Department, Role::Supervisor])?;
    let (id, note) = (id.into_inner(), body.into_inner().note);
    let view = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            let now = clock::now();
            work_orders::add_note(conn, &caller.0, id, &note, now)?;
            let case = crate::storage::queries::case_by_id(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no case {id}")))?;
            work::case_view(conn, &caller.0, &case, now, &rules)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}
