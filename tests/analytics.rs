//! Text analytics through the real paths: the clustering API over stored comments, complaint
//! routing by a trained model, and the `cluster` / `train-router` / `route` commands.

mod common;

use common::{error_code, Backend, TestApp};
use haochaping::adapters::nlp::router::{RouterModel, TrainOptions};
use serde_json::json;

on_both_backends!(clustering_runs_are_stored_and_listed);

const TOPICS: [[&str; 4]; 3] = [
    ["排队时间太长，等了两个小时", "窗口排队的人太多，取号后等很久", "排队排了一上午还没轮到", "取号排队要等三个小时"],
    ["工作人员态度不好，不耐烦", "窗口人员态度差，问两句就发火", "工作人员态度很差，爱理不理", "咨询时工作人员态度敷衍"],
    ["公积金提取一直不到账", "住房公积金提取审核太慢", "公积金提取材料被退回好几次", "公积金提取到账要一个月"],
];

async fn clustering_runs_are_stored_and_listed(app: TestApp) {
    let d = app.seed().await;
    let mut n = 0;
    for topic in TOPICS {
        for comment in topic {
            for repeat in 0..2 {
                n += 1;
                let no = format!("T{n}");
                app.transaction(&d, &no, "I1", json!({})).await;
                let stars = if repeat == 0 { 1 } else { 2 };
                let r = app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": stars, "channel": "pc", "comment": comment})).await;
                assert_eq!(r.0, 201);
            }
        }
    }
    // A good review's comment is left out by default (grade = bad).
    app.transaction(&d, "GOOD", "I1", json!({})).await;
    app.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": "GOOD", "stars": 5, "channel": "pc", "comment": "办事很快，点赞"})).await;

    let r = app.post("/api/v1/analysis/clusters", Some(&d.clerk1), &json!({"k": 3})).await;
    assert_eq!(r.0, 403, "departments do not run analyses");
    let (status, run) = app.post("/api/v1/analysis/clusters", Some(&d.supervisor), &json!({"k": 3, "seed": 7})).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!((run["k"].clone(), run["documents"].clone()), (json!(3), json!(24)));
    let clusters = run["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 3);
    assert_eq!(clusters.iter().map(|c| c["size"].as_i64().unwrap_or(0)).sum::<i64>(), 24);
    for c in clusters {
        assert!(!c["label"].as_str().unwrap_or("").is_empty());
        assert!(!c["top_terms"].as_array().expect("terms").is_empty());
        assert!(!c["samples"].as_array().expect("samples").is_empty());
    }
    let labels: Vec<&str> = clusters.iter().filter_map(|c| c["label"].as_str()).collect();
    assert!(labels.iter().any(|l| l.contains("公积金")), "{labels:?}");
    assert_eq!(app.count(&format!("analysis_members WHERE run_id = {}", run["id"])), 24);
    // Each stored cluster is one topic: all members of a comment's topic share its cluster.
    let (_, again) = app.post("/api/v1/analysis/clusters", Some(&d.admin), &json!({"grade": "all", "k": "auto"})).await;
    assert_eq!(again["documents"], 25, "grade = all takes the good comment too");
    let (status, list) = app.get("/api/v1/analysis/clusters", Some(&d.supervisor)).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let (status, one) = app.get(&format!("/api/v1/analysis/clusters/{}", run["id"]), Some(&d.supervisor)).await;
    assert_eq!((status, one["clusters"].as_array().map(Vec::len)), (200, Some(3)));
    // Filters are checked; an empty period is a clear 422.
    let r = app.post("/api/v1/analysis/clusters", Some(&d.supervisor), &json!({"from": "2020-01-01", "to": "2020-01-31"})).await;
    assert_eq!((r.0, error_code(&r.1)), (422, "invalid".to_owned()), "{}", r.1);
    assert_eq!(app.post("/api/v1/analysis/clusters", Some(&d.supervisor), &json!({"source": "weibo"})).await.0, 422);
    assert_eq!(app.post("/api/v1/analysis/clusters", Some(&d.supervisor), &json!({"k": 1})).await.0, 422);
    assert_eq!(app.get("/api/v1/analysis/clusters/999", Some(&d.supervisor)).await.0, 404);
}

/// A model whose labels are department codes (D1 handles housing funds, D2 social security)
/// or a label the admin maps (`市场监管` → D1).
fn write_router(dir: &std::path::Path) {
    let data = [
        ("公积金提取一直不到账", "D1"),
        ("住房公积金贷款审批太慢", "D1"),
        ("公积金账户无法查询", "D1"),
        ("社保卡补办要等一个月", "D2"),
        ("养老保险缴费记录不对", "D2"),
        ("失业保险金申领审核慢", "D2"),
        ("超市卖过期食品", "市场监管"),
        ("商家虚假宣传欺骗消费者", "市场监管"),
        ("餐馆无证经营油烟扰民", "市场监管"),
    ];
    let texts: Vec<String> = data.iter().cycle().take(45).map(|d| d.0.to_owned()).collect();
    let labels: Vec<String> = data.iter().cycle().take(45).map(|d| d.1.to_owned()).collect();
    let model = RouterModel::train(&texts, &labels, TrainOptions::default(), &mut |_| {}).expect("train");
    model.save(&dir.join("router.json")).expect("save");
}

#[actix_web::test]
async fn complaints_without_department_are_routed_on_sqlite() {
    routed(Backend::Sqlite).await;
}

#[actix_web::test]
async fn complaints_without_department_are_routed_on_postgres() {
    routed(Backend::Postgres).await;
}

async fn routed(backend: Backend) {
    let models = tempfile::tempdir().expect("tmp");
    write_router(models.path());
    let dir = models.path().to_owned();
    let Some(app) = TestApp::spawn_with(backend, move |c| {
        c.nlp_dir = Some(dir);
        c.router_threshold = 0.5;
    })
    .await
    else {
        return;
    };
    let d = app.seed().await;
    let complaint = |no: &str, content: &str| json!({"source": "hotline_12345", "external_no": no, "content": content, "received_at": "2026-11-21T09:00:00+08:00"});
    let r = app.post("/api/v1/complaints", Some(&d.key), &complaint("R1", "公积金提取审核一直不到账")).await;
    assert_eq!((r.0, r.1["routed_by"].clone(), r.1["department_code"].clone()), (201, json!("router"), json!("D1")), "{}", r.1);
    let r = app.post("/api/v1/complaints", Some(&d.key), &complaint("R2", "社保卡和养老保险的问题")).await;
    assert_eq!(r.1["department_code"], "D2", "{}", r.1);
    // A label that is no department code stays unassigned, with the suggestions kept …
    let r = app.post("/api/v1/complaints", Some(&d.key), &complaint("R3", "超市卖过期食品")).await;
    assert_eq!((r.1["routed_by"].clone(), r.1["department_code"].clone()), (json!("unassigned"), json!(null)), "{}", r.1);
    let (_, case) = app.get(&format!("/api/v1/cases/{}", r.1["case_id"]), Some(&d.supervisor)).await;
    let suggestions = case["complaint"]["route_suggestions"].as_array().expect("suggestions").clone();
    assert_eq!(suggestions.len(), 3);
    assert_eq!(suggestions[0]["label"], "市场监管");
    // … until an admin maps it.
    let put = app.client.put(app.url("/api/v1/router/label-map")).bearer_auth(&d.admin).json(&json!({"市场监管": "D1"})).send().await.expect("send");
    assert_eq!(put.status().as_u16(), 200);
    let bad = app.client.put(app.url("/api/v1/router/label-map")).bearer_auth(&d.admin).json(&json!({"x": "NOPE"})).send().await.expect("send");
    assert_eq!(bad.status().as_u16(), 422);
    let r = app.post("/api/v1/complaints", Some(&d.key), &complaint("R4", "商家虚假宣传卖过期食品")).await;
    assert_eq!((r.1["routed_by"].clone(), r.1["department_code"].clone()), (json!("router"), json!("D1")), "{}", r.1);
    // Unclear text stays with the supervisors.
    let r = app.post("/api/v1/complaints", Some(&d.key), &complaint("R5", "你好")).await;
    assert_eq!(r.1["routed_by"], "unassigned", "{}", r.1);
    // Given departments still win over the router.
    let mut given = complaint("R6", "公积金提取不到账");
    given["department_code"] = json!("D2");
    assert_eq!(app.post("/api/v1/complaints", Some(&d.key), &given).await.1["routed_by"], "given");
    let (status, s) = app.post("/api/v1/router/suggest", Some(&d.supervisor), &json!({"text": "养老保险缴费"})).await;
    assert_eq!((status, s["department_code"].clone()), (200, json!("D2")), "{s}");
}

fn haochaping(args: &[&str]) -> std::process::Output {
    common::haochaping_command().args(args).output().expect("run")
}

#[test]
fn cluster_command_writes_assignments_reproducibly() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("comments.csv");
    let mut w = csv::Writer::from_path(&input).expect("csv");
    w.write_record(["id", "text", "label"]).expect("header");
    let mut n = 0;
    for round in 0..3 {
        for (t, topic) in TOPICS.iter().enumerate() {
            for s in topic {
                n += 1;
                w.write_record([n.to_string(), format!("{s}{}", "。".repeat(round)), t.to_string()]).expect("row");
            }
        }
    }
    w.flush().expect("flush");
    let run = |out: &std::path::Path, k: &str| {
        let o = haochaping(&["cluster", "--input", input.to_str().unwrap_or(""), "--text-column", "text", "--label-column", "label", "--k", k, "--seed", "7", "--out", out.to_str().unwrap_or("")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let out = run(&a, "3");
    run(&b, "3");
    let first = std::fs::read_to_string(&a).expect("a");
    assert_eq!(first, std::fs::read_to_string(&b).expect("b"), "same seed, same assignments");
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines[0], "row,cluster");
    assert_eq!(lines.len(), 37);
    assert!(lines[1..].iter().enumerate().all(|(i, l)| l.starts_with(&format!("{i},"))), "input order");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("k = 3") && stdout.contains("silhouette") && stdout.contains("nmi = 1.0000"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenising"), "progress on stderr");
    // `auto` searches k by silhouette (the unit tests show it finding three topics); here every
    // text comes three times, so it rightly prefers finer clusters: it must run and report.
    let auto = run(&dir.path().join("c.csv"), "auto");
    assert!(String::from_utf8_lossy(&auto.stderr).contains("best silhouette"), "{}", String::from_utf8_lossy(&auto.stderr));
    // A missing column is a clear error.
    let o = haochaping(&["cluster", "--input", input.to_str().unwrap_or(""), "--text-column", "body", "--k", "3", "--out", a.to_str().unwrap_or("")]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column \"body\""));
}

#[test]
fn train_router_and_route_commands_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let train = dir.path().join("train.csv");
    let mut w = csv::Writer::from_path(&train).expect("csv");
    w.write_record(["text", "label"]).expect("header");
    for _ in 0..4 {
        for (t, label) in [("公积金提取不到账", "住建"), ("住房公积金贷款", "住建"), ("社保卡补办", "人社"), ("养老保险缴费", "人社")] {
            w.write_record([t, label]).expect("row");
        }
    }
    w.flush().expect("flush");
    let model = dir.path().join("m.json");
    let o = haochaping(&["train-router", "--input", train.to_str().unwrap_or(""), "--out", model.to_str().unwrap_or("")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let predictions = dir.path().join("p.csv");
    let o = haochaping(&["route", "--model", model.to_str().unwrap_or(""), "--input", train.to_str().unwrap_or(""), "--label-column", "label", "--out", predictions.to_str().unwrap_or("")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("macro_f1 = 1.0000"));
    let text = std::fs::read_to_string(&predictions).expect("predictions");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,label,score"));
    let first: Vec<&str> = lines.next().expect("row").split(',').collect();
    assert_eq!(first[..2], ["0", "住建"]);
    assert!(first[2].parse::<f32>().is_ok_and(|s| s > 0.5));
}

/// Issue 17 item 8: `cluster --k auto` on 12 texts tries only k the data supports and says why;
/// a `--k` above the distinct texts is an error, not a silent cut; a GBK file (as Chinese Excel
/// saves it) reads with `--encoding gbk`, and without it the error says so; a UTF-8 file with a
/// byte-order mark reads.
#[test]
fn cluster_bounds_k_by_the_data_and_reads_gbk() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = String::from("text\n");
    for topic in TOPICS {
        for comment in topic {
            text.push_str(comment);
            text.push('\n');
        }
    }
    let utf8 = dir.path().join("twelve.csv");
    std::fs::write(&utf8, &text).expect("csv");
    let out = dir.path().join("k.csv");
    let (utf8, out_path) = (utf8.to_string_lossy().into_owned(), out.to_string_lossy().into_owned());
    let run = haochaping(&["cluster", "--input", &utf8, "--k", "auto", "--out", &out_path]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let k: usize = stdout.lines().next().and_then(|l| l.strip_prefix("k = ")).and_then(|l| l.split_whitespace().next()).and_then(|k| k.parse().ok()).expect("k");
    assert!((2..=4).contains(&k), "12 texts support at most 4 clusters of 3: k = {k}\n{stdout}");
    assert!(stdout.contains("12 distinct texts support at most 4 clusters"), "says why: {stdout}");

    let run = haochaping(&["cluster", "--input", &utf8, "--k", "50", "--out", &out_path]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("k = 50 is more than the 12 distinct texts"), "{stderr}");

    // Excel's "CSV UTF-8" starts with a byte-order mark: the column is still found by its name.
    let bom = dir.path().join("bom.csv");
    std::fs::write(&bom, format!("\u{feff}{text}")).expect("csv with BOM");
    let run = haochaping(&["cluster", "--input", &bom.to_string_lossy(), "--k", "3", "--out", &out_path]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("公积金"), "the text read");

    let (gbk_bytes, _, lossy) = encoding_rs::GBK.encode(&text);
    assert!(!lossy);
    let gbk = dir.path().join("gbk.csv");
    std::fs::write(&gbk, &gbk_bytes).expect("gbk csv");
    let gbk = gbk.to_string_lossy().into_owned();
    let run = haochaping(&["cluster", "--input", &gbk, "--k", "3", "--out", &out_path]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("--encoding gbk"), "a GBK file read as UTF-8 is refused, naming the fix: {stderr}");
    let run = haochaping(&["cluster", "--input", &gbk, "--encoding", "gbk", "--k", "3", "--out", &out_path]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("排队") && stdout.contains("公积金"), "the GBK text decoded: {stdout}");
}

/// Issue 17 item 8: `report` checks its arguments before any work, each refusal naming the fix.
#[test]
fn report_checks_its_arguments_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}", dir.path().join("none.db").display());
    let out = dir.path().join("r.html").to_string_lossy().into_owned();
    for (args, expected) in [
        (vec!["report", "--month", "2026-13", "--out", out.as_str()], "--month \"2026-13\""),
        (vec!["report", "--month", "2026-11", "--format", "pdf", "--out", out.as_str()], "pdf"),
        (vec!["report", "--month", "2026-11", "--min-ratings", "0", "--out", out.as_str()], "--min-ratings"),
        (vec!["report", "--month", "2026-11", "--out", "/nonexistent-folder/r.html"], "does not exist"),
    ] {
        let run = common::haochaping_command().args(&args).env("DATABASE_URL", &db).output().expect("run");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("no database at"), "the arguments are checked before the database: {stderr}");
    }
}
