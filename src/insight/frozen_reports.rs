//! Frozen monthly reports (封存的月度运营报告). Until a month has closed — `HCP_REPORT_FREEZE_DAYS`
//! (default [`DEFAULT_FREEZE_DAYS`]) calendar days after its last day, Beijing time — its report
//! is built live on each read and says so. From then on the first read or scanner round stores
//! it once: the figures as JSON, the HTML, CSV and XLSX, and their SHA-256, which also goes into
//! the audit chain; reads serve that row, so last month's report cannot change under a
//! supervisor's feet. A supervisor may store a new version on purpose (after late appeals, say):
//! every version is kept, each from the second on with what changed against the one before, and
//! the audit chain records who, why and both hashes.
//!
//! Snapshots are built with the default ranking minimum ([`stats::DEFAULT_MIN_RATINGS`], kept
//! in the row): a read of a frozen month asking for another `min_ratings` is refused (400) rather
//! than silently answered with figures other than the frozen ones; `GET /api/v1/rankings`
//! ranks live with any minimum.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use maud::{html, Markup, PreEscaped};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::adapters::render::percent;
use crate::clock;
use crate::db_run;
use crate::domain::calendar::local_date;
use crate::domain::rules::Rules;
use crate::error::{AppError, AppResult};
use crate::insight::monthly;
use crate::insight::stats::{self, Period};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::schema::{cases, complaints, monthly_report_snapshots as snap, reviews, transactions};
use crate::storage::Conn;

/// Late appeals, 回访 and data a counter system sends a few days late still belong to the month:
/// five calendar days cover a weekend and the first working days of the next month.
pub const DEFAULT_FREEZE_DAYS: u32 = 5;
pub const MAX_FREEZE_DAYS: u32 = 90;
pub const MAX_REASON_CHARS: usize = 500;
/// The scanner freezes at most this many closed months back (those with data), never years.
pub const SCAN_MONTHS: u32 = 12;
/// Where a stored HTML report gets its status line when served (the hash cannot be inside the
/// bytes it hashes; nor can "a newer version exists").
const STATUS_MARKER: &str = "<!--hcp:report-status-->";
/// Who stored a version nobody asked for: the first read or the scanner.
pub const SYSTEM_ACTOR: &str = "system:report-freeze";

crate::domain::intake_rules::string_enum! {
    ServedFormat {
        Html = "html",
        Csv = "csv",
        Xlsx = "xlsx",
        Json = "json",
    }
}

/// A reader's request: the month, the format, optionally a ranking minimum and a version.
#[derive(Debug, Clone)]
pub struct ReportRead {
    pub month: String,
    pub format: ServedFormat,
    pub min_ratings: Option<i64>,
    pub version: Option<i32>,
}

impl ReportRead {
    pub fn parse(month: &str, format: Option<&str>, min_ratings: Option<i64>, version: Option<i64>) -> AppResult<ReportRead> {
        let format = match format {
            None | Some("") => ServedFormat::Html,
            Some(f) => ServedFormat::parse(f).ok_or_else(|| AppError::invalid("format", "html, csv, xlsx or json"))?,
        };
        if let Some(m) = min_ratings {
            if !(1..=1_000_000).contains(&m) {
                return Err(AppError::invalid("min_ratings", "1 or more"));
            }
        }
        let version = match version {
            None => None,
            Some(v) => Some(i32::try_from(v).ok().filter(|v| *v >= 1).ok_or_else(|| AppError::invalid("version", "1 or more"))?),
        };
        Ok(ReportRead { month: canonical_month(month)?, format, min_ratings, version })
    }
}

/// `2026-11`, checked.
fn canonical_month(month: &str) -> AppResult<String> {
    Ok(Period::month(month)?.first_day().format("%Y-%m").to_string())
}

/// The moment `month`'s report freezes: `freeze_days` after the month's end, Beijing time.
pub fn freezes_at(month: &str, freeze_days: u32) -> AppResult<DateTime<Utc>> {
    Ok(Period::month(month)?.end + Duration::days(i64::from(freeze_days)))
}

/// One stored version, without its contents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub month: String,
    pub version: i32,
    /// When it was generated (RFC 3339, Beijing time).
    pub generated_at: String,
    /// `system:report-freeze` for the automatic first version, else the supervisor.
    pub generated_by: String,
    /// Why it was generated again.
    pub reason: Option<String>,
    /// The ranking minimum it was built with.
    pub min_ratings: i64,
    /// SHA-256 (hex) of the figures, HTML, CSV and XLSX as stored, as in the audit chain.
    pub hash: String,
}

/// One figure that differs from the version before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The figure's name: 评价数, 差评率, 按期办结率, 部门排名, …
    pub figure: String,
    /// The department's name, or 全区合计 for the totals.
    pub department: String,
    /// The department's code; none for the totals.
    pub department_code: Option<String>,
    /// Counts as numbers, rates as fractions 0..1; null when undefined.
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// As the report shows them (`75.0%`, `12`, `—`).
    pub before_text: String,
    pub after_text: String,
}

type MetaRow = (i32, NaiveDateTime, String, Option<String>, i64, String);

