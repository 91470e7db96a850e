//! Request extraction: body limits and parse errors mapped to the error contract, and the
//! caller's identity.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::admin::accounts::authenticate_bearer;
use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::clock;
use crate::error::AppError;
use crate::adapters::security::RatingTokenError;

use super::MAX_BODY_BYTES;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(|err, _req| {
        let mapped = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                AppError::PayloadTooLarge(MAX_BODY_BYTES)
            }
            JsonPayloadError::ContentType => {
                AppError::UnsupportedMediaType("send the body as JSON with Content-Type: application/json".into())
            }
            JsonPayloadError::Deserialize(e) => match super::times::field_of(&e.to_string()) {
                Some(field) => AppError::invalid(field, super::times::EXPECTED),
                None => AppError::BadRequest(format!("invalid JSON body: {e}")),
            },
            other => AppError::BadRequest(format!("cannot read the body: {other}")),
        };
        mapped.into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        match super::times::field_of(&err.to_string()) {
            Some(field) => AppError::invalid(field, super::times::EXPECTED).into(),
            None => AppError::BadRequest(format!("invalid query string: {err}")).into(),
        }
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| AppError::NotFound(format!("no such resource: {err}")).into())
}

/// The client address the rate limits count by: the TCP peer (see the README for proxies).
pub fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// The credential of an `Authorization: Bearer …` header (scheme case-insensitive, trimmed).
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The authenticated caller: a bearer token (login or API key) or a citizen's rating token in
/// `X-Rating-Token`. Missing or bad credentials are `401`.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        let rating_token = req.headers().get("X-Rating-Token").and_then(|v| v.to_str().ok()).map(|t| t.trim().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("state missing")))?;
            if let Some(token) = bearer {
                if token.is_empty() || token.len() > 200 {
                    return Err(AppError::Unauthorized("invalid credentials".into()));
                }
                let principal = match state.api_keys.get(&token) {
                    Some(principal) => principal,
                    None => {
                        state
                            .db(move |conn, state| {
                                let principal = authenticate_bearer(conn, &token, clock::now())?;
                                state.api_keys.remember(&token, &principal);
                                Ok(principal)
                            })
                            .await?
                    }
                };
                // Each integration key has its own quota, on every endpoint, apart from the
                // per-address limits of citizens and sign-ins.
                if let Principal::ApiKey { id, .. } = &principal {
                    state.throttle.integration(*id)?;
                }
                return Ok(Caller(principal));
            }
            if let Some(token) = rating_token {
                return match state.signer.verify(&token, clock::now()) {
                    Ok(transaction_no) => Ok(Caller(Principal::Citizen { transaction_no })),
                    Err(RatingTokenError::Expired) => Err(AppError::Unauthorized("the rating link has expired".into())),
                    Err(e) => Err(AppError::Unauthorized(e.to_string())),
                };
            }
            Err(AppError::Unauthorized("send Authorization: Bearer <token> or X-Rating-Token".into()))
        })
    }
}
