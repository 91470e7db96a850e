//! Topics over time, emerging-issue alerts and the topic × department matrix, on both backends,
//! through HTTP and `haochaping scan`: comments are stored with their times in the past (an
//! integration may give a device's `rated_at`, a hotline its `received_at`), then the real
//! binary scans at the real clock.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Utc};
use common::smtp::SmtpSink;
use common::{District, StaffSession, TestApp};
use haochaping::adapters::mail::smtp::{deliver_due, Mailer};
use haochaping::clock;
use haochaping::insight::topics::{self, TopicScan};
use serde_json::{json, Value};

/// Comments on one subject, worded differently; `variant(n)` adds an ending so that a large
/// week still has many distinct texts.
struct Subject {
    texts: &'static [&'static str],
}

const FUND: Subject = Subject {
    texts: &[
        "公积金提取一直不到账", "住房公积金提取审核太慢", "公积金提取材料被退回好几次", "公积金贷款审批迟迟不通过",
        "公积金账户余额查询不到", "公积金提取到账要一个月", "公积金转移手续办了三次", "公积金提取要跑好几个窗口",
    ],
};
const QUEUE: Subject = Subject {
    texts: &[
        "排队时间太长，等了两个小时", "窗口排队的人太多，取号后等很久", "排队排了一上午还没轮到", "排队的队伍很长，等候时间长",
        "早上七点去排队，中午才办上", "取号排队要等三个小时", "排队叫号系统经常出错", "周一排队的人特别多，等了很久",
    ],
};
const STAFF: Subject = Subject {
    texts: &[
        "工作人员态度不好，不耐烦", "窗口人员态度差，问两句就发火", "工作人员态度很差，爱理不理", "工作人员态度不好，说话很冲",
        "服务人员态度冷淡，不理人", "咨询时工作人员态度敷衍", "工作人员态度生硬，解释不清", "窗口人员玩手机，态度散漫",
    ],
};
const PARKING: Subject = Subject {
    texts: &[
        "停车场车位太少，找不到地方停车", "停车场收费太贵，停车要花很多钱", "政务中心停车难，停车场总是满的",
        "停车场入口太窄，停车很不方便", "附近停车位太少，停车只能停在路边", "停车场晚上五点就关门，停车不方便",
    ],
};

const ENDINGS: [&str; 5] = ["", "，希望改进", "，请尽快解决", "，很不满意", "，麻烦重视"];

impl Subject {
    fn text(&self, n: usize) -> String {
        let base = self.texts[n % self.texts.len()];
        format!("{base}{}", ENDINGS[(n / self.texts.len()) % ENDINGS.len()])
    }
}

/// How a comment reaches the service.
#[derive(Clone, Copy)]
enum Via {
    /// A review of `stars` of a transaction of the department's item.
    Review(i64),
    Complaint,
}

/// Stores one comment at `at` for department `dept` (D1 or D2); returns its case, if it opened one.
async fn comment(app: &TestApp, d: &District, serial: &mut u32, via: Via, dept: &str, text: &str, at: DateTime<Utc>) -> Option<i64> {
    *serial += 1;
    let no = format!("TP-{serial}");
    let at_text = at.to_rfc3339();
    match via {
        Via::Review(stars) => {
            let item = if dept == "D1" { "I1" } else { "I2" };
            app.transaction(d, &no, item, json!({"completed_at": (at - Duration::hours(1)).to_rfc3339()})).await;
            let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": stars, "channel": "window_device", "comment": text, "rated_at": at_text})).await;
            assert_eq!(r.0, 201, "{}", r.1);
            r.1["case_id"].as_i64()
        }
        Via::Complaint => {
            let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": no, "content": text,
                "department_code": dept, "received_at": at_text})).await;
            assert_eq!(r.0, 201, "{}", r.1);
            r.1["case_id"].as_i64()
        }
    }
}

/// Runs `haochaping scan` and returns its report's `topics` part.
fn scan(app: &TestApp) -> Value {
    scan_at(app, None)
}

