//! Guards (issue 19 item 10): behaviour users rely on that no other test pinned down exactly —
//! a supervisor's 退回 (`send_back`) and 不同意延期 (`deny_extension`), the `alert` and
//! `source` filters of the case list, statistics by service item and by staff, the order of
//! the board's overdue cases, and the 7-day limit of 追评. Each through HTTP on both backends,
//! asserting the exact states, deadlines, ids, counts and order.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use common::{error_code, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    send_back_returns_the_reply_for_rework_and_the_department_answers_again,
    send_back_is_the_supervisors_and_only_for_a_reply_under_audit,
    deny_extension_keeps_the_deadline_that_grant_extension_would_move,
    alert_and_source_filters_list_exactly_the_matching_cases,
    a_case_due_on_a_rest_day_is_listed_under_due_soon_as_its_badge_says,
    stats_by_service_item_and_by_staff_count_each_group_exactly,
    a_complaint_about_a_transaction_counts_under_that_transactions_service_item,
    board_lists_overdue_cases_most_late_first,
    addendum_is_accepted_once_within_seven_days_of_the_rating,
);

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn actions(case: &Value) -> Vec<String> {
    strings(&case["allowed_actions"])
}

fn timeline(case: &Value) -> Vec<(String, String)> {
    case["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["to"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn case(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, body) = app.get(&format!("/api/v1/cases/{id}"), Some(token)).await;
    assert_eq!(status, 200, "case {id}: {body}");
    body
}

/// Moves a D1 case from `feedback` to `supervision` (verify, rectify, reply).
async fn answer(app: &TestApp, d: &common::District, id: i64, reply: &str) {
    for (action, note) in [("verify", None), ("rectify", Some("增开窗口，推行预约")), ("reply", Some(reply))] {
        let (status, body) = app.act(&d.clerk1, id, action, note).await;
        assert_eq!(status, 200, "{action}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. send_back

async fn send_back_returns_the_reply_for_rework_and_the_department_answers_again(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let opened = case(&app, &d.supervisor, id).await;
    let reply_due = opened["deadlines"]["reply"].clone();
    assert!(reply_due.is_string(), "{opened}");
    answer(&app, &d, id, "已整改（第一稿）").await;
    let under_audit = case(&app, &d.supervisor, id).await;
    assert_eq!(under_audit["state"], "supervision");
    assert!(under_audit["deadlines"]["supervision"].is_string(), "{under_audit}");
    assert_eq!(actions(&under_audit), vec!["approve", "send_back", "reassign"]);

    let (status, sent_back) = app.act(&d.supervisor, id, "send_back", Some("答复未说明整改时限，请补充")).await;
    assert_eq!(status, 200, "{sent_back}");
    assert_eq!((sent_back["state"].as_str(), sent_back["state_label"].as_str()), (Some("rectification"), Some("整改中")));
    // The rejected answer is not a reply: no reply time, no supervision clock, and the original
    // reply deadline stands (a rejected answer earns no extra time).
    assert!(sent_back["replied_at"].is_null(), "{sent_back}");
    assert!(sent_back["deadlines"]["supervision"].is_null(), "{sent_back}");
    assert_eq!(sent_back["deadlines"]["reply"], reply_due);
    assert_eq!(sent_back["extension"], "none");
    assert!(sent_back["closed_at"].is_null());
    let last = sent_back["timeline"].as_array().and_then(|t| t.last().cloned()).expect("timeline");
    assert_eq!(
        (last["action"].as_str(), last["from"].as_str(), last["to"].as_str(), last["note"].as_str()),
        (Some("send_back"), Some("supervision"), Some("rectification"), Some("答复未说明整改时限，请补充"))
    );
    // The case is the department's again, running against the reply deadline.
    let dept_view = case(&app, &d.clerk1, id).await;
    assert_eq!(actions(&dept_view), vec!["rectify", "request_extension"]);
    let (_, listed) = app.get("/api/v1/cases?state=rectification", Some(&d.clerk1)).await;
    let item = listed["items"].as_array().and_then(|i| i.iter().find(|c| c["id"] == id).cloned()).expect("listed in rectification");
    assert_eq!(item["due_at"], reply_due, "the running stage is the reply, due as before");
    assert_eq!(app.act(&d.supervisor, id, "approve", None).await.0, 409, "nothing to approve any more");
    // The citizen heard nothing of the rejected answer.
    assert_eq!(app.count("outbox WHERE kind = 'reply_to_citizen'"), 0);

    // The department answers again; this answer is the one approved and sent.
    let (status, body) = app.act(&d.clerk1, id, "rectify", Some("补充：本月底前完成窗口扩容")).await;
    assert_eq!((status, body["state"].clone()), (200, json!("reply")), "{body}");
    let (status, body) = app.act(&d.clerk1, id, "reply", Some("已整改（第二稿），月底前完成扩容")).await;
    assert_eq!((status, body["state"].clone()), (200, json!("supervision")), "{body}");
    assert!(body["replied_at"].is_string() && body["deadlines"]["supervision"].is_string(), "{body}");
    assert_eq!(body["deadlines"]["reply"], reply_due);
    let (status, closed) = app.act(&d.supervisor, id, "approve", None).await;
    assert_eq!((status, closed["state"].clone()), (200, json!("closed")), "{closed}");
    assert_eq!(closed["reply"], "已整改（第二稿），月底前完成扩容");
    assert_eq!(
        timeline(&closed),
        pairs(&[
            ("open", "feedback"),
            ("verify", "rectification"),
            ("rectify", "reply"),
            ("reply", "supervision"),
            ("send_back", "rectification"),
            ("rectify", "reply"),
            ("reply", "supervision"),
            ("approve", "closed"),
        ])
    );
    // Supervisors were told of each answer; the citizen of the approved one only, once.
    assert_eq!(app.count("outbox WHERE kind = 'reply'"), 2);
    assert_eq!(app.count("outbox WHERE kind = 'reply_to_citizen'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'reply_to_citizen' AND body LIKE '%第二稿%'"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'reply_to_citizen' AND body LIKE '%第一稿%'"), 0);
}

async fn send_back_is_the_supervisors_and_only_for_a_reply_under_audit(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    // Too early: in feedback and in rectification there is no reply to send back (409, telling
    // the supervisor what it may do instead).
    let (status, body) = app.act(&d.supervisor, id, "send_back", Some("退回")).await;
    assert_eq!((status, error_code(&body)), (409, "illegal_transition".to_owned()), "{body}");
    assert_eq!(strings(&body["error"]["allowed_actions"]), vec!["reassign"], "{body}");
    app.act(&d.clerk1, id, "verify", None).await;
    let (status, body) = app.act(&d.supervisor, id, "send_back", Some("退回")).await;
    assert_eq!((status, error_code(&body)), (409, "illegal_transition".to_owned()), "{body}");
    for (action, note) in [("rectify", Some("整改")), ("reply", Some("已整改"))] {
        assert_eq!(app.act(&d.clerk1, id, action, note).await.0, 200);
    }
    // Under audit: only a supervisor sends back. The department that answered may not (403),
    // another department does not see the case (404), nor do admins or integrations act (403).
    let (status, body) = app.act(&d.clerk1, id, "send_back", Some("自己退回")).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden".to_owned()), "{body}");
    assert_eq!(app.act(&d.clerk2, id, "send_back", Some("x")).await.0, 404);
    assert_eq!(app.act(&d.admin, id, "send_back", Some("x")).await.0, 403);
    assert_eq!(app.act(&d.key, id, "send_back", Some("x")).await.0, 403);
    // A reason is required.
    let (status, body) = app.act(&d.supervisor, id, "send_back", None).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("note")), "{body}");
    let (status, body) = app.act(&d.supervisor, id, "send_back", Some("   ")).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("note")), "{body}");
    // None of that moved the case.
    let still = case(&app, &d.supervisor, id).await;
    assert_eq!(still["state"], "supervision");
    assert_eq!(still["timeline"].as_array().map(Vec::len), Some(4), "{still}");
    // Closed: nothing to send back either.
    assert_eq!(app.act(&d.supervisor, id, "approve", None).await.0, 200);
    let (status, body) = app.act(&d.supervisor, id, "send_back", Some("晚了")).await;
    assert_eq!((status, error_code(&body)), (409, "illegal_transition".to_owned()), "{body}");
    assert_eq!(strings(&body["error"]["allowed_actions"]), vec!["reopen"], "{body}");
    assert_eq!(case(&app, &d.supervisor, id).await["state"], "closed");
}

// ---------------------------------------------------------------------------------------------
// 2. deny_extension

fn working_day_end(opened: &Value, n: u32) -> String {
    let opened = DateTime::parse_from_rfc3339(opened.as_str().expect("opened_at")).expect("rfc3339").with_timezone(&Utc);
    let cal = haochaping::domain::calendar::WorkCalendar::official();
    cal.deadline(opened, n).with_timezone(&Shanghai).to_rfc3339()
}

fn same_instant(a: &Value, b: &str) -> bool {
    match (a.as_str().map(DateTime::parse_from_rfc3339), DateTime::parse_from_rfc3339(b)) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => false,
    }
}

async fn deny_extension_keeps_the_deadline_that_grant_extension_would_move(app: TestApp) {
    let d = app.seed().await;
    let denied = app.bad_case(&d, "T1").await;
    let granted = app.bad_case(&d, "T2").await;
    let mut before = BTreeMap::new();
    for id in [denied, granted] {
        assert_eq!(app.act(&d.clerk1, id, "verify", None).await.0, 200);
        let c = case(&app, &d.supervisor, id).await;
        // Five working days from the opening: the policy's reply deadline.
        assert!(same_instant(&c["deadlines"]["reply"], &working_day_end(&c["opened_at"], 5)), "{c}");
        let (status, requested) = app.act(&d.clerk1, id, "request_extension", Some("需协调住建部门")).await;
        assert_eq!((status, requested["extension"].clone()), (200, json!("requested")), "{requested}");
        assert_eq!(requested["deadlines"], c["deadlines"], "asking moves nothing");
        before.insert(id, c);
    }
    // Only a supervisor decides.
    assert_eq!(app.act(&d.clerk1, denied, "deny_extension", None).await.0, 403);
    assert_eq!(app.act(&d.admin, denied, "deny_extension", None).await.0, 403);
    assert_eq!(app.act(&d.clerk2, denied, "deny_extension", None).await.0, 404);
    assert_eq!(case(&app, &d.supervisor, denied).await["extension"], "requested");
    let sup_view = case(&app, &d.supervisor, denied).await;
    assert_eq!(actions(&sup_view), vec!["grant_extension", "deny_extension", "reassign"]);

    let (status, after) = app.act(&d.supervisor, denied, "deny_extension", Some("理由不充分")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["state"].as_str(), after["extension"].as_str()), (Some("rectification"), Some("denied")));
    assert_eq!(after["deadlines"], before[&denied]["deadlines"], "a denied extension leaves every deadline as it was");
    let (_, listed) = app.get("/api/v1/cases?state=rectification", Some(&d.supervisor)).await;
    let due_of = |id: i64| listed["items"].as_array().and_then(|i| i.iter().find(|c| c["id"] == id)).map(|c| c["due_at"].clone()).expect("listed");
    assert_eq!(due_of(denied), before[&denied]["deadlines"]["reply"], "the running stage's due time unchanged");
    let last = after["timeline"].as_array().and_then(|t| t.last().cloned()).expect("timeline");
    assert_eq!((last["action"].as_str(), last["from"].as_str(), last["to"].as_str()), (Some("deny_extension"), Some("rectification"), Some("rectification")));
    // Decided once: no second request, no second decision, no change of mind.
    assert_eq!(actions(&case(&app, &d.clerk1, denied).await), vec!["rectify"]);
    assert_eq!(app.act(&d.clerk1, denied, "request_extension", Some("再次申请")).await.0, 409);
    assert_eq!(app.act(&d.supervisor, denied, "deny_extension", None).await.0, 409);
    assert_eq!(app.act(&d.supervisor, denied, "grant_extension", None).await.0, 409);
    assert_eq!(case(&app, &d.supervisor, denied).await["deadlines"], before[&denied]["deadlines"]);

    // The same request granted moves the reply deadline to fifteen working days: the two
    // decisions are told apart by the deadline, not only by the label.
    let (status, after) = app.act(&d.supervisor, granted, "grant_extension", None).await;
    assert_eq!((status, after["extension"].clone(), after["state"].clone()), (200, json!("granted"), json!("rectification")), "{after}");
    assert!(same_instant(&after["deadlines"]["reply"], &working_day_end(&after["opened_at"], 15)), "{after}");
    assert_ne!(after["deadlines"]["reply"], before[&granted]["deadlines"]["reply"]);
    assert_eq!(after["deadlines"]["feedback"], before[&granted]["deadlines"]["feedback"]);

    // After the refusal the department carries on against the old deadline.
    let (status, body) = app.act(&d.clerk1, denied, "rectify", Some("按期整改")).await;
    assert_eq!((status, body["state"].clone(), body["deadlines"]["reply"].clone()), (200, json!("reply"), before[&denied]["deadlines"]["reply"].clone()), "{body}");
}

