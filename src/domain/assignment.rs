//! 三对应 (window–staff–item) assignments over time: each holds on `[from, to)`, an absent end
//! meaning "until further notice", so one may start exactly when the previous one ends.

use chrono::NaiveDateTime;

/// Whether two periods `[from, to)` share a moment.
pub fn periods_overlap(a: (NaiveDateTime, Option<NaiveDateTime>), b: (NaiveDateTime, Option<NaiveDateTime>)) -> bool {
    let starts_before_end = |start: NaiveDateTime, end: Option<NaiveDateTime>| end.is_none_or(|e| start < e);
    starts_before_end(a.0, b.1) && starts_before_end(b.0, a.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, d).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date")
    }

    #[test]
    fn back_to_back_periods_do_not_overlap_and_open_ends_reach_everything_later() {
        assert!(!periods_overlap((day(1), Some(day(10))), (day(10), None)));
        assert!(!periods_overlap((day(10), None), (day(1), Some(day(10)))));
        assert!(periods_overlap((day(1), Some(day(11))), (day(10), None)));
        assert!(periods_overlap((day(1), None), (day(20), Some(day(21)))));
        assert!(periods_overlap((day(5), Some(day(6))), (day(1), Some(day(10)))));
        assert!(!periods_overlap((day(1), Some(day(2))), (day(3), Some(day(4)))));
        assert!(periods_overlap((day(1), None), (day(2), None)));
    }
}
