//! Staff pages: login, the case inbox (a department sees its own cases, supervisors all), and
//! the case page with the actions this user may take. Sessions are the same tokens as the API's
//! bearer tokens, carried in a signed, HttpOnly, SameSite=Lax cookie; every form carries a CSRF
//! field derived from the session.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::admin::accounts;
use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::cases::actions::{apply_action, ActionRequest};
use crate::cases::work::{self, CaseFilter, CaseView};
use crate::cases::work_orders;
use crate::clock;
use crate::domain::case_flow::{Action, CaseState};
use crate::error::AppError;
use crate::admin::master_data::{self, DepartmentView, ListFilter};
use crate::domain::access::Role;
use crate::storage::queries;

use crate::adapters::render::short_time;
use super::{busy, layout, message_page, page, see_other};

const SESSION_COOKIE: &str = "hcp_session";

/// The signed-in user and their session token, or `None`.
pub(super) async fn signed_in(state: &web::Data<AppState>, req: &HttpRequest) -> Option<(Principal, String)> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let token = state.cookies.verify(cookie.value())?;
    let lookup = token.clone();
    let principal = state.db(move |conn, _| accounts::authenticate_bearer(conn, &lookup, clock::now())).await.ok()?;
    matches!(principal, Principal::User { .. }).then_some((principal, token))
}

/// Whether this browser carries a staff session in force (signed, not expired, idle or signed
/// out, its user active): a rating given from it is flagged for the supervisors.
/// Read only (the session's idle timer does not move); a failed lookup is logged and counts as none.
pub async fn staff_session_in_force(state: &web::Data<AppState>, req: &HttpRequest) -> bool {
    let Some(token) = req.cookie(SESSION_COOKIE).and_then(|c| state.cookies.verify(c.value())) else { return false };
    match state.db(move |conn, _| accounts::staff_session_in_force(conn, &token, clock::now())).await {
        Ok(in_force) => in_force,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up the staff session on a rating's browser; not flagged");
            false
        }
    }
}

/// The signed-in user when their role is one of `roles`; otherwise the way out: the login page for
/// a visitor, a 403 page saying who the page is for (`for_whom`) for the wrong role.
pub(super) async fn signed_in_as(state: &web::Data<AppState>, req: &HttpRequest, roles: &[Role], for_whom: &str) -> Result<(Principal, String), HttpResponse> {
    let Some((principal, token)) = signed_in(state, req).await else { return Err(see_other("/login")) };
    match principal.role() {
        Some(role) if roles.contains(&role) => Ok((principal, token)),
        _ => Err(message_page(StatusCode::FORBIDDEN, "无权访问", for_whom)),
    }
}

/// Refuses a staff form whose CSRF field does not belong to this session.
pub(super) fn check_csrf(state: &AppState, token: &str, form: &HashMap<String, String>) -> Result<(), HttpResponse> {
    if form.get("csrf") == Some(&state.cookies.csrf(token)) {
        Ok(())
    } else {
        Err(message_page(StatusCode::FORBIDDEN, "请求无效", "页面已过期，请刷新后重试。"))
    }
}

