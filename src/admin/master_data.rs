//! Master data kept by admins: departments, service items (事项), windows (窗口), staff and
//! the window–staff–item assignments (三对应). Every change is written to the audit chain.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::clock::{self, rfc3339_local};
use crate::db_run;
use crate::domain::intake_rules::{check_code, check_name, check_text};
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
}

pub fn create_department(conn: &mut Conn, actor: &str, code: &str, name: &str, parent_code: Option<&str>, email: Option<&str>, now: DateTime<Utc>) -> AppResult<DepartmentView> {
    check_code("code", code)?;
    check_name("name", name, 100)?;
    if let Some(e) = email {
        check_text("email", e, 254)?;
        if !e.contains('@') {
            return Err(AppError::invalid("email", "not an email address"));
        }
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
        Ok(DepartmentView { id: d.id, code: d.code, name: d.name, parent_code: parent_code.map(str::to_owned), email: d.email })
    })
}

pub fn list_departments(conn: &mut Conn) -> AppResult<Vec<DepartmentView>> {
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
        })
        .collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceItemView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_code: String,
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
        Ok(ServiceItemView { id, code: code.to_owned(), name: name.to_owned(), department_code: department_code.to_owned() })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub hall: String,
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
        Ok(WindowView { id, code: code.to_owned(), name: name.to_owned(), hall: hall.to_owned() })
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: i64,
    pub staff_no: String,
    pub name: String,
    pub department_code: String,
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
        Ok(StaffView { id, staff_no: staff_no.to_owned(), name: name.to_owned(), department_code: department_code.to_owned() })
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

pub fn list_service_items(conn: &mut Conn) -> AppResult<Vec<ServiceItemView>> {
    let rows: Vec<(i64, String, String, String)> = db_run!(conn, |c| service_items::table
        .inner_join(departments::table)
        .order(service_items::code.asc())
        .select((service_items::id, service_items::code, service_items::name, departments::code))
        .load(c))?;
    Ok(rows.into_iter().map(|(id, code, name, department_code)| ServiceItemView { id, code, name, department_code }).collect())
}

pub fn list_windows(conn: &mut Conn) -> AppResult<Vec<WindowView>> {
    let rows: Vec<(i64, String, String, String)> = db_run!(conn, |c| windows::table
        .order(windows::code.asc())
        .select((windows::id, windows::code, windows::name, windows::hall))
        .load(c))?;
    Ok(rows.into_iter().map(|(id, code, name, hall)| WindowView { id, code, name, hall }).collect())
}

pub fn list_staff(conn: &mut Conn) -> AppResult<Vec<StaffView>> {
    let rows: Vec<(i64, String, String, String)> = db_run!(conn, |c| staff::table
        .inner_join(departments::table)
        .order(staff::staff_no.asc())
        .select((staff::id, staff::staff_no, staff::name, departments::code))
        .load(c))?;
    Ok(rows.into_iter().map(|(id, staff_no, name, department_code)| StaffView { id, staff_no, name, department_code }).collect())
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