// ---------------------------------------------------------------------------------------------
// 3. the alert and source filters of GET /api/v1/cases

fn ids(list: &Value) -> Vec<i64> {
    list["items"].as_array().unwrap_or_else(|| panic!("not a case list: {list}")).iter().filter_map(|c| c["id"].as_i64()).collect()
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let (status, list) = app.get(&format!("/api/v1/cases?{query}"), Some(token)).await;
    assert_eq!(status, 200, "{query}: {list}");
    let found = ids(&list);
    assert_eq!(list["total"].as_i64(), Some(found.len() as i64), "{query}: total is the number listed: {list}");
    found
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

fn local_rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).to_rfc3339()
}

/// A 12345-type complaint for `department`; `due_at` is the work order's promised reply time.
async fn complaint(app: &TestApp, d: &common::District, source: &str, no: &str, department: &str, due_at: Option<DateTime<Utc>>) -> i64 {
    let received = Utc::now() - Duration::days(40);
    let mut body = json!({"source": source, "external_no": no, "content": format!("投诉{no}：办事难"), "received_at": local_rfc3339(received), "department_code": department});
    if let Some(due) = due_at {
        body["due_at"] = json!(local_rfc3339(due));
    }
    let (status, created) = app.post("/api/v1/complaints", Some(&d.key), &body).await;
    assert_eq!(status, 201, "{created}");
    created["case_id"].as_i64().expect("case id")
}