fn login_page(error: Option<&str>) -> Markup {
    layout(
        "登录",
        html! {
            h1 { "工作人员登录" }
            @if let Some(e) = error { div.error role="alert" { (e) } }
            form.card method="post" action="/login" {
                p { label for="username" { "用户名" } br; input #username name="username" autocomplete="username" required; }
                p { label for="password" { "密码" } br; input #password type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "登录" }
            }
        },
    )
}

pub async fn show_login() -> HttpResponse {
    page(StatusCode::OK, login_page(None))
}

pub async fn submit_login(state: web::Data<AppState>, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let form = form.into_inner();
    let (Some(username), Some(password)) = (form.get("username").cloned(), form.get("password").cloned()) else {
        return page(StatusCode::UNPROCESSABLE_ENTITY, login_page(Some("请输入用户名和密码。")));
    };
    if username.len() > 200 || password.len() > 1024 {
        return page(StatusCode::UNAUTHORIZED, login_page(Some("用户名或密码错误。")));
    }
    let address = crate::interfaces::http::extract::client_address(&req);
    let who = username.clone();
    match state.db(move |conn, _| accounts::sign_in(conn, &username, &password, address, clock::now())).await {
        Ok(accounts::SignIn::Accepted(result)) => {
            let cookie = Cookie::build(SESSION_COOKIE, state.cookies.sign(&result.token))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.config.public_url.starts_with("https://"))
                .finish();
            HttpResponse::SeeOther().insert_header(("Location", home_for(result.role))).cookie(cookie).finish()
        }
        Ok(accounts::SignIn::Refused { locked }) => {
            crate::interfaces::app::telemetry::sign_in_failed(&who, address, locked);
            page(StatusCode::UNAUTHORIZED, login_page(Some("用户名或密码错误。")))
        }
        Err(AppError::RateLimited(seconds)) => {
            let text = format!("登录尝试过于频繁，请 {} 分钟后再试。", seconds.div_ceil(60));
            page(StatusCode::TOO_MANY_REQUESTS, login_page(Some(&text)))
        }
        Err(e) => busy(&e),
    }
}

pub async fn logout(state: web::Data<AppState>, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    if let Some((_, token)) = signed_in(&state, &req).await {
        if form.get("csrf") == Some(&state.cookies.csrf(&token)) {
            let _ = state.db(move |conn, _| accounts::logout(conn, &token)).await;
        }
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).finish();
    gone.make_removal();
    HttpResponse::SeeOther().insert_header(("Location", "/login")).cookie(gone).finish()
}

/// The navigation of staff pages: what this role works with, and sign-out.
pub(super) fn staff_header(principal: &Principal, csrf: &str) -> Markup {
    let (name, role) = match principal {
        Principal::User { username, role, .. } => (username.as_str(), Some(*role)),
        _ => ("", None),
    };
    let links: &[(&str, &str)] = match role {
        Some(Role::Supervisor) => &[("/board", "督办看板"), ("/cases", "案件列表"), ("/analytics", "统计分析"), ("/reports", "运营报告")],
        Some(Role::Admin) => &[("/admin", "系统管理"), ("/cases", "案件列表"), ("/analytics", "统计分析"), ("/reports", "运营报告")],
        _ => &[("/cases", "案件列表"), ("/cases?alert=overdue", "超期"), ("/cases?alert=due_soon", "即将到期")],
    };
    html! {
        nav.card.staff aria-label="主导航" {
            @for (i, (href, label)) in links.iter().enumerate() {
                @if i > 0 { " · " }
                a href=(href) { (label) }
            }
            form.inline method="post" action="/logout" {
                input type="hidden" name="csrf" value=(csrf);
                " · " (name) " "
                button.link type="submit" { "退出" }
            }
        }
    }
}

/// Where a role lands after signing in.
pub(super) fn home_for(role: Role) -> &'static str {
    match role {
        Role::Supervisor => "/board",
        Role::Admin => "/admin",
        _ => "/cases",
    }
}

/// `2026-11-22T09:30:00+08:00` → `2026-11-22 09:30` (the API's times are already local).
pub(super) fn alert_badge(alert: Option<&str>, overdue_days: u32) -> Markup {
    html! {
        @match alert {
            Some("overdue") => span.badge.red { "超期 " (overdue_days) " 个工作日" },
            Some("due_soon") => span.badge.yellow { "即将到期" },
            _ => span.badge.green { "正常" },
        }
    }
}

/// Cases on one page of the inbox.
pub(super) const PAGE_SIZE: i64 = 50;

/// The inbox's query parameters that a page link, a sort link and the filter form keep.
const INBOX_KEEP: [&str; 8] = ["state", "alert", "source", "department", "extension", "reassign_requested", "sort", "dir"];

/// A link to `base` with `params` (empty values left out), the form's own encoding.
pub(super) fn link(base: &str, params: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() { base.to_owned() } else { format!("{base}?{query}") }
}

/// "共 N 件，第 x/y 页" and 上一页 · page numbers · 下一页, each link keeping `keep` (the filters
/// and the order). Page numbers near this one, the first and the last.
pub(super) fn pager(base: &str, keep: &[(&str, &str)], total: i64, page: i64, size: i64) -> Markup {
    let pages = ((total + size - 1) / size).max(1);
    let href = |n: i64| {
        let n = n.to_string();
        let mut params: Vec<(&str, &str)> = keep.to_vec();
        if n != "1" { params.push(("page", &n)); }
        link(base, &params)
    };
    let shown: Vec<i64> = (1..=pages).filter(|n| *n == 1 || *n == pages || (n - page).abs() <= 2).collect();
    html! {
        nav.pager aria-label="分页" {
            span.count { "共 " (total) " 件，第 " (page) "/" (pages) " 页" }
            @if pages > 1 {
                @if page > 1 { a rel="prev" href=(href(page - 1)) { "上一页" } }
                @for (i, n) in shown.iter().enumerate() {
                    @if i > 0 && shown[i - 1] + 1 < *n { span.gap aria-hidden="true" { "…" } }
                    @if *n == page { strong aria-current="page" { (n) } } @else { a href=(href(*n)) aria-label={ "第 " (n) " 页" } { (n) } }
                }
                @if page < pages { a rel="next" href=(href(page + 1)) { "下一页" } }
            }
        }
    }
}

