//! The error contract of the API: every failure becomes `{"error":{"code","message",...}}` with
//! the status SPEC §6 names. The user sees a clear message; internals go only to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::{json, Map, Value};

use crate::domain::case_flow::FlowError;
use crate::domain::intake_rules::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `400`: malformed body, unknown field, wrong type, bad query.
    #[error("{0}")]
    BadRequest(String),
    /// `401`: no or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// `403`: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// `404`
    #[error("{0}")]
    NotFound(String),
    /// `409`: conflicts with what is stored; `details` say with what.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Map<String, Value> },
    /// `413`
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// `415`
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// `422`: well-formed but invalid value.
    #[error("{0}")]
    Invalid(FieldError),
    /// `429`
    #[error("too many requests; try again in {0} seconds")]
    RateLimited(u64),
    /// `503`: the database (or another dependency) is unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// `503`: the database cannot be written (disk full, read-only file system); reads still
    /// work and nothing of the refused request was saved.
    #[error("{0}")]
    StorageUnwritable(&'static str, &'static str),
    /// `500`: a bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// `500`: stored data failed its own check (a frozen report whose bytes no longer match its
    /// hash); said plainly rather than served as if sound. The caller logs the details.
    #[error("{0}")]
    IntegrityCheckFailed(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid(FieldError::new(field, message))
    }

    pub fn unknown_code(field: &'static str, code: &str) -> Self {
        AppError::invalid(field, format!("unknown {field} {code:?}"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict { code, message: message.into(), details: Map::new() }
    }

    pub fn conflict_with(code: &'static str, message: impl Into<String>, details: Value) -> Self {
        let details = match details {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        AppError::Conflict { code, message: message.into(), details }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict { code, .. } => code,
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Invalid(_) => "invalid",
            AppError::RateLimited(_) => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::StorageUnwritable(code, _) => code,
            AppError::Internal(_) => "internal",
            AppError::IntegrityCheckFailed(_) => "integrity_check_failed",
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, AppError::Conflict { code: "duplicate", .. })
    }
}

impl From<crate::domain::access::RoleRequired> for AppError {
    fn from(e: crate::domain::access::RoleRequired) -> Self {
        AppError::Forbidden(e.to_string())
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Invalid(e)
    }
}

impl From<FlowError> for AppError {
    fn from(e: FlowError) -> Self {
        match &e {
            FlowError::NotAllowedInState { allowed, state, .. } => AppError::conflict_with(
                "illegal_transition",
                e.to_string(),
                json!({ "state": state, "allowed_actions": allowed }),
            ),
            FlowError::WrongActor { .. } => AppError::Forbidden(e.to_string()),
        }
    }
}

impl From<DieselError> for AppError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => AppError::NotFound("not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                // The database's text names tables and columns: it goes to the log, and the
                // caller hears which field holds a value that is taken.
                tracing::info!(error = %info.message(), constraint = ?info.constraint_name(), "unique violation");
                let field = unique_field(info.as_ref());
                let mut details = Map::new();
                details.insert("field".into(), json!(field));
                AppError::Conflict { code: "duplicate", message: format!("a record with this {field} already exists"), details }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                AppError::invalid("reference", "refers to a record that does not exist")
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                AppError::Unavailable("the database connection was lost; retry".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info) => {
                let m = info.message().to_ascii_lowercase();
                if m.contains("disk is full") || m.contains("no space left on device") {
                    tracing::error!(error = %info.message(), "database disk full");
                    AppError::StorageUnwritable("storage_full", "the database's disk is full; nothing was saved — retry once space is freed")
                } else if m.contains("readonly database") || m.contains("read-only") {
                    tracing::error!(error = %info.message(), "database read-only");
                    AppError::StorageUnwritable("read_only", "the database is read-only; nothing was saved — retry later")
                } else if m.contains("invalid byte sequence for encoding") {
                    // PostgreSQL refuses NUL in text (SQLite stores it): whatever field or filter
                    // carried it, the request is at fault, not the server.
                    AppError::BadRequest("text must not contain NUL characters".into())
                } else if is_unavailable_message(&m) {
                    AppError::Unavailable("the database is unavailable; retry later".into())
                } else {
                    AppError::Internal(e.into())
                }
            }
            other => AppError::Internal(other.into()),
        }
    }
}

