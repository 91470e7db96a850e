//! Notification mail: [`outbox`] composes mails and queues them in the same transaction as the
//! change they report; [`smtp`] delivers the queue.

pub mod outbox;
pub mod smtp;
