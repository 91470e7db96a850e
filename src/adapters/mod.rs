//! What the use cases reach outside themselves: mail, SMS, webhooks, text analytics, rendering of reports and
//! charts, cryptography and throttling. Adapters know nothing of the use cases above them.

pub mod mail;
pub mod nlp;
pub mod province;
pub mod render;
pub mod search;
pub mod security;
pub mod sms;
pub mod tabular;
pub mod throttle;
pub mod webhooks;
