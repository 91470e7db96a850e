//! Issue 19 item 7: personal data. The handling department sees a real-name citizen's contact
//! data (it must call back) and each such view is on the access log, which admins query and
//! export; others see it masked; an anonymous reviewer's name and phone are shown to no one.

mod common;

use common::TestApp;
use serde_json::json;

on_both_backends!(
    views_of_contact_data_are_logged_and_anonymity_holds,
    the_scanner_erases_personal_data_after_the_retention_period,
    names_and_phones_are_sealed_at_rest_found_by_hash_and_rekeyed
);

async fn views_of_contact_data_are_logged_and_anonymity_holds(app: TestApp) {
    let d = app.seed().await;
    let named = app.bad_case(&d, "P1").await;
    app.transaction(&d, "P2", "I1", json!({})).await;
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "P2", "stars": 1, "channel": "kiosk", "comment": "不想留名", "anonymous": true})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let anonymous = r.1["case_id"].as_i64().expect("case");
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "H1", "title": "噪音", "content": "夜间施工",
        "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00", "contact_name": "李四", "contact_phone": "13900001111"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let complaint = r.1["case_id"].as_i64().expect("case");

    // The department handling it reads the citizen's contact data in full; the supervisor masked.
    let (_, case) = app.get(&format!("/api/v1/cases/{named}"), Some(&d.clerk1)).await;
    assert_eq!((case["transaction"]["applicant_name"].clone(), case["transaction"]["applicant_phone"].clone()), (json!("张三丰"), json!("13812345678")), "{case}");
    let (_, case) = app.get(&format!("/api/v1/cases/{named}"), Some(&d.supervisor)).await;
    assert_eq!((case["transaction"]["applicant_name"].clone(), case["transaction"]["applicant_phone"].clone()), (json!("张**"), json!("138****5678")), "{case}");
    let page = app.client.get(app.url(&format!("/cases/{named}"))).header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&d.clerk1))).send().await.expect("page");
    assert!(page.text().await.expect("text").contains("13812345678"), "the case page shows it to the department");
    let (_, case) = app.get(&format!("/api/v1/cases/{complaint}"), Some(&d.clerk1)).await;
    assert_eq!(case["complaint"]["contact_phone"], "13900001111", "{case}");

    // An anonymous review's applicant is nobody's to see, the department's included.
    for token in [&d.clerk1, &d.supervisor] {
        let (_, case) = app.get(&format!("/api/v1/cases/{anonymous}"), Some(token)).await;
        assert_eq!((case["transaction"]["applicant_name"].clone(), case["transaction"]["applicant_phone"].clone()), (json!(null), json!(null)), "{case}");
        assert!(!case.to_string().contains("13812345678") && !case.to_string().contains("张"), "{case}");
    }

    let (_, found) = app.get("/api/v1/cases?phone=13812345678", Some(&d.supervisor)).await;
    let found: Vec<i64> = found["items"].as_array().expect("items").iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(found, [named], "an anonymous review is not found by its applicant's phone either");

    // The log: each unmasked view, who, which case and which fields; none for masked views.
    assert_eq!(app.get("/api/v1/access-log", Some(&d.clerk1)).await.0, 403);
    let (status, log) = app.get(&format!("/api/v1/access-log?case_id={named}"), Some(&d.admin)).await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["total"], 2, "the API view and the page view: {log}");
    for entry in log["items"].as_array().expect("items") {
        assert_eq!((entry["username"].clone(), entry["actor"].clone()), (json!("clerk1"), json!("department:clerk1")));
        assert_eq!(entry["fields"], json!(["applicant_name", "applicant_phone"]));
    }
    let (_, log) = app.get(&format!("/api/v1/access-log?case_id={complaint}"), Some(&d.admin)).await;
    assert_eq!(log["items"][0]["fields"], json!(["contact_name", "contact_phone"]), "{log}");
    assert_eq!(app.get("/api/v1/access-log?user=sup", Some(&d.admin)).await.1["total"], 0, "masked views are not personal data views");
    assert_eq!(app.get(&format!("/api/v1/access-log?case_id={anonymous}"), Some(&d.admin)).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/access-log?user=clerk1", Some(&d.admin)).await.1["total"], 3);
    assert_eq!(app.get("/api/v1/access-log?to=2000-01-01", Some(&d.admin)).await.1["total"], 0);
    assert_eq!(app.get("/api/v1/access-log?from=2000-01-01T00:00:00%2B08:00", Some(&d.admin)).await.1["total"], 3);
    assert_eq!(app.get("/api/v1/access-log?case_id=0", Some(&d.admin)).await.0, 422);
    let (status, bad) = app.get("/api/v1/access-log?from=yesterday", Some(&d.admin)).await;
    assert_eq!((status, bad["error"]["field"].clone()), (422, json!("from")), "{bad}");
    let csv = app.client.get(app.url("/api/v1/access-log?format=csv&user=clerk1")).bearer_auth(&d.admin).send().await.expect("csv");
    assert_eq!(csv.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let text = csv.text().await.expect("csv text");
    assert!(text.contains("时间") && text.lines().count() == 4 && text.contains(&format!(",{named},applicant_name applicant_phone")), "{text}");
}

/// Runs `haochaping scan` on the test's database with `HCP_RETENTION_YEARS` set; its JSON output.
fn scan_with_retention(app: &TestApp, years: &str) -> serde_json::Value {
    let out = common::haochaping_command()
        .arg("scan")
        .env("DATABASE_URL", &app.database_url)
        .env("HCP_SECRET", "test-secret")
        .env("HCP_RETENTION_YEARS", years)
        .env("RUST_LOG", "warn")
        .output()
        .expect("scan");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("scan JSON")
}

async fn the_scanner_erases_personal_data_after_the_retention_period(app: TestApp) {
    let d = app.seed().await;
    let old = app.bad_case(&d, "R1").await;
    let recent = app.bad_case(&d, "R2").await;
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "H9", "title": "噪音", "content": "夜间施工",
        "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00", "contact_name": "李四", "contact_phone": "13900001111", "transaction_no": "R1"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let old_complaint = r.1["case_id"].as_i64().expect("case");
    // R3's review case closed long ago, but a complaint naming R3 is still open: R3 keeps its applicant.
    let old_but_needed = app.bad_case(&d, "R3").await;
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "H10", "title": "又来投诉", "content": "还没解决",
        "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00", "transaction_no": "R3"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    // Closed in 2020 (about six years ago) and last month.
    app.execute(&format!("UPDATE cases SET state = 'closed', closed_at = '2020-06-01 00:00:00' WHERE id IN ({old}, {old_complaint}, {old_but_needed})"));
    app.execute(&format!("UPDATE cases SET state = 'closed', closed_at = '2026-11-01 00:00:00' WHERE id = {recent}"));

    assert_eq!(scan_with_retention(&app, "10")["personal_data_erased"], 0, "ten years: nothing is due");
    assert_eq!(app.count("transactions WHERE applicant_phone IS NOT NULL"), 3);
    assert_eq!(app.get("/api/v1/cases?phone=13812345678", Some(&d.supervisor)).await.1["total"], 3, "before: found by phone");
    assert_eq!(scan_with_retention(&app, "3")["personal_data_erased"], 3, "three years (the default): the three closed in 2020");
    assert_eq!(app.count("transactions WHERE transaction_no = 'R1' AND applicant_name IS NULL AND applicant_phone IS NULL AND applicant_email IS NULL AND applicant_phone_hash IS NULL"), 1);
    assert_eq!(app.count("transactions WHERE transaction_no = 'R3' AND applicant_phone IS NOT NULL"), 1, "a 办件 an open case still needs keeps its applicant");
    let (_, found) = app.get("/api/v1/cases?phone=13812345678", Some(&d.supervisor)).await;
    let found: Vec<i64> = found["items"].as_array().expect("items").iter().filter_map(|c| c["id"].as_i64()).collect();
    assert!(!found.contains(&old) && found.contains(&recent), "an erased phone no longer finds its cases: {found:?}");
    assert_eq!(app.count("transactions WHERE transaction_no = 'R2' AND applicant_phone IS NOT NULL AND applicant_name IS NOT NULL"), 1, "a recent case keeps its data");
    assert_eq!(app.count(&format!("complaints c JOIN cases k ON k.complaint_id = c.id WHERE k.id = {old_complaint} AND c.contact_name IS NULL AND c.contact_phone IS NULL")), 1);
    assert_eq!(app.count(&format!("audit_events WHERE action = 'erase_personal_data' AND case_id IN ({old}, {old_complaint}, {old_but_needed})")), 3, "each erasure is audited");
    assert_eq!(app.count("reviews"), 3, "the reviews and cases themselves stay");
    assert_eq!(scan_with_retention(&app, "3")["personal_data_erased"], 0, "once");
    let (_, chain) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(chain["ok"], true, "{chain}");
    let (_, case) = app.get(&format!("/api/v1/cases/{old}"), Some(&d.clerk1)).await;
    assert_eq!(case["transaction"]["applicant_phone"], json!(null), "{case}");
}

/// The binary on this test's database with these personal-data keys (`None` leaves one unset).
fn run_with_keys(app: &TestApp, current: Option<&str>, previous: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = common::haochaping_command();
    command.args(args).env("DATABASE_URL", &app.database_url).env("HCP_SECRET", "test-secret").env("RUST_LOG", "warn").env_remove("HCP_DATA_KEY");
    if let Some(key) = current {
        command.env("HCP_DATA_KEY", key);
    }
    if let Some(key) = previous {
        command.env("HCP_DATA_KEY_PREVIOUS", key);
    }
    command.output().expect("run haochaping")
}

/// The key ids the stored names and phones are sealed under.
fn sealed_key_ids(app: &TestApp) -> std::collections::BTreeSet<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let sql = "SELECT applicant_name AS value FROM transactions WHERE applicant_name IS NOT NULL UNION ALL SELECT applicant_phone FROM transactions WHERE applicant_phone IS NOT NULL \
               UNION ALL SELECT contact_name FROM complaints WHERE contact_name IS NOT NULL UNION ALL SELECT contact_phone FROM complaints WHERE contact_phone IS NOT NULL";
    let mut conn = app.conn();
    let rows: Vec<Stored> = haochaping::db_run!(&mut conn, |c| diesel::sql_query(sql).load(c)).expect("stored values");
    rows.into_iter().map(|r| r.value.split(':').take(2).collect::<Vec<_>>().join(":")).collect()
}

