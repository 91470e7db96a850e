//! The hash-chained audit log. Each event stores the hash of the one before, and the head of
//! the chain is kept in `settings`, so editing, deleting or truncating rows behind the
//! application's back is found by [`verify`].

use super::models::AuditEvent;
use super::schema::{audit_events, settings};
use super::Conn;
use crate::db_run;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "audit_head";
/// Advisory lock key serialising appends on PostgreSQL.
const CHAIN_LOCK: i64 = 724_101;

#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub case_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: Option<&'a str>,
    pub note: Option<&'a str>,
    pub detail: Option<String>,
    pub at: NaiveDateTime,
}

/// Timestamps are hashed at microsecond precision, the finest both backends store.
fn canonical_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

#[allow(clippy::too_many_arguments)]
fn event_hash(
    prev: &str,
    case_id: Option<i64>,
    actor: &str,
    action: &str,
    from_state: Option<&str>,
    to_state: Option<&str>,
    note: Option<&str>,
    detail: Option<&str>,
    at: NaiveDateTime,
) -> String {
    let canonical = json!([prev, case_id, actor, action, from_state, to_state, note, detail, canonical_time(at)]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Appends one event inside the caller's transaction and returns its id.
pub fn append(conn: &mut Conn, entry: AuditEntry<'_>) -> QueryResult<i64> {
    let ids = append_all(conn, std::slice::from_ref(&entry))?;
    ids.last().copied().ok_or(diesel::result::Error::NotFound)
}

/// Appends events in order inside the caller's transaction, in one INSERT, and returns their
/// ids. The chain is locked from here to the commit, so callers append last and, when they
/// have several events (a batch of bad reviews), all at once.
pub fn append_all(conn: &mut Conn, entries: &[AuditEntry<'_>]) -> QueryResult<Vec<i64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    conn.lock_for_chain(CHAIN_LOCK)?;
    let prev: Option<String> = db_run!(conn, |c| audit_events::table
        .select(audit_events::hash)
        .order(audit_events::id.desc())
        .first(c)
        .optional())?;
    let mut prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let at = crate::clock::truncate_micros(entry.at);
        let hash = event_hash(
            &prev,
            entry.case_id,
            entry.actor,
            entry.action,
            entry.from_state,
            entry.to_state,
            entry.note,
            entry.detail.as_deref(),
            at,
        );
        rows.push((
            audit_events::case_id.eq(entry.case_id),
            audit_events::actor.eq(entry.actor),
            audit_events::action.eq(entry.action),
            audit_events::from_state.eq(entry.from_state),
            audit_events::to_state.eq(entry.to_state),
            audit_events::note.eq(entry.note),
            audit_events::detail.eq(entry.detail.as_deref()),
            audit_events::at.eq(at),
            audit_events::prev_hash.eq(prev),
            audit_events::hash.eq(hash.clone()),
        ));
        prev = hash;
    }
    // Ids follow the rows' order (one sequence, one statement), which is the chain's order.
    let ids: Vec<i64> = db_run!(conn, |c| diesel::insert_into(audit_events::table)
        .values(&rows)
        .returning(audit_events::id)
        .get_results(c))?;
    let last = ids.iter().copied().max().unwrap_or(0);
    let head = format!("{last}:{prev}");
    db_run!(conn, |c| {
        let updated = diesel::update(settings::table.filter(settings::key.eq(HEAD_KEY)))
            .set(settings::value.eq(&head))
            .execute(c)?;
        if updated == 0 {
            diesel::insert_into(settings::table)
                .values((settings::key.eq(HEAD_KEY), settings::value.eq(&head)))
                .execute(c)?;
        }
        QueryResult::Ok(())
    })?;
    Ok(ids)
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub ok: bool,
    pub events_checked: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_event: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Walks the chain in id order, in pages, recomputing every hash, up to the head recorded when
/// the check began: events committed while it runs are left for the next check instead of
/// looking like a truncation.
pub fn verify(conn: &mut Conn) -> QueryResult<ChainReport> {
    const PAGE: i64 = 5_000;
    let head: Option<String> = db_run!(conn, |c| settings::table
        .filter(settings::key.eq(HEAD_KEY))
        .select(settings::value)
        .first(c)
        .optional())?;
    let head: Option<(i64, String)> =
        head.as_deref().and_then(|h| h.split_once(':')).and_then(|(id, hash)| id.parse().ok().map(|id| (id, hash.to_owned())));
    let head_id = head.as_ref().map(|h| h.0).unwrap_or(0);
    let mut prev = GENESIS.to_owned();
    let mut last_id = 0i64;
    let mut checked = 0i64;
    let bad = |id: i64, checked: i64, problem: &str| ChainReport {
        ok: false,
        events_checked: checked,
        first_bad_event: Some(id),
        problem: Some(problem.to_owned()),
    };
    loop {
        let page: Vec<AuditEvent> = db_run!(conn, |c| audit_events::table
            .filter(audit_events::id.gt(last_id))
            .filter(audit_events::id.le(head_id))
            .order(audit_events::id.asc())
            .limit(PAGE)
            .select(AuditEvent::as_select())
            .load(c))?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            checked += 1;
            if e.prev_hash != prev {
                return Ok(bad(e.id, checked, "an earlier event was changed or removed"));
            }
            let expected = event_hash(
                &prev,
                e.case_id,
                &e.actor,
                &e.action,
                e.from_state.as_deref(),
                e.to_state.as_deref(),
                e.note.as_deref(),
                e.detail.as_deref(),
                e.at,
            );
            if e.hash != expected {
                return Ok(bad(e.id, checked, "this event was edited"));
            }
            prev = e.hash.clone();
            last_id = e.id;
        }
    }
    match head {
        Some((id, hash)) if id != last_id || hash != prev => Ok(bad(id, checked, "the newest events were removed")),
        None if checked > 0 => Ok(bad(last_id, checked, "the chain's head is missing")),
        None => {
            // No head: the chain must be empty too, or its rows were written behind our back.
            let any: Option<i64> = db_run!(conn, |c| audit_events::table.select(audit_events::id).first(c).optional())?;
            match any {
                Some(id) => Ok(bad(id, 0, "the chain's head is missing")),
                None => Ok(ChainReport { ok: true, events_checked: 0, first_bad_event: None, problem: None }),
            }
        }
        Some(_) => Ok(ChainReport { ok: true, events_checked: checked, first_bad_event: None, problem: None }),
    }
}
