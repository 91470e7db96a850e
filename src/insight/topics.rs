//! Topics over time (问题主题): each week's comments are placed in the topics found before or
//! clustered into new ones, so that a topic keeps its id and label while its centre drifts;
//! then the emerging-issue alerts (新出现的问题) are raised on them. Run by every scanner round
//! ([`scan`]); the reads the API and pages show are in [`super::topic_views`].
//!
//! What is placed: the comment of every review that has one (all grades, so that a topic's
//! share of bad reviews and its 差评率 per department mean something) and the text of every
//! complaint. The alerts count only the *issues* among them: bad reviews (1–2 stars) and
//! complaints — praise growing is no emerging problem.
//!
//! A week (Monday to Sunday, Beijing time) is tracked once it has closed, and the current week
//! again at each round with what it has so far (its membership replaced), so that the last 7
//! days are always counted. A week's comments are weighed (TF-IDF over the week, words and their
//! character bigrams) and each goes to the known topic whose centre is most like it; the rest
//! are clustered with `cluster_texts` into many small clusters, alike clusters merged and the
//! groups of three or more settled into new topics (`domain::topics::settle_new_topics`). A
//! comment matched one by one rather than a whole week's cluster matched to a topic: on a few
//! dozen short comments k-means mixes subjects, and a mixed cluster would carry a stray subject
//! into a topic (measured on the tests' comments). Only closing a week moves the centres of the
//! topics it touched, half way towards the week's centre. A comment stored after its week
//! closed (a late rating, an import) or left over is placed in a known topic at a later round
//! if one is like it; one like no topic stays outside the topics.
//!
//! Rounds are serialised by a compare-and-set on the tracking state (a settings row): a round
//! that finds another one wrote first drops its own work, so two scanners never make one topic
//! twice. The clustering runs outside any transaction; only the writes hold the write lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::adapters::mail::outbox;
use crate::adapters::nlp::clustering::{cluster_texts, tokenize_all, ClusterError, ClusterOptions, KChoice};
use crate::clock;
use crate::db_run;
use crate::domain::moderation::mask_personal_text;
use crate::domain::topics::{
    alert_windows, blend, features, new_topic_alert, settle_new_topics, surge, term_vectors, top_terms, week_begins, week_ends, week_of,
    weighted_sum, TermVector, TopicIndex, BASELINE_WINDOWS, DRIFT, JOIN_THRESHOLD, MERGE_THRESHOLD, MIN_NEW_TOPIC, WINDOW_DAYS,
};
use crate::error::{AppError, AppResult};
use crate::storage::queries;
use crate::storage::schema::{cases, complaints, reviews, settings, topic_alerts, topic_members, topic_periods, topics};
use crate::storage::Conn;

/// The tracking state: the first week not yet closed, and a counter every round's write bumps.
const STATE_KEY: &str = "topics.state";
/// When `serve`'s scanner last tracked topics (it does so every [`SERVE_INTERVAL_MINUTES`]).
const LAST_RUN_KEY: &str = "topics.last_run";

/// `serve` scans every minute; topics are tracked at most this often there (`haochaping scan`
/// always tracks): the last 7 days are then at most a quarter of an hour old, and a round
/// clusters only the current week's comments.
pub const SERVE_INTERVAL_MINUTES: i64 = 15;

/// On the first round, history is tracked this many weeks back at most.
pub const HISTORY_WEEKS: u64 = 26;

/// Comments stored after their week closed, placed per round at most.
const LATE_BATCH: i64 = 5_000;

/// Clusters a week's new comments are cut into at most, before alike ones merge.
const MAX_CLUSTERS: usize = 60;

/// Terms a topic shows as its top terms.
pub const TOP_TERMS: usize = 8;

/// Sample comments an alert carries.
pub const ALERT_SAMPLES: usize = 3;

/// How a round of the scanner tracks topics.
#[derive(Debug, Clone, Copy)]
pub struct TopicScan {
    /// A new topic is alerted on at this many issues (`HCP_NEW_TOPIC_ALERT_SIZE`).
    pub new_topic_alert_size: u32,
    /// Skip the round when the last one is more recent than this (`serve`); `None`: always run.
    pub min_interval: Option<Duration>,
}

/// What a round did (part of the scanner's JSON report).
#[derive(Debug, Default, Clone, Serialize)]
pub struct TopicRound {
    /// False when the round was skipped (tracked recently, or another scanner was at it).
    pub ran: bool,
    /// Weeks clustered: the closed ones newly closed, and the current one.
    pub weeks_tracked: u32,
    pub documents: u64,
    pub topics_created: u32,
    /// Comments stored after their week closed, placed in a topic this round.
    pub late_placed: u32,
    pub surge_alerts: u32,
    pub new_topic_alerts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrackState {
    next_week: Option<NaiveDate>,
    round: u64,
}

/// One comment to place.
struct Doc {
    source: &'static str,
    id: i64,
    text: String,
    at: NaiveDateTime,
    department_id: Option<i64>,
    bad: bool,
}

struct TopicRow {
    id: i64,
    centroid: TermVector,
    first_period: NaiveDate,
}

/// Tracks topics and raises alerts, unless `settings.min_interval` says it ran recently.
pub fn scan(conn: &mut Conn, at: DateTime<Utc>, settings: &TopicScan) -> AppResult<TopicRound> {
    let last = queries::setting(conn, LAST_RUN_KEY)?.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc));
    if let Some(interval) = settings.min_interval {
        if last.is_some_and(|last| last <= at && at - last < interval) {
            return Ok(TopicRound::default());
        }
    }
    let mut round = track(conn, at, last.filter(|&last| last <= at))?;
    let (surges, news) = raise_alerts(conn, at, settings.new_topic_alert_size)?;
    round.surge_alerts = surges;
    round.new_topic_alerts = news;
    conn.transaction(|conn| queries::put_setting(conn, LAST_RUN_KEY, &at.to_rfc3339()))?;
    Ok(round)
}

