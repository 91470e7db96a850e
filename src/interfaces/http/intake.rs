//! Transactions, reviews and complaints coming in.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::clock;
use crate::domain::intake_rules::{Channel, ComplaintSource};
use crate::error::{AppError, AppResult};
use crate::intake::{self, Commitment, ComplaintCommand, Rater, RatingRequest, TransactionCommand};
use crate::domain::access::Role;

use super::extract::Caller;
use super::times;

fn parse_channel(text: &str) -> AppResult<Channel> {
    Channel::parse(text).ok_or_else(|| {
        let known: Vec<_> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        AppError::invalid("channel", format!("unknown channel {text:?}; one of {}", known.join(", ")))
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionRequest {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub transaction_no: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub service_item_code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub window_code: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub staff_no: Option<String>,
    #[schema(value_type = crate::domain::intake_rules::Channel)]
    pub channel: String,
    #[schema(max_length = 100, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub applicant_name: Option<String>,
    #[schema(max_length = 32, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub applicant_phone: Option<String>,
    /// Where the reply to a bad review is mailed, when the applicant gave one.
    #[schema(max_length = 254, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f@]*@[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub applicant_email: Option<String>,
    #[serde(default, deserialize_with = "times::accepted_at_opt")]
    pub accepted_at: Option<DateTime<FixedOffset>>,
    #[serde(deserialize_with = "times::completed_at")]
    pub completed_at: DateTime<FixedOffset>,
    /// Send the rating invitation by SMS to `applicant_phone` (a mobile number), once, outside
    /// the quiet hours. Default false: most 办件 are rated at the counter.
    #[serde(default)]
    pub invite_by_sms: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionCreated {
    pub transaction_no: String,
    pub rating_token: String,
    pub rating_url: String,
}

#[utoipa::path(post, path = "/api/v1/transactions", request_body = TransactionRequest,
    responses((status = 201, body = TransactionCreated), (status = 200, description = "already stored; same answer"),
              (status = 422, description = "unknown code or invalid value")), security(("bearer" = [])))]
pub async fn create_transaction(state: web::Data<AppState>, caller: Caller, body: web::Json<TransactionRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Integration, Role::Admin])?;
    let cmd = body.into_inner().command()?;
    let recorded = state.transactions.submit(cmd, clock::now()).await?;
    let body = created(&state, recorded.transaction.transaction_no);
    Ok(if recorded.created { HttpResponse::Created().json(body) } else { HttpResponse::Ok().json(body) })
}

impl TransactionRequest {
    fn command(self) -> AppResult<TransactionCommand> {
        Ok(TransactionCommand {
            channel: parse_channel(&self.channel)?,
            transaction_no: self.transaction_no,
            service_item_code: self.service_item_code,
            window_code: self.window_code,
            staff_no: self.staff_no,
            applicant_name: self.applicant_name,
            applicant_phone: self.applicant_phone,
            applicant_email: self.applicant_email,
            accepted_at: self.accepted_at.map(|t| t.with_timezone(&Utc)),
            completed_at: self.completed_at.with_timezone(&Utc),
            invite_by_sms: self.invite_by_sms,
        })
    }
}

/// The answer for a stored 办件: its rating link, signed now.
fn created(state: &AppState, transaction_no: String) -> TransactionCreated {
    let token = state.signer.sign(&transaction_no, intake::rating_link_expiry(clock::now()));
    TransactionCreated { rating_url: format!("{}/rate/{token}", state.config.public_url), transaction_no, rating_token: token }
}

/// Items in one `POST /api/v1/transactions/batch` at most.
pub const MAX_BATCH_ITEMS: usize = 1_000;
/// Its body at most: 1 000 items of up to 8 KB each (a full item with long names is ~600 B), so
/// that a batch of too many items is told so (422) rather than refused for its size.
pub const BATCH_BODY_BYTES: usize = 8 << 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionBatchRequest {
    /// 1 to 1 000 transactions, each as `POST /api/v1/transactions` takes it
    /// (`TransactionRequest`). Each is checked on its own: one that does not fit gets its own
    /// `400`/`422` result while the others are stored, so the array takes any objects.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 1000)]
    pub items: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionBatchItem {
    /// The item's position in `items`, from 0.
    pub index: usize,
    /// What `POST /api/v1/transactions` would have answered for it: 201 stored, 200 already
    /// stored with the same data, 400/409/422 refused.
    pub status: u16,
    pub transaction_no: Option<String>,
    pub rating_token: Option<String>,
    pub rating_url: Option<String>,
    /// The refusal, as the single call's `error` object.
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionBatchResult {
    pub results: Vec<TransactionBatchItem>,
    pub created: usize,
    pub repeated: usize,
    pub refused: usize,
}

#[utoipa::path(post, path = "/api/v1/transactions/batch", request_body = TransactionBatchRequest,
    responses((status = 200, body = TransactionBatchResult, description = "one result per item, in order; a refused item stores nothing of itself and keeps the others"),
              (status = 422, description = "no items, or more than 1 000")), security(("bearer" = [])))]