fn summary(month: &str, (version, generated_at, generated_by, reason, min_ratings, hash): MetaRow) -> VersionSummary {
    VersionSummary { month: month.to_owned(), version, generated_at: clock::rfc3339_local(generated_at), generated_by, reason, min_ratings, hash }
}

/// The newest version of `month` (or version `$version`) with `$content`: one indexed row.
macro_rules! one_version {
    ($conn:expr, $month:expr, $version:expr, $content:expr) => {{
        let (month, version): (&str, Option<i32>) = ($month, $version);
        let meta = (snap::version, snap::generated_at, snap::generated_by, snap::reason, snap::min_ratings, snap::hash);
        db_run!($conn, |c| match version {
            Some(v) => snap::table.filter(snap::month.eq(month)).filter(snap::version.eq(v)).select((meta, $content)).first(c).optional(),
            None => snap::table.filter(snap::month.eq(month)).order(snap::version.desc()).select((meta, $content)).first(c).optional(),
        })
    }};
}

/// A stored version as read back, its contents checked against its hash.
struct StoredVersion {
    meta: MetaRow,
    figures: String,
    changes: Option<String>,
    html: String,
    csv: String,
    xlsx: Vec<u8>,
}

/// The newest version of `month` (or `version`), refused unless its figures, HTML, CSV and XLSX
/// still hash to the hash stored with them: a row changed after it was stored (by hand, by a
/// restore gone wrong) must not be served as the frozen report. 500 `integrity_check_failed`.
fn load_checked(conn: &mut Conn, month: &str, version: Option<i32>) -> AppResult<Option<StoredVersion>> {
    let row: Option<(MetaRow, (String, Option<String>, String, String, Vec<u8>))> = one_version!(conn, month, version, (snap::figures, snap::changes, snap::html, snap::csv, snap::xlsx))?;
    let Some((meta, (figures, changes, html, csv, xlsx))) = row else { return Ok(None) };
    let computed = content_hash([figures.as_bytes(), html.as_bytes(), csv.as_bytes(), &xlsx]);
    if computed != meta.5 {
        tracing::error!(month, version = meta.0, stored_hash = %meta.5, computed_hash = %computed, "frozen report snapshot fails its hash check; refused");
        return Err(AppError::IntegrityCheckFailed(format!(
            "报表快照校验失败：{month} 第 {} 版的存储内容与封存时记录的 SHA-256 不一致，可能已被改动，不能作为封存报表提供，请联系系统管理员核查。",
            meta.0
        )));
    }
    Ok(Some(StoredVersion { meta, figures, changes, html, csv, xlsx }))
}

fn latest_version(conn: &mut Conn, month: &str) -> AppResult<Option<i32>> {
    Ok(db_run!(conn, |c| snap::table.filter(snap::month.eq(month)).select(diesel::dsl::max(snap::version)).first::<Option<i32>>(c))?)
}

/// Every stored version of `month`, newest first.
pub fn versions(conn: &mut Conn, month: &str) -> AppResult<Vec<VersionSummary>> {
    let month = canonical_month(month)?;
    let rows: Vec<MetaRow> = db_run!(conn, |c| snap::table
        .filter(snap::month.eq(&month))
        .order(snap::version.desc())
        .select((snap::version, snap::generated_at, snap::generated_by, snap::reason, snap::min_ratings, snap::hash))
        .load(c))?;
    Ok(rows.into_iter().map(|r| summary(&month, r)).collect())
}

/// Live or frozen, as a reader is told.
#[derive(Debug, Clone)]
pub enum Status {
    Live { freezes_at: DateTime<Utc>, current_month: bool },
    Frozen { version: VersionSummary, latest: i32 },
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Live { .. } => "live",
            Status::Frozen { .. } => "frozen",
        }
    }

    /// The sentence the page and the JSON carry.
    pub fn text(&self) -> String {
        match self {
            Status::Live { freezes_at, current_month } => format!(
                "{}报表为实时数据，尚未封存：数字会随新的评价、申诉和办理情况变化，将于 {} 封存。",
                if *current_month { "本月" } else { "该月" },
                clock::display_local(clock::to_db(*freezes_at))
            ),
            Status::Frozen { version, latest } => {
                let mut text = format!("封存于 {} 第 {} 版，SHA-256 {}。", crate::adapters::render::short_time(&version.generated_at), version.version, version.hash);
                if *latest > version.version {
                    text.push_str(&format!("这不是最新版本：最新为第 {latest} 版。"));
                }
                text
            }
        }
    }
}

/// A report as served: its bytes in the asked format and whether it is live or frozen.
pub struct ServedReport {
    pub month: String,
    pub format: ServedFormat,
    pub status: Status,
    pub bytes: Vec<u8>,
}

