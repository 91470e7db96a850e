//! The binary's `migrate` and `user add`, on both backends.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{drop_pg_database, fresh_database, Backend};

fn haochaping(database_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = common::haochaping_command()
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run haochaping");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn migrate_then_add_users(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((url, pg_name)) = fresh_database(backend, &dir) else { return };
    let out = haochaping(&url, &["migrate"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).expect("migrations").count();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("migrations applied: {shipped}")), "{}", String::from_utf8_lossy(&out.stderr));
    // Idempotent.
    let out = haochaping(&url, &["migrate"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrations applied: 0"));

    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("maple-quartz-river\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The stored password logs in; a wrong one does not.
    let pool = haochaping::storage::DbPool::connect(&url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    let now = haochaping::clock::now();
    assert!(haochaping::admin::accounts::login(&mut conn, "boss", "maple-quartz-river", now).is_ok());
    assert!(haochaping::admin::accounts::login(&mut conn, "boss", "maple-quartz-river\n", now).is_err());
    drop(conn);
    drop(pool);

    let out = haochaping(&url, &["user", "add", "--username", "clerk", "--role", "department", "--department", "NOPE", "--password-stdin"], Some("cedar-violet-ocean\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown department_code"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("lantern-orbit-maple\n"));
    assert!(!out.status.success(), "a duplicate username is refused");
    if let Some(name) = pg_name {
        drop_pg_database(&name);
    }
}

#[test]
fn migrate_and_user_add_on_sqlite() {
    migrate_then_add_users(Backend::Sqlite);
}

#[test]
fn migrate_and_user_add_on_postgres() {
    migrate_then_add_users(Backend::Postgres);
}

#[test]
fn unknown_database_scheme_is_a_clear_error() {
    let out = haochaping("mysql://localhost/x", &["migrate"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported DATABASE_URL scheme"));
}

/// Issue 17 item 1: `serve --demo` never seeds into a database that holds real data.
fn demo_refuses_a_database_with_real_data(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((url, pg_name)) = fresh_database(backend, &dir) else { return };
    assert!(haochaping(&url, &["migrate"], None).status.success());
    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("maple-quartz-river\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = haochaping(&url, &["serve", "--demo", "--bind", "127.0.0.1:0"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the demo must not start: {stderr}");
    assert!(stderr.contains("seeds only an empty database") && stderr.contains("new file"), "{stderr}");
    let pool = haochaping::storage::DbPool::connect(&url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    assert_eq!(haochaping::storage::operator_rows(&mut conn).expect("count"), 1, "only the admin: nothing seeded");
    drop(conn);
    drop(pool);
    if let Some(name) = pg_name {
        drop_pg_database(&name);
    }
}

#[test]
fn demo_refuses_real_data_on_sqlite() {
    demo_refuses_a_database_with_real_data(Backend::Sqlite);
}

#[test]
fn demo_refuses_real_data_on_postgres() {
    demo_refuses_a_database_with_real_data(Backend::Postgres);
}

/// Issue 17 item 1: a command that works on a database refuses a SQLite file that is not
/// there instead of creating an empty one and reporting zeros.
#[test]
fn commands_refuse_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    let csv = dir.path().join("w.csv");
    std::fs::write(&csv, "code,name,hall\nW1,1号窗口,一楼\n").expect("csv");
    let csv = csv.to_string_lossy().into_owned();
    for args in [
        vec!["scan"],
        vec!["report", "--month", "2026-11", "--out", "/dev/null"],
        vec!["import", "--kind", "windows", "--input", csv.as_str()],
        vec!["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"],
    ] {
        let out = haochaping(&url, &args, Some("maple-quartz-river\n"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {stderr}");
        assert!(stderr.contains("no database at") && stderr.contains("haochaping migrate"), "{args:?}: {stderr}");
        assert!(!missing.exists(), "{args:?} created the file");
    }
    // `migrate` creates it, as it should; then the commands work.
    assert!(haochaping(&url, &["migrate"], None).status.success());
    assert!(haochaping(&url, &["scan"], None).status.success());
}

/// Issue 17 item 3: the models are inside the binary, so a command started from any directory
/// routes with them, and says at start which database, model and public URL it uses.
#[test]
fn built_in_models_from_any_directory_and_the_start_says_what_it_uses() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    assert!(haochaping(&url, &["migrate"], None).status.success());
    let elsewhere = tempfile::tempdir().expect("another working directory");
    let run = |nlp_dir: Option<&std::path::Path>| {
        let mut command = common::haochaping_command();
        command.arg("scan").current_dir(elsewhere.path()).env("DATABASE_URL", &url).env("RUST_LOG", "info").env_remove("HCP_NLP_DIR");
        if let Some(d) = nlp_dir {
            command.env("HCP_NLP_DIR", d);
        }
        let out = command.output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let log = run(None);
    assert!(!log.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {log:?}");
    assert!(log.contains("complaint router loaded") && log.contains("model=built-in"), "{log}");
    assert!(log.contains("haochaping starting") && log.contains("h.db") && log.contains("public_url=http"), "{log}");
    assert_eq!(log.matches("haochaping starting").count(), 1, "said once: {log}");
    // Commands that do not start the whole service say it too, once.
    let mut migrate = common::haochaping_command();
    let out = migrate.arg("migrate").current_dir(elsewhere.path()).env("DATABASE_URL", &url).env("RUST_LOG", "info").output().expect("migrate");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(log.matches("haochaping starting").count(), 1, "{log}");
    assert!(log.contains("h.db") && log.contains("models=built-in"), "{log}");
    // HCP_NLP_DIR overrides what it holds: here the stop words, and no router (routing off).
    let models = tempfile::tempdir().expect("models");
    std::fs::write(models.path().join("stopwords.txt"), "的\n了\n").expect("stop words");
    let log = run(Some(models.path()));
    assert!(log.contains("stopwords.txt") && log.contains("HCP_NLP_DIR set"), "{log}");
    assert!(log.contains("no complaint router"), "{log}");
    // The text commands take HCP_NLP_DIR as well: a stop word of its file is gone from the terms.
    let input = elsewhere.path().join("texts.csv");
    let mut csv = String::from("text\n");
    for i in 0..12 {
        csv.push_str(&format!("窗口排队时间太长等了{i}个小时\n材料清单说明不清楚反复跑腿{i}次\n"));
    }
    std::fs::write(&input, csv).expect("csv");
    let cluster = |nlp_dir: Option<&std::path::Path>| {
        let mut command = common::haochaping_command();
        command.args(["cluster", "--input", "texts.csv", "--k", "2", "--out", "out.csv"]).current_dir(elsewhere.path()).env("RUST_LOG", "info").env_remove("HCP_NLP_DIR");
        if let Some(d) = nlp_dir {
            command.env("HCP_NLP_DIR", d);
        }
        let out = command.output().expect("cluster");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (built_in, log) = cluster(None);
    assert!(log.contains("haochaping starting") && log.contains("models=built-in"), "{log}");
    std::fs::write(models.path().join("stopwords.txt"), "窗口\n排队\n材料\n清单\n").expect("stop words");
    let (overridden, log) = cluster(Some(models.path()));
    assert!(log.contains("HCP_NLP_DIR set"), "{log}");
    let terms = |summary: &str| summary.lines().filter(|l| l.starts_with("cluster ")).collect::<Vec<_>>().join("\n");
    assert!(terms(&built_in).contains("窗口") && !terms(&overridden).contains("窗口"), "the override's stop word is gone from the terms: {built_in} / {overridden}");
}

/// Issue 17 item 7: `HCP_BIND` takes a host name.
#[test]
fn hcp_bind_takes_a_host_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut server = common::haochaping_command()
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("HCP_BIND", format!("localhost:{port}"))
        .env("HCP_BACKGROUND_JOBS", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let listening = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        if std::time::Instant::now() > deadline || server.try_wait().ok().flatten().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = server.kill();
    let out = server.wait_with_output().expect("wait");
    assert!(listening, "serve with HCP_BIND=localhost:{port} did not listen: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs the binary with these variables besides the database (`None` removes one).
fn haochaping_with(database_url: &str, vars: &[(&str, Option<&str>)], args: &[&str]) -> std::process::Output {
    let mut command = common::haochaping_command();
    command.args(args).env("DATABASE_URL", database_url).env("RUST_LOG", "warn");
    for (name, value) in vars {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    command.output().expect("run haochaping")
}

/// Imports one transaction of a department and item it creates, and returns its rating link.
fn rating_link(url: &str, vars: &[(&str, Option<&str>)], dir: &std::path::Path, no: &str) -> String {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("csv");
        path.to_string_lossy().into_owned()
    };
    let departments = write("d.csv", "code,name\nD1,民政局\n");
    let items = write("i.csv", "code,name,department_code\nI1,低保申请,D1\n");
    let transactions = write("t.csv", &format!("transaction_no,service_item_code,completed_at\n{no},I1,2026-12-01 10:00\n"));
    let links = dir.join(format!("{no}.links.csv"));
    for (kind, file) in [("departments", &departments), ("service-items", &items)] {
        let out = haochaping_with(url, vars, &["import", "--kind", kind, "--input", file]);
        assert!(out.status.success(), "import {kind}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = haochaping_with(url, vars, &["import", "--kind", "transactions", "--input", &transactions, "--links-out", &links.to_string_lossy()]);
    assert!(out.status.success(), "import transactions: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&links).expect("links");
    let link = text.lines().nth(1).and_then(|l| l.split(',').nth(1)).expect("a link").to_owned();
    link.rsplit_once("/rate/").map(|(_, token)| token.to_owned()).expect("token")
}

/// The status `GET /rate/{token}` answers, each asked of one `serve` with these variables.
fn rating_pages(url: &str, vars: &[(&str, Option<&str>)], tokens: &[&str]) -> Vec<u16> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut command = common::haochaping_command();
    command.args(["serve", "--bind", &format!("127.0.0.1:{port}")]).env("DATABASE_URL", url).env("HCP_BACKGROUND_JOBS", "false").env("RUST_LOG", "warn");
    for (name, value) in vars {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    let mut server = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline || server.try_wait().ok().flatten().is_some() {
            let _ = server.kill();
            let out = server.wait_with_output().expect("wait");
            panic!("serve did not listen: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let statuses = tokens
        .iter()
        .map(|token| {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(stream, "GET /rate/{token} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("request");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    statuses
}

/// Issue 17 item 2: the database keeps the rating-link key's fingerprint; a start with another
/// `HCP_SECRET`, or none, is refused saying what to do; `rotate-secret` brings in a new key and
/// the links of the old one keep working (the key id is in the link).
fn secrets_cannot_drift(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let Some((url, pg_name)) = fresh_database(backend, &dir) else { return };
    assert!(haochaping(&url, &["migrate"], None).status.success());
    let first = [("HCP_SECRET", Some("first-key-0123456789abcdef"))];
    let old_link = rating_link(&url, &first, dir.path(), "T-OLD");
    assert!(old_link.starts_with("1."), "the link names its key: {old_link}");

    let other = [("HCP_SECRET", Some("someone-elses-key-0123456789"))];
    let out = haochaping_with(&url, &other, &["scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("HCP_SECRET is not the key") && stderr.contains("rotate-secret"), "{stderr}");
    let out = haochaping_with(&url, &[("HCP_SECRET", None)], &["scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("HCP_SECRET is not set"), "{stderr}");

    let rotate = [("HCP_SECRET", Some("first-key-0123456789abcdef")), ("HCP_NEW_SECRET", Some("second-key-0123456789abcdef"))];
    let out = haochaping_with(&url, &rotate, &["rotate-secret"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotation: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((rotation["key_id"].as_i64(), rotation["retired_key_id"].as_i64(), rotation["kept_in"].as_str()), (Some(2), Some(1), Some("HCP_SECRET")));
    let out = haochaping_with(&url, &first, &["scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("retired"), "the old key is refused once retired: {stderr}");

    let second = [("HCP_SECRET", Some("second-key-0123456789abcdef"))];
    let new_link = rating_link(&url, &second, dir.path(), "T-NEW");
    assert!(new_link.starts_with("2."), "{new_link}");
    let forged = format!("2.{}", old_link.split_once('.').map(|(_, rest)| rest).unwrap_or_default());
    assert_eq!(rating_pages(&url, &second, &[&old_link, &new_link, &forged]), vec![200, 200, 404], "old and new links work, a forged one does not");

    // A second rotation without HCP_NEW_SECRET: the database keeps a random key; the first
    // two keys' links still work (both within their lifetime) once HCP_SECRET is unset.
    let out = haochaping_with(&url, &second, &["rotate-secret"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unset HCP_SECRET"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rating_pages(&url, &[("HCP_SECRET", None)], &[&old_link, &new_link]), vec![200, 200]);
    if let Some(name) = pg_name {
        drop_pg_database(&name);
    }
}

#[test]
fn secrets_cannot_drift_on_sqlite() {
    secrets_cannot_drift(Backend::Sqlite);
}

#[test]
fn secrets_cannot_drift_on_postgres() {
    secrets_cannot_drift(Backend::Postgres);
}

/// Issue 17 item 2: listening beyond loopback without HCP_PUBLIC_URL is refused, since every
/// rating link and mail would point at 127.0.0.1.
#[test]
fn a_public_bind_needs_a_public_url() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let out = haochaping_with(&url, &[("HCP_PUBLIC_URL", None)], &["serve", "--bind", "0.0.0.0:0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("HCP_PUBLIC_URL"), "{stderr}");
    assert!(!dir.path().join("h.db").exists(), "refused before touching the database");
}

/// Issue 17 item 4: an `HCP_SMTP_URL` that cannot work stops the start with the reason instead
/// of running on without mail.
#[test]
fn a_bad_smtp_url_stops_the_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    assert!(haochaping(&url, &["migrate"], None).status.success());
    for (smtp, reason) in [
        ("ftp://mail.example.gov.cn", "unknown scheme"),
        ("smtps://mail.example.gov.cn:notaport", "HCP_SMTP_URL"),
        ("smtp://mail.example.gov.cn?tls=sometimes", "tls=sometimes"),
        ("smtp://clerk:pass@mail.example.gov.cn", "in clear"),
    ] {
        // `scan` starts as `serve` does (and ends, were the URL wrongly taken).
        let out = haochaping_with(&url, &[("HCP_SMTP_URL", Some(smtp))], &["scan"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{smtp}: {stderr}");
        assert!(stderr.contains(reason), "{smtp}: {stderr}");
        assert!(!stderr.contains(":pass@"), "the password stays out of the message: {stderr}");
    }
    let out = haochaping_with(&url, &[("HCP_SMTP_URL", Some("smtps://mail.example.gov.cn")), ("HCP_SMTP_CA_FILE", Some("/nonexistent/ca.pem"))], &["scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("HCP_SMTP_CA_FILE"), "{stderr}");
}

/// Issue 17 item 5: the PostgreSQL roles of `deploy/postgres-roles.sql` (run here as written,
/// with names of its own): the owner migrates, the service runs as the app role, which can
/// change rows but no table, and may not rewrite the audit chain.
#[test]
fn postgres_roles_as_deploy_sets_them_up() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let admin_url = common::pg_admin_url();
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(c) => c,
        Err(e) if common::require_all() => panic!("PostgreSQL is required: {e}"),
        Err(e) => return eprintln!("SKIPPED: PostgreSQL unreachable ({e})"),
    };
    let tag = haochaping::adapters::security::random_secret().to_lowercase().replace(['-', '_'], "")[..10].to_owned();
    let (owner, app, database) = (format!("hcp_owner_{tag}"), format!("hcp_app_{tag}"), format!("hcp_roles_{tag}"));
    let script = include_str!("../deploy/postgres-roles.sql")
        .replace("haochaping_owner", &owner)
        .replace("haochaping_app", &app)
        .replace("DATABASE haochaping", &format!("DATABASE {database}"))
        .replace("\\c haochaping", &format!("\\c {database}"));
    let (on_server, on_database) = script.split_once(&format!("\\c {database}\n")).expect("the script switches to the new database");
    let statements = |part: &str| -> Vec<String> {
        let code: String = part.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        code.split(";\n").map(str::trim).filter(|s| !s.is_empty()).map(|s| s.trim_end_matches(';').to_owned()).collect()
    };
    for statement in statements(on_server) {
        diesel::sql_query(&statement).execute(&mut admin).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    // host:port of the test server, for URLs as each role.
    let server = admin_url.split_once('@').map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_owned()).expect("host");
    let url_as = |role: &str| format!("postgres://{role}:pw@{server}/{database}?sslmode=disable");
    let mut as_superuser = PgConnection::establish(&admin_url.replacen("/postgres?", &format!("/{database}?"), 1)).expect("connect to the new database");
    for statement in statements(on_database) {
        diesel::sql_query(&statement).execute(&mut as_superuser).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let with_secret = [("HCP_SECRET", Some("roles-test-secret-0123456789"))];
    let out = haochaping_with(&url_as(&owner), &with_secret, &["migrate"]);
    assert!(out.status.success(), "the owner migrates: {}", String::from_utf8_lossy(&out.stderr));
    diesel::sql_query(format!("REVOKE UPDATE, DELETE ON audit_events FROM {app}")).execute(&mut as_superuser).expect("revoke");
    let out = haochaping_with(&url_as(&app), &with_secret, &["scan"]);
    assert!(out.status.success(), "the service runs as the app role: {}", String::from_utf8_lossy(&out.stderr));
    let mut as_app = PgConnection::establish(&url_as(&app)).expect("connect as the app role");
    assert!(diesel::sql_query("CREATE TABLE intruder (a int)").execute(&mut as_app).is_err(), "the app role cannot create tables");
    assert!(diesel::sql_query("DROP TABLE reviews").execute(&mut as_app).is_err(), "nor drop them");
    assert!(diesel::sql_query("DELETE FROM audit_events").execute(&mut as_app).is_err(), "nor rewrite the audit chain");
    assert!(diesel::sql_query("SELECT count(*) FROM reviews").execute(&mut as_app).is_ok(), "it reads rows");
    drop(as_app);
    drop(as_superuser);
    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&mut admin);
    for role in [&owner, &app] {
        let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {role}")).execute(&mut admin);
    }
}
