//! Full-text search (检索, issue 20 item 4) through HTTP, on both backends: a comment is found
//! by its words as soon as it is stored, with the offsets of its matches; jieba's dictionary
//! words and the words inside them match; each filter narrows; a department sees only its own
//! texts, and a moved case's texts move with it; replies and complaints are found; bad queries
//! are refused with a message; HTML in a text stays text; the board and the analytics page
//! show the hits marked; `haochaping reindex-search` fills the index with what it lacks.

mod common;

use std::time::{Duration, Instant};

use common::{District, StaffSession, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    a_stored_comment_is_found_at_once_with_its_offsets,
    dictionary_words_and_the_words_inside_them_match,
    each_filter_narrows_and_departments_see_their_own,
    replies_complaints_and_moved_cases,
    bad_queries_are_refused_and_html_stays_text,
    the_board_and_the_analytics_page_show_marked_hits,
    reindex_search_fills_what_is_missing,
);

/// A review of a new 办件 of item `item`, through the integration key; its answer.
async fn review(app: &TestApp, d: &District, no: &str, item: &str, stars: i64, comment: &str, rated_at: Option<&str>) -> Value {
    app.transaction(d, no, item, json!({})).await;
    let mut body = json!({"transaction_no": no, "stars": stars, "channel": "kiosk", "comment": comment});
    if let Some(at) = rated_at {
        body["rated_at"] = json!(at);
    }
    let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
    assert_eq!(r.0, 201, "{}", r.1);
    r.1
}

/// `GET /api/v1/search?{query}` as `token`: the page, after checking its status is 200.
async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/search?{query}"), Some(token)).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn texts(page: &Value) -> Vec<String> {
    page["hits"].as_array().unwrap_or_else(|| panic!("no hits: {page}")).iter().map(|h| h["text"].as_str().expect("text").to_owned()).collect()
}

fn chars(text: &str, range: &Value) -> String {
    let (start, end) = (range[0].as_u64().expect("start") as usize, range[1].as_u64().expect("end") as usize);
    text.chars().skip(start).take(end - start).collect()
}

async fn a_stored_comment_is_found_at_once_with_its_offsets(app: TestApp) {
    let d = app.seed().await;
    let comment = "窗口只开了一个，排队两小时才办完";
    let stored = review(&app, &d, "T1", "I1", 1, comment, None).await;
    let stored_at = Instant::now();
    let case_id = stored["case_id"].as_i64().expect("a bad review opens a case");
    // Searchable within 2 s of being stored: asked at once, and again until found.
    let page = loop {
        let page = search(&app, &d.supervisor, "q=%E6%8E%92%E9%98%9F").await;
        if page["total"] == 1 || stored_at.elapsed() > Duration::from_secs(2) {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(stored_at.elapsed() < Duration::from_secs(2), "found only after {:?}", stored_at.elapsed());
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["total_is_lower_bound"], false);
    assert_eq!(page["terms"], json!(["排队"]));
    let hit = &page["hits"][0];
    assert_eq!(hit["case_id"], case_id);
    assert_eq!(hit["transaction_no"], "T1");
    assert_eq!(hit["source"], "review");
    assert_eq!(hit["record_id"], stored["id"]);
    assert_eq!(hit["department_code"], "D1");
    assert_eq!(hit["stars"], 1);
    assert_eq!(hit["text"], comment);
    assert_eq!(hit["snippet"], "窗口只开了一个，<mark>排队</mark>两小时才办完");
    // Character offsets, exactly on the word.
    assert_eq!(hit["highlights"], json!([[8, 10]]));
    assert_eq!(chars(comment, &hit["highlights"][0]), "排队");

    // A good review's comment too (no case), newest first.
    let good = review(&app, &d, "T2", "I1", 5, "今天排队很快，工作人员耐心", None).await;
    let page = search(&app, &d.supervisor, "q=排队").await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["hits"][0]["record_id"], good["id"]);
    assert_eq!(page["hits"][0]["case_id"], Value::Null);
    assert_eq!(page["hits"][1]["case_id"], case_id);
    // Words of the query are all required; a word nowhere finds nothing.
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队 两小时").await), [comment]);
    assert_eq!(search(&app, &d.supervisor, "q=公积金").await["total"], 0);
}

