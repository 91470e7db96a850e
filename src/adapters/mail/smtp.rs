//! Delivers the outbox over SMTP with lettre. A mail is claimed with a lease (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`, so several instances never take the same row), sent, and marked
//! sent; a failure is recorded and retried with exponential backoff capped at one minute.
//! Nothing is deleted: the outbox is also the record of what was sent. TLS is rustls (with
//! ring), the system's roots plus `HCP_SMTP_CA_FILE`.

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
use crate::storage::{on_pool, Conn, DbPool};

/// How long a claimed mail stays reserved for the instance sending it: longer than a whole
/// batch can take at the SMTP timeout (10 mails × 10 s), so no other instance re-sends it.
const LEASE_SECONDS: i64 = 300;
const BATCH: i64 = 10;
pub const MAX_BACKOFF_SECONDS: i64 = 60;

/// 1 s, 2 s, 4 s … capped at one minute.
pub fn backoff(attempts: i32) -> Duration {
    crate::domain::retry::backoff(attempts, MAX_BACKOFF_SECONDS)
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
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub case_id: Option<i64>,
}

/// Reserves up to `BATCH` mails that are due at `now`.
pub fn claim(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<ClaimedMail>> {
    let now_db = clock::to_db(now);
    let lease: NaiveDateTime = clock::to_db(now + Duration::seconds(LEASE_SECONDS));
    let claimed = match conn {
        Conn::Postgres(c) => diesel::sql_query(
            "UPDATE outbox SET locked_until = $1 WHERE id IN (
                 SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $2
                   AND (locked_until IS NULL OR locked_until < $2)
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, recipients, subject, body, attempts, case_id",
        )
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
        // SQLite has one writer at a time, so the UPDATE alone is the claim.
        Conn::Sqlite(c) => diesel::sql_query(
            "UPDATE outbox SET locked_until = ? WHERE id IN (
                 SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= ?
                   AND (locked_until IS NULL OR locked_until < ?)
                 ORDER BY id LIMIT ?)
             RETURNING id, recipients, subject, body, attempts, case_id",
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

/// Records a failed attempt: retried after the backoff, or dead-lettered after the last one.
fn mark_failed(conn: &mut Conn, mail: &ClaimedMail, error: &str, now: DateTime<Utc>, max_attempts: i32) -> AppResult<bool> {
    let attempts = mail.attempts.saturating_add(1);
    let dead = attempts >= max_attempts;
    let next = clock::to_db(now + backoff(attempts));
    let error: String = error.chars().take(1000).collect();
    db_run!(conn, |c| diesel::update(outbox::table.find(mail.id))
        .set((
            outbox::attempts.eq(attempts),
            outbox::next_attempt_at.eq(next),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(&error)),
            outbox::dead_at.eq(dead.then(|| clock::to_db(now))),
        ))
        .execute(c))?;
    Ok(dead)
}

/// Attempts before a mail is dead-lettered, unless `HCP_MAIL_MAX_ATTEMPTS` says otherwise:
/// with the backoff capped at a minute, about an hour and a half of a relay being down.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 100;

/// How to reach the relay, from `HCP_SMTP_URL` and its companions:
/// `smtp://host[:port]` (plain, port 25; `?tls=required` or `?tls=opportunistic` for STARTTLS),
/// `smtps://host[:port]` (TLS from the first byte, port 465). The user and password come from
/// `HCP_SMTP_USER`/`HCP_SMTP_PASSWORD` (or the URL's `user:password@`); `HCP_SMTP_CA_FILE`
/// adds a PEM CA to the system's roots, for a relay with the district's own certificate.
#[derive(Debug, Clone, Default)]
pub struct SmtpSettings {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<std::path::PathBuf>,
}

/// How the connection is secured, as the log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTlsOpportunistic,
    StartTlsRequired,
    ImplicitTls,
}

/// An SMTP relay, checked at start: a URL that cannot work stops the start with the reason.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    pub security: Security,
    pub authenticated: bool,
    links: Option<MailLinks>,
    /// Attempts before a mail is dead-lettered.
    pub max_attempts: i32,
}

