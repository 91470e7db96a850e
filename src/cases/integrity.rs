//! Integrity flags (疑似刷评) for supervisors. Ratings that look manufactured are flagged, never
//! dropped or hidden: a flagged rating is stored and counted like any other, before and after a
//! supervisor's decision; the decision (排除 or 确认, with the reason) goes to the audit chain.
//!
//! - A staff session signed in on the browser a rating came from: flagged as the review is
//!   stored ([`flag_staff_sessions`], called by the review writer), and again by the scanner
//!   should that have failed.
//! - Bursts of ratings from one client address or one device: found by the scanner ([`scan`],
//!   every minute in `serve`, and `haochaping scan`) over the reviews stored since its last pass,
//!   so intake pays nothing for them. A burst that goes on extends its open flag.
//! - A department or window with no bad rating over a large volume, or an active-rating share
//!   above the threshold, in the closed previous month or the current month to date: the scanner
//!   too, one grouped read per month, at most once an hour.
//!
//! The rules themselves are `domain::integrity`'s.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock;
use crate::db_run;
use crate::domain::calendar::local_date;
use crate::domain::integrity::{find_bursts, judge_month, months_to_check, Burst, FlagKind, FlagStatus, MonthFigures, Thresholds};
use crate::domain::intake_rules::Channel;
use crate::error::{AppError, AppResult};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::schema::{cases, departments, integrity_flag_reviews, integrity_flags, reviews, windows};
use crate::storage::{queries, Conn};

/// The reviews the burst rules and the purge read; the partial index `reviews_origin` has the
/// same condition, written the same way so that SQLite's planner matches it.
const WITH_ORIGIN: &str = "(address_hash IS NOT NULL OR device_hash IS NOT NULL OR staff_session)";
/// Where the last burst pass got to.
const WATERMARK: &str = "integrity_scan_watermark";
/// When the monthly rules last ran: they read a month of reviews (1.4 s for 200 000 on SQLite),
/// so at most once per [`MONTHS_EVERY`], not on every scan.
const MONTHS_WATERMARK: &str = "integrity_months_checked_at";
const MONTHS_EVERY: Duration = Duration::hours(1);
/// A review stored this long before the last pass is looked at again: a PostgreSQL transaction
/// may commit a row whose `created_at` is older than a pass that ran meanwhile.
const LATE_COMMIT_MARGIN: Duration = Duration::minutes(10);
/// However long the scanner was stopped, a pass reads at most this far back.
const LONGEST_LOOKBACK: Duration = Duration::days(7);
/// The address and device hashes are cleared from reviews this old: no rule looks back further.
pub const ORIGIN_KEPT_DAYS: i64 = 30;
/// A burst's flag lists this many of its reviews at most (its count says how many there are).
const REVIEWS_LISTED: i64 = 500;

/// What one scan did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// New flags raised.
    pub flags_raised: u64,
    /// Reviews whose origin hashes were cleared after [`ORIGIN_KEPT_DAYS`].
    pub origins_cleared: u64,
}

/// The scanner's pass at `at`: bursts and missed staff-session flags among the reviews stored
/// since the last pass, the monthly rules, and the purge of old origin hashes.
pub fn scan(conn: &mut Conn, at: DateTime<Utc>, t: &Thresholds) -> AppResult<IntegrityReport> {
    let mut report = IntegrityReport::default();
    report.flags_raised += scan_recent(conn, at, t)?;
    report.flags_raised += scan_months(conn, at, t)?;
    report.origins_cleared = clear_old_origins(conn, at)?;
    Ok(report)
}

type OriginRow = (i64, NaiveDateTime, Option<String>, Option<String>, bool, Channel);
/// A review of one device: id, time, channel (a kiosk's threshold differs).
type Rated = (i64, DateTime<Utc>, Channel);

