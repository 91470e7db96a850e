//! Master data kept by admins: departments, service items (事项), windows (窗口), staff and
//! the window–staff–item assignments (三对应). Every change is written to the audit chain.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::{self, rfc3339_local};
use crate::db_run;
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
        Ok(DepartmentView { id: d.id, code: d.code, name: d.name, parent_code: parent_code.map(str::to_owned), email: d.email, active: d.active })
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
    pub name: Option<String>,
    pub email: Option<String>,
    pub parent_code: Option<String>,
    pub active: Option<bool>,
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
        db_run!(conn, |c| diesel::update(departments::table.filter(departments::id.eq(d.id)))
            .set((departments::name.eq(&name), departments::email.eq(&email), departments::parent_id.eq(parent_id), departments::active.eq(active)))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_department", json!({"code": code, "changes": patch}), now)?;
        let parent_code = match parent_id {
            Some(id) => queries::department_by_id(conn, id)?.map(|p| p.code),
            None => None,
        };
        Ok(DepartmentView { id: d.id, code: d.code, name, parent_code, email, active })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceItemView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_code: String,
    pub active: bool,
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
        Ok(ServiceItemView { id, code: code.to_owned(), name: name.to_owned(), department_code: department_code.to_owned(), active: true })
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
    pub service_item_codes: Vec<String>,
    pub effective_from: String,
    pub effective_to: Option<String>,
}

pub struct AssignmentSpec<'a> {
    pub window_code: &'a str,
    pub staff_no: &'a str,
    pub service_item_codes: &'a [String],
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
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
        let window = queries::window_by_code(conn, spec.window_code)?
            .ok_or_else(|| AppError::unknown_code("window_code", spec.window_code))?;
        let person = queries::staff_by_no(conn, spec.staff_no)?
            .ok_or_else(|| AppError::unknown_code("staff_no", spec.staff_no))?;
        if !window.active {
            return Err(AppError::invalid("window_code", format!("window {:?} is no longer active", window.code)));
        }
        if !person.active {
            return Err(AppError::invalid("staff_no", format!("staff member {:?} is no longer active", person.staff_no)));
        }
        let mut item_ids = Vec::with_capacity(spec.service_item_codes.len());
        for code in spec.service_item_codes {
            let item = queries::service_item_by_code(conn, code)?
                .ok_or_else(|| AppError::unknown_code("service_item_codes", code))?;
            if !item_ids.contains(&item.id) {
                item_ids.push(item.id);
            }
        }
        let new = NewAssignment {
            window_id: window.id,
            staff_id: person.id,
            effective_from: clock::to_db(spec.effective_from),
            effective_to: spec.effective_to.map(clock::to_db),
            created_at: clock::to_db(now),
        };
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
            json!({"window_code": spec.window_code, "staff_no": spec.staff_no, "service_item_codes": spec.service_item_codes,
                   "effective_from": rfc3339_local(new.effective_from), "effective_to": new.effective_to.map(rfc3339_local)}),
            now,
        )?;
        Ok(AssignmentView {
            id,
            window_code: spec.window_code.to_owned(),
            staff_no: spec.staff_no.to_owned(),
            service_item_codes: spec.service_item_codes.to_vec(),
            effective_from: rfc3339_local(new.effective_from),
            effective_to: new.effective_to.map(rfc3339_local),
        })
    })
}

pub fn list_service_items(conn: &mut Conn, filter: &ListFilter) -> AppResult<Vec<ServiceItemView>> {
    let rows: Vec<(i64, String, String, String, bool)> = db_run!(conn, |c| {
        let mut q = service_items::table
            .inner_join(departments::table)
            .order(service_items::code.asc())
            .select((service_items::id, service_items::code, service_items::name, departments::code, service_items::active))
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
        .map(|(id, code, name, department_code, active)| ServiceItemView { id, code, name, department_code, active })
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
    pub name: Option<String>,
    pub department_code: Option<String>,
    pub active: Option<bool>,
}

pub fn update_service_item(conn: &mut Conn, actor: &str, code: &str, patch: &ServiceItemPatch, now: DateTime<Utc>) -> AppResult<ServiceItemView> {
    if let Some(name) = &patch.name {
        check_name("name", name, 200)?;
    }
    conn.transaction(|conn| {
        let item = queries::service_item_by_code(conn, code)?.ok_or_else(|| not_found("service item", code))?;
        let department = new_or_current_department(conn, patch.department_code.as_deref(), item.department_id)?;
        let name = patch.name.clone().unwrap_or(item.name);
        let active = patch.active.unwrap_or(item.active);
        db_run!(conn, |c| diesel::update(service_items::table.filter(service_items::id.eq(item.id)))
            .set((service_items::name.eq(&name), service_items::department_id.eq(department.id), service_items::active.eq(active)))
            .execute(c))?;
        audit_admin_change(conn, actor, "update_service_item", json!({"code": code, "changes": patch}), now)?;
        Ok(ServiceItemView { id: item.id, code: item.code, name, department_code: department.code, active })
    })
}

/// A `PATCH` of a window: name, hall, active.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowPatch {
    pub name: Option<String>,
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

/// Every 三对应 assignment, newest first, with its items.
pub fn list_assignments(conn: &mut Conn) -> AppResult<Vec<AssignmentView>> {
    let rows: Vec<(i64, String, String, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> = db_run!(conn, |c| assignments::table
        .inner_join(windows::table.on(windows::id.eq(assignments::window_id)))
        .inner_join(staff::table.on(staff::id.eq(assignments::staff_id)))
        .order(assignments::id.desc())
        .select((assignments::id, windows::code, staff::staff_no, assignments::effective_from, assignments::effective_to))
        .load(c))?;
    let items: Vec<(i64, String)> = db_run!(conn, |c| assignment_items::table
        .inner_join(service_items::table.on(service_items::id.eq(assignment_items::service_item_id)))
        .select((assignment_items::assignment_id, service_items::code))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, window_code, staff_no, from, to)| AssignmentView {
            id,
            window_code,
            staff_no,
            service_item_codes: items.iter().filter(|(a, _)| *a == id).map(|(_, code)| code.clone()).collect(),
            effective_from: rfc3339_local(from),
            effective_to: to.map(rfc3339_local),
        })
        .collect())
}
