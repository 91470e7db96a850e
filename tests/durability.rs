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
    let child = Command::new(env!("CARGO_BIN_EXE_haochaping"))
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
