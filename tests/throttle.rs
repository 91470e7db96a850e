//! Rate limits over HTTP: a username locks after five wrong passwords, one address gets a limited
//! number of sign-ins and citizen ratings a minute (429 with Retry-After), while an integration
//! key has its own, far higher quota.

mod common;

use common::{error_code, Backend, TestApp};
use serde_json::json;

on_both_backends!(limits_on_login_and_rating);

#[actix_web::test]
async fn an_integration_key_has_its_own_quota_sqlite() {
    key_quota(Backend::Sqlite).await;
}

#[actix_web::test]
async fn an_integration_key_has_its_own_quota_postgres() {
    key_quota(Backend::Postgres).await;
}

/// With `HCP_INTEGRATION_RATE` at 20 a second, a key that calls faster gets 429 on any endpoint
/// (transactions here; reviews count too), stores nothing it was refused, leaves the citizens'
/// quota of the same address alone, and pushes again once its quota refills.
async fn key_quota(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.integration_per_second = 20).await else { return };
    let d = app.seed().await;
    let push = |n: usize| json!({"transaction_no": format!("Q{n}"), "service_item_code": "I1", "channel": "window_device", "completed_at": "2026-11-20T10:00:00+08:00"});
    let mut statuses = vec![];
    let mut rating_token = None;
    for n in 0..60 {
        let (status, body) = app.post("/api/v1/transactions", Some(&d.key), &push(n)).await;
        match status {
            201 => rating_token = rating_token.or_else(|| body["rating_token"].as_str().map(|t| (n, t.to_owned()))),
            429 => assert_eq!(error_code(&body), "rate_limited", "{body}"),
            other => panic!("push {n}: {other} {body}"),
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "60 pushes at once over a quota of 20 a second: {statuses:?}");
    let created = statuses.iter().filter(|s| **s == 201).count() as i64;
    assert_eq!(app.count("transactions WHERE transaction_no LIKE 'Q%'"), created, "a refused push stores nothing");

    let (n, token) = rating_token.expect("some pushes went through");
    let r = app.client.post(app.url("/api/v1/reviews")).header("X-Rating-Token", &token)
        .json(&json!({"transaction_no": format!("Q{n}"), "stars": 5, "channel": "mobile"})).send().await.expect("citizen review");
    assert_eq!(r.status().as_u16(), 201, "the key's quota is its own, not the address's");

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &push(100)).await.0, 201, "the quota refills");
}

async fn limits_on_login_and_rating(app: TestApp) {
    let d = app.seed().await;
    let wrong = json!({"username": "clerk1", "password": "not-the-password"});
    for _ in 0..5 {
        assert_eq!(app.post("/api/v1/auth/login", None, &wrong).await.0, 401);
    }
    let right = json!({"username": "clerk1", "password": "kite-meadow-93"});
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&right).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 429, "locked after five wrong passwords, even with the right one");
    let retry: u64 = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(retry > 60, "locked for minutes, not seconds: {retry}");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
    let page = common::client_builder().build().expect("client").post(app.url("/login")).form(&[("username", "clerk1"), ("password", "kite-meadow-93")]).send().await.expect("page login");
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.text().await.unwrap_or_default().contains("登录尝试过于频繁"));
    assert_eq!(app.post("/api/v1/auth/login", None, &json!({"username": "clerk2", "password": "kite-meadow-93"})).await.0, 200, "other users are not locked");

    // One address: some dozens of sign-ins a minute, then 429 — whichever usernames they are for
    // (13 or 14 each here, under any per-user quota: the limit is the address's).
    let mut statuses = vec![];
    for n in 0..40 {
        let username = ["sup", "clerk2", "admin"][n % 3];
        statuses.push(app.post("/api/v1/auth/login", None, &json!({"username": username, "password": "kite-meadow-93"})).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");

    // Integration keys push on, far above a citizen's quota.
    for n in 0..120 {
        let no = format!("K{n}");
        app.transaction(&d, &no, "I1", json!({})).await;
        let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 5, "channel": "kiosk"})).await;
        assert_eq!(r.0, 201, "review {n}: {}", r.1);
    }
    // A citizen's link from one address: repeats get 409, a flood gets 429, nothing is stored twice.
    let t = app.transaction(&d, "C1", "I1", json!({})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();
    let mut statuses = vec![];
    for _ in 0..70 {
        let r = app.client.post(app.url("/api/v1/reviews")).header("X-Rating-Token", &token)
            .json(&json!({"transaction_no": "C1", "stars": 4, "channel": "mobile"})).send().await.expect("review");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[0], 201);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.iter().all(|s| [201, 409, 429].contains(s)), "{statuses:?}");
    assert_eq!(app.count("reviews r JOIN transactions t ON t.id = r.transaction_id WHERE t.transaction_no = 'C1'"), 1);

    // The rating page shares that quota: this address has used it up, so the form answers 429
    // with a page saying so (and what was rated stays rated).
    let t = app.transaction(&d, "C2", "I1", json!({})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();
    let form_token = haochaping::interfaces::web::rating::form_token(&app.state, &token);
    let page = app.client.post(app.url(&format!("/rate/{token}"))).form(&[("form", form_token.as_str()), ("stars", "5")]).send().await.expect("rating page");
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.text().await.unwrap_or_default().contains("提交过于频繁"), "the page says so in Chinese");
    assert_eq!(app.count("reviews r JOIN transactions t ON t.id = r.transaction_id WHERE t.transaction_no = 'C2'"), 0);
}

/// Issue 19 item 1: behind a proxy in `HCP_TRUSTED_PROXIES`, each forwarded client has its own
/// per-address quota; without it, `X-Forwarded-For` is ignored and the peer's quota holds.
#[actix_web::test]
async fn forwarded_clients_are_counted_apart_only_behind_a_trusted_proxy() {
    for trusted in [true, false] {
        let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.trusted_proxies = if trusted { vec!["127.0.0.1/32".parse().expect("cidr")] } else { vec![] };
        })
        .await
        else {
            return;
        };
        app.seed().await;
        let mut statuses = vec![];
        for n in 0..40 {
            let username = ["sup", "clerk1", "clerk2"][n % 3];
            let r = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .header("X-Forwarded-For", format!("203.0.113.{n}"))
                .json(&json!({"username": username, "password": "kite-meadow-93"}))
                .send()
                .await
                .expect("login");
            statuses.push(r.status().as_u16());
        }
        if trusted {
            assert!(statuses.iter().all(|s| *s == 200), "40 citizens' addresses behind the proxy, each well under its quota: {statuses:?}");
        } else {
            assert!(statuses.contains(&429), "an untrusted peer's X-Forwarded-For changes nothing: {statuses:?}");
        }
    }
}
