//! 默认评价: a completed transaction left unrated for `default_after_days` days is given the
//! system's rating (channel `default`), once. Off until an admin turns it on.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::intake_rules::FieldError;

/// The longest wait an office may set: a year.
pub const MAX_DEFAULT_AFTER_DAYS: u32 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingPolicy {
    pub enabled: bool,
    /// Calendar days after completion (办结) before the default rating is given.
    #[schema(minimum = 1, maximum = 365)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub default_after_days: u32,
    /// The grade given: 3 (基本满意) to 5 (非常满意). A default is never a 差评: nobody complained.
    #[schema(minimum = 3, maximum = 5)]
    #[serde(deserialize_with = "crate::domain::json_numbers::integer")]
    pub default_stars: u8,
}

impl Default for RatingPolicy {
    fn default() -> RatingPolicy {
        RatingPolicy { enabled: false, default_after_days: 15, default_stars: 5 }
    }
}

impl RatingPolicy {
    pub fn check(&self) -> Result<(), FieldError> {
        if !(1..=MAX_DEFAULT_AFTER_DAYS).contains(&self.default_after_days) {
            return Err(FieldError::new("default_after_days", format!("1 to {MAX_DEFAULT_AFTER_DAYS} days")));
        }
        if !(3..=5).contains(&self.default_stars) {
            return Err(FieldError::new("default_stars", "3 to 5: a default rating is never a bad review"));
        }
        Ok(())
    }

    /// Transactions completed at or before this moment are due a default rating at `now`.
    pub fn due_through(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.wait()
    }

    /// When a transaction completed at `completed_at` became due: the default rating's time.
    pub fn rated_at(&self, completed_at: DateTime<Utc>) -> DateTime<Utc> {
        completed_at + self.wait()
    }

    fn wait(&self) -> Duration {
        Duration::days(i64::from(self.default_after_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_waits_whole_days_and_never_gives_a_bad_review() {
        let policy = RatingPolicy { enabled: true, default_after_days: 15, default_stars: 5 };
        assert_eq!(policy.check(), Ok(()));
        let now = DateTime::parse_from_rfc3339("2026-12-16T12:00:00+08:00").expect("time").with_timezone(&Utc);
        assert_eq!(policy.due_through(now).to_rfc3339(), "2026-12-01T04:00:00+00:00");
        assert_eq!(policy.rated_at(policy.due_through(now)), now);
        assert_eq!(RatingPolicy { default_stars: 2, ..policy }.check().map_err(|e| e.field), Err("default_stars"));
        assert_eq!(RatingPolicy { default_after_days: 0, ..policy }.check().map_err(|e| e.field), Err("default_after_days"));
        assert!(!RatingPolicy::default().enabled, "off until an admin turns it on");
    }
}
