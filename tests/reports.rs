//! Statistics, rankings, the monthly report, public disclosure, Open311 and the case export, on
//! a scenario whose figures are worked out by hand (on both backends):
//!
//! D1 (item I1, window W1): T1 5★ (not public), T2 4★ anonymous, T3 1★ → case answered, approved,
//! 回访 满意; T4 2★ → appeal upheld (excluded); T5 5★ `default`; T6 unrated; complaint K1 → case.
//! D2 (item I2): T7 1★ → case left in `feedback`.
//!
//! D1 ratings 4 (T1 T2 T3 T5), active 3, stars [1,0,0,1,2], 好评率 3/4, 主动评价好评率 2/3,
//! 未评率 2/6 (T5 default only, T6), 差评回复率 1/1, cases 3 (C3 C4 K1), to rectify 2 (C4 upheld),
//! rectified 1 → 整改率 1/2, 按期办结率 1/1, 回访满意率 1/1, appeals 1 filed 1 upheld.
//! D2 ratings 1, 差评率 1, 未评率 0/1, 差评回复率 0/1, 整改率 0/1, 按期办结率 undefined.

mod common;

use chrono::{Duration, Utc};
use chrono_tz::Asia::Shanghai;
use common::{error_code, TestApp};
use serde_json::{json, Value};

struct Scenario {
    d: common::District,
    case3: i64,
    case4: i64,
    case7: i64,
    complaint_case: i64,
    from: String,
    to: String,
    month: String,
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9)
}

async fn scenario(app: &TestApp) -> Scenario {
    let d = app.seed().await;
    let rated = Utc::now() - Duration::hours(1);
    let completed = (rated - Duration::hours(1)).with_timezone(&Shanghai).to_rfc3339();
    let rated_at = rated.with_timezone(&Shanghai).to_rfc3339();
    let mut case_of = std::collections::HashMap::new();
    for (no, item, window, stars, channel, extra) in [
        ("T1", "I1", true, Some(5), "window_device", json!({"public": false})),
        ("T2", "I1", true, Some(4), "kiosk", json!({"anonymous": true})),
        ("T3", "I1", true, Some(1), "kiosk", json!({"comment": "排队两个小时"})),
        ("T4", "I1", true, Some(2), "kiosk", json!({"comment": "态度不好"})),
        ("T5", "I1", false, Some(5), "default", json!({})),
        ("T6", "I1", false, None, "", json!({})),
        ("T7", "I2", false, Some(1), "kiosk", json!({"comment": "材料反复要求"})),
    ] {
        let window = if window { json!({"window_code": "W1"}) } else { json!({}) };
        let mut tx = json!({"completed_at": completed});
        tx.as_object_mut().expect("object").extend(window.as_object().cloned().unwrap_or_default());
        app.transaction(&d, no, item, tx).await;
        if let Some(stars) = stars {
            let mut body = json!({"transaction_no": no, "stars": stars, "channel": channel, "rated_at": rated_at});
            body.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
            let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
            assert_eq!(r.0, 201, "{no}: {}", r.1);
            case_of.insert(no, r.1["case_id"].as_i64());
        }
    }
    let case3 = case_of["T3"].expect("case 3");
    let case4 = case_of["T4"].expect("case 4");
    let case7 = case_of["T7"].expect("case 7");
    for (who, action, note) in [(&d.clerk1, "verify", None), (&d.clerk1, "rectify", Some("增开窗口")), (&d.clerk1, "reply", Some("已增开窗口，感谢监督")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(who, case3, action, note).await.0, 200);
    }
    assert_eq!(app.act(&d.clerk1, case4, "appeal", Some("非本单位事项")).await.0, 200);
    assert_eq!(app.act(&d.supervisor, case4, "uphold_appeal", Some("申诉成立")).await.0, 200);
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "K1", "title": "营业执照办理慢", "content": "联系人李四 13900001111，办理很慢",
        "received_at": rated_at, "department_code": "D1"})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let complaint_case = r.1["case_id"].as_i64().expect("complaint case");
    // The citizen of T3 rates the handling: 满意.
    let token = app.state.signer.sign("T3", Utc::now() + Duration::days(1));
    let r = app.client.post(app.url("/api/v1/follow-ups")).header("X-Rating-Token", token).json(&json!({"transaction_no": "T3", "kind": "handling", "satisfaction": "satisfied"})).send().await.expect("follow-up");
    assert_eq!(r.status().as_u16(), 201);
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    Scenario {
        d,
        case3,
        case4,
        case7,
        complaint_case,
        from: (today - Duration::days(30)).to_string(),
        to: today.to_string(),
        month: rated.with_timezone(&Shanghai).format("%Y-%m").to_string(),
    }
}

