//! The working-day calendar (工作日) of Asia/Shanghai: weekends off, statutory holidays off,
//! 调休 make-up days on. The calendar is data; the official years ship here and are seeded into
//! the database, where admins may edit them one year at a time.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Shanghai;
use std::collections::BTreeSet;

/// One year as published by the State Council: weekday dates off and weekend dates worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearCalendar {
    pub year: i32,
    pub holidays: Vec<NaiveDate>,
    pub workdays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{0} is not in year {1}")]
    WrongYear(NaiveDate, i32),
    #[error("{0} is a weekend day; holidays list only weekdays that are off")]
    HolidayOnWeekend(NaiveDate),
    #[error("{0} is a weekday; workdays list only weekend days that are worked (调休)")]
    WorkdayOnWeekday(NaiveDate),
    #[error("{0} is listed twice")]
    Duplicate(NaiveDate),
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl YearCalendar {
    /// Checks the shape the API promises: holidays are weekdays, workdays are weekend days,
    /// all in the year, none twice. Sorted on the way out.
    pub fn validated(mut self) -> Result<Self, CalendarError> {
        let mut seen = BTreeSet::new();
        for &d in self.holidays.iter().chain(self.workdays.iter()) {
            if d.year() != self.year {
                return Err(CalendarError::WrongYear(d, self.year));
            }
            if !seen.insert(d) {
                return Err(CalendarError::Duplicate(d));
            }
        }
        if let Some(&d) = self.holidays.iter().find(|d| is_weekend(**d)) {
            return Err(CalendarError::HolidayOnWeekend(d));
        }
        if let Some(&d) = self.workdays.iter().find(|d| !is_weekend(**d)) {
            return Err(CalendarError::WorkdayOnWeekday(d));
        }
        self.holidays.sort();
        self.workdays.sort();
        Ok(self)
    }
}

fn dates(year: i32, days: &[(u32, u32)]) -> Vec<NaiveDate> {
    days.iter().filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d)).collect()
}

/// The official calendars this release ships (国办发明电〔2024〕12号 for 2025,
/// 国办发明电〔2025〕7号 for 2026), checked against the `chinesecalendar` package's data.
pub fn official_years() -> Vec<YearCalendar> {
    vec![
        YearCalendar {
            year: 2025,
            holidays: dates(
                2025,
                &[
                    (1, 1),                                                     // 元旦
                    (1, 28), (1, 29), (1, 30), (1, 31), (2, 3), (2, 4),         // 春节
                    (4, 4),                                                     // 清明
                    (5, 1), (5, 2), (5, 5),                                     // 劳动节
                    (6, 2),                                                     // 端午
                    (10, 1), (10, 2), (10, 3), (10, 6), (10, 7), (10, 8),       // 国庆、中秋
                ],
            ),
            workdays: dates(2025, &[(1, 26), (2, 8), (4, 27), (9, 28), (10, 11)]),
        },
        YearCalendar {
            year: 2026,
            holidays: dates(
                2026,
                &[
                    (1, 1), (1, 2),                                             // 元旦
                    (2, 16), (2, 17), (2, 18), (2, 19), (2, 20), (2, 23),       // 春节
                    (4, 6),                                                     // 清明
                    (5, 1), (5, 4), (5, 5),                                     // 劳动节
                    (6, 19),                                                    // 端午
                    (9, 25),                                                    // 中秋
                    (10, 1), (10, 2), (10, 5), (10, 6), (10, 7),                // 国庆
                ],
            ),
            workdays: dates(2026, &[(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)]),
        },
    ]
}

/// Whether a year's calendar is the State Council's notice or generated until it is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearStatus {
    Official,
    Provisional,
}

impl YearStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            YearStatus::Official => "official",
            YearStatus::Provisional => "provisional",
        }
    }

    pub fn parse(text: &str) -> Option<YearStatus> {
        [YearStatus::Official, YearStatus::Provisional].into_iter().find(|s| s.as_str() == text)
    }
}

