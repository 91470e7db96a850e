//! The binary's `migrate` and `user add`, on both backends.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{drop_pg_database, fresh_database, Backend};

fn haochaping(database_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haochaping"))
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

    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("s3cret-pass\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The stored password logs in; a wrong one does not.
    let pool = haochaping::storage::DbPool::connect(&url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    let now = haochaping::clock::now();
    assert!(haochaping::admin::accounts::login(&mut conn, "boss", "s3cret-pass", now).is_ok());
    assert!(haochaping::admin::accounts::login(&mut conn, "boss", "s3cret-pass\n", now).is_err());
    drop(conn);
    drop(pool);

    let out = haochaping(&url, &["user", "add", "--username", "clerk", "--role", "department", "--department", "NOPE", "--password-stdin"], Some("password-1\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown department_code"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("another-pass\n"));
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
    let out = haochaping(&url, &["user", "add", "--username", "boss", "--role", "admin", "--password-stdin"], Some("s3cret-pass\n"));
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
        let out = haochaping(&url, &args, Some("s3cret-pass\n"));
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_haochaping"));
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
    // HCP_NLP_DIR overrides what it holds: here the stop words, and no router (routing off).
    let models = tempfile::tempdir().expect("models");
    std::fs::write(models.path().join("stopwords.txt"), "的\n了\n").expect("stop words");
    let log = run(Some(models.path()));
    assert!(log.contains("stopwords.txt") && log.contains("HCP_NLP_DIR set"), "{log}");
    assert!(log.contains("no complaint router"), "{log}");
}

/// Issue 17 item 7: `HCP_BIND` takes a host name.
#[test]
fn hcp_bind_takes_a_host_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut server = Command::new(env!("CARGO_BIN_EXE_haochaping"))
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
