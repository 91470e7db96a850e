//! Frozen monthly reports (issue 20 item 1), on both backends: a closed month's report is stored
//! on its first read and served unchanged after late data arrives, its hash is in the audit
//! chain; the current month stays live; a supervisor's regeneration needs a reason and the role,
//! keeps both versions and shows what changed; `haochaping scan` freezes the previous month; and
//! a month inside `HCP_REPORT_FREEZE_DAYS` stays live.
//!
//! The clock is the real one: "closed" months are months before this one, with data dated in
//! them (integrations may give `rated_at`), and the scanner is moved with `scan --at`.

mod common;

use chrono::{Datelike, Months, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use common::{error_code, StaffSession, TestApp};
use serde_json::{json, Value};

/// The first day of the month `back` months before this one (Beijing).
fn first_of(back: u32) -> NaiveDate {
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    today.with_day(1).and_then(|d| d.checked_sub_months(Months::new(back))).expect("month")
}

fn month_of(back: u32) -> String {
    first_of(back).format("%Y-%m").to_string()
}

/// `YYYY-MM-DDThh:00:00+08:00` on day `day` of the month `back` months ago.
fn moment(back: u32, day: u32, hour: u32) -> String {
    format!("{}T{hour:02}:00:00+08:00", first_of(back).with_day(day).expect("day"))
}

/// A D1 transaction completed and rated in the month `back` months ago (day `day`).
async fn rated(app: &TestApp, d: &common::District, no: &str, back: u32, day: u32, stars: u8) {
    app.transaction(d, no, "I1", json!({"completed_at": moment(back, day, 9)})).await;
    let mut body = json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "rated_at": moment(back, day, 10)});
    if stars <= 2 {
        body["comment"] = json!("窗口排队两个小时没人管");
    }
    let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
    assert_eq!(r.0, 201, "{no}: {}", r.1);
}

/// A rating of today.
async fn rated_now(app: &TestApp, d: &common::District, no: &str, stars: u8) {
    let now = Utc::now().with_timezone(&Shanghai);
    app.transaction(d, no, "I1", json!({"completed_at": (now - chrono::Duration::minutes(30)).to_rfc3339()})).await;
    let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "rated_at": now.to_rfc3339()})).await;
    assert_eq!(r.0, 201, "{no}: {}", r.1);
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn report(app: &TestApp, token: &str, query: &str) -> Answer {
    let r = app.client.get(app.url(&format!("/api/v1/reports/monthly?{query}"))).bearer_auth(token).send().await.expect("report");
    Answer { status: r.status().as_u16(), headers: r.headers().clone(), body: r.bytes().await.expect("body").to_vec() }
}

fn snapshots(app: &TestApp, month: &str) -> i64 {
    app.count(&format!("monthly_report_snapshots WHERE month = '{month}'"))
}

on_both_backends!(a_closed_month_is_frozen_on_first_read_and_stays_so);

