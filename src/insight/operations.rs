//! What an operator watches (`/metrics`): open and overdue cases per stage, the outbox's
//! backlog and failures, and the working-day calendar's status for this year and the next.

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;

use crate::clock;
use crate::db_run;
use crate::domain::calendar::{local_date, YearStatus};
use crate::domain::rules::Rules;
use crate::error::AppResult;
use crate::storage::schema::{cases, outbox, sms_outbox, webhook_deliveries};
use crate::storage::Conn;

pub struct StageCount {
    pub stage: String,
    pub open: i64,
    /// Past the stage's deadline now.
    pub overdue: i64,
}

pub struct OutboxBacklog {
    /// The outbox's kind of delivery (`mail`, `webhook`, `sms`).
    pub channel: &'static str,
    pub pending: i64,
    /// Pending and failed at least once.
    pub failing: i64,
}

pub struct Snapshot {
    pub stages: Vec<StageCount>,
    pub outbox: Vec<OutboxBacklog>,
    /// (year, official) for this year and the next.
    pub calendar: Vec<(i32, bool)>,
}

pub fn snapshot(conn: &mut Conn, rules: &Rules, now: DateTime<Utc>) -> AppResult<Snapshot> {
    let now_db = clock::to_db(now);
    let open: Vec<(String, i64)> = db_run!(conn, |c| cases::table
        .filter(cases::state.ne("closed"))
        .group_by(cases::state)
        .select((cases::state, diesel::dsl::count_star()))
        .load(c))?;
    let overdue: Vec<(String, i64)> = db_run!(conn, |c| cases::table
        .filter(cases::state.ne("closed"))
        .filter(cases::stage_due.lt(now_db))
        .group_by(cases::state)
        .select((cases::state, diesel::dsl::count_star()))
        .load(c))?;
    // Every open stage, with zeros, so that a series does not vanish when its count is 0.
    let stages = crate::domain::case_flow::CaseState::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| {
            let name = s.as_str().to_owned();
            let find = |rows: &[(String, i64)]| rows.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).unwrap_or(0);
            StageCount { open: find(&open), overdue: find(&overdue), stage: name }
        })
        .collect();
    let pending: i64 = db_run!(conn, |c| outbox::table.filter(outbox::sent_at.is_null()).filter(outbox::dead_at.is_null()).count().get_result(c))?;
    let failing: i64 = db_run!(conn, |c| outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::dead_at.is_null())
        .filter(outbox::attempts.gt(0))
        .count()
        .get_result(c))?;
    let this = local_date(now).year();
    let calendar = [this, this + 1].into_iter().map(|y| (y, rules.calendar.status_of(y) == Some(YearStatus::Official))).collect();
    let hooks_pending: i64 = db_run!(conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::delivered_at.is_null())
        .filter(webhook_deliveries::dead_at.is_null())
        .count()
        .get_result(c))?;
    let hooks_failing: i64 = db_run!(conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::delivered_at.is_null())
        .filter(webhook_deliveries::dead_at.is_null())
        .filter(webhook_deliveries::attempts.gt(0))
        .count()
        .get_result(c))?;
    let sms_pending: i64 = db_run!(conn, |c| sms_outbox::table.filter(sms_outbox::sent_at.is_null()).filter(sms_outbox::dead_at.is_null()).count().get_result(c))?;
    let sms_failing: i64 = db_run!(conn, |c| sms_outbox::table
        .filter(sms_outbox::sent_at.is_null())
        .filter(sms_outbox::dead_at.is_null())
        .filter(sms_outbox::attempts.gt(0))
        .count()
        .get_result(c))?;
    let outbox = vec![
        OutboxBacklog { channel: "mail", pending, failing },
        OutboxBacklog { channel: "webhook", pending: hooks_pending, failing: hooks_failing },
        OutboxBacklog { channel: "sms", pending: sms_pending, failing: sms_failing },
    ];
    Ok(Snapshot { stages, outbox, calendar })
}
