//! 窗口人员: the staff and window rankings of a month and the watchlist of staff at the bottom two
//! months running, on a hand-counted scenario (on both backends, through HTTP).
//!
//! Staff S1 S2 S3 at window W1, S4 S5 at window W2, all of D1 (item I1). Stars per month:
//!
//! | | 2026-10 | 2026-11 |
//! |---|---|---|
//! | S1 | 5 1 (2: 样本不足) | 5 5 5 4 → 好评 4/4, rank 1 |
//! | S2 | 5 5 5 → rank 1 | 5 4 1 3 → 3/4, rank 2 |
//! | S3 | 1 2 3 → 1/3, rank 3 | 1 2 5 → 1/3, rank 4 |
//! | S4 | 4 4 1 → 2/3, rank 2 | 1 4 4 → 2/3, rank 3 |
//! | S5 | 1 1 1 → 0/3, rank 4 | 1 1 (2: 样本不足) |
//!
//! With `min_ratings=3`, four are ranked each month; the bottom two are ranks 3 and 4: S3 and S5
//! in October, S4 and S3 in November, so the November watchlist is S3 alone. S1's first November
//! rating is at 00:30 on 1 November Beijing time (still October in UTC).

mod common;

use common::{error_code, TestApp};
use serde_json::{json, Value};

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9)
}

const OCTOBER: &[(&str, &str, &[i64])] = &[
    ("S1", "W1", &[5, 1]),
    ("S2", "W1", &[5, 5, 5]),
    ("S3", "W1", &[1, 2, 3]),
    ("S4", "W2", &[4, 4, 1]),
    ("S5", "W2", &[1, 1, 1]),
];

const NOVEMBER: &[(&str, &str, &[i64])] = &[
    ("S1", "W1", &[5, 5, 5, 4]),
    ("S2", "W1", &[5, 4, 1, 3]),
    ("S3", "W1", &[1, 2, 5]),
    ("S4", "W2", &[1, 4, 4]),
    ("S5", "W2", &[1, 1]),
];

async fn scenario(app: &TestApp) -> common::District {
    let d = app.seed().await;
    assert_eq!(app.post("/api/v1/windows", Some(&d.admin), &json!({"code": "W2", "name": "2号窗口", "hall": "一楼"})).await.0, 201);
    for (no, name) in [("S3", "张伟"), ("S4", "刘洋"), ("S5", "陈晨")] {
        let r = app.post("/api/v1/staff", Some(&d.admin), &json!({"staff_no": no, "name": name, "department_code": "D1"})).await;
        assert_eq!(r.0, 201, "{}", r.1);
    }
    let mut n = 0;
    for (month, table) in [("2026-10", OCTOBER), ("2026-11", NOVEMBER)] {
        for (staff, window, stars) in table {
            for (i, star) in stars.iter().enumerate() {
                n += 1;
                let no = format!("SV-{n}");
                // The first November rating of S1 falls in the first half hour of the month.
                let (completed, rated) = if month == "2026-11" && *staff == "S1" && i == 0 {
                    ("2026-11-01T00:10:00+08:00".to_owned(), "2026-11-01T00:30:00+08:00".to_owned())
                } else {
                    let day = 2 + i;
                    (format!("{month}-{day:02}T10:00:00+08:00"), format!("{month}-{day:02}T11:00:00+08:00"))
                };
                app.transaction(&d, &no, "I1", json!({"staff_no": staff, "window_code": window, "completed_at": completed})).await;
                let mut body = json!({"transaction_no": no, "stars": star, "channel": "window_device", "rated_at": rated});
                if *star <= 2 {
                    body["comment"] = json!("等候时间太长");
                }
                let r = app.post("/api/v1/reviews", Some(&d.key), &body).await;
                assert_eq!(r.0, 201, "{no}: {}", r.1);
            }
        }
    }
    d
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array().map(|a| a.iter().map(|e| e["key"].as_str().unwrap_or("").to_owned()).collect()).unwrap_or_default()
}

on_both_backends!(staff_and_window_rankings_and_the_watchlist);

