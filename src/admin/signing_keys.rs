//! The keys that sign rating links, kept so that they cannot drift: the database holds the
//! keyring (each key's id and fingerprint, and the key itself when the database keeps it rather
//! than `HCP_SECRET`); a start with a key the database does not know is refused, and
//! `rotate-secret` brings in a new key while the links of the old one keep working until they
//! expire.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::security::{key_fingerprint, random_secret, SigningKey};
use crate::error::AppError;
use crate::storage::{queries, Conn};

/// The settings row holding the keyring (JSON).
const KEYRING: &str = "rating_keys";
/// Where the key was kept before the keyring: it becomes key 1.
const LEGACY_SECRET: &str = "rating_secret";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    id: u32,
    fingerprint: String,
    /// The key itself when the database keeps it: generated keys, and a retired `HCP_SECRET`
    /// until its last link has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<DateTime<Utc>>,
}

/// Why a start or a rotation is refused; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "HCP_SECRET is not the key this database signs rating links with (database: key {key_id}, fingerprint {expected}; \
         HCP_SECRET: fingerprint {given}). Every rating link already sent would stop working. Set HCP_SECRET back to the key \
         in use; to change the key, run `haochaping rotate-secret` with the current key in HCP_SECRET and the new one in \
         HCP_NEW_SECRET (links of the old key keep working until they expire)"
    )]
    Mismatch { key_id: u32, expected: String, given: String },
    #[error(
        "HCP_SECRET is key {key_id}, retired on {retired_at} by `haochaping rotate-secret`; set HCP_SECRET to the current key \
         (fingerprint {current})"
    )]
    Retired { key_id: u32, retired_at: String, current: String },
    #[error(
        "this database signs rating links with the key given in HCP_SECRET (key {key_id}, fingerprint {fingerprint}), and \
         HCP_SECRET is not set: set it to that key (a new one would break every rating link already sent)"
    )]
    Missing { key_id: u32, fingerprint: String },
    #[error(
        "this database keeps its own rating-link key (key {key_id}, fingerprint {fingerprint}) and HCP_SECRET holds another \
         (fingerprint {given}): unset HCP_SECRET, or make it the key with `HCP_NEW_SECRET=… haochaping rotate-secret`"
    )]
    Kept { key_id: u32, fingerprint: String, given: String },
    #[error("HCP_NEW_SECRET is the key already in use")]
    Unchanged,
    #[error("the rating-link keyring in the database (setting rating_keys) is unreadable: {0}")]
    Unreadable(String),
    #[error("{0}")]
    Storage(#[from] AppError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        KeyError::Storage(e.into())
    }
}

/// The keys of a running instance: the one it signs with and the earlier ones it still accepts.
pub struct ActiveKeys {
    pub current: SigningKey,
    pub fingerprint: String,
    pub earlier: Vec<SigningKey>,
}

/// What `rotate-secret` did.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub key_id: u32,
    pub fingerprint: String,
    /// `database` or `HCP_SECRET`.
    pub kept_in: &'static str,
    pub retired_key_id: u32,
    /// Links signed with the retired key keep working until then (their own expiry).
    pub old_links_valid_until: DateTime<Utc>,
}

/// How long a retired key is kept: its last link's lifetime, and a day for instances that
/// sign with it until they are restarted.
fn retention() -> Duration {
    Duration::days(crate::domain::intake_rules::RATING_LINK_DAYS) + Duration::days(1)
}

/// The keyring, made on first use: key 1 is the key kept before keyrings, or `HCP_SECRET`, or a
/// new random key the database keeps.
fn keyring(conn: &mut Conn, env_secret: Option<&str>, now: DateTime<Utc>) -> Result<Vec<StoredKey>, KeyError> {
    if let Some(json) = queries::setting(conn, KEYRING)? {
        return serde_json::from_str(&json).map_err(|e| KeyError::Unreadable(e.to_string()));
    }
    let legacy = queries::setting(conn, LEGACY_SECRET)?;
    let (secret, kept) = match (legacy, env_secret) {
        (Some(kept), _) => (kept, true),
        (None, Some(env)) => (env.to_owned(), false),
        (None, None) => (random_secret(), true),
    };
    let first = vec![StoredKey {
        id: 1,
        fingerprint: key_fingerprint(&secret),
        secret: kept.then_some(secret),
        created_at: now,
        retired_at: None,
    }];
    let json = serde_json::to_string(&first).map_err(|e| KeyError::Unreadable(e.to_string()))?;
    // First writer wins: instances starting together agree on one keyring.
    let stored = queries::setting_or_insert(conn, KEYRING, &json)?;
    queries::delete_setting(conn, LEGACY_SECRET)?;
    serde_json::from_str(&stored).map_err(|e| KeyError::Unreadable(e.to_string()))
}

