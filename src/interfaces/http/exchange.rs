//! The provincial data feed and the district's 区划代码.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock;
use crate::domain::access::Role;
use crate::error::AppResult;
use crate::insight::exchange::{self, Cursor};
use crate::interfaces::app::AppState;

use super::extract::Caller;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The `next_cursor` of the last page read; none (or empty) for the beginning.
    #[param(pattern = "^$|^[0-9]{1,18}\\.[0-9]{1,18}$")]
    pub after: Option<String>,
    /// Records per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// Evaluation records in the provincial/national field set (see the README).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Where to read on from; null when there was nothing new.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/exchange/evaluations", params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 422, description = "a cursor or limit that is not one")), security(("bearer" = [])))]
pub async fn evaluations(state: web::Data<AppState>, caller: Caller, query: web::Query<FeedQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin, Role::Integration])?;
    let q = query.into_inner();
    let after = Cursor::parse(q.after.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    let page = state.db(move |conn, _| exchange::evaluations(conn, after, limit, clock::now())).await?;
    Ok(HttpResponse::Ok().json(FeedPage { items: page.items, next_cursor: page.next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct District {
    /// 区划代码: 6, 9 or 12 digits; null until an admin sets it.
    pub area_code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistrictBody {
    /// 区划代码: 6, 9 or 12 digits.
    #[schema(pattern = "^([0-9]{6}|[0-9]{9}|[0-9]{12})$")]
    pub area_code: String,
}

#[utoipa::path(get, path = "/api/v1/district", responses((status = 200, body = District)), security(("bearer" = [])))]
pub async fn get_district(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin, Role::Integration])?;
    let area_code = state.db(|conn, _| exchange::area_code(conn)).await?;
    Ok(HttpResponse::Ok().json(District { area_code }))
}

#[utoipa::path(put, path = "/api/v1/district", request_body = DistrictBody,
    responses((status = 200, body = District), (status = 422, description = "not a 区划代码")), security(("bearer" = [])))]
pub async fn put_district(state: web::Data<AppState>, caller: Caller, body: web::Json<DistrictBody>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, code) = (caller.0.actor_label(), body.into_inner().area_code);
    let area_code = state.db(move |conn, _| crate::admin::master_data::set_area_code(conn, &actor, &code, clock::now())).await?;
    Ok(HttpResponse::Ok().json(District { area_code: Some(area_code) }))
}