impl ServedReport {
    pub fn content_type(&self) -> &'static str {
        match self.format {
            ServedFormat::Html => monthly::ReportFormat::Html.content_type(),
            ServedFormat::Csv => monthly::ReportFormat::Csv.content_type(),
            ServedFormat::Xlsx => monthly::ReportFormat::Xlsx.content_type(),
            ServedFormat::Json => "application/json",
        }
    }

    /// CSV and XLSX are downloads whose name says the version (or that they were live).
    pub fn content_disposition(&self) -> Option<String> {
        if matches!(self.format, ServedFormat::Html | ServedFormat::Json) {
            return None;
        }
        let tag = match &self.status {
            Status::Live { .. } => "live".to_owned(),
            Status::Frozen { version, .. } => format!("v{}", version.version),
        };
        Some(format!("attachment; filename=\"haochaping-report-{}-{tag}.{}\"", self.month, self.format.as_str()))
    }

    /// `X-Report-Status: live|frozen`, and for a frozen report its version and hash.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("X-Report-Status", self.status.label().to_owned())];
        if let Status::Frozen { version, latest } = &self.status {
            headers.push(("X-Report-Version", version.version.to_string()));
            headers.push(("X-Report-Latest-Version", latest.to_string()));
            headers.push(("X-Report-Hash", version.hash.clone()));
        }
        headers
    }
}

/// The report as JSON: its status, the figures behind it, what changed and the versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportDocument {
    pub month: String,
    /// `live` or `frozen`.
    pub status: String,
    pub status_text: String,
    /// When the month freezes (or froze), RFC 3339, Beijing time.
    pub freezes_at: String,
    /// The version served; none while live.
    pub version: Option<VersionSummary>,
    pub latest_version: Option<i32>,
    pub min_ratings: i64,
    /// The report's data: totals, trend, departments, rankings, clusters, overdue cases.
    #[schema(value_type = Object)]
    pub figures: Value,
    /// Against the version before (empty for version 1 and while live).
    pub changes: Vec<Change>,
    pub versions: Vec<VersionSummary>,
}

/// What a read found without writing anything.
pub enum Lookup {
    Served(ServedReport),
    /// The month has closed and no version is stored: [`monthly_report`] stores it (a write).
    FreezeFirst,
}

fn refuse_other_minimum(request: &ReportRead, frozen_with: i64) -> AppResult<()> {
    match request.min_ratings {
        Some(m) if m != frozen_with => Err(AppError::BadRequest(format!(
            "the report of {} is frozen with min_ratings {frozen_with}; it is not recomputed with another minimum \
             (leave min_ratings out, or rank live with GET /api/v1/rankings?month={}&min_ratings={m})",
            request.month, request.month
        ))),
        _ => Ok(()),
    }
}

/// Serves the stored version the request names (the newest by default), else the live report
/// of a month not yet closed, else says the month must be frozen first. Writes nothing, so it
/// may run on the read replica.
pub fn read(conn: &mut Conn, request: &ReportRead, now: DateTime<Utc>, rules: &Rules, freeze_days: u32) -> AppResult<Lookup> {
    let month = request.month.as_str();
    let freezes = freezes_at(month, freeze_days)?;
    let frozen_parts = |conn: &mut Conn, meta: MetaRow| -> AppResult<(VersionSummary, i32)> {
        let version = summary(month, meta);
        refuse_other_minimum(request, version.min_ratings)?;
        let latest = match request.version {
            None => version.version,
            Some(_) => latest_version(conn, month)?.unwrap_or(version.version),
        };
        Ok((version, latest))
    };
    let frozen = |conn: &mut Conn, meta: MetaRow| -> AppResult<Status> {
        let (version, latest) = frozen_parts(conn, meta)?;
        Ok(Status::Frozen { version, latest })
    };
    let served = match load_checked(conn, month, request.version)? {
        None => None,
        Some(stored) => Some(match request.format {
            ServedFormat::Html => {
                let status = frozen(conn, stored.meta)?;
                let bytes = stored.html.replacen(STATUS_MARKER, &status_banner(&status).into_string(), 1).into_bytes();
                ServedReport { month: month.to_owned(), format: request.format, status, bytes }
            }
            ServedFormat::Csv => ServedReport { month: month.to_owned(), format: request.format, status: frozen(conn, stored.meta)?, bytes: stored.csv.into_bytes() },
            ServedFormat::Xlsx => ServedReport { month: month.to_owned(), format: request.format, status: frozen(conn, stored.meta)?, bytes: stored.xlsx },
            ServedFormat::Json => {
                let (version, latest) = frozen_parts(conn, stored.meta)?;
                let status = Status::Frozen { version: version.clone(), latest };
                let document = ReportDocument {
                    month: month.to_owned(),
                    status: status.label().to_owned(),
                    status_text: status.text(),
                    freezes_at: clock::rfc3339_local(clock::to_db(freezes)),
                    min_ratings: version.min_ratings,
                    version: Some(version),
                    latest_version: Some(latest),
                    figures: serde_json::from_str(&stored.figures).map_err(AppError::internal)?,
                    changes: stored.changes.as_deref().map(serde_json::from_str).transpose().map_err(AppError::internal)?.unwrap_or_default(),
                    versions: versions(conn, month)?,
                };
                let bytes = serde_json::to_vec(&document).map_err(AppError::internal)?;
                ServedReport { month: month.to_owned(), format: request.format, status, bytes }
            }
        }),
    };
    if let Some(served) = served {
        return Ok(Lookup::Served(served));
    }
    if let Some(v) = request.version {
        return Err(AppError::NotFound(format!("the report of {month} has no version {v}")));
    }
    if now >= freezes {
        refuse_other_minimum(request, stats::DEFAULT_MIN_RATINGS)?;
        return Ok(Lookup::FreezeFirst);
    }
    Ok(Lookup::Served(live(conn, request, now, rules, freezes)?))
}

