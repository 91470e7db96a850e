//! Issue 19 item 8: moderation before 双公开. A public comment reaches `/public`, the public API and
//! Open311 only through the filter: phone, ID-card and door numbers a citizen typed are masked,
//! and a comment with a listed phrase waits for a supervisor, who publishes it or keeps it private
//! (audited); the review keeps its 审核状态 (1 无需审核, 2 已审核, 3 未审核) in the provincial feed.

mod common;

use common::{error_code, TestApp};
use serde_json::{json, Value};

on_both_backends!(held_and_masked_comments);

async fn review(app: &TestApp, key: &str, no: &str, stars: i64, comment: &str, public: bool) -> Value {
    let r = app.post("/api/v1/reviews", Some(key), &json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "comment": comment, "public": public})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    r.1
}

/// The public API's comments, newest first.
async fn public_comments(app: &TestApp) -> Vec<String> {
    let (status, page) = app.get("/api/v1/public/reviews?per_page=100", None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().expect("items").iter().filter_map(|r| r["comment"].as_str().map(str::to_owned)).collect()
}

/// 审核状态 and 是否公开 of each record in the provincial feed, by 办件 number.
async fn audit_status(app: &TestApp, token: &str, no: &str) -> (i64, Value) {
    // The feed serves a record once it has settled for two seconds: age them all.
    app.execute("UPDATE reviews SET created_at = '2000-01-01 00:00:00'");
    app.execute("UPDATE exchange_changes SET at = '2000-01-01 00:00:00'");
    let (status, feed) = app.get("/api/v1/exchange/evaluations?limit=1000", Some(token)).await;
    assert_eq!(status, 200, "{feed}");
    let items = feed["items"].as_array().expect("items");
    // A record sent again after a change comes later in the feed: the last one is current.
    let record = items.iter().rev().find(|r| r["projectNo"] == no).unwrap_or_else(|| panic!("{no} in the feed: {feed}"));
    (record["auditStatus"].as_i64().expect("auditStatus"), record["isPublic"].clone())
}

async fn held_and_masked_comments(app: TestApp) {
    let d = app.seed().await;
    for no in ["M1", "M2", "M3", "M4", "M5", "M6"] {
        app.transaction(&d, no, "I1", json!({})).await;
    }

    // Personal numbers typed into a public comment are masked wherever the public reads it.
    let typed = "窗口态度差，我电话13912345678，身份证310101199001011234，住长宁路123号5号楼501室";
    let bad = review(&app, &d.key, "M1", 1, typed, true).await;
    let comments = public_comments(&app).await;
    let shown = comments.iter().find(|c| c.starts_with("窗口态度差")).expect("the comment is public");
    assert!(shown.contains("139****5678") && shown.contains("长宁路***号") && shown.contains("*号楼***室"), "{shown}");
    assert!(!shown.contains("13912345678") && !shown.contains("310101199001011234") && !shown.contains("123号"), "{shown}");
    let case_id = bad["case_id"].as_i64().expect("a bad review opens a case");
    let (_, request) = app.get(&format!("/open311/v2/requests/{case_id}.json"), None).await;
    let description = request[0]["description"].as_str().unwrap_or_default();
    assert!(description.contains("139****5678") && !description.contains("13912345678"), "Open311 too: {request}");
    let page = app.client.get(app.url("/public")).send().await.expect("public page").text().await.expect("text");
    assert!(page.contains("139****5678") && !page.contains("13912345678"), "the public page too");
    // The department handling the case still reads what the citizen wrote.
    let (_, case) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.clerk1)).await;
    assert!(case.to_string().contains("13912345678"), "{case}");
    assert_eq!(audit_status(&app, &d.supervisor, "M1").await.0, 1, "无需审核");

    // A listed phrase holds the comment: nowhere public, listed for supervisors, 未审核.
    review(&app, &d.key, "M2", 1, "这个窗口的人就是骗子，电话13712345678", true).await;
    review(&app, &d.key, "M3", 2, "骗子一样的服务", true).await;
    review(&app, &d.key, "M4", 5, "骗子才说这里不好", false).await;
    assert!(public_comments(&app).await.iter().all(|c| !c.contains("骗子")), "held comments are not public");
    let (_, requests) = app.get("/open311/v2/requests.json", None).await;
    assert!(!requests.to_string().contains("骗子"), "nor in Open311: {requests}");
    let (status, held) = app.get("/api/v1/moderation/held", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{held}");
    let held = held.as_array().expect("held").clone();
    assert_eq!(held.len(), 2, "a private review needs no decision: {held:?}");
    assert_eq!(held[0]["phrase"], "骗子");
    assert!(held[0]["comment"].as_str().unwrap_or_default().contains("137****5678"), "masked for the supervisor too: {held:?}");
    assert_eq!(audit_status(&app, &d.supervisor, "M2").await.0, 3, "未审核");
    assert_eq!(audit_status(&app, &d.supervisor, "M4").await.0, 1, "a private comment needs no review");
    assert_eq!(app.get("/api/v1/moderation/held", Some(&d.clerk1)).await.0, 403);

    // Publish M2 through the API: public now (masked), 已审核, on the audit chain; once only.
    let (m2, m3) = (held[0]["review_id"].as_i64().expect("id"), held[1]["review_id"].as_i64().expect("id"));
    let path = format!("/api/v1/reviews/{m2}/moderation");
    assert_eq!(app.post(&path, Some(&d.clerk1), &json!({"decision": "publish"})).await.0, 403, "departments do not moderate");
    let r = app.post(&path, Some(&d.supervisor), &json!({"decision": "maybe"})).await;
    assert_eq!((r.0, r.1["error"]["field"].clone()), (422, json!("decision")), "{}", r.1);
    let r = app.post(&path, Some(&d.supervisor), &json!({"decision": "publish", "note": "属情绪表达，无人身攻击"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!((r.1["audit_status"].clone(), r.1["is_public"].clone()), (json!("已审核"), json!(true)));
    let r = app.post(&path, Some(&d.supervisor), &json!({"decision": "keep_private"})).await;
    assert_eq!((r.0, error_code(&r.1)), (409, "not_held".to_owned()), "decided once: {}", r.1);
    assert_eq!(app.post("/api/v1/reviews/999999/moderation", Some(&d.supervisor), &json!({"decision": "publish"})).await.0, 404);
    let comments = public_comments(&app).await;
    assert!(comments.iter().any(|c| c.contains("就是骗子") && c.contains("137****5678")), "{comments:?}");
    assert_eq!(audit_status(&app, &d.supervisor, "M2").await, (2, json!(1)), "已审核, 公开");
    assert_eq!(app.count("audit_events WHERE action = 'moderate_comment' AND note = '属情绪表达，无人身攻击'"), 1);

    // Keep M3 private from the board: the form posts with the session's CSRF token.
    let board = app.client.get(app.url("/board")).header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&d.supervisor))).send().await.expect("board");
    let board = board.text().await.expect("board text");
    assert!(board.contains("评论待审核（1）") && board.contains("骗子一样的服务"), "the board lists what waits");
    let no_redirects = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let form = [("csrf", app.state.cookies.csrf(&d.supervisor)), ("decision", "keep_private".to_owned()), ("note", "含侮辱性用语".to_owned())];
    let r = no_redirects
        .post(app.url(&format!("/board/reviews/{m3}/moderation")))
        .header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&d.supervisor)))
        .form(&form)
        .send()
        .await
        .expect("decide on the board");
    assert_eq!(r.status().as_u16(), 303);
    assert!(public_comments(&app).await.iter().all(|c| !c.contains("骗子一样")), "kept private");
    assert_eq!(audit_status(&app, &d.supervisor, "M3").await, (2, json!(2)), "已审核, 不公开");
    let (_, held) = app.get("/api/v1/moderation/held", Some(&d.supervisor)).await;
    assert_eq!(held, json!([]));
    let (_, chain) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(chain["ok"], true, "{chain}");

    // The list is the admin's: a new phrase holds, a dropped one no longer does.
    assert_eq!(app.put("/api/v1/moderation/phrases", &d.supervisor, &json!({"phrases": ["差劲"]})).await.0, 403);
    let r = app.put("/api/v1/moderation/phrases", &d.admin, &json!({"phrases": [" 差劲 ", "差劲", ""]})).await;
    assert_eq!((r.0, r.1.clone()), (200, json!({"phrases": ["差劲"]})));
    assert_eq!(app.get("/api/v1/moderation/phrases", Some(&d.supervisor)).await.1, json!({"phrases": ["差劲"]}));
    review(&app, &d.key, "M5", 1, "服务太差劲了", true).await;
    review(&app, &d.key, "M6", 1, "又是骗子", true).await;
    let (_, held) = app.get("/api/v1/moderation/held", Some(&d.supervisor)).await;
    let held: Vec<&str> = held.as_array().expect("held").iter().filter_map(|h| h["comment"].as_str()).collect();
    assert_eq!(held, ["服务太差劲了"]);
    let long = "长".repeat(51);
    let r = app.put("/api/v1/moderation/phrases", &d.admin, &json!({"phrases": [long]})).await;
    assert_eq!((r.0, r.1["error"]["field"].clone()), (422, json!("phrases")), "{}", r.1);
}
