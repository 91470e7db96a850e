//! Sends the SMS outbox through an HTTP SMS gateway: one JSON POST per message, its body built
//! from a configurable shape (by default the parameter set of Alibaba Cloud's SendSms, which most
//! 政务短信平台 mirror), retried with backoff, dead after the last attempt, never sent in the
//! quiet hours. A message is claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use serde_json::Value;

use super::outbox::RATING_URL;
use super::SmsKind;
use crate::adapters::security::RatingSigner;
use crate::clock;
use crate::db_run;
use crate::domain::quiet_hours::QuietHours;
use crate::error::AppResult;
use crate::storage::schema::sms_outbox;
use crate::storage::{on_pool, Conn, DbPool};

/// The default body: Alibaba Cloud SMS's SendSms parameters. `{{…}}` are filled per message.
pub const DEFAULT_BODY: &str =
    r#"{"PhoneNumbers":"{{phone}}","SignName":"{{sign}}","TemplateCode":"{{template}}","TemplateParam":"{{params_json}}","OutId":"{{id}}"}"#;
pub const DEFAULT_TEMPLATES: &str = "rating_invitation=HCP_RATING_INVITATION,reply=HCP_REPLY,follow_up_invitation=HCP_FOLLOW_UP_INVITATION";
pub const DEFAULT_MAX_ATTEMPTS: i32 = 12;
const MAX_BACKOFF_SECONDS: i64 = 300;
const BATCH: i64 = 20;
const LEASE_SECONDS: i64 = BATCH * 10 + 60;

/// How to reach the gateway, from `HCP_SMS_*`.
#[derive(Clone)]
pub struct SmsSettings {
    pub url: String,
    pub sign: String,
    /// Template id per kind.
    pub templates: HashMap<SmsKind, String>,
    /// The JSON body with `{{phone}}`, `{{sign}}`, `{{template}}`, `{{params}}` (the parameters
    /// as an object), `{{params_json}}` (as a JSON string), `{{text}}` (the whole message in
    /// Chinese, for gateways that take free text) and `{{id}}` (the message's id).
    pub body: Value,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
    pub quiet: Option<QuietHours>,
    pub max_attempts: i32,
}

/// Without the token, which must not reach a log.
impl std::fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings").field("url", &self.url).field("sign", &self.sign).field("quiet", &self.quiet).finish_non_exhaustive()
    }
}

impl SmsSettings {
    /// Checks the settings as a start needs them: an http(s) URL, a template for every kind,
    /// a body that is JSON naming the phone.
    pub fn new(url: &str, sign: &str, templates: &str, body: &str, token: Option<String>, quiet: &str, max_attempts: i32) -> Result<SmsSettings, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("HCP_SMS_URL {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("HCP_SMS_URL {url:?}: an http:// or https:// address"));
        }
        let mut map = HashMap::new();
        for pair in templates.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, id) = pair.split_once('=').ok_or_else(|| format!("HCP_SMS_TEMPLATES: {pair:?} is not KIND=TEMPLATE_ID"))?;
            let kind = SmsKind::parse(kind.trim()).ok_or_else(|| format!("HCP_SMS_TEMPLATES: unknown kind {kind:?}"))?;
            map.insert(kind, id.trim().to_owned());
        }
        for kind in SmsKind::ALL {
            if !map.contains_key(kind) {
                return Err(format!("HCP_SMS_TEMPLATES has no template for {kind}"));
            }
        }
        let body: Value = serde_json::from_str(body).map_err(|e| format!("HCP_SMS_BODY is not JSON: {e}"))?;
        if !body.to_string().contains("{{phone}}") {
            return Err("HCP_SMS_BODY does not name {{phone}}".into());
        }
        let quiet = QuietHours::parse(quiet).map_err(|e| format!("HCP_SMS_QUIET_HOURS {e}"))?;
        Ok(SmsSettings { url: url.to_owned(), sign: sign.to_owned(), templates: map, body, token, quiet, max_attempts })
    }
}

/// The message in full, for `{{text}}` and for the log of a test gateway.
pub fn text_of(kind: SmsKind, sign: &str, params: &Value) -> String {
    let p = |k: &str| params[k].as_str().map(str::to_owned).unwrap_or_else(|| params[k].to_string());
    match kind {
        SmsKind::RatingInvitation => format!("【{sign}】您办理的“{}”已办结，请对本次服务作出评价：{}", p("item"), p("url")),
        SmsKind::Reply if p("url").is_empty() => format!("【{sign}】您反映的问题（案件{}）已答复：{}", p("case"), p("reply")),
        SmsKind::Reply => format!("【{sign}】您反映的问题（案件{}）已答复：{} 详见 {}", p("case"), p("reply"), p("url")),
        SmsKind::FollowUpInvitation => format!("【{sign}】请对您反映问题的处理结果作出评价：{}", p("url")),
    }
}

