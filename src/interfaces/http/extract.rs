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
    json_config_up_to(MAX_BODY_BYTES)
}

/// The JSON rules with another size limit (a batch of 1 000 办件 is larger than one request).
pub fn json_config_up_to(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| {
        let mapped = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                AppError::PayloadTooLarge(limit)
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

/// The client address the per-address limits count by: the TCP peer, or — when the peer is one
/// of `HCP_TRUSTED_PROXIES` — the address the proxies forwarded for.
pub fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let trusted = req.app_data::<web::Data<AppState>>().map(|s| s.config.trusted_proxies.as_slice()).unwrap_or_default();
    let header = |name: &str| req.headers().get_all(name).filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    Some(forwarded_client(peer, trusted, &header("Forwarded"), &header("X-Forwarded-For")))
}

/// The rating page's long-lived first-party cookie naming the browser (a random id).
pub const DEVICE_COOKIE: &str = "hcp_device";

/// Where a citizen's rating comes from, for the integrity flags: keyed hashes of the client
/// address (an IPv6 client by its /64, as the quotas count it) and of the device — the API's
/// `device_id`, else the rating page's [`DEVICE_COOKIE`]. The staff session is the caller's to
/// check. Neither the address nor the device id is kept.
pub fn rating_origin(state: &AppState, req: &HttpRequest, device_id: Option<&str>) -> crate::domain::integrity::ReviewOrigin {
    use crate::domain::integrity::MAX_DEVICE_ID_CHARS;
    let address = client_address(req).map(|a| state.cookies.origin_hash("address", &crate::adapters::throttle::client_key(Some(a))));
    let cookie = req.cookie(DEVICE_COOKIE);
    let device = device_id
        .or_else(|| cookie.as_ref().map(|c| c.value()))
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.chars().count() <= MAX_DEVICE_ID_CHARS)
        .map(|d| state.cookies.origin_hash("device", d));
    crate::domain::integrity::ReviewOrigin { address_hash: address, device_hash: device, staff_session: false }
}

/// The client behind a chain of proxies: walking the forwarded addresses from the nearest, the
/// first that is not itself a trusted proxy (a client can write anything at the far end, so
/// only what trusted hops appended counts). `Forwarded` (RFC 7239) wins over `X-Forwarded-For`.
pub fn forwarded_client(peer: std::net::IpAddr, trusted: &[ipnet::IpNet], forwarded: &str, x_forwarded_for: &str) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let from_forwarded: Vec<Option<std::net::IpAddr>> = forwarded
        .split(',')
        .filter_map(|element| element.split(';').find_map(|pair| pair.trim().strip_prefix("for=").or_else(|| pair.trim().strip_prefix("For="))))
        .map(|value| {
            let value = value.trim_matches('"');
            // `[2001:db8::1]:443`, `192.0.2.1:8080` or a bare address; `unknown` and obfuscated names are not.
            let host = match value.strip_prefix('[') {
                Some(rest) => rest.split(']').next().unwrap_or_default(),
                None => value.rsplit_once(':').filter(|(h, _)| !h.contains(':')).map(|(h, _)| h).unwrap_or(value),
            };
            host.parse().ok()
        })
        .collect();
    let chain: Vec<Option<std::net::IpAddr>> = if !from_forwarded.is_empty() {
        from_forwarded
    } else {
        x_forwarded_for.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| t.parse().ok()).collect()
    };
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => client = *ip,
            Some(ip) => return *ip,
            // Unparseable: stop at the last hop that could be checked.
            None => return client,
        }
    }
    client
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

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.1/32".parse().expect("cidr"), "10.0.0.0/8".parse().expect("cidr")];
        let proxy = ip("127.0.0.1");
        // No trusted proxies, or a peer that is not one: the peer, whatever it claims.
        assert_eq!(forwarded_client(proxy, &[], "", "203.0.113.7"), proxy);
        assert_eq!(forwarded_client(ip("198.51.100.2"), &trusted, "for=203.0.113.7", "203.0.113.7"), ip("198.51.100.2"));
        // Through the proxy: the address it appended.
        assert_eq!(forwarded_client(proxy, &trusted, "", "203.0.113.7"), ip("203.0.113.7"));
        // A client's own X-Forwarded-For at the far end does not count past the real hop.
        assert_eq!(forwarded_client(proxy, &trusted, "", "1.2.3.4, 203.0.113.7"), ip("203.0.113.7"));
        // Two trusted hops: the first untrusted from the nearest.
        assert_eq!(forwarded_client(proxy, &trusted, "", "203.0.113.7, 10.1.2.3"), ip("203.0.113.7"));
        // RFC 7239, with ports, IPv6 and quotes; it wins over X-Forwarded-For.
        assert_eq!(forwarded_client(proxy, &trusted, r#"for="[2001:db8::1]:4711";proto=https"#, "9.9.9.9"), ip("2001:db8::1"));
        assert_eq!(forwarded_client(proxy, &trusted, "for=192.0.2.60:8080;by=10.0.0.1", ""), ip("192.0.2.60"));
        // Garbage or `unknown`: the nearest address that could be checked (the proxy here).
        assert_eq!(forwarded_client(proxy, &trusted, "", "not-an-ip"), proxy);
        assert_eq!(forwarded_client(proxy, &trusted, "for=unknown", ""), proxy);
    }
}