async fn a_closed_month_is_frozen_on_first_read_and_stays_so(app: TestApp) {
    let d = app.seed().await;
    let month = month_of(2);
    rated(&app, &d, "F1", 2, 10, 5).await;
    rated(&app, &d, "F2", 2, 11, 1).await;
    assert_eq!(snapshots(&app, &month), 0, "nothing is stored before the first read");

    // Two readers at once: one stores version 1, the other serves it.
    let query = format!("month={month}");
    let (a, b) = tokio::join!(report(&app, &d.supervisor, &query), report(&app, &d.supervisor, &query));
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.text(), b.text());
    assert_eq!(snapshots(&app, &month), 1, "one version 1, however many readers");
    for answer in [&a, &b] {
        assert_eq!((answer.header("x-report-status"), answer.header("x-report-version")), ("frozen".to_owned(), "1".to_owned()));
    }
    let hash = a.header("x-report-hash");
    assert_eq!(hash.len(), 64, "a SHA-256: {hash}");
    assert_eq!(b.header("x-report-hash"), hash);
    let first = a.text();
    assert!(first.contains("封存于") && first.contains("第 1 版") && first.contains(&hash[..16]), "the page says frozen, which version and the hash");
    assert!(!first.contains("实时数据"), "a frozen report does not say live");
    assert!(first.contains("区市场监督管理局") && first.contains("运营报告"));
    assert_eq!(app.count(&format!("audit_events WHERE action = 'report_frozen' AND detail LIKE '%{hash}%'")), 1, "the hash is in the audit chain");
    let (status, chain) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!((status, chain["ok"].as_bool()), (200, Some(true)), "{chain}");
    let csv_before = report(&app, &d.supervisor, &format!("month={month}&format=csv")).await;
    assert_eq!((csv_before.status, csv_before.header("x-report-status")), (200, "frozen".to_owned()));
    assert!(csv_before.header("content-disposition").contains(&format!("haochaping-report-{month}-v1.csv")));
    assert!(csv_before.text().contains("评价数,2,"), "{}", csv_before.text());
    let xlsx = report(&app, &d.supervisor, &format!("month={month}&format=xlsx")).await;
    assert_eq!((xlsx.status, xlsx.header("x-report-version")), (200, "1".to_owned()));
    assert!(xlsx.body.starts_with(b"PK"), "an XLSX (zip)");

    // A late rating of that month: the stored report does not move.
    rated(&app, &d, "F3", 2, 20, 1).await;
    let again = report(&app, &d.supervisor, &format!("month={month}")).await;
    assert_eq!(again.text(), first, "the same bytes as the first read");
    assert_eq!(report(&app, &d.supervisor, &format!("month={month}&format=csv")).await.body, csv_before.body);
    let document = report(&app, &d.supervisor, &format!("month={month}&format=json")).await.json();
    assert_eq!((document["status"].as_str(), document["version"]["version"].as_i64()), (Some("frozen"), Some(1)));
    assert_eq!(document["version"]["hash"].as_str(), Some(hash.as_str()));
    assert_eq!(document["figures"]["total"]["ratings"], 2, "the frozen figures, not today's three");
    assert!(document["status_text"].as_str().is_some_and(|t| t.contains("封存于")), "{document}");
    assert_eq!(snapshots(&app, &month), 1);
    // The live statistics do see the late rating.
    let (_, stats) = app.get(&format!("/api/v1/stats?from={}&to={}", first_of(2), first_of(1).pred_opt().expect("day")), Some(&d.supervisor)).await;
    assert_eq!(stats["total"]["ratings"], 3, "{stats}");

    // Another ranking minimum is refused rather than answered with other figures; the stored one is fine.
    let refused = report(&app, &d.supervisor, &format!("month={month}&min_ratings=3")).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("/api/v1/rankings"), "says where a live ranking is: {}", refused.text());
    assert_eq!(report(&app, &d.supervisor, &format!("month={month}&min_ratings=30")).await.status, 200);
    assert_eq!(report(&app, &d.supervisor, &format!("month={month}&version=2")).await.status, 404);
    assert_eq!(report(&app, &d.clerk1, &format!("month={month}")).await.status, 403);

    // The current month is live, says so, and moves with new data.
    let this_month = month_of(0);
    let live = report(&app, &d.supervisor, &format!("month={this_month}")).await;
    assert_eq!((live.status, live.header("x-report-status")), (200, "live".to_owned()));
    assert!(live.text().contains("本月报表为实时数据，尚未封存"), "the current month says it is live");
    let before = report(&app, &d.supervisor, &format!("month={this_month}&format=json")).await.json();
    assert_eq!(before["status"], "live");
    assert!(before["version"].is_null());
    rated_now(&app, &d, "N1", 4).await;
    let after = report(&app, &d.supervisor, &format!("month={this_month}&format=json")).await.json();
    assert_eq!(after["figures"]["total"]["ratings"].as_i64(), before["figures"]["total"]["ratings"].as_i64().map(|n| n + 1), "live figures follow the data");
    assert_eq!(snapshots(&app, &this_month), 0, "the current month is never stored");
}

on_both_backends!(regeneration_needs_a_reason_and_the_role_and_keeps_both_versions);

