//! Notifications by email through the outbox: a mail is a row written in the same transaction
//! as the change that causes it, so a rolled-back change sends nothing and a committed one is
//! never forgotten. The sender delivers rows later (see `mail_sender`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::clock::{self, display_local};
use crate::db_run;
use crate::error::AppResult;
use crate::storage::models::NewOutboxMail;
use crate::storage::schema::{departments, outbox};
use crate::storage::Conn;

/// Queues one mail. `recipients` are addresses; an empty list queues nothing.
pub fn enqueue(conn: &mut Conn, kind: &str, recipients: &[String], subject: &str, body: &str, case_id: Option<i64>, now: DateTime<Utc>) -> AppResult<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    let recipients = serde_json::to_string(recipients).map_err(crate::error::AppError::internal)?;
    let now = clock::to_db(now);
    let row = NewOutboxMail {
        kind,
        recipients: &recipients,
        subject,
        body,
        case_id,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
    };
    db_run!(conn, |c| diesel::insert_into(outbox::table).values(&row).execute(c))?;
    Ok(())
}

fn department_address(conn: &mut Conn, department_id: i64) -> AppResult<Option<(String, String)>> {
    let row: Option<(String, Option<String>)> = db_run!(conn, |c| departments::table
        .find(department_id)
        .select((departments::name, departments::email))
        .first(c)
        .optional())?;
    Ok(row.and_then(|(name, email)| email.map(|e| (name, e))))
}

/// 新案件: the department is told a case has arrived and when verification is due.
pub fn queue_new_case(conn: &mut Conn, case_id: i64, department_id: i64, feedback_due: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<()> {
    let Some((name, address)) = department_address(conn, department_id)? else {
        tracing::info!(case_id, department_id, "department has no email address; no mail queued");
        return Ok(());
    };
    let subject = format!("【好差评】新案件 #{case_id} 待核实");
    let body = format!(
        "{name}：\n\n您单位收到一件新的差评/投诉案件（编号 #{case_id}）。\n请于 {} 前联系评价人回访核实，并按期整改、回复。\n\n此邮件由好差评系统自动发送，请勿直接回复。\n",
        display_local(clock::to_db(feedback_due))
    );
    enqueue(conn, "new_case", &[address], &subject, &body, Some(case_id), now)
}
