//! Issue 17 item 6, through the real binary: JSON logs with one access line per request (no
//! personal data), security events (failed sign-in, lockout, 403, 429, a revoked key), and
//! `/metrics` on its own address with every family parsing as Prometheus text.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

#[actix_web::test]
async fn logs_and_metrics_tell_an_operator_what_happens() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let bin = env!("CARGO_BIN_EXE_haochaping");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &url)
            .env("HCP_SECRET", "observability-secret")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
        assert!(child.wait().expect("wait").success(), "{args:?}");
    };
    run(&["migrate"], "");
    run(&["user", "add", "--username", "root", "--role", "admin", "--password-stdin"], "root-maple-quartz-1\n");

    let (port, metrics_port) = (free_port(), free_port());
    let log_path = dir.path().join("server.log");
    let mut server = Command::new(bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("HCP_SECRET", "observability-secret")
        .env("HCP_LOG_FORMAT", "json")
        .env("HCP_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
        .env("HCP_BACKGROUND_JOBS", "false")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = common::client_builder().build().expect("client");
    let mut up = false;
    for _ in 0..300 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "serve did not come up: {}", std::fs::read_to_string(&log_path).unwrap_or_default());

    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    let login: Value = post("/api/v1/auth/login", None, json!({"username": "root", "password": "root-maple-quartz-1"})).await.expect("login").json().await.expect("json");
    let admin = login["token"].as_str().expect("token").to_owned();
    let key: Value = post("/api/v1/api-keys", Some(&admin), json!({"name": "12345 热线"})).await.expect("key").json().await.expect("json");
    let (key_id, key) = (key["id"].as_i64().expect("id"), key["key"].as_str().expect("key").to_owned());
    // 403: an API key cannot sign out; then the admin revokes it.
    assert_eq!(post("/api/v1/auth/logout", Some(&key), json!({})).await.expect("logout").status().as_u16(), 403);
    let revoked = client.delete(format!("{base}/api/v1/api-keys/{key_id}")).bearer_auth(&admin).send().await.expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    // Wrong passwords until the username locks; then 429 even with the right one.
    let mut statuses = vec![];
    for _ in 0..6 {
        statuses.push(post("/api/v1/auth/login", None, json!({"username": "root", "password": "guess-13800138000"})).await.expect("login").status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "five wrong passwords lock the username");

    // /metrics is on its own address, not the public one.
    assert_eq!(client.get(format!("{base}/metrics")).send().await.expect("public metrics").status().as_u16(), 404);
    let text = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format");
    let families: std::collections::BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for family in [
        "haochaping_http_requests_total",
        "haochaping_outbox_pending",
        "haochaping_outbox_failing",
        "haochaping_scan_last_run_timestamp_seconds",
        "haochaping_scan_last_run_duration_seconds",
        "haochaping_cases_open",
        "haochaping_cases_overdue",
        "hcp_calendar_official",
        "process_resident_memory_bytes",
    ] {
        assert!(families.contains(family), "{family} missing from /metrics: {families:?}");
    }
    // Every sample belongs to a family with its HELP text; every line is a comment or a sample.
    for sample in &scrape.samples {
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| sample.metric.strip_suffix(s)).unwrap_or(&sample.metric);
        assert!(scrape.docs.contains_key(family) || scrape.docs.contains_key(&sample.metric), "{} has no HELP", sample.metric);
    }
    // Every line is a comment or a sample of a documented family with a number for its value.
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| scrape.docs.contains_key(*f)).unwrap_or(name);
        assert!(scrape.docs.contains_key(family), "{line}: family {family} has no HELP");
        let value = line.rsplit(' ').next().unwrap_or_default();
        assert!(value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value), "{line}: value");
    }
    let open_feedback = scrape.samples.iter().find(|s| s.metric == "haochaping_cases_open" && s.labels.get("stage") == Some("feedback"));
    assert!(open_feedback.is_some(), "open cases per stage, zeros included");
    let memory = scrape.samples.iter().find(|s| s.metric == "process_resident_memory_bytes").map(|s| match s.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => 0.0,
    });
    assert!(memory.is_some_and(|m| m > 1_000_000.0), "resident memory in bytes: {memory:?}");

    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(!log.contains('\u{1b}'), "no colour codes in a file");
    let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
    // healthz polls, login, key, logout, revoke, six sign-ins, the public /metrics.
    assert!(access.len() >= 11, "one access line per request: {}", access.len());
    for line in &access {
        let f = &line["fields"];
        for field in ["method", "route", "status", "latency_ms", "request_id", "caller"] {
            assert!(!f[field].is_null(), "{field} in {line}");
        }
    }
    let has = |pred: &dyn Fn(&Value) -> bool| lines.iter().any(|l| pred(&l["fields"]));
    assert!(has(&|f| f["route"] == "/api/v1/api-keys/{id}" && f["status"] == 204 && f["caller"] == "staff_token"), "the route's pattern, not its values");
    assert!(has(&|f| f["route"] == "/api/v1/auth/login" && f["status"] == 429 && f["caller"] == "anonymous"));
    for event in ["sign_in_failed", "lockout", "forbidden", "rate_limited", "api_key_revoked"] {
        assert!(lines.iter().any(|l| l["target"] == "security" && l["fields"]["security_event"] == event), "security event {event} logged:\n{log}");
    }
    assert!(lines.iter().any(|l| l["fields"]["message"] == "haochaping starting"), "the start line");
    assert!(!log.contains("13800138000") && !log.contains("root-maple-quartz-1") && !log.contains("observability-secret"), "no password, phone or secret in the log");
}