async fn regeneration_needs_a_reason_and_the_role_and_keeps_both_versions(app: TestApp) {
    let d = app.seed().await;
    let month = month_of(2);
    rated(&app, &d, "G1", 2, 10, 5).await;
    rated(&app, &d, "G2", 2, 12, 4).await;
    let v1 = report(&app, &d.supervisor, &format!("month={month}")).await;
    assert_eq!(v1.header("x-report-version"), "1");
    let v1_hash = v1.header("x-report-hash");
    let v1_page = v1.text();

    // A bad review of that month arrives late (say an appeal was decided against the department).
    rated(&app, &d, "G3", 2, 25, 1).await;
    let path = format!("/api/v1/reports/monthly/{month}/regenerate");
    assert_eq!(app.post(&path, Some(&d.clerk1), &json!({"reason": "想改"})).await.0, 403, "a department user may not");
    assert_eq!(app.post(&path, Some(&d.key), &json!({"reason": "想改"})).await.0, 403);
    assert_eq!(app.post(&path, None, &json!({"reason": "想改"})).await.0, 401);
    let (status, body) = app.post(&path, Some(&d.supervisor), &json!({})).await;
    assert!(status == 400 || status == 422, "a reason is required: {status} {body}");
    let (status, body) = app.post(&path, Some(&d.supervisor), &json!({"reason": "   "})).await;
    assert_eq!((status, error_code(&body).as_str()), (422, "invalid"), "{body}");
    let (status, body) = app.post(&path, Some(&d.supervisor), &json!({"reason": "长".repeat(501)})).await;
    assert_eq!((status, error_code(&body).as_str()), (422, "invalid"), "{body}");
    let (status, body) = app.post(&format!("/api/v1/reports/monthly/{}/regenerate", month_of(0)), Some(&d.supervisor), &json!({"reason": "提前封存"})).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "month_not_closed"), "the current month is live: {body}");
    assert_eq!(snapshots(&app, &month), 1, "nothing stored by the refusals");

    let reason = "补录一条迟到的差评后重新统计";
    let (status, v2) = app.post(&path, Some(&d.supervisor), &json!({"reason": reason})).await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!((v2["version"].as_i64(), v2["previous_version"].as_i64()), (Some(2), Some(1)));
    assert_eq!(v2["previous_hash"].as_str(), Some(v1_hash.as_str()));
    assert_eq!((v2["reason"].as_str(), v2["generated_by"].as_str()), (Some(reason), Some("supervisor:sup")));
    let v2_hash = v2["hash"].as_str().expect("hash").to_owned();
    assert_ne!(v2_hash, v1_hash);
    let changes = v2["changes"].as_array().expect("changes");
    let changed = |figure: &str, department: &str| changes.iter().find(|c| c["figure"] == figure && c["department"] == department).cloned();
    let total = changed("评价数", "全区合计").unwrap_or_else(|| panic!("评价数 changed: {v2}"));
    assert_eq!((total["before"].as_f64(), total["after"].as_f64()), (Some(2.0), Some(3.0)));
    let bad = changed("差评数", "区市场监督管理局").unwrap_or_else(|| panic!("差评数 of D1 changed: {v2}"));
    assert_eq!((bad["before_text"].as_str(), bad["after_text"].as_str()), (Some("0"), Some("1")));
    assert!(changed("差评率", "区市场监督管理局").is_some(), "{v2}");
    assert_eq!(snapshots(&app, &month), 2, "both versions are kept");

    // The audit chain: who, why, both hashes.
    assert_eq!(
        app.count(&format!("audit_events WHERE action = 'report_regenerated' AND actor = 'supervisor:sup' AND note = '{reason}' AND detail LIKE '%{v1_hash}%' AND detail LIKE '%{v2_hash}%'")),
        1
    );
    let (_, chain) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(chain["ok"], true, "{chain}");

    // Reading serves the newest; ?version=1 the old one, unchanged and saying it is not the newest.
    let newest = report(&app, &d.supervisor, &format!("month={month}")).await;
    assert_eq!((newest.header("x-report-version"), newest.header("x-report-hash")), ("2".to_owned(), v2_hash.clone()));
    let page = newest.text();
    assert!(page.contains("与第 1 版相比的变化") && page.contains("差评数") && page.contains("第 2 版"), "the page shows what changed");
    let old = report(&app, &d.supervisor, &format!("month={month}&version=1")).await;
    assert_eq!((old.header("x-report-version"), old.header("x-report-latest-version")), ("1".to_owned(), "2".to_owned()));
    assert!(old.text().contains("最新为第 2 版"));
    assert_eq!(old.text().replace(" 这不是最新版本：最新为第 2 版。", ""), v1_page, "version 1 as first served, but for the note");
    let document = report(&app, &d.supervisor, &format!("month={month}&format=json")).await.json();
    assert_eq!(document["versions"].as_array().map(Vec::len), Some(2));
    assert!(document["changes"].as_array().is_some_and(|c| !c.is_empty()));
    let (status, versions) = app.get(&format!("/api/v1/reports/monthly/{month}/versions"), Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions["status"], "frozen");
    assert_eq!(versions["versions"][0]["version"], 2);
    assert_eq!(versions["versions"][1]["hash"].as_str(), Some(v1_hash.as_str()));
    assert_eq!(app.get(&format!("/api/v1/reports/monthly/{month}/versions"), Some(&d.clerk1)).await.0, 403);

    // The pages: the versions, what changed, and the form, which stores version 3.
    let sup = StaffSession::sign_in(&app, "sup").await;
    let (status, list) = sup.get("/reports").await;
    assert_eq!(status, 200);
    assert!(list.contains("已封存 · 第 2 版") && list.contains(&format!("/reports/months/{month}")), "the list shows each month's version");
    let (status, html) = sup.get(&format!("/reports/months/{month}")).await;
    assert_eq!(status, 200);
    for expected in ["第 2 版", "第 1 版", reason, "与第 1 版相比的变化", "差评数", "重新生成", "name=\"reason\"", "<label for=\"reason\""] {
        assert!(html.contains(expected), "the versions page lacks {expected}");
    }
    let csrf = sup.csrf(&format!("/reports/months/{month}")).await;
    let (status, _, _) = sup.post(&format!("/reports/months/{month}/regenerate"), &[("csrf", &csrf), ("reason", "")]).await;
    assert_eq!(status, 422, "the page needs a reason too");
    // Nothing changed since version 2: no identical version 3, on the page or through the API.
    let (status, _, page) = sup.post(&format!("/reports/months/{month}/regenerate"), &[("csrf", &csrf), ("reason", "页面上重新生成")]).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("与第 2 版相比没有变化，未生成新版本"), "{page}");
    let (status, body) = app.post(&path, Some(&d.supervisor), &json!({"reason": "再生成一次"})).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "unchanged"), "{body}");
    assert_eq!(body["error"]["message"], "与第 2 版相比没有变化，未生成新版本");
    assert_eq!(snapshots(&app, &month), 2, "no identical version stored");
    assert_eq!(app.count("audit_events WHERE action = 'report_regenerated'"), 1);
    // Another late rating: the page stores version 3.
    rated(&app, &d, "G4", 2, 26, 5).await;
    let (status, location, _) = sup.post(&format!("/reports/months/{month}/regenerate"), &[("csrf", &csrf), ("reason", "页面上重新生成")]).await;
    assert_eq!((status, location.as_deref()), (303, Some(format!("/reports/months/{month}").as_str())));
    assert_eq!(snapshots(&app, &month), 3);
    let (_, html) = sup.get(&format!("/reports/months/{month}")).await;
    assert!(html.contains("与第 2 版相比的变化") && html.contains("评价数"), "what changed since version 2");
    let (status, this_month) = sup.get(&format!("/reports/months/{}", month_of(0))).await;
    assert_eq!(status, 200);
    assert!(this_month.contains("本月报表为实时数据，尚未封存") && !this_month.contains("name=\"reason\""), "no regenerate form for the live month");
    let clerk = StaffSession::sign_in(&app, "clerk1").await;
    assert_eq!(clerk.get(&format!("/reports/months/{month}")).await.0, 403);
}

