//! Lookups shared by several use cases. Each returns `Ok(None)` for "not there" so that the
//! caller decides whether that is a 404 or a 422.

use super::models::*;
use super::schema::*;
use super::Conn;
use crate::db_run;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn department_by_code(conn: &mut Conn, code: &str) -> QueryResult<Option<Department>> {
    db_run!(conn, |c| departments::table
        .filter(departments::code.eq(code))
        .select(Department::as_select())
        .first(c)
        .optional())
}

pub fn department_by_id(conn: &mut Conn, id: i64) -> QueryResult<Option<Department>> {
    db_run!(conn, |c| departments::table
        .find(id)
        .select(Department::as_select())
        .first(c)
        .optional())
}

pub fn service_item_by_code(conn: &mut Conn, code: &str) -> QueryResult<Option<ServiceItem>> {
    db_run!(conn, |c| service_items::table
        .filter(service_items::code.eq(code))
        .select(ServiceItem::as_select())
        .first(c)
        .optional())
}

pub fn window_by_code(conn: &mut Conn, code: &str) -> QueryResult<Option<Window>> {
    db_run!(conn, |c| windows::table
        .filter(windows::code.eq(code))
        .select(Window::as_select())
        .first(c)
        .optional())
}

pub fn staff_by_no(conn: &mut Conn, staff_no: &str) -> QueryResult<Option<Staff>> {
    db_run!(conn, |c| staff::table
        .filter(staff::staff_no.eq(staff_no))
        .select(Staff::as_select())
        .first(c)
        .optional())
}

pub fn transaction_by_no(conn: &mut Conn, no: &str) -> QueryResult<Option<Transaction>> {
    db_run!(conn, |c| transactions::table
        .filter(transactions::transaction_no.eq(no))
        .select(Transaction::as_select())
        .first(c)
        .optional())
}

pub fn review_of_transaction(conn: &mut Conn, transaction_id: i64) -> QueryResult<Option<Review>> {
    db_run!(conn, |c| reviews::table
        .filter(reviews::transaction_id.eq(transaction_id))
        .select(Review::as_select())
        .first(c)
        .optional())
}

pub fn case_by_id(conn: &mut Conn, id: i64) -> QueryResult<Option<Case>> {
    db_run!(conn, |c| cases::table.find(id).select(Case::as_select()).first(c).optional())
}

pub fn case_of_review(conn: &mut Conn, review_id: i64) -> QueryResult<Option<Case>> {
    db_run!(conn, |c| cases::table
        .filter(cases::review_id.eq(review_id))
        .select(Case::as_select())
        .first(c)
        .optional())
}

/// 三对应: the assignment of `window_id` or `staff_id` covering `item_id` at `at`, newest first.
pub fn assignment_at(
    conn: &mut Conn,
    window_id: Option<i64>,
    staff_id: Option<i64>,
    item_id: i64,
    at: NaiveDateTime,
) -> QueryResult<Option<(i64, i64)>> {
    db_run!(conn, |c| {
        let mut query = assignments::table
            .inner_join(assignment_items::table)
            .filter(assignment_items::service_item_id.eq(item_id))
            .filter(assignments::effective_from.le(at))
            .filter(assignments::effective_to.is_null().or(assignments::effective_to.gt(at)))
            .select((assignments::window_id, assignments::staff_id))
            .order(assignments::effective_from.desc())
            .into_boxed();
        if let Some(w) = window_id {
            query = query.filter(assignments::window_id.eq(w));
        }
        if let Some(s) = staff_id {
            query = query.filter(assignments::staff_id.eq(s));
        }
        query.first(c).optional()
    })
}

pub fn setting(conn: &mut Conn, key: &str) -> QueryResult<Option<String>> {
    db_run!(conn, |c| settings::table
        .filter(settings::key.eq(key))
        .select(settings::value)
        .first(c)
        .optional())
}

/// Inserts the setting unless it exists, and returns the stored value (first writer wins, so
/// several instances starting together agree).
pub fn setting_or_insert(conn: &mut Conn, key: &str, value: &str) -> QueryResult<String> {
    db_run!(conn, |c| diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(value)))
        .on_conflict_do_nothing()
        .execute(c))?;
    setting(conn, key).map(|v| v.unwrap_or_else(|| value.to_owned()))
}

/// Stores the setting, replacing what was there.
pub fn put_setting(conn: &mut Conn, key: &str, value: &str) -> QueryResult<()> {
    db_run!(conn, |c| diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(value)))
        .on_conflict(settings::key)
        .do_update()
        .set(settings::value.eq(value))
        .execute(c))?;
    Ok(())
}

pub fn delete_setting(conn: &mut Conn, key: &str) -> QueryResult<()> {
    db_run!(conn, |c| diesel::delete(settings::table.filter(settings::key.eq(key))).execute(c))?;
    Ok(())
}

/// A rating's record for the provincial feed changed (its case moved): the feed sends it again.
pub fn note_exchange_change(conn: &mut Conn, review_id: i64, at: chrono::NaiveDateTime) -> QueryResult<()> {
    use crate::storage::schema::exchange_changes;
    db_run!(conn, |c| diesel::insert_into(exchange_changes::table)
        .values((exchange_changes::review_id.eq(review_id), exchange_changes::at.eq(at)))
        .execute(c))?;
    Ok(())
}
