//! Reviews, complaints and cases through HTTP, on SQLite and on PostgreSQL.

mod common;

use common::{error_code, TestApp};
use futures_util::future::join_all;
use serde_json::{json, Value};

on_both_backends!(
    bad_review_opens_one_case_for_the_items_department,
    one_review_per_transaction,
    bad_review_needs_a_reason,
    citizen_rating_link_is_bound_and_expiring,
    complaints_are_idempotent_and_routed,
    departments_see_only_their_cases_and_phones_are_masked,
    transactions_are_attributed_by_assignment_at_their_time,
    admin_calls_need_the_admin_role,
    concurrent_repeats_store_one_review_and_one_complaint,
    a_burst_of_reviews_gets_one_answer_each,
    a_batch_of_reviews_decides_each_on_its_own,
    default_ratings_follow_the_policy_once,
    tag_sets_are_versioned_and_reviews_keep_theirs,
);

async fn bad_review_opens_one_case_for_the_items_department(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "T-GOOD", "I1", json!({})).await;
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T-GOOD", "stars": 5, "channel": "window_device"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_eq!(r.1["is_bad"], false);
    assert!(r.1["case_id"].is_null());
    assert_eq!(app.count("cases"), 0);

    app.transaction(&d, "T-BAD", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-20T09:00:00+08:00"})).await;
    let r = app
        .post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T-BAD", "stars": 2, "channel": "window_device",
            "tags": ["等待时间长"], "comment": "排队两个小时", "rated_at": "2026-11-20T10:05:00+08:00"}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_eq!(r.1["is_bad"], true);
    let case_id = r.1["case_id"].as_i64().expect("case id");
    assert_eq!(app.count("cases"), 1);

    let (status, case) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["state"], "feedback");
    assert_eq!(case["department_code"], "D1");
    assert_eq!(case["source"], "review");
    assert!(case["opened_at"].as_str().unwrap_or("").ends_with("+08:00"));
    assert_eq!(case["transaction"]["window_code"], "W1");
    assert_eq!(case["transaction"]["staff_no"], "S2", "assigned at W1 on 20 Nov");
    assert_eq!(case["review"]["tags"], json!(["等待时间长"]));
    assert_eq!(case["review"]["rated_at"], "2026-11-20T10:05:00+08:00");
    let timeline = case["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0]["action"], "open");
    assert_eq!(timeline[0]["to"], "feedback");
    assert!(case["deadlines"]["feedback"].is_string());
    assert_eq!(case["allowed_actions"], json!(["reassign"]), "a supervisor may only reassign a case in feedback");
    let (_, as_clerk) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.clerk1)).await;
    assert_eq!(as_clerk["allowed_actions"], json!(["verify", "appeal", "request_reassign"]));
}

async fn one_review_per_transaction(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "T1", "I1", json!({})).await;
    let first = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T1", "stars": 1, "channel": "kiosk", "comment": "太慢"})).await;
    assert_eq!(first.0, 201);
    let second = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T1", "stars": 5, "channel": "kiosk"})).await;
    assert_eq!(second.0, 409, "{}", second.1);
    assert_eq!(error_code(&second.1), "already_rated");
    assert_eq!(second.1["error"]["review_id"], first.1["id"], "the 409 names the first review");
    assert_eq!(app.count("reviews"), 1);
    assert_eq!(app.count("cases"), 1, "the repeat opened no second case");
}

async fn bad_review_needs_a_reason(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "T1", "I1", json!({})).await;
    for body in [
        json!({"transaction_no": "T1", "stars": 2, "channel": "pc"}),
        json!({"transaction_no": "T1", "stars": 1, "channel": "pc", "tags": [], "comment": "   "}),
    ] {
        let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
        assert_eq!(r.0, 422, "{}", r.1);
        assert_eq!(error_code(&r.1), "invalid");
    }
    assert_eq!(app.count("reviews"), 0);
    assert_eq!(app.count("cases"), 0);
}