on_both_backends!(the_scanner_freezes_the_previous_month);

async fn the_scanner_freezes_the_previous_month(app: TestApp) {
    let d = app.seed().await;
    let previous = month_of(1);
    rated(&app, &d, "S1", 1, 3, 2).await;
    rated_now(&app, &d, "S2", 5).await;
    // Three months back only a complaint came in (and its case): that month has a report too.
    let older = month_of(3);
    let r = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "S-C1", "content": "窗口排队两个小时没人管", "received_at": moment(3, 12, 9)})).await;
    assert_eq!(r.0, 201, "{}", r.1);
    // A moment when the previous month has closed, whatever today is: the 7th of this month.
    let at = format!("{}T12:00:00+08:00", first_of(0).with_day(7).expect("day"));
    let scan = || {
        let run = app.cli(&["scan", "--at", &at, "--allow-future"]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        serde_json::from_slice::<Value>(&run.stdout).expect("scan JSON")
    };
    // One month a round, the oldest first.
    let output = scan();
    assert_eq!(output["reports_frozen"], json!([older]), "{output}");
    assert_eq!(snapshots(&app, &older), 1);
    let output = scan();
    assert_eq!(output["reports_frozen"], json!([previous]), "{output}");
    assert_eq!(snapshots(&app, &previous), 1);
    assert_eq!(app.count("monthly_report_snapshots"), 2, "no month without data, and not the current one");
    assert_eq!(app.count("audit_events WHERE action = 'report_frozen' AND actor = 'system:report-freeze'"), 2);
    let run = app.cli(&["scan", "--at", &at, "--allow-future"]);
    let output: Value = serde_json::from_slice(&run.stdout).expect("scan JSON");
    assert_eq!(output["reports_frozen"], json!([]), "frozen once: {output}");
    // Reading serves what the scanner stored.
    let served = report(&app, &d.supervisor, &format!("month={previous}&format=json")).await.json();
    assert_eq!((served["status"].as_str(), served["version"]["generated_by"].as_str()), (Some("frozen"), Some("system:report-freeze")));
    assert_eq!(served["figures"]["total"]["ratings"], 1);
}

