//! Storage: one diesel code base over SQLite (default, bundled) and PostgreSQL (by URL).
//!
//! Queries are written once and compiled for each backend by [`db_run!`], which matches on the
//! pooled connection. We do not use `diesel::MultiConnection` because it restricts the query DSL
//! to what all backends share (no `RETURNING`, no `ON CONFLICT`, no row locks), and those are
//! exactly what intake and the scanner need.

pub mod schema;
pub mod models;
pub mod queries;
pub mod audit;
pub mod personal_data;
pub mod rules;
pub mod search;
pub mod sql_enums;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// A pool of connections to whichever backend `DATABASE_URL` names.
#[derive(Clone)]
pub enum DbPool {
    Sqlite(SqlitePool, WriteLock),
    Postgres(PgPool),
}

/// One pooled connection. Query functions take `&mut Conn` so that they work both inside and
/// outside [`Conn::transaction`].
pub enum Conn {
    Sqlite(SqliteConn),
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
}

/// SQLite has one writer at a time. Writers of one pool queue on this lock in the process
/// rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms: measured with
/// `loadgen intake`, that polling alone put p99 over 200 ms.
pub type WriteLock = std::sync::Arc<std::sync::Mutex<()>>;

/// A pooled SQLite connection and its pool's [`WriteLock`].
pub struct SqliteConn {
    conn: PooledConnection<ConnectionManager<SqliteConnection>>,
    writer: WriteLock,
}

impl std::ops::Deref for SqliteConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for SqliteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// Runs the same diesel code against the concrete connection of either backend.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::storage::Conn::Sqlite(pooled) => {
                let $c: &mut ::diesel::SqliteConnection = &mut **pooled;
                $body
            }
            $crate::storage::Conn::Postgres(pooled) => {
                let $c: &mut ::diesel::PgConnection = &mut **pooled;
                $body
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("unsupported DATABASE_URL scheme in {0:?}: use sqlite://PATH or postgres://...")]
    UnknownScheme(String),
    #[error("cannot open the database: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot migrate the database: {0}")]
    Migration(String),
    #[error("cannot open {0}: {1}")]
    Open(String, diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// SQLite settings applied to every connection: WAL for concurrent readers, foreign keys (off
/// by default in SQLite), and a busy timeout so writers queue instead of failing.
///
/// `synchronous = FULL`: a 201 means the review is on disk (the WAL is synced at each commit),
/// as PostgreSQL's default `synchronous_commit = on` means; NORMAL would lose the last commits
/// on a power cut.
///
/// The WAL file is cut back to 1 MiB whenever it starts over, so that a burst (migrations, an
/// import) does not keep its size on disk.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, with
/// fsyncs, while every other writer waits on the write lock (at the default 1 000 pages it put
/// p99 at 560 ms). The pool's [`spawn_checkpointer`] thread does it instead, beside the
/// writers; the automatic one stays, at 4 000 pages (16 MiB), only as a bound on the WAL should
/// that thread fall behind.
#[derive(Debug)]
struct SqliteOptions;

/// One statement each: `sql_query` runs only the first statement of a string, so these went
/// unapplied (journal mode `delete`, no foreign keys) until a test asked SQLite.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
     PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 1048576;";

/// WAL is a property of the file: set once, before the pool opens its connections at the same
/// time (each switching a new file itself raced for the lock and failed with "database is
/// locked").
fn use_wal(path: &str) -> Result<(), DbSetupError> {
    use diesel::connection::SimpleConnection;
    let mut conn = SqliteConnection::establish(path).map_err(|e| DbSetupError::Open(path.to_owned(), e))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
    Ok(())
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteOptions {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(SQLITE_PRAGMAS).map_err(diesel::r2d2::Error::QueryError)
    }
}

impl DbPool {
    /// Opens a pool for `sqlite://PATH` (or a bare path) or `postgres://...`.
    pub fn connect(url: &str, max_size: u32) -> Result<Self, DbSetupError> {
        match backend_of(url)? {
            Backend::Postgres => {
                let pool = Pool::builder()
                    .max_size(max_size)
                    .connection_timeout(Duration::from_secs(5))
                    .build(ConnectionManager::<PgConnection>::new(url))?;
                Ok(DbPool::Postgres(pool))
            }
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                use_wal(path)?;
                let pool = Pool::builder()
                    .max_size(max_size)
                    .connection_timeout(Duration::from_secs(10))
                    .connection_customizer(Box::new(SqliteOptions))
                    .build(ConnectionManager::<SqliteConnection>::new(path))?;
                let writer = WriteLock::default();
                spawn_checkpointer(path.to_owned(), std::sync::Arc::downgrade(&writer));
                Ok(DbPool::Sqlite(pool, writer))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbPool::Sqlite(..) => Backend::Sqlite,
            DbPool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn get(&self) -> Result<Conn, diesel::r2d2::PoolError> {
        Ok(match self {
            DbPool::Sqlite(p, writer) => Conn::Sqlite(SqliteConn { conn: p.get()?, writer: writer.clone() }),
            DbPool::Postgres(p) => Conn::Postgres(p.get()?),
        })
    }

    /// Applies pending embedded migrations. On PostgreSQL an advisory lock keeps several
    /// starting instances from migrating at once.
    pub fn migrate(&self) -> Result<usize, DbSetupError> {
        let mut conn = self.get()?;
        let applied = match &mut conn {
            Conn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| DbSetupError::Migration(e.to_string()))?,
            Conn::Postgres(c) => {
                // Nothing pending: no DDL at all, so an application role without CREATE starts
                // (the owner role runs `haochaping migrate` on upgrades).
                if pg_up_to_date(c) {
                    return Ok(0);
                }
                diesel::sql_query("SELECT pg_advisory_lock(724100)").execute(&mut **c)?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.len())
                    .map_err(|e| DbSetupError::Migration(e.to_string()));
                diesel::sql_query("SELECT pg_advisory_unlock(724100)").execute(&mut **c)?;
                result?
            }
        };
        Ok(applied)
    }
}

/// Whether every embedded PostgreSQL migration is recorded as applied (false when that cannot be
/// read, e.g. on a new database: then the harness runs and says what is wrong).
fn pg_up_to_date(conn: &mut PgConnection) -> bool {
    use diesel::migration::MigrationSource;
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let Ok(embedded) = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS) else { return false };
    let Ok(applied) = conn.transaction(|c| diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<Applied>(c)) else { return false };
    let applied: std::collections::HashSet<String> = applied.into_iter().map(|a| a.version).collect();
    embedded.iter().all(|m| applied.contains(&m.name().version().to_string()))
}

