//! Bad input gets a clear JSON error with the right status, never a 500, and leaves no row.

mod common;

use common::{error_code, TestApp};
use serde_json::json;

on_both_backends!(bad_bodies_are_refused_cleanly, system_endpoints_answer, nul_characters_are_the_callers_fault, a_time_without_its_offset_names_the_field_and_the_form);

/// PostgreSQL refuses NUL in text where SQLite stores it: a NUL in a filter or a field is a
/// 4xx on both, never a 500 (found by the hostile battery: `?department=%00…` was a 500).
async fn nul_characters_are_the_callers_fault(app: TestApp) {
    let d = app.seed().await;
    let before = (app.count("transactions"), app.count("reviews"));
    for path in ["/api/v1/cases?department=%00x", "/api/v1/alerts?department=D1%00", "/api/v1/cases?q=%00"] {
        let r = app.client.get(app.url(path)).bearer_auth(&d.supervisor).send().await.expect("send");
        let status = r.status().as_u16();
        assert!(status < 500, "{path}: {status} {}", r.text().await.unwrap_or_default());
    }
    let (status, body) = app.post("/api/v1/transactions", Some(&d.key), &json!({"transaction_no": "N\u{0}1", "service_item_code": "I1", "channel": "window_device", "completed_at": "2026-11-20T10:00:00+08:00"})).await;
    assert!((400..500).contains(&status), "{status} {body}");
    let (status, body) = app.post("/api/v1/transactions", Some(&d.key), &json!({"transaction_no": "N2", "service_item_code": "I1", "channel": "window_device", "applicant_name": "张\u{0}三", "completed_at": "2026-11-20T10:00:00+08:00"})).await;
    assert!((200..500).contains(&status), "{status} {body}");
    let stored_n2 = app.count("transactions WHERE transaction_no = 'N2'");
    assert_eq!(app.count("transactions"), before.0 + stored_n2, "only a transaction that was accepted is stored");
    assert_eq!(app.count("reviews"), before.1);
}

async fn send_raw(app: &TestApp, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    common::into_pair(resp).await
}

async fn bad_bodies_are_refused_cleanly(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "T1", "I1", json!({})).await;
    let rows = |app: &TestApp| (app.count("reviews"), app.count("cases"), app.count("transactions"), app.count("complaints"));
    let before = rows(&app);
    let good = json!({"transaction_no": "T1", "stars": 1, "channel": "pc", "comment": "x"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = good.clone();
        b[k] = v;
        serde_json::to_vec(&b).unwrap_or_default()
    };
    let long_comment = "差".repeat(2001);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("malformed JSON", "application/json", b"{\"transaction_no\": \"T1\", ".to_vec(), 400),
        ("not an object", "application/json", b"[1,2,3]".to_vec(), 400),
        ("unknown field", "application/json", with("admin", json!(true)), 400),
        ("wrong type", "application/json", with("stars", json!("five")), 400),
        ("fractional stars", "application/json", with("stars", json!(1.5)), 400),
        ("huge number", "application/json", with("stars", json!(1e300)), 400),
        ("stars zero", "application/json", with("stars", json!(0)), 422),
        ("stars six", "application/json", with("stars", json!(6)), 422),
        ("negative stars", "application/json", with("stars", json!(-3)), 422),
        ("unknown transaction", "application/json", with("transaction_no", json!("NOPE")), 422),
        ("unknown channel", "application/json", with("channel", json!("fax")), 422),
        ("comment too long", "application/json", with("comment", json!(long_comment)), 422),
        ("control characters", "application/json", with("comment", json!("a\u{0007}b")), 422),
        ("too many tags", "application/json", with("tags", json!(vec!["t"; 11])), 422),
        ("invalid UTF-8", "application/json", b"{\"transaction_no\": \"T1\xff\xfe\", \"stars\": 1, \"channel\": \"pc\", \"comment\": \"x\"}".to_vec(), 400),
        ("wrong content type", "text/plain", serde_json::to_vec(&good).unwrap_or_default(), 415),
        ("over 64 KiB", "application/json", format!("{{\"transaction_no\":\"T1\",\"stars\":1,\"channel\":\"pc\",\"comment\":\"{}\"}}", "x".repeat(70 * 1024)).into_bytes(), 413),
        ("empty body", "application/json", Vec::new(), 400),
    ];
    for (what, content_type, body, expected) in cases {
        let (status, answer) = send_raw(&app, "/api/v1/reviews", &d.key, content_type, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        error_code(&answer);
        assert_eq!(rows(&app), before, "{what} left a row behind");
    }
    // Missing auth, bad ids and unknown paths.
    let r = app.client.post(app.url("/api/v1/reviews")).json(&good).send().await.expect("send");
    let (status, body) = common::into_pair(r).await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized".to_owned()));
    for path in ["/api/v1/cases/abc", "/api/v1/cases/99999999999999999999", "/api/v1/cases/424242", "/api/v1/nothing"] {
        let (status, body) = app.get(path, Some(&d.supervisor)).await;
        assert_eq!(status, 404, "{path}: {body}");
        error_code(&body);
    }
    let (status, body) = app.get("/api/v1/cases?limit=abc", Some(&d.supervisor)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.get("/api/v1/cases?state=lost", Some(&d.supervisor)).await;
    assert_eq!(status, 422, "{body}");
    let r = app.client.delete(app.url("/api/v1/reviews")).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"), "a 405 says what is allowed");
    let r = app.client.delete(app.url("/api/v1/departments")).send().await.expect("send");
    assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
    // The OpenAPI document is the contract: every operation documents its failures, with the
    // error schema, and the SLA list says what it answers.
    let (_, doc) = app.get("/api/openapi.json", None).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            for code in ["400", "429", "503"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413") && responses.contains_key("415") && responses.contains_key("422"), "{method} {path}");
            }
        }
    }
    // JSON Schema's integers: 5.0 is one, 4.5 is not.
    let (status, body) = app.put("/api/v1/rating-policy", &d.admin, &json!({"enabled": false, "default_after_days": 15.0, "default_stars": 5.0})).await;
    assert_eq!((status, body["default_stars"].clone()), (200, json!(5)), "{body}");
    let (status, _) = app.put("/api/v1/rating-policy", &d.admin, &json!({"enabled": false, "default_after_days": 15, "default_stars": 4.5})).await;
    assert_eq!(status, 400);
    let entry = &doc["components"]["schemas"]["SlaPolicyEntry"]["properties"];
    assert!(entry.get("source").is_some() && entry.get("is_default").is_some(), "{entry}");
    assert_eq!(doc["components"]["schemas"]["Role"]["enum"], json!(["admin", "supervisor", "department", "integration"]), "the texts, not the Rust names");
    // A complaint whose case cannot be opened (unknown transaction) leaves no complaint row.
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "other", "external_no": "E1", "content": "x",
        "received_at": "2026-11-21T09:00:00+08:00", "transaction_no": "NOPE"})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    // Not a time: 422 naming the field and the form it needs (issue 17 item 7).
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "other", "external_no": "E1", "content": "x", "received_at": "yesterday"})).await;
    assert_eq!((r.0, r.1["error"]["field"].clone()), (422, json!("received_at")), "{}", r.1);
    assert_eq!(rows(&app), before);
}