async fn citizen_rating_link_is_bound_and_expiring(app: TestApp) {
    let d = app.seed().await;
    let t1 = app.transaction(&d, "T1", "I1", json!({})).await;
    app.transaction(&d, "T2", "I1", json!({})).await;
    let token = t1["rating_token"].as_str().expect("token").to_owned();
    assert_eq!(t1["rating_url"], format!("{}/rate/{token}", app.base));

    let post = |token: String, body: serde_json::Value| {
        let req = app.client.post(app.url("/api/v1/reviews")).header("X-Rating-Token", token).json(&body);
        async move { common::into_pair(req.send().await.expect("send")).await }
    };
    // Another transaction's number with this link: refused.
    let r = post(token.clone(), json!({"transaction_no": "T2", "stars": 5, "channel": "mobile"})).await;
    assert_eq!(r.0, 403, "{}", r.1);
    // Citizens may not backdate or claim device channels.
    let r = post(token.clone(), json!({"transaction_no": "T1", "stars": 5, "channel": "mobile", "rated_at": "2026-11-20T10:00:00+08:00"})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    let r = post(token.clone(), json!({"transaction_no": "T1", "stars": 5, "channel": "default"})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    // A forged signature and an expired link.
    let forged = format!("{}x", &token[..token.len() - 1]);
    let r = post(forged, json!({"transaction_no": "T1", "stars": 5, "channel": "mobile"})).await;
    assert_eq!(r.0, 401, "{}", r.1);
    let expired = app.state.signer.sign("T1", chrono::Utc::now() - chrono::Duration::minutes(1));
    let r = post(expired, json!({"transaction_no": "T1", "stars": 5, "channel": "mobile"})).await;
    assert_eq!(r.0, 401, "{}", r.1);
    assert!(r.1["error"]["message"].as_str().unwrap_or("").contains("expired"));
    assert_eq!(app.count("reviews"), 0);
    // The genuine link works, once.
    let r = post(token.clone(), json!({"transaction_no": "T1", "stars": 1, "channel": "mobile", "comment": "材料说法不一"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert!(r.1["case_id"].is_i64());
    let r = post(token, json!({"transaction_no": "T1", "stars": 5, "channel": "mobile"})).await;
    assert_eq!(r.0, 409);
}

async fn complaints_are_idempotent_and_routed(app: TestApp) {
    let d = app.seed().await;
    let named = json!({"source": "hotline_12345", "external_no": "GD-001", "title": "排队太久", "content": "不动产登记排队四小时",
        "contact_name": "李四", "contact_phone": "13900001111", "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D2"});
    let first = app.post("/api/v1/complaints", Some(&d.key), &named).await;
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(first.1["routed_by"], "given");
    assert_eq!(first.1["department_code"], "D2");
    let again = app.post("/api/v1/complaints", Some(&d.key), &named).await;
    assert_eq!(again.0, 200, "{}", again.1);
    assert_eq!(again.1["case_id"], first.1["case_id"]);
    // The same number from another source is another complaint.
    let mut other_source = named.clone();
    other_source["source"] = json!("state_council");
    let r = app.post("/api/v1/complaints", Some(&d.supervisor), &other_source).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_ne!(r.1["case_id"], first.1["case_id"]);
    // Through a service item: that item's department.
    let by_item = json!({"source": "other", "external_no": "X-1", "content": "食品许可办理慢", "received_at": "2026-11-21T09:00:00+08:00", "service_item_code": "I1"});
    let r = app.post("/api/v1/complaints", Some(&d.key), &by_item).await;
    assert_eq!((r.0, r.1["department_code"].clone(), r.1["routed_by"].clone()), (201, json!("D1"), json!("given")));
    // No department: unassigned, visible to supervisors only.
    let loose = json!({"source": "hotline_12345", "external_no": "GD-002", "content": "路灯不亮", "received_at": "2026-11-21T09:00:00+08:00"});
    let r = app.post("/api/v1/complaints", Some(&d.key), &loose).await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_eq!(r.1["routed_by"], "unassigned");
    assert!(r.1["department_code"].is_null());
    let (_, list) = app.get("/api/v1/cases?department=unassigned", Some(&d.supervisor)).await;
    assert_eq!(list["total"], 1);
    assert_eq!(app.count("complaints"), 4);
    assert_eq!(app.count("cases"), 4);
    // Department users cannot file complaints; unknown source is 422.
    assert_eq!(app.post("/api/v1/complaints", Some(&d.clerk1), &loose).await.0, 403);
    let mut bad = loose.clone();
    bad["source"] = json!("weibo");
    assert_eq!(app.post("/api/v1/complaints", Some(&d.key), &bad).await.0, 422);
}

async fn departments_see_only_their_cases_and_phones_are_masked(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "T1", "I1", json!({})).await;
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T1", "stars": 1, "channel": "pc", "comment": "态度差"})).await;
    let case_id = r.1["case_id"].as_i64().expect("case");
    // D2's clerk: not found, and not listed.
    let (status, body) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.clerk2)).await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = app.get("/api/v1/cases", Some(&d.clerk2)).await;
    assert_eq!(list["total"], 0);
    assert_eq!(list["items"], json!([]));
    // Even asking for D1 explicitly does not widen a department user's view.
    let (_, list) = app.get("/api/v1/cases?department=D1", Some(&d.clerk2)).await;
    assert_eq!(list["total"], 0);
    // D1's clerk sees it with the full phone; the supervisor sees it masked.
    let (_, list) = app.get("/api/v1/cases", Some(&d.clerk1)).await;
    assert_eq!(list["total"], 1);
    let (_, mine) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.clerk1)).await;
    assert_eq!(mine["transaction"]["applicant_phone"], "13812345678");
    let (_, sup) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.supervisor)).await;
    assert_eq!(sup["transaction"]["applicant_phone"], "138****5678");
    assert_eq!(sup["transaction"]["applicant_name"], "张**");
    // Integrations and citizens do not read cases.
    assert_eq!(app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.key)).await.0, 403);
    assert_eq!(app.get("/api/v1/cases", None).await.0, 401);
}

