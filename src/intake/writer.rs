//! Review and transaction intake under load. Reviews are handed to a few writer threads; each takes whatever
//! has queued up while its previous batch was committing and stores it in one transaction:
//! the reviews in one multi-row INSERT, the bad ones' cases and mails in one more each
//! ([`intake::record_reviews_together`]), their audit events in one append at the end. A lone
//! review waits for nobody (a batch of one); under load, reviews share one commit (one WAL
//! flush) and one hold of the audit chain's lock instead of queueing for one each. Every
//! caller is answered only after its batch committed.
//!
//! Measured with `loadgen intake` on PostgreSQL (10 % one-star reviews): one
//! transaction per review sustained 1 200 reviews/s, the server waiting on WAL flushes and on
//! the audit chain's lock, held across each bad review's commit.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};

use crate::domain::rules::Rules;
use crate::error::{AppError, AppResult};
use crate::intake::{self, BatchOutcome, BatchReview, ReviewCommand, ReviewRecorded, TransactionCommand, TransactionRecorded};
use crate::storage::rules::RulesCache;
use crate::storage::{audit, Backend, Conn, DbPool};

/// Reviews stored in one transaction at most.
const MAX_BATCH: usize = 64;
/// Reviews waiting for a writer at most; beyond that callers get 503 rather than a queue
/// that grows without bound.
const MAX_WAITING: usize = 4_096;

struct Job {
    cmd: ReviewCommand,
    now: DateTime<Utc>,
    /// Who stored it, for the audit log of a bad review's case.
    actor: String,
    reply: tokio::sync::oneshot::Sender<AppResult<ReviewRecorded>>,
}

/// The one way a review is stored: the API and the rating page both submit here.
pub struct ReviewWriter {
    pool: DbPool,
    /// The deadline rules a bad review's case is opened with, reloaded by the writer when due.
    rules: Arc<RulesCache>,
    /// Started on first use, so commands that never take a review start no threads.
    queue: OnceLock<SyncSender<Job>>,
}

impl ReviewWriter {
    pub fn new(pool: DbPool, rules: Arc<RulesCache>) -> Self {
        ReviewWriter { pool, rules, queue: OnceLock::new() }
    }

    fn queue(&self) -> &SyncSender<Job> {
        self.queue.get_or_init(|| {
            let (pool, rules) = (self.pool.clone(), Arc::clone(&self.rules));
            start_writers("review-writer", writers(&self.pool), Arc::new(move |batch| store(&pool, &rules, batch)))
        })
    }

    /// Stores one review (a bad one with its case); the answer comes once it is committed.
    pub async fn submit(&self, cmd: ReviewCommand, actor: String, now: DateTime<Utc>) -> AppResult<ReviewRecorded> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue().try_send(Job { cmd, now, actor, reply }).map_err(|e| match e {
            TrySendError::Full(_) => AppError::Unavailable("too many reviews are waiting to be stored; retry shortly".into()),
            TrySendError::Disconnected(_) => AppError::internal(anyhow::anyhow!("the review writers have stopped")),
        })?;
        answer.await.map_err(|_| AppError::Unavailable("the review was not stored (its writer failed and carried on); nothing of it was saved, retry".into()))?
    }
}

/// SQLite has one writer at a time: one thread batches best. PostgreSQL commits in parallel:
/// a few batches in flight keep its group commit busy.
fn writers(pool: &DbPool) -> usize {
    match pool.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    }
}

/// `threads` writer threads over one bounded queue: each takes the next job and whatever else
/// is already waiting (up to [`MAX_BATCH`]) and hands them to `store`, until the queue closes.
fn start_writers<J: Send + 'static>(name: &str, threads: usize, store: Arc<dyn Fn(Vec<J>) + Send + Sync>) -> SyncSender<J> {
    let (sender, receiver) = mpsc::sync_channel(MAX_WAITING);
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..threads {
        let (receiver, store) = (Arc::clone(&receiver), Arc::clone(&store));
        let spawned = std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || write_batches(&receiver, &*store));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start {name}");
        }
    }
    sender
}

fn write_batches<J>(receiver: &Mutex<Receiver<J>>, store: &dyn Fn(Vec<J>)) {
    loop {
        let batch = {
            let receiver = receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let Ok(first) = receiver.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // A writer that panics carries on with the next batch: the panicked batch's transaction
        // is rolled back (its pooled connection is dropped while panicking, so the pool closes
        // it), its callers hear 503 as their answer channels close, and nothing waits for a
        // thread that is gone.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store(batch))).is_err() {
            tracing::error!(thread = std::thread::current().name().unwrap_or("writer"), "a writer panicked; its batch was rolled back and answered 503; the writer carries on");
        }
    }
}

struct TransactionJob {
    cmd: TransactionCommand,
    now: DateTime<Utc>,
    reply: tokio::sync::oneshot::Sender<AppResult<TransactionRecorded>>,
}

/// 办件 pushed one per request by the business systems, stored like reviews: what queued up
/// while the previous batch committed goes in one transaction ([`intake::record_transactions`]),
/// each on its own savepoint, and every caller is answered after the commit.
pub struct TransactionWriter {
    pool: DbPool,
    queue: OnceLock<SyncSender<TransactionJob>>,
}

impl TransactionWriter {
    pub fn new(pool: DbPool) -> Self {
        TransactionWriter { pool, queue: OnceLock::new() }
    }

