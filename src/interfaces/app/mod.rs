//! Shared state of a running instance and the start-up sequence every command goes through.

pub mod config;
pub mod metrics;
pub mod replica;
pub mod telemetry;

use std::sync::Arc;

use diesel::prelude::*;

use crate::adapters::security::RatingSigner;
use crate::clock;
use crate::db_run;
use crate::domain::calendar::official_years;
use crate::domain::rules::Rules;
use crate::error::{AppError, AppResult};
use crate::storage::rules::RulesCache;
use crate::storage::schema::calendar_years;
use crate::storage::{Conn, DbPool};
use metrics::Metrics;
use config::Config;

pub struct AppState {
    pub pool: DbPool,
    /// The replica of `DATABASE_READ_URL` that [`AppState::read_db`] reads from, when set.
    pub replica: Option<replica::ReadReplica>,
    pub config: Config,
    pub signer: RatingSigner,
    pub cookies: crate::adapters::security::CookieSigner,
    pub metrics: Metrics,
    pub router: Option<crate::adapters::nlp::routing::ComplaintRouter>,
    pub throttle: crate::adapters::throttle::Throttle,
    pub api_keys: crate::admin::accounts::ApiKeyCache,
    pub reviews: crate::intake::writer::ReviewWriter,
    pub transactions: crate::intake::writer::TransactionWriter,
    pub rules: Arc<RulesCache>,
    /// The relay of `HCP_SMTP_URL`, checked at start; `None`: mails stay queued.
    pub mailer: Option<Arc<crate::adapters::mail::smtp::Mailer>>,
}

/// Connections per instance: SQLite has one writer at a time anyway; PostgreSQL's are shared
/// by every instance, so a few each.
pub fn pool_size(backend: crate::storage::Backend) -> u32 {
    match backend {
        crate::storage::Backend::Sqlite => 8,
        crate::storage::Backend::Postgres => 16,
    }
}

impl AppState {
    /// Migrates, seeds what must exist (official calendars, the signing secret) and returns
    /// the state every command shares.
    pub fn bootstrap(config: Config) -> anyhow::Result<Arc<AppState>> {
        let pool = DbPool::connect(&config.database_url, pool_size(crate::storage::backend_of(&config.database_url)?))?;
        let applied = pool.migrate()?;
        let replica = config.database_read_url.as_deref().map(|url| replica::ReadReplica::open(url, pool.backend())).transpose()?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let mut conn = pool.get()?;
        seed_official_calendars(&mut conn)?;
        let made = crate::admin::rules::keep_calendar_ahead(&mut conn, clock::now()).map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
        if !made.is_empty() {
            tracing::info!(years = ?made, "provisional working-day calendars generated from the statutory holidays");
        }
        crate::storage::rules::seed_tag_sets(&mut conn, clock::to_db(clock::now())).map_err(|e| anyhow::anyhow!("seeding tag sets: {e}"))?;
        let keys = crate::admin::signing_keys::active_keys(&mut conn, config.secret.as_deref(), clock::now())?;
        let data_key = crate::admin::data_keys::install(&mut conn, config.data_key.as_deref(), &config.data_key_previous)?;
        let rules = crate::storage::rules::load(&mut conn).map_err(|e| anyhow::anyhow!("loading rules: {e}"))?;
        drop(conn);
        let rules = Arc::new(RulesCache::new(rules));
        let signer = RatingSigner::with_keys(&keys.current, &keys.earlier);
        let mailer = match config.smtp() {
            Some(settings) => Some(Arc::new(
                crate::adapters::mail::smtp::Mailer::new(&settings, &config.mail_from)?
                    .with_links(&config.public_url, signer.clone())
                    .with_max_attempts(config.mail_max_attempts),
            )),
            None => None,
        };
        if let Some(dir) = &config.nlp_dir {
            let taken = crate::adapters::nlp::tokenize::Tokenizer::override_from(dir);
            tracing::info!(nlp_dir = %dir.display(), overrides = ?taken, "HCP_NLP_DIR set: its files override the built-in ones");
        }
        let router = crate::adapters::nlp::routing::ComplaintRouter::load(config.nlp_dir.as_deref(), config.router_threshold);
        tracing::info!(
            database = %redacted(&config.database_url),
            router = %config.nlp_dir.as_ref().map(|d| d.join("router.json").display().to_string()).unwrap_or_else(|| "built-in".into()),
            public_url = %config.public_url,
            mail = %mailer.as_ref().map(|m| format!("{:?}{}", m.security, if m.authenticated { ", authenticated" } else { "" })).unwrap_or_else(|| "unset: mails stay queued".into()),
            rating_key = keys.current.id,
            rating_key_fingerprint = %keys.fingerprint,
            personal_data_key = %data_key.as_deref().unwrap_or("unset: names and phones stored in clear"),
            "haochaping starting"
        );
        if router.is_some() {
            // Build jieba's dictionary now rather than on the first complaint.
            std::thread::spawn(|| {
                let _warm = crate::adapters::nlp::tokenize::Tokenizer::shared();
            });
        }
        Ok(Arc::new(AppState {
            reviews: crate::intake::writer::ReviewWriter::new(pool.clone(), Arc::clone(&rules)),
            transactions: crate::intake::writer::TransactionWriter::new(pool.clone()),
            pool,
            replica,
            router,
            signer,
            // Sessions are signed with the current key: a rotation signs staff out once.
            cookies: crate::adapters::security::CookieSigner::new(&format!("session:{}", keys.current.secret)),
            throttle: crate::adapters::throttle::Throttle::new(config.integration_per_second),
            config,
            metrics: Metrics::new(),
            rules,
            api_keys: crate::admin::accounts::ApiKeyCache::default(),
            mailer,
        }))
    }

