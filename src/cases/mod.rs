//! The closed loop's use cases: opening and viewing cases ([`work`]), acting on them
//! ([`actions`]), the citizen's follow-ups and status ([`follow_ups`], [`citizen`]), the deadline
//! scan that raises alerts ([`scan`]), and what 12345 work orders need besides: 并单, 协办,
//! notes and 退单 ([`work_orders`]).

pub mod actions;
pub mod alerts;
pub mod citizen;
pub mod follow_ups;
pub mod integrity;
pub mod reply_checks;
pub mod retention;
pub mod scan;
pub mod work;
pub mod work_orders;