fn group<'a>(stats: &'a Value, key: &str) -> &'a Value {
    stats["groups"].as_array().and_then(|g| g.iter().find(|x| x["key"] == key)).unwrap_or_else(|| panic!("no group {key} in {stats}"))
}

on_both_backends!(every_figure_matches_the_hand_count);

async fn every_figure_matches_the_hand_count(app: TestApp) {
    let s = scenario(&app).await;
    let (status, stats) = app.get(&format!("/api/v1/stats?from={}&to={}&group_by=department", s.from, s.to), Some(&s.d.supervisor)).await;
    assert_eq!(status, 200, "{stats}");
    let d1 = group(&stats, "D1");
    assert_eq!(d1["name"], "区市场监督管理局");
    assert_eq!((d1["ratings"].as_i64(), d1["active_ratings"].as_i64(), d1["default_ratings"].as_i64()), (Some(4), Some(3), Some(1)));
    assert_eq!(d1["stars"], json!([1, 0, 0, 1, 2]));
    assert!(close(&d1["good_rate"], 0.75) && close(&d1["bad_rate"], 0.25), "{d1}");
    assert!(close(&d1["active_good_rate"], 2.0 / 3.0), "{d1}");
    assert!(close(&d1["unrated_rate"], 2.0 / 6.0), "{d1}");
    assert!(close(&d1["bad_reply_rate"], 1.0), "{d1}");
    assert!(close(&d1["rectification_rate"], 0.5), "{d1}");
    assert!(close(&d1["on_time_rate"], 1.0), "{d1}");
    assert!(close(&d1["follow_up_satisfaction_rate"], 1.0), "{d1}");
    assert_eq!((d1["appeals_filed"].as_i64(), d1["appeals_upheld"].as_i64()), (Some(1), Some(1)));
    assert_eq!(d1["overdue_cases"], 0);
    let d2 = group(&stats, "D2");
    assert_eq!((d2["ratings"].as_i64(), d2["stars"].clone()), (Some(1), json!([1, 0, 0, 0, 0])));
    assert!(close(&d2["bad_rate"], 1.0) && close(&d2["unrated_rate"], 0.0) && close(&d2["bad_reply_rate"], 0.0) && close(&d2["rectification_rate"], 0.0));
    assert!(d2["on_time_rate"].is_null(), "nothing closed: undefined, not zero");
    let total = &stats["total"];
    assert_eq!((total["ratings"].as_i64(), total["stars"].clone()), (Some(5), json!([2, 0, 0, 1, 2])));
    assert!(close(&total["good_rate"], 0.6) && close(&total["unrated_rate"], 2.0 / 7.0), "{total}");

    // By window: W1 has T1–T3 (T4 excluded); the rest have no window.
    let (_, by_window) = app.get(&format!("/api/v1/stats?from={}&to={}&group_by=window", s.from, s.to), Some(&s.d.supervisor)).await;
    assert_eq!(group(&by_window, "W1")["ratings"], 3);
    assert_eq!(group(&by_window, "none")["ratings"], 2);
    let (_, by_channel) = app.get(&format!("/api/v1/stats?from={}&to={}&group_by=channel", s.from, s.to), Some(&s.d.supervisor)).await;
    assert_eq!(group(&by_channel, "default")["ratings"], 1);
    assert_eq!(group(&by_channel, "kiosk")["ratings"], 3);
    let (_, by_month) = app.get(&format!("/api/v1/stats?from={}&to={}&group_by=month", s.from, s.to), Some(&s.d.supervisor)).await;
    assert_eq!(group(&by_month, &s.month)["ratings"], 5);
    // Outside the period: nothing.
    let (_, empty) = app.get("/api/v1/stats?from=2020-01-01&to=2020-01-31", Some(&s.d.supervisor)).await;
    assert_eq!(empty["total"]["ratings"], 0);
    assert!(empty["total"]["good_rate"].is_null());

    // Overdue, a month from now: D2's case and D1's complaint are late, counted in working days.
    {
        let mut conn = app.conn();
        let rules = app.state.rules.reload(&mut conn).expect("rules");
        let period = haochaping::insight::stats::Period::parse(&s.from, &s.to).expect("period");
        let later = Utc::now() + Duration::days(30);
        let stats = haochaping::insight::stats::compute(&mut conn, period, Some(haochaping::insight::stats::GroupBy::Department), haochaping::insight::stats::Scope::All, later, &rules).expect("stats");
        let d2 = stats.groups.iter().find(|g| g.key == "D2").expect("D2");
        assert_eq!(d2.overdue_cases, 1);
        assert!((14..=22).contains(&d2.overdue_days), "about 20 working days late, got {}", d2.overdue_days);
        assert_eq!(stats.groups.iter().find(|g| g.key == "D1").map(|g| g.overdue_cases), Some(1), "the complaint");
    }

    // A department sees its own figures only; integrations none; bad input is 422.
    let (_, own) = app.get(&format!("/api/v1/stats?from={}&to={}&group_by=department", s.from, s.to), Some(&s.d.clerk1)).await;
    assert_eq!(own["groups"].as_array().map(|g| g.len()), Some(1));
    assert_eq!(own["groups"][0]["key"], "D1");
    assert_eq!(app.get("/api/v1/stats", Some(&s.d.key)).await.0, 403);
    assert_eq!(app.get("/api/v1/stats", None).await.0, 401);
    let (status, body) = app.get("/api/v1/stats?group_by=planet", Some(&s.d.supervisor)).await;
    assert_eq!((status, error_code(&body).as_str()), (422, "invalid"));
    assert_eq!(app.get("/api/v1/stats?from=2026-13-01", Some(&s.d.supervisor)).await.0, 422);
    assert_eq!(app.get("/api/v1/stats?from=2026-11-30&to=2026-11-01", Some(&s.d.supervisor)).await.0, 422);

    // Rankings: D2's single rating is not ranked at a minimum of 3.
    let (status, ranking) = app.get(&format!("/api/v1/rankings?month={}&min_ratings=3", s.month), Some(&s.d.supervisor)).await;
    assert_eq!(status, 200, "{ranking}");
    assert_eq!(ranking["ranked"][0]["key"], "D1");
    assert_eq!(ranking["ranked"][0]["rank"], 1);
    assert_eq!(ranking["not_ranked"][0]["key"], "D2");
    assert_eq!(app.get("/api/v1/rankings", Some(&s.d.clerk1)).await.0, 403);
    let _ = (s.case3, s.case7);
}

