//! `loadgen`: the load figures of SPEC §9, reproducible on any machine. A tool beside the
//! service, over its library: it starts the real `haochaping` binary (built next to it, or
//! `--server`) as a child process and measures it from outside.
//!
//! `bench intake` measures, on a scratch database of each backend, (a) plain single-row
//! committed inserts as the ceiling and (b) `POST /api/v1/reviews` over HTTP against a real
//! `haochaping serve` child process, driven by many keep-alive connections; it prints rates,
//! latency percentiles, the server's peak RSS and (b)/(a).
//!
//! `bench recompute` offers reviews at a steady rate while an admin's calendar change
//! recomputes the deadlines of many open cases, and reports the reviews' latency meanwhile.
//!
//! `bench import` writes a CSV of generated 办件 and times `haochaping import` of it (the
//! real command, as a child process, its peak RSS sampled) against a plain multi-row INSERT of
//! the same rows into the same table in one transaction.
//!
//! `bench scan` fills a scratch database with open cases and times `haochaping scan` (the real
//! command, as a child process) twice: the first scan raises every alert, the second is the
//! steady state of a scan every minute.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use diesel::prelude::*;

use haochaping::clock;
use haochaping::db_run;
use haochaping::storage::schema::{alerts, cases};
use haochaping::storage::{Backend, DbPool};

// The fixture is the durability test's too: one copy, in the test harness.
#[path = "../../../tests/common/review_load.rs"]
mod review_load;
mod search;
use review_load::seed_review_load;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Benchmarks of haochaping, measured from outside against the real binary")]
struct Cli {
    /// The `haochaping` binary to measure; default: the one built beside this tool.
    #[arg(long, global = true)]
    server: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Review intake over HTTP against plain committed inserts; last line
    /// `ratio=… rate=… ceiling=… p50_ms=… p99_ms=… rss_mb=…`.
    Intake {
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        /// Measured seconds per phase (after a 1 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent keep-alive connections of the load generator.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Share of one-star reviews, each of which opens a case.
        #[arg(long, default_value_t = 0.1)]
        bad_share: f64,
        /// What is posted: `reviews` of seeded transactions, or new `transactions` (办件).
        #[arg(long, value_enum, default_value = "reviews")]
        kind: IntakeKind,
    },
    /// Reviews offered at a steady rate while `PUT /api/v1/calendar/{next year}` recomputes the
    /// deadlines of many open cases; last line `cases=… put_s=… p99_ms=… failed=…`, the
    /// latency of the reviews sent while the PUT ran.
    Recompute {
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        #[arg(long, default_value_t = 100_000)]
        cases: usize,
        /// Reviews per second offered meanwhile.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
    },
    /// `haochaping import --kind transactions` of a generated CSV against a plain multi-row
    /// INSERT of the same rows into the same table in one transaction; last line
    /// `rows=… ratio=… import_per_s=… insert_per_s=… rss_mb=…`.
    Import {
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
    },
    /// `GET /api/v1/search` over a scratch database of `--comments` review comments, indexed by
    /// `haochaping reindex-search`: a mix of common, rare and filtered searches from a few
    /// connections; last line `comments=… queries=… p50_ms=… p95_ms=… p99_ms=… index_s=…`.
    Search {
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        #[arg(long, default_value_t = 1_000_000)]
        comments: usize,
        /// Searches measured (after a warm-up of two rounds of the mix).
        #[arg(long, default_value_t = 4_000)]
        queries: usize,
        /// Keep-alive connections, each sending when answered.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Search this already indexed database (one kept by `HCP_BENCH_KEEP=1`) instead of
        /// filling a new one; `--backend` must name its kind.
        #[arg(long)]
        database: Option<String>,
    },
    /// `haochaping scan` over generated open cases, first and repeated.
    Scan {
        #[arg(long, value_enum, default_value = "both")]
        backend: BenchBackend,
        #[arg(long, default_value_t = 1_000_000)]
        cases: usize,
    },
}

static SERVER_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The `haochaping` binary the benchmarks start.
fn server_binary() -> anyhow::Result<PathBuf> {
    SERVER_BINARY.get().cloned().ok_or_else(|| anyhow!("the haochaping binary was not located"))
}