pub async fn inbox(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let Some((principal, token)) = signed_in(&state, &req).await else { return see_other("/login") };
    let query = query.into_inner();
    let get = |name: &str| query.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    let refused = || message_page(StatusCode::UNPROCESSABLE_ENTITY, "筛选条件有误", "请返回案件列表重新筛选。");
    let page_no = match get("page").map(|p| p.parse::<i64>()) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => return refused(),
    };
    let reassign_requested = match get("reassign_requested").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return refused(),
    };
    let filter = CaseFilter {
        state: get("state"),
        alert: get("alert"),
        department: get("department"),
        source: get("source"),
        extension: get("extension"),
        reassign_requested,
        sort: get("sort"),
        dir: get("dir"),
        limit: Some(PAGE_SIZE),
        offset: Some((page_no - 1) * PAGE_SIZE),
        ..CaseFilter::default()
    };
    let who = principal.clone();
    let supervises = matches!(principal, Principal::User { role: Role::Supervisor | Role::Admin, .. });
    let list = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            let list = work::list_cases(conn, &who, &filter, clock::now(), &rules)?;
            let departments = if supervises { master_data::list_departments(conn, &ListFilter::default())? } else { vec![] };
            Ok((list, departments))
        })
        .await;
    let (list, departments) = match list {
        Ok(l) => l,
        Err(AppError::Invalid(_)) => return refused(),
        Err(AppError::Forbidden(_)) => return message_page(StatusCode::FORBIDDEN, "无权访问", "该页面仅供承办部门和监督人员使用。"),
        Err(e) => return busy(&e),
    };
    let kept: Vec<(String, String)> = INBOX_KEEP.iter().filter_map(|k| get(k).map(|v| ((*k).to_owned(), v))).collect();
    let keep: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let chosen = |name: &str, value: &str| query.get(name).map(String::as_str) == Some(value);
    let sort = get("sort").unwrap_or_else(|| "due".into());
    let descending = match get("dir").as_deref() {
        Some(d) => d == "desc",
        None => matches!(sort.as_str(), "opened" | "id"),
    };
    // A column header: sorting by it, or the other way round when it is the order already.
    let header = |key: &str, label: &str| {
        let current = sort == key;
        let dir = if current { if descending { "asc" } else { "desc" } } else if matches!(key, "opened" | "id") { "desc" } else { "asc" };
        let mut params: Vec<(&str, &str)> = keep.iter().filter(|(k, _)| *k != "sort" && *k != "dir").copied().collect();
        params.push(("sort", key));
        params.push(("dir", dir));
        let href = link("/cases", &params);
        let aria = current.then_some(if descending { "descending" } else { "ascending" });
        html! {
            th scope="col" aria-sort=[aria] {
                a href=(href) data-sort=(key) { (label) @if current { span aria-hidden="true" { @if descending { " ▼" } @else { " ▲" } } } }
            }
        }
    };
    let csrf = state.cookies.csrf(&token);
    let body = html! {
        (staff_header(&principal, &csrf))
        h1 { "案件列表（" (list.total) "）" }
        form.card.inbox-filters method="get" action="/cases" {
            span.field { label for="state" { "状态 " }
            select #state name="state" {
                option value="" { "全部" }
                @for s in CaseState::ALL { option value=(s.as_str()) selected[chosen("state", s.as_str())] { (s.label()) } }
            } }
            span.field { label for="alert" { "预警 " }
            select #alert name="alert" {
                option value="" { "全部" }
                option value="overdue" selected[chosen("alert", "overdue")] { "超期（红灯）" }
                option value="due_soon" selected[chosen("alert", "due_soon")] { "即将到期（黄灯）" }
            } }
            span.field { label for="source" { "来源 " }
            select #source name="source" {
                option value="" { "全部" }
                @for s in ["review", "hotline_12345", "state_council", "unresolved_window", "other"] {
                    option value=(s) selected[chosen("source", s)] { (crate::insight::stats::channel_label(s)) }
                }
            } }
            @if supervises {
                span.field { label for="department" { "部门 " }
                select #department name="department" {
                    option value="" { "全部" }
                    option value="unassigned" selected[chosen("department", "unassigned")] { "待分派" }
                    @for d in &departments { option value=(d.code) selected[chosen("department", &d.code)] { (d.name) } }
                } }
            }
            span.field { label for="sort" { "排序 " }
            select #sort name="sort" {
                @for (key, label) in [("due", "按到期时间"), ("opened", "按立案时间"), ("state", "按状态"), ("id", "按案件编号")] {
                    option value=(key) selected[sort == key] { (label) }
                }
            } }
            @for (k, v) in keep.iter().filter(|(k, _)| matches!(*k, "extension" | "reassign_requested")) {
                input type="hidden" name=(k) value=(v);
            }
            button type="submit" { "筛选" }
        }
        @if list.items.is_empty() { p.card { "没有符合条件的案件。" } }
        div.phone-only {
            @for item in &list.items {
                a.case-row.card href={ "/cases/" (item.id) } {
                    div { strong { "#" (item.id) " " (item.state_label) } " " (alert_badge(item.alert.as_deref(), item.overdue_days)) }
                    div { (item.summary) }
                    div.muted { (item.department_name.as_deref().unwrap_or("待分派")) " · 到期 " (item.due_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())) }
                }
            }
        }
        @if !list.items.is_empty() {
            div.table-wrap.desktop-only.card {
                table.cases {
                    caption.visually-hidden { "案件列表，点击列标题排序" }
                    thead { tr {
                        (header("id", "案件"))
                        (header("state", "状态"))
                        th scope="col" { "预警" }
                        th scope="col" { "摘要" }
                        th scope="col" { "承办部门" }
                        th scope="col" { "来源" }
                        (header("opened", "立案时间"))
                        (header("due", "到期"))
                    } }
                    tbody {
                        @for item in &list.items {
                            tr {
                                td { a href={ "/cases/" (item.id) } { "#" (item.id) } }
                                td { (item.state_label) }
                                td { (alert_badge(item.alert.as_deref(), item.overdue_days)) }
                                td.summary { (item.summary) }
                                td { (item.department_name.as_deref().unwrap_or("待分派")) }
                                td { (crate::insight::stats::channel_label(&item.source)) }
                                td { (short_time(&item.opened_at)) }
                                td { (item.due_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())) }
                            }
                        }
                    }
                }
            }
        }
        (pager("/cases", &keep, list.total, page_no, PAGE_SIZE))
    };
    page(StatusCode::OK, layout("案件列表", body))
}

