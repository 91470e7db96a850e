//! Integrity flags (疑似刷评, issue 20 item 8) through HTTP and the real `haochaping scan`, on
//! both backends: bursts from one address or one browser, ratings entered with a staff session
//! signed in on the same browser, and months of a department or window without a bad rating or
//! with almost only active ratings are flagged for the supervisors — and every flagged rating is
//! stored and counted all the same. Supervisors (and admins) dismiss or confirm, with the reason in
//! the audit chain; department users may not.

mod common;

use common::{Backend, District, StaffSession, TestApp};
use serde_json::{json, Value};

/// The test server believes `X-Forwarded-For` from its own loopback proxy, so that each rating can
/// come from an address of the test's choosing.
async fn behind_proxy(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")]).await
}

macro_rules! behind_proxy_on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                if let Some(app) = super::behind_proxy(super::Backend::Sqlite).await {
                    super::$name(app).await;
                }
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = super::behind_proxy(super::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )*};
}

/// A D1 transaction; its rating token.
async fn transaction(app: &TestApp, d: &District, no: &str) -> String {
    app.transaction(d, no, "I1", json!({})).await["rating_token"].as_str().expect("rating token").to_owned()
}

/// A citizen's five-star rating through the API, from `address`; the review id.
async fn rate_from(app: &TestApp, d: &District, no: &str, address: &str) -> i64 {
    let token = transaction(app, d, no).await;
    let r = app
        .client
        .post(app.url("/api/v1/reviews"))
        .header("X-Rating-Token", &token)
        .header("X-Forwarded-For", address)
        .json(&json!({"transaction_no": no, "stars": 5, "channel": "mobile", "comment": "办事很快"}))
        .send()
        .await
        .expect("post");
    let (status, body) = common::into_pair(r).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("review id")
}