fn is_unavailable_message(lowercase: &str) -> bool {
    ["database is locked", "terminating connection", "server closed the connection", "no connection to the server", "could not connect", "disk i/o error"]
        .iter()
        .any(|needle| lowercase.contains(needle))
}

/// The field a unique violation is about: SQLite says `UNIQUE constraint failed: table.column`
/// (the first column of a composite key is named), PostgreSQL names the constraint
/// (`table_column_key`) and the table.
fn unique_field(info: &dyn diesel::result::DatabaseErrorInformation) -> String {
    if let Some(columns) = info.message().strip_prefix("UNIQUE constraint failed: ") {
        if let Some(column) = columns.split(',').next().and_then(|c| c.trim().rsplit('.').next()) {
            return column.to_owned();
        }
    }
    if let Some(column) = info.column_name() {
        return column.to_owned();
    }
    if let Some(constraint) = info.constraint_name() {
        let without_table = match info.table_name() {
            Some(table) => constraint.strip_prefix(table).map(|c| c.trim_start_matches('_')).unwrap_or(constraint),
            None => constraint,
        };
        let column = without_table.strip_suffix("_key").or_else(|| without_table.strip_suffix("_pkey")).unwrap_or(without_table);
        if !column.is_empty() {
            return column.to_owned();
        }
    }
    "value".to_owned()
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "no database connection");
        AppError::Unavailable("the database is unavailable; retry later".into())
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::StorageUnwritable(..) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) | AppError::IntegrityCheckFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = self.body();
        let mut response = HttpResponse::build(self.status_code());
        if let AppError::RateLimited(seconds) = self {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        if let AppError::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(json!({ "error": body }))
    }
}

impl AppError {
    /// The same refusal for each caller of a batch that failed as a whole: storage errors keep
    /// their kind (a full disk stays `storage_full`), anything else is "unavailable, retry".
    pub fn for_each_caller(&self) -> AppError {
        match self {
            AppError::StorageUnwritable(code, message) => AppError::StorageUnwritable(code, message),
            AppError::Unavailable(message) => AppError::Unavailable(message.clone()),
            other => AppError::Unavailable(other.to_string()),
        }
    }

    /// The `error` object of an answer: `code`, `message`, and `field` or the conflict's
    /// details (also one item's error in a batch answer).
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(self.to_string()));
        match self {
            AppError::Invalid(f) => {
                body.insert("field".into(), json!(f.field));
            }
            AppError::Conflict { details, .. } => {
                body.extend(details.clone());
            }
            AppError::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, "internal error");
            }
            _ => {}
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    /// A unique violation as either backend words it.
    struct Unique {
        message: &'static str,
        table: Option<&'static str>,
        constraint: Option<&'static str>,
    }

    impl diesel::result::DatabaseErrorInformation for Unique {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            self.table
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    #[test]
    fn a_unique_violation_names_the_field_never_the_table() {
        let sqlite = Unique { message: "UNIQUE constraint failed: departments.code", table: None, constraint: None };
        let postgres = Unique { message: "duplicate key value violates unique constraint \"departments_code_key\"", table: Some("departments"), constraint: Some("departments_code_key") };
        for info in [sqlite, postgres] {
            let e = AppError::from(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(info)));
            let body = e.body().to_string();
            assert_eq!((e.status_code().as_u16(), e.code()), (409, "duplicate"));
            assert!(body.contains(r#""field":"code""#), "{body}");
            assert!(!body.contains("departments") && !body.contains("UNIQUE") && !body.contains("constraint"), "{body}");
        }
    }

    fn mapped(message: &'static str) -> (u16, &'static str) {
        let e = AppError::from(DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(Info(message))));
        (e.status_code().as_u16(), e.code())
    }

    #[test]
    fn storage_faults_are_503_with_their_own_codes() {
        assert_eq!(mapped("database or disk is full"), (503, "storage_full"));
        assert_eq!(mapped("could not extend file \"base/1/2\": No space left on device"), (503, "storage_full"));
        assert_eq!(mapped("attempt to write a readonly database"), (503, "read_only"));
        assert_eq!(mapped("cannot execute INSERT in a read-only transaction"), (503, "read_only"));
        assert_eq!(mapped("server closed the connection unexpectedly"), (503, "unavailable"));
        assert_eq!(mapped("syntax error near x"), (500, "internal"));
        assert_eq!(mapped("invalid byte sequence for encoding \"UTF8\": 0x00"), (400, "bad_request"));
    }
}