pub async fn create_transactions_batch(state: web::Data<AppState>, caller: Caller, body: web::Json<TransactionBatchRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Integration, Role::Admin])?;
    let items = body.into_inner().items;
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(AppError::invalid("items", format!("{} items; send 1 to {MAX_BATCH_ITEMS}", items.len())));
    }
    // Not even an object: the batch itself is malformed (its schema says objects).
    if let Some(index) = items.iter().position(|item| !item.is_object()) {
        return Err(AppError::invalid("items", format!("item {index} is not an object")));
    }
    // Each item is read on its own, so one malformed item is refused alone.
    let parsed: Vec<AppResult<TransactionCommand>> = items
        .into_iter()
        .map(|item| {
            serde_json::from_value::<TransactionRequest>(item)
                .map_err(|e| match times::field_of(&e.to_string()) {
                    Some(field) => AppError::invalid(field, times::EXPECTED),
                    None => AppError::BadRequest(format!("invalid item: {e}")),
                })
                .and_then(TransactionRequest::command)
        })
        .collect();
    let cmds: Vec<TransactionCommand> = parsed.iter().filter_map(|p| p.as_ref().ok()).cloned().collect();
    let stored = state.db(move |conn, _| intake::record_transactions(conn, &cmds.iter().collect::<Vec<_>>(), clock::now())).await?;
    let mut stored = stored.into_iter();
    let results: Vec<TransactionBatchItem> = parsed
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let outcome = item.and_then(|_| stored.next().unwrap_or_else(|| Err(AppError::internal(anyhow::anyhow!("a batch item lost its result")))));
            match outcome {
                Ok(recorded) => {
                    let body = created(&state, recorded.transaction.transaction_no);
                    TransactionBatchItem {
                        index,
                        status: if recorded.created { 201 } else { 200 },
                        transaction_no: Some(body.transaction_no),
                        rating_token: Some(body.rating_token),
                        rating_url: Some(body.rating_url),
                        error: None,
                    }
                }
                Err(e) => TransactionBatchItem {
                    index,
                    status: actix_web::ResponseError::status_code(&e).as_u16(),
                    transaction_no: None,
                    rating_token: None,
                    rating_url: None,
                    error: Some(e.body()),
                },
            }
        })
        .collect();
    let count = |f: fn(u16) -> bool| results.iter().filter(|r| f(r.status)).count();
    let (created, repeated, refused) = (count(|s| s == 201), count(|s| s == 200), count(|s| s >= 400));
    Ok(HttpResponse::Ok().json(TransactionBatchResult { results, created, repeated, refused }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub transaction_no: String,
    /// 1 非常不满意 … 5 非常满意.
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub stars: i64,
    pub channel: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub comment: Option<String>,
    #[serde(default)]
    pub anonymous: bool,
    /// Whether the review (masked) may be shown on the public page; default true.
    pub public: Option<bool>,
    /// The device's time; integrations only. Default: now.
    #[serde(default, deserialize_with = "times::rated_at_opt")]
    pub rated_at: Option<DateTime<FixedOffset>>,
    /// A stable id of the device the rating was given on (an app install, a hall kiosk, a
    /// window's rating pad), for the integrity flags: only its keyed hash is stored.
    #[schema(min_length = 1, max_length = 128, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub device_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewCreated {
    pub id: i64,
    pub is_bad: bool,
    pub case_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/reviews", request_body = ReviewRequest,
    responses((status = 201, body = ReviewCreated), (status = 409, description = "transaction already rated (一事一评)"),
              (status = 422, description = "invalid stars, tags, comment or channel")),
    security(("bearer" = []), ("rating_token" = [])))]
