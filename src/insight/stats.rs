//! The figures of SPEC §4, aggregated in the database: one `GROUP BY` query per source table
//! (reviews, transactions, cases opened, cases closed, 回访 follow-ups, appeal events), each
//! returning counts per group key; rates are derived from the counts here, so a total is the
//! sum of its groups and every rate has its numerator and denominator on record.
//!
//! Definitions (also in the README):
//! - ratings: reviews rated in the period, upheld-appeal (invalidated) reviews excluded;
//!   `active_ratings` leaves out the system's `default` ratings.
//! - 好评率 stars ≥ 3 / ratings; 差评率 stars ≤ 2 / ratings; 主动评价好评率 the same over active ratings.
//! - 未评率: transactions completed in the period with no active rating / transactions completed.
//! - 差评回复率: bad reviews of the period whose case has a reply / bad reviews.
//! - 整改率: cases opened in the period that were rectified / cases opened, less those closed by
//!   an upheld appeal.
//! - 按期办结率: cases closed (with a reply) in the period that replied by the reply deadline and
//!   were closed by the supervision deadline / cases closed with a reply.
//! - 回访满意率: 回访 ratings of the period that are 满意 or 基本满意 / 回访 ratings.
//! - overdue: cases opened in the period still open past their stage deadline at `now`, with
//!   their working days late (the only rows read back: overdue cases, not all cases).
//! - appeals filed / upheld: appeal and uphold events in the period.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;

use crate::adapters::render::FigureRow;
use crate::domain::rules::Rules;
use crate::clock;
use crate::db_run;
use crate::domain::calendar::{local_date, start_of_local_day};
use crate::domain::sla::overdue_days;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{departments, service_items, staff, windows};
use crate::storage::{Backend, Conn};

crate::domain::intake_rules::string_enum! {
    GroupBy {
        Department = "department",
        ServiceItem = "service_item",
        Window = "window",
        Staff = "staff",
        Channel = "channel",
        Month = "month",
        /// 差评分项统计: the reviews carrying each tag (a review with two tags counts under both).
        Tag = "tag",
    }
}

impl GroupBy {
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Department => "部门",
            GroupBy::ServiceItem => "事项",
            GroupBy::Window => "窗口",
            GroupBy::Staff => "工作人员",
            GroupBy::Channel => "渠道",
            GroupBy::Month => "月份",
            GroupBy::Tag => "评价标签",
        }
    }
}

/// A period of whole days in Beijing time, or of exact instants; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// `from`/`to` as `YYYY-MM-DD` (inclusive days in Beijing time) or RFC 3339 instants.
    pub fn parse(from: &str, to: &str) -> AppResult<Period> {
        let start = parse_bound(from, "from", false)?;
        let end = parse_bound(to, "to", true)?;
        if end <= start {
            return Err(AppError::invalid("to", "must not be before from"));
        }
        if end - start > Duration::days(3700) {
            return Err(AppError::invalid("to", "a period may span at most ten years"));
        }
        Ok(Period { start, end })
    }

    /// The calendar month `YYYY-MM` in Beijing time.
    pub fn month(month: &str) -> AppResult<Period> {
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9998).contains(&d.year()))
            .ok_or_else(|| AppError::invalid("month", "expected YYYY-MM from 1970"))?;
        let next = first.checked_add_months(chrono::Months::new(1)).ok_or_else(|| AppError::invalid("month", "out of range"))?;
        Ok(Period { start: start_of_local_day(first), end: start_of_local_day(next) })
    }

    pub fn days(first: NaiveDate, last: NaiveDate) -> AppResult<Period> {
        Ok(Period { start: start_of_local_day(first), end: start_of_local_day(last + Duration::days(1)) })
    }

    /// The first and last day, in Beijing time.
    pub fn first_day(&self) -> NaiveDate {
        local_date(self.start)
    }

    pub fn last_day(&self) -> NaiveDate {
        local_date(self.end - Duration::microseconds(1))
    }
}

/// A rate as people read it: `92.3%`, or `—` when nothing was counted.
fn parse_bound(value: &str, field: &'static str, end: bool) -> AppResult<DateTime<Utc>> {
    let t = parse_instant(value, field, end)?;
    // Both backends keep these years; PostgreSQL refuses year 0 and before.
    if !(1970..=9998).contains(&t.year()) {
        return Err(AppError::invalid(field, "a year from 1970 to 9998"));
    }
    Ok(t)
}

fn parse_instant(value: &str, field: &'static str, end: bool) -> AppResult<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end { day.succ_opt().ok_or_else(|| AppError::invalid(field, "out of range"))? } else { day };
        return Ok(start_of_local_day(day));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AppError::invalid(field, "expected YYYY-MM-DD or an RFC 3339 time"))
}

