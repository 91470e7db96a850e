//! The read replica of `DATABASE_READ_URL`, a PostgreSQL streaming standby of the primary.
//! Statistics, rankings, the monthly report, case exports, the public feed, Open311 and the
//! analytics pages read from it through [`AppState::read_db`](super::AppState::read_db), so that
//! their long queries do not load the primary that takes reviews and moves cases.
//!
//! When it does not answer, reads go to the primary: the outage is logged once (not per
//! request), each read the primary serves instead is counted
//! (`haochaping_read_fallbacks_total{reason}`), and a probe thread sends reads back to the
//! replica once it answers again. Nothing written goes through here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::r2d2::{ConnectionManager, NopErrorHandler, Pool};
use diesel::{PgConnection, RunQueryDsl};

use crate::error::{AppError, AppResult};
use crate::storage::{Backend, Conn, PgPool};

/// Connections to the replica per instance: the reads sent there are few and heavy, and a read
/// that finds them all busy goes to the primary rather than queue.
pub const READ_POOL_SIZE: u32 = 4;

/// How long a read waits for a replica connection before it goes to the primary: a stopped
/// replica costs the first read after it stopped this much once, then none.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// libpq's connect timeout (seconds) unless the URL sets one: a host that drops packets would
/// otherwise hold a connection attempt for the kernel's TCP timeout (minutes).
const CONNECT_TIMEOUT_SECONDS: u32 = 2;

/// How often an unreachable replica is tried again.
const PROBE_EVERY: Duration = Duration::from_secs(2);

pub struct ReadReplica {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    /// The replica's URL for the log, password left out.
    shown: String,
    /// Unreachable: reads go to the primary until the probe finds it answering.
    down: AtomicBool,
}

/// What a read sent to the replica came to.
pub enum Outcome<T> {
    /// The replica answered, perhaps with an error of the read itself (a 404 is its answer).
    Answered(AppResult<T>),
    /// No answer: the read goes to the primary; the reason labels the fallback metric.
    Fallback(&'static str),
}

impl ReadReplica {
    /// A pool for the replica beside the primary's. An unreachable replica does not stop the
    /// start: it is logged, reads go to the primary and the probe waits for it.
    pub fn open(url: &str, primary: Backend) -> anyhow::Result<ReadReplica> {
        if primary != Backend::Postgres || crate::storage::backend_of(url)? != Backend::Postgres {
            anyhow::bail!("DATABASE_READ_URL is a PostgreSQL replica of a PostgreSQL DATABASE_URL");
        }
        let pool = Pool::builder()
            .max_size(READ_POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            // r2d2 retries a failed connection in the background every half second: during an
            // outage that would log an error each time; the outage is logged once below.
            .error_handler(Box::new(NopErrorHandler))
            .build_unchecked(ConnectionManager::<PgConnection>::new(with_connect_timeout(url)));
        let replica = ReadReplica { shared: Arc::new(Shared { pool, shown: super::redacted(url), down: AtomicBool::new(false) }) };
        match replica.shared.pool.get() {
            Ok(mut conn) => {
                let standby = in_recovery(&mut conn);
                tracing::info!(replica = %replica.shared.shown, standby = ?standby, "reads of statistics, reports and the public feed go to the read replica");
                if standby == Some(false) {
                    tracing::warn!(replica = %replica.shared.shown, "DATABASE_READ_URL is not in recovery: is it a primary rather than a standby?");
                }
            }
            Err(e) => replica.shared.mark_down(&e.to_string()),
        }
        Ok(replica)
    }

    /// Whether reads go to the primary for now.
    pub fn is_down(&self) -> bool {
        self.shared.down.load(Ordering::Acquire)
    }

    /// Runs `read` on a replica connection, unless the replica is down, busy, or fails under it.
    pub fn read<T>(&self, read: impl FnOnce(&mut Conn) -> AppResult<T>) -> Outcome<T> {
        if self.is_down() {
            return Outcome::Fallback("unreachable");
        }
        let mut conn = match self.shared.pool.get() {
            Ok(c) => Conn::Postgres(c),
            Err(e) => {
                // Every connection open and none free: busy, not gone.
                if self.shared.pool.state().connections >= READ_POOL_SIZE {
                    return Outcome::Fallback("busy");
                }
                self.shared.mark_down(&e.to_string());
                return Outcome::Fallback("unreachable");
            }
        };
        match read(&mut conn) {
            // The connection broke under the read (a replica shutting down ends its sessions).
            Err(AppError::Unavailable(message)) => {
                self.shared.mark_down(&message);
                Outcome::Fallback("lost")
            }
            // The standby cancelled the read to replay the primary's changes: the primary has them.
            Err(AppError::Internal(e)) if recovery_conflict(&e) => {
                tracing::info!(error = %e, "read cancelled on the replica by replay; read from the primary");
                Outcome::Fallback("conflict")
            }
            answered => Outcome::Answered(answered),
        }
    }
}

impl Shared {
    /// Sends reads to the primary; the first caller of an outage logs it and starts the probe.
    fn mark_down(self: &Arc<Self>, error: &str) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(replica = %self.shown, error, "read replica unreachable: statistics, reports and the public feed read from the primary until it answers");
        let shared = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("read-replica-probe".into()).spawn(move || probe(shared));
        if let Err(e) = spawned {
            // No probe: reads stay on the primary until a restart.
            tracing::error!(error = %e, "cannot start the read replica's probe");
        }
    }
}

/// Tries the replica every [`PROBE_EVERY`] until it answers (then reads go back to it) or the
/// state is dropped.
fn probe(shared: Weak<Shared>) {
    let since = Instant::now();
    loop {
        std::thread::sleep(PROBE_EVERY);
        let Some(shared) = shared.upgrade() else { return };
        let answers = shared.pool.get().map(Conn::Postgres).map(|mut conn| crate::storage::ping(&mut conn).is_ok()).unwrap_or(false);
        if answers {
            shared.down.store(false, Ordering::Release);
            tracing::info!(replica = %shared.shown, after_seconds = since.elapsed().as_secs(), "read replica answers again: reads go back to it");
            return;
        }
    }
}

/// `url` with libpq's `connect_timeout` unless it has one.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={CONNECT_TIMEOUT_SECONDS}")
}

/// `pg_is_in_recovery()`: a standby says true; `None` when it cannot be asked.
fn in_recovery(conn: &mut PgConnection) -> Option<bool> {
    #[derive(diesel::QueryableByName)]
    struct Recovery {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        standby: bool,
    }
    diesel::sql_query("SELECT pg_is_in_recovery() AS standby").get_result::<Recovery>(conn).ok().map(|r| r.standby)
}

/// PostgreSQL's "canceling statement due to conflict with recovery" (SQLSTATE 40001 on a
/// standby whose replay waited `max_standby_streaming_delay` for the read).
fn recovery_conflict(error: &anyhow::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error.downcast_ref::<Error>() {
        Some(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info)) => info.message().contains("conflict with recovery"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_added_unless_the_url_has_one() {
        assert_eq!(with_connect_timeout("postgres://r/hcp"), "postgres://r/hcp?connect_timeout=2");
        assert_eq!(with_connect_timeout("postgres://r/hcp?sslmode=require"), "postgres://r/hcp?sslmode=require&connect_timeout=2");
        assert_eq!(with_connect_timeout("postgres://r/hcp?connect_timeout=9"), "postgres://r/hcp?connect_timeout=9");
    }
}