fn case_page(view: &CaseView, departments: &[DepartmentView], csrf: &str, principal: &Principal, error: Option<&str>) -> Markup {
    let body = html! {
        (staff_header(principal, csrf))
        h1 { "案件 #" (view.id) " · " (view.state_label) " " (alert_badge(view.alert.as_deref(), view.overdue_days)) }
        @if let Some(e) = error { div.error role="alert" { (e) } }
        div.card {
            dl.facts {
                dt { "承办部门" } dd { (view.department_name.as_deref().unwrap_or("待分派")) }
                dt { "来源" } dd { (crate::insight::stats::channel_label(&view.source)) }
                dt { "立案时间" } dd { (short_time(&view.opened_at)) }
                @for (name, due) in [("核实期限", &view.deadlines.feedback), ("答复期限", &view.deadlines.reply), ("审核期限", &view.deadlines.supervision)] {
                    @if let Some(d) = due { dt { (name) } dd { (short_time(d)) } }
                }
                @if let Some(c) = &view.committed_reply_due { dt { "工单承诺时限" } dd { (short_time(c)) } }
                @if !view.co_departments.is_empty() { dt { "协办部门" } dd { (view.co_departments.join("、")) } }
                @if let Some(p) = view.merged_into { dt { "并单" } dd { "已并入 " a href={ "/cases/" (p) } { "案件 #" (p) } "，随该案办结" } }
                @if !view.merged_cases.is_empty() {
                    dt { "并单" } dd { "本案合并了 " @for (i, m) in view.merged_cases.iter().enumerate() { @if i > 0 { "、" } a href={ "/cases/" (m) } { "#" (m) } } }
                }
            }
        }
        @if let Some(r) = &view.review {
            div.card { h2 { "评价" } p { (r.level) " · " (r.tags.join("、")) } @if let Some(c) = &r.comment { p { (c) } } }
        }
        @if let Some(c) = &view.complaint {
            div.card {
                h2 { "投诉" } @if let Some(t) = &c.title { p { strong { (t) } } } p { (c.content) }
                @if c.contact_name.is_some() || c.contact_phone.is_some() {
                    p { "联系人：" (c.contact_name.as_deref().unwrap_or("—")) " · 电话：" (c.contact_phone.as_deref().unwrap_or("—")) }
                }
            }
        }
        @if let Some(t) = &view.transaction {
            div.card { h2 { "办件" } p { (t.service_item_name) " · " (t.transaction_no) } @if t.applicant_name.is_some() || t.applicant_phone.is_some() { p { "申请人：" (t.applicant_name.as_deref().unwrap_or("—")) " · 联系电话：" (t.applicant_phone.as_deref().unwrap_or("—")) } } }
        }
        @if let Some(reply) = &view.reply {
            div.card {
                h2 { "答复" }
                p.reply { (reply) }
                @if !view.reply_warnings.is_empty() {
                    div.warning #reply-warnings role="status" {
                        strong { "答复提示" }
                        ul { @for w in &view.reply_warnings { li data-code=(w.code.as_str()) { (w.message) } } }
                        "答复已受理，提示不影响提交；监督人员审核时会看到这些提示。"
                    }
                }
            }
        }
        @if !view.allowed_actions.is_empty() {
            form.card method="post" action={ "/cases/" (view.id) "/act" } {
                input type="hidden" name="csrf" value=(csrf);
                h2 { "办理" }
                label for="note" { "说明（核实记录、整改措施、答复内容或理由）" }
                textarea #note name="note" maxlength="4000" {}
                @if view.allowed_actions.iter().any(|a| a == "reassign") {
                    p { label for="department_code" { "改派至部门 " } (department_select("department_code", departments, view.department_code.as_deref(), false)) }
                }
                div.actions {
                    @for a in &view.allowed_actions {
                        button type="submit" name="action" value=(a) { (Action::parse(a).map(|x| x.label()).unwrap_or(a.as_str())) }
                    }
                }
            }
        }
        @if matches!(principal, Principal::User { role: Role::Department | Role::Supervisor, .. }) {
            form.card method="post" action={ "/cases/" (view.id) "/act" } {
                input type="hidden" name="csrf" value=(csrf);
                label for="case-note" { "备注（协办意见、沟通记录；只记入办理记录，不改变案件状态）" }
                textarea #case-note name="note" maxlength="4000" required {}
                button.secondary type="submit" name="action" value="note" { "添加备注" }
            }
        }
        div.card {
            h2 { "办理记录" }
            ol.timeline {
                @for e in &view.timeline {
                    li { (short_time(&e.at)) " " (e.actor) " " (Action::parse(&e.action).map(|a| a.label()).unwrap_or_else(|| timeline_label(&e.action)))
                        @if let Some(n) = &e.note { "：" (n) } }
                }
            }
        }
    };
    layout(&format!("案件 #{}", view.id), body)
}