async fn names_and_phones_are_sealed_at_rest_found_by_hash_and_rekeyed(app: TestApp) {
    let d = app.seed().await;
    let case = app.bad_case(&d, "E1").await;
    app.transaction(&d, "E2", "I1", json!({"applicant_phone": "13700002222"})).await;
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "H7", "title": "噪音", "content": "夜间施工",
        "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00", "contact_name": "李四", "contact_phone": "139-0000-1111"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let complaint = r.1["case_id"].as_i64().expect("case");

    // At rest: sealed, no name or phone in clear anywhere in the two tables.
    assert_eq!(app.count("transactions WHERE applicant_phone LIKE 'pd1:%' AND applicant_name LIKE 'pd1:%'"), 2);
    assert_eq!(app.count("transactions WHERE applicant_phone LIKE '%1381234%' OR applicant_name LIKE '%张%' OR applicant_phone_hash LIKE '%1381234%'"), 0);
    assert_eq!(app.count("complaints WHERE contact_phone LIKE 'pd1:%' AND contact_name LIKE 'pd1:%' AND contact_phone NOT LIKE '%0000%'"), 1);
    let original = sealed_key_ids(&app);
    assert_eq!(original.len(), 1, "one key: {original:?}");
    // In use: the department reads them opened.
    let (_, view) = app.get(&format!("/api/v1/cases/{case}"), Some(&d.clerk1)).await;
    assert_eq!(view["transaction"]["applicant_phone"], "13812345678", "{view}");

    // Looked up by the phone's keyed hash, however it is written.
    let ids = |v: &serde_json::Value| v["items"].as_array().expect("items").iter().filter_map(|c| c["id"].as_i64()).collect::<Vec<_>>();
    assert_eq!(ids(&app.get("/api/v1/cases?phone=138-1234-5678", Some(&d.supervisor)).await.1), [case]);
    assert_eq!(ids(&app.get("/api/v1/cases?phone=13900001111", Some(&d.supervisor)).await.1), [complaint]);
    assert_eq!(ids(&app.get("/api/v1/cases?phone=13700002222", Some(&d.supervisor)).await.1), Vec::<i64>::new(), "a 办件 without a case");
    assert_eq!(ids(&app.get("/api/v1/cases?phone=13812345678", Some(&d.clerk2)).await.1), Vec::<i64>::new(), "another department's case stays hidden");
    assert_eq!(app.get("/api/v1/cases?phone=abc", Some(&d.supervisor)).await.0, 422);

    // Without the key, or with a key that opens nothing stored, nothing starts.
    let out = run_with_keys(&app, None, None, &["scan"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("set HCP_DATA_KEY"), "{}", String::from_utf8_lossy(&out.stderr));
    let new_key = "1d".repeat(32);
    let out = run_with_keys(&app, Some(&new_key), None, &["scan"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("neither HCP_DATA_KEY"), "{}", String::from_utf8_lossy(&out.stderr));

    // rekey: a new key, the old one still opening meanwhile; after it only the new key is needed.
    let out = run_with_keys(&app, Some(&new_key), Some(common::TEST_DATA_KEY), &["rekey"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rekey JSON");
    assert_eq!(done["values_sealed_again"], 6, "two 办件 and a complaint, a name and a phone each: {done}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows examined"), "progress is printed");
    let now = sealed_key_ids(&app);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, original, "all under the new key");
    assert!(!run_with_keys(&app, Some(common::TEST_DATA_KEY), None, &["scan"]).status.success(), "the old key alone no longer opens them");
    app.execute("UPDATE reviews SET created_at = '2000-01-01 00:00:00'");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("feed.jsonl");
    let out = run_with_keys(&app, Some(&new_key), None, &["export-evaluations", "--out", &file.to_string_lossy()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&file).expect("feed").contains("张三丰"), "the new key opens what rekey sealed");
    let out = run_with_keys(&app, Some(&new_key), None, &["rekey"]);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rekey JSON");
    assert_eq!(again["values_sealed_again"], 0, "nothing left to seal: {again}");
}
