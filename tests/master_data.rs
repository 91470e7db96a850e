//! Master data that changes (issue 16, item 1): lists with filters, `PATCH` of departments,
//! service items, windows and staff, deactivation that refuses new transactions and keeps the
//! history — through HTTP on both backends.

mod common;

use common::{error_code, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    master_data_changes_and_what_is_deactivated_takes_nothing_new,
    department_parents_cannot_loop,
    assignments_change_over_time_and_transactions_follow_them,
    bulk_import_upserts_all_or_nothing_and_names_every_bad_row
);

fn codes(list: &Value, key: &str) -> Vec<String> {
    list.as_array().expect("a list").iter().filter_map(|v| v[key].as_str().map(str::to_owned)).collect()
}

async fn master_data_changes_and_what_is_deactivated_takes_nothing_new(app: TestApp) {
    let d = app.seed().await;
    // History first: a bad review of a transaction at W1, before anything changes.
    let case_id = {
        app.transaction(&d, "T-OLD", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-20T09:00:00+08:00"})).await;
        let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T-OLD", "stars": 1, "channel": "kiosk", "comment": "排队太久"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        r.1["case_id"].as_i64().expect("case")
    };

    let (status, windows) = app.get("/api/v1/windows", Some(&d.key)).await;
    assert_eq!(status, 200);
    assert_eq!(windows[0]["code"], "W1");
    assert_eq!(windows[0]["active"], true);

    // Only admins change master data.
    assert_eq!(app.patch("/api/v1/windows/W1", &d.supervisor, &json!({"active": false})).await.0, 403);
    let (status, w1) = app.patch("/api/v1/windows/W1", &d.admin, &json!({"active": false, "name": "1号窗口（已撤并）"})).await;
    assert_eq!(status, 200, "{w1}");
    assert_eq!((w1["code"].clone(), w1["name"].clone(), w1["hall"].clone(), w1["active"].clone()), (json!("W1"), json!("1号窗口（已撤并）"), json!("一楼"), json!(false)));
    assert_eq!(codes(&app.get("/api/v1/windows?active=false", Some(&d.admin)).await.1, "code"), vec!["W1"]);
    assert!(codes(&app.get("/api/v1/windows?active=true", Some(&d.admin)).await.1, "code").is_empty());

    // A closed window takes no new transaction, and says which field is wrong.
    let body = json!({"transaction_no": "T-NEW", "service_item_code": "I1", "window_code": "W1", "channel": "window_device", "completed_at": "2026-11-21T10:00:00+08:00"});
    let (status, refused) = app.post("/api/v1/transactions", Some(&d.key), &body).await;
    assert_eq!((status, error_code(&refused)), (422, "invalid".to_owned()), "{refused}");
    assert_eq!(refused["error"]["field"], "window_code", "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or("").contains("W1"), "{refused}");
    // Its history stays: the case, and the window's figures.
    assert_eq!(app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.supervisor)).await.0, 200);
    // (Ratings count by when they were given: this month, the default period.)
    let (_, stats) = app.get("/api/v1/stats?group_by=window", Some(&d.supervisor)).await;
    assert!(stats["groups"].as_array().expect("groups").iter().any(|g| g["key"] == "W1" && g["ratings"] == 1 && g["stars"][0] == 1), "{stats}");
    let (_, stats) = app.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group_by=window", Some(&d.supervisor)).await;
    assert!(stats["groups"].as_array().expect("groups").iter().any(|g| g["key"] == "W1" && g["counts"]["completed_transactions"] == 1), "{stats}");
    // Back in service, it takes transactions again.
    assert_eq!(app.patch("/api/v1/windows/W1", &d.admin, &json!({"active": true})).await.0, 200);
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &body).await.0, 201);

    // A service item that is no longer offered.
    let (status, i2) = app.patch("/api/v1/service-items/I2", &d.admin, &json!({"active": false})).await;
    assert_eq!((status, i2["active"].clone(), i2["department_code"].clone()), (200, json!(false), json!("D2")), "{i2}");
    let body = json!({"transaction_no": "T-I2", "service_item_code": "I2", "channel": "pc", "completed_at": "2026-11-21T10:00:00+08:00"});
    let (status, refused) = app.post("/api/v1/transactions", Some(&d.key), &body).await;
    assert_eq!((status, refused["error"]["field"].clone()), (422, json!("service_item_code")), "{refused}");
    assert_eq!(codes(&app.get("/api/v1/service-items?department_code=D2&active=false", Some(&d.clerk1)).await.1, "code"), vec!["I2"]);
    assert_eq!(codes(&app.get("/api/v1/service-items?active=true", Some(&d.clerk1)).await.1, "code"), vec!["I1"]);

    // A staff member moves to another department; one who left is refused by name.
    let (status, s1) = app.patch("/api/v1/staff/S1", &d.admin, &json!({"department_code": "D2"})).await;
    assert_eq!((status, s1["department_code"].clone(), s1["name"].clone()), (200, json!("D2"), json!("王敏")), "{s1}");
    assert_eq!(codes(&app.get("/api/v1/staff?department_code=D2", Some(&d.admin)).await.1, "staff_no"), vec!["S1"]);
    assert_eq!(app.patch("/api/v1/staff/S2", &d.admin, &json!({"active": false})).await.0, 200);
    let body = json!({"transaction_no": "T-S2", "service_item_code": "I1", "staff_no": "S2", "channel": "pc", "completed_at": "2026-11-21T10:00:00+08:00"});
    assert_eq!(app.post("/api/v1/transactions", Some(&d.key), &body).await.1["error"]["field"], "staff_no");
    assert_eq!(app.patch("/api/v1/staff/S2", &d.admin, &json!({"department_code": "NOPE"})).await.1["error"]["field"], "department_code");

    // Unknown rows are 404; bad values 422; nothing is deleted.
    assert_eq!(app.patch("/api/v1/windows/W9", &d.admin, &json!({"active": false})).await.0, 404);
    assert_eq!(app.patch("/api/v1/staff/S1", &d.admin, &json!({"name": ""})).await.0, 422);
    assert_eq!(app.count("windows"), 1);
    assert_eq!(app.count("staff"), 2);

    // Every change is on the audit chain, which still verifies.
    assert_eq!(app.count("audit_events WHERE action = 'update_window'"), 2);
    assert_eq!(app.count("audit_events WHERE action IN ('update_service_item', 'update_staff')"), 3);
    let (status, chain) = app.get("/api/v1/audit/verify", Some(&d.admin)).await;
    assert_eq!((status, chain["ok"].clone()), (200, json!(true)), "{chain}");
}