    pub async fn submit(&self, cmd: TransactionCommand, now: DateTime<Utc>) -> AppResult<TransactionRecorded> {
        let queue = self.queue.get_or_init(|| {
            let pool = self.pool.clone();
            start_writers("transaction-writer", writers(&self.pool), Arc::new(move |batch| store_transactions(&pool, batch)))
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue.try_send(TransactionJob { cmd, now, reply }).map_err(|e| match e {
            TrySendError::Full(_) => AppError::Unavailable("too many transactions are waiting to be stored; retry shortly".into()),
            TrySendError::Disconnected(_) => AppError::internal(anyhow::anyhow!("the transaction writers have stopped")),
        })?;
        answer.await.map_err(|_| AppError::Unavailable("the transaction was not stored (its writer failed and carried on); nothing of it was saved, retry".into()))?
    }
}

fn store_transactions(pool: &DbPool, batch: Vec<TransactionJob>) {
    let now = batch.iter().map(|j| j.now).max().unwrap_or_else(crate::clock::now);
    let stored = pool.get().map_err(AppError::from).and_then(|mut conn| {
        let cmds: Vec<&TransactionCommand> = batch.iter().map(|j| &j.cmd).collect();
        intake::record_transactions(&mut conn, &cmds, now)
    });
    match stored {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        // Nothing of the batch is stored: every caller hears why and may retry.
        Err(e) => {
            for job in batch {
                let _ = job.reply.send(Err(e.for_each_caller()));
            }
        }
    }
}

fn store(pool: &DbPool, rules: &RulesCache, batch: Vec<Job>) {
    let connected = pool.get().map_err(AppError::from).and_then(|mut conn| {
        let rules = rules.get(&mut conn)?;
        Ok((conn, rules))
    });
    let (mut conn, rules) = match connected {
        Ok(connected) => connected,
        Err(e) => {
            let message = unavailable_message(&e);
            for job in batch {
                let _ = job.reply.send(Err(AppError::Unavailable(message.clone())));
            }
            return;
        }
    };
    // Tags outside their band's set in force are refused before anything is stored.
    let mut accepted = Vec::with_capacity(batch.len());
    for mut job in batch {
        match job.cmd.under_rules(&rules) {
            Ok(()) => accepted.push(job),
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
    let batch = accepted;
    if batch.is_empty() {
        return;
    }
    if batch.len() == 1 {
        answer_all(batch, vec![None], &mut conn, &rules);
        return;
    }
    let outcomes = match conn.transaction(|conn| store_together(conn, &batch, &rules)) {
        Ok(outcomes) => outcomes,
        Err(e @ AppError::Unavailable(_)) => {
            let message = unavailable_message(&e);
            batch.iter().map(|_| Some(Err(AppError::Unavailable(message.clone())))).collect()
        }
        // Whatever failed the batch (nothing of it is stored), each review on its own gets
        // its own answer and cannot fail the others.
        Err(e) => {
            tracing::warn!(error = %e, reviews = batch.len(), "review batch failed; storing each alone");
            batch.iter().map(|_| None).collect()
        }
    };
    answer_all(batch, outcomes, &mut conn, &rules);
}

/// Inside the batch's transaction: the reviews, the bad ones' cases and their mails in a few
/// multi-row INSERTs, then the cases' audit events. `None`: store alone after the commit.
fn store_together(conn: &mut Conn, batch: &[Job], rules: &Rules) -> AppResult<Vec<Option<AppResult<ReviewRecorded>>>> {
    let reviews: Vec<BatchReview<'_>> = batch
        .iter()
        .map(|job| BatchReview {
            cmd: &job.cmd,
            now: job.now,
            opens_case: job.cmd.content.stars.is_bad().then_some((job.actor.as_str(), rules)),
        })
        .collect();
    let (outcomes, opened) = intake::record_reviews_together(conn, &reviews)?;
    // The cases' audit events in one append, last: the chain's lock is held only from here to
    // the commit, once per batch.
    audit::append_all(conn, &opened)?;
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            BatchOutcome::Decided(result) => Some(result),
            BatchOutcome::Alone => None,
        })
        .collect())
}

/// Answers each job: with its decided outcome, or by storing it alone.
fn answer_all(batch: Vec<Job>, outcomes: Vec<Option<AppResult<ReviewRecorded>>>, conn: &mut Conn, rules: &Rules) {
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| {
            if job.cmd.content.stars.is_bad() {
                intake::record_review(conn, &job.cmd, &job.actor, job.now, rules)
            } else {
                intake::record_good_review_alone(conn, &job.cmd, job.now)
            }
        });
        // Given while a staff session was signed in on the same browser: flagged for the
        // supervisors before the caller hears back. Should that fail, the scanner flags it.
        if let (Ok(recorded), true) = (&outcome, job.cmd.origin.staff_session) {
            if let Err(e) = crate::cases::integrity::flag_staff_sessions(conn, &[recorded.id], job.now) {
                tracing::warn!(error = %e, review = recorded.id, "staff-session flag not raised now; the scanner will");
            }
        }
        // The caller may have gone away (timeout, closed connection); the review stays stored.
        let _ = job.reply.send(outcome);
    }
}

fn unavailable_message(e: &AppError) -> String {
    match e {
        AppError::Unavailable(message) => message.clone(),
        other => other.to_string(),
    }
}