/// The report of a month that has not closed, built now.
fn live(conn: &mut Conn, request: &ReportRead, now: DateTime<Utc>, rules: &Rules, freezes: DateTime<Utc>) -> AppResult<ServedReport> {
    let min_ratings = request.min_ratings.unwrap_or(stats::DEFAULT_MIN_RATINGS);
    let report = monthly::build(conn, &request.month, min_ratings, now, rules)?;
    let current_month = local_date(now).format("%Y-%m").to_string() == request.month;
    let status = Status::Live { freezes_at: freezes, current_month };
    let bytes = match request.format {
        ServedFormat::Html => monthly::html_with(&report, status_banner(&status)).into_bytes(),
        ServedFormat::Csv => monthly::csv(&report)?,
        ServedFormat::Xlsx => monthly::xlsx(&report)?,
        ServedFormat::Json => serde_json::to_vec(&ReportDocument {
            month: request.month.clone(),
            status: status.label().to_owned(),
            status_text: status.text(),
            freezes_at: clock::rfc3339_local(clock::to_db(freezes)),
            version: None,
            latest_version: None,
            min_ratings,
            figures: serde_json::to_value(&report).map_err(AppError::internal)?,
            changes: Vec::new(),
            versions: Vec::new(),
        })
        .map_err(AppError::internal)?,
    };
    Ok(ServedReport { month: request.month.clone(), format: request.format, status, bytes })
}

/// The report of `request`: the stored version when there is one, the month frozen first when
/// it has closed and none is stored (race-safe: of two readers at once one stores version 1, the
/// other reads it), else live.
pub fn monthly_report(conn: &mut Conn, request: &ReportRead, now: DateTime<Utc>, rules: &Rules, freeze_days: u32) -> AppResult<ServedReport> {
    for _ in 0..2 {
        match read(conn, request, now, rules, freeze_days)? {
            Lookup::Served(served) => return Ok(served),
            Lookup::FreezeFirst => {
                freeze(conn, &request.month, now, rules)?;
            }
        }
    }
    Err(AppError::internal(anyhow::anyhow!("the report of {} was frozen but is not found", request.month)))
}

/// A version built and rendered, not yet stored.
struct Built {
    figures: String,
    changes: Option<Vec<Change>>,
    html: String,
    csv: String,
    xlsx: Vec<u8>,
    hash: String,
}

