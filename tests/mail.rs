//! The outbox and the SMTP sender: mails queued while the server is down are each delivered
//! exactly once after it comes up, to the right people, in Chinese.

mod common;

use chrono::Duration;
use common::smtp::SmtpSink;
use common::TestApp;
use haochaping::clock;
use haochaping::adapters::mail::smtp::{deliver_due, Mailer, MAX_BACKOFF_SECONDS};
use serde_json::json;

on_both_backends!(mails_queued_while_smtp_is_down_are_delivered_once);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

async fn mails_queued_while_smtp_is_down_are_delivered_once(app: TestApp) {
    let d = app.seed().await;
    let port = free_port();
    let mailer = Mailer::from_url(&format!("smtp://127.0.0.1:{port}"), "好差评系统 <noreply@haochaping.test>").expect("mailer");
    app.bad_case(&d, "T1").await;
    app.bad_case(&d, "T2").await;
    let c = app.post("/api/v1/complaints", Some(&d.key), &json!({"source": "hotline_12345", "external_no": "GD-1", "content": "公积金迟迟不到账",
        "received_at": "2026-11-21T09:00:00+08:00", "department_code": "D1"})).await;
    assert_eq!(c.0, 201);
    assert_eq!(app.count("outbox WHERE sent_at IS NULL"), 3);

    // SMTP down: every round fails, nothing is lost, and retries back off up to one minute.
    let start = clock::now();
    let mut now = start;
    for round in 0..10 {
        let report = deliver_due(&app.state.pool, &mailer, now).await.expect("round");
        assert_eq!(report.sent, 0, "round {round}");
        now += Duration::seconds(MAX_BACKOFF_SECONDS + 1);
    }
    assert_eq!(app.count("outbox WHERE sent_at IS NULL AND attempts = 10 AND last_error IS NOT NULL"), 3);
    let capped = clock::to_db(now + Duration::seconds(MAX_BACKOFF_SECONDS));
    assert_eq!(app.count(&format!("outbox WHERE next_attempt_at <= '{}'", capped.format("%Y-%m-%d %H:%M:%S%.6f"))), 3, "backoff is capped at a minute");
    // Not due yet: a round right after a failure sends nothing even once the server is up.
    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let early = deliver_due(&app.state.pool, &mailer, now - Duration::seconds(MAX_BACKOFF_SECONDS + 1)).await.expect("early");
    assert_eq!(early.sent, 0);
    // Up and due: each mail goes once; further rounds send nothing.
    let report = deliver_due(&app.state.pool, &mailer, now + Duration::seconds(MAX_BACKOFF_SECONDS)).await.expect("delivery");
    assert_eq!((report.sent, report.failed), (3, 0));
    for _ in 0..3 {
        assert_eq!(deliver_due(&app.state.pool, &mailer, now + Duration::hours(1)).await.expect("again").sent, 0);
    }
    let mails = sink.mails();
    assert_eq!(mails.len(), 3, "{mails:?}");
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct mails");
    for mail in &mails {
        assert_eq!(mail.to, vec!["d1@example.test".to_owned()]);
        assert!(mail.subject.contains("新案件"), "subject {:?}", mail.subject);
        assert!(mail.body.contains("区市场监督管理局") && mail.body.contains("回访核实"), "body {:?}", mail.body);
    }
    assert_eq!(app.count("outbox WHERE sent_at IS NOT NULL"), 3);
}

on_both_backends!(two_senders_at_once_deliver_each_mail_once);

async fn two_senders_at_once_deliver_each_mail_once(app: TestApp) {
    let d = app.seed().await;
    for n in 0..30 {
        app.bad_case(&d, &format!("T{n}")).await;
    }
    let port = free_port();
    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let url = format!("smtp://127.0.0.1:{port}");
    let (a, b) = (Mailer::from_url(&url, "a@x.test").expect("a"), Mailer::from_url(&url, "b@x.test").expect("b"));
    let now = clock::now();
    let (ra, rb) = tokio::join!(deliver_due(&app.state.pool, &a, now), deliver_due(&app.state.pool, &b, now));
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(ra.sent + rb.sent, 30, "{ra:?} {rb:?}");
    assert_eq!(sink.mails().len(), 30);
    assert_eq!(app.count("outbox WHERE sent_at IS NULL"), 0);
}

