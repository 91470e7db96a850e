//! Who is calling: users with passwords and bearer tokens, integration API keys, and citizens
//! holding a signed rating link.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::clock;
use crate::db_run;
use crate::domain::access::{Principal, Role};
use crate::error::{AppError, AppResult};
use crate::adapters::throttle;
use crate::adapters::security::{
    dummy_password_hash, hash_password, new_secret_token, sha256_hex, verify_password, API_KEY_PREFIX,
    SESSION_TOKEN_PREFIX,
};
use crate::storage::models::{NewUser, User};
use crate::storage::schema::{api_keys, auth_tokens, departments, users};
use crate::storage::{queries, Conn};

/// How long a login token lasts: one working day's shift and then some.
pub const SESSION_HOURS: i64 = 12;
/// A session without a request for this long has ended (等保 2.0 level 3: 会话超时).
pub const SESSION_IDLE_MINUTES: i64 = 30;

/// Resolves a bearer credential (login token or API key).
pub fn authenticate_bearer(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> AppResult<Principal> {
    let unauthorized = || AppError::Unauthorized("invalid or expired credentials".into());
    let hash = sha256_hex(token);
    if token.starts_with(API_KEY_PREFIX) {
        let key: Option<(i64, String, String)> = db_run!(conn, |c| api_keys::table
            .filter(api_keys::key_hash.eq(&hash))
            .filter(api_keys::revoked_at.is_null())
            .select((api_keys::id, api_keys::name, api_keys::role))
            .first(c)
            .optional())?;
        let (id, name, _role) = key.ok_or_else(unauthorized)?;
        return Ok(Principal::ApiKey { id, name });
    }
    if !token.starts_with(SESSION_TOKEN_PREFIX) {
        return Err(unauthorized());
    }
    let now_db = clock::to_db(now);
    let found: Option<(User, NaiveDateTime, Option<NaiveDateTime>)> = db_run!(conn, |c| auth_tokens::table
        .inner_join(users::table)
        .filter(auth_tokens::token_hash.eq(&hash))
        .filter(auth_tokens::expires_at.gt(now_db))
        .filter(users::active.eq(true))
        .select((User::as_select(), auth_tokens::created_at, auth_tokens::last_seen_at))
        .first(c)
        .optional())?;
    let Some((user, created_at, last_seen_at)) = found else { return Err(unauthorized()) };
    let last_seen = last_seen_at.unwrap_or(created_at);
    if now_db - last_seen > Duration::minutes(SESSION_IDLE_MINUTES) {
        db_run!(conn, |c| diesel::delete(auth_tokens::table.filter(auth_tokens::token_hash.eq(&hash))).execute(c))?;
        return Err(unauthorized());
    }
    // One write a minute per session at most, not one per request.
    if now_db - last_seen > Duration::seconds(60) {
        db_run!(conn, |c| diesel::update(auth_tokens::table.filter(auth_tokens::token_hash.eq(&hash)))
            .set(auth_tokens::last_seen_at.eq(now_db))
            .execute(c))?;
    }
    let user = Some(user);
    let user = user.ok_or_else(unauthorized)?;
    let role = Role::parse(&user.role).ok_or_else(unauthorized)?;
    Ok(Principal::User { id: user.id, username: user.username, role, department_id: user.department_id })
}

/// Whether `token` is a staff session in force (not expired, not idle past
/// [`SESSION_IDLE_MINUTES`], not signed out, its user active). Read only: unlike
/// [`authenticate_bearer`] it neither moves the session's idle timer nor ends an idle session,
/// since a citizen's rating from that browser is not the staff member's own request.
pub fn staff_session_in_force(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> AppResult<bool> {
    if !token.starts_with(SESSION_TOKEN_PREFIX) {
        return Ok(false);
    }
    let hash = sha256_hex(token);
    let now_db = clock::to_db(now);
    let found: Option<(NaiveDateTime, Option<NaiveDateTime>)> = db_run!(conn, |c| auth_tokens::table
        .inner_join(users::table)
        .filter(auth_tokens::token_hash.eq(&hash))
        .filter(auth_tokens::expires_at.gt(now_db))
        .filter(users::active.eq(true))
        .select((auth_tokens::created_at, auth_tokens::last_seen_at))
        .first(c)
        .optional())?;
    Ok(found.is_some_and(|(created_at, last_seen_at)| now_db - last_seen_at.unwrap_or(created_at) <= Duration::minutes(SESSION_IDLE_MINUTES)))
}

/// Integration keys recently found valid, by hash, so that a counter system's every request
/// does not cost a database round trip. A key revoked on this instance is dropped at once
/// ([`ApiKeyCache::clear`]); one revoked on another instance stops working here within
/// [`API_KEY_CACHE_TTL`]. Unknown keys are never cached.
#[derive(Default)]
pub struct ApiKeyCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, i64, String)>>,
}