/// Counts of one group; rates are computed from these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub ratings: i64,
    pub active_ratings: i64,
    pub default_ratings: i64,
    /// Ratings by stars, 1 to 5.
    pub stars: [i64; 5],
    pub active_good: i64,
    pub bad_reviews: i64,
    pub bad_replied: i64,
    pub completed_transactions: i64,
    pub unrated_transactions: i64,
    pub cases_opened: i64,
    pub cases_to_rectify: i64,
    pub cases_rectified: i64,
    pub cases_closed: i64,
    pub cases_closed_on_time: i64,
    pub follow_ups: i64,
    pub follow_ups_satisfied: i64,
    pub overdue_cases: i64,
    pub overdue_days: i64,
    pub appeals_filed: i64,
    pub appeals_upheld: i64,
    /// 退单: cases this group's department returned as not its own (`request_reassign`).
    pub returns: i64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.ratings += other.ratings;
        self.active_ratings += other.active_ratings;
        self.default_ratings += other.default_ratings;
        for (mine, theirs) in self.stars.iter_mut().zip(other.stars) {
            *mine += theirs;
        }
        self.active_good += other.active_good;
        self.bad_reviews += other.bad_reviews;
        self.bad_replied += other.bad_replied;
        self.completed_transactions += other.completed_transactions;
        self.unrated_transactions += other.unrated_transactions;
        self.cases_opened += other.cases_opened;
        self.cases_to_rectify += other.cases_to_rectify;
        self.cases_rectified += other.cases_rectified;
        self.cases_closed += other.cases_closed;
        self.cases_closed_on_time += other.cases_closed_on_time;
        self.follow_ups += other.follow_ups;
        self.follow_ups_satisfied += other.follow_ups_satisfied;
        self.overdue_cases += other.overdue_cases;
        self.overdue_days += other.overdue_days;
        self.appeals_filed += other.appeals_filed;
        self.appeals_upheld += other.appeals_upheld;
        self.returns += other.returns;
    }

    pub fn good(&self) -> i64 {
        self.stars[2] + self.stars[3] + self.stars[4]
    }
}

fn rate(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

impl Figures {
    /// Its line of the figures table on pages and in the report.
    pub fn row(&self) -> FigureRow<'_> {
        FigureRow {
            name: &self.name,
            ratings: self.ratings,
            bad: self.stars[0] + self.stars[1],
            good_rate: self.good_rate,
            bad_reply_rate: self.bad_reply_rate,
            rectification_rate: self.rectification_rate,
            on_time_rate: self.on_time_rate,
            follow_up_satisfaction_rate: self.follow_up_satisfaction_rate,
            overdue_cases: self.overdue_cases,
        }
    }
}

/// The SPEC §10 figures of a group (or of the total).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub key: String,
    pub name: String,
    pub ratings: i64,
    pub active_ratings: i64,
    pub default_ratings: i64,
    pub stars: [i64; 5],
    pub good_rate: Option<f64>,
    pub bad_rate: Option<f64>,
    pub active_good_rate: Option<f64>,
    pub unrated_rate: Option<f64>,
    pub bad_reply_rate: Option<f64>,
    pub rectification_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub follow_up_satisfaction_rate: Option<f64>,
    pub overdue_cases: i64,
    pub overdue_days: i64,
    pub appeals_filed: i64,
    pub appeals_upheld: i64,
    /// 退单: cases returned as misrouted, counted against the department that returned them.
    pub returns: i64,
    /// The numerators and denominators behind the rates.
    pub counts: Counts,
}

