//! The outbox and the SMTP sender: mails queued while the server is down are each delivered
//! exactly once after it comes up, to the right people, in Chinese.

mod common;

use chrono::Duration;
use common::smtp::SmtpSink;
use common::TestApp;
use haochaping::clock;
use haochaping::mail_sender::{deliver_due, Mailer, MAX_BACKOFF_SECONDS};
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
        let report = deliver_due(&app.state, &mailer, now).await.expect("round");
        assert_eq!(report.sent, 0, "round {round}");
        now += Duration::seconds(MAX_BACKOFF_SECONDS + 1);
    }
    assert_eq!(app.count("outbox WHERE sent_at IS NULL AND attempts = 10 AND last_error IS NOT NULL"), 3);
    let capped = clock::to_db(now + Duration::seconds(MAX_BACKOFF_SECONDS));
    assert_eq!(app.count(&format!("outbox WHERE next_attempt_at <= '{}'", capped.format("%Y-%m-%d %H:%M:%S%.6f"))), 3, "backoff is capped at a minute");
    // Not due yet: a round right after a failure sends nothing even once the server is up.
    let sink = SmtpSink::start(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let early = deliver_due(&app.state, &mailer, now - Duration::seconds(MAX_BACKOFF_SECONDS + 1)).await.expect("early");
    assert_eq!(early.sent, 0);
    // Up and due: each mail goes once; further rounds send nothing.
    let report = deliver_due(&app.state, &mailer, now + Duration::seconds(MAX_BACKOFF_SECONDS)).await.expect("delivery");
    assert_eq!((report.sent, report.failed), (3, 0));
    for _ in 0..3 {
        assert_eq!(deliver_due(&app.state, &mailer, now + Duration::hours(1)).await.expect("again").sent, 0);
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
