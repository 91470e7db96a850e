//! Health and metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::interfaces::app::AppState;
use crate::error::AppResult;

/// `200` when the database answers, `503` otherwise; load balancers use it.
pub async fn healthz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let backend = format!("{:?}", state.pool.backend()).to_lowercase();
    let check = state.db(|conn, _| crate::storage::ping(conn)).await;
    Ok(match check {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": backend, "version": env!("CARGO_PKG_VERSION")})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": backend, "error": {"code": e.code(), "message": e.to_string()}})),
    })
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
