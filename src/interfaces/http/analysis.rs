//! 聚类分析 runs and the router's label map (supervisors and admins).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::insight::analysis::{self, AnalysisRequest, RunView};
use crate::interfaces::app::AppState;
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::adapters::nlp::routing::{self, Suggestion};
use crate::domain::access::Role;

use super::extract::Caller;

#[utoipa::path(post, path = "/api/v1/analysis/clusters", request_body = AnalysisRequest,
    responses((status = 201, body = RunView), (status = 422, description = "too few comments or bad filter")), security(("bearer" = [])))]
pub async fn run_clustering(state: web::Data<AppState>, caller: Caller, body: web::Json<AnalysisRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let actor = caller.0.actor_label();
    let request = body.into_inner();
    let run = state.db(move |conn, _| analysis::run(conn, &request, &actor, clock::now())).await?;
    Ok(HttpResponse::Created().json(run))
}

#[utoipa::path(get, path = "/api/v1/analysis/clusters", responses((status = 200, body = [RunView])), security(("bearer" = [])))]
pub async fn list_runs(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let runs = state.read_db(|conn, _| analysis::list(conn, 100)).await?;
    Ok(HttpResponse::Ok().json(runs))
}

#[utoipa::path(get, path = "/api/v1/analysis/clusters/{id}", params(("id" = i64, Path)), responses((status = 200, body = RunView)), security(("bearer" = [])))]
pub async fn get_run(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let id = id.into_inner();
    // A run just stored may not have reached the replica yet: the primary has it.
    let run = match state.read_db(move |conn, _| analysis::load(conn, id)).await {
        Err(AppError::NotFound(_)) if state.replica.is_some() => state.db(move |conn, _| analysis::load(conn, id)).await?,
        read => read?,
    };
    Ok(HttpResponse::Ok().json(run))
}

#[utoipa::path(get, path = "/api/v1/router/label-map", responses((status = 200, description = "router label → department code")), security(("bearer" = [])))]
pub async fn get_label_map(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let map = state.db(|conn, _| routing::label_map(conn)).await?;
    let labels: Vec<String> = state.router.as_ref().map(|r| r.model.labels.clone()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "labels": labels, "map": map })))
}

#[utoipa::path(put, path = "/api/v1/router/label-map", request_body = BTreeMap<String, String>,
    responses((status = 200, description = "stored"), (status = 422, description = "unknown department")), security(("bearer" = [])))]
pub async fn put_label_map(state: web::Data<AppState>, caller: Caller, body: web::Json<BTreeMap<String, String>>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let map = body.into_inner();
    if map.len() > 500 {
        return Err(AppError::invalid("map", "at most 500 labels"));
    }
    let actor = caller.0.actor_label();
    let stored = map.clone();
    state
        .db(move |conn, _| {
            conn.transaction(|conn| {
                routing::set_label_map(conn, &map)?;
                crate::admin::master_data::audit_admin_change(conn, &actor, "put_router_label_map", serde_json::json!(map), clock::now())
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "map": stored })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestBody {
    #[schema(max_length = 10000, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestAnswer {
    pub suggestions: Vec<Suggestion>,
    /// The department the router would assign on its own, if confident.
    pub department_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/router/suggest", request_body = SuggestBody, responses((status = 200, body = SuggestAnswer)), security(("bearer" = [])))]
pub async fn suggest(state: web::Data<AppState>, caller: Caller, body: web::Json<SuggestBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let text = body.into_inner().text;
    crate::domain::intake_rules::check_text("text", &text, crate::domain::intake_rules::MAX_COMPLAINT_CHARS)?;
    if state.router.is_none() {
        return Err(AppError::Unavailable("no router model is loaded (nlp-models/router.json)".into()));
    }
    let answer = state
        .db(move |conn, state| {
            let router = state.router.as_ref().ok_or_else(|| AppError::Unavailable("no router model".into()))?;
            let decision = router.route(conn, &text)?;
            let department_code = match decision.department_id {
                Some(id) => crate::storage::queries::department_by_id(conn, id)?.map(|d| d.code),
                None => None,
            };
            Ok(SuggestAnswer { suggestions: decision.suggestions, department_code })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