/// The current key's secret, checked against what the database knows.
fn current_secret(keys: &[StoredKey], env_secret: Option<&str>) -> Result<(StoredKey, String), KeyError> {
    let current = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .max_by_key(|k| k.id)
        .cloned()
        .ok_or_else(|| KeyError::Unreadable("no current key".into()))?;
    match (&current.secret, env_secret.map(|e| (e, key_fingerprint(e)))) {
        (Some(kept), None) => Ok((current.clone(), kept.clone())),
        (_, Some((env, given))) if given == current.fingerprint => Ok((current, env.to_owned())),
        (Some(_), Some((_, given))) => Err(KeyError::Kept { key_id: current.id, fingerprint: current.fingerprint, given }),
        (None, None) => Err(KeyError::Missing { key_id: current.id, fingerprint: current.fingerprint }),
        (None, Some((_, given))) => match keys.iter().find(|k| k.fingerprint == given && k.retired_at.is_some()) {
            Some(retired) => Err(KeyError::Retired {
                key_id: retired.id,
                retired_at: retired.retired_at.map(|t| crate::clock::display_local(t.naive_utc())).unwrap_or_default(),
                current: current.fingerprint,
            }),
            None => Err(KeyError::Mismatch { key_id: current.id, expected: current.fingerprint, given }),
        },
    }
}

/// The keys to run with, refusing an `HCP_SECRET` the database does not know.
pub fn active_keys(conn: &mut Conn, env_secret: Option<&str>, now: DateTime<Utc>) -> Result<ActiveKeys, KeyError> {
    let keys = keyring(conn, env_secret, now)?;
    let (current, secret) = current_secret(&keys, env_secret)?;
    let earlier = keys
        .iter()
        .filter(|k| k.retired_at.is_some_and(|at| at + retention() > now))
        .filter_map(|k| k.secret.clone().map(|secret| SigningKey { id: k.id, secret }))
        .collect();
    Ok(ActiveKeys { current: SigningKey { id: current.id, secret }, fingerprint: current.fingerprint, earlier })
}

/// Retires the current key and makes `new_secret` (or, without one, a new random key the
/// database keeps) the key that signs. The retired key is kept until its last link expires;
/// keys retired longer ago are forgotten. Audited.
pub fn rotate(conn: &mut Conn, env_secret: Option<&str>, new_secret: Option<&str>, now: DateTime<Utc>) -> Result<Rotation, KeyError> {
    conn.transaction(|conn| {
        let mut keys = keyring(conn, env_secret, now)?;
        let (current, secret) = current_secret(&keys, env_secret)?;
        if new_secret.is_some_and(|n| key_fingerprint(n) == current.fingerprint) {
            return Err(KeyError::Unchanged);
        }
        keys.retain(|k| k.retired_at.is_none_or(|at| at + retention() > now));
        for key in keys.iter_mut().filter(|k| k.id == current.id) {
            key.retired_at = Some(now);
            key.secret = Some(secret.clone());
        }
        let id = keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let (fresh, kept_in) = match new_secret {
            Some(n) => (StoredKey { id, fingerprint: key_fingerprint(n), secret: None, created_at: now, retired_at: None }, "HCP_SECRET"),
            None => {
                let generated = random_secret();
                (StoredKey { id, fingerprint: key_fingerprint(&generated), secret: Some(generated), created_at: now, retired_at: None }, "database")
            }
        };
        let rotation = Rotation {
            key_id: id,
            fingerprint: fresh.fingerprint.clone(),
            kept_in,
            retired_key_id: current.id,
            old_links_valid_until: now + Duration::days(crate::domain::intake_rules::RATING_LINK_DAYS),
        };
        keys.push(fresh);
        let json = serde_json::to_string(&keys).map_err(|e| KeyError::Unreadable(e.to_string()))?;
        queries::put_setting(conn, KEYRING, &json)?;
        crate::admin::master_data::audit_admin_change(
            conn,
            "cli",
            "rotate_rating_key",
            serde_json::json!({"key_id": id, "fingerprint": rotation.fingerprint, "kept_in": kept_in, "retired_key_id": current.id}),
            now,
        )?;
        Ok(rotation)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, secret: Option<&str>, fingerprint_of: &str, retired: bool) -> StoredKey {
        StoredKey {
            id,
            fingerprint: key_fingerprint(fingerprint_of),
            secret: secret.map(str::to_owned),
            created_at: Utc::now(),
            retired_at: retired.then(Utc::now),
        }
    }

    #[test]
    fn a_start_is_checked_against_the_keyring() {
        let env_held = vec![key(1, Some("old"), "old", true), key(2, None, "new", false)];
        assert_eq!(current_secret(&env_held, Some("new")).map(|(k, s)| (k.id, s)).ok(), Some((2, "new".to_owned())));
        assert!(matches!(current_secret(&env_held, Some("old")), Err(KeyError::Retired { key_id: 1, .. })));
        assert!(matches!(current_secret(&env_held, Some("other")), Err(KeyError::Mismatch { key_id: 2, .. })));
        assert!(matches!(current_secret(&env_held, None), Err(KeyError::Missing { key_id: 2, .. })));
        let kept = vec![key(1, Some("kept"), "kept", false)];
        assert_eq!(current_secret(&kept, None).map(|(_, s)| s).ok().as_deref(), Some("kept"));
        assert_eq!(current_secret(&kept, Some("kept")).map(|(_, s)| s).ok().as_deref(), Some("kept"));
        let refused = current_secret(&kept, Some("other")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("unset HCP_SECRET") && refused.contains("rotate-secret"), "{refused}");
    }
}
