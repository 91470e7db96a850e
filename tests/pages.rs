//! The citizen's rating page through HTTP (the browser-driven tests come with the other pages).

mod common;

use common::TestApp;
use serde_json::json;

on_both_backends!(citizen_rates_on_the_page_and_sees_the_reply);

async fn citizen_rates_on_the_page_and_sees_the_reply(app: TestApp) {
    let d = app.seed().await;
    let t = app.transaction(&d, "T1", "I1", json!({"window_code": "W1"})).await;
    let token = t["rating_token"].as_str().expect("token").to_owned();
    let url = app.url(&format!("/rate/{token}"));
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    let page = client.get(&url).send().await.expect("get");
    assert_eq!(page.status().as_u16(), 200);
    let headers = page.headers().clone();
    assert!(headers.get("content-security-policy").is_some() && headers.get("x-frame-options").is_some());
    let html = page.text().await.expect("html");
    for expected in ["企业设立登记", "区市场监督管理局", "1号窗口", "非常不满意", "非常满意", "等待时间长", "热情周到", "提交评价"] {
        assert!(html.contains(expected), "page lacks {expected}");
    }
    let form_token = html.split("name=\"form\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("form token").to_owned();

    // A bad rating without a reason is refused on the page, keeping what was typed.
    let r = client.post(&url).form(&[("form", form_token.as_str()), ("stars", "1")]).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap_or_default().contains("差评请至少选择一个标签或填写意见"));
    // Without the page's form field (a cross-site post): refused.
    let r = client.post(&url).form(&[("stars", "5")]).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(app.count("reviews"), 0);

    let comment = "排队两个小时<script>alert(1)</script>";
    let r = client
        .post(&url)
        .header("User-Agent", "Mozilla/5.0 (iPhone) Mobile Safari")
        .form(&[("form", form_token.as_str()), ("stars", "1"), ("tag_bad_0", "等待时间长"), ("comment", comment)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some(format!("/rate/{token}?thanks=1").as_str()));
    assert_eq!(app.count("reviews WHERE channel = 'mobile' AND stars = 1"), 1);
    assert_eq!(app.count("cases"), 1);
    let html = client.get(format!("{url}?thanks=1")).send().await.expect("get").text().await.unwrap_or_default();
    assert!(html.contains("感谢您的评价") && html.contains("等待时间长") && html.contains("正在核实整改"), "{html}");
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>alert"), "user text is escaped");
    // Posting again does not rate twice.
    let r = client.post(&url).form(&[("form", form_token.as_str()), ("stars", "5")]).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(app.count("reviews"), 1);

    // The department answers, the supervisor approves: the citizen sees the reply and rates it.
    let case_id: i64 = app.get("/api/v1/cases", Some(&d.clerk1)).await.1["items"][0]["id"].as_i64().expect("case");
    for (who, action, note) in [(&d.clerk1, "verify", None), (&d.clerk1, "rectify", Some("增开窗口")), (&d.clerk1, "reply", Some("已增开窗口，感谢监督")), (&d.supervisor, "approve", None)] {
        assert_eq!(app.act(who, case_id, action, note).await.0, 200);
    }
    let html = client.get(&url).send().await.expect("get").text().await.unwrap_or_default();
    assert!(html.contains("已增开窗口，感谢监督") && html.contains("您对处理结果是否满意"), "{html}");
    let r = client.post(format!("{url}/follow-up")).form(&[("satisfaction", "dissatisfied"), ("comment", "还是要排队")]).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 303);
    let (_, case) = app.get(&format!("/api/v1/cases/{case_id}"), Some(&d.supervisor)).await;
    assert_eq!(case["state"], "rectification", "不满意 reopens the case");

    // Forged and expired links get a clear page with a 4xx status.
    let forged = client.get(app.url("/rate/bm90LWEtdG9rZW4.c2lnbmF0dXJl")).send().await.expect("get");
    assert_eq!(forged.status().as_u16(), 404);
    assert!(forged.text().await.unwrap_or_default().contains("评价链接无效"));
    let expired = app.state.signer.sign("T1", chrono::Utc::now() - chrono::Duration::hours(1));
    let r = client.get(app.url(&format!("/rate/{expired}"))).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 410);
    assert!(r.text().await.unwrap_or_default().contains("已过期"));
    let css = client.get(app.url("/static/app.css")).send().await.expect("css");
    assert_eq!(css.status().as_u16(), 200);
}

on_both_backends!(staff_sign_in_work_their_inbox_and_act_on_a_case);

fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("set-cookie").to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().expect("cookie").to_owned()
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf field").to_owned()
}

async fn staff_sign_in_work_their_inbox_and_act_on_a_case(app: TestApp) {
    let d = app.seed().await;
    let id = app.bad_case(&d, "T1").await;
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.get(app.url("/cases")).send().await.expect("get");
    assert_eq!((r.status().as_u16(), r.headers().get("location").and_then(|v| v.to_str().ok())), (303, Some("/login")));
    let r = client.post(app.url("/login")).form(&[("username", "clerk1"), ("password", "wrong-password")]).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap_or_default().contains("用户名或密码错误"));
    let login = |user: &'static str| {
        let req = client.post(app.url("/login")).form(&[("username", user), ("password", "kite-meadow-93")]);
        async move {
            let r = req.send().await.expect("login");
            assert_eq!(r.status().as_u16(), 303);
            session_cookie(&r)
        }
    };
    let clerk1 = login("clerk1").await;
    let clerk2 = login("clerk2").await;
    let get = |path: String, cookie: String| {
        let req = client.get(app.url(&path)).header("Cookie", cookie);
        async move {
            let r = req.send().await.expect("get");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, inbox) = get("/cases".into(), clerk1.clone()).await;
    assert_eq!(status, 200);
    assert!(inbox.contains(&format!("#{id}")) && inbox.contains("窗口排队两小时") && inbox.contains("即将到期"), "{inbox}");
    let (_, other_inbox) = get("/cases".into(), clerk2.clone()).await;
    assert!(!other_inbox.contains("窗口排队两小时"), "D2 does not see D1's case");
    assert_eq!(get(format!("/cases/{id}"), clerk2.clone()).await.0, 404);
    let (_, tampered) = get("/cases".into(), format!("{clerk1}x")).await;
    assert!(!tampered.contains("窗口排队两小时"));

    let (status, case_page) = get(format!("/cases/{id}"), clerk1.clone()).await;
    assert_eq!(status, 200);
    for expected in ["核实", "申诉", "申请改派", "立案", "13812345678"] {
        assert!(case_page.contains(expected), "case page lacks {expected}");
    }
    let csrf = csrf_of(&case_page);
    let act = |form: Vec<(&'static str, String)>| {
        let req = client.post(app.url(&format!("/cases/{id}/act"))).header("Cookie", clerk1.clone()).form(&form);
        async move {
            let r = req.send().await.expect("act");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(act(vec![("action", "verify".into())]).await.0, 403, "no CSRF field");
    assert_eq!(act(vec![("csrf", csrf.clone()), ("action", "verify".into()), ("note", "已电话联系".into())]).await.0, 303);
    let (status, page) = act(vec![("csrf", csrf.clone()), ("action", "rectify".into())]).await;
    assert_eq!(status, 422);
    assert!(page.contains("需要填写说明"));
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&d.supervisor)).await;
    assert_eq!(case["state"], "rectification");
    assert_eq!(case["timeline"][1]["note"], "已电话联系");
}
