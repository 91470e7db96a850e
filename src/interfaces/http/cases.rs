//! Reading cases.

use actix_web::{web, HttpResponse};

use crate::interfaces::app::AppState;
use crate::cases::work::{self, CaseFilter, CaseList, CaseView};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::storage::queries;

use super::extract::Caller;

#[utoipa::path(get, path = "/api/v1/cases", params(CaseFilter),
    responses((status = 200, body = CaseList)), security(("bearer" = [])))]
pub async fn list_cases(state: web::Data<AppState>, caller: Caller, filter: web::Query<CaseFilter>) -> AppResult<HttpResponse> {
    let filter = filter.into_inner();
    let list = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            work::list_cases(conn, &caller.0, &filter, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseView), (status = 404, description = "no such case, or not yours")), security(("bearer" = [])))]
pub async fn get_case(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let view = state
        .db(move |conn, state| {
            let case = queries::case_by_id(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no case {id}")))?;
            work::ensure_visible(conn, &caller.0, &case)?;
            let rules = state.rules(conn)?;
            work::case_view(conn, &caller.0, &case, clock::now(), &rules)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
