//! The working-day calendar, one year at a time, and the SLA policies (admin). A change
//! recomputes the deadlines of open cases in the same transaction.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cases::actions::recompute_open_deadlines;
use crate::db_run;
use crate::domain::calendar::{provisional_year, YearCalendar, YearStatus};
use crate::domain::intake_rules::ComplaintSource;
use crate::domain::rating_policy::RatingPolicy;
use crate::domain::tag_sets::{clean_new_set, GradeBand, TagSets};
use crate::domain::sla::SlaPolicy;
use crate::error::{AppError, AppResult};
use crate::admin::master_data::audit_admin_change;
use crate::storage::schema::{calendar_days, calendar_years, sla_policies};
use crate::storage::Conn;

const CALENDAR_LOCK: i64 = 724_102;

/// A year's days and whether they are official; a year never stored is provisional, as
/// generated from the statutory holidays.
pub fn load_year(conn: &mut Conn, year: i32) -> AppResult<(YearCalendar, YearStatus)> {
    let (Some(first), Some(last)) = (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31))
    else {
        return Err(crate::error::AppError::invalid("year", "out of range"));
    };
    let status: Option<String> = db_run!(conn, |c| calendar_years::table
        .filter(calendar_years::year.eq(year))
        .select(calendar_years::status)
        .first(c)
        .optional())?;
    let Some(status) = status else { return Ok((provisional_year(year), YearStatus::Provisional)) };
    let days: Vec<(NaiveDate, String)> = db_run!(conn, |c| calendar_days::table
        .filter(calendar_days::day.between(first, last))
        .order(calendar_days::day.asc())
        .select((calendar_days::day, calendar_days::kind))
        .load(c))?;
    let (workdays, holidays): (Vec<_>, Vec<_>) = days.into_iter().partition(|(_, kind)| kind == "workday");
    let calendar = YearCalendar {
        year,
        holidays: holidays.into_iter().map(|(d, _)| d).collect(),
        workdays: workdays.into_iter().map(|(d, _)| d).collect(),
    };
    Ok((calendar, YearStatus::parse(&status).unwrap_or(YearStatus::Official)))
}

/// Replaces the year's days inside the caller's transaction.
pub fn store_year(conn: &mut Conn, year: &YearCalendar, status: YearStatus, by: &str, now: NaiveDateTime) -> AppResult<()> {
    conn.lock_for_chain(CALENDAR_LOCK)?;
    let rows: Vec<_> = year
        .holidays
        .iter()
        .map(|d| (calendar_days::day.eq(*d), calendar_days::kind.eq("holiday")))
        .chain(year.workdays.iter().map(|d| (calendar_days::day.eq(*d), calendar_days::kind.eq("workday"))))
        .collect();
    let (Some(first), Some(last)) =
        (NaiveDate::from_ymd_opt(year.year, 1, 1), NaiveDate::from_ymd_opt(year.year, 12, 31))
    else {
        return Err(crate::error::AppError::invalid("year", "out of range"));
    };
    db_run!(conn, |c| {
        diesel::delete(calendar_days::table.filter(calendar_days::day.between(first, last))).execute(c)?;
        if !rows.is_empty() {
            diesel::insert_into(calendar_days::table).values(&rows).execute(c)?;
        }
        diesel::delete(calendar_years::table.filter(calendar_years::year.eq(year.year))).execute(c)?;
        diesel::insert_into(calendar_years::table)
            .values((
                calendar_years::year.eq(year.year),
                calendar_years::updated_at.eq(now),
                calendar_years::updated_by.eq(by),
                calendar_years::status.eq(status.as_str()),
            ))
            .execute(c)?;
        QueryResult::Ok(())
    })?;
    Ok(())
}

/// Stores a provisional calendar for each of `years` that has none, so that deadlines running
/// into next year skip its statutory holidays before the notice is out. Returns the years made.
pub fn ensure_years(conn: &mut Conn, years: impl IntoIterator<Item = i32>, now: DateTime<Utc>) -> AppResult<Vec<i32>> {
    let mut made = Vec::new();
    for year in years {
        let stored = conn.transaction(|conn| {
            let known: i64 = db_run!(conn, |c| calendar_years::table.filter(calendar_years::year.eq(year)).count().get_result(c))?;
            if known > 0 {
                return Ok::<bool, AppError>(false);
            }
            store_year(conn, &provisional_year(year), YearStatus::Provisional, "provisional", crate::clock::to_db(now))?;
            audit_admin_change(conn, "system", "provisional_calendar", json!({"year": year}), now)?;
            Ok(true)
        })?;
        if stored {
            made.push(year);
        }
    }
    Ok(made)
}

