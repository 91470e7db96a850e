//! Citizens' names and phones at rest (个人信息保护法; 等保 2.0 level 3): sealed with AES-256-GCM
//! under `HCP_DATA_KEY` as they are written and opened as they are read, by the column type
//! [`PersonalText`], so no query sees them in clear by mistake. A stored value reads
//! `pd1:<key id>:<base64 of nonce and ciphertext>`; the key id (a hash of the key) says which key
//! opens it, so that after a new key is set the old one (`HCP_DATA_KEY_PREVIOUS`) still opens
//! what `haochaping rekey` has not yet sealed again. Phones can still be looked up, by a keyed
//! hash ([`lookup_hash`]) stored beside them. A value without the prefix was written before a key
//! was set and reads as it is.

use std::io::Write;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const PREFIX: &str = "pd1:";
const NONCE_BYTES: usize = 12;

/// One 256-bit key: its cipher, its id, and the key of its lookup hashes.
struct DataKey {
    id: String,
    cipher: Aes256Gcm,
    lookup: [u8; 32],
}

impl DataKey {
    /// From 64 hex characters.
    fn parse(hex_key: &str, variable: &str) -> Result<DataKey, String> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| format!("{variable}: 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| format!("{variable}: 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`"))?;
        let id = hex::encode(&Sha256::new().chain_update(b"haochaping personal data key").chain_update(key).finalize()[..4]);
        let mut lookup = [0u8; 32];
        lookup.copy_from_slice(&Sha256::new().chain_update(b"haochaping lookup hash").chain_update(key).finalize());
        Ok(DataKey { id, cipher: Aes256Gcm::new(&key.into()), lookup })
    }
}

/// The key that seals, and the earlier keys that still open.
pub struct Keyring {
    current: DataKey,
    previous: Vec<DataKey>,
}

impl Keyring {
    /// `HCP_DATA_KEY`, and `HCP_DATA_KEY_PREVIOUS` (comma-separated) after a change of key.
    pub fn from_hex(current: &str, previous: &[String]) -> Result<Keyring, String> {
        Ok(Keyring {
            current: DataKey::parse(current, "HCP_DATA_KEY")?,
            previous: previous.iter().map(|k| DataKey::parse(k, "HCP_DATA_KEY_PREVIOUS")).collect::<Result<_, _>>()?,
        })
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Whether a value sealed under `id` can be opened.
    pub fn opens(&self, id: &str) -> bool {
        self.current.id == id || self.previous.iter().any(|k| k.id == id)
    }

    fn key(&self, id: &str) -> Option<&DataKey> {
        std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id)
    }
}

/// The process's keyring, set once at start (`AppState::bootstrap`); `None`: no key configured.
static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);

pub fn install(keyring: Option<Keyring>) {
    let mut slot = KEYRING.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    *slot = keyring.map(Arc::new);
}

fn keyring() -> Option<Arc<Keyring>> {
    KEYRING.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// The id of the key that seals, when one is installed.
pub fn current_key_id() -> Option<String> {
    keyring().map(|k| k.current.id.clone())
}

/// The key id a stored value is sealed under, if it is sealed.
pub fn sealed_under(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split_once(':').map(|(id, _)| id)
}

/// The stored form of `plain`: sealed under the current key, or as it is without a key.
pub fn seal(plain: &str) -> Result<String, String> {
    let Some(keys) = keyring() else { return Ok(plain.to_owned()) };
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = keys.current.cipher.encrypt(&nonce, plain.as_bytes()).map_err(|_| "sealing personal data failed".to_owned())?;
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    Ok(format!("{PREFIX}{}:{}", keys.current.id, base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)))
}

/// The plain text of a stored value.
pub fn open(stored: &str) -> Result<String, String> {
    let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_owned()) };
    let (id, body) = rest.split_once(':').ok_or("a sealed value without its key id")?;
    let keys = keyring().ok_or("personal data is encrypted: set HCP_DATA_KEY")?;
    let key = keys.key(id).ok_or_else(|| format!("personal data sealed under key {id}, which is neither HCP_DATA_KEY nor HCP_DATA_KEY_PREVIOUS"))?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(body).map_err(|_| "a sealed value is not base64")?;
    if bytes.len() < NONCE_BYTES {
        return Err("a sealed value too short".into());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let plain = key.cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| format!("a value sealed under key {id} does not open: altered, or another key with that id"))?;
    String::from_utf8(plain).map_err(|_| "an opened value is not UTF-8".into())
}

/// The digits a phone is looked up by: full-width digits as ASCII, punctuation dropped, and a
/// mobile number's country code (`+86`, `0086`) left out, so that `+86 138-1234-5678` and
/// `１３８１２３４５６７８` meet `13812345678`.
fn phone_digits(phone: &str) -> String {
    let digits: String = phone
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '\u{FF10}'..='\u{FF19}' => char::from_u32(c as u32 - 0xFF10 + u32::from(b'0')),
            _ => None,
        })
        .collect();
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            if rest.len() == 11 && rest.starts_with('1') {
                return rest.to_owned();
            }
        }
    }
    digits
}

fn hash_under(key: &DataKey, digits: &str) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.lookup).ok()?;
    mac.update(digits.as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// A phone number's lookup hash under the current key (what is stored beside it); `None`
/// without a key or without digits.
pub fn lookup_hash(phone: &str) -> Option<String> {
    let keys = keyring()?;
    let digits = phone_digits(phone);
    if digits.is_empty() {
        return None;
    }
    hash_under(&keys.current, &digits)
}

/// The hashes a phone may be stored under: the current key's and, until `rekey` has run, the
/// previous keys'. Empty without a key or without digits.
pub fn lookup_hashes(phone: &str) -> Vec<String> {
    let (Some(keys), digits) = (keyring(), phone_digits(phone)) else { return Vec::new() };
    if digits.is_empty() {
        return Vec::new();
    }
    std::iter::once(&keys.current).chain(&keys.previous).filter_map(|k| hash_under(k, &digits)).collect()
}

/// A name or phone as the database holds it: sealed on the way in, opened on the way out.
#[derive(Debug, Clone, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct PersonalText(pub String);

impl PersonalText {
    pub fn of(text: Option<&str>) -> Option<PersonalText> {
        text.map(|t| PersonalText(t.to_owned()))
    }
}

impl std::ops::Deref for PersonalText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<PersonalText> for String {
    fn from(p: PersonalText) -> String {
        p.0
    }
}

impl ToSql<Text, Sqlite> for PersonalText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(seal(&self.0)?);
        Ok(IsNull::No)
    }
}

impl ToSql<Text, Pg> for PersonalText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(seal(&self.0)?.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Text, Sqlite> for PersonalText {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(PersonalText(open(&<String as FromSql<Text, Sqlite>>::from_sql(value)?)?))
    }
}

impl FromSql<Text, Pg> for PersonalText {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(PersonalText(open(&<String as FromSql<Text, Pg>>::from_sql(value)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_and_an_old_key_still_opens() {
        let old = "11".repeat(32);
        let new = "22".repeat(32);
        install(Some(Keyring::from_hex(&old, &[]).expect("key")));
        let sealed = seal("13812345678").expect("seal");
        assert!(sealed.starts_with("pd1:") && !sealed.contains("1381234"), "{sealed}");
        assert_ne!(seal("13812345678").expect("seal"), sealed, "a fresh nonce each time");
        assert_eq!(open(&sealed).expect("open"), "13812345678");
        let hash = lookup_hash("138-1234-5678");
        assert_eq!(hash, lookup_hash("13812345678"));
        assert_eq!(hash, lookup_hash("+86 138 1234 5678"));
        assert_eq!(hash, lookup_hash("１３８１２３４５６７８"));
        install(Some(Keyring::from_hex(&new, &[old.clone()]).expect("keys")));
        assert_eq!(open(&sealed).expect("the previous key opens"), "13812345678");
        assert_ne!(lookup_hash("13812345678"), hash, "lookup hashes follow the key");
        assert!(lookup_hashes("13812345678").contains(&hash.clone().expect("hash")), "and the previous key's still finds what rekey has not reached");
        install(Some(Keyring::from_hex(&new, &[]).expect("key")));
        assert!(open(&sealed).expect_err("no key opens it").contains("neither HCP_DATA_KEY"));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        install(Some(Keyring::from_hex(&old, &[]).expect("key")));
        assert!(open(&tampered).is_err(), "GCM refuses an altered value");
        assert_eq!(open("张三").expect("clear"), "张三", "a value from before the key reads as it is");
        assert!(Keyring::from_hex("abc", &[]).is_err());
        install(None);
    }
}
