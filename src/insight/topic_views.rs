//! What the API and the pages show of the topics ([`super::topics`] keeps them): topics with
//! their weekly counts, one topic's comments (with their cases), the topic × department matrix
//! (差评分项) and the emerging-issue alerts.
//!
//! 差评率 of a matrix cell is the topic's bad reviews (1–2 stars) over its reviews in that
//! department — reviews with a comment, since only those have a topic. Complaints have no
//! grade: they are counted in a column of their own and not in the rate.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::calendar::{end_of_local_day, start_of_local_day};
use crate::domain::topics::{alert_windows, change, is_new, week_begins, week_of};
use crate::error::{AppError, AppResult};
use crate::storage::schema::{cases, departments, topic_alerts, topic_members, topic_periods, topics};
use crate::storage::Conn;

use super::topics::texts_of;

/// Weeks `GET /api/v1/topics` shows by default, and at most.
pub const DEFAULT_WEEKS: u32 = 12;
pub const MAX_WEEKS: u32 = 104;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentCount {
    /// `null`: complaints not yet assigned to a department.
    pub department_code: Option<String>,
    pub department_name: String,
    pub documents: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicSummary {
    pub id: i64,
    /// The top terms of the week the topic was found in; it stays while the topic drifts.
    pub label: String,
    /// The heaviest terms of the topic's centre now.
    pub top_terms: Vec<String>,
    /// Found in fewer than two weeks so far.
    pub is_new: bool,
    /// Monday of the first and of the latest week it was found in.
    pub first_week: String,
    pub last_week: String,
    /// Comments per week of `weeks`, oldest first (the last week is the current one, so far).
    pub weekly: Vec<i64>,
    /// In the weeks shown: comments, reviews among them, bad reviews (1–2 stars), complaints.
    pub documents: i64,
    pub reviews: i64,
    pub bad_reviews: i64,
    pub complaints: i64,
    /// Bad reviews over reviews; `null` without reviews.
    pub bad_share: Option<f64>,
    /// Departments involved, most comments first.
    pub departments: Vec<DepartmentCount>,
    /// Comments in the last 7 days and in the 7 days before, and the change (the emerging-issue
    /// alerts count the issues among them: bad reviews and complaints).
    pub last_7_days: i64,
    pub previous_7_days: i64,
    pub issues_last_7_days: i64,
    pub change: i64,
    /// Relative change; `null` when the 7 days before had none.
    pub change_pct: Option<f64>,
    /// All its comments: the API, and the page.
    pub documents_url: String,
    pub page_url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicsOverview {
    pub at: String,
    /// Mondays of the weeks shown, oldest first.
    pub weeks: Vec<String>,
    pub topics: Vec<TopicSummary>,
}

struct TopicMeta {
    label: String,
    top_terms: Vec<String>,
    first_period: NaiveDate,
    last_period: NaiveDate,
}

fn topic_meta(conn: &mut Conn, ids: &[i64]) -> AppResult<HashMap<i64, TopicMeta>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<(i64, String, String, NaiveDate, NaiveDate)> = db_run!(conn, |c| topics::table
            .filter(topics::id.eq_any(chunk))
            .select((topics::id, topics::label, topics::top_terms, topics::first_period, topics::last_period))
            .load(c))?;
        out.extend(rows.into_iter().map(|(id, label, terms, first_period, last_period)| {
            (id, TopicMeta { label, top_terms: serde_json::from_str(&terms).unwrap_or_default(), first_period, last_period })
        }));
    }
    Ok(out)
}

/// Weeks each topic was found in.
fn weeks_seen(conn: &mut Conn, ids: &[i64]) -> AppResult<HashMap<i64, usize>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<(i64, i64)> = db_run!(conn, |c| topic_periods::table
            .filter(topic_periods::topic_id.eq_any(chunk))
            .filter(topic_periods::documents.gt(0))
            .group_by(topic_periods::topic_id)
            .select((topic_periods::topic_id, diesel::dsl::count_star()))
            .load(c))?;
        out.extend(rows.into_iter().map(|(id, n)| (id, usize::try_from(n).unwrap_or(0))));
    }
    Ok(out)
}

