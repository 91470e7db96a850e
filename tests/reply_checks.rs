//! Reply checks (答复提示, issue 20 item 6) through HTTP, on both backends: a reply that is very
//! short, copies another case's reply, uses a banned phrase or misses the complaint's subject is
//! accepted all the same, answered with its warnings, shown on the case page and flagged on the
//! supervisor's audit queue (the board's 答复待审核 and `GET /api/v1/cases?state=supervision`);
//! the banned list is the admins' to edit.

mod common;

use common::{District, StaffSession, TestApp};
use serde_json::{json, Value};

const GOOD: &str = "您好，关于您反映的窗口排队两小时问题，我局已增开两个窗口并推行预约分时段办理，高峰期排队时间已缩短到二十分钟以内。";
const ALSO_GOOD: &str = "您好，针对窗口排队时间过长的问题，我局已调整窗口人员排班，并在高峰时段开放预约通道，排队等候已明显缩短。";
const BANNED: &str = "经核实，您反映的窗口排队时间较长的情况属实，但您这属于没事找事，我局窗口已按规定办理。";
const OFF_TOPIC: &str = "您好，经核实，工作人员服务态度生硬的问题已对相关人员批评教育，今后将加强服务礼仪培训，提升群众满意度。";

/// Takes a D1 case to 待回复.
async fn to_reply(app: &TestApp, d: &District, id: i64) {
    for (action, note) in [("verify", Some("已电话联系评价人，情况属实")), ("rectify", Some("增开窗口，推行预约"))] {
        let r = app.act(&d.clerk1, id, action, note).await;
        assert_eq!(r.0, 200, "{action}: {}", r.1);
    }
}

/// A D1 12345 work order about 公积金, as far from a window queue as can be; its case id.
async fn housing_fund_case(app: &TestApp, d: &District) -> i64 {
    let r = app
        .post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-1", "title": "公积金提取迟迟不到账",
            "content": "我三月份申请住房公积金提取，材料齐全，至今两个月仍未到账，打电话咨询也没人接听。",
            "received_at": "2026-11-23T09:00:00+08:00", "department_code": "D1"}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    r.1["case_id"].as_i64().expect("case id")
}

fn codes(warnings: &Value) -> Vec<String> {
    warnings.as_array().unwrap_or_else(|| panic!("not a list: {warnings}")).iter().map(|w| {
        assert!(w["message"].as_str().is_some_and(|m| !m.is_empty()), "warning without message: {w}");
        w["code"].as_str().expect("code").to_owned()
    }).collect()
}

/// Replies through the API; the reply is always accepted (200, 待审核) and the answer carries
/// the warnings. Returns their codes.
async fn reply(app: &TestApp, d: &District, id: i64, text: &str) -> Vec<String> {
    let (status, body) = app.act(&d.clerk1, id, "reply", Some(text)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "supervision", "{body}");
    assert_eq!(body["reply"], text);
    assert_eq!(body["warnings"], body["reply_warnings"], "{body}");
    codes(&body["warnings"])
}