fn scan(app: &TestApp) {
    let out = app.cli(&["scan"]);
    assert!(out.status.success(), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
}

async fn flags(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/v1/integrity/flags{query}"), Some(token)).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().unwrap_or_else(|| panic!("no items: {list}"))
}

fn ids(flag: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = flag["review_ids"].as_array().expect("review ids").iter().map(|v| v.as_i64().expect("id")).collect();
    ids.sort_unstable();
    ids
}

async fn ratings_this_month(app: &TestApp, d: &District) -> i64 {
    let r = app.get("/api/v1/stats", Some(&d.supervisor)).await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1["total"]["ratings"].as_i64().expect("ratings")
}

/// The audit events of integrity decisions matching `condition` (SQL).
fn decisions(app: &TestApp, condition: &str) -> i64 {
    app.count(&format!("audit_events WHERE action = 'integrity_flag' AND {condition}"))
}

behind_proxy_on_both_backends!(six_ratings_from_one_address_are_one_burst_flag_and_all_still_count);

async fn six_ratings_from_one_address_are_one_burst_flag_and_all_still_count(app: TestApp) {
    let d = app.seed().await;
    let mut burst = Vec::new();
    for i in 0..6 {
        burst.push(rate_from(&app, &d, &format!("B{i}"), "198.51.100.7").await);
    }
    // Five more, each from its own address: no burst.
    for i in 0..5 {
        rate_from(&app, &d, &format!("C{i}"), &format!("203.0.113.{}", i + 1)).await;
    }
    // Flags come from the scanner, not the intake path.
    assert_eq!(flags(&app, &d.supervisor, "?status=all").await["total"], 0);
    scan(&app);
    let list = flags(&app, &d.supervisor, "").await;
    assert_eq!(list["total"], 1, "{list}");
    let flag = &items(&list)[0];
    assert_eq!(flag["kind"], "burst_address");
    assert_eq!(flag["status"], "open");
    burst.sort_unstable();
    assert_eq!(ids(flag), burst, "the six ratings of the burst, and only those");
    assert_eq!(flag["details"]["reviews"], 6);
    assert_eq!(flag["details"]["peak"], 6);
    assert_eq!(flag["details"]["threshold"], 5);
    assert!(flag["subject_label"].as_str().is_some_and(|l| l.contains("同一网络地址")), "{flag}");
    assert!(!flag.to_string().contains("198.51.100.7"), "the address itself is stored nowhere: {flag}");
    assert_eq!(flag["subject"], format!("address:#{}", burst[0]), "the flag names the burst by its first review, not by the address's hash");
    assert_eq!(app.count("reviews WHERE address_hash IS NOT NULL"), 11, "all eleven ratings carry their address hash");
    // Never dropped: all eleven are stored and counted.
    assert_eq!(app.count("reviews"), 11);
    assert_eq!(ratings_this_month(&app, &d).await, 11);

    // Scanning again raises nothing new; a seventh rating from the address joins the open flag.
    scan(&app);
    assert_eq!(flags(&app, &d.supervisor, "?status=all").await["total"], 1);
    let seventh = rate_from(&app, &d, "B6", "198.51.100.7").await;
    scan(&app);
    let list = flags(&app, &d.supervisor, "?status=all").await;
    assert_eq!(list["total"], 1, "{list}");
    let flag = items(&list)[0].clone();
    assert!(ids(&flag).contains(&seventh), "{flag}");
    assert_eq!(flag["details"]["reviews"], 7);
    let id = flag["id"].as_i64().expect("flag id");

    // The board shows it with its figures and a link to the reviews, which its page lists.
    let page = StaffSession::sign_in(&app, "sup").await;
    let (status, board) = page.get("/board").await;
    assert_eq!(status, 200);
    assert!(board.contains("疑似刷评") && board.contains("同一网络地址短时间内多次评价"), "the board lacks the flag");
    assert!(board.contains(&format!("/board/integrity/{id}")), "no link to the flag's page");
    let (status, detail) = page.get(&format!("/board/integrity/{id}")).await;
    assert_eq!(status, 200);
    for review in &burst {
        assert!(detail.contains(&format!("#{review}<")), "review {review} is not listed on the flag's page");
    }

    // Department users may neither read nor decide.
    assert_eq!(app.get("/api/v1/integrity/flags", Some(&d.clerk1)).await.0, 403);
    let refused = app.post(&format!("/api/v1/integrity/flags/{id}"), Some(&d.clerk1), &json!({"status": "dismissed", "note": "x"})).await;
    assert_eq!(refused.0, 403, "{}", refused.1);
    let (status, _) = StaffSession::sign_in(&app, "clerk1").await.get("/board/integrity").await;
    assert_eq!(status, 403);
    // A decision needs dismissed or confirmed, and a reason.
    let r = app.post(&format!("/api/v1/integrity/flags/{id}"), Some(&d.supervisor), &json!({"status": "open", "note": "x"})).await;
    assert_eq!((r.0, common::error_code(&r.1)), (422, "invalid".to_owned()), "{}", r.1);
    let r = app.post(&format!("/api/v1/integrity/flags/{id}"), Some(&d.supervisor), &json!({"status": "dismissed", "note": "  "})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    assert_eq!(app.post("/api/v1/integrity/flags/999999", Some(&d.supervisor), &json!({"status": "dismissed", "note": "x"})).await.0, 404);
    assert_eq!(decisions(&app, "1 = 1"), 0);

    // The supervisor dismisses it (a hall's shared Wi-Fi), an admin later confirms it: both
    // recorded with who and why; the ratings stay stored and counted.
    let r = app.post(&format!("/api/v1/integrity/flags/{id}"), Some(&d.supervisor), &json!({"status": "dismissed", "note": "大厅公共无线网络"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!((r.1["status"].as_str(), r.1["resolved_by"].as_str(), r.1["note"].as_str()), (Some("dismissed"), Some("supervisor:sup"), Some("大厅公共无线网络")));
    assert_eq!(decisions(&app, "actor = 'supervisor:sup' AND note = '大厅公共无线网络' AND to_state = 'dismissed'"), 1);
    assert_eq!(flags(&app, &d.supervisor, "").await["total"], 0, "no open flag left");
    assert_eq!(flags(&app, &d.supervisor, "?status=dismissed").await["total"], 1);
    let r = app.post(&format!("/api/v1/integrity/flags/{id}"), Some(&d.admin), &json!({"status": "confirmed", "note": "同一人连续刷评"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["status"], "confirmed");
    assert_eq!(decisions(&app, "actor = 'admin:admin' AND from_state = 'dismissed' AND to_state = 'confirmed'"), 1);
    let verify = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(verify.0, 200, "the audit chain holds: {}", verify.1);
    // The hashes are cleared after 30 days; neither the flags nor the audit chain keep a copy.
    assert_eq!(app.count("reviews WHERE address_hash IS NOT NULL"), 12);
    assert_eq!(app.count("integrity_flags f JOIN reviews r ON f.subject LIKE '%' || r.address_hash || '%' OR f.details LIKE '%' || r.address_hash || '%'"), 0);
    assert_eq!(app.count("audit_events a JOIN reviews r ON a.detail LIKE '%' || r.address_hash || '%'"), 0, "no address hash in the audit chain");
    assert_eq!(decisions(&app, &format!("detail LIKE '%\"flag_id\":{id}%'")), 2);
    assert_eq!(app.count("reviews"), 12);
    assert_eq!(ratings_this_month(&app, &d).await, 12);
    // A burst that goes on after its flag was decided raises a new flag for what came after.
    let eighth = rate_from(&app, &d, "B7", "198.51.100.7").await;
    scan(&app);
    let open = flags(&app, &d.supervisor, "").await;
    assert_eq!(open["total"], 1, "{open}");
    assert_eq!(ids(&items(&open)[0]), vec![eighth]);
}

/// Signs in on the pages; the session cookie (`hcp_session=…`).
async fn page_session(app: &TestApp, username: &str) -> String {
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(app.url("/login")).form(&[("username", username), ("password", "kite-meadow-93")]).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303);
    r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|s| s.split(';').next()).expect("session cookie").to_owned()
}

/// Rates `no` five stars on the rating page with these cookies, from `address`.
async fn rate_on_page(app: &TestApp, token: &str, cookies: &str, address: &str) {
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let form_token = haochaping::interfaces::web::rating::form_token(&app.state, token);
    let mut req = client
        .post(app.url(&format!("/rate/{token}")))
        .header("X-Forwarded-For", address)
        .form(&[("form", form_token.as_str()), ("stars", "5"), ("comment", "很满意")]);
    if !cookies.is_empty() {
        req = req.header("Cookie", cookies);
    }
    let r = req.send().await.expect("post");
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap_or_default());
}

behind_proxy_on_both_backends!(a_rating_from_a_browser_with_a_staff_session_is_flagged_and_a_dead_session_is_not);

async fn a_rating_from_a_browser_with_a_staff_session_is_flagged_and_a_dead_session_is_not(app: TestApp) {
    let d = app.seed().await;
    // The rating page names the browser with a long-lived random first-party cookie.
    let token = transaction(&app, &d, "S1").await;
    let r = app.client.get(app.url(&format!("/rate/{token}"))).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let set = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("device cookie").to_owned();
    assert!(set.starts_with("hcp_device=") && set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Max-Age="), "{set}");
    let device = set.split(';').next().expect("cookie").to_owned();

    // A clerk signed in on the same browser rates: flagged at once, no scan needed.
    let staff = page_session(&app, "clerk1").await;
    rate_on_page(&app, &token, &format!("{staff}; {device}"), "198.51.100.20").await;
    let list = flags(&app, &d.supervisor, "").await;
    assert_eq!(list["total"], 1, "{list}");
    let flag = &items(&list)[0];
    assert_eq!(flag["kind"], "staff_session");
    assert_eq!(flag["department_code"], "D1");
    let review = ids(flag)[0];
    assert_eq!(flag["subject"], format!("review:{review}"));
    assert_eq!(app.count("reviews WHERE staff_session"), 1);
    assert_eq!(app.count("reviews WHERE device_hash IS NOT NULL"), 1, "the device cookie's hash is stored with the rating");

    // The same through the API, from a browser carrying the session cookie.
    let api_token = transaction(&app, &d, "S2").await;
    let r = app
        .client
        .post(app.url("/api/v1/reviews"))
        .header("X-Rating-Token", &api_token)
        .header("Cookie", &staff)
        .json(&json!({"transaction_no": "S2", "stars": 4, "channel": "pc"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(flags(&app, &d.supervisor, "?kind=staff_session").await["total"], 2);

    // An expired session, a signed-out one and a forged cookie flag nothing.
    let expired = page_session(&app, "clerk2").await;
    let expired_token = expired.trim_start_matches("hcp_session=").rsplit_once('.').expect("signed cookie").0.to_owned();
    app.execute(&format!(
        "UPDATE auth_tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = '{}'",
        haochaping::adapters::security::sha256_hex(&expired_token)
    ));
    let t3 = transaction(&app, &d, "S3").await;
    rate_on_page(&app, &t3, &expired, "198.51.100.21").await;
    let t4 = transaction(&app, &d, "S4").await;
    rate_on_page(&app, &t4, "hcp_session=hcpt_forged.AAAA", "198.51.100.22").await;
    let signed_out = page_session(&app, "sup").await;
    let csrf = {
        let client = common::client_builder().build().expect("client");
        let html = client.get(app.url("/board")).header("Cookie", &signed_out).send().await.expect("board").text().await.unwrap_or_default();
        html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf").to_owned()
    };
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(app.url("/logout")).header("Cookie", &signed_out).form(&[("csrf", csrf.as_str())]).send().await.expect("logout");
    assert_eq!(r.status().as_u16(), 303);
    let t5 = transaction(&app, &d, "S5").await;
    rate_on_page(&app, &t5, &signed_out, "198.51.100.23").await;
    assert_eq!(app.count("reviews"), 5, "every rating is stored");
    assert_eq!(app.count("reviews WHERE staff_session"), 2);
    // The scanner's second look raises no duplicate.
    scan(&app);
    scan(&app);
    assert_eq!(flags(&app, &d.supervisor, "?status=all").await["total"], 2);
}

behind_proxy_on_both_backends!(many_ratings_from_one_browser_are_a_device_burst_but_a_hall_kiosk_is_not);

async fn many_ratings_from_one_browser_are_a_device_burst_but_a_hall_kiosk_is_not(app: TestApp) {
    let d = app.seed().await;
    // Six ratings on the page from one browser, each through another address (a phone moving
    // between networks): the device rule finds them, the address rule does not.
    for i in 0..6 {
        let token = transaction(&app, &d, &format!("P{i}")).await;
        rate_on_page(&app, &token, "hcp_device=one-browser-id", &format!("192.0.2.{}", i + 1)).await;
    }
    // A hall kiosk rates everyone served there: twelve in a row stay under its own threshold.
    for i in 0..12 {
        let no = format!("K{i}");
        transaction(&app, &d, &no).await;
        let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 5, "channel": "kiosk", "device_id": "KIOSK-1F-01"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
    }
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "K0", "stars": 5, "channel": "kiosk", "device_id": "x".repeat(129)})).await;
    assert_eq!(r.0, 422, "an over-long device id is refused: {}", r.1);
    scan(&app);
    let list = flags(&app, &d.supervisor, "?status=all").await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(items(&list)[0]["kind"], "burst_device");
    assert_eq!(items(&list)[0]["review_count"], 6);
    assert_eq!(app.count("reviews WHERE address_hash IS NOT NULL"), 6, "integration ratings carry no address: theirs is the business system's");
    assert_eq!(app.count("reviews WHERE device_hash IS NOT NULL"), 18);

    // One phone on one address: the address flag only, not a device flag naming the same reviews.
    for i in 0..6 {
        let token = transaction(&app, &d, &format!("Q{i}")).await;
        rate_on_page(&app, &token, "hcp_device=another-browser-id", "192.0.2.99").await;
    }
    scan(&app);
    let list = flags(&app, &d.supervisor, "?status=all").await;
    let mut kinds: Vec<&str> = items(&list).iter().map(|f| f["kind"].as_str().expect("kind")).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["burst_address", "burst_device"], "{list}");
}

on_both_backends!(a_month_without_a_bad_rating_or_with_almost_only_active_ratings_is_flagged);

async fn a_month_without_a_bad_rating_or_with_almost_only_active_ratings_is_flagged(app: TestApp) {
    let d = app.seed().await;
    let r = app.put("/api/v1/rating-policy", &d.admin, &json!({"enabled": true, "default_after_days": 1, "default_stars": 5})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    // Everything completed 25 hours ago and rated an hour ago, when the default ratings fall due:
    // all in one month, whatever day the test runs.
    let now = chrono::Utc::now();
    let completed = (now - chrono::Duration::hours(25)).to_rfc3339();
    let rated = (now - chrono::Duration::hours(1)).to_rfc3339();
    // D1 at window W1: 200 five-star ratings, not one bad. D2: 200 good, 3 bad and 3 left to the
    // default rating (98.5 % active).
    let mut items_d1 = Vec::new();
    let mut items_d2 = Vec::new();
    for i in 0..200 {
        items_d1.push(json!({"transaction_no": format!("M1-{i}"), "service_item_code": "I1", "window_code": "W1", "staff_no": "S2", "channel": "window_device", "completed_at": completed}));
    }
    for i in 0..206 {
        items_d2.push(json!({"transaction_no": format!("M2-{i}"), "service_item_code": "I2", "channel": "pc", "completed_at": completed}));
    }
    for batch in [items_d1, items_d2] {
        let r = app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": batch})).await;
        assert_eq!(r.0, 200, "{}", r.1);
        assert_eq!(r.1["refused"], 0, "{}", r.1);
    }
    for (no, stars) in (0..200).map(|i| (format!("M1-{i}"), 5)).chain((0..203).map(|i| (format!("M2-{i}"), if i < 3 { 1 } else { 4 }))) {
        let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": stars, "channel": "window_device", "comment": "说明", "rated_at": rated})).await;
        assert_eq!(r.0, 201, "{}", r.1);
    }
    scan(&app);
    assert_eq!(app.count("reviews WHERE channel = 'default'"), 3, "the scan gave the three default ratings first");
    let list = flags(&app, &d.supervisor, "?per_page=100").await;
    let mut found: Vec<(String, String)> = items(&list)
        .iter()
        .map(|f| (f["kind"].as_str().expect("kind").to_owned(), f["subject_label"].as_str().expect("label").to_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("active_share".to_owned(), "1号窗口（W1）".to_owned()),
            ("active_share".to_owned(), "区市场监督管理局".to_owned()),
            ("no_bad_ratings".to_owned(), "1号窗口（W1）".to_owned()),
            ("no_bad_ratings".to_owned(), "区市场监督管理局".to_owned()),
        ],
        "D1 and its window twice each, D2 (with bad ratings and default ones) not at all: {list}"
    );
    let no_bad = items(&list).iter().find(|f| f["kind"] == "no_bad_ratings" && f["department_code"] == "D1").expect("D1's flag");
    assert_eq!((no_bad["details"]["active"].as_u64(), no_bad["details"]["bad"].as_u64()), (Some(200), Some(0)));
    assert_eq!(no_bad["review_ids"], json!([]), "a month's flag names no single review");
    let window_flag = items(&list).iter().find(|f| f["kind"] == "no_bad_ratings" && f["window_code"] == "W1").expect("W1's flag");
    assert_eq!(window_flag["department_code"], "D1", "a window's flag names its department");
    let month = chrono::DateTime::parse_from_rfc3339(&rated).expect("time").with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m").to_string();
    assert_eq!(no_bad["period"], month);
    // Again, past the hour after which the monthly rules run again: no duplicates.
    let later = (now + chrono::Duration::minutes(61)).to_rfc3339();
    let out = app.cli(&["scan", "--at", &later, "--allow-future"]);
    assert!(out.status.success(), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    let round: Value = serde_json::from_slice(&out.stdout).expect("scan report");
    assert_eq!(round["integrity"]["flags_raised"], 0, "{round}");
    assert_eq!(flags(&app, &d.supervisor, "?status=all").await["total"], 4);
    // A bad rating for D1 at W1 later in the month: its no-bad-rating flags stay, saying the rule
    // no longer holds, with the figures brought up to date.
    let late = json!([{"transaction_no": "M1-200", "service_item_code": "I1", "window_code": "W1", "staff_no": "S2", "channel": "window_device", "completed_at": completed}]);
    let r = app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": late})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "M1-200", "stars": 1, "channel": "window_device", "comment": "说明", "rated_at": rated})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let out = app.cli(&["scan", "--at", &(now + chrono::Duration::minutes(122)).to_rfc3339(), "--allow-future"]);
    assert!(out.status.success(), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    let list = flags(&app, &d.supervisor, "?status=all").await;
    assert_eq!(list["total"], 4, "{list}");
    for f in items(&list) {
        let (kind, dept) = (f["kind"].as_str().expect("kind"), &f["department_code"]);
        assert_eq!(dept, "D1", "{f}");
        assert_eq!(f["details"]["no_longer_holds"], kind == "no_bad_ratings", "{f}");
        assert_eq!(f["details"]["bad"], 1, "{f}");
        assert_eq!(f["details"]["ratings"], 201, "{f}");
    }
    // The board's tile counts them; the ratings are all there.
    let (_, board) = StaffSession::sign_in(&app, "sup").await.get("/board").await;
    assert!(board.contains("大量评价中没有差评") && board.contains("主动评价占比异常偏高"), "the board lacks the monthly flags");
    assert!(board.contains("现已不满足提示条件"), "the flag whose figures moved says so");
    assert_eq!(app.count("reviews"), 407);
}
