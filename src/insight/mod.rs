//! Reporting and insight: the figures ([`stats`]), the monthly operations report ([`monthly`]),
//! public disclosure and Open311 ([`disclosure`], [`open311`]), the case export ([`export`]), stored clustering runs
//! ([`analysis`]), what an operator watches ([`operations`]), the provincial data feed
//! ([`exchange`]).

pub mod analysis;
pub mod disclosure;
pub mod exchange;
pub mod export;
pub mod frozen_reports;
pub mod monthly;
pub mod open311;
pub mod operations;
pub mod search;
pub mod stats;
pub mod topic_views;
pub mod topics;