/// Keeps a calendar for this year and the next: a provisional one is made for a year that has
/// none, and the open deadlines are recomputed then (or finished, after a crash cut a
/// recompute short). Run at start and by the scanner. Returns the years made.
pub fn keep_calendar_ahead(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<i32>> {
    let this = crate::domain::calendar::local_date(now).year();
    let made = ensure_years(conn, [this, this + 1], now)?;
    let interrupted = crate::storage::queries::setting(conn, crate::cases::actions::RECOMPUTE_PENDING)?.is_some();
    if !made.is_empty() || interrupted {
        recompute_open_deadlines(conn)?;
    }
    Ok(made)
}

/// Replaces a year on an admin's behalf: validated, stored, audited, open deadlines recomputed.
/// Returns the year as stored (dates sorted).
pub fn replace_year(conn: &mut Conn, actor: &str, year: YearCalendar, now: DateTime<Utc>) -> AppResult<YearCalendar> {
    if year.holidays.len() + year.workdays.len() > 366 {
        return Err(AppError::invalid("holidays", "more days than a year has"));
    }
    let year = year.validated().map_err(|e| AppError::invalid("holidays", e.to_string()))?;
    conn.transaction(|conn| {
        store_year(conn, &year, YearStatus::Official, actor, crate::clock::to_db(now))?;
        audit_admin_change(conn, actor, "put_calendar", json!({"year": year.year, "holidays": year.holidays, "workdays": year.workdays}), now)?;
        Ok::<_, AppError>(())
    })?;
    recompute_open_deadlines(conn)?;
    Ok(year)
}

/// Sets the SLA policy of a case source: stored, audited, its open cases' deadlines recomputed.
pub fn set_sla_policy(conn: &mut Conn, actor: &str, source: &str, policy: &SlaPolicy, now: DateTime<Utc>) -> AppResult<()> {
    policy.validate().map_err(|m| AppError::invalid("policy", m))?;
    let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    conn.transaction(|conn| {
        db_run!(conn, |c| {
            diesel::delete(sla_policies::table.filter(sla_policies::source.eq(source))).execute(c)?;
            diesel::insert_into(sla_policies::table)
                .values((
                    sla_policies::source.eq(source),
                    sla_policies::feedback_days.eq(as_i32(policy.feedback_days)),
                    sla_policies::reply_days.eq(as_i32(policy.reply_days)),
                    sla_policies::extended_reply_days.eq(as_i32(policy.extended_reply_days)),
                    sla_policies::supervision_days.eq(as_i32(policy.supervision_days)),
                    sla_policies::updated_at.eq(crate::clock::to_db(now)),
                ))
                .execute(c)
        })?;
        audit_admin_change(conn, actor, "put_sla_policy", json!({"source": source, "policy": policy}), now)?;
        Ok::<_, AppError>(())
    })?;
    recompute_open_deadlines(conn)?;
    Ok(())
}

/// Case sources a policy can be set for.
pub fn sources() -> Vec<&'static str> {
    std::iter::once("review").chain(ComplaintSource::ALL.iter().map(|s| s.as_str())).collect()
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SlaPolicyView {
    pub source: String,
    #[serde(flatten)]
    pub policy: SlaPolicy,
    /// True when no policy was set and the default applies.
    pub is_default: bool,
}

/// The policy in force for every source, and whether it is the default.
pub fn sla_policies_in_force(conn: &mut Conn, rules: &crate::domain::rules::Rules) -> AppResult<Vec<SlaPolicyView>> {
    let set: Vec<String> = db_run!(conn, |c| sla_policies::table.select(sla_policies::source).load(c))?;
    Ok(sources()
        .into_iter()
        .map(|s| SlaPolicyView { source: s.to_owned(), policy: rules.policy(s), is_default: !set.iter().any(|x| x == s) })
        .collect())
}

/// Sets the default-rating policy (audited); the next scan applies it.
pub fn set_rating_policy(conn: &mut Conn, actor: &str, policy: &RatingPolicy, now: DateTime<Utc>) -> AppResult<RatingPolicy> {
    policy.check()?;
    conn.transaction(|conn| {
        crate::storage::rules::store_rating_policy(conn, policy)?;
        audit_admin_change(conn, actor, "put_rating_policy", json!(policy), now)?;
        Ok(*policy)
    })
}

/// Most phrases in the moderation list, and characters in one.
pub const MAX_HELD_PHRASES: usize = 500;
pub const MAX_HELD_PHRASE_CHARS: usize = 50;

/// Replaces the phrases that hold a public comment for a supervisor (blank ones dropped,
/// duplicates once); the caller reloads the rules.
pub fn set_held_phrases(conn: &mut Conn, actor: &str, phrases: &[String], now: DateTime<Utc>) -> AppResult<Vec<String>> {
    replace_phrases(conn, actor, phrases, now, "put_held_phrases", crate::storage::rules::store_held_phrases)
}

/// Replaces the phrases a department's reply is warned about (答复提示; blank ones dropped,
/// duplicates once, the same limits as the moderation list).
pub fn set_banned_reply_phrases(conn: &mut Conn, actor: &str, phrases: &[String], now: DateTime<Utc>) -> AppResult<Vec<String>> {
    replace_phrases(conn, actor, phrases, now, "put_banned_reply_phrases", crate::storage::rules::store_banned_reply_phrases)
}

/// Stores a cleaned phrase list and audits it as `action`.
fn replace_phrases(
    conn: &mut Conn,
    actor: &str,
    phrases: &[String],
    now: DateTime<Utc>,
    action: &str,
    store: fn(&mut Conn, &[String]) -> AppResult<()>,
) -> AppResult<Vec<String>> {
    let kept = clean_phrases(phrases)?;
    conn.transaction(|conn| {
        store(conn, &kept)?;
        audit_admin_change(conn, actor, action, json!(kept), now)?;
        Ok(kept)
    })
}

/// A phrase list as given, trimmed, without blanks and repeats; `422` on a phrase too long or too many.
fn clean_phrases(phrases: &[String]) -> AppResult<Vec<String>> {
    // The list as sent is what is checked (what the schema promises), before blanks and repeats go.
    if phrases.len() > MAX_HELD_PHRASES {
        return Err(AppError::invalid("phrases", format!("at most {MAX_HELD_PHRASES} phrases")));
    }
    if phrases.iter().any(|p| p.chars().count() > MAX_HELD_PHRASE_CHARS || p.chars().any(char::is_control)) {
        return Err(AppError::invalid("phrases", format!("each phrase at most {MAX_HELD_PHRASE_CHARS} characters, without control characters")));
    }
    let mut kept: Vec<String> = Vec::new();
    for phrase in phrases.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if !kept.iter().any(|k| k == phrase) {
            kept.push(phrase.to_owned());
        }
    }
    Ok(kept)
}