impl Figures {
    pub fn of(key: String, name: String, c: Counts) -> Figures {
        Figures {
            key,
            name,
            ratings: c.ratings,
            active_ratings: c.active_ratings,
            default_ratings: c.default_ratings,
            stars: c.stars,
            good_rate: rate(c.good(), c.ratings),
            bad_rate: rate(c.stars[0] + c.stars[1], c.ratings),
            active_good_rate: rate(c.active_good, c.active_ratings),
            unrated_rate: rate(c.unrated_transactions, c.completed_transactions),
            bad_reply_rate: rate(c.bad_replied, c.bad_reviews),
            rectification_rate: rate(c.cases_rectified, c.cases_to_rectify),
            on_time_rate: rate(c.cases_closed_on_time, c.cases_closed),
            follow_up_satisfaction_rate: rate(c.follow_ups_satisfied, c.follow_ups),
            overdue_cases: c.overdue_cases,
            overdue_days: c.overdue_days,
            appeals_filed: c.appeals_filed,
            appeals_upheld: c.appeals_upheld,
            returns: c.returns,
            counts: c,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub from: String,
    pub to: String,
    pub group_by: Option<String>,
    pub groups: Vec<Figures>,
    pub total: Figures,
}

/// Which rows a caller may count: everything, or one department's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Department(i64),
}

/// The scope narrowed to one department by its code: anyone may narrow to their own; only
/// those who see everything may pick another.
pub fn narrowed(conn: &mut Conn, scope: Scope, department_code: Option<&str>) -> AppResult<Scope> {
    let Some(code) = department_code else { return Ok(scope) };
    let department = crate::storage::queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_code", code))?;
    match scope {
        Scope::All => Ok(Scope::Department(department.id)),
        Scope::Department(own) if own == department.id => Ok(scope),
        Scope::Department(_) => Err(AppError::Forbidden("statistics of another department".into())),
    }
}

/// The tables the figures come from; each names its columns differently.
#[derive(Debug, Clone, Copy)]
enum Root {
    Reviews,
    Transactions,
    CasesOpened,
    CasesClosed,
    FollowUps,
    AppealEvents,
    Returns,
}

impl Root {
    /// The column the period applies to (and the month is taken from).
    fn time_column(self) -> &'static str {
        match self {
            Root::Reviews => "r.rated_at",
            Root::Transactions => "t.completed_at",
            Root::CasesOpened => "c.opened_at",
            Root::CasesClosed => "c.closed_at",
            Root::FollowUps => "f.created_at",
            Root::AppealEvents => "e.at",
            Root::Returns => "x.at",
        }
    }

    fn department_column(self) -> &'static str {
        match self {
            Root::Reviews | Root::FollowUps => "r.department_id",
            Root::Transactions => "t.department_id",
            Root::CasesOpened | Root::CasesClosed | Root::AppealEvents => "c.department_id",
            // The department that returned the case, not the one it went to.
            Root::Returns => "x.department_id",
        }
    }
}

/// The group key of `root`'s rows as text (ids are mapped to codes and names afterwards).
fn key_sql(group_by: Option<GroupBy>, root: Root, backend: Backend) -> String {
    // Totals only: one row without GROUP BY (PostgreSQL refuses to group by a constant).
    let Some(group_by) = group_by else { return "CAST(NULL AS TEXT)".into() };
    let case_rooted = matches!(root, Root::CasesOpened | Root::CasesClosed | Root::AppealEvents | Root::Returns);
    let id_text = |col: &str| format!("CAST({col} AS TEXT)");
    match group_by {
        GroupBy::Department => id_text(root.department_column()),
        GroupBy::ServiceItem if case_rooted => id_text("COALESCE(r.service_item_id, p.service_item_id)"),
        GroupBy::ServiceItem if matches!(root, Root::Transactions) => id_text("t.service_item_id"),
        GroupBy::ServiceItem => id_text("r.service_item_id"),
        GroupBy::Window if case_rooted => id_text("c.window_id"),
        GroupBy::Window if matches!(root, Root::Transactions) => id_text("t.window_id"),
        GroupBy::Window => id_text("r.window_id"),
        GroupBy::Staff if case_rooted => id_text("c.staff_id"),
        GroupBy::Staff if matches!(root, Root::Transactions) => id_text("t.staff_id"),
        GroupBy::Staff => id_text("r.staff_id"),
        // A complaint has no rating channel: its case counts under its source.
        GroupBy::Channel if case_rooted => "COALESCE(r.channel, c.source)".into(),
        GroupBy::Channel if matches!(root, Root::Transactions) => "t.channel".into(),
        GroupBy::Channel => "r.channel".into(),
        GroupBy::Month => month_sql(root.time_column(), backend),
        // Only reviews carry tags: [`counts`] joins their tags in as `tg`.
        GroupBy::Tag => "tg.value".into(),
    }
}

/// Each tag of a review as a row `tg(value)`: the tags are stored as a JSON array.
fn tag_join(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "JOIN json_each(r.tags) tg",
        Backend::Postgres => "CROSS JOIN LATERAL jsonb_array_elements_text(CAST(r.tags AS jsonb)) AS tg(value)",
    }
}

/// `YYYY-MM` of a UTC timestamp column, in Beijing time.
fn month_sql(column: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("strftime('%Y-%m', {column}, '+8 hours')"),
        Backend::Postgres => format!("to_char({column} + interval '8 hours', 'YYYY-MM')"),
    }
}

/// A timestamp literal: the values are our own `NaiveDateTime`s, formatted, never user text.
fn ts(t: DateTime<Utc>) -> String {
    // The same text diesel stores in SQLite (`%F %T%.f`), so that string comparison is exact.
    format!("'{}'", clock::to_db(t).format("%F %T%.f"))
}

fn filters(root: Root, period: Period, scope: Scope) -> String {
    let time = root.time_column();
    let mut sql = format!("{time} >= {} AND {time} < {}", ts(period.start), ts(period.end));
    if let Scope::Department(id) = scope {
        sql.push_str(&format!(" AND {} = {id}", root.department_column()));
    }
    sql
}

