//! 12345 and 国办 work orders as they are: a promised reply time (承诺时限), duplicates merged
//! into one case (并单) that close with it and tell each source the reply, co-handling
//! departments (协办), and returns (退单) that need a reason and are counted per department.

mod common;

use chrono::{DateTime, Duration, FixedOffset};
use common::{error_code, District, TestApp};
use serde_json::{json, Value};

fn time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).expect("rfc3339")
}

async fn work_order(app: &TestApp, d: &District, no: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"source": "hotline_12345", "external_no": no, "content": "营业执照办理材料被反复退回",
        "received_at": "2026-11-23T09:00:00+08:00", "department_code": "D1"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.post("/api/v1/complaints", Some(&d.key), &body).await
}

on_both_backends!(a_work_order_keeps_its_own_promised_reply_time);

async fn a_work_order_keeps_its_own_promised_reply_time(app: TestApp) {
    let d = app.seed().await;
    let plain = work_order(&app, &d, "GD-PLAIN", json!({})).await;
    assert_eq!(plain.0, 201, "{}", plain.1);
    let (_, plain) = app.get(&format!("/api/v1/cases/{}", plain.1["case_id"]), Some(&d.supervisor)).await;
    assert!(plain["committed_reply_due"].is_null());

    // Two working days from Monday 23 Nov 09:00: the end of Wednesday 25 Nov, Beijing time.
    let days = work_order(&app, &d, "GD-2D", json!({"committed_working_days": 2})).await;
    assert_eq!(days.0, 201, "{}", days.1);
    let (_, case) = app.get(&format!("/api/v1/cases/{}", days.1["case_id"]), Some(&d.supervisor)).await;
    assert_eq!(time(&case["deadlines"]["reply"]).date_naive().to_string(), "2026-11-25", "{case}");
    assert_eq!(case["deadlines"]["reply"], case["committed_reply_due"]);
    assert!(time(&case["deadlines"]["reply"]) < time(&plain["deadlines"]["reply"]), "the promise replaces the policy's longer time");
    assert!(time(&case["deadlines"]["feedback"]) <= time(&case["deadlines"]["reply"]));

    let due = work_order(&app, &d, "GD-AT", json!({"due_at": "2026-11-24T17:30:00+08:00"})).await;
    assert_eq!(due.0, 201, "{}", due.1);
    let (_, case) = app.get(&format!("/api/v1/cases/{}", due.1["case_id"]), Some(&d.supervisor)).await;
    assert_eq!(time(&case["deadlines"]["reply"]), time(&json!("2026-11-24T17:30:00+08:00")));

    // The promise holds through the loop: verifying keeps it as the reply deadline.
    let id = due.1["case_id"].as_i64().expect("id");
    let (status, after) = app.act(&d.clerk1, id, "verify", Some("已联系")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(time(&after["deadlines"]["reply"]), time(&json!("2026-11-24T17:30:00+08:00")));

    for (extra, field) in [
        (json!({"due_at": "2026-11-24T17:30:00+08:00", "committed_working_days": 3}), "committed_working_days"),
        (json!({"due_at": "2026-11-22T17:30:00+08:00"}), "due_at"),
        (json!({"due_at": "2026-11-24"}), "due_at"),
        (json!({"committed_working_days": 0}), "committed_working_days"),
        (json!({"committed_working_days": 61}), "committed_working_days"),
    ] {
        let r = work_order(&app, &d, "GD-BAD", extra.clone()).await;
        assert_eq!((r.0, r.1["error"]["field"].as_str()), (422, Some(field)), "{extra} → {}", r.1);
    }
    assert_eq!(app.count("complaints WHERE external_no = 'GD-BAD'"), 0);
}

on_both_backends!(duplicates_merge_into_one_case_and_close_with_it);

async fn duplicates_merge_into_one_case_and_close_with_it(app: TestApp) {
    let d = app.seed().await;
    let r = app.post("/api/v1/webhooks", Some(&d.admin), &json!({"url": "http://127.0.0.1:9/hook", "events": ["complaint.merged", "case.replied", "case.closed"]})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let mut ids = Vec::new();
    for no in ["GD-1", "GD-2", "GD-3"] {
        let r = work_order(&app, &d, no, json!({})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        ids.push(r.1["case_id"].as_i64().expect("id"));
    }
    let (primary, dup1, dup2) = (ids[0], ids[1], ids[2]);
    let review_case = app.bad_case(&d, "T1").await;
    let merge = |id: i64| format!("/api/v1/cases/{id}/merge");

    // Only supervisors merge, and only open complaints, each once.
    assert_eq!(app.post(&merge(primary), Some(&d.clerk1), &json!({"case_ids": [dup1]})).await.0, 403);
    for (body, status) in [(json!({"case_ids": []}), 422), (json!({"case_ids": [primary]}), 422), (json!({"case_ids": [dup1, dup1]}), 422), (json!({"case_ids": [999999]}), 422)] {
        let r = app.post(&merge(primary), Some(&d.supervisor), &body).await;
        assert_eq!(r.0, status, "{body} → {}", r.1);
    }
    let r = app.post(&merge(primary), Some(&d.supervisor), &json!({"case_ids": [review_case]})).await;
    assert_eq!((r.0, error_code(&r.1).as_str()), (409, "not_mergeable"), "{}", r.1);

    let r = app.post(&merge(primary), Some(&d.supervisor), &json!({"case_ids": [dup2, dup1]})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(r.1["merged_cases"], json!([dup1, dup2]));
    let (_, dup) = app.get(&format!("/api/v1/cases/{dup1}"), Some(&d.clerk1)).await;
    assert_eq!((dup["merged_into"].as_i64(), dup["allowed_actions"].clone()), (Some(primary), json!([])), "{dup}");
    assert!(dup["timeline"].as_array().is_some_and(|t| t.iter().any(|e| e["action"] == "merged")));
    let r = app.act(&d.clerk1, dup1, "verify", Some("x")).await;
    assert_eq!((r.0, error_code(&r.1).as_str()), (409, "case_merged"), "{}", r.1);
    assert_eq!(r.1["error"]["merged_into"].as_i64(), Some(primary));
    let r = app.post(&merge(dup2), Some(&d.supervisor), &json!({"case_ids": [primary]})).await;
    assert_eq!(r.0, 409, "a merged case takes no duplicates: {}", r.1);

    // The case that stays is answered and approved: its duplicates close with its reply.
    let reply = "已核实，窗口一次性告知材料清单，并对经办人批评教育。";
    for (token, action, note) in [(&d.clerk1, "verify", Some("已联系")), (&d.clerk1, "rectify", Some("公示材料清单")), (&d.clerk1, "reply", Some(reply)), (&d.supervisor, "approve", None)] {
        let r = app.act(token, primary, action, note).await;
        assert_eq!(r.0, 200, "{action}: {}", r.1);
    }
    for id in [dup1, dup2] {
        let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
        assert_eq!((case["state"].as_str(), case["reply"].as_str()), (Some("closed"), Some(reply)), "{case}");
        assert!(case["closed_at"].is_string());
    }
    // Each source hears it: the merge, then the reply and the closing, for every work order.
    let events = |case: i64| -> Vec<String> {
        let mut conn = app.conn();
        let rows: Vec<(String, i64)> = {
            use diesel::prelude::*;
            use haochaping::storage::schema::webhook_deliveries as w;
            haochaping::db_run!(&mut conn, |c| w::table.filter(w::case_id.eq(case)).order(w::id).select((w::event, w::id)).load(c)).expect("deliveries")
        };
        rows.into_iter().map(|(e, _)| e).collect()
    };
    assert_eq!(events(dup1), ["complaint.merged", "case.replied", "case.closed"]);
    assert_eq!(events(dup2), ["complaint.merged", "case.replied", "case.closed"]);
    assert_eq!(events(primary), ["complaint.merged", "case.replied", "case.closed"]);
    let chain = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(chain.1["ok"], true, "{}", chain.1);
}

on_both_backends!(co_handling_departments_read_and_note_while_the_handler_replies);

async fn co_handling_departments_read_and_note_while_the_handler_replies(app: TestApp) {
    let d = app.seed().await;
    let r = work_order(&app, &d, "GD-CO", json!({})).await;
    let id = r.1["case_id"].as_i64().expect("id");
    let path = format!("/api/v1/cases/{id}/co-departments");
    // Before: D2 does not see the case at all.
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk2)).await.0, 404);
    assert_eq!(app.put(&path, &d.clerk1, &json!({"department_codes": ["D2"]})).await.0, 403);
    let r = app.put(&path, &d.supervisor, &json!({"department_codes": ["D1"]})).await;
    assert_eq!((r.0, r.1["error"]["field"].as_str()), (422, Some("department_codes")), "the handler is not its own co-handler");
    let r = app.put(&path, &d.supervisor, &json!({"department_codes": ["D9"]})).await;
    assert_eq!(r.0, 422);
    let r = app.put(&path, &d.supervisor, &json!({"department_codes": ["D2"]})).await;
    assert_eq!((r.0, r.1["co_departments"].clone()), (200, json!(["D2"])), "{}", r.1);

    // D2 reads it (in its inbox too), adds a note, but does not act; contact data stays masked.
    let (status, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk2)).await;
    assert_eq!(status, 200, "{case}");
    assert_eq!((case["co_departments"].clone(), case["allowed_actions"].clone()), (json!(["D2"]), json!([])));
    let (_, inbox) = app.get("/api/v1/cases", Some(&d.clerk2)).await;
    assert!(inbox["items"].as_array().is_some_and(|items| items.iter().any(|i| i["id"] == id)), "{inbox}");
    let r = app.post(&format!("/api/v1/cases/{id}/notes"), Some(&d.clerk2), &json!({"note": "人社局意见：社保材料无需重复提交"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert!(r.1["timeline"].as_array().is_some_and(|t| t.iter().any(|e| e["action"] == "note" && e["note"] == "人社局意见：社保材料无需重复提交")));
    assert_eq!(app.post(&format!("/api/v1/cases/{id}/notes"), Some(&d.clerk2), &json!({"note": "   "})).await.0, 422);
    let r = app.act(&d.clerk2, id, "verify", Some("x")).await;
    assert_eq!(r.0, 403, "the co-handler does not act: {}", r.1);
    assert_eq!(app.act(&d.clerk1, id, "verify", Some("已联系")).await.0, 200);

    // Removed again: D2 no longer sees it.
    assert_eq!(app.put(&path, &d.supervisor, &json!({"department_codes": []})).await.0, 200);
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), Some(&d.clerk2)).await.0, 404);
}