/// Moves a case's running deadline into the past behind the application's back (the way a
/// case that nobody touched for days looks).
fn make_overdue(app: &TestApp, id: i64, by: Duration) {
    let due = (Utc::now() - by).naive_utc().format("%F %T%.f").to_string();
    assert_eq!(app.execute(&format!("UPDATE cases SET feedback_due = '{due}', stage_due = '{due}' WHERE id = {id}")), 1);
}

async fn alert_and_source_filters_list_exactly_the_matching_cases(app: TestApp) {
    let d = app.seed().await;
    // Reviews: one fresh (its one-working-day feedback stage: 黄灯), one verified (five working
    // days to reply: no light), one whose feedback deadline passed two days ago (红灯).
    let r_soon = app.bad_case(&d, "T1").await;
    let r_calm = app.bad_case(&d, "T2").await;
    assert_eq!(app.act(&d.clerk1, r_calm, "verify", None).await.0, 200);
    let r_late = app.bad_case(&d, "T3").await;
    make_overdue(&app, r_late, Duration::days(2));
    // 12345 complaints of D1 the same three ways; the late one by its promised reply time.
    let h_soon = complaint(&app, &d, "hotline_12345", "GD-1", "D1", None).await;
    let h_calm = complaint(&app, &d, "hotline_12345", "GD-2", "D1", None).await;
    assert_eq!(app.act(&d.clerk1, h_calm, "verify", None).await.0, 200);
    let h_late = complaint(&app, &d, "hotline_12345", "GD-3", "D1", Some(Utc::now() - Duration::days(10))).await;
    // A 国务院 complaint of D2, late; and a review case waiting on an appeal (no clock).
    let s_late = complaint(&app, &d, "state_council", "GB-1", "D2", Some(Utc::now() - Duration::days(5))).await;
    let r_appeal = app.bad_case(&d, "T4").await;
    assert_eq!(app.act(&d.clerk1, r_appeal, "appeal", Some("非本单位事项")).await.0, 200);

    // Each case reads with the light the filters are about.
    for (id, light) in [(r_soon, json!("due_soon")), (h_soon, json!("due_soon")), (r_late, json!("overdue")), (h_late, json!("overdue")), (s_late, json!("overdue")), (r_calm, Value::Null), (h_calm, Value::Null), (r_appeal, Value::Null)] {
        assert_eq!(case(&app, &d.supervisor, id).await["alert"], light, "case {id}");
    }

    let sup = &d.supervisor;
    assert_eq!(listed(&app, sup, "").await.len(), 8);
    // By source: exactly that source's cases, most urgent first (earliest running deadline;
    // the appeal, without one, last).
    assert_eq!(listed(&app, sup, "source=review").await, vec![r_late, r_soon, r_calm, r_appeal]);
    assert_eq!(listed(&app, sup, "source=hotline_12345").await, vec![h_late, h_soon, h_calm]);
    assert_eq!(listed(&app, sup, "source=state_council").await, vec![s_late]);
    assert_eq!(listed(&app, sup, "source=unresolved_window").await, Vec::<i64>::new());
    // By alert: exactly the cases with that light, most late first.
    assert_eq!(listed(&app, sup, "alert=overdue").await, vec![h_late, s_late, r_late]);
    assert_eq!(sorted(listed(&app, sup, "alert=due_soon").await), sorted(vec![r_soon, h_soon]));
    // Both at once: the intersection.
    assert_eq!(listed(&app, sup, "alert=overdue&source=review").await, vec![r_late]);
    assert_eq!(listed(&app, sup, "alert=overdue&source=hotline_12345").await, vec![h_late]);
    assert_eq!(listed(&app, sup, "alert=due_soon&source=hotline_12345").await, vec![h_soon]);
    assert_eq!(listed(&app, sup, "alert=due_soon&source=state_council").await, Vec::<i64>::new());
    assert_eq!(listed(&app, sup, "alert=overdue&state=appeal").await, Vec::<i64>::new());
    // A department's filters keep to its cases.
    assert_eq!(listed(&app, &d.clerk1, "alert=overdue").await, vec![h_late, r_late]);
    assert_eq!(listed(&app, &d.clerk2, "alert=overdue").await, vec![s_late]);
    assert_eq!(listed(&app, &d.clerk2, "source=review").await, Vec::<i64>::new());
    // Every listed item carries the light it was filtered by.
    let (_, overdue) = app.get("/api/v1/cases?alert=overdue", Some(sup)).await;
    let past = |c: &Value| c["due_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t < Utc::now());
    assert!(overdue["items"].as_array().expect("items").iter().all(|c| c["alert"] == "overdue" && past(c)), "{overdue}");
    let (_, soon) = app.get("/api/v1/cases?alert=due_soon", Some(sup)).await;
    assert!(soon["items"].as_array().expect("items").iter().all(|c| c["alert"] == "due_soon" && !past(c)), "{soon}");
    let (status, body) = app.get("/api/v1/cases?alert=red", Some(sup)).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("alert")), "{body}");
    let (status, body) = app.get("/api/v1/cases?source=hotline", Some(sup)).await;
    assert_eq!((status, body["error"]["field"].clone()), (422, json!("source")), "an unknown source is refused, not an empty list: {body}");

    // The scanner, run now, raises its alerts on exactly the cases the filters list.
    let out = app.cli(&["scan"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("scan report");
    assert_eq!((report["due_soon"].clone(), report["overdue"].clone()), (json!(2), json!(3)), "{report}");
    assert_eq!(alerted(&app, sup, "overdue").await, sorted(listed(&app, sup, "alert=overdue").await));
    assert_eq!(alerted(&app, sup, "due_soon").await, sorted(listed(&app, sup, "alert=due_soon").await));
    // ... and raising them changes nothing the filters answer.
    assert_eq!(listed(&app, sup, "alert=overdue").await, vec![h_late, s_late, r_late]);
    assert_eq!(sorted(listed(&app, sup, "alert=due_soon").await), sorted(vec![r_soon, h_soon]));
}

/// The case ids of the current alerts of `level`, in id order.
async fn alerted(app: &TestApp, token: &str, level: &str) -> Vec<i64> {
    let (status, alerts) = app.get(&format!("/api/v1/alerts?level={level}"), Some(token)).await;
    assert_eq!(status, 200, "{alerts}");
    sorted(alerts.as_array().expect("alerts").iter().filter_map(|a| a["case_id"].as_i64()).collect())
}

/// The working-day calendar of `year` as the service holds it.
async fn calendar_of(app: &TestApp, admin: &str, year: i32) -> (Vec<String>, Vec<String>) {
    let (status, cal) = app.get(&format!("/api/v1/calendar/{year}"), Some(admin)).await;
    assert_eq!(status, 200, "{cal}");
    (strings(&cal["holidays"]), strings(&cal["workdays"]))
}

/// A case whose running deadline falls on a rest day right after the next working day is 黄灯
/// on the case and in the list (`alert: "due_soon"`, the scanner agrees), so the `due_soon`
/// filter — the inbox's 即将到期 and the board's tile — must list it too.
async fn a_case_due_on_a_rest_day_is_listed_under_due_soon_as_its_badge_says(app: TestApp) {
    let d = app.seed().await;
    // The next working day N and the day after it, made a rest day if it is not one.
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let is_working = |day: NaiveDate, holidays: &[String], workdays: &[String]| {
        let s = day.to_string();
        workdays.contains(&s) || (!holidays.contains(&s) && day.weekday().number_from_monday() <= 5)
    };
    let mut next = today;
    loop {
        next = next.succ_opt().expect("date");
        let (h, w) = calendar_of(&app, &d.admin, next.year()).await;
        if is_working(next, &h, &w) {
            break;
        }
    }
    let rest = next.succ_opt().expect("date");
    let (mut holidays, mut workdays) = calendar_of(&app, &d.admin, rest.year()).await;
    if is_working(rest, &holidays, &workdays) {
        let s = rest.to_string();
        if workdays.contains(&s) {
            workdays.retain(|w| *w != s);
        } else {
            holidays.push(s);
        }
        let r = app.put(&format!("/api/v1/calendar/{}", rest.year()), &d.admin, &json!({"holidays": holidays, "workdays": workdays})).await;
        assert_eq!(r.0, 200, "{}", r.1);
    }
    // A 12345 work order promising its reply at noon of that rest day, verified: the reply
    // stage runs to that noon.
    let noon = rest.and_hms_opt(12, 0, 0).expect("noon").and_local_timezone(Shanghai).single().expect("local").with_timezone(&Utc);
    let body = json!({"source": "hotline_12345", "external_no": "GD-REST", "content": "补办证件难", "department_code": "D1",
        "received_at": local_rfc3339(Utc::now() - Duration::hours(1)), "due_at": local_rfc3339(noon)});
    let (status, created) = app.post("/api/v1/complaints", Some(&d.key), &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["case_id"].as_i64().expect("case");
    assert_eq!(app.act(&d.clerk1, id, "verify", None).await.0, 200);
    let c = case(&app, &d.supervisor, id).await;
    assert!(same_instant(&c["deadlines"]["reply"], &local_rfc3339(noon)), "{c}");
    // One working day (N) lies between today and the due day: 黄灯 on the case ...
    assert_eq!(c["alert"], "due_soon", "{c}");
    let (_, all) = app.get("/api/v1/cases", Some(&d.supervisor)).await;
    let item = all["items"].as_array().and_then(|i| i.iter().find(|x| x["id"] == id).cloned()).expect("listed");
    assert_eq!(item["alert"], "due_soon", "{item}");
    // ... and by the scanner.
    let out = app.cli(&["scan"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.count(&format!("alerts WHERE case_id = {id} AND level = 'due_soon' AND stage = 'reply'")), 1);
    // The filter by that light lists it.
    assert!(
        listed(&app, &d.supervisor, "alert=due_soon").await.contains(&id),
        "case {id} is 黄灯 (due {}, next working day {next}) but ?alert=due_soon leaves it out",
        c["deadlines"]["reply"]
    );
}

// ---------------------------------------------------------------------------------------------
// 4. statistics by service item and by staff

/// `(ratings, stars, completed_transactions, unrated_transactions, cases_opened)` per group key,
/// in the order the groups are given.
fn figures_by_key(stats: &Value) -> Vec<(String, i64, Value, i64, i64, i64)> {
    stats["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {stats}"))
        .iter()
        .map(|g| {
            let n = |v: &Value| v.as_i64().unwrap_or(-1);
            (
                g["key"].as_str().unwrap_or("").to_owned(),
                n(&g["ratings"]),
                g["stars"].clone(),
                n(&g["counts"]["completed_transactions"]),
                n(&g["counts"]["unrated_transactions"]),
                n(&g["counts"]["cases_opened"]),
            )
        })
        .collect()
}

fn row(key: &str, ratings: i64, stars: [i64; 5], completed: i64, unrated: i64, cases: i64) -> (String, i64, Value, i64, i64, i64) {
    (key.to_owned(), ratings, json!(stars), completed, unrated, cases)
}

async fn rate(app: &TestApp, d: &common::District, no: &str, stars: i64, rated_at: &str) -> Option<i64> {
    let mut body = json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "rated_at": rated_at});
    if stars <= 2 {
        body["comment"] = json!("等了很久");
    }
    let (status, created) = app.post("/api/v1/reviews", Some(&d.key), &body).await;
    assert_eq!(status, 201, "{no}: {created}");
    created["case_id"].as_i64()
}