#[derive(QueryableByName)]
struct ReviewRow {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = BigInt)]
    ratings: i64,
    #[diesel(sql_type = BigInt)]
    active: i64,
    #[diesel(sql_type = BigInt)]
    s1: i64,
    #[diesel(sql_type = BigInt)]
    s2: i64,
    #[diesel(sql_type = BigInt)]
    s3: i64,
    #[diesel(sql_type = BigInt)]
    s4: i64,
    #[diesel(sql_type = BigInt)]
    s5: i64,
    #[diesel(sql_type = BigInt)]
    active_good: i64,
    #[diesel(sql_type = BigInt)]
    bad_replied: i64,
}

/// Two counts per key: every query but the reviews' fits this shape.
#[derive(QueryableByName)]
struct PairRow {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

#[derive(QueryableByName)]
struct TripleRow {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
    #[diesel(sql_type = BigInt)]
    c: i64,
}

#[derive(QueryableByName)]
struct OverdueRow {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = Timestamp)]
    stage_due: chrono::NaiveDateTime,
}

/// A case that calls for rectification: not closed by an upheld appeal (closed without a reply),
/// and not a review the appeal invalidated.
const TO_RECTIFY: &str = "NOT (c.state = 'closed' AND c.replied_at IS NULL) AND (r.id IS NULL OR NOT r.invalidated)";

const CASE_JOINS: &str = "FROM cases c LEFT JOIN reviews r ON r.id = c.review_id LEFT JOIN complaints p ON p.id = c.complaint_id";

fn count_if(condition: &str) -> String {
    format!("CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT)")
}

