//! Time: instants are UTC in storage, Asia/Shanghai on the wire and on pages.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Asia::Shanghai;

/// Microseconds are the finest precision both backends keep; truncating up front keeps what we
/// hash equal to what we read back.
pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros).unwrap_or(t)
}

pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now().naive_utc()).and_utc()
}

pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    truncate_micros(t.naive_utc())
}

pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// RFC 3339 in Beijing time, e.g. `2026-11-22T09:30:00+08:00`.
pub fn rfc3339_local(t: NaiveDateTime) -> String {
    t.and_utc().with_timezone(&Shanghai).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `2026-11-22 09:30` for pages and mails.
pub fn display_local(t: NaiveDateTime) -> String {
    t.and_utc().with_timezone(&Shanghai).format("%Y-%m-%d %H:%M").to_string()
}
