//! The supervisor board (督办看板): overdue cases first, escalations marked, then what waits for
//! the supervisor's decision — appeals, extension and reassignment requests, unassigned
//! complaints, replies to audit — each with its decision buttons inline. Decisions post to the
//! same case action as the case page and come back here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::cases::work::{self, CaseFilter, CaseList, CaseListItem};
use crate::clock;
use crate::domain::calendar::{local_date, unconfirmed_years};
use crate::domain::case_flow::Action;
use crate::domain::sla::ESCALATION_WORKING_DAYS;
use crate::error::AppError;
use crate::admin::master_data::{self, DepartmentView, ListFilter};
use crate::domain::access::Role;

use crate::adapters::render::short_time;
use crate::domain::moderation::Decision;
use crate::insight::disclosure::{self, HeldComment};
use super::staff::{alert_badge, check_csrf, department_select, signed_in_as, staff_header};
use super::{busy, calendar_banner, layout, message_page, page};
use std::collections::HashMap;

const ROWS_PER_SECTION: i64 = 30;

struct Board {
    overdue: CaseList,
    due_soon: CaseList,
    appeals: CaseList,
    extensions: CaseList,
    reassign_requests: CaseList,
    unassigned: CaseList,
    supervision: CaseList,
    departments: Vec<DepartmentView>,
    /// Public comments held for a listed phrase (moderation before 双公开).
    held: Vec<HeldComment>,
    held_total: i64,
    /// Years whose working-day calendar is still provisional, to say so.
    unconfirmed_years: Vec<i32>,
    /// Open integrity flags (疑似刷评), newest first.
    flags: crate::cases::integrity::FlagList,
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor], "督办看板仅供监督人员使用。").await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let who = principal.clone();
    let board = state
        .db(move |conn, state| {
            let rules = state.rules(conn)?;
            let now = clock::now();
            let mut list = |filter: CaseFilter| {
                work::list_cases(conn, &who, &CaseFilter { limit: Some(ROWS_PER_SECTION), ..filter }, now, &rules)
            };
            let board = Board {
                overdue: list(CaseFilter { alert: Some("overdue".into()), ..CaseFilter::default() })?,
                due_soon: list(CaseFilter { alert: Some("due_soon".into()), ..CaseFilter::default() })?,
                appeals: list(CaseFilter { state: Some("appeal".into()), ..CaseFilter::default() })?,
                extensions: list(CaseFilter { extension: Some("requested".into()), ..CaseFilter::default() })?,
                reassign_requests: list(CaseFilter { reassign_requested: Some(true), ..CaseFilter::default() })?,
                unassigned: list(CaseFilter { department: Some("unassigned".into()), ..CaseFilter::default() })?,
                supervision: list(CaseFilter { state: Some("supervision".into()), ..CaseFilter::default() })?,
                departments: vec![],
                held: vec![],
                held_total: 0,
                unconfirmed_years: vec![],
                flags: crate::cases::integrity::list(
                    conn,
                    &crate::cases::integrity::FlagFilter { status: Some(crate::domain::integrity::FlagStatus::Open), kind: None, page: 1, per_page: ROWS_PER_SECTION },
                )?,
            };
            let unconfirmed_years = unconfirmed_years(&rules.calendar, local_date(now));
            let held = disclosure::held_comments(conn, &rules.held_phrases, ROWS_PER_SECTION)?;
            let held_total = disclosure::held_count(conn)?;
            Ok::<_, AppError>(Board { departments: master_data::list_departments(conn, &ListFilter::default())?, held, unconfirmed_years, held_total, ..board })
        })
        .await;
    let emerging = super::topics::board_section(&state).await;
    // 检索: the search form, and its hits when it was sent.
    let search = super::search::section("/board", &super::search::panel(&state, &query).await, &[]);
    match board {
        Ok(board) => page(StatusCode::OK, board_page(&board, &emerging, &search, &principal, &state.cookies.csrf(&token))),
        Err(e) => busy(&e),
    }
}

