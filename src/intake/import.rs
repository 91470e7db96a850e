//! Bulk import of 办件 (transactions) from an office's export: every row checked as
//! `POST /api/v1/transactions` checks it, attributed by 三对应 the same way, and upserted by
//! `transaction_no` in chunks of [`CHUNK`] rows (one lookup of the chunk's numbers, one
//! multi-row INSERT of the new ones) inside one transaction: one bad row and nothing is
//! written, and the report lists every bad row. The file is read row by row.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::adapters::tabular::{for_each_row, TableSource};
use crate::clock;
use crate::db_run;
use crate::domain::import::{parse_channel, parse_time, ColumnMap, ImportKind, ImportReport};
use crate::domain::intake_rules::{check_code, check_email, check_text, Channel};
use crate::error::{AppError, AppResult};
use crate::storage::models::{NewTransaction, Transaction};
use crate::storage::schema::{assignment_items, assignments, reviews, service_items, staff, transactions, windows};
use crate::storage::personal_data::{self, PersonalText};
use crate::storage::Conn;

/// Rows looked up and inserted together: 13 columns × 1 000 rows stay under both databases'
/// bound-parameter limits.
const CHUNK: usize = 1_000;
/// Progress is reported every this many rows.
const PROGRESS_EVERY: u64 = 100_000;

/// A row, checked and resolved to ids.
struct Row {
    line: u64,
    transaction_no: String,
    service_item_id: i64,
    department_id: i64,
    window_id: Option<i64>,
    staff_id: Option<i64>,
    channel: Channel,
    applicant_name: Option<String>,
    applicant_phone: Option<String>,
    applicant_email: Option<String>,
    accepted_at: Option<NaiveDateTime>,
    completed_at: NaiveDateTime,
}

/// Master data by code, loaded once: an import never asks the database row by row.
struct Lookup {
    items: HashMap<String, (i64, i64, bool)>,
    windows: HashMap<String, (i64, bool)>,
    staff: HashMap<String, (i64, bool)>,
    /// (window, staff, item, from, to) of every 三对应 assignment.
    assignments: Vec<(i64, i64, i64, NaiveDateTime, Option<NaiveDateTime>)>,
}

impl Lookup {
    fn load(conn: &mut Conn) -> AppResult<Lookup> {
        let items: Vec<(String, i64, i64, bool)> =
            db_run!(conn, |c| service_items::table.select((service_items::code, service_items::id, service_items::department_id, service_items::active)).load(c))?;
        let windows: Vec<(String, i64, bool)> = db_run!(conn, |c| windows::table.select((windows::code, windows::id, windows::active)).load(c))?;
        let staff: Vec<(String, i64, bool)> = db_run!(conn, |c| staff::table.select((staff::staff_no, staff::id, staff::active)).load(c))?;
        let assignments = db_run!(conn, |c| assignments::table
            .inner_join(assignment_items::table)
            .select((assignments::window_id, assignments::staff_id, assignment_items::service_item_id, assignments::effective_from, assignments::effective_to))
            .load(c))?;
        Ok(Lookup {
            items: items.into_iter().map(|(code, id, d, a)| (code, (id, d, a))).collect(),
            windows: windows.into_iter().map(|(code, id, a)| (code, (id, a))).collect(),
            staff: staff.into_iter().map(|(code, id, a)| (code, (id, a))).collect(),
            assignments,
        })
    }

    /// 三对应, as `record_transaction` does it: the other half of (window, staff) from the
    /// assignment in force for the item when the applicant was served, the newest first.
    fn attribute(&self, window: Option<i64>, staff: Option<i64>, item: i64, at: NaiveDateTime) -> (Option<i64>, Option<i64>) {
        if window.is_some() == staff.is_some() {
            return (window, staff);
        }
        self.assignments
            .iter()
            .filter(|(w, s, i, from, to)| {
                *i == item && *from <= at && to.is_none_or(|t| t > at) && window.is_none_or(|x| x == *w) && staff.is_none_or(|x| x == *s)
            })
            .max_by_key(|(_, _, _, from, _)| *from)
            .map(|(w, s, ..)| (Some(*w), Some(*s)))
            .unwrap_or((window, staff))
    }
}

