//! Credentials: argon2 passwords, random bearer tokens and API keys (stored as SHA-256, since
//! they carry 256 bits of entropy a slow hash would add nothing to), and HMAC-signed,
//! expiring rating links bound to one transaction.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SESSION_TOKEN_PREFIX: &str = "hcpt_";
pub const API_KEY_PREFIX: &str = "hcpk_";

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A fixed hash to verify against when the user does not exist, so that timing does not tell
/// which usernames exist.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// A new random credential with `prefix`, and the hash to store.
pub fn new_secret_token(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = sha256_hex(&token);
    (token, hash)
}

pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingTokenError {
    #[error("the rating link is malformed")]
    Malformed,
    #[error("the rating link's signature does not match")]
    BadSignature,
    #[error("the rating link has expired")]
    Expired,
}

/// The fingerprint a database keeps of a rating-link key: enough to tell two keys apart at
/// start, useless for signing.
pub fn key_fingerprint(secret: &str) -> String {
    hex::encode(&Sha256::digest(format!("haochaping rating-key fingerprint\n{secret}").as_bytes())[..8])
}

/// One rating-link key and the id its links carry.
#[derive(Clone)]
pub struct SigningKey {
    pub id: u32,
    pub secret: String,
}

/// Signs and checks rating links: `key_id "." base64url(transaction_no "\n" expiry) "."
/// base64url(hmac)`, signed with the current key; links of earlier keys still verify, so a
/// rotation breaks none already sent. Links from before key ids (`payload.hmac`) are key 1's.
#[derive(Clone)]
pub struct RatingSigner {
    current: u32,
    keys: Vec<(u32, Vec<u8>)>,
}

impl RatingSigner {
    /// One key, id 1.
    pub fn new(secret: &str) -> Self {
        Self::with_keys(&SigningKey { id: 1, secret: secret.to_owned() }, &[])
    }

    /// Signs with `current`; also accepts the links of `earlier` keys.
    pub fn with_keys(current: &SigningKey, earlier: &[SigningKey]) -> Self {
        let keys = std::iter::once(current).chain(earlier).map(|k| (k.id, k.secret.as_bytes().to_vec())).collect();
        RatingSigner { current: current.id, keys }
    }

    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    fn mac(key: &[u8], key_id: Option<u32>, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        match key_id {
            // The id is signed too, so a link cannot be moved to another key.
            Some(id) => mac.update(format!("haochaping-rating-v2\n{id}\n").as_bytes()),
            None => mac.update(b"haochaping-rating-v1\n"),
        }
        mac.update(payload);
        mac
    }