fn board_page(b: &Board, emerging: &Markup, search: &Markup, principal: &Principal, csrf: &str) -> Markup {
    let escalated = b.overdue.items.iter().filter(|c| c.overdue_days > ESCALATION_WORKING_DAYS).count();
    let tiles = [
        ("超期", b.overdue.total, "red", "#overdue"),
        ("督办（超期3个工作日以上）", escalated as i64, "red", "#overdue"),
        ("即将到期", b.due_soon.total, "yellow", "/cases?alert=due_soon"),
        ("申诉待裁决", b.appeals.total, "neutral", "#appeals"),
        ("延期待审批", b.extensions.total, "neutral", "#extensions"),
        ("改派申请", b.reassign_requests.total, "neutral", "#reassign"),
        ("待分派", b.unassigned.total, "neutral", "#unassigned"),
        ("答复待审核", b.supervision.total, "neutral", "#supervision"),
        ("评论待审核", b.held_total, "neutral", "#held"),
        ("疑似刷评", b.flags.total, if b.flags.total > 0 { "red" } else { "neutral" }, "#integrity"),
    ];
    let body = html! {
        (staff_header(principal, csrf))
        h1 { "督办看板" }
        (calendar_banner(&b.unconfirmed_years, false))
        ul.tiles {
            @for (label, n, tone, href) in tiles {
                li { a class={ "tile " (tone) } href=(href) { span.n { (n) } span { (label) } } }
            }
        }
        (search)
        div.dashboard {
        section #overdue {
            h2 { "超期案件（" (b.overdue.total) "）" }
            p.muted { "按超期时间排序，最久的在前；超期3个工作日以上为督办。" }
            @if b.overdue.items.is_empty() { p.card { "没有超期案件。" } }
            @for c in &b.overdue.items { (case_row(c, c.overdue_days > ESCALATION_WORKING_DAYS)) }
            (see_all(&b.overdue, "/cases?alert=overdue"))
        }
        // 新出现的问题: emerging-issue alerts on the topics (`web::topics`).
        (emerging)
        section #appeals {
            h2 { "申诉待裁决（" (b.appeals.total) "）" }
            @if b.appeals.items.is_empty() { p.card { "没有待裁决的申诉。" } }
            @for c in &b.appeals.items {
                (decision(c, csrf, &[Action::UpholdAppeal, Action::DismissAppeal], "裁决意见（选填）", None))
            }
            (see_all(&b.appeals, "/cases?state=appeal"))
        }
        section #extensions {
            h2 { "延期申请（" (b.extensions.total) "）" }
            @if b.extensions.items.is_empty() { p.card { "没有待审批的延期申请。" } }
            @for c in &b.extensions.items {
                (decision(c, csrf, &[Action::GrantExtension, Action::DenyExtension], "审批意见（选填）", None))
            }
            (see_all(&b.extensions, "/cases?extension=requested"))
        }
        section #reassign {
            h2 { "改派申请（" (b.reassign_requests.total) "）" }
            @if b.reassign_requests.items.is_empty() { p.card { "没有改派申请。" } }
            @for c in &b.reassign_requests.items {
                (decision(c, csrf, &[Action::Reassign], "改派说明（选填）", Some(&b.departments)))
            }
            (see_all(&b.reassign_requests, "/cases?reassign_requested=true"))
        }
        section #unassigned {
            h2 { "待分派投诉（" (b.unassigned.total) "）" }
            @if b.unassigned.items.is_empty() { p.card { "没有待分派的投诉。" } }
            @for c in &b.unassigned.items {
                (decision(c, csrf, &[Action::Reassign], "分派说明（选填）", Some(&b.departments)))
            }
            (see_all(&b.unassigned, "/cases?department=unassigned"))
        }
        section #supervision {
            h2 { "答复待审核（" (b.supervision.total) "）" }
            p.muted { "请打开案件阅读答复后审核通过或退回。" }
            @if b.supervision.items.is_empty() { p.card { "没有待审核的答复。" } }
            @for c in &b.supervision.items { (case_row(c, false)) }
            (see_all(&b.supervision, "/cases?state=supervision"))
        }
        section #held {
            h2 { "评论待审核（" (b.held_total) "）" }
            p.muted { "含敏感词的公开评论，审核后才在公开页展示；电话、身份证号、门牌号已隐去。" }
            @if b.held.is_empty() { p.card { "没有待审核的评论。" } }
            @for h in &b.held { (held_comment(h, csrf)) }
        }
        section #integrity {
            h2 { "疑似刷评（" (b.flags.total) "）" }
            p.muted { "评价照常保存并计入统计；请核查后排除或确认，结论记入审计日志。" }
            @if b.flags.items.is_empty() { p.card { "没有待核查的疑似刷评。" } }
            @for f in &b.flags.items { (super::integrity::flag_card(f, csrf, "/board#integrity")) }
            @if b.flags.total > b.flags.items.len() as i64 { a.more href="/board/integrity" { "查看全部 " (b.flags.total) " 条" } }
            @else { a.more href="/board/integrity?status=all" { "查看已核查的记录" } }
        }
        }
    };
    layout("督办看板", body)
}