async fn stats_by_service_item_and_by_staff_count_each_group_exactly(app: TestApp) {
    let d = app.seed().await;
    // The fixture's 三对应: S1 at W1 for I1 until 1 Nov 2026, S2 from then on.
    //   TA I1 W1 served 15 Oct → S1, 1★ (case)   TB I1 W1 served 15 Nov → S2, 5★
    //   TC I1 W1 completed 20 Nov → S2, 2★ (case) TD I1 staff S1 served 20 Oct (window W1), 4★
    //   TE I2 no window or staff, 1★ (case, D2)   TF I1 W1 completed 25 Nov → S2, unrated
    //   K1 a 12345 complaint about TB (item I1 named) → S2; K2 one about item I2, nobody's.
    let txs = [
        ("TA", "I1", json!({"window_code": "W1", "accepted_at": "2026-10-15T09:00:00+08:00", "completed_at": "2026-10-15T10:00:00+08:00"})),
        ("TB", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-15T09:00:00+08:00", "completed_at": "2026-11-15T10:00:00+08:00"})),
        ("TC", "I1", json!({"window_code": "W1", "completed_at": "2026-11-20T10:00:00+08:00"})),
        ("TD", "I1", json!({"staff_no": "S1", "accepted_at": "2026-10-20T09:00:00+08:00", "completed_at": "2026-10-20T10:00:00+08:00"})),
        ("TE", "I2", json!({"completed_at": "2026-11-20T10:00:00+08:00"})),
        ("TF", "I1", json!({"window_code": "W1", "completed_at": "2026-11-25T10:00:00+08:00"})),
    ];
    for (no, item, extra) in txs {
        app.transaction(&d, no, item, extra).await;
    }
    let rated_at = local_rfc3339(Utc::now() - Duration::hours(1));
    let mut cases = BTreeMap::new();
    for (no, stars) in [("TA", 1), ("TB", 5), ("TC", 2), ("TD", 4), ("TE", 1)] {
        cases.insert(no, rate(&app, &d, no, stars, &rated_at).await);
    }
    assert!(cases["TA"].is_some() && cases["TC"].is_some() && cases["TE"].is_some() && cases["TB"].is_none() && cases["TD"].is_none(), "{cases:?}");
    for body in [
        json!({"source": "hotline_12345", "external_no": "K1", "content": "办理慢", "received_at": rated_at, "transaction_no": "TB", "service_item_code": "I1"}),
        json!({"source": "hotline_12345", "external_no": "K2", "content": "社保卡补办难", "received_at": rated_at, "service_item_code": "I2"}),
    ] {
        let (status, created) = app.post("/api/v1/complaints", Some(&d.key), &body).await;
        assert_eq!(status, 201, "{created}");
    }
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let period = format!("from=2026-10-01&to={today}");

    let (status, by_item) = app.get(&format!("/api/v1/stats?{period}&group_by=service_item"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{by_item}");
    assert_eq!(by_item["group_by"], "service_item");
    assert_eq!(
        figures_by_key(&by_item),
        vec![
            // ratings, stars 1..5, completed, unrated, cases opened
            row("I1", 4, [1, 1, 0, 1, 1], 5, 1, 3),
            row("I2", 1, [1, 0, 0, 0, 0], 1, 0, 2),
        ],
        "{by_item}"
    );
    assert_eq!(by_item["groups"][0]["name"], "企业设立登记");
    assert_eq!((by_item["total"]["ratings"].as_i64(), by_item["total"]["counts"]["cases_opened"].as_i64()), (Some(5), Some(5)));

    let (status, by_staff) = app.get(&format!("/api/v1/stats?{period}&group_by=staff"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{by_staff}");
    assert_eq!(
        figures_by_key(&by_staff),
        vec![
            row("S1", 2, [1, 0, 0, 1, 0], 2, 0, 1),
            row("S2", 2, [0, 1, 0, 0, 1], 3, 1, 2),
            row("none", 1, [1, 0, 0, 0, 0], 1, 0, 2),
        ],
        "{by_staff}"
    );
    assert_eq!((by_staff["groups"][0]["name"].as_str(), by_staff["groups"][1]["name"].as_str()), (Some("王敏"), Some("李静")));
    // Rates follow from the counts: S1 1 good of 2, S2 1 of 2; S1's bad review still unanswered.
    let rate_of = |i: usize, f: &str| by_staff["groups"][i][f].as_f64();
    assert_eq!((rate_of(0, "good_rate"), rate_of(1, "good_rate"), rate_of(0, "bad_reply_rate")), (Some(0.5), Some(0.5), Some(0.0)));
    // A department sees its own groups only: D1 has no I2.
    let (_, own) = app.get(&format!("/api/v1/stats?{period}&group_by=service_item"), Some(&d.clerk1)).await;
    assert_eq!(figures_by_key(&own), vec![row("I1", 4, [1, 1, 0, 1, 1], 5, 1, 3)], "{own}");
    // Outside the transactions' months only the ratings and cases (counted when given and opened).
    let (_, december) = app.get(&format!("/api/v1/stats?from=2026-12-01&to={}&group_by=staff", today.max(NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"))), Some(&d.supervisor)).await;
    let completed: Vec<i64> = figures_by_key(&december).iter().map(|r| r.3).collect();
    assert!(completed.iter().all(|&n| n == 0), "{december}");
}

/// A 12345 complaint that names only the transaction it is about is routed to that
/// transaction's department and attributed to its window and staff; by service item it must
/// count under the transaction's item as well, not under 未指定.
async fn a_complaint_about_a_transaction_counts_under_that_transactions_service_item(app: TestApp) {
    let d = app.seed().await;
    app.transaction(&d, "TX", "I1", json!({"window_code": "W1", "accepted_at": "2026-11-15T09:00:00+08:00", "completed_at": "2026-11-15T10:00:00+08:00"})).await;
    let received = local_rfc3339(Utc::now() - Duration::hours(1));
    let body = json!({"source": "hotline_12345", "external_no": "K-TX", "content": "营业执照办理慢", "received_at": received, "transaction_no": "TX"});
    let (status, created) = app.post("/api/v1/complaints", Some(&d.key), &body).await;
    assert_eq!((status, created["department_code"].clone()), (201, json!("D1")), "{created}");
    let id = created["case_id"].as_i64().expect("case");
    let c = case(&app, &d.supervisor, id).await;
    assert_eq!((c["transaction"]["service_item_code"].as_str(), c["transaction"]["staff_no"].as_str()), (Some("I1"), Some("S2")), "{c}");
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let (_, by_staff) = app.get(&format!("/api/v1/stats?from=2026-10-01&to={today}&group_by=staff"), Some(&d.supervisor)).await;
    let cases_of = |stats: &Value| -> Vec<(String, i64)> {
        stats["groups"].as_array().expect("groups").iter().filter(|g| g["counts"]["cases_opened"].as_i64() > Some(0)).map(|g| (g["key"].as_str().unwrap_or("").to_owned(), g["counts"]["cases_opened"].as_i64().unwrap_or(0))).collect()
    };
    assert_eq!(cases_of(&by_staff), vec![("S2".to_owned(), 1)], "{by_staff}");
    let (_, by_item) = app.get(&format!("/api/v1/stats?from=2026-10-01&to={today}&group_by=service_item"), Some(&d.supervisor)).await;
    assert_eq!(cases_of(&by_item), vec![("I1".to_owned(), 1)], "the complaint's case counts under its transaction's item: {by_item}");
}

// ---------------------------------------------------------------------------------------------
// 5. the board's order

async fn board_html(app: &TestApp, username: &str) -> String {
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(app.url("/login")).form(&[("username", username), ("password", "kite-meadow-93")]).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303, "login {username}");
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|s| s.split(';').next()).expect("cookie").to_owned();
    let r = client.get(app.url("/board")).header("Cookie", cookie).send().await.expect("board");
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.expect("html")
}

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    html.split(&format!("<section id=\"{id}\">")).nth(1).and_then(|s| s.split("</section>").next()).unwrap_or_else(|| panic!("no section {id}"))
}

/// The case ids of a board section in the order they are shown.
fn shown(section: &str) -> Vec<i64> {
    section.split("href=\"/cases/").skip(1).filter_map(|s| s.split('"').next()).filter_map(|s| s.parse().ok()).collect()
}

async fn board_lists_overdue_cases_most_late_first(app: TestApp) {
    let d = app.seed().await;
    let now = Utc::now();
    // Opened in this order; late by 2 hours, 20 days, 12 days, and two by 8 days (the same
    // promised time); plus a fresh review (黄灯, not late) and one under audit.
    let a = complaint(&app, &d, "hotline_12345", "GD-A", "D1", Some(now - Duration::hours(2))).await;
    let b = complaint(&app, &d, "hotline_12345", "GD-B", "D1", Some(now - Duration::days(20))).await;
    let c = complaint(&app, &d, "state_council", "GB-C", "D2", Some(now - Duration::days(12))).await;
    let tie = now - Duration::days(8);
    let e1 = complaint(&app, &d, "hotline_12345", "GD-E1", "D1", Some(tie)).await;
    let e2 = complaint(&app, &d, "hotline_12345", "GD-E2", "D2", Some(tie)).await;
    let fresh = app.bad_case(&d, "T1").await;
    let audited = app.bad_case(&d, "T2").await;
    answer(&app, &d, audited, "已整改").await;
    let days: BTreeMap<i64, u64> = {
        let (_, list) = app.get("/api/v1/cases?alert=overdue", Some(&d.supervisor)).await;
        list["items"].as_array().expect("items").iter().map(|c| (c["id"].as_i64().unwrap_or(0), c["overdue_days"].as_u64().unwrap_or(0))).collect()
    };
    assert_eq!(days.len(), 5, "{days:?}");
    // The premise of the 督办 marks: B, C and the pair are more than 3 working days late, A is not.
    assert!(days[&b] > 3 && days[&c] > 3 && days[&e1] > 3 && days[&e2] > 3 && days[&a] <= 1, "{days:?}");

    let html = board_html(&app, "sup").await;
    let overdue = section(&html, "overdue");
    // Most late first; of two equally late, the newer first; nothing that is not late.
    assert_eq!(shown(overdue), vec![b, c, e2, e1, a], "{overdue}");
    assert!(overdue.contains("超期案件（5）"), "{overdue}");
    // 督办 marks exactly the four more than 3 working days late.
    let rows: Vec<&str> = overdue.split("href=\"/cases/").skip(1).collect();
    let marked: Vec<bool> = rows.iter().map(|r| r.contains("督办")).collect();
    assert_eq!(marked, vec![true, true, true, true, false], "{overdue}");
    assert!(rows[0].contains(&format!("超期 {} 个工作日", days[&b])), "{}", rows[0]);
    // The tiles count the same.
    assert!(html.contains("<span class=\"n\">5</span><span>超期</span>"), "{html}");
    assert!(html.contains("<span class=\"n\">4</span><span>督办（超期3个工作日以上）</span>"), "{html}");
    assert!(html.contains("<span class=\"n\">1</span><span>即将到期</span>"), "{html}");
    assert_eq!(shown(section(&html, "supervision")), vec![audited]);
    assert!(!shown(overdue).contains(&fresh));
}

// ---------------------------------------------------------------------------------------------
// 6. 追评 within 7 days

async fn addendum(app: &TestApp, token: &str, no: &str, comment: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/follow-ups"))
        .header("X-Rating-Token", token)
        .json(&json!({"transaction_no": no, "kind": "addendum", "comment": comment}))
        .send()
        .await
        .expect("send");
    common::into_pair(resp).await
}

async fn rated_transaction(app: &TestApp, d: &common::District, no: &str, rated_at: Option<DateTime<Utc>>) -> String {
    let t = app.transaction(d, no, "I1", json!({"completed_at": local_rfc3339(Utc::now() - Duration::days(10))})).await;
    let token = t["rating_token"].as_str().expect("rating token").to_owned();
    let (status, body) = match rated_at {
        // A device at the counter, with its own clock.
        Some(at) => app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 4, "channel": "kiosk", "rated_at": local_rfc3339(at)})).await,
        // The citizen through the link: rated now.
        None => {
            let r = app.client.post(app.url("/api/v1/reviews")).header("X-Rating-Token", &token)
                .json(&json!({"transaction_no": no, "stars": 2, "channel": "mobile", "tags": ["等待时间长"]})).send().await.expect("send");
            common::into_pair(r).await
        }
    };
    assert_eq!(status, 201, "{no}: {body}");
    token
}

async fn addendum_is_accepted_once_within_seven_days_of_the_rating(app: TestApp) {
    let d = app.seed().await;
    // Rated just now: one addendum, then no second.
    let now_token = rated_transaction(&app, &d, "T-NOW", None).await;
    let (status, body) = addendum(&app, &now_token, "T-NOW", "补充：第二次去又被要求新材料").await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].is_i64(), "{body}");
    assert_eq!(body["case_state"], "feedback", "the bad review's case is untouched");
    let (status, body) = addendum(&app, &now_token, "T-NOW", "再补充一次").await;
    assert_eq!((status, error_code(&body)), (409, "already_added".to_owned()), "{body}");
    // Rated 6 days 23 hours ago: still in time.
    let in_time = rated_transaction(&app, &d, "T-6D", Some(Utc::now() - Duration::days(7) + Duration::hours(1))).await;
    let (status, body) = addendum(&app, &in_time, "T-6D", "补充：窗口已改进").await;
    assert_eq!(status, 201, "{body}");
    assert!(body["case_state"].is_null(), "a good review has no case: {body}");
    // Rated 7 days 1 hour ago: too late, whatever is tried.
    let late = rated_transaction(&app, &d, "T-7D", Some(Utc::now() - Duration::days(7) - Duration::hours(1))).await;
    let (status, body) = addendum(&app, &late, "T-7D", "补充").await;
    assert_eq!((status, error_code(&body)), (409, "too_late".to_owned()), "{body}");
    assert_eq!(addendum(&app, &late, "T-7D", "再试").await.0, 409);
    // Time passes for a citizen's own rating too: eight days on, refused.
    let aged = rated_transaction(&app, &d, "T-AGED", None).await;
    let eight_days_ago = (Utc::now() - Duration::days(8)).naive_utc().format("%F %T%.f").to_string();
    assert_eq!(app.execute(&format!("UPDATE reviews SET rated_at = '{eight_days_ago}' WHERE transaction_id = (SELECT id FROM transactions WHERE transaction_no = 'T-AGED')")), 1);
    let (status, body) = addendum(&app, &aged, "T-AGED", "补充").await;
    assert_eq!((status, error_code(&body)), (409, "too_late".to_owned()), "{body}");
    // Exactly the two accepted addenda are stored, one per review.
    assert_eq!(app.count("review_follow_ups WHERE kind = 'addendum'"), 2);
    assert_eq!(app.count("review_follow_ups"), 2);
}
