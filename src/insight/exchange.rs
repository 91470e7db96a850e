//! The provincial data feed: every rating as an evaluation record in the provincial/national
//! field set (codes in `domain::exchange`), read in order after a cursor — new ratings by id,
//! then ratings whose 整改 status changed since — and pushed in batches to the platform.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Asia::Shanghai;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::clock;
use crate::db_run;
use crate::storage::personal_data::PersonalText;
use crate::domain::case_flow::CaseState;
use crate::domain::exchange::{self as codes, AuditStatus, ReformStatus};
use crate::domain::intake_rules::Channel;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{audit_events, cases, departments, exchange_changes, reviews, service_items, staff, transactions};
use crate::storage::{on_pool, queries, Conn, DbPool};

const PUSH_CURSOR: &str = "province_push_cursor";
const PUSH_RETRY_AT: &str = "province_push_retry_at";
const PUSH_FAILURES: &str = "province_push_failures";
pub const MAX_PAGE: i64 = 1000;
pub const PUSH_BATCH: i64 = 100;
/// A record is served once it is this old: on PostgreSQL ids are taken before commit, so a
/// slower transaction may commit a lower id after a higher one has been read.
const SETTLE: Duration = Duration::seconds(2);

/// Where a reader stands: the last rating id and the last change it has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub review: i64,
    pub change: i64,
}

impl Cursor {
    pub fn parse(text: Option<&str>) -> AppResult<Cursor> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(Cursor::default()) };
        let bad = || AppError::invalid("after", "a cursor as given in next_cursor (e.g. 1234.56), or nothing for the beginning");
        let (review, change) = text.split_once('.').ok_or_else(bad)?;
        let (review, change) = (review.parse::<i64>().map_err(|_| bad())?, change.parse::<i64>().map_err(|_| bad())?);
        if review < 0 || change < 0 {
            return Err(bad());
        }
        Ok(Cursor { review, change })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.review, self.change)
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Page {
    pub items: Vec<Value>,
    /// Where to read on from; `null` when there was nothing new (keep the cursor you have).
    pub next_cursor: Option<String>,
}

/// The district's 区划代码, or none yet.
pub fn area_code(conn: &mut Conn) -> AppResult<Option<String>> {
    Ok(queries::setting(conn, codes::AREA_CODE_SETTING)?)
}

/// Up to `limit` records after `after`, as of `now`.
pub fn evaluations(conn: &mut Conn, after: Cursor, limit: i64, now: DateTime<Utc>) -> AppResult<Page> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::invalid("limit", format!("1 to {MAX_PAGE}")));
    }
    let settled = clock::to_db(now - SETTLE);
    let new: Vec<i64> = db_run!(conn, |c| reviews::table
        .filter(reviews::id.gt(after.review))
        .filter(reviews::created_at.le(settled))
        .order(reviews::id)
        .limit(limit)
        .select(reviews::id)
        .load(c))?;
    let room = limit - new.len() as i64;
    let changed: Vec<(i64, i64)> = if room > 0 {
        db_run!(conn, |c| exchange_changes::table
            .filter(exchange_changes::seq.gt(after.change))
            .filter(exchange_changes::at.le(settled))
            .order(exchange_changes::seq)
            .limit(room)
            .select((exchange_changes::seq, exchange_changes::review_id))
            .load(c))?
    } else {
        Vec::new()
    };
    let next = Cursor { review: new.last().copied().unwrap_or(after.review), change: changed.last().map(|c| c.0).unwrap_or(after.change) };
    let mut ids: Vec<i64> = new;
    for (_, review_id) in &changed {
        if !ids.contains(review_id) {
            ids.push(*review_id);
        }
    }
    let items = records(conn, &ids)?;
    let next_cursor = (next != after).then(|| next.to_string());
    Ok(Page { items, next_cursor })
}

type ReviewRow = (
    (i64, i32, String, String, Option<String>, bool, bool, NaiveDateTime, Option<i64>, i32),
    (String, Option<PersonalText>, Option<NaiveDateTime>),
    (String, String, Option<String>),
    (String, String, Option<String>),
    (Option<String>, Option<String>),
);

