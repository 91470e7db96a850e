//! One harness for every integration test: the real server on port 0, over a fresh database
//! per test — a temporary SQLite file, or a new PostgreSQL database dropped afterwards.
//! Without PostgreSQL the Postgres variants skip, unless `HCP_REQUIRE_ALL_TESTS=1`, where
//! they fail.

#![allow(dead_code)]

pub mod endpoints;
pub mod review_load;
pub mod smtp;

use std::net::TcpListener;
use std::sync::Arc;

use diesel::{Connection, PgConnection, RunQueryDsl};
use haochaping::interfaces::app::AppState;
use haochaping::interfaces::app::config::Config;
use haochaping::domain::access::Role;
use haochaping::storage::Conn;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn require_all() -> bool {
    std::env::var("HCP_REQUIRE_ALL_TESTS").map(|v| v == "1").unwrap_or(false)
}

/// The key that seals citizens' names and phones in every test database (`HCP_DATA_KEY`).
pub const TEST_DATA_KEY: &str = "7f3c9a1e5b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6081a3c";

/// The `haochaping` binary, with the tests' personal-data key (every test's server has it).
pub fn haochaping_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_haochaping"));
    command.env("HCP_DATA_KEY", TEST_DATA_KEY);
    command
}

/// The chromedriver of the browser tests: `HCP_CHROMEDRIVER`, or Debian's.
pub fn chromedriver_path() -> Option<String> {
    std::env::var("HCP_CHROMEDRIVER").ok().or_else(|| {
        ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].iter().find(|p| std::path::Path::new(p).exists()).map(|p| p.to_string())
    })
}

/// The PostgreSQL server programs of the replica test (`initdb`, `pg_ctl`, `pg_basebackup`,
/// `postgres`): `HCP_PG_BIN`, or the newest of Debian's `/usr/lib/postgresql/<version>/bin`.
pub fn pg_server_programs() -> Result<std::path::PathBuf, String> {
    use std::path::{Path, PathBuf};
    let wanted = ["initdb", "pg_ctl", "pg_basebackup", "postgres"];
    let complete = |bin: &Path| wanted.iter().all(|p| bin.join(p).is_file());
    if let Ok(dir) = std::env::var("HCP_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if complete(&dir) { Ok(dir) } else { Err(format!("HCP_PG_BIN={} lacks one of {wanted:?}", dir.display())) };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql ({e}): install Debian's postgresql"))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| format!("no /usr/lib/postgresql/*/bin with {wanted:?}: install Debian's postgresql"))
}

/// Server URL of the PostgreSQL used for per-test databases, without TLS unless the URL sets
/// `sslmode` itself. With TLS, libpq's OpenSSL frees its global state in an exit handler while
/// a thread of the harness may still be ending and freeing its OpenSSL thread state: a test
/// binary aborted after all its tests had passed ("double free or corruption": `OPENSSL_cleanup`
/// in `exit` against a thread's TSD destructor, about 1 run in 30).
pub fn pg_admin_url() -> String {
    let url = std::env::var("HCP_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if url.contains("sslmode=") {
        url
    } else {
        format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' })
    }
}

fn pg_url_for(db: &str) -> String {
    let admin = pg_admin_url();
    let (admin, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    match admin.rfind('/') {
        Some(i) if admin[..i].contains("://") && i > admin.find("://").unwrap_or(0) + 2 => format!("{}/{db}{query}", &admin[..i]),
        _ => format!("{admin}/{db}{query}"),
    }
}

/// Every test's HTTP client. Idle connections are dropped before the server's 5 s keep-alive
/// closes them: otherwise a request after a pause (a loaded CI machine) can meet the server's
/// close and fail with IncompleteMessage.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2))
}

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub database_url: String,
    pg_database: Option<String>,
    _dir: tempfile::TempDir,
    server: actix_web::dev::ServerHandle,
}

/// A fresh database URL for `backend`, or `None` when PostgreSQL is missing and not required.
pub fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> Option<(String, Option<String>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}", dir.path().join("test.db").display()), None)),
        Backend::Postgres => {
            let name = format!("hcp_test_{}", haochaping::adapters::security::random_secret().to_lowercase().replace(['-', '_'], "")[..16].to_owned());
            match PgConnection::establish(&pg_admin_url()) {
                Ok(mut admin) => {
                    if let Err(e) = diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin) {
                        panic!("cannot create test database {name}: {e}");
                    }
                    Some((pg_url_for(&name), Some(name)))
                }
                Err(e) if require_all() => panic!("PostgreSQL is required (HCP_REQUIRE_ALL_TESTS=1) but unreachable at {}: {e}", pg_admin_url()),
                Err(e) => {
                    eprintln!("SKIPPED: PostgreSQL unreachable ({e}); set HCP_REQUIRE_ALL_TESTS=1 to fail instead");
                    None
                }
            }
        }
    }
}

