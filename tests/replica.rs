//! The read replica (`DATABASE_READ_URL`, issue 19 item 9) against a real PostgreSQL primary and
//! streaming standby of the test's own: `initdb` and `pg_basebackup -R` into a temporary
//! directory, two postmasters on free ports, run as the `postgres` user when the test runs as
//! root (PostgreSQL refuses root). Shown: statistics and the public feed are read from the
//! replica (with its replay paused they do not see a new review, the primary does), a write
//! reaches them once replicated, they answer from the primary while the replica is stopped, and
//! go back to it when it returns. Timings are printed (`--nocapture`).
//!
//! Needs the PostgreSQL server programs (`/usr/lib/postgresql/*/bin`, Debian's `postgresql`;
//! `HCP_PG_BIN` names another directory). Without them it prints `SKIPPED`, or fails under
//! `HCP_REQUIRE_ALL_TESTS=1`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{require_all, District, TestApp};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::json;

/// The `postgres` account's uid and gid.
fn postgres_account() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam takes a NUL-terminated name and returns null or a pointer to a static
    // record, read at once, before any other getpw* call of this thread.
    unsafe {
        let record = libc::getpwnam(name.as_ptr());
        (!record.is_null()).then(|| ((*record).pw_uid, (*record).pw_gid))
    }
}

/// Runs the server programs: as `postgres` through `runuser` when the test runs as root.
struct Programs {
    bin: PathBuf,
    as_postgres: bool,
    cwd: PathBuf,
}

impl Programs {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // Not the crate's directory, which `postgres` may not read.
        command.current_dir(&self.cwd);
        command
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().expect("address").port()
}

/// A primary and its streaming replica in one temporary directory. Dropped (also when the
/// test fails): both postmasters stopped, the directory removed.
struct Cluster {
    programs: Programs,
    root: tempfile::TempDir,
    primary_port: u16,
    replica_port: u16,
}

impl Cluster {
    fn data(&self, name: &str) -> String {
        self.root.path().join(name).display().to_string()
    }

    fn log(&self, name: &str) -> String {
        self.root.path().join(format!("{name}.log")).display().to_string()
    }

    fn url(port: u16, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{database}?sslmode=disable")
    }

    fn primary_url(&self, database: &str) -> String {
        Self::url(self.primary_port, database)
    }

    fn replica_url(&self, database: &str) -> String {
        Self::url(self.replica_port, database)
    }

    fn start(&self, name: &str) {
        self.programs.run("pg_ctl", &["-D", &self.data(name), "-l", &self.log(name), "-w", "-t", "60", "start"]);
    }

    fn stop(&self, name: &str, mode: &str) {
        self.programs.run("pg_ctl", &["-D", &self.data(name), "-m", mode, "-w", "stop"]);
    }

    /// Appends settings to a data directory's `postgresql.conf` (later lines win).
    fn configure(&self, name: &str, file: &str, lines: &str) {
        use std::io::Write;
        let path = self.root.path().join(name).join(file);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        f.write_all(lines.as_bytes()).expect("append settings");
    }

