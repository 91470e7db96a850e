//! Administration use cases: master data (departments, service items, windows, staff, 三对应),
//! accounts and keys, the rating-link keyring, webhook subscriptions, and the rules deadlines follow (working-day calendar, SLA policies).

pub mod access_log;
pub mod accounts;
pub mod data_keys;
pub mod import;
pub mod mail_outbox;
pub mod master_data;
pub mod rules;
pub mod signing_keys;
pub mod webhooks;
