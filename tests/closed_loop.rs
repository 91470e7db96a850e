//! The closed loop: actions, deadlines, alerts, appeals, extensions, follow-ups, audit chain.

mod common;

use common::{error_code, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    a_case_travels_the_whole_loop,
    illegal_and_foreign_actions_are_refused,
    upheld_appeal_closes_and_invalidates_the_review,
    extension_once_moves_the_reply_deadline_to_fifteen_working_days,
    reassign_moves_the_case_between_departments,
    dissatisfied_citizen_reopens_the_case,
    calendar_is_data_admins_can_edit,
    sla_policy_per_source_changes_deadlines,
    scanner_alerts_once_and_escalates,
    audit_chain_finds_tampering,
    a_stored_state_that_is_no_state_is_refused_not_passed_on,
    a_scan_dated_in_the_future_is_a_dry_run,
);

fn actions(case: &Value) -> Vec<String> {
    case["allowed_actions"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

async fn a_case_travels_the_whole_loop(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let steps = [
        (&d.clerk1, "verify", Some("已电话联系评价人，情况属实"), "rectification"),
        (&d.clerk1, "rectify", Some("增开两个窗口，推行预约分时段"), "reply"),
        (&d.clerk1, "reply", Some("感谢您的评价，我们已增开窗口并推行预约。"), "supervision"),
        (&d.supervisor, "approve", None, "closed"),
    ];
    for (token, action, note, expected) in steps {
        let (status, case) = app.act(token, id, action, note).await;
        assert_eq!(status, 200, "{action}: {case}");
        assert_eq!(case["state"], expected, "{action}");
    }
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    assert_eq!(case["reply"], "感谢您的评价，我们已增开窗口并推行预约。");
    assert!(case["closed_at"].is_string());
    assert!(case["alert"].is_null());
    assert_eq!(actions(&case), vec!["reopen"]);
    let timeline: Vec<(String, String)> = case["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["to"].as_str().unwrap_or("").to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [("open", "feedback"), ("verify", "rectification"), ("rectify", "reply"), ("reply", "supervision"), ("approve", "closed")]
        .iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect();
    assert_eq!(timeline, expected, "each transition logged once, in order");
    assert!(case["deadlines"]["supervision"].is_string(), "the reply started the supervision clock");
    // The supervisor and the citizen were told by mail (queued in the outbox).
    assert_eq!(app.count("outbox WHERE kind = 'reply' AND recipients LIKE '%sup@example.test%'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'reply_to_citizen' AND recipients LIKE '%citizen@example.test%'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'new_case' AND recipients LIKE '%d1@example.test%'"), 1);
}

async fn illegal_and_foreign_actions_are_refused(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    // Illegal in this state: 409 listing what is allowed.
    let (status, body) = app.act(&d.clerk1, id, "reply", Some("x")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "illegal_transition");
    let allowed: Vec<&str> = body["error"]["allowed_actions"].as_array().expect("allowed").iter().filter_map(|v| v.as_str()).collect();
    // Only what the caller may do (issue 17 item 7): not the supervisor's reassign.
    assert_eq!(allowed, vec!["verify", "appeal", "request_reassign"], "{body}");
    // Legal here but not for this role: 403; another department's case: 404, as when read.
    assert_eq!(app.act(&d.supervisor, id, "verify", None).await.0, 403);
    assert_eq!(app.act(&d.clerk2, id, "verify", None).await.0, 404);
    assert_eq!(app.act(&d.admin, id, "reassign", None).await.0, 403);
    assert_eq!(app.act(&d.key, id, "verify", None).await.0, 403);
    // Missing note, unknown action, unknown case.
    app.act(&d.clerk1, id, "verify", None).await;
    let (status, body) = app.act(&d.clerk1, id, "rectify", None).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("note")), "{body}");
    assert_eq!(app.act(&d.clerk1, id, "teleport", None).await.0, 422);
    assert_eq!(app.act(&d.clerk1, id, "follow_up_dissatisfied", None).await.0, 422);
    assert_eq!(app.act(&d.clerk1, 987654, "verify", None).await.0, 404);
    // Nothing of that was logged: open + verify only.
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk1)).await;
    assert_eq!(case["timeline"].as_array().map(Vec::len), Some(2));
    assert_eq!(actions(&case), vec!["rectify", "request_extension"]);
}

