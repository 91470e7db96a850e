//! Configuration from the environment (SPEC §10), read and checked by clap's `env` support.
//! Secrets never come from the repository, nor from the command line (`ps` would show them).

use std::net::SocketAddr;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// A PostgreSQL streaming replica of `database_url` (`DATABASE_READ_URL`) that statistics,
    /// reports, exports, the public feed and analytics read from; `None`: they read the primary.
    pub database_read_url: Option<String>,
    pub bind: SocketAddr,
    /// Signing key for rating links; when unset one is generated and kept in the database.
    pub secret: Option<String>,
    /// The AES-256 key (64 hex characters) that seals citizens' names and phones (`HCP_DATA_KEY`),
    /// and earlier keys that still open what `rekey` has not sealed again (`HCP_DATA_KEY_PREVIOUS`).
    pub data_key: Option<String>,
    pub data_key_previous: Vec<String>,
    pub smtp_url: Option<String>,
    pub smtp_user: Option<String>,
    pub smtp_password: Option<String>,
    /// A PEM CA the relay's certificate is checked against, besides the system's roots.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// Base of rating links; defaults to `http://<bind>`.
    pub public_url: String,
    pub mail_from: String,
    /// Run the deadline scanner and the mail sender inside `serve`.
    pub background_jobs: bool,
    /// Where `router.json` is read from.
    /// A directory whose `router.json`, `stopwords.txt` and `user_dict.txt` override the ones
    /// built into the binary; `None`: the built-in ones, wherever the service is started from.
    pub nlp_dir: Option<std::path::PathBuf>,
    /// The router assigns a complaint itself only at or above this probability.
    pub router_threshold: f32,
    /// Requests per integration key and second, every endpoint together.
    pub integration_per_second: u32,
    /// Peers whose `Forwarded` / `X-Forwarded-For` are believed (the TLS proxy in front).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `json`: one JSON object per log line (for a log collector); otherwise text.
    pub log_json: bool,
    /// Serve `/metrics` on this address only (not on the public listener).
    pub metrics_bind: Option<SocketAddr>,
    /// Attempts before a webhook delivery is dead-lettered (`HCP_WEBHOOK_MAX_ATTEMPTS`).
    pub webhook_max_attempts: i32,
    /// The SMS gateway of `HCP_SMS_URL` and its companions; `None`: messages wait in the outbox.
    pub sms: Option<crate::adapters::sms::gateway::SmsSettings>,
    /// Attempts before a mail is dead-lettered (`HCP_MAIL_MAX_ATTEMPTS`).
    pub mail_max_attempts: i32,
    /// Years after a case closes that its citizen's personal data is erased (`HCP_RETENTION_YEARS`).
    pub retention_years: u32,
    /// The integrity flags' thresholds (`HCP_INTEGRITY_*`).
    pub integrity: crate::domain::integrity::Thresholds,
    /// Days after a month's last day before its report is frozen (`HCP_REPORT_FREEZE_DAYS`).
    pub report_freeze_days: u32,
    /// Comments (bad reviews and complaints) at which a new topic is alerted on (`HCP_NEW_TOPIC_ALERT_SIZE`).
    pub new_topic_alert_size: u32,
    /// Where the push job sends the evaluation records (`HCP_PROVINCE_URL`), and its token.
    pub province_url: Option<String>,
    pub province_token: Option<String>,
}