/// SHA-256 over the figures, HTML, CSV and XLSX, each preceded by its length (8 bytes, big-endian).
fn content_hash(parts: [&[u8]; 4]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Builds `month`'s report now, with what changed against `previous` (its version and figures).
fn build_version(conn: &mut Conn, month: &str, now: DateTime<Utc>, rules: &Rules, previous: Option<(i32, &Value)>) -> AppResult<Built> {
    let report = monthly::build(conn, month, stats::DEFAULT_MIN_RATINGS, now, rules)?;
    let figures = serde_json::to_value(&report).map_err(AppError::internal)?;
    let changes = previous.map(|(_, before)| compare(before, &figures));
    let preface = html! {
        (PreEscaped(STATUS_MARKER))
        @if let (Some((version, _)), Some(changes)) = (previous, &changes) { (changes_table(version, changes)) }
    };
    let html = monthly::html_with(&report, preface);
    let csv = String::from_utf8(monthly::csv(&report)?).map_err(AppError::internal)?;
    let xlsx = monthly::xlsx(&report)?;
    let figures = figures.to_string();
    let hash = content_hash([figures.as_bytes(), html.as_bytes(), csv.as_bytes(), &xlsx]);
    Ok(Built { figures, changes, html, csv, xlsx, hash })
}

/// Stores `built` as `version` and appends its hash to the audit chain, in one transaction. A
/// version that exists already is a unique violation (`duplicate`), left to the caller.
#[allow(clippy::too_many_arguments)]
fn store(conn: &mut Conn, month: &str, version: i32, built: &Built, actor: &str, reason: Option<&str>, previous: Option<&VersionSummary>, now: DateTime<Utc>) -> AppResult<VersionSummary> {
    let at = clock::to_db(now);
    let changes = built.changes.as_ref().map(serde_json::to_string).transpose().map_err(AppError::internal)?;
    let min_ratings = stats::DEFAULT_MIN_RATINGS;
    conn.transaction(|conn| {
        db_run!(conn, |c| diesel::insert_into(snap::table)
            .values((
                snap::month.eq(month),
                snap::version.eq(version),
                snap::generated_at.eq(at),
                snap::generated_by.eq(actor),
                snap::reason.eq(reason),
                snap::min_ratings.eq(min_ratings),
                snap::figures.eq(&built.figures),
                snap::changes.eq(changes.as_deref()),
                snap::html.eq(&built.html),
                snap::csv.eq(&built.csv),
                snap::xlsx.eq(&built.xlsx),
                snap::hash.eq(&built.hash),
            ))
            .execute(c))?;
        let detail = json!({
            "month": month,
            "version": version,
            "hash": built.hash,
            "min_ratings": min_ratings,
            "previous_version": previous.map(|p| p.version),
            "previous_hash": previous.map(|p| p.hash.as_str()),
            "changes": built.changes.as_ref().map(Vec::len),
        });
        audit::append(
            conn,
            AuditEntry {
                case_id: None,
                actor,
                action: if previous.is_some() { "report_regenerated" } else { "report_frozen" },
                from_state: None,
                to_state: None,
                note: reason,
                detail: Some(detail.to_string()),
                at,
            },
        )?;
        Ok::<(), AppError>(())
    })?;
    Ok(VersionSummary {
        month: month.to_owned(),
        version,
        generated_at: clock::rfc3339_local(at),
        generated_by: actor.to_owned(),
        reason: reason.map(str::to_owned),
        min_ratings,
        hash: built.hash.clone(),
    })
}

/// Stores version 1 of `month` unless a version is stored; `Some` when this call stored it. Two
/// at once (readers, instances, the scanner) both build, one insert wins, the other's meets the
/// unique (month, version) and it leaves the winner's.
pub fn freeze(conn: &mut Conn, month: &str, now: DateTime<Utc>, rules: &Rules) -> AppResult<Option<VersionSummary>> {
    let month = canonical_month(month)?;
    if latest_version(conn, &month)?.is_some() {
        return Ok(None);
    }
    let built = build_version(conn, &month, now, rules, None)?;
    match store(conn, &month, 1, &built, SYSTEM_ACTOR, None, None, now) {
        Ok(stored) => Ok(Some(stored)),
        Err(e) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a regeneration stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Regenerated {
    #[serde(flatten)]
    pub version: VersionSummary,
    pub previous_version: Option<i32>,
    pub previous_hash: Option<String>,
    /// Against the previous version.
    pub changes: Vec<Change>,
}

/// The reason a regeneration needs: 1 to 500 characters of text.
pub fn check_reason(reason: &str) -> AppResult<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("reason", "required: why the report is generated again"));
    }
    crate::domain::intake_rules::check_text("reason", reason, MAX_REASON_CHARS)?;
    Ok(reason)
}

/// A supervisor's explicit new version of a closed month (after late appeals, say): built now,
/// stored as the next version beside the earlier ones, with what changed and, in the audit
/// chain, who, why and both hashes. A month not yet closed is live and has nothing to regenerate
/// (409 `month_not_closed`); a version stored meanwhile by someone else is 409 `report_changed`.
#[allow(clippy::too_many_arguments)]
pub fn regenerate(conn: &mut Conn, month: &str, actor: &str, reason: &str, force: bool, now: DateTime<Utc>, rules: &Rules, freeze_days: u32) -> AppResult<Regenerated> {
    let reason = check_reason(reason)?;
    let month = canonical_month(month)?;
    let freezes = freezes_at(&month, freeze_days)?;
    if now < freezes {
        return Err(AppError::conflict_with(
            "month_not_closed",
            format!(
                "the report of {month} is still live: it freezes at {} ({freeze_days} days after the month's end), and only a frozen report can be generated again",
                clock::rfc3339_local(clock::to_db(freezes))
            ),
            json!({ "month": month, "freezes_at": clock::rfc3339_local(clock::to_db(freezes)) }),
        ));
    }
    // Checked: the changes and the audit's previous hash must not build on a row changed since.
    let previous = load_checked(conn, &month, None)?
        .map(|stored| serde_json::from_str::<Value>(&stored.figures).map(|f| (summary(&month, stored.meta), f)))
        .transpose()
        .map_err(AppError::internal)?;
    let built = build_version(conn, &month, now, rules, previous.as_ref().map(|(s, f)| (s.version, f)))?;
    // Another version with the same figures would only say "nothing changed" in the history,
    // unless the supervisor asks for it (a re-run on record, say).
    if let (false, Some((before, _)), Some(changes)) = (force, &previous, &built.changes) {
        if changes.is_empty() {
            return Err(AppError::conflict_with(
                "unchanged",
                format!("与第 {} 版相比没有变化，未生成新版本", before.version),
                json!({ "month": month, "version": before.version }),
            ));
        }
    }
    let version = previous.as_ref().map_or(1, |(s, _)| s.version + 1);
    let stored = match store(conn, &month, version, &built, actor, Some(reason), previous.as_ref().map(|(s, _)| s), now) {
        Ok(stored) => stored,
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::conflict_with(
                "report_changed",
                format!("version {version} of the report of {month} was stored by someone else meanwhile; read it and try again if still needed"),
                json!({ "month": month, "version": version }),
            ))
        }
        Err(e) => return Err(e),
    };
    Ok(Regenerated {
        version: stored,
        previous_version: previous.as_ref().map(|(s, _)| s.version),
        previous_hash: previous.map(|(s, _)| s.hash),
        changes: built.changes.unwrap_or_default(),
    })
}

