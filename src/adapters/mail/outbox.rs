//! Notifications by email through the outbox: a mail is a row written in the same transaction
//! as the change that causes it, so a rolled-back change sends nothing and a committed one is
//! never forgotten. The sender delivers rows later (see `smtp`).
//!
//! Links are written as placeholders ([`case_link`], [`RATING_LINK`]) and made at sending time
//! from `HCP_PUBLIC_URL` and the signing key: the stored row never holds a citizen's rating
//! token (a credential), and a link is signed when it is sent.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clock::{self, display_local};
use crate::db_run;
use crate::domain::sla::{AlertLevel, Stage};
use crate::error::AppResult;
use crate::storage::models::NewOutboxMail;
use crate::storage::schema::{departments, outbox};
use crate::storage::Conn;

/// Where a staff mail links to the case page (`{{case_url:ID}}`).
pub fn case_link(case_id: i64) -> String {
    format!("{{{{case_url:{case_id}}}}}")
}

/// Where a citizen's mail links to the rating page of the case's transaction.
pub const RATING_LINK: &str = "{{rating_url}}";

/// The service's address (`HCP_PUBLIC_URL`) in a staff mail, made at sending time.
pub const PUBLIC_URL: &str = "{{public_url}}";

/// Where a staff mail links to a page of the service, e.g. `/analytics/topics/7`.
pub fn public_link(path: &str) -> String {
    format!("{PUBLIC_URL}{path}")
}

/// What the placeholders become when a mail is sent.
pub struct LinkTargets<'a> {
    pub public_url: &'a str,
    /// The signed rating link of the mail's case, when it has one.
    pub rating_url: Option<String>,
}

