//! Queues SMS in the caller's transaction. A message's `dedup_key` (the 办件 or complaint and
//! the kind) is unique: a second queueing of the same message is a no-op, so a citizen gets at
//! most one message of each kind about one 办件.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::{mobile_number, SmsKind};
use crate::clock;
use crate::db_run;
use crate::error::AppResult;
use crate::storage::models::Case;
use crate::storage::schema::{complaints, reviews, service_items, sms_outbox, transactions};
use crate::storage::personal_data::PersonalText;
use crate::storage::Conn;

/// Made into the signed rating link of the message's 办件 when it is sent.
pub const RATING_URL: &str = "{{rating_url}}";
/// Characters of a reply quoted in a message; the rest is on the rating page.
const REPLY_CHARS: usize = 60;

struct Message<'a> {
    kind: SmsKind,
    dedup_key: String,
    phone: String,
    params: Value,
    case_id: Option<i64>,
    transaction_no: Option<&'a str>,
}

fn queue(conn: &mut Conn, m: Message<'_>, now: DateTime<Utc>) -> AppResult<()> {
    let now = clock::to_db(now);
    db_run!(conn, |c| diesel::insert_into(sms_outbox::table)
        .values((
            sms_outbox::kind.eq(m.kind.as_str()),
            sms_outbox::dedup_key.eq(&m.dedup_key),
            sms_outbox::phone.eq(PersonalText(m.phone.clone())),
            sms_outbox::params.eq(m.params.to_string()),
            sms_outbox::case_id.eq(m.case_id),
            sms_outbox::transaction_no.eq(m.transaction_no),
            sms_outbox::created_at.eq(now),
            sms_outbox::attempts.eq(0),
            sms_outbox::next_attempt_at.eq(now),
        ))
        .on_conflict(sms_outbox::dedup_key)
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// 办结: the business system asked for a rating invitation by SMS.
pub fn queue_rating_invitation(conn: &mut Conn, transaction_no: &str, now: DateTime<Utc>) -> AppResult<()> {
    let found: Option<(i64, Option<PersonalText>, String)> = db_run!(conn, |c| transactions::table
        .inner_join(service_items::table)
        .filter(transactions::transaction_no.eq(transaction_no))
        .select((transactions::id, transactions::applicant_phone, service_items::name))
        .first(c)
        .optional())?;
    let Some((id, Some(phone), item)) = found else { return Ok(()) };
    let Some(phone) = mobile_number(&phone) else { return Ok(()) };
    let message = Message {
        kind: SmsKind::RatingInvitation,
        dedup_key: format!("transaction:{id}:{}", SmsKind::RatingInvitation),
        phone,
        params: json!({"item": item, "url": RATING_URL}),
        case_id: None,
        transaction_no: Some(transaction_no),
    };
    queue(conn, message, now)
}

/// The approved reply to whoever raised the case and left a mobile number: the applicant of the
/// 办件 a bad review is about (then also the 回访 invitation), or a complaint's contact.
pub fn queue_reply(conn: &mut Conn, case: &Case, now: DateTime<Utc>) -> AppResult<()> {
    let Some(reply) = case.reply_text.as_deref() else { return Ok(()) };
    let mut short: String = reply.chars().take(REPLY_CHARS).collect();
    if reply.chars().count() > REPLY_CHARS {
        short.push('…');
    }
    if let Some(review_id) = case.review_id {
        let found: Option<(i64, String, Option<PersonalText>)> = db_run!(conn, |c| reviews::table
            .find(review_id)
            .inner_join(transactions::table)
            .select((transactions::id, transactions::transaction_no, transactions::applicant_phone))
            .first(c)
            .optional())?;
        let Some((tx_id, transaction_no, Some(phone))) = found else { return Ok(()) };
        let Some(phone) = mobile_number(&phone) else { return Ok(()) };
        queue(
            conn,
            Message {
                kind: SmsKind::Reply,
                dedup_key: format!("transaction:{tx_id}:{}", SmsKind::Reply),
                phone: phone.clone(),
                params: json!({"case": case.id, "reply": short, "url": RATING_URL}),
                case_id: Some(case.id),
                transaction_no: Some(&transaction_no),
            },
            now,
        )?;
        return queue(
            conn,
            Message {
                kind: SmsKind::FollowUpInvitation,
                dedup_key: format!("transaction:{tx_id}:{}", SmsKind::FollowUpInvitation),
                phone,
                params: json!({"case": case.id, "url": RATING_URL}),
                case_id: Some(case.id),
                transaction_no: Some(&transaction_no),
            },
            now,
        );
    }
    if let Some(complaint_id) = case.complaint_id {
        let phone: Option<Option<PersonalText>> = db_run!(conn, |c| complaints::table.find(complaint_id).select(complaints::contact_phone).first(c).optional())?;
        let Some(phone) = phone.flatten().as_deref().and_then(mobile_number) else { return Ok(()) };
        queue(
            conn,
            Message {
                kind: SmsKind::Reply,
                dedup_key: format!("complaint:{complaint_id}:{}", SmsKind::Reply),
                phone,
                params: json!({"case": case.id, "reply": short, "url": ""}),
                case_id: Some(case.id),
                transaction_no: None,
            },
            now,
        )?;
    }
    Ok(())
}
