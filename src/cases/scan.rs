//! The deadline scanner: raises `due_soon` (黄灯) and `overdue` (红灯) alerts on each open
//! case's running stage, and escalates (督办) to supervisors past three overdue working days.
//!
//! Each case records the highest alert raised on its current deadline (`alerted_level`, set
//! back to 0 when the deadline moves), so a pass is one indexed range read of the cases that
//! crossed its threshold since the last scan, however large the backlog. A batch raises the
//! level with a compare-and-set UPDATE, so several scanners never take the same case; a case
//! first seen more than three working days late gets 红灯 and 督办 in one update.
//!
//! Alerts are rows whose UNIQUE key is (case, level, stage, due time), inserted with ON
//! CONFLICT DO NOTHING; the mail is queued in the same transaction, for the rows that were new
//! only: one digest per department and level (and one to the supervisors for escalations), not
//! one mail per case. A new deadline (extension, reassignment) is a new key and alerts again.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::domain::rules::Rules;
use crate::clock;
use crate::db_run;
use crate::adapters::webhooks::outbox::{self as webhooks, CaseEvent};
use crate::domain::webhook_events::WebhookEvent;
use crate::domain::case_flow::CaseState;
use crate::domain::sla::{due_soon_before, escalation_due_before, overdue_days, AlertLevel, Stage, NOT_ALERTED};
use crate::error::AppResult;
use crate::adapters::mail::outbox::{self, AlertNotice};
use crate::storage::schema::{alerts, cases};
use crate::storage::Conn;

const DUE_SOON: i32 = AlertLevel::DueSoon.rank();
const OVERDUE: i32 = AlertLevel::Overdue.rank();
const ESCALATED: i32 = AlertLevel::Escalated.rank();

/// Cases claimed (and alerts written) per transaction at most. Large, because a batch rewrites
/// leaf pages of `cases_alert_scan` all over the index (it is ordered by deadline, the batch by
/// id): on SQLite the first scan of a million-case backlog wrote the whole index once per batch.
const BATCH: usize = 50_000;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub at: String,
    pub examined: u64,
    pub due_soon: u64,
    pub overdue: u64,
    pub escalated: u64,
}

impl std::fmt::Display for ScanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scan at {}: {} cases crossed a threshold; new alerts: {} due_soon, {} overdue, {} escalated",
            self.at, self.examined, self.due_soon, self.overdue, self.escalated
        )
    }
}

/// What one pass raises: the alerts `raises`, in order, on the cases at one of `from_levels`
/// whose running stage is due in `[due_from, due_before)`, which then stand at `to_level`.
struct Pass {
    raises: &'static [Raise],
    to_level: i32,
    from_levels: &'static [i32],
    due_from: NaiveDateTime,
    due_before: NaiveDateTime,
}

/// One alert level a pass raises, and where the report counts it.
struct Raise {
    level: AlertLevel,
    tally: fn(&mut ScanReport) -> &mut u64,
}

const RAISE_DUE_SOON: Raise = Raise { level: AlertLevel::DueSoon, tally: |r| &mut r.due_soon };
const RAISE_OVERDUE: Raise = Raise { level: AlertLevel::Overdue, tally: |r| &mut r.overdue };
const RAISE_ESCALATED: Raise = Raise { level: AlertLevel::Escalated, tally: |r| &mut r.escalated };

/// SQLite page cache of the scanning connection while it scans, in KiB. With SQLite's default
/// 2 MiB each batch of a backlog read the same index pages from the file again and again: the
/// first scan of a million-case backlog took 6.05 s, with 64 MiB 5.14 s (256 MiB: 5.08 s).
const SQLITE_SCAN_CACHE_KIB: i64 = 65_536;
/// SQLite's default, which the pool's connections keep otherwise.
const SQLITE_DEFAULT_CACHE_KIB: i64 = 2_000;

/// Where each level's deadlines lie at one moment: a case is 黄灯 when due in
/// `[now, due_soon_before)`, 红灯 when due before `now`, 督办 when due before `escalate_before`.
pub struct AlertWindows {
    pub now: NaiveDateTime,
    /// Before any deadline (no case is due before the epoch).
    pub ever: NaiveDateTime,
    pub due_soon_before: NaiveDateTime,
    pub escalate_before: NaiveDateTime,
}

impl AlertWindows {
    pub fn at(at: DateTime<Utc>, rules: &Rules) -> AlertWindows {
        let now = clock::to_db(at);
        AlertWindows {
            now,
            ever: DateTime::UNIX_EPOCH.naive_utc(),
            due_soon_before: clock::to_db(due_soon_before(at, &rules.calendar)),
            escalate_before: clock::to_db(escalation_due_before(at, &rules.calendar)).min(now),
        }
    }
}

/// Raises every alert that is due and not yet raised.
pub fn scan(conn: &mut Conn, at: DateTime<Utc>, rules: &Rules) -> AppResult<ScanReport> {
    set_sqlite_cache(conn, SQLITE_SCAN_CACHE_KIB)?;
    let report = scan_passes(conn, at, rules);
    // Shrinking frees the pages, so the pooled connection does not keep 64 MiB.
    set_sqlite_cache(conn, SQLITE_DEFAULT_CACHE_KIB)?;
    report
}

fn set_sqlite_cache(conn: &mut Conn, kib: i64) -> AppResult<()> {
    if let Conn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&format!("PRAGMA cache_size = -{kib}"))?;
    }
    Ok(())
}

