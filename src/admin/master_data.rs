//! Master data kept by admins: departments, service items (事项), windows (窗口), staff and
//! the window–staff–item assignments (三对应). Every change is written to the audit chain.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::assignment::periods_overlap;
use crate::domain::intake_rules::{check_code, check_email, check_name};
use crate::error::{AppError, AppResult};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::models::*;
use crate::storage::schema::{assignment_items, assignments, departments, service_items, staff, windows};
use crate::storage::{queries, Conn};

/// Records an admin change in the audit chain.
pub fn audit_admin_change(conn: &mut Conn, actor: &str, action: &str, detail: serde_json::Value, now: DateTime<Utc>) -> AppResult<()> {
    audit::append(
        conn,
        AuditEntry {
            case_id: None,
            actor,
            action,
            from_state: None,
            to_state: None,
            note: None,
            detail: Some(detail.to_string()),
            at: clock::to_db(now),
        },
    )?;
    Ok(())
}

/// A unique-violation on a code becomes a 409 that names the code.
fn duplicate<'a>(field: &'static str, code: &'a str) -> impl FnOnce(AppError) -> AppError + 'a {
    move |e| {
        if e.is_unique_violation() {
            AppError::conflict("duplicate", format!("{field} {code:?} already exists"))
        } else {
            e
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepartmentView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    /// 统一社会信用代码, sent to the provincial platform as `deptCode`.
    pub credit_code: Option<String>,
}

pub fn create_department(conn: &mut Conn, actor: &str, code: &str, name: &str, parent_code: Option<&str>, email: Option<&str>, now: DateTime<Utc>) -> AppResult<DepartmentView> {
    check_code("code", code)?;
    check_name("name", name, 100)?;
    if let Some(e) = email {
        check_email("email", e)?;
    }
    conn.transaction(|conn| {
        let parent_id = match parent_code {
            Some(p) => Some(queries::department_by_code(conn, p)?.ok_or_else(|| AppError::unknown_code("parent_code", p))?.id),
            None => None,
        };
        let new = NewDepartment { code, name, parent_id, email, created_at: clock::to_db(now) };
        let d: Department = db_run!(conn, |c| diesel::insert_into(departments::table)
            .values(&new)
            .returning(Department::as_returning())
            .get_result(c))
        .map_err(AppError::from)
        .map_err(duplicate("department", code))?;
        audit_admin_change(conn, actor, "create_department", json!({"code": code, "name": name, "parent_code": parent_code, "email": email}), now)?;
        Ok(DepartmentView { id: d.id, code: d.code, name: d.name, parent_code: parent_code.map(str::to_owned), email: d.email, active: d.active, credit_code: d.credit_code })
    })
}

/// Which rows a list shows: all, or only the active or the inactive ones; a department's only.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub active: Option<bool>,
    pub department_code: Option<String>,
}

/// Departments, by code; `department_code` here picks the children of that parent.
pub fn list_departments(conn: &mut Conn, filter: &ListFilter) -> AppResult<Vec<DepartmentView>> {
    let rows: Vec<Department> = db_run!(conn, |c| departments::table
        .order(departments::code.asc())
        .select(Department::as_select())
        .load(c))?;
    let code_of = |id: i64| rows.iter().find(|d| d.id == id).map(|d| d.code.clone());
    Ok(rows
        .iter()
        .map(|d| DepartmentView {
            id: d.id,
            code: d.code.clone(),
            name: d.name.clone(),
            parent_code: d.parent_id.and_then(code_of),
            email: d.email.clone(),
            active: d.active,
            credit_code: d.credit_code.clone(),
        })
        .filter(|d| filter.active.is_none_or(|a| a == d.active))
        .filter(|d| filter.department_code.is_none() || d.parent_code == filter.department_code)
        .collect())
}

/// What a `PATCH` may change; an absent field stays as it is. An empty `email` or
/// `parent_code` clears it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[schema(max_length = 254, pattern = r"^$|^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f@]*@[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub email: Option<String>,
    pub parent_code: Option<String>,
    pub active: Option<bool>,
    /// 统一社会信用代码 (18 characters, its check character verified); empty clears it.
    #[schema(pattern = "^$|^[0-9A-HJ-NPQRTUWXY]{18}$")]
    pub credit_code: Option<String>,
}

