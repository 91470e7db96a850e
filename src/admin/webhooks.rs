//! Webhook subscriptions (admin): register a receiver and its events, list them with what is
//! owed to each, unsubscribe, read the deliveries and redeliver a dead letter. Every change is
//! audited.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::adapters::webhooks::new_secret;
use crate::admin::master_data::audit_admin_change;
use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::intake_rules::check_text;
use crate::domain::webhook_events::parse_events;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{webhook_deliveries, webhooks};
use crate::storage::Conn;

pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A receiver's address: absolute http(s) with a host, no credentials in it (the signature is
/// the credential).
fn check_url(text: &str) -> AppResult<String> {
    let text = text.trim();
    if text.chars().count() > MAX_URL_CHARS {
        return Err(AppError::invalid("url", format!("at most {MAX_URL_CHARS} characters")));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::invalid("url", "no spaces or control characters (percent-encode them)"));
    }
    let url = url::Url::parse(text).map_err(|e| AppError::invalid("url", format!("not an absolute URL ({e}); e.g. https://12345.example.gov.cn/hcp/events")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(AppError::invalid("url", "an http:// or https:// address with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::invalid("url", "no user or password in the address: receivers check the X-HCP-Signature header"));
    }
    Ok(url.to_string())
}

/// Registers a receiver; returns its id and the signing secret, which is shown this once.
pub fn create(conn: &mut Conn, actor: &str, url: &str, events: &[String], description: Option<&str>, now: DateTime<Utc>) -> AppResult<(i64, String)> {
    let url = check_url(url)?;
    let events = parse_events(events).map_err(|m| AppError::invalid("events", m))?;
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if let Some(d) = description {
        check_text("description", d, MAX_DESCRIPTION_CHARS)?;
    }
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let events_json = serde_json::to_string(&names).map_err(AppError::internal)?;
    let secret = new_secret();
    conn.transaction(|conn| {
        let id: i64 = db_run!(conn, |c| diesel::insert_into(webhooks::table)
            .values((
                webhooks::url.eq(&url),
                webhooks::events.eq(&events_json),
                webhooks::description.eq(description),
                webhooks::secret.eq(&secret),
                webhooks::created_by.eq(actor),
                webhooks::created_at.eq(clock::to_db(now)),
            ))
            .returning(webhooks::id)
            .get_result(c))?;
        audit_admin_change(conn, actor, "create_webhook", serde_json::json!({"id": id, "url": url, "events": names}), now)?;
        Ok((id, secret.clone()))
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookItem {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
    /// RFC 3339, Beijing time.
    pub created_at: String,
    /// Deliveries not yet made (retrying included).
    pub pending: i64,
    /// Deliveries that used up their attempts.
    pub dead: i64,
    pub delivered: i64,
}

type WebhookRow = (i64, String, String, Option<String>, String, NaiveDateTime);

fn item_of(conn: &mut Conn, (id, url, events, description, created_by, created_at): WebhookRow) -> AppResult<WebhookItem> {
    let count = |conn: &mut Conn, which: &str| -> AppResult<i64> {
        let base = webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id));
        Ok(match which {
            "pending" => db_run!(conn, |c| base
                .filter(webhook_deliveries::delivered_at.is_null())
                .filter(webhook_deliveries::dead_at.is_null())
                .count()
                .get_result(c))?,
            "dead" => db_run!(conn, |c| base.filter(webhook_deliveries::dead_at.is_not_null()).count().get_result(c))?,
            _ => db_run!(conn, |c| base.filter(webhook_deliveries::delivered_at.is_not_null()).count().get_result(c))?,
        })
    };
    Ok(WebhookItem {
        id,
        url,
        events: serde_json::from_str(&events).unwrap_or_default(),
        description,
        created_by,
        created_at: rfc3339_local(created_at),
        pending: count(conn, "pending")?,
        dead: count(conn, "dead")?,
        delivered: count(conn, "delivered")?,
    })
}

/// The live subscriptions, oldest first (their secrets are never shown again).
pub fn list(conn: &mut Conn) -> AppResult<Vec<WebhookItem>> {
    let rows: Vec<WebhookRow> = db_run!(conn, |c| webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .order(webhooks::id)
        .select((webhooks::id, webhooks::url, webhooks::events, webhooks::description, webhooks::created_by, webhooks::created_at))
        .load(c))?;
    rows.into_iter().map(|row| item_of(conn, row)).collect()
}

fn live(conn: &mut Conn, id: i64) -> AppResult<()> {
    let found: Option<i64> = db_run!(conn, |c| webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::deleted_at.is_null())
        .select(webhooks::id)
        .first(c)
        .optional())?;
    found.map(|_| ()).ok_or_else(|| AppError::NotFound(format!("no webhook {id}")))
}

/// Unsubscribes: nothing more is queued or sent to it; what it was sent stays on record.
pub fn delete(conn: &mut Conn, actor: &str, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    conn.transaction(|conn| {
        live(conn, id)?;
        db_run!(conn, |c| diesel::update(webhooks::table.find(id)).set(webhooks::deleted_at.eq(Some(clock::to_db(now)))).execute(c))?;
        audit_admin_change(conn, actor, "delete_webhook", serde_json::json!({"id": id}), now)?;
        Ok(())
    })
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryItem {
    /// The row's id, for redelivery.
    pub id: i64,
    /// `X-HCP-Delivery`: the same on every attempt.
    pub delivery_id: String,
    pub event: String,
    pub case_id: Option<i64>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub dead_at: Option<String>,
}

type DeliveryRow = (i64, i64, String, String, Option<i64>, i32, Option<i32>, Option<String>, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);

/// Deliveries of live webhooks (one, or all), newest first, optionally in one status; each with
/// its webhook's id.
fn delivery_items(conn: &mut Conn, webhook: Option<i64>, status: Option<DeliveryStatus>, limit: i64) -> AppResult<Vec<(i64, DeliveryItem)>> {
    // Boxed per backend: the closure is expanded once for each.
    let rows: Vec<DeliveryRow> = db_run!(conn, |c| {
        let mut query = webhook_deliveries::table.inner_join(webhooks::table).filter(webhooks::deleted_at.is_null()).into_boxed();
        if let Some(id) = webhook {
            query = query.filter(webhook_deliveries::webhook_id.eq(id));
        }
        query = match status {
            None => query,
            Some(DeliveryStatus::Delivered) => query.filter(webhook_deliveries::delivered_at.is_not_null()),
            Some(DeliveryStatus::Dead) => query.filter(webhook_deliveries::dead_at.is_not_null()),
            Some(DeliveryStatus::Pending) => query.filter(webhook_deliveries::delivered_at.is_null()).filter(webhook_deliveries::dead_at.is_null()),
        };
        query
            .order(webhook_deliveries::id.desc())
            .limit(limit)
            .select((
                webhook_deliveries::webhook_id,
                webhook_deliveries::id,
                webhook_deliveries::delivery_id,
                webhook_deliveries::event,
                webhook_deliveries::case_id,
                webhook_deliveries::attempts,
                webhook_deliveries::last_status,
                webhook_deliveries::last_error,
                webhook_deliveries::created_at,
                webhook_deliveries::next_attempt_at,
                webhook_deliveries::delivered_at,
                webhook_deliveries::dead_at,
            ))
            .load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(webhook_id, id, delivery_id, event, case_id, attempts, last_status, last_error, created_at, next_attempt_at, delivered_at, dead_at)| {
            let status = match (delivered_at, dead_at) {
                (Some(_), _) => DeliveryStatus::Delivered,
                (None, Some(_)) => DeliveryStatus::Dead,
                (None, None) => DeliveryStatus::Pending,
            };
            let item = DeliveryItem {
                id,
                delivery_id,
                event,
                case_id,
                status,
                attempts,
                last_status,
                last_error,
                created_at: rfc3339_local(created_at),
                next_attempt_at: (status == DeliveryStatus::Pending).then(|| rfc3339_local(next_attempt_at)),
                delivered_at: delivered_at.map(rfc3339_local),
                dead_at: dead_at.map(rfc3339_local),
            };
            (webhook_id, item)
        })
        .collect())
}

/// A webhook's deliveries, newest first, optionally only those in one status.
pub fn deliveries(conn: &mut Conn, id: i64, status: Option<DeliveryStatus>, limit: i64) -> AppResult<Vec<DeliveryItem>> {
    live(conn, id)?;
    Ok(delivery_items(conn, Some(id), status, limit)?.into_iter().map(|(_, item)| item).collect())
}

/// Gives a dead letter its attempts again, due now; 409 when it is not dead.
pub fn redeliver(conn: &mut Conn, actor: &str, webhook_id: i64, delivery: i64, now: DateTime<Utc>) -> AppResult<()> {
    conn.transaction(|conn| {
        live(conn, webhook_id)?;
        let dead: Option<Option<NaiveDateTime>> = db_run!(conn, |c| webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(delivery))
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .select(webhook_deliveries::dead_at)
            .first(c)
            .optional())?;
        match dead {
            None => return Err(AppError::NotFound(format!("no delivery {delivery} of webhook {webhook_id}"))),
            Some(None) => return Err(AppError::conflict("delivery_not_dead", "only a dead-lettered delivery is redelivered by hand; this one is delivered or still being retried")),
            Some(Some(_)) => {}
        }
        db_run!(conn, |c| diesel::update(webhook_deliveries::table.find(delivery))
            .set((
                webhook_deliveries::dead_at.eq(None::<NaiveDateTime>),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(clock::to_db(now)),
                webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(c))?;
        audit_admin_change(conn, actor, "redeliver_webhook", serde_json::json!({"webhook_id": webhook_id, "delivery": delivery}), now)?;
        Ok(())
    })
}

/// Dead letters of every live webhook, newest first, for the admin page.
pub fn dead_letters(conn: &mut Conn, limit: i64) -> AppResult<Vec<(i64, DeliveryItem)>> {
    delivery_items(conn, None, Some(DeliveryStatus::Dead), limit)
}
