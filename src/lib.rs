//! haochaping: the government-service 好差评 closed loop.
//!
//! Layout: [`domain`] holds the rules as pure code; [`storage`] the diesel schema and queries;
//! [`intake`], [`case_work`], [`master_data`], [`accounts`], [`calendar_admin`] the use cases;
//! [`http`] the thin actix handlers; [`notify`] the email outbox; [`cli`] the commands.

// Lets test-only files shared with tests/ name this crate the same way from both sides.
#[cfg(test)]
extern crate self as haochaping;

pub mod accounts;
pub mod analytics;
pub mod analytics_cli;
pub mod analysis_runs;
pub mod app;
pub mod bench;
pub mod calendar_admin;
pub mod case_actions;
pub mod case_export;
pub mod case_work;
pub mod charts;
pub mod cli;
pub mod citizen;
pub mod clock;
pub mod config;
pub mod demo;
pub mod disclosure;
pub mod domain;
pub mod error;
pub mod follow_ups;
pub mod http;
pub mod intake;
pub mod jobs;
pub mod mail_sender;
pub mod master_data;
pub mod metrics;
pub mod notify;
pub mod open311;
pub mod reports;
pub mod review_writer;
pub mod routing;
pub mod scanner;
pub mod security;
pub mod stats;
pub mod storage;
pub mod telemetry;
pub mod throttle;
pub mod web;