/// The body with its placeholders made links; a rating link without a transaction (a
/// complaint's reply) becomes the rating page's general advice instead.
pub fn render_links(body: &str, targets: &LinkTargets<'_>) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body;
    while let Some(start) = rest.find("{{case_url:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{{case_url:".len()..];
        match after.find("}}") {
            Some(end) if after[..end].bytes().all(|b| b.is_ascii_digit()) => {
                out.push_str(&format!("{}/cases/{}", targets.public_url, &after[..end]));
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{case_url:");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace(RATING_LINK, targets.rating_url.as_deref().unwrap_or("（请使用短信或二维码中的原评价链接）")).replace(PUBLIC_URL, targets.public_url)
}

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

/// 新案件: each department is told a case `(case, department, feedback due)` has arrived and
/// when verification is due. One lookup of the addresses and one INSERT for all of them.
pub fn queue_new_cases(conn: &mut Conn, cases: &[(i64, i64, DateTime<Utc>)], now: DateTime<Utc>) -> AppResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let mut department_ids: Vec<i64> = cases.iter().map(|&(_, d, _)| d).collect();
    department_ids.sort_unstable();
    department_ids.dedup();
    let found: Vec<(i64, String, Option<String>)> = db_run!(conn, |c| departments::table
        .filter(departments::id.eq_any(&department_ids))
        .select((departments::id, departments::name, departments::email))
        .load(c))?;
    let addresses: std::collections::HashMap<i64, (String, String)> =
        found.into_iter().filter_map(|(id, name, email)| email.map(|e| (id, (name, e)))).collect();
    let mut mails = Vec::with_capacity(cases.len());
    for &(case_id, department_id, feedback_due) in cases {
        let Some((name, address)) = addresses.get(&department_id) else {
            tracing::info!(case_id, department_id, "department has no email address; no mail queued");
            continue;
        };
        let recipients = serde_json::to_string(&[address]).map_err(crate::error::AppError::internal)?;
        let subject = format!("【好差评】新案件 #{case_id} 待核实");
        let body = format!(
            "{name}：\n\n您单位收到一件新的差评/投诉案件（编号 #{case_id}）。\n请于 {} 前联系评价人回访核实，并按期整改、回复。\n\n查看并办理：{}\n\n此邮件由好差评系统自动发送，请勿直接回复。\n",
            display_local(clock::to_db(feedback_due)),
            case_link(case_id)
        );
        mails.push((case_id, recipients, subject, body));
    }
    let now = clock::to_db(now);
    let rows: Vec<NewOutboxMail<'_>> = mails
        .iter()
        .map(|(case_id, recipients, subject, body)| NewOutboxMail {
            kind: "new_case",
            recipients,
            subject,
            body,
            case_id: Some(*case_id),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        })
        .collect();
    if !rows.is_empty() {
        db_run!(conn, |c| diesel::insert_into(outbox::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// Addresses of every supervisor with one.
pub fn supervisor_addresses(conn: &mut Conn) -> AppResult<Vec<String>> {
    use crate::storage::schema::users;
    let rows: Vec<Option<String>> = db_run!(conn, |c| users::table
        .filter(users::role.eq(crate::domain::access::Role::Supervisor.as_str()))
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
        "监督人员：\n\n案件 #{case_id} 有新的动态：{}。\n{}\n请登录好差评系统处理：{}\n",
        action.label(),
        note.map(|n| format!("说明：{n}\n")).unwrap_or_default(),
        case_link(case_id)
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
        "您好：\n\n您对政务服务的评价已由承办部门核实整改并答复：\n\n{}\n\n请对处理结果进行满意度评价：{RATING_LINK}\n",
        case.reply_text.as_deref().unwrap_or("")
    );
    enqueue(conn, "reply_to_citizen", &[address], &subject, &body, Some(case.id), now)
}

/// Case numbers listed in one digest mail; the rest are counted.
pub const DIGEST_LISTED: usize = 50;

/// One alert a scan raised, as its digest mail lists it.
pub struct AlertNotice {
    pub case_id: i64,
    pub department_id: Option<i64>,
    pub stage: Stage,
    pub due: NaiveDateTime,
    pub late_days: u32,
}

/// Due-soon and overdue notices to each department, escalations (督办) to the supervisors: one
/// digest per recipient and level for the alerts a scan raised, so that a department with many
/// late cases gets one mail listing them rather than one mail each.
pub fn queue_alert_digests(conn: &mut Conn, level: AlertLevel, raised: &[&AlertNotice], now: DateTime<Utc>) -> AppResult<()> {
    if raised.is_empty() {
        return Ok(());
    }
    if level == AlertLevel::Escalated {
        let recipients = supervisor_addresses(conn)?;
        let subject = format!("【好差评】督办：{} 件案件超期 3 个工作日以上", raised.len());
        let body = format!("监督人员：\n\n以下案件已超期 3 个工作日以上，请督办：\n\n{}", digest_lines(raised, true));
        return enqueue(conn, level.as_str(), &recipients, &subject, &body, single_case(raised), now);
    }
    let mut by_department: std::collections::BTreeMap<i64, Vec<&AlertNotice>> = Default::default();
    for alert in raised {
        if let Some(department_id) = alert.department_id {
            by_department.entry(department_id).or_default().push(alert);
        }
    }
    for (department_id, alerts) in by_department {
        let Some((name, address)) = department_address(conn, department_id)? else { continue };
        let (subject, intro) = if level == AlertLevel::Overdue {
            (format!("【好差评】红灯：{} 件案件已超期", alerts.len()), "以下案件的当前环节已到期，现已超期，请立即办理：")
        } else {
            (format!("【好差评】黄灯：{} 件案件即将到期", alerts.len()), "以下案件的当前环节即将到期，请抓紧办理：")
        };
        let body = format!("{name}：\n\n{intro}\n\n{}", digest_lines(&alerts, level == AlertLevel::Overdue));
        enqueue(conn, level.as_str(), &[address], &subject, &body, single_case(&alerts), now)?;
    }
    Ok(())
}

/// A digest about one case is linked to it, as a single mail would be.
fn single_case(alerts: &[&AlertNotice]) -> Option<i64> {
    match alerts {
        [only] => Some(only.case_id),
        _ => None,
    }
}

fn digest_lines(alerts: &[&AlertNotice], with_late_days: bool) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for alert in alerts.iter().take(DIGEST_LISTED) {
        let _ = write!(text, "  案件 #{}　期限 {}", alert.case_id, display_local(alert.due));
        if with_late_days && alert.late_days > 0 {
            let _ = write!(text, "　已超期 {} 个工作日", alert.late_days);
        }
        let _ = write!(text, "　{}", case_link(alert.case_id));
        text.push('\n');
    }
    if alerts.len() > DIGEST_LISTED {
        let _ = writeln!(text, "  另有 {} 件，请登录好差评系统查看。", alerts.len() - DIGEST_LISTED);
    }
    text.push_str("\n此邮件由好差评系统自动发送，请勿直接回复。\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_links_when_sent() {
        let body = format!("案件 #7：{}\n案件 #12：{}\n评价：{RATING_LINK}\n{{{{case_url:x}}}}", case_link(7), case_link(12));
        let sent = render_links(&body, &LinkTargets { public_url: "https://hcp.example.gov.cn", rating_url: Some("https://hcp.example.gov.cn/rate/1.a.b".into()) });
        assert_eq!(
            sent,
            "案件 #7：https://hcp.example.gov.cn/cases/7\n案件 #12：https://hcp.example.gov.cn/cases/12\n评价：https://hcp.example.gov.cn/rate/1.a.b\n{{case_url:x}}"
        );
        let without = render_links(RATING_LINK, &LinkTargets { public_url: "https://h", rating_url: None });
        assert!(without.contains("原评价链接"), "{without}");
        let page = render_links(&public_link("/analytics/topics/7"), &LinkTargets { public_url: "https://h", rating_url: None });
        assert_eq!(page, "https://h/analytics/topics/7");
    }
}