async fn upheld_appeal_closes_and_invalidates_the_review(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let (status, case) = app.act(&d.clerk1, id, "appeal", Some("评价人办理的是其他部门事项，属误评")).await;
    assert_eq!((status, case["state"].clone()), (200, json!("appeal")), "{case}");
    assert!(case["alert"].is_null() && case["deadlines"].is_object());
    assert_eq!(app.count("reviews WHERE invalidated"), 0);
    let (status, case) = app.act(&d.supervisor, id, "uphold_appeal", Some("核实属实")).await;
    assert_eq!((status, case["state"].clone()), (200, json!("closed")));
    assert_eq!(case["review"]["invalidated"], true, "kept for audit, marked invalid");
    assert_eq!(app.count("reviews WHERE invalidated"), 1);
    // Reopening the case puts the review back into the statistics.
    assert_eq!(app.act(&d.supervisor, id, "reopen", Some("申诉认定有误")).await.0, 200);
    assert_eq!(app.count("reviews WHERE invalidated"), 0);
    // A dismissed appeal goes back to rectification.
    let id2 = app.bad_case(&d, "T2").await;
    app.act(&d.clerk1, id2, "appeal", Some("不认可")).await;
    let (_, case) = app.act(&d.supervisor, id2, "dismiss_appeal", None).await;
    assert_eq!(case["state"], "rectification");
    assert_eq!(app.count("reviews WHERE invalidated"), 0, "a dismissed appeal invalidates nothing");
}

fn local_day(t: &Value) -> String {
    t.as_str().unwrap_or("").chars().take(10).collect()
}

async fn extension_once_moves_the_reply_deadline_to_fifteen_working_days(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    app.act(&d.clerk1, id, "verify", None).await;
    let (_, before) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk1)).await;
    let (status, case) = app.act(&d.clerk1, id, "request_extension", Some("需协调住建部门")).await;
    assert_eq!((status, case["extension"].clone()), (200, json!("requested")), "{case}");
    assert_eq!(app.act(&d.clerk1, id, "request_extension", Some("again")).await.0, 409, "once per case");
    assert!(actions(&app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await.1).contains(&"grant_extension".to_owned()));
    let (status, case) = app.act(&d.supervisor, id, "grant_extension", None).await;
    assert_eq!((status, case["extension"].clone()), (200, json!("granted")));
    // 15 working days from the opening, computed by the same calendar as the unit tests.
    let opened = chrono::DateTime::parse_from_rfc3339(case["opened_at"].as_str().expect("opened")).expect("rfc3339");
    let cal = haochaping::domain::calendar::WorkCalendar::official();
    let expected = cal.deadline(opened.with_timezone(&chrono::Utc), 15);
    let expected_day = expected.with_timezone(&chrono_tz::Asia::Shanghai).date_naive().to_string();
    assert_eq!(local_day(&case["deadlines"]["reply"]), expected_day);
    assert_ne!(case["deadlines"]["reply"], before["deadlines"]["reply"]);
    assert_eq!(app.act(&d.clerk1, id, "request_extension", Some("third")).await.0, 409);
    assert_eq!(app.act(&d.supervisor, id, "grant_extension", None).await.0, 409);
}

