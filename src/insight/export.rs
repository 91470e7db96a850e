//! Cases with their whole lifecycle as CSV, for departments' own KPIs: opened, when each state
//! was first entered (from the audit log), replied, closed, the deadlines, and the working days
//! late now. A department user exports only its own department's cases.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::domain::access::Principal;
use crate::domain::rules::Rules;
use crate::cases::work::alert_of;
use crate::clock;
use crate::db_run;
use crate::error::{AppError, AppResult};
use crate::domain::access::Role;
use crate::insight::stats::Period;
use crate::storage::models::Case;
use crate::storage::schema::{audit_events, cases, departments};
use crate::storage::Conn;

/// More cases than this in one export are refused: split the period.
pub const MAX_ROWS: i64 = 200_000;

const HEADERS: [&str; 19] = [
    "案件编号", "来源", "部门编码", "部门", "当前状态", "立案时间", "进入整改", "进入待回复", "进入待审核", "进入申诉", "回复时间", "办结时间",
    "核实期限", "答复期限", "审核期限", "延期", "预警", "超期工作日", "按期办结",
];

fn time(t: Option<NaiveDateTime>) -> String {
    t.map(clock::rfc3339_local).unwrap_or_default()
}

pub fn export(conn: &mut Conn, principal: &Principal, period: Period, now: DateTime<Utc>, rules: &Rules) -> AppResult<Vec<u8>> {
    let scope = match principal {
        Principal::User { role: Role::Admin | Role::Supervisor, .. } => None,
        Principal::User { role: Role::Department, department_id: Some(d), .. } => Some(*d),
        _ => return Err(AppError::Forbidden("case exports are for staff".into())),
    };
    let (start, end) = (clock::to_db(period.start), clock::to_db(period.end));
    macro_rules! selected {
        () => {{
            let mut q = cases::table
                .left_join(departments::table)
                .filter(cases::opened_at.ge(start))
                .filter(cases::opened_at.lt(end))
                .into_boxed();
            if let Some(d) = scope {
                q = q.filter(cases::department_id.eq(d));
            }
            q
        }};
    }
    let count: i64 = db_run!(conn, |c| selected!().count().get_result(c))?;
    if count > MAX_ROWS {
        return Err(AppError::invalid("from", format!("{count} cases; at most {MAX_ROWS} per export, narrow the period")));
    }
    let rows: Vec<(Case, Option<String>, Option<String>)> = db_run!(conn, |c| selected!()
        .order(cases::id.asc())
        .select((Case::as_select(), departments::code.nullable(), departments::name.nullable()))
        .load(c))?;
    // When each case first entered each state: one grouped query over the audit log.
    let entered: Vec<(Option<i64>, Option<String>, Option<NaiveDateTime>)> = db_run!(conn, |c| {
        let mut q = audit_events::table
            .inner_join(cases::table.on(cases::id.nullable().eq(audit_events::case_id)))
            .filter(cases::opened_at.ge(start))
            .filter(cases::opened_at.lt(end))
            .filter(audit_events::to_state.is_not_null())
            .group_by((audit_events::case_id, audit_events::to_state))
            .select((audit_events::case_id, audit_events::to_state, diesel::dsl::min(audit_events::at)))
            .into_boxed();
        if let Some(d) = scope {
            q = q.filter(cases::department_id.eq(d));
        }
        q.load(c)
    })?;
    let mut first: HashMap<(i64, String), NaiveDateTime> = HashMap::new();
    for (case_id, state, at) in entered {
        if let (Some(id), Some(state), Some(at)) = (case_id, state, at) {
            first.insert((id, state), at);
        }
    }
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    out.write_record(HEADERS).map_err(AppError::internal)?;
    for (case, code, name) in rows {
        let (alert, overdue_days) = alert_of(&case, now, rules);
        let entered = |state: &str| time(first.get(&(case.id, state.to_owned())).copied());
        let on_time = match (case.state.as_str(), case.replied_at, case.reply_due) {
            ("closed", Some(replied), Some(due)) => {
                if replied <= due && case.supervision_due.is_none_or(|s| case.closed_at.is_some_and(|c| c <= s)) { "是" } else { "否" }
            }
            _ => "",
        };
        let record = vec![
            case.id.to_string(),
            crate::insight::stats::channel_label(&case.source).to_owned(),
            code.unwrap_or_default(),
            name.unwrap_or_else(|| "待分派".into()),
            case.state.label().to_owned(),
            time(Some(case.opened_at)),
            entered("rectification"),
            entered("reply"),
            entered("supervision"),
            entered("appeal"),
            time(case.replied_at),
            time(case.closed_at),
            time(case.feedback_due),
            time(case.reply_due),
            time(case.supervision_due),
            case.extension.as_str().to_owned(),
            alert.map(|a| a.as_str().to_owned()).unwrap_or_default(),
            overdue_days.to_string(),
            on_time.to_owned(),
        ];
        out.write_record(record.iter().map(|cell| crate::adapters::render::spreadsheet_safe(cell))).map_err(AppError::internal)?;
    }
    out.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("csv: {e}")))
}