async fn staff_and_window_rankings_and_the_watchlist(app: TestApp) {
    let d = scenario(&app).await;

    // November by staff member.
    let (status, nov) = app.get("/api/v1/rankings?by=staff&month=2026-11&min_ratings=3", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{nov}");
    assert_eq!((nov["by"].clone(), nov["min_ratings"].clone()), (json!("staff"), json!(3)));
    assert_eq!(keys(&nov["ranked"]), ["S1", "S2", "S4", "S3"], "{nov}");
    assert_eq!(keys(&nov["not_ranked"]), ["S5"], "{nov}");
    // (ratings, 差评, 差评率, average stars, rank)
    for (e, (ratings, bad, bad_rate, average, rank)) in nov["ranked"].as_array().expect("ranked").iter().zip([
        (4, 0, 0.0, 19.0 / 4.0, 1),
        (4, 1, 0.25, 13.0 / 4.0, 2),
        (3, 1, 1.0 / 3.0, 3.0, 3),
        (3, 2, 2.0 / 3.0, 8.0 / 3.0, 4),
    ]) {
        assert_eq!((e["ratings"].as_i64(), e["bad_reviews"].as_i64(), e["rank"].as_i64()), (Some(ratings), Some(bad), Some(rank)), "{e}");
        assert!(close(&e["bad_rate"], bad_rate) && close(&e["average_stars"], average), "{e}");
        assert!(e["note"].is_null(), "{e}");
    }
    assert_eq!(nov["ranked"][0]["name"], "王敏");
    let s5 = &nov["not_ranked"][0];
    assert_eq!((s5["rank"].clone(), s5["note"].clone(), s5["ratings"].clone(), s5["bad_reviews"].clone()), (Value::Null, json!("样本不足"), json!(2), json!(2)), "{s5}");
    assert!(close(&s5["bad_rate"], 1.0) && close(&s5["average_stars"], 1.0), "{s5}");

    // October: S1 has two ratings only.
    let (_, oct) = app.get("/api/v1/rankings?by=staff&month=2026-10&min_ratings=3", Some(&d.supervisor)).await;
    assert_eq!(keys(&oct["ranked"]), ["S2", "S4", "S3", "S5"], "{oct}");
    let ranks: Vec<i64> = oct["ranked"].as_array().expect("ranked").iter().filter_map(|e| e["rank"].as_i64()).collect();
    assert_eq!(ranks, [1, 2, 3, 4]);
    assert_eq!(keys(&oct["not_ranked"]), ["S1"], "{oct}");

    // The default minimum volume (30) ranks nobody here.
    let (_, default) = app.get("/api/v1/rankings?by=staff&month=2026-11", Some(&d.supervisor)).await;
    assert_eq!(default["min_ratings"], 30);
    assert_eq!(keys(&default["ranked"]), Vec::<String>::new());
    assert_eq!(keys(&default["not_ranked"]), ["S1", "S2", "S3", "S4", "S5"], "by volume, then number: {default}");

    // November by window: W1 = S1 + S2 + S3 (11 ratings, 3 差评, 好评 8/11), W2 = S4 + S5 (5, 3, 2/5).
    let (status, windows) = app.get("/api/v1/rankings?by=window&month=2026-11&min_ratings=3", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{windows}");
    assert_eq!(keys(&windows["ranked"]), ["W1", "W2"], "{windows}");
    let (w1, w2) = (&windows["ranked"][0], &windows["ranked"][1]);
    assert_eq!((w1["ratings"].as_i64(), w1["bad_reviews"].as_i64(), w1["rank"].as_i64()), (Some(11), Some(3), Some(1)), "{w1}");
    assert!(close(&w1["good_rate"], 8.0 / 11.0) && close(&w1["bad_rate"], 3.0 / 11.0) && close(&w1["average_stars"], 40.0 / 11.0), "{w1}");
    assert_eq!((w2["ratings"].as_i64(), w2["bad_reviews"].as_i64(), w2["rank"].as_i64()), (Some(5), Some(3), Some(2)), "{w2}");
    assert!(close(&w2["good_rate"], 0.4) && close(&w2["bad_rate"], 0.6) && close(&w2["average_stars"], 2.2), "{w2}");

    // The watchlist: bottom two in November (S4, S3) and in October (S3, S5) → S3.
    let (status, watch) = app.get("/api/v1/staff/watchlist?month=2026-11&min_ratings=3", Some(&d.supervisor)).await;
    assert_eq!(status, 200, "{watch}");
    assert_eq!((watch["month"].clone(), watch["previous_month"].clone(), watch["bottom"].clone()), (json!("2026-11"), json!("2026-10"), json!(2)));
    assert_eq!(keys(&watch["staff"]), ["S3"], "{watch}");
    let s3 = &watch["staff"][0];
    assert_eq!((s3["name"].clone(), s3["rank"].clone(), s3["ranked"].clone(), s3["previous_rank"].clone(), s3["previous_ranked"].clone()), (json!("张伟"), json!(4), json!(4), json!(3), json!(4)), "{s3}");
    assert_eq!((s3["ratings"].clone(), s3["bad_reviews"].clone(), s3["previous_ratings"].clone()), (json!(3), json!(2), json!(3)));
    assert!(close(&s3["bad_rate"], 2.0 / 3.0) && close(&s3["previous_good_rate"], 1.0 / 3.0), "{s3}");
    // October against an empty September, and everyone under the default volume: nobody.
    assert_eq!(keys(&app.get("/api/v1/staff/watchlist?month=2026-10&min_ratings=3", Some(&d.admin)).await.1["staff"]), Vec::<String>::new());
    assert_eq!(keys(&app.get("/api/v1/staff/watchlist?month=2026-11", Some(&d.admin)).await.1["staff"]), Vec::<String>::new());

    // Supervisors and admins only; bad input is refused.
    assert_eq!(app.get("/api/v1/staff/watchlist?month=2026-11", Some(&d.clerk1)).await.0, 403);
    assert_eq!(app.get("/api/v1/rankings?by=staff", Some(&d.clerk1)).await.0, 403);
    let (status, body) = app.get("/api/v1/rankings?by=hall&month=2026-11", Some(&d.supervisor)).await;
    assert_eq!((status, error_code(&body)), (422, "invalid".to_owned()), "{body}");
    assert_eq!(app.get("/api/v1/staff/watchlist?month=2026-13", Some(&d.supervisor)).await.0, 422);
    assert_eq!(app.get("/api/v1/staff/watchlist?month=2026-11&min_ratings=0", Some(&d.supervisor)).await.0, 422);

    // The supervisor's /reports page shows the table and the watchlist.
    let client = common::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client.post(app.url("/login")).form(&[("username", "sup"), ("password", "kite-meadow-93")]).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|s| s.split(';').next()).expect("cookie").to_owned();
    let r = client.get(app.url("/reports?month=2026-11&min_ratings=3")).header("Cookie", &cookie).send().await.expect("page");
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.expect("html");
    for expected in ["窗口人员排名 · 2026-11", "连续两个月排名靠后 · 2026-10 至 2026-11", "王敏", "样本不足", "66.7%", "4 / 4", "3 / 4", "2.67"] {
        assert!(html.contains(expected), "the page lacks {expected}");
    }
    let watch_part = html.split("连续两个月排名靠后").nth(1).expect("watchlist section");
    assert!(watch_part.contains("张伟") && !watch_part.contains("刘洋") && !watch_part.contains("陈晨"), "{watch_part}");
}
