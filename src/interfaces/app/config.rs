//! Configuration from the environment (SPEC §10). Secrets never come from the repository.

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    /// Signing key for rating links; when unset one is generated and kept in the database.
    pub secret: Option<String>,
    pub smtp_url: Option<String>,
    /// Base of rating links; defaults to `http://<bind>`.
    pub public_url: String,
    pub mail_from: String,
    /// Run the deadline scanner and the mail sender inside `serve`.
    pub background_jobs: bool,
    /// Where `router.json` is read from.
    pub nlp_dir: std::path::PathBuf,
    /// The router assigns a complaint itself only at or above this probability.
    pub router_threshold: f32,
    /// Requests per integration key and second, every endpoint together.
    pub integration_per_second: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    name: &'static str,
    message: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env(bind_override: Option<SocketAddr>) -> Result<Self, ConfigError> {
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://haochaping.db".into());
        let bind = match bind_override {
            Some(b) => b,
            None => var("HCP_BIND")
                .unwrap_or_else(|| "127.0.0.1:8080".into())
                .parse()
                .map_err(|e| ConfigError { name: "HCP_BIND", message: format!("not host:port ({e})") })?,
        };
        let public_url = var("HCP_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        Ok(Config {
            database_url,
            bind,
            secret: var("HCP_SECRET"),
            smtp_url: var("HCP_SMTP_URL"),
            public_url,
            mail_from: var("HCP_MAIL_FROM").unwrap_or_else(|| "好差评系统 <noreply@haochaping.local>".into()),
            background_jobs: var("HCP_BACKGROUND_JOBS").map(|v| v != "0").unwrap_or(true),
            nlp_dir: var("HCP_NLP_DIR").unwrap_or_else(|| "nlp-models".into()).into(),
            router_threshold: match var("HCP_ROUTER_THRESHOLD") {
                None => 0.6,
                Some(v) => v.parse().ok().filter(|t: &f32| (0.0..=1.0).contains(t)).ok_or_else(|| ConfigError {
                    name: "HCP_ROUTER_THRESHOLD",
                    message: "a probability between 0 and 1".into(),
                })?,
            },
            integration_per_second: match var("HCP_INTEGRATION_RATE") {
                None => crate::throttle::INTEGRATION_PER_SECOND,
                Some(v) => v.parse().ok().filter(|n: &u32| *n > 0).ok_or_else(|| ConfigError {
                    name: "HCP_INTEGRATION_RATE",
                    message: "a positive number of requests per key and second".into(),
                })?,
            },
        })
    }
}