/// id → (code, name) of every department.
fn department_names(conn: &mut Conn) -> AppResult<HashMap<i64, (String, String)>> {
    let rows: Vec<(i64, String, String)> = db_run!(conn, |c| departments::table.select((departments::id, departments::code, departments::name)).load(c))?;
    Ok(rows.into_iter().map(|(id, code, name)| (id, (code, name))).collect())
}

const UNASSIGNED: &str = "待分派";

/// Per topic, department, source and grade: how many comments in `[from, to)`.
type Tally = Vec<(i64, Option<i64>, String, bool, i64)>;

fn tally(conn: &mut Conn, from: NaiveDateTime, to: NaiveDateTime) -> AppResult<Tally> {
    Ok(db_run!(conn, |c| topic_members::table
        .filter(topic_members::occurred_at.ge(from))
        .filter(topic_members::occurred_at.lt(to))
        .group_by((topic_members::topic_id, topic_members::department_id, topic_members::source, topic_members::bad))
        .select((topic_members::topic_id, topic_members::department_id, topic_members::source, topic_members::bad, diesel::dsl::count_star()))
        .load(c))?)
}

/// Topics with comments in the last `weeks` weeks up to `at`, most comments in the last 7 days first.
pub fn overview(conn: &mut Conn, at: DateTime<Utc>, weeks: u32, limit: usize) -> AppResult<TopicsOverview> {
    let weeks = weeks.clamp(1, MAX_WEEKS);
    let current = week_of(at);
    let mondays: Vec<NaiveDate> = (0..u64::from(weeks)).rev().map(|i| current - Days::new(7 * i)).collect();
    let from = clock::to_db(week_begins(mondays[0]));
    let to = clock::to_db(at) + chrono::Duration::microseconds(1);
    let weekly_rows: Vec<(i64, NaiveDate, i64)> = db_run!(conn, |c| topic_members::table
        .filter(topic_members::occurred_at.ge(from))
        .filter(topic_members::occurred_at.lt(to))
        .group_by((topic_members::topic_id, topic_members::period_start))
        .select((topic_members::topic_id, topic_members::period_start, diesel::dsl::count_star()))
        .load(c))?;
    let tallies = tally(conn, from, to)?;
    let (last7, previous7) = {
        let (current_window, baseline) = alert_windows(at);
        let count = |conn: &mut Conn, start: DateTime<Utc>, end: DateTime<Utc>, issues: bool| -> AppResult<HashMap<i64, i64>> {
            let (start, end) = (clock::to_db(start), clock::to_db(end));
            let rows: Vec<(i64, i64)> = db_run!(conn, |c| {
                let mut q = topic_members::table
                    .filter(topic_members::occurred_at.ge(start))
                    .filter(topic_members::occurred_at.lt(end))
                    .group_by(topic_members::topic_id)
                    .select((topic_members::topic_id, diesel::dsl::count_star()))
                    .into_boxed();
                if issues {
                    q = q.filter(topic_members::bad.eq(true).or(topic_members::source.eq("complaint")));
                }
                q.load(c)
            })?;
            Ok(rows.into_iter().collect())
        };
        let last = count(conn, current_window.start, current_window.end, false)?;
        let issues = count(conn, current_window.start, current_window.end, true)?;
        let previous = count(conn, baseline[0].start, baseline[0].end, false)?;
        ((last, issues), previous)
    };
    let mut ids: Vec<i64> = weekly_rows.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let meta = topic_meta(conn, &ids)?;
    let seen = weeks_seen(conn, &ids)?;
    let names = department_names(conn)?;
    let mut out: Vec<TopicSummary> = ids
        .iter()
        .filter_map(|&id| {
            let m = meta.get(&id)?;
            let weekly: Vec<i64> = mondays
                .iter()
                .map(|w| weekly_rows.iter().filter(|r| r.0 == id && r.1 == *w).map(|r| r.2).sum())
                .collect();
            let mine: Vec<&(i64, Option<i64>, String, bool, i64)> = tallies.iter().filter(|t| t.0 == id).collect();
            let reviews: i64 = mine.iter().filter(|t| t.2 == "review").map(|t| t.4).sum();
            let bad_reviews: i64 = mine.iter().filter(|t| t.2 == "review" && t.3).map(|t| t.4).sum();
            let complaints: i64 = mine.iter().filter(|t| t.2 == "complaint").map(|t| t.4).sum();
            let mut by_department: BTreeMap<Option<i64>, i64> = BTreeMap::new();
            for t in &mine {
                *by_department.entry(t.1).or_insert(0) += t.4;
            }
            let mut departments: Vec<DepartmentCount> = by_department
                .into_iter()
                .map(|(d, documents)| {
                    let (code, name) = d.and_then(|d| names.get(&d).cloned()).map_or((None, UNASSIGNED.to_owned()), |(c, n)| (Some(c), n));
                    DepartmentCount { department_code: code, department_name: name, documents }
                })
                .collect();
            departments.sort_by(|a, b| b.documents.cmp(&a.documents).then_with(|| a.department_code.cmp(&b.department_code)));
            let last_7_days = last7.0.get(&id).copied().unwrap_or(0);
            let previous_7_days = previous7.get(&id).copied().unwrap_or(0);
            let (delta, pct) = change(last_7_days, previous_7_days);
            Some(TopicSummary {
                id,
                label: m.label.clone(),
                top_terms: m.top_terms.clone(),
                is_new: is_new(seen.get(&id).copied().unwrap_or(0)),
                first_week: m.first_period.to_string(),
                last_week: m.last_period.to_string(),
                weekly,
                documents: reviews + complaints,
                reviews,
                bad_reviews,
                complaints,
                bad_share: (reviews > 0).then(|| bad_reviews as f64 / reviews as f64),
                departments,
                last_7_days,
                previous_7_days,
                issues_last_7_days: last7.1.get(&id).copied().unwrap_or(0),
                change: delta,
                change_pct: pct,
                documents_url: format!("/api/v1/topics/{id}/documents"),
                page_url: format!("/analytics/topics/{id}"),
            })
        })
        .collect();
    out.sort_by(|a, b| b.last_7_days.cmp(&a.last_7_days).then(b.documents.cmp(&a.documents)).then(a.id.cmp(&b.id)));
    out.truncate(limit);
    Ok(TopicsOverview { at: rfc3339_local(clock::to_db(at)), weeks: mondays.iter().map(NaiveDate::to_string).collect(), topics: out })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicHeader {
    pub id: i64,
    pub label: String,
    pub top_terms: Vec<String>,
    pub is_new: bool,
    pub first_week: String,
    pub last_week: String,
}

pub fn header(conn: &mut Conn, id: i64) -> AppResult<TopicHeader> {
    let meta = topic_meta(conn, &[id])?;
    let m = meta.get(&id).ok_or_else(|| AppError::NotFound(format!("no topic {id}")))?;
    let seen = weeks_seen(conn, &[id])?;
    Ok(TopicHeader {
        id,
        label: m.label.clone(),
        top_terms: m.top_terms.clone(),
        is_new: is_new(seen.get(&id).copied().unwrap_or(0)),
        first_week: m.first_period.to_string(),
        last_week: m.last_period.to_string(),
    })
}

/// A department filter: a department's code, or `unassigned` for complaints with none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepartmentFilter {
    Code(String),
    Unassigned,
}