fn not_found(what: &str, code: &str) -> AppError {
    AppError::NotFound(format!("no {what} {code:?}"))
}

pub fn update_department(conn: &mut Conn, actor: &str, code: &str, patch: &DepartmentPatch, now: DateTime<Utc>) -> AppResult<DepartmentView> {
    if let Some(name) = &patch.name {
        check_name("name", name, 100)?;
    }
    if let Some(e) = patch.email.as_deref().filter(|e| !e.is_empty()) {
        check_email("email", e)?;
    }
    if let Some(c) = patch.credit_code.as_deref().filter(|c| !c.is_empty()) {
        crate::domain::exchange::check_credit_code(c).map_err(|m| AppError::invalid("credit_code", m))?;
    }
    conn.transaction(|conn| {
        let d = queries::department_by_code(conn, code)?.ok_or_else(|| not_found("department", code))?;
        let parent_id = match patch.parent_code.as_deref() {
            None => d.parent_id,
            Some("") => None,
            Some(p) => {
                let parent = queries::department_by_code(conn, p)?.ok_or_else(|| AppError::unknown_code("parent_code", p))?;
                // Walk up from the new parent: meeting this department would make a loop.
                let mut up = Some(parent.id);
                while let Some(id) = up {
                    if id == d.id {
                        return Err(AppError::invalid("parent_code", "a department cannot sit under itself"));
                    }
                    up = queries::department_by_id(conn, id)?.and_then(|a| a.parent_id);
                }
                Some(parent.id)
            }
        };
        let email = match patch.email.as_deref() {
            None => d.email.clone(),
            Some("") => None,
            Some(e) => Some(e.to_owned()),
        };
        let name = patch.name.clone().unwrap_or(d.name.clone());
        let active = patch.active.unwrap_or(d.active);
        let credit_code = match patch.credit_code.as_deref() {
            None => d.credit_code.clone(),
            Some("") => None,
            Some(c) => Some(c.to_owned()),
        };
        db_run!(conn, |c| diesel::update(departments::table.filter(departments::id.eq(d.id)))
            .set((
                departments::name.eq(&name),
                departments::email.eq(&email),
                departments::parent_id.eq(parent_id),
                departments::active.eq(active),
                departments::credit_code.eq(&credit_code),
            ))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_department", json!({"code": code, "changes": patch}), now)?;
        let parent_code = match parent_id {
            Some(id) => queries::department_by_id(conn, id)?.map(|p| p.code),
            None => None,
        };
        Ok(DepartmentView { id: d.id, code: d.code, name, parent_code, email, active, credit_code })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceItemView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_code: String,
    pub active: bool,
    /// 事项统一编码, sent to the provincial platform as `taskCode`.
    pub task_code: Option<String>,
}

pub fn create_service_item(conn: &mut Conn, actor: &str, code: &str, name: &str, department_code: &str, now: DateTime<Utc>) -> AppResult<ServiceItemView> {
    check_code("code", code)?;
    check_name("name", name, 200)?;
    conn.transaction(|conn| {
        let dept = queries::department_by_code(conn, department_code)?
            .ok_or_else(|| AppError::unknown_code("department_code", department_code))?;
        let new = NewServiceItem { code, name, department_id: dept.id, created_at: clock::to_db(now) };
        let id: i64 = db_run!(conn, |c| diesel::insert_into(service_items::table)
            .values(&new)
            .returning(service_items::id)
            .get_result(c))
        .map_err(AppError::from)
        .map_err(duplicate("service item", code))?;
        audit_admin_change(conn, actor, "create_service_item", json!({"code": code, "name": name, "department_code": department_code}), now)?;
        Ok(ServiceItemView { id, code: code.to_owned(), name: name.to_owned(), department_code: department_code.to_owned(), active: true, task_code: None })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub hall: String,
    pub active: bool,
}

pub fn create_window(conn: &mut Conn, actor: &str, code: &str, name: &str, hall: &str, now: DateTime<Utc>) -> AppResult<WindowView> {
    check_code("code", code)?;
    check_name("name", name, 100)?;
    check_name("hall", hall, 100)?;
    conn.transaction(|conn| {
        let new = NewWindow { code, name, hall, created_at: clock::to_db(now) };
        let id: i64 = db_run!(conn, |c| diesel::insert_into(windows::table)
            .values(&new)
            .returning(windows::id)
            .get_result(c))
        .map_err(AppError::from)
        .map_err(duplicate("window", code))?;
        audit_admin_change(conn, actor, "create_window", json!({"code": code, "name": name, "hall": hall}), now)?;
        Ok(WindowView { id, code: code.to_owned(), name: name.to_owned(), hall: hall.to_owned(), active: true })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: i64,
    pub staff_no: String,
    pub name: String,
    pub department_code: String,
    pub active: bool,
}

pub fn create_staff(conn: &mut Conn, actor: &str, staff_no: &str, name: &str, department_code: &str, now: DateTime<Utc>) -> AppResult<StaffView> {
    check_code("staff_no", staff_no)?;
    check_name("name", name, 100)?;
    conn.transaction(|conn| {
        let dept = queries::department_by_code(conn, department_code)?
            .ok_or_else(|| AppError::unknown_code("department_code", department_code))?;
        let new = NewStaff { staff_no, name, department_id: dept.id, created_at: clock::to_db(now) };
        let id: i64 = db_run!(conn, |c| diesel::insert_into(staff::table)
            .values(&new)
            .returning(staff::id)
            .get_result(c))
        .map_err(AppError::from)
        .map_err(duplicate("staff", staff_no))?;
        audit_admin_change(conn, actor, "create_staff", json!({"staff_no": staff_no, "name": name, "department_code": department_code}), now)?;
        Ok(StaffView { id, staff_no: staff_no.to_owned(), name: name.to_owned(), department_code: department_code.to_owned(), active: true })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    pub id: i64,
    pub window_code: String,
    pub staff_no: String,
    pub staff_name: String,
    pub service_item_codes: Vec<String>,
    pub effective_from: String,
    /// The first moment it no longer holds; absent while it runs on.
    pub effective_to: Option<String>,
}

pub struct AssignmentSpec<'a> {
    pub window_code: &'a str,
    pub staff_no: &'a str,
    pub service_item_codes: &'a [String],
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
}

/// Takes the window's row lock before anything is read, so two admins adjusting one window
/// cannot both pass the overlap check (PostgreSQL row lock; SQLite's single writer).
fn lock_window(conn: &mut Conn, window_code: &str) -> AppResult<Window> {
    db_run!(conn, |c| diesel::update(windows::table.filter(windows::code.eq(window_code)))
        .set(windows::active.eq(windows::active))
        .execute(c))?;
    queries::window_by_code(conn, window_code)?.ok_or_else(|| AppError::unknown_code("window_code", window_code))
}

/// 409 when another assignment of the window covers one of the items at some moment of
/// `[from, to)`; one may start exactly when the other ends.
fn refuse_overlap(conn: &mut Conn, window_id: i64, item_ids: &[i64], from: NaiveDateTime, to: Option<NaiveDateTime>, except: Option<i64>) -> AppResult<()> {
    let others: Vec<(i64, String, NaiveDateTime, Option<NaiveDateTime>)> = db_run!(conn, |c| assignments::table
        .inner_join(assignment_items::table)
        .inner_join(service_items::table.on(service_items::id.eq(assignment_items::service_item_id)))
        .filter(assignments::window_id.eq(window_id))
        .filter(assignment_items::service_item_id.eq_any(item_ids))
        .filter(assignments::id.ne(except.unwrap_or(0)))
        .select((assignments::id, service_items::code, assignments::effective_from, assignments::effective_to))
        .load(c))?;
    match others.into_iter().find(|(_, _, f, t)| periods_overlap((from, to), (*f, *t))) {
        Some((id, item, f, t)) => Err(AppError::conflict_with(
            "assignment_overlap",
            format!(
                "assignment {id} already covers service item {item:?} at this window from {} {}",
                rfc3339_local(f),
                t.map(|t| format!("to {}", rfc3339_local(t))).unwrap_or_else(|| "on".into())
            ),
            json!({"assignment_id": id, "service_item_code": item}),
        )),
        None => Ok(()),
    }
}

pub fn create_assignment(conn: &mut Conn, actor: &str, spec: &AssignmentSpec<'_>, now: DateTime<Utc>) -> AppResult<AssignmentView> {
    if spec.service_item_codes.is_empty() || spec.service_item_codes.len() > 500 {
        return Err(AppError::invalid("service_item_codes", "1 to 500 service item codes"));
    }
    if let Some(to) = spec.effective_to {
        if to <= spec.effective_from {
            return Err(AppError::invalid("effective_to", "must be after effective_from"));
        }
    }
    conn.transaction(|conn| {
        let window = lock_window(conn, spec.window_code)?;
        let person = queries::staff_by_no(conn, spec.staff_no)?
            .ok_or_else(|| AppError::unknown_code("staff_no", spec.staff_no))?;
        if !window.active {
            return Err(AppError::invalid("window_code", format!("window {:?} is no longer active", window.code)));
        }
        if !person.active {
            return Err(AppError::invalid("staff_no", format!("staff member {:?} is no longer active", person.staff_no)));
        }
        let mut item_ids = Vec::with_capacity(spec.service_item_codes.len());
        let mut item_codes = Vec::with_capacity(spec.service_item_codes.len());
        for code in spec.service_item_codes {
            let item = queries::service_item_by_code(conn, code)?
                .ok_or_else(|| AppError::unknown_code("service_item_codes", code))?;
            if !item_ids.contains(&item.id) {
                item_ids.push(item.id);
                item_codes.push(item.code);
            }
        }
        let (from, to) = (clock::to_db(spec.effective_from), spec.effective_to.map(clock::to_db));
        refuse_overlap(conn, window.id, &item_ids, from, to, None)?;
        let new = NewAssignment { window_id: window.id, staff_id: person.id, effective_from: from, effective_to: to, created_at: clock::to_db(now) };
        let id: i64 = db_run!(conn, |c| diesel::insert_into(assignments::table)
            .values(&new)
            .returning(assignments::id)
            .get_result(c))?;
        let rows: Vec<_> = item_ids
            .iter()
            .map(|item| (assignment_items::assignment_id.eq(id), assignment_items::service_item_id.eq(*item)))
            .collect();
        db_run!(conn, |c| diesel::insert_into(assignment_items::table).values(&rows).execute(c))?;
        audit_admin_change(
            conn,
            actor,
            "create_assignment",
            json!({"id": id, "window_code": window.code, "staff_no": person.staff_no, "service_item_codes": item_codes,
                   "effective_from": rfc3339_local(from), "effective_to": to.map(rfc3339_local)}),
            now,
        )?;
        Ok(AssignmentView {
            id,
            window_code: window.code,
            staff_no: person.staff_no,
            staff_name: person.name,
            service_item_codes: item_codes,
            effective_from: rfc3339_local(from),
            effective_to: to.map(rfc3339_local),
        })
    })
}

/// Sets when an assignment ends (`None`: it runs on again), refusing an end before its start or
/// one that would make it overlap another.
pub fn end_assignment(conn: &mut Conn, actor: &str, id: i64, effective_to: Option<DateTime<Utc>>, now: DateTime<Utc>) -> AppResult<AssignmentView> {
    conn.transaction(|conn| {
        let window_code = assignment_window_code(conn, id)?;
        lock_window(conn, &window_code)?;
        let current = assignment(conn, id)?;
        let to = effective_to.map(clock::to_db);
        let from = current.from;
        if to.is_some_and(|t| t <= from) {
            return Err(AppError::invalid("effective_to", format!("must be after effective_from {}", rfc3339_local(from))));
        }
        refuse_overlap(conn, current.window_id, &current.item_ids, from, to, Some(id))?;
        db_run!(conn, |c| diesel::update(assignments::table.filter(assignments::id.eq(id)))
            .set(assignments::effective_to.eq(to))
            .execute(c))?;
        audit_admin_change(conn, actor, "end_assignment", json!({"id": id, "effective_to": to.map(rfc3339_local)}), now)?;
        Ok(assignment(conn, id)?.view)
    })
}

/// 窗口人员调整 in one step: the assignment ends at `at` and the same window and items pass to
/// `staff_no` from then on, until the old one would have ended.
pub fn replace_assignment(conn: &mut Conn, actor: &str, id: i64, staff_no: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<AssignmentView> {
    conn.transaction(|conn| {
        let current = assignment(conn, id)?;
        let at_db = clock::to_db(at);
        if at_db <= current.from || current.to.is_some_and(|t| at_db >= t) {
            return Err(AppError::invalid("effective_from", "the change must fall within the assignment it replaces"));
        }
        let old_end = current.to;
        end_assignment(conn, actor, id, Some(at), now)?;
        let spec = AssignmentSpec {
            window_code: &current.view.window_code,
            staff_no,
            service_item_codes: &current.view.service_item_codes,
            effective_from: at,
            effective_to: old_end.map(clock::from_db),
        };
        create_assignment(conn, actor, &spec, now)
    })
}

/// One assignment as stored, with its view.
struct StoredAssignment {
    window_id: i64,
    item_ids: Vec<i64>,
    from: NaiveDateTime,
    to: Option<NaiveDateTime>,
    view: AssignmentView,
}

fn assignment_window_code(conn: &mut Conn, id: i64) -> AppResult<String> {
    db_run!(conn, |c| assignments::table
        .inner_join(windows::table.on(windows::id.eq(assignments::window_id)))
        .filter(assignments::id.eq(id))
        .select(windows::code)
        .first(c)
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("no assignment {id}")))
}

fn assignment(conn: &mut Conn, id: i64) -> AppResult<StoredAssignment> {
    let (window_id, from, to) = db_run!(conn, |c| assignments::table
        .filter(assignments::id.eq(id))
        .select((assignments::window_id, assignments::effective_from, assignments::effective_to))
        .first::<(i64, NaiveDateTime, Option<NaiveDateTime>)>(c)
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("no assignment {id}")))?;
    let item_ids = db_run!(conn, |c| assignment_items::table
        .filter(assignment_items::assignment_id.eq(id))
        .select(assignment_items::service_item_id)
        .load::<i64>(c))?;
    let view = list_assignments(conn, &AssignmentFilter { id: Some(id), ..Default::default() })?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("no assignment {id}")))?;
    Ok(StoredAssignment { window_id, item_ids, from, to, view })
}

pub fn list_service_items(conn: &mut Conn, filter: &ListFilter) -> AppResult<Vec<ServiceItemView>> {
    let rows: Vec<(i64, String, String, String, bool, Option<String>)> = db_run!(conn, |c| {
        let mut q = service_items::table
            .inner_join(departments::table)
            .order(service_items::code.asc())
            .select((service_items::id, service_items::code, service_items::name, departments::code, service_items::active, service_items::task_code))
            .into_boxed();
        if let Some(active) = filter.active {
            q = q.filter(service_items::active.eq(active));
        }
        if let Some(d) = &filter.department_code {
            q = q.filter(departments::code.eq(d.clone()));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, code, name, department_code, active, task_code)| ServiceItemView { id, code, name, department_code, active, task_code })
        .collect())
}

pub fn list_windows(conn: &mut Conn, filter: &ListFilter) -> AppResult<Vec<WindowView>> {
    let rows: Vec<(i64, String, String, String, bool)> = db_run!(conn, |c| {
        let mut q = windows::table
            .order(windows::code.asc())
            .select((windows::id, windows::code, windows::name, windows::hall, windows::active))
            .into_boxed();
        if let Some(active) = filter.active {
            q = q.filter(windows::active.eq(active));
        }
        q.load(c)
    })?;
    Ok(rows.into_iter().map(|(id, code, name, hall, active)| WindowView { id, code, name, hall, active }).collect())
}

pub fn list_staff(conn: &mut Conn, filter: &ListFilter) -> AppResult<Vec<StaffView>> {
    let rows: Vec<(i64, String, String, String, bool)> = db_run!(conn, |c| {
        let mut q = staff::table
            .inner_join(departments::table)
            .order(staff::staff_no.asc())
            .select((staff::id, staff::staff_no, staff::name, departments::code, staff::active))
            .into_boxed();
        if let Some(active) = filter.active {
            q = q.filter(staff::active.eq(active));
        }
        if let Some(d) = &filter.department_code {
            q = q.filter(departments::code.eq(d.clone()));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, staff_no, name, department_code, active)| StaffView { id, staff_no, name, department_code, active })
        .collect())
}

/// The department a `PATCH` names (422 when unknown), or the row's current one.
fn new_or_current_department(conn: &mut Conn, named: Option<&str>, current_id: i64) -> AppResult<Department> {
    match named {
        Some(code) => queries::department_by_code(conn, code)?.ok_or_else(|| AppError::unknown_code("department_code", code)),
        None => queries::department_by_id(conn, current_id)?.ok_or_else(|| not_found("department", &current_id.to_string())),
    }
}

/// A `PATCH` of a service item: name, owning department, active.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceItemPatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    pub department_code: Option<String>,
    pub active: Option<bool>,
    /// 事项统一编码 (up to 50 letters, digits or -); empty clears it.
    #[schema(pattern = "^$|^[0-9A-Za-z-]{1,50}$")]
    pub task_code: Option<String>,
}

pub fn update_service_item(conn: &mut Conn, actor: &str, code: &str, patch: &ServiceItemPatch, now: DateTime<Utc>) -> AppResult<ServiceItemView> {
    if let Some(name) = &patch.name {
        check_name("name", name, 200)?;
    }
    if let Some(t) = patch.task_code.as_deref().filter(|t| !t.is_empty()) {
        crate::domain::exchange::check_task_code(t).map_err(|m| AppError::invalid("task_code", m))?;
    }
    conn.transaction(|conn| {
        let item = queries::service_item_by_code(conn, code)?.ok_or_else(|| not_found("service item", code))?;
        let department = new_or_current_department(conn, patch.department_code.as_deref(), item.department_id)?;
        let name = patch.name.clone().unwrap_or(item.name);
        let active = patch.active.unwrap_or(item.active);
        let task_code = match patch.task_code.as_deref() {
            None => item.task_code.clone(),
            Some("") => None,
            Some(t) => Some(t.to_owned()),
        };
        db_run!(conn, |c| diesel::update(service_items::table.filter(service_items::id.eq(item.id)))
            .set((service_items::name.eq(&name), service_items::department_id.eq(department.id), service_items::active.eq(active), service_items::task_code.eq(&task_code)))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_service_item", json!({"code": code, "changes": patch}), now)?;
        Ok(ServiceItemView { id: item.id, code: item.code, name, department_code: department.code, active, task_code })
    })
}

/// A `PATCH` of a window: name, hall, active.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowPatch {
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub hall: Option<String>,
    pub active: Option<bool>,
}

pub fn update_window(conn: &mut Conn, actor: &str, code: &str, patch: &WindowPatch, now: DateTime<Utc>) -> AppResult<WindowView> {
    if let Some(name) = &patch.name {
        check_name("name", name, 100)?;
    }
    if let Some(hall) = &patch.hall {
        check_name("hall", hall, 100)?;
    }
    conn.transaction(|conn| {
        let window = queries::window_by_code(conn, code)?.ok_or_else(|| not_found("window", code))?;
        let name = patch.name.clone().unwrap_or(window.name);
        let hall = patch.hall.clone().unwrap_or(window.hall);
        let active = patch.active.unwrap_or(window.active);
        db_run!(conn, |c| diesel::update(windows::table.filter(windows::id.eq(window.id)))
            .set((windows::name.eq(&name), windows::hall.eq(&hall), windows::active.eq(active)))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_window", json!({"code": code, "changes": patch}), now)?;
        Ok(WindowView { id: window.id, code: window.code, name, hall, active })
    })
}

/// A `PATCH` of a staff member: name, department (a move), active (left or back).
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    #[schema(min_length = 1, max_length = 100, pattern = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    pub department_code: Option<String>,
    pub active: Option<bool>,
}

pub fn update_staff(conn: &mut Conn, actor: &str, staff_no: &str, patch: &StaffPatch, now: DateTime<Utc>) -> AppResult<StaffView> {
    if let Some(name) = &patch.name {
        check_name("name", name, 100)?;
    }
    conn.transaction(|conn| {
        let member = queries::staff_by_no(conn, staff_no)?.ok_or_else(|| not_found("staff member", staff_no))?;
        let department = new_or_current_department(conn, patch.department_code.as_deref(), member.department_id)?;
        let name = patch.name.clone().unwrap_or(member.name);
        let active = patch.active.unwrap_or(member.active);
        db_run!(conn, |c| diesel::update(staff::table.filter(staff::id.eq(member.id)))
            .set((staff::name.eq(&name), staff::department_id.eq(department.id), staff::active.eq(active)))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_staff", json!({"staff_no": staff_no, "changes": patch}), now)?;
        Ok(StaffView { id: member.id, staff_no: member.staff_no, name, department_code: department.code, active })
    })
}

/// Which assignments a list shows: a window's, a staff member's, those in force at a moment.
#[derive(Debug, Default, Clone)]
pub struct AssignmentFilter {
    pub id: Option<i64>,
    pub window_code: Option<String>,
    pub staff_no: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// 三对应 assignments, by window and then newest first, with their items.
pub fn list_assignments(conn: &mut Conn, filter: &AssignmentFilter) -> AppResult<Vec<AssignmentView>> {
    let rows: Vec<(i64, String, String, String, NaiveDateTime, Option<NaiveDateTime>)> = db_run!(conn, |c| {
        let mut q = assignments::table
            .inner_join(windows::table.on(windows::id.eq(assignments::window_id)))
            .inner_join(staff::table.on(staff::id.eq(assignments::staff_id)))
            .order((windows::code.asc(), assignments::effective_from.desc(), assignments::id.desc()))
            .select((assignments::id, windows::code, staff::staff_no, staff::name, assignments::effective_from, assignments::effective_to))
            .into_boxed();
        if let Some(id) = filter.id {
            q = q.filter(assignments::id.eq(id));
        }
        if let Some(w) = &filter.window_code {
            q = q.filter(windows::code.eq(w.clone()));
        }
        if let Some(s) = &filter.staff_no {
            q = q.filter(staff::staff_no.eq(s.clone()));
        }
        if let Some(at) = filter.at.map(clock::to_db) {
            q = q.filter(assignments::effective_from.le(at)).filter(assignments::effective_to.is_null().or(assignments::effective_to.gt(at)));
        }
        q.load(c)
    })?;
    let mut items: HashMap<i64, Vec<String>> = HashMap::new();
    let item_rows: Vec<(i64, String)> = db_run!(conn, |c| {
        let mut q = assignment_items::table
            .inner_join(service_items::table.on(service_items::id.eq(assignment_items::service_item_id)))
            .order(service_items::code.asc())
            .select((assignment_items::assignment_id, service_items::code))
            .into_boxed();
        if let Some(id) = filter.id {
            q = q.filter(assignment_items::assignment_id.eq(id));
        }
        q.load(c)
    })?;
    for (id, code) in item_rows {
        items.entry(id).or_default().push(code);
    }
    Ok(rows
        .into_iter()
        .map(|(id, window_code, staff_no, staff_name, from, to)| AssignmentView {
            id,
            window_code,
            staff_no,
            staff_name,
            service_item_codes: items.remove(&id).unwrap_or_default(),
            effective_from: rfc3339_local(from),
            effective_to: to.map(rfc3339_local),
        })
        .collect())
}

/// The district's 区划代码, sent with every record of the provincial feed; audited.
pub fn set_area_code(conn: &mut Conn, actor: &str, code: &str, now: DateTime<Utc>) -> AppResult<String> {
    let code = code.trim();
    crate::domain::exchange::check_area_code(code).map_err(|m| AppError::invalid("area_code", m))?;
    conn.transaction(|conn| {
        queries::put_setting(conn, crate::domain::exchange::AREA_CODE_SETTING, code)?;
        audit_admin_change(conn, actor, "set_area_code", json!({"area_code": code}), now)?;
        Ok(code.to_owned())
    })
}