fn scan_recent(conn: &mut Conn, at: DateTime<Utc>, t: &Thresholds) -> AppResult<u64> {
    let window = t.window();
    let last_pass = queries::setting(conn, WATERMARK)?.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|d| d.with_timezone(&Utc));
    // Every window that ends after the last pass is read whole; those before were judged then.
    let from = match last_pass {
        Some(last) => (last - window - LATE_COMMIT_MARGIN).min(at - window * 3),
        None => at - Duration::days(1),
    }
    .max(at - LONGEST_LOOKBACK);
    let rows: Vec<OriginRow> = db_run!(conn, |c| reviews::table
        .filter(reviews::created_at.ge(clock::to_db(from)))
        .filter(sql::<Bool>(WITH_ORIGIN))
        .select((reviews::id, reviews::rated_at, reviews::address_hash, reviews::device_hash, reviews::staff_session, reviews::channel))
        .load(c))?;
    let mut raised = 0;
    let mut by_address: BTreeMap<&str, Vec<(i64, DateTime<Utc>)>> = BTreeMap::new();
    let mut by_device: BTreeMap<&str, Vec<Rated>> = BTreeMap::new();
    let mut staff_sessions = Vec::new();
    for (id, rated_at, address, device, staff_session, channel) in &rows {
        let when = clock::from_db(*rated_at);
        if let Some(a) = address {
            by_address.entry(a).or_default().push((*id, when));
        }
        if let Some(d) = device {
            by_device.entry(d).or_default().push((*id, when, *channel));
        }
        if *staff_session {
            staff_sessions.push(*id);
        }
    }
    for (hash, ratings) in &by_address {
        for burst in find_bursts(ratings, window, t.burst as usize) {
            raised += raise_burst(conn, FlagKind::BurstAddress, hash, &burst, t.burst, t, at)?;
        }
    }
    for (hash, ratings) in &by_device {
        let more_than = t.device_burst(ratings.iter().map(|r| r.2));
        let times: Vec<(i64, DateTime<Utc>)> = ratings.iter().map(|r| (r.0, r.1)).collect();
        for burst in find_bursts(&times, window, more_than as usize) {
            // One phone on one address: its open address flag already names these reviews.
            if covered_by_open_address_flags(conn, &burst.review_ids)? {
                continue;
            }
            raised += raise_burst(conn, FlagKind::BurstDevice, hash, &burst, more_than, t, at)?;
        }
    }
    // Normally flagged as they were stored; this catches one whose flag failed then.
    raised += flag_staff_sessions(conn, &staff_sessions, at)?;
    queries::put_setting(conn, WATERMARK, &at.to_rfc3339())?;
    Ok(raised)
}

/// Whether every one of these reviews is named by an open address-burst flag.
fn covered_by_open_address_flags(conn: &mut Conn, review_ids: &[i64]) -> AppResult<bool> {
    let covered: HashSet<i64> = db_run!(conn, |c| integrity_flag_reviews::table
        .inner_join(integrity_flags::table.on(integrity_flags::id.eq(integrity_flag_reviews::flag_id)))
        .filter(integrity_flags::kind.eq(FlagKind::BurstAddress.as_str()))
        .filter(integrity_flags::status.eq(FlagStatus::Open.as_str()))
        .filter(integrity_flag_reviews::review_id.eq_any(review_ids))
        .select(integrity_flag_reviews::review_id)
        .load::<i64>(c))?
    .into_iter()
    .collect();
    Ok(review_ids.iter().all(|id| covered.contains(id)))
}

