//! HTTP: handlers stay thin (parse, authorise, call the use case, map errors). Routes are all
//! registered in [`routes`].

pub mod access_log;
pub mod admin;
pub mod analysis;
pub mod cases;
pub mod exchange;
pub mod extract;
mod times;
pub mod intake;
pub mod integrity;
pub mod moderation;
pub mod openapi;
pub mod replies;
pub mod reports;
pub mod rules_admin;
pub mod search;
pub mod system;
pub mod topics;
pub mod webhooks;
pub mod workflow;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};
use tracing_actix_web::{RequestId, TracingLogger};

use crate::interfaces::app::AppState;
use crate::error::AppError;

/// Largest request body accepted anywhere (SPEC: bodies over 64 KiB get 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A resource whose unsupported methods answer 405 in the JSON error format, with the `Allow`
/// header listing the methods it has (RFC 9110).
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req: actix_web::HttpRequest| async move {
        let allow = req.match_pattern().and_then(|pattern| allowed_methods().get(&pattern).cloned()).unwrap_or_else(|| "GET".to_owned());
        HttpResponse::MethodNotAllowed().insert_header(("Allow", allow)).json(serde_json::json!({
            "error": {"code": "method_not_allowed", "message": "this method is not supported here"}
        }))
    }))
}

/// The methods of each documented route, read once from the OpenAPI document (which
/// `tests/access.rs` keeps in step with the routes); `/healthz` and `/metrics` are GET only.
fn allowed_methods() -> &'static std::collections::HashMap<String, String> {
    static ALLOWED: std::sync::OnceLock<std::collections::HashMap<String, String>> = std::sync::OnceLock::new();
    ALLOWED.get_or_init(|| {
        use utoipa::OpenApi;
        openapi::ApiDoc::openapi()
            .paths
            .paths
            .into_iter()
            .map(|(path, item)| {
                let methods: Vec<&str> = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, has)| has.then_some(m))
                .collect();
                (path, methods.join(", "))
            })
            .collect()
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(system::healthz)))
        .service(resource("/metrics").route(web::get().to(system::metrics)))
        .service(resource("/api/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(
            web::scope("/api/v1")
                .service(resource("/auth/login").route(web::post().to(admin::login)))
                .service(resource("/auth/logout").route(web::post().to(admin::logout)))
                .service(
                    resource("/departments")
                        .route(web::post().to(admin::create_department))
                        .route(web::get().to(admin::list_departments)),
                )
                .service(resource("/departments/{code}").route(web::patch().to(admin::patch_department)))
                .service(
                    resource("/service-items")
                        .route(web::post().to(admin::create_service_item))
                        .route(web::get().to(admin::list_service_items)),
                )
                .service(resource("/service-items/{code}").route(web::patch().to(admin::patch_service_item)))
                .service(resource("/windows").route(web::post().to(admin::create_window)).route(web::get().to(admin::list_windows)))
                .service(resource("/windows/{code}").route(web::patch().to(admin::patch_window)))
                .service(resource("/staff").route(web::post().to(admin::create_staff)).route(web::get().to(admin::list_staff)))
                // Before `/staff/{staff_no}`, which would otherwise take the path.
                .service(resource("/staff/watchlist").route(web::get().to(reports::get_staff_watchlist)))
                .service(resource("/staff/{staff_no}").route(web::patch().to(admin::patch_staff)))
                .service(
                    resource("/assignments")
                        .route(web::post().to(admin::create_assignment))
                        .route(web::get().to(admin::list_assignments)),
                )
                .service(resource("/assignments/{id}").route(web::patch().to(admin::patch_assignment)))
                .service(resource("/users").route(web::post().to(admin::create_user)).route(web::get().to(admin::list_users)))
                .service(resource("/users/{username}").route(web::patch().to(admin::patch_user)))
                .service(resource("/auth/password").route(web::post().to(admin::change_password)))
                .service(resource("/api-keys").route(web::post().to(admin::create_api_key)).route(web::get().to(admin::list_api_keys)))
                .service(resource("/api-keys/{id}").route(web::delete().to(admin::revoke_api_key)))
                .service(resource("/webhooks").route(web::post().to(webhooks::create_webhook)).route(web::get().to(webhooks::list_webhooks)))
                .service(resource("/webhooks/{id}").route(web::delete().to(webhooks::delete_webhook)))
                .service(resource("/webhooks/{id}/deliveries").route(web::get().to(webhooks::list_deliveries)))
                .service(resource("/webhooks/{id}/deliveries/{delivery}/redeliver").route(web::post().to(webhooks::redeliver)))
                .service(resource("/mail/dead-letters").route(web::get().to(webhooks::dead_mails)))
                .service(resource("/mail/dead-letters/{id}/retry").route(web::post().to(webhooks::retry_mail)))
                .service(
                    resource("/imports")
                        .app_data(web::PayloadConfig::new(admin::IMPORT_BODY_LIMIT))
                        .route(web::post().to(admin::import)),
                )
                .service(resource("/transactions").route(web::post().to(intake::create_transaction)))
                .service(
                    resource("/transactions/batch")
                        .app_data(extract::json_config_up_to(intake::BATCH_BODY_BYTES))
                        .route(web::post().to(intake::create_transactions_batch)),
                )
                .service(resource("/reviews").route(web::post().to(intake::create_review)))
                .service(resource("/reviews/{id}/moderation").route(web::post().to(moderation::decide)))
                .service(resource("/moderation/held").route(web::get().to(moderation::list_held)))
                .service(resource("/integrity/flags").route(web::get().to(integrity::list_flags)))
                .service(resource("/integrity/flags/{id}").route(web::post().to(integrity::decide_flag)))
                .service(
                    resource("/moderation/phrases")
                        .route(web::get().to(moderation::get_phrases))
                        .route(web::put().to(moderation::put_phrases)),
                )
                .service(
                    resource("/replies/banned-phrases")
                        .route(web::get().to(replies::get_banned_phrases))
                        .route(web::put().to(replies::put_banned_phrases)),
                )
                .service(resource("/complaints").route(web::post().to(intake::create_complaint)))
                .service(resource("/cases").route(web::get().to(cases::list_cases)))
                .service(resource("/cases/{id}").route(web::get().to(cases::get_case)))
                .service(resource("/cases/{id}/actions").route(web::post().to(workflow::act_on_case)))
                .service(resource("/cases/{id}/merge").route(web::post().to(workflow::merge_cases)))
                .service(resource("/cases/{id}/co-departments").route(web::put().to(workflow::put_co_departments)))
                .service(resource("/cases/{id}/notes").route(web::post().to(workflow::add_note)))
                .service(resource("/alerts").route(web::get().to(workflow::list_alerts)))
                .service(resource("/follow-ups").route(web::post().to(workflow::create_follow_up)))
                .service(
                    resource("/calendar/{year}")
                        .route(web::get().to(rules_admin::get_calendar))
                        .route(web::put().to(rules_admin::put_calendar)),
                )
                .service(resource("/sla-policies").route(web::get().to(rules_admin::list_sla_policies)))
                .service(resource("/tag-sets").route(web::get().to(rules_admin::get_tag_sets)))
                .service(resource("/tag-sets/{band}").route(web::put().to(rules_admin::put_tag_set_of)))
                .service(
                    resource("/rating-policy")
                        .route(web::get().to(rules_admin::get_rating_policy))
                        .route(web::put().to(rules_admin::put_rating_policy)),
                )
                .service(
                    resource("/analysis/clusters")
                        .route(web::post().to(analysis::run_clustering))
                        .route(web::get().to(analysis::list_runs)),
                )
                .service(resource("/analysis/clusters/{id}").route(web::get().to(analysis::get_run)))
                .service(
                    resource("/router/label-map")
                        .route(web::get().to(analysis::get_label_map))
                        .route(web::put().to(analysis::put_label_map)),
                )
                .service(resource("/router/suggest").route(web::post().to(analysis::suggest)))
                .service(resource("/sla-policies/{source}").route(web::put().to(rules_admin::put_sla_policy)))
                .service(resource("/audit/verify").route(web::get().to(admin::verify_audit)))
                .service(resource("/access-log").route(web::get().to(access_log::access_log)))
                .service(resource("/stats").route(web::get().to(reports::get_stats)))
                .service(resource("/search").route(web::get().to(search::search)))
                .service(resource("/rankings").route(web::get().to(reports::get_rankings)))
                .service(resource("/reports/monthly").route(web::get().to(reports::get_monthly_report)))
                .service(resource("/reports/monthly/{month}/versions").route(web::get().to(reports::get_report_versions)))
                .service(resource("/reports/monthly/{month}/regenerate").route(web::post().to(reports::regenerate_monthly_report)))
                .service(resource("/topics").route(web::get().to(topics::list_topics)))
                .service(resource("/topics/alerts").route(web::get().to(topics::list_alerts)))
                .service(resource("/topics/matrix").route(web::get().to(topics::get_matrix)))
                .service(resource("/topics/{id}/documents").route(web::get().to(topics::list_documents)))
                .service(resource("/exports/cases").route(web::get().to(reports::export_cases)))
                .service(resource("/public/reviews").route(web::get().to(reports::public_reviews)))
                .service(resource("/exchange/evaluations").route(web::get().to(exchange::evaluations)))
                .service(resource("/district").route(web::get().to(exchange::get_district)).route(web::put().to(exchange::put_district))),
        )
        .service(
            web::scope("/open311/v2")
                .service(resource("/services.json").route(web::get().to(reports::open311_services)))
                .service(resource("/requests.json").route(web::get().to(reports::open311_requests)))
                .service(resource("/requests/{id}.json").route(web::get().to(reports::open311_request))),
        );
}

