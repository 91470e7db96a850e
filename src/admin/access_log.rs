//! The access log of personal data: every view of a citizen's unmasked name or phone, for
//! admins to query (`GET /api/v1/access-log`) and export as CSV.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::clock;
use crate::db_run;
use crate::error::{AppError, AppResult};
use crate::storage::schema::personal_data_views;
use crate::storage::Conn;

/// Most entries one query answers; a wider period is narrowed with `from`/`to`.
pub const MAX_ENTRIES: i64 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct AccessLogFilter {
    pub case_id: Option<i64>,
    /// A username.
    pub user: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessLogEntry {
    pub id: i64,
    pub at: String,
    pub username: String,
    /// Role and username, as on the audit chain.
    pub actor: String,
    pub case_id: i64,
    /// `applicant_name`, `applicant_phone`, `contact_name`, `contact_phone`.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessLog {
    pub items: Vec<AccessLogEntry>,
    /// Entries matching the filter; more than `items` holds when over the limit.
    pub total: i64,
}

/// Entries matching the filter, newest first.
pub fn query(conn: &mut Conn, filter: &AccessLogFilter) -> AppResult<AccessLog> {
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to < from {
            return Err(AppError::invalid("to", "is before from"));
        }
    }
    macro_rules! selected {
        () => {{
            let mut q = personal_data_views::table.into_boxed();
            if let Some(id) = filter.case_id {
                q = q.filter(personal_data_views::case_id.eq(id));
            }
            if let Some(user) = &filter.user {
                q = q.filter(personal_data_views::username.eq(user.clone()));
            }
            if let Some(from) = filter.from {
                q = q.filter(personal_data_views::at.ge(clock::to_db(from)));
            }
            if let Some(to) = filter.to {
                q = q.filter(personal_data_views::at.le(clock::to_db(to)));
            }
            q
        }};
    }
    let total: i64 = db_run!(conn, |c| selected!().count().get_result(c))?;
    let rows: Vec<(i64, NaiveDateTime, String, String, i64, String)> = db_run!(conn, |c| selected!()
        .order((personal_data_views::at.desc(), personal_data_views::id.desc()))
        .limit(MAX_ENTRIES)
        .select((
            personal_data_views::id,
            personal_data_views::at,
            personal_data_views::username,
            personal_data_views::actor,
            personal_data_views::case_id,
            personal_data_views::fields,
        ))
        .load(c))?;
    let items = rows
        .into_iter()
        .map(|(id, at, username, actor, case_id, fields)| AccessLogEntry {
            id,
            at: clock::rfc3339_local(at),
            username,
            actor,
            case_id,
            fields: fields.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect(),
        })
        .collect();
    Ok(AccessLog { items, total })
}

/// The same entries as CSV (UTF-8 with BOM, for spreadsheets).
pub fn csv(log: &AccessLog) -> AppResult<Vec<u8>> {
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    out.write_record(["时间", "用户", "角色与用户", "案件", "查看的字段"]).map_err(AppError::internal)?;
    for e in &log.items {
        let record = [e.at.clone(), e.username.clone(), e.actor.clone(), e.case_id.to_string(), e.fields.join(" ")];
        out.write_record(record.iter().map(|cell| crate::adapters::render::spreadsheet_safe(cell))).map_err(AppError::internal)?;
    }
    if log.total > log.items.len() as i64 {
        let note = format!("（仅列出最近 {} 条，共 {} 条：请用 from/to 缩小时间范围分次导出）", log.items.len(), log.total);
        out.write_record([note.as_str(), "", "", "", ""]).map_err(AppError::internal)?;
    }
    out.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("csv: {e}")))
}
