//! Periodic work inside `serve`: the deadline scanner (with the default ratings due), the
//! webhook, SMS and mail senders, and the push of evaluation records to the province. Each task logs its
//! own failure and carries on; `HCP_BACKGROUND_JOBS=false` switches them all off.

use std::sync::Arc;
use std::time::Duration;

use crate::interfaces::app::AppState;
use crate::clock;
use crate::adapters::mail::smtp::deliver_due;
use crate::adapters::webhooks::sender::deliver_due as deliver_webhooks;
use crate::cases::scan;
use crate::intake::default_ratings;

pub const SCAN_EVERY: Duration = Duration::from_secs(60);
pub const SEND_EVERY: Duration = Duration::from_secs(2);
/// The provincial platform gets new and changed records once a minute.
pub const PUSH_EVERY: Duration = Duration::from_secs(60);

/// What one round of the scanner did.
#[derive(Debug, serde::Serialize)]
pub struct ScanRound {
    #[serde(flatten)]
    pub deadlines: scan::ScanReport,
    pub default_ratings: u64,
    pub personal_data_erased: u64,
    /// Closed months whose report this round froze (`insight::frozen_reports`).
    pub reports_frozen: Vec<String>,
    /// Integrity flags raised (疑似刷评) and old origin hashes cleared (`cases::integrity`).
    pub integrity: crate::cases::integrity::IntegrityReport,
    /// Topics tracked over the weeks and emerging-issue alerts raised (`insight::topics`).
    pub topics: crate::insight::topics::TopicRound,
}

/// One round of the scanner at `at`, as `serve` runs it every minute and `haochaping scan` once
/// (a deployment may scan from cron instead): expired attempt counters pruned, personal data past
/// its retention erased, deadline alerts raised, default ratings given, closed months' reports
/// frozen (after the alerts: building a report takes a while, and what came before is stored).
pub fn scan_round(conn: &mut crate::storage::Conn, at: chrono::DateTime<chrono::Utc>, rules: &crate::domain::rules::Rules, retention_years: u32, report_freeze_days: u32, integrity: &crate::domain::integrity::Thresholds, topics: &crate::insight::topics::TopicScan) -> crate::error::AppResult<ScanRound> {
    crate::adapters::throttle::prune(conn, at)?;
    let personal_data_erased = crate::cases::retention::erase_expired(conn, at, retention_years)?;
    let deadlines = scan::scan(conn, at, rules)?;
    let default_ratings = default_ratings::give_due(conn, at)?;
    // After the default ratings: the active-share rule counts them.
    let integrity = crate::cases::integrity::scan(conn, at, integrity)?;
    // A report that cannot be frozen now must not cost the round its other steps: logged, retried next round.
    let reports_frozen = crate::insight::frozen_reports::freeze_due(conn, at, rules, report_freeze_days).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "freezing monthly reports failed; trying again next round");
        Vec::new()
    });
    // Clusters the current week's comments (and any week just closed): throttled in `serve`.
    let topics = crate::insight::topics::scan(conn, at, topics)?;
    Ok(ScanRound { deadlines, default_ratings, personal_data_erased, reports_frozen, integrity, topics })
}