    /// initdb, the primary started, a database `hcp`, `pg_basebackup -R` and the standby started.
    fn create(programs: Programs) -> Cluster {
        let root = tempfile::Builder::new().prefix("hcp-replica-").tempdir().expect("temp dir");
        if programs.as_postgres {
            let (uid, gid) = postgres_account().expect("postgres account");
            std::os::unix::fs::chown(root.path(), Some(uid), Some(gid)).expect("chown the cluster directory to postgres");
        }
        let programs = Programs { cwd: root.path().to_owned(), ..programs };
        let cluster = Cluster { programs, root, primary_port: free_port(), replica_port: free_port() };
        let primary = cluster.data("primary");
        cluster.programs.run("initdb", &["-D", &primary, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
        let sockets = cluster.root.path().display().to_string();
        cluster.configure(
            "primary",
            "postgresql.conf",
            &format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{sockets}'\nwal_level = replica\n\
                 max_wal_senders = 4\nhot_standby = on\nfsync = off\nmax_connections = 60\nshared_buffers = 32MB\n",
                cluster.primary_port
            ),
        );
        cluster.configure("primary", "pg_hba.conf", "\nhost replication postgres 127.0.0.1/32 trust\nhost all postgres 127.0.0.1/32 trust\n");
        cluster.start("primary");
        let mut admin = connect(&cluster.primary_url("postgres"), Duration::from_secs(30));
        diesel::sql_query("CREATE DATABASE hcp").execute(&mut admin).expect("create database hcp");
        drop(admin);
        let replica = cluster.data("replica");
        let port = cluster.primary_port.to_string();
        cluster.programs.run(
            "pg_basebackup",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D", &replica, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
        );
        cluster.configure("replica", "postgresql.conf", &format!("\nport = {}\n", cluster.replica_port));
        cluster.start("replica");
        drop(connect(&cluster.replica_url("hcp"), Duration::from_secs(30)));
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["primary", "replica"] {
                let log = std::fs::read_to_string(self.log(name)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("--- {name}.log (last lines) ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
        for name in ["replica", "primary"] {
            // Already stopped is fine; the directory goes with `root` after this.
            let _ = self.programs.command("pg_ctl").args(["-D", &self.data(name), "-m", "immediate", "-w", "stop"]).output();
        }
    }
}

/// A connection once the server accepts one, within `patience`.
fn connect(url: &str, patience: Duration) -> PgConnection {
    let started = Instant::now();
    loop {
        match PgConnection::establish(url) {
            Ok(c) => return c,
            Err(e) if started.elapsed() > patience => panic!("{url} refused connections for {patience:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[derive(diesel::QueryableByName)]
struct Flag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    value: bool,
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

fn text(conn: &mut PgConnection, sql: &str) -> String {
    diesel::sql_query(sql).get_result::<Text>(conn).unwrap_or_else(|e| panic!("{sql}: {e}")).value
}

/// Waits until the replica has replayed everything the primary has written so far.
fn wait_replayed(cluster: &Cluster) -> Duration {
    let started = Instant::now();
    let mut primary = connect(&cluster.primary_url("hcp"), Duration::from_secs(5));
    let lsn = text(&mut primary, "SELECT pg_current_wal_lsn()::text AS value");
    let mut replica = connect(&cluster.replica_url("hcp"), Duration::from_secs(30));
    let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn AS value");
    while !diesel::sql_query(&sql).get_result::<Flag>(&mut replica).expect("replay position").value {
        assert!(started.elapsed() < Duration::from_secs(30), "the replica did not replay up to {lsn} in 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

fn replay(cluster: &Cluster, pause: bool) {
    let mut replica = connect(&cluster.replica_url("hcp"), Duration::from_secs(5));
    if pause {
        diesel::sql_query("SELECT pg_wal_replay_pause()").execute(&mut replica).expect("pause replay");
        // Paused once the startup process has seen the request.
        let started = Instant::now();
        while text(&mut replica, "SELECT pg_get_wal_replay_pause_state() AS value") != "paused" {
            assert!(started.elapsed() < Duration::from_secs(10), "replay did not pause");
            std::thread::sleep(Duration::from_millis(10));
        }
    } else {
        diesel::sql_query("SELECT pg_wal_replay_resume()").execute(&mut replica).expect("resume replay");
    }
}

async fn rate(app: &TestApp, d: &District, no: &str) {
    app.transaction(d, no, "I1", json!({})).await;
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 5, "channel": "kiosk", "comment": "办事很快"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
}

/// What the public feed and the statistics say: (public reviews, ratings this month).
async fn read_counts(app: &TestApp, d: &District) -> (i64, i64) {
    let public = app.get("/api/v1/public/reviews", None).await;
    assert_eq!(public.0, 200, "{}", public.1);
    let stats = app.get("/api/v1/stats", Some(&d.supervisor)).await;
    assert_eq!(stats.0, 200, "{}", stats.1);
    (public.1["total"].as_i64().expect("total"), stats.1["total"]["ratings"].as_i64().expect("ratings"))
}

async fn public_total(app: &TestApp) -> i64 {
    let r = app.get("/api/v1/public/reviews", None).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1["total"].as_i64().expect("total")
}

/// Polls the public feed until it shows `want` reviews; how long that took.
async fn until_public_total(app: &TestApp, want: i64, patience: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let total = public_total(app).await;
        if total == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < patience, "the public feed shows {total} reviews, not {want}, after {patience:?}");
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `haochaping_read_fallbacks_total` by reason, from `/metrics`.
async fn fallbacks(app: &TestApp) -> Vec<(String, f64)> {
    let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("metrics text");
    text.lines()
        .filter_map(|l| l.strip_prefix("haochaping_read_fallbacks_total{reason=\""))
        .filter_map(|l| l.split_once("\"} ").map(|(reason, n)| (reason.to_owned(), n.trim().parse().unwrap_or(0.0))))
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[actix_web::test]
async fn reads_go_to_the_replica_see_replicated_writes_and_fall_back_to_the_primary_when_it_stops() {
    let programs = match common::pg_server_programs() {
        Ok(bin) => bin,
        Err(why) if require_all() => panic!("the replica test needs the PostgreSQL server programs (HCP_REQUIRE_ALL_TESTS=1): {why}"),
        Err(why) => {
            eprintln!("SKIPPED: {why}; set HCP_REQUIRE_ALL_TESTS=1 to fail instead");
            return;
        }
    };
    // SAFETY: geteuid has no preconditions.
    let as_postgres = unsafe { libc::geteuid() } == 0;
    if as_postgres && postgres_account().is_none() {
        let why = "running as root, and there is no postgres account to run PostgreSQL as";
        assert!(!require_all(), "{why} (HCP_REQUIRE_ALL_TESTS=1)");
        eprintln!("SKIPPED: {why}");
        return;
    }

    let setup = Instant::now();
    let cluster = Cluster::create(Programs { bin: programs.clone(), as_postgres, cwd: PathBuf::new() });
    let setup = setup.elapsed();
    eprintln!(
        "replica: primary on :{} and streaming replica on :{} ({}) ready in {}",
        cluster.primary_port,
        cluster.replica_port,
        programs.display(),
        ms(setup)
    );

    let (primary_url, replica_url) = (cluster.primary_url("hcp"), cluster.replica_url("hcp"));
    let app = TestApp::spawn_on_postgres(&primary_url, |config| {
        config.database_read_url = Some(replica_url.clone());
        config.metrics_bind = None;
    })
    .await;
    assert!(app.state.replica.is_some(), "DATABASE_READ_URL was taken");
    let d = app.seed().await;
    for i in 0..3 {
        rate(&app, &d, &format!("RP-{i}")).await;
    }
    eprintln!("replica: caught up with the seeded district in {}", ms(wait_replayed(&cluster)));
    assert_eq!(read_counts(&app, &d).await, (3, 3), "three public five-star reviews this month");

    // The application's read pool is connected to the replica.
    let mut replica = connect(&cluster.replica_url("hcp"), Duration::from_secs(5));
    let sessions = diesel::sql_query(
        "SELECT count(*) AS value FROM pg_stat_activity WHERE datname = 'hcp' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    .get_result::<Number>(&mut replica)
    .expect("sessions on the replica")
    .value;
    assert!(sessions >= 1, "no session of the application on the replica");
    drop(replica);

    // (a) With replay paused, a review stored on the primary is not in what the reads show:
    // they come from the replica. Resumed, it appears.
    replay(&cluster, true);
    rate(&app, &d, "RP-paused").await;
    assert_eq!(app.count("reviews"), 4, "the primary has the new review");
    assert_eq!(read_counts(&app, &d).await, (3, 3), "reads come from the paused replica");
    let page = app.client.get(app.url("/public")).send().await.expect("public page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("page").contains("共 3 条"), "the /public page reads the replica too");
    replay(&cluster, false);
    let after_resume = until_public_total(&app, 4, Duration::from_secs(30)).await;
    assert_eq!(read_counts(&app, &d).await, (4, 4));
    eprintln!("replica: the review written while replay was paused visible through the API {} after resume", ms(after_resume));

    // A write reaches the reads once replicated: from the 201 to the first read that shows it.
    let mut lags = Vec::new();
    for i in 0..5 {
        rate(&app, &d, &format!("RP-lag-{i}")).await;
        lags.push(until_public_total(&app, 5 + i, Duration::from_secs(30)).await);
    }
    eprintln!("replica: replication lag, write answered → visible through GET /api/v1/public/reviews: {}", lags.iter().map(|l| ms(*l)).collect::<Vec<_>>().join(", "));
    assert!(fallbacks(&app).await.is_empty(), "no read went to the primary while the replica answered");

    // (b) The replica stops: the same reads answer from the primary, with current data.
    let stopping = Instant::now();
    cluster.stop("replica", "fast");
    eprintln!("replica: stopped (pg_ctl stop -m fast) in {}", ms(stopping.elapsed()));
    rate(&app, &d, "RP-after-stop").await;
    let current = app.count("reviews");
    assert_eq!(current, 10);
    let first = Instant::now();
    assert_eq!(public_total(&app).await, current, "the first read after the stop answers from the primary");
    let first = first.elapsed();
    let next = Instant::now();
    assert_eq!(public_total(&app).await, current);
    let next = next.elapsed();
    eprintln!("replica: fallback: first read after the stop {} (finding the replica gone), the next {}", ms(first), ms(next));
    let reads_started = Instant::now();
    assert_eq!(read_counts(&app, &d).await, (current, current), "statistics from the primary");
    for path in [
        "/api/v1/rankings",
        "/api/v1/rankings?by=window",
        "/api/v1/reports/monthly?month=2026-11&format=csv",
        "/api/v1/exports/cases",
        "/api/v1/analysis/clusters",
        "/open311/v2/services.json",
        "/open311/v2/requests.json",
    ] {
        let r = app.client.get(app.url(path)).bearer_auth(&d.supervisor).send().await.expect(path);
        assert_eq!(r.status().as_u16(), 200, "{path} while the replica is stopped");
    }
    let page = app.client.get(app.url("/public")).send().await.expect("public page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("page").contains(&format!("共 {current} 条")), "the /public page from the primary");
    eprintln!("replica: fallback: stats, rankings ×2, monthly report, export, clusters, Open311 ×2 and /public answered 200 in {} together", ms(reads_started.elapsed()));
    let counted = fallbacks(&app).await;
    let total: f64 = counted.iter().map(|(_, n)| n).sum();
    assert!(total >= 10.0, "each read served by the primary is counted: {counted:?}");
    assert!(counted.iter().any(|(reason, _)| reason == "unreachable"), "{counted:?}");
    eprintln!("replica: /metrics haochaping_read_fallbacks_total {counted:?}");

    // The replica returns: once it answers the probe, reads go back to it (paused again, it
    // shows its older count).
    let restarted = Instant::now();
    cluster.start("replica");
    wait_replayed(&cluster);
    replay(&cluster, true);
    rate(&app, &d, "RP-while-back").await;
    let started = Instant::now();
    loop {
        if public_total(&app).await == current {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "reads did not go back to the restarted replica in 20 s");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("replica: restarted and serving reads again {} after pg_ctl start", ms(restarted.elapsed()));
    replay(&cluster, false);
    until_public_total(&app, current + 1, Duration::from_secs(30)).await;

    drop(app);
    drop(cluster);
}