async fn transactions_are_attributed_by_assignment_at_their_time(app: TestApp) {
    let d = app.seed().await;
    for (no, accepted, staff) in [("OLD", "2026-10-15T09:00:00+08:00", "S1"), ("NEW", "2026-11-15T09:00:00+08:00", "S2")] {
        app.transaction(&d, no, "I1", json!({"window_code": "W1", "accepted_at": accepted})).await;
        let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 1, "channel": "window_device", "tags": ["态度不好"]})).await;
        let (_, case) = app.get(&format!("/api/v1/cases/{}", r.1["case_id"]), Some(&d.supervisor)).await;
        assert_eq!(case["transaction"]["staff_no"], staff, "transaction {no}");
    }
    // A repeat of a transaction is idempotent: 200 with the same number...
    let same = json!({"transaction_no": "OLD", "service_item_code": "I1", "window_code": "W1", "channel": "window_device", "applicant_name": "张三丰",
        "applicant_phone": "13812345678", "accepted_at": "2026-10-15T09:00:00+08:00", "completed_at": "2026-11-20T10:00:00+08:00"});
    let r = app.post("/api/v1/transactions", Some(&d.key), &same).await;
    assert_eq!(r.0, 200, "{}", r.1);
    // ... and other data under a used number is a 409 naming what differs (issue 17 item 7).
    let mut other = same.clone();
    other["channel"] = json!("pc");
    other["completed_at"] = json!("2026-11-21T10:00:00+08:00");
    let (status, refused) = app.post("/api/v1/transactions", Some(&d.key), &other).await;
    assert_eq!((status, error_code(&refused)), (409, "transaction_differs".to_owned()), "{refused}");
    assert_eq!(refused["error"]["fields"], json!(["channel", "completed_at"]), "{refused}");
    assert_eq!(app.count("transactions"), 2);
}

async fn admin_calls_need_the_admin_role(app: TestApp) {
    let d = app.seed().await;
    let body = json!({"code": "D9", "name": "x"});
    for token in [&d.supervisor, &d.clerk1, &d.key] {
        let r = app.post("/api/v1/departments", Some(token), &body).await;
        assert_eq!(r.0, 403, "{}", r.1);
        assert_eq!(error_code(&r.1), "forbidden");
    }
    assert_eq!(app.post("/api/v1/departments", None, &body).await.0, 401);
    assert_eq!(app.post("/api/v1/departments", Some("hcpt_not-a-token"), &body).await.0, 401);
    // Logging out ends the token, whatever the case of the scheme.
    let token = app.login("sup").await;
    let out = app.client.post(app.url("/api/v1/auth/logout")).header("Authorization", format!("bearer  {token} ")).send().await.expect("logout");
    assert_eq!(out.status().as_u16(), 204);
    assert_eq!(app.get("/api/v1/cases", Some(&token)).await.0, 401);
    // Duplicate codes are conflicts, unknown references are invalid.
    let r = app.post("/api/v1/departments", Some(&d.admin), &json!({"code": "D1", "name": "again"})).await;
    assert_eq!((r.0, error_code(&r.1)), (409, "duplicate".to_owned()));
    let r = app.post("/api/v1/service-items", Some(&d.admin), &json!({"code": "I9", "name": "x", "department_code": "NOPE"})).await;
    assert_eq!(r.0, 422, "{}", r.1);
    assert_eq!(r.1["error"]["field"], "department_code");
    let r = app.post("/api/v1/users", Some(&d.admin), &json!({"username": "c3", "password": "kite-meadow-93", "role": "department"})).await;
    assert_eq!(r.0, 422, "a department user needs its department: {}", r.1);
    // Every admin change is in the audit chain, and the chain verifies.
    let (status, report) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events_checked"].as_i64().unwrap_or(0) >= 10);
    assert_eq!(app.get("/api/v1/audit/verify", Some(&d.clerk1)).await.0, 403);
}