async fn load_case_page(state: &web::Data<AppState>, principal: Principal, token: &str, id: i64, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let who = principal.clone();
    let view = state
        .db(move |conn, state| {
            let case = queries::case_by_id(conn, id)?.ok_or_else(|| AppError::NotFound(format!("no case {id}")))?;
            work::ensure_visible(conn, &who, &case)?;
            let rules = state.rules(conn)?;
            let view = work::case_view(conn, &who, &case, clock::now(), &rules)?;
            let departments = if view.allowed_actions.iter().any(|a| a == "reassign") { master_data::list_departments(conn, &ListFilter::default())? } else { vec![] };
            Ok((view, departments))
        })
        .await;
    match view {
        Ok((view, departments)) => page(status, case_page(&view, &departments, &state.cookies.csrf(token), &principal, error)),
        Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "未找到案件", "该案件不存在，或不属于您的部门。"),
        Err(AppError::Forbidden(_)) => message_page(StatusCode::FORBIDDEN, "无权访问", "该页面仅供承办部门和监督人员使用。"),
        Err(e) => busy(&e),
    }
}

pub async fn show_case(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let Some((principal, token)) = signed_in(&state, &req).await else { return see_other("/login") };
    load_case_page(&state, principal, &token, id.into_inner(), None, StatusCode::OK).await
}

