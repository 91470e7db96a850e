//! The key that seals citizens' names and phones (`HCP_DATA_KEY`): checked at every start against
//! the keys that sealed what is stored, and changed with `haochaping rekey`, which seals every
//! value again under the new key (and seals what was stored in clear before a key was set).

use diesel::prelude::*;

use crate::db_run;
use crate::error::{AppError, AppResult};
use crate::storage::personal_data::{self, lookup_hash, sealed_under, Keyring};
use crate::storage::queries;
use crate::storage::schema::{complaints, sms_outbox, transactions};
use crate::storage::Conn;

/// The ids of the keys that have sealed stored values, as a JSON array.
const KEYS_IN_USE: &str = "personal_data_keys";
/// Rows read and written again per transaction.
const BATCH: i64 = 1_000;

fn keys_in_use(conn: &mut Conn) -> AppResult<Vec<String>> {
    match queries::setting(conn, KEYS_IN_USE)? {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| AppError::internal(anyhow::anyhow!("{KEYS_IN_USE} unreadable: {e}"))),
    }
}

fn store_keys_in_use(conn: &mut Conn, ids: &[String]) -> AppResult<()> {
    let text = serde_json::to_string(ids).map_err(AppError::internal)?;
    Ok(queries::put_setting(conn, KEYS_IN_USE, &text)?)
}

/// Sets this process's keyring, after checking that it opens everything sealed so far: a
/// missing or wrong key stops the start instead of failing on the first case opened. The
/// current key's id, or `None` when no key is set (values are then stored in clear).
pub fn install(conn: &mut Conn, current: Option<&str>, previous: &[String]) -> anyhow::Result<Option<String>> {
    let in_use = keys_in_use(conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(current) = current else {
        if !in_use.is_empty() {
            anyhow::bail!("names and phones in this database are sealed (key {}): set HCP_DATA_KEY", in_use.join(", "));
        }
        personal_data::install(None);
        return Ok(None);
    };
    let keyring = Keyring::from_hex(current, previous).map_err(|e| anyhow::anyhow!(e))?;
    let unknown: Vec<&String> = in_use.iter().filter(|id| !keyring.opens(id)).collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "names and phones are sealed under key {unknown:?}, which neither HCP_DATA_KEY (key {}) nor HCP_DATA_KEY_PREVIOUS opens",
            keyring.current_id()
        );
    }
    let id = keyring.current_id().to_owned();
    if !in_use.contains(&id) {
        let mut ids = in_use;
        ids.push(id.clone());
        store_keys_in_use(conn, &ids).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    personal_data::install(Some(keyring));
    Ok(Some(id))
}

/// What `rekey` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Rekeyed {
    pub rows_examined: u64,
    pub values_sealed_again: u64,
    pub lookup_hashes_updated: u64,
}

/// A stored value under the current key: `None` when it already is.
fn resealed(stored: &Option<String>, current: &str) -> AppResult<Option<Option<String>>> {
    let Some(text) = stored else { return Ok(None) };
    if sealed_under(text) == Some(current) {
        return Ok(None);
    }
    let plain = personal_data::open(text).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    Ok(Some(Some(personal_data::seal(&plain).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?)))
}

fn phone_hash(stored: &Option<String>) -> AppResult<Option<String>> {
    match stored {
        None => Ok(None),
        Some(text) => Ok(lookup_hash(&personal_data::open(text).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?)),
    }
}