/// `serve` itself runs the sender: a bad review's mail reaches the department's inbox.
#[actix_web::test]
async fn serve_delivers_the_new_case_mail_in_the_background() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let smtp_port = free_port();
    let sink = SmtpSink::start(format!("127.0.0.1:{smtp_port}").parse().expect("addr")).await;
    let http_port = free_port();
    let bin = env!("CARGO_BIN_EXE_haochaping");
    // A new database is made by `migrate` (or `serve`); `user add` refuses a file that is not there.
    assert!(std::process::Command::new(bin).arg("migrate").env("DATABASE_URL", &db).status().expect("migrate").success());
    let mut add = std::process::Command::new(bin)
        .args(["user", "add", "--username", "root", "--role", "admin", "--password-stdin"])
        .env("DATABASE_URL", &db)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("user add");
    {
        use std::io::Write;
        add.stdin.take().expect("stdin").write_all(b"kite-meadow-93\n").expect("write");
    }
    assert!(add.wait().expect("wait").success());
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(std::process::Command::new(bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{http_port}")])
        .env("DATABASE_URL", &db)
        .env("HCP_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("serve"));
    let base = format!("http://127.0.0.1:{http_port}");
    let client = common::client_builder().build().expect("client");
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "serve did not come up");
    let post = |path: &str, token: Option<String>, body: serde_json::Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { common::into_pair(req.send().await.expect("send")).await }
    };
    let token = post("/api/v1/auth/login", None, json!({"username": "root", "password": "kite-meadow-93"})).await.1["token"].as_str().expect("token").to_owned();
    assert_eq!(post("/api/v1/departments", Some(token.clone()), json!({"code": "D1", "name": "区民政局", "email": "mz@example.test"})).await.0, 201);
    assert_eq!(post("/api/v1/service-items", Some(token.clone()), json!({"code": "I1", "name": "婚姻登记", "department_code": "D1"})).await.0, 201);
    let key = post("/api/v1/api-keys", Some(token.clone()), json!({"name": "k", "role": "integration"})).await.1["key"].as_str().expect("key").to_owned();
    assert_eq!(post("/api/v1/transactions", Some(key.clone()), json!({"transaction_no": "T1", "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"})).await.0, 201);
    assert_eq!(post("/api/v1/reviews", Some(key), json!({"transaction_no": "T1", "stars": 1, "channel": "pc", "comment": "等太久"})).await.0, 201);
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = sink.mails();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["mz@example.test".to_owned()]);
    assert!(mails[0].subject.contains("新案件"));
    // Issue 17 item 8: the mail links to the case page at the public address.
    assert!(mails[0].body.contains(&format!("{base}/cases/1")), "{}", mails[0].body);
}