on_both_backends!(monthly_report_in_three_formats);

async fn monthly_report_in_three_formats(app: TestApp) {
    use calamine::{Data, DataType, Reader, Xlsx};
    let s = scenario(&app).await;
    // One case past its stage's deadline, for the 超期案件 sheet.
    assert_eq!(app.execute("UPDATE cases SET stage_due = '2026-11-02 01:00:00' WHERE id = (SELECT MIN(id) FROM cases WHERE state <> 'closed')"), 1);
    let url = |format: &str| app.url(&format!("/api/v1/reports/monthly?month={}&format={format}&min_ratings=3", s.month));
    let get = |format: &'static str| {
        let req = app.client.get(url(format)).bearer_auth(&s.d.supervisor);
        async move {
            let r = req.send().await.expect("report");
            assert_eq!(r.status().as_u16(), 200, "{format}");
            let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            (ct, r.bytes().await.expect("body").to_vec())
        }
    };
    let (ct, html) = get("html").await;
    assert!(ct.starts_with("text/html"));
    let html = String::from_utf8(html).expect("utf-8");
    for expected in ["运营报告", "<svg", "近六个月评价数与差评数", "部门排名", "窗口排名", "区市场监督管理局", "仍超期的案件"] {
        assert!(html.contains(expected), "report lacks {expected}");
    }
    let (ct, csv) = get("csv").await;
    assert!(ct.starts_with("text/csv"));
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(csv.starts_with('\u{feff}'), "BOM for spreadsheet programs");
    assert!(csv.contains("评价数,5,") && csv.contains("好评率,60.0%,"), "{csv}");
    assert!(csv.contains("1,D1,区市场监督管理局,4,75.0%"), "{csv}");

    let (ct, xlsx) = get("xlsx").await;
    assert!(ct.contains("spreadsheetml"));
    let mut book = Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
    assert_eq!(book.sheet_names(), vec!["总体", "各部门", "月度趋势", "部门排名", "窗口排名", "集中问题", "超期案件"]);
    let overview = book.worksheet_range("总体").expect("总体");
    assert_eq!(overview.get_value((1, 0)), Some(&Data::String("指标".into())));
    assert_eq!(overview.get_value((2, 0)), Some(&Data::String("评价数".into())));
    assert_eq!(overview.get_value((2, 1)), Some(&Data::Float(5.0)));
    assert_eq!(overview.get_value((5, 0)), Some(&Data::String("好评率".into())));
    assert!(matches!(overview.get_value((5, 1)), Some(Data::Float(v)) if (v - 0.6).abs() < 1e-9));
    let departments = book.worksheet_range("各部门").expect("各部门");
    assert_eq!(departments.get_value((0, 5)), Some(&Data::String("好评率".into())));
    let d1_row = (1..departments.height() as u32).find(|r| departments.get_value((*r, 0)) == Some(&Data::String("D1".into()))).expect("D1 row");
    assert_eq!(departments.get_value((d1_row, 2)), Some(&Data::Float(4.0)));
    assert!(matches!(departments.get_value((d1_row, 5)), Some(Data::Float(v)) if (v - 0.75).abs() < 1e-9));
    // Issue 17 item 8: the trend is headed 月份 and its months are dates; due times are dates too.
    let trend = book.worksheet_range("月度趋势").expect("月度趋势");
    assert_eq!((trend.get_value((0, 0)), trend.get_value((0, 1))), (Some(&Data::String("月份".into())), Some(&Data::String("评价数".into()))));
    let last = trend.height() as u32 - 1;
    let month = trend.get_value((last, 0)).and_then(|d| d.as_datetime()).expect("the month is a date");
    assert_eq!(month.format("%Y-%m-%d").to_string(), format!("{}-01", s.month), "the last row is the report's month");
    let overdue = book.worksheet_range("超期案件").expect("超期案件");
    assert!(overdue.height() > 1, "the scenario has an overdue case");
    assert_eq!(overdue.get_value((0, 3)), Some(&Data::String("到期".into())));
    assert!(overdue.get_value((1, 3)).and_then(|d| d.as_datetime()).is_some(), "due is a date-time: {:?}", overdue.get_value((1, 3)));
    let ranking = book.worksheet_range("部门排名").expect("部门排名");
    assert_eq!((ranking.get_value((1, 0)), ranking.get_value((1, 1))), (Some(&Data::Float(1.0)), Some(&Data::String("D1".into()))));
    assert_eq!(ranking.get_value((2, 0)), Some(&Data::String("不参与排名".into())));

    assert_eq!(app.get(&format!("/api/v1/reports/monthly?month={}", s.month), Some(&s.d.clerk1)).await.0, 403);
    assert_eq!(app.get(&format!("/api/v1/reports/monthly?month={}&format=pdf", s.month), Some(&s.d.supervisor)).await.0, 422);
    assert_eq!(app.get("/api/v1/reports/monthly?month=2026-13", Some(&s.d.supervisor)).await.0, 422);

    // The CLI writes the same workbook.
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("report.xlsx");
    let run = app.cli(&["report", "--month", &s.month, "--format", "xlsx", "--min-ratings", "3", "--out", out.to_str().expect("path")]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut book: Xlsx<_> = calamine::open_workbook(&out).expect("open");
    assert_eq!(book.worksheet_range("总体").expect("总体").get_value((2, 1)), Some(&Data::Float(5.0)));
    let html_out = dir.path().join("report.html");
    let run = app.cli(&["report", "--month", &s.month, "--out", html_out.to_str().expect("path")]);
    assert!(run.status.success());
    let html = std::fs::read_to_string(&html_out).expect("html");
    assert!(html.contains("<style>") && html.contains("<svg"), "a standalone file carries its stylesheet");
}