/// A month's versions for the report page: its status, the versions, what the newest changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MonthVersions {
    pub month: String,
    /// `live` (not closed yet), `pending` (closed, frozen by the next read or scan) or `frozen`.
    pub status: String,
    pub status_text: String,
    pub freezes_at: String,
    /// Newest first.
    pub versions: Vec<VersionSummary>,
    /// The newest version against the one before.
    pub changes: Vec<Change>,
}

pub fn month_versions(conn: &mut Conn, month: &str, now: DateTime<Utc>, freeze_days: u32) -> AppResult<MonthVersions> {
    let month = canonical_month(month)?;
    let freezes = freezes_at(&month, freeze_days)?;
    let versions = versions(conn, &month)?;
    let changes: Option<Option<String>> = db_run!(conn, |c| snap::table
        .filter(snap::month.eq(&month))
        .order(snap::version.desc())
        .select(snap::changes)
        .first(c)
        .optional())?;
    let changes = changes.flatten().as_deref().map(serde_json::from_str).transpose().map_err(AppError::internal)?.unwrap_or_default();
    let (status, status_text) = match versions.first() {
        Some(newest) => ("frozen", Status::Frozen { version: newest.clone(), latest: newest.version }.text()),
        None if now >= freezes => {
            // Whole days since the month ended (at least `freeze_days`), not the setting itself.
            let ended = (now - Period::month(&month)?.end).num_days();
            ("pending", format!("该月已结束 {ended} 天（超过 {freeze_days} 天的补录期），报表尚未封存：将在下次查看时封存，有数据的月份也会由定时扫描逐月封存。"))
        }
        None => ("live", Status::Live { freezes_at: freezes, current_month: local_date(now).format("%Y-%m").to_string() == month }.text()),
    };
    Ok(MonthVersions { month, status: status.to_owned(), status_text, freezes_at: clock::rfc3339_local(clock::to_db(freezes)), versions, changes })
}

/// The newest stored version of each of `months` that has one (the report list's badges).
pub fn newest_versions(conn: &mut Conn, months: &[String]) -> AppResult<Vec<VersionSummary>> {
    let rows: Vec<(String, i32, NaiveDateTime, String, Option<String>, i64, String)> = db_run!(conn, |c| snap::table
        .filter(snap::month.eq_any(months))
        .order((snap::month.asc(), snap::version.desc()))
        .select((snap::month, snap::version, snap::generated_at, snap::generated_by, snap::reason, snap::min_ratings, snap::hash))
        .load(c))?;
    let mut newest: Vec<VersionSummary> = Vec::new();
    for (month, version, at, by, reason, min, hash) in rows {
        if newest.last().map(|v| v.month != month).unwrap_or(true) {
            newest.push(summary(&month, (version, at, by, reason, min, hash)));
        }
    }
    Ok(newest)
}

/// The scanner's part (`serve` every minute, `haochaping scan`): of the last [`SCAN_MONTHS`]
/// months that have closed by `at`, have data (a rating, a completed transaction, a complaint
/// received or a case opened) and no stored version, freezes the oldest, one per round: building
/// a report takes a while and the round has other work. A month that fails is logged and the
/// next tried, so one broken month does not hold back the rest. Returns the month it froze.
pub fn freeze_due(conn: &mut Conn, at: DateTime<Utc>, rules: &Rules, freeze_days: u32) -> AppResult<Vec<String>> {
    let this_month = Period::month(&local_date(at).format("%Y-%m").to_string())?.first_day();
    let mut due = Vec::new();
    // Oldest first.
    for back in (1..=SCAN_MONTHS).rev() {
        let Some(first) = this_month.checked_sub_months(chrono::Months::new(back)) else { continue };
        let month = first.format("%Y-%m").to_string();
        if at >= freezes_at(&month, freeze_days)? {
            due.push(month);
        }
    }
    let stored: Vec<String> = db_run!(conn, |c| snap::table.filter(snap::month.eq_any(&due)).select(snap::month).distinct().load(c))?;
    for month in due.into_iter().filter(|m| !stored.contains(m)) {
        let attempt = |conn: &mut Conn| match has_data(conn, &month)? {
            true => freeze(conn, &month, at, rules),
            false => Ok(None),
        };
        // On PostgreSQL in a transaction of its own (a savepoint inside a dry run's), so a failure
        // does not abort the round's other steps. Not on SQLite: its outer transaction would hold
        // the writer lock for the whole build, and a failed statement aborts nothing there.
        let outcome = match conn {
            Conn::Postgres(_) => conn.transaction(attempt),
            Conn::Sqlite(_) => attempt(conn),
        };
        match outcome {
            Ok(Some(_)) => return Ok(vec![month]),
            Ok(None) => {}
            Err(e) => tracing::warn!(month = %month, error = %e, "freezing the monthly report failed; trying again next round"),
        }
    }
    Ok(Vec::new())
}

