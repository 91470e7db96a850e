//! The hostile-input battery: random and malicious bodies, paths, query strings and headers
//! thrown at every endpoint of `common/endpoints.rs` (property-based, seeded so a failure
//! reproduces). Whatever comes in, the answer is below 500, the server keeps answering, and a
//! refused request changes no table's contents.

mod common;

use common::endpoints::{self, Body, Endpoint, Fixture, WHO};
use common::TestApp;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

on_both_backends!(hostile_requests_never_get_5xx_nor_write_rows);

/// Requests per endpoint per backend.
const CASES_PER_ENDPOINT: usize = 24;

fn nasty_strings() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("' OR '1'='1".to_owned()),
        Just("'; DROP TABLE reviews; --".to_owned()),
        Just("1; SELECT pg_sleep(10)".to_owned()),
        Just("<script>alert(1)</script>".to_owned()),
        Just("\"><img src=x onerror=alert(1)>".to_owned()),
        Just("../../../../etc/passwd".to_owned()),
        Just("%s%n%x%d".to_owned()),
        Just("\u{0000}\u{0007}\u{001b}[31m".to_owned()),
        Just("\u{202e}gnp.exe".to_owned()),
        Just("💩".repeat(300)),
        Just("差".repeat(5000)),
        Just("99999999999999999999999999999".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("1e309".to_owned()),
        Just("NaN".to_owned()),
        Just(String::new()),
        Just(" ".to_owned()),
        Just("2026-02-30T25:61:00+08:00".to_owned()),
        Just("0000-00-00".to_owned()),
        "\\PC{0,40}",
        any::<String>(),
    ]
}

fn nasty_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!(u64::MAX)),
        nasty_strings().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One hostile request for an endpoint.
#[derive(Debug, Clone)]
enum Attack {
    /// The endpoint's own good body with one field replaced.
    Field(String, Value),
    /// Any JSON at all.
    Json(Value),
    /// Bytes that are not JSON (or not UTF-8), with a content type.
    Raw(Vec<u8>, String),
    /// 50 000 nested arrays.
    Deep,
    /// A hostile path segment where an id or token goes.
    Path(String),
    /// Hostile query parameters.
    Query(Vec<(String, String)>),
    /// A query string sent as is: escapes that decode to invalid UTF-8 or control bytes.
    RawQuery(String),
    /// A forged or garbage credential header (its value as bytes: obs-text too).
    Header(String, Vec<u8>),
}

fn attacks() -> impl Strategy<Value = Attack> {
    let field_names = prop_oneof![
        Just("transaction_no"), Just("stars"), Just("channel"), Just("comment"), Just("tags"), Just("code"), Just("name"),
        Just("department_code"), Just("action"), Just("note"), Just("username"), Just("password"), Just("role"),
        Just("completed_at"), Just("effective_from"), Just("holidays"), Just("k"), Just("text"), Just("title"), Just("content"),
    ];
    prop_oneof![
        3 => (field_names, nasty_json()).prop_map(|(k, v)| Attack::Field(k.to_owned(), v)),
        2 => nasty_json().prop_map(Attack::Json),
        1 => (prop::collection::vec(any::<u8>(), 0..200), prop_oneof![
                Just("application/json".to_owned()), Just("text/plain".to_owned()), Just("application/x-www-form-urlencoded".to_owned()),
                Just("multipart/form-data; boundary=x".to_owned()), Just("application/xml".to_owned()), Just("".to_owned())])
            .prop_map(|(b, t)| Attack::Raw(b, t)),
        1 => Just(Attack::Raw(b"{\"transaction_no\": \"T1\xff\xfe\", \"stars\": 5}".to_vec(), "application/json".to_owned())),
        1 => Just(Attack::Deep),
        2 => prop_oneof![
                Just("-1".to_owned()), Just("0".to_owned()), Just("99999999999999999999".to_owned()), Just("1e5".to_owned()),
                Just("%00".to_owned()), Just("..%2F..%2Fetc%2Fpasswd".to_owned()), Just("%FF%FE".to_owned()), Just("x".repeat(3000)),
                Just("1%27%20OR%201%3D1".to_owned()), Just("%3Cscript%3E".to_owned()), "[a-zA-Z0-9%._~-]{1,60}"]
            .prop_map(Attack::Path),
        2 => prop::collection::vec((prop_oneof![Just("month".to_owned()), Just("from".to_owned()), Just("to".to_owned()), Just("state".to_owned()),
                Just("page".to_owned()), Just("per_page".to_owned()), Just("by".to_owned()), Just("min_ratings".to_owned()), Just("format".to_owned()),
                Just("department".to_owned()), Just("level".to_owned()), Just("q".to_owned()), "[a-z_]{1,10}"], nasty_strings()), 1..4)
            .prop_map(Attack::Query),
        1 => prop_oneof![Just("month=%FF%FE"), Just("state=%C0%AF"), Just("page=%ED%A0%80"), Just("q=%00%0A%0D%1B"), Just("%FF=1"),
                Just("from=2026-11-01%FF"), Just("per_page=1%00"), Just("by=%E5%B7"), Just("&&==&"), Just("q=%")]
            .prop_map(|q| Attack::RawQuery(q.to_owned())),
        1 => (prop_oneof![Just("Authorization".to_owned()), Just("X-Rating-Token".to_owned()), Just("Cookie".to_owned()), Just("X-Forwarded-For".to_owned())],
              prop_oneof![Just("Bearer ".to_owned() + &"A".repeat(5000)), Just("Bearer hcpk_' OR 1=1 --".to_owned()), Just("hcp_session=forged.signature".to_owned()),
                  Just("v1.eyJ0IjoiVDEifQ.forged".to_owned()), "[ -~]{0,80}"].prop_map(String::into_bytes)
                  .boxed()
                  .prop_union(prop_oneof![Just(b"Bearer \xff\xfe\x80".to_vec()), Just(b"hcp_session=\xe5\xb7".to_vec()), Just("Bearer 差评".as_bytes().to_vec())].boxed()))
            .prop_map(|(h, v)| Attack::Header(h, v)),
    ]
}