/// Why the transaction ends without a commit.
enum Stop {
    Failed(AppError),
    RolledBack(ImportReport),
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Stop {
        Stop::Failed(AppError::from(e))
    }
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Stop {
        Stop::Failed(e)
    }
}

/// Imports transactions; `progress(rows)` hears of the rows read so far. With
/// `want_numbers`, also returns the number of every transaction the file holds once it is
/// committed (for rating links).
pub fn import_transactions(
    conn: &mut Conn,
    source: TableSource,
    dry_run: bool,
    want_numbers: bool,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(u64),
) -> AppResult<(ImportReport, Vec<String>)> {
    let outcome = conn.transaction::<_, Stop>(|conn| {
        let lookup = Lookup::load(conn)?;
        let mut report = ImportReport::new(ImportKind::Transactions, dry_run);
        let mut columns: Option<ColumnMap> = None;
        let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
        // The chunk's numbers and their lines: repeats within a chunk; across chunks the
        // database tells (see `store_chunk`).
        let mut in_chunk: HashMap<String, u64> = HashMap::with_capacity(CHUNK);
        let mut numbers: Vec<String> = Vec::new();
        let created_at = clock::to_db(now);
        let read = for_each_row(source, &mut |line, cells| {
            let Some(map) = &columns else {
                match ColumnMap::from_header(ImportKind::Transactions, cells) {
                    Ok(map) => columns = Some(map),
                    Err(errors) => {
                        report.errors = errors;
                        return Err(AppError::invalid("file", "header"));
                    }
                }
                return Ok(());
            };
            report.rows += 1;
            if report.rows % PROGRESS_EVERY == 0 {
                progress(report.rows);
            }
            if let Some(row) = check_row(map, &lookup, line, cells, now, &mut report) {
                match in_chunk.get(&row.transaction_no) {
                    Some(first) => report.refuse(line, map.header("transaction_no"), format!("文件中重复：第 {first} 行已有办件编号 {}", row.transaction_no)),
                    None => {
                        in_chunk.insert(row.transaction_no.clone(), line);
                        chunk.push(row);
                    }
                }
            }
            if chunk.len() >= CHUNK {
                store_chunk(conn, &mut chunk, map.header("transaction_no"), created_at, &mut report, &mut numbers, want_numbers)?;
                in_chunk.clear();
            }
            Ok(())
        });
        match read {
            Err(AppError::Invalid(f)) if f.field == "file" && f.message == "header" => return Err(Stop::RolledBack(report)),
            Err(e) => return Err(Stop::Failed(e)),
            Ok(()) => {}
        }
        if columns.is_none() {
            report.refuse(1, "file", "文件是空的：第一行应为表头");
        }
        let no_header = columns.as_ref().map(|m| m.header("transaction_no").to_owned()).unwrap_or_default();
        store_chunk(conn, &mut chunk, &no_header, created_at, &mut report, &mut numbers, want_numbers)?;
        progress(report.rows);
        if report.has_errors() || dry_run {
            return Err(Stop::RolledBack(report));
        }
        report.written = true;
        Ok((report, numbers))
    });
    match outcome {
        Ok(done) => Ok(done),
        Err(Stop::RolledBack(report)) => Ok((report, Vec::new())),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// One row checked as the API checks a transaction; `None` (and the reasons in the report)
/// when it is refused.
fn check_row(map: &ColumnMap, lookup: &Lookup, line: u64, cells: &[String], now: DateTime<Utc>, report: &mut ImportReport) -> Option<Row> {
    let errors_before = report.errors.len() as u64 + report.errors_not_listed;
    let mut refuse = |field: &str, reason: String| report.refuse(line, map.header(field), reason);
    let no = map.get(cells, "transaction_no").unwrap_or("");
    if no.is_empty() {
        refuse("transaction_no", "缺少办件编号".into());
    } else if check_code("transaction_no", no).is_err() {
        refuse("transaction_no", format!("办件编号“{no}”应为 1 至 64 个字符，且不含空格"));
    }
    let item = match map.get(cells, "service_item_code") {
        None => {
            refuse("service_item_code", "缺少事项编码".into());
            None
        }
        Some(code) => match lookup.items.get(code) {
            None => {
                refuse("service_item_code", format!("未知的事项编码 {code}"));
                None
            }
            Some((_, _, false)) => {
                refuse("service_item_code", format!("事项 {code} 已停用"));
                None
            }
            Some(&(id, department, true)) => Some((id, department)),
        },
    };
    let mut active_code = |field: &str, table: &HashMap<String, (i64, bool)>, what: &str| -> Option<i64> {
        let code = map.get(cells, field)?;
        match table.get(code) {
            None => {
                refuse(field, format!("未知的{what} {code}"));
                None
            }
            Some((_, false)) => {
                refuse(field, format!("{what} {code} 已停用"));
                None
            }
            Some(&(id, true)) => Some(id),
        }
    };
    let window = active_code("window_code", &lookup.windows, "窗口");
    let person = active_code("staff_no", &lookup.staff, "工作人员");
    let channel = match map.get(cells, "channel") {
        None if window.is_some() => Some(Channel::WindowDevice),
        None => Some(Channel::Pc),
        Some(text) => parse_channel(text).or_else(|| {
            refuse("channel", format!("无法识别的渠道“{text}”（可用 pc、mobile、window_device 等，或 网办、窗口 等中文）"));
            None
        }),
    };
    let mut time = |field: &str| -> Option<Option<DateTime<Utc>>> {
        match map.get(cells, field) {
            None => Some(None),
            Some(text) => match parse_time(text) {
                Some(t) => Some(Some(t)),
                None => {
                    refuse(field, format!("无法识别的时间“{text}”（应为 YYYY-MM-DD HH:MM:SS，北京时间）"));
                    None
                }
            },
        }
    };
    let accepted = time("accepted_at");
    let completed = time("completed_at");
    let completed = match completed {
        Some(Some(t)) if t > now + Duration::minutes(10) => {
            refuse("completed_at", "办结时间晚于现在".into());
            None
        }
        Some(Some(t)) => Some(t),
        Some(None) => {
            refuse("completed_at", "缺少办结时间".into());
            None
        }
        None => None,
    };
    if let (Some(Some(a)), Some(c)) = (accepted, completed) {
        if a > c {
            refuse("accepted_at", "受理时间晚于办结时间".into());
        }
    }
    let mut text = |field: &'static str, max: usize| -> Option<String> {
        let value = map.get(cells, field)?;
        if check_text(field, value, max).is_err() || (field == "applicant_email" && check_email(field, value).is_err()) {
            refuse(field, format!("“{value}”不符合要求（最多 {max} 个字符{}）", if field == "applicant_email" { "，须为邮箱地址" } else { "" }));
            return None;
        }
        Some(value.to_owned())
    };
    let (name, phone, email) = (text("applicant_name", 100), text("applicant_phone", 32), text("applicant_email", 254));
    if report.errors.len() as u64 + report.errors_not_listed > errors_before {
        return None;
    }
    let ((item, department), channel, completed) = (item?, channel?, completed?);
    let accepted = accepted.flatten();
    let served_at = clock::to_db(accepted.unwrap_or(completed));
    let (window_id, staff_id) = lookup.attribute(window, person, item, served_at);
    Some(Row {
        line,
        transaction_no: no.to_owned(),
        service_item_id: item,
        department_id: department,
        window_id,
        staff_id,
        channel,
        applicant_name: name,
        applicant_phone: phone,
        applicant_email: email,
        accepted_at: accepted.map(clock::to_db),
        completed_at: clock::to_db(completed),
    })
}

/// Upserts a chunk: the new rows in one INSERT, the changed unrated ones one by one, the same
/// ones counted as unchanged; a rated transaction is never rewritten.
fn store_chunk(
    conn: &mut Conn,
    chunk: &mut Vec<Row>,
    no_header: &str,
    created_at: NaiveDateTime,
    report: &mut ImportReport,
    numbers: &mut Vec<String>,
    want_numbers: bool,
) -> AppResult<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let nos: Vec<&str> = chunk.iter().map(|r| r.transaction_no.as_str()).collect();
    let existing: Vec<Transaction> =
        db_run!(conn, |c| transactions::table.filter(transactions::transaction_no.eq_any(&nos)).select(Transaction::as_select()).load(c))?;
    let existing: HashMap<&str, &Transaction> = existing.iter().map(|t| (t.transaction_no.as_str(), t)).collect();
    let changed_ids: Vec<i64> = chunk.iter().filter_map(|r| existing.get(r.transaction_no.as_str()).filter(|t| !same(t, r)).map(|t| t.id)).collect();
    let rated: Vec<i64> = if changed_ids.is_empty() {
        Vec::new()
    } else {
        db_run!(conn, |c| reviews::table.filter(reviews::transaction_id.eq_any(&changed_ids)).select(reviews::transaction_id).load(c))?
    };
    let mut new_rows = Vec::new();
    for row in chunk.iter() {
        match existing.get(row.transaction_no.as_str()) {
            // Stored by this import, from an earlier chunk: the file holds the number twice.
            // (Kept in the database rather than in a set of a million numbers in memory.)
            Some(t) if t.created_at == created_at => {
                report.refuse(row.line, no_header, format!("文件中重复：前面的行已有办件编号 {}", row.transaction_no));
            }
            None => new_rows.push(NewTransaction {
                transaction_no: &row.transaction_no,
                service_item_id: row.service_item_id,
                department_id: row.department_id,
                window_id: row.window_id,
                staff_id: row.staff_id,
                channel: row.channel.as_str(),
                applicant_name: PersonalText::of(row.applicant_name.as_deref()),
                applicant_phone: PersonalText::of(row.applicant_phone.as_deref()),
                applicant_phone_hash: row.applicant_phone.as_deref().and_then(personal_data::lookup_hash),
                applicant_email: row.applicant_email.as_deref(),
                accepted_at: row.accepted_at,
                completed_at: row.completed_at,
                created_at,
            }),
            Some(t) if same(t, row) => report.unchanged += 1,
            Some(t) if rated.contains(&t.id) => report.refuse(row.line, no_header, format!("办件 {} 已有评价，不能再修改", row.transaction_no)),
            Some(t) => {
                db_run!(conn, |c| diesel::update(transactions::table.find(t.id))
                    .set((
                        transactions::service_item_id.eq(row.service_item_id),
                        transactions::department_id.eq(row.department_id),
                        transactions::window_id.eq(row.window_id),
                        transactions::staff_id.eq(row.staff_id),
                        transactions::channel.eq(row.channel.as_str()),
                        transactions::applicant_name.eq(PersonalText::of(row.applicant_name.as_deref())),
                        transactions::applicant_phone.eq(PersonalText::of(row.applicant_phone.as_deref())),
                        transactions::applicant_phone_hash.eq(row.applicant_phone.as_deref().and_then(personal_data::lookup_hash)),
                        transactions::applicant_email.eq(row.applicant_email.as_deref()),
                        transactions::accepted_at.eq(row.accepted_at),
                        transactions::completed_at.eq(row.completed_at),
                    ))
                    .execute(c))?;
                report.updated += 1;
            }
        }
    }
    if !new_rows.is_empty() {
        db_run!(conn, |c| diesel::insert_into(transactions::table).values(&new_rows).execute(c))?;
        report.created += new_rows.len() as u64;
    }
    if want_numbers {
        numbers.extend(chunk.iter().map(|r| r.transaction_no.clone()));
    }
    chunk.clear();
    Ok(())
}

fn same(t: &Transaction, r: &Row) -> bool {
    (t.service_item_id, t.window_id, t.staff_id, t.channel.as_str(), t.applicant_name.as_deref(), t.applicant_phone.as_deref(), t.applicant_email.as_deref(), t.accepted_at, t.completed_at)
        == (r.service_item_id, r.window_id, r.staff_id, r.channel.as_str(), r.applicant_name.as_deref(), r.applicant_phone.as_deref(), r.applicant_email.as_deref(), r.accepted_at, r.completed_at)
}