pub async fn act(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let Some((principal, token)) = signed_in(&state, &req).await else { return see_other("/login") };
    let id = id.into_inner();
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    // A note changes nothing but the timeline (协办 departments' way to take part).
    if form.get("action").map(String::as_str) == Some("note") {
        let (who, note) = (principal.clone(), form.get("note").cloned().unwrap_or_default());
        let result = state.db(move |conn, _| work_orders::add_note(conn, &who, id, &note, clock::now())).await;
        return match result {
            Ok(()) => see_other(&format!("/cases/{id}")),
            Err(AppError::Invalid(_)) => load_case_page(&state, principal, &token, id, Some("请填写备注内容（不超过 4000 字）。"), StatusCode::UNPROCESSABLE_ENTITY).await,
            Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "未找到案件", "该案件不存在，或不属于您的部门。"),
            Err(AppError::Forbidden(_)) => load_case_page(&state, principal, &token, id, Some("您无权添加备注。"), StatusCode::FORBIDDEN).await,
            Err(_) => message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "操作未完成，请稍后再试。"),
        };
    }
    let Some(action) = form.get("action").and_then(|a| Action::parse(a)).filter(|a| *a != Action::FollowUpDissatisfied) else {
        return load_case_page(&state, principal, &token, id, Some("请选择一个办理操作。"), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let request = ActionRequest {
        action,
        note: form.get("note").cloned(),
        department_code: form.get("department_code").filter(|c| !c.trim().is_empty()).map(|c| c.trim().to_owned()),
    };
    let who = principal.clone();
    let result = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            apply_action(conn, &who, id, &request, clock::now(), &rules)
        })
        .await;
    let (problem, status) = match result {
        Ok(_) => return see_other(&return_to(&form).unwrap_or_else(|| format!("/cases/{id}"))),
        Err(AppError::Invalid(f)) if f.field == "note" => ("该操作需要填写说明。".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        Err(AppError::Invalid(f)) => (format!("填写有误：{}", f.message), StatusCode::UNPROCESSABLE_ENTITY),
        Err(AppError::Conflict { .. }) => ("当前状态下不能执行该操作，页面已刷新。".to_owned(), StatusCode::CONFLICT),
        Err(AppError::Forbidden(_)) => ("您无权执行该操作。".to_owned(), StatusCode::FORBIDDEN),
        Err(AppError::NotFound(_)) => return message_page(StatusCode::NOT_FOUND, "未找到案件", "该案件不存在，或不属于您的部门。"),
        Err(_) => return message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "操作未完成，请稍后再试。"),
    };
    load_case_page(&state, principal, &token, id, Some(&problem), status).await
}

/// Where a decision form sent from a list (the supervisor board) returns to: only the board or a
/// case page of ours, never a path a browser could read as another host.
fn return_to(form: &HashMap<String, String>) -> Option<String> {
    let to = form.get("return_to")?;
    let ours = to.starts_with("/board") || to.starts_with("/cases/");
    let plain = to.len() < 200 && to.chars().all(|c| c.is_ascii_alphanumeric() || "/#?=&_-".contains(c));
    (ours && plain).then(|| to.clone())
}

/// A department picker for reassigning; the current department is not offered. `required` only
/// where reassigning is the form's one action: elsewhere it would block the other buttons.
pub(super) fn department_select(id: &str, departments: &[DepartmentView], current: Option<&str>, required: bool) -> Markup {
    html! {
        select id=(id) name="department_code" required[required] {
            option value="" { "（改派时选择）" }
            @for d in departments.iter().filter(|d| Some(d.code.as_str()) != current) {
                option value=(d.code) { (d.name) }
            }
        }
    }
}

/// The timeline's name of an event that is not a state-machine action.
fn timeline_label(action: &str) -> &str {
    match action {
        "open" => "立案",
        "note" => "备注",
        "merge" => "并单",
        "merged" => "并入他案",
        "close_merged" => "随主案办结",
        "co_departments" => "设置协办部门",
        other => other,
    }
}
