//! Durability: the server is killed with SIGKILL in the middle of a load of reviews. After a
//! restart every review that was answered 201 is stored, none is stored twice, every one-star
//! review has its case, and the audit chain verifies.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{drop_pg_database, fresh_database, Backend};
use diesel::prelude::*;
use haochaping::storage::DbPool;

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str) -> Served {
    let addr = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr");
    let child = common::haochaping_command()
        .args(["serve", "--bind", &addr.to_string()])
        .env("DATABASE_URL", database_url)
        .env("HCP_SECRET", "durability")
        .env("HCP_BACKGROUND_JOBS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start haochaping serve");
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, base: format!("http://{addr}") }
}

#[actix_web::test]
async fn sigkill_mid_load_sqlite() {
    sigkill_mid_load(Backend::Sqlite).await;
}

#[actix_web::test]
async fn sigkill_mid_load_postgres() {
    sigkill_mid_load(Backend::Postgres).await;
}

async fn sigkill_mid_load(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((url, pg_database)) = fresh_database(backend, &dir) else { return };
    let (key, nos) = common::review_load::seed_review_load(&url, 5_000).expect("seed");
    let mut server = serve(&url);

    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let client = common::client_builder().build().expect("client");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (accepted, next, nos, client, key, base) = (accepted.clone(), next.clone(), nos.clone(), client.clone(), key.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(no) = nos.get(i) else { break };
                let stars = if i % 5 == 0 { 1 } else { 5 };
                let body = serde_json::json!({"transaction_no": no, "stars": stars, "channel": "pc", "comment": "办理慢"});
                match client.post(format!("{base}/api/v1/reviews")).bearer_auth(&key).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => accepted.lock().expect("lock").push(no.clone()),
                    Ok(r) => panic!("unexpected answer before the kill: {}", r.status()),
                    // The server is gone: what was in flight may or may not have landed.
                    Err(_) => break,
                }
            }
        }));
    }
    let started = Instant::now();
    while accepted.lock().expect("lock").len() < 400 {
        assert!(started.elapsed() < Duration::from_secs(120), "load too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    for t in tasks {
        t.await.expect("client task");
    }
    let accepted: HashSet<String> = accepted.lock().expect("lock").iter().cloned().collect();
    let attempted: HashSet<&String> = nos[..next.load(Ordering::SeqCst).min(nos.len())].iter().collect();
    assert!(accepted.len() >= 400 && accepted.len() < nos.len(), "killed mid-load: {} accepted", accepted.len());

    let restarted = serve(&url);
    let pool = DbPool::connect(&url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    use haochaping::storage::schema::{cases, reviews, transactions};
    let stored: Vec<(String, i32)> = haochaping::db_run!(&mut conn, |c| reviews::table
        .inner_join(transactions::table)
        .select((transactions::transaction_no, reviews::stars))
        .load(c))
    .expect("stored reviews");
    let stored_nos: HashSet<&String> = stored.iter().map(|(no, _)| no).collect();
    assert_eq!(stored_nos.len(), stored.len(), "a transaction has two reviews");
    let lost: Vec<&String> = accepted.iter().filter(|no| !stored_nos.contains(no)).collect();
    assert!(lost.is_empty(), "{} reviews answered 201 are missing, e.g. {:?}", lost.len(), lost.first());
    assert!(stored_nos.iter().all(|no| attempted.contains(no)), "a review nobody sent is stored");
    let one_star = stored.iter().filter(|(_, stars)| *stars == 1).count() as i64;
    let review_cases: i64 = haochaping::db_run!(&mut conn, |c| cases::table.filter(cases::source.eq("review")).count().get_result(c)).expect("cases");
    assert_eq!(review_cases, one_star, "every stored one-star review has exactly its case");
    let chain = haochaping::storage::audit::verify(&mut conn).expect("verify");
    assert!(chain.ok, "audit chain after the crash: {chain:?}");
    use haochaping::storage::schema::audit_events;
    let case_events: i64 = haochaping::db_run!(&mut conn, |c| audit_events::table.filter(audit_events::case_id.is_not_null()).count().get_result(c)).expect("events");
    assert_eq!(case_events, one_star, "one audit event per opened case");

    if backend == Backend::Sqlite {
        assert_eq!(common::sqlite_integrity(&mut conn), "ok", "SQLite file after SIGKILL");
    }

    // A client retries what it sent and never heard back about: each retry is stored now (201)
    // or was stored before the kill (409 already rated), and either way exactly once.
    let client = common::client_builder().build().expect("client");
    let unconfirmed: Vec<(usize, &String)> = nos.iter().enumerate().filter(|(_, no)| attempted.contains(no) && !accepted.contains(*no)).collect();
    eprintln!("accepted {}, attempted {}, retried {}", accepted.len(), attempted.len(), unconfirmed.len());
    for (i, no) in &unconfirmed {
        let stars = if i % 5 == 0 { 1 } else { 5 };
        let body = serde_json::json!({"transaction_no": no, "stars": stars, "channel": "pc", "comment": "办理慢"});
        let r = client.post(format!("{}/api/v1/reviews", restarted.base)).bearer_auth(&key).json(&body).send().await.expect("retry");
        let status = r.status().as_u16();
        assert!(status == 201 || status == 409, "retry of {no}: {status} {}", r.text().await.unwrap_or_default());
    }
    let stored_after: i64 = haochaping::db_run!(&mut conn, |c| reviews::table.count().get_result(c)).expect("reviews");
    assert_eq!(stored_after as usize, attempted.len(), "every attempted review stored exactly once after the retries");
    let attempted_one_star = nos.iter().enumerate().filter(|(i, no)| i % 5 == 0 && attempted.contains(no)).count() as i64;
    let review_cases: i64 = haochaping::db_run!(&mut conn, |c| cases::table.filter(cases::source.eq("review")).count().get_result(c)).expect("cases");
    assert_eq!(review_cases, attempted_one_star, "one case per one-star review after the retries");
    let chain = haochaping::storage::audit::verify(&mut conn).expect("verify");
    assert!(chain.ok, "audit chain after the retries: {chain:?}");

    // The restarted server answers: a repeat is refused, a new review lands.
    let repeat = accepted.iter().next().expect("one accepted");
    let r = client
        .post(format!("{}/api/v1/reviews", restarted.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"transaction_no": repeat, "stars": 5, "channel": "pc"}))
        .send()
        .await
        .expect("repeat");
    assert_eq!(r.status().as_u16(), 409);
    let fresh = nos.last().expect("last");
    let r = client
        .post(format!("{}/api/v1/reviews", restarted.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"transaction_no": fresh, "stars": 5, "channel": "pc"}))
        .send()
        .await
        .expect("fresh");
    assert_eq!(r.status().as_u16(), 201);
    drop(conn);
    drop(pool);
    drop(restarted);
    if let Some(name) = pg_database {
        drop_pg_database(&name);
    }
}