/// One version of a band's tag set, as the API and the admin page show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TagSetView {
    /// `bad` (1–2 stars), `basic` (3) or `good` (4–5).
    pub band: String,
    pub version: i32,
    pub tags: Vec<String>,
    /// Whether this is the band's set in force.
    pub current: bool,
}

/// The sets in force, or with `history` every version, by band and version.
pub fn tag_sets(conn: &mut Conn, history: bool) -> AppResult<Vec<TagSetView>> {
    let all = crate::storage::rules::tag_set_history(conn)?;
    let current = TagSets::newest_of(all.clone());
    Ok(all
        .into_iter()
        .map(|set| {
            let is_current = current.of(set.band).version == set.version;
            TagSetView { band: set.band.as_str().to_owned(), version: set.version, tags: set.tags, current: is_current }
        })
        .filter(|v| history || v.current)
        .collect())
}

/// A band's new tag set: stored as its next version (audited); reviews from then on are
/// checked against it, and those before keep the version they were rated under.
pub fn put_tag_set(conn: &mut Conn, actor: &str, band: GradeBand, tags: &[String], now: DateTime<Utc>) -> AppResult<TagSetView> {
    let tags = clean_new_set(tags)?;
    conn.transaction(|conn| {
        let set = crate::storage::rules::store_tag_set(conn, band, &tags, actor, crate::clock::to_db(now))?;
        audit_admin_change(conn, actor, "put_tag_set", json!({"band": band.as_str(), "version": set.version, "tags": set.tags}), now)?;
        Ok(TagSetView { band: band.as_str().to_owned(), version: set.version, tags: set.tags, current: true })
    })
}