on_both_backends!(a_return_needs_its_reason_and_counts_against_the_returning_department);

async fn a_return_needs_its_reason_and_counts_against_the_returning_department(app: TestApp) {
    let d = app.seed().await;
    let r = work_order(&app, &d, "GD-RET", json!({})).await;
    let id = r.1["case_id"].as_i64().expect("id");
    let r = app.act(&d.clerk1, id, "request_reassign", None).await;
    assert_eq!((r.0, r.1["error"]["field"].as_str()), (422, Some("note")), "退单 needs a reason: {}", r.1);
    let r = app.act(&d.clerk1, id, "request_reassign", Some("属社保事项，应由人社局办理")).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = app.post(&format!("/api/v1/cases/{id}/actions"), Some(&d.supervisor), &json!({"action": "reassign", "department_code": "D2"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let period = format!("from={}&to={}", today - Duration::days(1), today + Duration::days(1));
    let (status, stats) = app.get(&format!("/api/v1/stats?group_by=department&{period}"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{stats}");
    let returns = |code: &str| stats["groups"].as_array().and_then(|g| g.iter().find(|x| x["key"] == code)).map(|x| x["returns"].as_i64());
    assert_eq!(returns("D1"), Some(Some(1)), "{stats}");
    assert_ne!(returns("D2"), Some(Some(1)), "the department it went to returned nothing");
    assert_eq!(stats["total"]["returns"], 1);
}

on_both_backends!(the_case_page_shows_the_work_order_and_takes_a_co_handlers_note);

async fn the_case_page_shows_the_work_order_and_takes_a_co_handlers_note(app: TestApp) {
    let d = app.seed().await;
    let r = work_order(&app, &d, "GD-PAGE", json!({"committed_working_days": 3})).await;
    let id = r.1["case_id"].as_i64().expect("id");
    assert_eq!(app.put(&format!("/api/v1/cases/{id}/co-departments"), &d.supervisor, &json!({"department_codes": ["D2"]})).await.0, 200);
    let cookie = format!("hcp_session={}", app.state.cookies.sign(&d.clerk2));
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let html = client.get(app.url(&format!("/cases/{id}"))).header("Cookie", &cookie).send().await.expect("page").text().await.expect("html");
    assert!(html.contains("工单承诺时限") && html.contains("协办部门") && html.contains("添加备注"), "{html}");
    let csrf = app.state.cookies.csrf(&d.clerk2);
    let posted = client
        .post(app.url(&format!("/cases/{id}/act")))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("action", "note"), ("note", "人社局：已核对社保记录")])
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status().as_u16(), 303);
    let html = client.get(app.url(&format!("/cases/{id}"))).header("Cookie", &cookie).send().await.expect("page").text().await.expect("html");
    assert!(html.contains("备注：人社局：已核对社保记录") || html.contains("备注") && html.contains("人社局：已核对社保记录"), "{html}");
}
