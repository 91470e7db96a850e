//! Webhook events go into `webhook_deliveries` in the transaction of the change they report, one
//! row per subscriber: a rolled-back change announces nothing, a committed one is never lost.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::RngCore;
use serde_json::{json, Value};

use crate::clock;
use crate::db_run;
use crate::domain::webhook_events::WebhookEvent;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{cases, complaints, departments, reviews, transactions, webhook_deliveries, webhooks};
use crate::storage::Conn;

/// One event about one case; `data` is what the event itself says.
#[derive(Debug, Clone)]
pub struct CaseEvent {
    pub event: WebhookEvent,
    pub case_id: i64,
    pub data: Value,
}

/// `X-HCP-Delivery`: one id per event, shared by its subscribers and kept on every retry.
fn delivery_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Queues `events` (in order) for every webhook subscribed to each, inside the caller's
/// transaction. One read of the subscriptions; nothing more when nobody listens.
pub fn queue(conn: &mut Conn, events: &[CaseEvent], now: DateTime<Utc>) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let stored: Vec<(i64, String)> = db_run!(conn, |c| webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .order(webhooks::id)
        .select((webhooks::id, webhooks::events))
        .load(c))?;
    // Each subscription's event list read once, not once per event queued.
    let subscriptions: Vec<(i64, Vec<String>)> = stored.into_iter().map(|(id, names)| (id, serde_json::from_str(&names).unwrap_or_default())).collect();
    let subscribers = |event: WebhookEvent| -> Vec<i64> {
        subscriptions.iter().filter(|(_, names)| names.iter().any(|n| n == event.as_str())).map(|(id, _)| *id).collect()
    };
    let now_db = clock::to_db(now);
    let mut summaries: HashMap<i64, Value> = HashMap::new();
    let mut rows = Vec::new();
    for event in events {
        let ids = subscribers(event.event);
        if ids.is_empty() {
            continue;
        }
        let case = match summaries.get(&event.case_id) {
            Some(case) => case.clone(),
            None => {
                let case = case_summary(conn, event.case_id)?;
                summaries.insert(event.case_id, case.clone());
                case
            }
        };
        let id = delivery_id();
        let payload = json!({
            "id": id,
            "event": event.event.as_str(),
            "occurred_at": clock::rfc3339_local(now_db),
            "case": case,
            "data": event.data,
        })
        .to_string();
        for webhook_id in ids {
            rows.push((
                webhook_deliveries::webhook_id.eq(webhook_id),
                webhook_deliveries::event.eq(event.event.as_str()),
                webhook_deliveries::delivery_id.eq(id.clone()),
                webhook_deliveries::case_id.eq(Some(event.case_id)),
                webhook_deliveries::payload.eq(payload.clone()),
                webhook_deliveries::created_at.eq(now_db),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(now_db),
            ));
        }
    }
    // Ids ascend in insertion order: the sender's order per case.
    for chunk in rows.chunks(500) {
        db_run!(conn, |c| diesel::insert_into(webhook_deliveries::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// What every event carries about its case: enough for the 12345 system to find its work order
/// (`source`, `external_no`) or a business system its 办件 (`transaction_no`). No personal data.
fn case_summary(conn: &mut Conn, case_id: i64) -> AppResult<Value> {
    type Row = (String, crate::domain::case_flow::CaseState, Option<i64>, Option<i64>, Option<i64>);
    let (source, state, department_id, complaint_id, review_id): Row = db_run!(conn, |c| cases::table
        .find(case_id)
        .select((cases::source, cases::state, cases::department_id, cases::complaint_id, cases::review_id))
        .first(c)
        .optional())?
    .ok_or_else(|| AppError::internal(anyhow::anyhow!("webhook event for case {case_id}, which does not exist")))?;
    let department: Option<(String, String)> = match department_id {
        Some(id) => db_run!(conn, |c| departments::table.find(id).select((departments::code, departments::name)).first(c).optional())?,
        None => None,
    };
    let external_no: Option<String> = match complaint_id {
        Some(id) => db_run!(conn, |c| complaints::table.find(id).select(complaints::external_no).first(c).optional())?,
        None => None,
    };
    let transaction_no: Option<String> = match review_id {
        Some(id) => db_run!(conn, |c| reviews::table
            .find(id)
            .inner_join(transactions::table)
            .select(transactions::transaction_no)
            .first(c)
            .optional())?,
        None => None,
    };
    Ok(json!({
        "id": case_id,
        "source": source,
        "state": state.as_str(),
        "department_code": department.as_ref().map(|d| d.0.as_str()),
        "department_name": department.as_ref().map(|d| d.1.as_str()),
        "external_no": external_no,
        "transaction_no": transaction_no,
    }))
}