/// The caller with the most rights on the row: the hostile input must get past authorisation
/// to reach the parsing and the use case.
fn strongest_caller(ep: &Endpoint) -> &'static str {
    let cells: Vec<&str> = ep.expect.split_whitespace().collect();
    WHO.iter().zip(cells).rev().find(|(_, cell)| *cell == "ok" || *cell == "503").map(|(who, _)| *who).unwrap_or("admin")
}

/// The throttles' tables (migration 000014, shared limits): they count attempts, refused ones
/// included by design (a wrong password is what `sign_in_failures` records; the citizen-rating
/// quota counts every post of an address), so a refused request may write to them.
const ATTEMPT_COUNTERS: [&str; 2] = ["rate_counters", "sign_in_failures"];

/// Columns that record a signed-in caller's activity, (table, column): a request refused after
/// its caller was authenticated is still the person at work, so the session idle timeout counts
/// it (`accounts::authenticate_bearer` moves `last_seen_at` at most once a minute, and a run over
/// a minute long crosses that minute in whichever request comes next, refused or not). The rest
/// of these tables, their rows included, is compared as any other.
const ACTIVITY_COLUMNS: [(&str, &str); 1] = [("auth_tokens", "last_seen_at")];

/// Every table's full contents but the [`ATTEMPT_COUNTERS`] and the [`ACTIVITY_COLUMNS`], in a
/// canonical order: a refused request must leave it as it was (an UPDATE or an insert-and-delete
/// would not show in row counts).
fn database_contents(app: &TestApp) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let mut conn = app.conn();
    let mut load = |sql: &str| -> Vec<String> {
        let rows: Vec<Text> = haochaping::db_run!(&mut conn, |c| diesel::RunQueryDsl::load(diesel::sql_query(sql), c)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter().map(|r| r.text).collect()
    };
    let tables = load(match app.backend {
        common::Backend::Sqlite => "SELECT name AS text FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name",
        common::Backend::Postgres => "SELECT table_name::text AS text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%' ORDER BY table_name",
    });
    tables
        .into_iter()
        .filter(|table| !ATTEMPT_COUNTERS.contains(&table.as_str()))
        .map(|table| {
            let sql = match app.backend {
                common::Backend::Postgres => {
                    let skipped: Vec<&str> = ACTIVITY_COLUMNS.iter().filter(|(t, _)| *t == table).map(|(_, c)| *c).collect();
                    let row = if skipped.is_empty() { "t::text".to_owned() } else { format!("(to_jsonb(t) - '{{{}}}'::text[])::text", skipped.join(",")) };
                    format!("SELECT COALESCE(string_agg({row}, E'\\n' ORDER BY {row}), '') AS text FROM {table} t")
                }
                common::Backend::Sqlite => {
                    let mut columns = load(&format!("SELECT name AS text FROM pragma_table_info('{table}')"));
                    columns.retain(|c| !ACTIVITY_COLUMNS.contains(&(table.as_str(), c.as_str())));
                    let row = columns.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || ',' || ");
                    format!("SELECT COALESCE(group_concat(r, char(10)), '') AS text FROM (SELECT {row} AS r FROM {table} ORDER BY 1)")
                }
            };
            let contents = load(&sql).concat();
            (table, contents)
        })
        .collect()
}

