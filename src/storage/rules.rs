//! Loading the [`Rules`] from the database, and the per-instance cache of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db_run;
use crate::domain::calendar::{WorkCalendar, YearCalendar, YearStatus};
use crate::domain::rating_policy::RatingPolicy;
use crate::domain::rules::Rules;
use crate::domain::sla::SlaPolicy;
use crate::domain::tag_sets::{GradeBand, TagSet, TagSets};
use crate::error::{AppError, AppResult};
use crate::storage::schema::{calendar_days, calendar_years, sla_policies, tag_sets};
use crate::storage::Conn;

pub fn load(conn: &mut Conn) -> AppResult<Rules> {
    let days: Vec<(NaiveDate, String)> =
        db_run!(conn, |c| calendar_days::table.select((calendar_days::day, calendar_days::kind)).load(c))?;
    let mut years: HashMap<i32, YearCalendar> = HashMap::new();
    for (day, kind) in days {
        let y = years
            .entry(day.year())
            .or_insert_with(|| YearCalendar { year: day.year(), holidays: vec![], workdays: vec![] });
        if kind == "workday" {
            y.workdays.push(day);
        } else {
            y.holidays.push(day);
        }
    }
    let rows: Vec<(String, i32, i32, i32, i32)> = db_run!(conn, |c| sla_policies::table
        .select((
            sla_policies::source,
            sla_policies::feedback_days,
            sla_policies::reply_days,
            sla_policies::extended_reply_days,
            sla_policies::supervision_days,
        ))
        .load(c))?;
    let to_days = |v: i32| u32::try_from(v).unwrap_or(0);
    let policies = rows
        .into_iter()
        .map(|(source, f, r, e, s)| {
            let policy = SlaPolicy {
                feedback_days: to_days(f),
                reply_days: to_days(r),
                extended_reply_days: to_days(e),
                supervision_days: to_days(s),
            };
            (source, policy)
        })
        .collect();
    let provisional: Vec<i32> = db_run!(conn, |c| calendar_years::table
        .filter(calendar_years::status.eq(YearStatus::Provisional.as_str()))
        .select(calendar_years::year)
        .load(c))?;
    let calendar = WorkCalendar::from_years(years.values()).with_provisional(provisional);
    Ok(Rules::new(calendar, policies, TagSets::newest_of(tag_set_history(conn)?)).with_held_phrases(held_phrases(conn)?))
}

/// Every version of every band's tag set, oldest first.
pub fn tag_set_history(conn: &mut Conn) -> AppResult<Vec<TagSet>> {
    let rows: Vec<(String, i32, String)> = db_run!(conn, |c| tag_sets::table
        .order((tag_sets::band.asc(), tag_sets::version.asc()))
        .select((tag_sets::band, tag_sets::version, tag_sets::tags))
        .load(c))?;
    rows.into_iter()
        .map(|(band, version, tags)| {
            let band = GradeBand::parse(&band).ok_or_else(|| AppError::internal(anyhow::anyhow!("stored tag set of unknown band {band:?}")))?;
            let tags = serde_json::from_str(&tags).map_err(|e| AppError::internal(anyhow::anyhow!("stored tag set unreadable: {e}")))?;
            Ok(TagSet { band, version, tags })
        })
        .collect()
}

/// Stores a set as its band's next version; a concurrent writer of the same band makes this
/// one a unique violation rather than a second "next".
pub fn store_tag_set(conn: &mut Conn, band: GradeBand, tags: &[String], by: &str, now: NaiveDateTime) -> AppResult<TagSet> {
    let newest: Option<i32> = db_run!(conn, |c| tag_sets::table
        .filter(tag_sets::band.eq(band.as_str()))
        .select(diesel::dsl::max(tag_sets::version))
        .first(c))?;
    let version = newest.unwrap_or(0) + 1;
    insert_tag_set(conn, &TagSet { band, version, tags: tags.to_vec() }, by, now)?;
    Ok(TagSet { band, version, tags: tags.to_vec() })
}