/// `haochaping scan --at`, a time in the past: as if the scan had run then.
fn scan_at(app: &TestApp, at: Option<DateTime<Utc>>) -> Value {
    let at = at.map(|t| t.to_rfc3339());
    let mut args = vec!["scan"];
    if let Some(at) = &at {
        args.extend(["--at", at.as_str()]);
    }
    let out = app.cli(&args);
    assert!(out.status.success(), "scan failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("scan report");
    report["topics"].clone()
}

/// Topic id of each comment text, from every topic's documents.
async fn topic_of_texts(app: &TestApp, token: &str) -> BTreeMap<String, BTreeSet<i64>> {
    let (status, overview) = app.get("/api/v1/topics?weeks=12", Some(token)).await;
    assert_eq!(status, 200, "{overview}");
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for t in overview["topics"].as_array().expect("topics") {
        let id = t["id"].as_i64().expect("id");
        let (status, docs) = app.get(&format!("/api/v1/topics/{id}/documents?limit=500"), Some(token)).await;
        assert_eq!(status, 200, "{docs}");
        for doc in docs["items"].as_array().expect("items") {
            out.entry(doc["text"].as_str().expect("text").to_owned()).or_default().insert(id);
        }
    }
    out
}

/// The topics a subject's comments (those in `texts`) went to.
fn topics_of(subject: &Subject, placed: &BTreeMap<String, BTreeSet<i64>>) -> BTreeSet<i64> {
    placed.iter().filter(|(text, _)| subject.texts.iter().any(|base| text.starts_with(base))).flat_map(|(_, ids)| ids.iter().copied()).collect()
}

/// Monday 00:00 (Beijing) of the week `weeks_back` weeks before this one, plus `hours`.
fn in_week(weeks_back: i64, hours: i64) -> DateTime<Utc> {
    let now = clock::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let monday = now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let start = haochaping::domain::calendar::start_of_local_day(monday);
    start - Duration::weeks(weeks_back) + Duration::hours(hours)
}

on_both_backends!(two_weeks_keep_their_topics_and_a_new_subject_is_new);

/// (a) Two closed weeks of comments on the same three subjects: each subject's comments of
/// both weeks are one topic; a subject of the second week only is a topic marked new.
async fn two_weeks_keep_their_topics_and_a_new_subject_is_new(app: TestApp) {
    let d = app.seed().await;
    let mut serial = 0;
    for (weeks_back, subjects) in [(2, vec![&QUEUE, &STAFF, &FUND]), (1, vec![&QUEUE, &STAFF, &FUND, &PARKING])] {
        for (s, subject) in subjects.into_iter().enumerate() {
            for n in 0..6 {
                // The second week words each subject differently from the first.
                let text = subject.text(n + 6 * (2 - weeks_back) as usize);
                let via = if s % 2 == 0 { Via::Review(1) } else { Via::Complaint };
                comment(&app, &d, &mut serial, via, if n % 2 == 0 { "D1" } else { "D2" }, &text, in_week(weeks_back, 10 + 20 * n as i64)).await;
            }
        }
    }
    let round = scan(&app);
    assert!(round["ran"].as_bool().unwrap_or(false) && round["weeks_tracked"].as_u64().unwrap_or(0) >= 3, "{round}");
    let placed = topic_of_texts(&app, &d.supervisor).await;
    let mut ids = BTreeSet::new();
    for subject in [&QUEUE, &STAFF, &FUND, &PARKING] {
        let topics = topics_of(subject, &placed);
        assert_eq!(topics.len(), 1, "{:?} went to {topics:?}: {placed:#?}", subject.texts[0]);
        ids.extend(topics);
    }
    assert_eq!(ids.len(), 4, "four subjects, four topics: {placed:#?}");
    let (_, overview) = app.get("/api/v1/topics?weeks=4", Some(&d.supervisor)).await;
    assert_eq!(overview["weeks"].as_array().map(Vec::len), Some(4), "{overview}");
    let topic = |subject: &Subject| {
        let id = *topics_of(subject, &placed).iter().next().expect("topic");
        overview["topics"].as_array().and_then(|a| a.iter().find(|t| t["id"].as_i64() == Some(id)).cloned()).expect("listed")
    };
    for subject in [&QUEUE, &STAFF, &FUND] {
        let t = topic(subject);
        // Weeks: three back, two back, last week, this week.
        assert_eq!(t["weekly"], json!([0, 6, 6, 0]), "{t}");
        assert_eq!(t["is_new"], json!(false), "{t}");
        assert_eq!(t["departments"].as_array().map(Vec::len), Some(2), "{t}");
    }
    let parking = topic(&PARKING);
    assert_eq!(parking["weekly"], json!([0, 0, 6, 0]), "{parking}");
    assert_eq!(parking["is_new"], json!(true), "{parking}");
    assert!(parking["label"].as_str().unwrap_or("").contains("停车"), "{parking}");
    let fund = topic(&FUND);
    assert_eq!((fund["reviews"].as_i64(), fund["bad_reviews"].as_i64(), fund["complaints"].as_i64()), (Some(12), Some(12), Some(0)), "{fund}");
    assert_eq!(fund["bad_share"], json!(1.0));

    // A second scan changes nothing: the closed weeks stay as they were.
    scan(&app);
    assert_eq!(topic_of_texts(&app, &d.supervisor).await, placed);

    // A rating of last week stored late (a device that was offline) joins its topic.
    let late = "公积金提取好几个月都不到账，很不满意";
    comment(&app, &d, &mut serial, Via::Review(1), "D1", late, in_week(1, 100)).await;
    let round = scan(&app);
    assert_eq!(round["late_placed"].as_u64(), Some(1), "{round}");
    let now_placed = topic_of_texts(&app, &d.supervisor).await;
    assert_eq!(now_placed.get(late), Some(&topics_of(&FUND, &placed)), "{now_placed:#?}");
}

/// Eight 7-day windows of `per_window` comments on each of three subjects, then `last_week` on
/// the first (fund) and `per_window` on the others in the last 7 days.
async fn history(app: &TestApp, d: &District, per_window: usize, last_week: usize, now: DateTime<Utc>) {
    let mut serial = 0;
    let mut n = [0usize; 3];
    for window in (1..=8i64).rev() {
        let end = now - Duration::days(7 * window);
        for (s, (subject, via, dept)) in [(&FUND, Via::Complaint, "D1"), (&QUEUE, Via::Review(2), "D1"), (&STAFF, Via::Complaint, "D2")].into_iter().enumerate() {
            for j in 0..per_window {
                // Spread over the window, away from its edges.
                let at = end - Duration::hours(12 + 30 * j as i64);
                comment(app, d, &mut serial, via, dept, &subject.text(n[s]), at).await;
                n[s] += 1;
            }
        }
    }
    for (s, (subject, via, dept, count)) in
        [(&FUND, Via::Complaint, "D1", last_week), (&QUEUE, Via::Review(2), "D1", per_window), (&STAFF, Via::Complaint, "D2", per_window)].into_iter().enumerate()
    {
        for j in 0..count {
            let at = now - Duration::minutes(60 + (6 * 24 * 60 / count.max(1) as i64) * j as i64);
            comment(app, d, &mut serial, via, dept, &subject.text(n[s]), at).await;
            n[s] += 1;
        }
    }
}

on_both_backends!(a_planted_surge_is_alerted_once_on_the_board_by_mail_and_in_the_api);

/// (b) Flat ~5 a week for eight weeks, then 40 in the last 7 days: exactly one surge alert, on
/// that topic, in the API, on the board and in a mail to the supervisor; (d) scanning again
/// raises nothing more.
async fn a_planted_surge_is_alerted_once_on_the_board_by_mail_and_in_the_api(app: TestApp) {
    let d = app.seed().await;
    history(&app, &d, 5, 40, clock::now()).await;
    let round = scan(&app);
    assert_eq!((round["surge_alerts"].as_u64(), round["new_topic_alerts"].as_u64()), (Some(1), Some(0)), "{round}");

    let placed = topic_of_texts(&app, &d.supervisor).await;
    let fund = topics_of(&FUND, &placed);
    assert_eq!(fund.len(), 1, "the fund comments are one topic: {placed:#?}");
    let fund = *fund.iter().next().expect("fund topic");
    let (status, alerts) = app.get("/api/v1/topics/alerts", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{alerts}");
    let list = alerts.as_array().expect("alerts");
    assert_eq!(list.len(), 1, "{alerts}");
    let alert = &list[0];
    assert_eq!((alert["kind"].as_str(), alert["topic_id"].as_i64(), alert["count"].as_i64()), (Some("surge"), Some(fund), Some(40)), "{alert}");
    assert_eq!(alert["baseline_mean"], json!(5.0), "{alert}");
    assert!(alert["top_terms"].as_array().is_some_and(|t| t.iter().any(|t| t == "公积金")), "{alert}");
    assert!(alert["label"].as_str().is_some_and(|l| l.contains("公积金")), "{alert}");
    let samples = alert["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 3, "{alert}");
    assert!(samples.iter().all(|s| s.as_str().is_some_and(|s| s.contains("公积金"))), "{alert}");
    // The link to all of them: the window's issues of the topic, each with its case.
    let (status, docs) = app.get(alert["documents_url"].as_str().expect("link"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{docs}");
    assert!(docs["total"].as_i64().is_some_and(|n| n >= 40), "{docs}");
    assert!(docs["items"].as_array().expect("items").iter().all(|i| i["case_id"].is_i64() && i["source"] == "complaint"), "{docs}");

    // The topic list says the same.
    let (_, overview) = app.get("/api/v1/topics", Some(&d.supervisor)).await;
    let t = overview["topics"].as_array().and_then(|a| a.iter().find(|t| t["id"].as_i64() == Some(fund)).cloned()).expect("fund listed");
    assert_eq!((t["last_7_days"].as_i64(), t["previous_7_days"].as_i64(), t["change"].as_i64()), (Some(40), Some(5), Some(35)), "{t}");
    assert_eq!(t["change_pct"], json!(7.0), "{t}");

    // The board.
    let session = StaffSession::sign_in(&app, "sup").await;
    let (status, board) = session.get("/board").await;
    assert_eq!(status, 200);
    assert!(board.contains("新出现的问题（1）") && board.contains("激增"), "{board}");
    assert!(board.contains(&format!("/analytics/topics/{fund}")), "the board links to all of them");
    let (status, page) = session.get(alert["page_url"].as_str().expect("page link")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("公积金") && page.contains("/cases/"), "the topic page lists the comments with their cases");

    // The mail to the supervisor, sent through the outbox.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let mailer = Mailer::from_url(&format!("smtp://127.0.0.1:{port}"), "好差评系统 <noreply@haochaping.test>").expect("mailer").with_links(&app.base, app.state.signer.clone());
    deliver_due(&app.state.pool, &mailer, clock::now() + Duration::seconds(1)).await.expect("delivery");
    let topic_mails: Vec<_> = sink.mails().into_iter().filter(|m| m.subject.contains("新出现的问题")).collect();
    assert_eq!(topic_mails.len(), 1, "{topic_mails:?}");
    let mail = &topic_mails[0];
    assert_eq!(mail.to, vec!["sup@example.test".to_owned()]);
    assert!(mail.body.contains("激增") && mail.body.contains("公积金") && mail.body.contains("近 7 天 40 件"), "{}", mail.body);
    assert!(mail.body.contains(&format!("{}/analytics/topics/{fund}", app.base)), "the mail links to all of them: {}", mail.body);

    // (d) Scanning again raises nothing, and sends nothing.
    let again = scan(&app);
    assert_eq!((again["surge_alerts"].as_u64(), again["new_topic_alerts"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(app.count("topic_alerts"), 1);
    assert_eq!(app.count("outbox WHERE kind = 'topic_alert'"), 1);
}

/// The weeks the comments are clustered in are calendar weeks, the alert's windows the last
/// 7 days: the surge is found whatever the weekday and hour of the scan (scans dated 0 to 7 days
/// back, 27 hours apart, each over its own history).
#[actix_web::test]
async fn the_surge_is_found_whatever_the_weekday() {
    for step in 0..7 {
        let Some(app) = TestApp::spawn(common::Backend::Sqlite).await else { return };
        let d = app.seed().await;
        let at = clock::now() - Duration::hours(27 * step);
        history(&app, &d, 5, 40, at).await;
        let round = scan_at(&app, Some(at));
        assert_eq!((round["surge_alerts"].as_u64(), round["new_topic_alerts"].as_u64()), (Some(1), Some(0)), "scan at {at}: {round}");
    }
}

on_both_backends!(a_flat_history_raises_nothing);

/// (b) The same volumes without the surge: no alert, no mail.
async fn a_flat_history_raises_nothing(app: TestApp) {
    let d = app.seed().await;
    history(&app, &d, 5, 5, clock::now()).await;
    let round = scan(&app);
    assert_eq!((round["surge_alerts"].as_u64(), round["new_topic_alerts"].as_u64()), (Some(0), Some(0)), "{round}");
    let (_, alerts) = app.get("/api/v1/topics/alerts", Some(&d.supervisor)).await;
    assert_eq!(alerts, json!([]));
    assert_eq!(app.count("outbox WHERE kind = 'topic_alert'"), 0);
    let (_, overview) = app.get("/api/v1/topics", Some(&d.supervisor)).await;
    let topics = overview["topics"].as_array().expect("topics");
    assert!(topics.len() >= 3 && topics.iter().all(|t| t["last_7_days"].as_i64() <= Some(6)), "{overview}");

    // `serve`'s scanner tracks topics at most every quarter hour; `haochaping scan` always does.
    let serve = TopicScan { new_topic_alert_size: 10, min_interval: Some(Duration::minutes(haochaping::insight::topics::SERVE_INTERVAL_MINUTES)) };
    let mut conn = app.conn();
    assert!(!topics::scan(&mut conn, clock::now(), &serve).expect("round").ran, "scanned a moment ago");
    assert!(topics::scan(&mut conn, clock::now() + Duration::minutes(16), &serve).expect("round").ran);
    assert!(scan(&app)["ran"].as_bool().unwrap_or(false));
}

on_both_backends!(a_new_topic_of_ten_is_alerted);

/// (b) A subject never seen before with ten complaints in the last 7 days: a new-topic alert.
async fn a_new_topic_of_ten_is_alerted(app: TestApp) {
    let d = app.seed().await;
    history(&app, &d, 4, 4, clock::now()).await;
    let mut serial = 10_000;
    for n in 0..10 {
        comment(&app, &d, &mut serial, Via::Complaint, "D2", &PARKING.text(n), clock::now() - Duration::hours(2 + 4 * n as i64)).await;
    }
    let round = scan(&app);
    let (_, overview) = app.get("/api/v1/topics", Some(&d.supervisor)).await;
    assert_eq!((round["surge_alerts"].as_u64(), round["new_topic_alerts"].as_u64()), (Some(0), Some(1)), "{round} {overview:#}");
    let (_, alerts) = app.get("/api/v1/topics/alerts", Some(&d.supervisor)).await;
    let alert = &alerts[0];
    assert_eq!((alert["kind"].as_str(), alert["count"].as_i64(), alert["threshold"].as_f64()), (Some("new_topic"), Some(10), Some(10.0)), "{alerts}");
    assert!(alert["label"].as_str().is_some_and(|l| l.contains("停车")), "{alert}");
    assert_eq!(scan(&app)["new_topic_alerts"].as_u64(), Some(0));
}

on_both_backends!(matrix_counts_bad_rates_and_drills_down_to_the_cases);

/// (c) A known week: 公积金 in D1 by three bad reviews and a 3-star one, in D2 by two
/// complaints; 排队 in D2 by two bad and two good reviews; 态度 in D1 by three complaints.
async fn matrix_counts_bad_rates_and_drills_down_to_the_cases(app: TestApp) {
    let d = app.seed().await;
    let mut serial = 0;
    let at = |h: i64| in_week(1, 8 + 7 * h);
    let mut fund_d1_cases = Vec::new();
    for (n, stars) in [1, 2, 1, 3].into_iter().enumerate() {
        fund_d1_cases.push(comment(&app, &d, &mut serial, Via::Review(stars), "D1", &FUND.text(n), at(n as i64)).await);
    }
    let mut fund_d2_cases = Vec::new();
    for n in 4..6 {
        fund_d2_cases.push(comment(&app, &d, &mut serial, Via::Complaint, "D2", &FUND.text(n), at(n as i64)).await);
    }
    for (n, stars) in [1, 1, 4, 5].into_iter().enumerate() {
        comment(&app, &d, &mut serial, Via::Review(stars), "D2", &QUEUE.text(n), at(6 + n as i64)).await;
    }
    for n in 0..3 {
        comment(&app, &d, &mut serial, Via::Complaint, "D1", &STAFF.text(n), at(10 + n as i64)).await;
    }
    scan(&app);
    let placed = topic_of_texts(&app, &d.supervisor).await;
    let topic = |s: &Subject| {
        let ids = topics_of(s, &placed);
        assert_eq!(ids.len(), 1, "{placed:#?}");
        *ids.iter().next().expect("topic")
    };
    let (fund, queue, staff) = (topic(&FUND), topic(&QUEUE), topic(&STAFF));
    let from = in_week(1, 0).with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let to = from + Duration::days(6);
    let (status, m) = app.get(&format!("/api/v1/topics/matrix?from={from}&to={to}"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{m}");
    let cell = |topic: i64, dept: &str| -> Value {
        let row = m["rows"].as_array().and_then(|r| r.iter().find(|r| r["topic_id"].as_i64() == Some(topic)).cloned()).expect("row");
        row["cells"].as_array().and_then(|c| c.iter().find(|c| c["department_code"] == dept).cloned()).unwrap_or(Value::Null)
    };
    let fund_d1 = cell(fund, "D1");
    assert_eq!((fund_d1["reviews"].as_i64(), fund_d1["bad_reviews"].as_i64(), fund_d1["complaints"].as_i64()), (Some(4), Some(3), Some(0)), "{m}");
    assert_eq!(fund_d1["bad_rate"], json!(0.75));
    let fund_d2 = cell(fund, "D2");
    assert_eq!((fund_d2["reviews"].as_i64(), fund_d2["complaints"].as_i64(), fund_d2["bad_rate"].clone()), (Some(0), Some(2), Value::Null), "{m}");
    let queue_d2 = cell(queue, "D2");
    assert_eq!((queue_d2["reviews"].as_i64(), queue_d2["bad_reviews"].as_i64(), queue_d2["bad_rate"].clone()), (Some(4), Some(2), json!(0.5)), "{m}");
    assert!(cell(queue, "D1").is_null(), "{m}");
    let staff_d1 = cell(staff, "D1");
    assert_eq!((staff_d1["reviews"].as_i64(), staff_d1["complaints"].as_i64()), (Some(0), Some(3)), "{m}");
    let fund_row = m["rows"].as_array().and_then(|r| r.iter().find(|r| r["topic_id"].as_i64() == Some(fund)).cloned()).expect("fund row");
    assert_eq!((fund_row["reviews"].as_i64(), fund_row["bad_reviews"].as_i64(), fund_row["complaints"].as_i64()), (Some(4), Some(3), Some(2)), "{fund_row}");

    // Drill down: the cell's comments and their cases (the 3-star review opened none).
    let (status, docs) = app.get(fund_d1["documents_url"].as_str().expect("link"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{docs}");
    let mut cases: Vec<Option<i64>> = docs["items"].as_array().expect("items").iter().map(|i| i["case_id"].as_i64()).collect();
    cases.sort();
    fund_d1_cases.sort();
    assert_eq!(cases, fund_d1_cases, "{docs}");
    assert_eq!(fund_d1_cases.iter().filter(|c| c.is_none()).count(), 1);
    let (_, docs) = app.get(fund_d2["documents_url"].as_str().expect("link"), Some(&d.supervisor)).await;
    let mut cases: Vec<Option<i64>> = docs["items"].as_array().expect("items").iter().map(|i| i["case_id"].as_i64()).collect();
    cases.sort();
    fund_d2_cases.sort();
    assert_eq!(cases, fund_d2_cases, "{docs}");
    // Bad filters are refused with the field named; unknown topics are 404.
    let (status, body) = app.get(&format!("/api/v1/topics/{fund}/documents?department=NOPE"), Some(&d.supervisor)).await;
    assert_eq!((status, common::error_code(&body)), (422, "invalid".to_owned()), "{body}");
    assert_eq!(app.get(&format!("/api/v1/topics/matrix?from={to}&to={from}"), Some(&d.supervisor)).await.0, 422);
    assert_eq!(app.get("/api/v1/topics/999999/documents", Some(&d.supervisor)).await.0, 404);
    assert_eq!(app.get("/api/v1/topics/matrix", Some(&d.clerk1)).await.0, 403);

    // The analytics page draws the topics and the matrix, each cell linking to its comments.
    let session = StaffSession::sign_in(&app, "sup").await;
    let (status, page) = session.get(&format!("/analytics?from={from}&to={to}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("问题主题（按周）") && page.contains("差评分项") && page.contains("class=\"chart spark\""), "{page}");
    assert!(page.contains(&format!("/analytics/topics/{fund}?department=D1&amp;from={from}&amp;to={to}")), "{page}");
    assert!(page.contains("3/4（75.0%）"), "{page}");
    let (status, cell_page) = session.get(&format!("/analytics/topics/{fund}?department=D1&from={from}&to={to}")).await;
    assert_eq!(status, 200);
    for case in fund_d1_cases.iter().flatten() {
        assert!(cell_page.contains(&format!("href=\"/cases/{case}\"")), "{cell_page}");
    }
    assert!(cell_page.contains("共 4 件"), "{cell_page}");
}
