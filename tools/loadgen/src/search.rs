//! `loadgen search`: `GET /api/v1/search` over a scratch database of many review comments,
//! against the real `haochaping serve`.
//!
//! (1) fills the database: master data of 8 departments and, straight in SQL, `--comments`
//! 办件 each with a rated review and its comment, spread over two years, 10 % of them bad;
//! the comments are composed from phrases of government-service reviews (a few frequent, many
//! rare: the long tail of real texts), with sentences of the real messages under
//! `../shared/data` mixed in when that folder is there; (2) indexes them with the real
//! `haochaping reindex-search` (the path an upgraded database takes); (3) starts `haochaping
//! serve` and fires a mix of searches — common and rare words, two words, every filter, a late
//! page, a word in no text — from a few keep-alive connections, each sending when answered;
//! (4) prints the latency percentiles over all and per kind of query.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use diesel::prelude::*;

use haochaping::clock;
use haochaping::db_run;
use haochaping::storage::{Backend, DbPool};

use super::{backend_name, micros, open_connection, server_binary, BenchBackend, Latencies, ScratchDb, Server};

pub struct SearchArgs {
    pub backend: BenchBackend,
    pub comments: usize,
    pub queries: usize,
    pub connections: usize,
    /// An indexed database from an earlier run (`HCP_BENCH_KEEP`): only the searches are run.
    pub database: Option<String>,
}

/// Departments of the scratch district.
const DEPARTMENTS: [(&str, &str); 8] = [
    ("SCJG", "区市场监督管理局"),
    ("RSJ", "区人力资源和社会保障局"),
    ("YBJ", "区医疗保障局"),
    ("GAFJ", "区公安分局"),
    ("ZJJ", "区住房和城乡建设局"),
    ("SWJ", "区税务局"),
    ("MZJ", "区民政局"),
    ("BDCDJ", "区不动产登记中心"),
];

/// What a comment is about: the service, said many ways (a department's items).
const SERVICES: [&[&str]; 8] = [
    &["办理营业执照", "企业设立登记", "个体户注册", "食品经营许可证", "企业变更登记", "营业执照年报"],
    &["社保卡申领", "补办社保卡", "养老保险转移", "失业金申领", "社保缴费基数调整", "退休审批"],
    &["医保报销", "异地就医备案", "医保卡激活", "门诊慢特病申请", "生育津贴申领"],
    &["户口迁移", "身份证换领", "居住证办理", "出入境证件", "驾驶证换证", "新生儿落户"],
    &["公积金提取", "公积金贷款", "房屋维修资金", "商品房预售备案", "施工许可证"],
    &["发票领用", "个税汇算", "税务登记", "增值税申报", "社保费缴纳"],
    &["低保申请", "婚姻登记", "养老补贴", "残疾人补贴", "殡葬补贴"],
    &["不动产登记", "不动产权证书", "房产过户", "抵押登记", "二手房交易", "查封登记"],
];

/// Phrases of bad reviews, most common first.
const BAD: [&str; 40] = [
    "排队时间太长", "窗口工作人员态度差", "材料要求反复变化", "来回跑了好几趟", "系统经常卡顿", "等了两个小时", "只开了一个窗口",
    "工作人员玩手机", "电话一直打不通", "网上办事大厅登录不上", "一次性告知没有做到", "预约号放得太少", "告知的材料不全", "自助机坏了没人管",
    "办事指南和窗口说的不一样", "中午不办公", "叫号系统混乱", "插队现象严重", "让我找中介办", "工作人员推诿", "APP闪退", "审批时限超期",
    "证明材料要求太多", "大厅没有座位", "停车位太少", "复印要自己出去找", "周末不能办理", "现场指引不清楚", "咨询台没人", "邮寄送达太慢",
    "重复提交材料", "跨部门来回推", "线上线下标准不一", "人脸识别总失败", "退件理由说不清", "收费标准不透明", "窗口提前下班", "空调太冷",
    "电梯故障", "无障碍通道被占",
];

/// Phrases of good and middling reviews, most common first.
const GOOD: [&str; 36] = [
    "办事效率高", "工作人员态度很好", "一次就办好了", "非常满意", "耐心解答问题", "流程简单", "不用排队", "帮办代办很贴心", "材料一次告知清楚",
    "网上就能办", "当场拿证", "环境干净整洁", "引导员很热情", "比以前快多了", "预约很方便", "自助机好用", "延时服务很贴心", "主动上门服务",
    "全程没跑腿", "邮寄到家", "一窗受理很方便", "掌上办很便捷", "周末也能办", "点赞", "服务规范", "等候时间还可以", "基本满意", "还算顺利",
    "工作人员专业", "解释得很清楚", "帮老人填表", "容缺受理", "告知承诺制很好", "秒批", "跨省通办解决大问题", "好差评制度好",
];