fn insert_tag_set(conn: &mut Conn, set: &TagSet, by: &str, now: NaiveDateTime) -> AppResult<usize> {
    let text = serde_json::to_string(&set.tags).map_err(AppError::internal)?;
    Ok(db_run!(conn, |c| diesel::insert_into(tag_sets::table)
        .values((
            tag_sets::band.eq(set.band.as_str()),
            tag_sets::version.eq(set.version),
            tag_sets::tags.eq(&text),
            tag_sets::created_by.eq(by),
            tag_sets::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?)
}

/// Stores version 1 of each band unless it is there: the built-in defaults a new district
/// starts from, so that every version a review names is on record.
pub fn seed_tag_sets(conn: &mut Conn, now: NaiveDateTime) -> AppResult<()> {
    for band in GradeBand::ALL {
        insert_tag_set(conn, &TagSet::builtin(band), "system", now)?;
    }
    Ok(())
}

/// How long another instance's calendar or SLA edit may take to reach this one.
const RULES_TTL: Duration = Duration::from_secs(30);

/// The rules as last loaded, reloaded once older than [`RULES_TTL`].
pub struct RulesCache {
    loaded: RwLock<(Instant, Arc<Rules>)>,
}

impl RulesCache {
    pub fn new(rules: Rules) -> RulesCache {
        RulesCache { loaded: RwLock::new((Instant::now(), Arc::new(rules))) }
    }

    /// The cached rules, reloaded on `conn` when they are due.
    pub fn get(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        match self.fresh() {
            Some(rules) => Ok(rules),
            None => self.reload(conn),
        }
    }

    /// The cached rules unless they are due for a reload.
    pub fn fresh(&self) -> Option<Arc<Rules>> {
        let guard = self.loaded.read().ok()?;
        (guard.0.elapsed() < RULES_TTL).then(|| Arc::clone(&guard.1))
    }

    /// Loads the rules now, after this instance changed them.
    pub fn reload(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        let fresh = Arc::new(load(conn)?);
        if let Ok(mut guard) = self.loaded.write() {
            *guard = (Instant::now(), Arc::clone(&fresh));
        }
        Ok(fresh)
    }
}

const RATING_POLICY: &str = "rating_policy";

/// The default-rating policy in force; off when none was ever set.
pub fn rating_policy(conn: &mut Conn) -> AppResult<RatingPolicy> {
    match crate::storage::queries::setting(conn, RATING_POLICY)? {
        None => Ok(RatingPolicy::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| AppError::internal(anyhow::anyhow!("stored rating policy unreadable: {e}"))),
    }
}

pub fn store_rating_policy(conn: &mut Conn, policy: &RatingPolicy) -> AppResult<()> {
    let text = serde_json::to_string(policy).map_err(AppError::internal)?;
    crate::storage::queries::put_setting(conn, RATING_POLICY, &text)?;
    Ok(())
}

const HELD_PHRASES: &str = "held_phrases";
const BANNED_REPLY_PHRASES: &str = "banned_reply_phrases";

/// A phrase list kept in the settings; `seeded` until an admin sets one.
fn phrase_list(conn: &mut Conn, key: &str, seeded: &[&str]) -> AppResult<Vec<String>> {
    match crate::storage::queries::setting(conn, key)? {
        None => Ok(seeded.iter().map(|p| (*p).to_owned()).collect()),
        Some(text) => serde_json::from_str(&text).map_err(|e| AppError::internal(anyhow::anyhow!("stored {key} unreadable: {e}"))),
    }
}

fn store_phrase_list(conn: &mut Conn, key: &str, phrases: &[String]) -> AppResult<()> {
    let text = serde_json::to_string(phrases).map_err(AppError::internal)?;
    crate::storage::queries::put_setting(conn, key, &text)?;
    Ok(())
}

/// The phrases that hold a public comment for a supervisor.
pub fn held_phrases(conn: &mut Conn) -> AppResult<Vec<String>> {
    phrase_list(conn, HELD_PHRASES, &crate::domain::moderation::DEFAULT_HELD_PHRASES)
}

pub fn store_held_phrases(conn: &mut Conn, phrases: &[String]) -> AppResult<()> {
    store_phrase_list(conn, HELD_PHRASES, phrases)
}

/// The phrases a department's reply is warned about (答复提示).
pub fn banned_reply_phrases(conn: &mut Conn) -> AppResult<Vec<String>> {
    phrase_list(conn, BANNED_REPLY_PHRASES, &crate::domain::reply_checks::DEFAULT_BANNED_REPLY_PHRASES)
}

pub fn store_banned_reply_phrases(conn: &mut Conn, phrases: &[String]) -> AppResult<()> {
    store_phrase_list(conn, BANNED_REPLY_PHRASES, phrases)
}