async fn reassign_moves_the_case_between_departments(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let (status, _) = app.act(&d.clerk1, id, "request_reassign", Some("应由人社局办理")).await;
    assert_eq!(status, 200);
    // D1 had used its extension; the new department gets its own.
    app.act(&d.clerk1, id, "verify", None).await;
    app.act(&d.clerk1, id, "request_extension", Some("需协调")).await;
    assert_eq!(app.act(&d.supervisor, id, "grant_extension", None).await.1["extension"], "granted");
    let r = app.post(&format!("/api/v1/cases/{id}/actions"), Some(&d.supervisor), &json!({"action": "reassign", "note": "改派人社局", "department_code": "D2"})).await;
    assert_eq!(r.1["extension"], "none", "{}", r.1);
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!((r.1["department_code"].clone(), r.1["state"].clone()), (json!("D2"), json!("feedback")));
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk1)).await.0, 404);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk2)).await.0, 200);
    let r = app.post(&format!("/api/v1/cases/{id}/actions"), Some(&d.supervisor), &json!({"action": "reassign", "department_code": "D2"})).await;
    assert_eq!(r.0, 422, "already there: {}", r.1);
    let r = app.post(&format!("/api/v1/cases/{id}/actions"), Some(&d.supervisor), &json!({"action": "reassign"})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    // An unassigned complaint is dispatched the same way.
    let c = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-9", "content": "无人认领", "received_at": "2026-11-21T09:00:00+08:00"})).await;
    let cid = c.1["case_id"].as_i64().expect("case");
    let r = app.post(&format!("/api/v1/cases/{cid}/actions"), Some(&d.supervisor), &json!({"action": "reassign", "department_code": "D1"})).await;
    assert_eq!((r.0, r.1["department_code"].clone()), (200, json!("D1")));
}

async fn follow_up(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let resp = app.client.post(app.url("/api/v1/follow-ups")).header("X-Rating-Token", token).json(&body).send().await.expect("send");
    common::into_pair(resp).await
}

async fn dissatisfied_citizen_reopens_the_case(app: TestApp) {
    let d = app.seed().await;
    let t = app.transaction(&d, "T1", "I1", json!({})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();
    let r = app.client.post(app.url("/api/v1/reviews")).header("X-Rating-Token", &token)
        .json(&json!({"transaction_no": "T1", "stars": 2, "channel": "mobile", "tags": ["材料要求不清"]})).send().await.expect("send");
    let id = common::into_pair(r).await.1["case_id"].as_i64().expect("case");
    // Too early: no final reply yet.
    let (status, body) = follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "handling", "satisfaction": "satisfied"})).await;
    assert_eq!(status, 409, "{body}");
    // 追评 within 7 days, once.
    let (status, _) = follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "addendum", "comment": "补充：第二次去又被要求新材料"})).await;
    assert_eq!(status, 201);
    assert_eq!(follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "addendum", "comment": "again"})).await.0, 409);
    for (token_, action, note) in [(&d.clerk1, "verify", None), (&d.clerk1, "rectify", Some("整改")), (&d.clerk1, "reply", Some("已整改")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(token_, id, action, note).await.0, 200);
    }
    let (status, body) = follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "handling", "satisfaction": "dissatisfied", "comment": "问题没有解决"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["case_state"], "rectification");
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    assert_eq!(case["state"], "rectification");
    assert!(case["closed_at"].is_null());
    let last = case["timeline"].as_array().and_then(|t| t.last().cloned()).expect("timeline");
    assert_eq!((last["action"].clone(), last["actor"].clone()), (json!("follow_up_dissatisfied"), json!("citizen")));
    assert_eq!(app.count("outbox WHERE kind = 'follow_up_dissatisfied' AND recipients LIKE '%sup@example.test%'"), 1);
    // Answered again, rated again: satisfied keeps it closed; a second rating of the same answer is refused.
    for (token_, action, note) in [(&d.clerk1, "rectify", Some("再次整改")), (&d.clerk1, "reply", Some("已再次整改")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(token_, id, action, note).await.0, 200);
    }
    let (status, body) = follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "handling", "satisfaction": "basically_satisfied"})).await;
    assert_eq!((status, body["case_state"].clone()), (201, json!("closed")), "{body}");
    assert_eq!(follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "handling", "satisfaction": "satisfied"})).await.0, 409);
    assert_eq!(follow_up(&app, &token, json!({"transaction_no": "T1", "kind": "handling", "satisfaction": "meh"})).await.0, 422);
}