/// Security headers on every response, pages and API alike (`tests/access.rs` checks them on
/// every endpoint for every caller).
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"))
}

/// Who a request says it is, for the access log: the kind of credential it carries (not whether
/// it holds up).
fn caller_kind(req: &actix_web::HttpRequest) -> &'static str {
    match extract::bearer_token(req) {
        Some(t) if t.starts_with(crate::adapters::security::API_KEY_PREFIX) => "api_key",
        Some(t) if t.starts_with(crate::adapters::security::SESSION_TOKEN_PREFIX) => "staff_token",
        Some(_) => "bearer_unknown",
        None if req.headers().contains_key("X-Rating-Token") || req.path().starts_with("/rate/") => "citizen",
        None if req.cookie("hcp_session").is_some() => "staff_session",
        None => "anonymous",
    }
}

/// The `/metrics` listener of `HCP_METRICS_BIND`: that one endpoint, for the monitoring network.
pub fn build_metrics_server(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(resource("/metrics").route(web::get().to(system::metrics_text)))
            .default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound("only /metrics here".into())) }))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

/// Builds the server on an already bound listener (port 0 in tests).
pub fn build_server(state: Arc<AppState>, listener: TcpListener, workers: Option<usize>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(extract::json_config())
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .configure(routes)
            .configure(crate::interfaces::web::routes)
            .default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound("no such endpoint".into())) }))
            .wrap(security_headers())
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().to_string();
                let state = req.app_data::<web::Data<AppState>>().cloned();
                let caller = caller_kind(req.request());
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                    let status = res.status().as_u16();
                    let latency = started.elapsed();
                    if let Some(state) = state {
                        state.metrics.http_requests.with_label_values(&[method.as_str(), route.as_str(), status.to_string().as_str()]).inc();
                        state.metrics.http_duration.with_label_values(&[method.as_str(), route.as_str()]).observe(latency.as_secs_f64());
                    }
                    let request_id: String = res.request().extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
                    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id) {
                        res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-request-id"), value);
                    }
                    // The access log: the route's pattern, never its values, and no address.
                    tracing::info!(
                        target: "access",
                        method = %method,
                        route = %route,
                        status,
                        latency_ms = (latency.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                        request_id = %request_id,
                        caller,
                        "request"
                    );
                    if status == 403 || status == 429 {
                        let address = extract::client_address(res.request());
                        crate::interfaces::app::telemetry::refused(status, &method, &route, caller, address, &request_id);
                    }
                    Ok(res)
                }
            })
            .wrap(TracingLogger::default())
    })
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n);
    }
    Ok(server.run())
}
