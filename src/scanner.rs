//! The deadline scanner: raises `due_soon` (黄灯) and `overdue` (红灯) alerts on each open
//! case's running stage, and escalates (督办) to supervisors past three overdue working days.
//!
//! Idempotent and safe with several instances: an alert is a row whose UNIQUE key is
//! (case, level, stage, due time), inserted with ON CONFLICT DO NOTHING; the mail is queued in
//! the same transaction, for the rows that were new only: one digest per department and level
//! (and one to the supervisors for escalations), not one mail per case. Running twice raises nothing twice; a new
//! deadline (extension, reassignment) is a new key and alerts again.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::dsl::{exists, not};
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


/// Candidate cases read (and alerts written) per transaction.
const BATCH: i64 = 5_000;
/// Case numbers listed in one digest mail; the rest are counted.
pub const DIGEST_LISTED: usize = 50;

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

/// What one pass looks for: cases whose running stage is due in `(after, until]` and that have
/// no alert of `level` for that due time yet.
struct Pass {
    level: &'static str,
    after: Option<NaiveDateTime>,
    until: NaiveDateTime,
    /// Where the report counts what this pass raised.
    tally: fn(&mut ScanReport) -> &mut u64,
}

/// Raises every alert that is due and not yet raised.
///
/// Each pass asks the database only for cases *without* the alert (an anti-join on the alerts'
/// UNIQUE key), so a scan over a million open cases reads the few that changed since the last
/// scan instead of re-deciding every overdue case each minute.
pub fn scan(conn: &mut Conn, at: DateTime<Utc>, rules: &Rules) -> AppResult<ScanReport> {
    let now = clock::to_db(at);
    let horizon = clock::to_db(rules.calendar.deadline(at, 1));
    // More than N working days late is more than N calendar days late: a bound the index can
    // use; the calendar decides each candidate.
    let escalation_bound = now - Duration::days(i64::from(ESCALATION_WORKING_DAYS));
    let examined: i64 = db_run!(conn, |c| cases::table.filter(cases::stage_due.le(horizon)).count().get_result(c))?;
    let mut report = ScanReport { at: clock::rfc3339_local(now), examined: examined.max(0) as u64, ..ScanReport::default() };
    let passes = [
        Pass { level: "due_soon", after: Some(now), until: horizon, tally: |r| &mut r.due_soon },
        Pass { level: "overdue", after: None, until: now, tally: |r| &mut r.overdue },
        Pass { level: "escalated", after: None, until: escalation_bound, tally: |r| &mut r.escalated },
    ];
    for pass in &passes {
        let mut after_id = 0i64;
        loop {
            // The batch is read inside the transaction that raises its alerts, so a case
            // answered or extended meanwhile is not alerted on a stale deadline. PostgreSQL
            // locks the rows (skipping those another scanner or a handler holds; they come
            // round next time).
            let outcome = conn.transaction(|conn| {
                let batch = candidates(conn, pass, after_id)?;
                let Some(last) = batch.last() else { return Ok::<_, crate::error::AppError>(None) };
                let last_id = last.0;
                let mut due_now = Vec::new();
                for (case_id, state, department_id, due) in batch {
                    let (Some(due), Some(stage)) = (due, CaseState::parse(&state).and_then(Stage::of)) else { continue };
                    let due_utc = clock::from_db(due);
                    let late_days = overdue_days(at, due_utc, &rules.calendar);
                    let wanted = match pass.level {
                        "escalated" => late_days > ESCALATION_WORKING_DAYS,
                        level => alert_level(at, due_utc, &rules.calendar).map(AlertLevel::as_str) == Some(level),
                    };
                    if wanted {
                        due_now.push(Candidate { case_id, department_id, stage, due, late_days });
                    }
                }
                let raised = raise(conn, pass.level, &due_now, now)?;
                notify::queue_alert_digests(conn, pass.level, &raised, at)?;
                Ok(Some((last_id, raised.len() as u64)))
            })?;
            let Some((last_id, raised)) = outcome else { break };
            after_id = last_id;
            *(pass.tally)(&mut report) += raised;
        }
    }
    Ok(report)
}

type CaseRow = (i64, String, Option<i64>, Option<NaiveDateTime>);

fn candidates(conn: &mut Conn, pass: &Pass, after_id: i64) -> AppResult<Vec<CaseRow>> {
    let already = alerts::table
        .filter(alerts::case_id.eq(cases::id))
        .filter(alerts::level.eq(pass.level))
        .filter(alerts::due_at.nullable().eq(cases::stage_due));
    // Only the due-soon pass has a lower bound; no case is due before the epoch.
    let after = pass.after.unwrap_or(DateTime::UNIX_EPOCH.naive_utc());
    let query = cases::table
        .filter(cases::stage_due.le(pass.until))
        .filter(cases::stage_due.gt(after))
        .filter(cases::id.gt(after_id))
        .filter(not(exists(already)))
        .order(cases::id.asc())
        .limit(BATCH)
        .select((cases::id, cases::state, cases::department_id, cases::stage_due));
    Ok(match conn {
        Conn::Postgres(c) => query.for_update().skip_locked().load(&mut **c)?,
        Conn::Sqlite(c) => query.load(&mut **c)?,
    })
}

pub struct Candidate {
    pub case_id: i64,
    pub department_id: Option<i64>,
    pub stage: Stage,
    pub due: NaiveDateTime,
    pub late_days: u32,
}

/// Inserts the alerts in multi-row statements; returns those this call raised (another
/// scanner may have raised some first: the UNIQUE key keeps them once).
fn raise<'a>(conn: &mut Conn, level: &str, due_now: &'a [Candidate], now: NaiveDateTime) -> AppResult<Vec<&'a Candidate>> {
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