async fn concurrent_repeats_store_one_review_and_one_complaint(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "RACE", "I1", json!({})).await;
    let review = json!({"transaction_no": "RACE", "stars": 1, "channel": "kiosk", "comment": "同时提交"});
    let complaint = json!({"source": "hotline_12345", "external_no": "RACE-1", "content": "重复推送", "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D1"});
    // Repeats of one transaction push are idempotent even when they race.
    let push = json!({"transaction_no": "RACE-TX", "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"});
    let pushes = join_all((0..6).map(|_| app.post("/api/v1/transactions", Some(&d.key), &push))).await;
    assert_eq!(pushes.iter().filter(|r| r.0 == 201).count(), 1, "{pushes:?}");
    assert!(pushes.iter().all(|r| r.0 == 201 || r.0 == 200), "{pushes:?}");
    assert_eq!(app.count("transactions WHERE transaction_no = 'RACE-TX'"), 1);
    let reviews = (0..8).map(|_| app.post("/api/v1/reviews", Some(&d.key), &review));
    let complaints = (0..8).map(|_| app.post("/api/v1/complaints", Some(&d.key), &complaint));
    // All requests are started before any is awaited, so they overlap on the server.
    let (review_answers, complaint_answers) = tokio::join!(join_all(reviews), join_all(complaints));
    let created = review_answers.iter().filter(|r| r.0 == 201).count();
    let conflicts = review_answers.iter().filter(|r| r.0 == 409).count();
    assert_eq!((created, conflicts), (1, 7), "{review_answers:?}");
    let case_ids: std::collections::BTreeSet<String> = complaint_answers.iter().map(|r| r.1["case_id"].to_string()).collect();
    assert_eq!(case_ids.len(), 1, "{complaint_answers:?}");
    assert_eq!(complaint_answers.iter().filter(|r| r.0 == 201).count(), 1, "{complaint_answers:?}");
    assert!(complaint_answers.iter().all(|r| r.0 == 201 || r.0 == 200), "{complaint_answers:?}");
    assert_eq!(app.count("reviews"), 1);
    assert_eq!(app.count("complaints"), 1);
    assert_eq!(app.count("cases"), 2);
}


/// Reviews arriving together are stored in shared transactions by the review writers: each
/// still gets its own answer (201, 409 naming the winner, 422), and nothing else is stored.
async fn a_burst_of_reviews_gets_one_answer_each(app: TestApp) {
    let d = app.seed().await;
    for i in 0..30 {
        app.transaction(&d, &format!("BURST-{i}"), "I1", json!({})).await;
    }
    let mut bodies = Vec::new();
    for i in 0..20 {
        // Good reviews, each transaction twice.
        for _ in 0..2 {
            bodies.push(json!({"transaction_no": format!("BURST-{i}"), "stars": 5, "channel": "kiosk"}));
        }
    }
    for i in 20..28 {
        bodies.push(json!({"transaction_no": format!("BURST-{i}"), "stars": 1, "channel": "kiosk", "comment": "等了很久"}));
    }
    // One transaction rated good and bad at once: one of them wins.
    bodies.push(json!({"transaction_no": "BURST-28", "stars": 4, "channel": "kiosk"}));
    bodies.push(json!({"transaction_no": "BURST-28", "stars": 2, "channel": "kiosk", "comment": "态度差"}));
    for i in 0..5 {
        bodies.push(json!({"transaction_no": format!("NO-SUCH-{i}"), "stars": 5, "channel": "kiosk"}));
    }
    let answers = join_all(bodies.iter().map(|b| app.post("/api/v1/reviews", Some(&d.key), b))).await;
    let with = |status: u16| answers.iter().filter(|r| r.0 == status).count();
    assert_eq!((with(201), with(409), with(422)), (20 + 8 + 1, 20 + 1, 5), "{answers:?}");
    assert_eq!(app.count("reviews"), 29);
    let bad_created = answers.iter().filter(|r| r.0 == 201 && r.1["is_bad"] == true).count();
    assert_eq!(app.count("cases"), bad_created as i64);
    assert!(answers.iter().filter(|r| r.0 == 201 && r.1["is_bad"] == true).all(|r| r.1["case_id"].is_i64()), "{answers:?}");
    for (body, answer) in bodies.iter().zip(&answers) {
        if answer.0 == 409 {
            let winner = answers.iter().zip(&bodies).find(|(a, b)| a.0 == 201 && b["transaction_no"] == body["transaction_no"]);
            let (winner, _) = winner.expect("the review that won");
            assert_eq!(answer.1["error"]["review_id"], winner.1["id"], "{answer:?}");
        }
    }
    let (_, audit) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(app.count("audit_events WHERE action = 'open'"), bad_created as i64, "one open event per case");
}

