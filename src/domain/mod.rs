//! Domain rules as pure code: no I/O, and the clock is always passed in.

pub mod access;
pub mod assignment;
pub mod calendar;
pub mod case_flow;
pub mod exchange;
pub mod grade;
pub mod import;
pub mod intake_rules;
pub mod integrity;
pub mod json_numbers;
pub mod masking;
pub mod moderation;
pub mod quiet_hours;
pub mod rating_policy;
pub mod reply_checks;
pub mod retry;
pub mod rules;
pub mod search;
pub mod sla;
pub mod tag_sets;
pub mod topics;
pub mod webhook_events;
#[cfg(test)]
pub(crate) mod spec_table;
