//! The alerts a user may see: their own department's, or every department's for supervisors.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::access::Principal;
use crate::domain::access::Role;
use crate::clock::rfc3339_local;
use crate::db_run;
use crate::domain::sla::AlertLevel;
use crate::error::AppResult;
use crate::storage::schema::{alerts, cases, departments};
use crate::storage::Conn;

pub struct AlertQuery {
    pub level: Option<AlertLevel>,
    pub limit: i64,
    /// Also alerts on deadlines that no longer apply (answered, extended, reassigned cases).
    pub history: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    pub case_id: i64,
    pub level: String,
    pub stage: String,
    pub due_at: String,
    pub raised_at: String,
    pub department_code: Option<String>,
}

/// Newest first; a department user sees its own department's only.
pub fn list_alerts(conn: &mut Conn, principal: &Principal, query: &AlertQuery) -> AppResult<Vec<AlertView>> {
    let department = match principal {
        Principal::User { role: Role::Department, department_id, .. } => Some(department_id.unwrap_or(-1)),
        _ => None,
    };
    let rows: Vec<(i64, AlertLevel, String, NaiveDateTime, NaiveDateTime, Option<String>)> = db_run!(conn, |c| {
        let mut q = alerts::table
            .inner_join(cases::table.left_join(departments::table))
            .order(alerts::id.desc())
            .limit(query.limit)
            .select((alerts::case_id, alerts::level, alerts::stage, alerts::due_at, alerts::raised_at, departments::code.nullable()))
            .into_boxed();
        if let Some(d) = department {
            q = q.filter(cases::department_id.eq(d));
        }
        if let Some(level) = query.level {
            q = q.filter(alerts::level.eq(level));
        }
        if !query.history {
            // Only alerts on the deadline that is running now.
            q = q.filter(cases::stage_due.eq(alerts::due_at.nullable()));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(case_id, level, stage, due, raised, department_code)| AlertView {
            case_id,
            level: level.as_str().to_owned(),
            stage,
            due_at: rfc3339_local(due),
            raised_at: rfc3339_local(raised),
            department_code,
        })
        .collect())
}
