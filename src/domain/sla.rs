//! Deadlines per stage (SPEC §3) and the alert levels derived from them.

use super::calendar::{local_date, start_of_local_day, WorkCalendar};
use super::case_flow::CaseState;
use super::intake_rules::string_enum;
use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

/// Working days allowed per stage; admin-editable per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    #[schema(minimum = 1, maximum = 120)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub feedback_days: u32,
    #[schema(minimum = 1, maximum = 120)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub reply_days: u32,
    #[schema(minimum = 1, maximum = 120)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub extended_reply_days: u32,
    #[schema(minimum = 1, maximum = 120)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub supervision_days: u32,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy { feedback_days: 1, reply_days: 5, extended_reply_days: 15, supervision_days: 3 }
    }
}

impl SlaPolicy {
    pub fn validate(&self) -> Result<(), String> {
        let all = [self.feedback_days, self.reply_days, self.extended_reply_days, self.supervision_days];
        if all.iter().any(|d| !(1..=120).contains(d)) {
            return Err("every period must be 1 to 120 working days".into());
        }
        if self.feedback_days > self.reply_days || self.reply_days > self.extended_reply_days {
            return Err("feedback ≤ reply ≤ extended reply is required".into());
        }
        Ok(())
    }
}

/// The stage whose clock is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Feedback,
    Reply,
    Supervision,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Feedback => "feedback",
            Stage::Reply => "reply",
            Stage::Supervision => "supervision",
        }
    }

    pub fn of(state: CaseState) -> Option<Stage> {
        match state {
            CaseState::Feedback => Some(Stage::Feedback),
            CaseState::Rectification | CaseState::Reply => Some(Stage::Reply),
            CaseState::Supervision => Some(Stage::Supervision),
            // An appeal waits on the supervisor's decision; a closed case has no clock.
            CaseState::Appeal | CaseState::Closed => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub feedback: DateTime<Utc>,
    pub reply: DateTime<Utc>,
    pub supervision: Option<DateTime<Utc>>,
}

impl Deadlines {
    /// `cycle_start` is when the department's clock started: the opening, or the latest
    /// reassignment or reopening.
    pub fn compute(
        cycle_start: DateTime<Utc>,
        replied_at: Option<DateTime<Utc>>,
        extension_granted: bool,
        policy: &SlaPolicy,
        calendar: &WorkCalendar,
    ) -> Self {
        let reply_days = if extension_granted { policy.extended_reply_days } else { policy.reply_days };
        Deadlines {
            feedback: calendar.deadline(cycle_start, policy.feedback_days),
            reply: calendar.deadline(cycle_start, reply_days),
            supervision: replied_at.map(|r| calendar.deadline(r, policy.supervision_days)),
        }
    }

    /// A work order's own 承诺时限 replaces the policy's reply deadline (with an extension
    /// granted, the later of the two), and verification is never due after the reply.
    pub fn with_committed_reply(mut self, committed: Option<DateTime<Utc>>, extension_granted: bool) -> Self {
        if let Some(committed) = committed {
            self.reply = if extension_granted { self.reply.max(committed) } else { committed };
            self.feedback = self.feedback.min(self.reply);
        }
        self
    }

    pub fn for_stage(&self, stage: Stage) -> Option<DateTime<Utc>> {
        match stage {
            Stage::Feedback => Some(self.feedback),
            Stage::Reply => Some(self.reply),
            Stage::Supervision => self.supervision,
        }
    }
}

string_enum! {
    /// The alert a running deadline raises, in rising order.
    AlertLevel {
        /// 黄灯: at most one working day left.
        DueSoon = "due_soon",
        /// 红灯: past the deadline.
        Overdue = "overdue",
        /// 督办: more than [`ESCALATION_WORKING_DAYS`] working days past it, raised to supervisors.
        Escalated = "escalated",
    }
}

/// `cases.alerted_level` of a case whose current deadline has raised nothing yet; otherwise
/// the [`AlertLevel::rank`] of the highest alert it raised.
pub const NOT_ALERTED: i32 = 0;

impl AlertLevel {
    /// The level's place in `cases.alerted_level`: 1 黄灯, 2 红灯, 3 督办.
    pub const fn rank(self) -> i32 {
        match self {
            AlertLevel::DueSoon => 1,
            AlertLevel::Overdue => 2,
            AlertLevel::Escalated => 3,
        }
    }
}

/// Overdue by more than this many working days escalates (督办) to supervisors.
pub const ESCALATION_WORKING_DAYS: u32 = 3;

pub fn alert_level(now: DateTime<Utc>, due: DateTime<Utc>, calendar: &WorkCalendar) -> Option<AlertLevel> {
    if now > due {
        Some(AlertLevel::Overdue)
    } else if calendar.working_days_between(local_date(now), local_date(due)) <= 1 {
        Some(AlertLevel::DueSoon)
    } else {
        None
    }
}

/// Due times that are 黄灯 at `now` lie in `[now, due_soon_before(now))`: due before the second
/// working day after today (a due date on the rest days after the next working day counts as
/// that day). The scanner's range query; agrees with [`alert_level`].
pub fn due_soon_before(now: DateTime<Utc>, calendar: &WorkCalendar) -> DateTime<Utc> {
    start_of_local_day(calendar.nth_working_day_after(local_date(now), 2))
}

/// A stage due before the returned instant is, at `now`, more than
/// [`ESCALATION_WORKING_DAYS`] working days overdue (agrees with [`overdue_days`]): its due date
/// lies before the fourth most recent working day up to today.
pub fn escalation_due_before(now: DateTime<Utc>, calendar: &WorkCalendar) -> DateTime<Utc> {
    let mut day = local_date(now);
    let mut working_days_seen = 0;
    // A calendar without working days for a whole year escalates nothing.
    for _ in 0..366 {
        if calendar.is_working_day(day) {
            working_days_seen += 1;
            if working_days_seen > ESCALATION_WORKING_DAYS {
                return start_of_local_day(day);
            }
        }
        day = day - Days::new(1);
    }
    DateTime::UNIX_EPOCH
}

/// 超期天数: working days after the due date up to today, zero when not overdue.
pub fn overdue_days(now: DateTime<Utc>, due: DateTime<Utc>, calendar: &WorkCalendar) -> u32 {
    if now <= due {
        0
    } else {
        calendar.working_days_between(local_date(due), local_date(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn default_policy_is_one_five_fifteen_three() {
        let cal = WorkCalendar::official();
        let opened = at(2026, 11, 23, 10); // Monday
        let d = Deadlines::compute(opened, None, false, &SlaPolicy::default(), &cal);
        assert_eq!(local_date(d.feedback).to_string(), "2026-11-24");
        assert_eq!(local_date(d.reply).to_string(), "2026-11-30");
        let ext = Deadlines::compute(opened, None, true, &SlaPolicy::default(), &cal);
        assert_eq!(local_date(ext.reply).to_string(), "2026-12-14");
        let replied = Deadlines::compute(opened, Some(at(2026, 11, 27, 9)), false, &SlaPolicy::default(), &cal);
        assert_eq!(replied.supervision.map(|s| local_date(s).to_string()), Some("2026-12-02".into()));
    }

    #[test]
    fn a_work_orders_promise_replaces_the_reply_deadline() {
        let cal = WorkCalendar::official();
        let opened = at(2026, 11, 23, 10);
        let policy = Deadlines::compute(opened, None, false, &SlaPolicy::default(), &cal);
        let promised = cal.deadline(opened, 2);
        let d = policy.with_committed_reply(Some(promised), false);
        assert_eq!((local_date(d.reply).to_string(), local_date(d.feedback).to_string()), ("2026-11-25".into(), "2026-11-24".into()));
        // Promised by the end of today: verification cannot be due after it.
        let same_day = policy.with_committed_reply(Some(cal.deadline(opened, 0)), false);
        assert_eq!(same_day.feedback, same_day.reply);
        // An extension granted by the policy outlasts a short promise.
        let extended = Deadlines::compute(opened, None, true, &SlaPolicy::default(), &cal);
        assert_eq!(extended.with_committed_reply(Some(promised), true).reply, extended.reply);
        assert_eq!(policy.with_committed_reply(None, false), policy);
    }

    #[test]
    fn alerts_turn_yellow_then_red_then_count_working_days() {
        let cal = WorkCalendar::official();
        let due = cal.deadline(at(2026, 11, 23, 10), 5); // Mon 30 Nov 23:59:59
        assert_eq!(alert_level(at(2026, 11, 26, 9), due, &cal), None);
        assert_eq!(alert_level(at(2026, 11, 27, 9), due, &cal), Some(AlertLevel::DueSoon));
        assert_eq!(alert_level(at(2026, 11, 30, 23), due, &cal), Some(AlertLevel::DueSoon));
        assert_eq!(alert_level(at(2026, 12, 1, 0), due, &cal), Some(AlertLevel::Overdue));
        assert_eq!(overdue_days(at(2026, 12, 1, 9), due, &cal), 1);
        assert_eq!(overdue_days(at(2026, 12, 4, 9), due, &cal), 4);
        assert_eq!(overdue_days(at(2026, 12, 6, 9), due, &cal), 4, "the weekend does not count");
    }

    #[test]
    fn due_soon_reaches_over_the_rest_days_after_the_next_working_day() {
        let cal = WorkCalendar::official();
        // Friday 13 Feb 2026: Saturday the 14th is a make-up working day, then the Spring
        // Festival holiday; a stage due on the holiday's first day is one working day away.
        let now = at(2026, 2, 13, 0);
        let due = at(2026, 2, 15, 0);
        assert_eq!(alert_level(now, due, &cal), Some(AlertLevel::DueSoon));
        assert!(due < due_soon_before(now, &cal));
        assert_eq!(local_date(due_soon_before(now, &cal)).to_string(), "2026-02-24");
    }

    proptest::proptest! {
        // Holidays and make-up days are a few dozen days of the two years: enough cases to land
        // on and around them.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// The scanner's range bounds pick exactly the cases the per-case rules would.
        #[test]
        fn scan_bounds_agree_with_the_per_case_rules(now_s in 1_767_225_600i64..1_830_297_600, due_offset_s in -40 * 86_400i64..40 * 86_400) {
            let cal = WorkCalendar::official();
            let now = DateTime::from_timestamp(now_s, 0).unwrap();
            let due = now + chrono::Duration::seconds(due_offset_s);
            let due_soon = alert_level(now, due, &cal) == Some(AlertLevel::DueSoon);
            proptest::prop_assert_eq!(due_soon, due >= now && due < due_soon_before(now, &cal));
            let escalated = overdue_days(now, due, &cal) > ESCALATION_WORKING_DAYS;
            proptest::prop_assert_eq!(escalated, due < now && due < escalation_due_before(now, &cal));
        }
    }

    #[test]
    fn policy_validation() {
        assert!(SlaPolicy::default().validate().is_ok());
        assert!(SlaPolicy { reply_days: 0, ..SlaPolicy::default() }.validate().is_err());
        assert!(SlaPolicy { extended_reply_days: 2, ..SlaPolicy::default() }.validate().is_err());
    }
}
