//! 默认评价: when the policy is on, each completed transaction still unrated
//! `default_after_days` days after completion gets the system's rating (channel `default`),
//! once: the UNIQUE index on `reviews.transaction_id` makes a later rating a 409 (一事一评) and
//! a second scanner's insert a no-op. It never opens a case; figures keep it apart.
//!
//! A pass reads only what can have become due since the last one — transactions completed
//! after the last pass's horizon, and those stored since the last pass (an import of history)
//! — in batches of [`BATCH`], each its own short transaction, so intake keeps answering.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db_run;
use crate::domain::intake_rules::Channel;
use crate::domain::rating_policy::RatingPolicy;
use crate::error::AppResult;
use crate::storage::models::NewReview;
use crate::storage::schema::{reviews, transactions};
use crate::storage::{queries, rules, Conn};

/// 2 000 rows × 14 columns stay under PostgreSQL's 65 535 bound parameters.
const BATCH: i64 = 2_000;
/// Rows stored this long before the last pass are looked at again: a PostgreSQL transaction
/// may commit a row whose `created_at` is older than a pass that ran meanwhile.
const LATE_COMMIT_MARGIN: Duration = Duration::minutes(10);
const WATERMARK: &str = "default_ratings_watermark";

/// How far earlier passes got.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Watermark {
    completed_through: Option<NaiveDateTime>,
    passed_at: Option<NaiveDateTime>,
}

/// Gives the default ratings due at `now`; returns how many.
pub fn give_due(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<u64> {
    let policy = rules::rating_policy(conn)?;
    if !policy.enabled {
        return Ok(0);
    }
    let through = clock::to_db(policy.due_through(now));
    let mark: Watermark = queries::setting(conn, WATERMARK)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let mut given = rate(conn, &policy, Candidates::CompletedAfter(mark.completed_through), through, now)?;
    if let Some(passed_at) = mark.passed_at {
        given += rate(conn, &policy, Candidates::StoredSince(passed_at - LATE_COMMIT_MARGIN), through, now)?;
    }
    let next = Watermark { completed_through: Some(mark.completed_through.map_or(through, |m| m.max(through))), passed_at: Some(clock::to_db(now)) };
    queries::put_setting(conn, WATERMARK, &serde_json::to_string(&next).map_err(crate::error::AppError::internal)?)?;
    Ok(given)
}

#[derive(Clone, Copy)]
enum Candidates {
    CompletedAfter(Option<NaiveDateTime>),
    StoredSince(NaiveDateTime),
}

type Unrated = (i64, i64, i64, Option<i64>, Option<i64>, NaiveDateTime);

fn rate(conn: &mut Conn, policy: &RatingPolicy, candidates: Candidates, through: NaiveDateTime, now: DateTime<Utc>) -> AppResult<u64> {
    let mut given = 0u64;
    // Keyset over (completed_at, id): each batch starts after the last one.
    let mut after: Option<(NaiveDateTime, i64)> = None;
    loop {
        let batch: Vec<Unrated> = db_run!(conn, |c| {
            let mut q = transactions::table
                .filter(transactions::completed_at.le(through))
                .filter(not(exists(reviews::table.filter(reviews::transaction_id.eq(transactions::id)))))
                .order((transactions::completed_at.asc(), transactions::id.asc()))
                .limit(BATCH)
                .select((
                    transactions::id,
                    transactions::department_id,
                    transactions::service_item_id,
                    transactions::window_id,
                    transactions::staff_id,
                    transactions::completed_at,
                ))
                .into_boxed();
            q = match candidates {
                Candidates::CompletedAfter(Some(t)) => q.filter(transactions::completed_at.gt(t)),
                Candidates::CompletedAfter(None) => q,
                Candidates::StoredSince(t) => q.filter(transactions::created_at.ge(t)),
            };
            if let Some((c_at, id)) = after {
                q = q.filter(transactions::completed_at.gt(c_at).or(transactions::completed_at.eq(c_at).and(transactions::id.gt(id))));
            }
            q.load(c)
        })?;
        let Some(last) = batch.last() else { break };
        after = Some((last.5, last.0));
        let created_at = clock::to_db(now);
        let rows: Vec<NewReview<'_>> = batch
            .iter()
            .map(|&(transaction_id, department_id, service_item_id, window_id, staff_id, completed_at)| NewReview {
                transaction_id,
                stars: i32::from(policy.default_stars),
                channel: Channel::Default.as_str(),
                tags: "[]",
                comment: None,
                anonymous: true,
                is_public: false,
                invalidated: false,
                department_id,
                service_item_id,
                window_id,
                staff_id,
                rated_at: clock::to_db(policy.rated_at(clock::from_db(completed_at))),
                created_at,
                // Carries no tags: no set was offered.
                tag_set_version: None,
                moderation: i32::from(crate::domain::exchange::AuditStatus::NotNeeded.code()),
                // The system's own rating: nobody's address or device.
                address_hash: None,
                device_hash: None,
                staff_session: false,
            })
            .collect();
        // A citizen (or another scanner) may rate one of them meanwhile: theirs stands.
        let inserted = conn.transaction(|conn| match conn {
            Conn::Postgres(c) => diesel::insert_into(reviews::table).values(&rows).on_conflict_do_nothing().execute(&mut **c),
            // diesel's SQLite batch insert cannot skip a row; in process, row by row in one
            // commit costs no round trips.
            Conn::Sqlite(c) => rows.iter().try_fold(0, |n, row| {
                diesel::insert_into(reviews::table).values(row).on_conflict_do_nothing().execute(&mut **c).map(|k| n + k)
            }),
        })?;
        given += inserted as u64;
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    Ok(given)
}