/// The tables whose contents differ, each with its first row that is new or changed (or a
/// removed one), for the failure message.
fn changed_tables(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    after
        .iter()
        .filter(|t| !before.contains(t))
        .map(|(name, rows)| {
            let old = before.iter().find(|(n, _)| n == name).map(|(_, r)| r.as_str()).unwrap_or("");
            let new_row = rows.lines().find(|row| !old.lines().any(|o| o == *row)).map(|r| format!("new {r}"));
            let gone_row = || old.lines().find(|row| !rows.lines().any(|n| n == *row)).map(|r| format!("removed {r}"));
            let row: String = new_row.or_else(gone_row).unwrap_or_default().chars().take(200).collect();
            format!("{name}: {row}")
        })
        .collect()
}

async fn hostile_requests_never_get_5xx_nor_write_rows(app: TestApp) {
    let f = Fixture::build(&app).await;
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = attacks();
    let mut failures = Vec::new();
    // Nothing else writes meanwhile (no background jobs): each count after is the next before.
    // First, while the citizen-rating quota of this address is untouched.
    let mut sent = attack_rating_form(&app, &f, &mut runner, &mut failures).await;
    let mut before = database_contents(&app);
    for ep in endpoints::all() {
        // Signing out would end the callers' sessions for the rows after it.
        if ep.route.ends_with("logout") {
            continue;
        }
        let who = strongest_caller(&ep);
        // A row that says this caller gets 503 (the router without a model) may answer it.
        let expected_unavailable = ep.expect.split_whitespace().any(|cell| cell == "503");
        for _ in 0..CASES_PER_ENDPOINT {
            let attack = strategy.new_tree(&mut runner).expect("attack").current();
            let (status, body) = send(&app, &f, &ep, who, &attack).await;
            sent += 1;
            let after = database_contents(&app);
            let shown: String = format!("{attack:?}").chars().take(300).collect();
            if status >= 500 && !(expected_unavailable && status == 503) {
                failures.push(format!("{} {} as {who} with {shown}: {status} {}", ep.method, ep.path, body.chars().take(200).collect::<String>()));
            } else if status >= 400 && after != before {
                failures.push(format!("{} {} as {who} with {shown}: refused ({status}) but wrote to {:?}", ep.method, ep.path, changed_tables(&before, &after)));
            }
            before = after;
        }
    }
    // The server still answers after all of it.
    assert_eq!(app.get("/healthz", None).await.0, 200);
    assert!(failures.is_empty(), "{} of {sent} hostile requests misbehaved:\n{}", failures.len(), failures.join("\n"));
}