/// Whether anything happened in `month` that its report counts: each an indexed first row,
/// the cheap ones first.
fn has_data(conn: &mut Conn, month: &str) -> AppResult<bool> {
    let period = Period::month(month)?;
    let (start, end) = (clock::to_db(period.start), clock::to_db(period.end));
    let rated: Option<i64> = db_run!(conn, |c| reviews::table.filter(reviews::rated_at.ge(start)).filter(reviews::rated_at.lt(end)).select(reviews::id).first(c).optional())?;
    if rated.is_some() {
        return Ok(true);
    }
    let completed: Option<i64> = db_run!(conn, |c| transactions::table
        .filter(transactions::completed_at.ge(start))
        .filter(transactions::completed_at.lt(end))
        .select(transactions::id)
        .first(c)
        .optional())?;
    if completed.is_some() {
        return Ok(true);
    }
    let received: Option<i64> = db_run!(conn, |c| complaints::table
        .filter(complaints::received_at.ge(start))
        .filter(complaints::received_at.lt(end))
        .select(complaints::id)
        .first(c)
        .optional())?;
    if received.is_some() {
        return Ok(true);
    }
    // Cases come from ratings and complaints, found above but for one opened at a month's edge.
    let opened: Option<i64> = db_run!(conn, |c| cases::table.filter(cases::opened_at.ge(start)).filter(cases::opened_at.lt(end)).select(cases::id).first(c).optional())?;
    Ok(opened.is_some())
}

/// Counts as whole numbers, rates as fractions.
#[derive(Clone, Copy)]
enum Kind {
    Count,
    Rate,
}

/// The figures compared between versions, per department and for the totals, in the report's order.
const COMPARED: [(&str, &str, Kind); 17] = [
    ("ratings", "评价数", Kind::Count),
    ("bad_reviews", "差评数", Kind::Count),
    ("active_ratings", "主动评价数", Kind::Count),
    ("default_ratings", "默认评价数", Kind::Count),
    ("good_rate", "好评率", Kind::Rate),
    ("bad_rate", "差评率", Kind::Rate),
    ("active_good_rate", "主动评价好评率", Kind::Rate),
    ("unrated_rate", "未评率", Kind::Rate),
    ("bad_reply_rate", "差评回复率", Kind::Rate),
    ("rectification_rate", "整改率", Kind::Rate),
    ("on_time_rate", "按期办结率", Kind::Rate),
    ("follow_up_satisfaction_rate", "回访满意率", Kind::Rate),
    ("overdue_cases", "超期案件", Kind::Count),
    ("overdue_days", "超期工作日", Kind::Count),
    ("appeals_filed", "申诉", Kind::Count),
    ("appeals_upheld", "申诉成立", Kind::Count),
    ("returns", "退单", Kind::Count),
];

fn figure_of(group: &Value, field: &str) -> Option<f64> {
    match field {
        // Not a field of its own: the one- and two-star ratings.
        "bad_reviews" => {
            let stars = group.get("stars")?.as_array()?;
            Some(stars.first()?.as_f64()? + stars.get(1)?.as_f64()?)
        }
        _ => group.get(field)?.as_f64(),
    }
}

fn text_of(value: Option<f64>, kind: Kind) -> String {
    match (value, kind) {
        (None, _) => "—".to_owned(),
        (Some(v), Kind::Count) => format!("{v:.0}"),
        (Some(v), Kind::Rate) => percent(Some(v)),
    }
}

fn differs(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() > 1e-9,
        (None, None) => false,
        _ => true,
    }
}

fn change(figure: &str, department: &str, code: Option<&str>, before: Option<f64>, after: Option<f64>, kind: Kind) -> Change {
    Change {
        figure: figure.to_owned(),
        department: department.to_owned(),
        department_code: code.map(str::to_owned),
        before,
        after,
        before_text: text_of(before, kind),
        after_text: text_of(after, kind),
    }
}

