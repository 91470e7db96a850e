//! Health and metrics.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use serde_json::json;

use crate::app::AppState;
use crate::db_run;
use crate::error::AppResult;

/// `200` when the database answers, `503` otherwise; load balancers use it.
pub async fn healthz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let backend = format!("{:?}", state.pool.backend()).to_lowercase();
    let check = state
        .db(|conn, _| {
            db_run!(conn, |c| diesel::sql_query("SELECT 1").execute(c))?;
            Ok(())
        })
        .await;
    Ok(match check {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": backend, "version": env!("CARGO_PKG_VERSION")})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": backend, "error": {"code": e.code(), "message": e.to_string()}})),
    })
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