fn scan_passes(conn: &mut Conn, at: DateTime<Utc>, rules: &Rules) -> AppResult<ScanReport> {
    let AlertWindows { now, ever, due_soon_before, escalate_before } = AlertWindows::at(at, rules);
    let mut report = ScanReport { at: clock::rfc3339_local(now), ..ScanReport::default() };
    let passes = [
        Pass { raises: &[RAISE_DUE_SOON], to_level: DUE_SOON, from_levels: &[NOT_ALERTED], due_from: now, due_before: due_soon_before },
        // A case first seen past its deadline goes red without a yellow light first; one
        // first seen more than three working days late is raised to 督办 in the same update
        // (the red light is still raised first: escalation follows it, never replaces it).
        Pass { raises: &[RAISE_OVERDUE, RAISE_ESCALATED], to_level: ESCALATED, from_levels: &[NOT_ALERTED, DUE_SOON], due_from: ever, due_before: escalate_before },
        Pass { raises: &[RAISE_OVERDUE], to_level: OVERDUE, from_levels: &[NOT_ALERTED, DUE_SOON], due_from: escalate_before, due_before: now },
        Pass { raises: &[RAISE_ESCALATED], to_level: ESCALATED, from_levels: &[OVERDUE], due_from: ever, due_before: escalate_before },
    ];
    for pass in &passes {
        let pending = pending_ids(conn, pass)?;
        report.examined += pending.len() as u64;
        // In id order, so a batch rewrites neighbouring rows, not rows spread over the whole
        // table.
        for ids in pending.chunks(BATCH) {
            let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else { continue };
            // The batch is claimed (its level raised) in the transaction that raises its
            // alerts, so a case answered or extended meanwhile is not alerted on a stale
            // deadline, and a failed batch leaves its cases for the next scan.
            conn.transaction(|conn| {
                let mut due_now = Vec::new();
                for (case_id, state, department_id, due) in claim(conn, pass, first, last)? {
                    let (Some(due), Some(stage)) = (due, Stage::of(state)) else { continue };
                    let late_days = overdue_days(at, clock::from_db(due), &rules.calendar);
                    due_now.push(AlertNotice { case_id, department_id, stage, due, late_days });
                }
                for alert in pass.raises {
                    let raised = raise(conn, alert.level, &due_now, now)?;
                    outbox::queue_alert_digests(conn, alert.level, &raised, at)?;
                    let announced: Vec<CaseEvent> = raised
                        .iter()
                        .map(|a| CaseEvent {
                            event: WebhookEvent::CaseAlert,
                            case_id: a.case_id,
                            data: serde_json::json!({
                                "level": alert.level.as_str(),
                                "stage": a.stage.as_str(),
                                "due_at": clock::rfc3339_local(a.due),
                                "late_working_days": a.late_days,
                            }),
                        })
                        .collect();
                    webhooks::queue(conn, &announced, at)?;
                    *(alert.tally)(&mut report) += raised.len() as u64;
                }
                Ok::<_, crate::error::AppError>(())
            })?;
        }
    }
    Ok(report)
}

type CaseRow = (i64, CaseState, Option<i64>, Option<NaiveDateTime>);

/// The cases this pass is for, in id order: one range read of `cases_alert_scan`.
fn pending_ids(conn: &mut Conn, pass: &Pass) -> AppResult<Vec<i64>> {
    Ok(db_run!(conn, |c| cases::table
        .filter(cases::alerted_level.eq_any(pass.from_levels))
        .filter(cases::stage_due.ge(pass.due_from))
        .filter(cases::stage_due.lt(pass.due_before))
        .select(cases::id)
        .order(cases::id)
        .load(c))?)
}

/// Raises the cases with ids in `first..=last` still pending for this pass to its level and
/// returns them. The condition is checked again on each row as it is updated, so a case
/// another scanner took or a handler moved meanwhile is left alone.
fn claim(conn: &mut Conn, pass: &Pass, first: i64, last: i64) -> AppResult<Vec<CaseRow>> {
    Ok(db_run!(conn, |c| diesel::update(cases::table)
        .filter(cases::id.between(first, last))
        .filter(cases::alerted_level.eq_any(pass.from_levels))
        .filter(cases::stage_due.ge(pass.due_from))
        .filter(cases::stage_due.lt(pass.due_before))
        .set(cases::alerted_level.eq(pass.to_level))
        .returning((cases::id, cases::state, cases::department_id, cases::stage_due))
        .get_results(c))?)
}

/// Inserts the alerts in multi-row statements; returns those this call raised (another
/// scanner may have raised some first: the UNIQUE key keeps them once).
fn raise<'a>(conn: &mut Conn, level: AlertLevel, due_now: &'a [AlertNotice], now: NaiveDateTime) -> AppResult<Vec<&'a AlertNotice>> {
    let mut raised_ids = std::collections::HashSet::new();
    for chunk in due_now.chunks(1_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|c| {
                (
                    alerts::case_id.eq(c.case_id),
                    alerts::level.eq(level),
                    alerts::stage.eq(c.stage.as_str()),
                    alerts::due_at.eq(c.due),
                    alerts::raised_at.eq(now),
                )
            })
            .collect();
        let ids: Vec<i64> = db_run!(conn, |c| diesel::insert_into(alerts::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning(alerts::case_id)
            .get_results(c))?;
        raised_ids.extend(ids);
    }
    Ok(due_now.iter().filter(|c| raised_ids.contains(&c.case_id)).collect())
}
