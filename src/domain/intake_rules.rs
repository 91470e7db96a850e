//! What a review or a complaint must satisfy to be accepted.

use super::grade::Stars;

/// How long a rating link stays valid after it is issued: long enough for the 7-day 追评 and
/// the 回访 rating after a reply that may take 15 working days plus review.
pub const RATING_LINK_DAYS: i64 = 60;

pub const MAX_COMMENT_CHARS: usize = 2000;
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 32;
pub const MAX_COMPLAINT_CHARS: usize = 10_000;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        // Stored as its text: `storage::sql_enums` reads and writes it, refusing unknown text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[derive(::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = ::diesel::sql_types::Text)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        // Written out rather than derived: the derive does not see the `serde(rename)` a macro
        // passes it, and would document the variants' Rust names instead of the texts.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::new(utoipa::openapi::schema::Type::String))
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// Where a rating was given.
    Channel {
        Pc = "pc",
        Mobile = "mobile",
        Qr = "qr",
        Kiosk = "kiosk",
        WindowDevice = "window_device",
        Hotline = "hotline",
        Sms = "sms",
        Default = "default",
    }
}

impl Channel {
    /// Channels a citizen holding a rating link may claim; devices and the system default
    /// rating come only from integrations.
    pub fn open_to_citizens(self) -> bool {
        matches!(self, Channel::Pc | Channel::Mobile | Channel::Qr | Channel::Sms)
    }
}

string_enum! {
    /// Where a complaint came from.
    ComplaintSource {
        Hotline12345 = "hotline_12345",
        StateCouncil = "state_council",
        UnresolvedWindow = "unresolved_window",
        Other = "other",
    }
}

string_enum! {
    /// How a complaint's department was decided.
    RoutedBy {
        Given = "given",
        Router = "router",
        Unassigned = "unassigned",
    }
}

/// A rejected field, reported as 422 with the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// A review's content, checked: tags trimmed and bounded, comment bounded, and a bad review
/// carries a reason (a tag or a comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewContent {
    pub stars: Stars,
    pub tags: Vec<String>,
    pub comment: Option<String>,
}

impl ReviewContent {
    pub fn parse(stars: i64, tags: Vec<String>, comment: Option<String>) -> Result<Self, FieldError> {
        let stars = Stars::parse(stars).map_err(|e| FieldError::new("stars", e.to_string()))?;
        if tags.len() > MAX_TAGS {
            return Err(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
        }
        let mut clean_tags: Vec<String> = Vec::with_capacity(tags.len());
        for tag in tags {
            let tag = tag.trim().to_owned();
            check_text("tags", &tag, MAX_TAG_CHARS)?;
            if tag.is_empty() {
                return Err(FieldError::new("tags", "a tag cannot be empty"));
            }
            if !clean_tags.contains(&tag) {
                clean_tags.push(tag);
            }
        }
        let comment = match comment.map(|c| c.trim().to_owned()) {
            Some(c) if c.is_empty() => None,
            Some(c) => {
                check_text("comment", &c, MAX_COMMENT_CHARS)?;
                Some(c)
            }
            None => None,
        };
        if stars.is_bad() && clean_tags.is_empty() && comment.is_none() {
            return Err(FieldError::new(
                "comment",
                "a bad review (1 or 2 stars) needs at least one tag or a comment",
            ));
        }
        Ok(ReviewContent { stars, tags: clean_tags, comment })
    }
}

/// Rejects text longer than `max` characters (not bytes) or holding control characters other
/// than line breaks and tabs.
pub fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), FieldError> {
    let count = text.chars().count();
    if count > max {
        return Err(FieldError::new(field, format!("at most {max} characters, got {count}")));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FieldError::new(field, "control characters are not allowed"));
    }
    Ok(())
}

/// An address mail can go to: a clean text of at most 254 characters with an `@`.
pub fn check_email(field: &'static str, email: &str) -> Result<(), FieldError> {
    check_text(field, email, 254)?;
    if !email.contains('@') {
        return Err(FieldError::new(field, "not an email address"));
    }
    Ok(())
}

/// Codes are the callers' own ids: printable, no spaces, at most 64 characters.
pub fn check_code(field: &'static str, code: &str) -> Result<(), FieldError> {
    if code.is_empty() || code.chars().count() > 64 {
        return Err(FieldError::new(field, "must be 1 to 64 characters"));
    }
    if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must not contain spaces or control characters"));
    }
    Ok(())
}

/// A required human-readable name: non-blank, bounded.
pub fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be blank"));
    }
    check_text(field, name, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_review_needs_a_tag_or_comment() {
        assert!(ReviewContent::parse(1, vec![], None).is_err());
        assert!(ReviewContent::parse(2, vec![], Some("   ".into())).is_err());
        assert!(ReviewContent::parse(2, vec!["态度差".into()], None).is_ok());
        assert!(ReviewContent::parse(1, vec![], Some("等了两个小时".into())).is_ok());
        assert!(ReviewContent::parse(3, vec![], None).is_ok());
    }

    #[test]
    fn comment_is_bounded_in_characters_not_bytes() {
        let at_limit = "好".repeat(MAX_COMMENT_CHARS);
        assert!(ReviewContent::parse(5, vec![], Some(at_limit.clone())).is_ok());
        let over = format!("{at_limit}好");
        let err = ReviewContent::parse(5, vec![], Some(over)).unwrap_err();
        assert_eq!(err.field, "comment");
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let r = ReviewContent::parse(4, vec![" 热情 ".into(), "热情".into()], None).unwrap();
        assert_eq!(r.tags, vec!["热情"]);
        assert!(ReviewContent::parse(4, vec!["".into()], None).is_err());
        assert!(ReviewContent::parse(4, vec!["x".into(); 11], None).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(check_text("comment", "a\u{0}b", 10).is_err());
        assert!(check_text("comment", "第一行\n第二行", 10).is_ok());
    }

    #[test]
    fn channels_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
        }
        assert!(!Channel::Default.open_to_citizens());
    }
}
