//! Every endpoint, once: its method and route, a request that its rightful callers would
//! send, and what each kind of caller must get. The authorisation matrix and the hostile-input
//! battery both run from this table, and [`routes_in_source`] fails them when a route is
//! registered without a row here.

use serde_json::{json, Value};

use super::{District, TestApp};

/// The callers of the matrix, in the order of the expectation columns.
pub const WHO: [&str; 8] = ["anonymous", "expired", "citizen", "integration", "other_dept", "own_dept", "supervisor", "admin"];

/// A row's request body, made for the caller of [`WHO`] that sends it (the second argument):
/// where allowed callers do different things (a department verifies, a supervisor reassigns),
/// each gets the request it can succeed with.
#[derive(Clone, Copy)]
pub enum Body {
    None,
    Json(fn(&Fixture, &str) -> Value),
    /// A page form; the caller's CSRF field is added.
    Form(fn(&Fixture, &str) -> Vec<(&'static str, String)>),
    /// A file sent as it is (`text/csv`).
    Csv(&'static str),
}

pub struct Endpoint {
    pub method: &'static str,
    /// The route as registered.
    pub route: &'static str,
    /// The concrete path; the `{…}` placeholders are filled from the fixture ([`Fixture::path_as`]),
    /// some per caller.
    pub path: &'static str,
    pub body: Body,
    /// One cell per [`WHO`]: an exact status, or `ok` for "allowed and served": a 2xx answer
    /// (a page form may instead answer its Post/Redirect/Get 303, to anywhere but the sign-in
    /// page). The fixture gives every allowed caller what its request needs to succeed, so a
    /// 4xx there is a wrongly refused caller or a fixture to fix. `{run}` names no run, so its
    /// allowed callers get an exact 404.
    pub expect: &'static str,
}

pub struct Fixture {
    pub district: District,
    /// A one-star review of a D1 transaction opened this case.
    pub case: i64,
    /// A D2 case, for the other department's positive cells.
    pub case_of_d2: i64,
    /// The rating token of T1 (the case's transaction) and of T2 (another transaction).
    pub t1_token: String,
    pub t2_token: String,
    pub expired_rating_token: String,
    pub expired_login: String,
    pub spare_key_id: i64,
    /// A webhook for the webhook routes' positive cells.
    pub spare_hook_id: i64,
    /// A key and a webhook of the admin pages' own (the API rows revoke and delete the spare ones first).
    pub page_key_id: i64,
    pub page_hook_id: i64,
    /// Two D1 complaints (工单): the merge row merges the second into the first.
    pub complaint: i64,
    pub duplicate_complaint: i64,
    /// Fresh D1 cases, still 待核实, for the rows that move a case on: each allowed caller acts
    /// on one of its own, so that no caller finds the case already moved by another. As
    /// (placeholder, caller, case id); other callers get `case`.
    pub fresh_cases: Vec<(&'static str, &'static str, i64)>,
    /// Two public comments held for a listed phrase: the API's and the board's decision rows.
    pub held_review: i64,
    pub held_review_on_page: i64,
    pub serial: std::cell::Cell<u32>,
    /// Follows no redirects: a 303 to the sign-in page is the answer under test.
    pub client: reqwest::Client,
}

impl Fixture {
    /// A fresh number for bodies that must be unique (codes, usernames, transaction numbers).
    pub fn next(&self) -> u32 {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        n
    }

    pub async fn build(app: &TestApp) -> Fixture {
        let district = app.seed().await;
        let case = app.bad_case(&district, "T1").await;
        let t1_token = app.state.signer.sign("T1", haochaping::clock::now() + chrono::Duration::days(30));
        let t2 = app.transaction(&district, "T2", "I1", json!({})).await;
        let t2_token = t2["rating_token"].as_str().expect("rating token").to_owned();
        app.transaction(&district, "T9", "I2", json!({})).await;
        let r = app.post("/api/v1/reviews", Some(&district.key), &json!({"transaction_no": "T9", "stars": 1, "channel": "pc", "comment": "社保卡两周没办好"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let case_of_d2 = r.1["case_id"].as_i64().expect("case id");
        let expired_rating_token = app.state.signer.sign("T1", haochaping::clock::now() - chrono::Duration::days(1));
        app.add_user("expired", haochaping::domain::access::Role::Supervisor, None);
        let expired_login = app.login("expired").await;
        app.execute(&format!(
            "UPDATE auth_tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = '{}'",
            haochaping::adapters::security::sha256_hex(&expired_login)
        ));
        let r = app.post("/api/v1/api-keys", Some(&district.admin), &json!({"name": "spare", "role": "integration"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let spare_key_id = r.1["id"].as_i64().expect("key id");
        let r = app.post("/api/v1/webhooks", Some(&district.admin), &json!({"url": "http://127.0.0.1:9/hook", "events": ["case.opened"]})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let spare_hook_id = r.1["id"].as_i64().expect("webhook id");
        let r = app.post("/api/v1/api-keys", Some(&district.admin), &json!({"name": "page spare", "role": "integration"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let page_key_id = r.1["id"].as_i64().expect("key id");
        let r = app.post("/api/v1/webhooks", Some(&district.admin), &json!({"url": "http://127.0.0.1:9/page-hook", "events": ["case.closed"]})).await;
        assert_eq!(r.0, 201, "{}", r.1);
        let page_hook_id = r.1["id"].as_i64().expect("webhook id");
        // The review row rates T3; nothing else does.
        app.transaction(&district, "T3", "I1", json!({})).await;
        // The sign-in rows sign in as a user of their own: the password row changes the callers' passwords.
        app.add_user("signin", haochaping::domain::access::Role::Supervisor, None);
        let mut complaints = Vec::new();
        for no in ["HM1", "HM2"] {
            let r = app.post("/api/v1/complaints", Some(&district.key), &json!({"source": "hotline_12345", "external_no": no, "title": "占道经营",
                "content": "小区门口占道经营，影响通行", "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00"})).await;
            assert_eq!(r.0, 201, "{}", r.1);
            complaints.push(r.1["case_id"].as_i64().expect("case id"));
        }
        // Their comments differ, in two themes, so that the clustering rows have more than one
        // distinct text to cluster in two.
        let mut fresh_cases = Vec::new();
        for (i, (placeholder, who, comment)) in [
            ("{case_to_act}", "own_dept", "窗口排队时间太长，等了两个小时"),
            ("{case_to_act}", "supervisor", "排队等了两个小时，窗口只开一个"),
            ("{case_to_act_on_page}", "own_dept", "材料清单不清楚，来回跑了三趟"),
            ("{case_to_act_on_page}", "supervisor", "材料要求反复变，跑了三趟还没办成"),
        ]
        .into_iter()
        .enumerate()
        {
            let no = format!("TF{i}");
            app.transaction(&district, &no, "I1", json!({})).await;
            let r = app.post("/api/v1/reviews", Some(&district.key), &json!({"transaction_no": no, "stars": 1, "channel": "kiosk", "comment": comment})).await;
            assert_eq!(r.0, 201, "{}", r.1);
            fresh_cases.push((placeholder, who, r.1["case_id"].as_i64().expect("case id")));
        }
        let mut held = Vec::new();
        for no in ["TH1", "TH2"] {
            app.transaction(&district, no, "I1", json!({})).await;
            let r = app.post("/api/v1/reviews", Some(&district.key), &json!({"transaction_no": no, "stars": 5, "channel": "kiosk", "comment": "骗子才说这里不好"})).await;
            assert_eq!(r.0, 201, "{}", r.1);
            held.push(r.1["review_id"].as_i64().or_else(|| r.1["id"].as_i64()).expect("review id"));
        }
        // An integrity flag (id 1, the fixture's only one) for the flag rows to read and decide.
        app.execute("INSERT INTO integrity_flags (kind, subject, period, details, created_at, updated_at, status) VALUES \
            ('burst_address', 'address:0123456789abcdef', '2026-11-20T10:00:00+08:00', '{\"reviews\": 6}', '2026-11-20 02:00:00', '2026-11-20 02:00:00', 'open')");
        let client = super::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Fixture {
            held_review: held[0],
            held_review_on_page: held[1],
            district,
            case,
            case_of_d2,
            t1_token,
            t2_token,
            expired_rating_token,
            expired_login,
            spare_key_id,
            spare_hook_id,
            page_key_id,
            page_hook_id,
            complaint: complaints[0],
            duplicate_complaint: complaints[1],
            fresh_cases,
            serial: std::cell::Cell::new(0),
            client,
        }
    }

    /// The concrete path of `template` for no caller in particular (per-caller cases are `case`).
    pub fn path(&self, template: &str) -> String {
        self.path_as(template, "")
    }

    /// The concrete path of `template` as `who` sends it.
    pub fn path_as(&self, template: &str, who: &str) -> String {
        let mut path = template.to_owned();
        for placeholder in ["{case_to_act}", "{case_to_act_on_page}"] {
            let id = self.fresh_cases.iter().find(|(p, w, _)| *p == placeholder && *w == who).map_or(self.case, |(_, _, id)| *id);
            path = path.replace(placeholder, &id.to_string());
        }
        path.replace("{case}", &self.case.to_string())
            .replace("{complaint}", &self.complaint.to_string())
            .replace("{page_key_id}", &self.page_key_id.to_string())
            .replace("{page_hook_id}", &self.page_hook_id.to_string())
            .replace("{case_of_d2}", &self.case_of_d2.to_string())
            .replace("{held_review_on_page}", &self.held_review_on_page.to_string())
            .replace("{held_review}", &self.held_review.to_string())
            .replace("{run}", "999999")
            .replace("{key_id}", &self.spare_key_id.to_string())
            .replace("{hook_id}", &self.spare_hook_id.to_string())
            .replace("{token}", &self.t1_token)
            .replace("{expired_token}", &self.expired_rating_token)
    }

    /// Bearer token, rating token and session token of a caller of [`WHO`].
    pub fn credentials(&self, who: &str) -> Credentials {
        let d = &self.district;
        let staff = |t: &str| Credentials { bearer: Some(t.to_owned()), rating: None, session: Some(t.to_owned()) };
        match who {
            "anonymous" => Credentials::default(),
            "expired" => staff(&self.expired_login),
            "citizen" => Credentials { rating: Some(self.t2_token.clone()), ..Credentials::default() },
            "integration" => Credentials { bearer: Some(d.key.clone()), ..Credentials::default() },
            "other_dept" => staff(&d.clerk2),
            "own_dept" => staff(&d.clerk1),
            "supervisor" => staff(&d.supervisor),
            "admin" => staff(&d.admin),
            other => panic!("unknown caller {other}"),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub bearer: Option<String>,
    pub rating: Option<String>,
    /// Pages: the signed session cookie of this token.
    pub session: Option<String>,
}

fn review_body(_: &Fixture, _: &str) -> Value {
    json!({"transaction_no": "T3", "stars": 5, "channel": "pc"})
}

/// What a caller does to its fresh case (`{case_to_act}`, `{case_to_act_on_page}`): a
/// department verifies it (核实), a supervisor reassigns it to D2 (改派), each the action that
/// is theirs in 待核实; the callers refused get the department's request.
fn case_action(who: &str) -> Vec<(&'static str, String)> {
    match who {
        "supervisor" => vec![("action", "reassign".into()), ("department_code", "D2".into()), ("note", "应由人社局办理".into())],
        _ => vec![("action", "verify".into()), ("note", "已联系".into())],
    }
}

fn unique_code(f: &Fixture, prefix: &str) -> String {
    format!("{prefix}{}", f.next())
}

/// The table. Columns: anonymous, expired, citizen (of another transaction), integration key,
/// department D2 on D1's data, department D1 on its own, supervisor, admin.
pub fn all() -> Vec<Endpoint> {
    use Body::{Csv, Form, Json, None as NoBody};
    let e = |method, route, path, body, expect| Endpoint { method, route, path, body, expect };
    vec![
        e("GET", "/healthz", "/healthz", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/metrics", "/metrics", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/api/openapi.json", "/api/openapi.json", NoBody, "ok ok ok ok ok ok ok ok"),
        // The user `signin` is for the sign-in rows: the password row changes the callers' own.
        e("POST", "/api/v1/auth/login", "/api/v1/auth/login", Json(|_, _| json!({"username": "signin", "password": "kite-meadow-93"})), "ok ok ok ok ok ok ok ok"),
        e("POST", "/api/v1/departments", "/api/v1/departments", Json(|f, _| json!({"code": unique_code(f, "DX"), "name": "新部门"})), "401 401 403 403 403 403 403 ok"),
        // Counter systems look department codes up too.
        e("GET", "/api/v1/departments", "/api/v1/departments", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PATCH", "/api/v1/departments/{code}", "/api/v1/departments/D2", Json(|_, _| json!({"name": "第二局（更名）"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/service-items", "/api/v1/service-items", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PATCH", "/api/v1/service-items/{code}", "/api/v1/service-items/I1", Json(|_, _| json!({"name": "企业设立登记（更名）"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/windows", "/api/v1/windows", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PATCH", "/api/v1/windows/{code}", "/api/v1/windows/W1", Json(|_, _| json!({"hall": "一楼东"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/staff", "/api/v1/staff", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PATCH", "/api/v1/staff/{staff_no}", "/api/v1/staff/S1", Json(|_, _| json!({"name": "王敏"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/service-items", "/api/v1/service-items", Json(|f, _| json!({"code": unique_code(f, "IX"), "name": "新事项", "department_code": "D1"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/windows", "/api/v1/windows", Json(|f, _| json!({"code": unique_code(f, "WX"), "name": "新窗口", "hall": "二楼"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/staff", "/api/v1/staff", Json(|f, _| json!({"staff_no": unique_code(f, "SX"), "name": "赵六", "department_code": "D1"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/imports", "/api/v1/imports?kind=windows&dry_run=true", Csv("code,name,hall\nW9,9号窗口,三楼\n"), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/assignments", "/api/v1/assignments", Json(|_, _| json!({"window_code": "W1", "staff_no": "S2", "service_item_codes": ["I2"], "effective_from": "2027-01-01T00:00:00+08:00"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/assignments", "/api/v1/assignments?window_code=W1", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PATCH", "/api/v1/assignments/{id}", "/api/v1/assignments/1", Json(|_, _| json!({"effective_to": "2026-10-01T00:00:00+08:00"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/users", "/api/v1/users", Json(|f, _| json!({"username": unique_code(f, "user"), "password": "kite-meadow-93", "role": "supervisor"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/users", "/api/v1/users", NoBody, "401 401 403 403 403 403 403 ok"),
        e("PATCH", "/api/v1/users/{username}", "/api/v1/users/sup", Json(|_, _| json!({"email": "sup@example.test"})), "401 401 403 403 403 403 403 ok"),
        // Anyone signed in changes their own password (the session in use stays; the sign-in
        // rows use the user `signin`, whose password stays).
        e("POST", "/api/v1/auth/password", "/api/v1/auth/password", Json(|_, _| json!({"old_password": "kite-meadow-93", "new_password": "another-password-1"})), "401 401 403 403 ok ok ok ok"),
        e("GET", "/api/v1/api-keys", "/api/v1/api-keys", NoBody, "401 401 403 403 403 403 403 ok"),
        e("DELETE", "/api/v1/api-keys/{id}", "/api/v1/api-keys/{key_id}", NoBody, "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/api-keys", "/api/v1/api-keys", Json(|f, _| json!({"name": unique_code(f, "key"), "role": "integration"})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/exchange/evaluations", "/api/v1/exchange/evaluations", NoBody, "401 401 403 ok 403 403 ok ok"),
        e("GET", "/api/v1/district", "/api/v1/district", NoBody, "401 401 403 ok 403 403 ok ok"),
        e("PUT", "/api/v1/district", "/api/v1/district", Json(|_, _| json!({"area_code": "310115"})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/webhooks", "/api/v1/webhooks", Json(|f, _| json!({"url": format!("https://12345.example.test/{}", unique_code(f, "h")), "events": ["case.replied"]})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/webhooks", "/api/v1/webhooks", NoBody, "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/{hook_id}/deliveries", NoBody, "401 401 403 403 403 403 403 ok"),
        // No delivery 999999: the admin is let through to an exact 404.
        e("POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", "/api/v1/webhooks/{hook_id}/deliveries/999999/redeliver", NoBody, "401 401 403 403 403 403 403 404"),
        e("DELETE", "/api/v1/webhooks/{id}", "/api/v1/webhooks/{hook_id}", NoBody, "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/mail/dead-letters", "/api/v1/mail/dead-letters", NoBody, "401 401 403 403 403 403 403 ok"),
        // No mail 999999: the admin is let through to an exact 404.
        e("POST", "/api/v1/mail/dead-letters/{id}/retry", "/api/v1/mail/dead-letters/999999/retry", NoBody, "401 401 403 403 403 403 403 404"),
        e("POST", "/api/v1/transactions/batch", "/api/v1/transactions/batch", Json(|f, _| json!({"items": [{"transaction_no": unique_code(f, "TB"), "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"}]})), "401 401 403 ok 403 403 403 ok"),
        e("POST", "/api/v1/transactions", "/api/v1/transactions", Json(|f, _| json!({"transaction_no": unique_code(f, "TX"), "service_item_code": "I1", "channel": "pc", "completed_at": "2026-11-20T10:00:00+08:00"})), "401 401 403 ok 403 403 403 ok"),
        // T3 is rated by nobody else (the fixture's T1 and T9 are rated already).
        e("POST", "/api/v1/reviews", "/api/v1/reviews", Json(review_body), "401 401 403 ok 403 403 403 403"),
        // The office's supervisors also register complaints that reach them directly.
        e("POST", "/api/v1/complaints", "/api/v1/complaints", Json(|f, _| json!({"source": "hotline_12345", "external_no": unique_code(f, "H"), "title": "噪音扰民", "content": "夜间施工噪音", "department_code": "D1", "received_at": "2026-11-20T10:00:00+08:00"})), "401 401 403 ok 403 403 ok ok"),
        e("GET", "/api/v1/cases", "/api/v1/cases", NoBody, "401 401 403 403 ok ok ok ok"),
        e("GET", "/api/v1/cases/{id}", "/api/v1/cases/{case}", NoBody, "401 401 403 403 404 ok ok ok"),
        // Each allowed caller acts on a fresh case of its own (see `case_action`).
        e("POST", "/api/v1/cases/{id}/actions", "/api/v1/cases/{case_to_act}/actions", Json(|_, who| case_action(who).into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect()), "401 401 403 403 404 ok ok 403"),
        e("POST", "/api/v1/cases/{id}/merge", "/api/v1/cases/{complaint}/merge", Json(|f, _| json!({"case_ids": [f.duplicate_complaint]})), "401 401 403 403 403 403 ok 403"),
        e("POST", "/api/v1/cases/{id}/notes", "/api/v1/cases/{case}/notes", Json(|_, _| json!({"note": "已电话回访，申请人认可"})), "401 401 403 403 404 ok ok 403"),
        // No co-handling department is added, so that the other department's cells stay 404.
        e("PUT", "/api/v1/cases/{id}/co-departments", "/api/v1/cases/{case}/co-departments", Json(|_, _| json!({"department_codes": []})), "401 401 403 403 403 403 ok 403"),
        e("GET", "/api/v1/alerts", "/api/v1/alerts", NoBody, "401 401 403 403 ok ok ok ok"),
        // Devices and apps relay a citizen's follow-up as they relay the review; staff never
        // write one. T1's review is a day old at most: its 追评 is still open.
        e("POST", "/api/v1/follow-ups", "/api/v1/follow-ups", Json(|_, _| json!({"transaction_no": "T1", "kind": "addendum", "comment": "补充"})), "401 401 403 ok 403 403 403 403"),
        e("GET", "/api/v1/calendar/{year}", "/api/v1/calendar/2026", NoBody, "401 401 403 403 ok ok ok ok"),
        e("PUT", "/api/v1/calendar/{year}", "/api/v1/calendar/2030", Json(|_, _| json!({"holidays": ["2030-01-01"], "workdays": []})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/tag-sets", "/api/v1/tag-sets", NoBody, "401 401 403 ok ok ok ok ok"),
        e("PUT", "/api/v1/tag-sets/{band}", "/api/v1/tag-sets/basic", Json(|_, _| json!({"tags": ["基本顺利", "等待稍久"]})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/moderation/held", "/api/v1/moderation/held", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/moderation/phrases", "/api/v1/moderation/phrases", NoBody, "401 401 403 403 403 403 ok ok"),
        e("PUT", "/api/v1/moderation/phrases", "/api/v1/moderation/phrases", Json(|_, _| json!({"phrases": ["骗子", "差劲"]})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/replies/banned-phrases", "/api/v1/replies/banned-phrases", NoBody, "401 401 403 403 403 403 ok ok"),
        e("PUT", "/api/v1/replies/banned-phrases", "/api/v1/replies/banned-phrases", Json(|_, _| json!({"phrases": ["没事找事", "瞎投诉"]})), "401 401 403 403 403 403 403 ok"),
        // The supervisor decides once on a comment held in the fixture.
        e("POST", "/api/v1/reviews/{id}/moderation", "/api/v1/reviews/{held_review}/moderation", Json(|_, _| json!({"decision": "keep_private", "note": "含侮辱性用语"})), "401 401 403 403 403 403 ok 403"),
        e("GET", "/api/v1/integrity/flags", "/api/v1/integrity/flags?status=all", NoBody, "401 401 403 403 403 403 ok ok"),
        // Each allowed caller decides the fixture's flag (a decision may be revised).
        e("POST", "/api/v1/integrity/flags/{id}", "/api/v1/integrity/flags/1", Json(|_, _| json!({"status": "dismissed", "note": "大厅公共无线网络"})), "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/rating-policy", "/api/v1/rating-policy", NoBody, "401 401 403 403 403 403 ok ok"),
        e("PUT", "/api/v1/rating-policy", "/api/v1/rating-policy", Json(|_, _| json!({"enabled": false, "default_after_days": 15, "default_stars": 5})), "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/sla-policies", "/api/v1/sla-policies", NoBody, "401 401 403 403 ok ok ok ok"),
        e("PUT", "/api/v1/sla-policies/{source}", "/api/v1/sla-policies/review", Json(|_, _| json!({"feedback_days": 1, "reply_days": 5, "extended_reply_days": 15, "supervision_days": 3})), "401 401 403 403 403 403 403 ok"),
        // The fixture's fresh cases bring bad reviews in two themes to cluster.
        e("POST", "/api/v1/analysis/clusters", "/api/v1/analysis/clusters", Json(|_, _| json!({"k": 2})), "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/analysis/clusters", "/api/v1/analysis/clusters", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/analysis/clusters/{id}", "/api/v1/analysis/clusters/{run}", NoBody, "401 401 403 403 403 403 404 404"),
        e("GET", "/api/v1/router/label-map", "/api/v1/router/label-map", NoBody, "401 401 403 403 403 403 ok ok"),
        e("PUT", "/api/v1/router/label-map", "/api/v1/router/label-map", Json(|_, _| json!({})), "401 401 403 403 403 403 403 ok"),
        e("POST", "/api/v1/router/suggest", "/api/v1/router/suggest", Json(|_, _| json!({"text": "小区门口噪音"})), "401 401 403 403 403 403 503 503"), // no model in tests
        e("GET", "/api/v1/access-log", "/api/v1/access-log?format=csv", NoBody, "401 401 403 403 403 403 403 ok"),
        e("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/stats", "/api/v1/stats", NoBody, "401 401 403 403 ok ok ok ok"),
        e("GET", "/api/v1/search", "/api/v1/search?q=排队", NoBody, "401 401 403 403 ok ok ok ok"),
        e("GET", "/api/v1/rankings", "/api/v1/rankings", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/staff/watchlist", "/api/v1/staff/watchlist?month=2026-11", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/reports/monthly", "/api/v1/reports/monthly?month=2026-11", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/reports/monthly/{month}/versions", "/api/v1/reports/monthly/2026-10/versions", NoBody, "401 401 403 403 403 403 ok ok"),
        // A closed month: each allowed caller stores its next version.
        e("POST", "/api/v1/reports/monthly/{month}/regenerate", "/api/v1/reports/monthly/2026-10/regenerate", Json(|_, _| json!({"reason": "申诉成立后重新统计", "force": true})), "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/topics", "/api/v1/topics?weeks=8", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/topics/alerts", "/api/v1/topics/alerts", NoBody, "401 401 403 403 403 403 ok ok"),
        e("GET", "/api/v1/topics/matrix", "/api/v1/topics/matrix", NoBody, "401 401 403 403 403 403 ok ok"),
        // No topic 999999 (the fixture never scans): the readers are let through to an exact 404.
        e("GET", "/api/v1/topics/{id}/documents", "/api/v1/topics/{run}/documents", NoBody, "401 401 403 403 403 403 404 404"),
        e("GET", "/api/v1/exports/cases", "/api/v1/exports/cases", NoBody, "401 401 403 403 ok ok ok ok"),
        e("GET", "/api/v1/public/reviews", "/api/v1/public/reviews", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/open311/v2/services.json", "/open311/v2/services.json", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/open311/v2/requests.json", "/open311/v2/requests.json", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/open311/v2/requests/{id}.json", "/open311/v2/requests/{case}.json", NoBody, "ok ok ok ok ok ok ok ok"),
        // Pages: staff sign in with a session cookie; without one a page sends them to /login.
        e("GET", "/static/app.css", "/static/app.css", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/static/app.js", "/static/app.js", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/rate/{token}", "/rate/{token}", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/rate/{token}", "/rate/{expired_token}", NoBody, "410 410 410 410 410 410 410 410"),
        e("POST", "/rate/{token}", "/rate/{expired_token}", Form(|_, _| vec![("stars", "5".into())]), "410 410 410 410 410 410 410 410"),
        e("POST", "/rate/{token}/follow-up", "/rate/{expired_token}/follow-up", Form(|_, _| vec![("comment", "补充".into())]), "410 410 410 410 410 410 410 410"),
        e("GET", "/rate/{token}/qr.{format}", "/rate/{token}/qr.svg", NoBody, "ok ok ok ok ok ok ok ok"),
        e("GET", "/rate/{token}/qr.{format}", "/rate/{expired_token}/qr.png", NoBody, "410 410 410 410 410 410 410 410"),
        e("GET", "/", "/", NoBody, "303 303 303 303 303 303 303 303"),
        e("GET", "/login", "/login", NoBody, "ok ok ok ok ok ok ok ok"),
        e("POST", "/login", "/login", Form(|_, _| vec![("username", "signin".into()), ("password", "kite-meadow-93".into())]), "303 303 303 303 303 303 303 303"),
        e("GET", "/cases", "/cases", NoBody, "303 303 303 303 ok ok ok ok"),
        e("GET", "/cases/{id}", "/cases/{case}", NoBody, "303 303 303 303 404 ok ok ok"),
        // As the API's actions, on other fresh cases.
        e("POST", "/cases/{id}/act", "/cases/{case_to_act_on_page}/act", Form(|_, who| case_action(who)), "303 303 303 303 404 ok ok 403"),
        e("GET", "/board", "/board", NoBody, "303 303 303 303 403 403 ok 403"),
        e("POST", "/board/reviews/{id}/moderation", "/board/reviews/{held_review_on_page}/moderation", Form(|_, _| vec![("decision", "publish".into())]), "303 303 303 303 403 403 ok 403"),
        e("GET", "/board/integrity", "/board/integrity?status=all", NoBody, "303 303 303 303 403 403 ok 403"),
        e("GET", "/board/integrity/{id}", "/board/integrity/1", NoBody, "303 303 303 303 403 403 ok 403"),
        e("POST", "/board/integrity/{id}", "/board/integrity/1", Form(|_, _| vec![("status", "confirmed".into()), ("note", "核实为刷评".into())]), "303 303 303 303 403 403 ok 403"),
        e("GET", "/analytics", "/analytics", NoBody, "303 303 303 303 403 403 ok ok"),
        e("POST", "/analytics/clusters", "/analytics/clusters", Form(|_, _| vec![("source", "reviews".into()), ("k", "2".into())]), "303 303 303 303 403 403 ok ok"),
        e("GET", "/analytics/clusters/{id}", "/analytics/clusters/{run}", NoBody, "303 303 303 303 403 403 404 404"),
        e("GET", "/analytics/topics/{id}", "/analytics/topics/{run}", NoBody, "303 303 303 303 403 403 404 404"),
        e("GET", "/admin", "/admin", NoBody, "303 303 303 303 303 303 303 303"),
        e("GET", "/admin/{section}", "/admin/departments", NoBody, "303 303 303 303 403 403 403 ok"),
        e("POST", "/admin/{section}", "/admin/departments", Form(|f, _| vec![("code", unique_code(f, "DP")), ("name", "页面新部门".into())]), "303 303 303 303 403 403 403 ok"),
        e("POST", "/admin/keys/{id}/revoke", "/admin/keys/{page_key_id}/revoke", Form(|_, _| vec![]), "303 303 303 303 403 403 403 ok"),
        // No such dead letter: the page answers a missing one as done (a second click), back to
        // /admin/webhooks; the API rows above show the 404.
        e("POST", "/admin/webhooks/{id}/deliveries/{delivery}/redeliver", "/admin/webhooks/{page_hook_id}/deliveries/999999/redeliver", Form(|_, _| vec![]), "303 303 303 303 403 403 403 ok"),
        e("POST", "/admin/webhooks/{id}/delete", "/admin/webhooks/{page_hook_id}/delete", Form(|_, _| vec![]), "303 303 303 303 403 403 403 ok"),
        e("POST", "/admin/mail/{id}/retry", "/admin/mail/999999/retry", Form(|_, _| vec![]), "303 303 303 303 403 403 403 ok"),
        e("GET", "/reports", "/reports", NoBody, "303 303 303 303 403 403 ok ok"),
        e("GET", "/reports/monthly", "/reports/monthly?month=2026-11", NoBody, "303 303 303 303 403 403 ok ok"),
        e("GET", "/reports/months/{month}", "/reports/months/2026-10", NoBody, "303 303 303 303 403 403 ok ok"),
        e("POST", "/reports/months/{month}/regenerate", "/reports/months/2026-10/regenerate", Form(|_, _| vec![("reason", "补录数据后重新生成".into()), ("force", "1".into())]), "303 303 303 303 403 403 ok ok"),
        e("GET", "/public", "/public", NoBody, "ok ok ok ok ok ok ok ok"),
        // Signing out last: it ends the callers' sessions.
        e("POST", "/logout", "/logout", Form(|_, _| vec![]), "303 303 303 303 303 303 303 303"),
        // The page sign-out above ended the staff sessions on the server: their tokens are dead.
        e("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", NoBody, "401 401 403 403 401 401 401 401"),
    ]
}

/// Sends the row's request as `who`; `body` overrides the row's own (hostile inputs).
pub async fn call(app: &TestApp, f: &Fixture, ep: &Endpoint, who: &str, path: Option<&str>, body: Option<reqwest::Body>, content_type: Option<&str>) -> (u16, String) {
    let creds = f.credentials(who);
    let path = path.map(str::to_owned).unwrap_or_else(|| f.path_as(ep.path, who));
    let method = reqwest::Method::from_bytes(ep.method.as_bytes()).expect("method");
    let mut req = f.client.request(method, app.url(&path));
    let is_page = !path.starts_with("/api/") && !path.starts_with("/open311/") && path != "/healthz" && path != "/metrics";
    if is_page {
        if let Some(token) = &creds.session {
            req = req.header("Cookie", format!("hcp_session={}", app.state.cookies.sign(token)));
        }
    } else {
        if let Some(token) = &creds.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(token) = &creds.rating {
            req = req.header("X-Rating-Token", token);
        }
    }
    req = match (body, ep.body) {
        (Some(b), _) => req.header("Content-Type", content_type.unwrap_or("application/json")).body(b),
        (None, Body::None) => req,
        (None, Body::Json(make)) => req.json(&make(f, who)),
        (None, Body::Csv(text)) => req.header("Content-Type", "text/csv").body(text),
        (None, Body::Form(make)) => {
            let mut fields = make(f, who);
            if let Some(token) = &creds.session {
                fields.push(("csrf", app.state.cookies.csrf(token)));
            }
            req.form(&fields)
        }
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (599, format!("no answer: {e}")),
    };
    let status = resp.status().as_u16();
    let missing: Vec<&str> = SECURITY_HEADERS
        .iter()
        .filter(|(name, value)| resp.headers().get(*name).and_then(|v| v.to_str().ok()) != Some(*value))
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        // Counts as a failure wherever a status is checked (the matrix, the hostile battery).
        return (598, format!("answered {status} without the security headers {missing:?}"));
    }
    if resp.status().is_redirection() {
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        return (status, format!("redirect to {location}"));
    }
    (status, resp.text().await.unwrap_or_default())
}

/// On every answer, whatever the caller and the status.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("content-security-policy", "default-src 'self'; frame-ancestors 'none'"),
];

/// `(METHOD, route)` of every route registered in `src/interfaces/http/mod.rs` and `src/interfaces/web/mod.rs`,
/// read from the source: a route added there without a row in [`all`] fails the tests.
pub fn routes_in_source() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let server = include_str!("../../src/interfaces/http/mod.rs");
    // Routes come only from these two functions: another `configure` would bring routes this
    // reader does not see.
    assert_eq!(server.matches(".configure(").count(), 2, "src/interfaces/http/mod.rs configures routes elsewhere too: extend routes_in_source");
    for source in [server, include_str!("../../src/interfaces/web/mod.rs")] {
        let code = source.split("pub fn routes").nth(1).expect("a routes function");
        let code = code.split("\n}\n").next().unwrap_or(code);
        for unread in ["web::route()", "web::method(", "web::head()", "web::to("] {
            assert!(!code.contains(unread), "routes_in_source does not read {unread}: extend it");
        }
        let mut prefix = String::new();
        let mut current: Option<String> = None;
        let mut rest = code;
        while !rest.is_empty() {
            let next = ["web::scope(\"", "resource(\"", ".route(\"", "web::get()", "web::post()", "web::put()", "web::patch()", "web::delete()"]
                .iter()
                .filter_map(|pat| rest.find(pat).map(|i| (i, *pat)))
                .min();
            let Some((i, pat)) = next else { break };
            rest = &rest[i + pat.len()..];
            let quoted = || rest.split('"').next().unwrap_or("").to_owned();
            match pat {
                "web::scope(\"" => prefix = quoted(),
                "resource(\"" => current = Some(format!("{prefix}{}", quoted())),
                ".route(\"" => current = Some(format!("{prefix}{}", quoted())),
                method => {
                    let method = method.trim_start_matches("web::").trim_end_matches("()").to_uppercase();
                    found.push((method, current.clone().expect("a method before any route")));
                }
            }
        }
    }
    found
}