/// Where it happened.
const PLACES: [&str; 12] = ["政务服务中心", "二楼大厅", "3号窗口", "综合窗口", "自助服务区", "街道便民服务中心", "网上办事大厅", "12345热线", "社区服务站", "不动产登记大厅", "税务分局窗口", "市民之家"];

/// A small deterministic generator (xorshift64*): the same database every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An index of `n` with Zipf-like weights (the first few common, a long tail).
    fn zipf(&mut self, n: usize) -> usize {
        // Inverse of a power law over [1, n]: u^2 piles up near 0.
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * u * n as f64) as usize).min(n - 1)
    }
}

/// Sentences of the real citizen messages under `../shared/data`, when that folder is there
/// (never shipped or needed; without it every comment is composed).
fn real_sentences() -> Vec<String> {
    let dir = std::env::var("HCP_BENCH_DATA").map(std::path::PathBuf::from).unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let mut sentences = Vec::new();
    for file in ["teddy2020_hot_issues.csv", "teddy2020_msgs_labelled.csv", "teddy2020_replies.csv"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else { continue };
        for piece in text.split(['。', '！', '？', '\n', '；']) {
            let piece: String = piece.chars().filter(|c| !matches!(c, '"' | '\'' | ',' | '\\')).collect();
            let n = piece.chars().count();
            if (8..=60).contains(&n) && piece.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                sentences.push(piece);
            }
        }
    }
    sentences
}

/// One review's comment: a place, the service, and one to three phrases of its grade; now and
/// then a real sentence.
fn comment(rng: &mut Rng, department: usize, bad: bool, real: &[String]) -> String {
    let service = SERVICES[department][rng.zipf(SERVICES[department].len())];
    let phrases: &[&str] = if bad { &BAD } else { &GOOD };
    let mut text = String::new();
    if rng.below(3) == 0 {
        text.push_str("在");
        text.push_str(PLACES[rng.zipf(PLACES.len())]);
    }
    text.push_str(service);
    text.push('，');
    for i in 0..1 + rng.below(3) {
        if i > 0 {
            text.push('，');
        }
        text.push_str(phrases[rng.zipf(phrases.len())]);
    }
    if !real.is_empty() && rng.below(10) == 0 {
        text.push('。');
        text.push_str(&real[rng.below(real.len())]);
    }
    text.push(if bad { '！' } else { '。' });
    text
}

pub fn search(args: &SearchArgs) -> anyhow::Result<()> {
    if args.comments == 0 || args.queries == 0 || args.connections == 0 {
        bail!("--comments, --queries and --connections must be positive");
    }
    let backends = args.backend.each();
    let mut lines = Vec::new();
    for backend in &backends {
        lines.push((*backend, search_on(*backend, args)?));
    }
    for (backend, line) in &lines {
        if backends.len() > 1 {
            println!("{}:", backend_name(*backend));
        }
        println!("{line}");
    }
    Ok(())
}