async fn send(app: &TestApp, f: &Fixture, ep: &Endpoint, who: &str, attack: &Attack) -> (u16, String) {
    let path = f.path_as(ep.path, who);
    match attack {
        Attack::Field(name, value) => match ep.body {
            // Page forms get it form-encoded, with the session's CSRF token, so it reaches the
            // handler's own checks.
            Body::Form(make) => {
                let mut fields: Vec<(String, String)> = make(f, who).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let key = target_field(name, fields.iter().map(|(k, _)| k.as_str()));
                set_field(&mut fields, &key, form_text(value));
                if let Some(session) = f.credentials(who).session {
                    fields.push(("csrf".to_owned(), app.state.cookies.csrf(&session)));
                }
                endpoints::call(app, f, ep, who, None, Some(form_encoded(&fields).into()), Some("application/x-www-form-urlencoded")).await
            }
            Body::Json(make) => {
                let mut good = make(f, who);
                let keys: Vec<String> = good.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
                let key = target_field(name, keys.iter().map(String::as_str));
                good[key.as_str()] = value.clone();
                let bytes = serde_json::to_vec(&good).unwrap_or_default();
                endpoints::call(app, f, ep, who, None, Some(bytes.into()), Some("application/json")).await
            }
            Body::None | Body::Csv(_) => {
                let bytes = serde_json::to_vec(&serde_json::json!({ name.as_str(): value })).unwrap_or_default();
                endpoints::call(app, f, ep, who, None, Some(bytes.into()), Some("application/json")).await
            }
        },
        Attack::Json(value) => {
            let bytes = serde_json::to_vec(value).unwrap_or_default();
            endpoints::call(app, f, ep, who, None, Some(bytes.into()), Some("application/json")).await
        }
        Attack::Raw(bytes, content_type) => endpoints::call(app, f, ep, who, None, Some(bytes.clone().into()), Some(content_type)).await,
        Attack::Deep => {
            let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
            endpoints::call(app, f, ep, who, None, Some(deep.into()), Some("application/json")).await
        }
        Attack::Path(segment) => {
            let hostile = ["{case}", "{case_to_act}", "{case_to_act_on_page}", "{complaint}", "{case_of_d2}", "{run}", "{key_id}", "{page_key_id}", "{hook_id}", "{page_hook_id}", "{held_review}", "{held_review_on_page}", "{token}", "{expired_token}", "2026", "2030", "review", "departments"]
                .iter()
                .find(|p| ep.path.contains(*p))
                .map(|p| ep.path.replacen(p, segment, 1));
            let Some(hostile) = hostile else { return endpoints::call(app, f, ep, who, Some(&format!("{path}/{segment}")), None, None).await };
            endpoints::call(app, f, ep, who, Some(&f.path_as(&hostile, who)), None, None).await
        }
        Attack::Query(pairs) => {
            // Up to 2 000 characters a value: longer URLs are refused by the client before they leave.
            let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(&v.chars().take(2_000).collect::<String>()))).collect();
            let joined = if path.contains('?') { format!("{path}&{}", query.join("&")) } else { format!("{path}?{}", query.join("&")) };
            endpoints::call(app, f, ep, who, Some(&joined), None, None).await
        }
        Attack::RawQuery(query) => {
            let joined = if path.contains('?') { format!("{path}&{query}") } else { format!("{path}?{query}") };
            endpoints::call(app, f, ep, who, Some(&joined), None, None).await
        }
        Attack::Header(name, value) => {
            let method = reqwest::Method::from_bytes(ep.method.as_bytes()).expect("method");
            let Ok(header) = reqwest::header::HeaderValue::from_bytes(value) else { return (400, String::new()) };
            let resp = f.client.request(method, app.url(&path)).header(name.as_str(), header).send().await;
            match resp {
                Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(e) => (599, format!("no answer: {e}")),
            }
        }
    }
}

/// The attacked field: `name` when the body has it (or has no fields), else one of the body's
/// own fields, so most attacks get past "unknown field" to the field's own validation.
fn target_field<'a>(name: &str, keys: impl Iterator<Item = &'a str>) -> String {
    let keys: Vec<&str> = keys.collect();
    if keys.is_empty() || keys.contains(&name) {
        name.to_owned()
    } else {
        keys[name.len() % keys.len()].to_owned()
    }
}

fn set_field(fields: &mut Vec<(String, String)>, key: &str, value: String) {
    match fields.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key.to_owned(), value)),
    }
}

fn form_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn form_encoded(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The citizen's rating form with a link that is still good, a fresh transaction per attack, so
/// each one reaches the form's checks rather than "already rated" or "link expired". Returns the
/// requests sent.
async fn attack_rating_form(app: &TestApp, f: &Fixture, runner: &mut TestRunner, failures: &mut Vec<String>) -> usize {
    let strategy = (prop_oneof![Just("stars"), Just("comment"), Just("tags"), Just("form"), Just("channel")], nasty_json());
    for i in 0..CASES_PER_ENDPOINT {
        let (field, value) = strategy.new_tree(runner).expect("attack").current();
        let transaction = app.transaction(&f.district, &format!("HX{i}"), "I1", serde_json::json!({})).await;
        let token = transaction["rating_token"].as_str().expect("rating token").to_owned();
        let form_token = haochaping::interfaces::web::rating::form_token(&app.state, &token);
        let mut fields = vec![("form".to_owned(), form_token), ("stars".to_owned(), "4".to_owned()), ("comment".to_owned(), "办事顺利".to_owned())];
        set_field(&mut fields, field, form_text(&value));
        let before = database_contents(app);
        let sent = f
            .client
            .post(app.url(&format!("/rate/{token}")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encoded(&fields))
            .send()
            .await;
        let status = sent.map(|r| r.status().as_u16()).unwrap_or(599);
        let after = database_contents(app);
        let shown: String = format!("{field} = {value}").chars().take(300).collect();
        // 429 would mean the battery was throttled instead of testing the form.
        if status >= 500 || status == 429 {
            failures.push(format!("POST /rate/{{token}} with {shown}: {status}"));
        } else if status >= 400 && after != before {
            failures.push(format!("POST /rate/{{token}} with {shown}: refused ({status}) but wrote to {:?}", changed_tables(&before, &after)));
        }
    }
    CASES_PER_ENDPOINT
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
