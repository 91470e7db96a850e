//! haochaping: the government-service 好差评 closed loop.
//!
//! The folders are the layers; dependencies point down this list only.
//!
//! - [`interfaces`]: how people and systems reach the service — the JSON API ([`interfaces::http`]),
//!   the pages ([`interfaces::web`]), the commands ([`interfaces::cli`]), the background jobs
//!   ([`interfaces::jobs`]) and the composition root that wires them ([`interfaces::app`]).
//! - The use cases, one folder per capability, each call one database transaction:
//!   [`intake`] (transactions, reviews, complaints, the review writer), [`cases`] (the closed loop:
//!   open, act, follow up, list alerts, scan deadlines), [`admin`] (master data, accounts, calendar and
//!   SLA rules), [`insight`] (statistics, the monthly report, the case export, disclosure, Open311,
//!   clustering runs).
//! - [`domain`]: the rules as pure code (no I/O; the clock is passed in).
//! - [`storage`]: diesel schema, rows, shared queries, the audit chain, loading the rules.
//! - [`adapters`]: mail (outbox and SMTP), text analytics (jieba, TF-IDF, k-means, the router),
//!   rendering (SVG charts, the stylesheet and figures table that pages and reports share),
//!   security and throttling.
//!
//! [`error`] is the one error contract; [`clock`] converts instants between storage and display.

// Lets test-only files shared with tests/ name this crate the same way from both sides.
#[cfg(test)]
extern crate self as haochaping;

pub mod adapters;
pub mod admin;
pub mod cases;
pub mod clock;
pub mod domain;
pub mod error;
pub mod insight;
pub mod intake;
pub mod interfaces;
pub mod storage;