fn read_state(conn: &mut Conn) -> AppResult<(String, TrackState)> {
    let initial = serde_json::to_string(&TrackState { next_week: None, round: 0 }).map_err(AppError::internal)?;
    let raw = conn.transaction(|conn| queries::setting_or_insert(conn, STATE_KEY, &initial))?;
    let state = serde_json::from_str(&raw).map_err(AppError::internal)?;
    Ok((raw, state))
}

/// Moves the state on from `old` (as read), or says another round did first.
fn swap_state(conn: &mut Conn, old: &str, new: &TrackState) -> AppResult<bool> {
    let new = serde_json::to_string(new).map_err(AppError::internal)?;
    let updated = db_run!(conn, |c| diesel::update(settings::table.filter(settings::key.eq(STATE_KEY)).filter(settings::value.eq(old)))
        .set(settings::value.eq(&new))
        .execute(c))?;
    Ok(updated == 1)
}

/// Clusters the weeks not yet closed up to `at`, the current one included, and places the
/// comments stored late (since `last_run`, the previous round, if any).
pub fn track(conn: &mut Conn, at: DateTime<Utc>, last_run: Option<DateTime<Utc>>) -> AppResult<TopicRound> {
    let mut round = TopicRound { ran: true, ..TopicRound::default() };
    let current = week_of(at);
    let (_, state) = read_state(conn)?;
    let mut next = match state.next_week {
        Some(week) => week,
        None => {
            let horizon = current - Days::new(7 * HISTORY_WEEKS);
            let oldest = oldest_comment(conn, clock::to_db(week_begins(horizon)))?;
            oldest.map(|t| week_of(clock::from_db(t))).unwrap_or(current).max(horizon)
        }
    };
    while next <= current {
        let closing = week_ends(next) <= at;
        let until = if closing { week_ends(next) } else { at + Duration::microseconds(1) };
        match track_week(conn, next, until, closing, at)? {
            Some((documents, created)) => {
                round.weeks_tracked += 1;
                round.documents += documents;
                round.topics_created += created;
            }
            // Another scanner moved the state on: it tracks, this round stops here.
            None => {
                round.ran = false;
                return Ok(round);
            }
        }
        if !closing {
            break;
        }
        next = next + Days::new(7);
    }
    // A round that was still writing when the last one started may have stored comments just
    // before its time: an hour's overlap.
    let since = last_run.map(|t| clock::to_db(t - Duration::hours(1)));
    round.late_placed = place_late(conn, at, next.min(current), since)?;
    Ok(round)
}