async fn dictionary_words_and_the_words_inside_them_match(app: TestApp) {
    let d = app.seed().await;
    let comment = "办理不动产登记要排队，社保卡申领也排队时间太长，APP登录不上";
    review(&app, &d, "T1", "I1", 2, comment, None).await;
    review(&app, &d, "T2", "I1", 4, "动产抵押办得快", None).await;
    // Whole words of the user dictionary, the dictionary words inside them, a substring word.
    for (q, word) in [("不动产登记", "不动产登记"), ("社保卡", "社保卡"), ("不动产", "不动产"), ("登记", "登记"), ("排队", "排队"), ("app", "APP")] {
        let page = search(&app, &d.supervisor, &format!("q={q}")).await;
        assert_eq!(texts(&page), [comment], "q={q}: {page}");
        let hit = &page["hits"][0];
        for range in hit["highlights"].as_array().expect("highlights") {
            assert_eq!(chars(comment, range).to_lowercase(), word.to_lowercase(), "q={q}: {hit}");
        }
        assert!(!hit["highlights"].as_array().expect("highlights").is_empty(), "q={q}: no highlight");
    }
    // Both 排队 marked.
    let page = search(&app, &d.supervisor, "q=排队").await;
    assert_eq!(page["hits"][0]["highlights"].as_array().map(Vec::len), Some(2), "{page}");
    // Every word of the query is required: the first comment has 动产 (inside 不动产) but no 抵押.
    assert_eq!(texts(&search(&app, &d.supervisor, "q=动产抵押").await), ["动产抵押办得快"]);
}

async fn each_filter_narrows_and_departments_see_their_own(app: TestApp) {
    let d = app.seed().await;
    let bad = review(&app, &d, "T1", "I1", 1, "窗口排队太久", None).await;
    review(&app, &d, "T2", "I1", 5, "排队有序，很快", Some("2026-11-21T10:00:00+08:00")).await;
    review(&app, &d, "T3", "I2", 3, "社保卡排队一般", None).await;
    let r = app
        .post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-1", "title": "大厅排队",
            "content": "市场监管大厅排队取号系统经常坏", "received_at": "2026-11-22T09:00:00+08:00", "department_code": "D1"}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    let all = |page: &Value| page["total"].as_i64().expect("total");
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队").await), 4);
    // Period (days in Beijing time, inclusive).
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&from=2026-11-21&to=2026-11-21").await), ["排队有序，很快"]);
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&from=2026-11-22&to=2026-11-22").await), ["大厅排队\n市场监管大厅排队取号系统经常坏"]);
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&to=2026-11-22").await), 2);
    // Department.
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&department_code=D2").await), ["社保卡排队一般"]);
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&department_code=D1").await), 3);
    // Grade: bands and stars; complaints have none.
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&grade=bad").await), ["窗口排队太久"]);
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&grade=good").await), ["排队有序，很快"]);
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&grade=3").await), ["社保卡排队一般"]);
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&grade=all").await), 4);
    // Source.
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&source=complaint").await), 1);
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&source=review").await), 3);
    assert_eq!(all(&search(&app, &d.supervisor, "q=排队&source=reply").await), 0);
    // Together.
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&department_code=D1&grade=bad&source=review&from=2026-11-01").await), ["窗口排队太久"]);
    // Paging.
    let first = search(&app, &d.supervisor, "q=排队&limit=3").await;
    let second = search(&app, &d.supervisor, "q=排队&limit=3&page=2").await;
    assert_eq!((first["hits"].as_array().map(Vec::len), second["hits"].as_array().map(Vec::len)), (Some(3), Some(1)));
    assert_eq!((all(&first), all(&second)), (4, 4));
    // A department's users see their department's texts only, and may not ask for another's.
    assert_eq!(texts(&search(&app, &d.clerk2, "q=排队").await), ["社保卡排队一般"]);
    assert_eq!(all(&search(&app, &d.clerk1, "q=排队").await), 3);
    assert_eq!(search(&app, &d.clerk2, "q=窗口").await["total"], 0);
    let (status, body) = app.get("/api/v1/search?q=排队&department_code=D1", Some(&d.clerk2)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(search(&app, &d.admin, "q=窗口").await["hits"][0]["record_id"], bad["id"]);
    // Citizens' integrations do not search.
    assert_eq!(app.get("/api/v1/search?q=排队", Some(&d.key)).await.0, 403);
    assert_eq!(app.get("/api/v1/search?q=排队", None).await.0, 401);

    // A topic's comments only (the topics' membership, issue 20 item 2).
    app.execute("INSERT INTO topics (label, top_terms, centroid, first_period, last_period, created_at) VALUES ('排队', '[\"排队\"]', '{}', '2026-11-16', '2026-11-16', '2026-11-23 00:00:00')");
    let topic = app.count("topics");
    app.execute(&format!(
        "INSERT INTO topic_members (source, record_id, topic_id, period_start, occurred_at, department_id, bad) VALUES ('review', {}, {topic}, '2026-11-16', '2026-11-23 00:00:00', NULL, TRUE)",
        bad["id"]
    ));
    assert_eq!(texts(&search(&app, &d.supervisor, &format!("q=排队&topic={topic}")).await), ["窗口排队太久"]);
    assert_eq!(search(&app, &d.supervisor, &format!("q=社保卡&topic={topic}")).await["total"], 0);
    let (status, body) = app.get("/api/v1/search?q=排队&topic=999999", Some(&d.supervisor)).await;
    assert_eq!((status, common::error_code(&body).as_str()), (422, "invalid"), "{body}");
}

