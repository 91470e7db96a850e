//! Mails that used up their attempts (dead letters): listed for admins with the last error, and
//! sent again by hand once the relay or the address is fixed. Audited.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::admin::master_data::audit_admin_change;
use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::error::{AppError, AppResult};
use crate::storage::schema::outbox;
use crate::storage::Conn;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadMail {
    pub id: i64,
    /// What the mail was about (`new_case`, `approve`, `overdue`…).
    pub kind: String,
    pub subject: String,
    /// How many addresses it was for (the addresses themselves are personal data).
    pub recipients: usize,
    pub case_id: Option<i64>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: String,
    pub dead_at: String,
}

/// The dead letters, newest first.
pub fn dead_mails(conn: &mut Conn, limit: i64) -> AppResult<Vec<DeadMail>> {
    type Row = (i64, String, String, String, Option<i64>, i32, Option<String>, NaiveDateTime, Option<NaiveDateTime>);
    let rows: Vec<Row> = db_run!(conn, |c| outbox::table
        .filter(outbox::dead_at.is_not_null())
        .filter(outbox::sent_at.is_null())
        .order(outbox::id.desc())
        .limit(limit)
        .select((outbox::id, outbox::kind, outbox::subject, outbox::recipients, outbox::case_id, outbox::attempts, outbox::last_error, outbox::created_at, outbox::dead_at))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, subject, recipients, case_id, attempts, last_error, created_at, dead_at)| DeadMail {
            id,
            kind,
            subject,
            recipients: serde_json::from_str::<Vec<String>>(&recipients).map(|r| r.len()).unwrap_or(0),
            case_id,
            attempts,
            last_error,
            created_at: rfc3339_local(created_at),
            dead_at: dead_at.map(rfc3339_local).unwrap_or_default(),
        })
        .collect())
}

/// Gives a dead mail its attempts again, due now; 404 when there is no such mail, 409 when it is
/// not dead (sent, or still being retried).
pub fn retry_mail(conn: &mut Conn, actor: &str, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    conn.transaction(|conn| {
        let found: Option<(Option<NaiveDateTime>, Option<NaiveDateTime>)> =
            db_run!(conn, |c| outbox::table.find(id).select((outbox::dead_at, outbox::sent_at)).first(c).optional())?;
        match found {
            None => return Err(AppError::NotFound(format!("no mail {id}"))),
            Some((Some(_), None)) => {}
            Some(_) => return Err(AppError::conflict("mail_not_dead", "only a dead-lettered mail is sent again by hand; this one is sent or still being retried")),
        }
        db_run!(conn, |c| diesel::update(outbox::table.find(id))
            .set((outbox::dead_at.eq(None::<NaiveDateTime>), outbox::attempts.eq(0), outbox::next_attempt_at.eq(clock::to_db(now)), outbox::locked_until.eq(None::<NaiveDateTime>)))
            .execute(c))?;
        audit_admin_change(conn, actor, "retry_mail", serde_json::json!({"id": id}), now)?;
        Ok(())
    })
}