fn oldest_comment(conn: &mut Conn, since: NaiveDateTime) -> AppResult<Option<NaiveDateTime>> {
    let review: Option<NaiveDateTime> = db_run!(conn, |c| reviews::table
        .filter(reviews::rated_at.ge(since))
        .filter(reviews::comment.is_not_null())
        .select(diesel::dsl::min(reviews::rated_at))
        .first(c))?;
    let complaint: Option<NaiveDateTime> = db_run!(conn, |c| complaints::table
        .filter(complaints::received_at.ge(since))
        .select(diesel::dsl::min(complaints::received_at))
        .first(c))?;
    Ok(match (review, complaint) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Which comments of a span [`gather`] reads.
#[derive(Clone, Copy)]
enum Selection {
    All,
    /// Only those in no topic, stored at or after this time if one is given (at most
    /// [`LATE_BATCH`] of each source).
    Unplaced(Option<NaiveDateTime>),
}

/// The comments of `[from, to)` as `selection` says.
fn gather(conn: &mut Conn, from: NaiveDateTime, to: NaiveDateTime, selection: Selection) -> AppResult<Vec<Doc>> {
    let (unplaced, stored_since, limit) = match selection {
        Selection::All => (false, None, i64::MAX),
        Selection::Unplaced(t) => (true, t, LATE_BATCH),
    };
    let rows: Vec<(i64, Option<String>, NaiveDateTime, i64, i32)> = db_run!(conn, |c| {
        let mut q = reviews::table
            .left_join(topic_members::table.on(topic_members::source.eq("review").and(topic_members::record_id.eq(reviews::id))))
            .filter(reviews::rated_at.ge(from))
            .filter(reviews::rated_at.lt(to))
            .filter(reviews::invalidated.eq(false))
            .filter(reviews::comment.is_not_null())
            .order(reviews::id.asc())
            .limit(limit)
            .select((reviews::id, reviews::comment, reviews::rated_at, reviews::department_id, reviews::stars))
            .into_boxed();
        if unplaced {
            q = q.filter(topic_members::record_id.nullable().is_null());
        }
        if let Some(since) = stored_since {
            q = q.filter(reviews::created_at.ge(since));
        }
        q.load(c)
    })?;
    let mut docs: Vec<Doc> = rows
        .into_iter()
        .filter_map(|(id, comment, at, department_id, stars)| {
            let text = comment?.trim().to_owned();
            (!text.is_empty()).then_some(Doc { source: "review", id, text, at, department_id: Some(department_id), bad: stars <= 2 })
        })
        .collect();
    type ComplaintRow = (i64, Option<String>, String, NaiveDateTime, Option<i64>, Option<i64>);
    let rows: Vec<ComplaintRow> = db_run!(conn, |c| {
        let mut q = complaints::table
            .left_join(cases::table.on(cases::complaint_id.eq(complaints::id.nullable())))
            .left_join(topic_members::table.on(topic_members::source.eq("complaint").and(topic_members::record_id.eq(complaints::id))))
            .filter(complaints::received_at.ge(from))
            .filter(complaints::received_at.lt(to))
            .order(complaints::id.asc())
            .limit(limit)
            .select((complaints::id, complaints::title, complaints::content, complaints::received_at, complaints::department_id, cases::department_id.nullable()))
            .into_boxed();
        if unplaced {
            q = q.filter(topic_members::record_id.nullable().is_null());
        }
        if let Some(since) = stored_since {
            q = q.filter(complaints::created_at.ge(since));
        }
        q.load(c)
    })?;
    docs.extend(rows.into_iter().map(|(id, title, content, at, department, case_department)| Doc {
        source: "complaint",
        id,
        text: match title {
            Some(t) if !t.trim().is_empty() => format!("{t}。{content}"),
            _ => content,
        },
        at,
        // The department the case is with now (after a reassignment), else the one it came with.
        department_id: case_department.or(department),
        bad: false,
    }));
    Ok(docs)
}

fn load_topics(conn: &mut Conn) -> AppResult<Vec<TopicRow>> {
    let rows: Vec<(i64, String, NaiveDate)> =
        db_run!(conn, |c| topics::table.order(topics::id.asc()).select((topics::id, topics::centroid, topics::first_period)).load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, centroid, first_period)| TopicRow { id, centroid: serde_json::from_str(&centroid).unwrap_or_default(), first_period })
        .collect())
}

/// Where a week's comments go.
#[derive(Default)]
struct Plan {
    /// Per comment: an existing topic, a new one (its index in `new_topics`), or none.
    slots: Vec<Option<Slot>>,
    new_topics: Vec<NewTopic>,
    /// The week's centre of each existing topic that got comments, and how like their topic's
    /// centre its comments were on average.
    existing: BTreeMap<i64, (TermVector, f32)>,
}

#[derive(Clone, Copy)]
enum Slot {
    Existing(i64),
    New(usize),
}

struct NewTopic {
    label: String,
    centroid: TermVector,
}

/// Each comment as a unit feature vector, weighted over the comments given.
fn comment_vectors(texts: &[String]) -> Vec<TermVector> {
    let feats: Vec<Vec<String>> = tokenize_all(texts).iter().map(|t| features(t)).collect();
    let own: Vec<usize> = (0..feats.len()).collect();
    term_vectors(&feats, &own, feats.len())
}

/// A week's comments placed: each in the known topic most like it, if one is like enough; the
/// others clustered (`cluster_texts`, k by silhouette), alike clusters merged and settled into
/// new topics. Pure apart from the tokenizer.
fn plan_week(docs: &[Doc], known: &[TopicRow]) -> Plan {
    if docs.is_empty() {
        return Plan::default();
    }
    let texts: Vec<String> = docs.iter().map(|d| d.text.clone()).collect();
    let vectors = comment_vectors(&texts);
    let mut plan = place_known(&vectors, known);
    let rest: Vec<usize> = (0..docs.len()).filter(|&i| plan.slots[i].is_none()).collect();
    let rest_texts: Vec<String> = rest.iter().map(|&i| texts[i].clone()).collect();
    // Many small clusters, merged afterwards where alike: k-means on a few dozen short comments
    // mixes subjects at the k a silhouette picks, and a mixed cluster cannot be taken apart
    // again, while two halves of one subject are easily put together.
    let Some(result) = over_cluster(&rest_texts) else { return plan };
    let rest_vectors: Vec<TermVector> = rest.iter().map(|&i| vectors[i].clone()).collect();
    let groups = settle_new_topics(&rest_vectors, &result.assignment, result.k, MERGE_THRESHOLD, JOIN_THRESHOLD, MIN_NEW_TOPIC);
    let count = groups.iter().flatten().max().map_or(0, |g| g + 1);
    for g in 0..count {
        let members: Vec<(&TermVector, usize)> = groups.iter().zip(&rest_vectors).filter(|(x, _)| **x == Some(g)).map(|(_, v)| (v, 1)).collect();
        let centroid = weighted_sum(&members);
        plan.new_topics.push(NewTopic { label: top_terms(&centroid, 3).join("·"), centroid });
    }
    for (&i, g) in rest.iter().zip(&groups) {
        plan.slots[i] = g.map(Slot::New);
    }
    plan
}