/// The codes the audit queue (`GET /api/v1/cases?state=supervision`) shows for each case.
async fn queue(app: &TestApp, d: &District) -> Vec<(i64, Vec<String>)> {
    let (status, body) = app.get("/api/v1/cases?state=supervision&sort=id&dir=asc", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").iter().map(|c| (c["id"].as_i64().expect("id"), codes(&c["reply_warnings"]))).collect()
}

on_both_backends!(each_warning_is_given_and_the_reply_accepted, banned_list_is_the_admins_and_takes_effect);

async fn each_warning_is_given_and_the_reply_accepted(app: TestApp) {
    let d = app.seed().await;
    let good = app.bad_case(&d, "T1").await;
    let short = app.bad_case(&d, "T2").await;
    let copied = app.bad_case(&d, "T3").await;
    let banned = app.bad_case(&d, "T4").await;
    let off_topic = housing_fund_case(&app, &d).await;
    let on_page = app.bad_case(&d, "T5").await;
    for id in [good, short, copied, banned, off_topic, on_page] {
        to_reply(&app, &d, id).await;
    }

    assert_eq!(reply(&app, &d, good, GOOD).await, Vec::<String>::new());
    assert_eq!(reply(&app, &d, short, "已处理。").await, ["too_short"]);
    assert_eq!(reply(&app, &d, copied, GOOD).await, ["copied"]);
    assert_eq!(reply(&app, &d, banned, BANNED).await, ["banned_phrase"]);
    assert_eq!(reply(&app, &d, off_topic, OFF_TOPIC).await, ["off_topic"]);
    let (_, case) = app.get(&format!("/api/v1/cases/{banned}"), Some(&d.supervisor)).await;
    let message = case["reply_warnings"][0]["message"].as_str().expect("message");
    assert!(message.contains("没事找事"), "{message}");

    // The page: a reply submitted on the case page is accepted (back to the case) and the
    // page shows its warnings, to the department and to the supervisor.
    let clerk = StaffSession::sign_in(&app, "clerk1").await;
    let path = format!("/cases/{on_page}");
    let csrf = clerk.csrf(&path).await;
    let rude = "请勿瞎投诉，窗口排队属于正常现象，高峰期请错峰前来。";
    let (status, location, _) = clerk.post(&format!("{path}/act"), &[("csrf", &csrf), ("action", "reply"), ("note", rude)]).await;
    assert_eq!((status, location.as_deref()), (303, Some(path.as_str())));
    let (status, page) = clerk.get(&path).await;
    assert_eq!(status, 200);
    assert!(page.contains("答复提示") && page.contains("data-code=\"banned_phrase\"") && page.contains("“瞎投诉”"), "{page}");
    assert!(page.contains("答复已受理"), "{page}");
    let sup = StaffSession::sign_in(&app, "sup").await;
    let (_, page) = sup.get(&format!("/cases/{short}")).await;
    assert!(page.contains("data-code=\"too_short\"") && page.contains("答复过短"), "{page}");
    let (_, page) = sup.get(&format!("/cases/{good}")).await;
    assert!(!page.contains("答复提示"), "a good reply has no warnings on its page");

    // The audit queue: every reply is there; those given despite a warning carry it.
    let expected: Vec<(i64, Vec<String>)> = vec![
        (good, vec![]),
        (short, vec!["too_short".into()]),
        (copied, vec!["copied".into()]),
        (banned, vec!["banned_phrase".into()]),
        (off_topic, vec!["off_topic".into()]),
        (on_page, vec!["banned_phrase".into()]),
    ];
    assert_eq!(queue(&app, &d).await, expected);
    let (status, board) = sup.get("/board").await;
    assert_eq!(status, 200);
    let section = board.split("id=\"supervision\"").nth(1).expect("答复待审核 section").split("</section>").next().unwrap_or_default().to_owned();
    assert_eq!(section.matches("答复有提示").count(), 5, "{section}");
    for text in ["答复过短", "逐字相同", "“没事找事”", "几乎没有共同之处", "“瞎投诉”"] {
        assert!(section.contains(text), "{text} not on the board: {section}");
    }

    // Sent back (to 整改), rectified and answered properly, the flag goes; the supervisor approves either way.
    assert_eq!(app.act(&d.supervisor, short, "send_back", Some("请说明整改措施")).await.0, 200);
    assert_eq!(app.act(&d.clerk1, short, "rectify", Some("调整排班，开放预约")).await.0, 200);
    assert_eq!(reply(&app, &d, short, ALSO_GOOD).await, Vec::<String>::new());
    let (_, case) = app.get(&format!("/api/v1/cases/{short}"), Some(&d.clerk1)).await;
    assert_eq!(case["reply_warnings"], json!([]));
    assert_eq!(queue(&app, &d).await.iter().filter(|(_, w)| !w.is_empty()).count(), 4);
    let (_, board) = sup.get("/board").await;
    assert_eq!(board.matches("答复有提示").count(), 4);
    let (status, body) = app.act(&d.supervisor, banned, "approve", None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("closed")), "{body}");
    assert_eq!(body["warnings"], json!([]), "only a reply is checked");
    // The warnings are on the audit chain with the reply.
    let trail: Vec<(String, Option<String>)> = {
        use diesel::prelude::*;
        use haochaping::storage::schema::audit_events;
        let mut conn = app.conn();
        haochaping::db_run!(&mut conn, |c| audit_events::table
            .filter(audit_events::case_id.eq(copied))
            .filter(audit_events::action.eq("reply"))
            .select((audit_events::action, audit_events::detail))
            .load(c))
        .expect("audit")
    };
    assert_eq!(trail, vec![("reply".to_owned(), Some(json!({"warnings": ["copied"]}).to_string()))]);
}

async fn banned_list_is_the_admins_and_takes_effect(app: TestApp) {
    let d = app.seed().await;
    let path = "/api/v1/replies/banned-phrases";
    let (status, body) = app.get(path, Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{body}");
    let seeded: Vec<&str> = body["phrases"].as_array().expect("phrases").iter().filter_map(Value::as_str).collect();
    for phrase in ["没事找事", "瞎投诉", "无理取闹", "不归我们管"] {
        assert!(seeded.contains(&phrase), "{phrase} not seeded: {seeded:?}");
    }
    assert_eq!(app.get(path, Some(&d.clerk1)).await.0, 403);
    for token in [&d.supervisor, &d.clerk1] {
        assert_eq!(app.put(path, token, &json!({"phrases": []})).await.0, 403);
    }
    let (status, body) = app.put(path, &d.admin, &json!({"phrases": ["敷衍了事", " 敷衍了事 ", "", "爱理不理"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phrases"], json!(["敷衍了事", "爱理不理"]));
    assert_eq!(app.get(path, Some(&d.admin)).await.1["phrases"], json!(["敷衍了事", "爱理不理"]));
    let (status, body) = app.put(path, &d.admin, &json!({"phrases": ["长".repeat(51)]})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(common::error_code(&body), "invalid", "{body}");

    // The new list is what counts: the seeded phrase no longer warns, the new one does.
    let (old, new) = (app.bad_case(&d, "T1").await, app.bad_case(&d, "T2").await);
    to_reply(&app, &d, old).await;
    to_reply(&app, &d, new).await;
    assert_eq!(reply(&app, &d, old, BANNED).await, Vec::<String>::new());
    let codes = reply(&app, &d, new, "经核实，窗口排队时间较长属实，前期处理有些敷衍了事，现已增开窗口，推行预约分时段。").await;
    assert_eq!(codes, ["banned_phrase"]);
}
