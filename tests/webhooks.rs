//! Signed webhooks: a receiver that was down gets every event once afterwards, signed, in
//! order per case; a delivery that uses up its attempts is dead-lettered, listed and redelivered
//! by hand; an unsubscribed receiver hears nothing more.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Duration;
use common::TestApp;
use haochaping::adapters::webhooks::sender::{client, deliver_due};
use haochaping::clock;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    body: String,
    answered: u16,
}

/// A loopback receiver that records every request and answers `status`, except that the first
/// `fail_first` requests get 500.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    fn start(listener: TcpListener) -> Receiver {
        let receiver = Receiver { status: Arc::new(AtomicU16::new(200)), ..Receiver::default() };
        let shared = receiver.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                        let failing = shared.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                        let answered = if failing { 500 } else { shared.status.load(Ordering::SeqCst) };
                        shared.received.lock().expect("lock").push(Received {
                            event: header("X-HCP-Event"),
                            delivery: header("X-HCP-Delivery"),
                            signature: header("X-HCP-Signature"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                            answered,
                        });
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).expect("status")).finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

fn free_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// The receiver's check, written from the documentation: HMAC-SHA256 keyed with the secret
/// string of "t.body", and a `t` within five minutes of now.
fn signature_holds(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(',').and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?))) else { return false };
    let Ok(t) = t.parse::<i64>() else { return false };
    if (clock::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    hex::decode(v1).is_ok_and(|v1| mac.verify_slice(&v1).is_ok())
}

on_both_backends!(a_receiver_that_was_down_gets_every_event_once_signed_and_in_order);

