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

/// Addresses of every supervisor with one.
pub fn supervisor_addresses(conn: &mut Conn) -> AppResult<Vec<String>> {
    use crate::storage::schema::users;
    let rows: Vec<Option<String>> = db_run!(conn, |c| users::table
        .filter(users::role.eq(crate::security::Role::Supervisor.as_str()))
        .select(users::email)
        .load(c))?;
    Ok(rows.into_iter().flatten().collect())
}

/// Supervisors hear of requests waiting for them (extension, reassignment, appeal, a reply to
/// audit) and of citizens dissatisfied with the handling.
pub fn queue_to_supervisors(conn: &mut Conn, case_id: i64, action: crate::domain::case_flow::Action, note: Option<&str>, now: DateTime<Utc>) -> AppResult<()> {
    let recipients = supervisor_addresses(conn)?;
    let subject = format!("【好差评】案件 #{case_id}：{}", action.label());
    let body = format!(
        "监督人员：\n\n案件 #{case_id} 有新的动态：{}。\n{}\n请登录好差评系统处理。\n",
        action.label(),
        note.map(|n| format!("说明：{n}\n")).unwrap_or_default()
    );
    enqueue(conn, action.as_str(), &recipients, &subject, &body, Some(case_id), now)
}

/// The approved reply goes to the citizen when the transaction left an address.
pub fn queue_reply_to_citizen(conn: &mut Conn, case: &crate::storage::models::Case, now: DateTime<Utc>) -> AppResult<()> {
    use crate::storage::schema::{reviews, transactions};
    let Some(review_id) = case.review_id else { return Ok(()) };
    let address: Option<Option<String>> = db_run!(conn, |c| reviews::table
        .find(review_id)
        .inner_join(transactions::table)
        .select(transactions::applicant_email)
        .first(c)
        .optional())?;
    let Some(address) = address.flatten() else { return Ok(()) };
    let subject = "【好差评】您的评价已收到答复".to_owned();
    let body = format!(
        "您好：\n\n您对政务服务的评价已由承办部门核实整改并答复：\n\n{}\n\n您可以通过原评价链接对处理结果进行满意度评价。\n",
        case.reply_text.as_deref().unwrap_or("")
    );
    enqueue(conn, "reply_to_citizen", &[address], &subject, &body, Some(case.id), now)
}

/// Due-soon and overdue notices to the department; escalations (督办) to supervisors.
pub fn queue_alert(conn: &mut Conn, case_id: i64, department_id: Option<i64>, level: &str, due: DateTime<Utc>, overdue_days: u32, now: DateTime<Utc>) -> AppResult<()> {
    let due_text = display_local(clock::to_db(due));
    match level {
        "escalated" => {
            let recipients = supervisor_addresses(conn)?;
            let subject = format!("【好差评】督办：案件 #{case_id} 已超期 {overdue_days} 个工作日");
            let body = format!("监督人员：\n\n案件 #{case_id} 的办理期限为 {due_text}，已超期 {overdue_days} 个工作日，请督办。\n");
            enqueue(conn, "escalated", &recipients, &subject, &body, Some(case_id), now)
        }
        _ => {
            let Some(department_id) = department_id else { return Ok(()) };
            let Some((name, address)) = department_address(conn, department_id)? else { return Ok(()) };
            let (subject, body) = if level == "overdue" {
                (
                    format!("【好差评】红灯：案件 #{case_id} 已超期"),
                    format!("{name}：\n\n案件 #{case_id} 的当前环节已于 {due_text} 到期，现已超期，请立即办理。\n"),
                )
            } else {
                (
                    format!("【好差评】黄灯：案件 #{case_id} 即将到期"),
                    format!("{name}：\n\n案件 #{case_id} 的当前环节将于 {due_text} 到期，请抓紧办理。\n"),
                )
            };
            enqueue(conn, level, &[address], &subject, &body, Some(case_id), now)
        }
    }
}