/// How often the checkpointer copies the WAL back into the database file: often enough that a
/// burst of commits on a fast disk (hundreds of KB in 50 ms) leaves a small WAL; a checkpoint
/// with nothing to copy only reads the WAL index.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Checkpoints the pool's WAL from a connection of its own until the pool (the last holder of
/// its [`WriteLock`]) is dropped. The bulk is copied beside the writers (PASSIVE waits for no
/// one); only the frames written meanwhile are copied while the writers wait.
fn spawn_checkpointer(path: String, pool_alive: std::sync::Weak<std::sync::Mutex<()>>) {
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        let mut conn: Option<SqliteConnection> = None;
        let mut warned = false;
        while pool_alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            if conn.is_none() {
                conn = SqliteConnection::establish(&path).ok();
            }
            let Some(c) = conn.as_mut() else { continue };
            let checkpointed = checkpoint_beside_writers(c).and_then(|()| {
                // Writers kept appending meanwhile, and the WAL only starts over when a writer
                // finds every frame copied: copy the few new ones between two writers.
                let Some(writer) = pool_alive.upgrade() else { return Ok(()) };
                let _turn = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                wal_checkpoint(c).map(|_| ())
            });
            match checkpointed {
                Ok(_) => warned = false,
                Err(e) => {
                    // Disk full or read-only: the writers report it; say it once here.
                    if !warned {
                        tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
                        warned = true;
                    }
                    conn = None;
                }
            }
        }
        // The pool is gone: a last checkpoint so the WAL does not outlive it.
        if let Some(c) = conn.as_mut() {
            let _ = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the SQLite checkpointer");
    }
}

/// WAL frames left to copy at most before the checkpointer makes the writers wait for it.
const CHECKPOINT_TAIL_FRAMES: i64 = 200;

#[derive(QueryableByName)]
struct CheckpointProgress {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// One PASSIVE checkpoint: the frames still not copied into the database file.
fn wal_checkpoint(conn: &mut SqliteConnection) -> QueryResult<i64> {
    let progress: CheckpointProgress = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    Ok(i64::from(progress.log) - i64::from(progress.checkpointed))
}

/// PASSIVE checkpoints until what the writers added meanwhile is small (a few rounds at most:
/// under a heavy load the locked pass copies what is left).
fn checkpoint_beside_writers(conn: &mut SqliteConnection) -> QueryResult<()> {
    for _ in 0..4 {
        if wal_checkpoint(conn)? <= CHECKPOINT_TAIL_FRAMES {
            break;
        }
    }
    Ok(())
}

/// One round trip to the database: whether it answers.
/// Blocking database work off the async executor (the senders and push jobs of `serve`), with
/// a connection from `pool`.
pub async fn on_pool<T, F>(pool: &DbPool, f: F) -> crate::error::AppResult<T>
where
    F: FnOnce(&mut Conn) -> crate::error::AppResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || f(&mut pool.get()?)).await?
}