/// The batch itself, called directly so that a batch is certain: a repeat inside it, a
/// transaction rated before, an unknown transaction.
async fn a_batch_of_reviews_decides_each_on_its_own(app: TestApp) {
    use haochaping::domain::intake_rules::{Channel, ReviewContent};
    use haochaping::intake::{record_reviews_together, BatchOutcome, BatchReview, ReviewCommand};
    let d = app.seed().await;
    for no in ["B-1", "B-2", "B-3", "B-4", "B-5"] {
        app.transaction(&d, no, "I1", json!({})).await;
    }
    let first = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "B-3", "stars": 5, "channel": "kiosk"})).await;
    assert_eq!(first.0, 201);
    let review = |no: &str, stars: i64| ReviewCommand {
        transaction_no: no.to_owned(),
        content: ReviewContent::parse(stars, vec![], Some("很方便".into())).expect("content"),
        channel: Channel::parse("kiosk").expect("channel"),
        anonymous: false,
        is_public: true,
        rated_at: haochaping::clock::now(),
        tag_set_version: Some(1),
        moderation: haochaping::domain::exchange::AuditStatus::NotNeeded,
        origin: Default::default(),
    };
    let cmds = [review("B-1", 5), review("B-2", 4), review("B-1", 3), review("B-3", 5), review("NOPE", 5), review("B-4", 1), review("B-5", 2)];
    let mut conn = app.state.conn().expect("connection");
    let rules = app.state.rules.reload(&mut conn).expect("rules");
    let batch: Vec<BatchReview<'_>> = cmds
        .iter()
        .map(|cmd| BatchReview { cmd, now: haochaping::clock::now(), opens_case: cmd.content.stars.is_bad().then_some(("integration:test", &*rules)) })
        .collect();
    let (outcomes, opened) = record_reviews_together(&mut conn, &batch).expect("batch");
    haochaping::storage::audit::append_all(&mut conn, &opened).expect("audit");
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            BatchOutcome::Decided(Ok(r)) => format!("stored bad={} case={}", r.is_bad, r.case_id.is_some()),
            BatchOutcome::Decided(Err(e)) => e.code().to_owned(),
            BatchOutcome::Alone => "alone".to_owned(),
        })
        .collect();
    let good = "stored bad=false case=false";
    let bad = "stored bad=true case=true";
    assert_eq!(summary, [good, good, "alone", "alone", "invalid", bad, bad]);
    assert_eq!(app.count("reviews"), 5);
    assert_eq!(app.count("reviews WHERE comment = '很方便'"), 4);
    // Each bad review opened its own case, told its department and logged the opening.
    let case_of = |r: &BatchOutcome| match r {
        BatchOutcome::Decided(Ok(r)) => (r.id, r.case_id.expect("case")),
        _ => unreachable!(),
    };
    for (review_id, case_id) in [case_of(&outcomes[5]), case_of(&outcomes[6])] {
        assert_eq!(app.count(&format!("cases WHERE id = {case_id} AND review_id = {review_id} AND state = 'feedback' AND department_id IS NOT NULL")), 1);
        assert_eq!(app.count(&format!("outbox WHERE kind = 'new_case' AND case_id = {case_id} AND recipients LIKE '%d1@example.test%'")), 1);
        assert_eq!(app.count(&format!("audit_events WHERE case_id = {case_id} AND action = 'open'")), 1);
    }
    let (status, verdict) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!((status, verdict["ok"].clone()), (200, json!(true)), "{verdict}");
}

