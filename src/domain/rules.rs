//! The rules intake and deadlines follow: the working-day calendar, the SLA policy of each case
//! source and the rating tags in force.

use std::collections::HashMap;

use crate::domain::calendar::WorkCalendar;
use crate::domain::sla::SlaPolicy;
use crate::domain::tag_sets::TagSets;

/// The working-day calendar, SLA policies and tag sets, as intake and the deadline code need them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub calendar: WorkCalendar,
    policies: HashMap<String, SlaPolicy>,
    pub tag_sets: TagSets,
    /// Phrases that hold a public comment for a supervisor (moderation before 双公开).
    pub held_phrases: Vec<String>,
}

impl Rules {
    pub fn new(calendar: WorkCalendar, policies: HashMap<String, SlaPolicy>, tag_sets: TagSets) -> Rules {
        Rules { calendar, policies, tag_sets, held_phrases: Vec::new() }
    }

    pub fn with_held_phrases(self, held_phrases: Vec<String>) -> Rules {
        Rules { held_phrases, ..self }
    }

    /// The policy for a case source (`review`, `hotline_12345`, …); the default when none is set.
    pub fn policy(&self, source: &str) -> SlaPolicy {
        self.policies.get(source).copied().unwrap_or_default()
    }
}
