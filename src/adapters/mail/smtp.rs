//! Delivers the outbox over SMTP with lettre. A mail is claimed with a lease (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`, so several instances never take the same row), sent, and marked
//! sent; a failure is recorded and retried with exponential backoff capped at one minute.
//! Nothing is deleted: the outbox is also the record of what was sent.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};


use crate::clock;
use crate::db_run;
use crate::error::AppResult;
use crate::storage::schema::outbox;
use crate::storage::{Conn, DbPool};

/// How long a claimed mail stays reserved for the instance sending it: longer than a whole
/// batch can take at the SMTP timeout (10 mails × 10 s), so no other instance re-sends it.
const LEASE_SECONDS: i64 = 300;
const BATCH: i64 = 10;
pub const MAX_BACKOFF_SECONDS: i64 = 60;

/// 1 s, 2 s, 4 s … capped at one minute.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::seconds((1i64 << exponent).min(MAX_BACKOFF_SECONDS))
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedMail {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub recipients: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Reserves up to `BATCH` mails that are due at `now`.
pub fn claim(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<ClaimedMail>> {
    let now_db = clock::to_db(now);
    let lease: NaiveDateTime = clock::to_db(now + Duration::seconds(LEASE_SECONDS));
    let claimed = match conn {
        Conn::Postgres(c) => diesel::sql_query(
            "UPDATE outbox SET locked_until = $1 WHERE id IN (
                 SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2
                   AND (locked_until IS NULL OR locked_until < $2)
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, recipients, subject, body, attempts",
        )
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
        // SQLite has one writer at a time, so the UPDATE alone is the claim.
        Conn::Sqlite(c) => diesel::sql_query(
            "UPDATE outbox SET locked_until = ? WHERE id IN (
                 SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?
                   AND (locked_until IS NULL OR locked_until < ?)
                 ORDER BY id LIMIT ?)
             RETURNING id, recipients, subject, body, attempts",
        )
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
    };
    Ok(claimed)
}

fn mark_sent(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    db_run!(conn, |c| diesel::update(outbox::table.find(id))
        .set((outbox::sent_at.eq(clock::to_db(now)), outbox::locked_until.eq(None::<NaiveDateTime>), outbox::last_error.eq(None::<String>)))
        .execute(c))?;
    Ok(())
}

fn mark_failed(conn: &mut Conn, mail: &ClaimedMail, error: &str, now: DateTime<Utc>) -> AppResult<()> {
    let attempts = mail.attempts.saturating_add(1);
    let next = clock::to_db(now + backoff(attempts));
    let error: String = error.chars().take(1000).collect();
    db_run!(conn, |c| diesel::update(outbox::table.find(mail.id))
        .set((
            outbox::attempts.eq(attempts),
            outbox::next_attempt_at.eq(next),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(&error)),
        ))
        .execute(c))?;
    Ok(())
}

/// An SMTP relay from `HCP_SMTP_URL`: `smtp://[user:pass@]host[:port]`, plain SMTP, meant for
/// the district's own relay on the local network (which handles TLS onward).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_url(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let rest = url.strip_prefix("smtp://").ok_or_else(|| anyhow::anyhow!("HCP_SMTP_URL must start with smtp://"))?;
        let rest = rest.trim_end_matches('/');
        let (credentials, host_port) = match rest.rsplit_once('@') {
            Some((cred, hp)) => (Some(cred), hp),
            None => (None, rest),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| anyhow::anyhow!("bad SMTP port {p:?}"))?),
            None => (host_port, 25),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(StdDuration::from_secs(10)));
        if let Some(cred) = credentials {
            let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
            builder = builder.credentials(Credentials::new(user.to_owned(), pass.to_owned()));
        }
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("HCP_MAIL_FROM: {e}"))?;
        Ok(Mailer { transport: builder.build(), from })
    }

    async fn send(&self, mail: &ClaimedMail) -> Result<(), String> {
        let recipients: Vec<String> = serde_json::from_str(&mail.recipients).map_err(|e| format!("bad recipients: {e}"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            // A stable Message-ID lets receivers drop a duplicate should a crash between
            // sending and marking cause a resend.
            .message_id(Some(format!("<outbox-{}@haochaping>", mail.id)));
        for r in &recipients {
            let mailbox: Mailbox = r.parse().map_err(|e| format!("bad address {r:?}: {e}"))?;
            builder = builder.to(mailbox);
        }
        let body = Body::new_with_encoding(mail.body.clone(), ContentTransferEncoding::Base64).map_err(|_| "body encoding".to_owned())?;
        let message = builder
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body))
            .map_err(|e| format!("building the message: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: u32,
    pub failed: u32,
}

/// Sends every mail due at `now`, batch after batch, until none is left or one fails.
pub async fn deliver_due(pool: &DbPool, mailer: &Mailer, now: DateTime<Utc>) -> AppResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    loop {
        let batch = on_pool(pool, move |conn| claim(conn, now)).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        let mut failed_in_batch = false;
        for mail in batch {
            match mailer.send(&mail).await {
                Ok(()) => {
                    report.sent += 1;
                    on_pool(pool, move |conn| mark_sent(conn, mail.id, clock::now())).await?;
                }
                Err(error) => {
                    report.failed += 1;
                    failed_in_batch = true;
                    tracing::warn!(mail_id = mail.id, attempts = mail.attempts + 1, %error, "mail not sent; will retry");
                    on_pool(pool, move |conn| mark_failed(conn, &mail, &error, now)).await?;
                }
            }
        }
        // The server is probably down: leave the rest for the next round.
        if failed_in_batch {
            return Ok(report);
        }
    }
}

/// Blocking database work off the async executor, with a pooled connection.
async fn on_pool<T, F>(pool: &DbPool, f: F) -> AppResult<T>
where
    F: FnOnce(&mut Conn) -> AppResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || f(&mut pool.get()?)).await?
}

/// The mailer for `HCP_SMTP_URL`, or none (mails stay queued) when unset or unusable.
pub fn mailer_for(smtp_url: Option<&str>, mail_from: &str) -> Option<Mailer> {
    let url = smtp_url?;
    match Mailer::from_url(url, mail_from) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = %e, "HCP_SMTP_URL unusable; mails stay queued");
            None
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_one_minute() {
        let seconds: Vec<i64> = (1..=9).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(seconds, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(i32::MAX).num_seconds(), 60);
        assert_eq!(backoff(0).num_seconds(), 1);
    }

    #[test]
    fn smtp_urls_parse() {
        assert!(Mailer::from_url("smtp://127.0.0.1:2525", "a <a@b.c>").is_ok());
        assert!(Mailer::from_url("smtp://u:p@mail.local", "a@b.c").is_ok());
        assert!(Mailer::from_url("http://x", "a@b.c").is_err());
        assert!(Mailer::from_url("smtp://x:notaport", "a@b.c").is_err());
    }
}
