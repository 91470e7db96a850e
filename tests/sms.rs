//! SMS to citizens through an HTTP gateway: the rating invitation a business system asks for,
//! the approved reply and the 回访 invitation, each once per 办件 and kind, never in the quiet
//! hours, retried when the gateway refuses — against a real HTTP gateway on loopback.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::{TimeZone, Utc};
use common::TestApp;
use haochaping::adapters::sms::gateway::{client, deliver_due, Links, SmsSettings, DEFAULT_BODY, DEFAULT_TEMPLATES};
use serde_json::{json, Value};

/// Records every body; refuses the first `refuse` requests the way SendSms-style gateways do
/// (HTTP 200 with a business code).
#[derive(Clone, Default)]
struct Gateway {
    bodies: Arc<Mutex<Vec<Value>>>,
    refuse: Arc<AtomicUsize>,
}

impl Gateway {
    fn start() -> (Gateway, String) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/sms/send", listener.local_addr().expect("addr"));
        let gateway = Gateway::default();
        let shared = gateway.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/sms/send",
                web::post().to(move |body: web::Json<Value>| {
                    let shared = shared.clone();
                    async move {
                        shared.bodies.lock().expect("lock").push(body.into_inner());
                        if shared.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                            return HttpResponse::Ok().json(json!({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"}));
                        }
                        HttpResponse::Ok().json(json!({"Code": "OK", "Message": "OK", "BizId": "1"}))
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        (gateway, url)
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("lock").clone()
    }
}

/// A quiet moment (23:00 in Beijing, or just after now when that has passed) after every
/// message queued now, and the next 09:00 after it.
fn tonight_and_morning() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let at = |day: chrono::NaiveDate, hour: u32| chrono_tz::Asia::Shanghai.from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("time")).single().expect("local").with_timezone(&Utc);
    let tonight = at(today, 23).max(now + chrono::Duration::minutes(1));
    let morning = if at(today, 9) > tonight { at(today, 9) } else { at(today + chrono::Duration::days(1), 9) };
    (tonight, morning)
}

fn params(body: &Value) -> Value {
    serde_json::from_str(body["TemplateParam"].as_str().expect("TemplateParam is a JSON string")).expect("JSON")
}

on_both_backends!(citizens_get_each_message_once_outside_the_quiet_hours);

async fn citizens_get_each_message_once_outside_the_quiet_hours(app: TestApp) {
    let d = app.seed().await;
    let (gateway, url) = Gateway::start();
    let settings = SmsSettings::new(&url, "某区政务服务", DEFAULT_TEMPLATES, DEFAULT_BODY, None, "22-8", 5).expect("settings");
    let http = client().expect("client");
    let links = Links { public_url: &app.url(""), signer: &app.state.signer };
    let send = |now| deliver_due(&app.state.pool, &http, &settings, &links, now);

    // 办结: the business system asks for the invitation; a repeat of the 办件 asks again.
    let body = json!({"transaction_no": "SMS-1", "service_item_code": "I1", "channel": "pc", "applicant_phone": "+86 138-1234-5678",
        "completed_at": "2026-11-20T10:00:00+08:00", "invite_by_sms": true});
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &body).await.0, 201);
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &body).await.0, 200);
    // Not asked for, or no mobile number: nothing.
    app.transaction(&d, "SMS-2", "I1", json!({})).await;
    app.transaction(&d, "SMS-3", "I1", json!({"applicant_phone": "021-12345678", "invite_by_sms": true})).await;
    let r = app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": [{"transaction_no": "SMS-4", "service_item_code": "I1", "channel": "pc",
        "applicant_phone": "13900001111", "completed_at": "2026-11-20T10:00:00+08:00", "invite_by_sms": true}]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(app.count("sms_outbox"), 2, "one invitation each for SMS-1 and SMS-4");

    // 23:00 in Beijing: quiet, nothing goes; 09:00: both go, once.
    let (tonight, morning_at) = tonight_and_morning();
    let quiet = send(tonight).await.expect("quiet round");
    assert!(quiet.quiet && quiet.sent == 0);
    assert!(gateway.bodies().is_empty());
    let morning = send(morning_at).await.expect("morning");
    assert_eq!((morning.sent, morning.failed), (2, 0));
    assert_eq!(send(morning_at + chrono::Duration::hours(1)).await.expect("again").sent, 0, "exactly once");
    let sent = gateway.bodies();
    assert_eq!(sent.len(), 2);
    let first = sent.iter().find(|b| b["PhoneNumbers"] == "13812345678").expect("SMS-1's invitation");
    assert_eq!((first["SignName"].as_str(), first["TemplateCode"].as_str()), (Some("某区政务服务"), Some("HCP_RATING_INVITATION")));
    let p = params(first);
    assert_eq!(p["item"], "企业设立登记");
    let link = p["url"].as_str().expect("url").to_owned();
    assert!(link.contains("/rate/") && link.ends_with("?via=sms"), "{link}");
    // The link is the citizen's rating page.
    let page = app.client.get(&link).send().await.expect("rating page");
    assert_eq!(page.status().as_u16(), 200);

    // A bad review of a 办件 with a mobile number, answered and approved: the reply and the 回访
    // invitation; the gateway's flow control refuses the first, which is sent on the retry.
    let case = app.bad_case(&d, "SMS-5").await;
    for (token, action, note) in [(&d.clerk1, "verify", Some("已联系")), (&d.clerk1, "rectify", Some("增加窗口")), (&d.clerk1, "reply", Some("已增设两个窗口，高峰期排队时间缩短至二十分钟以内。")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(token, case, action, note).await.0, 200, "{action}");
    }
    gateway.refuse.store(1, Ordering::SeqCst);
    let refused = send(morning_at).await.expect("refused round");
    assert_eq!((refused.sent, refused.failed), (1, 1), "the refused one waits; the other goes");
    assert!(app.count("sms_outbox WHERE last_error LIKE '%BUSINESS_LIMIT_CONTROL%'") == 1);
    let later = morning_at + chrono::Duration::minutes(10);
    assert_eq!(send(later).await.expect("retry").sent, 1);
    assert_eq!(send(later + chrono::Duration::minutes(10)).await.expect("done").sent, 0);
    let to_reviewer: Vec<Value> = gateway.bodies().into_iter().filter(|b| b["TemplateCode"] != "HCP_RATING_INVITATION").collect();
    let kinds: Vec<&str> = to_reviewer.iter().filter_map(|b| b["TemplateCode"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "HCP_REPLY").count(), 2, "refused once, then sent: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "HCP_FOLLOW_UP_INVITATION").count(), 1, "{kinds:?}");
    let reply = params(to_reviewer.iter().find(|b| b["TemplateCode"] == "HCP_REPLY").expect("reply"));
    assert_eq!(reply["case"], case);
    assert!(reply["reply"].as_str().is_some_and(|r| r.starts_with("已增设两个窗口")), "{reply}");

    // A complaint's contact hears the reply too (no rating link: a work order has no 办件).
    let c = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-SMS", "content": "窗口态度差",
        "contact_phone": "13700002222", "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D1"})).await;
    let complaint_case = c.1["case_id"].as_i64().expect("case");
    for (token, action, note) in [(&d.clerk1, "verify", Some("已联系")), (&d.clerk1, "rectify", Some("批评教育")), (&d.clerk1, "reply", Some("已对窗口人员批评教育。")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(token, complaint_case, action, note).await.0, 200, "{action}");
    }
    assert_eq!(send(later + chrono::Duration::minutes(20)).await.expect("complaint").sent, 1);
    let last = gateway.bodies().pop().expect("last");
    assert_eq!((last["PhoneNumbers"].as_str(), last["TemplateCode"].as_str()), (Some("13700002222"), Some("HCP_REPLY")));
    assert_eq!(params(&last)["url"], "");
}

#[test]
fn a_bad_sms_setting_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    for (name, value) in [("HCP_SMS_URL", "ftp://sms.example.test"), ("HCP_SMS_QUIET_HOURS", "22"), ("HCP_SMS_TEMPLATES", "reply=A")] {
        let mut cmd = common::haochaping_command();
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("sms.db").display()))
            .env("HCP_SECRET", "test-secret")
            .env("HCP_SMS_URL", "http://127.0.0.1:9/sms")
            .env(name, value);
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} was accepted");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}