/// The body for one message: every placeholder of the shape filled.
fn body_of(settings: &SmsSettings, id: i64, kind: SmsKind, phone: &str, params: &Value) -> Value {
    let template = settings.templates.get(&kind).cloned().unwrap_or_default();
    let params_json = params.to_string();
    let text = text_of(kind, &settings.sign, params);
    fn fill(v: &Value, with: &dyn Fn(&str) -> Option<Value>, strings: &[(&str, &str)]) -> Value {
        match v {
            Value::String(s) => with(s).unwrap_or_else(|| {
                let mut out = s.clone();
                for (k, val) in strings {
                    out = out.replace(k, val);
                }
                Value::String(out)
            }),
            Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, with, strings)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, i)| (k.clone(), fill(i, with, strings))).collect()),
            other => other.clone(),
        }
    }
    let id_text = id.to_string();
    let strings = [("{{phone}}", phone), ("{{sign}}", settings.sign.as_str()), ("{{template}}", template.as_str()), ("{{params_json}}", params_json.as_str()), ("{{text}}", text.as_str()), ("{{id}}", id_text.as_str())];
    fill(&settings.body, &|s| (s == "{{params}}").then(|| params.clone()), &strings)
}

#[derive(Debug, Clone, QueryableByName)]
struct ClaimedSms {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    /// Opened from its sealed form as it is read.
    #[diesel(sql_type = Text)]
    phone: crate::storage::personal_data::PersonalText,
    #[diesel(sql_type = Text)]
    params: String,
    #[diesel(sql_type = Nullable<Text>)]
    transaction_no: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

fn claim(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<ClaimedSms>> {
    let now_db = clock::to_db(now);
    let lease: NaiveDateTime = clock::to_db(now + Duration::seconds(LEASE_SECONDS));
    let due = "sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= {now} AND (locked_until IS NULL OR locked_until < {now})";
    let returning = "RETURNING id, kind, phone, params, transaction_no, attempts";
    let claimed: Vec<ClaimedSms> = match conn {
        Conn::Postgres(c) => diesel::sql_query(format!(
            "UPDATE sms_outbox SET locked_until = $1 WHERE id IN (SELECT id FROM sms_outbox WHERE {} ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) {returning}",
            due.replace("{now}", "$2")
        ))
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
        Conn::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE sms_outbox SET locked_until = ?1 WHERE id IN (SELECT id FROM sms_outbox WHERE {} ORDER BY id LIMIT ?3) {returning}",
            due.replace("{now}", "?2")
        ))
        .bind::<Timestamp, _>(lease)
        .bind::<Timestamp, _>(now_db)
        .bind::<BigInt, _>(BATCH)
        .load(&mut **c)?,
    };
    // RETURNING keeps no order: send in the order queued.
    let mut claimed = claimed;
    claimed.sort_by_key(|s| s.id);
    Ok(claimed)
}

fn mark_sent(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    db_run!(conn, |c| diesel::update(sms_outbox::table.find(id))
        .set((sms_outbox::sent_at.eq(Some(clock::to_db(now))), sms_outbox::attempts.eq(sms_outbox::attempts + 1), sms_outbox::locked_until.eq(None::<NaiveDateTime>), sms_outbox::last_error.eq(None::<String>)))
        .execute(c))?;
    Ok(())
}

fn mark_failed(conn: &mut Conn, sms: &ClaimedSms, error: &str, now: DateTime<Utc>, max_attempts: i32) -> AppResult<bool> {
    let attempts = sms.attempts.saturating_add(1);
    let dead = attempts >= max_attempts;
    let next = now + crate::domain::retry::backoff(attempts, MAX_BACKOFF_SECONDS);
    let error: String = error.chars().take(1000).collect();
    db_run!(conn, |c| diesel::update(sms_outbox::table.find(sms.id))
        .set((
            sms_outbox::attempts.eq(attempts),
            sms_outbox::next_attempt_at.eq(clock::to_db(next)),
            sms_outbox::dead_at.eq(dead.then(|| clock::to_db(now))),
            sms_outbox::locked_until.eq(None::<NaiveDateTime>),
            sms_outbox::last_error.eq(Some(&error)),
        ))
        .execute(c))?;
    Ok(dead)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SmsReport {
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
    /// The round fell in the quiet hours: nothing was tried.
    pub quiet: bool,
}

/// Where the rating links in messages point, and the key that signs them.
pub struct Links<'a> {
    pub public_url: &'a str,
    pub signer: &'a RatingSigner,
}