/// Starts the tasks on the current actix runtime.
pub fn spawn(state: Arc<AppState>) {
    if !state.config.background_jobs {
        tracing::info!("background jobs disabled");
        return;
    }
    index_missing_texts(Arc::clone(&state));
    let scan_state = Arc::clone(&state);
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(SCAN_EVERY);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            let result = scan_state
                .db(|conn, state| {
                    let now = clock::now();
                    // Past New Year's Eve, the year after next gets its provisional calendar.
                    if !crate::admin::rules::keep_calendar_ahead(conn, now)?.is_empty() {
                        state.rules.reload(conn)?;
                    }
                    let rules = state.rules(conn)?;
                    scan_round(conn, now, &rules, state.config.retention_years, state.config.report_freeze_days, &state.config.integrity, &crate::insight::topics::TopicScan {
                        new_topic_alert_size: state.config.new_topic_alert_size,
                        min_interval: Some(chrono::Duration::minutes(crate::insight::topics::SERVE_INTERVAL_MINUTES)),
                    })
                })
                .await;
            scan_state.metrics.scan_finished(started.elapsed().as_secs_f64(), result.is_ok());
            match result {
                Ok(ScanRound { deadlines: report, default_ratings: defaults, personal_data_erased: erased, reports_frozen, integrity, topics }) => {
                    if topics.surge_alerts + topics.new_topic_alerts > 0 {
                        tracing::info!(surges = topics.surge_alerts, new_topics = topics.new_topic_alerts, "emerging-issue alerts raised for the supervisors");
                    }
                    if integrity.flags_raised > 0 {
                        tracing::info!(flags = integrity.flags_raised, "integrity flags raised for the supervisors");
                    }
                    if !reports_frozen.is_empty() {
                        tracing::info!(months = ?reports_frozen, "monthly reports frozen");
                    }
                    if report.due_soon + report.overdue + report.escalated > 0 {
                        tracing::info!(%report, "deadline scan");
                    }
                    if defaults > 0 {
                        tracing::info!(default_ratings = defaults, "default ratings given");
                    }
                    if erased > 0 {
                        tracing::info!(cases = erased, "personal data erased after the retention period");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "deadline scan failed; retrying next round"),
            }
        }
    });
    let hooks_state = Arc::clone(&state);
    match crate::adapters::webhooks::sender::client() {
        Err(e) => tracing::error!(error = %e, "webhook client could not be built; webhook events stay queued"),
        Ok(client) => {
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(SEND_EVERY);
                loop {
                    tick.tick().await;
                    match deliver_webhooks(&hooks_state.pool, &client, clock::now(), hooks_state.config.webhook_max_attempts).await {
                        Ok(report) => {
                            hooks_state.metrics.deliveries("webhook", saturate(report.delivered), saturate(report.failed));
                            if report.dead > 0 {
                                tracing::warn!(dead = report.dead, "webhook deliveries dead-lettered after their last attempt; see /admin/webhooks");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "webhook delivery round failed"),
                    }
                }
            });
        }
    }
    match (state.config.sms.clone(), crate::adapters::sms::gateway::client()) {
        (None, _) => tracing::info!("HCP_SMS_URL unset: SMS stay queued in the outbox"),
        (Some(_), Err(e)) => tracing::error!(error = %e, "SMS client could not be built; SMS stay queued"),
        (Some(settings), Ok(client)) => {
            let sms_state = Arc::clone(&state);
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(SEND_EVERY);
                loop {
                    tick.tick().await;
                    let links = crate::adapters::sms::gateway::Links { public_url: &sms_state.config.public_url, signer: &sms_state.signer };
                    match crate::adapters::sms::gateway::deliver_due(&sms_state.pool, &client, &settings, &links, clock::now()).await {
                        Ok(report) => sms_state.metrics.deliveries("sms", saturate(report.sent), saturate(report.failed)),
                        Err(e) => tracing::warn!(error = %e, "SMS delivery round failed"),
                    }
                }
            });
        }
    }
    if let Some(url) = state.config.province_url.clone() {
        match crate::adapters::province::client() {
            Err(e) => tracing::error!(error = %e, "provincial push client could not be built"),
            Ok(client) => {
                let push_state = Arc::clone(&state);
                let target = crate::insight::exchange::PushTarget { url, token: state.config.province_token.clone() };
                actix_web::rt::spawn(async move {
                    let mut tick = actix_web::rt::time::interval(PUSH_EVERY);
                    loop {
                        tick.tick().await;
                        match crate::insight::exchange::push_due(&push_state.pool, &client, &target, clock::now()).await {
                            Ok(report) if report.records > 0 => tracing::info!(batches = report.batches, records = report.records, "evaluations pushed to the provincial platform"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "provincial push round failed"),
                        }
                    }
                });
            }
        }
    }
    match state.mailer.clone() {
        None => tracing::info!("HCP_SMTP_URL unset: mails stay queued in the outbox"),
        Some(mailer) => {
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(SEND_EVERY);
                loop {
                    tick.tick().await;
                    match deliver_due(&state.pool, &mailer, clock::now()).await {
                        Ok(report) => state.metrics.deliveries("mail", report.sent, report.failed),
                        Err(e) => tracing::warn!(error = %e, "mail delivery round failed"),
                    }
                }
            });
        }
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Once at start: the search index takes the texts it lacks (stored before it existed), in
/// batches beside the writers; with nothing missing, one pass over the ids. Also loads jieba's
/// dictionary, so the first comment stored does not wait for it.
fn index_missing_texts(state: Arc<AppState>) {
    actix_web::rt::spawn(async move {
        let result = state
            .db(|conn, _| {
                let _warm = crate::adapters::nlp::tokenize::Tokenizer::shared();
                let mut logged = 0u64;
                crate::insight::search::index_missing(conn, &mut |done| {
                    if done >= logged + 50_000 {
                        logged = done;
                        tracing::info!(texts = done, "search index: filling in texts stored before it");
                    }
                })
            })
            .await;
        match result {
            Ok(0) => {}
            Ok(texts) => tracing::info!(texts, "search index: texts stored before it are indexed"),
            Err(e) => tracing::warn!(error = %e, "search index: filling at start failed; `haochaping reindex-search` does it"),
        }
    });
}