async fn department_parents_cannot_loop(app: TestApp) {
    let d = app.seed().await;
    let (status, d2) = app.patch("/api/v1/departments/D2", &d.admin, &json!({"parent_code": "D1", "email": "rsj@example.test", "name": "区人社局（新）"})).await;
    assert_eq!(status, 200, "{d2}");
    assert_eq!((d2["parent_code"].clone(), d2["email"].clone(), d2["name"].clone(), d2["active"].clone()), (json!("D1"), json!("rsj@example.test"), json!("区人社局（新）"), json!(true)));
    let (status, looped) = app.patch("/api/v1/departments/D1", &d.admin, &json!({"parent_code": "D2"})).await;
    assert_eq!((status, looped["error"]["field"].clone()), (422, json!("parent_code")), "{looped}");
    assert_eq!(codes(&app.get("/api/v1/departments?department_code=D1", Some(&d.supervisor)).await.1, "code"), vec!["D2"]);
    // Clearing: an empty parent and email.
    let (_, d2) = app.patch("/api/v1/departments/D2", &d.admin, &json!({"parent_code": "", "email": ""})).await;
    assert_eq!((d2["parent_code"].clone(), d2["email"].clone()), (Value::Null, Value::Null), "{d2}");
    let (_, d1) = app.patch("/api/v1/departments/D1", &d.admin, &json!({"active": false})).await;
    assert_eq!(d1["active"], false);
    assert_eq!(codes(&app.get("/api/v1/departments?active=false", Some(&d.key)).await.1, "code"), vec!["D1"]);
    assert_eq!(app.patch("/api/v1/departments/D1", &d.admin, &json!({"email": "not-an-address"})).await.0, 422);
}