/// Flags a burst of the address or device whose keyed hash is `hash`, or adds its new reviews to
/// the open flag of the same address or device that it continues. The flag never keeps the hash
/// (its subject is `address:#<first review id>`): it finds the flag it continues through its
/// reviews' hashes, which the scanner clears after [`ORIGIN_KEPT_DAYS`] as it does every hash.
/// Reviews already named by a flag of this kind are not named again (a dismissed burst that goes
/// on raises a new flag for what came after). Returns 1 for a new flag.
fn raise_burst(conn: &mut Conn, kind: FlagKind, hash: &str, burst: &Burst, more_than: u32, t: &Thresholds, at: DateTime<Utc>) -> AppResult<u64> {
    let now = clock::to_db(at);
    let prefix = if kind == FlagKind::BurstAddress { "address" } else { "device" };
    conn.transaction(|conn| {
        // A review has one address and one device: a flag of this kind naming it is of this hash.
        let named: HashSet<i64> = db_run!(conn, |c| integrity_flag_reviews::table
            .inner_join(integrity_flags::table.on(integrity_flags::id.eq(integrity_flag_reviews::flag_id)))
            .filter(integrity_flags::kind.eq(kind.as_str()))
            .filter(integrity_flag_reviews::review_id.eq_any(&burst.review_ids))
            .select(integrity_flag_reviews::review_id)
            .load::<i64>(c))?
        .into_iter()
        .collect();
        let fresh: Vec<i64> = burst.review_ids.iter().copied().filter(|id| !named.contains(id)).collect();
        let Some(&first_fresh) = fresh.first() else { return Ok(0) };
        let times: Vec<(i64, NaiveDateTime)> =
            db_run!(conn, |c| reviews::table.filter(reviews::id.eq_any(&fresh)).select((reviews::id, reviews::rated_at)).load(c))?;
        let first_at = times.iter().find(|(id, _)| *id == first_fresh).map_or(clock::to_db(burst.first), |(_, t)| *t);
        let last_at = clock::to_db(burst.last);
        let since = first_at - t.window();
        let continues: Option<(i64, String)> = db_run!(conn, |c| {
            let q = integrity_flags::table
                .inner_join(integrity_flag_reviews::table.on(integrity_flag_reviews::flag_id.eq(integrity_flags::id)))
                .inner_join(reviews::table.on(reviews::id.eq(integrity_flag_reviews::review_id)))
                .filter(integrity_flags::kind.eq(kind.as_str()))
                .filter(integrity_flags::status.eq(FlagStatus::Open.as_str()))
                .filter(integrity_flags::last_review_at.ge(since))
                .order(integrity_flags::id.desc())
                .select((integrity_flags::id, integrity_flags::details))
                .into_boxed();
            let q = if kind == FlagKind::BurstAddress { q.filter(reviews::address_hash.eq(hash)) } else { q.filter(reviews::device_hash.eq(hash)) };
            q.first(c).optional()
        })?;
        let subject = format!("{prefix}:#{first_fresh}");
        let subject = subject.as_str();
        let (flag_id, created, earlier) = match continues {
            Some((id, details)) => (id, false, serde_json::from_str::<Value>(&details).ok()),
            None => {
                let details = burst_details(fresh.len() as i64, burst.peak, more_than, t, first_at, last_at, None);
                match insert_flag(conn, kind, subject, &clock::rfc3339_local(first_at), None, None, &details, Some(last_at), now)? {
                    Some(id) => (id, true, None),
                    // Another scanner raised it a moment ago: add to theirs.
                    None => (flag_by_key(conn, kind, subject, &clock::rfc3339_local(first_at))?, false, None),
                }
            }
        };
        link_reviews(conn, flag_id, &fresh)?;
        if !created {
            let linked = linked_count(conn, flag_id)?;
            let details = burst_details(linked, burst.peak, more_than, t, first_at, last_at, earlier.as_ref());
            db_run!(conn, |c| diesel::update(integrity_flags::table.find(flag_id))
                .set((
                    integrity_flags::details.eq(details.to_string()),
                    integrity_flags::last_review_at.eq(last_at),
                    integrity_flags::updated_at.eq(now),
                ))
                .execute(c))?;
        }
        Ok(u64::from(created))
    })
}

/// A burst's figures; `earlier`: what its flag said before it grew (its first moment and peak stay).
fn burst_details(reviews: i64, peak: usize, more_than: u32, t: &Thresholds, first: NaiveDateTime, last: NaiveDateTime, earlier: Option<&Value>) -> Value {
    let earlier_peak = earlier.and_then(|e| e["peak"].as_u64()).unwrap_or(0);
    let first = earlier.and_then(|e| e["first"].as_str().map(str::to_owned)).unwrap_or_else(|| clock::rfc3339_local(first));
    json!({
        "reviews": reviews,
        "peak": (peak as u64).max(earlier_peak),
        "threshold": more_than,
        "window_minutes": t.burst_minutes,
        "first": first,
        "last": clock::rfc3339_local(last),
    })
}