/// The comments cut into about one cluster per [`MIN_NEW_TOPIC`] distinct comments (at most
/// [`MAX_CLUSTERS`]); `None` when fewer than two clusters' worth are left: those comments stay
/// outside the topics until a later round finds a topic like them.
fn over_cluster(texts: &[String]) -> Option<crate::adapters::nlp::clustering::ClusterResult> {
    let k = (texts.len() / MIN_NEW_TOPIC).clamp(2, MAX_CLUSTERS);
    let options = |k| ClusterOptions { k: KChoice::Fixed(k), ..ClusterOptions::default() };
    match cluster_texts(texts, options(k), &mut |_| {}) {
        Ok(result) => Some(result),
        Err(ClusterError::KTooLarge { distinct, .. }) if distinct / MIN_NEW_TOPIC >= 2 => cluster_texts(texts, options(distinct / MIN_NEW_TOPIC), &mut |_| {}).ok(),
        Err(_) => None,
    }
}

/// Each comment into the known topic most like it, if one reaches [`JOIN_THRESHOLD`].
fn place_known(vectors: &[TermVector], known: &[TopicRow]) -> Plan {
    let topics: Vec<(i64, &TermVector)> = known.iter().filter(|t| !t.centroid.is_empty()).map(|t| (t.id, &t.centroid)).collect();
    let index = TopicIndex::new(&topics);
    let mut plan = Plan::default();
    // Per topic: its comments' vectors, and the sum of their likeness to its centre.
    type Parts<'a> = BTreeMap<i64, (Vec<(&'a TermVector, usize)>, f32)>;
    let mut parts: Parts<'_> = BTreeMap::new();
    for vector in vectors {
        let found = index.best(vector, JOIN_THRESHOLD);
        if let Some((id, similarity)) = found {
            let entry = parts.entry(id).or_insert((Vec::new(), 0.0));
            entry.0.push((vector, 1));
            entry.1 += similarity;
        }
        plan.slots.push(found.map(|(id, _)| Slot::Existing(id)));
    }
    plan.existing = parts.into_iter().map(|(id, (vs, total))| (id, (weighted_sum(&vs), total / vs.len().max(1) as f32))).collect();
    plan
}

fn json<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Clusters one week (`[its Monday, until)`) and stores where its comments went. Returns the
/// comments and topics made, or `None` when another round moved the state on first.
fn track_week(conn: &mut Conn, week: NaiveDate, until: DateTime<Utc>, closing: bool, now: DateTime<Utc>) -> AppResult<Option<(u64, u32)>> {
    let (raw_state, state) = read_state(conn)?;
    if state.next_week.is_some_and(|n| n > week) {
        return Ok(None);
    }
    let docs = gather(conn, clock::to_db(week_begins(week)), clock::to_db(until.min(week_ends(week))), Selection::All)?;
    let known = load_topics(conn)?;
    let plan = plan_week(&docs, &known);
    let next_state = TrackState { next_week: Some(if closing { week + Days::new(7) } else { week }), round: state.round + 1 };
    conn.transaction(|conn| {
        if !swap_state(conn, &raw_state, &next_state)? {
            return Ok(None);
        }
        let before: Vec<i64> = db_run!(conn, |c| topic_periods::table
            .filter(topic_periods::period_start.eq(week))
            .select(topic_periods::topic_id)
            .load(c))?;
        db_run!(conn, |c| diesel::delete(topic_members::table.filter(topic_members::period_start.eq(week))).execute(c))?;
        db_run!(conn, |c| diesel::delete(topic_periods::table.filter(topic_periods::period_start.eq(week))).execute(c))?;
        let mut new_ids = Vec::with_capacity(plan.new_topics.len());
        for topic in &plan.new_topics {
            let id: i64 = db_run!(conn, |c| diesel::insert_into(topics::table)
                .values((
                    topics::label.eq(&topic.label),
                    topics::top_terms.eq(json(&top_terms(&topic.centroid, TOP_TERMS))?),
                    topics::centroid.eq(json(&topic.centroid)?),
                    topics::first_period.eq(week),
                    topics::last_period.eq(week),
                    topics::created_at.eq(clock::to_db(now)),
                ))
                .returning(topics::id)
                .get_result(c))?;
            new_ids.push(id);
        }
        let topic_of = |slot: Slot| match slot {
            Slot::Existing(id) => id,
            Slot::New(i) => new_ids[i],
        };
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for slot in plan.slots.iter().flatten() {
            *counts.entry(topic_of(*slot)).or_insert(0) += 1;
        }
        let born: BTreeMap<i64, NaiveDate> = known.iter().map(|t| (t.id, t.first_period)).collect();
        for (&id, &documents) in &counts {
            let similarity = plan.existing.get(&id).map(|(_, s)| f64::from(*s));
            db_run!(conn, |c| diesel::insert_into(topic_periods::table)
                .values((
                    topic_periods::topic_id.eq(id),
                    topic_periods::period_start.eq(week),
                    topic_periods::documents.eq(to_i32(documents)),
                    topic_periods::similarity.eq(similarity),
                ))
                .execute(c))?;
            let Some((centre, _)) = plan.existing.get(&id) else { continue };
            let first = born.get(&id).copied().unwrap_or(week);
            // A topic born this week takes the week's centre; an older one moves towards it when
            // the week closes.
            let moved = if first >= week {
                Some(centre.clone())
            } else if closing {
                known.iter().find(|t| t.id == id).map(|t| blend(&t.centroid, centre, DRIFT))
            } else {
                None
            };
            let last = week;
            match moved {
                Some(c) => db_run!(conn, |conn| diesel::update(topics::table.find(id))
                    .set((topics::centroid.eq(json(&c)?), topics::top_terms.eq(json(&top_terms(&c, TOP_TERMS))?), topics::last_period.eq(last)))
                    .execute(conn))?,
                None => db_run!(conn, |conn| diesel::update(topics::table.find(id).filter(topics::last_period.lt(last)))
                    .set(topics::last_period.eq(last))
                    .execute(conn))?,
            };
        }
        // Topics this week had before and lost: one born this week with nothing left anywhere
        // and no alert is dropped; the others' latest week is what their rows now say.
        for id in before.into_iter().filter(|id| !counts.contains_key(id)) {
            forget_or_rewind(conn, id, week)?;
        }
        let rows: Vec<_> = docs
            .iter()
            .zip(&plan.slots)
            .filter_map(|(d, slot)| slot.map(|s| (d, topic_of(s))))
            .map(|(d, topic)| {
                (
                    topic_members::source.eq(d.source),
                    topic_members::record_id.eq(d.id),
                    topic_members::topic_id.eq(topic),
                    topic_members::period_start.eq(week),
                    topic_members::occurred_at.eq(d.at),
                    topic_members::department_id.eq(d.department_id),
                    topic_members::bad.eq(d.bad),
                )
            })
            .collect();
        // In batches under SQLite's bound-parameter limit.
        for chunk in rows.chunks(1000) {
            db_run!(conn, |c| diesel::insert_into(topic_members::table).values(chunk).execute(c))?;
        }
        Ok(Some((docs.len() as u64, to_i32(new_ids.len()).unsigned_abs())))
    })
}