/// The records of these ratings, in this order.
fn records(conn: &mut Conn, ids: &[i64]) -> AppResult<Vec<Value>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let area = area_code(conn)?.unwrap_or_default();
    let rows: Vec<ReviewRow> = db_run!(conn, |c| reviews::table
        .inner_join(transactions::table)
        .inner_join(service_items::table.on(service_items::id.eq(reviews::service_item_id)))
        .inner_join(departments::table.on(departments::id.eq(reviews::department_id)))
        .left_join(staff::table.on(staff::id.nullable().eq(reviews::staff_id)))
        .filter(reviews::id.eq_any(ids))
        .select((
            (reviews::id, reviews::stars, reviews::channel, reviews::tags, reviews::comment, reviews::anonymous, reviews::is_public, reviews::rated_at, reviews::staff_id, reviews::moderation),
            (transactions::transaction_no, transactions::applicant_name, transactions::accepted_at),
            (service_items::code, service_items::name, service_items::task_code),
            (departments::code, departments::name, departments::credit_code),
            (staff::staff_no.nullable(), staff::name.nullable()),
        ))
        .load(c))?;
    type CaseRow = (i64, Option<i64>, CaseState, Option<String>, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let case_rows: Vec<CaseRow> = db_run!(conn, |c| cases::table
        .filter(cases::review_id.eq_any(ids))
        .select((cases::id, cases::review_id, cases::state, cases::reply_text, cases::replied_at, cases::reply_due))
        .load(c))?;
    let case_ids: Vec<i64> = case_rows.iter().map(|c| c.0).collect();
    let measures: Vec<(Option<i64>, Option<String>)> = db_run!(conn, |c| audit_events::table
        .filter(audit_events::case_id.eq_any(&case_ids))
        .filter(audit_events::action.eq("rectify"))
        .order(audit_events::id)
        .select((audit_events::case_id, audit_events::note))
        .load(c))?;
    let measure_of: HashMap<i64, String> = measures.into_iter().filter_map(|(c, n)| Some((c?, n?))).collect();
    let case_of: HashMap<i64, &CaseRow> = case_rows.iter().filter_map(|c| c.1.map(|r| (r, c))).collect();
    let by_id: HashMap<i64, &ReviewRow> = rows.iter().map(|r| (r.0 .0, r)).collect();
    let time = |t: NaiveDateTime| t.and_utc().with_timezone(&Shanghai).format(codes::TIME_FORMAT).to_string();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(((review_id, stars, channel, tags, comment, anonymous, public, rated_at, _, moderation), (project_no, applicant, accepted_at), (item_code, item_name, task_code), (dept_code, dept_name, credit_code), (staff_no, staff_name))) = by_id.get(id).copied()
        else {
            continue;
        };
        let stars = u8::try_from(*stars).unwrap_or(0);
        let channel = Channel::parse(channel);
        let tags: Vec<String> = serde_json::from_str(tags).unwrap_or_default();
        let case = case_of.get(review_id).copied();
        let reform = match case {
            None => ReformStatus::NotNeeded,
            Some((_, _, CaseState::Closed, Some(_), Some(_), _)) => ReformStatus::Answered,
            Some((_, _, CaseState::Closed, _, _, _)) => ReformStatus::AppealUpheld,
            Some(_) => ReformStatus::InProgress,
        };
        let answered = reform == ReformStatus::Answered;
        let staff_info: Vec<Value> = match (staff_no, staff_name) {
            (Some(no), Some(name)) => vec![json!({"staffNo": no, "name": name})],
            _ => vec![],
        };
        out.push(json!({
            "id": format!("hcp-{review_id}"),
            "projectNo": project_no,
            "assessNumber": 1,
            "idempotencyKey": format!("{project_no}-1"),
            "areaCode": area,
            "deptCode": credit_code.clone().unwrap_or_default(),
            "deptName": dept_name,
            "localDeptCode": dept_code,
            "taskCode": task_code.clone().unwrap_or_default(),
            "taskName": item_name,
            "localTaskCode": item_code,
            "proStatus": 3,
            "acceptDate": accepted_at.map(time).unwrap_or_default(),
            "pf": channel.map(|c| codes::pf_of(c).to_string()).unwrap_or_default(),
            "channelName": channel.map(codes::channel_name).unwrap_or_default(),
            "userName": if *anonymous { String::new() } else { applicant.as_deref().unwrap_or_default().to_owned() },
            "satisfaction": codes::satisfaction_of(stars),
            "satisfactionCode": codes::gbt_code_of(stars),
            "satisfactionName": codes::satisfaction_name(stars),
            "evalDetail": tags.join(","),
            "writingEvaluation": comment.as_deref().map(crate::domain::moderation::mask_personal_text).unwrap_or_default(),
            "assessTime": time(*rated_at),
            "auditStatus": u8::try_from(*moderation).ok().and_then(AuditStatus::of_code).unwrap_or(AuditStatus::NotNeeded).code(),
            "isPublic": codes::yes_no(*public && *moderation != i32::from(AuditStatus::Pending.code())),
            "isAnonymous": codes::yes_no(*anonymous),
            "evaluatedPersonInfo": staff_info,
            "reformStatus": reform.code(),
            "reformStatusName": reform.name(),
            "reformContent": case.and_then(|c| measure_of.get(&c.0)).cloned().unwrap_or_default(),
            "reformDate": case.and_then(|c| c.5).map(time).unwrap_or_default(),
            "replyContent": if answered { case.and_then(|c| c.3.clone()).unwrap_or_default() } else { String::new() },
            "replyTime": if answered { case.and_then(|c| c.4).map(time).unwrap_or_default() } else { String::new() },
            "dataSource": "haochaping",
            "version": 2,
        }));
    }
    Ok(out)
}

