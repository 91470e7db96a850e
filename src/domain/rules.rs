//! The rules deadlines follow: the working-day calendar and the SLA policy of each case source.

use std::collections::HashMap;

use crate::domain::calendar::WorkCalendar;
use crate::domain::sla::SlaPolicy;

/// The working-day calendar and SLA policies, as the deadline code needs them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub calendar: WorkCalendar,
    policies: HashMap<String, SlaPolicy>,
}

impl Rules {
    pub fn new(calendar: WorkCalendar, policies: HashMap<String, SlaPolicy>) -> Rules {
        Rules { calendar, policies }
    }

    /// The policy for a case source (`review`, `hotline_12345`, …); the default when none is set.
    pub fn policy(&self, source: &str) -> SlaPolicy {
        self.policies.get(source).copied().unwrap_or_default()
    }
}