/// A topic that lost its rows of `week`: dropped when born that week and left with nothing,
/// else its latest week set back to what remains.
fn forget_or_rewind(conn: &mut Conn, id: i64, week: NaiveDate) -> AppResult<()> {
    let first: Option<NaiveDate> = db_run!(conn, |c| topics::table.find(id).select(topics::first_period).first(c).optional())?;
    let Some(first) = first else { return Ok(()) };
    let members: i64 = db_run!(conn, |c| topic_members::table.filter(topic_members::topic_id.eq(id)).count().get_result(c))?;
    let alerts: i64 = db_run!(conn, |c| topic_alerts::table.filter(topic_alerts::topic_id.eq(id)).count().get_result(c))?;
    let latest: Option<NaiveDate> = db_run!(conn, |c| topic_periods::table
        .filter(topic_periods::topic_id.eq(id))
        .select(diesel::dsl::max(topic_periods::period_start))
        .first(c))?;
    if first >= week && members == 0 && alerts == 0 && latest.is_none() {
        db_run!(conn, |c| diesel::delete(topics::table.find(id)).execute(c))?;
    } else {
        let last = latest.unwrap_or(first);
        db_run!(conn, |c| diesel::update(topics::table.find(id)).set(topics::last_period.eq(last)).execute(c))?;
    }
    Ok(())
}