    pub fn conn(&self) -> AppResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work off the async executor, with a pooled connection.
    pub async fn db<T, F>(self: &Arc<Self>, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut Conn, &AppState) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let state = Arc::clone(self);
        actix_web::web::block(move || {
            let mut conn = state.conn()?;
            f(&mut conn, &state)
        })
        .await?
    }

    /// Runs read-only work on the read replica (`DATABASE_READ_URL`), or on the primary when
    /// there is none or it does not answer (see [`replica`]). Its data may be a moment behind
    /// the primary's: only reads that may lag go here, never a write, nor a read a write
    /// depends on. `f` may run twice (the replica failed under it, then the primary): it must
    /// not write. Take the rules with [`AppState::read_rules`].
    pub async fn read_db<T, F>(self: &Arc<Self>, f: F) -> AppResult<T>
    where
        F: Fn(&mut Conn, &AppState) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.replica.is_none() {
            return self.db(f).await;
        }
        let state = Arc::clone(self);
        actix_web::web::block(move || {
            if let Some(replica) = &state.replica {
                match replica.read(|conn| f(conn, &state)) {
                    replica::Outcome::Answered(result) => return result,
                    replica::Outcome::Fallback(reason) => state.metrics.read_fallback(reason),
                }
            }
            let mut conn = state.conn()?;
            f(&mut conn, &state)
        })
        .await?
    }

    /// The rules for a read of [`AppState::read_db`]: the cached ones, else loaded on `conn`,
    /// and cached only without a replica (a lagging one must not put older rules before the writers).
    pub fn read_rules(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        match self.rules.fresh() {
            Some(rules) => Ok(rules),
            None if self.replica.is_none() => self.rules.reload(conn),
            None => Ok(Arc::new(crate::storage::rules::load(conn)?)),
        }
    }

    /// A citizen's rating or 回访 from this client address, against the quota every instance
    /// shares (429 over it).
    pub async fn citizen_rating_quota(self: &Arc<Self>, address: Option<std::net::IpAddr>) -> AppResult<()> {
        if address.is_none() {
            return Ok(());
        }
        self.db(move |conn, _| crate::adapters::throttle::citizen_rating(conn, address, clock::now())).await
    }

    /// The rules in force, from the cache or reloaded when due.
    pub fn rules(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        self.rules.get(conn)
    }
}

/// Seeds each official year not yet in the database; an admin's edit of a year is kept.
/// A database URL for the log: the password, if any, left out.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn seed_official_calendars(conn: &mut Conn) -> Result<(), AppError> {
    let now = clock::to_db(clock::now());
    for year in official_years() {
        conn.transaction(|conn| {
            let known: i64 = db_run!(conn, |c| calendar_years::table
                .filter(calendar_years::year.eq(year.year))
                .count()
                .get_result(c))?;
            if known > 0 {
                return Ok::<(), AppError>(());
            }
            crate::admin::rules::store_year(conn, &year, crate::domain::calendar::YearStatus::Official, "official", now)?;
            Ok(())
        })?;
    }
    Ok(())
}