on_both_backends!(public_disclosure_open311_and_case_export);

async fn public_disclosure_open311_and_case_export(app: TestApp) {
    let s = scenario(&app).await;
    let (status, page) = app.get("/api/v1/public/reviews", None).await;
    assert_eq!(status, 200);
    let body = page.to_string();
    assert_eq!(page["total"], 4, "T1 is not public and T4's appeal was upheld: {page}");
    assert!(!body.contains("13812345678") && !body.contains("张三丰") && !body.contains("5678"), "no phone, no full name");
    let items = page["items"].as_array().expect("items");
    let answered = items.iter().find(|i| i["comment"] == "排队两个小时").expect("T3");
    assert_eq!((answered["reviewer"].as_str(), answered["handling"].as_str(), answered["reply"].as_str()), (Some("张**"), Some("已回复"), Some("已增开窗口，感谢监督")));
    let open = items.iter().find(|i| i["comment"] == "材料反复要求").expect("T7");
    assert_eq!((open["handling"].as_str(), open["reply"].is_null()), (Some("处理中"), true));
    assert!(items.iter().any(|i| i["stars"] == 4 && i["reviewer"].is_null()), "anonymous shows no name");
    let (_, bad) = app.get("/api/v1/public/reviews?grade=bad", None).await;
    assert_eq!(bad["total"], 2);
    assert_eq!(app.get("/api/v1/public/reviews?per_page=1000", None).await.0, 422);
    let html = app.client.get(app.url("/public?grade=bad")).send().await.expect("page").text().await.expect("html");
    assert!(html.contains("评价公开") && html.contains("已增开窗口，感谢监督") && !html.contains("13812345678"));

    // Open311: services, requests with expected_datetime, one request; hidden cases are 404.
    let (status, services) = app.get("/open311/v2/services.json", None).await;
    assert_eq!(status, 200);
    assert!(services.as_array().expect("services").iter().any(|x| x["service_code"] == "I1" && x["service_name"] == "企业设立登记"));
    let (status, requests) = app.get("/open311/v2/requests.json", None).await;
    assert_eq!(status, 200, "{requests}");
    let ids: Vec<String> = requests.as_array().expect("requests").iter().filter_map(|r| r["service_request_id"].as_str().map(str::to_owned)).collect();
    for id in [s.case3, s.case7, s.complaint_case] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
    assert!(!ids.contains(&s.case4.to_string()), "an upheld appeal's review is not public");
    assert!(!requests.to_string().contains("13900001111"), "complaint contact stays private");
    let (status, one) = app.get(&format!("/open311/v2/requests/{}.json", s.case7), None).await;
    assert_eq!(status, 200);
    assert_eq!((one[0]["status"].as_str(), one[0]["agency_responsible"].as_str()), (Some("open"), Some("区人社局")));
    assert!(one[0]["expected_datetime"].as_str().is_some_and(|t| t.ends_with("+08:00")));
    let (_, closed) = app.get(&format!("/open311/v2/requests/{}.json", s.case3), None).await;
    assert_eq!((closed[0]["status"].as_str(), closed[0]["status_notes"].as_str()), (Some("closed"), Some("已增开窗口，感谢监督")));
    assert_eq!(app.get(&format!("/open311/v2/requests/{}.json", s.case4), None).await.0, 404);
    // A reply to a complaint goes to the complainant, not to Open311.
    for (who, action, note) in [(&s.d.clerk1, "verify", None), (&s.d.clerk1, "rectify", Some("已督促加快")), (&s.d.clerk1, "reply", Some("李四先生：您的执照已办结")), (&s.d.supervisor, "approve", None)] {
        assert_eq!(app.act(who, s.complaint_case, action, note).await.0, 200);
    }
    let (_, complaint) = app.get(&format!("/open311/v2/requests/{}.json", s.complaint_case), None).await;
    assert_eq!((complaint[0]["status"].as_str(), complaint[0]["status_notes"].as_str()), (Some("closed"), Some("办结")));
    assert!(!complaint.to_string().contains("李四"), "{complaint}");
    let (_, open_only) = app.get("/open311/v2/requests.json?status=open", None).await;
    assert!(open_only.as_array().expect("list").iter().all(|r| r["status"] == "open"));
    assert_eq!(app.get("/open311/v2/requests.json?start_date=yesterday", None).await.0, 422);

    // The lifecycle export: a department gets its own cases with each state's entry time.
    let r = app.client.get(app.url(&format!("/api/v1/exports/cases?from={}&to={}", s.from, s.to))).bearer_auth(&s.d.clerk1).send().await.expect("export");
    assert_eq!(r.status().as_u16(), 200);
    let csv_text = r.text().await.expect("csv");
    let mut reader = csv::Reader::from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "案件编号");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let ids: Vec<i64> = rows.iter().filter_map(|r| r[0].parse().ok()).collect();
    assert_eq!(ids, vec![s.case3, s.case4, s.complaint_case], "D1's cases only");
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let c3 = &rows[0];
    assert!(!c3[col("进入整改")].is_empty() && !c3[col("进入待审核")].is_empty() && !c3[col("办结时间")].is_empty());
    assert_eq!((&c3[col("当前状态")], &c3[col("按期办结")]), ("办结", "是"));
    assert!(!rows[1][col("进入申诉")].is_empty(), "the appeal's entry time");
    let r = app.client.get(app.url("/api/v1/exports/cases")).bearer_auth(&s.d.key).send().await.expect("export");
    assert_eq!(r.status().as_u16(), 403);
}