/// Counts per group key for the period; `None` key = rows without that attribute.
pub fn counts(conn: &mut Conn, period: Period, group_by: Option<GroupBy>, scope: Scope, now: DateTime<Utc>, rules: &Rules) -> AppResult<BTreeMap<Option<String>, Counts>> {
    let backend = conn.backend();
    let key = |root: Root| key_sql(group_by, root, backend);
    // One shape for every aggregate: the group key, the counted columns, the rows and the period.
    let select = |root: Root, columns: &str, from: &str, condition: &str| {
        let group = if group_by.is_some() { format!("GROUP BY {}", key(root)) } else { String::new() };
        format!("SELECT {} AS k, {columns} {from} WHERE {condition} AND {} {group}", key(root), filters(root, period, scope))
    };
    const COUNT: &str = "CAST(COUNT(*) AS BIGINT)";
    let mut out: BTreeMap<Option<String>, Counts> = BTreeMap::new();

    let sql = select(
        Root::Reviews,
        &format!(
            "{COUNT} AS ratings, {} AS active, {} AS s1, {} AS s2, {} AS s3, {} AS s4, {} AS s5, {} AS active_good, {} AS bad_replied",
            count_if("r.channel <> 'default'"),
            count_if("r.stars = 1"),
            count_if("r.stars = 2"),
            count_if("r.stars = 3"),
            count_if("r.stars = 4"),
            count_if("r.stars = 5"),
            count_if("r.channel <> 'default' AND r.stars >= 3"),
            count_if("r.stars <= 2 AND c.replied_at IS NOT NULL"),
        ),
        &format!("FROM reviews r {} LEFT JOIN cases c ON c.review_id = r.id", if group_by == Some(GroupBy::Tag) { tag_join(backend) } else { "" }),
        "NOT r.invalidated",
    );
    let rows: Vec<ReviewRow> = db_run!(conn, |c| diesel::sql_query(&sql).load(c))?;
    for r in rows {
        let e = out.entry(r.k).or_default();
        e.ratings += r.ratings;
        e.active_ratings += r.active;
        e.default_ratings += r.ratings - r.active;
        for (i, n) in [r.s1, r.s2, r.s3, r.s4, r.s5].into_iter().enumerate() {
            e.stars[i] += n;
        }
        e.active_good += r.active_good;
        e.bad_reviews += r.s1 + r.s2;
        e.bad_replied += r.bad_replied;
    }
    // Transactions and cases carry no tag.
    if group_by == Some(GroupBy::Tag) {
        return Ok(out);
    }

    let sql = select(
        Root::CasesOpened,
        &format!(
            "{COUNT} AS a, {} AS b, {} AS c",
            count_if(TO_RECTIFY),
            count_if(&format!("{TO_RECTIFY} AND EXISTS (SELECT 1 FROM audit_events x WHERE x.case_id = c.id AND x.action = 'rectify')")),
        ),
        CASE_JOINS,
        "1 = 1",
    );
    let rows: Vec<TripleRow> = db_run!(conn, |c| diesel::sql_query(&sql).load(c))?;
    for r in rows {
        let e = out.entry(r.k).or_default();
        e.cases_opened += r.a;
        e.cases_to_rectify += r.b;
        e.cases_rectified += r.c;
    }

    // The queries that count two things each: (root, a, b, rows, condition, where the counts go).
    type Apply = fn(&mut Counts, i64, i64);
    let mut pairs: Vec<(Root, String, String, &str, &str, Apply)> = vec![
        (
            Root::CasesClosed,
            COUNT.into(),
            count_if("c.reply_due IS NOT NULL AND c.replied_at <= c.reply_due AND (c.supervision_due IS NULL OR c.closed_at <= c.supervision_due)"),
            CASE_JOINS,
            "c.state = 'closed' AND c.replied_at IS NOT NULL",
            |e, a, b| {
                e.cases_closed += a;
                e.cases_closed_on_time += b;
            },
        ),
        (
            Root::FollowUps,
            COUNT.into(),
            count_if("f.satisfaction IN ('satisfied', 'basically_satisfied')"),
            "FROM review_follow_ups f JOIN reviews r ON r.id = f.review_id",
            "f.kind = 'handling'",
            |e, a, b| {
                e.follow_ups += a;
                e.follow_ups_satisfied += b;
            },
        ),
        (
            Root::AppealEvents,
            count_if("e.action = 'appeal'"),
            count_if("e.action = 'uphold_appeal'"),
            "FROM audit_events e JOIN cases c ON c.id = e.case_id LEFT JOIN reviews r ON r.id = c.review_id LEFT JOIN complaints p ON p.id = c.complaint_id",
            "e.action IN ('appeal', 'uphold_appeal')",
            |e, a, b| {
                e.appeals_filed += a;
                e.appeals_upheld += b;
            },
        ),
        (
            Root::Returns,
            COUNT.into(),
            "CAST(0 AS BIGINT)".into(),
            "FROM case_returns x JOIN cases c ON c.id = x.case_id LEFT JOIN reviews r ON r.id = c.review_id LEFT JOIN complaints p ON p.id = c.complaint_id",
            "1 = 1",
            |e, a, _| e.returns += a,
        ),
    ];
    // The channel of a transaction is where it was handled, not how it was rated: no 未评率 by channel.
    if group_by != Some(GroupBy::Channel) {
        pairs.push((
            Root::Transactions,
            COUNT.into(),
            count_if("NOT EXISTS (SELECT 1 FROM reviews x WHERE x.transaction_id = t.id AND x.channel <> 'default')"),
            "FROM transactions t",
            "1 = 1",
            |e, a, b| {
                e.completed_transactions += a;
                e.unrated_transactions += b;
            },
        ));
    }
    for (root, a, b, from, condition, apply) in pairs {
        let sql = select(root, &format!("{a} AS a, {b} AS b"), from, condition);
        let rows: Vec<PairRow> = db_run!(conn, |c| diesel::sql_query(&sql).load(c))?;
        for r in rows {
            apply(out.entry(r.k).or_default(), r.a, r.b);
        }
    }

    // Working days late need the calendar: only the overdue cases themselves are read back.
    let sql = format!(
        "SELECT {k} AS k, c.stage_due AS stage_due {CASE_JOINS} WHERE c.state <> 'closed' AND c.stage_due < {now} AND {w}",
        k = key(Root::CasesOpened),
        now = ts(now),
        w = filters(Root::CasesOpened, period, scope),
    );
    let rows: Vec<OverdueRow> = db_run!(conn, |c| diesel::sql_query(&sql).load(c))?;
    for r in rows {
        let e = out.entry(r.k).or_default();
        e.overdue_cases += 1;
        e.overdue_days += i64::from(overdue_days(now, clock::from_db(r.stage_due), &rules.calendar));
    }

    Ok(out)
}

/// Code and name of each group key.
fn names(conn: &mut Conn, group_by: Option<GroupBy>) -> AppResult<HashMap<String, (String, String)>> {
    let rows: Vec<(i64, String, String)> = match group_by {
        Some(GroupBy::Department) => db_run!(conn, |c| departments::table.select((departments::id, departments::code, departments::name)).load(c))?,
        Some(GroupBy::ServiceItem) => db_run!(conn, |c| service_items::table.select((service_items::id, service_items::code, service_items::name)).load(c))?,
        Some(GroupBy::Window) => db_run!(conn, |c| windows::table.select((windows::id, windows::code, windows::name)).load(c))?,
        Some(GroupBy::Staff) => db_run!(conn, |c| staff::table.select((staff::id, staff::staff_no, staff::name)).load(c))?,
        _ => vec![],
    };
    Ok(rows.into_iter().map(|(id, code, name)| (id.to_string(), (code, name))).collect())
}

