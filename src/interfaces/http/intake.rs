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
use crate::intake::{self, ComplaintCommand, Rater, RatingRequest, TransactionCommand};
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
    pub transaction_no: String,
    pub service_item_code: String,
    pub window_code: Option<String>,
    pub staff_no: Option<String>,
    pub channel: String,
    pub applicant_name: Option<String>,
    pub applicant_phone: Option<String>,
    /// Where the reply to a bad review is mailed, when the applicant gave one.
    pub applicant_email: Option<String>,
    #[serde(default, deserialize_with = "times::accepted_at_opt")]
    pub accepted_at: Option<DateTime<FixedOffset>>,
    #[serde(deserialize_with = "times::completed_at")]
    pub completed_at: DateTime<FixedOffset>,
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
    let b = body.into_inner();
    let cmd = TransactionCommand {
        channel: parse_channel(&b.channel)?,
        transaction_no: b.transaction_no,
        service_item_code: b.service_item_code,
        window_code: b.window_code,
        staff_no: b.staff_no,
        applicant_name: b.applicant_name,
        applicant_phone: b.applicant_phone,
        applicant_email: b.applicant_email,
        accepted_at: b.accepted_at.map(|t| t.with_timezone(&Utc)),
        completed_at: b.completed_at.with_timezone(&Utc),
    };
    let recorded = state.db(move |conn, _| intake::record_transaction(conn, &cmd, clock::now())).await?;
    let token = state.signer.sign(&recorded.transaction.transaction_no, intake::rating_link_expiry(clock::now()));
    let body = TransactionCreated {
        rating_url: format!("{}/rate/{token}", state.config.public_url),
        transaction_no: recorded.transaction.transaction_no,
        rating_token: token,
    };
    Ok(if recorded.created { HttpResponse::Created().json(body) } else { HttpResponse::Ok().json(body) })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub transaction_no: String,
    /// 1 非常不满意 … 5 非常满意.
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
        Principal::Citizen { .. } => state.throttle.citizen_rating(crate::interfaces::http::extract::client_address(&req))?,
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
    let cmd = intake::review_command(&rater, request, now)?;
    let recorded = state.reviews.submit(cmd, caller.0.actor_label(), now).await?;
    state.metrics.review_recorded(recorded.is_bad);
    Ok(HttpResponse::Created().json(ReviewCreated { id: recorded.id, is_bad: recorded.is_bad, case_id: recorded.case_id }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintRequest {
    /// `hotline_12345`, `state_council`, `unresolved_window` or `other`.
    pub source: String,
    pub external_no: String,
    pub title: Option<String>,
    pub content: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    #[serde(deserialize_with = "times::received_at")]
    pub received_at: DateTime<FixedOffset>,
    pub department_code: Option<String>,
    pub service_item_code: Option<String>,
    pub transaction_no: Option<String>,
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
