//! The provincial data feed: every rating as a record in the provincial/national field set,
//! paged by cursor, sent again when its 整改 status changes, exported by the CLI, and pushed in
//! batches to a real HTTP receiver on loopback that refuses some of them.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::TestApp;
use haochaping::clock;
use haochaping::domain::exchange as codes;
use haochaping::domain::intake_rules::Channel;
use haochaping::insight::exchange::{push_due, PushTarget};
use serde_json::{json, Value};

/// Records are served once two seconds old (see `insight::exchange`).
async fn settle() {
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2200)).await;
}

async fn page(app: &TestApp, token: &str, after: Option<&str>, limit: i64) -> Value {
    let query = match after {
        Some(a) => format!("after={a}&limit={limit}"),
        None => format!("limit={limit}"),
    };
    let (status, body) = app.get(&format!("/api/v1/exchange/evaluations?{query}"), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

on_both_backends!(ratings_are_fed_in_the_provincial_field_set_and_pushed);

async fn ratings_are_fed_in_the_provincial_field_set_and_pushed(app: TestApp) {
    let d = app.seed().await;
    // The codes the feed needs, set and imported.
    assert_eq!(app.put("/api/v1/district", &d.supervisor, &json!({"area_code": "310115"})).await.0, 403);
    assert_eq!(app.put("/api/v1/district", &d.admin, &json!({"area_code": "31011"})).await.0, 422);
    assert_eq!(app.put("/api/v1/district", &d.admin, &json!({"area_code": "310115"})).await.0, 200);
    let r = app.patch("/api/v1/departments/D1", &d.admin, &json!({"credit_code": "91350100M000100Y44"})).await;
    assert_eq!((r.0, r.1["error"]["field"].as_str()), (422, Some("credit_code")), "a wrong check character: {}", r.1);
    let r = app.patch("/api/v1/departments/D1", &d.admin, &json!({"credit_code": "91350100M000100Y43"})).await;
    assert_eq!((r.0, r.1["credit_code"].as_str()), (200, Some("91350100M000100Y43")), "{}", r.1);
    let csv = "事项编码,事项名称,部门编码,事项统一编码\nI1,企业设立登记,D1,11310115MB2F8172XK-4000\n";
    let r = app.client.post(app.url("/api/v1/imports?kind=service-items")).bearer_auth(&d.admin).header("Content-Type", "text/csv").body(csv).send().await.expect("import");
    assert_eq!(r.status().as_u16(), 200);
    let (_, items) = app.get("/api/v1/service-items", Some(&d.admin)).await;
    assert!(items.as_array().is_some_and(|i| i.iter().any(|x| x["code"] == "I1" && x["task_code"] == "11310115MB2F8172XK-4000")), "{items}");

    // Ratings: good at a counter device, bad at a kiosk (a case), anonymous, and one of D2,
    // which has no credit code yet (its record still goes, the field empty).
    for (no, item, stars, channel, extra) in [
        ("EX-1", "I1", 5, "window_device", json!({})),
        ("EX-2", "I1", 1, "kiosk", json!({"comment": "材料清单与窗口要求不一致", "tags": ["办理效率低"]})),
        ("EX-3", "I1", 4, "mobile", json!({"anonymous": true})),
        ("EX-4", "I2", 3, "pc", json!({})),
    ] {
        app.transaction(&d, no, item, json!({"window_code": "W1", "accepted_at": "2026-11-20T09:30:00+08:00"})).await;
        let mut body = json!({"transaction_no": no, "stars": stars, "channel": channel});
        body.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
        assert_eq!(r.0, 201, "{no}: {}", r.1);
    }
    settle().await;
    assert_eq!(app.get("/api/v1/exchange/evaluations", Some(&d.clerk1)).await.0, 403);
    assert_eq!(app.get("/api/v1/exchange/evaluations?after=abc", Some(&d.supervisor)).await.0, 422);
    assert_eq!(app.get("/api/v1/exchange/evaluations?limit=0", Some(&d.key)).await.0, 422);

    // Paged: 2, then 2, then nothing new (null: keep the cursor).
    let first = page(&app, &d.key, None, 2).await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let second = page(&app, &d.key, Some(&cursor), 2).await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(2));
    let cursor = second["next_cursor"].as_str().expect("cursor").to_owned();
    let empty = page(&app, &d.key, Some(&cursor), 2).await;
    assert_eq!((empty["items"].clone(), empty["next_cursor"].clone()), (json!([]), Value::Null));
    let all: Vec<Value> = first["items"].as_array().into_iter().chain(second["items"].as_array()).flatten().cloned().collect();
    let record = |no: &str| all.iter().find(|r| r["projectNo"] == no).cloned().unwrap_or_else(|| panic!("no record of {no}"));

    let good = record("EX-1");
    assert_eq!((good["areaCode"].as_str(), good["deptCode"].as_str(), good["taskCode"].as_str()), (Some("310115"), Some("91350100M000100Y43"), Some("11310115MB2F8172XK-4000")));
    assert_eq!((good["assessNumber"].as_i64(), good["idempotencyKey"].as_str()), (Some(1), Some("EX-1-1")));
    assert_eq!((good["pf"].as_str(), good["satisfaction"].as_i64(), good["satisfactionCode"].as_i64()), (Some("4"), Some(5), Some(1)));
    assert_eq!((good["isAnonymous"].as_i64(), good["isPublic"].as_i64(), good["auditStatus"].as_i64(), good["reformStatus"].as_i64()), (Some(2), Some(1), Some(1), Some(0)));
    assert_eq!(good["evaluatedPersonInfo"], json!([{"staffNo": "S2", "name": "李静"}]), "S2 sits at W1 since November");
    assert_eq!((good["acceptDate"].as_str(), good["userName"].as_str()), (Some("20261120T093000"), Some("张三丰")));
    assert_eq!(record("EX-3")["userName"], "", "an anonymous rater's name is not sent");
    assert_eq!(record("EX-3")["isAnonymous"], 1);
    let d2 = record("EX-4");
    assert_eq!((d2["deptCode"].as_str(), d2["taskCode"].as_str(), d2["localDeptCode"].as_str()), (Some(""), Some(""), Some("D2")));
    let bad = record("EX-2");
    assert_eq!((bad["satisfaction"].as_i64(), bad["satisfactionCode"].as_i64(), bad["satisfactionName"].as_str()), (Some(1), Some(5), Some("非常不满意")));
    assert_eq!((bad["reformStatus"].as_i64(), bad["writingEvaluation"].as_str(), bad["evalDetail"].as_str()), (Some(1), Some("材料清单与窗口要求不一致"), Some("办理效率低")));

    // Round trip: every record's codes map back to the rating as stored.
    let stored: Vec<(String, String, i64)> = {
        let mut conn = app.conn();
        use diesel::prelude::*;
        use haochaping::storage::schema::{reviews, transactions};
        haochaping::db_run!(&mut conn, |c| reviews::table.inner_join(transactions::table).select((transactions::transaction_no, reviews::channel, diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(reviews.stars AS BIGINT)"))).load(c)).expect("reviews")
    };
    for (no, channel, stars) in stored {
        let r = record(&no);
        let pf: u8 = r["pf"].as_str().and_then(|p| p.parse().ok()).expect("pf");
        assert_eq!(codes::channel_of_pf(pf), Channel::parse(&channel), "{no}");
        let sat = u8::try_from(r["satisfaction"].as_i64().expect("satisfaction")).expect("u8");
        let gbt = u8::try_from(r["satisfactionCode"].as_i64().expect("code")).expect("u8");
        assert_eq!((codes::stars_of_satisfaction(sat), codes::stars_of_gbt_code(gbt)), (Some(stars as u8), Some(stars as u8)), "{no}");
        assert_eq!(codes::flag_of(r["isAnonymous"].as_i64().expect("flag") as u8), Some(no == "EX-3"));
    }

    // The push job: the receiver refuses its first batch; the retry sends the same records.
    let received: Arc<Mutex<Vec<(String, Vec<Value>)>>> = Arc::default();
    let refuse = Arc::new(AtomicUsize::new(1));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/province/evaluations", listener.local_addr().expect("addr"));
    let (shared, refusing) = (received.clone(), refuse.clone());
    let server = HttpServer::new(move || {
        let (shared, refusing) = (shared.clone(), refusing.clone());
        App::new().route(
            "/province/evaluations",
            web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                let (shared, refusing) = (shared.clone(), refusing.clone());
                async move {
                    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    if refusing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    shared.lock().expect("lock").push((key, body["records"].as_array().cloned().unwrap_or_default()));
                    HttpResponse::Ok().json(json!({"code": 0}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    let target = PushTarget { url, token: None };
    let http = haochaping::adapters::province::client().expect("client");
    let now = clock::now();
    let refused = push_due(&app.state.pool, &http, &target, now).await.expect("first round");
    assert!(refused.failed && refused.records == 0);
    assert_eq!(push_due(&app.state.pool, &http, &target, now).await.expect("too soon").batches, 0, "it waits before retrying");
    let taken = push_due(&app.state.pool, &http, &target, now + chrono::Duration::seconds(2)).await.expect("retry");
    assert_eq!((taken.records, taken.failed), (4, false));

    // The bad rating's case is answered: its record changes and goes again, with the 整改 fields.
    let case = {
        let (_, cases) = app.get("/api/v1/cases?source=review", Some(&d.supervisor)).await;
        cases["items"][0]["id"].as_i64().expect("case")
    };
    for (token, action, note) in [(&d.clerk1, "verify", Some("已联系")), (&d.clerk1, "rectify", Some("统一窗口与网上材料清单")), (&d.clerk1, "reply", Some("已统一材料清单并公示。")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(token, case, action, note).await.0, 200, "{action}");
    }
    settle().await;
    let again = page(&app, &d.key, Some(&cursor), 100).await;
    let items = again["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "only the changed record: {again}");
    assert_eq!((items[0]["projectNo"].as_str(), items[0]["reformStatus"].as_i64()), (Some("EX-2"), Some(2)));
    assert_eq!((items[0]["reformContent"].as_str(), items[0]["replyContent"].as_str()), (Some("统一窗口与网上材料清单"), Some("已统一材料清单并公示。")));
    assert!(items[0]["reformDate"].as_str().is_some_and(|t| t.len() == 15));
    let pushed = push_due(&app.state.pool, &http, &target, clock::now() + chrono::Duration::seconds(5)).await.expect("change round");
    assert_eq!(pushed.records, 1);
    let got = received.lock().expect("lock").clone();
    let mut latest = std::collections::HashMap::new();
    for (_, records) in &got {
        for r in records {
            latest.insert(r["idempotencyKey"].as_str().unwrap_or_default().to_owned(), r.clone());
        }
    }
    assert_eq!(latest.len(), 4, "one record per projectNo + assessNumber");
    assert_eq!(latest["EX-2-1"]["reformStatus"], 2, "the platform holds the answered state");

    // The CLI writes the same records as JSON lines, and refuses to overwrite.
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("evaluations.jsonl");
    let run = app.cli(&["export-evaluations", "--out", out.to_str().expect("path")]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let lines: Vec<Value> = std::fs::read_to_string(&out).expect("file").lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    // From the beginning, a rating's changes fall in the same page: each once, as it stands.
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines.iter().any(|l| l["projectNo"] == "EX-2" && l["reformStatus"] == 2));
    let summary: Value = serde_json::from_slice(&run.stdout).expect("summary");
    let next = summary["next_cursor"].as_str().expect("cursor");
    let after = dir.path().join("after.jsonl");
    let run = app.cli(&["export-evaluations", "--after", next, "--out", after.to_str().expect("path")]);
    assert!(run.status.success());
    assert_eq!(std::fs::read_to_string(&after).expect("file"), "");
    let run = app.cli(&["export-evaluations", "--out", out.to_str().expect("path")]);
    assert!(!run.status.success(), "an existing file is not overwritten");
}