/// The Chinese name of a rating channel or case source.
pub fn channel_label(channel: &str) -> &str {
    match channel {
        "pc" => "PC端",
        "mobile" => "移动端",
        "qr" => "二维码",
        "kiosk" => "自助终端",
        "window_device" => "窗口评价器",
        "hotline" => "热线",
        "sms" => "短信",
        "default" => "默认评价",
        "review" => "差评",
        "hotline_12345" => "12345热线",
        "state_council" => "国务院转办",
        "unresolved_window" => "办不成事窗口",
        "other" => "其他",
        other => other,
    }
}

/// The figures of SPEC §4 for the period, grouped, with the total.
pub fn compute(conn: &mut Conn, period: Period, group_by: Option<GroupBy>, scope: Scope, now: DateTime<Utc>, rules: &Rules) -> AppResult<Stats> {
    let counts = counts(conn, period, group_by, scope, now, rules)?;
    let names = names(conn, group_by)?;
    let mut total = Counts::default();
    let mut groups = Vec::with_capacity(counts.len());
    let groups_add_up = group_by != Some(GroupBy::Tag);
    for (key, c) in counts {
        if groups_add_up {
            total.add(&c);
        }
        let (key, name) = match (&key, group_by) {
            (None, _) => ("none".to_owned(), "（未指定）".to_owned()),
            (Some(k), Some(GroupBy::Channel)) => (k.clone(), channel_label(k).to_owned()),
            (Some(k), _) => names.get(k).cloned().unwrap_or_else(|| (k.clone(), k.clone())),
        };
        if group_by.is_some() {
            groups.push(Figures::of(key, name, c));
        }
    }
    if !groups_add_up {
        // A review with several tags is in several groups: the total counts it once.
        total = self::counts(conn, period, None, scope, now, rules)?.remove(&None).unwrap_or_default();
    }
    // Months read in order; tags by how often they were chosen; other groups by code, with the
    // unattributed last.
    if group_by == Some(GroupBy::Tag) {
        groups.sort_by(|a, b| b.ratings.cmp(&a.ratings).then_with(|| a.key.cmp(&b.key)));
    } else {
        groups.sort_by(|a, b| (a.key == "none").cmp(&(b.key == "none")).then_with(|| a.key.cmp(&b.key)));
    }
    Ok(Stats {
        from: period.first_day().to_string(),
        to: period.last_day().to_string(),
        group_by: group_by.map(|g| g.as_str().to_owned()),
        groups,
        total: Figures::of("total".into(), "合计".into(), total),
    })
}

/// Ratings a group needs in the month to be ranked: one rating cannot top a league table.
pub const DEFAULT_MIN_RATINGS: i64 = 30;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RankedEntry {
    /// 1 = best; equal figures share a rank (1, 2, 2, 4). `null` below the minimum volume.
    pub rank: Option<u32>,
    pub key: String,
    pub name: String,
    pub ratings: i64,
    /// 差评: ratings of one or two stars.
    pub bad_reviews: i64,
    /// Mean stars of the ratings; `null` without ratings.
    pub average_stars: Option<f64>,
    pub good_rate: Option<f64>,
    pub bad_rate: Option<f64>,
    pub bad_reply_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub overdue_cases: i64,
    /// `样本不足` when the group has fewer ratings than `min_ratings` (and no rank).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ranking {
    pub by: String,
    pub min_ratings: i64,
    /// Best first: 好评率, then 按期办结率, then volume.
    pub ranked: Vec<RankedEntry>,
    /// Groups with fewer ratings than `min_ratings`, by volume.
    pub not_ranked: Vec<RankedEntry>,
}

/// Ranks groups by 好评率 (then 按期办结率, then volume); groups under `min_ratings` are listed apart.
pub fn rank(by: GroupBy, groups: &[Figures], min_ratings: i64) -> Ranking {
    let entry = |g: &Figures| RankedEntry {
        rank: None,
        key: g.key.clone(),
        name: g.name.clone(),
        ratings: g.ratings,
        bad_reviews: g.stars[0] + g.stars[1],
        average_stars: rate(g.stars.iter().enumerate().map(|(i, n)| (i as i64 + 1) * n).sum(), g.ratings),
        good_rate: g.good_rate,
        bad_rate: g.bad_rate,
        bad_reply_rate: g.bad_reply_rate,
        on_time_rate: g.on_time_rate,
        overdue_cases: g.overdue_cases,
        note: None,
    };
    let eligible = |g: &&Figures| g.key != "none" && g.ratings >= min_ratings.max(1);
    let mut ranked: Vec<RankedEntry> = groups.iter().filter(eligible).map(entry).collect();
    let score = |e: &RankedEntry| (e.good_rate.unwrap_or(0.0), e.on_time_rate.unwrap_or(0.0));
    ranked.sort_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        sb.0.total_cmp(&sa.0).then(sb.1.total_cmp(&sa.1)).then(b.ratings.cmp(&a.ratings)).then(a.key.cmp(&b.key))
    });
    let mut previous: Option<((f64, f64), u32)> = None;
    for (i, e) in ranked.iter_mut().enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let rank = match previous {
            Some((s, r)) if s == score(e) => r,
            _ => position,
        };
        e.rank = Some(rank);
        previous = Some((score(e), rank));
    }
    let mut not_ranked: Vec<RankedEntry> = groups
        .iter()
        .filter(|g| !eligible(g) && g.key != "none" && g.ratings > 0)
        .map(|g| RankedEntry { note: Some(INSUFFICIENT.to_owned()), ..entry(g) })
        .collect();
    not_ranked.sort_by(|a, b| b.ratings.cmp(&a.ratings).then(a.key.cmp(&b.key)));
    Ranking { by: by.as_str().to_owned(), min_ratings, ranked, not_ranked }
}