/// Seals one table's name and phone columns again and recomputes its phone hash column, in
/// batches by id: the 办件' applicants and the complaints' contacts are the same work.
macro_rules! rekey_contacts {
    ($conn:expr, $current:expr, $done:expr, $progress:expr, $table:ident, $name:ident, $phone:ident, $hash:ident) => {{
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, Option<String>, Option<String>, Option<String>)> = db_run!($conn, |c| $table::table
                .filter($table::id.gt(after))
                .order($table::id)
                .limit(BATCH)
                .select(($table::id, $table::$name, $table::$phone, $table::$hash))
                .load(c))?;
            let Some(last) = rows.last().map(|r| r.0) else { break };
            $conn.transaction(|conn| {
                for (id, name, phone, hash) in &rows {
                    let (name2, phone2, hash2) = (resealed(name, $current)?, resealed(phone, $current)?, phone_hash(phone)?);
                    let hash_changed = hash2 != *hash;
                    if name2.is_none() && phone2.is_none() && !hash_changed {
                        continue;
                    }
                    // Only if unchanged since read: a row retention erased or an import corrected
                    // meanwhile is left as it now is (a later pass picks it up).
                    let updated = db_run!(conn, |c| {
                        let mut update = diesel::update($table::table.find(*id)).into_boxed();
                        update = match name {
                            Some(v) => update.filter($table::$name.eq(v.clone())),
                            None => update.filter($table::$name.is_null()),
                        };
                        update = match phone {
                            Some(v) => update.filter($table::$phone.eq(v.clone())),
                            None => update.filter($table::$phone.is_null()),
                        };
                        update
                            .set((
                                $table::$name.eq(name2.clone().unwrap_or_else(|| name.clone())),
                                $table::$phone.eq(phone2.clone().unwrap_or_else(|| phone.clone())),
                                $table::$hash.eq(&hash2),
                            ))
                            .execute(c)
                    })?;
                    if updated == 0 {
                        continue;
                    }
                    $done.values_sealed_again += u64::from(name2.is_some()) + u64::from(phone2.is_some());
                    $done.lookup_hashes_updated += u64::from(hash_changed);
                }
                Ok::<_, AppError>(())
            })?;
            $done.rows_examined += rows.len() as u64;
            $progress(stringify!($table), $done.rows_examined);
            after = last;
        }
    }};
}

/// Seals every name and phone again under the current key (the installed keyring's) and
/// recomputes the lookup hashes; then only that key is in use. `progress` hears each batch.
pub fn rekey(conn: &mut Conn, current: &str, progress: &mut dyn FnMut(&str, u64)) -> AppResult<Rekeyed> {
    let mut done = Rekeyed::default();
    rekey_contacts!(conn, current, done, progress, transactions, applicant_name, applicant_phone, applicant_phone_hash);
    rekey_contacts!(conn, current, done, progress, complaints, contact_name, contact_phone, contact_phone_hash);
    // Queued SMS: the number they go to.
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, String)> = db_run!(conn, |c| sms_outbox::table
            .filter(sms_outbox::id.gt(after))
            .order(sms_outbox::id)
            .limit(BATCH)
            .select((sms_outbox::id, sms_outbox::phone))
            .load(c))?;
        let Some(last) = rows.last().map(|r| r.0) else { break };
        conn.transaction(|conn| {
            for (id, phone) in &rows {
                if let Some(Some(sealed)) = resealed(&Some(phone.clone()), current)? {
                    done.values_sealed_again += 1;
                    db_run!(conn, |c| diesel::update(sms_outbox::table.find(*id).filter(sms_outbox::phone.eq(phone))).set(sms_outbox::phone.eq(sealed)).execute(c))?;
                }
            }
            Ok::<_, AppError>(())
        })?;
        done.rows_examined += rows.len() as u64;
        progress("sms_outbox", done.rows_examined);
        after = last;
    }
    // An instance still sealing under an old key (missed in the restart) would leave values the
    // old key alone opens: then the old key stays listed, and the start-up check keeps asking for it.
    let left = not_under(conn, current)?;
    if left > 0 {
        return Err(AppError::conflict(
            "values_under_old_key",
            format!("{left} values were written under another key meanwhile: restart every instance with the new HCP_DATA_KEY and run rekey again"),
        ));
    }
    store_keys_in_use(conn, &[current.to_owned()])?;
    Ok(done)
}

/// Stored names and phones not sealed under `current` (sealed under another key, or in clear).
fn not_under(conn: &mut Conn, current: &str) -> AppResult<i64> {
    let mine = format!("pd1:{current}:%");
    let mut left = 0;
    for (name, phone) in [
        db_run!(conn, |c| transactions::table.select((transactions::applicant_name, transactions::applicant_phone)).filter(
            transactions::applicant_name.not_like(&mine).or(transactions::applicant_phone.not_like(&mine))
        ).load::<(Option<String>, Option<String>)>(c))?,
        db_run!(conn, |c| complaints::table.select((complaints::contact_name, complaints::contact_phone)).filter(
            complaints::contact_name.not_like(&mine).or(complaints::contact_phone.not_like(&mine))
        ).load::<(Option<String>, Option<String>)>(c))?,
    ]
    .into_iter()
    .flatten()
    {
        left += [name, phone].iter().flatten().filter(|v| !v.is_empty() && sealed_under(v) != Some(current)).count() as i64;
    }
    Ok(left)
}
