//! Issue 19 items 2 and 3: sign-in limits and citizen-rating quotas are kept in the database, so
//! that two `serve` processes on one database count the same attempts; and nobody can lock the
//! owner out: wrong passwords from other addresses never stop a sign-in from an address that has
//! not failed, while guessing stays slow and nothing waits (over a limit the answer is 429 at once).

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use serde_json::json;

#[actix_web::test]
async fn nobody_can_lock_the_owner_out_sqlite() {
    nobody_can_lock_the_owner_out(Backend::Sqlite).await;
}

#[actix_web::test]
async fn nobody_can_lock_the_owner_out_postgres() {
    nobody_can_lock_the_owner_out(Backend::Postgres).await;
}
on_both_backends!(two_instances_count_the_same_attempts);

const RIGHT: &str = "kite-meadow-93";

/// Signs in as `username` from `address` (forwarded by a trusted proxy); the status and how long
/// the answer took.
async fn sign_in(app: &TestApp, base: &str, address: &str, username: &str, password: &str) -> (u16, Duration) {
    let started = Instant::now();
    let r = app
        .client
        .post(format!("{base}/api/v1/auth/login"))
        .header("X-Forwarded-For", address)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("sign in");
    (r.status().as_u16(), started.elapsed())
}

async fn nobody_can_lock_the_owner_out(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")]).await else { return };
    app.seed().await;
    let base = app.base.clone();
    let mut slowest = Duration::ZERO;
    let mut attempt = |status_and_time: (u16, Duration)| {
        slowest = slowest.max(status_and_time.1);
        status_and_time.0
    };

    // One address guessing: five wrong passwords, then it is refused even with the right one.
    for _ in 0..5 {
        assert_eq!(attempt(sign_in(&app, &base, "198.51.100.1", "sup", "guess").await), 401);
    }
    assert_eq!(attempt(sign_in(&app, &base, "198.51.100.1", "sup", RIGHT).await), 429, "that address is refused for sup");
    assert_eq!(attempt(sign_in(&app, &base, "198.51.100.200", "sup", RIGHT).await), 200, "the owner, from an address that has not failed, signs in");

    // Forty addresses, one wrong password each: the owner still signs in from a clean address.
    for n in 0..40 {
        assert_eq!(attempt(sign_in(&app, &base, &format!("203.0.113.{n}"), "sup", "guess").await), 401);
    }
    assert_eq!(attempt(sign_in(&app, &base, "192.0.2.9", "sup", RIGHT).await), 200, "a spray from many addresses locks nobody out");
    assert_eq!(attempt(sign_in(&app, &base, "192.0.2.9", "sup", "typo").await), 401);
    assert_eq!(attempt(sign_in(&app, &base, "192.0.2.9", "sup", RIGHT).await), 200, "the owner's own typo does not lock them out");

    // From their second failure on, those forty addresses share ten tries a minute on sup, so
    // of a third round at most twenty pass, even if the burst straddles a minute.
    for n in 0..40 {
        assert_eq!(attempt(sign_in(&app, &base, &format!("203.0.113.{n}"), "sup", "guess").await), 401, "a second guess from {n}");
    }
    let mut retries = vec![];
    for n in 0..40 {
        retries.push(attempt(sign_in(&app, &base, &format!("203.0.113.{n}"), "sup", "guess").await));
    }
    assert!(retries.iter().all(|s| [401, 429].contains(s)), "{retries:?}");
    assert!(retries.iter().filter(|s| **s == 429).count() >= 20, "guessing from failed addresses stays slow: {retries:?}");
    // With that shared lane full, the owner — a typo of their own included — is still let in.
    assert_eq!(attempt(sign_in(&app, &base, "192.0.2.10", "sup", "typo").await), 401);
    assert_eq!(attempt(sign_in(&app, &base, "192.0.2.10", "sup", RIGHT).await), 200, "one typo does not put the owner in the guessers' lane");

    // One address spraying usernames: after twenty failures it is refused for every username,
    // and the page login says so in Chinese; other addresses are not affected.
    for n in 0..20 {
        assert_eq!(attempt(sign_in(&app, &base, "198.51.100.7", &format!("nobody{n}"), "guess").await), 401);
    }
    assert_eq!(attempt(sign_in(&app, &base, "198.51.100.7", "clerk2", RIGHT).await), 429);
    let page = app
        .client
        .post(app.url("/login"))
        .header("X-Forwarded-For", "198.51.100.7")
        .form(&[("username", "clerk2"), ("password", RIGHT)])
        .send()
        .await
        .expect("page login");
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.text().await.unwrap_or_default().contains("登录尝试过于频繁"));
    assert_eq!(attempt(sign_in(&app, &base, "198.51.100.8", "clerk2", RIGHT).await), 200);

    assert!(slowest < Duration::from_secs(2), "no answer is held: the slowest took {slowest:?}");
}

/// A `serve` process on this database, trusting the loopback proxy; killed when dropped.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    fn start(database_url: &str) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let child = common::haochaping_command()
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("HCP_SECRET", "test-secret")
            .env("HCP_BIND", format!("127.0.0.1:{port}"))
            .env("HCP_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("HCP_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("HCP_BACKGROUND_JOBS", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "serve on port {port} did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Instance { child, base: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counters are per minute: start a burst early in one, so that it cannot straddle two.
async fn at_the_start_of_a_minute() {
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() % 60;
    if into > 40 {
        tokio::time::sleep(Duration::from_secs(61 - into)).await;
    }
}

async fn two_instances_count_the_same_attempts(app: TestApp) {
    let d = app.seed().await;
    let instances = [Instance::start(&app.database_url), Instance::start(&app.database_url)];
    let base = |n: usize| instances[n % 2].base.clone();

    // Wrong passwords alternate between the instances: the fifth locks the address on both.
    for n in 0..5 {
        assert_eq!(sign_in(&app, &base(n), "198.51.100.1", "sup", "guess").await.0, 401, "attempt {n}");
    }
    for n in 0..2 {
        assert_eq!(sign_in(&app, &base(n), "198.51.100.1", "sup", RIGHT).await.0, 429, "instance {n} knows of the failures on the other");
    }
    assert_eq!(sign_in(&app, &base(0), "198.51.100.2", "sup", RIGHT).await.0, 200);

    // One address's sign-ins: thirty a minute over both instances, not thirty on each.
    at_the_start_of_a_minute().await;
    let mut statuses = vec![];
    for n in 0..40 {
        statuses.push(sign_in(&app, &base(n), "198.51.100.3", "clerk2", RIGHT).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 30, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");

    // A citizen's ratings from one address: sixty a minute over both instances.
    let t = app.transaction(&d, "C1", "I1", json!({})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();
    at_the_start_of_a_minute().await;
    let mut statuses = vec![];
    for n in 0..100 {
        let r = app
            .client
            .post(format!("{}/api/v1/reviews", base(n)))
            .header("X-Forwarded-For", "198.51.100.4")
            .header("X-Rating-Token", &token)
            .json(&json!({"transaction_no": "C1", "stars": 4, "channel": "mobile"}))
            .send()
            .await
            .expect("review");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[0], 201);
    assert_eq!(statuses.iter().filter(|s| **s != 429).count(), 60, "{statuses:?}");
    assert_eq!(app.count("reviews r JOIN transactions t ON t.id = r.transaction_id WHERE t.transaction_no = 'C1'"), 1);
}