/// Inserts a flag unless one of this kind, subject and period exists; its id when inserted.
#[allow(clippy::too_many_arguments)]
fn insert_flag(
    conn: &mut Conn,
    kind: FlagKind,
    subject: &str,
    period: &str,
    department_id: Option<i64>,
    window_id: Option<i64>,
    details: &Value,
    last_review_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> AppResult<Option<i64>> {
    let details = details.to_string();
    Ok(db_run!(conn, |c| diesel::insert_into(integrity_flags::table)
        .values((
            integrity_flags::kind.eq(kind.as_str()),
            integrity_flags::subject.eq(subject),
            integrity_flags::period.eq(period),
            integrity_flags::department_id.eq(department_id),
            integrity_flags::window_id.eq(window_id),
            integrity_flags::details.eq(&details),
            integrity_flags::last_review_at.eq(last_review_at),
            integrity_flags::created_at.eq(now),
            integrity_flags::updated_at.eq(now),
            integrity_flags::status.eq(FlagStatus::Open.as_str()),
        ))
        .on_conflict_do_nothing()
        .returning(integrity_flags::id)
        .get_result(c)
        .optional())?)
}

fn flag_by_key(conn: &mut Conn, kind: FlagKind, subject: &str, period: &str) -> AppResult<i64> {
    Ok(db_run!(conn, |c| integrity_flags::table
        .filter(integrity_flags::kind.eq(kind.as_str()))
        .filter(integrity_flags::subject.eq(subject))
        .filter(integrity_flags::period.eq(period))
        .select(integrity_flags::id)
        .first(c))?)
}

fn link_reviews(conn: &mut Conn, flag_id: i64, review_ids: &[i64]) -> AppResult<()> {
    // One row at a time: diesel's SQLite batch insert cannot skip a row already there, and a
    // burst names a handful of reviews.
    for &review_id in review_ids {
        db_run!(conn, |c| diesel::insert_into(integrity_flag_reviews::table)
            .values((integrity_flag_reviews::flag_id.eq(flag_id), integrity_flag_reviews::review_id.eq(review_id)))
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

fn linked_count(conn: &mut Conn, flag_id: i64) -> AppResult<i64> {
    Ok(db_run!(conn, |c| integrity_flag_reviews::table.filter(integrity_flag_reviews::flag_id.eq(flag_id)).count().get_result(c))?)
}

/// Flags each of these reviews that was given while a staff session was signed in on the same
/// browser, once (`review:<id>`). Returns how many flags are new.
pub fn flag_staff_sessions(conn: &mut Conn, review_ids: &[i64], at: DateTime<Utc>) -> AppResult<u64> {
    if review_ids.is_empty() {
        return Ok(0);
    }
    let rows: Vec<(i64, i64, Option<i64>, NaiveDateTime)> = db_run!(conn, |c| reviews::table
        .filter(reviews::id.eq_any(review_ids))
        .filter(reviews::staff_session.eq(true))
        .select((reviews::id, reviews::department_id, reviews::window_id, reviews::rated_at))
        .load(c))?;
    let now = clock::to_db(at);
    let mut raised = 0;
    for (id, department_id, window_id, rated_at) in rows {
        let period = local_date(clock::from_db(rated_at)).format("%Y-%m").to_string();
        let details = json!({"review_id": id, "rated_at": clock::rfc3339_local(rated_at)});
        conn.transaction(|conn| {
            let subject = format!("review:{id}");
            if let Some(flag_id) = insert_flag(conn, FlagKind::StaffSession, &subject, &period, Some(department_id), window_id, &details, Some(rated_at), now)? {
                link_reviews(conn, flag_id, &[id])?;
                raised += 1;
            }
            Ok::<_, AppError>(())
        })?;
    }
    Ok(raised)
}

/// The monthly rules over the closed previous month and the current month to date, per
/// department and per window: one grouped read per month.
fn scan_months(conn: &mut Conn, at: DateTime<Utc>, t: &Thresholds) -> AppResult<u64> {
    let last = queries::setting(conn, MONTHS_WATERMARK)?.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|d| d.with_timezone(&Utc));
    if last.is_some_and(|last| last <= at && at - last < MONTHS_EVERY) {
        return Ok(0);
    }
    let defaults_given = crate::storage::rules::rating_policy(conn)?.enabled;
    // 差评 is 1–2 stars (`Stars::is_bad`).
    let bad = "SUM(CASE WHEN stars <= 2 THEN 1 ELSE 0 END)";
    let active = format!("SUM(CASE WHEN channel <> '{}' THEN 1 ELSE 0 END)", Channel::Default.as_str());
    let now = clock::to_db(at);
    let mut raised = 0;
    for month in months_to_check(at) {
        let (start, end) = (clock::to_db(month.start), clock::to_db(month.end));
        let rows: Vec<(i64, Option<i64>, i64, i64, i64)> = db_run!(conn, |c| reviews::table
            .filter(reviews::rated_at.ge(start))
            .filter(reviews::rated_at.lt(end))
            .group_by((reviews::department_id, reviews::window_id))
            .select((reviews::department_id, reviews::window_id, count_star(), sql::<BigInt>(bad), sql::<BigInt>(&active)))
            .load(c))?;
        let mut by_department: BTreeMap<i64, MonthFigures> = BTreeMap::new();
        // A window's department: the one its reviews were given to.
        let mut by_window: BTreeMap<i64, (i64, MonthFigures)> = BTreeMap::new();
        for (department_id, window_id, ratings, bad, active) in rows {
            let figures = MonthFigures { ratings: count(ratings), active: count(active), bad: count(bad) };
            by_department.entry(department_id).or_default().add(figures);
            if let Some(w) = window_id {
                by_window.entry(w).or_insert((department_id, MonthFigures::default())).1.add(figures);
            }
        }
        // The month's open flags: a later scan brings their figures up to date.
        let open: HashMap<(String, String), i64> = db_run!(conn, |c| integrity_flags::table
            .filter(integrity_flags::period.eq(&month.label))
            .filter(integrity_flags::kind.eq_any([FlagKind::NoBadRatings.as_str(), FlagKind::ActiveShare.as_str()]))
            .filter(integrity_flags::status.eq(FlagStatus::Open.as_str()))
            .select((integrity_flags::id, integrity_flags::kind, integrity_flags::subject))
            .load::<(i64, String, String)>(c))?
        .into_iter()
        .map(|(id, kind, subject)| ((kind, subject), id))
        .collect();
        let subjects = by_department
            .iter()
            .map(|(id, f)| (format!("department:{id}"), Some(*id), None, f))
            .chain(by_window.iter().map(|(id, (department, f))| (format!("window:{id}"), Some(*department), Some(*id), f)));
        for (subject, department_id, window_id, figures) in subjects {
            let holding = judge_month(figures, t, defaults_given);
            for kind in [FlagKind::NoBadRatings, FlagKind::ActiveShare] {
                let holds = holding.contains(&kind);
                let existing = open.get(&(kind.as_str().to_owned(), subject.clone())).copied();
                if !holds && existing.is_none() {
                    continue;
                }
                let details = json!({
                    "month": month.label,
                    "month_closed": month.closed,
                    "ratings": figures.ratings,
                    "active": figures.active,
                    "default": figures.ratings - figures.active,
                    "bad": figures.bad,
                    "active_share": (figures.active_share() * 10_000.0).round() / 10_000.0,
                    "min_volume": t.volume,
                    "max_active_share": t.active_share,
                    "as_of": clock::rfc3339_local(now),
                    // The figures have since moved (a bad rating came in, say): the flag stays for
                    // the supervisor, saying so.
                    "no_longer_holds": !holds,
                });
                match existing {
                    Some(id) => {
                        db_run!(conn, |c| diesel::update(integrity_flags::table.find(id))
                            .set((integrity_flags::details.eq(details.to_string()), integrity_flags::updated_at.eq(now)))
                            .execute(c))?;
                    }
                    // A decided flag of this month keeps the figures it was decided on.
                    None => {
                        if insert_flag(conn, kind, &subject, &month.label, department_id, window_id, &details, None, now)?.is_some() {
                            raised += 1;
                        }
                    }
                }
            }
        }
    }
    queries::put_setting(conn, MONTHS_WATERMARK, &at.to_rfc3339())?;
    Ok(raised)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Clears the address and device hashes of reviews stored more than [`ORIGIN_KEPT_DAYS`] ago.
fn clear_old_origins(conn: &mut Conn, at: DateTime<Utc>) -> AppResult<u64> {
    let before = clock::to_db(at - Duration::days(ORIGIN_KEPT_DAYS));
    let cleared = db_run!(conn, |c| diesel::update(
        reviews::table
            .filter(reviews::created_at.lt(before))
            .filter(sql::<Bool>(WITH_ORIGIN))
            .filter(reviews::address_hash.is_not_null().or(reviews::device_hash.is_not_null()))
    )
    .set((reviews::address_hash.eq(None::<String>), reviews::device_hash.eq(None::<String>)))
    .execute(c))?;
    Ok(cleared as u64)
}

/// A flag as supervisors read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlagView {
    pub id: i64,
    /// `burst_address`, `burst_device`, `staff_session`, `no_bad_ratings` or `active_share`.
    pub kind: String,
    pub kind_label: String,
    /// `address:#<id>` or `device:#<id>` (a burst, by its first review's id: the address's or
    /// device's hash is not kept with the flag), `review:<id>`, `department:<id>` or `window:<id>`.
    pub subject: String,
    pub subject_label: String,
    /// The month (`YYYY-MM`), or a burst's first moment.
    pub period: String,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub window_code: Option<String>,
    pub window_name: Option<String>,
    /// The figures behind the flag and the thresholds it crossed.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The reviews it names (a burst's, a staff-session review; none for a month's figures), at
    /// most 500.
    pub review_ids: Vec<i64>,
    pub review_count: i64,
    /// `open`, `dismissed` or `confirmed`.
    pub status: String,
    pub status_label: String,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlagList {
    pub items: Vec<FlagView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Clone, Default)]
pub struct FlagFilter {
    pub status: Option<FlagStatus>,
    pub kind: Option<FlagKind>,
    /// From 1.
    pub page: i64,
    pub per_page: i64,
}

pub const MAX_PER_PAGE: i64 = 100;

type FlagRow = (i64, String, String, String, Option<i64>, Option<i64>, String, NaiveDateTime, NaiveDateTime, String, Option<String>, Option<NaiveDateTime>, Option<String>);

macro_rules! flag_columns {
    () => {
        (
            integrity_flags::id,
            integrity_flags::kind,
            integrity_flags::subject,
            integrity_flags::period,
            integrity_flags::department_id,
            integrity_flags::window_id,
            integrity_flags::details,
            integrity_flags::created_at,
            integrity_flags::updated_at,
            integrity_flags::status,
            integrity_flags::resolved_by,
            integrity_flags::resolved_at,
            integrity_flags::note,
        )
    };
}

/// The flags, newest first, a page at a time.
pub fn list(conn: &mut Conn, filter: &FlagFilter) -> AppResult<FlagList> {
    let per_page = filter.per_page.clamp(1, MAX_PER_PAGE);
    let page = filter.page.max(1);
    let status = filter.status.map(FlagStatus::as_str);
    let kind = filter.kind.map(FlagKind::as_str);
    let (rows, total): (Vec<FlagRow>, i64) = db_run!(conn, |c| {
        let mut q = integrity_flags::table.into_boxed();
        let mut n = integrity_flags::table.into_boxed();
        if let Some(s) = status {
            q = q.filter(integrity_flags::status.eq(s));
            n = n.filter(integrity_flags::status.eq(s));
        }
        if let Some(k) = kind {
            q = q.filter(integrity_flags::kind.eq(k));
            n = n.filter(integrity_flags::kind.eq(k));
        }
        let rows = q.order(integrity_flags::id.desc()).limit(per_page).offset((page - 1).saturating_mul(per_page)).select(flag_columns!()).load(c)?;
        let total = n.count().get_result(c)?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok(FlagList { items: views(conn, rows)?, total, page, per_page })
}

/// One flag; 404 when there is none.
pub fn get(conn: &mut Conn, id: i64) -> AppResult<FlagView> {
    let row: Option<FlagRow> = db_run!(conn, |c| integrity_flags::table.find(id).select(flag_columns!()).first(c).optional())?;
    let row = row.ok_or_else(|| AppError::NotFound(format!("integrity flag {id}")))?;
    views(conn, vec![row])?.pop().ok_or_else(|| AppError::NotFound(format!("integrity flag {id}")))
}

/// The flags with their departments', windows' and reviews' details.
fn views(conn: &mut Conn, rows: Vec<FlagRow>) -> AppResult<Vec<FlagView>> {
    let department_ids: Vec<i64> = rows.iter().filter_map(|r| r.4).collect();
    let window_ids: Vec<i64> = rows.iter().filter_map(|r| r.5).collect();
    let flag_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let names_of_departments: HashMap<i64, (String, String)> = db_run!(conn, |c| departments::table
        .filter(departments::id.eq_any(&department_ids))
        .select((departments::id, departments::code, departments::name))
        .load::<(i64, String, String)>(c))?
    .into_iter()
    .map(|(id, code, name)| (id, (code, name)))
    .collect();
    let names_of_windows: HashMap<i64, (String, String)> = db_run!(conn, |c| windows::table
        .filter(windows::id.eq_any(&window_ids))
        .select((windows::id, windows::code, windows::name))
        .load::<(i64, String, String)>(c))?
    .into_iter()
    .map(|(id, code, name)| (id, (code, name)))
    .collect();
    let links: Vec<(i64, i64)> = db_run!(conn, |c| integrity_flag_reviews::table
        .filter(integrity_flag_reviews::flag_id.eq_any(&flag_ids))
        .order((integrity_flag_reviews::flag_id, integrity_flag_reviews::review_id))
        .select((integrity_flag_reviews::flag_id, integrity_flag_reviews::review_id))
        .load(c))?;
    let mut reviews_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for (flag, review) in links {
        reviews_of.entry(flag).or_default().push(review);
    }
    Ok(rows
        .into_iter()
        .map(|(id, kind, subject, period, department_id, window_id, details, created_at, updated_at, status, resolved_by, resolved_at, note)| {
            let department = department_id.and_then(|d| names_of_departments.get(&d));
            let window = window_id.and_then(|w| names_of_windows.get(&w));
            let reviews = reviews_of.remove(&id).unwrap_or_default();
            let kind_parsed = FlagKind::parse(&kind);
            let status_parsed = FlagStatus::parse(&status);
            FlagView {
                id,
                kind_label: kind_parsed.map_or("", FlagKind::label).to_owned(),
                subject_label: subject_label(&subject, department, window),
                kind,
                subject,
                period,
                department_code: department.map(|d| d.0.clone()),
                department_name: department.map(|d| d.1.clone()),
                window_code: window.map(|w| w.0.clone()),
                window_name: window.map(|w| w.1.clone()),
                details: serde_json::from_str(&details).unwrap_or(Value::Null),
                review_count: reviews.len() as i64,
                review_ids: reviews.into_iter().take(REVIEWS_LISTED as usize).collect(),
                status_label: status_parsed.map_or("", FlagStatus::label).to_owned(),
                status,
                created_at: clock::rfc3339_local(created_at),
                updated_at: clock::rfc3339_local(updated_at),
                resolved_by,
                resolved_at: resolved_at.map(clock::rfc3339_local),
                note,
            }
        })
        .collect())
}

/// What a subject is, in Chinese: the department or window by name; an address or device only
/// by the burst's first review (neither it nor its hash is kept with the flag).
fn subject_label(subject: &str, department: Option<&(String, String)>, window: Option<&(String, String)>) -> String {
    match subject.split_once(':') {
        Some(("address", first)) => format!("同一网络地址（自评价 {first} 起）"),
        Some(("device", first)) => format!("同一设备（自评价 {first} 起）"),
        Some(("review", id)) => format!("评价 #{id}"),
        Some(("department", id)) => department.map_or_else(|| format!("部门 #{id}"), |d| d.1.clone()),
        Some(("window", id)) => window.map_or_else(|| format!("窗口 #{id}"), |w| format!("{}（{}）", w.1, w.0)),
        _ => subject.to_owned(),
    }
}

/// A review a flag names, for the flag's page.
#[derive(Debug, Clone, Serialize)]
pub struct FlaggedReview {
    pub id: i64,
    pub rated_at: String,
    pub stars: i32,
    pub channel: String,
    pub department: String,
    pub window: Option<String>,
    pub comment: Option<String>,
    /// The case a bad review opened.
    pub case_id: Option<i64>,
}

/// The reviews a flag names, oldest first (at most 500).
pub fn flagged_reviews(conn: &mut Conn, flag_id: i64) -> AppResult<Vec<FlaggedReview>> {
    type Row = (i64, NaiveDateTime, i32, String, String, Option<String>, Option<String>, Option<i64>);
    let rows: Vec<Row> = db_run!(conn, |c| integrity_flag_reviews::table
        .inner_join(reviews::table.on(reviews::id.eq(integrity_flag_reviews::review_id)))
        .inner_join(departments::table.on(departments::id.eq(reviews::department_id)))
        .left_join(windows::table.on(windows::id.nullable().eq(reviews::window_id)))
        .left_join(cases::table.on(cases::review_id.eq(reviews::id.nullable())))
        .filter(integrity_flag_reviews::flag_id.eq(flag_id))
        .order((reviews::rated_at, reviews::id))
        .limit(REVIEWS_LISTED)
        .select((
            reviews::id,
            reviews::rated_at,
            reviews::stars,
            reviews::channel,
            departments::name,
            windows::name.nullable(),
            reviews::comment,
            cases::id.nullable(),
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, rated_at, stars, channel, department, window, comment, case_id)| FlaggedReview {
            id,
            rated_at: clock::rfc3339_local(rated_at),
            stars,
            channel,
            department,
            window,
            comment,
            case_id,
        })
        .collect())
}

/// How many flags wait for a supervisor.
pub fn open_count(conn: &mut Conn) -> AppResult<i64> {
    Ok(db_run!(conn, |c| integrity_flags::table.filter(integrity_flags::status.eq(FlagStatus::Open.as_str())).count().get_result(c))?)
}

/// The longest reason a decision carries.
pub const MAX_NOTE_CHARS: usize = 500;

/// A supervisor's decision on a flag: `dismissed` (排除: nothing wrong) or `confirmed` (确认: the
/// ratings look manufactured), with the reason. The ratings stay stored and counted either way;
/// the decision and who made it go to the audit chain. A decided flag may be decided again (new
/// evidence); each decision is recorded.
pub fn decide(conn: &mut Conn, id: i64, status: FlagStatus, actor: &str, note: &str, at: DateTime<Utc>) -> AppResult<FlagView> {
    if status == FlagStatus::Open {
        return Err(AppError::invalid("status", "dismissed or confirmed"));
    }
    let note = note.trim();
    if note.is_empty() {
        return Err(AppError::invalid("note", "say why: the reason goes to the audit chain"));
    }
    crate::domain::intake_rules::check_text("note", note, MAX_NOTE_CHARS)?;
    let now = clock::to_db(at);
    conn.transaction(|conn| {
        let found: Option<(String, String)> = db_run!(conn, |c| integrity_flags::table
            .find(id)
            .select((integrity_flags::kind, integrity_flags::status))
            .first(c)
            .optional())?;
        let (kind, before) = found.ok_or_else(|| AppError::NotFound(format!("integrity flag {id}")))?;
        db_run!(conn, |c| diesel::update(integrity_flags::table.find(id))
            .set((
                integrity_flags::status.eq(status.as_str()),
                integrity_flags::resolved_by.eq(actor),
                integrity_flags::resolved_at.eq(now),
                integrity_flags::note.eq(note),
                integrity_flags::updated_at.eq(now),
            ))
            .execute(c))?;
        let review_ids: Vec<i64> = db_run!(conn, |c| integrity_flag_reviews::table
            .filter(integrity_flag_reviews::flag_id.eq(id))
            .order(integrity_flag_reviews::review_id)
            .select(integrity_flag_reviews::review_id)
            .load(c))?;
        audit::append(
            conn,
            AuditEntry {
                case_id: None,
                actor,
                action: "integrity_flag",
                from_state: Some(&before),
                to_state: Some(status.as_str()),
                note: Some(note),
                // The flag and its reviews by id only: nothing of an address or device (their hashes
                // are cleared after 30 days; the audit chain is kept for good).
                detail: Some(json!({"flag_id": id, "kind": kind, "review_ids": review_ids}).to_string()),
                at: now,
            },
        )?;
        get(conn, id)
    })
}