/// What differs between two versions' figures: each compared figure of the totals and of each
/// department (one only in either version counts as from or to nothing), the departments'
/// ranks, and the cases still overdue.
pub fn compare(before: &Value, after: &Value) -> Vec<Change> {
    const TOTAL: &str = "全区合计";
    let mut changes = Vec::new();
    let departments = |v: &Value| v.get("departments").and_then(Value::as_array).cloned().unwrap_or_default();
    let key = |g: &Value| g.get("key").and_then(Value::as_str).unwrap_or("").to_owned();
    let name = |g: &Value| g.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
    let (old, new) = (departments(before), departments(after));
    let mut rows: Vec<(String, Option<String>, Option<&Value>, Option<&Value>)> = vec![(TOTAL.to_owned(), None, before.get("total"), after.get("total"))];
    for g in &new {
        rows.push((name(g), Some(key(g)), old.iter().find(|o| key(o) == key(g)), Some(g)));
    }
    for g in old.iter().filter(|o| !new.iter().any(|n| key(n) == key(o))) {
        rows.push((name(g), Some(key(g)), Some(g), None));
    }
    for (department, code, was, is) in &rows {
        for (field, label, kind) in COMPARED {
            let (b, a) = (was.and_then(|g| figure_of(g, field)), is.and_then(|g| figure_of(g, field)));
            if differs(b, a) {
                changes.push(change(label, department, code.as_deref(), b, a, kind));
            }
        }
    }
    let ranks = |v: &Value| -> Vec<(String, String, f64)> {
        v.pointer("/department_ranking/ranked")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|e| Some((key(e), name(e), e.get("rank")?.as_f64()?))).collect())
            .unwrap_or_default()
    };
    let (old_ranks, new_ranks) = (ranks(before), ranks(after));
    let rank_in = |list: &[(String, String, f64)], k: &str| list.iter().find(|(key, _, _)| key == k).map(|r| r.2);
    let mut ranked: Vec<(String, String)> = new_ranks.iter().map(|(k, n, _)| (k.clone(), n.clone())).collect();
    ranked.extend(old_ranks.iter().filter(|(k, _, _)| rank_in(&new_ranks, k).is_none()).map(|(k, n, _)| (k.clone(), n.clone())));
    for (k, n) in ranked {
        let (b, a) = (rank_in(&old_ranks, &k), rank_in(&new_ranks, &k));
        if differs(b, a) {
            changes.push(change("部门排名", &n, Some(&k), b, a, Kind::Count));
        }
    }
    let overdue = |v: &Value| v.get("overdue_total").and_then(Value::as_f64);
    if differs(overdue(before), overdue(after)) {
        changes.push(change("仍超期的案件", TOTAL, None, overdue(before), overdue(after), Kind::Count));
    }
    changes
}

/// "与第 N-1 版相比的变化", stored in the new version's HTML.
pub fn changes_table(previous: i32, changes: &[Change]) -> Markup {
    html! {
        section.card {
            h2 { "与第 " (previous) " 版相比的变化" }
            @if changes.is_empty() {
                p { "各项数字与第 " (previous) " 版相同。" }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "部门" } th scope="col" { "指标" } th scope="col" { "第 " (previous) " 版" } th scope="col" { "本版" } } }
                    tbody { @for c in changes { tr { th scope="row" { (c.department) } td { (c.figure) } td { (c.before_text) } td { (c.after_text) } } } }
                } }
            }
        }
    }
}

/// The report's status line: live (with when it freezes) or frozen (when, which version, the hash).
pub fn status_banner(status: &Status) -> Markup {
    match status {
        Status::Live { .. } => html! { div.warning role="status" { (status.text()) } },
        Status::Frozen { version, latest } => html! {
            div.notice role="status" {
                strong { "封存于 " (crate::adapters::render::short_time(&version.generated_at)) " 第 " (version.version) " 版" }
                @if let Some(reason) = &version.reason { "（重新生成：" (reason) "）" }
                "。SHA-256："
                // Hex in groups of 16 that may wrap on a phone, copied as one word.
                code { (PreEscaped(hash_groups(&version.hash))) }
                @if *latest > version.version { " 这不是最新版本：最新为第 " (latest) " 版。" }
            }
        },
    }
}

/// The hash (hex) with a `<wbr>` every 16 characters; anything else is escaped.
pub fn hash_groups(hash: &str) -> String {
    let clean: String = hash.chars().filter(char::is_ascii_hexdigit).collect();
    clean.as_bytes().chunks(16).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("<wbr>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_freezes_its_days_after_its_end_in_beijing() {
        let at = freezes_at("2026-11", 5).expect("month");
        assert_eq!(clock::rfc3339_local(clock::to_db(at)), "2026-12-06T00:00:00+08:00");
        assert_eq!(clock::rfc3339_local(clock::to_db(freezes_at("2026-12", 0).expect("month"))), "2027-01-01T00:00:00+08:00");
    }

    #[test]
    fn changes_name_the_figure_and_the_department() {
        let before = json!({"total": {"ratings": 2, "stars": [1, 0, 0, 0, 1], "bad_rate": 0.5}, "departments": [{"key": "D1", "name": "甲局", "ratings": 2, "stars": [1, 0, 0, 0, 1], "bad_rate": 0.5}], "overdue_total": 0});
        let after = json!({"total": {"ratings": 3, "stars": [2, 0, 0, 0, 1], "bad_rate": 2.0 / 3.0}, "departments": [{"key": "D1", "name": "甲局", "ratings": 3, "stars": [2, 0, 0, 0, 1], "bad_rate": 2.0 / 3.0}], "overdue_total": 0});
        let changes = compare(&before, &after);
        let find = |figure: &str, department: &str| changes.iter().find(|c| c.figure == figure && c.department == department).cloned();
        assert_eq!(find("评价数", "全区合计").map(|c| (c.before_text, c.after_text)), Some(("2".into(), "3".into())));
        assert_eq!(find("差评数", "甲局").map(|c| (c.before, c.after)), Some((Some(1.0), Some(2.0))));
        assert_eq!(find("差评率", "甲局").map(|c| c.after_text), Some("66.7%".into()));
        assert!(compare(&after, &after).is_empty());
    }

    #[test]
    fn the_hash_groups_escape_nothing_but_hex() {
        assert_eq!(hash_groups("0123456789abcdef0123"), "0123456789abcdef<wbr>0123");
        assert_eq!(hash_groups("<script>"), "c");
    }
}