pub fn ping(conn: &mut Conn) -> crate::error::AppResult<()> {
    use diesel::RunQueryDsl;
    crate::db_run!(conn, |c| diesel::sql_query("SELECT 1").execute(c))?;
    Ok(())
}

pub fn backend_of(url: &str) -> Result<Backend, DbSetupError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite://") || !url.contains("://") {
        Ok(Backend::Sqlite)
    } else {
        Err(DbSetupError::UnknownScheme(url.to_owned()))
    }
}

/// The file of a SQLite `DATABASE_URL`; `None` for PostgreSQL or SQLite's in-memory database.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    match backend_of(url) {
        Ok(Backend::Sqlite) => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
        }
        _ => None,
    }
}

/// Writes a consistent copy of a live SQLite database to `out` with `VACUUM INTO`: one read
/// transaction, so writers carry on while it runs and the copy is the database at one instant,
/// with the WAL folded in (copying the file itself could catch a half-checkpointed state).
pub fn backup_sqlite_into(conn: &mut Conn, out: &std::path::Path) -> QueryResult<()> {
    use diesel::RunQueryDsl;
    match conn {
        Conn::Sqlite(c) => {
            diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(out.to_string_lossy().into_owned()).execute(&mut **c)?;
            Ok(())
        }
        Conn::Postgres(_) => Err(diesel::result::Error::QueryBuilderError("VACUUM INTO is SQLite's; back PostgreSQL up with pg_dump".into())),
    }
}

/// SQLite's `PRAGMA integrity_check`: `ok`, or what it found.
pub fn sqlite_integrity_check(conn: &mut Conn) -> QueryResult<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let rows: Vec<Row> = db_run!(conn, |c| diesel::RunQueryDsl::load(diesel::sql_query("PRAGMA integrity_check"), c))?;
    Ok(rows.into_iter().map(|r| r.integrity_check).collect::<Vec<_>>().join("; "))
}

/// What a database holds, for a backup's report.
#[derive(Debug, serde::Serialize)]
pub struct TableCounts {
    pub transactions: i64,
    pub reviews: i64,
    pub complaints: i64,
    pub cases: i64,
    pub audit_events: i64,
}

pub fn table_counts(conn: &mut Conn) -> QueryResult<TableCounts> {
    use schema::{audit_events, cases, complaints, reviews, transactions};
    Ok(TableCounts {
        transactions: db_run!(conn, |c| transactions::table.count().get_result::<i64>(c))?,
        reviews: db_run!(conn, |c| reviews::table.count().get_result::<i64>(c))?,
        complaints: db_run!(conn, |c| complaints::table.count().get_result::<i64>(c))?,
        cases: db_run!(conn, |c| cases::table.count().get_result::<i64>(c))?,
        audit_events: db_run!(conn, |c| audit_events::table.count().get_result::<i64>(c))?,
    })
}

/// Rows an operator put in: master data, accounts, keys, 办件 and complaints (what the
/// service seeds by itself at start — calendars, tag sets — is not counted).
pub fn operator_rows(conn: &mut Conn) -> QueryResult<i64> {
    use schema::{api_keys, assignments, complaints, departments, service_items, sms_outbox, staff, transactions, users, webhooks, windows};
    let mut total = 0;
    total += db_run!(conn, |c| departments::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| service_items::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| windows::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| staff::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| assignments::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| users::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| api_keys::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| webhooks::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| transactions::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| complaints::table.count().get_result::<i64>(c))?;
    total += db_run!(conn, |c| sms_outbox::table.count().get_result::<i64>(c))?;
    Ok(total)
}

fn in_transaction<C>(conn: &mut C) -> QueryResult<bool>
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    Ok(AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some())
}

