//! Webhook subscriptions (admins): register, list, unsubscribe, read deliveries, redeliver; and
//! the mails that used up their attempts, sent again by hand.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::webhooks::{self, DeliveryItem, DeliveryStatus, WebhookItem};
use crate::clock;
use crate::domain::access::Role;
use crate::error::{AppError, AppResult};
use crate::interfaces::app::AppState;

use super::extract::Caller;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed: http(s), at most 2 000 characters.
    #[schema(max_length = 2000, pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f-\x9f/?#@]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$")]
    pub url: String,
    /// case.opened, case.state_changed, case.replied, case.closed, case.alert, complaint.merged.
    #[schema(min_items = 1)]
    #[schema(value_type = Vec<crate::domain::webhook_events::WebhookEvent>)]
    pub events: Vec<String>,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub id: i64,
    /// The HMAC-SHA256 key of `X-HCP-Signature` (its UTF-8 bytes, as shown); shown this once.
    pub secret: String,
}

#[utoipa::path(post, path = "/api/v1/webhooks", request_body = WebhookRequest,
    responses((status = 201, body = WebhookCreated)), security(("bearer" = [])))]
pub async fn create_webhook(state: web::Data<AppState>, caller: Caller, body: web::Json<WebhookRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, b) = (caller.0.actor_label(), body.into_inner());
    let (id, secret) = state.db(move |conn, _| webhooks::create(conn, &actor, &b.url, &b.events, b.description.as_deref(), clock::now())).await?;
    Ok(HttpResponse::Created().json(WebhookCreated { id, secret }))
}

#[utoipa::path(get, path = "/api/v1/webhooks", responses((status = 200, body = [WebhookItem])), security(("bearer" = [])))]
pub async fn list_webhooks(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    Ok(HttpResponse::Ok().json(state.db(|conn, _| webhooks::list(conn)).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", params(("id" = i64, Path)),
    responses((status = 204, description = "unsubscribed; nothing more is sent to it"), (status = 404, description = "no such webhook")),
    security(("bearer" = [])))]
pub async fn delete_webhook(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, id) = (caller.0.actor_label(), id.into_inner());
    state.db(move |conn, _| webhooks::delete(conn, &actor, id, clock::now())).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// At most this many, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", params(("id" = i64, Path), DeliveryQuery),
    responses((status = 200, body = [DeliveryItem]), (status = 404, description = "no such webhook")), security(("bearer" = [])))]
pub async fn list_deliveries(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, query: web::Query<DeliveryQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (id, q) = (id.into_inner(), query.into_inner());
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("limit", "between 1 and 1000"));
    }
    Ok(HttpResponse::Ok().json(state.db(move |conn, _| webhooks::deliveries(conn, id, q.status, limit)).await?))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", params(("id" = i64, Path), ("delivery" = i64, Path)),
    responses((status = 202, description = "queued again, due now"), (status = 404, description = "no such webhook or delivery"),
        (status = 409, description = "the delivery is not dead-lettered")),
    security(("bearer" = [])))]
pub async fn redeliver(state: web::Data<AppState>, caller: Caller, path: web::Path<(i64, i64)>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, (id, delivery)) = (caller.0.actor_label(), path.into_inner());
    state.db(move |conn, _| webhooks::redeliver(conn, &actor, id, delivery, clock::now())).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"id": delivery, "status": "pending"})))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadMailQuery {
    /// At most this many, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/mail/dead-letters", params(DeadMailQuery),
    responses((status = 200, body = [crate::admin::mail_outbox::DeadMail])), security(("bearer" = [])))]
pub async fn dead_mails(state: web::Data<AppState>, caller: Caller, query: web::Query<DeadMailQuery>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let limit = query.into_inner().limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid("limit", "between 1 and 1000"));
    }
    Ok(HttpResponse::Ok().json(state.db(move |conn, _| crate::admin::mail_outbox::dead_mails(conn, limit)).await?))
}

#[utoipa::path(post, path = "/api/v1/mail/dead-letters/{id}/retry", params(("id" = i64, Path)),
    responses((status = 202, description = "queued again, due now"), (status = 404, description = "no such mail"), (status = 409, description = "the mail is not dead-lettered")),
    security(("bearer" = [])))]
pub async fn retry_mail(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, id) = (caller.0.actor_label(), id.into_inner());
    state.db(move |conn, _| crate::admin::mail_outbox::retry_mail(conn, &actor, id, clock::now())).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"id": id, "status": "pending"})))
}