pub const API_KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Keys are few (one per business system); the bound only stops a flood of valid keys.
const API_KEY_CACHE_MAX: usize = 1_000;

impl ApiKeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (std::time::Instant, i64, String)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal of a cached, still fresh API key.
    pub fn get(&self, token: &str) -> Option<Principal> {
        if !token.starts_with(API_KEY_PREFIX) {
            return None;
        }
        let hash = sha256_hex(token);
        let entries = self.lock();
        let (seen, id, name) = entries.get(&hash)?;
        (seen.elapsed() < API_KEY_CACHE_TTL).then(|| Principal::ApiKey { id: *id, name: name.clone() })
    }

    pub fn remember(&self, token: &str, principal: &Principal) {
        if let Principal::ApiKey { id, name } = principal {
            let mut entries = self.lock();
            if entries.len() >= API_KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(sha256_hex(token), (std::time::Instant::now(), *id, name.clone()));
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

pub struct LoginResult {
    pub token: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// What a sign-in from a client address came to.
pub enum SignIn {
    Accepted(LoginResult),
    /// A wrong password (or an unknown or disabled user); `locked`: this failure made the
    /// address refused for the username.
    Refused { locked: bool },
}

/// A sign-in from a client address: the shared limits first (429 when over), then the password.
pub fn sign_in(conn: &mut Conn, username: &str, password: &str, address: Option<std::net::IpAddr>, now: DateTime<Utc>) -> AppResult<SignIn> {
    let attempt = throttle::before_sign_in(conn, address, username, now)?;
    match login(conn, username, password, now) {
        Ok(result) => {
            throttle::sign_in_succeeded(conn, &attempt)?;
            Ok(SignIn::Accepted(result))
        }
        Err(AppError::Unauthorized(_)) => Ok(SignIn::Refused { locked: attempt.locks_if_wrong }),
        Err(e) => Err(e),
    }
}

/// Checks the password (in constant work whether or not the user exists) and issues a token.
pub fn login(conn: &mut Conn, username: &str, password: &str, now: DateTime<Utc>) -> AppResult<LoginResult> {
    let user: Option<User> = db_run!(conn, |c| users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(c)
        .optional())?;
    let stored = user.as_ref().map(|u| u.password_hash.as_str()).unwrap_or(dummy_password_hash());
    let password_ok = verify_password(password, stored);
    // A disabled account answers like a wrong password: nothing tells which usernames exist.
    let (Some(user), true) = (user.filter(|u| u.active), password_ok) else {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    };
    let role = Role::parse(&user.role).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad role in db")))?;
    let (token, hash) = new_secret_token(SESSION_TOKEN_PREFIX);
    let expires_at = now + Duration::hours(SESSION_HOURS);
    db_run!(conn, |c| {
        // Expired tokens of this user are cleared as new ones are issued.
        diesel::delete(
            auth_tokens::table
                .filter(auth_tokens::user_id.eq(user.id))
                .filter(auth_tokens::expires_at.le(clock::to_db(now))),
        )
        .execute(c)?;
        diesel::insert_into(auth_tokens::table)
            .values((
                auth_tokens::token_hash.eq(&hash),
                auth_tokens::user_id.eq(user.id),
                auth_tokens::created_at.eq(clock::to_db(now)),
                auth_tokens::expires_at.eq(clock::to_db(expires_at)),
            ))
            .execute(c)
    })?;
    Ok(LoginResult { token, role, expires_at, user })
}

pub fn logout(conn: &mut Conn, token: &str) -> AppResult<()> {
    let hash = sha256_hex(token);
    db_run!(conn, |c| diesel::delete(auth_tokens::table.filter(auth_tokens::token_hash.eq(&hash))).execute(c))?;
    Ok(())
}

pub struct NewUserSpec<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: Role,
    pub department_code: Option<&'a str>,
    pub email: Option<&'a str>,
}

pub const MIN_PASSWORD_CHARS: usize = 8;

/// Creates a user; a department user must name its department, other roles must not.
pub fn create_user(conn: &mut Conn, spec: &NewUserSpec<'_>, now: DateTime<Utc>) -> AppResult<User> {
    crate::domain::intake_rules::check_code("username", spec.username)?;
    check_password("password", spec.password, spec.username)?;
    let department_id = match (spec.role, spec.department_code) {
        (Role::Department, Some(code)) => Some(
            queries::department_by_code(conn, code)?
                .ok_or_else(|| AppError::unknown_code("department_code", code))?
                .id,
        ),
        (Role::Department, None) => {
            return Err(AppError::invalid("department_code", "a department user needs its department"))
        }
        (Role::Integration, _) => {
            return Err(AppError::invalid("role", "integrations use API keys, not user accounts"))
        }
        (_, Some(_)) => return Err(AppError::invalid("department_code", "only department users belong to one")),
        (_, None) => None,
    };
    let hash = hashed(spec.password)?;
    let new = NewUser {
        username: spec.username,
        password_hash: &hash,
        role: spec.role.as_str(),
        department_id,
        email: spec.email,
        created_at: clock::to_db(now),
    };
    let user = db_run!(conn, |c| diesel::insert_into(users::table)
        .values(&new)
        .returning(User::as_returning())
        .get_result(c))
    .map_err(|e| match AppError::from(e) {
        e if e.is_unique_violation() => {
            AppError::conflict("duplicate", format!("username {:?} is taken", spec.username))
        }
        other => other,
    })?;
    Ok(user)
}

/// Creates an integration key and returns it in clear, once; only its hash is stored.
pub fn create_api_key(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> AppResult<(i64, String)> {
    crate::domain::intake_rules::check_name("name", name, 100)?;
    let (key, hash) = new_secret_token(API_KEY_PREFIX);
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let id = db_run!(conn, |c| diesel::insert_into(api_keys::table)
        .values((
            api_keys::name.eq(name),
            api_keys::key_hash.eq(&hash),
            api_keys::key_prefix.eq(&prefix),
            api_keys::role.eq(Role::Integration.as_str()),
            api_keys::created_at.eq(clock::to_db(now)),
        ))
        .returning(api_keys::id)
        .get_result(c))?;
    Ok((id, key))
}

/// Creates a user on an admin's behalf and records it in the audit chain, in one transaction.
pub fn create_user_by(conn: &mut Conn, actor: &str, spec: &NewUserSpec<'_>, now: DateTime<Utc>) -> AppResult<User> {
    conn.transaction(|conn| {
        let user = create_user(conn, spec, now)?;
        crate::admin::master_data::audit_admin_change(
            conn,
            actor,
            "create_user",
            serde_json::json!({"username": user.username, "role": user.role, "department_code": spec.department_code}),
            now,
        )?;
        Ok(user)
    })
}

/// Creates an integration key on an admin's behalf, audited; the key is returned once.
pub fn create_api_key_by(conn: &mut Conn, actor: &str, name: &str, now: DateTime<Utc>) -> AppResult<(i64, String)> {
    conn.transaction(|conn| {
        let (id, key) = create_api_key(conn, name, now)?;
        crate::admin::master_data::audit_admin_change(conn, actor, "create_api_key", serde_json::json!({"id": id, "name": name}), now)?;
        Ok((id, key))
    })
}

/// Revokes an integration key (its requests get 401 from then on), audited.
pub fn revoke_api_key_by(conn: &mut Conn, actor: &str, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    conn.transaction(|conn| {
        let changed = db_run!(conn, |c| diesel::update(api_keys::table.filter(api_keys::id.eq(id)).filter(api_keys::revoked_at.is_null()))
            .set(api_keys::revoked_at.eq(Some(clock::to_db(now))))
            .execute(c))?;
        if changed == 0 {
            return Err(AppError::NotFound(format!("no active API key {id}")));
        }
        crate::admin::master_data::audit_admin_change(conn, actor, "revoke_api_key", serde_json::json!({"id": id}), now)?;
        Ok(())
    })
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserListItem {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub department_code: Option<String>,
    pub email: Option<String>,
    pub active: bool,
}

pub fn list_users(conn: &mut Conn) -> AppResult<Vec<UserListItem>> {
    let rows: Vec<(i64, String, String, Option<String>, Option<String>, bool)> = db_run!(conn, |c| users::table
        .left_join(departments::table.on(departments::id.nullable().eq(users::department_id)))
        .order(users::username.asc())
        .select((users::id, users::username, users::role, departments::code.nullable(), users::email, users::active))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, username, role, department_code, email, active)| UserListItem { id, username, role, department_code, email, active })
        .collect())
}

/// What an admin may change of a user; an absent field stays. An empty `email` clears it.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<Role>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,64}$")]
    pub department_code: Option<String>,
    #[schema(max_length = 254, pattern = r"^$|^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f@]*@[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
    pub active: Option<bool>,
    /// A new password (at least 8 characters); the user's sessions end.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

/// The password's argon2 hash; a failure here is ours, not the caller's.
fn hashed(password: &str) -> AppResult<String> {
    hash_password(password).map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))
}

