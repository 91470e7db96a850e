//! The closed loop's use cases: opening and viewing cases ([`work`]), acting on them
//! ([`actions`]), the citizen's follow-ups and status ([`follow_ups`], [`citizen`]), the deadline
//! scan that raises alerts ([`scan`]).

pub mod actions;
pub mod alerts;
pub mod citizen;
pub mod follow_ups;
pub mod scan;
pub mod work;