/// Under a section that shows only its first rows: the link to all of them in the inbox, where
/// they page.
fn see_all(list: &CaseList, href: &str) -> Markup {
    html! {
        @if list.total > list.items.len() as i64 {
            a.more href=(href) { "查看全部 " (list.total) " 件" }
        }
    }
}

fn case_row(c: &CaseListItem, escalated: bool) -> Markup {
    html! {
        a.case-row.card href={ "/cases/" (c.id) } {
            div {
                strong { "#" (c.id) " " (c.state_label) } " " (alert_badge(c.alert.as_deref(), c.overdue_days))
                @if escalated { " " span.badge.red { "督办" } }
                @if !c.reply_warnings.is_empty() { " " span.badge.red.reply-flag { "答复有提示" } }
            }
            div { (c.summary) }
            @if !c.reply_warnings.is_empty() {
                div.muted { @for (i, w) in c.reply_warnings.iter().enumerate() { @if i > 0 { "；" } (w.message) } }
            }
            div.muted { (c.department_name.as_deref().unwrap_or("待分派")) " · " (crate::insight::stats::channel_label(&c.source)) " · 到期 " (c.due_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())) }
        }
    }
}

/// A held public comment with its two decisions.
fn held_comment(h: &HeldComment, csrf: &str) -> Markup {
    let note_id = format!("moderation-note-{}", h.review_id);
    html! {
        div.card id={ "review-" (h.review_id) } {
            div { strong { (h.stars) " 星 · " (h.department) } " · " (h.service_item) }
            blockquote { (h.comment) }
            @if let Some(phrase) = &h.phrase { div.muted { "命中：" (phrase) " · 评价于 " (short_time(&h.rated_at)) } }
            form method="post" action={ "/board/reviews/" (h.review_id) "/moderation" } {
                input type="hidden" name="csrf" value=(csrf);
                label for=(note_id) { "审核说明（选填）" }
                input id=(note_id) name="note" maxlength="500";
                div.actions {
                    button type="submit" name="decision" value=(Decision::Publish.as_str()) { "公开" }
                    button type="submit" name="decision" value=(Decision::KeepPrivate.as_str()) { "不公开" }
                }
            }
        }
    }
}

/// A supervisor's decision on a held comment, from the board; back to the board.
pub async fn moderate(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor], "评论审核仅供监督人员使用。").await {
        Ok(p) => p,
        Err(away) => return away,
    };
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let Some(decision) = form.get("decision").and_then(|d| Decision::parse(d)) else {
        return message_page(StatusCode::UNPROCESSABLE_ENTITY, "请选择审核结果", "请选择“公开”或“不公开”。");
    };
    let note = form.get("note").map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return message_page(StatusCode::UNPROCESSABLE_ENTITY, "说明过长", "审核说明最多 500 字。");
    }
    let (actor, id) = (principal.actor_label(), id.into_inner());
    match state.db(move |conn, _| disclosure::decide(conn, id, decision, &actor, note.as_deref(), clock::now())).await {
        Ok(_) => HttpResponse::SeeOther().insert_header(("Location", "/board#held")).finish(),
        Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "未找到评论", "该评论不存在。"),
        Err(AppError::Conflict { .. }) => message_page(StatusCode::CONFLICT, "已审核", "该评论已有审核结果，请返回看板刷新。"),
        Err(e) => busy(&e),
    }
}

/// A case with its decision buttons; a reassignment also picks the department.
fn decision(c: &CaseListItem, csrf: &str, actions: &[Action], note_label: &str, departments: Option<&[DepartmentView]>) -> Markup {
    let note_id = format!("note-{}", c.id);
    let dept_id = format!("dept-{}", c.id);
    html! {
        div.card {
            a href={ "/cases/" (c.id) } { strong { "#" (c.id) " " (c.state_label) } }
            " " (alert_badge(c.alert.as_deref(), c.overdue_days))
            div { (c.summary) }
            div.muted { (c.department_name.as_deref().unwrap_or("待分派")) " · " (crate::insight::stats::channel_label(&c.source)) " · 立案 " (short_time(&c.opened_at)) }
            form method="post" action={ "/cases/" (c.id) "/act" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="return_to" value={ "/board#" (c.id) };
                @if let Some(departments) = departments {
                    p { label for=(dept_id) { "改派至 " } (department_select(&dept_id, departments, c.department_code.as_deref(), true)) }
                }
                label for=(note_id) { (note_label) }
                input id=(note_id) name="note" maxlength="2000";
                div.actions {
                    @for a in actions { button type="submit" name="action" value=(a.as_str()) { (a.label()) } }
                }
            }
        }
    }
}