async fn calendar_is_data_admins_can_edit(app: TestApp) {
    let d = app.seed().await;
    let (status, cal) = app.get("/api/v1/calendar/2026", Some(&d.admin)).await;
    assert_eq!(status, 200);
    assert_eq!(cal["year"], 2026);
    assert_eq!(cal["workdays"], json!(["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]));
    assert_eq!(cal["holidays"].as_array().map(Vec::len), Some(19));
    let id = app.bad_case(&d, "T1").await;
    let (_, before) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    // Declare the next 10 weekdays holidays: open deadlines move out. They may reach into next
    // year (from late December), so each year's calendar gets its own days.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let mut extra_by_year: std::collections::BTreeMap<i32, Vec<String>> = Default::default();
    for day in (1..=20)
        .map(|n| today + chrono::Days::new(n))
        .filter(|day| chrono::Datelike::weekday(day).number_from_monday() <= 5)
        .take(10)
    {
        extra_by_year.entry(chrono::Datelike::year(&day)).or_default().push(day.to_string());
    }
    assert_eq!(extra_by_year.values().map(Vec::len).sum::<usize>(), 10);
    for (year, extra) in &extra_by_year {
        let path = format!("/api/v1/calendar/{year}");
        let (status, stored) = app.get(&path, Some(&d.admin)).await;
        assert_eq!(status, 200, "{stored}");
        let mut holidays: Vec<String> = stored["holidays"].as_array().expect("h").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        for day in extra {
            if !holidays.contains(day) {
                holidays.push(day.clone());
            }
        }
        let body = json!({"holidays": holidays, "workdays": stored["workdays"]});
        let r = app.client.put(app.url(&path)).bearer_auth(&d.supervisor).json(&body).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 403, "only admins edit the calendar");
        let r = app.client.put(app.url(&path)).bearer_auth(&d.admin).json(&body).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 200);
        let (_, now_stored) = app.get(&path, Some(&d.admin)).await;
        assert_eq!(now_stored["holidays"].as_array().map(Vec::len), Some(holidays.len()), "{year}: {now_stored}");
    }
    let (_, after) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    assert!(after["deadlines"]["feedback"].as_str() > before["deadlines"]["feedback"].as_str(), "{before} vs {after}");
    // Misfiled days are refused and change nothing.
    let (_, cal) = app.get("/api/v1/calendar/2026", Some(&d.admin)).await;
    let bad = json!({"holidays": ["2026-02-15"], "workdays": []});
    let r = app.client.put(app.url("/api/v1/calendar/2026")).bearer_auth(&d.admin).json(&bad).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 422);
    let (_, still) = app.get("/api/v1/calendar/2026", Some(&d.admin)).await;
    assert_eq!(still, cal);
    assert_eq!(app.get("/api/v1/calendar/1066", Some(&d.admin)).await.0, 404);
}