/// Issue 16 item 7: 默认评价. Off until an admin turns it on; then each scan rates what stayed
/// unrated `default_after_days` after completion — once, never as a case, counted apart — and a
/// later rating of it is a 409 (一事一评).
async fn default_ratings_follow_the_policy_once(app: TestApp) {
    let d = app.seed().await;
    let (status, policy) = app.get("/api/v1/rating-policy", Some(&d.supervisor)).await;
    assert_eq!((status, policy.clone()), (200, json!({"enabled": false, "default_after_days": 15, "default_stars": 5})), "{policy}");
    app.transaction(&d, "T-OLD", "I1", json!({"completed_at": "2026-11-01T10:00:00+08:00"})).await;
    app.transaction(&d, "T-RATED", "I1", json!({"completed_at": "2026-11-01T11:00:00+08:00"})).await;
    assert_eq!(app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T-RATED", "stars": 4, "channel": "kiosk", "rated_at": "2026-11-02T09:00:00+08:00"})).await.0, 201);
    let recent = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    app.transaction(&d, "T-RECENT", "I1", json!({"completed_at": recent})).await;
    let scan = || {
        let out = app.cli(&["scan"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan prints JSON");
        report["default_ratings"].as_u64().expect("default_ratings")
    };
    assert_eq!(scan(), 0, "off by default");
    assert_eq!(app.count("reviews"), 1);

    // Only admins set it, within bounds: a default is never a bad review.
    let on = json!({"enabled": true, "default_after_days": 15, "default_stars": 5});
    assert_eq!(app.put("/api/v1/rating-policy", &d.supervisor, &on).await.0, 403);
    let (status, refused) = app.put("/api/v1/rating-policy", &d.admin, &json!({"enabled": true, "default_after_days": 15, "default_stars": 1})).await;
    assert_eq!((status, refused["error"]["field"].clone()), (422, json!("default_stars")), "{refused}");
    let (status, stored) = app.put("/api/v1/rating-policy", &d.admin, &on).await;
    assert_eq!((status, stored), (200, on.clone()));
    assert_eq!(app.get("/api/v1/rating-policy", Some(&d.admin)).await.1, on);
    assert_eq!(app.count("audit_events WHERE action = 'put_rating_policy'"), 1);

    // T-OLD only: T-RATED has its rating, T-RECENT is not due yet. Once.
    assert_eq!(scan(), 1);
    assert_eq!(scan(), 0, "once");
    assert_eq!(app.count("reviews WHERE channel = 'default' AND stars = 5"), 1);
    assert_eq!(app.count("cases"), 0, "a default rating never opens a case");
    // 一事一评: the default is the transaction's rating.
    let (status, again) = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "T-OLD", "stars": 1, "channel": "kiosk", "comment": "迟到的差评"})).await;
    assert_eq!(status, 409, "{again}");
    // Given when it fell due (15 days after completion), and kept apart in the figures.
    let (_, stats) = app.get("/api/v1/stats?from=2026-11-01&to=2026-11-30", Some(&d.supervisor)).await;
    assert_eq!((stats["total"]["ratings"].clone(), stats["total"]["active_ratings"].clone(), stats["total"]["default_ratings"].clone()), (json!(2), json!(1), json!(1)), "{stats}");

    // A transaction of long ago pushed after the last pass (an import) is found too.
    app.transaction(&d, "T-LATE", "I1", json!({"completed_at": "2026-10-01T10:00:00+08:00"})).await;
    assert_eq!(scan(), 1);
    assert_eq!(app.count("reviews WHERE channel = 'default'"), 2);
}

