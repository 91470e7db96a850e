//! Bulk import of master data — departments, service items, windows, staff and 三对应
//! assignments — from an office's export. Each row goes through the same use case as the API
//! and the admin pages (and is audited like them), all rows in one transaction: one bad row
//! and nothing is written, and the report lists every bad row. Rows upsert by their code:
//! importing the same file twice changes nothing. (Transactions: `intake::import`.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::adapters::tabular::{for_each_row, TableSource};
use crate::admin::master_data::{self, AssignmentFilter, AssignmentSpec, DepartmentPatch, ListFilter, ServiceItemPatch, StaffPatch, WindowPatch};
use crate::clock;
use crate::domain::import::{parse_bool, parse_time, split_codes, ColumnMap, ImportKind, ImportReport};
use crate::error::{AppError, AppResult};
use crate::storage::Conn;

enum Change {
    Created,
    Updated,
    Unchanged,
}

/// A refused row: the field it concerns and why, in Chinese.
type Refusal = (&'static str, String);

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

/// What the stored rows look like now, by code, to tell an update from a repeat.
#[derive(Default)]
struct Known {
    departments: HashMap<String, master_data::DepartmentView>,
    items: HashMap<String, master_data::ServiceItemView>,
    windows: HashMap<String, master_data::WindowView>,
    staff: HashMap<String, master_data::StaffView>,
}

impl Known {
    fn load(conn: &mut Conn, kind: ImportKind) -> AppResult<Known> {
        let all = ListFilter::default();
        let mut known = Known::default();
        match kind {
            ImportKind::Departments => known.departments = master_data::list_departments(conn, &all)?.into_iter().map(|d| (d.code.clone(), d)).collect(),
            ImportKind::ServiceItems => known.items = master_data::list_service_items(conn, &all)?.into_iter().map(|d| (d.code.clone(), d)).collect(),
            ImportKind::Windows => known.windows = master_data::list_windows(conn, &all)?.into_iter().map(|d| (d.code.clone(), d)).collect(),
            ImportKind::Staff => known.staff = master_data::list_staff(conn, &all)?.into_iter().map(|d| (d.staff_no.clone(), d)).collect(),
            ImportKind::Assignments | ImportKind::Transactions => {}
        }
        Ok(known)
    }
}

pub fn import_master_data(conn: &mut Conn, actor: &str, kind: ImportKind, source: TableSource, dry_run: bool, now: DateTime<Utc>) -> AppResult<ImportReport> {
    if kind == ImportKind::Transactions {
        return Err(AppError::invalid("kind", "transactions are imported by intake::import"));
    }
    let outcome = conn.transaction::<_, Stop>(|conn| {
        let mut known = Known::load(conn, kind)?;
        let mut report = ImportReport::new(kind, dry_run);
        let mut columns: Option<ColumnMap> = None;
        let mut seen: HashMap<String, u64> = HashMap::new();
        let read = for_each_row(source, &mut |line, cells| {
            let Some(map) = &columns else {
                match ColumnMap::from_header(kind, cells) {
                    Ok(map) => columns = Some(map),
                    Err(errors) => {
                        report.errors = errors;
                        return Err(AppError::invalid("file", "header"));
                    }
                }
                return Ok(());
            };
            report.rows += 1;
            let key_field = kind.columns()[0].0;
            let key = match kind {
                ImportKind::Assignments => format!("{}|{}|{}", map.get(cells, "window_code").unwrap_or(""), map.get(cells, "staff_no").unwrap_or(""), map.get(cells, "effective_from").unwrap_or("")),
                _ => map.get(cells, key_field).unwrap_or("").to_owned(),
            };
            if let Some(first) = seen.get(&key) {
                report.refuse(line, map.header(key_field), format!("文件中重复：与第 {first} 行相同"));
                return Ok(());
            }
            seen.insert(key, line);
            match apply_row(conn, actor, kind, map, cells, &mut known, now) {
                Ok(Change::Created) => report.created += 1,
                Ok(Change::Updated) => report.updated += 1,
                Ok(Change::Unchanged) => report.unchanged += 1,
                Err((field, reason)) => report.refuse(line, map.header(field), reason),
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
        if report.has_errors() || dry_run {
            return Err(Stop::RolledBack(report));
        }
        if report.created + report.updated > 0 {
            master_data::audit_admin_change(conn, actor, "import", serde_json::json!({"kind": kind.as_str(), "rows": report.rows, "created": report.created, "updated": report.updated}), now)?;
        }
        report.written = true;
        Ok(report)
    });
    match outcome {
        Ok(report) | Err(Stop::RolledBack(report)) => Ok(report),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// A use case's refusal as a row's: the field, and the reason in Chinese.
fn refused(e: AppError) -> Refusal {
    match e {
        AppError::Invalid(f) if f.message.starts_with("unknown ") => (f.field, format!("未知的编码：{}", f.message.trim_start_matches("unknown "))),
        AppError::Invalid(f) if f.message.contains("no longer active") => (f.field, format!("已停用：{}", f.message)),
        AppError::Invalid(f) => (f.field, format!("不符合要求：{}", f.message)),
        AppError::Conflict { message, .. } => ("file", format!("与已有数据冲突：{message}")),
        AppError::NotFound(what) => ("file", format!("找不到：{what}")),
        other => ("file", format!("无法保存：{other}")),
    }
}

fn required<'r>(map: &ColumnMap, cells: &'r [String], field: &'static str) -> Result<&'r str, Refusal> {
    map.get(cells, field).ok_or((field, format!("缺少 {field}")))
}

fn active(map: &ColumnMap, cells: &[String]) -> Result<Option<bool>, Refusal> {
    match map.get(cells, "active") {
        None => Ok(None),
        Some(text) => parse_bool(text).map(Some).ok_or(("active", format!("“{text}”应为 是/否 或 true/false"))),
    }
}

fn apply_row(conn: &mut Conn, actor: &str, kind: ImportKind, map: &ColumnMap, cells: &[String], known: &mut Known, now: DateTime<Utc>) -> Result<Change, Refusal> {
    match kind {
        ImportKind::Departments => {
            let (code, name) = (required(map, cells, "code")?, required(map, cells, "name")?);
            let (parent, email, active) = (map.get(cells, "parent_code"), map.get(cells, "email"), active(map, cells)?);
            // Left blank (or no such column): the code stays as it is.
            let credit_code = map.get(cells, "credit_code");
            let change = match known.departments.get(code) {
                None => {
                    master_data::create_department(conn, actor, code, name, parent, email, now).map_err(refused)?;
                    Change::Created
                }
                Some(d)
                    if d.name == name
                        && d.parent_code.as_deref() == parent
                        && d.email.as_deref() == email
                        && active.is_none_or(|a| a == d.active)
                        && credit_code.is_none_or(|c| d.credit_code.as_deref() == Some(c)) =>
                {
                    return Ok(Change::Unchanged)
                }
                Some(_) => Change::Updated,
            };
            if matches!(change, Change::Updated) || active == Some(false) || credit_code.is_some() {
                let patch = DepartmentPatch {
                    name: Some(name.to_owned()),
                    // An empty value clears a parent or an email in a patch.
                    parent_code: Some(parent.unwrap_or("").to_owned()),
                    email: Some(email.unwrap_or("").to_owned()),
                    active,
                    credit_code: credit_code.map(str::to_owned),
                };
                let view = master_data::update_department(conn, actor, code, &patch, now).map_err(refused)?;
                known.departments.insert(code.to_owned(), view);
            }
            Ok(change)
        }
        ImportKind::ServiceItems => {
            let (code, name, department) = (required(map, cells, "code")?, required(map, cells, "name")?, required(map, cells, "department_code")?);
            let active = active(map, cells)?;
            let task_code = map.get(cells, "task_code");
            let change = match known.items.get(code) {
                None => {
                    master_data::create_service_item(conn, actor, code, name, department, now).map_err(refused)?;
                    Change::Created
                }
                Some(i)
                    if i.name == name
                        && i.department_code == department
                        && active.is_none_or(|a| a == i.active)
                        && task_code.is_none_or(|t| i.task_code.as_deref() == Some(t)) =>
                {
                    return Ok(Change::Unchanged)
                }
                Some(_) => Change::Updated,
            };
            if matches!(change, Change::Updated) || active == Some(false) || task_code.is_some() {
                let patch = ServiceItemPatch { name: Some(name.to_owned()), department_code: Some(department.to_owned()), active, task_code: task_code.map(str::to_owned) };
                let view = master_data::update_service_item(conn, actor, code, &patch, now).map_err(refused)?;
                known.items.insert(code.to_owned(), view);
            }
            Ok(change)
        }
        ImportKind::Windows => {
            let (code, name, hall) = (required(map, cells, "code")?, required(map, cells, "name")?, required(map, cells, "hall")?);
            let active = active(map, cells)?;
            let change = match known.windows.get(code) {
                None => {
                    master_data::create_window(conn, actor, code, name, hall, now).map_err(refused)?;
                    Change::Created
                }
                Some(w) if w.name == name && w.hall == hall && active.is_none_or(|a| a == w.active) => return Ok(Change::Unchanged),
                Some(_) => Change::Updated,
            };
            if matches!(change, Change::Updated) || active == Some(false) {
                let patch = WindowPatch { name: Some(name.to_owned()), hall: Some(hall.to_owned()), active };
                let view = master_data::update_window(conn, actor, code, &patch, now).map_err(refused)?;
                known.windows.insert(code.to_owned(), view);
            }
            Ok(change)
        }
        ImportKind::Staff => {
            let (no, name, department) = (required(map, cells, "staff_no")?, required(map, cells, "name")?, required(map, cells, "department_code")?);
            let active = active(map, cells)?;
            let change = match known.staff.get(no) {
                None => {
                    master_data::create_staff(conn, actor, no, name, department, now).map_err(refused)?;
                    Change::Created
                }
                Some(s) if s.name == name && s.department_code == department && active.is_none_or(|a| a == s.active) => return Ok(Change::Unchanged),
                Some(_) => Change::Updated,
            };
            if matches!(change, Change::Updated) || active == Some(false) {
                let patch = StaffPatch { name: Some(name.to_owned()), department_code: Some(department.to_owned()), active };
                let view = master_data::update_staff(conn, actor, no, &patch, now).map_err(refused)?;
                known.staff.insert(no.to_owned(), view);
            }
            Ok(change)
        }
        ImportKind::Assignments => {
            let (window, staff) = (required(map, cells, "window_code")?, required(map, cells, "staff_no")?);
            let items = split_codes(required(map, cells, "service_item_codes")?);
            let time = |field: &'static str| -> Result<Option<DateTime<Utc>>, Refusal> {
                match map.get(cells, field) {
                    None => Ok(None),
                    Some(text) => parse_time(text).map(Some).ok_or((field, format!("无法识别的日期“{text}”（应为 YYYY-MM-DD，北京时间）"))),
                }
            };
            let from = time("effective_from")?.ok_or(("effective_from", "缺少生效日期".to_owned()))?;
            let to = time("effective_to")?;
            // The same window, person and start: the stored assignment, perhaps with a new end.
            let filter = AssignmentFilter { window_code: Some(window.to_owned()), staff_no: Some(staff.to_owned()), ..Default::default() };
            let stored = master_data::list_assignments(conn, &filter).map_err(refused)?;
            let from_text = clock::rfc3339_local(clock::to_db(from));
            let to_text = to.map(|t| clock::rfc3339_local(clock::to_db(t)));
            match stored.into_iter().find(|a| a.effective_from == from_text) {
                Some(a) => {
                    let mut wanted = items.clone();
                    wanted.sort();
                    wanted.dedup();
                    if a.service_item_codes != wanted {
                        return Err(("service_item_codes", format!("已有同一窗口、人员、生效日期的安排（第 {} 号），其事项为 {}；事项不能改，请另起一条", a.id, a.service_item_codes.join("、"))));
                    }
                    if a.effective_to == to_text {
                        return Ok(Change::Unchanged);
                    }
                    master_data::end_assignment(conn, actor, a.id, to, now).map_err(refused)?;
                    Ok(Change::Updated)
                }
                None => {
                    let spec = AssignmentSpec { window_code: window, staff_no: staff, service_item_codes: &items, effective_from: from, effective_to: to };
                    master_data::create_assignment(conn, actor, &spec, now).map_err(refused)?;
                    Ok(Change::Created)
                }
            }
        }
        ImportKind::Transactions => Err(("file", "办件请用 transactions 导入".into())),
    }
}