async fn sla_policy_per_source_changes_deadlines(app: TestApp) {
    let d = app.seed().await;
    let (_, list) = app.get("/api/v1/sla-policies", Some(&d.admin)).await;
    let review = list.as_array().and_then(|l| l.iter().find(|p| p["source"] == "review").cloned()).expect("review policy");
    assert_eq!((review["feedback_days"].clone(), review["reply_days"].clone(), review["is_default"].clone()), (json!(1), json!(5), json!(true)));
    let policy = json!({"feedback_days": 2, "reply_days": 10, "extended_reply_days": 20, "supervision_days": 3});
    let r = app.client.put(app.url("/api/v1/sla-policies/hotline_12345")).bearer_auth(&d.admin).json(&policy).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let c = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-1", "content": "x", "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D1"})).await;
    let (_, case) = app.get(&format!("/api/v1/cases/{}", c.1["case_id"]), Some(&d.supervisor)).await;
    let opened = chrono::DateTime::parse_from_rfc3339(case["opened_at"].as_str().expect("opened")).expect("rfc3339").with_timezone(&chrono::Utc);
    let cal = haochaping::domain::calendar::WorkCalendar::official();
    let day = |n| cal.deadline(opened, n).with_timezone(&chrono_tz::Asia::Shanghai).date_naive().to_string();
    assert_eq!(local_day(&case["deadlines"]["feedback"]), day(2));
    assert_eq!(local_day(&case["deadlines"]["reply"]), day(10));
    let bad = json!({"feedback_days": 9, "reply_days": 5, "extended_reply_days": 20, "supervision_days": 3});
    let r = app.client.put(app.url("/api/v1/sla-policies/hotline_12345")).bearer_auth(&d.admin).json(&bad).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 422);
    let r = app.client.put(app.url("/api/v1/sla-policies/carrier_pigeon")).bearer_auth(&d.admin).json(&policy).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 404);
}

