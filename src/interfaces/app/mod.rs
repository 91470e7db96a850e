//! Shared state of a running instance and the start-up sequence every command goes through.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::clock;
use crate::config::Config;
use crate::db_run;
use crate::domain::calendar::{official_years, WorkCalendar, YearCalendar};
use crate::domain::sla::SlaPolicy;
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::security::{random_secret, RatingSigner};
use crate::storage::schema::{calendar_days, calendar_years, sla_policies};
use crate::storage::{queries, Conn, DbPool};

/// The working-day calendar and SLA policies, as the deadline code needs them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub calendar: WorkCalendar,
    policies: HashMap<String, SlaPolicy>,
}

impl Rules {
    /// The policy for a case source (`review`, `hotline_12345`, …); the default when none is set.
    pub fn policy(&self, source: &str) -> SlaPolicy {
        self.policies.get(source).copied().unwrap_or_default()
    }

    pub fn load(conn: &mut Conn) -> AppResult<Rules> {
        let days: Vec<(NaiveDate, String)> =
            db_run!(conn, |c| calendar_days::table.select((calendar_days::day, calendar_days::kind)).load(c))?;
        let mut years: HashMap<i32, YearCalendar> = HashMap::new();
        for (day, kind) in days {
            use chrono::Datelike;
            let y = years
                .entry(day.year())
                .or_insert_with(|| YearCalendar { year: day.year(), holidays: vec![], workdays: vec![] });
            if kind == "workday" {
                y.workdays.push(day);
            } else {
                y.holidays.push(day);
            }
        }
        let rows: Vec<(String, i32, i32, i32, i32)> = db_run!(conn, |c| sla_policies::table
            .select((
                sla_policies::source,
                sla_policies::feedback_days,
                sla_policies::reply_days,
                sla_policies::extended_reply_days,
                sla_policies::supervision_days,
            ))
            .load(c))?;
        let to_days = |v: i32| u32::try_from(v).unwrap_or(0);
        let policies = rows
            .into_iter()
            .map(|(source, f, r, e, s)| {
                let policy = SlaPolicy {
                    feedback_days: to_days(f),
                    reply_days: to_days(r),
                    extended_reply_days: to_days(e),
                    supervision_days: to_days(s),
                };
                (source, policy)
            })
            .collect();
        Ok(Rules { calendar: WorkCalendar::from_years(years.values()), policies })
    }
}

/// How long another instance's calendar or SLA edit may take to reach this one.
const RULES_TTL: Duration = Duration::from_secs(30);

pub struct AppState {
    pub pool: DbPool,
    pub config: Config,
    pub signer: RatingSigner,
    pub cookies: crate::security::CookieSigner,
    pub metrics: Metrics,
    pub router: Option<crate::routing::ComplaintRouter>,
    pub throttle: crate::throttle::Throttle,
    pub api_keys: crate::accounts::ApiKeyCache,
    pub reviews: crate::review_writer::ReviewWriter,
    rules: RwLock<(Instant, Arc<Rules>)>,
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
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let mut conn = pool.get()?;
        seed_official_calendars(&mut conn)?;
        let secret = match &config.secret {
            Some(s) => s.clone(),
            None => queries::setting_or_insert(&mut conn, "rating_secret", &random_secret())?,
        };
        let rules = Rules::load(&mut conn).map_err(|e| anyhow::anyhow!("loading rules: {e}"))?;
        drop(conn);
        let router = crate::routing::ComplaintRouter::load(&config.nlp_dir, config.router_threshold);
        if router.is_some() {
            // Build jieba's dictionary now rather than on the first complaint.
            std::thread::spawn(|| {
                let _warm = crate::analytics::tokenize::Tokenizer::shared();
            });
        }
        Ok(Arc::new(AppState {
            reviews: crate::review_writer::ReviewWriter::new(pool.clone()),
            pool,
            router,
            signer: RatingSigner::new(&secret),
            cookies: crate::security::CookieSigner::new(&format!("session:{secret}")),
            throttle: crate::throttle::Throttle::new(config.integration_per_second),
            config,
            metrics: Metrics::new(),
            api_keys: crate::accounts::ApiKeyCache::default(),
            rules: RwLock::new((Instant::now(), Arc::new(rules))),
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

    /// The cached rules, reloaded when older than [`RULES_TTL`].
    pub fn rules(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        match self.fresh_rules() {
            Some(rules) => Ok(rules),
            None => self.reload_rules(conn),
        }
    }

    /// The cached rules unless they are due for a reload.
    pub fn fresh_rules(&self) -> Option<Arc<Rules>> {
        let guard = self.rules.read().ok()?;
        (guard.0.elapsed() < RULES_TTL).then(|| Arc::clone(&guard.1))
    }

    pub fn reload_rules(&self, conn: &mut Conn) -> AppResult<Arc<Rules>> {
        let fresh = Arc::new(Rules::load(conn)?);
        if let Ok(mut guard) = self.rules.write() {
            *guard = (Instant::now(), Arc::clone(&fresh));
        }
        Ok(fresh)
    }
}

/// Seeds each official year not yet in the database; an admin's edit of a year is kept.
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
            crate::calendar_admin::store_year(conn, &year, "official", now)?;
            Ok(())
        })?;
    }
    Ok(())
}
