//! Moderation before 双公开: the public comments held for a listed phrase, a supervisor's decision
//! on each, and the list of phrases.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema as oas;
use utoipa::ToSchema;

use crate::admin::rules::set_held_phrases;
use crate::clock;
use crate::domain::access::Role;
use crate::domain::moderation::Decision;
use crate::error::{AppError, AppResult};
use crate::insight::disclosure::{self, HeldComment, ModerationDecided};
use crate::interfaces::app::AppState;

use super::extract::Caller;

/// Held comments listed at once, oldest first.
const HELD_LISTED: i64 = 500;

#[utoipa::path(get, path = "/api/v1/moderation/held", responses((status = 200, body = [HeldComment])), security(("bearer" = [])))]
pub async fn list_held(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let held = state
        .db(|conn, state| {
            let rules = state.rules(conn)?;
            disclosure::held_comments(conn, &rules.held_phrases, HELD_LISTED)
        })
        .await?;
    Ok(HttpResponse::Ok().json(held))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationRequest {
    /// `publish` (shown on /public and in Open311) or `keep_private`.
    #[schema(pattern = "^(publish|keep_private)$")]
    pub decision: String,
    /// Why, for the audit chain.
    #[schema(max_length = 500, pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/reviews/{id}/moderation", params(("id" = i64, Path)), request_body = ModerationRequest,
    responses((status = 200, body = ModerationDecided), (status = 404, description = "no such review"),
              (status = 409, description = "the comment is not waiting for a decision")),
    security(("bearer" = [])))]
pub async fn decide(state: web::Data<AppState>, caller: Caller, id: web::Path<i64>, body: web::Json<ModerationRequest>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor])?;
    let b = body.into_inner();
    let decision = Decision::parse(&b.decision).ok_or_else(|| AppError::invalid("decision", "publish or keep_private"))?;
    if let Some(note) = &b.note {
        crate::domain::intake_rules::check_text("note", note, 500)?;
    }
    let (actor, id) = (caller.0.actor_label(), id.into_inner());
    let decided = state.db(move |conn, _| disclosure::decide(conn, id, decision, &actor, b.note.as_deref(), clock::now())).await?;
    Ok(HttpResponse::Ok().json(decided))
}

/// One phrase of an admin's list: at most 50 characters, no control characters (blank ones are
/// dropped). Only for the schema; the lists hold plain strings.
pub struct Phrase;

impl utoipa::PartialSchema for Phrase {
    fn schema() -> utoipa::openapi::RefOr<oas::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(oas::SchemaType::new(oas::Type::String))
            .max_length(Some(crate::admin::rules::MAX_HELD_PHRASE_CHARS))
            .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
            .into()
    }
}

impl ToSchema for Phrase {}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldPhrases {
    /// A public comment containing any of these waits for a supervisor.
    #[schema(max_items = 500, value_type = Vec<Phrase>)]
    pub phrases: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/moderation/phrases", responses((status = 200, body = HeldPhrases)), security(("bearer" = [])))]
pub async fn get_phrases(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let phrases = state.db(|conn, _| crate::storage::rules::held_phrases(conn)).await?;
    Ok(HttpResponse::Ok().json(HeldPhrases { phrases }))
}

#[utoipa::path(put, path = "/api/v1/moderation/phrases", request_body = HeldPhrases,
    responses((status = 200, body = HeldPhrases), (status = 422, description = "a phrase too long or too many")), security(("bearer" = [])))]
pub async fn put_phrases(state: web::Data<AppState>, caller: Caller, body: web::Json<HeldPhrases>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, phrases) = (caller.0.actor_label(), body.into_inner().phrases);
    let kept = state
        .db(move |conn, state| {
            let kept = set_held_phrases(conn, &actor, &phrases, clock::now())?;
            state.rules.reload(conn)?;
            Ok(kept)
        })
        .await?;
    Ok(HttpResponse::Ok().json(HeldPhrases { phrases: kept }))
}