fn scan_at(app: &TestApp, at: &str) -> Value {
    let out = app.cli(&["scan", "--at", at, "--allow-future"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("scan report JSON")
}

async fn scanner_alerts_once_and_escalates(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    let due = chrono::DateTime::parse_from_rfc3339(case["deadlines"]["feedback"].as_str().expect("due")).expect("rfc3339");
    let at = |hours: i64| (due + chrono::Duration::hours(hours)).to_rfc3339();
    // Two hours before the feedback deadline: yellow, once.
    let report = scan_at(&app, &at(-2));
    assert_eq!((report["due_soon"].clone(), report["overdue"].clone()), (json!(1), json!(0)), "{report}");
    let report = scan_at(&app, &at(-1));
    assert_eq!(report["due_soon"], 0, "idempotent: {report}");
    // Past it: red, once.
    assert_eq!(scan_at(&app, &at(1))["overdue"], 1);
    assert_eq!(scan_at(&app, &at(2))["overdue"], 0);
    // More than three working days late: escalated to supervisors, once.
    let cal = haochaping::domain::calendar::WorkCalendar::official();
    let late = cal.deadline(due.with_timezone(&chrono::Utc), 4) - chrono::Duration::hours(1);
    let report = scan_at(&app, &late.to_rfc3339());
    assert_eq!(report["escalated"], 1, "{report}");
    assert_eq!(scan_at(&app, &late.to_rfc3339())["escalated"], 0);
    let (_, alerts) = app.get("/api/v1/alerts", Some(&d.supervisor)).await;
    let mut levels: Vec<&str> = alerts.as_array().expect("alerts").iter().filter_map(|a| a["level"].as_str()).collect();
    levels.sort_unstable();
    assert_eq!(levels, vec!["due_soon", "escalated", "overdue"]);
    assert!(alerts.as_array().expect("alerts").iter().all(|a| a["case_id"] == id && a["stage"] == "feedback"));
    assert_eq!(app.get("/api/v1/alerts", Some(&d.clerk2)).await.1, json!([]), "D2 sees none of D1's alerts");
    assert_eq!(app.get("/api/v1/alerts?level=overdue", Some(&d.clerk1)).await.1.as_array().map(Vec::len), Some(1));
    assert_eq!(app.count("outbox WHERE kind = 'due_soon' AND recipients LIKE '%d1@example.test%'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'overdue' AND recipients LIKE '%d1@example.test%'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'escalated' AND recipients LIKE '%sup@example.test%'"), 1);
    // Right after opening, the one-working-day feedback stage is already yellow on the case.
    let (_, fresh) = app.get(&format!("/api/v1/cases/{}", app.bad_case(&d, "T3").await), Some(&d.clerk1)).await;
    assert_eq!((fresh["alert"].clone(), fresh["overdue_days"].clone()), (json!("due_soon"), json!(0)));

    // Several scanners at once (two `serve` instances): still each alert and mail once.
    let id2 = app.bad_case(&d, "T2").await;
    let (_, case2) = app.get(&format!("/api/v1/cases/{id2}"), Some(&d.supervisor)).await;
    let due2 = chrono::DateTime::parse_from_rfc3339(case2["deadlines"]["feedback"].as_str().expect("due")).expect("rfc3339");
    let when = (due2 + chrono::Duration::hours(3)).to_rfc3339();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = app.database_url.clone();
            let when = when.clone();
            std::thread::spawn(move || {
                common::haochaping_command()
                    .args(["scan", "--at", &when, "--allow-future"])
                    .env("DATABASE_URL", url)
                    .env("HCP_SECRET", "test-secret")
                    .env("RUST_LOG", "warn")
                    .output()
                    .expect("scan")
            })
        })
        .collect();
    for h in handles {
        let out = h.join().expect("join");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id2} AND level = 'overdue'")), 1);
    // One digest to D1 lists every case that turned red in that scan (T2's and T3's).
    assert_eq!(app.count(&format!("outbox WHERE kind = 'overdue' AND body LIKE '%案件 #{id2}　%'")), 1);
    assert_eq!(app.count(&format!("outbox WHERE kind = 'overdue' AND body LIKE '%案件 #{id2}　%' AND subject LIKE '%2 件案件已超期%'")), 1);

    // Once the department verifies, the feedback-stage alerts no longer show (history keeps them).
    assert_eq!(app.act(&d.clerk1, id, "verify", None).await.0, 200);
    let (_, current) = app.get("/api/v1/alerts", Some(&d.supervisor)).await;
    assert!(current.as_array().expect("alerts").iter().all(|a| a["case_id"] != id), "{current}");
    let (_, history) = app.get("/api/v1/alerts?history=true", Some(&d.supervisor)).await;
    assert_eq!(history.as_array().expect("alerts").iter().filter(|a| a["case_id"] == id).count(), 3);

    // The next stage's deadline is alerted afresh, once.
    let (_, verified) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    let reply_due = chrono::DateTime::parse_from_rfc3339(verified["deadlines"]["reply"].as_str().expect("due")).expect("rfc3339");
    let past_reply = (reply_due + chrono::Duration::hours(1)).to_rfc3339();
    assert!(scan_at(&app, &past_reply)["overdue"].as_u64() >= Some(1));
    assert_eq!(scan_at(&app, &past_reply)["overdue"], 0);
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id} AND level = 'overdue' AND stage = 'reply'")), 1);

    // A case first scanned more than three working days late: red and 督办 in the same scan,
    // each once.
    let id4 = app.bad_case(&d, "T4").await;
    let (_, case4) = app.get(&format!("/api/v1/cases/{id4}"), Some(&d.supervisor)).await;
    let due4 = chrono::DateTime::parse_from_rfc3339(case4["deadlines"]["feedback"].as_str().expect("due")).expect("rfc3339");
    let very_late = (cal.deadline(due4.with_timezone(&chrono::Utc), 4) - chrono::Duration::hours(1)).to_rfc3339();
    scan_at(&app, &very_late);
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id4} AND level = 'overdue'")), 1);
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id4} AND level = 'escalated'")), 1);
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id4} AND level = 'due_soon'")), 0, "no yellow light after the fact");
    let again = scan_at(&app, &very_late);
    assert_eq!((again["overdue"].clone(), again["escalated"].clone()), (json!(0), json!(0)), "{again}");
    assert_eq!(app.count(&format!("outbox WHERE kind = 'overdue' AND body LIKE '%案件 #{id4}　%'")), 1);
    assert_eq!(app.count(&format!("outbox WHERE kind = 'escalated' AND body LIKE '%案件 #{id4}　%'")), 1);
}

