//! Times in request bodies and queries. A time without its offset, or a date where a time is
//! wanted, is refused with `422` naming the field and the form it needs, not a `400` quoting
//! the JSON parser ("premature end of input at line 1 column 102").

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Deserializer};

/// Marks a time field's parse error so that the extractors' error handlers can name it.
const MARKER: &str = "hcp-time-field:";

/// The time fields of the API; the marker names one of them.
const FIELDS: &[&str] = &["accepted_at", "completed_at", "rated_at", "received_at", "effective_from", "effective_to", "due_at", "at"];

pub const EXPECTED: &str = "expected a time with its UTC offset (RFC 3339), e.g. 2026-01-01T09:00:00+08:00; a date alone or a time without offset is not enough";

fn parse<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<DateTime<FixedOffset>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(text.trim()).map_err(|_| serde::de::Error::custom(format!("{MARKER}{field}")))
}

fn parse_opt<'de, D: Deserializer<'de>>(d: D, field: &'static str) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text.trim()).map(Some).map_err(|_| serde::de::Error::custom(format!("{MARKER}{field}"))),
    }
}

/// The time field a body's or query's parse error is about, if it is one of ours.
pub fn field_of(error: &str) -> Option<&'static str> {
    let rest = &error[error.find(MARKER)? + MARKER.len()..];
    FIELDS.iter().copied().find(|f| rest.starts_with(f) && !rest[f.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

macro_rules! time_fields {
    (required: $($name:ident),+; optional: $($opt:ident = $field:ident),+;) => {
        $(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
                parse(d, stringify!($name))
            }
        )+
        $(
            pub fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
                parse_opt(d, stringify!($field))
            }
        )+
    };
}

time_fields! {
    required: completed_at, received_at, effective_from;
    optional: accepted_at_opt = accepted_at, rated_at_opt = rated_at, effective_to_opt = effective_to, due_at_opt = due_at, at_opt = at;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_named_from_the_marker() {
        assert_eq!(field_of("hcp-time-field:effective_from at line 1 column 40"), Some("effective_from"));
        assert_eq!(field_of("hcp-time-field:at"), Some("at"));
        assert_eq!(field_of("hcp-time-field:attack"), None);
        assert_eq!(field_of("invalid type: integer"), None);
    }
}