    pub fn sign(&self, transaction_no: &str, expires: DateTime<Utc>) -> String {
        let payload = format!("{transaction_no}\n{}", expires.timestamp());
        let key = self.keys.iter().find(|(id, _)| *id == self.current).map(|(_, k)| k.as_slice()).unwrap_or_default();
        let tag = Self::mac(key, Some(self.current), payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}.{}", self.current, URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The transaction the token is for, if it is genuine and not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, RatingTokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let (key_id, payload_b64, tag_b64) = match parts.as_slice() {
            [payload, tag] => (None, *payload, *tag),
            [id, payload, tag] => (Some(id.parse::<u32>().map_err(|_| RatingTokenError::Malformed)?), *payload, *tag),
            _ => return Err(RatingTokenError::Malformed),
        };
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| RatingTokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| RatingTokenError::Malformed)?;
        let wanted = key_id.unwrap_or(1);
        let key = self.keys.iter().find(|(id, _)| *id == wanted).map(|(_, k)| k).ok_or(RatingTokenError::BadSignature)?;
        Self::mac(key, key_id, &payload).verify_slice(&tag).map_err(|_| RatingTokenError::BadSignature)?;
        let text = String::from_utf8(payload).map_err(|_| RatingTokenError::Malformed)?;
        let (transaction_no, expiry) = text.rsplit_once('\n').ok_or(RatingTokenError::Malformed)?;
        let expiry: i64 = expiry.parse().map_err(|_| RatingTokenError::Malformed)?;
        if now.timestamp() > expiry {
            return Err(RatingTokenError::Expired);
        }
        Ok(transaction_no.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn rating_tokens_are_bound_signed_and_expiring() {
        let signer = RatingSigner::new("secret");
        let now = Utc::now();
        let token = signer.sign("BJ-2026-0001", now + Duration::days(1));
        assert_eq!(signer.verify(&token, now).as_deref(), Ok("BJ-2026-0001"));
        assert_eq!(signer.verify(&token, now + Duration::days(2)), Err(RatingTokenError::Expired));
        assert_eq!(RatingSigner::new("other").verify(&token, now), Err(RatingTokenError::BadSignature));
        // Swapping the payload for another transaction breaks the signature.
        let other = signer.sign("BJ-2026-0002", now + Duration::days(1));
        let forged = format!("{}.{}", other.rsplit_once('.').unwrap().0, token.rsplit_once('.').unwrap().1);
        assert_eq!(signer.verify(&forged, now), Err(RatingTokenError::BadSignature));
        assert_eq!(signer.verify("garbage", now), Err(RatingTokenError::Malformed));
        assert_eq!(signer.verify("a.b.c", now), Err(RatingTokenError::Malformed));
        assert_eq!(signer.verify("1.b.c.d", now), Err(RatingTokenError::Malformed));
    }

    #[test]
    fn links_of_earlier_keys_verify_after_a_rotation() {
        let now = Utc::now();
        let first = SigningKey { id: 1, secret: "first".into() };
        let second = SigningKey { id: 2, secret: "second".into() };
        let before = RatingSigner::with_keys(&first, &[]);
        let old_link = before.sign("T-1", now + Duration::days(1));
        assert!(old_link.starts_with("1."), "{old_link}");
        let after = RatingSigner::with_keys(&second, &[first.clone()]);
        let new_link = after.sign("T-2", now + Duration::days(1));
        assert!(new_link.starts_with("2."), "{new_link}");
        assert_eq!(after.verify(&old_link, now).as_deref(), Ok("T-1"));
        assert_eq!(after.verify(&new_link, now).as_deref(), Ok("T-2"));
        // Before the rotation the new key is unknown; a link moved to another key id fails.
        assert_eq!(before.verify(&new_link, now), Err(RatingTokenError::BadSignature));
        let moved = format!("1{}", &new_link[1..]);
        assert_eq!(after.verify(&moved, now), Err(RatingTokenError::BadSignature));
        // A link from before key ids (`payload.tag`, key 1) still verifies.
        let payload = format!("T-0\n{}", (now + Duration::days(1)).timestamp());
        let tag = RatingSigner::mac(b"first", None, payload.as_bytes()).finalize().into_bytes();
        let legacy = format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag));
        assert_eq!(after.verify(&legacy, now).as_deref(), Ok("T-0"));
        assert_ne!(key_fingerprint("first"), key_fingerprint("second"));
        assert_eq!(key_fingerprint("first").len(), 16);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn signed_cookies_resist_tampering() {
        let signer = CookieSigner::new("k");
        let cookie = signer.sign("hcpt_abc");
        assert_eq!(signer.verify(&cookie).as_deref(), Some("hcpt_abc"));
        assert_eq!(signer.verify(&cookie.replace("abc", "abd")), None);
        assert_eq!(CookieSigner::new("other").verify(&cookie), None);
        assert_eq!(signer.verify("no-dot"), None);
        assert_ne!(signer.csrf("s1"), signer.csrf("s2"));
        let address = signer.origin_hash("address", "203.0.113.7");
        assert_eq!(address, signer.origin_hash("address", "203.0.113.7"));
        assert_eq!(address.len(), 32);
        assert!(!address.contains("203"), "{address}");
        assert_ne!(address, signer.origin_hash("device", "203.0.113.7"));
        assert_ne!(address, CookieSigner::new("other").origin_hash("address", "203.0.113.7"));
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (token, hash) = new_secret_token(API_KEY_PREFIX);
        assert!(token.starts_with(API_KEY_PREFIX));
        assert_eq!(hash, sha256_hex(&token));
        assert_ne!(new_secret_token(API_KEY_PREFIX).0, token);
    }
}

/// Signs session cookies and CSRF form fields with the instance secret (HMAC-SHA256).
#[derive(Clone)]
pub struct CookieSigner {
    key: Vec<u8>,
}

impl CookieSigner {
    pub fn new(secret: &str) -> Self {
        CookieSigner { key: secret.as_bytes().to_vec() }
    }

    fn tag(&self, purpose: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `value.signature`, for a cookie.
    pub fn sign(&self, value: &str) -> String {
        format!("{value}.{}", self.tag("cookie", value))
    }

    /// The value of a signed cookie, if the signature holds (checked in constant time).
    pub fn verify(&self, signed: &str) -> Option<String> {
        let (value, tag) = signed.rsplit_once('.')?;
        let raw = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(b"cookie\n");
        mac.update(value.as_bytes());
        mac.verify_slice(&raw).ok().map(|_| value.to_owned())
    }

    /// The CSRF field of forms shown to the holder of `session`.
    pub fn csrf(&self, session: &str) -> String {
        self.tag("csrf", session)
    }

    /// A keyed hash of where a rating came from (`what`: `address` or `device`), stored instead
    /// of the address or device id itself: equal inputs meet, and without the instance secret
    /// the hash cannot be turned back into an address by trying them all. 128 bits, hex.
    pub fn origin_hash(&self, what: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"rating-origin\n");
        mac.update(what.as_bytes());
        mac.update(b"\n");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}