/// What a group under the minimum volume is listed as.
pub const INSUFFICIENT: &str = "样本不足";

/// The ranking of one month's groups (department, window or staff member).
pub fn month_ranking(conn: &mut Conn, period: Period, by: GroupBy, min_ratings: i64, now: DateTime<Utc>, rules: &Rules) -> AppResult<Ranking> {
    let s = compute(conn, period, Some(by), Scope::All, now, rules)?;
    Ok(rank(by, &s.groups, min_ratings))
}

/// How many places from the bottom of a ranking count as "at the bottom".
pub const WATCH_BOTTOM: u32 = 2;

/// The entries at the bottom of a ranking: those with fewer than [`WATCH_BOTTOM`] entries ranked
/// below them (the last two places, ties included: 1, 2, 3, 3 → both 3s; 1, 2, 2, 2 → all 2s), but
/// never rank 1: when everyone shares first place, or only one is ranked, nobody is at the bottom.
pub fn bottom(ranking: &Ranking) -> Vec<&RankedEntry> {
    let ranks: Vec<u32> = ranking.ranked.iter().filter_map(|e| e.rank).collect();
    ranking
        .ranked
        .iter()
        .filter(|e| e.rank.is_some_and(|r| r > 1 && ranks.iter().filter(|&&x| x > r).count() < WATCH_BOTTOM as usize))
        .collect()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WatchEntry {
    /// The staff number.
    pub key: String,
    pub name: String,
    /// Rank in the month, of `ranked`.
    pub rank: u32,
    pub ranked: usize,
    pub ratings: i64,
    pub bad_reviews: i64,
    pub bad_rate: Option<f64>,
    pub good_rate: Option<f64>,
    pub average_stars: Option<f64>,
    /// Rank in the month before, of `previous_ranked`.
    pub previous_rank: u32,
    pub previous_ranked: usize,
    pub previous_ratings: i64,
    pub previous_good_rate: Option<f64>,
}

/// Staff at the bottom of the staff ranking two months running.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Watchlist {
    pub month: String,
    pub previous_month: String,
    pub min_ratings: i64,
    /// Places from the bottom that count (2).
    pub bottom: u32,
    /// Worst first (rank in the month, then in the month before).
    pub staff: Vec<WatchEntry>,
}