/// What the links in a mail are made from when it is sent.
pub struct MailLinks {
    pub public_url: String,
    pub signer: crate::adapters::security::RatingSigner,
}

impl Mailer {
    /// A plain relay at `url` without credentials (tests, and a relay on the same host).
    pub fn from_url(url: &str, from: &str) -> anyhow::Result<Mailer> {
        Self::new(&SmtpSettings { url: url.to_owned(), ..SmtpSettings::default() }, from)
    }

    pub fn new(settings: &SmtpSettings, from: &str) -> anyhow::Result<Mailer> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let bad = |why: String| anyhow::anyhow!("HCP_SMTP_URL {:?}: {why}", redact_password(&settings.url));
        let url = url::Url::parse(&settings.url).map_err(|e| bad(format!("{e}; expected smtp://host[:port] or smtps://host[:port]")))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(bad(format!("unknown scheme {other}:// (smtp:// or smtps://)"))),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host".into()))?.trim_matches(['[', ']']).to_owned();
        let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
        let mut starttls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") => starttls = Some(Security::StartTlsRequired),
                ("tls", "opportunistic") => starttls = Some(Security::StartTlsOpportunistic),
                ("tls", "none") => starttls = Some(Security::Plain),
                ("tls", other) => return Err(bad(format!("tls={other}: required, opportunistic or none"))),
                (other, _) => return Err(bad(format!("unknown parameter {other} (only tls=)"))),
            }
        }
        let security = match (implicit, starttls) {
            (true, None) => Security::ImplicitTls,
            (true, Some(_)) => return Err(bad("smtps:// is TLS from the start; tls= is for smtp://".into())),
            (false, chosen) => chosen.unwrap_or(Security::Plain),
        };
        let decode = |text: &str| percent_decode(text);
        let user = settings.user.clone().or_else(|| (!url.username().is_empty()).then(|| decode(url.username())));
        let password = settings.password.clone().or_else(|| url.password().map(decode));
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if user.is_some() && security == Security::Plain && !loopback {
            return Err(bad("a password would cross the network in clear: use smtps:// or ?tls=required".into()));
        }
        let tls = if security == Security::Plain {
            Tls::None
        } else {
            let mut parameters = TlsParameters::builder(host.clone());
            if let Some(file) = &settings.ca_file {
                let pem = std::fs::read(file).map_err(|e| anyhow::anyhow!("HCP_SMTP_CA_FILE {}: {e}", file.display()))?;
                let ca = Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("HCP_SMTP_CA_FILE {}: {e}", file.display()))?;
                parameters = parameters.add_root_certificate(ca);
            }
            let parameters = parameters.build_rustls().map_err(|e| bad(format!("TLS: {e}")))?;
            match security {
                Security::ImplicitTls => Tls::Wrapper(parameters),
                Security::StartTlsRequired => Tls::Required(parameters),
                _ => Tls::Opportunistic(parameters),
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(StdDuration::from_secs(10)));
        let authenticated = user.is_some();
        if let Some(user) = user {
            builder = builder.credentials(Credentials::new(user, password.unwrap_or_default()));
        }
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("HCP_MAIL_FROM: {e}"))?;
        Ok(Mailer { transport: builder.build(), from, security, authenticated, links: None, max_attempts: DEFAULT_MAX_ATTEMPTS })
    }

    /// Links in mails point at `public_url`; rating links are signed with `signer`.
    /// Dead-letter a mail after this many attempts (`HCP_MAIL_MAX_ATTEMPTS`).
    pub fn with_max_attempts(mut self, max_attempts: i32) -> Mailer {
        self.max_attempts = max_attempts.max(1);
        self
    }

    pub fn with_links(mut self, public_url: &str, signer: crate::adapters::security::RatingSigner) -> Mailer {
        self.links = Some(MailLinks { public_url: public_url.trim_end_matches('/').to_owned(), signer });
        self
    }

    /// The body as sent: placeholders made links (relative ones without [`Mailer::with_links`]).
    fn body_of(&self, mail: &ClaimedMail, transaction_no: Option<&str>, now: DateTime<Utc>) -> String {
        let public_url = self.links.as_ref().map(|l| l.public_url.as_str()).unwrap_or_default();
        let rating_url = match (&self.links, transaction_no) {
            (Some(links), Some(no)) => {
                let expires = now + Duration::days(crate::domain::intake_rules::RATING_LINK_DAYS);
                Some(format!("{public_url}/rate/{}", links.signer.sign(no, expires)))
            }
            _ => None,
        };
        super::outbox::render_links(&mail.body, &super::outbox::LinkTargets { public_url, rating_url })
    }

    async fn send(&self, mail: &ClaimedMail, body: String) -> Result<(), String> {
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
        let body = Body::new_with_encoding(body, ContentTransferEncoding::Base64).map_err(|_| "body encoding".to_owned())?;
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
    /// Mails that used up their attempts in this round.
    pub dead: u32,
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
            let transaction_no = match (mail.body.contains(super::outbox::RATING_LINK), mail.case_id) {
                (true, Some(case_id)) => on_pool(pool, move |conn| reviewed_transaction(conn, case_id)).await?,
                _ => None,
            };
            let body = mailer.body_of(&mail, transaction_no.as_deref(), now);
            match mailer.send(&mail, body).await {
                Ok(()) => {
                    report.sent += 1;
                    on_pool(pool, move |conn| mark_sent(conn, mail.id, clock::now())).await?;
                }
                Err(error) => {
                    report.failed += 1;
                    failed_in_batch = true;
                    tracing::warn!(mail_id = mail.id, attempts = mail.attempts + 1, %error, "mail not sent; will retry");
                    let max = mailer.max_attempts;
                    if on_pool(pool, move |conn| mark_failed(conn, &mail, &error, now, max)).await? {
                        report.dead += 1;
                    }
                }
            }
        }
        // The server is probably down: leave the rest for the next round.
        if failed_in_batch {
            return Ok(report);
        }
    }
}