/// Comments of closed weeks within the alert windows stored since the last round (a late
/// rating, an import) and in no topic: each goes to the topic most like it, if any. (A closed
/// week's leftovers were weighed when it closed; they are not weighed again every round.)
fn place_late(conn: &mut Conn, at: DateTime<Utc>, first_open_week: NaiveDate, stored_since: Option<NaiveDateTime>) -> AppResult<u32> {
    let from = at - Duration::days(WINDOW_DAYS * (BASELINE_WINDOWS as i64 + 1));
    let to = week_begins(first_open_week);
    if from >= to {
        return Ok(0);
    }
    let docs = gather(conn, clock::to_db(from), clock::to_db(to), Selection::Unplaced(stored_since))?;
    if docs.is_empty() {
        return Ok(0);
    }
    let known = load_topics(conn)?;
    if known.is_empty() {
        return Ok(0);
    }
    let texts: Vec<String> = docs.iter().map(|d| d.text.clone()).collect();
    let plan = place_known(&comment_vectors(&texts), &known);
    let rows: Vec<_> = docs
        .iter()
        .zip(&plan.slots)
        .filter_map(|(d, slot)| match slot {
            Some(Slot::Existing(id)) => Some((d, *id)),
            _ => None,
        })
        .map(|(d, topic)| {
            (
                topic_members::source.eq(d.source),
                topic_members::record_id.eq(d.id),
                topic_members::topic_id.eq(topic),
                topic_members::period_start.eq(week_of(clock::from_db(d.at))),
                topic_members::occurred_at.eq(d.at),
                topic_members::department_id.eq(d.department_id),
                topic_members::bad.eq(d.bad),
            )
        })
        .collect();
    let mut placed = 0usize;
    conn.transaction(|conn| {
        for chunk in rows.chunks(1000) {
            // Another scanner may have placed some meanwhile: those stay as they are.
            placed += db_run!(conn, |c| diesel::insert_into(topic_members::table).values(chunk).on_conflict_do_nothing().execute(c))?;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(u32::try_from(placed).unwrap_or(u32::MAX))
}

/// Issues (bad reviews and complaints) per topic in `[from, to)`.
fn issue_counts(conn: &mut Conn, from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<HashMap<i64, u32>> {
    let (from, to) = (clock::to_db(from), clock::to_db(to));
    let rows: Vec<(i64, i64)> = db_run!(conn, |c| topic_members::table
        .filter(topic_members::occurred_at.ge(from))
        .filter(topic_members::occurred_at.lt(to))
        .filter(topic_members::bad.eq(true).or(topic_members::source.eq("complaint")))
        .group_by(topic_members::topic_id)
        .select((topic_members::topic_id, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows.into_iter().map(|(t, n)| (t, u32::try_from(n).unwrap_or(u32::MAX))).collect())
}

/// An alert about to be raised.
struct Candidate {
    topic_id: i64,
    kind: &'static str,
    window_key: NaiveDate,
    count: u32,
    mean: f64,
    sd: f64,
    threshold: f64,
}

/// Raises the surge and new-topic alerts due at `at` (each once: see `topic_alerts`), and mails
/// the new ones to the supervisors in one digest. Returns (surges, new topics) raised.
pub fn raise_alerts(conn: &mut Conn, at: DateTime<Utc>, new_topic_size: u32) -> AppResult<(u32, u32)> {
    let (current, baseline) = alert_windows(at);
    let now_counts = issue_counts(conn, current.start, current.end)?;
    if now_counts.is_empty() {
        return Ok((0, 0));
    }
    let mut history: Vec<HashMap<i64, u32>> = Vec::with_capacity(baseline.len());
    for w in &baseline {
        history.push(issue_counts(conn, w.start, w.end)?);
    }
    let ids: Vec<i64> = now_counts.keys().copied().collect();
    let first_seen: HashMap<i64, NaiveDateTime> = db_run!(conn, |c| topic_members::table
        .filter(topic_members::topic_id.eq_any(&ids))
        .group_by(topic_members::topic_id)
        .select((topic_members::topic_id, diesel::dsl::min(topic_members::occurred_at)))
        .load::<(i64, Option<NaiveDateTime>)>(c))?
    .into_iter()
    .filter_map(|(id, t)| t.map(|t| (id, t)))
    .collect();
    let first_weeks: HashMap<i64, NaiveDate> =
        db_run!(conn, |c| topics::table.filter(topics::id.eq_any(&ids)).select((topics::id, topics::first_period)).load::<(i64, NaiveDate)>(c))?
            .into_iter()
            .collect();
    let day = crate::domain::calendar::local_date(at);
    let mut candidates = Vec::new();
    for (&topic_id, &count) in &now_counts {
        let (Some(&seen), Some(&first_week)) = (first_seen.get(&topic_id), first_weeks.get(&topic_id)) else { continue };
        let seen = clock::from_db(seen);
        if seen >= current.start {
            if new_topic_alert(seen, at, count, new_topic_size) {
                candidates.push(Candidate { topic_id, kind: "new_topic", window_key: first_week, count, mean: 0.0, sd: 0.0, threshold: f64::from(new_topic_size) });
            }
        } else {
            let past: Vec<u32> = history.iter().map(|h| h.get(&topic_id).copied().unwrap_or(0)).collect();
            let s = surge(count, &past);
            if s.alert {
                candidates.push(Candidate { topic_id, kind: "surge", window_key: day, count, mean: s.mean, sd: s.sd, threshold: s.threshold });
            }
        }
    }
    candidates.sort_by_key(|c| (c.kind, c.topic_id));
    let mut raised: Vec<(Candidate, String, Vec<String>, Vec<String>)> = Vec::new();
    for candidate in candidates {
        // A new topic is alerted on once; a surge alert covers its topic for the 7 days the
        // surge stays in the window.
        let since = (candidate.kind == "surge").then(|| clock::to_db(current.start));
        let raised_before: i64 = db_run!(conn, |c| {
            let mut q = topic_alerts::table
                .filter(topic_alerts::topic_id.eq(candidate.topic_id))
                .filter(topic_alerts::kind.eq(candidate.kind))
                .into_boxed();
            if let Some(since) = since {
                q = q.filter(topic_alerts::window_end.gt(since));
            }
            q.count().get_result(c)
        })?;
        if raised_before > 0 {
            continue;
        }
        let (label, terms): (String, String) =
            db_run!(conn, |c| topics::table.find(candidate.topic_id).select((topics::label, topics::top_terms)).first(c))?;
        let terms: Vec<String> = serde_json::from_str(&terms).unwrap_or_default();
        let samples = samples_of(conn, candidate.topic_id, current.start, current.end)?;
        raised.push((candidate, label, terms, samples));
    }
    if raised.is_empty() {
        return Ok((0, 0));
    }
    conn.transaction(|conn| {
        let mut stored = Vec::new();
        for (candidate, label, terms, samples) in &raised {
            let inserted = db_run!(conn, |c| diesel::insert_into(topic_alerts::table)
                .values((
                    topic_alerts::topic_id.eq(candidate.topic_id),
                    topic_alerts::kind.eq(candidate.kind),
                    topic_alerts::window_key.eq(candidate.window_key),
                    topic_alerts::window_start.eq(clock::to_db(current.start)),
                    topic_alerts::window_end.eq(clock::to_db(at)),
                    topic_alerts::count.eq(i32::try_from(candidate.count).unwrap_or(i32::MAX)),
                    topic_alerts::baseline_mean.eq(candidate.mean),
                    topic_alerts::baseline_sd.eq(candidate.sd),
                    topic_alerts::threshold.eq(candidate.threshold),
                    topic_alerts::label.eq(label),
                    topic_alerts::top_terms.eq(json(terms)?),
                    topic_alerts::samples.eq(json(samples)?),
                    topic_alerts::created_at.eq(clock::to_db(at)),
                ))
                .on_conflict_do_nothing()
                .execute(c))?;
            if inserted == 1 {
                stored.push((candidate, label, terms, samples));
            }
        }
        if !stored.is_empty() {
            let recipients = outbox::supervisor_addresses(conn)?;
            let subject = format!("【好差评】新出现的问题：{} 个主题", stored.len());
            let mut body = String::from("监督人员：\n\n好差评系统在近 7 天的差评和投诉中发现以下问题，请关注：\n\n");
            for (c, label, terms, samples) in &stored {
                body.push_str(&alert_text(c.kind, c.topic_id, label, terms, samples, c.count, c.mean, c.sd, c.threshold));
                body.push('\n');
            }
            body.push_str("此邮件由好差评系统自动发送，请勿直接回复。\n");
            outbox::enqueue(conn, "topic_alert", &recipients, &subject, &body, None, at)?;
        }
        let surges = stored.iter().filter(|s| s.0.kind == "surge").count();
        Ok::<_, AppError>((to_i32(surges).unsigned_abs(), to_i32(stored.len() - surges).unsigned_abs()))
    })
}

/// One alert in a mail: what, how many against what, the terms, samples and the link to all.
#[allow(clippy::too_many_arguments)]
fn alert_text(kind: &str, topic_id: i64, label: &str, terms: &[String], samples: &[String], count: u32, mean: f64, sd: f64, threshold: f64) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    if kind == "surge" {
        let _ = writeln!(text, "【激增】主题 #{topic_id} {label}");
        let _ = writeln!(text, "  近 7 天 {count} 件，此前 8 周每周平均 {mean:.1} 件（标准差 {sd:.1}），达到 {threshold:.1} 件即为激增。");
    } else {
        let _ = writeln!(text, "【新问题】主题 #{topic_id} {label}");
        let _ = writeln!(text, "  近 7 天新出现，已有 {count} 件。");
    }
    let _ = writeln!(text, "  关键词：{}", terms.join("、"));
    for s in samples {
        let _ = writeln!(text, "  · {s}");
    }
    let _ = writeln!(text, "  查看全部：{}", outbox::public_link(&format!("/analytics/topics/{topic_id}")));
    text
}

/// Up to [`ALERT_SAMPLES`] different issue texts of a topic in `[from, to)`, newest first,
/// with phone numbers, ID numbers and house numbers hidden.
pub(crate) fn samples_of(conn: &mut Conn, topic_id: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Vec<String>> {
    let (from, to) = (clock::to_db(from), clock::to_db(to));
    let members: Vec<(String, i64)> = db_run!(conn, |c| topic_members::table
        .filter(topic_members::topic_id.eq(topic_id))
        .filter(topic_members::occurred_at.ge(from))
        .filter(topic_members::occurred_at.lt(to))
        .filter(topic_members::bad.eq(true).or(topic_members::source.eq("complaint")))
        .order((topic_members::occurred_at.desc(), topic_members::record_id.desc()))
        .limit(50)
        .select((topic_members::source, topic_members::record_id))
        .load(c))?;
    let texts = texts_of(conn, &members)?;
    let mut seen = BTreeSet::new();
    Ok(members
        .iter()
        .filter_map(|key| texts.get(key))
        .map(|t| mask_personal_text(t))
        .filter(|t| seen.insert(t.clone()))
        .take(ALERT_SAMPLES)
        .collect())
}

/// The texts of comments by (source, record id).
pub(crate) fn texts_of(conn: &mut Conn, keys: &[(String, i64)]) -> AppResult<HashMap<(String, i64), String>> {
    let review_ids: Vec<i64> = keys.iter().filter(|(s, _)| s == "review").map(|(_, id)| *id).collect();
    let complaint_ids: Vec<i64> = keys.iter().filter(|(s, _)| s == "complaint").map(|(_, id)| *id).collect();
    let mut out = HashMap::new();
    for ids in review_ids.chunks(1000) {
        let rows: Vec<(i64, Option<String>)> =
            db_run!(conn, |c| reviews::table.filter(reviews::id.eq_any(ids)).select((reviews::id, reviews::comment)).load(c))?;
        out.extend(rows.into_iter().filter_map(|(id, t)| t.map(|t| (("review".to_owned(), id), t))));
    }
    for ids in complaint_ids.chunks(1000) {
        let rows: Vec<(i64, Option<String>, String)> = db_run!(conn, |c| complaints::table
            .filter(complaints::id.eq_any(ids))
            .select((complaints::id, complaints::title, complaints::content))
            .load(c))?;
        out.extend(rows.into_iter().map(|(id, title, content)| {
            let text = match title {
                Some(t) if !t.trim().is_empty() => format!("{t}。{content}"),
                _ => content,
            };
            (("complaint".to_owned(), id), text)
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::topics::cosine;

    const FUND: [&str; 8] = ["公积金提取一直不到账", "住房公积金提取审核太慢", "公积金提取材料被退回好几次", "公积金贷款审批迟迟不通过",
        "公积金账户余额查询不到", "公积金提取到账要一个月", "公积金转移手续办了三次", "公积金提取要跑好几个窗口"];
    const QUEUE: [&str; 8] = ["排队时间太长，等了两个小时", "窗口排队的人太多，取号后等很久", "排队排了一上午还没轮到", "排队的队伍很长，等候时间长",
        "早上七点去排队，中午才办上", "取号排队要等三个小时", "排队叫号系统经常出错", "周一排队的人特别多，等了很久"];
    const STAFF: [&str; 8] = ["工作人员态度不好，不耐烦", "窗口人员态度差，问两句就发火", "工作人员态度很差，爱理不理", "工作人员态度不好，说话很冲",
        "服务人员态度冷淡，不理人", "咨询时工作人员态度敷衍", "工作人员态度生硬，解释不清", "窗口人员玩手机，态度散漫"];
    const PARKING: [&str; 6] = ["停车场车位太少，找不到地方停车", "停车场收费太贵，停车要花很多钱", "政务中心停车难，停车场总是满的",
        "停车场入口太窄，停车很不方便", "附近停车位太少，停车只能停在路边", "停车场晚上五点就关门，停车不方便"];

    #[test]
    fn thresholds_separate_subjects_and_keep_them_across_weeks() {
        // A week's topics from the first half of each subject's comments, then each comment of
        // the second half against them, vectors weighted over its own week as the tracker does.
        let subjects: [&[&str]; 3] = [&QUEUE, &STAFF, &FUND];
        let first: Vec<String> = subjects.iter().flat_map(|s| s[..4].iter().map(|t| t.to_string())).collect();
        let groups: Vec<usize> = (0..3).flat_map(|g| [g; 4]).collect();
        let feats: Vec<Vec<String>> = tokenize_all(&first).iter().map(|t| features(t)).collect();
        let centres = term_vectors(&feats, &groups, 3);
        let second: Vec<String> = subjects.iter().flat_map(|s| s[4..].iter().map(|t| t.to_string())).chain(PARKING.iter().map(|t| t.to_string())).collect();
        let vectors = comment_vectors(&second);
        let (mut own, mut other) = (Vec::new(), Vec::new());
        for (i, v) in vectors.iter().enumerate() {
            let subject = i / 4;
            for (g, c) in centres.iter().enumerate() {
                if g == subject { own.push(cosine(v, c)) } else { other.push(cosine(v, c)) }
            }
        }
        let lowest_own = own.iter().copied().fold(f32::MAX, f32::min);
        let highest_other = other.iter().copied().fold(f32::MIN, f32::max);
        eprintln!("a comment and its subject's centre: {own:.2?}\nand the other subjects': {other:.2?}");
        assert!(lowest_own >= JOIN_THRESHOLD, "own subject ≥ {JOIN_THRESHOLD}: {own:?}");
        assert!(highest_other < JOIN_THRESHOLD, "other subjects < {JOIN_THRESHOLD}: {other:?}");
        let index = TopicIndex::new(&centres.iter().enumerate().map(|(g, c)| (g as i64, c)).collect::<Vec<_>>());
        let placed: Vec<Option<i64>> = vectors.iter().map(|v| index.best(v, JOIN_THRESHOLD).map(|b| b.0)).collect();
        assert_eq!(placed, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2].into_iter().map(Some).chain([None; 6]).collect::<Vec<_>>(), "停车 fits no topic");
    }

    #[test]
    fn a_first_week_of_four_subjects_makes_four_topics() {
        let mut texts = Vec::new();
        let mut truth = Vec::new();
        for (g, subject) in [&QUEUE[..], &STAFF[..], &FUND[..], &PARKING[..]].into_iter().enumerate() {
            for t in subject.iter().take(6) {
                texts.push(t.to_string());
                truth.push(g);
            }
        }
        let docs: Vec<Doc> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Doc { source: "review", id: i as i64, text: t.clone(), at: NaiveDateTime::default(), department_id: None, bad: true })
            .collect();
        let plan = plan_week(&docs, &[]);
        let labels: Vec<&str> = plan.new_topics.iter().map(|t| t.label.as_str()).collect();
        let slots: Vec<Option<usize>> = plan.slots.iter().map(|s| match s { Some(Slot::New(g)) => Some(*g), _ => None }).collect();
        eprintln!("{labels:?} {slots:?}");
        assert_eq!(plan.new_topics.len(), 4, "{labels:?} {slots:?}");
        for g in 0..4 {
            let found: BTreeSet<Option<usize>> = slots.iter().zip(&truth).filter(|(_, t)| **t == g).map(|(s, _)| *s).collect();
            assert_eq!(found.len(), 1, "subject {g}: {slots:?}");
        }
    }
}
