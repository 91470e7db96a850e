//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text (coloured only
//! on a terminal) or, with `HCP_LOG_FORMAT=json`, one JSON object per line for a log collector.
//! Security events go to the `security` target, so that they can be kept and alerted on apart.

use std::net::IpAddr;

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    init_with_default("info");
}

/// Like [`init`] with another default level (tests use `warn`).
pub fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = std::env::var("HCP_LOG_FORMAT").is_ok_and(|f| f.trim() == "json");
    // A second init (tests) is harmless; ignore the error it returns.
    if json {
        let _ = fmt().json().with_current_span(false).with_span_list(false).with_env_filter(filter).with_writer(std::io::stderr).try_init();
    } else {
        // Colours only on a terminal: a log file or journald gets plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let _ = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(ansi).try_init();
    }
}

/// Usernames as typed into a sign-in form: bounded, so a log line cannot be flooded.
fn bounded(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A wrong password (or an unknown or disabled user); `locked`: this failure locked the username.
pub fn sign_in_failed(username: &str, address: Option<IpAddr>, locked: bool) {
    let client = address.map(|a| a.to_string()).unwrap_or_default();
    if locked {
        tracing::warn!(target: "security", security_event = "lockout", username = %bounded(username), client = %client, "username locked after repeated wrong passwords");
    } else {
        tracing::warn!(target: "security", security_event = "sign_in_failed", username = %bounded(username), client = %client, "sign-in failed");
    }
}

/// A request refused for its caller: 403 (not allowed) or 429 (over a limit).
pub fn refused(status: u16, method: &str, route: &str, caller: &str, address: Option<IpAddr>, request_id: &str) {
    let event = if status == 429 { "rate_limited" } else { "forbidden" };
    let client = address.map(|a| a.to_string()).unwrap_or_default();
    tracing::warn!(target: "security", security_event = event, status, method, route, caller, client = %client, request_id, "request refused");
}

pub fn api_key_revoked(key_id: i64, actor: &str) {
    tracing::warn!(target: "security", security_event = "api_key_revoked", key_id, actor, "API key revoked");
}