async fn replies_complaints_and_moved_cases(app: TestApp) {
    let d = app.seed().await;
    let case = app.bad_case(&d, "T1").await;
    for (action, note) in [("verify", "属实"), ("rectify", "增开窗口"), ("reply", "您好，我局已增开两个窗口，高峰期排队已缩短到二十分钟。")] {
        let r = app.act(&d.clerk1, case, action, Some(note)).await;
        assert_eq!(r.0, 200, "{action}: {}", r.1);
    }
    let page = search(&app, &d.supervisor, "q=增开窗口&source=reply").await;
    assert_eq!(page["total"], 1, "{page}");
    let hit = &page["hits"][0];
    assert_eq!((hit["case_id"].as_i64(), hit["record_id"].as_i64(), hit["transaction_no"].as_str()), (Some(case), Some(case), Some("T1")));
    assert_eq!(hit["stars"], 1, "a reply carries the reviewed stars");
    assert_eq!(hit["snippet"], "您好，我局已<mark>增开</mark>两个<mark>窗口</mark>，高峰期排队已缩短到二十分钟。");
    // The case's review and its reply: both found by a word they share.
    assert_eq!(search(&app, &d.supervisor, "q=排队&source=all").await["total"], 2);
    // Sent back and answered again: the newer reply replaces the older one.
    assert_eq!(app.act(&d.supervisor, case, "send_back", Some("请说明整改时限")).await.0, 200);
    assert_eq!(app.act(&d.clerk1, case, "rectify", Some("增设自助取号机")).await.0, 200);
    assert_eq!(app.act(&d.clerk1, case, "reply", Some("您好，我局已于十一月底前增设自助取号机，排队时间明显缩短。")).await.0, 200);
    assert_eq!(texts(&search(&app, &d.supervisor, "q=排队&source=reply").await), ["您好，我局已于十一月底前增设自助取号机，排队时间明显缩短。"]);

    // A complaint without a department waits for one: only supervisors find it; once assigned
    // (改派), the department's users do; moved again, the earlier department no longer does.
    let r = app
        .post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-9", "content": "公积金提取材料被反复退回", "received_at": "2026-11-23T09:00:00+08:00"}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    let complaint_case = r.1["case_id"].as_i64().expect("case");
    let page = search(&app, &d.supervisor, "q=公积金").await;
    assert_eq!((page["total"].as_i64(), page["hits"][0]["department_code"].as_str()), (Some(1), None), "{page}");
    assert_eq!(page["hits"][0]["case_id"], complaint_case);
    assert_eq!(search(&app, &d.clerk1, "q=公积金").await["total"], 0);
    let reassign = |code: &'static str| json!({"action": "reassign", "department_code": code, "note": "分派"});
    let r = app.post(&format!("/api/v1/cases/{complaint_case}/actions"), Some(&d.supervisor), &reassign("D1")).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(search(&app, &d.clerk1, "q=公积金").await["total"], 1);
    let r = app.post(&format!("/api/v1/cases/{complaint_case}/actions"), Some(&d.supervisor), &reassign("D2")).await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(search(&app, &d.clerk1, "q=公积金").await["total"], 0);
    assert_eq!(search(&app, &d.clerk2, "q=公积金&department_code=D2").await["total"], 1);
}