/// A variable that is set but unusable, named with what it should be.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The variables themselves. Parsed from an empty command line: only the environment and the
/// defaults count.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
struct Environment {
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", default_value = "sqlite://haochaping.db")]
    database_url: String,
    #[arg(long, env = "DATABASE_READ_URL", value_name = "DATABASE_READ_URL", hide_env_values = true)]
    database_read_url: Option<String>,
    #[arg(long, env = "HCP_BIND", value_name = "HCP_BIND", default_value = "127.0.0.1:8080", value_parser = socket_address)]
    bind: SocketAddr,
    #[arg(long, env = "HCP_SECRET", value_name = "HCP_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[arg(long, env = "HCP_DATA_KEY", value_name = "HCP_DATA_KEY", hide_env_values = true)]
    data_key: Option<String>,
    #[arg(long, env = "HCP_DATA_KEY_PREVIOUS", value_name = "HCP_DATA_KEY_PREVIOUS", hide_env_values = true)]
    data_key_previous: Option<String>,
    #[arg(long, env = "HCP_SMTP_URL", value_name = "HCP_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    #[arg(long, env = "HCP_SMTP_USER", value_name = "HCP_SMTP_USER")]
    smtp_user: Option<String>,
    #[arg(long, env = "HCP_SMTP_PASSWORD", value_name = "HCP_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    #[arg(long, env = "HCP_SMTP_CA_FILE", value_name = "HCP_SMTP_CA_FILE")]
    smtp_ca_file: Option<std::path::PathBuf>,
    #[arg(long, env = "HCP_PUBLIC_URL", value_name = "HCP_PUBLIC_URL")]
    public_url: Option<String>,
    #[arg(long, env = "HCP_MAIL_FROM", value_name = "HCP_MAIL_FROM", default_value = "好差评系统 <noreply@haochaping.local>")]
    mail_from: String,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    #[arg(long, env = "HCP_BACKGROUND_JOBS", value_name = "HCP_BACKGROUND_JOBS", default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    background_jobs: bool,
    #[arg(long, env = "HCP_NLP_DIR", value_name = "HCP_NLP_DIR")]
    nlp_dir: Option<std::path::PathBuf>,
    #[arg(long, env = "HCP_ROUTER_THRESHOLD", value_name = "HCP_ROUTER_THRESHOLD", default_value_t = 0.6, value_parser = probability)]
    router_threshold: f32,
    #[arg(long, env = "HCP_INTEGRATION_RATE", value_name = "HCP_INTEGRATION_RATE", default_value_t = crate::adapters::throttle::INTEGRATION_PER_SECOND,
          value_parser = clap::value_parser!(u32).range(1..))]
    integration_rate: u32,
    /// Comma-separated CIDRs or addresses, e.g. `127.0.0.1/32,10.0.0.0/8`.
    #[arg(long, env = "HCP_TRUSTED_PROXIES", value_name = "HCP_TRUSTED_PROXIES", value_parser = cidr_list)]
    trusted_proxies: Option<CidrList>,
    #[arg(long, env = "HCP_LOG_FORMAT", value_name = "HCP_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[arg(long, env = "HCP_METRICS_BIND", value_name = "HCP_METRICS_BIND", value_parser = socket_address)]
    metrics_bind: Option<SocketAddr>,
    #[arg(long, env = "HCP_WEBHOOK_MAX_ATTEMPTS", value_name = "HCP_WEBHOOK_MAX_ATTEMPTS",
        default_value_t = crate::adapters::webhooks::sender::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(i32).range(1..=100))]
    webhook_max_attempts: i32,
    #[arg(long, env = "HCP_SMS_URL", value_name = "HCP_SMS_URL")]
    sms_url: Option<String>,
    #[arg(long, env = "HCP_SMS_SIGN", value_name = "HCP_SMS_SIGN", default_value = "好差评")]
    sms_sign: String,
    #[arg(long, env = "HCP_SMS_TEMPLATES", value_name = "HCP_SMS_TEMPLATES", default_value = crate::adapters::sms::gateway::DEFAULT_TEMPLATES)]
    sms_templates: String,
    #[arg(long, env = "HCP_SMS_BODY", value_name = "HCP_SMS_BODY", default_value = crate::adapters::sms::gateway::DEFAULT_BODY)]
    sms_body: String,
    #[arg(long, env = "HCP_SMS_TOKEN", value_name = "HCP_SMS_TOKEN", hide_env_values = true)]
    sms_token: Option<String>,
    #[arg(long, env = "HCP_SMS_QUIET_HOURS", value_name = "HCP_SMS_QUIET_HOURS", default_value = "22-8")]
    sms_quiet_hours: String,
    #[arg(long, env = "HCP_SMS_MAX_ATTEMPTS", value_name = "HCP_SMS_MAX_ATTEMPTS",
        default_value_t = crate::adapters::sms::gateway::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(i32).range(1..=100))]
    sms_max_attempts: i32,
    #[arg(long, env = "HCP_MAIL_MAX_ATTEMPTS", value_name = "HCP_MAIL_MAX_ATTEMPTS",
        default_value_t = crate::adapters::mail::smtp::DEFAULT_MAX_ATTEMPTS, value_parser = clap::value_parser!(i32).range(1..=1000))]
    mail_max_attempts: i32,
    #[arg(long, env = "HCP_RETENTION_YEARS", value_name = "HCP_RETENTION_YEARS",
        default_value_t = crate::cases::retention::DEFAULT_RETENTION_YEARS, value_parser = clap::value_parser!(u32).range(1..=100))]
    retention_years: u32,
    /// More ratings than this from one address or device within HCP_INTEGRITY_BURST_MINUTES is a burst.
    #[arg(long, env = "HCP_INTEGRITY_BURST", value_name = "HCP_INTEGRITY_BURST", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    integrity_burst: u32,
    #[arg(long, env = "HCP_INTEGRITY_BURST_MINUTES", value_name = "HCP_INTEGRITY_BURST_MINUTES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1440))]
    integrity_burst_minutes: u32,
    /// The burst threshold of a kiosk or a window's rating pad, which rates everyone served there.
    #[arg(long, env = "HCP_INTEGRITY_BURST_SHARED", value_name = "HCP_INTEGRITY_BURST_SHARED", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    integrity_burst_shared: u32,
    /// A month of a department or window is judged from this many ratings on.
    #[arg(long, env = "HCP_INTEGRITY_VOLUME", value_name = "HCP_INTEGRITY_VOLUME", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    integrity_volume: u32,
    #[arg(long, env = "HCP_INTEGRITY_ACTIVE_SHARE", value_name = "HCP_INTEGRITY_ACTIVE_SHARE", default_value_t = 0.99, value_parser = probability)]
    integrity_active_share: f32,
    #[arg(long, env = "HCP_REPORT_FREEZE_DAYS", value_name = "HCP_REPORT_FREEZE_DAYS",
        default_value_t = crate::insight::frozen_reports::DEFAULT_FREEZE_DAYS,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::insight::frozen_reports::MAX_FREEZE_DAYS)))]
    report_freeze_days: u32,
    /// A topic first seen in the last 7 days is alerted on (新出现的问题) at this many bad reviews and complaints.
    #[arg(long, env = "HCP_NEW_TOPIC_ALERT_SIZE", value_name = "HCP_NEW_TOPIC_ALERT_SIZE",
        default_value_t = crate::domain::topics::DEFAULT_NEW_TOPIC_ALERT_SIZE, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    new_topic_alert_size: u32,
    #[arg(long, env = "HCP_PROVINCE_URL", value_name = "HCP_PROVINCE_URL")]
    province_url: Option<String>,
    #[arg(long, env = "HCP_PROVINCE_TOKEN", value_name = "HCP_PROVINCE_TOKEN", hide_env_values = true)]
    province_token: Option<String>,
}

