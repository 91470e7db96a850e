//! Rate limits over HTTP: a username locks after five wrong passwords, one address gets a limited
//! number of sign-ins and citizen ratings a minute (429 with Retry-After), while an integration
//! key pushing reviews is not throttled.

mod common;

use common::{error_code, TestApp};
use serde_json::json;

on_both_backends!(limits_on_login_and_rating);

async fn limits_on_login_and_rating(app: TestApp) {
    let d = app.seed().await;
    let wrong = json!({"username": "clerk1", "password": "not-the-password"});
    for _ in 0..5 {
        assert_eq!(app.post("/api/v1/auth/login", None, &wrong).await.0, 401);
    }
    let right = json!({"username": "clerk1", "password": "password-123"});
    let r = app.client.post(app.url("/api/v1/auth/login")).json(&right).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 429, "locked after five wrong passwords, even with the right one");
    let retry: u64 = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(retry > 60, "locked for minutes, not seconds: {retry}");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(error_code(&body), "rate_limited");
    let page = common::client_builder().build().expect("client").post(app.url("/login")).form(&[("username", "clerk1"), ("password", "password-123")]).send().await.expect("page login");
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.text().await.unwrap_or_default().contains("登录尝试过于频繁"));
    assert_eq!(app.post("/api/v1/auth/login", None, &json!({"username": "clerk2", "password": "password-123"})).await.0, 200, "other users are not locked");

    // One address: some dozens of sign-ins a minute, then 429.
    let mut statuses = vec![];
    for _ in 0..40 {
        statuses.push(app.post("/api/v1/auth/login", None, &json!({"username": "sup", "password": "password-123"})).await.0);
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
    let form_token = app.state.signer.sign(&format!("form:{token}"), chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let page = app.client.post(app.url(&format!("/rate/{token}"))).form(&[("form", form_token.as_str()), ("stars", "5")]).send().await.expect("rating page");
    assert_eq!(page.status().as_u16(), 429);
    assert!(page.text().await.unwrap_or_default().contains("提交过于频繁"), "the page says so in Chinese");
    assert_eq!(app.count("reviews r JOIN transactions t ON t.id = r.transaction_id WHERE t.transaction_no = 'C2'"), 0);
}