/// Issue 17 item 8: a department's mail links to its case page; the citizen's mail with the
/// approved reply links to the rating page, signed when sent (the stored row keeps a
/// placeholder, never the token), and that link opens the page with the reply.
#[actix_web::test]
async fn mails_link_to_the_case_and_to_the_rating_page() {
    let Some(app) = TestApp::spawn(common::Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    for (token, action, note) in [
        (&d.clerk1, "verify", Some("已电话联系评价人")),
        (&d.clerk1, "rectify", Some("增开两个窗口")),
        (&d.clerk1, "reply", Some("感谢您的评价，我们已增开窗口。")),
        (&d.supervisor, "approve", None),
    ] {
        assert_eq!(app.act(token, id, action, note).await.0, 200, "{action}");
    }
    assert_eq!(app.count("outbox WHERE body LIKE '%/rate/%'"), 0, "no rating token is stored in the outbox");
    let port = free_port();
    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let mailer = Mailer::from_url(&format!("smtp://127.0.0.1:{port}"), "好差评系统 <noreply@haochaping.test>")
        .expect("mailer")
        .with_links(&app.base, app.state.signer.clone());
    deliver_due(&app.state.pool, &mailer, clock::now()).await.expect("delivery");
    let mails = sink.mails();
    let to_department = mails.iter().find(|m| m.subject.contains("新案件")).expect("new case mail");
    assert!(to_department.body.contains(&format!("{}/cases/{id}", app.base)), "{}", to_department.body);
    let to_supervisor = mails.iter().find(|m| m.to.contains(&"sup@example.test".to_owned())).expect("supervisor mail");
    assert!(to_supervisor.body.contains(&format!("{}/cases/{id}", app.base)), "{}", to_supervisor.body);
    let to_citizen = mails.iter().find(|m| m.to.contains(&"citizen@example.test".to_owned())).expect("citizen mail");
    let link = to_citizen.body.split_whitespace().find_map(|w| w.split('：').find(|p| p.contains("/rate/"))).expect("rating link").to_owned();
    assert!(link.starts_with(&format!("{}/rate/", app.base)), "{link}");
    let page = app.client.get(&link).send().await.expect("rating page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap_or_default().contains("感谢您的评价，我们已增开窗口。"), "the page shows the reply");
}

/// Issue 17 item 4: mail as relays want it — TLS from the first byte (`smtps://`), STARTTLS
/// required or opportunistic (`?tls=`), and a sign-in with the user and password of the
/// environment, over rustls against a loopback relay with a test certificate. What cannot be
/// trusted is not sent: no STARTTLS when it is required, a certificate from an unknown CA, a
/// wrong password.
#[actix_web::test]
async fn mail_goes_over_tls_and_signs_in_as_relays_want() {
    use common::smtp::{SinkOptions, TEST_CA};
    use haochaping::adapters::mail::smtp::{Security, SmtpSettings};
    let Some(app) = TestApp::spawn(common::Backend::Sqlite).await else { return };
    let d = app.seed().await;
    let login = Some(("hcp-mailer".to_owned(), "relay-pass-2026".to_owned()));
    struct Case {
        name: &'static str,
        sink: SinkOptions,
        url: &'static str,
        password: &'static str,
        ca: bool,
        delivered: Option<(bool, bool)>,
    }
    let cases = [
        Case { name: "smtps", sink: SinkOptions { implicit_tls: true, login: login.clone(), ..Default::default() }, url: "smtps://127.0.0.1:{port}", password: "relay-pass-2026", ca: true, delivered: Some((true, true)) },
        Case { name: "STARTTLS required", sink: SinkOptions { offer_starttls: true, login: login.clone(), ..Default::default() }, url: "smtp://localhost:{port}?tls=required", password: "relay-pass-2026", ca: true, delivered: Some((true, true)) },
        Case { name: "STARTTLS opportunistic, offered", sink: SinkOptions { offer_starttls: true, ..Default::default() }, url: "smtp://127.0.0.1:{port}?tls=opportunistic", password: "", ca: true, delivered: Some((true, false)) },
        Case { name: "STARTTLS opportunistic, not offered", sink: SinkOptions::default(), url: "smtp://127.0.0.1:{port}?tls=opportunistic", password: "", ca: true, delivered: Some((false, false)) },
        Case { name: "STARTTLS required, not offered", sink: SinkOptions::default(), url: "smtp://127.0.0.1:{port}?tls=required", password: "", ca: true, delivered: None },
        Case { name: "unknown CA", sink: SinkOptions { implicit_tls: true, ..Default::default() }, url: "smtps://127.0.0.1:{port}", password: "", ca: false, delivered: None },
        Case { name: "wrong password", sink: SinkOptions { implicit_tls: true, login: login.clone(), ..Default::default() }, url: "smtps://127.0.0.1:{port}", password: "guess", ca: true, delivered: None },
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let port = free_port();
        let sink = SmtpSink::start_with(format!("127.0.0.1:{port}").parse().expect("addr"), case.sink).await;
        let settings = SmtpSettings {
            url: case.url.replace("{port}", &port.to_string()),
            user: (!case.password.is_empty()).then(|| "hcp-mailer".to_owned()),
            password: (!case.password.is_empty()).then(|| case.password.to_owned()),
            ca_file: case.ca.then(|| TEST_CA.into()),
        };
        let mailer = Mailer::new(&settings, "好差评系统 <noreply@haochaping.test>").expect(case.name);
        assert_ne!(mailer.security, Security::Plain, "{}", case.name);
        app.bad_case(&d, &format!("TLS-{n}")).await;
        let report = deliver_due(&app.state.pool, &mailer, clock::now()).await.expect(case.name);
        let mails = sink.mails();
        match case.delivered {
            Some((over_tls, signed_in)) => {
                assert_eq!((report.sent, report.failed), (1, 0), "{}", case.name);
                assert_eq!(mails.len(), 1, "{}", case.name);
                assert_eq!(mails[0].over_tls, over_tls, "{}: over TLS", case.name);
                assert_eq!(mails[0].user.is_some(), signed_in, "{}: signed in", case.name);
                assert!(mails[0].subject.contains("新案件"), "{}: {:?}", case.name, mails[0].subject);
            }
            None => {
                assert_eq!((report.sent, report.failed, mails.len()), (0, 1, 0), "{}", case.name);
                // Kept for the next round, with the reason.
                assert_eq!(app.count("outbox WHERE sent_at IS NULL AND last_error IS NOT NULL"), 1, "{}", case.name);
                app.execute("UPDATE outbox SET sent_at = next_attempt_at WHERE sent_at IS NULL");
            }
        }
    }
}

on_both_backends!(a_mail_that_uses_up_its_attempts_is_listed_and_sent_again_by_hand);

/// Issue 19 item 6: a mail stops after its attempts (here two), is listed for admins with its
/// last error (and no address), and goes once it is sent again by hand.
async fn a_mail_that_uses_up_its_attempts_is_listed_and_sent_again_by_hand(app: TestApp) {
    let d = app.seed().await;
    let port = free_port();
    let mailer = Mailer::from_url(&format!("smtp://127.0.0.1:{port}"), "好差评系统 <noreply@haochaping.test>").expect("mailer").with_max_attempts(2);
    app.bad_case(&d, "T1").await;
    let now = clock::now();
    let first = deliver_due(&app.state.pool, &mailer, now).await.expect("first");
    assert_eq!((first.failed, first.dead), (1, 0));
    let second = deliver_due(&app.state.pool, &mailer, now + Duration::seconds(MAX_BACKOFF_SECONDS)).await.expect("second");
    assert_eq!((second.failed, second.dead), (1, 1));
    assert_eq!(deliver_due(&app.state.pool, &mailer, now + Duration::hours(1)).await.expect("dead").failed, 0, "a dead letter is not retried");

    assert_eq!(app.get("/api/v1/mail/dead-letters", Some(&d.supervisor)).await.0, 403);
    let (status, dead) = app.get("/api/v1/mail/dead-letters", Some(&d.admin)).await;
    assert_eq!(status, 200);
    let dead = dead.as_array().expect("list").clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0]["attempts"].as_i64(), dead[0]["recipients"].as_i64(), dead[0]["kind"].as_str()), (Some(2), Some(1), Some("new_case")));
    assert!(dead[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(!dead[0].to_string().contains("d1@example.test"), "no address in the list");
    let page = app.client.get(app.url("/admin/webhooks")).header("Cookie", format!("hcp_session={}", app.state.cookies.sign(&d.admin))).send().await.expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("邮件死信") && html.contains("重新发送"), "{html}");

    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let id = dead[0]["id"].as_i64().expect("id");
    let path = format!("/api/v1/mail/dead-letters/{id}/retry");
    assert_eq!(app.post(&path, Some(&d.admin), &json!({})).await.0, 202);
    assert_eq!(app.post(&path, Some(&d.admin), &json!({})).await.0, 409, "no longer dead");
    let sent = deliver_due(&app.state.pool, &mailer, clock::now()).await.expect("sent again");
    assert_eq!(sent.sent, 1);
    assert_eq!(sink.mails().len(), 1);
    assert_eq!(app.get("/api/v1/mail/dead-letters", Some(&d.admin)).await.1, json!([]));
}
