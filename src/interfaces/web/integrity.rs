//! 疑似刷评 for supervisors: every flag a page at a time (`/board/integrity`), one flag with the
//! reviews it names (`/board/integrity/{id}`), and the decision on it (排除 or 确认, with the
//! reason), which posts to the same use case as the API. The board shows the open flags.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::cases::integrity::{self, FlagFilter, FlagView, MAX_NOTE_CHARS};
use crate::clock;
use crate::domain::access::Role;
use crate::domain::integrity::FlagStatus;
use crate::error::AppError;
use crate::interfaces::app::AppState;
use crate::adapters::render::short_time;

use super::staff::{check_csrf, link, pager, signed_in_as, staff_header};
use super::{busy, layout, message_page, page, see_other};

const FOR_WHOM: &str = "疑似刷评仅供监督人员核查。";
const PER_PAGE: i64 = 30;

/// What a flag's figures say, in one line.
pub(super) fn summary(f: &FlagView) -> String {
    let d = &f.details;
    let n = |key: &str| d[key].as_u64().unwrap_or(0);
    let text = |key: &str| d[key].as_str().map(short_time).unwrap_or_default();
    let month = |d: &serde_json::Value| {
        let label = d["month"].as_str().unwrap_or(&f.period).to_owned();
        if d["month_closed"].as_bool() == Some(false) { format!("{label}（本月截至 {}）", text("as_of")) } else { label }
    };
    // A monthly flag whose figures have since moved (a bad rating came in) stays for the
    // supervisor, and says so.
    let since = if d["no_longer_holds"].as_bool() == Some(true) { "；此后数字已变化，现已不满足提示条件（保留供核查）" } else { "" };
    let line = match f.kind.as_str() {
        "burst_address" | "burst_device" => format!(
            "{} 至 {}：共 {} 条评价，{} 分钟内最多 {} 条（超过 {} 条即提示）",
            text("first"),
            text("last"),
            n("reviews"),
            n("window_minutes"),
            n("peak"),
            n("threshold")
        ),
        "staff_session" => format!("评价时间 {}：提交评价的浏览器上登录着工作人员账号", text("rated_at")),
        "no_bad_ratings" => format!("{}：{} 条主动评价，没有一条差评（{} 条起核查）", month(d), n("active"), n("min_volume")),
        "active_share" => format!(
            "{}：{} 条评价中主动评价 {} 条（{:.1}%），默认评价仅 {} 条（超过 {:.0}% 即提示，{} 条起核查）",
            month(d),
            n("ratings"),
            n("active"),
            d["active_share"].as_f64().unwrap_or(0.0) * 100.0,
            n("default"),
            d["max_active_share"].as_f64().unwrap_or(0.0) * 100.0,
            n("min_volume")
        ),
        _ => String::new(),
    };
    format!("{line}{since}")
}

/// A flag as a card: what, whom, the figures, the links, and the decision form.
pub(super) fn flag_card(f: &FlagView, csrf: &str, return_to: &str) -> Markup {
    html! {
        div.card id={ "flag-" (f.id) } {
            div {
                @if f.status == FlagStatus::Open.as_str() { span.badge.red { (f.kind_label) } } @else { span.badge.green { (f.status_label) } }
                " " strong { (f.subject_label) }
            }
            @if f.status != FlagStatus::Open.as_str() { div { (f.kind_label) } }
            div.muted { (summary(f)) }
            div {
                a href={ "/board/integrity/" (f.id) } {
                    @if f.review_count > 0 { "查看详情及相关评价（" (f.review_count) " 条）" } @else { "查看详情" }
                }
                @if let (Some(code), Some(name)) = (&f.department_code, &f.department_name) {
                    " · " a href=(link("/cases", &[("department", code.as_str())])) { (name) "的案件" }
                }
            }
            (decision_form(f, csrf, return_to))
        }
    }
}

fn decision_form(f: &FlagView, csrf: &str, return_to: &str) -> Markup {
    let note_id = format!("flag-note-{}", f.id);
    html! {
        form method="post" action={ "/board/integrity/" (f.id) } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="return_to" value=(return_to);
            label for=(note_id) { @if f.status == FlagStatus::Open.as_str() { "核查说明（必填）" } @else { "重新核查的说明（必填）" } }
            input id=(note_id) name="note" maxlength=(MAX_NOTE_CHARS) required;
            div.actions {
                button type="submit" name="status" value=(FlagStatus::Dismissed.as_str()) { "排除（无异常）" }
                button type="submit" name="status" value=(FlagStatus::Confirmed.as_str()) { "确认刷评" }
            }
        }
    }
}