pub fn drop_pg_database(name: &str) {
    if let Ok(mut admin) = PgConnection::establish(&pg_admin_url()) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_database) = fresh_database(backend, &dir)?;
        Some(Self::start(backend, dir, database_url, pg_database, tweak).await)
    }

    /// The server on a PostgreSQL database the test made itself (its own cluster), not dropped
    /// afterwards.
    pub async fn spawn_on_postgres(database_url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start(Backend::Postgres, dir, database_url.to_owned(), None, tweak).await
    }

    async fn start(backend: Backend, dir: tempfile::TempDir, database_url: String, pg_database: Option<String>, tweak: impl FnOnce(&mut Config)) -> TestApp {
        haochaping::interfaces::app::telemetry::init_with_default("warn");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let mut config = Config::from_env(Some(addr)).expect("config");
        config.database_url = database_url.clone();
        config.public_url = format!("http://{addr}");
        config.secret = Some("test-secret".into());
        config.data_key = Some(TEST_DATA_KEY.into());
        config.smtp_url = None;
        config.background_jobs = false;
        // No router unless a test brings its own model: routing must not depend on the shipped one.
        config.nlp_dir = Some(dir.path().join("no-models"));
        tweak(&mut config);
        let state = tokio::task::spawn_blocking(move || AppState::bootstrap(config))
            .await
            .expect("bootstrap task")
            .expect("bootstrap");
        let server = haochaping::interfaces::http::build_server(state.clone(), listener, Some(1)).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestApp {
            backend,
            base: format!("http://{addr}"),
            client: client_builder().build().expect("HTTP client"),
            state,
            database_url,
            pg_database,
            _dir: dir,
            server: handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn conn(&self) -> Conn {
        self.state.conn().expect("db connection")
    }

    /// Counts rows of a table directly in the database.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn();
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let rows: Vec<Count> = haochaping::db_run!(&mut conn, |c| diesel::sql_query(&sql).load(c)).expect("count");
        rows.first().map(|r| r.n).unwrap_or(0)
    }

    /// Runs raw SQL behind the application's back (tamper tests).
    pub fn execute(&self, sql: &str) -> usize {
        let mut conn = self.conn();
        haochaping::db_run!(&mut conn, |c| diesel::sql_query(sql).execute(c)).expect("raw sql")
    }

    /// Creates a user straight in the database (the way `haochaping user add` does).
    pub fn add_user(&self, username: &str, role: Role, department: Option<&str>) {
        let mut conn = self.conn();
        let spec = haochaping::admin::accounts::NewUserSpec { username, password: "kite-meadow-93", role, department_code: department, email: None };
        haochaping::admin::accounts::create_user(&mut conn, &spec, haochaping::clock::now()).expect("create user");
    }

    pub async fn login(&self, username: &str) -> String {
        let r = self.post("/api/v1/auth/login", None, &json!({"username": username, "password": "kite-meadow-93"})).await;
        assert_eq!(r.0, 200, "login {username}: {}", r.1);
        r.1["token"].as_str().expect("token").to_owned()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_pair(req.send().await.expect("request")).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        into_pair(self.client.patch(self.url(path)).bearer_auth(token).json(body).send().await.expect("send")).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        into_pair(self.client.put(self.url(path)).bearer_auth(token).json(body).send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_pair(req.send().await.expect("request")).await
    }

    /// A small district: departments D1 (with mail) and D2, items, a window, staff, the
    /// 三对应 assignment, an integration key and a user per role.
    pub async fn seed(&self) -> District {
        self.add_user("admin", Role::Admin, None);
        let admin = self.login("admin").await;
        for body in [
            json!({"code": "D1", "name": "区市场监督管理局", "email": "d1@example.test"}),
            json!({"code": "D2", "name": "区人社局"}),
        ] {
            let r = self.post("/api/v1/departments", Some(&admin), &body).await;
            assert_eq!(r.0, 201, "{}", r.1);
        }
        for body in [
            json!({"code": "I1", "name": "企业设立登记", "department_code": "D1"}),
            json!({"code": "I2", "name": "社保卡申领", "department_code": "D2"}),
        ] {
            assert_eq!(self.post("/api/v1/service-items", Some(&admin), &body).await.0, 201);
        }
        assert_eq!(self.post("/api/v1/windows", Some(&admin), &json!({"code": "W1", "name": "1号窗口", "hall": "一楼"})).await.0, 201);
        for (no, name) in [("S1", "王敏"), ("S2", "李静")] {
            let r = self.post("/api/v1/staff", Some(&admin), &json!({"staff_no": no, "name": name, "department_code": "D1"})).await;
            assert_eq!(r.0, 201, "{}", r.1);
        }
        // S1 sat at W1 until 1 Nov 2026, S2 from then on.
        let r = self.post("/api/v1/assignments", Some(&admin), &json!({"window_code": "W1", "staff_no": "S1", "service_item_codes": ["I1"],
            "effective_from": "2026-01-01T00:00:00+08:00", "effective_to": "2026-11-01T00:00:00+08:00"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let r = self.post("/api/v1/assignments", Some(&admin), &json!({"window_code": "W1", "staff_no": "S2", "service_item_codes": ["I1"],
            "effective_from": "2026-11-01T00:00:00+08:00"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let r = self.post("/api/v1/api-keys", Some(&admin), &json!({"name": "counter", "role": "integration"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let key = r.1["key"].as_str().expect("key").to_owned();
        for (username, role, dept, email) in [("sup", "supervisor", None, Some("sup@example.test")), ("clerk1", "department", Some("D1"), None), ("clerk2", "department", Some("D2"), None)] {
            let r = self.post("/api/v1/users", Some(&admin), &json!({"username": username, "password": "kite-meadow-93", "role": role, "department_code": dept, "email": email})).await;
            assert_eq!(r.0, 201, "{}", r.1);
        }
        District {
            supervisor: self.login("sup").await,
            clerk1: self.login("clerk1").await,
            clerk2: self.login("clerk2").await,
            admin,
            key,
        }
    }

    /// Pushes a transaction of item `item` through the integration key.
    pub async fn transaction(&self, d: &District, no: &str, item: &str, extra: Value) -> Value {
        let mut body = json!({"transaction_no": no, "service_item_code": item, "channel": "window_device",
            "applicant_name": "张三丰", "applicant_phone": "13812345678", "completed_at": "2026-11-20T10:00:00+08:00"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.post("/api/v1/transactions", Some(&d.key), &body).await;
        assert_eq!(r.0, 201, "{}", r.1);
        r.1
    }
}

impl TestApp {
    /// A bad review of a D1 transaction; returns the new case's id.
    pub async fn bad_case(&self, d: &District, no: &str) -> i64 {
        self.transaction(d, no, "I1", json!({"applicant_email": "citizen@example.test"})).await;
        let r = self.post("/api/v1/reviews", Some(&d.key), &json!({"transaction_no": no, "stars": 1, "channel": "kiosk", "comment": "窗口排队两小时"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        r.1["case_id"].as_i64().expect("case id")
    }

    pub async fn act(&self, token: &str, case_id: i64, action: &str, note: Option<&str>) -> (u16, Value) {
        self.post(&format!("/api/v1/cases/{case_id}/actions"), Some(token), &json!({"action": action, "note": note})).await
    }

    /// Runs the real binary against this test's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        haochaping_command()
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("HCP_SECRET", "test-secret")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run haochaping")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server so that its pool lets go, then drop the database.
        drop(self.server.stop(false));
        if let Some(name) = self.pg_database.take() {
            drop_pg_database(&name);
        }
    }
}

pub struct District {
    pub admin: String,
    pub supervisor: String,
    pub clerk1: String,
    pub clerk2: String,
    pub key: String,
}

pub async fn into_pair(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// SQLite's `PRAGMA integrity_check`: `"ok"` when the file is sound.
pub fn sqlite_integrity(conn: &mut Conn) -> String {
    haochaping::storage::sqlite_integrity_check(conn).expect("integrity check")
}

/// Asserts the SPEC §6 error shape and returns its code.
pub fn error_code(body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("not a JSON error: {body}"));
    assert!(body["error"]["message"].is_string(), "error without message: {body}");
    code.to_owned()
}

/// Generates a `sqlite` and a `postgres` test for each async test function taking a `TestApp`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await {
                    super::$name(app).await;
                }
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )*};
}

/// A staff member signed in on the pages: the session cookie, and the page requests with it
/// (every answer checked for the security headers).
pub struct StaffSession {
    client: reqwest::Client,
    cookie: String,
    base: String,
}

impl StaffSession {
    pub async fn sign_in(app: &TestApp, username: &str) -> StaffSession {
        let client = client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let r = client.post(app.url("/login")).form(&[("username", username), ("password", "kite-meadow-93")]).send().await.expect("login");
        assert_eq!(r.status().as_u16(), 303, "login {username}");
        let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|s| s.split(';').next()).expect("cookie").to_owned();
        StaffSession { client, cookie, base: app.base.clone() }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).send().await.expect("get");
        for header in ["content-security-policy", "x-frame-options", "x-content-type-options"] {
            assert!(r.headers().get(header).is_some(), "{path} lacks {header}");
        }
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// Posts a form; returns the status, the redirect target and the body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let r = self.client.post(format!("{}{path}", self.base)).header("Cookie", &self.cookie).form(form).send().await.expect("post");
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (r.status().as_u16(), location, r.text().await.unwrap_or_default())
    }

    pub async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf field").to_owned()
    }
}
