//! Users who leave or change jobs, and keys that are revoked (issue 16, item 3): through HTTP on
//! both backends. Disabling, a new role or a new password ends the user's API tokens and page
//! sessions at once.

mod common;

use common::TestApp;
use serde_json::{json, Value};

on_both_backends!(admins_disable_move_and_reset_users, users_change_their_own_password, api_keys_are_listed_and_revoked, idle_sessions_end_after_thirty_minutes);

async fn login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.post("/api/v1/auth/login", None, &json!({"username": username, "password": password})).await
}

/// A page session: the cookie the sign-in form sets.
async fn page_session(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(app.url("/login")).form(&[("username", username), ("password", "kite-meadow-93")]).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303, "sign in {username}");
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|s| s.split(';').next()).expect("cookie").to_owned();
    (client, cookie)
}

async fn page_status(app: &TestApp, session: &(reqwest::Client, String), path: &str) -> u16 {
    session.0.get(app.url(path)).header("Cookie", &session.1).send().await.expect("get").status().as_u16()
}

async fn admins_disable_move_and_reset_users(app: TestApp) {
    let d = app.seed().await;
    let (status, users) = app.get("/api/v1/users", Some(&d.admin)).await;
    assert_eq!(status, 200);
    let clerk1 = users.as_array().expect("users").iter().find(|u| u["username"] == "clerk1").cloned().expect("clerk1");
    assert_eq!((clerk1["role"].clone(), clerk1["department_code"].clone(), clerk1["active"].clone()), (json!("department"), json!("D1"), json!(true)));
    assert_eq!(app.get("/api/v1/users", Some(&d.supervisor)).await.0, 403);

    // Disabled: the API token and the page session stop at once; signing in is refused.
    let page = page_session(&app, "clerk1").await;
    assert_eq!(page_status(&app, &page, "/cases").await, 200);
    assert_eq!(app.get("/api/v1/cases", Some(&d.clerk1)).await.0, 200);
    assert_eq!(app.patch("/api/v1/users/clerk1", &d.supervisor, &json!({"active": false})).await.0, 403);
    let (status, off) = app.patch("/api/v1/users/clerk1", &d.admin, &json!({"active": false})).await;
    assert_eq!((status, off["active"].clone()), (200, json!(false)), "{off}");
    assert_eq!(app.get("/api/v1/cases", Some(&d.clerk1)).await.0, 401);
    assert_eq!(page_status(&app, &page, "/cases").await, 303, "the page session ended: back to sign-in");
    assert_eq!(login(&app, "clerk1", "kite-meadow-93").await.0, 401);
    // Back again.
    assert_eq!(app.patch("/api/v1/users/clerk1", &d.admin, &json!({"active": true})).await.0, 200);
    assert_eq!(login(&app, "clerk1", "kite-meadow-93").await.0, 200);

    // Moved to another department: still a department user, now D2's; old tokens end.
    let before = app.login("clerk2").await;
    let (status, moved) = app.patch("/api/v1/users/clerk2", &d.admin, &json!({"department_code": "D1", "email": "clerk2@example.test"})).await;
    assert_eq!((status, moved["department_code"].clone(), moved["email"].clone()), (200, json!("D1"), json!("clerk2@example.test")), "{moved}");
    assert_eq!(app.get("/api/v1/cases", Some(&before)).await.0, 200, "a move within the role keeps the session");
    // A new role ends it; a supervisor belongs to no department, a department user needs one.
    let (status, promoted) = app.patch("/api/v1/users/clerk2", &d.admin, &json!({"role": "supervisor"})).await;
    assert_eq!((status, promoted["role"].clone(), promoted["department_code"].clone()), (200, json!("supervisor"), Value::Null), "{promoted}");
    assert_eq!(app.get("/api/v1/cases", Some(&before)).await.0, 401);
    assert_eq!(app.patch("/api/v1/users/clerk2", &d.admin, &json!({"role": "department"})).await.1["error"]["field"], "department_code");
    assert_eq!(app.patch("/api/v1/users/clerk2", &d.admin, &json!({"department_code": "D2"})).await.1["error"]["field"], "department_code");
    assert_eq!(app.patch("/api/v1/users/clerk2", &d.admin, &json!({"role": "integration"})).await.0, 422);

    // A reset password ends the sessions; the new one signs in, the old one does not.
    let token = app.login("sup").await;
    assert_eq!(app.patch("/api/v1/users/sup", &d.admin, &json!({"password": "short"})).await.0, 422);
    assert_eq!(app.patch("/api/v1/users/sup", &d.admin, &json!({"password": "a-new-password-9"})).await.0, 200);
    assert_eq!(app.get("/api/v1/cases", Some(&token)).await.0, 401);
    assert_eq!(login(&app, "sup", "kite-meadow-93").await.0, 401);
    assert_eq!(login(&app, "sup", "a-new-password-9").await.0, 200);

    assert_eq!(app.patch("/api/v1/users/nobody", &d.admin, &json!({"active": false})).await.0, 404);
    assert_eq!(app.patch("/api/v1/users/admin", &d.admin, &json!({"active": false})).await.0, 422, "no admin locks themselves out");
    assert_eq!(app.patch("/api/v1/users/admin", &d.admin, &json!({"role": "supervisor"})).await.0, 422);
    assert_eq!(app.count("audit_events WHERE action = 'update_user'"), 5, "one per change that went through");
    let (_, chain) = app.get("/api/v1/audit/verify", Some(&d.admin)).await;
    assert_eq!(chain["ok"], true, "{chain}");
}