/// Issue 16 item 4: 评价标签 versioned per grade band. A review's tags must be in its band's set
/// in force; it keeps the version it was rated under; the rating page offers the current set;
/// `group_by=tag` counts reviews per tag (差评分项统计), per department when asked.
async fn tag_sets_are_versioned_and_reviews_keep_theirs(app: TestApp) {
    let d = app.seed().await;
    let (status, sets) = app.get("/api/v1/tag-sets", Some(&d.key)).await;
    assert_eq!(status, 200, "{sets}");
    let bands: Vec<(String, i64)> = sets.as_array().expect("sets").iter().map(|s| (s["band"].as_str().unwrap_or("").to_owned(), s["version"].as_i64().unwrap_or(0))).collect();
    assert_eq!(bands, vec![("bad".to_owned(), 1), ("basic".to_owned(), 1), ("good".to_owned(), 1)], "seeded: {sets}");
    assert!(sets[0]["tags"].as_array().expect("tags").contains(&json!("等待时间长")), "{sets}");

    let review = |no: &str, stars: i64, tags: Value| json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "tags": tags, "comment": "说明"});
    for no in ["T0", "T1", "T2", "T3"] {
        app.transaction(&d, no, "I1", json!({})).await;
    }
    // A tag of another band, or of none, names itself.
    let (status, refused) = app.post("/api/v1/reviews", Some(&d.key), &review("T1", 1, json!(["热情周到"]))).await;
    assert_eq!((status, refused["error"]["field"].clone()), (422, json!("tags")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or("").contains("热情周到"), "{refused}");
    assert_eq!(app.post("/api/v1/reviews", Some(&d.key), &review("T0", 1, json!(["等待时间长"]))).await.0, 201, "version 1");

    // A new version of the bad set: admin only, a known band, at least one tag.
    let v2 = json!({"tags": ["排队太久", " 态度不好 ", "排队太久"]});
    assert_eq!(app.put("/api/v1/tag-sets/bad", &d.supervisor, &v2).await.0, 403);
    assert_eq!(app.put("/api/v1/tag-sets/awful", &d.admin, &v2).await.0, 404);
    assert_eq!(app.put("/api/v1/tag-sets/bad", &d.admin, &json!({"tags": [" "]})).await.0, 422);
    let (status, stored) = app.put("/api/v1/tag-sets/bad", &d.admin, &v2).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!((stored["version"].clone(), stored["tags"].clone()), (json!(2), json!(["排队太久", "态度不好"])), "cleaned: {stored}");
    assert_eq!(app.count("audit_events WHERE action = 'put_tag_set'"), 1);

    // From now on version 2 holds: its tags pass, version 1's withdrawn tag does not.
    assert_eq!(app.post("/api/v1/reviews", Some(&d.key), &review("T1", 2, json!(["排队太久", "态度不好"]))).await.0, 201);
    let (status, refused) = app.post("/api/v1/reviews", Some(&d.key), &review("T2", 1, json!(["等待时间长"]))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or("").contains("version 2"), "{refused}");
    assert_eq!(app.post("/api/v1/reviews", Some(&d.key), &review("T3", 5, json!(["热情周到"]))).await.0, 201, "the good set is untouched");
    // Each review keeps the version it was rated under.
    assert_eq!(app.count("reviews WHERE stars <= 2 AND tag_set_version = 1"), 1);
    assert_eq!(app.count("reviews WHERE stars <= 2 AND tag_set_version = 2"), 1);
    let (_, history) = app.get("/api/v1/tag-sets?history=true", Some(&d.admin)).await;
    let bad_versions: Vec<(i64, bool)> = history.as_array().expect("history").iter().filter(|s| s["band"] == "bad").map(|s| (s["version"].as_i64().unwrap_or(0), s["current"].as_bool().unwrap_or(false))).collect();
    assert_eq!(bad_versions, vec![(1, false), (2, true)]);

    // The rating page offers the band's current tags.
    let link = app.transaction(&d, "T4", "I1", json!({})).await["rating_url"].as_str().expect("link").to_owned();
    let page = app.client.get(&link).send().await.expect("page").text().await.expect("html");
    assert!(page.contains("排队太久") && !page.contains("等待时间长") && page.contains("热情周到"), "{page}");

    // 差评分项统计: reviews per tag; the total counts a two-tag review once.
    let (status, stats) = app.get("/api/v1/stats?group_by=tag", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{stats}");
    let per_tag: Vec<(String, i64)> = stats["groups"].as_array().expect("groups").iter().map(|g| (g["key"].as_str().unwrap_or("").to_owned(), g["ratings"].as_i64().unwrap_or(0))).collect();
    assert_eq!(per_tag.len(), 4, "{stats}");
    for tag in ["排队太久", "态度不好", "等待时间长", "热情周到"] {
        assert!(per_tag.contains(&(tag.to_owned(), 1)), "{tag}: {per_tag:?}");
    }
    assert_eq!(stats["total"]["ratings"], 3, "{stats}");
    assert_eq!(stats["total"]["stars"], json!([1, 1, 0, 0, 1]), "{stats}");
    // Per department: D2 had none; another department's clerk may not look.
    let (_, d2) = app.get("/api/v1/stats?group_by=tag&department_code=D2", Some(&d.supervisor)).await;
    assert_eq!((d2["groups"].as_array().map(Vec::len), d2["total"]["ratings"].clone()), (Some(0), json!(0)), "{d2}");
    assert_eq!(app.get("/api/v1/stats?group_by=tag&department_code=D1", Some(&d.clerk2)).await.0, 403);
    assert_eq!(app.get("/api/v1/stats?group_by=tag&department_code=D1", Some(&d.clerk1)).await.1["total"]["ratings"], 3);
}

on_both_backends!(transactions_arrive_in_batches_one_result_per_item);

/// Issue 18 item 1: `POST /api/v1/transactions/batch` — up to 1 000 办件, one result per item in
/// order, each idempotent like the single call; a refused item (unknown code, other data under
/// a used number, malformed, a time without offset) stores nothing of itself and keeps the rest.
async fn transactions_arrive_in_batches_one_result_per_item(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "B-0", "I1", json!({})).await;
    let item = |no: &str| json!({"transaction_no": no, "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"});
    let mut repeat = item("B-0");
    repeat["channel"] = json!("window_device");
    repeat["applicant_name"] = json!("张三丰");
    repeat["applicant_phone"] = json!("13812345678");
    let mut unknown = item("B-3");
    unknown["service_item_code"] = json!("NOPE");
    let mut no_offset = item("B-5");
    no_offset["completed_at"] = json!("2026-11-20T10:00:00");
    let mut differs = item("B-0");
    differs["service_item_code"] = json!("I2");
    // Window and staff both named (stored in bulk), or the window alone (三对应 names the staff).
    let mut both = item("B-6");
    both["window_code"] = json!("W1");
    both["staff_no"] = json!("S1");
    let mut window_only = item("B-7");
    window_only["window_code"] = json!("W1");
    let body = json!({"items": [item("B-1"), item("B-2"), repeat, unknown, {"transaction_no": "B-4"}, no_offset, differs, item("B-1"), both, window_only]});
    let (status, answer) = app.post("/api/v1/transactions/batch", Some(&d.key), &body).await;
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<i64> = answer["results"].as_array().expect("results").iter().map(|r| r["status"].as_i64().unwrap_or(0)).collect();
    assert_eq!(statuses, vec![201, 201, 200, 422, 400, 422, 409, 200, 201, 201], "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results[3]["error"]["field"], "service_item_code");
    assert_eq!(results[5]["error"]["field"], "completed_at");
    assert_eq!(results[6]["error"]["code"], "transaction_differs");
    assert_eq!((answer["created"].as_i64(), answer["repeated"].as_i64(), answer["refused"].as_i64()), (Some(4), Some(2), Some(4)));
    assert_eq!(app.count("transactions t JOIN windows w ON w.id = t.window_id JOIN staff s ON s.id = t.staff_id WHERE t.transaction_no = 'B-6' AND w.code = 'W1' AND s.staff_no = 'S1'"), 1);
    // Completed 20 Nov: S2 sat at W1 then.
    assert_eq!(app.count("transactions t JOIN staff s ON s.id = t.staff_id WHERE t.transaction_no = 'B-7' AND s.staff_no = 'S2'"), 1, "三对应 in a batch");
    for (i, no) in [(0, "B-1"), (1, "B-2"), (2, "B-0")] {
        assert_eq!(results[i]["transaction_no"], no);
        let token = results[i]["rating_token"].as_str().expect("token");
        assert_eq!(app.state.signer.verify(token, chrono::Utc::now()).as_deref(), Ok(no), "a working rating link");
    }
    assert_eq!(app.count("transactions WHERE transaction_no IN ('B-1', 'B-2')"), 2);
    assert_eq!(app.count("transactions WHERE transaction_no IN ('B-3', 'B-4', 'B-5')"), 0);
    // The same batch again: what was stored answers 200, the refusals are the same.
    let (_, again) = app.post("/api/v1/transactions/batch", Some(&d.key), &body).await;
    let statuses: Vec<i64> = again["results"].as_array().expect("results").iter().map(|r| r["status"].as_i64().unwrap_or(0)).collect();
    assert_eq!(statuses, vec![200, 200, 200, 422, 400, 422, 409, 200, 200, 200]);
    assert_eq!(app.count("transactions WHERE transaction_no LIKE 'B-%'"), 5);
    // Limits: at least one item, at most 1 000.
    let (status, refused) = app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": []})).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("items")));
    let many: Vec<serde_json::Value> = (0..1001).map(|n| item(&format!("M-{n}"))).collect();
    assert_eq!(app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": many})).await.0, 422);
    let thousand: Vec<serde_json::Value> = (0..1000).map(|n| item(&format!("M-{n}"))).collect();
    let (status, full) = app.post("/api/v1/transactions/batch", Some(&d.key), &json!({"items": thousand})).await;
    assert_eq!((status, full["created"].as_i64()), (200, Some(1000)), "1 000 in one call");
    assert_eq!(app.count("transactions WHERE transaction_no LIKE 'M-%'"), 1000);
}