mod a_month_inside_the_freeze_window_stays_live {
    use super::common::{Backend, TestApp};

    #[actix_web::test]
    async fn sqlite() {
        if let Some(app) = TestApp::spawn_with(Backend::Sqlite, |c| c.report_freeze_days = 80).await {
            super::a_month_inside_the_freeze_window_stays_live(app).await;
        }
    }

    #[actix_web::test]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| c.report_freeze_days = 80).await {
            super::a_month_inside_the_freeze_window_stays_live(app).await;
        }
    }
}

/// With `HCP_REPORT_FREEZE_DAYS=80` the month before last (ended at most 62 days ago) is still
/// inside its window: live on read, not regenerable, left alone by the scanner of the same
/// setting, and frozen by a scanner with the default five days.
async fn a_month_inside_the_freeze_window_stays_live(app: TestApp) {
    let d = app.seed().await;
    let month = month_of(2);
    rated(&app, &d, "W1", 2, 10, 1).await;
    let live = report(&app, &d.supervisor, &format!("month={month}")).await;
    assert_eq!((live.status, live.header("x-report-status")), (200, "live".to_owned()));
    assert!(live.text().contains("该月报表为实时数据，尚未封存"), "a past month inside the window says live");
    let document = report(&app, &d.supervisor, &format!("month={month}&format=json")).await.json();
    assert_eq!(document["status"], "live");
    assert_eq!(snapshots(&app, &month), 0);
    let (status, body) = app.post(&format!("/api/v1/reports/monthly/{month}/regenerate"), Some(&d.supervisor), &json!({"reason": "提前封存"})).await;
    assert_eq!((status, error_code(&body).as_str()), (409, "month_not_closed"), "{body}");
    let (_, versions) = app.get(&format!("/api/v1/reports/monthly/{month}/versions"), Some(&d.supervisor)).await;
    assert_eq!(versions["status"], "live", "{versions}");

    let scan = |freeze_days: &str| {
        common::haochaping_command()
            .args(["scan"])
            .env("DATABASE_URL", &app.database_url)
            .env("HCP_SECRET", "test-secret")
            .env("HCP_REPORT_FREEZE_DAYS", freeze_days)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run haochaping")
    };
    let run = scan("80");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let output: Value = serde_json::from_slice(&run.stdout).expect("scan JSON");
    assert_eq!(output["reports_frozen"], json!([]), "{output}");
    assert_eq!(snapshots(&app, &month), 0);
    let refused = scan("1000");
    assert!(!refused.status.success(), "an out-of-range setting is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("HCP_REPORT_FREEZE_DAYS"), "{}", String::from_utf8_lossy(&refused.stderr));
    let run = scan("5");
    let output: Value = serde_json::from_slice(&run.stdout).expect("scan JSON");
    assert!(output["reports_frozen"].as_array().is_some_and(|m| m.contains(&json!(month))), "{output}");
    assert_eq!(snapshots(&app, &month), 1);
}

on_both_backends!(a_stored_version_changed_afterwards_is_refused);

/// A stored row edited behind the service's back (here by SQL) no longer hashes to its stored
/// hash: every format of it is refused with 500 rather than served as the frozen report, and a
/// regeneration does not build on it. Also: a closed month not yet stored says how long ago it ended.
async fn a_stored_version_changed_afterwards_is_refused(app: TestApp) {
    let d = app.seed().await;
    let month = month_of(2);
    rated(&app, &d, "T1", 2, 10, 5).await;
    let first = report(&app, &d.supervisor, &format!("month={month}&format=csv")).await;
    assert_eq!((first.status, first.header("x-report-version")), (200, "1".to_owned()), "{}", first.text());
    assert_eq!(app.execute(&format!("UPDATE monthly_report_snapshots SET csv = REPLACE(csv, '评价数,1,', '评价数,9,') WHERE month = '{month}'")), 1);
    let tampered: i64 = app.count(&format!("monthly_report_snapshots WHERE month = '{month}' AND csv LIKE '%评价数,9,%'"));
    assert_eq!(tampered, 1, "the test really changed the row");
    for format in ["csv", "html", "json", "xlsx"] {
        let refused = report(&app, &d.supervisor, &format!("month={month}&format={format}")).await;
        assert_eq!(refused.status, 500, "{format}: {}", refused.text());
        let body = refused.json();
        assert_eq!(error_code(&body), "integrity_check_failed", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("报表快照校验失败")), "{body}");
        assert_eq!(refused.header("x-report-status"), "", "not served as frozen");
    }
    rated(&app, &d, "T2", 2, 20, 1).await;
    let (status, body) = app.post(&format!("/api/v1/reports/monthly/{month}/regenerate"), Some(&d.supervisor), &json!({"reason": "迟到的差评"})).await;
    assert_eq!((status, error_code(&body).as_str()), (500, "integrity_check_failed"), "{body}");
    assert_eq!(snapshots(&app, &month), 1);

    // A closed month with nothing stored yet: "pending", with the days since it ended.
    let pending = month_of(3);
    let (status, versions) = app.get(&format!("/api/v1/reports/monthly/{pending}/versions"), Some(&d.supervisor)).await;
    assert_eq!((status, versions["status"].as_str()), (200, Some("pending")), "{versions}");
    let ended = Utc::now().with_timezone(&Shanghai).date_naive().signed_duration_since(first_of(2)).num_days();
    assert!(versions["status_text"].as_str().is_some_and(|t| t.contains(&format!("该月已结束 {ended} 天"))), "{versions}");
}