fn locate_server(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name(format!("haochaping{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!("{} not found: build it first (cargo build --release --workspace) or pass --server", path.display());
    }
    Ok(path)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let run = || -> anyhow::Result<()> {
        let server = locate_server(cli.server)?;
        eprintln!("loadgen: measuring {}", server.display());
        let _ = SERVER_BINARY.set(server);
        match cli.command {
            BenchCommand::Intake { backend, seconds, connections, bad_share, kind } => {
                intake(&IntakeArgs { backend, seconds, connections, bad_share, kind })
            }
            BenchCommand::Scan { backend, cases } => scan(&ScanArgs { backend, cases }),
            BenchCommand::Search { backend, comments, queries, connections, database } => {
                search::search(&search::SearchArgs { backend, comments, queries, connections, database })
            }
            BenchCommand::Recompute { backend, cases, rate } => recompute(backend, cases, rate),
            BenchCommand::Import { backend, rows } => import_bench(backend, rows),
        }
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Sqlite,
    Postgres,
    Both,
}

impl BenchBackend {
    fn each(self) -> Vec<Backend> {
        match self {
            BenchBackend::Sqlite => vec![Backend::Sqlite],
            BenchBackend::Postgres => vec![Backend::Postgres],
            BenchBackend::Both => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The PostgreSQL server the scratch databases are created on.
fn pg_admin_url() -> String {
    std::env::var("HCP_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one benchmark and removed afterwards.
struct ScratchDb {
    url: String,
    dir: PathBuf,
    pg_name: Option<String>,
}

impl ScratchDb {
    fn create(backend: Backend) -> anyhow::Result<ScratchDb> {
        let tag = haochaping::adapters::security::random_secret().to_lowercase().replace(['-', '_'], "");
        let tag = &tag[..12];
        let dir = std::env::temp_dir().join(format!("haochaping-bench-{tag}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        match backend {
            Backend::Sqlite => Ok(ScratchDb { url: format!("sqlite://{}", dir.join("bench.db").display()), dir, pg_name: None }),
            Backend::Postgres => {
                let admin_url = pg_admin_url();
                let name = format!("hcp_bench_{tag}");
                let mut admin = PgConnection::establish(&admin_url)
                    .with_context(|| format!("PostgreSQL at {admin_url} (set HCP_BENCH_PG_URL)"))?;
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin_url);
                Ok(ScratchDb { url: format!("{base}/{name}"), dir, pg_name: Some(name) })
            }
        }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = PgConnection::establish(&pg_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `haochaping serve` child process on a free local port.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(db: &ScratchDb) -> anyhow::Result<Server> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log = db.dir.join("server.log");
        let child = Command::new(server_binary()?)
            .args(["serve", "--bind", &addr.to_string()])
            .env("DATABASE_URL", &db.url)
            .env("HCP_SECRET", "bench-secret")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting haochaping serve")?;
        let mut server = Server { child, addr, log };
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited ({status}) before listening:\n{}", server.log_tail());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the server did not listen within 60 s:\n{}", server.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The server's threads now.
    fn threads(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok())
    }

    /// Peak resident set size (VmHWM) so far, in MiB.
    fn peak_rss_mb(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).context("reading the server's /proc status")?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmHWM in /proc status"))?;
        Ok(kb / 1024.0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latencies in microseconds.
#[derive(Default)]
struct Latencies(Vec<u32>);

impl Latencies {
    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let rank = ((p * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        f64::from(self.0[rank - 1]) / 1000.0
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IntakeKind {
    Reviews,
    Transactions,
}

impl IntakeKind {
    fn path(self) -> &'static str {
        match self {
            IntakeKind::Reviews => "/api/v1/reviews",
            IntakeKind::Transactions => "/api/v1/transactions",
        }
    }
}

pub struct IntakeArgs {
    pub kind: IntakeKind,
    pub backend: BenchBackend,
    pub seconds: u64,
    pub connections: usize,
    /// Share of reviews with one star: each opens a case (audit event, mail).
    pub bad_share: f64,
}

pub struct IntakeResult {
    pub ceiling: f64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rss_mb: f64,
}

impl IntakeResult {
    pub fn summary_line(&self) -> String {
        format!(
            "ratio={:.2} rate={:.0} ceiling={:.0} p50_ms={:.1} p99_ms={:.1} rss_mb={:.0}",
            self.rate / self.ceiling,
            self.rate,
            self.ceiling,
            self.p50_ms,
            self.p99_ms,
            self.rss_mb
        )
    }
}

pub fn intake(args: &IntakeArgs) -> anyhow::Result<()> {
    if args.seconds == 0 || args.connections == 0 || !(0.0..=1.0).contains(&args.bad_share) {
        bail!("--seconds and --connections must be positive and --bad-share between 0 and 1");
    }
    let backends = args.backend.each();
    let mut lines = Vec::new();
    for backend in &backends {
        let result = intake_on(*backend, args)?;
        lines.push((*backend, result.summary_line()));
    }
    if backends.len() > 1 {
        for (backend, line) in &lines[..lines.len() - 1] {
            println!("{}: {line}", backend_name(*backend));
        }
        println!("{}:", backend_name(lines[lines.len() - 1].0));
    }
    if let Some((_, line)) = lines.last() {
        println!("{line}");
    }
    Ok(())
}

fn intake_on(backend: Backend, args: &IntakeArgs) -> anyhow::Result<IntakeResult> {
    let name = backend_name(backend);
    eprintln!(
        "== bench intake · {name} · {} s per phase after 1 s warm-up · {} connections · {:.0}% one-star reviews",
        args.seconds,
        args.connections,
        args.bad_share * 100.0
    );
    let db = ScratchDb::create(backend)?;
    // Enough transactions that the two load phases cannot run out of unrated ones.
    let transactions = (args.seconds as usize + 1) * 30_000;
    let started = Instant::now();
    let (key, transaction_nos) = match args.kind {
        IntakeKind::Reviews => seed_review_load(&db.url, transactions)?,
        // New 办件 under numbers not yet stored.
        IntakeKind::Transactions => (seed_review_load(&db.url, 0)?.0, Arc::new((0..transactions).map(|i| format!("NEW-{i:08}")).collect())),
    };
    eprintln!(
        "[1/6] seeded 1 department, 1 service item, {} transactions in {:.1} s; posting {:?}",
        if args.kind == IntakeKind::Reviews { transactions } else { 0 },
        started.elapsed().as_secs_f64(),
        args.kind
    );

    // SQLite takes one writer at a time: more connections only poll its lock (and starve
    // past the busy timeout), so its ceiling is one connection's. PostgreSQL commits in
    // parallel: as many connections as the server's pool.
    let connection_counts = match backend {
        Backend::Sqlite => vec![1],
        Backend::Postgres => vec![1, haochaping::interfaces::app::pool_size(backend) as usize],
    };
    let mut ceiling = 0.0f64;
    for connections in connection_counts {
        let (rate, mut lat) = insert_ceiling(&db.url, connections, args.seconds)?;
        eprintln!(
            "[2/6] ceiling, plain single-row committed inserts, {connections} connection(s): {rate:.0}/s (p50 {:.1} ms, p99 {:.1} ms)",
            lat.percentile_ms(0.50),
            lat.percentile_ms(0.99)
        );
        ceiling = ceiling.max(rate);
    }

    let server = Server::start(&db)?;
    let next = Arc::new(AtomicUsize::new(0));
    let load = run_load(server.addr, &key, transaction_nos.clone(), next.clone(), None, args)?;
    let rate = load.created as f64 / load.seconds;
    let mut closed = load.latencies;
    eprintln!(
        "[3/6] POST {}, closed loop (each connection sends when answered): {} created in {:.1} s = {rate:.0}/s, p50 {:.1} ms, p99 {:.1} ms, {} other answers{}",
        args.kind.path(),
        load.created,
        load.seconds,
        closed.percentile_ms(0.50),
        closed.percentile_ms(0.99),
        load.failed,
        load.first_failure.map(|f| format!(" (first: {f})")).unwrap_or_default(),
    );
    // The latency bar holds at the target rate, half the ceiling, offered on a schedule.
    let target = ceiling / 2.0;
    let paced = run_load(server.addr, &key, transaction_nos, next, Some(target), args)?;
    let mut lat = paced.latencies;
    let (p50_ms, p99_ms) = (lat.percentile_ms(0.50), lat.percentile_ms(0.99));
    eprintln!(
        "[4/6] POST {}, open loop at half the ceiling ({target:.0}/s offered): {} created in {:.1} s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms (from the scheduled send), {} other answers{}",
        args.kind.path(),
        paced.created,
        paced.seconds,
        paced.created as f64 / paced.seconds,
        p50_ms,
        p99_ms,
        paced.failed,
        paced.first_failure.map(|f| format!(" (first: {f})")).unwrap_or_default(),
    );
    let floor = http_floor(server.addr, args)?;
    eprintln!(
        "[5/6] for reference, GET /healthz (one SELECT 1, no transaction) over the same connections: {floor:.0}/s — \
         the most any request that touches the database gets through this HTTP stack on this machine"
    );
    let before_signins = server.peak_rss_mb()?;
    sign_ins(server.addr, &db.url)?;
    let rss_mb = server.peak_rss_mb()?;
    eprintln!(
        "[6/6] five user creations and four sign-ins (an argon2 hash each): peak RSS {before_signins:.0} MB before, {rss_mb:.0} MB after; {} threads",
        server.threads().unwrap_or(0)
    );
    drop(server);
    eprintln!("server peak RSS (VmHWM) over all phases: {rss_mb:.0} MB");
    let result = IntakeResult { ceiling, rate, p50_ms, p99_ms, rss_mb };

    // Every 201 must be a stored review (or 办件), and nothing else stored.
    let pool = DbPool::connect(&db.url, 1)?;
    let mut conn = pool.get()?;
    let stored: i64 = match args.kind {
        IntakeKind::Reviews => db_run!(&mut conn, |c| haochaping::storage::schema::reviews::table.count().get_result(c))?,
        IntakeKind::Transactions => db_run!(&mut conn, |c| haochaping::storage::schema::transactions::table.count().get_result(c))?,
    };
    let answered = load.created + load.warmup_created + paced.created + paced.warmup_created;
    if stored as u64 != answered {
        bail!("{stored} {:?} stored but {answered} answered 201", args.kind);
    }
    eprintln!("check: {stored} {:?} stored = {answered} answered 201 (warm-up included)", args.kind);
    drop(conn);
    drop(pool);
    Ok(result)
}

/// Single-row INSERTs, each its own committed transaction, from `connections` threads: the
/// most the database itself takes, to compare the service with.
fn insert_ceiling(url: &str, connections: usize, seconds: u64) -> anyhow::Result<(f64, Latencies)> {
    let pool = DbPool::connect(url, connections as u32)?;
    let (create, insert) = match pool.backend() {
        Backend::Sqlite => (
            "CREATE TABLE IF NOT EXISTS bench_ceiling (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, transaction_no TEXT NOT NULL, stars INTEGER NOT NULL, comment TEXT, created_at TIMESTAMP NOT NULL)",
            "INSERT INTO bench_ceiling (transaction_no, stars, comment, created_at) VALUES (?, ?, ?, CURRENT_TIMESTAMP)",
        ),
        Backend::Postgres => (
            "CREATE TABLE IF NOT EXISTS bench_ceiling (id BIGSERIAL PRIMARY KEY, transaction_no TEXT NOT NULL, stars INTEGER NOT NULL, comment TEXT, created_at TIMESTAMP NOT NULL)",
            "INSERT INTO bench_ceiling (transaction_no, stars, comment, created_at) VALUES ($1, $2, $3, CURRENT_TIMESTAMP)",
        ),
    };
    db_run!(&mut pool.get()?, |c| diesel::sql_query(create).execute(c))?;
    let warmup_end = Instant::now() + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(seconds);
    let counter = AtomicU64::new(0);
    let all = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|w| {
                let (pool, counter) = (&pool, &counter);
                scope.spawn(move || -> anyhow::Result<Latencies> {
                    use diesel::sql_types::{Integer, Nullable, Text};
                    let mut conn = pool.get()?;
                    let mut lat = Latencies::default();
                    for i in 0u64.. {
                        let t0 = Instant::now();
                        if t0 >= end {
                            break;
                        }
                        let no = format!("CEIL-{w}-{i}");
                        let comment = (i % 10 == 0).then_some("窗口工作人员态度差，办理时间太长");
                        db_run!(&mut conn, |c| diesel::sql_query(insert)
                            .bind::<Text, _>(&no)
                            .bind::<Integer, _>(if comment.is_some() { 1 } else { 5 })
                            .bind::<Nullable<Text>, _>(comment)
                            .execute(c))?;
                        if t0 >= warmup_end {
                            lat.0.push(micros(t0.elapsed()));
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(lat)
                })
            })
            .collect();
        let mut all = Latencies::default();
        for worker in workers {
            let lat = worker.join().map_err(|_| anyhow!("an insert thread panicked"))??;
            all.0.extend(lat.0);
        }
        anyhow::Ok(all)
    })?;
    Ok((counter.load(Ordering::Relaxed) as f64 / seconds as f64, all))
}

struct LoadResult {
    created: u64,
    warmup_created: u64,
    failed: u64,
    first_failure: Option<String>,
    seconds: f64,
    latencies: Latencies,
    timed: Vec<(Instant, u32, bool)>,
}

/// Drives `connections` keep-alive HTTP/1.1 connections, each sending the next unrated
/// transaction's review as soon as the previous answer arrived (a closed loop: the rate is what
/// the server sustains, the latency what a client sees at that rate).
///
/// With `offered` (reviews per second) the load is open instead: each connection sends on a
/// fixed schedule whether or not answers keep up, and latency counts from the scheduled time,
/// so a slow server cannot hide its queue by slowing the client down.
fn run_load(addr: SocketAddr, key: &str, transaction_nos: Arc<Vec<String>>, next: Arc<AtomicUsize>, offered: Option<f64>, args: &IntakeArgs) -> anyhow::Result<LoadResult> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let seconds = args.seconds;
    let connections = args.connections;
    let bad_every = if args.bad_share > 0.0 { (1.0 / args.bad_share).round().max(1.0) as usize } else { usize::MAX };
    let kind = args.kind;
    let authorization = format!("Bearer {key}");
    runtime.block_on(async move {
        let created = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let warmup_end = Instant::now() + Duration::from_secs(1);
        let end = warmup_end + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        let begun = Instant::now();
        for c in 0..connections {
            let (next, created, stop, nos, authorization) = (next.clone(), created.clone(), stop.clone(), transaction_nos.clone(), authorization.clone());
            let pace = offered.map(|rate| {
                let interval = Duration::from_secs_f64(connections as f64 / rate);
                (begun + interval.mul_f64(c as f64 / connections as f64), interval)
            });
            tasks.push(tokio::spawn(async move {
                client_loop(addr, kind, &authorization, &nos, &next, &created, &stop, bad_every, pace, warmup_end, end).await
            }));
        }
        let progress = {
            let (created, stop) = (created.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let now = created.load(Ordering::Relaxed);
                    if Instant::now() < end {
                        eprintln!("      … {now} created ({:.0}/s over the last 2 s)", (now - last) as f64 / 2.0);
                    }
                    last = now;
                }
            })
        };
        let mut result = LoadResult { created: 0, warmup_created: 0, failed: 0, first_failure: None, seconds: seconds as f64, latencies: Latencies::default(), timed: Vec::new() };
        let mut finished_early = None;
        for task in tasks {
            let part = task.await.map_err(|e| anyhow!("load task: {e}"))??;
            result.created += part.created;
            result.warmup_created += part.warmup_created;
            result.failed += part.failed;
            if result.first_failure.is_none() {
                result.first_failure = part.first_failure;
            }
            result.latencies.0.extend(part.latencies.0);
            result.timed.extend(part.timed);
            if let Some(t) = part.ran_out_at {
                finished_early = Some(finished_early.map_or(t, |f: Instant| f.max(t)));
            }
        }
        stop.store(true, Ordering::Relaxed);
        progress.abort();
        if let Some(t) = finished_early {
            result.seconds = t.saturating_duration_since(warmup_end).as_secs_f64();
            eprintln!("      (all {} transactions were rated before the time was up)", transaction_nos.len());
        }
        anyhow::Ok(result)
    })
}

/// One keep-alive HTTP/1.1 connection of the load generator.
async fn open_connection<B>(addr: SocketAddr) -> anyhow::Result<hyper::client::conn::http1::SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Requests per second of `GET /healthz` from `connections` keep-alive connections.
/// One JSON request on its own connection (the sign-in phase is a handful of calls).
fn call(addr: SocketAddr, path: &str, token: Option<&str>, body: &serde_json::Value) -> anyhow::Result<(u16, serde_json::Value)> {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(addr)?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = answer.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

/// What an office does every morning: an admin signs in, creates five users, four of them sign in.
fn sign_ins(addr: SocketAddr, database_url: &str) -> anyhow::Result<()> {
    {
        let pool = DbPool::connect(database_url, 1)?;
        let mut conn = pool.get()?;
        let spec = haochaping::admin::accounts::NewUserSpec {
            username: "bench-admin",
            password: "bench-password-1",
            role: haochaping::domain::access::Role::Admin,
            department_code: None,
            email: None,
        };
        haochaping::admin::accounts::create_user(&mut conn, &spec, clock::now()).map_err(|e| anyhow!("{e}"))?;
    }
    let (status, login) = call(addr, "/api/v1/auth/login", None, &serde_json::json!({"username": "bench-admin", "password": "bench-password-1"}))?;
    let token = login["token"].as_str().ok_or_else(|| anyhow!("admin sign-in: {status} {login}"))?.to_owned();
    for n in 0..5 {
        let user = serde_json::json!({"username": format!("bench-user-{n}"), "password": "bench-password-2", "role": "supervisor"});
        let (status, answer) = call(addr, "/api/v1/users", Some(&token), &user)?;
        if status != 201 {
            bail!("creating a user: {status} {answer}");
        }
    }
    for n in 0..4 {
        let (status, answer) = call(addr, "/api/v1/auth/login", None, &serde_json::json!({"username": format!("bench-user-{n}"), "password": "bench-password-2"}))?;
        if status != 200 {
            bail!("sign-in: {status} {answer}");
        }
    }
    Ok(())
}

fn http_floor(addr: SocketAddr, args: &IntakeArgs) -> anyhow::Result<f64> {
    use http_body_util::{BodyExt, Empty};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let seconds = args.seconds;
    let connections = args.connections;
    runtime.block_on(async move {
        let end = Instant::now() + Duration::from_secs(seconds);
        let done = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = open_connection(addr).await?;
                while Instant::now() < end {
                    let request = hyper::Request::get("/healthz").header("host", addr.to_string()).body(Empty::<bytes::Bytes>::new())?;
                    sender.ready().await?;
                    let response = sender.send_request(request).await?;
                    let ok = response.status().is_success();
                    response.into_body().collect().await?;
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| anyhow!("load task: {e}"))??;
        }
        anyhow::Ok(done.load(Ordering::Relaxed) as f64 / seconds as f64)
    })
}

struct ClientPart {
    created: u64,
    warmup_created: u64,
    failed: u64,
    first_failure: Option<String>,
    latencies: Latencies,
    /// Every answer after the warm-up: when it was sent, its latency (µs), whether it was a 201.
    timed: Vec<(Instant, u32, bool)>,
    ran_out_at: Option<Instant>,
}

#[allow(clippy::too_many_arguments)]
async fn client_loop(
    addr: SocketAddr,
    kind: IntakeKind,
    authorization: &str,
    nos: &[String],
    next: &AtomicUsize,
    created: &AtomicU64,
    stop: &AtomicBool,
    bad_every: usize,
    pace: Option<(Instant, Duration)>,
    warmup_end: Instant,
    end: Instant,
) -> anyhow::Result<ClientPart> {
    use http_body_util::{BodyExt, Full};
    let mut sender = open_connection(addr).await?;
    let host = addr.to_string();
    let mut part = ClientPart { created: 0, warmup_created: 0, failed: 0, first_failure: None, latencies: Latencies::default(), timed: Vec::new(), ran_out_at: None };
    for k in 0u32.. {
        let t0 = match pace {
            Some((first, interval)) => {
                let scheduled = first + interval * k;
                tokio::time::sleep_until(scheduled.into()).await;
                scheduled
            }
            None => Instant::now(),
        };
        if t0 >= end || stop.load(Ordering::Relaxed) {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(no) = nos.get(i) else {
            part.ran_out_at = Some(t0);
            break;
        };
        let body = match kind {
            // A finished 办件 as a business system pushes it: item, channel, applicant, times.
            IntakeKind::Transactions => serde_json::json!({"transaction_no": no, "service_item_code": "BENCH-1", "channel": "window_device",
                "applicant_name": "张三", "applicant_phone": format!("138{:08}", i % 100_000_000),
                "accepted_at": "2026-11-20T09:30:00+08:00", "completed_at": "2026-11-20T10:00:00+08:00"}),
            IntakeKind::Reviews if i % bad_every == 0 => {
                serde_json::json!({"transaction_no": no, "stars": 1, "channel": "pc", "tags": ["态度不好"], "comment": "窗口工作人员态度差，办理时间太长，材料要求反复变化"})
            }
            IntakeKind::Reviews => serde_json::json!({"transaction_no": no, "stars": 5, "channel": "pc"}),
        };
        let request = hyper::Request::post(kind.path())
            .header("host", &host)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.to_string())))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let answer = response.into_body().collect().await?.to_bytes();
        let took = t0.elapsed();
        if t0 >= warmup_end {
            part.timed.push((t0, micros(took), status == 201));
        }
        if status == 201 {
            created.fetch_add(1, Ordering::Relaxed);
            if t0 >= warmup_end {
                part.created += 1;
                part.latencies.0.push(micros(took));
            } else {
                part.warmup_created += 1;
            }
        } else {
            part.failed += 1;
            if part.first_failure.is_none() {
                part.first_failure = Some(format!("{status} {}", String::from_utf8_lossy(&answer).chars().take(200).collect::<String>()));
            }
        }
    }
    Ok(part)
}

pub struct ScanArgs {
    pub backend: BenchBackend,
    pub cases: usize,
}

/// Fills a scratch database with `cases` open cases and times `haochaping scan` twice.
pub fn scan(args: &ScanArgs) -> anyhow::Result<()> {
    if args.cases == 0 {
        bail!("--cases must be positive");
    }
    let backends = args.backend.each();
    let mut lines = Vec::new();
    for backend in &backends {
        lines.push((*backend, scan_on(*backend, args.cases)?));
    }
    for (i, (backend, line)) in lines.iter().enumerate() {
        if i + 1 < lines.len() || backends.len() > 1 {
            println!("{}:", backend_name(*backend));
        }
        println!("{line}");
    }
    Ok(())
}

fn scan_on(backend: Backend, n: usize) -> anyhow::Result<String> {
    eprintln!("== bench scan · {} · {n} open cases", backend_name(backend));
    let db = ScratchDb::create(backend)?;
    let started = Instant::now();
    let spread = generate_open_cases(&db.url, n)?;
    eprintln!(
        "[1/3] generated {n} open cases in {:.1} s: {} due within a day, {} overdue (of which {} by over 3 days)",
        started.elapsed().as_secs_f64(),
        spread.due_soon,
        spread.overdue,
        spread.overdue_over_3_days
    );
    let (alert_rows, floor) = alert_rows_floor(&db.url)?;
    eprintln!("      floor: the {alert_rows} alert rows alone, one INSERT … SELECT per level, take {floor:.2} s (rolled back)");
    let first = timed_scan(&db)?;
    eprintln!("[2/3] first scan (raises every alert): {:.2} s — {}", first.0, first.1.trim());
    if backend == Backend::Postgres {
        // What autovacuum does within a minute of such a bulk change; a scan that runs every
        // minute in production always plans with current statistics.
        let pool = DbPool::connect(&db.url, 1)?;
        db_run!(&mut pool.get()?, |c| diesel::sql_query("ANALYZE cases, alerts").execute(c))?;
        eprintln!("      ANALYZE cases, alerts (as autovacuum would after the first scan's bulk of new alerts)");
    }
    let second = timed_scan(&db)?;
    eprintln!("[3/3] second scan (the steady state, every minute): {:.2} s — {}", second.0, second.1.trim());
    Ok(format!("cases={n} first_scan_s={:.2} alert_rows_floor_s={floor:.2} scan_s={:.2}", first.0, second.0))
}

/// The least any first scan of this backlog must write: its alert rows (one per case and
/// level, which `GET /api/v1/alerts` lists), here by one `INSERT … SELECT` per level straight
/// from `cases`, with no case row updated and no mail queued; then rolled back. Returns the
/// rows and the seconds the statements took.
fn alert_rows_floor(url: &str) -> anyhow::Result<(usize, f64)> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Text, Timestamp};
    let pool = DbPool::connect(url, 1)?;
    let mut conn = pool.get()?;
    let rules = haochaping::storage::rules::load(&mut conn).map_err(|e| anyhow!("{e}"))?;
    let haochaping::cases::scan::AlertWindows { now, ever, due_soon_before, escalate_before } = haochaping::cases::scan::AlertWindows::at(clock::now(), &rules);
    let levels = [("due_soon", now, due_soon_before), ("overdue", ever, now), ("escalated", ever, escalate_before)];
    let mut rows = 0;
    let mut took = Duration::ZERO;
    let outcome = conn.transaction(|conn| {
        let started = Instant::now();
        for (level, from, before) in levels {
            // In id order, as the scanner writes them (in deadline order the inserts land all
            // over the alerts' UNIQUE index, which starts with the case id: 30 % slower).
            let select = cases::table.filter(cases::stage_due.ge(from)).filter(cases::stage_due.lt(before)).order(cases::id).select((
                cases::id,
                sql::<Text>("").bind::<Text, _>(level),
                cases::state,
                cases::stage_due.assume_not_null(),
                sql::<Timestamp>("").bind::<Timestamp, _>(now),
            ));
            rows += db_run!(conn, |c| diesel::insert_into(alerts::table)
                .values(select)
                .into_columns((alerts::case_id, alerts::level, alerts::stage, alerts::due_at, alerts::raised_at))
                .execute(c))?;
        }
        took = started.elapsed();
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    match outcome {
        Ok(()) | Err(diesel::result::Error::RollbackTransaction) => Ok((rows, took.as_secs_f64())),
        Err(e) => Err(e.into()),
    }
}

fn timed_scan(db: &ScratchDb) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let output = Command::new(server_binary()?)
        .arg("scan")
        .env("DATABASE_URL", &db.url)
        .env("HCP_SECRET", "bench-secret")
        .env("RUST_LOG", "warn")
        .output()
        .context("running haochaping scan")?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("haochaping scan failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok((seconds, String::from_utf8_lossy(&output.stdout).into_owned()))
}

#[derive(Default)]
struct Spread {
    due_soon: u64,
    overdue: u64,
    overdue_over_3_days: u64,
}

/// Open cases over 50 departments, in every running stage, due from 20 days ago to 40 days
/// ahead (evenly, so about a third are overdue): a province's backlog on a bad day.
fn generate_open_cases(url: &str, n: usize) -> anyhow::Result<Spread> {
    let pool = DbPool::connect(url, 1)?;
    pool.migrate()?;
    let mut conn = pool.get()?;
    let now = clock::now();
    let mut department_ids = Vec::new();
    for d in 0..50 {
        let view = haochaping::admin::master_data::create_department(&mut conn, "bench", &format!("D{d:02}"), &format!("第{d}部门"), None, Some(&format!("d{d}@bench.test")), now)
            .map_err(|e| anyhow!("{e}"))?;
        department_ids.push(view.id);
    }
    let states = ["feedback", "rectification", "reply", "supervision"];
    let window = 60 * 86_400i64;
    let mut spread = Spread::default();
    let mut made = 0usize;
    let chunk = 2_000usize;
    let mut next_report = 100_000usize;
    while made < n {
        let size = chunk.min(n - made);
        let rows: Vec<_> = (made..made + size)
            .map(|i| {
                // A fixed stride through the window, so every run generates the same spread.
                let offset = (i as i64 * 7_919) % window - 20 * 86_400;
                let due = now + chrono::Duration::seconds(offset);
                if offset < 0 {
                    spread.overdue += 1;
                    if offset < -3 * 86_400 {
                        spread.overdue_over_3_days += 1;
                    }
                } else if offset < 86_400 {
                    spread.due_soon += 1;
                }
                let opened = clock::to_db(due - chrono::Duration::days(7));
                (
                    cases::source.eq("review"),
                    cases::department_id.eq(Some(department_ids[i % department_ids.len()])),
                    cases::state.eq(states[i % states.len()]),
                    cases::opened_at.eq(opened),
                    cases::stage_due.eq(Some(clock::to_db(due))),
                    cases::extension.eq(haochaping::domain::case_flow::Extension::None.as_str()),
                    cases::cycle_started_at.eq(opened),
                    cases::updated_at.eq(opened),
                )
            })
            .collect();
        conn.transaction(|conn| db_run!(conn, |c| diesel::insert_into(cases::table).values(&rows).execute(c)))?;
        made += size;
        if made >= next_report || made == n {
            eprintln!("      … {made} cases");
            next_report += 100_000;
        }
    }
    Ok(spread)
}

/// Intake while a calendar change recomputes `cases` open deadlines (issue 16 item 6).
fn recompute(backend: BenchBackend, cases: usize, rate: f64) -> anyhow::Result<()> {
    if cases == 0 || rate <= 0.0 {
        bail!("--cases and --rate must be positive");
    }
    let backends = backend.each();
    let mut lines = Vec::new();
    for backend in &backends {
        lines.push((*backend, recompute_on(*backend, cases, rate)?));
    }
    for (backend, line) in &lines {
        println!("{}: {line}", backend_name(*backend));
    }
    Ok(())
}

fn recompute_on(backend: Backend, n: usize, rate: f64) -> anyhow::Result<String> {
    use chrono::Datelike;
    eprintln!("== bench recompute · {} · {n} open cases · reviews offered at {rate:.0}/s", backend_name(backend));
    let db = ScratchDb::create(backend)?;
    let started = Instant::now();
    let (key, transaction_nos) = seed_review_load(&db.url, 60_000)?;
    generate_open_cases(&db.url, n)?;
    let admin_password = "bench-password-2026";
    {
        let pool = DbPool::connect(&db.url, 1)?;
        let mut conn = pool.get()?;
        let spec = haochaping::admin::accounts::NewUserSpec {
            username: "bench-admin",
            password: admin_password,
            role: haochaping::domain::access::Role::Admin,
            department_code: None,
            email: None,
        };
        haochaping::admin::accounts::create_user_by(&mut conn, "bench", &spec, clock::now()).map_err(|e| anyhow!("{e}"))?;
    }
    eprintln!("[1/3] seeded 60000 transactions, {n} open cases and an admin in {:.1} s", started.elapsed().as_secs_f64());
    let server = Server::start(&db)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let token = runtime.block_on(async {
        let (status, body) = http_json(server.addr, "POST", "/api/v1/auth/login", None, &serde_json::json!({"username": "bench-admin", "password": admin_password})).await?;
        if status != 200 {
            bail!("login: {status} {body}");
        }
        body["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no token in {body}"))
    })?;
    // Next year's calendar with one more holiday in January: every open deadline is recomputed.
    let year = haochaping::domain::calendar::local_date(clock::now()).year() + 1;
    let path = format!("/api/v1/calendar/{year}");
    let (_, current) = runtime.block_on(http_json(server.addr, "GET", &path, Some(&token), &serde_json::Value::Null))?;
    let mut holidays: Vec<String> = serde_json::from_value(current["holidays"].clone()).unwrap_or_default();
    let extra = (4..=8u32)
        .filter_map(|d| chrono::NaiveDate::from_ymd_opt(year, 1, d))
        .find(|d| d.weekday().number_from_monday() <= 5 && !holidays.contains(&d.to_string()))
        .ok_or_else(|| anyhow!("no free weekday in early January {year}"))?;
    holidays.push(extra.to_string());
    let body = serde_json::json!({"holidays": holidays, "workdays": current["workdays"].clone()});

    let args = IntakeArgs { backend: BenchBackend::Sqlite, seconds: 30, connections: 64, bad_share: 0.1, kind: IntakeKind::Reviews };
    let (addr, put_token) = (server.addr, token.clone());
    let put = std::thread::spawn(move || -> anyhow::Result<(Instant, Instant, u16, String)> {
        std::thread::sleep(Duration::from_secs(3));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let t0 = Instant::now();
        let (status, answer) = runtime.block_on(http_json(addr, "PUT", &path, Some(&put_token), &body))?;
        Ok((t0, Instant::now(), status, answer.to_string().chars().take(200).collect()))
    });
    eprintln!("[2/3] reviews at {rate:.0}/s for {} s; the PUT starts after 3 s", args.seconds);
    let load = run_load(server.addr, &key, transaction_nos, Arc::new(AtomicUsize::new(0)), Some(rate), &args)?;
    let (put_start, put_end, put_status, put_answer) = put.join().map_err(|_| anyhow!("the PUT thread panicked"))??;
    if put_status != 200 {
        bail!("PUT {year} calendar: {put_status} {put_answer}");
    }
    let put_s = (put_end - put_start).as_secs_f64();
    if load.timed.iter().map(|(at, _, _)| *at).max().is_none_or(|last| last < put_end) {
        eprintln!("      (the load ended before the PUT returned: only the start of the recompute is measured)");
    }
    let during: Vec<&(Instant, u32, bool)> = load.timed.iter().filter(|(at, _, _)| *at >= put_start && *at <= put_end).collect();
    let failed = during.iter().filter(|(_, _, ok)| !ok).count();
    let mut lat = Latencies(during.iter().map(|(_, us, _)| *us).collect());
    let (p50, p99) = (lat.percentile_ms(0.50), lat.percentile_ms(0.99));
    let mut all = load.latencies;
    eprintln!(
        "[3/3] PUT {year} calendar: 200 in {put_s:.2} s; the {} reviews sent meanwhile: p50 {p50:.1} ms, p99 {p99:.1} ms, {failed} not 201{}; over the whole run p99 {:.1} ms",
        during.len(),
        load.first_failure.as_deref().map(|f| format!(" (first: {f})")).unwrap_or_default(),
        all.percentile_ms(0.99)
    );
    let moved: i64 = {
        let pool = DbPool::connect(&db.url, 1)?;
        let mut conn = pool.get()?;
        db_run!(&mut conn, |c| cases::table.filter(cases::feedback_due.is_not_null()).count().get_result(c))?
    };
    eprintln!("check: {moved} of {n} open cases have their deadlines computed");
    drop(server);
    Ok(format!("cases={n} put_s={put_s:.2} reviews_during={} p50_ms={p50:.1} p99_ms={p99:.1} failed={failed}", during.len()))
}

/// One JSON request on a fresh connection: the status and the parsed answer.
async fn http_json(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &serde_json::Value) -> anyhow::Result<(u16, serde_json::Value)> {
    use http_body_util::{BodyExt, Full};
    let mut sender = open_connection(addr).await?;
    let mut request = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string()).header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let payload = if body.is_null() { String::new() } else { body.to_string() };
    let request = request.body(Full::new(bytes::Bytes::from(payload)))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

fn import_bench(backend: BenchBackend, rows: usize) -> anyhow::Result<()> {
    if rows == 0 {
        bail!("--rows must be positive");
    }
    let mut lines = Vec::new();
    for backend in backend.each() {
        lines.push((backend, import_on(backend, rows)?));
    }
    for (backend, line) in &lines {
        println!("{}: {line}", backend_name(*backend));
    }
    Ok(())
}

fn import_on(backend: Backend, n: usize) -> anyhow::Result<String> {
    use std::io::Write;
    eprintln!("== bench import · {} · {n} transactions", backend_name(backend));
    let completed = "2026-11-20 10:00:00";
    // The same rows both ways: a plain INSERT and the file.
    let plain_db = ScratchDb::create(backend)?;
    seed_review_load(&plain_db.url, 0)?;
    let pool = DbPool::connect(&plain_db.url, 1)?;
    let mut conn = pool.get()?;
    let (item_id, department_id): (i64, i64) = db_run!(&mut conn, |c| haochaping::storage::schema::service_items::table
        .select((haochaping::storage::schema::service_items::id, haochaping::storage::schema::service_items::department_id))
        .first(c))?;
    let completed_at = chrono::NaiveDateTime::parse_from_str(completed, "%Y-%m-%d %H:%M:%S")? - chrono::Duration::hours(8);
    let created_at = clock::to_db(clock::now());
    let started = Instant::now();
    conn.transaction(|conn| -> anyhow::Result<()> {
        let mut made = 0usize;
        while made < n {
            let size = 1_000.min(n - made);
            let nos: Vec<String> = (made..made + size).map(|i| format!("IMP-{i:08}")).collect();
            let phones: Vec<String> = (made..made + size).map(|i| format!("138{:08}", i % 100_000_000)).collect();
            let rows: Vec<haochaping::storage::models::NewTransaction> = nos
                .iter()
                .zip(&phones)
                .map(|(no, phone)| haochaping::storage::models::NewTransaction {
                    transaction_no: no,
                    service_item_id: item_id,
                    department_id,
                    window_id: None,
                    staff_id: None,
                    channel: "pc",
                    applicant_name: None,
                    applicant_phone: Some(haochaping::storage::personal_data::PersonalText(phone.clone())),
                    applicant_phone_hash: haochaping::storage::personal_data::lookup_hash(phone),
                    applicant_email: None,
                    accepted_at: None,
                    completed_at,
                    created_at,
                })
                .collect();
            db_run!(conn, |c| diesel::insert_into(haochaping::storage::schema::transactions::table).values(&rows).execute(c))?;
            made += size;
        }
        Ok(())
    })?;
    let insert_s = started.elapsed().as_secs_f64();
    drop(conn);
    drop(pool);
    drop(plain_db);
    eprintln!("[1/2] plain multi-row INSERT of {n} rows (1 000 per statement) in one transaction: {insert_s:.2} s = {:.0} rows/s", n as f64 / insert_s);

    let db = ScratchDb::create(backend)?;
    seed_review_load(&db.url, 0)?;
    let file = db.dir.join("banjian.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        writeln!(out, "办件编号,事项编码,办结时间,联系电话")?;
        for i in 0..n {
            writeln!(out, "IMP-{i:08},BENCH-1,{completed},138{:08}", i % 100_000_000)?;
        }
    }
    let bytes = std::fs::metadata(&file)?.len();
    let started = Instant::now();
    let mut child = Command::new(server_binary()?)
        .args(["import", "--kind", "transactions", "--input"])
        .arg(&file)
        .env("DATABASE_URL", &db.url)
        .env("HCP_SECRET", "bench-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting haochaping import")?;
    let mut peak_kb = 0f64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()) {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let import_s = started.elapsed().as_secs_f64();
    let mut report = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut report)?;
    }
    if !status.success() {
        bail!("haochaping import failed ({status}): {report}");
    }
    let pool = DbPool::connect(&db.url, 1)?;
    let stored: i64 = db_run!(&mut pool.get()?, |c| haochaping::storage::schema::transactions::table.count().get_result(c))?;
    if stored as usize != n {
        bail!("{stored} transactions stored, {n} imported");
    }
    let rss_mb = peak_kb / 1024.0;
    eprintln!(
        "[2/2] haochaping import of a {:.0} MB CSV: {import_s:.2} s = {:.0} rows/s, peak RSS {rss_mb:.0} MB; {stored} stored",
        bytes as f64 / 1e6,
        n as f64 / import_s
    );
    Ok(format!("rows={n} ratio={:.2} import_per_s={:.0} insert_per_s={:.0} rss_mb={rss_mb:.0}", insert_s / import_s, n as f64 / import_s, n as f64 / insert_s))
}