/// A provisional year from the statutory holidays of 《全国年节及纪念日放假办法》 as revised in
/// 2024: 元旦 1 day, 春节 4 days from 除夕, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3. A holiday
/// that falls on a weekend, or on another holiday, is made up on the next weekday that is not
/// one already. No 调休 working weekends: those only the notice can say.
pub fn provisional_year(year: i32) -> YearCalendar {
    let mut statutory: Vec<NaiveDate> = dates(year, &[(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)]);
    if let Some(spring) = lunar_date(year, 1, 1) {
        // 除夕 is the day before 正月初一, whether the twelfth month had 29 days or 30.
        statutory.extend((0..4).filter_map(|k| spring.checked_sub_days(Days::new(1))?.checked_add_days(Days::new(k))));
    }
    statutory.extend(lunar_date(year, 5, 5)); // 端午
    statutory.extend(lunar_date(year, 8, 15)); // 中秋
    statutory.extend(qingming(year));
    statutory.sort();
    let mut holidays: BTreeSet<NaiveDate> = BTreeSet::new();
    for (k, &day) in statutory.iter().enumerate() {
        if !is_weekend(day) && holidays.insert(day) {
            continue;
        }
        // The next weekday that is neither off already nor a statutory day still to come.
        let mut make_up = day;
        loop {
            make_up = make_up + Days::new(1);
            if !is_weekend(make_up) && !holidays.contains(&make_up) && !statutory[k + 1..].contains(&make_up) {
                break;
            }
        }
        holidays.insert(make_up);
    }
    YearCalendar { year, holidays: holidays.into_iter().filter(|d| d.year() == year).collect(), workdays: vec![] }
}

/// The Gregorian date of a (non-leap) lunar month and day of lunar year `year`.
fn lunar_date(year: i32, month: i32, day: usize) -> Option<NaiveDate> {
    let solar = tyme4rs::tyme::lunar::LunarDay::new(year as isize, month as isize, day).ok()?.get_solar_day();
    NaiveDate::from_ymd_opt(solar.get_year() as i32, solar.get_month() as u32, solar.get_day() as u32)
}

/// The day of the 清明 solar term (the sun at 15° ecliptic longitude, Beijing time).
fn qingming(year: i32) -> Option<NaiveDate> {
    let solar = tyme4rs::tyme::solar::SolarTerm::new(year as isize, "清明").ok()?.get_solar_day();
    NaiveDate::from_ymd_opt(solar.get_year() as i32, solar.get_month() as u32, solar.get_day() as u32)
}

/// The years whose calendar the office should confirm now: this year while it is not official,
/// and from 1 November next year while it is not (the notice usually comes out in November).
pub fn unconfirmed_years(cal: &WorkCalendar, today: NaiveDate) -> Vec<i32> {
    let this = today.year();
    let mut years = Vec::new();
    if cal.status_of(this) != Some(YearStatus::Official) {
        years.push(this);
    }
    if today.month() >= 11 && cal.status_of(this + 1) != Some(YearStatus::Official) {
        years.push(this + 1);
    }
    years
}

/// The calendar as deadline arithmetic sees it. Years without data follow the weekend rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    provisional: BTreeSet<i32>,
}

impl WorkCalendar {
    pub fn from_years<'a>(years: impl IntoIterator<Item = &'a YearCalendar>) -> Self {
        let mut cal = WorkCalendar::default();
        for y in years {
            cal.holidays.extend(y.holidays.iter().copied());
            cal.workdays.extend(y.workdays.iter().copied());
        }
        cal
    }

    /// Marks the years whose days are provisional.
    pub fn with_provisional(mut self, years: impl IntoIterator<Item = i32>) -> Self {
        self.provisional.extend(years);
        self
    }

    /// Whether `year` is official: entered from the notice. A year without data is not.
    pub fn status_of(&self, year: i32) -> Option<YearStatus> {
        if self.provisional.contains(&year) {
            Some(YearStatus::Provisional)
        } else if self.holidays.iter().chain(&self.workdays).any(|d| d.year() == year) {
            Some(YearStatus::Official)
        } else {
            None
        }
    }

    /// Whether a deadline on `day` was counted on a calendar that may still change.
    pub fn is_provisional(&self, day: NaiveDate) -> bool {
        self.status_of(day.year()) != Some(YearStatus::Official)
    }

    pub fn official() -> Self {
        WorkCalendar::from_years(&official_years())
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            true
        } else if self.holidays.contains(&d) {
            false
        } else {
            !is_weekend(d)
        }
    }

    /// The `n`th working day strictly after `d` (`n = 0` gives `d` itself).
    pub fn nth_working_day_after(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day + Days::new(1);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// Working days in `(from, to]`; zero when `to <= from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day + Days::new(1);
            if self.is_working_day(day) {
                count += 1;
            }
        }
        count
    }

    /// A deadline of `n` working days from `t`: 23:59:59 (Asia/Shanghai) of the `n`th working
    /// day after `t`'s local date.
    pub fn deadline(&self, t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let day = self.nth_working_day_after(local_date(t), n);
        end_of_local_day(day)
    }
}

pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Shanghai).date_naive()
}