impl Conn {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise, so a
    /// failed request leaves no row behind. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that later upgrades to a writer can fail with
    /// SQLITE_BUSY without waiting for the busy timeout.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        // Nested calls become savepoints; only the outermost SQLite transaction queues for the
        // pool's writer lock (held until this function returns, after commit or rollback) and
        // then takes SQLite's own with BEGIN IMMEDIATE.
        let writer = match self {
            Conn::Sqlite(c) => (!in_transaction(&mut **c)?).then(|| c.writer.clone()),
            Conn::Postgres(_) => None,
        };
        let _turn = writer.as_ref().map(|w| w.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        match self {
            Conn::Sqlite(c) if writer.is_some() => AnsiTransactionManager::begin_transaction_sql(&mut **c, "BEGIN IMMEDIATE")?,
            Conn::Sqlite(c) => AnsiTransactionManager::begin_transaction(&mut **c)?,
            Conn::Postgres(c) => AnsiTransactionManager::begin_transaction(&mut **c)?,
        }
        match f(self) {
            Ok(value) => {
                let committed = match self {
                    Conn::Sqlite(c) => AnsiTransactionManager::commit_transaction(&mut **c),
                    Conn::Postgres(c) => AnsiTransactionManager::commit_transaction(&mut **c),
                };
                if let Err(e) = committed {
                    self.rollback_quietly();
                    return Err(e.into());
                }
                Ok(value)
            }
            Err(e) => {
                self.rollback_quietly();
                Err(e)
            }
        }
    }

    /// Runs one write statement that commits by itself: on PostgreSQL one round trip in
    /// autocommit instead of BEGIN … COMMIT; on SQLite in [`Conn::transaction`] (in process,
    /// no round trips to save).
    pub fn single_write<T>(&mut self, f: impl FnOnce(&mut Conn) -> QueryResult<T>) -> QueryResult<T> {
        match self {
            // BEGIN IMMEDIATE as well: a statement that reads before it writes would otherwise
            // start as a reader, and a reader that must become the writer after another
            // process wrote gets SQLITE_BUSY at once, without the busy timeout.
            Conn::Sqlite(_) => self.transaction(f),
            Conn::Postgres(_) => f(self),
        }
    }

    fn rollback_quietly(&mut self) {
        let result = match self {
            Conn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
            Conn::Postgres(c) => AnsiTransactionManager::rollback_transaction(&mut **c),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "rollback failed; the connection will be discarded");
        }
    }

    /// Serialises writers of a global sequence (the audit chain) for the rest of the current
    /// transaction. SQLite already holds its single write lock since `BEGIN IMMEDIATE`.
    pub fn lock_for_chain(&mut self, key: i64) -> QueryResult<()> {
        if let Conn::Postgres(c) = self {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .execute(&mut **c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits checkpoint themselves only past 16 MiB of WAL, so without the pool's
    /// checkpointer the WAL would grow far beyond what the checkpointer leaves.
    #[test]
    fn sqlite_connections_use_wal_and_foreign_keys_and_the_checkpointer_keeps_the_wal_small() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        let pool = DbPool::connect(&format!("sqlite://{}", path.display()), 2).expect("pool");
        let mut conn = pool.get().expect("connection");
        #[derive(QueryableByName)]
        struct Pragma {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let mode: Pragma = db_run!(&mut conn, |c| diesel::sql_query("PRAGMA journal_mode").get_result(c)).expect("journal mode");
        assert_eq!(mode.journal_mode, "wal");
        #[derive(QueryableByName)]
        struct ForeignKeys {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            foreign_keys: i32,
        }
        let fk: ForeignKeys = db_run!(&mut conn, |c| diesel::sql_query("PRAGMA foreign_keys").get_result(c)).expect("foreign keys");
        assert_eq!(fk.foreign_keys, 1);
        db_run!(&mut conn, |c| diesel::sql_query("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)").execute(c))
            .expect("create");
        let body = vec![7u8; 16 * 1024];
        let started = std::time::Instant::now();
        let (mut largest_wal, mut commits) = (0, 0u64);
        // Long enough for many checkpoint periods.
        while started.elapsed() < Duration::from_secs(2) {
            commits += 1;
            conn.transaction(|conn| {
                db_run!(conn, |c| diesel::sql_query("INSERT INTO blobs (body) VALUES (?)")
                    .bind::<diesel::sql_types::Binary, _>(&body)
                    .execute(c))
            })
            .expect("insert");
            let wal = std::fs::metadata(dir.path().join("wal.db-wal")).map(|m| m.len()).unwrap_or(0);
            largest_wal = largest_wal.max(wal);
        }
        let written = commits * body.len() as u64;
        assert!(largest_wal < written / 4, "WAL reached {largest_wal} bytes for {written} bytes written");
    }
}