async fn audit_chain_finds_tampering(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    app.act(&d.clerk1, id, "verify", Some("已联系")).await;
    app.act(&d.clerk1, id, "rectify", Some("已整改")).await;
    let verify = || async { app.get("/api/v1/audit/verify", Some(&d.supervisor)).await.1 };
    let ok = verify().await;
    assert_eq!(ok["ok"], true, "{ok}");
    let total = ok["events_checked"].as_i64().expect("count");
    let target = app.count(&format!("audit_events WHERE case_id = {id} AND action = 'verify'"));
    assert_eq!(target, 1);
    // Edit a note behind the application's back.
    app.execute(&format!("UPDATE audit_events SET note = '未联系' WHERE case_id = {id} AND action = 'verify'"));
    let bad = verify().await;
    assert_eq!(bad["ok"], false, "{bad}");
    let edited_id = bad["first_bad_event"].as_i64().expect("first bad");
    app.execute(&format!("UPDATE audit_events SET note = '已联系' WHERE id = {edited_id}"));
    assert_eq!(verify().await["ok"], true, "restored");
    // Delete a row in the middle, then the newest one.
    app.execute(&format!("DELETE FROM audit_events WHERE id = {edited_id}"));
    let bad = verify().await;
    assert_eq!((bad["ok"].clone(), bad["first_bad_event"].clone()), (json!(false), json!(edited_id + 1)), "{bad}");
    let fresh = TestApp::spawn(app.backend).await.expect("second app");
    let d2 = fresh.seed().await;
    let last = fresh.count("audit_events");
    fresh.execute(&format!("DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)"));
    let (_, bad) = fresh.get("/api/v1/audit/verify", Some(&d2.supervisor)).await;
    assert_eq!(bad["ok"], false, "truncating the newest events is found too: {bad}");
    assert_eq!(bad["events_checked"], last - 1);
    assert!(total > 3);
}

/// The case state is read as the domain's enum: text that is none of its states, written
/// behind the application's back, fails the read (a 500 logged for us) instead of reaching a
/// page or client as a state nothing handles; the other cases still read.
async fn a_stored_state_that_is_no_state_is_refused_not_passed_on(app: TestApp) {
    let d = app.seed().await;
    let broken = app.bad_case(&d, "T1").await;
    let fine = app.bad_case(&d, "T2").await;
    assert_eq!(app.execute(&format!("UPDATE cases SET state = 'lost' WHERE id = {broken}")), 1);
    let (status, body) = app.get(&format!("/api/v1/cases/{broken}"), Some(&d.supervisor)).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("lost"), "the stored text is not passed on: {body}");
    // The list too: before the enum it listed the case with state "lost" and no label.
    let (status, list) = app.get("/api/v1/cases", Some(&d.supervisor)).await;
    assert_eq!(status, 500, "{list}");
    assert!(!list.to_string().contains("lost"), "{list}");
    assert_eq!(app.execute(&format!("UPDATE cases SET state = 'feedback' WHERE id = {broken}")), 1);
    assert_eq!(app.get("/api/v1/cases", Some(&d.supervisor)).await.1["total"], 2);
    let (status, ok) = app.get(&format!("/api/v1/cases/{fine}"), Some(&d.supervisor)).await;
    assert_eq!((status, ok["state"].clone()), (200, json!("feedback")), "{ok}");
}

/// Issue 17 item 1: `scan --at` later than now prints what it would raise and writes nothing,
/// unless `--allow-future`.
async fn a_scan_dated_in_the_future_is_a_dry_run(app: TestApp) {
    let d = app.seed().await;
    app.bad_case(&d, "T-FUTURE").await;
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (alerts, mails) = (app.count("alerts"), app.count("outbox"));
    let out = app.cli(&["scan", "--at", &later]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["dry_run"], true, "{report}");
    assert!(report["overdue"].as_u64().unwrap_or(0) >= 1, "it says what it would raise: {report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("dry run"));
    assert_eq!((app.count("alerts"), app.count("outbox")), (alerts, mails), "nothing written");
    let report = scan_at(&app, &later);
    assert_eq!(report["dry_run"], false);
    assert!(app.count("alerts") > alerts, "--allow-future writes");
}