/// 00:00:00 of a Beijing day, as an instant.
pub fn start_of_local_day(day: NaiveDate) -> DateTime<Utc> {
    // Shanghai has had no DST since 1991, so local midnight is never ambiguous or skipped.
    Shanghai
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)))
}

pub fn end_of_local_day(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
    // Shanghai has had no DST since 1991, so the local time is never ambiguous or skipped.
    Shanghai
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn shanghai(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(y, m, day, h, min, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn official_years_have_the_published_shape() {
        for y in official_years() {
            let year = y.year;
            assert!(y.clone().validated().is_ok(), "{year} is malformed");
        }
    }

    #[test]
    fn spring_festival_2026_is_skipped_and_make_up_saturdays_count() {
        let cal = WorkCalendar::official();
        // Fri 13 Feb 2026, one working day: Sat 14 Feb is a 调休 working day.
        assert_eq!(cal.nth_working_day_after(d(2026, 2, 13), 1), d(2026, 2, 14));
        // From Sat 14 Feb: 15–23 Feb off, so the next working day is Tue 24 Feb.
        assert_eq!(cal.nth_working_day_after(d(2026, 2, 14), 1), d(2026, 2, 24));
        // Five working days from 13 Feb: 14, 24, 25, 26, 27 Feb.
        assert_eq!(cal.nth_working_day_after(d(2026, 2, 13), 5), d(2026, 2, 27));
        // Sat 28 Feb is worked too.
        assert_eq!(cal.nth_working_day_after(d(2026, 2, 27), 1), d(2026, 2, 28));
    }

    #[test]
    fn national_day_2025_is_skipped_and_make_up_days_count() {
        let cal = WorkCalendar::official();
        assert!(cal.is_working_day(d(2025, 9, 28)), "Sunday 28 Sep 2025 is worked");
        assert!(!cal.is_working_day(d(2025, 10, 8)));
        assert!(cal.is_working_day(d(2025, 10, 11)), "Saturday 11 Oct 2025 is worked");
        // Tue 30 Sep + 1 working day jumps the whole holiday to Thu 9 Oct.
        assert_eq!(cal.nth_working_day_after(d(2025, 9, 30), 1), d(2025, 10, 9));
        // Five working days from 30 Sep: 9, 10, 11 (Sat, worked), 13, 14 Oct.
        assert_eq!(cal.nth_working_day_after(d(2025, 9, 30), 5), d(2025, 10, 14));
    }

    #[test]
    fn national_day_2026() {
        let cal = WorkCalendar::official();
        assert!(cal.is_working_day(d(2026, 9, 20)));
        assert_eq!(cal.nth_working_day_after(d(2026, 9, 30), 1), d(2026, 10, 8));
        assert_eq!(cal.nth_working_day_after(d(2026, 10, 9), 1), d(2026, 10, 10));
    }

    #[test]
    fn deadline_ends_at_local_midnight_of_the_nth_working_day() {
        let cal = WorkCalendar::official();
        // Opened Monday 23:30 Shanghai (15:30 UTC): the local date counts, not the UTC one.
        let opened = shanghai(2026, 11, 23, 23, 30);
        let due = cal.deadline(opened, 1);
        assert_eq!(due, shanghai(2026, 11, 24, 23, 59) + chrono::Duration::seconds(59));
        // Opened 00:30 local on Tuesday = Monday 16:30 UTC: still counts from Tuesday.
        let opened = shanghai(2026, 11, 24, 0, 30);
        assert_eq!(local_date(opened), d(2026, 11, 24));
        assert_eq!(local_date(cal.deadline(opened, 1)), d(2026, 11, 25));
    }

    #[test]
    fn years_without_data_follow_weekends() {
        let cal = WorkCalendar::official();
        // Fri 1 Jan 2027 has no data yet: a plain Friday.
        assert!(cal.is_working_day(d(2027, 1, 1)));
        assert_eq!(cal.nth_working_day_after(d(2027, 1, 1), 1), d(2027, 1, 4));
    }

    #[test]
    fn working_days_between_counts_the_half_open_interval() {
        let cal = WorkCalendar::official();
        assert_eq!(cal.working_days_between(d(2026, 11, 20), d(2026, 11, 23)), 1);
        assert_eq!(cal.working_days_between(d(2026, 11, 23), d(2026, 11, 23)), 0);
        assert_eq!(cal.working_days_between(d(2026, 11, 24), d(2026, 11, 23)), 0);
    }

    /// The lunar and solar-term dates 2025–2030 as the almanacs publish them; for 2025 and 2026
    /// every provisional holiday is also a holiday of the State Council's notice.
    #[test]
    fn provisional_years_follow_the_lunar_dates_and_clear_weekends() {
        let known = [
            (2025, d(2025, 1, 29), d(2025, 4, 4), d(2025, 5, 31), d(2025, 10, 6)),
            (2026, d(2026, 2, 17), d(2026, 4, 5), d(2026, 6, 19), d(2026, 9, 25)),
            (2027, d(2027, 2, 6), d(2027, 4, 5), d(2027, 6, 9), d(2027, 9, 15)),
            (2028, d(2028, 1, 26), d(2028, 4, 4), d(2028, 5, 28), d(2028, 10, 3)),
            (2029, d(2029, 2, 13), d(2029, 4, 4), d(2029, 6, 16), d(2029, 9, 22)),
            (2030, d(2030, 2, 3), d(2030, 4, 5), d(2030, 6, 5), d(2030, 9, 12)),
        ];
        for (year, spring, qing, duanwu, midautumn) in known {
            assert_eq!(lunar_date(year, 1, 1), Some(spring), "春节 {year}");
            assert_eq!(qingming(year), Some(qing), "清明 {year}");
            assert_eq!(lunar_date(year, 5, 5), Some(duanwu), "端午 {year}");
            assert_eq!(lunar_date(year, 8, 15), Some(midautumn), "中秋 {year}");
            let cal = provisional_year(year);
            assert!(cal.clone().validated().is_ok(), "{year}: holidays are weekdays of the year");
            // 13 statutory days, each a weekday off of its own.
            assert_eq!(cal.holidays.len(), 13, "{year}: {:?}", cal.holidays);
        }
        for official in official_years() {
            let provisional = provisional_year(official.year);
            let missing: Vec<_> = provisional.holidays.iter().filter(|d| !official.holidays.contains(d)).collect();
            assert!(missing.is_empty(), "{}: provisional days the notice does not give off: {missing:?}", official.year);
        }
        // 2027: 除夕 Fri 5 Feb, 春节 Sat 6 – Mon 8: the weekend days move to Tue 9 and Wed 10.
        let y2027 = provisional_year(2027);
        for day in [d(2027, 2, 5), d(2027, 2, 8), d(2027, 2, 9), d(2027, 2, 10)] {
            assert!(y2027.holidays.contains(&day), "{day}: {:?}", y2027.holidays);
        }
        // 元旦 2027 is a Friday; 清明 Mon 5 Apr; 国庆 Fri 1 Oct – Sun 3: Mon 4 and Tue 5 instead.
        for day in [d(2027, 1, 1), d(2027, 4, 5), d(2027, 10, 1), d(2027, 10, 4), d(2027, 10, 5)] {
            assert!(y2027.holidays.contains(&day), "{day}");
        }
        // 2028: 中秋 falls on 国庆's third day; both are kept, so one more weekday is off.
        let y2028 = provisional_year(2028);
        assert!(y2028.holidays.contains(&d(2028, 10, 3)) && y2028.holidays.contains(&d(2028, 10, 4)) && y2028.holidays.contains(&d(2028, 10, 5)));
        let cal = WorkCalendar::from_years(&[y2027]).with_provisional([2027]);
        assert!(!cal.is_working_day(d(2027, 2, 10)));
        assert_eq!(cal.status_of(2027), Some(YearStatus::Provisional));
        assert!(cal.is_provisional(d(2027, 3, 1)) && cal.is_provisional(d(2031, 1, 2)));
        assert_eq!(WorkCalendar::official().status_of(2026), Some(YearStatus::Official));
        // From 1 November the office is told next year is not confirmed yet.
        let official = WorkCalendar::official();
        assert_eq!(unconfirmed_years(&official, d(2026, 10, 31)), Vec::<i32>::new());
        assert_eq!(unconfirmed_years(&official, d(2026, 11, 1)), vec![2027]);
        assert_eq!(unconfirmed_years(&cal, d(2027, 3, 1)), vec![2027]);
    }

    #[test]
    fn validation_rejects_misfiled_days() {
        let bad = YearCalendar { year: 2026, holidays: vec![d(2026, 2, 15)], workdays: vec![] };
        assert_eq!(bad.validated(), Err(CalendarError::HolidayOnWeekend(d(2026, 2, 15))));
        let bad = YearCalendar { year: 2026, holidays: vec![], workdays: vec![d(2026, 2, 16)] };
        assert_eq!(bad.validated(), Err(CalendarError::WorkdayOnWeekday(d(2026, 2, 16))));
        let bad = YearCalendar { year: 2026, holidays: vec![d(2025, 2, 17)], workdays: vec![] };
        assert!(matches!(bad.validated(), Err(CalendarError::WrongYear(..))));
    }
}
