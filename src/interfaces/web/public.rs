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

use crate::adapters::render::short_time;
use super::staff::{signed_in_as, staff_header};
use crate::insight::monthly::{self, ReportRequest};
use super::{busy, layout, message_page, page};

const REPORT_READERS: &[Role] = &[Role::Supervisor, Role::Admin];
const REPORTS_FOR: &str = "运营报告仅供监督人员和管理员使用。";

pub async fn reports_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let today = local_date(clock::now());
    let months: Vec<String> = (0..12)
        .filter_map(|back| today.with_day(1).and_then(|d| d.checked_sub_months(chrono::Months::new(back))))
        .map(|d| d.format("%Y-%m").to_string())
        .collect();
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