async fn a_receiver_that_was_down_gets_every_event_once_signed_and_in_order(app: TestApp) {
    let d = app.seed().await;
    // A port with nobody listening: the receiver is down (connections refused; a listener that
    // does not accept would take them into its backlog instead).
    let (listener, port) = free_listener();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/hook");
    let all = ["case.opened", "case.state_changed", "case.replied", "case.closed", "case.alert", "complaint.merged"];

    // Only admins subscribe, with known events and a real address.
    assert_eq!(app.post("/api/v1/webhooks", Some(&d.supervisor), &json!({"url": url, "events": all})).await.0, 403);
    for (body, field) in [
        (json!({"url": url, "events": ["case.deleted"]}), "events"),
        (json!({"url": url, "events": []}), "events"),
        (json!({"url": "ftp://12345.example.test/hook", "events": all}), "url"),
        (json!({"url": "https://user:pw@12345.example.test/hook", "events": all}), "url"),
    ] {
        let r = app.post("/api/v1/webhooks", Some(&d.admin), &body).await;
        assert_eq!((r.0, r.1["error"]["field"].as_str()), (422, Some(field)), "{body} → {}", r.1);
    }
    let r = app.post("/api/v1/webhooks", Some(&d.admin), &json!({"url": url, "events": all, "description": "12345 热线工单系统"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let (hook, secret) = (r.1["id"].as_i64().expect("id"), r.1["secret"].as_str().expect("secret").to_owned());
    assert!(secret.len() >= 32, "{secret}");
    let (status, listed) = app.get("/api/v1/webhooks", Some(&d.admin)).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["url"], url);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once only: {listed}");

    // A bad review (case A) and a 12345 work order (case B), answered and approved.
    let a = app.bad_case(&d, "T1").await;
    let c = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-2026-001", "content": "办理营业执照材料被退回三次",
        "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D1"})).await;
    assert_eq!(c.0, 201, "{}", c.1);
    let b = c.1["case_id"].as_i64().expect("case id");
    let reply = "经核实，材料要求已在窗口公示并一次性告知，已对窗口人员批评教育。";
    for (token, action, note) in [
        (&d.clerk1, "verify", Some("已电话联系投诉人")),
        (&d.clerk1, "rectify", Some("窗口增设材料清单")),
        (&d.clerk1, "reply", Some(reply)),
        (&d.supervisor, "approve", None),
    ] {
        let r = app.act(token, b, action, note).await;
        assert_eq!(r.0, 200, "{action}: {}", r.1);
    }
    assert_eq!(app.act(&d.clerk1, a, "verify", Some("已回访")).await.0, 200);
    // Case A's reply is late: the scanner raises its alerts.
    let (_, case_a) = app.get(&format!("/api/v1/cases/{a}"), Some(&d.supervisor)).await;
    let due = chrono::DateTime::parse_from_rfc3339(case_a["deadlines"]["reply"].as_str().expect("reply due")).expect("rfc3339");
    let out = app.cli(&["scan", "--at", &(due + Duration::hours(1)).to_rfc3339(), "--allow-future"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scan: Value = serde_json::from_slice(&out.stdout).expect("scan report");
    assert!(scan["overdue"].as_i64() >= Some(1), "{scan}");

    let queued = app.count(&format!("webhook_deliveries WHERE webhook_id = {hook}"));
    // A: opened, verify, alert(s); B: opened, four changes, replied, closed.
    assert!(queued >= 10, "{queued} deliveries queued");

    // Down: nothing is delivered, nothing is lost, attempts back off.
    let http = client().expect("client");
    // The scan was dated an hour past the deadline, so are its alerts: deliver from then on.
    let mut now = (due + Duration::hours(1)).with_timezone(&chrono::Utc);
    for _ in 0..4 {
        let report = deliver_due(&app.state.pool, &http, now, 12).await.expect("round");
        assert_eq!(report.delivered, 0);
        now += Duration::seconds(301);
    }
    assert_eq!(app.count("webhook_deliveries WHERE delivered_at IS NULL AND dead_at IS NULL"), queued);

    // Up, answering 500 to its very first request: that event is retried under the same id.
    let receiver = Receiver::start(TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port again"));
    receiver.fail_first.store(1, Ordering::SeqCst);
    for _ in 0..20 {
        deliver_due(&app.state.pool, &http, now, 12).await.expect("round");
        now += Duration::seconds(301);
    }
    for _ in 0..3 {
        assert_eq!(deliver_due(&app.state.pool, &http, now + Duration::hours(1), 12).await.expect("again").delivered, 0);
    }
    let got = receiver.received();
    let accepted: Vec<&Received> = got.iter().filter(|r| r.answered == 200).collect();
    assert_eq!(accepted.len() as i64, queued, "each event accepted once: {:?}", accepted.iter().map(|r| (&r.event, &r.delivery)).collect::<Vec<_>>());
    let refused: Vec<&Received> = got.iter().filter(|r| r.answered == 500).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(accepted.iter().filter(|r| r.delivery == refused[0].delivery).count(), 1, "the retry carries the same X-HCP-Delivery");
    let mut ids: Vec<&str> = accepted.iter().map(|r| r.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as i64, queued, "one id per event");

    let mut per_case: HashMap<i64, Vec<Value>> = HashMap::new();
    for r in &accepted {
        assert!(signature_holds(&secret, &r.signature, &r.body), "signature {} of {}", r.signature, r.body);
        assert!(!signature_holds("whsec_another", &r.signature, &r.body));
        let payload: Value = serde_json::from_str(&r.body).expect("JSON body");
        assert_eq!(payload["event"], r.event.as_str());
        assert_eq!(payload["id"], r.delivery.as_str());
        per_case.entry(payload["case"]["id"].as_i64().expect("case id")).or_default().push(payload);
    }
    let events = |case: i64| per_case[&case].iter().map(|p| p["event"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        events(b),
        ["case.opened", "case.state_changed", "case.state_changed", "case.state_changed", "case.state_changed", "case.replied", "case.closed"],
        "case B in order"
    );
    let b_events = &per_case[&b];
    assert_eq!(b_events[0]["case"]["source"], "hotline_12345");
    assert_eq!(b_events[0]["case"]["external_no"], "GD-2026-001", "the 12345 system finds its work order");
    let changes: Vec<(&str, &str, &str, &str)> = b_events[1..5]
        .iter()
        .map(|p| (p["data"]["from"].as_str().unwrap_or(""), p["data"]["to"].as_str().unwrap_or(""), p["data"]["action"].as_str().unwrap_or(""), p["data"]["actor_role"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        changes,
        [
            ("feedback", "rectification", "verify", "department"),
            ("rectification", "reply", "rectify", "department"),
            ("reply", "supervision", "reply", "department"),
            ("supervision", "closed", "approve", "supervisor")
        ]
    );
    assert!(b_events[1..5].iter().all(|p| p["data"]["note"].is_null()), "staff notes stay inside");
    assert_eq!(b_events[5]["data"]["reply"], reply, "the approved reply reaches the 12345 system");
    assert_eq!(b_events[6]["case"]["state"], "closed");
    let a_events = events(a);
    assert_eq!(&a_events[..2], ["case.opened", "case.state_changed"], "case A in order: {a_events:?}");
    assert!(a_events[2..].iter().all(|e| e == "case.alert") && a_events.len() >= 3, "{a_events:?}");
    let alert = per_case[&a].iter().find(|p| p["event"] == "case.alert").expect("alert");
    assert!(["due_soon", "overdue", "escalated"].contains(&alert["data"]["level"].as_str().unwrap_or("")), "{alert}");
    assert!(per_case[&a][0]["case"]["transaction_no"] == "T1");
    assert!(!got.iter().any(|r| r.body.contains("13812345678") || r.body.contains("张三丰")), "no personal data leaves");

    let (status, deliveries) = app.get(&format!("/api/v1/webhooks/{hook}/deliveries"), Some(&d.admin)).await;
    assert_eq!(status, 200);
    let deliveries = deliveries.as_array().expect("list");
    assert_eq!(deliveries.len() as i64, queued);
    assert!(deliveries.iter().all(|x| x["status"] == "delivered"), "{deliveries:?}");
    let retried = deliveries.iter().find(|x| x["delivery_id"] == refused[0].delivery.as_str()).expect("the retried one");
    assert!(retried["attempts"].as_i64() >= Some(2), "{retried}");
}

on_both_backends!(a_dead_letter_is_listed_and_redelivered_by_hand);

async fn a_dead_letter_is_listed_and_redelivered_by_hand(app: TestApp) {
    let d = app.seed().await;
    let (listener, port) = free_listener();
    let receiver = Receiver::start(listener);
    receiver.status.store(503, Ordering::SeqCst);
    let r = app.post("/api/v1/webhooks", Some(&d.admin), &json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["case.opened"]})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let hook = r.1["id"].as_i64().expect("id");
    let case = app.bad_case(&d, "T1").await;

    // Two attempts allowed: the second failure dead-letters it.
    let http = client().expect("client");
    let now = clock::now();
    let first = deliver_due(&app.state.pool, &http, now, 2).await.expect("first");
    assert_eq!((first.delivered, first.failed, first.dead), (0, 1, 0));
    assert_eq!(deliver_due(&app.state.pool, &http, now, 2).await.expect("not yet due").failed, 0, "backoff");
    let second = deliver_due(&app.state.pool, &http, now + Duration::seconds(2), 2).await.expect("second");
    assert_eq!((second.failed, second.dead), (1, 1));
    assert_eq!(deliver_due(&app.state.pool, &http, now + Duration::hours(1), 2).await.expect("dead").failed, 0, "a dead letter is not retried");

    let (status, dead) = app.get(&format!("/api/v1/webhooks/{hook}/deliveries?status=dead"), Some(&d.admin)).await;
    assert_eq!(status, 200);
    let dead = dead.as_array().expect("list").clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0]["attempts"].as_i64(), dead[0]["last_status"].as_i64(), dead[0]["case_id"].as_i64()), (Some(2), Some(503), Some(case)));
    assert!(dead[0]["last_error"].as_str().is_some_and(|e| e.contains("503")), "{}", dead[0]);
    let (_, listed) = app.get("/api/v1/webhooks", Some(&d.admin)).await;
    assert_eq!((listed[0]["dead"].as_i64(), listed[0]["pending"].as_i64()), (Some(1), Some(0)));
    assert_eq!(app.get(&format!("/api/v1/webhooks/{hook}/deliveries?status=lost"), Some(&d.admin)).await.0, 400);
    assert_eq!(app.get(&format!("/api/v1/webhooks/{hook}/deliveries?limit=0"), Some(&d.admin)).await.0, 422);

    // The admin page lists it with its error and a button to redeliver.
    let page = app.client.get(app.url("/admin/webhooks")).header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&d.admin))).send().await.expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("死信") && html.contains("HTTP 503") && html.contains("重新投递"), "{html}");

    // Redelivered by hand once the receiver is fixed: delivered, once.
    let row = dead[0]["id"].as_i64().expect("row id");
    let path = format!("/api/v1/webhooks/{hook}/deliveries/{row}/redeliver");
    assert_eq!(app.post(&path, Some(&d.supervisor), &json!({})).await.0, 403);
    assert_eq!(app.post(&path, Some(&d.admin), &json!({})).await.0, 202);
    assert_eq!(app.post(&path, Some(&d.admin), &json!({})).await.0, 409, "no longer dead");
    receiver.status.store(204, Ordering::SeqCst);
    let report = deliver_due(&app.state.pool, &http, clock::now(), 2).await.expect("redelivery");
    assert_eq!(report.delivered, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.delivery == got[0].delivery), "one id over every attempt");

    // Unsubscribed: nothing more is queued for it.
    let r = app.client.delete(app.url(&format!("/api/v1/webhooks/{hook}"))).bearer_auth(&d.admin).send().await.expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let r = app.client.delete(app.url(&format!("/api/v1/webhooks/{hook}"))).bearer_auth(&d.admin).send().await.expect("delete again");
    assert_eq!(r.status().as_u16(), 404);
    app.bad_case(&d, "T2").await;
    assert_eq!(app.count("webhook_deliveries"), 1);
    assert_eq!(app.get("/api/v1/webhooks", Some(&d.admin)).await.1, json!([]));
}