async fn system_endpoints_answer(app: TestApp) {
    let r = app.client.get(app.url("/healthz")).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("x-request-id"), "every response carries its request id");
    assert_eq!(r.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    let (_, body) = app.get("/api/openapi.json", None).await;
    for path in ["/api/v1/reviews", "/api/v1/complaints", "/api/v1/cases/{id}", "/api/v1/transactions", "/api/v1/auth/login"] {
        assert!(body["paths"][path].is_object(), "openapi lacks {path}");
    }
    // A request shows up in the metrics.
    let _ = app.get("/api/v1/cases", None).await;
    let text = app.client.get(app.url("/metrics")).send().await.expect("send").text().await.unwrap_or_default();
    assert!(text.contains("haochaping_http_requests_total{method=\"GET\",route=\"/api/v1/cases\",status=\"401\"}"), "{text}");
}


/// Issue 17 item 7: a date where a time is wanted, or a time without its offset, is a 422 that
/// names the field and the form it needs.
async fn a_time_without_its_offset_names_the_field_and_the_form(app: TestApp) {
    let d = app.seed().await;
    let cases = [
        ("/api/v1/assignments", d.admin.clone(), json!({"window_code": "W1", "staff_no": "S1", "service_item_codes": ["I2"], "effective_from": "2027-01-01"}), "effective_from"),
        ("/api/v1/transactions", d.key.clone(), json!({"transaction_no": "TZ", "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20 10:00"}), "completed_at"),
        ("/api/v1/transactions", d.key.clone(), json!({"transaction_no": "TZ", "service_item_code": "I1", "channel": "pc", "accepted_at": "2026-11-20T09:00:00", "completed_at": "2026-11-20T10:00:00+08:00"}), "accepted_at"),
    ];
    for (path, token, body, field) in cases {
        let (status, answer) = app.post(path, Some(&token), &body).await;
        assert_eq!((status, answer["error"]["field"].clone()), (422, json!(field)), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or("").contains("RFC 3339"), "{answer}");
    }
    let (status, answer) = app.get("/api/v1/assignments?at=2026-01-01", Some(&d.admin)).await;
    assert_eq!((status, answer["error"]["field"].clone()), (422, json!("at")), "{answer}");
    // Other type errors stay 400, and the same time with its offset passes.
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &json!({"transaction_no": "TZ", "service_item_code": 5, "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"})).await.0, 400);
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &json!({"transaction_no": "TZ", "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"})).await.0, 201);
}