/// 连续两个月排名靠后: staff ranked in the bottom two places of `month` and of the month before
/// (both times with at least `min_ratings` ratings).
pub fn watchlist(conn: &mut Conn, month: &str, min_ratings: i64, now: DateTime<Utc>, rules: &Rules) -> AppResult<Watchlist> {
    let period = Period::month(month)?;
    let previous_first = period.first_day().checked_sub_months(chrono::Months::new(1)).ok_or_else(|| AppError::invalid("month", "too early"))?;
    let previous_month = previous_first.format("%Y-%m").to_string();
    let previous = Period::month(&previous_month)?;
    let this = month_ranking(conn, period, GroupBy::Staff, min_ratings, now, rules)?;
    let before = month_ranking(conn, previous, GroupBy::Staff, min_ratings, now, rules)?;
    let before_bottom: HashMap<&str, &RankedEntry> = bottom(&before).into_iter().map(|e| (e.key.as_str(), e)).collect();
    let mut staff: Vec<WatchEntry> = bottom(&this)
        .into_iter()
        .filter_map(|e| {
            let p = before_bottom.get(e.key.as_str())?;
            Some(WatchEntry {
                key: e.key.clone(),
                name: e.name.clone(),
                rank: e.rank.unwrap_or(0),
                ranked: this.ranked.len(),
                ratings: e.ratings,
                bad_reviews: e.bad_reviews,
                bad_rate: e.bad_rate,
                good_rate: e.good_rate,
                average_stars: e.average_stars,
                previous_rank: p.rank.unwrap_or(0),
                previous_ranked: before.ranked.len(),
                previous_ratings: p.ratings,
                previous_good_rate: p.good_rate,
            })
        })
        .collect();
    staff.sort_by(|a, b| b.rank.cmp(&a.rank).then(b.previous_rank.cmp(&a.previous_rank)).then(a.key.cmp(&b.key)));
    Ok(Watchlist { month: month.to_owned(), previous_month, min_ratings, bottom: WATCH_BOTTOM, staff })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_beijing_days() {
        let p = Period::parse("2026-11-01", "2026-11-30").expect("period");
        assert_eq!(p.start.to_rfc3339(), "2026-10-31T16:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(Period::month("2026-11").expect("month"), p);
        assert_eq!((p.first_day().to_string(), p.last_day().to_string()), ("2026-11-01".into(), "2026-11-30".into()));
        assert!(Period::parse("2026-11-30", "2026-11-01").is_err());
        assert!(Period::parse("yesterday", "2026-11-01").is_err());
        assert!(Period::month("2026-13").is_err());
        assert!(Period::parse("0001-01-01", "0001-01-02").is_err() && Period::month("0001-01").is_err());
        let exact = Period::parse("2026-11-01T08:00:00+08:00", "2026-11-01T09:00:00+08:00").expect("instants");
        assert_eq!(exact.end - exact.start, Duration::hours(1));
    }

    fn group(key: &str, stars: [i64; 5], closed: i64, on_time: i64) -> Figures {
        let ratings = stars.iter().sum();
        Figures::of(key.into(), key.into(), Counts { ratings, stars, cases_closed: closed, cases_closed_on_time: on_time, ..Counts::default() })
    }

    #[test]
    fn one_rating_cannot_top_the_table_and_ties_share_a_rank() {
        let groups = vec![
            group("A", [0, 0, 0, 0, 1], 0, 0),    // one perfect rating: too few to rank
            group("B", [1, 0, 0, 10, 29], 2, 2),  // 39/40
            group("C", [1, 0, 0, 10, 29], 2, 1),  // 39/40, fewer closed on time
            group("D", [0, 0, 0, 0, 40], 1, 1),   // 40/40
            group("E", [2, 0, 0, 10, 28], 0, 0),  // 38/40
            group("F", [1, 0, 0, 10, 29], 2, 2),  // same as B
        ];
        let r = rank(GroupBy::Department, &groups, 30);
        let order: Vec<(&str, Option<u32>)> = r.ranked.iter().map(|e| (e.key.as_str(), e.rank)).collect();
        assert_eq!(order, vec![("D", Some(1)), ("B", Some(2)), ("F", Some(2)), ("C", Some(4)), ("E", Some(5))]);
        assert_eq!(r.not_ranked.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), vec!["A"]);
        let unguarded = rank(GroupBy::Window, &groups, 1);
        assert_eq!(unguarded.ranked.iter().find(|e| e.key == "A").and_then(|e| e.rank), Some(2), "without the rule, one rating ranks second");
    }

    #[test]
    fn the_bottom_two_places_include_ties_but_never_first_place() {
        let ranking = |ranks: &[u32]| Ranking {
            by: "staff".into(),
            min_ratings: 1,
            ranked: ranks
                .iter()
                .enumerate()
                .map(|(i, r)| RankedEntry {
                    rank: Some(*r), key: format!("S{i}"), name: String::new(), ratings: 1, bad_reviews: 0, average_stars: None,
                    good_rate: None, bad_rate: None, bad_reply_rate: None, on_time_rate: None, overdue_cases: 0, note: None,
                })
                .collect(),
            not_ranked: vec![],
        };
        let keys = |ranks: &[u32]| bottom(&ranking(ranks)).iter().map(|e| e.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&[1, 2, 3, 4]), ["S2", "S3"]);
        assert_eq!(keys(&[1, 2, 3, 3]), ["S2", "S3"]);
        assert_eq!(keys(&[1, 2, 2, 2]), ["S1", "S2", "S3"]);
        assert_eq!(keys(&[1, 1, 1]), Vec::<String>::new());
        assert_eq!(keys(&[1, 2]), ["S1"]);
        assert_eq!(keys(&[1]), Vec::<String>::new());
    }

    #[test]
    fn rates_are_undefined_without_a_denominator() {
        let f = Figures::of("k".into(), "n".into(), Counts::default());
        assert_eq!((f.good_rate, f.on_time_rate), (None, None));
        let c = Counts { ratings: 4, stars: [1, 0, 1, 1, 1], ..Counts::default() };
        let f = Figures::of("k".into(), "n".into(), c);
        assert_eq!((f.good_rate, f.bad_rate), (Some(0.75), Some(0.25)));
    }
}