impl DepartmentFilter {
    pub fn parse(value: &str) -> DepartmentFilter {
        if value == "unassigned" {
            DepartmentFilter::Unassigned
        } else {
            DepartmentFilter::Code(value.to_owned())
        }
    }

    fn as_param(&self) -> &str {
        match self {
            DepartmentFilter::Code(c) => c,
            DepartmentFilter::Unassigned => "unassigned",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub department: Option<DepartmentFilter>,
    /// Days, inclusive, Beijing time.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Only bad reviews and complaints.
    pub issues_only: bool,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicDocument {
    /// `review` or `complaint`.
    pub source: String,
    /// The review's or the complaint's id.
    pub record_id: i64,
    /// The case it opened (a bad review, a complaint); `null` for a review that opened none.
    pub case_id: Option<i64>,
    pub occurred_at: String,
    pub department_code: Option<String>,
    pub department_name: String,
    /// A review of 1–2 stars (a complaint has no grade: `false`).
    pub bad: bool,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentPage {
    pub topic: TopicHeader,
    pub items: Vec<TopicDocument>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A topic's comments, newest first, with their cases.
pub fn documents(conn: &mut Conn, id: i64, filter: &DocumentFilter) -> AppResult<DocumentPage> {
    if let (Some(f), Some(t)) = (filter.from, filter.to) {
        if f > t {
            return Err(AppError::invalid("from", "is after to"));
        }
    }
    let topic = header(conn, id)?;
    let department: Option<Option<i64>> = match &filter.department {
        None => None,
        Some(DepartmentFilter::Unassigned) => Some(None),
        Some(DepartmentFilter::Code(code)) => {
            let found: Option<i64> = db_run!(conn, |c| departments::table.filter(departments::code.eq(code)).select(departments::id).first(c).optional())?;
            Some(Some(found.ok_or_else(|| AppError::invalid("department", format!("no department {code}")))?))
        }
    };
    let from = filter.from.map(|d| clock::to_db(start_of_local_day(d)));
    let to = filter.to.map(|d| clock::to_db(end_of_local_day(d)));
    macro_rules! filtered {
        () => {{
            let mut q = topic_members::table.filter(topic_members::topic_id.eq(id)).into_boxed();
            match department {
                Some(Some(d)) => q = q.filter(topic_members::department_id.eq(d)),
                Some(None) => q = q.filter(topic_members::department_id.is_null()),
                None => {}
            }
            if let Some(from) = from {
                q = q.filter(topic_members::occurred_at.ge(from));
            }
            if let Some(to) = to {
                q = q.filter(topic_members::occurred_at.le(to));
            }
            if filter.issues_only {
                q = q.filter(topic_members::bad.eq(true).or(topic_members::source.eq("complaint")));
            }
            q
        }};
    }
    let total: i64 = db_run!(conn, |c| filtered!().count().get_result(c))?;
    let rows: Vec<(String, i64, NaiveDateTime, Option<i64>, bool)> = db_run!(conn, |c| filtered!()
        .order((topic_members::occurred_at.desc(), topic_members::record_id.desc()))
        .limit(filter.limit)
        .offset(filter.offset)
        .select((topic_members::source, topic_members::record_id, topic_members::occurred_at, topic_members::department_id, topic_members::bad))
        .load(c))?;
    let keys: Vec<(String, i64)> = rows.iter().map(|r| (r.0.clone(), r.1)).collect();
    let texts = texts_of(conn, &keys)?;
    let review_ids: Vec<i64> = rows.iter().filter(|r| r.0 == "review").map(|r| r.1).collect();
    let complaint_ids: Vec<i64> = rows.iter().filter(|r| r.0 == "complaint").map(|r| r.1).collect();
    let review_cases: HashMap<i64, i64> = db_run!(conn, |c| cases::table
        .filter(cases::review_id.eq_any(&review_ids))
        .select((cases::review_id.assume_not_null(), cases::id))
        .load::<(i64, i64)>(c))?
    .into_iter()
    .collect();
    let complaint_cases: HashMap<i64, i64> = db_run!(conn, |c| cases::table
        .filter(cases::complaint_id.eq_any(&complaint_ids))
        .select((cases::complaint_id.assume_not_null(), cases::id))
        .load::<(i64, i64)>(c))?
    .into_iter()
    .collect();
    let names = department_names(conn)?;
    let items = rows
        .into_iter()
        .map(|(source, record_id, at, department_id, bad)| {
            let case_id = if source == "review" { review_cases.get(&record_id) } else { complaint_cases.get(&record_id) }.copied();
            let (code, name) = department_id.and_then(|d| names.get(&d).cloned()).map_or((None, UNASSIGNED.to_owned()), |(c, n)| (Some(c), n));
            TopicDocument {
                text: texts.get(&(source.clone(), record_id)).cloned().unwrap_or_default(),
                source,
                record_id,
                case_id,
                occurred_at: rfc3339_local(at),
                department_code: code,
                department_name: name,
                bad,
            }
        })
        .collect();
    Ok(DocumentPage { topic, items, total, limit: filter.limit, offset: filter.offset })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixCell {
    /// `null`: complaints not yet assigned to a department.
    pub department_code: Option<String>,
    pub reviews: i64,
    pub bad_reviews: i64,
    /// 差评率: bad reviews over reviews; `null` without reviews.
    pub bad_rate: Option<f64>,
    pub complaints: i64,
    /// The cell's comments with their cases.
    pub documents_url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixRow {
    pub topic_id: i64,
    pub label: String,
    pub is_new: bool,
    pub reviews: i64,
    pub bad_reviews: i64,
    pub bad_rate: Option<f64>,
    pub complaints: i64,
    /// The departments with comments of this topic.
    pub cells: Vec<MatrixCell>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixDepartment {
    pub department_code: Option<String>,
    pub department_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicMatrix {
    pub from: String,
    pub to: String,
    /// The columns: departments with comments in a topic, by code, then 待分派.
    pub departments: Vec<MatrixDepartment>,
    /// Topics, most bad reviews and complaints first.
    pub rows: Vec<MatrixRow>,
}

fn rate(bad: i64, all: i64) -> Option<f64> {
    (all > 0).then(|| bad as f64 / all as f64)
}

/// 差评分项: counts and 差评率 per topic and department over the days `from..=to`.
pub fn matrix(conn: &mut Conn, from: NaiveDate, to: NaiveDate) -> AppResult<TopicMatrix> {
    if from > to {
        return Err(AppError::invalid("from", "is after to"));
    }
    let start = clock::to_db(start_of_local_day(from));
    let end = clock::to_db(start_of_local_day(to + Days::new(1)));
    let tallies = tally(conn, start, end)?;
    let names = department_names(conn)?;
    let mut ids: Vec<i64> = tallies.iter().map(|t| t.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let meta = topic_meta(conn, &ids)?;
    let seen = weeks_seen(conn, &ids)?;
    let code_of = |d: Option<i64>| d.and_then(|d| names.get(&d)).map(|(c, _)| c.clone());
    let mut columns: BTreeMap<(bool, Option<String>), String> = BTreeMap::new();
    let mut rows = Vec::new();
    for id in ids {
        let Some(m) = meta.get(&id) else { continue };
        let mut cells: BTreeMap<(bool, Option<String>), MatrixCell> = BTreeMap::new();
        for t in tallies.iter().filter(|t| t.0 == id) {
            let code = code_of(t.1);
            let name = t.1.and_then(|d| names.get(&d)).map_or(UNASSIGNED.to_owned(), |(_, n)| n.clone());
            // Unassigned sorts last.
            let key = (code.is_none(), code.clone());
            columns.insert(key.clone(), name);
            let param = code.clone().unwrap_or_else(|| "unassigned".into());
            let cell = cells.entry(key).or_insert_with(|| MatrixCell {
                department_code: code.clone(),
                reviews: 0,
                bad_reviews: 0,
                bad_rate: None,
                complaints: 0,
                documents_url: format!("/api/v1/topics/{id}/documents?department={param}&from={from}&to={to}"),
            });
            if t.2 == "review" {
                cell.reviews += t.4;
                if t.3 {
                    cell.bad_reviews += t.4;
                }
            } else {
                cell.complaints += t.4;
            }
        }
        let mut cells: Vec<MatrixCell> = cells.into_values().collect();
        for c in &mut cells {
            c.bad_rate = rate(c.bad_reviews, c.reviews);
        }
        let (reviews, bad_reviews, complaints) = cells.iter().fold((0, 0, 0), |a, c| (a.0 + c.reviews, a.1 + c.bad_reviews, a.2 + c.complaints));
        rows.push(MatrixRow {
            topic_id: id,
            label: m.label.clone(),
            is_new: is_new(seen.get(&id).copied().unwrap_or(0)),
            reviews,
            bad_reviews,
            bad_rate: rate(bad_reviews, reviews),
            complaints,
            cells,
        });
    }
    rows.sort_by(|a, b| (b.bad_reviews + b.complaints).cmp(&(a.bad_reviews + a.complaints)).then(a.topic_id.cmp(&b.topic_id)));
    Ok(TopicMatrix {
        from: from.to_string(),
        to: to.to_string(),
        departments: columns.into_iter().map(|((_, code), name)| MatrixDepartment { department_code: code, department_name: name }).collect(),
        rows,
    })
}

/// A documents link's query for a department filter (the pages build theirs from it).
pub fn department_param(filter: &DepartmentFilter) -> String {
    filter.as_param().to_owned()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicAlertView {
    pub id: i64,
    pub topic_id: i64,
    /// `surge` (the last 7 days ≥ mean + 3 sd of the eight 7-day windows before) or `new_topic`.
    pub kind: String,
    pub label: String,
    pub top_terms: Vec<String>,
    /// The last 7 days the alert counted.
    pub window_start: String,
    pub window_end: String,
    /// Bad reviews and complaints of the topic in the window.
    pub count: i32,
    pub baseline_mean: f64,
    pub baseline_sd: f64,
    /// The count at which it alerted (a new topic: `HCP_NEW_TOPIC_ALERT_SIZE`).
    pub threshold: f64,
    /// Up to three of its comments, personal numbers hidden.
    pub samples: Vec<String>,
    pub created_at: String,
    /// All of the window's comments (API), and the topic's page.
    pub documents_url: String,
    pub page_url: String,
}

type AlertRow = (i64, i64, String, NaiveDateTime, NaiveDateTime, i32, f64, f64, f64, String, String, String, NaiveDateTime);

/// Alerts newest first, raised at or after `since` when given.
pub fn alerts(conn: &mut Conn, since: Option<DateTime<Utc>>, limit: i64) -> AppResult<Vec<TopicAlertView>> {
    let since = since.map(clock::to_db);
    let rows: Vec<AlertRow> = db_run!(conn, |c| {
        let mut q = topic_alerts::table
            .order(topic_alerts::id.desc())
            .limit(limit)
            .select((
                topic_alerts::id,
                topic_alerts::topic_id,
                topic_alerts::kind,
                topic_alerts::window_start,
                topic_alerts::window_end,
                topic_alerts::count,
                topic_alerts::baseline_mean,
                topic_alerts::baseline_sd,
                topic_alerts::threshold,
                topic_alerts::label,
                topic_alerts::top_terms,
                topic_alerts::samples,
                topic_alerts::created_at,
            ))
            .into_boxed();
        if let Some(since) = since {
            q = q.filter(topic_alerts::created_at.ge(since));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, topic_id, kind, start, end, count, mean, sd, threshold, label, terms, samples, created)| {
            let (from, to) = (crate::domain::calendar::local_date(clock::from_db(start)), crate::domain::calendar::local_date(clock::from_db(end)));
            TopicAlertView {
                id,
                topic_id,
                kind,
                label,
                top_terms: serde_json::from_str(&terms).unwrap_or_default(),
                window_start: rfc3339_local(start),
                window_end: rfc3339_local(end),
                count,
                baseline_mean: mean,
                baseline_sd: sd,
                threshold,
                samples: serde_json::from_str(&samples).unwrap_or_default(),
                created_at: rfc3339_local(created),
                documents_url: format!("/api/v1/topics/{topic_id}/documents?from={from}&to={to}&issues_only=true"),
                page_url: format!("/analytics/topics/{topic_id}?from={from}&to={to}&issues_only=true"),
            }
        })
        .collect())
}
