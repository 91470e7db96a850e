//! The whole loop in a real browser: headless Chromium through chromedriver (fantoccini). A
//! citizen rates one star on a phone-sized window, the department clerk verifies, rectifies and
//! replies, the supervisor approves on the board's case, and the citizen reads the reply and
//! rates the handling. Without chromedriver the test prints SKIPPED, or fails when
//! `HCP_REQUIRE_ALL_TESTS=1`. Screenshots go to `$HCP_SCREENSHOT_DIR` when it is set.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    let Some(path) = common::chromedriver_path() else {
        assert!(!common::require_all(), "chromedriver is required (HCP_REQUIRE_ALL_TESTS=1): apt-get install chromium chromium-driver");
        eprintln!("SKIPPED: chromedriver not found; set HCP_REQUIRE_ALL_TESTS=1 to fail instead");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {path}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
}

/// A Chromium session with these options added to the common ones (headless, Chinese).
async fn browser(driver: &Driver, extra_args: &[&str], mobile: Option<serde_json::Value>) -> Client {
    let binary = std::env::var("HCP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut args = vec!["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"];
    args.extend_from_slice(extra_args);
    let mut options = json!({"binary": binary, "args": args});
    if let Some(emulation) = mobile {
        options["mobileEmulation"] = emulation;
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session")
}

async fn phone_browser(driver: &Driver) -> Client {
    let emulation = json!({
        "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari/604.1"
    });
    browser(driver, &[], Some(emulation)).await
}

async fn shot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("HCP_SCREENSHOT_DIR") {
        let png = client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    let element = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.text().await.expect("text")
}

async fn body_text(client: &Client) -> String {
    text_of(client, "body").await
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks what leaves the page (a link, a form's button) and waits until the next page is there.
async fn click_through(client: &Client, css: &str) {
    let old_page = client.find(Locator::Css("html")).await.expect("page");
    click(client, css).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while old_page.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "clicking {css} did not load a page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn log_in(client: &Client, app: &TestApp, username: &str) {
    client.goto(&app.url("/login")).await.expect("login page");
    fill(client, "#username", username).await;
    fill(client, "#password", "kite-meadow-93").await;
    click_through(client, "form button[type=submit]").await;
}

async fn log_out(client: &Client) {
    click_through(client, "form[action='/logout'] button").await;
}

/// Acts on the open case page: the note, then the action's button.
async fn act(client: &Client, action: &str, note: Option<&str>) {
    if let Some(n) = note {
        fill(client, "#note", n).await;
    }
    click_through(client, &format!("button[name=action][value={action}]")).await;
}

#[actix_web::test]
async fn the_whole_loop_in_a_phone_browser() {
    let Some(driver) = start_driver() else { return };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let t = app.transaction(&d, "B-1", "I1", json!({"window_code": "W1"})).await;
    let rating_url = t["rating_url"].as_str().expect("rating url").to_owned();
    let client = phone_browser(&driver).await;

    // The citizen, on a phone: the page names what is rated; tags follow the grade.
    client.goto(&rating_url).await.expect("rating page");
    let text = body_text(&client).await;
    for expected in ["企业设立登记", "区市场监督管理局", "1号窗口", "非常满意", "非常不满意"] {
        assert!(text.contains(expected), "rating page lacks {expected}: {text}");
    }
    let width: i64 = client.execute("return window.innerWidth", vec![]).await.expect("width").as_i64().unwrap_or(0);
    assert_eq!(width, 390, "phone-sized window");
    let overflow = client.execute("return document.documentElement.scrollWidth > window.innerWidth", vec![]).await.expect("overflow");
    assert_eq!(overflow, json!(false), "the rating page fits a phone without sideways scrolling");
    let hint = client.find(Locator::Css("#tags-hint")).await.expect("hint");
    assert!(hint.is_displayed().await.expect("shown"), "before a grade is chosen, a hint stands where the tags will be");
    click(&client, "input[name=stars][value='1']").await;
    let bad_group = client.find(Locator::Css(".tags .group[data-band=bad]")).await.expect("bad tags");
    assert!(bad_group.is_displayed().await.expect("displayed"), "bad tags appear for one star");
    let good_group = client.find(Locator::Css(".tags .group[data-band=good]")).await.expect("good tags");
    assert!(!good_group.is_displayed().await.expect("displayed"), "good tags hide for one star");
    click(&client, ".tags .group[data-band=bad] input[type=checkbox]").await;
    fill(&client, "#comment", "排队两个小时，窗口只开一个").await;
    assert_eq!(text_of(&client, "#comment-count").await, "13 / 2000", "the counter counts characters");
    shot(&client, "1-citizen-rates").await;
    click_through(&client, "form button[type=submit]").await;
    let text = body_text(&client).await;
    assert!(text.contains("感谢您的评价") && text.contains("正在核实整改"), "{text}");
    assert_eq!(app.count("reviews WHERE stars = 1 AND channel = 'mobile'"), 1, "rated from the phone");
    let case_id: i64 = app.get("/api/v1/cases", Some(&d.supervisor)).await.1["items"][0]["id"].as_i64().expect("case");

    // The clerk of the department: inbox, case page, verify → rectify → reply.
    log_in(&client, &app, "clerk1").await;
    assert!(client.current_url().await.expect("url").path().ends_with("/cases"), "clerks land on their inbox");
    let inbox = body_text(&client).await;
    assert!(inbox.contains("排队两个小时") && inbox.contains("待核实"), "{inbox}");
    click_through(&client, &format!("a[href='/cases/{case_id}']")).await;
    shot(&client, "2-clerk-case").await;
    act(&client, "verify", Some("已电话联系评价人，情况属实")).await;
    assert!(text_of(&client, "h1").await.contains("整改中"));
    act(&client, "rectify", Some("增开两个窗口，高峰时段分流")).await;
    act(&client, "reply", Some("感谢监督，我局已增开窗口，欢迎再次评价。")).await;
    assert!(text_of(&client, "h1").await.contains("待审核"));
    log_out(&client).await;

    // The supervisor: the board lists the reply to audit; approve it on the case page.
    log_in(&client, &app, "sup").await;
    assert!(client.current_url().await.expect("url").path().ends_with("/board"), "supervisors land on the board");
    let board = text_of(&client, "#supervision").await;
    assert!(board.contains(&format!("#{case_id}")), "{board}");
    shot(&client, "3-supervisor-board").await;
    click_through(&client, &format!("#supervision a[href='/cases/{case_id}']")).await;
    assert!(body_text(&client).await.contains("感谢监督，我局已增开窗口"));
    act(&client, "approve", None).await;
    assert!(text_of(&client, "h1").await.contains("办结"));
    log_out(&client).await;

    // The citizen again: the reply, and the 回访 rating of the handling.
    client.goto(&rating_url).await.expect("rating page");
    let text = body_text(&client).await;
    assert!(text.contains("感谢监督，我局已增开窗口") && text.contains("您对处理结果是否满意"), "{text}");
    click(&client, "input[name=satisfaction][value=satisfied]").await;
    shot(&client, "4-citizen-follow-up").await;
    click_through(&client, "form[action$='/follow-up'] button[type=submit]").await;
    assert!(body_text(&client).await.contains("您对处理结果的评价：满意"));
    assert_eq!(app.count("review_follow_ups WHERE kind = 'handling' AND satisfaction = 'satisfied'"), 1);
    let (_, case) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.supervisor)).await;
    assert_eq!(case["state"], "closed");
    let (_, audit) = app.get("/api/v1/audit/verify", Some(&d.supervisor)).await;
    assert_eq!(audit["ok"], true);

    // Keyboard only: the login form can be filled and sent with Tab and Enter.
    client.goto(&app.url("/login")).await.expect("login page");
    click(&client, "#username").await;
    client.active_element().await.expect("focus").send_keys("clerk1\u{E004}kite-meadow-93\u{E007}").await.expect("keys");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !client.current_url().await.expect("url").path().ends_with("/cases") {
        assert!(Instant::now() < deadline, "Tab + Enter did not sign in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await.expect("close browser");
}

/// Issue 16 in a real browser: the admin adjusts the district from the pages — hands a window's
/// assignment to another staff member in one step and closes a window from its row.
#[actix_web::test]
async fn the_admin_adjusts_the_district_in_a_browser() {
    let Some(driver) = start_driver() else { return };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let client = phone_browser(&driver).await;
    log_in(&client, &app, "admin").await;

    // 三对应: W1's current assignment (S2 since 1 Nov) passes to S1 from today, in one form.
    client.goto(&app.url("/admin/assignments")).await.expect("assignments page");
    let (_, current) = app.get("/api/v1/assignments?window_code=W1", Some(&d.admin)).await;
    let id = current[0]["id"].as_i64().expect("assignment");
    client
        .find(Locator::Css(&format!("#replace-staff-{id}")))
        .await
        .expect("the replace form of the running assignment")
        .select_by_value("S1")
        .await
        .expect("choose S1");
    shot(&client, "5-admin-assignments").await;
    click_through(&client, &format!("form:has(#replace-staff-{id}) button[type=submit]")).await;
    let text = body_text(&client).await;
    assert!(text.contains("已保存") && text.contains("S1 王敏"), "{text}");
    let (_, now_at_w1) = app.get(&format!("/api/v1/assignments?window_code=W1&at={}", chrono::Utc::now().to_rfc3339().replace('+', "%2B")), Some(&d.admin)).await;
    assert_eq!(now_at_w1[0]["staff_no"], "S1", "{now_at_w1}");
    client.execute("document.getElementById('window-W1').scrollIntoView()", vec![]).await.expect("scroll");
    shot(&client, "6-admin-assignment-replaced").await;

    // 评价标签: a new version of the bad tags, saved from the page, is what the rating page offers.
    client.goto(&app.url("/admin/tags")).await.expect("tags page");
    fill(&client, "#tags-bad", "排队太久\n窗口开得太少").await;
    shot(&client, "7-admin-tags").await;
    click_through(&client, "form:has(#tags-bad) button[type=submit]").await;
    assert!(body_text(&client).await.contains("第 2 版"), "the new version is listed");
    let link = app.transaction(&d, "B-TAGS", "I1", json!({})).await["rating_url"].as_str().expect("link").to_owned();
    client.goto(&link).await.expect("rating page");
    click(&client, "input[name=stars][value='2']").await;
    let offered = text_of(&client, ".tags .group[data-band=bad]").await;
    assert!(offered.contains("窗口开得太少") && !offered.contains("等待时间长"), "{offered}");

    // Next year's calendar: provisional until the notice is entered, and the page says so.
    let next = chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()) + 1;
    client.goto(&app.url(&format!("/admin/calendar?year={next}"))).await.expect("calendar page");
    let text = body_text(&client).await;
    assert!(text.contains(&format!("{next} 年工作日历")) && text.contains("（暂定）") && text.contains("法定节假日"), "{text}");
    shot(&client, "8-admin-calendar-provisional").await;
    click_through(&client, "form.card[method=post] button[type=submit]").await;
    assert!(body_text(&client).await.contains("（已按通知录入）"), "saving the notice makes it official");
    assert_eq!(app.get(&format!("/api/v1/calendar/{next}"), Some(&d.admin)).await.1["status"], "official");

    // A window closed from its row's button.
    client.goto(&app.url("/admin/windows")).await.expect("windows page");
    click_through(&client, "button[aria-label='停用 W1']").await;
    assert!(body_text(&client).await.contains("已停用"));
    assert_eq!(app.get("/api/v1/windows?active=false", Some(&d.admin)).await.1[0]["code"], "W1");
    client.close().await.expect("close browser");
}

/// A browser window as on a desktop (1 440 × 900), no phone emulation.
async fn desktop_browser(driver: &Driver) -> Client {
    let client = browser(driver, &["--window-size=1440,900"], None).await;
    client.set_window_size(1440, 900).await.expect("window size");
    // The outer window is 1 440 wide; make the page itself 1 440 wide.
    let inner = client.execute("return window.innerWidth", vec![]).await.expect("width").as_i64().unwrap_or(1440);
    if inner != 1440 {
        client.set_window_size((1440 + 1440 - inner) as u32, 900).await.expect("window size");
    }
    client
}

/// `{left, top, right, bottom, width}` of the first element matching `css`.
async fn rect(client: &Client, css: &str) -> serde_json::Value {
    let script = "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width};";
    client.execute(script, vec![json!(css)]).await.unwrap_or_else(|e| panic!("rect of {css}: {e}"))
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn no_sideways_scroll(client: &Client, what: &str) {
    let overflow = client.execute("return document.documentElement.scrollWidth > window.innerWidth", vec![]).await.expect("overflow");
    assert_eq!(overflow, json!(false), "{what} fits the window without sideways scrolling");
}

/// The case ids in the inbox's table, top to bottom.
async fn table_ids(client: &Client) -> Vec<i64> {
    let ids = client
        .execute("return Array.from(document.querySelectorAll('table.cases tbody tr td:first-child a')).map(a => +a.textContent.replace('#', ''))", vec![])
        .await
        .expect("ids");
    ids.as_array().expect("array").iter().map(|v| v.as_i64().expect("id")).collect()
}

/// Issue 20 item 9: staff pages on a desktop (1 440 px) and on a phone (390 px) — the board as a
/// dashboard or a column, the inbox as a sortable, paged table or as cards, the analytics and
/// report pages with their charts — and the citizen's 追评 on the rating page.
#[actix_web::test]
async fn staff_pages_on_a_desktop_and_a_phone() {
    let Some(driver) = start_driver() else { return };
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let mut ids = Vec::new();
    for n in 0..55 {
        ids.push(app.bad_case(&d, &format!("B-P{n:02}")).await);
    }
    ids.sort();

    // Desktop: the board is a dashboard — tiles in one row, sections side by side.
    let desk = desktop_browser(&driver).await;
    log_in(&desk, &app, "sup").await;
    let width = desk.execute("return window.innerWidth", vec![]).await.expect("width").as_i64().unwrap_or(0);
    assert!(width >= 1024, "a desktop window, {width} px");
    assert!(num(&rect(&desk, "main").await, "width") > 1000.0, "staff pages widen on a desktop");
    let (overdue, appeals) = (rect(&desk, "#overdue").await, rect(&desk, "#appeals").await);
    assert!(num(&appeals, "left") >= num(&overdue, "right") - 1.0, "sections side by side: {overdue} {appeals}");
    assert!((num(&appeals, "top") - num(&overdue, "top")).abs() < 2.0, "in one row: {overdue} {appeals}");
    let (first_tile, last_tile) = (rect(&desk, "ul.tiles li:first-child").await, rect(&desk, "ul.tiles li:last-child").await);
    assert!((num(&first_tile, "top") - num(&last_tile, "top")).abs() < 2.0, "the tiles in one row");
    no_sideways_scroll(&desk, "the board at 1 440 px").await;
    shot(&desk, "board-1440").await;

    // The inbox: a table, 50 a page, page links keeping the order, headers that sort.
    desk.goto(&app.url("/cases")).await.expect("inbox");
    assert!(desk.find(Locator::Css("table.cases")).await.expect("table").is_displayed().await.expect("shown"), "a table on a desktop");
    assert!(!desk.find(Locator::Css("a.case-row")).await.expect("cards").is_displayed().await.expect("shown"), "no cards on a desktop");
    assert!(text_of(&desk, "nav.pager").await.contains("共 55 件，第 1/2 页"));
    let page1 = table_ids(&desk).await;
    assert_eq!(page1.len(), 50);
    shot(&desk, "cases-1440").await;
    click_through(&desk, "nav.pager a[rel=next]").await;
    assert!(text_of(&desk, "nav.pager").await.contains("第 2/2 页"));
    let page2 = table_ids(&desk).await;
    assert_eq!(page2.len(), 5);
    assert!(page2.iter().all(|id| !page1.contains(id)), "page 2 holds the other cases");
    click_through(&desk, "nav.pager a[rel=prev]").await;
    assert!(text_of(&desk, "nav.pager").await.contains("第 1/2 页"));
    click_through(&desk, "th a[data-sort=id]").await;
    let newest_first = table_ids(&desk).await;
    assert_eq!(newest_first[..3], [ids[54], ids[53], ids[52]], "by number, newest first");
    assert_eq!(desk.find(Locator::Css("th[aria-sort]")).await.expect("sorted column").attr("aria-sort").await.expect("attr").as_deref(), Some("descending"));
    click_through(&desk, "th a[data-sort=id]").await;
    assert_eq!(table_ids(&desk).await[..3], [ids[0], ids[1], ids[2]], "and the other way round");
    click_through(&desk, "nav.pager a[rel=next]").await;
    assert_eq!(table_ids(&desk).await, ids[50..].to_vec(), "the next page keeps the order");
    let url = desk.current_url().await.expect("url");
    assert!(url.query().is_some_and(|q| q.contains("sort=id") && q.contains("dir=asc") && q.contains("page=2")), "{url}");
    // Filters: the form's selects; a state with no case lists none.
    desk.find(Locator::Css("#state")).await.expect("state").select_by_value("closed").await.expect("closed");
    click_through(&desk, "form.inbox-filters button[type=submit]").await;
    assert!(text_of(&desk, "nav.pager").await.contains("共 0 件"));
    desk.find(Locator::Css("#state")).await.expect("state").select_by_value("feedback").await.expect("feedback");
    click_through(&desk, "form.inbox-filters button[type=submit]").await;
    assert!(text_of(&desk, "nav.pager").await.contains("共 55 件"));

    // Analytics and reports: headings and charts.
    desk.goto(&app.url("/analytics")).await.expect("analytics");
    assert_eq!(text_of(&desk, "h1").await, "统计分析");
    let charts = desk.execute("return document.querySelectorAll('main svg').length", vec![]).await.expect("svg");
    assert!(charts.as_i64().unwrap_or(0) >= 4, "the month and department charts: {charts}");
    let (a, b) = (rect(&desk, ".charts > :first-child").await, rect(&desk, ".charts > :nth-child(2)").await);
    assert!(num(&b, "left") > num(&a, "left") + 100.0 && (num(&a, "top") - num(&b, "top")).abs() < 2.0, "two charts a row: {a} {b}");
    no_sideways_scroll(&desk, "the analytics page").await;
    shot(&desk, "analytics-1440").await;
    desk.goto(&app.url("/reports")).await.expect("reports");
    assert_eq!(text_of(&desk, "h1").await, "运营报告");
    shot(&desk, "reports-1440").await;
    click_through(&desk, ".report-row a[href^='/reports/monthly']").await;
    let heading = text_of(&desk, "h1").await;
    assert!(heading.contains("运营报告") || heading.contains("月"), "{heading}");
    let body = body_text(&desk).await;
    assert!(body.contains("一、总体情况") && body.contains("三、各部门情况"), "{body}");
    let charts = desk.execute("return document.querySelectorAll('svg').length", vec![]).await.expect("svg");
    assert!(charts.as_i64().unwrap_or(0) >= 3, "the monthly report's charts: {charts}");
    shot(&desk, "monthly-1440").await;
    desk.close().await.expect("close desktop browser");

    // Phone: the same pages as a column, the inbox as cards with the same paging.
    let phone = phone_browser(&driver).await;
    log_in(&phone, &app, "sup").await;
    let (overdue, appeals) = (rect(&phone, "#overdue").await, rect(&phone, "#appeals").await);
    assert!(num(&appeals, "top") >= num(&overdue, "bottom") - 1.0, "sections stacked: {overdue} {appeals}");
    assert!((num(&appeals, "left") - num(&overdue, "left")).abs() < 1.0, "in one column");
    assert!(num(&rect(&phone, "main").await, "width") <= 390.0);
    no_sideways_scroll(&phone, "the board at 390 px").await;
    shot(&phone, "board-390").await;
    phone.goto(&app.url("/cases")).await.expect("inbox");
    assert!(!phone.find(Locator::Css("table.cases")).await.expect("table").is_displayed().await.expect("shown"), "no table on a phone");
    assert!(phone.find(Locator::Css("a.case-row")).await.expect("cards").is_displayed().await.expect("shown"), "cards on a phone");
    no_sideways_scroll(&phone, "the inbox at 390 px").await;
    shot(&phone, "cases-390").await;
    click_through(&phone, "nav.pager a[rel=next]").await;
    assert!(text_of(&phone, "nav.pager").await.contains("第 2/2 页"));
    let cards = phone.execute("return document.querySelectorAll('a.case-row').length", vec![]).await.expect("cards");
    assert_eq!(cards, json!(5));
    phone.goto(&app.url("/analytics")).await.expect("analytics");
    no_sideways_scroll(&phone, "the analytics page at 390 px").await;
    shot(&phone, "analytics-390").await;
    log_out(&phone).await;

    // The citizen's 追评: offered after rating, once; past 7 days the page says so.
    let link = app.transaction(&d, "B-ADD", "I1", json!({})).await["rating_url"].as_str().expect("link").to_owned();
    phone.goto(&link).await.expect("rating page");
    click(&phone, "input[name=stars][value='5']").await;
    click_through(&phone, "form button[type=submit]").await;
    assert!(text_of(&phone, "#addendum").await.contains("7 天内可追评一次"));
    fill(&phone, "#addendum-comment", "后来又去办了一次，还是很快").await;
    shot(&phone, "rating-addendum-390").await;
    click_through(&phone, "#addendum button[type=submit]").await;
    let given = text_of(&phone, "#addendum").await;
    assert!(given.contains("后来又去办了一次，还是很快") && given.contains("追评时间"), "{given}");
    assert!(phone.find(Locator::Css("#addendum-comment")).await.is_err(), "one 追评 only");
    assert_eq!(app.count("review_follow_ups WHERE kind = 'addendum'"), 1);
    let late = app.transaction(&d, "B-LATE", "I1", json!({})).await["rating_url"].as_str().expect("link").to_owned();
    phone.goto(&late).await.expect("rating page");
    click(&phone, "input[name=stars][value='4']").await;
    click_through(&phone, "form button[type=submit]").await;
    app.execute("UPDATE reviews SET rated_at = datetime(rated_at, '-8 days') WHERE transaction_id = (SELECT id FROM transactions WHERE transaction_no = 'B-LATE')");
    phone.refresh().await.expect("reload");
    assert!(text_of(&phone, "#addendum").await.contains("评价已超过 7 天，不能再追评"));
    phone.close().await.expect("close phone browser");
}