/// Runs `haochaping report ARGS`, which must succeed; returns what it said on stderr.
fn write_report(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(&[&["report"], args].concat());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    said
}

on_both_backends!(the_report_command_writes_the_frozen_version_not_a_new_count);
async fn the_report_command_writes_the_frozen_version_not_a_new_count(app: TestApp) {
    let d = app.seed().await;
    let month = month_of(2);
    rated(&app, &d, "C1", 2, 10, 5).await;
    rated(&app, &d, "C2", 2, 11, 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_path = dir.path().join("report.csv");
    let csv_file = csv_path.to_str().expect("path");

    // The command freezes the closed month itself and writes what the API serves.
    let said = write_report(&app, &["--month", &month, "--format", "csv", "--out", csv_file]);
    assert!(said.contains("封存于"), "says it wrote a frozen version: {said}");
    assert_eq!(snapshots(&app, &month), 1);
    let written = std::fs::read(&csv_path).expect("csv written");
    let served = report(&app, &d.supervisor, &format!("month={month}&format=csv")).await;
    assert_eq!((served.status, served.header("x-report-version")), (200, "1".to_owned()));
    assert_eq!(written, served.body, "the file is the stored version");

    // A late rating: the command still writes the frozen figures, not today's count.
    rated(&app, &d, "C3", 2, 20, 1).await;
    std::fs::remove_file(&csv_path).expect("remove");
    write_report(&app, &["--month", &month, "--format", "csv", "--out", csv_file]);
    assert_eq!(std::fs::read(&csv_path).expect("csv"), served.body);
    assert!(String::from_utf8_lossy(&served.body).contains("评价数,2,"));

    // The HTML file carries its stylesheet and says it is frozen; another minimum is refused.
    let html_path = dir.path().join("report.html");
    write_report(&app, &["--month", &month, "--out", html_path.to_str().expect("path")]);
    let html = std::fs::read_to_string(&html_path).expect("html");
    assert!(html.contains("<style>") && !html.contains("/static/app.css"), "a file opened from disk has its stylesheet inside");
    assert!(html.contains("封存于") && html.contains("第 1 版"), "says frozen and which version");
    let out = app.cli(&["report", "--month", &month, "--min-ratings", "3", "--out", html_path.to_str().expect("path")]);
    assert!(!out.status.success(), "another ranking minimum is refused for a frozen month");
    assert!(String::from_utf8_lossy(&out.stderr).contains("min_ratings 30"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshots(&app, &month), 1);
}