/// The least zxcvbn score a password must reach: 3 is "safely unguessable" (about 10^10
/// guesses), which no dictionary word with digits, date, keyboard walk or the username passes.
pub const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Length bounds, then strength as zxcvbn estimates it, the username counting as known to a guesser.
fn check_password(field: &'static str, password: &str, username: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(field, format!("at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > 1024 {
        return Err(AppError::invalid(field, "at most 1024 bytes"));
    }
    let strength = zxcvbn::zxcvbn(password, &[username, "haochaping", "好差评"]);
    if strength.score() < MIN_PASSWORD_SCORE {
        return Err(AppError::invalid(field, "too easy to guess: use a longer password, e.g. several unrelated words, without the username, dates or keyboard patterns"));
    }
    Ok(())
}

/// Ends every session of a user (API tokens and page cookies alike), but `keep`.
fn revoke_sessions(conn: &mut Conn, user_id: i64, keep: Option<&str>) -> AppResult<usize> {
    let keep_hash = keep.map(sha256_hex).unwrap_or_default();
    Ok(db_run!(conn, |c| diesel::delete(
        auth_tokens::table.filter(auth_tokens::user_id.eq(user_id)).filter(auth_tokens::token_hash.ne(&keep_hash))
    )
    .execute(c))?)
}