async fn users_change_their_own_password(app: TestApp) {
    let d = app.seed().await;
    let other = app.login("clerk1").await;
    let body = |old: &str, new: &str| json!({"old_password": old, "new_password": new});
    let change = |token: String, b: Value| {
        let app = &app;
        async move { app.post("/api/v1/auth/password", Some(&token), &b).await }
    };
    let (status, wrong) = change(d.clerk1.clone(), body("not-it-at-all", "brand-new-pass-1")).await;
    assert_eq!((status, wrong["error"]["field"].clone()), (422, json!("old_password")), "{wrong}");
    assert_eq!(change(d.clerk1.clone(), body("kite-meadow-93", "short")).await.0, 422);
    // Long enough but guessable: a word with digits, the username, a keyboard walk, a date.
    for weak in ["password-123", "clerk1clerk1", "qwertyuiop123", "19900101"] {
        let (status, refused) = change(d.clerk1.clone(), body("kite-meadow-93", weak)).await;
        assert_eq!((status, refused["error"]["field"].clone()), (422, json!("new_password")), "{weak}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("too easy to guess"), "{refused}");
    }
    let r = app.post("/api/v1/users", Some(&d.admin), &json!({"username": "weakling", "password": "password-123", "role": "supervisor"})).await;
    assert_eq!((r.0, r.1["error"]["field"].clone()), (422, json!("password")), "an admin cannot set a weak one either: {}", r.1);
    assert_eq!(change(d.key.clone(), body("kite-meadow-93", "brand-new-pass-1")).await.0, 403, "keys have no password");
    assert_eq!(change(d.clerk1.clone(), body("kite-meadow-93", "brand-new-pass-1")).await.0, 204);
    // The session in use goes on; the user's other sessions end.
    assert_eq!(app.get("/api/v1/cases", Some(&d.clerk1)).await.0, 200);
    assert_eq!(app.get("/api/v1/cases", Some(&other)).await.0, 401);
    assert_eq!(login(&app, "clerk1", "kite-meadow-93").await.0, 401);
    assert_eq!(login(&app, "clerk1", "brand-new-pass-1").await.0, 200);
}

async fn api_keys_are_listed_and_revoked(app: TestApp) {
    let d = app.seed().await;
    // `role` may be left out (a key is always an integration's); another role is refused.
    let (status, refused) = app.post("/api/v1/api-keys", Some(&d.admin), &json!({"name": "x", "role": "admin"})).await;
    assert_eq!((status, refused["error"]["field"].clone()), (422, json!("role")), "{refused}");
    let (status, created) = app.post("/api/v1/api-keys", Some(&d.admin), &json!({"name": "窗口评价器"})).await;
    assert_eq!(status, 201, "{created}");
    let (id, key) = (created["id"].as_i64().expect("id"), created["key"].as_str().expect("key").to_owned());
    let push = json!({"transaction_no": "K-1", "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"});
    assert_eq!(app.post("/api/v1/transactions", Some(&key), &push).await.0, 201);

    let (status, keys) = app.get("/api/v1/api-keys", Some(&d.admin)).await;
    assert_eq!(status, 200);
    let listed = keys.as_array().expect("keys").iter().find(|k| k["id"] == id).cloned().expect("listed");
    assert_eq!((listed["name"].clone(), listed["revoked_at"].clone()), (json!("窗口评价器"), Value::Null));
    assert!(!keys.to_string().contains(&key), "a key is never shown again");
    assert_eq!(app.get("/api/v1/api-keys", Some(&d.supervisor)).await.0, 403);

    let revoke = |token: String| {
        let app = &app;
        async move { app.client.delete(app.url(&format!("/api/v1/api-keys/{id}"))).bearer_auth(token).send().await.expect("send").status().as_u16() }
    };
    assert_eq!(revoke(d.supervisor.clone()).await, 403);
    assert_eq!(revoke(d.admin.clone()).await, 204);
    assert_eq!(app.post("/api/v1/transactions", Some(&key), &push).await.0, 401, "a revoked key stops at once");
    assert_eq!(revoke(d.admin.clone()).await, 404);
    let (_, keys) = app.get("/api/v1/api-keys", Some(&d.admin)).await;
    assert!(keys.as_array().expect("keys").iter().any(|k| k["id"] == id && k["revoked_at"].is_string()), "{keys}");
}

/// Issue 19 item 7: a staff session (API token or page cookie) without a request for 30 minutes
/// has ended; one used within them goes on, and each use moves its idle clock.
async fn idle_sessions_end_after_thirty_minutes(app: TestApp) {
    let d = app.seed().await;
    let ago = |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).format("%Y-%m-%d %H:%M:%S").to_string();
    let hash = |token: &str| haochaping::adapters::security::sha256_hex(token);
    let idle = app.login("clerk1").await;
    let busy = app.login("clerk2").await;
    app.execute(&format!("UPDATE auth_tokens SET last_seen_at = '{}' WHERE token_hash = '{}'", ago(31), hash(&idle)));
    app.execute(&format!("UPDATE auth_tokens SET last_seen_at = '{}' WHERE token_hash = '{}'", ago(29), hash(&busy)));
    assert_eq!(app.get("/api/v1/cases", Some(&idle)).await.0, 401, "31 minutes idle: ended");
    let page = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
        .get(app.url("/cases")).header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&idle))).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 303, "the page sends them to sign in again");
    assert_eq!(app.get("/api/v1/cases", Some(&busy)).await.0, 200, "29 minutes idle: still on");
    assert_eq!(app.count(&format!("auth_tokens WHERE token_hash = '{}' AND last_seen_at > '{}'", hash(&busy), ago(1))), 1, "the request moved its idle clock");
    assert_eq!(app.count(&format!("auth_tokens WHERE token_hash = '{}'", hash(&idle))), 0, "the ended session is gone");
    assert_eq!(app.get("/api/v1/cases", Some(&d.supervisor)).await.0, 200);
}
