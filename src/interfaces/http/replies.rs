//! The reply checks' banned list (答复提示): the phrases a department's reply is warned about.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::rules::set_banned_reply_phrases;
use crate::clock;
use crate::domain::access::Role;
use crate::error::AppResult;
use crate::interfaces::app::AppState;

use super::extract::Caller;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BannedReplyPhrases {
    /// A reply containing any of these is accepted with the warning `banned_phrase`.
    #[schema(max_items = 500, value_type = Vec<super::moderation::Phrase>)]
    pub phrases: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/replies/banned-phrases", responses((status = 200, body = BannedReplyPhrases)), security(("bearer" = [])))]
pub async fn get_banned_phrases(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Supervisor, Role::Admin])?;
    let phrases = state.db(|conn, _| crate::storage::rules::banned_reply_phrases(conn)).await?;
    Ok(HttpResponse::Ok().json(BannedReplyPhrases { phrases }))
}

#[utoipa::path(put, path = "/api/v1/replies/banned-phrases", request_body = BannedReplyPhrases,
    responses((status = 200, body = BannedReplyPhrases), (status = 422, description = "a phrase too long or too many")), security(("bearer" = [])))]
pub async fn put_banned_phrases(state: web::Data<AppState>, caller: Caller, body: web::Json<BannedReplyPhrases>) -> AppResult<HttpResponse> {
    caller.0.require(&[Role::Admin])?;
    let (actor, phrases) = (caller.0.actor_label(), body.into_inner().phrases);
    let kept = state.db(move |conn, _| set_banned_reply_phrases(conn, &actor, &phrases, clock::now())).await?;
    Ok(HttpResponse::Ok().json(BannedReplyPhrases { phrases: kept }))
}
