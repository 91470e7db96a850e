//! Health and metrics.

use actix_web::{web, HttpResponse};
use chrono::Datelike;
use serde_json::json;

use crate::interfaces::app::AppState;
use crate::clock;
use crate::domain::calendar::{local_date, YearStatus};
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
    // This year's and next year's calendar status, as the deadlines see it now.
    match state.db(|conn, state| state.rules(conn)).await {
        Ok(rules) => {
            let this = local_date(clock::now()).year();
            for year in [this, this + 1] {
                state.metrics.calendar_status(year, rules.calendar.status_of(year) == Some(YearStatus::Official));
            }
        }
        Err(e) => tracing::warn!(error = %e, "calendar status for /metrics unavailable"),
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