/// One round at `now`: nothing in the quiet hours; otherwise every due message until none is,
/// or the gateway fails (the rest waits for the next round).
pub async fn deliver_due(pool: &DbPool, client: &reqwest::Client, settings: &SmsSettings, links: &Links<'_>, now: DateTime<Utc>) -> AppResult<SmsReport> {
    let mut report = SmsReport::default();
    if settings.quiet.is_some_and(|q| q.contains(now)) {
        report.quiet = true;
        return Ok(report);
    }
    loop {
        let batch = on_pool(pool, move |conn| claim(conn, now)).await?;
        if batch.is_empty() {
            return Ok(report);
        }
        let mut failed = false;
        for sms in batch {
            let Some(kind) = SmsKind::parse(&sms.kind) else { continue };
            let mut params: Value = serde_json::from_str(&sms.params).unwrap_or(Value::Null);
            if params["url"] == RATING_URL {
                let url = match &sms.transaction_no {
                    Some(no) => {
                        let expires = now + Duration::days(crate::domain::intake_rules::RATING_LINK_DAYS);
                        format!("{}/rate/{}?via=sms", links.public_url, links.signer.sign(no, expires))
                    }
                    None => String::new(),
                };
                params["url"] = Value::String(url);
            }
            let body = body_of(settings, sms.id, kind, &sms.phone, &params);
            let mut request = client.post(&settings.url).json(&body);
            if let Some(token) = &settings.token {
                request = request.bearer_auth(token);
            }
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    // Gateways in the SendSms style answer 200 with a business code.
                    let answer: Value = response.json().await.unwrap_or(Value::Null);
                    match answer.get("Code").and_then(Value::as_str) {
                        Some(code) if code != "OK" => Err(format!("gateway refused: {code} {}", answer.get("Message").and_then(Value::as_str).unwrap_or(""))),
                        _ => Ok(()),
                    }
                }
                Ok(response) => Err(format!("HTTP {}", response.status())),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => {
                    report.sent += 1;
                    on_pool(pool, move |conn| mark_sent(conn, sms.id, clock::now())).await?;
                }
                Err(error) => {
                    report.failed += 1;
                    failed = true;
                    tracing::warn!(sms_id = sms.id, kind = %sms.kind, attempts = sms.attempts + 1, %error, "SMS not sent; will retry");
                    let max = settings.max_attempts;
                    if on_pool(pool, move |conn| mark_failed(conn, &sms, &error, now, max)).await? {
                        report.dead += 1;
                    }
                }
            }
        }
        if failed {
            return Ok(report);
        }
    }
}

/// A client for the gateway: rustls, the system's roots, no redirects, 10 s per request.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .connect_timeout(StdDuration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_body_is_alibaba_clouds_send_sms() {
        let s = SmsSettings::new("http://127.0.0.1:9/sms", "好差评", DEFAULT_TEMPLATES, DEFAULT_BODY, None, "22-8", 3).expect("settings");
        let params = serde_json::json!({"item": "企业设立登记", "url": "https://h/rate/x"});
        let body = body_of(&s, 7, SmsKind::RatingInvitation, "13812345678", &params);
        assert_eq!(body["PhoneNumbers"], "13812345678");
        assert_eq!(body["TemplateCode"], "HCP_RATING_INVITATION");
        assert_eq!(body["OutId"], "7");
        assert_eq!(serde_json::from_str::<Value>(body["TemplateParam"].as_str().unwrap()).unwrap(), params);
        let custom = SmsSettings::new("http://x/sms", "区政务", DEFAULT_TEMPLATES, r#"{"mobile":"{{phone}}","content":"{{text}}","vars":"{{params}}"}"#, None, "", 3).expect("custom");
        let body = body_of(&custom, 1, SmsKind::RatingInvitation, "13812345678", &params);
        assert_eq!(body["content"], "【区政务】您办理的“企业设立登记”已办结，请对本次服务作出评价：https://h/rate/x");
        assert_eq!(body["vars"], params);
        assert!(SmsSettings::new("ftp://x", "s", DEFAULT_TEMPLATES, DEFAULT_BODY, None, "", 3).is_err());
        assert!(SmsSettings::new("http://x", "s", "reply=A", DEFAULT_BODY, None, "", 3).unwrap_err().contains("rating_invitation"));
        assert!(SmsSettings::new("http://x", "s", DEFAULT_TEMPLATES, r#"{"to":"x"}"#, None, "", 3).is_err());
    }
}