/// Fills the scratch database: master data, then 办件 and reviews in batches of 2 000 rows,
/// each batch one transaction, with progress. Returns how many were bad.
fn fill(url: &str, n: usize) -> anyhow::Result<usize> {
    let pool = DbPool::connect(url, 1)?;
    pool.migrate()?;
    let mut conn = pool.get()?;
    let now = clock::now();
    let mut items = Vec::new();
    for (i, (code, name)) in DEPARTMENTS.iter().enumerate() {
        let department = haochaping::admin::master_data::create_department(&mut conn, "bench", code, name, None, None, now).map_err(|e| anyhow!("{e}"))?;
        let item = haochaping::admin::master_data::create_service_item(&mut conn, "bench", &format!("{code}-1"), SERVICES[i][0], code, now).map_err(|e| anyhow!("{e}"))?;
        items.push((department.id, item.id));
    }
    let real = real_sentences();
    eprintln!("      {} real sentences from ../shared/data mixed into one comment in ten", real.len());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Two years up to yesterday, evenly.
    let start = now - chrono::Duration::days(730);
    let step = 730.0 * 86_400.0 / n as f64;
    let started = Instant::now();
    let mut bad_count = 0;
    const BATCH: usize = 2_000;
    let mut done = 0;
    while done < n {
        let upto = (done + BATCH).min(n);
        let mut transactions = String::from("INSERT INTO transactions (transaction_no, service_item_id, department_id, channel, completed_at, created_at) VALUES ");
        let mut reviews = Vec::with_capacity(upto - done);
        for i in done..upto {
            let d = rng.zipf(DEPARTMENTS.len());
            let stars = match rng.below(20) {
                0 => 1,
                1 => 2,
                2 | 3 => 3,
                4..=7 => 4,
                _ => 5,
            };
            let bad = stars <= 2;
            bad_count += usize::from(bad);
            // Half the 3-star comments read as complaints.
            let complains = bad || (stars == 3 && rng.below(2) == 0);
            let text = comment(&mut rng, d, complains, &real).replace('\'', "''");
            let at = clock::to_db(start + chrono::Duration::seconds((i as f64 * step) as i64)).format("%Y-%m-%d %H:%M:%S").to_string();
            if i > done {
                transactions.push_str(", ");
            }
            transactions.push_str(&format!("('SEARCH-{i:08}', {}, {}, 'pc', '{at}', '{at}')", items[d].1, items[d].0));
            reviews.push((i, d, stars, text, at));
        }
        let mut review_sql = String::from(
            "INSERT INTO reviews (transaction_id, stars, channel, tags, comment, anonymous, is_public, invalidated, department_id, service_item_id, rated_at, created_at, moderation) \
             SELECT t.id, v.stars, 'pc', '[]', v.comment, FALSE, TRUE, FALSE, t.department_id, t.service_item_id, t.completed_at, t.completed_at, 1 FROM (VALUES ",
        );
        for (k, (i, _, stars, text, _)) in reviews.iter().enumerate() {
            if k > 0 {
                review_sql.push_str(", ");
            }
            review_sql.push_str(&format!("('SEARCH-{i:08}', {stars}, '{text}')"));
        }
        review_sql.push_str(") AS v(transaction_no, stars, comment) JOIN transactions t ON t.transaction_no = v.transaction_no");
        let review_sql = match conn.backend() {
            // SQLite names a VALUES list's columns column1, column2…
            Backend::Sqlite => review_sql
                .replace(") AS v(transaction_no, stars, comment) JOIN transactions t ON t.transaction_no = v.transaction_no", ") AS v JOIN transactions t ON t.transaction_no = v.column1")
                .replace("v.stars", "v.column2")
                .replace("v.comment", "v.column3"),
            Backend::Postgres => review_sql,
        };
        conn.transaction(|conn| {
            db_run!(conn, |c| diesel::sql_query(&transactions).execute(c))?;
            db_run!(conn, |c| diesel::sql_query(&review_sql).execute(c))?;
            Ok::<_, anyhow::Error>(())
        })?;
        done = upto;
        if done % 100_000 < BATCH || done == n {
            eprintln!("      … {done} of {n} reviews with comments stored ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(bad_count)
}

/// One kind of query of the mix, with its query string (without `q`'s encoding).
struct Shape {
    name: &'static str,
    query: String,
}

fn shapes() -> Vec<Shape> {
    let s = |name: &'static str, query: &str| Shape { name, query: query.to_owned() };
    vec![
        s("common word", "q=排队"),
        s("common word", "q=态度"),
        s("common word", "q=办事效率"),
        s("service word", "q=社保卡"),
        s("service word", "q=不动产登记"),
        s("service word", "q=营业执照"),
        s("service word", "q=公积金"),
        s("uncommon word", "q=无障碍"),
        s("uncommon word", "q=殡葬"),
        // Words of the real messages, in a few hundred texts or fewer.
        s("rare word", "q=业委会"),
        s("rare word", "q=停车费"),
        s("rare word", "q=补偿款"),
        s("two words", "q=排队 小时"),
        s("two words", "q=社保卡 补办"),
        s("word + department", "q=排队&department_code=BDCDJ"),
        s("word + bad", "q=态度&grade=bad"),
        s("word + source", "q=窗口&source=review"),
        s("word + month", "q=排队&from=2025-06-01&to=2025-06-30"),
        s("word + all filters", "q=排队&department_code=MZJ&grade=bad&source=review&from=2025-01-01&to=2025-03-31"),
        s("word + all filters", "q=工作人员&department_code=YBJ&grade=1&from=2026-01-01&to=2026-06-30"),
        s("page 10", "q=满意&page=10"),
        s("no match", "q=火箭发射"),
    ]
}

fn encode(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => format!("{k}={}", v.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>()),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn search_on(backend: Backend, args: &SearchArgs) -> anyhow::Result<String> {
    let name = backend_name(backend);
    eprintln!("== bench search · {name} · {} comments · {} queries from {} connections", args.comments, args.queries, args.connections);
    if let Some(url) = &args.database {
        let dir = std::env::temp_dir().join(format!("haochaping-bench-search-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // Not dropped afterwards: no PostgreSQL name, and the folder is only the server's log.
        let db = ScratchDb { url: url.clone(), dir, pg_name: None };
        return measure(&db, args, 0.0);
    }
    let db = ScratchDb::create(backend)?;
    let started = Instant::now();
    let bad = fill(&db.url, args.comments)?;
    eprintln!("[1/4] stored {} reviews with comments ({bad} bad) in {:.1} s", args.comments, started.elapsed().as_secs_f64());

    let started = Instant::now();
    let status = Command::new(server_binary()?)
        .arg("reindex-search")
        .env("DATABASE_URL", &db.url)
        .env("HCP_SECRET", "bench-secret")
        .env("RUST_LOG", "warn")
        .status()
        .context("running haochaping reindex-search")?;
    if !status.success() {
        bail!("haochaping reindex-search failed: {status}");
    }
    let index_s = started.elapsed().as_secs_f64();
    if backend == Backend::Postgres {
        // What autovacuum does after such a bulk load; a live database is analysed.
        let pool = DbPool::connect(&db.url, 1)?;
        db_run!(&mut pool.get()?, |c| diesel::sql_query("VACUUM ANALYZE search_documents").execute(c))?;
    }
    let size = index_size(&db)?;
    eprintln!("[2/4] haochaping reindex-search indexed them in {index_s:.1} s; index and documents take {size}");
    let line = measure(&db, args, index_s)?;
    if std::env::var_os("HCP_BENCH_KEEP").is_some() {
        // For a closer look (EXPLAIN, another build: `--database`): the database stays.
        eprintln!("      HCP_BENCH_KEEP: the database stays at {}", db.url);
        std::mem::forget(db);
    }
    Ok(line)
}

/// Steps 3 and 4: the server, the warm-up, the measured searches.
fn measure(db: &ScratchDb, args: &SearchArgs, index_s: f64) -> anyhow::Result<String> {
    let server = Server::start(db)?;
    let token = supervisor_token(server.addr, &db.url)?;
    // The start-up pass finds nothing missing; let it finish before measuring.
    std::thread::sleep(Duration::from_secs(5));
    let shapes = Arc::new(shapes());
    let (_, warm) = fire(server.addr, &token, &shapes, shapes.len() * 2, args.connections)?;
    eprintln!("[3/4] server up; {} warm-up queries", warm.len());
    let started = Instant::now();
    let (totals, timed) = fire(server.addr, &token, &shapes, args.queries, args.connections)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut all = Latencies(timed.iter().map(|(_, us)| *us).collect());
    let (p50, p95, p99) = (all.percentile_ms(0.50), all.percentile_ms(0.95), all.percentile_ms(0.99));
    eprintln!("[4/4] {} queries in {seconds:.1} s ({:.0}/s): p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms; by kind:", timed.len(), timed.len() as f64 / seconds);
    let mut kinds: Vec<&str> = shapes.iter().map(|s| s.name).collect();
    kinds.dedup();
    for kind in kinds {
        let mut lat = Latencies(timed.iter().filter(|(i, _)| shapes[*i].name == kind).map(|(_, us)| *us).collect());
        let hits: Vec<String> = shapes.iter().enumerate().filter(|(_, s)| s.name == kind).map(|(i, s)| format!("{} → {}", s.query, totals[i])).collect();
        eprintln!(
            "      {kind:<20} p50 {:>6.1} ms  p99 {:>6.1} ms   ({})",
            lat.percentile_ms(0.50),
            lat.percentile_ms(0.99),
            hits.join("; ")
        );
    }
    eprintln!("      server peak RSS {:.0} MB", server.peak_rss_mb()?);
    Ok(format!("comments={} queries={} connections={} p50_ms={p50:.1} p95_ms={p95:.1} p99_ms={p99:.1} index_s={index_s:.0}", args.comments, timed.len(), args.connections))
}

/// The search tables' size on disk.
fn index_size(db: &ScratchDb) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    let pool = DbPool::connect(&db.url, 1)?;
    let mut conn = pool.get()?;
    let sql = match conn.backend() {
        Backend::Sqlite => "SELECT CAST(SUM(pgsize) AS BIGINT) AS bytes FROM dbstat WHERE name LIKE 'search%'",
        Backend::Postgres => "SELECT pg_total_relation_size('search_documents') AS bytes",
    };
    let size: Result<Size, _> = db_run!(&mut conn, |c| diesel::sql_query(sql).get_result(c));
    Ok(match size {
        Ok(s) => format!("{:.0} MB", s.bytes as f64 / 1_048_576.0),
        // SQLite built without the dbstat table: the whole file.
        Err(_) => format!("{:.0} MB (the whole database file)", std::fs::metadata(db.dir.join("bench.db")).map(|m| m.len()).unwrap_or(0) as f64 / 1_048_576.0),
    })
}

/// A supervisor's bearer token.
fn supervisor_token(addr: SocketAddr, url: &str) -> anyhow::Result<String> {
    let sign_in = || super::call(addr, "/api/v1/auth/login", None, &serde_json::json!({"username": "bench-supervisor", "password": "bench-password-1"}));
    if let Ok((200, login)) = sign_in() {
        if let Some(token) = login["token"].as_str() {
            return Ok(token.to_owned());
        }
    }
    {
        let pool = DbPool::connect(url, 1)?;
        let mut conn = pool.get()?;
        let spec = haochaping::admin::accounts::NewUserSpec {
            username: "bench-supervisor",
            password: "bench-password-1",
            role: haochaping::domain::access::Role::Supervisor,
            department_code: None,
            email: None,
        };
        haochaping::admin::accounts::create_user(&mut conn, &spec, clock::now()).map_err(|e| anyhow!("{e}"))?;
    }
    let (status, login) = sign_in()?;
    login["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("supervisor sign-in: {status} {login}"))
}

/// Sends `count` searches, the shapes in turn, from `connections` keep-alive connections, each
/// sending when answered. Returns each shape's `total` as last answered and every (shape,
/// latency in µs).
fn fire(addr: SocketAddr, token: &str, shapes: &Arc<Vec<Shape>>, count: usize, connections: usize) -> anyhow::Result<(Vec<String>, Vec<(usize, u32)>)> {
    use http_body_util::{BodyExt, Empty};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let authorization = format!("Bearer {token}");
    let paths: Arc<Vec<String>> = Arc::new(shapes.iter().map(|s| format!("/api/v1/search?{}", encode(&s.query))).collect());
    runtime.block_on(async move {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (next, paths, authorization) = (next.clone(), paths.clone(), authorization.clone());
            tasks.push(tokio::spawn(async move {
                let mut sender = open_connection(addr).await?;
                let mut timed = Vec::new();
                let mut totals: Vec<Option<String>> = vec![None; paths.len()];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        break;
                    }
                    let shape = k % paths.len();
                    let request = hyper::Request::get(paths[shape].as_str())
                        .header("host", addr.to_string())
                        .header("authorization", authorization.as_str())
                        .body(Empty::<bytes::Bytes>::new())?;
                    let t0 = Instant::now();
                    sender.ready().await?;
                    let response = sender.send_request(request).await?;
                    let status = response.status().as_u16();
                    let body = response.into_body().collect().await?.to_bytes();
                    let us = micros(t0.elapsed());
                    if status != 200 {
                        bail!("{} answered {status}: {}", paths[shape], String::from_utf8_lossy(&body));
                    }
                    let page: serde_json::Value = serde_json::from_slice(&body)?;
                    let more = if page["total_is_lower_bound"] == true { "+" } else { "" };
                    let about = if page["total_is_estimate"] == true { "~" } else { "" };
                    totals[shape] = Some(format!("{about}{}{more}", page["total"]));
                    timed.push((shape, us));
                }
                anyhow::Ok((totals, timed))
            }));
        }
        let mut totals = vec![String::from("—"); paths.len()];
        let mut timed = Vec::new();
        for task in tasks {
            let (part_totals, part) = task.await.map_err(|e| anyhow!("search task: {e}"))??;
            for (i, t) in part_totals.into_iter().enumerate() {
                if let Some(t) = t {
                    totals[i] = t;
                }
            }
            timed.extend(part);
        }
        anyhow::Ok((totals, timed))
    })
}
