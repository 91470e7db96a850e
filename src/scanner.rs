//! The deadline scanner: raises `due_soon` (黄灯) and `overdue` (红灯) alerts on each open
//! case's running stage, and escalates (督办) to supervisors past three overdue working days.
//!
//! Idempotent and safe with several instances: an alert is a row whose UNIQUE key is
//! (case, level, stage, due time), inserted with ON CONFLICT DO NOTHING; its mail is queued in
//! the same transaction only when the row was new. Running twice raises nothing twice; a new
//! deadline (extension, reassignment) is a new key and alerts again.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::app::Rules;
use crate::clock;
use crate::db_run;
use crate::domain::case_flow::CaseState;
use crate::domain::sla::{alert_level, overdue_days, AlertLevel, Stage, ESCALATION_WORKING_DAYS};
use crate::error::AppResult;
use crate::notify;
use crate::storage::schema::{alerts, cases};
use crate::storage::Conn;


/// Cases examined per database round trip and per transaction.
const BATCH: i64 = 2_000;

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
            "scan at {}: {} cases near or past a deadline; new alerts: {} due_soon, {} overdue, {} escalated",
            self.at, self.examined, self.due_soon, self.overdue, self.escalated
        )
    }
}

/// Scans every open case whose running stage is due by the end of the next working day.
pub fn scan(conn: &mut Conn, at: DateTime<Utc>, rules: &Rules) -> AppResult<ScanReport> {
    let horizon = clock::to_db(rules.calendar.deadline(at, 1));
    let mut report = ScanReport { at: clock::rfc3339_local(clock::to_db(at)), ..ScanReport::default() };
    let mut after_id = 0i64;
    loop {
        // The batch is read inside the transaction that raises its alerts, so a case answered
        // or extended meanwhile is not alerted on a stale deadline. PostgreSQL locks the rows
        // (skipping those another scanner or a handler holds; they come round next time).
        let raised = conn.transaction(|conn| {
            let batch: Vec<(i64, String, Option<i64>, Option<NaiveDateTime>)> = match conn {
                Conn::Postgres(c) => cases::table
                    .filter(cases::stage_due.le(horizon))
                    .filter(cases::id.gt(after_id))
                    .order(cases::id.asc())
                    .limit(BATCH)
                    .select((cases::id, cases::state, cases::department_id, cases::stage_due))
                    .for_update()
                    .skip_locked()
                    .load(&mut **c)?,
                Conn::Sqlite(c) => cases::table
                    .filter(cases::stage_due.le(horizon))
                    .filter(cases::id.gt(after_id))
                    .order(cases::id.asc())
                    .limit(BATCH)
                    .select((cases::id, cases::state, cases::department_id, cases::stage_due))
                    .load(&mut **c)?,
            };
            let Some(last) = batch.last() else { return Ok::<bool, crate::error::AppError>(false) };
            after_id = last.0;
            for (case_id, state, department_id, due) in &batch {
                let (Some(due), Some(stage)) = (due, CaseState::parse(state).and_then(Stage::of)) else { continue };
                report.examined += 1;
                let due = clock::from_db(*due);
                let Some(level) = alert_level(at, due, &rules.calendar) else { continue };
                let late_days = overdue_days(at, due, &rules.calendar);
                if raise(conn, *case_id, level.as_str(), stage, due, at)? {
                    notify::queue_alert(conn, *case_id, *department_id, level.as_str(), due, late_days, at)?;
                    match level {
                        AlertLevel::DueSoon => report.due_soon += 1,
                        AlertLevel::Overdue => report.overdue += 1,
                    }
                }
                if late_days > ESCALATION_WORKING_DAYS && raise(conn, *case_id, "escalated", stage, due, at)? {
                    notify::queue_alert(conn, *case_id, *department_id, "escalated", due, late_days, at)?;
                    report.escalated += 1;
                }
            }
            Ok(true)
        })?;
        if !raised {
            break;
        }
    }
    Ok(report)
}

/// Inserts the alert unless it exists; true when this call raised it.
fn raise(conn: &mut Conn, case_id: i64, level: &str, stage: Stage, due: DateTime<Utc>, at: DateTime<Utc>) -> AppResult<bool> {
    let inserted: Option<i64> = db_run!(conn, |c| diesel::insert_into(alerts::table)
        .values((
            alerts::case_id.eq(case_id),
            alerts::level.eq(level),
            alerts::stage.eq(stage.as_str()),
            alerts::due_at.eq(clock::to_db(due)),
            alerts::raised_at.eq(clock::to_db(at)),
        ))
        .on_conflict_do_nothing()
        .returning(alerts::id)
        .get_result(c)
        .optional())?;
    Ok(inserted.is_some())
}