/// Where the push job sends, from `HCP_PROVINCE_URL` / `HCP_PROVINCE_TOKEN`.
#[derive(Clone)]
pub struct PushTarget {
    pub url: String,
    pub token: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushReport {
    pub batches: u64,
    pub records: u64,
    pub failed: bool,
}

/// One round of the push job at `now`: batches of up to 100 records after the stored cursor,
/// the cursor moved on only once the platform took a batch; a refused batch is retried with
/// backoff (1 s doubling to 5 minutes), the same records again.
pub async fn push_due(pool: &DbPool, client: &reqwest::Client, target: &PushTarget, now: DateTime<Utc>) -> AppResult<PushReport> {
    let mut report = PushReport::default();
    let retry_at = on_pool(pool, |conn| Ok(queries::setting(conn, PUSH_RETRY_AT)?)).await?;
    if retry_at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).is_some_and(|t| t > now) {
        return Ok(report);
    }
    loop {
        let (cursor, page) = on_pool(pool, move |conn| {
            let cursor = Cursor::parse(queries::setting(conn, PUSH_CURSOR)?.as_deref())?;
            Ok((cursor, evaluations(conn, cursor, PUSH_BATCH, now)?))
        })
        .await?;
        let Some(next) = page.next_cursor else { return Ok(report) };
        let key = format!("{cursor}-{next}");
        match crate::adapters::province::post_batch(client, &target.url, target.token.as_deref(), &key, &page.items).await {
            Ok(()) => {
                report.batches += 1;
                report.records += page.items.len() as u64;
                on_pool(pool, move |conn| {
                    queries::put_setting(conn, PUSH_CURSOR, &next)?;
                    queries::delete_setting(conn, PUSH_FAILURES)?;
                    Ok(queries::delete_setting(conn, PUSH_RETRY_AT)?)
                })
                .await?;
            }
            Err(error) => {
                report.failed = true;
                tracing::warn!(%error, batch = %key, records = page.items.len(), "provincial platform did not take the batch; will retry");
                on_pool(pool, move |conn| {
                    let failures = queries::setting(conn, PUSH_FAILURES)?.and_then(|f| f.parse::<u32>().ok()).unwrap_or(0) + 1;
                    let wait = crate::domain::retry::backoff(i32::try_from(failures).unwrap_or(i32::MAX), 300);
                    queries::put_setting(conn, PUSH_FAILURES, &failures.to_string())?;
                    Ok(queries::put_setting(conn, PUSH_RETRY_AT, &(now + wait).to_rfc3339())?)
                })
                .await?;
                return Ok(report);
            }
        }
    }
}