/// Item 2: 三对应 over time. Lists by window, staff and moment; an assignment ends (`PATCH`), the
/// next may start exactly then, overlaps are refused; transactions go to whoever sat at the
/// window when the applicant was served, and statistics by staff follow.
async fn assignments_change_over_time_and_transactions_follow_them(app: TestApp) {
    let d = app.seed().await;
    // The fixture: S1 at W1 for I1 until 1 Nov 2026, S2 from then on.
    let (status, all) = app.get("/api/v1/assignments?window_code=W1", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(codes(&all, "staff_no"), vec!["S2", "S1"], "newest first: {all}");
    assert_eq!(all[0]["staff_name"], "李静");
    assert_eq!(all[0]["service_item_codes"], json!(["I1"]));
    assert!(all[0]["effective_to"].is_null(), "{all}");
    let in_force = |at: &'static str| {
        let app = &app;
        let token = d.key.clone();
        async move { codes(&app.get(&format!("/api/v1/assignments?at={}", at.replace('+', "%2B")), Some(&token)).await.1, "staff_no") }
    };
    assert_eq!(in_force("2026-10-01T12:00:00+08:00").await, vec!["S1"]);
    assert_eq!(in_force("2026-11-01T00:00:00+08:00").await, vec!["S2"], "the new one holds from the moment the old ends");
    assert_eq!(codes(&app.get("/api/v1/assignments?staff_no=S1", Some(&d.admin)).await.1, "window_code"), vec!["W1"]);
    let s2_id = all[0]["id"].as_i64().expect("id");

    // Two assignments of one window and item may not hold at the same moment.
    let s1_back = json!({"window_code": "W1", "staff_no": "S1", "service_item_codes": ["I1"], "effective_from": "2026-11-20T00:00:00+08:00"});
    let (status, refused) = app.post("/api/v1/assignments", Some(&d.admin), &s1_back).await;
    assert_eq!((status, error_code(&refused)), (409, "assignment_overlap".to_owned()), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or("").contains("I1"), "{refused}");
    assert_eq!(app.count("assignments"), 2, "nothing stored");

    // End S2's on 20 Nov: only admins, never before it starts, never a missing field.
    let end = json!({"effective_to": "2026-11-20T00:00:00+08:00"});
    assert_eq!(app.patch(&format!("/api/v1/assignments/{s2_id}"), &d.supervisor, &end).await.0, 403);
    assert_eq!(app.patch("/api/v1/assignments/999999", &d.admin, &end).await.0, 404);
    let (status, early) = app.patch(&format!("/api/v1/assignments/{s2_id}"), &d.admin, &json!({"effective_to": "2026-10-01T00:00:00+08:00"})).await;
    assert_eq!((status, early["error"]["field"].clone()), (422, json!("effective_to")), "{early}");
    assert_eq!(app.patch(&format!("/api/v1/assignments/{s2_id}"), &d.admin, &json!({})).await.0, 400, "a forgotten field never reopens it");
    let (status, ended) = app.patch(&format!("/api/v1/assignments/{s2_id}"), &d.admin, &end).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!((ended["staff_no"].clone(), ended["effective_to"].clone()), (json!("S2"), json!("2026-11-20T00:00:00+08:00")), "{ended}");
    // ... and S1 comes back exactly then.
    let (status, back) = app.post("/api/v1/assignments", Some(&d.admin), &s1_back).await;
    assert_eq!(status, 201, "{back}");
    // Reopening S2's would now overlap S1's.
    let (status, refused) = app.patch(&format!("/api/v1/assignments/{s2_id}"), &d.admin, &json!({"effective_to": null})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["assignment_id"], back["id"], "{refused}");
    let audited = app.count("audit_events WHERE action = 'end_assignment'");
    assert_eq!(audited, 1, "one accepted change, one audit event");

    // A transaction served before the change goes to S2, one after to S1.
    app.transaction(&d, "T-BEFORE", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-15T09:00:00+08:00", "completed_at": "2026-11-15T10:00:00+08:00"})).await;
    app.transaction(&d, "T-AFTER", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-25T09:00:00+08:00", "completed_at": "2026-11-25T10:00:00+08:00"})).await;
    let (_, stats) = app.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group_by=staff", Some(&d.supervisor)).await;
    let completed = |staff: &str| {
        stats["groups"].as_array().expect("groups").iter().find(|g| g["key"] == staff).map(|g| g["counts"]["completed_transactions"].clone())
    };
    assert_eq!((completed("S1"), completed("S2")), (Some(json!(1)), Some(json!(1))), "{stats}");
}

fn report_of(body: &Value) -> &Value {
    if body.get("report").is_some() {
        &body["report"]
    } else {
        body
    }
}

async fn import(app: &TestApp, token: &str, query: &str, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let r = app.client.post(app.url(&format!("/api/v1/imports?{query}"))).bearer_auth(token).header("Content-Type", content_type).body(body).send().await.expect("send");
    common::into_pair(r).await
}

/// Item 5: bulk import. Chinese headers as aliases, upsert by code (the same file twice changes
/// nothing and says so), all or nothing with every bad row named (line, column, reason in
/// Chinese), dry runs, XLSX and GBK files, 三对应 attribution, the CLI with rating links.
async fn bulk_import_upserts_all_or_nothing_and_names_every_bad_row(app: TestApp) {
    let d = app.seed().await;
    let departments = "部门编码,部门名称,上级部门编码,邮箱\nD3,区民政局,,d3@example.test\nD4,婚姻登记处,D3,\n";
    assert_eq!(import(&app, &d.supervisor, "kind=departments", departments.into(), "text/csv").await.0, 403);
    let (status, first) = import(&app, &d.admin, "kind=departments", departments.into(), "text/csv").await;
    assert_eq!((status, first["created"].clone(), first["written"].clone()), (200, json!(2), json!(true)), "{first}");
    let (status, again) = import(&app, &d.admin, "kind=departments", departments.into(), "text/csv").await;
    assert_eq!((status, again["created"].clone(), again["updated"].clone(), again["unchanged"].clone()), (200, json!(0), json!(0), json!(2)), "{again}");
    let (_, d4) = app.get("/api/v1/departments?department_code=D3", Some(&d.admin)).await;
    assert_eq!(codes(&d4, "code"), vec!["D4"], "the parent was set");
    // A changed row is an update, through the same use case (audited).
    let renamed = "code,name,parent_code,email\nD3,区民政局（新）,,d3@example.test\n";
    assert_eq!(import(&app, &d.admin, "kind=departments", renamed.into(), "text/csv").await.1["updated"], 1);

    // Windows from a GBK file, as Chinese Excel saves CSV.
    let (gbk, _, _) = encoding_rs::GBK.encode("窗口编号,窗口名称,所在大厅\nW7,7号综合窗口,二楼东\n");
    let (status, windows) = import(&app, &d.admin, "kind=windows", gbk.into_owned(), "text/csv").await;
    assert_eq!((status, windows["created"].clone()), (200, json!(1)), "{windows}");
    assert!(app.get("/api/v1/windows", Some(&d.admin)).await.1.as_array().expect("windows").iter().any(|w| w["name"] == "7号综合窗口" && w["hall"] == "二楼东"));

    // 办件: one bad row and nothing is written; every bad row is named.
    app.patch("/api/v1/windows/W7", &d.admin, &json!({"active": false})).await;
    let bad = "办件编号,事项编码,窗口编号,办结时间\n\
               B-1,I1,W1,2026-11-20 10:00:00\n\
               B-2,NOPE,,2026-11-20 10:00:00\n\
               B-3,I1,,昨天\n\
               B-1,I1,,2026-11-21 10:00:00\n\
               B-5,I1,W7,2026-11-21 10:00:00\n";
    let (status, refused) = import(&app, &d.admin, "kind=transactions", bad.into(), "text/csv").await;
    assert_eq!(status, 422, "{refused}");
    let errors: Vec<(u64, String)> = report_of(&refused)["errors"].as_array().expect("errors").iter().map(|e| (e["line"].as_u64().unwrap_or(0), e["column"].as_str().unwrap_or("").to_owned())).collect();
    assert_eq!(errors, vec![(3, "事项编码".to_owned()), (4, "办结时间".to_owned()), (5, "办件编号".to_owned()), (6, "窗口编号".to_owned())], "{refused}");
    let reasons = report_of(&refused)["errors"].to_string();
    assert!(reasons.contains("未知的事项编码 NOPE") && reasons.contains("无法识别的时间") && reasons.contains("文件中重复：第 2 行") && reasons.contains("已停用"), "{reasons}");
    assert_eq!(app.count("transactions"), 0, "all or nothing");

    // A repeat further down than one chunk of 1 000 rows is found too.
    let mut long = String::from("办件编号,事项编码,办结时间\n");
    for i in 0..1_001 {
        long.push_str(&format!("L-{i},I1,2026-11-20 10:00\n"));
    }
    long.push_str("L-7,I1,2026-11-20 10:00\n");
    let (status, refused) = import(&app, &d.admin, "kind=transactions&dry_run=true", long.into(), "text/csv").await;
    assert_eq!(status, 422, "{refused}");
    let errors = &report_of(&refused)["errors"];
    assert_eq!((errors[0]["line"].clone(), errors[0]["column"].clone()), (json!(1003), json!("办件编号")), "{errors}");
    assert!(errors[0]["reason"].as_str().unwrap_or("").contains("文件中重复"), "{errors}");
    assert_eq!(app.count("transactions"), 0);

    // A dry run of a good file reports the same and writes nothing; then the real thing.
    let good = "transaction_no,service_item_code,window_code,accepted_at,completed_at,applicant_phone\n\
                B-1,I1,W1,2026-11-15 09:00,2026-11-15 10:00,13800000000\n\
                B-2,I2,,,2026-11-20T10:00:00+08:00,\n";
    let (status, dry) = import(&app, &d.admin, "kind=transactions&dry_run=true", good.into(), "text/csv").await;
    assert_eq!((status, dry["created"].clone(), dry["written"].clone()), (200, json!(2), json!(false)), "{dry}");
    assert_eq!(app.count("transactions"), 0);
    let (status, done) = import(&app, &d.admin, "kind=transactions", good.into(), "text/csv").await;
    assert_eq!((status, done["created"].clone(), done["written"].clone()), (200, json!(2), json!(true)), "{done}");
    assert_eq!(app.count("transactions t JOIN staff s ON s.id = t.staff_id WHERE t.transaction_no = 'B-1' AND s.staff_no = 'S2'"), 1, "三对应 at its own time");
    let (_, same) = import(&app, &d.admin, "kind=transactions", good.into(), "text/csv").await;
    assert_eq!((same["created"].clone(), same["unchanged"].clone()), (json!(0), json!(2)), "{same}");

    // XLSX, with a real date cell, as an office's own export.
    let xlsx = {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (col, h) in ["办件编号", "事项编码", "办结时间"].iter().enumerate() {
            sheet.write_string(0, col as u16, *h).expect("cell");
        }
        let when = rust_xlsxwriter::ExcelDateTime::parse_from_str("2026-11-22 15:30:00").expect("date");
        sheet.write_string(1, 0, "X-1").expect("cell");
        sheet.write_string(1, 1, "I1").expect("cell");
        sheet.write_datetime_with_format(1, 2, &when, &rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss")).expect("cell");
        book.save_to_buffer().expect("xlsx")
    };
    let (status, from_xlsx) = import(&app, &d.admin, "kind=transactions", xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").await;
    assert_eq!((status, from_xlsx["created"].clone()), (200, json!(1)), "{from_xlsx}");
    assert_eq!(app.count("transactions WHERE transaction_no = 'X-1'"), 1);

    // The command, with rating links for SMS or QR printing.
    let dir = tempfile::tempdir().expect("dir");
    let (input, links) = (dir.path().join("banjian.csv"), dir.path().join("links.csv"));
    std::fs::write(&input, "办件编号,事项编码,办结时间\nC-1,I1,2026-11-23 10:00\nC-2,I1,2026-11-23 11:00\n").expect("file");
    let out = app.cli(&["import", "--kind", "transactions", "--input", &input.to_string_lossy(), "--links-out", &links.to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&links).expect("links");
    assert_eq!(written.lines().count(), 3, "{written}");
    assert!(written.starts_with("办件编号,评价链接") && written.contains("C-2,") && written.contains("/rate/"), "{written}");
    std::fs::write(&input, "办件编号,事项编码,办结时间\nC-3,NOPE,2026-11-23 10:00\n").expect("file");
    let out = app.cli(&["import", "--kind", "transactions", "--input", &input.to_string_lossy(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("第 2 行 · 事项编码：未知的事项编码 NOPE"), "{}", String::from_utf8_lossy(&out.stderr));
}