async fn bad_queries_are_refused_and_html_stays_text(app: TestApp) {
    let d = app.seed().await;
    let long = "排".repeat(101);
    for (query, says) in [("q=", "empty"), ("q=%20%20", "empty"), ("", "empty"), (&format!("q={long}") as &str, "100"), ("q=的了，", "no word")] {
        let (status, body) = app.get(&format!("/api/v1/search?{query}"), Some(&d.supervisor)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(common::error_code(&body), "bad_request");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{query}: {message}");
    }
    for (query, field) in [("q=排队&grade=worst", "grade"), ("q=排队&source=mail", "source"), ("q=排队&limit=101", "limit"), ("q=排队&page=0", "page"), ("q=排队&from=2026-13-01", "from"), ("q=排队&page=51", "page")] {
        let (status, body) = app.get(&format!("/api/v1/search?{query}"), Some(&d.supervisor)).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = app.get("/api/v1/search?q=排队&colour=red", Some(&d.supervisor)).await;
    assert_eq!(status, 400, "{body}");

    let comment = "<script>alert(1)</script>排队 & \"等\"";
    review(&app, &d, "T1", "I1", 2, comment, None).await;
    let page = search(&app, &d.supervisor, "q=排队").await;
    let hit = &page["hits"][0];
    assert_eq!(hit["text"], comment);
    assert_eq!(hit["snippet"], "&lt;script&gt;alert(1)&lt;/script&gt;<mark>排队</mark> &amp; &quot;等&quot;");
    // FTS5's own syntax in a query is only words.
    for q in ["排队 OR 窗口", "\"排队", "排队*", "terms:排队", "NEAR(排队)"] {
        let (status, body) = app.get(&format!("/api/v1/search?q={}", urlencode(q)), Some(&d.supervisor)).await;
        assert!(status == 200 || status == 400, "{q}: {status} {body}");
    }
    if app.backend == common::Backend::Sqlite {
        #[derive(diesel::QueryableByName)]
        struct Used {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            used: i32,
        }
        let mut conn = app.conn();
        let used: Used = haochaping::db_run!(&mut conn, |c| diesel::RunQueryDsl::get_result(diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_FTS5') AS used"), c)).expect("compile option");
        assert_eq!(used.used, 1, "the bundled SQLite lacks FTS5");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn the_board_and_the_analytics_page_show_marked_hits(app: TestApp) {
    let d = app.seed().await;
    let case = app.bad_case(&d, "T1").await;
    review(&app, &d, "T2", "I1", 1, "<b>粗体</b>排队", None).await;
    let sup = StaffSession::sign_in(&app, "sup").await;
    let (status, html) = sup.get("/board").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"q\"") && html.contains("检索评价、投诉与答复"), "no search form on the board");
    assert!(!html.contains("<mark>"), "hits before anything was asked");
    let (status, html) = sup.get("/board?q=%E6%8E%92%E9%98%9F").await;
    assert_eq!(status, 200);
    assert!(html.contains("窗口<mark>排队</mark>两小时"), "board hits: {html}");
    assert!(html.contains(&format!("href=\"/cases/{case}\"")), "no link to the case");
    assert!(html.contains("&lt;b&gt;粗体&lt;/b&gt;<mark>排队</mark>"), "HTML of a comment not escaped on the page");
    assert!(!html.contains("<b>粗体"), "a comment's HTML reached the page");
    assert!(html.contains("找到 2 条"), "no count");
    let (status, html) = sup.get("/board?q=").await;
    assert_eq!(status, 200);
    assert!(html.contains("请输入要检索的词语"), "no message for an empty query");

    let (status, html) = sup.get("/analytics?q=%E6%8E%92%E9%98%9F&sgrade=bad&ssource=review&sdept=D1&spage=1").await;
    assert_eq!(status, 200);
    assert!(html.contains("窗口<mark>排队</mark>两小时"), "analytics hits");
    assert!(html.contains("<option value=\"D1\" selected>"), "the department filter is not kept");
    let (status, html) = sup.get("/analytics?q=%E6%8E%92%E9%98%9F&sgrade=good").await;
    assert_eq!(status, 200);
    assert!(html.contains("没有找到"), "the grade filter on the page");
    // Paging links keep the filters.
    for n in 3..=25 {
        review(&app, &d, &format!("T{n}"), "I1", 1, "排队太久", None).await;
    }
    let (_, html) = sup.get("/board?q=%E6%8E%92%E9%98%9F&sgrade=bad").await;
    assert!(html.contains("sgrade=bad&amp;spage=2#search"), "no next page link: {html}");
    let (_, html) = sup.get("/board?q=%E6%8E%92%E9%98%9F&sgrade=bad&spage=2").await;
    assert!(html.contains("第 2/2 页"), "second page");
}

async fn reindex_search_fills_what_is_missing(app: TestApp) {
    let d = app.seed().await;
    let case = app.bad_case(&d, "T1").await;
    review(&app, &d, "T2", "I1", 5, "社保卡当场办好", None).await;
    for (action, note) in [("verify", "属实"), ("rectify", "增开窗口"), ("reply", "已增开窗口，排队缩短到二十分钟")] {
        assert_eq!(app.act(&d.clerk1, case, action, Some(note)).await.0, 200);
    }
    let r = app
        .post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-1", "title": "取号",
            "content": "取号机坏了没人修", "received_at": "2026-11-23T09:00:00+08:00", "department_code": "D1", "transaction_no": "T2"}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    assert_eq!(app.count("search_documents"), 4);
    // As a database from before the index: nothing indexed.
    app.execute("DELETE FROM search_documents");
    assert_eq!(search(&app, &d.supervisor, "q=社保卡").await["total"], 0);
    let out = app.cli(&["reindex-search"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!((report["indexed"].as_i64(), report["documents"].as_i64()), (Some(4), Some(4)), "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 texts indexed"), "{}", String::from_utf8_lossy(&out.stderr));
    // Found again, with what the write path gives.
    let hit = &search(&app, &d.supervisor, "q=社保卡").await["hits"][0];
    assert_eq!((hit["transaction_no"].as_str(), hit["stars"].as_i64()), (Some("T2"), Some(5)), "{hit}");
    let hit = &search(&app, &d.supervisor, "q=排队&source=reply").await["hits"][0];
    assert_eq!((hit["case_id"].as_i64(), hit["transaction_no"].as_str(), hit["stars"].as_i64()), (Some(case), Some("T1"), Some(1)), "{hit}");
    let hit = &search(&app, &d.supervisor, "q=取号机").await["hits"][0];
    assert_eq!((hit["text"].as_str(), hit["transaction_no"].as_str(), hit["department_code"].as_str()), (Some("取号\n取号机坏了没人修"), Some("T2"), Some("D1")), "{hit}");
    // Again: nothing missing; --retokenise cuts every text again.
    let out = app.cli(&["reindex-search", "--retokenise"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!((report["indexed"].as_i64(), report["retokenised"].as_i64(), report["documents"].as_i64()), (Some(0), Some(4), Some(4)), "{report}");
    assert_eq!(search(&app, &d.supervisor, "q=排队").await["total"], 2);
}