#[derive(Debug, Clone)]
struct CidrList(Vec<ipnet::IpNet>);

fn cidr_list(text: &str) -> Result<CidrList, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{t:?} is not an address or a CIDR (e.g. 10.0.0.0/8)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CidrList)
}

/// `HOST:PORT`, the host an address or a name (`localhost:18305`), resolved once at start.
pub fn socket_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let mut found = text.to_socket_addrs().map_err(|e| format!("HOST:PORT, e.g. 127.0.0.1:8080 or localhost:8080 ({e})"))?;
    // A name with IPv4 and IPv6 addresses: IPv4 first, as `localhost` usually means.
    let all: Vec<SocketAddr> = found.by_ref().collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().ok_or_else(|| format!("{text} resolves to no address"))
}

fn probability(text: &str) -> Result<f32, String> {
    text.parse::<f32>().ok().filter(|t| (0.0..=1.0).contains(t)).ok_or_else(|| "a probability between 0 and 1".to_owned())
}

/// `DATABASE_READ_URL` is a PostgreSQL replica of a PostgreSQL `DATABASE_URL`: a SQLite file
/// has no replicas, so one set beside it is refused rather than ignored (the operator meant
/// something that would not happen).
pub fn read_url_usable(database_url: &str, read_url: &str) -> Result<(), String> {
    if !(read_url.starts_with("postgres://") || read_url.starts_with("postgresql://")) {
        return Err("DATABASE_READ_URL: a postgres:// URL of a streaming replica of DATABASE_URL".to_owned());
    }
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return Err("DATABASE_READ_URL is set but DATABASE_URL is SQLite, which has no replicas: unset DATABASE_READ_URL, \
                    or use PostgreSQL with a streaming replica"
            .to_owned());
    }
    Ok(())
}

