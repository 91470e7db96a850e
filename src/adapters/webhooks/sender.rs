//! Delivers the webhook outbox: each due delivery is claimed with a lease (PostgreSQL: `FOR
//! UPDATE SKIP LOCKED`, so several instances never take the same one), POSTed with its
//! signature, and marked delivered on a 2xx. Only the oldest undelivered event of a case is
//! ever claimed for a subscriber, so each receiver sees a case's events in order. A failure is
//! retried with exponential backoff (1 s doubling, capped at five minutes); after the last
//! allowed attempt the delivery is dead-lettered until an admin redelivers it.

use std::collections::{HashMap, HashSet};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};

use super::signature;
use crate::clock;
use crate::db_run;
use crate::error::AppResult;
use crate::storage::schema::{webhook_deliveries, webhooks};
use crate::storage::{on_pool, Conn, DbPool};

pub const MAX_BACKOFF_SECONDS: i64 = 300;
/// Attempts before a delivery is dead-lettered, unless `HCP_WEBHOOK_MAX_ATTEMPTS` says
/// otherwise: with the backoff above, about 18 minutes of a receiver being down.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 12;
const BATCH: i64 = 20;
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// Longer than a whole batch can take at the request timeout, so no other instance re-sends.
const LEASE_SECONDS: i64 = BATCH * 10 + 60;

/// 1 s, 2 s, 4 s … capped at five minutes.
pub fn backoff(attempts: i32) -> Duration {
    crate::domain::retry::backoff(attempts, MAX_BACKOFF_SECONDS)
}

/// The HTTP client of the sender: rustls with the system's roots, no redirects (a receiver
/// that moved must be re-registered, not followed), a timeout per request.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(StdDuration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("haochaping-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug, Clone, QueryableByName)]
struct ClaimedDelivery {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    webhook_id: i64,
    #[diesel(sql_type = Text)]
    delivery_id: String,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// What is due now and at the head of its case's queue, for live subscribers.
const DUE: &str = "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE w.deleted_at IS NULL AND d.delivered_at IS NULL AND d.dead_at IS NULL AND d.next_attempt_at <= {now}
      AND (d.locked_until IS NULL OR d.locked_until < {now})
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id AND e.case_id = d.case_id
                        AND e.id < d.id AND e.delivered_at IS NULL AND e.dead_at IS NULL)";

fn claim(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<ClaimedDelivery>> {
    let now_db = clock::to_db(now);
    let lease: NaiveDateTime = clock::to_db(now + Duration::seconds(LEASE_SECONDS));
    let returning = "RETURNING id, webhook_id, delivery_id, event, payload, attempts";
    let claimed = match conn {
        Conn::Postgres(c) => diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN (SELECT d.id {} ORDER BY d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED) {returning}",
            DUE.replace("{now}", "$2")
        ))
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
        // SQLite has one writer at a time, so the UPDATE alone is the claim.
        Conn::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET locked_until = ?1 WHERE id IN (SELECT d.id {} ORDER BY d.id LIMIT ?3) {returning}",
            DUE.replace("{now}", "?2")
        ))
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
    };
    let mut claimed: Vec<ClaimedDelivery> = claimed;
    claimed.sort_by_key(|d| d.id);
    Ok(claimed)
}

fn targets(conn: &mut Conn, ids: &[i64]) -> AppResult<HashMap<i64, (String, String)>> {
    let rows: Vec<(i64, String, String)> =
        db_run!(conn, |c| webhooks::table.filter(webhooks::id.eq_any(ids)).select((webhooks::id, webhooks::url, webhooks::secret)).load(c))?;
    Ok(rows.into_iter().map(|(id, url, secret)| (id, (url, secret))).collect())
}

fn mark_delivered(conn: &mut Conn, id: i64, status: u16, now: DateTime<Utc>) -> AppResult<()> {
    db_run!(conn, |c| diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::delivered_at.eq(Some(clock::to_db(now))),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::last_status.eq(Some(i32::from(status))),
            webhook_deliveries::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(())
}

/// Records a failed attempt: retried after the backoff, or dead-lettered after the last one.
fn mark_failed(conn: &mut Conn, delivery: &ClaimedDelivery, status: Option<u16>, error: &str, now: DateTime<Utc>, max_attempts: i32) -> AppResult<bool> {
    let attempts = delivery.attempts.saturating_add(1);
    let dead = attempts >= max_attempts;
    let error: String = error.chars().take(1000).collect();
    db_run!(conn, |c| diesel::update(webhook_deliveries::table.find(delivery.id))
        .set((
            webhook_deliveries::attempts.eq(attempts),
            webhook_deliveries::next_attempt_at.eq(clock::to_db(now + backoff(attempts))),
            webhook_deliveries::dead_at.eq(dead.then(|| clock::to_db(now))),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::last_status.eq(status.map(i32::from)),
            webhook_deliveries::last_error.eq(Some(&error)),
        ))
        .execute(c))?;
    Ok(dead)
}

/// Gives a claimed delivery back untried (its receiver failed earlier in this round).
fn release(conn: &mut Conn, id: i64) -> AppResult<()> {
    db_run!(conn, |c| diesel::update(webhook_deliveries::table.find(id)).set(webhook_deliveries::locked_until.eq(None::<NaiveDateTime>)).execute(c))?;
    Ok(())
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
}

/// One round: delivers what is due at `now` until nothing is, or a receiver fails (the rest
/// waits for the next round rather than queueing behind a receiver that is down).
pub async fn deliver_due(pool: &DbPool, client: &reqwest::Client, now: DateTime<Utc>, max_attempts: i32) -> AppResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    loop {
        let batch = on_pool(pool, move |conn| claim(conn, now)).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        let mut ids: Vec<i64> = batch.iter().map(|d| d.webhook_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let targets = on_pool(pool, move |conn| targets(conn, &ids)).await?;
        let mut failing: HashSet<i64> = HashSet::new();
        for delivery in batch {
            let Some((url, secret)) = targets.get(&delivery.webhook_id) else { continue };
            if failing.contains(&delivery.webhook_id) {
                on_pool(pool, move |conn| release(conn, delivery.id)).await?;
                continue;
            }
            let sent = clock::now();
            let outcome = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
                .header("X-HCP-Event", delivery.event.as_str())
                .header("X-HCP-Delivery", delivery.delivery_id.as_str())
                .header("X-HCP-Signature", signature(secret, sent.timestamp(), delivery.payload.as_bytes()))
                .body(delivery.payload.clone())
                .send()
                .await;
            let (status, error) = match outcome {
                Ok(response) if response.status().is_success() => {
                    let status = response.status().as_u16();
                    report.delivered += 1;
                    on_pool(pool, move |conn| mark_delivered(conn, delivery.id, status, sent)).await?;
                    continue;
                }
                Ok(response) => (Some(response.status().as_u16()), format!("HTTP {}", response.status())),
                Err(e) => (None, error_chain(&e)),
            };
            report.failed += 1;
            failing.insert(delivery.webhook_id);
            tracing::warn!(webhook_id = delivery.webhook_id, delivery = %delivery.delivery_id, event = %delivery.event,
                attempts = delivery.attempts + 1, %error, "webhook not delivered; will retry");
            let dead = on_pool(pool, move |conn| mark_failed(conn, &delivery, status, &error, now, max_attempts)).await?;
            if dead {
                report.dead += 1;
            }
        }
        if !failing.is_empty() {
            return Ok(report);
        }
    }
}

/// reqwest's error with its causes ("error sending request: … Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