pub async fn create_review(state: web::Data<AppState>, req: HttpRequest, caller: Caller, body: web::Json<ReviewRequest>) -> AppResult<HttpResponse> {
    match &caller.0 {
        // An integration key's own quota is checked as the key is recognised.
        Principal::Citizen { .. } => state.citizen_rating_quota(crate::interfaces::http::extract::client_address(&req)).await?,
        Principal::ApiKey { .. } | Principal::User { .. } => {}
    }
    let rater = match &caller.0 {
        Principal::Citizen { transaction_no } => Rater::Citizen { link_transaction_no: transaction_no },
        Principal::ApiKey { .. } => Rater::Integration,
        Principal::User { .. } => {
            return Err(AppError::Forbidden("reviews come from citizens' rating links or integration keys".into()))
        }
    };
    let b = body.into_inner();
    if let Some(device) = &b.device_id {
        crate::domain::intake_rules::check_text("device_id", device, crate::domain::integrity::MAX_DEVICE_ID_CHARS)?;
        if device.trim().is_empty() {
            return Err(AppError::invalid("device_id", "must not be blank"));
        }
    }
    // A citizen's own address and browser say where the rating came from; an integration's
    // address is its business system's, so only the device it names counts.
    let origin = match &rater {
        Rater::Citizen { .. } => crate::domain::integrity::ReviewOrigin {
            staff_session: crate::interfaces::web::staff::staff_session_in_force(&state, &req).await,
            ..super::extract::rating_origin(&state, &req, b.device_id.as_deref())
        },
        Rater::Integration => crate::domain::integrity::ReviewOrigin {
            device_hash: b.device_id.as_deref().map(|d| state.cookies.origin_hash("device", d.trim())),
            ..Default::default()
        },
    };
    let request = RatingRequest {
        channel: parse_channel(&b.channel)?,
        transaction_no: b.transaction_no,
        stars: b.stars,
        tags: b.tags,
        comment: b.comment,
        anonymous: b.anonymous,
        public: b.public,
        rated_at: b.rated_at.map(|t| t.with_timezone(&Utc)),
    };
    let now = clock::now();
    let cmd = intake::ReviewCommand { origin, ..intake::review_command(&rater, request, now)? };
    let recorded = state.reviews.submit(cmd, caller.0.actor_label(), now).await?;
    state.metrics.review_recorded(recorded.is_bad);
    Ok(HttpResponse::Created().json(ReviewCreated { id: recorded.id, is_bad: recorded.is_bad, case_id: recorded.case_id }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintRequest {
    /// `hotline_12345`, `state_council`, `unresolved_window` or `other`.
    #[schema(value_type = crate::domain::intake_rules::ComplaintSource)]
    pub source: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub external_no: String,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 10000, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub content: String,
    #[schema(max_length = 100, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub contact_name: Option<String>,
    #[schema(max_length = 32, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub contact_phone: Option<String>,
    #[serde(deserialize_with = "times::received_at")]
    pub received_at: DateTime<FixedOffset>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub service_item_code: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub transaction_no: Option<String>,
    /// 承诺时限: the reply time the work order promises (RFC 3339, after `received_at`); it
    /// replaces the SLA's reply deadline. Not with `committed_working_days`.
    #[serde(default, deserialize_with = "times::due_at_opt")]
    pub due_at: Option<DateTime<FixedOffset>>,
    /// 承诺时限 in working days from `received_at` (1–60). Not with `due_at`.
    #[schema(minimum = 1, maximum = 60)]
    pub committed_working_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintCreated {
    pub case_id: i64,
    pub department_code: Option<String>,
    /// `given`, `router` or `unassigned`.
    pub routed_by: String,
}

#[utoipa::path(post, path = "/api/v1/complaints", request_body = ComplaintRequest,
    responses((status = 201, body = ComplaintCreated), (status = 200, description = "same source + external_no: the first case")),
    security(("bearer" = [])))]
pub async fn create_complaint(state: web::Data<AppState>, caller: Caller, body: web::Json<ComplaintRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Integration, Role::Admin, Role::Supervisor])?;
    let b = body.into_inner();
    let source = ComplaintSource::parse(&b.source).ok_or_else(|| {
        let known: Vec<_> = ComplaintSource::ALL.iter().map(|c| c.as_str()).collect();
        AppError::invalid("source", format!("unknown source {:?}; one of {}", b.source, known.join(", ")))
    })?;
    let now = clock::now();
    let received_at = b.received_at.with_timezone(&Utc);
    if received_at > now + chrono::Duration::minutes(10) {
        return Err(AppError::invalid("received_at", "is in the future"));
    }
    let cmd = ComplaintCommand {
        source,
        external_no: b.external_no,
        title: b.title,
        content: b.content,
        contact_name: b.contact_name,
        contact_phone: b.contact_phone,
        received_at,
        department_code: b.department_code,
        service_item_code: b.service_item_code,
        transaction_no: b.transaction_no,
        commitment: match (b.due_at, b.committed_working_days) {
            (Some(_), Some(_)) => return Err(AppError::invalid("committed_working_days", "give due_at or committed_working_days, not both")),
            (Some(due), None) => Some(Commitment::DueAt(due.with_timezone(&Utc))),
            (None, Some(days)) => Some(Commitment::WorkingDays(days)),
            (None, None) => None,
        },
    };
    let actor = caller.0.actor_label();
    let recorded = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            intake::record_complaint(conn, &cmd, &actor, now, &rules, state.router.as_ref())
        })
        .await?;
    let body = ComplaintCreated {
        case_id: recorded.case_id,
        department_code: recorded.department_code,
        routed_by: recorded.routed_by.as_str().to_owned(),
    };
    if recorded.created {
        state.metrics.count("complaint");
        state.metrics.count("case_opened");
        Ok(HttpResponse::Created().json(body))
    } else {
        Ok(HttpResponse::Ok().json(body))
    }
}
