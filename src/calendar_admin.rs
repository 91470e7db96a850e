//! Reading and replacing one year of the working-day calendar (admin).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db_run;
use crate::domain::calendar::YearCalendar;
use crate::error::AppResult;
use crate::storage::schema::{calendar_days, calendar_years};
use crate::storage::Conn;

const CALENDAR_LOCK: i64 = 724_102;

pub fn load_year(conn: &mut Conn, year: i32) -> AppResult<YearCalendar> {
    let (Some(first), Some(last)) = (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31))
    else {
        return Err(crate::error::AppError::invalid("year", "out of range"));
    };
    let days: Vec<(NaiveDate, String)> = db_run!(conn, |c| calendar_days::table
        .filter(calendar_days::day.between(first, last))
        .order(calendar_days::day.asc())
        .select((calendar_days::day, calendar_days::kind))
        .load(c))?;
    let (workdays, holidays): (Vec<_>, Vec<_>) = days.into_iter().partition(|(_, kind)| kind == "workday");
    Ok(YearCalendar {
        year,
        holidays: holidays.into_iter().map(|(d, _)| d).collect(),
        workdays: workdays.into_iter().map(|(d, _)| d).collect(),
    })
}

/// Replaces the year's days inside the caller's transaction.
pub fn store_year(conn: &mut Conn, year: &YearCalendar, by: &str, now: NaiveDateTime) -> AppResult<()> {
    conn.lock_for_chain(CALENDAR_LOCK)?;
    let rows: Vec<_> = year
        .holidays
        .iter()
        .map(|d| (calendar_days::day.eq(*d), calendar_days::kind.eq("holiday")))
        .chain(year.workdays.iter().map(|d| (calendar_days::day.eq(*d), calendar_days::kind.eq("workday"))))
        .collect();
    let (Some(first), Some(last)) =
        (NaiveDate::from_ymd_opt(year.year, 1, 1), NaiveDate::from_ymd_opt(year.year, 12, 31))
    else {
        return Err(crate::error::AppError::invalid("year", "out of range"));
    };
    db_run!(conn, |c| {
        diesel::delete(calendar_days::table.filter(calendar_days::day.between(first, last))).execute(c)?;
        if !rows.is_empty() {
            diesel::insert_into(calendar_days::table).values(&rows).execute(c)?;
        }
        diesel::delete(calendar_years::table.filter(calendar_years::year.eq(year.year))).execute(c)?;
        diesel::insert_into(calendar_years::table)
            .values((
                calendar_years::year.eq(year.year),
                calendar_years::updated_at.eq(now),
                calendar_years::updated_by.eq(by),
            ))
            .execute(c)?;
        QueryResult::Ok(())
    })?;
    Ok(())
}
