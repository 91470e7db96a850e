//! Health and metrics.

use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;

use crate::interfaces::app::AppState;
use crate::clock;
use crate::error::{AppError, AppResult};

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
    // When HCP_METRICS_BIND is set, the figures are on that address only.
    if state.config.metrics_bind.is_some() {
        return AppError::NotFound("no such endpoint".into()).error_response();
    }
    metrics_text(state).await
}

/// The figures, the database's read at scrape time (what it cannot read is logged and left out).
pub async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    match state.db(|conn, state| { let rules = state.rules(conn)?; crate::insight::operations::snapshot(conn, &rules, clock::now()) }).await {
        Ok(snapshot) => state.metrics.observe(&snapshot),
        Err(e) => tracing::warn!(error = %e, "case and outbox figures for /metrics unavailable"),
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
