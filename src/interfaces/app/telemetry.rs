//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), coloured only on a
//! terminal.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    init_with_default("info");
}

/// Like [`init`] with another default level (tests use `warn`).
pub fn init_with_default(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A second init (tests) is harmless; ignore the error it returns.
    let _ = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(ansi).try_init();
}
