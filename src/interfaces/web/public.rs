//! Pages outside the case work: the report page for supervisors (pick a month, read it or
//! download it) and the public disclosure page (双公开) anyone may read.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Datelike;
use maud::html;

use crate::interfaces::app::AppState;
use crate::clock;
use crate::domain::calendar::local_date;
use crate::insight::disclosure::{self, PublicQuery};
use crate::error::AppError;
use crate::domain::access::Role;

use crate::adapters::render::{percent, short_time};
use crate::insight::stats::{self, GroupBy, Period};
use super::staff::{signed_in_as, staff_header};
use crate::insight::monthly::{self, ReportRequest};
use super::{busy, layout, message_page, page};

const REPORT_READERS: &[Role] = &[Role::Supervisor, Role::Admin];
const REPORTS_FOR: &str = "运营报告仅供监督人员和管理员使用。";

pub async fn reports_page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let today = local_date(clock::now());
    let months: Vec<String> = (0..12)
        .filter_map(|back| today.with_day(1).and_then(|d| d.checked_sub_months(chrono::Months::new(back))))
        .map(|d| d.format("%Y-%m").to_string())
        .collect();
    // 窗口人员: the staff ranking of the chosen month (this month by default) and the watchlist.
    let month = query.get("month").filter(|m| Period::month(m).is_ok()).cloned().unwrap_or_else(|| months[0].clone());
    let min = query.get("min_ratings").and_then(|m| m.parse::<i64>().ok()).filter(|m| (1..=1_000_000).contains(m)).unwrap_or(stats::DEFAULT_MIN_RATINGS);
    let staff_month = month.clone();
    let figures = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            let now = clock::now();
            let ranking = stats::month_ranking(conn, Period::month(&staff_month)?, GroupBy::Staff, min, now, &rules)?;
            let watch = stats::watchlist(conn, &staff_month, min, now, &rules)?;
            Ok((ranking, watch))
        })
        .await;
    let (ranking, watch) = match figures {
        Ok(f) => f,
        Err(e) => return busy(&e),
    };
    let stars = |a: Option<f64>| a.map(|a| format!("{a:.2}")).unwrap_or_else(|| "—".into());
    let body = html! {
        (staff_header(&principal, &state.cookies.csrf(&token)))
        h1 { "运营报告" }
        p.muted { "每月报告包括总体指标与上月对比、近六个月趋势、各部门情况、部门和窗口排名、群众反映集中的问题以及仍超期的案件。" }
        @for m in &months {
            div.card.report-row {
                strong { (m) }
                " "
                a href={ "/reports/monthly?month=" (m) } { "在线查看" } " · "
                a href={ "/reports/monthly?month=" (m) "&format=xlsx" } download { "下载 Excel" } " · "
                a href={ "/reports/monthly?month=" (m) "&format=csv" } download { "下载 CSV" }
            }
        }
        section id="staff" {
            h2 { "窗口人员排名 · " (month) }
            form.card method="get" action="/reports#staff" {
                label { "月份 "
                    select name="month" {
                        @for m in &months { option value=(m) selected[*m == month] { (m) } }
                    }
                }
                " "
                input type="hidden" name="min_ratings" value=(min);
                button type="submit" { "查看" }
            }
            p.muted { "按好评率排名（并列时比较按期办结率），当月评价不少于 " (min) " 条的人员参与排名，其余列为“" (stats::INSUFFICIENT) "”。" }
            @if ranking.ranked.is_empty() && ranking.not_ranked.is_empty() {
                p.card { "本月暂无窗口人员的评价。" }
            } @else {
                div.card.table-wrap {
                    table {
                        thead { tr { th { "名次" } th { "工号" } th { "姓名" } th { "评价数" } th { "差评数" } th { "差评率" } th { "平均星级" } } }
                        tbody {
                            @for e in &ranking.ranked {
                                tr { td { (e.rank.unwrap_or(0)) } td { (e.key) } th scope="row" { (e.name) } td { (e.ratings) } td { (e.bad_reviews) } td { (percent(e.bad_rate)) } td { (stars(e.average_stars)) } }
                            }
                            @for e in &ranking.not_ranked {
                                tr.muted { td { (e.note.as_deref().unwrap_or(stats::INSUFFICIENT)) } td { (e.key) } th scope="row" { (e.name) } td { (e.ratings) } td { (e.bad_reviews) } td { (percent(e.bad_rate)) } td { (stars(e.average_stars)) } }
                            }
                        }
                    }
                }
            }
            h2 { "连续两个月排名靠后 · " (watch.previous_month) " 至 " (watch.month) }
            p.muted { "在本月和上月的窗口人员排名中均处于最后 " (watch.bottom) " 名的人员（两个月均须达到最少评价数）。" }
            @if watch.staff.is_empty() {
                p.card { "没有连续两个月排名靠后的人员。" }
            } @else {
                div.card.table-wrap {
                    table {
                        thead { tr { th { "工号" } th { "姓名" } th { "本月名次" } th { "上月名次" } th { "本月评价数" } th { "本月差评率" } } }
                        tbody {
                            @for w in &watch.staff {
                                tr { td { (w.key) } th scope="row" { (w.name) } td { (w.rank) " / " (w.ranked) } td { (w.previous_rank) " / " (w.previous_ranked) } td { (w.ratings) } td { (percent(w.bad_rate)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("运营报告", body))
}

/// The report in the browser with the staff session (the API takes a bearer token instead).
pub async fn monthly(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    if let Err(away) = signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        return away;
    }
    let Some(month) = query.get("month").cloned() else {
        return message_page(StatusCode::UNPROCESSABLE_ENTITY, "请选择月份", "请从运营报告页选择月份。");
    };
    let file = match ReportRequest::parse(month, query.get("format").map(String::as_str), None) {
        Ok(request) => state.read_db(move |conn, state| {
        let rules = state.read_rules(conn)?;
        monthly::report_file(conn, &request, clock::now(), &rules)
    }).await,
        Err(e) => Err(e),
    };
    match file {
        Ok(file) => {
            let mut response = HttpResponse::Ok();
            response.content_type(file.format.content_type());
            if let Some(disposition) = file.content_disposition() {
                response.insert_header(("Content-Disposition", disposition));
            }
            response.body(file.bytes)
        }
        Err(AppError::Invalid(_)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "月份应为 YYYY-MM，格式为 html、csv 或 xlsx。"),
        Err(e) => busy(&e),
    }
}

/// 双公开: public ratings with the departments' approved replies.
pub async fn disclosure_page(state: web::Data<AppState>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let grade = query.get("grade").filter(|g| *g == "bad").cloned();
    let page_no = query.get("page").and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).clamp(1, 100_000);
    let q = PublicQuery { grade: grade.clone(), department: None, page: Some(page_no), per_page: Some(20) };
    let list = match state.read_db(move |conn, _| disclosure::public_reviews(conn, &q)).await {
        Ok(l) => l,
        Err(e) => return busy(&e),
    };
    let bad = grade.is_some();
    let pages = (list.total + list.per_page - 1) / list.per_page;
    let link = |p: i64| format!("/public?page={p}{}", if bad { "&grade=bad" } else { "" });
    let body = html! {
        h1 { "评价公开" }
        p.muted { "按照政务服务“好差评”制度，评价和差评整改情况向社会公开。评价人姓名已隐去，匿名评价不显示姓名。" }
        nav.card aria-label="筛选" {
            @if bad { a href="/public" { "全部评价" } " · " strong { "只看差评" } } @else { strong { "全部评价" } " · " a href="/public?grade=bad" { "只看差评" } }
            " · 共 " (list.total) " 条"
        }
        @if list.items.is_empty() { p.card { "暂无公开的评价。" } }
        @for r in &list.items {
            article.card {
                div {
                    strong { (r.level) } " · " (r.department) " · " (r.service_item)
                    @if let Some(h) = &r.handling { " " span class={ "badge " (if r.reply.is_some() { "green" } else { "yellow" }) } { (h) } }
                }
                @if !r.tags.is_empty() { div.muted { (r.tags.join("、")) } }
                @if let Some(c) = &r.comment { p { (c) } }
                div.muted { (r.reviewer.as_deref().unwrap_or("匿名")) " · " (short_time(&r.rated_at)) }
                @if let Some(reply) = &r.reply {
                    div.reply { strong { "部门答复：" } (reply) }
                }
            }
        }
        @if pages > 1 {
            nav.card aria-label="分页" {
                @if page_no > 1 { a href=(link(page_no - 1)) { "上一页" } " " }
                "第 " (page_no) " / " (pages) " 页"
                @if page_no < pages { " " a href=(link(page_no + 1)) { "下一页" } }
            }
        }
    };
    page(StatusCode::OK, layout("评价公开", body))
}