/// Issue 17 item 5: a backup while reviews are being posted — `haochaping backup --out F` on
/// SQLite, the README's `pg_dump`/`pg_restore` on PostgreSQL. The copy, restored into a fresh
/// database, holds every review acknowledged before the backup began (and those acknowledged
/// while it ran that its instant caught), each once with its case; the audit chain verifies;
/// rating links issued before the backup still open their page.
#[actix_web::test]
async fn a_backup_while_reviews_are_posted_restores_what_was_acknowledged_sqlite() {
    backup_while_reviews_are_posted(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_backup_while_reviews_are_posted_restores_what_was_acknowledged_postgres() {
    backup_while_reviews_are_posted(Backend::Postgres).await;
}

/// The README's commands, run by the shell as an operator would.
fn shell(script: &str, database_url: &str, file: &std::path::Path) -> std::process::Output {
    Command::new("sh").arg("-c").arg(script).env("DATABASE_URL", database_url).env("BACKUP", file).output().expect("sh")
}

async fn backup_while_reviews_are_posted(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((url, pg_database)) = fresh_database(backend, &dir) else { return };
    let (key, nos) = common::review_load::seed_review_load(&url, 60_000).expect("seed");
    let server = serve(&url);
    let client = common::client_builder().build().expect("client");
    // A rating link issued before the backup, through the API.
    let issued = client
        .post(format!("{}/api/v1/transactions", server.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"transaction_no": "LINK-1", "service_item_code": "BENCH-1", "channel": "pc", "completed_at": "2026-12-01T10:00:00+08:00"}))
        .send()
        .await
        .expect("transaction");
    assert_eq!(issued.status().as_u16(), 201);
    let link: serde_json::Value = issued.json().await.expect("json");
    let token = link["rating_token"].as_str().expect("rating_token").to_owned();

    let acknowledged = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (acknowledged, stop, next, nos, client, key, base) =
            (acknowledged.clone(), stop.clone(), next.clone(), nos.clone(), client.clone(), key.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(no) = nos.get(i) else { break };
                let stars = if i % 5 == 0 { 1 } else { 4 };
                let body = serde_json::json!({"transaction_no": no, "stars": stars, "channel": "pc", "comment": "备份期间的评价"});
                let r = client.post(format!("{base}/api/v1/reviews")).bearer_auth(&key).json(&body).send().await.expect("review");
                assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap_or_default());
                acknowledged.lock().expect("lock").push((no.clone(), Instant::now()));
            }
        }));
    }
    while acknowledged.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let backup = dir.path().join("backup");
    let began = Instant::now();
    let out = {
        let (url, backup) = (url.clone(), backup.clone());
        tokio::task::spawn_blocking(move || match backend {
            Backend::Sqlite => common::haochaping_command()
                .args(["backup", "--out", &backup.to_string_lossy()])
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
                .expect("backup"),
            Backend::Postgres => shell(r#"pg_dump --format=custom --file="$BACKUP" "$DATABASE_URL""#, &url, &backup),
        })
        .await
        .expect("join")
    };
    let ended = Instant::now();
    // Reviews go on after the backup too; then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("poster");
    }
    assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::metadata(&backup).map(|m| m.len()).unwrap_or(0);
    if backend == Backend::Sqlite {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("backup report");
        assert_eq!(report["integrity"], "ok", "{report}");
        assert_eq!(report["audit"]["ok"], true, "{report}");
        let again = common::haochaping_command().args(["backup", "--out", &backup.to_string_lossy()]).env("DATABASE_URL", &url).output().expect("again");
        assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("never overwrites"), "an existing file is kept");
    } else {
        let refused = common::haochaping_command().args(["backup", "--out", "/tmp/never.db"]).env("DATABASE_URL", &url).output().expect("backup on PostgreSQL");
        assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("pg_dump"), "PostgreSQL: the command names pg_dump");
    }

    // Restore into a fresh database, and start the service on it.
    drop(server);
    let restored_dir = tempfile::tempdir().expect("restore dir");
    let Some((restored_url, restored_pg)) = fresh_database(backend, &restored_dir) else { return };
    match backend {
        Backend::Sqlite => {
            let path = haochaping::storage::sqlite_file(&restored_url).expect("file");
            std::fs::copy(&backup, &path).expect("restore copy");
        }
        Backend::Postgres => {
            let out = shell(r#"pg_restore --clean --if-exists --no-owner --dbname="$DATABASE_URL" "$BACKUP""#, &restored_url, &backup);
            assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let before: Vec<&String> = acknowledged.iter().filter(|(_, at)| *at < began).map(|(no, _)| no).collect();
    let during: Vec<&String> = acknowledged.iter().filter(|(_, at)| *at >= began && *at <= ended).map(|(no, _)| no).collect();
    let restored = serve(&restored_url);
    let pool = DbPool::connect(&restored_url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    use haochaping::storage::schema::{cases, reviews, transactions};
    let stored: HashSet<String> = haochaping::db_run!(&mut conn, |c| reviews::table.inner_join(transactions::table).select(transactions::transaction_no).load::<String>(c))
        .expect("reviews")
        .into_iter()
        .collect();
    let missing: Vec<&&String> = before.iter().filter(|no| !stored.contains(**no)).collect();
    assert!(missing.is_empty(), "{} reviews acknowledged before the backup are not in it, e.g. {:?}", missing.len(), missing.first());
    let during_found = during.iter().filter(|no| stored.contains(**no)).count();
    let one_star = stored.iter().filter(|no| no.strip_prefix("BENCH-").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n % 5 == 0)).count() as i64;
    let review_cases: i64 = haochaping::db_run!(&mut conn, |c| cases::table.filter(cases::source.eq("review")).count().get_result(c)).expect("cases");
    assert_eq!(review_cases, one_star, "each one-star review in the copy has its case, none half-stored");
    let chain = haochaping::storage::audit::verify(&mut conn).expect("verify");
    assert!(chain.ok, "audit chain of the restored copy: {chain:?}");
    let page = client.get(format!("{}/rate/{token}", restored.base)).send().await.expect("rating page");
    assert_eq!(page.status().as_u16(), 200, "a rating link issued before the backup opens on the restored copy");
    eprintln!(
        "backup ({backend:?}): {bytes} bytes in {:.2} s; {} reviews acknowledged before it, all restored; {} acknowledged while it ran, {} of them in the copy; {} in the copy in all",
        (ended - began).as_secs_f64(),
        before.len(),
        during.len(),
        during_found,
        stored.len()
    );
    drop(conn);
    drop(pool);
    drop(restored);
    for name in [pg_database, restored_pg].into_iter().flatten() {
        drop_pg_database(&name);
    }
}