/// Changes a user on an admin's behalf. Disabling, a new role or a new password ends the
/// user's sessions at once: their next call gets 401.
pub fn update_user(conn: &mut Conn, actor: &str, username: &str, patch: &UserPatch, now: DateTime<Utc>) -> AppResult<UserListItem> {
    if let Some(p) = &patch.password {
        check_password("password", p, username)?;
    }
    if let Some(e) = patch.email.as_deref().filter(|e| !e.is_empty()) {
        crate::domain::intake_rules::check_email("email", e)?;
    }
    if patch.role == Some(Role::Integration) {
        return Err(AppError::invalid("role", "integrations use API keys, not user accounts"));
    }
    let password_hash = match &patch.password {
        Some(p) => Some(hashed(p)?),
        None => None,
    };
    conn.transaction(|conn| {
        let user: User = db_run!(conn, |c| users::table.filter(users::username.eq(username)).select(User::as_select()).first(c).optional())?
            .ok_or_else(|| AppError::NotFound(format!("no user {username:?}")))?;
        let old_role = Role::parse(&user.role).ok_or_else(|| AppError::internal(anyhow::anyhow!("bad role in db")))?;
        let role = patch.role.unwrap_or(old_role);
        // The last door must stay open: an admin does not lock or demote themselves out.
        if actor == format!("{old_role}:{}", user.username) && (patch.active == Some(false) || role != old_role) {
            return Err(AppError::invalid("active", "you cannot disable your own account or change your own role"));
        }
        let department_id = match (role, patch.department_code.as_deref()) {
            (Role::Department, Some(code)) if !code.is_empty() => {
                Some(queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_code", code))?.id)
            }
            (Role::Department, _) => match (patch.department_code.as_deref(), user.department_id) {
                (None, Some(kept)) => Some(kept),
                _ => return Err(AppError::invalid("department_code", "a department user needs its department")),
            },
            (_, Some(code)) if !code.is_empty() => {
                return Err(AppError::invalid("department_code", "only department users belong to one"))
            }
            _ => None,
        };
        let email = match patch.email.as_deref() {
            None => user.email.clone(),
            Some("") => None,
            Some(e) => Some(e.to_owned()),
        };
        let active = patch.active.unwrap_or(user.active);
        db_run!(conn, |c| diesel::update(users::table.filter(users::id.eq(user.id)))
            .set((users::role.eq(role.as_str()), users::department_id.eq(department_id), users::email.eq(&email), users::active.eq(active)))
            .execute(c))?;
        if let Some(hash) = &password_hash {
            db_run!(conn, |c| diesel::update(users::table.filter(users::id.eq(user.id))).set(users::password_hash.eq(hash)).execute(c))?;
        }
        let ends_sessions = !active || role != old_role || password_hash.is_some();
        let revoked = if ends_sessions { revoke_sessions(conn, user.id, None)? } else { 0 };
        let department_code = match department_id {
            Some(id) => queries::department_by_id(conn, id)?.map(|d| d.code),
            None => None,
        };
        crate::admin::master_data::audit_admin_change(
            conn,
            actor,
            "update_user",
            serde_json::json!({"username": username, "role": role, "department_code": department_code, "email": email,
                "active": active, "password_reset": password_hash.is_some(), "sessions_ended": revoked}),
            now,
        )?;
        Ok(UserListItem { id: user.id, username: user.username, role: role.as_str().to_owned(), department_code, email, active })
    })
}

/// A signed-in user's own new password, given the old one. Their other sessions end; the one
/// they are using (`current_token`) stays.
pub fn change_own_password(conn: &mut Conn, user_id: i64, old_password: &str, new_password: &str, current_token: Option<&str>, now: DateTime<Utc>) -> AppResult<()> {
    let user: User = db_run!(conn, |c| users::table.find(user_id).select(User::as_select()).first(c).optional())?
        .ok_or_else(|| AppError::Unauthorized("invalid or expired credentials".into()))?;
    check_password("new_password", new_password, &user.username)?;
    if !verify_password(old_password, &user.password_hash) {
        return Err(AppError::invalid("old_password", "is not the current password"));
    }
    let hash = hashed(new_password)?;
    conn.transaction(|conn| {
        db_run!(conn, |c| diesel::update(users::table.find(user.id)).set(users::password_hash.eq(&hash)).execute(c))?;
        let ended = revoke_sessions(conn, user.id, current_token)?;
        let actor = format!("{}:{}", user.role, user.username);
        crate::admin::master_data::audit_admin_change(conn, &actor, "change_own_password", serde_json::json!({"username": user.username, "sessions_ended": ended}), now)?;
        Ok(())
    })
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKeyListItem {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub fn list_api_keys(conn: &mut Conn) -> AppResult<Vec<ApiKeyListItem>> {
    let rows: Vec<(i64, String, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = db_run!(conn, |c| api_keys::table
        .order(api_keys::id.asc())
        .select((api_keys::id, api_keys::name, api_keys::key_prefix, api_keys::created_at, api_keys::revoked_at))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, name, prefix, created, revoked)| ApiKeyListItem {
            id,
            name,
            prefix,
            created_at: clock::rfc3339_local(created),
            revoked_at: revoked.map(clock::rfc3339_local),
        })
        .collect())
}
