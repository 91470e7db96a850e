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
use super::staff::{check_csrf, signed_in_as, staff_header};
use crate::insight::frozen_reports::{self, Lookup, ReportRead, VersionSummary};
use super::{busy, layout, message_page, page, see_other};

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
    let listed = months.clone();
    let figures = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            let now = clock::now();
            let ranking = stats::month_ranking(conn, Period::month(&staff_month)?, GroupBy::Staff, min, now, &rules)?;
            let watch = stats::watchlist(conn, &staff_month, min, now, &rules)?;
            let frozen = frozen_reports::newest_versions(conn, &listed)?;
            Ok((ranking, watch, frozen))
        })
        .await;
    let (ranking, watch, frozen) = match figures {
        Ok(f) => f,
        Err(e) => return busy(&e),
    };
    let stars = |a: Option<f64>| a.map(|a| format!("{a:.2}")).unwrap_or_else(|| "—".into());
    let body = html! {
        (staff_header(&principal, &state.cookies.csrf(&token)))
        h1 { "运营报告" }
        p.muted { "每月报告包括总体指标与上月对比、近六个月趋势、各部门情况、部门和窗口排名、群众反映集中的问题以及仍超期的案件。"
            "月末后 " (state.config.report_freeze_days) " 天起报告封存，此后查看的都是同一份；本月和封存前的报告为实时数据。" }
        @for m in &months {
            div.card.report-row {
                strong { (m) }
                " "
                (report_badge(m, frozen.iter().find(|v| v.month == *m), state.config.report_freeze_days))
                " "
                a href={ "/reports/monthly?month=" (m) } { "在线查看" } " · "
                a href={ "/reports/monthly?month=" (m) "&format=xlsx" } download { "下载 Excel" } " · "
                a href={ "/reports/monthly?month=" (m) "&format=csv" } download { "下载 CSV" } " · "
                a href={ "/reports/months/" (m) } { "版本与重新生成" }
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

/// A month's line on the report list: frozen (which version), waiting to be frozen, or live.
fn report_badge(month: &str, newest: Option<&VersionSummary>, freeze_days: u32) -> maud::Markup {
    let closed = frozen_reports::freezes_at(month, freeze_days).map(|at| clock::now() >= at).unwrap_or(false);
    html! {
        @match newest {
            Some(v) => span.badge.green { "已封存 · 第 " (v.version) " 版" },
            None if closed => span.badge.yellow { "待封存" },
            None => span.badge.yellow { "实时数据" },
        }
    }
}

/// The report in the browser with the staff session (the API takes a bearer token instead):
/// the stored snapshot of a closed month (`&version=N` an earlier one), else live.
pub async fn monthly(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    if let Err(away) = signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        return away;
    }
    let Some(month) = query.get("month").cloned() else {
        return message_page(StatusCode::UNPROCESSABLE_ENTITY, "请选择月份", "请从运营报告页选择月份。");
    };
    let version = match query.get("version").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "版本应为正整数。"),
    };
    let freeze_days = state.config.report_freeze_days;
    let report = match ReportRead::parse(&month, query.get("format").map(String::as_str), None, version) {
        Ok(request) => {
            let read = request.clone();
            let lookup = state.read_db(move |conn, state| {
                let rules = state.read_rules(conn)?;
                frozen_reports::read(conn, &read, clock::now(), &rules, freeze_days)
            }).await;
            match lookup {
                Ok(Lookup::Served(report)) => Ok(report),
                // Closed and not stored yet: this view freezes it.
                Ok(Lookup::FreezeFirst) => state.db(move |conn, state| {
                    let rules = state.rules(conn)?;
                    frozen_reports::monthly_report(conn, &request, clock::now(), &rules, freeze_days)
                }).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match report {
        Ok(report) => {
            let mut response = HttpResponse::Ok();
            response.content_type(report.content_type());
            for header in report.headers() {
                response.insert_header(header);
            }
            if let Some(disposition) = report.content_disposition() {
                response.insert_header(("Content-Disposition", disposition));
            }
            response.body(report.bytes)
        }
        Err(AppError::Invalid(_)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "月份应为 YYYY-MM，格式为 html、csv、xlsx 或 json，版本为正整数。"),
        Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "没有这一版", "该月报表没有这一版，请从版本列表选择。"),
        Err(AppError::IntegrityCheckFailed(message)) => message_page(StatusCode::INTERNAL_SERVER_ERROR, "报表快照校验失败", &message),
        Err(e) => busy(&e),
    }
}

/// Who stored a version, as the page says it.
fn generated_by(v: &VersionSummary) -> String {
    if v.generated_by == frozen_reports::SYSTEM_ACTOR {
        "系统（月末封存）".to_owned()
    } else {
        v.generated_by.split_once(':').map(|(_, name)| name.to_owned()).unwrap_or_else(|| v.generated_by.clone())
    }
}

/// A month's report versions: its status, every stored version with its hash and links, what
/// the newest changed against the one before, and the form that generates it again.
pub async fn report_versions(state: web::Data<AppState>, req: HttpRequest, month: web::Path<String>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let month = month.into_inner();
    let freeze_days = state.config.report_freeze_days;
    let list = match state.read_db(move |conn, _| frozen_reports::month_versions(conn, &month, clock::now(), freeze_days)).await {
        Ok(list) => list,
        Err(AppError::Invalid(_)) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "月份应为 YYYY-MM。"),
        Err(e) => return busy(&e),
    };
    let m = &list.month;
    let body = html! {
        (staff_header(&principal, &state.cookies.csrf(&token)))
        h1 { (m) " 运营报告 · 版本" }
        @if list.status == "frozen" { p.notice role="status" { (list.status_text) } } @else { p.warning role="status" { (list.status_text) } }
        p { a href={ "/reports/monthly?month=" (m) } { "查看报告" } " · " a href="/reports" { "返回运营报告" } }
        @if !list.versions.is_empty() {
            section {
                h2 { "已封存的版本" }
                div.card.table-wrap { table {
                    thead { tr { th scope="col" { "版本" } th scope="col" { "生成时间" } th scope="col" { "生成人" } th scope="col" { "原因" } th scope="col" { "SHA-256" } th scope="col" { "查看" } } }
                    tbody { @for v in &list.versions { tr {
                        th scope="row" { "第 " (v.version) " 版" }
                        td { (short_time(&v.generated_at)) }
                        td { (generated_by(v)) }
                        td { (v.reason.as_deref().unwrap_or("—")) }
                        td { code { (maud::PreEscaped(frozen_reports::hash_groups(&v.hash))) } }
                        td {
                            a href={ "/reports/monthly?month=" (m) "&version=" (v.version) } aria-label={ "在线查看第 " (v.version) " 版" } { "在线查看" } " · "
                            a href={ "/reports/monthly?month=" (m) "&version=" (v.version) "&format=xlsx" } download aria-label={ "下载第 " (v.version) " 版 Excel" } { "Excel" } " · "
                            a href={ "/reports/monthly?month=" (m) "&version=" (v.version) "&format=csv" } download aria-label={ "下载第 " (v.version) " 版 CSV" } { "CSV" }
                        }
                    } } }
                } }
            }
            @match list.versions.get(1) {
                Some(previous) => (frozen_reports::changes_table(previous.version, &list.changes)),
                None => p.muted { "第 1 版是首次封存，没有可比较的前一版。" },
            }
        }
        @if list.status != "live" {
            section {
                h2 { "重新生成" }
                form.card method="post" action={ "/reports/months/" (m) "/regenerate" } {
                    input type="hidden" name="csrf" value=(state.cookies.csrf(&token));
                    p { label for="reason" { "原因（必填，最多 " (frozen_reports::MAX_REASON_CHARS) " 字）" } br;
                        textarea #reason name="reason" rows="3" maxlength=(frozen_reports::MAX_REASON_CHARS) required {} }
                    p.muted { "按现在的数据生成新的一版（例如申诉成立后）。原有各版都保留；操作人、原因和新旧两版的哈希记入审计链。" }
                    button type="submit" { "重新生成报告" }
                }
            }
        }
    };
    page(StatusCode::OK, layout(&format!("{m} 运营报告版本"), body))
}

/// The regenerate form: a new version of a closed month's report, then back to its versions.
pub async fn regenerate_report(state: web::Data<AppState>, req: HttpRequest, month: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, REPORT_READERS, REPORTS_FOR).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let reason = form.get("reason").cloned().unwrap_or_default();
    let force = form.get("force").is_some_and(|v| v == "1");
    let (month, actor, freeze_days) = (month.into_inner(), principal.actor_label(), state.config.report_freeze_days);
    let done = state.db(move |conn, state| {
        let rules = state.rules(conn)?;
        frozen_reports::regenerate(conn, &month, &actor, &reason, force, clock::now(), &rules, freeze_days)
    }).await;
    match done {
        Ok(done) => see_other(&format!("/reports/months/{}", done.version.month)),
        Err(AppError::Invalid(e)) if e.field == "reason" => message_page(StatusCode::UNPROCESSABLE_ENTITY, "请填写原因", "重新生成须说明原因（1 到 500 字，不含控制字符）。"),
        Err(AppError::Invalid(_)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "月份应为 YYYY-MM。"),
        Err(AppError::Conflict { code: "month_not_closed", .. }) => message_page(StatusCode::CONFLICT, "尚未封存", "该月报表仍是实时数据，封存后才能重新生成。"),
        Err(AppError::Conflict { code: "unchanged", message, .. }) => message_page(StatusCode::CONFLICT, "没有变化", &message),
        Err(AppError::IntegrityCheckFailed(message)) => message_page(StatusCode::INTERNAL_SERVER_ERROR, "报表快照校验失败", &message),
        Err(AppError::Conflict { .. }) => message_page(StatusCode::CONFLICT, "刚有新的一版", "其他人刚生成了新的一版，请返回版本列表查看后再决定。"),
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