/// `GET /board/integrity?status=open|dismissed|confirmed|all&page=N`.
pub async fn list(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor], FOR_WHOM).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let chosen = query.get("status").map(String::as_str).unwrap_or("open").to_owned();
    let status = match chosen.as_str() {
        "all" => None,
        s => match FlagStatus::parse(s) {
            Some(s) => Some(s),
            None => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "筛选条件有误", "请返回疑似刷评列表重新选择。"),
        },
    };
    let page_no = match query.get("page").map(|p| p.parse::<i64>()) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "页码有误", "请返回疑似刷评列表。"),
    };
    let filter = FlagFilter { status, kind: None, page: page_no, per_page: PER_PAGE };
    let flags = match state.db(move |conn, _| integrity::list(conn, &filter)).await {
        Ok(f) => f,
        Err(e) => return busy(&e),
    };
    let csrf = state.cookies.csrf(&token);
    let return_to = link("/board/integrity", &[("status", chosen.as_str())]);
    let body = html! {
        (staff_header(&principal, &csrf))
        h1 { "疑似刷评" }
        p.muted { "疑似非真实意愿的评价：评价照常保存并计入统计，核查结论（排除或确认）及说明记入审计日志。" }
        nav.subnav aria-label="按核查状态" {
            @for (value, label) in [("open", "待核查"), ("confirmed", "已确认"), ("dismissed", "已排除"), ("all", "全部")] {
                @if chosen == value { strong { (label) } } @else { a href=(link("/board/integrity", &[("status", value)])) { (label) } }
                " "
            }
        }
        @if flags.items.is_empty() { p.card { "没有符合条件的疑似刷评。" } }
        @for f in &flags.items { (flag_card(f, &csrf, &return_to)) }
        (pager("/board/integrity", &[("status", chosen.as_str())], flags.total, flags.page, flags.per_page))
    };
    page(StatusCode::OK, layout("疑似刷评", body))
}

/// `GET /board/integrity/{id}`: the flag, its figures, the reviews it names and the decision.
pub async fn show(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor], FOR_WHOM).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let id = id.into_inner();
    let loaded = state.db(move |conn, _| Ok((integrity::get(conn, id)?, integrity::flagged_reviews(conn, id)?))).await;
    let (flag, reviews) = match loaded {
        Ok(l) => l,
        Err(AppError::NotFound(_)) => return message_page(StatusCode::NOT_FOUND, "未找到", "该疑似刷评记录不存在。"),
        Err(e) => return busy(&e),
    };
    let csrf = state.cookies.csrf(&token);
    let here = format!("/board/integrity/{id}");
    let body = html! {
        (staff_header(&principal, &csrf))
        p { a href="/board/integrity" { "← 疑似刷评列表" } }
        h1 { "疑似刷评 #" (flag.id) }
        div.card {
            dl.facts {
                dt { "类型" } dd { (flag.kind_label) }
                dt { "对象" } dd { (flag.subject_label) }
                dt { "情况" } dd { (summary(&flag)) }
                dt { "发现时间" } dd { (short_time(&flag.created_at)) }
                dt { "核查状态" } dd { (flag.status_label) }
                @if let Some(by) = &flag.resolved_by {
                    dt { "核查人" } dd { (by) @if let Some(at) = &flag.resolved_at { "，" (short_time(at)) } }
                }
                @if let Some(note) = &flag.note { dt { "核查说明" } dd { (note) } }
            }
        }
        p.muted { "这些评价照常保存并计入统计；确认刷评后仍保留原始记录，由审计日志记载核查结论。" }
        @if !reviews.is_empty() {
            h2 { "相关评价（" (flag.review_count) " 条）" }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "评价" } th scope="col" { "评价时间" } th scope="col" { "星级" } th scope="col" { "渠道" } th scope="col" { "部门" } th scope="col" { "窗口" } th scope="col" { "意见" } th scope="col" { "案件" } } }
                    tbody {
                        @for r in &reviews {
                            tr {
                                td { "#" (r.id) }
                                td { (short_time(&r.rated_at)) }
                                td { (r.stars) " 星" }
                                td { (crate::insight::stats::channel_label(&r.channel)) }
                                td { (r.department) }
                                td { (r.window.as_deref().unwrap_or("—")) }
                                td.summary { (r.comment.as_deref().unwrap_or("")) }
                                td { @if let Some(c) = r.case_id { a href={ "/cases/" (c) } { "#" (c) } } @else { "—" } }
                            }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { @if flag.status == FlagStatus::Open.as_str() { "核查结论" } @else { "重新核查" } }
            (decision_form(&flag, &csrf, &here))
        }
    };
    page(StatusCode::OK, layout("疑似刷评", body))
}

/// `POST /board/integrity/{id}`: a supervisor's decision; back to where it was made.
pub async fn decide(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor], FOR_WHOM).await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let status = match form.get("status").and_then(|s| FlagStatus::parse(s)) {
        Some(s @ (FlagStatus::Dismissed | FlagStatus::Confirmed)) => s,
        _ => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "请选择核查结论", "请选择“排除”或“确认刷评”。"),
    };
    let note = form.get("note").map(|n| n.trim().to_owned()).unwrap_or_default();
    if note.is_empty() {
        return message_page(StatusCode::UNPROCESSABLE_ENTITY, "请填写核查说明", "核查说明将记入审计日志，请返回填写。");
    }
    // Back to a page of ours only.
    let back = form.get("return_to").filter(|r| r.starts_with("/board")).cloned().unwrap_or_else(|| "/board#integrity".to_owned());
    let (actor, id) = (principal.actor_label(), id.into_inner());
    match state.db(move |conn, _| integrity::decide(conn, id, status, &actor, &note, clock::now())).await {
        Ok(_) => see_other(&back),
        Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "未找到", "该疑似刷评记录不存在。"),
        Err(AppError::Invalid(_)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "说明有误", &format!("核查说明最多 {MAX_NOTE_CHARS} 字，且不能包含控制字符。")),
        Err(e) => busy(&e),
    }
}