impl Config {
    /// The relay's settings, when `HCP_SMTP_URL` is set.
    pub fn smtp(&self) -> Option<crate::adapters::mail::smtp::SmtpSettings> {
        self.smtp_url.as_ref().map(|url| crate::adapters::mail::smtp::SmtpSettings {
            url: url.clone(),
            user: self.smtp_user.clone(),
            password: self.smtp_password.clone(),
            ca_file: self.smtp_ca_file.clone(),
        })
    }

    /// The configuration in the environment; `bind_override` is `serve --bind`.
    pub fn from_env(bind_override: Option<SocketAddr>) -> Result<Self, ConfigError> {
        let env = Environment::try_parse_from(std::iter::empty::<String>()).map_err(|e| {
            // clap's first line names the variable (as the value's name); the rest is a hint
            // about `--help` that the environment has no use for.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
            ConfigError(format!("configuration from the environment: {first}"))
        })?;
        // An empty text variable is unset, as before clap read them.
        let text = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let bind = bind_override.unwrap_or(env.bind);
        let database_read_url = text(env.database_read_url);
        if let Some(read_url) = &database_read_url {
            read_url_usable(&env.database_url, read_url).map_err(ConfigError)?;
        }
        let province_url = text(env.province_url);
        if let Some(url) = &province_url {
            let parsed = url::Url::parse(url).map_err(|e| ConfigError(format!("HCP_PROVINCE_URL {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError(format!("HCP_PROVINCE_URL {url:?}: an http:// or https:// address")));
            }
        }
        let public_url = match text(env.public_url) {
            Some(url) => url,
            // Links in mails and SMS would point at this machine's own loopback address.
            None if !bind.ip().is_loopback() => {
                return Err(ConfigError(format!(
                    "listening on {bind} needs HCP_PUBLIC_URL, the address citizens and staff reach the service at \
                     (e.g. https://hcp.example.gov.cn): rating links and mails are built from it"
                )))
            }
            None => format!("http://{bind}"),
        }
        .trim_end_matches('/')
        .to_owned();
        Ok(Config {
            database_url: env.database_url,
            database_read_url,
            bind,
            secret: text(env.secret),
            data_key: text(env.data_key),
            data_key_previous: text(env.data_key_previous)
                .map(|keys| keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            smtp_url: text(env.smtp_url),
            smtp_user: text(env.smtp_user),
            smtp_password: text(env.smtp_password),
            smtp_ca_file: env.smtp_ca_file,
            public_url,
            mail_from: env.mail_from,
            background_jobs: env.background_jobs,
            nlp_dir: env.nlp_dir,
            router_threshold: env.router_threshold,
            integration_per_second: env.integration_rate,
            trusted_proxies: env.trusted_proxies.map(|l| l.0).unwrap_or_default(),
            log_json: env.log_format == "json",
            metrics_bind: env.metrics_bind,
            webhook_max_attempts: env.webhook_max_attempts,
            province_url,
            province_token: text(env.province_token),
            mail_max_attempts: env.mail_max_attempts,
            retention_years: env.retention_years,
            integrity: crate::domain::integrity::Thresholds {
                burst: env.integrity_burst,
                burst_minutes: env.integrity_burst_minutes,
                burst_shared_device: env.integrity_burst_shared,
                volume: env.integrity_volume,
                // Two decimals at most in practice: 0.99 read as f32 is 0.9900000095…
                active_share: (f64::from(env.integrity_active_share) * 1e6).round() / 1e6,
            },
            report_freeze_days: env.report_freeze_days,
            new_topic_alert_size: env.new_topic_alert_size,
            sms: match text(env.sms_url) {
                None => None,
                Some(url) => Some(
                    crate::adapters::sms::gateway::SmsSettings::new(
                        &url,
                        &env.sms_sign,
                        &env.sms_templates,
                        &env.sms_body,
                        text(env.sms_token),
                        &env.sms_quiet_hours,
                        env.sms_max_attempts,
                    )
                    .map_err(ConfigError)?,
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test owns these variables (no other unit test reads the configuration), and runs its
    /// cases in turn, so setting them cannot race.
    #[test]
    fn variables_parse_as_their_types() {
        let names = ["HCP_BACKGROUND_JOBS", "HCP_ROUTER_THRESHOLD", "HCP_BIND", "HCP_SECRET", "HCP_PUBLIC_URL", "HCP_TRUSTED_PROXIES", "HCP_LOG_FORMAT", "DATABASE_URL", "DATABASE_READ_URL"];
        let set = |pairs: &[(&str, &str)]| {
            for name in names {
                std::env::remove_var(name);
            }
            for (name, value) in pairs {
                std::env::set_var(name, value);
            }
            Config::from_env(None)
        };
        let defaults = set(&[]).expect("defaults");
        assert!(defaults.background_jobs);
        assert_eq!(defaults.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(socket_address("localhost:18305").map(|a| a.port()), Ok(18305), "host names are resolved");
        assert!(socket_address("127.0.0.1").is_err(), "a port is needed");
        assert_eq!(defaults.public_url, "http://127.0.0.1:8080");
        for (text, on) in [("false", false), ("0", false), ("off", false), ("no", false), ("true", true), ("1", true), ("yes", true)] {
            assert_eq!(set(&[("HCP_BACKGROUND_JOBS", text)]).expect(text).background_jobs, on, "HCP_BACKGROUND_JOBS={text}");
        }
        let refused = set(&[("HCP_BACKGROUND_JOBS", "sometimes")]).expect_err("not a boolean");
        assert!(refused.to_string().contains("HCP_BACKGROUND_JOBS"), "{refused}");
        let refused = set(&[("HCP_ROUTER_THRESHOLD", "1.5")]).expect_err("not a probability");
        assert!(refused.to_string().contains("HCP_ROUTER_THRESHOLD"), "{refused}");
        assert!(set(&[("HCP_BIND", "nowhere")]).is_err());
        let refused = set(&[("HCP_BIND", "0.0.0.0:8080")]).expect_err("links would point at loopback");
        assert!(refused.to_string().contains("HCP_PUBLIC_URL"), "{refused}");
        std::env::set_var("HCP_PUBLIC_URL", "https://hcp.example.gov.cn/");
        assert_eq!(Config::from_env(None).expect("with a public URL").public_url, "https://hcp.example.gov.cn");
        std::env::remove_var("HCP_PUBLIC_URL");
        // An empty text variable is unset; an empty typed one is refused, naming it.
        assert_eq!(set(&[("HCP_SECRET", "")]).expect("blank secret").secret, None);
        let refused = set(&[("HCP_BACKGROUND_JOBS", "")]).expect_err("blank boolean");
        assert!(refused.to_string().contains("HCP_BACKGROUND_JOBS"), "{refused}");
        let proxies = set(&[("HCP_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")]).expect("proxies").trusted_proxies;
        assert_eq!(proxies.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let refused = set(&[("HCP_TRUSTED_PROXIES", "10.0.0.0/33")]).expect_err("not a CIDR");
        assert!(refused.to_string().contains("HCP_TRUSTED_PROXIES"), "{refused}");
        assert!(set(&[("HCP_LOG_FORMAT", "xml")]).is_err());
        // A read replica only beside a PostgreSQL primary, and only a PostgreSQL one.
        let refused = set(&[("DATABASE_READ_URL", "postgres://replica/hcp")]).expect_err("SQLite has no replica");
        assert!(refused.to_string().contains("DATABASE_READ_URL"), "{refused}");
        let refused = set(&[("DATABASE_URL", "postgres://primary/hcp"), ("DATABASE_READ_URL", "sqlite://copy.db")]).expect_err("not PostgreSQL");
        assert!(refused.to_string().contains("DATABASE_READ_URL"), "{refused}");
        let both = set(&[("DATABASE_URL", "postgres://primary/hcp"), ("DATABASE_READ_URL", "postgres://replica/hcp")]).expect("a replica");
        assert_eq!(both.database_read_url.as_deref(), Some("postgres://replica/hcp"));
        assert_eq!(set(&[("DATABASE_READ_URL", "")]).expect("blank read URL").database_read_url, None);
        set(&[]).expect("reset");
    }
}