/// The transaction a review case is about (for the citizen's rating link).
fn reviewed_transaction(conn: &mut Conn, case_id: i64) -> AppResult<Option<String>> {
    use crate::storage::schema::{cases, reviews, transactions};
    Ok(db_run!(conn, |c| cases::table
        .find(case_id)
        .inner_join(reviews::table.on(cases::review_id.eq(reviews::id.nullable())))
        .inner_join(transactions::table.on(reviews::transaction_id.eq(transactions::id)))
        .select(transactions::transaction_no)
        .first::<String>(c)
        .optional())?)
}


fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The URL for messages, its password (if any) left out.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
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
        let security = |url: &str| Mailer::from_url(url, "a <a@b.c>").map(|m| m.security).map_err(|e| e.to_string());
        assert_eq!(security("smtp://127.0.0.1:2525"), Ok(Security::Plain));
        assert_eq!(security("smtps://mail.example.gov.cn"), Ok(Security::ImplicitTls));
        assert_eq!(security("smtp://mail.example.gov.cn:587?tls=required"), Ok(Security::StartTlsRequired));
        assert_eq!(security("smtp://mail.example.gov.cn?tls=opportunistic"), Ok(Security::StartTlsOpportunistic));
        assert!(security("smtp://u:p@127.0.0.1").is_ok(), "credentials to a relay on this host");
        let refused = security("smtp://u:secret@mail.example.gov.cn").expect_err("a password in clear over the network");
        assert!(refused.contains("smtps://") && !refused.contains("secret"), "{refused}");
        assert!(security("smtps://u:p@mail.example.gov.cn").is_ok());
        for bad in ["http://x", "smtp://x:notaport", "smtps://x?tls=required", "smtp://x?tls=maybe", "smtp://x?starttls=1", "smtp://"] {
            assert!(security(bad).is_err(), "{bad}");
        }
    }
}
