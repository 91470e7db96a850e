//! Admin pages (系统管理): master data (departments, service items, windows, staff, 三对应
//! assignments), users, integration keys, webhook subscriptions, SLA policies and the
//! working-day calendar. Each page
//! lists what exists and has a form to add; the forms call the same use cases as the API.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use maud::{html, Markup};

use crate::admin::accounts::{self, NewUserSpec, UserPatch};
use crate::domain::access::Principal;
use crate::interfaces::app::AppState;
use crate::admin::rules;
use crate::clock;
use crate::domain::calendar::{local_date, start_of_local_day};
use crate::domain::calendar::{unconfirmed_years, YearCalendar, YearStatus};
use crate::domain::sla::SlaPolicy;
use crate::domain::tag_sets::GradeBand;
use crate::error::{AppError, AppResult};
use crate::admin::master_data::{self, AssignmentSpec, DepartmentPatch, ListFilter, ServiceItemPatch, StaffPatch, WindowPatch};
use crate::domain::access::Role;
use crate::domain::webhook_events::WebhookEvent;
use crate::admin::webhooks;
use crate::storage::Conn;

use crate::adapters::render::short_time;
use super::staff::{check_csrf, signed_in_as, staff_header};
use super::{busy, calendar_banner, layout, message_page, page, see_other};

const SECTIONS: &[(&str, &str)] = &[
    ("departments", "部门"),
    ("items", "服务事项"),
    ("windows", "窗口"),
    ("staff", "工作人员"),
    ("assignments", "三对应"),
    ("users", "用户"),
    ("keys", "接口密钥"),
    ("webhooks", "推送与投递"),
    ("tags", "评价标签"),
    ("sla", "时限规则"),
    ("calendar", "工作日历"),
];

async fn admin(state: &web::Data<AppState>, req: &HttpRequest) -> Result<(Principal, String), HttpResponse> {
    signed_in_as(state, req, &[Role::Admin], "系统管理仅供管理员使用。").await
}

fn section_title(section: &str) -> Option<&'static str> {
    SECTIONS.iter().find(|(s, _)| *s == section).map(|(_, t)| *t)
}

pub async fn index() -> HttpResponse {
    see_other("/admin/departments")
}

/// What a section page shows: its table and its form, with any message from the last post.
struct Notice<'a> {
    error: Option<String>,
    success: Option<String>,
    values: &'a HashMap<String, String>,
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest, section: web::Path<String>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match admin(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let section = section.into_inner();
    let saved = query.get("saved").map(|_| "已保存。".to_owned());
    render(&state, &principal, &token, &section, Notice { error: None, success: saved, values: &query.into_inner() }, StatusCode::OK).await
}

async fn render(state: &web::Data<AppState>, principal: &Principal, token: &str, section: &str, notice: Notice<'_>, status: StatusCode) -> HttpResponse {
    let Some(title) = section_title(section) else { return message_page(StatusCode::NOT_FOUND, "未找到", "没有这个管理页面。") };
    let csrf = state.cookies.csrf(token);
    let owned_section = section.to_owned();
    let year = notice.values.get("year").and_then(|y| y.parse::<i32>().ok()).unwrap_or_else(|| local_date(clock::now()).year());
    let content = state
        .db(move |conn, state| {
            let unconfirmed = unconfirmed_years(&state.rules(conn)?.calendar, local_date(clock::now()));
            Ok((section_content(conn, state, &owned_section, year)?, unconfirmed))
        })
        .await;
    let (content, unconfirmed) = match content {
        Ok(c) => c,
        Err(e) => return busy(&e),
    };
    let body = html! {
        (staff_header(principal, &csrf))
        h1 { "系统管理 · " (title) }
        (calendar_banner(&unconfirmed, true))
        nav.card.subnav aria-label="管理分类" {
            @for (s, t) in SECTIONS {
                @if *s == section { strong aria-current="page" { (t) } } @else { a href={ "/admin/" (s) } { (t) } }
                " "
            }
        }
        @if let Some(e) = &notice.error { div.error role="alert" { (e) } }
        @if let Some(s) = &notice.success { div.notice role="status" { (s) } }
        (content.form(&csrf, notice.values))
        (content.table(&csrf))
    };
    page(status, layout(&format!("系统管理 · {title}"), body))
}

/// The data a section page needs, loaded in one go.
enum Content {
    Departments(Vec<master_data::DepartmentView>),
    Items(Vec<master_data::ServiceItemView>, Vec<master_data::DepartmentView>),
    Windows(Vec<master_data::WindowView>),
    Staff(Vec<master_data::StaffView>, Vec<master_data::DepartmentView>),
    Assignments(Vec<master_data::AssignmentView>, Vec<master_data::WindowView>, Vec<master_data::StaffView>, Vec<master_data::ServiceItemView>),
    Users(Vec<accounts::UserListItem>, Vec<master_data::DepartmentView>),
    Keys(Vec<accounts::ApiKeyListItem>),
    /// The subscriptions, the dead letters of all of them, and the mails that used up their attempts.
    Webhooks(Vec<webhooks::WebhookItem>, Vec<(i64, webhooks::DeliveryItem)>, Vec<crate::admin::mail_outbox::DeadMail>),
    Sla(Vec<rules::SlaPolicyView>),
    /// Every version of every band's tag set.
    Tags(Vec<rules::TagSetView>),
    Calendar(YearCalendar, YearStatus),
}

fn section_content(conn: &mut Conn, state: &AppState, section: &str, year: i32) -> AppResult<Content> {
    Ok(match section {
        "departments" => Content::Departments(master_data::list_departments(conn, &ListFilter::default())?),
        "items" => Content::Items(master_data::list_service_items(conn, &ListFilter::default())?, master_data::list_departments(conn, &ListFilter::default())?),
        "windows" => Content::Windows(master_data::list_windows(conn, &ListFilter::default())?),
        "staff" => Content::Staff(master_data::list_staff(conn, &ListFilter::default())?, master_data::list_departments(conn, &ListFilter::default())?),
        "assignments" => Content::Assignments(
            master_data::list_assignments(conn, &master_data::AssignmentFilter::default())?,
            master_data::list_windows(conn, &ListFilter::default())?,
            master_data::list_staff(conn, &ListFilter::default())?,
            master_data::list_service_items(conn, &ListFilter::default())?,
        ),
        "users" => Content::Users(accounts::list_users(conn)?, master_data::list_departments(conn, &ListFilter::default())?),
        "keys" => Content::Keys(accounts::list_api_keys(conn)?),
        "webhooks" => Content::Webhooks(webhooks::list(conn)?, webhooks::dead_letters(conn, 200)?, crate::admin::mail_outbox::dead_mails(conn, 200)?),
        "tags" => Content::Tags(rules::tag_sets(conn, true)?),
        "sla" => {
            let rules = state.rules.reload(conn)?;
            Content::Sla(rules::sla_policies_in_force(conn, &rules)?)
        }
        "calendar" => {
            let (days, status) = rules::load_year(conn, year.clamp(2000, 2100))?;
            Content::Calendar(days, status)
        }
        _ => return Err(AppError::NotFound(section.to_owned())),
    })
}

fn text_field(id: &str, label: &str, values: &HashMap<String, String>, required: bool, kind: &str) -> Markup {
    html! {
        p {
            label for=(id) { (label) @if required { " *" } }
            br;
            input id=(id) name=(id) type=(kind) value=[values.get(id).filter(|_| kind != "password")] required[required] maxlength="200";
        }
    }
}

fn select_field(id: &str, label: &str, options: &[(String, String)], values: &HashMap<String, String>, required: bool) -> Markup {
    html! {
        p {
            label for=(id) { (label) @if required { " *" } }
            br;
            select id=(id) name=(id) required[required] {
                option value="" { "请选择" }
                @for (value, text) in options { option value=(value) selected[values.get(id) == Some(value)] { (text) } }
            }
        }
    }
}

fn department_options(departments: &[master_data::DepartmentView]) -> Vec<(String, String)> {
    departments.iter().map(|d| (d.code.clone(), format!("{} {}", d.code, d.name))).collect()
}

fn add_form(csrf: &str, title: &str, fields: Markup) -> Markup {
    html! {
        form.card method="post" {
            h2 { (title) }
            input type="hidden" name="csrf" value=(csrf);
            (fields)
            button type="submit" { "保存" }
        }
    }
}

fn role_label(role: &str) -> &str {
    match role {
        "admin" => "管理员",
        "supervisor" => "监督人员",
        "department" => "部门工作人员",
        other => other,
    }
}

impl Content {
    fn form(&self, csrf: &str, v: &HashMap<String, String>) -> Markup {
        match self {
            Content::Departments(all) => add_form(csrf, "新增部门", html! {
                (text_field("code", "部门编码", v, true, "text"))
                (text_field("name", "部门名称", v, true, "text"))
                (select_field("parent_code", "上级部门", &department_options(all), v, false))
                (text_field("email", "通知邮箱", v, false, "email"))
            }),
            Content::Items(_, depts) => add_form(csrf, "新增服务事项", html! {
                (text_field("code", "事项编码", v, true, "text"))
                (text_field("name", "事项名称", v, true, "text"))
                (select_field("department_code", "实施部门", &department_options(depts), v, true))
            }),
            Content::Windows(_) => add_form(csrf, "新增窗口", html! {
                (text_field("code", "窗口编码", v, true, "text"))
                (text_field("name", "窗口名称", v, true, "text"))
                (text_field("hall", "所在大厅", v, true, "text"))
            }),
            Content::Staff(_, depts) => add_form(csrf, "新增工作人员", html! {
                (text_field("staff_no", "工号", v, true, "text"))
                (text_field("name", "姓名", v, true, "text"))
                (select_field("department_code", "所属部门", &department_options(depts), v, true))
            }),
            Content::Assignments(_, windows, staff, items) => add_form(csrf, "新增三对应（窗口—人员—事项）", html! {
                (select_field("window_code", "窗口", &windows.iter().map(|w| (w.code.clone(), format!("{} {}", w.code, w.name))).collect::<Vec<_>>(), v, true))
                (select_field("staff_no", "工作人员", &staff.iter().map(|s| (s.staff_no.clone(), format!("{} {}", s.staff_no, s.name))).collect::<Vec<_>>(), v, true))
                fieldset {
                    legend { "办理事项 *" }
                    @for (i, item) in items.iter().enumerate() {
                        label.check { input type="checkbox" name={ "item_" (i) } value=(item.code) checked[v.values().any(|x| x == &item.code)]; " " (item.code) " " (item.name) }
                    }
                }
                (text_field("effective_from", "生效日期", v, true, "date"))
                (text_field("effective_to", "失效日期（不含）", v, false, "date"))
            }),
            Content::Users(_, depts) => add_form(csrf, "新增用户", html! {
                (text_field("username", "用户名", v, true, "text"))
                (text_field("password", "初始密码（至少8位）", v, true, "password"))
                (select_field("role", "角色", &[("department".into(), "部门工作人员".into()), ("supervisor".into(), "监督人员".into()), ("admin".into(), "管理员".into())], v, true))
                (select_field("department_code", "所属部门（部门工作人员必填）", &department_options(depts), v, false))
                (text_field("email", "邮箱", v, false, "email"))
            }),
            Content::Keys(_) => add_form(csrf, "新增接口密钥（业务系统、12345热线）", html! {
                (text_field("name", "用途名称", v, true, "text"))
            }),
            Content::Webhooks(..) => add_form(csrf, "新增推送订阅（12345热线、业务系统接收案件动态）", html! {
                (text_field("url", "接收地址（https://…）", v, true, "url"))
                fieldset {
                    legend { "订阅的事件 *" }
                    @for event in WebhookEvent::ALL {
                        label.check {
                            input type="checkbox" name={ "event_" (event.as_str()) } value=(event.as_str()) checked[v.contains_key(&format!("event_{}", event.as_str()))];
                            " " (event_label(*event)) " " code { (event.as_str()) }
                        }
                    }
                }
                (text_field("description", "说明", v, false, "text"))
            }),
            Content::Sla(_) => html! {},
            Content::Tags(sets) => html! {
                @for band in GradeBand::ALL {
                    @let current = sets.iter().find(|s| s.band == band.as_str() && s.current);
                    form.card method="post" {
                        h2 { (band.label()) @if let Some(c) = current { " " span.muted { "第 " (c.version) " 版" } } }
                        p.muted { "每行一个标签。保存后成为新版本：此后的评价只能选择新版本的标签，此前的评价保留原版本。" }
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="band" value=(band.as_str());
                        @let id = format!("tags-{}", band.as_str());
                        p {
                            label for=(id) { (band.label()) "的标签" }
                            textarea id=(id) name="tags" rows="6" { @if let Some(c) = current { (c.tags.join("\n")) } }
                        }
                        button type="submit" { "保存为新版本" }
                    }
                }
            },
            Content::Calendar(y, status) => html! {
                form.card method="get" {
                    label for="year" { "年份 " }
                    input #year type="number" name="year" min="2000" max="2100" value=(y.year);
                    " " button.secondary type="submit" { "查看" }
                }
                form.card method="post" {
                    h2 { (y.year) " 年工作日历 " span.muted { @if *status == YearStatus::Official { "（已按通知录入）" } @else { "（暂定）" } } }
                    @if *status == YearStatus::Provisional {
                        p { "暂定日历按《全国年节及纪念日放假办法》的法定节假日推算（周末遇节日顺延至下一工作日），没有调休上班日。请按国务院办公厅的放假通知核对、补全后保存，保存即为正式日历。" }
                    }
                    p.muted { "每行一个日期（YYYY-MM-DD）。保存后，所有未结案件的期限按新日历重新计算。" }
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="year" value=(y.year);
                    p { label for="holidays" { "法定节假日（工作日放假）" } textarea #holidays name="holidays" rows="8" { (dates(&y.holidays)) } }
                    p { label for="workdays" { "调休上班日（周末上班）" } textarea #workdays name="workdays" rows="4" { (dates(&y.workdays)) } }
                    button type="submit" { "保存日历" }
                }
            },
        }
    }

    fn table(&self, csrf: &str) -> Markup {
        match self {
            Content::Departments(rows) => master_table(
                csrf,
                "departments",
                &["编码", "名称", "上级", "通知邮箱"],
                rows.iter().map(|d| (vec![d.code.clone(), d.name.clone(), d.parent_code.clone().unwrap_or_default(), d.email.clone().unwrap_or_default()], d.active)),
            ),
            Content::Items(rows, _) => {
                master_table(csrf, "items", &["编码", "名称", "部门"], rows.iter().map(|i| (vec![i.code.clone(), i.name.clone(), i.department_code.clone()], i.active)))
            }
            Content::Windows(rows) => master_table(csrf, "windows", &["编码", "名称", "大厅"], rows.iter().map(|w| (vec![w.code.clone(), w.name.clone(), w.hall.clone()], w.active))),
            Content::Staff(rows, _) => {
                master_table(csrf, "staff", &["工号", "姓名", "部门"], rows.iter().map(|s| (vec![s.staff_no.clone(), s.name.clone(), s.department_code.clone()], s.active)))
            }
            Content::Assignments(rows, windows, staff, _) => assignment_history(csrf, rows, windows, staff),
            Content::Users(rows, _) => master_table(
                csrf,
                "users",
                &["用户名", "角色", "部门", "邮箱"],
                rows.iter().map(|u| (vec![u.username.clone(), role_label(&u.role).to_owned(), u.department_code.clone().unwrap_or_default(), u.email.clone().unwrap_or_default()], u.active)),
            ),
            Content::Keys(rows) => html! {
                div.card.table-wrap {
                    table {
                        thead { tr { th scope="col" { "名称" } th scope="col" { "前缀" } th scope="col" { "创建" } th scope="col" { "状态" } } }
                        tbody {
                            @for k in rows {
                                tr {
                                    td { (k.name) } td { code { (k.prefix) "…" } } td { (short_time(&k.created_at)) }
                                    td {
                                        @if let Some(r) = &k.revoked_at { "已于 " (short_time(r)) " 停用" } @else {
                                            form.inline method="post" action={ "/admin/keys/" (k.id) "/revoke" } {
                                                input type="hidden" name="csrf" value=(csrf);
                                                button.link type="submit" aria-label={ "停用密钥 " (k.name) } { "停用" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
            Content::Webhooks(hooks, dead, dead_mails) => html! {
                div.card.table-wrap {
                    h2 { "订阅" }
                    table {
                        thead { tr { th scope="col" { "接收地址" } th scope="col" { "事件" } th scope="col" { "已送达" } th scope="col" { "待投递" } th scope="col" { "死信" } th scope="col" { "操作" } } }
                        tbody {
                            @for h in hooks {
                                tr {
                                    td { code { (h.url) } @if let Some(d) = &h.description { br; span.muted { (d) } } }
                                    td { (h.events.iter().filter_map(|e| WebhookEvent::parse(e)).map(event_label).collect::<Vec<_>>().join("、")) }
                                    td { (h.delivered) } td { (h.pending) } td { (h.dead) }
                                    td {
                                        form.inline method="post" action={ "/admin/webhooks/" (h.id) "/delete" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button.link type="submit" aria-label={ "删除订阅 " (h.url) } { "删除" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                (dead_letter_table(csrf, "邮件死信（重试用尽仍未发出）", "没有未发出的邮件。", "主题", dead_mails.iter().map(|m| DeadRow {
                    what: html! { (m.subject) },
                    case_id: m.case_id,
                    attempts: m.attempts,
                    last_error: m.last_error.as_deref(),
                    dead_at: &m.dead_at,
                    retry_action: format!("/admin/mail/{}/retry", m.id),
                    button: "重新发送",
                    aria: format!("重新发送邮件 {}", m.id),
                })))
                (dead_letter_table(csrf, "推送死信（重试用尽仍未送达）", "没有死信。", "事件", dead.iter().map(|(hook, d)| DeadRow {
                    what: html! { (WebhookEvent::parse(&d.event).map(event_label).unwrap_or("")) br; code { (d.delivery_id) } },
                    case_id: d.case_id,
                    attempts: d.attempts,
                    last_error: d.last_error.as_deref(),
                    dead_at: d.dead_at.as_deref().unwrap_or(""),
                    retry_action: format!("/admin/webhooks/{hook}/deliveries/{}/redeliver", d.id),
                    button: "重新投递",
                    aria: format!("重新投递 {}", d.delivery_id),
                })))
            },
            Content::Tags(sets) => html! {
                div.card.table-wrap {
                    h2 { "历史版本" }
                    table {
                        thead { tr { th scope="col" { "等级" } th scope="col" { "版本" } th scope="col" { "标签" } } }
                        tbody {
                            @for set in sets.iter().rev() {
                                tr {
                                    td { (GradeBand::parse(&set.band).map(GradeBand::label).unwrap_or("")) }
                                    td { "第 " (set.version) " 版" @if set.current { "（现行）" } }
                                    td { (set.tags.join("、")) }
                                }
                            }
                        }
                    }
                }
            },
            Content::Sla(rows) => html! {
                @for p in rows {
                    form.card method="post" {
                        h2 { (crate::insight::stats::channel_label(&p.source)) @if p.is_default { " " span.muted { "（默认规则）" } } }
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="source" value=(p.source);
                        div.grid4 {
                            (day_field(&p.source, "feedback_days", "核实期限（工作日）", p.policy.feedback_days))
                            (day_field(&p.source, "reply_days", "答复期限", p.policy.reply_days))
                            (day_field(&p.source, "extended_reply_days", "延期后答复期限", p.policy.extended_reply_days))
                            (day_field(&p.source, "supervision_days", "审核期限", p.policy.supervision_days))
                        }
                        button type="submit" { "保存" }
                    }
                }
            },
            Content::Calendar(..) => html! {},
        }
    }
}

fn day_field(source: &str, name: &str, label: &str, value: u32) -> Markup {
    let id = format!("{source}-{name}");
    html! { p { label for=(id) { (label) } br; input id=(id) name=(name) type="number" min="1" max="60" value=(value) required; } }
}

fn dates(days: &[NaiveDate]) -> String {
    days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
}

/// A master-data or user table: its first cell is the row's code or username; the last column
/// says whether it is in service, with the button that stops or resumes it (history stays).
fn master_table(csrf: &str, section: &str, headers: &[&str], rows: impl Iterator<Item = (Vec<String>, bool)>) -> Markup {
    let rows: Vec<(Vec<String>, bool)> = rows.collect();
    html! {
        div.card.table-wrap {
            @if rows.is_empty() { p { "暂无记录。" } } @else {
                table {
                    thead { tr { @for h in headers { th scope="col" { (h) } } th scope="col" { "状态" } } }
                    tbody {
                        @for (cells, active) in &rows {
                            @let code = cells.first().cloned().unwrap_or_default();
                            tr.inactive[!*active] {
                                @for c in cells { td { (c) } }
                                td {
                                    (if *active { "在用" } else { "已停用" }) " "
                                    form.inline method="post" action={ "/admin/" (section) } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="target" value=(code);
                                        input type="hidden" name="set_active" value=(if *active { "false" } else { "true" });
                                        button.link type="submit" aria-label={ (if *active { "停用 " } else { "启用 " }) (code) } { (if *active { "停用" } else { "启用" }) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 三对应 by window: each window's assignments, newest first; one that still holds can be
/// ended, or handed to someone else from a day on (end the old, start the new, in one step).
fn assignment_history(csrf: &str, rows: &[master_data::AssignmentView], windows: &[master_data::WindowView], staff: &[master_data::StaffView]) -> Markup {
    let now = clock::now();
    let still_holds = |a: &master_data::AssignmentView| {
        a.effective_to.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_none_or(|t| t > now)
    };
    // The page works in days: an assignment made here starts and ends at local midnight.
    let day = |t: &str| t.chars().take(10).collect::<String>();
    let today = local_date(now).format("%Y-%m-%d").to_string();
    let staff_options: Vec<(String, String)> = staff.iter().filter(|s| s.active).map(|s| (s.staff_no.clone(), format!("{} {}", s.staff_no, s.name))).collect();
    html! {
        @if rows.is_empty() { div.card { p { "暂无三对应记录。" } } }
        @for w in windows.iter().filter(|w| rows.iter().any(|a| a.window_code == w.code)) {
            section.card aria-labelledby={ "window-" (w.code) } {
                h2 id={ "window-" (w.code) } { (w.code) " " (w.name) @if !w.active { " " span.muted { "（已停用）" } } }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "工作人员" } th scope="col" { "事项" } th scope="col" { "生效" } th scope="col" { "失效（不含）" } } }
                        tbody {
                            @for a in rows.iter().filter(|a| a.window_code == w.code) {
                                tr {
                                    td { (a.staff_no) " " (a.staff_name) }
                                    td { (a.service_item_codes.join("、")) }
                                    td { (day(&a.effective_from)) }
                                    td { (a.effective_to.as_deref().map(day).unwrap_or_else(|| "长期".into())) }
                                }
                            }
                        }
                    }
                }
                @for a in rows.iter().filter(|a| a.window_code == w.code && still_holds(a)) {
                    div.adjust {
                        h3 { "调整：" (a.staff_no) " " (a.staff_name) "（" (a.service_item_codes.join("、")) "）" }
                        form.inline method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="assignment_id" value=(a.id);
                            label for={ "replace-staff-" (a.id) } { "改由 " }
                            select id={ "replace-staff-" (a.id) } name="replace_staff_no" required {
                                option value="" { "请选择" }
                                @for (value, text) in &staff_options { @if *value != a.staff_no { option value=(value) { (text) } } }
                            }
                            " " label for={ "replace-from-" (a.id) } { "自 " }
                            input id={ "replace-from-" (a.id) } type="date" name="replace_from" value=(today) required;
                            " " button.secondary type="submit" { "更换人员" }
                        }
                        form.inline method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="assignment_id" value=(a.id);
                            label for={ "end-on-" (a.id) } { "或自 " }
                            input id={ "end-on-" (a.id) } type="date" name="end_on" value=(today) required;
                            " " button.link type="submit" { "结束此安排" }
                        }
                    }
                }
            }
        }
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    form.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn required<'a>(form: &'a HashMap<String, String>, name: &'static str) -> AppResult<&'a str> {
    field(form, name).ok_or_else(|| AppError::invalid(name, "必填"))
}

fn local_day_start(form: &HashMap<String, String>, name: &'static str) -> AppResult<Option<DateTime<Utc>>> {
    let Some(value) = field(form, name) else { return Ok(None) };
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| AppError::invalid(name, "日期格式应为 YYYY-MM-DD"))?;
    Ok(Some(start_of_local_day(day)))
}

fn parse_dates(text: &str, field: &'static str) -> AppResult<Vec<NaiveDate>> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '，')
        .filter(|s| !s.is_empty())
        .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| AppError::invalid(field, format!("无法识别的日期 {s}"))))
        .collect()
}

/// Runs one section's create (or save) with the form's values; returns a message for the page.
fn apply(conn: &mut Conn, state: &AppState, actor: &str, section: &str, form: &HashMap<String, String>) -> AppResult<String> {
    let now = clock::now();
    // A row's 停用/启用 button: the same use cases as `PATCH … {"active"}`.
    if let (Some(target), Some(set_active)) = (field(form, "target"), field(form, "set_active")) {
        let active = set_active == "true";
        let name = match section {
            "departments" => master_data::update_department(conn, actor, target, &DepartmentPatch { active: Some(active), ..Default::default() }, now)?.name,
            "items" => master_data::update_service_item(conn, actor, target, &ServiceItemPatch { active: Some(active), ..Default::default() }, now)?.name,
            "windows" => master_data::update_window(conn, actor, target, &WindowPatch { active: Some(active), ..Default::default() }, now)?.name,
            "staff" => master_data::update_staff(conn, actor, target, &StaffPatch { active: Some(active), ..Default::default() }, now)?.name,
            // A disabled user's sessions end at once (the same use case as the API's PATCH).
            "users" => accounts::update_user(conn, actor, target, &UserPatch { active: Some(active), ..Default::default() }, now)?.username,
            _ => return Err(AppError::invalid("target", "this page has no rows to stop")),
        };
        return Ok(format!("已{} {name}。", if active { "启用" } else { "停用" }));
    }
    match section {
        "departments" => {
            let d = master_data::create_department(conn, actor, required(form, "code")?, required(form, "name")?, field(form, "parent_code"), field(form, "email"), now)?;
            Ok(format!("已新增部门 {}。", d.name))
        }
        "items" => {
            let i = master_data::create_service_item(conn, actor, required(form, "code")?, required(form, "name")?, required(form, "department_code")?, now)?;
            Ok(format!("已新增事项 {}。", i.name))
        }
        "windows" => {
            let w = master_data::create_window(conn, actor, required(form, "code")?, required(form, "name")?, required(form, "hall")?, now)?;
            Ok(format!("已新增窗口 {}。", w.name))
        }
        "staff" => {
            let s = master_data::create_staff(conn, actor, required(form, "staff_no")?, required(form, "name")?, required(form, "department_code")?, now)?;
            Ok(format!("已新增工作人员 {}。", s.name))
        }
        "assignments" if field(form, "assignment_id").is_some() => {
            let id: i64 = required(form, "assignment_id")?.parse().map_err(|_| AppError::invalid("assignment_id", "应为整数"))?;
            if let Some(staff_no) = field(form, "replace_staff_no") {
                let from = local_day_start(form, "replace_from")?.ok_or_else(|| AppError::invalid("replace_from", "必填"))?;
                let new = master_data::replace_assignment(conn, actor, id, staff_no, from, now)?;
                Ok(format!("已更换：窗口 {} 自 {} 起由 {} {} 办理。", new.window_code, short_time(&new.effective_from), new.staff_no, new.staff_name))
            } else {
                let to = local_day_start(form, "end_on")?.ok_or_else(|| AppError::invalid("end_on", "必填"))?;
                let ended = master_data::end_assignment(conn, actor, id, Some(to), now)?;
                Ok(format!("已结束：窗口 {} 的 {} {} 自 {} 起不再办理。", ended.window_code, ended.staff_no, ended.staff_name, ended.effective_to.as_deref().map(short_time).unwrap_or_default()))
            }
        }
        "assignments" => {
            let mut items: Vec<(usize, String)> = form
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("item_").and_then(|i| i.parse().ok()).map(|i| (i, v.clone())))
                .collect();
            items.sort();
            let items: Vec<String> = items.into_iter().map(|(_, v)| v).collect();
            let spec = AssignmentSpec {
                window_code: required(form, "window_code")?,
                staff_no: required(form, "staff_no")?,
                service_item_codes: &items,
                effective_from: local_day_start(form, "effective_from")?.ok_or_else(|| AppError::invalid("effective_from", "必填"))?,
                effective_to: local_day_start(form, "effective_to")?,
            };
            master_data::create_assignment(conn, actor, &spec, now)?;
            Ok("已新增三对应关系。".into())
        }
        "users" => {
            let role = Role::parse(required(form, "role")?).ok_or_else(|| AppError::invalid("role", "未知角色"))?;
            let spec = NewUserSpec {
                username: required(form, "username")?,
                password: form.get("password").map(String::as_str).unwrap_or(""),
                role,
                department_code: if role == Role::Department { field(form, "department_code") } else { None },
                email: field(form, "email"),
            };
            let user = accounts::create_user_by(conn, actor, &spec, now)?;
            Ok(format!("已新增用户 {}。", user.username))
        }
        "keys" => {
            let (_, key) = accounts::create_api_key_by(conn, actor, required(form, "name")?, now)?;
            Ok(format!("密钥已生成，仅显示这一次，请立即复制保存：{key}"))
        }
        "webhooks" => {
            let events: Vec<String> = form.iter().filter(|(k, _)| k.starts_with("event_")).map(|(_, v)| v.clone()).collect();
            let (_, secret) = webhooks::create(conn, actor, required(form, "url")?, &events, field(form, "description"), now)?;
            Ok(format!("订阅已保存。签名密钥仅显示这一次，请立即复制并交给接收方：{secret}"))
        }
        "tags" => {
            let band = GradeBand::parse(required(form, "band")?).ok_or_else(|| AppError::invalid("band", "未知等级"))?;
            let tags: Vec<String> = form.get("tags").map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default();
            let set = rules::put_tag_set(conn, actor, band, &tags, now)?;
            state.rules.reload(conn)?;
            Ok(format!("已保存{}第 {} 版标签。", band.label(), set.version))
        }
        "sla" => {
            let source = required(form, "source")?;
            if !rules::sources().contains(&source) {
                return Err(AppError::invalid("source", "未知来源"));
            }
            let days = |name: &'static str| -> AppResult<u32> { required(form, name)?.parse().map_err(|_| AppError::invalid(name, "应为整数")) };
            let policy = SlaPolicy {
                feedback_days: days("feedback_days")?,
                reply_days: days("reply_days")?,
                extended_reply_days: days("extended_reply_days")?,
                supervision_days: days("supervision_days")?,
            };
            rules::set_sla_policy(conn, actor, source, &policy, now)?;
            state.rules.reload(conn)?;
            Ok(format!("{}的时限规则已保存，未结案件期限已重新计算。", crate::insight::stats::channel_label(source)))
        }
        "calendar" => {
            let year: i32 = required(form, "year")?.parse().map_err(|_| AppError::invalid("year", "应为年份"))?;
            if !(2000..=2100).contains(&year) {
                return Err(AppError::invalid("year", "年份应在 2000 到 2100 之间"));
            }
            let holidays = parse_dates(form.get("holidays").map(String::as_str).unwrap_or(""), "holidays")?;
            let workdays = parse_dates(form.get("workdays").map(String::as_str).unwrap_or(""), "workdays")?;
            rules::replace_year(conn, actor, YearCalendar { year, holidays, workdays }, now)?;
            state.rules.reload(conn)?;
            Ok(format!("{year} 年工作日历已保存，未结案件期限已重新计算。"))
        }
        other => Err(AppError::NotFound(other.to_owned())),
    }
}

fn problem_text(e: &AppError) -> String {
    match e {
        AppError::Invalid(f) => format!("填写有误（{}）：{}", f.field, f.message),
        AppError::Conflict { code: "assignment_overlap", message, .. } => format!("与该窗口已有的三对应时间重叠，请先结束原安排或改用“更换人员”：{message}"),
        AppError::Conflict { message, .. } => format!("已存在：{message}"),
        _ => "保存失败，请稍后再试。".into(),
    }
}

pub async fn submit(state: web::Data<AppState>, req: HttpRequest, section: web::Path<String>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match admin(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let section = section.into_inner();
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    if section_title(&section).is_none() {
        return message_page(StatusCode::NOT_FOUND, "未找到", "没有这个管理页面。");
    }
    let actor = principal.actor_label();
    let (owned_section, owned_form) = (section.clone(), form.clone());
    let result = state.db(move |conn, state| apply(conn, state, &actor, &owned_section, &owned_form)).await;
    match result {
        // A new key or webhook secret is shown on this response only, never again.
        Ok(message) if section == "keys" || section == "webhooks" => {
            let empty = HashMap::new();
            render(&state, &principal, &token, &section, Notice { error: None, success: Some(message), values: &empty }, StatusCode::OK).await
        }
        Ok(_) if section == "calendar" => see_other(&format!("/admin/calendar?saved=1&year={}", form.get("year").map(String::as_str).unwrap_or(""))),
        Ok(_) => see_other(&format!("/admin/{section}?saved=1")),
        Err(e) => {
            let status = if matches!(e, AppError::Invalid(_) | AppError::Conflict { .. }) { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::SERVICE_UNAVAILABLE };
            render(&state, &principal, &token, &section, Notice { error: Some(problem_text(&e)), success: None, values: &form }, status).await
        }
    }
}

pub async fn revoke_key(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match admin(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let id = id.into_inner();
    let actor = principal.actor_label();
    let revoked = state.db(move |conn, _| accounts::revoke_api_key_by(conn, &actor, id, clock::now())).await;
    state.api_keys.clear();
    match revoked {
        Ok(()) | Err(AppError::NotFound(_)) => see_other("/admin/keys?saved=1"),
        Err(e) => busy(&e),
    }
}

/// One dead letter (a mail or a webhook delivery) as the page lists it.
struct DeadRow<'a> {
    what: Markup,
    case_id: Option<i64>,
    attempts: i32,
    last_error: Option<&'a str>,
    dead_at: &'a str,
    /// Where its button posts to send it again.
    retry_action: String,
    button: &'static str,
    aria: String,
}

/// The dead letters of one channel, each with the button that sends it again.
fn dead_letter_table<'a>(csrf: &str, title: &str, none: &str, what: &str, rows: impl Iterator<Item = DeadRow<'a>>) -> Markup {
    let rows: Vec<DeadRow<'a>> = rows.collect();
    html! {
        div.card.table-wrap {
            h2 { (title) }
            @if rows.is_empty() { p.muted { (none) } } @else {
                table {
                    thead { tr { th scope="col" { (what) } th scope="col" { "案件" } th scope="col" { "尝试次数" } th scope="col" { "最后错误" } th scope="col" { "停止于" } th scope="col" { "操作" } } }
                    tbody {
                        @for row in &rows {
                            tr {
                                td { (row.what) }
                                td { @if let Some(c) = row.case_id { a href={ "/cases/" (c) } { "#" (c) } } }
                                td { (row.attempts) }
                                td { (row.last_error.unwrap_or("")) }
                                td { (short_time(row.dead_at)) }
                                td {
                                    form.inline method="post" action=(row.retry_action) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.link type="submit" aria-label=(row.aria) { (row.button) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn event_label(event: WebhookEvent) -> &'static str {
    match event {
        WebhookEvent::CaseOpened => "新案件",
        WebhookEvent::CaseStateChanged => "状态变化",
        WebhookEvent::CaseReplied => "答复（审核通过）",
        WebhookEvent::CaseClosed => "办结",
        WebhookEvent::CaseAlert => "预警与督办",
        WebhookEvent::ComplaintMerged => "并单",
    }
}

/// 删除 on a subscription: nothing more is sent to it.
pub async fn delete_webhook(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    webhook_action(state, req, form, move |conn, actor| webhooks::delete(conn, actor, id.into_inner(), clock::now())).await
}

/// 重新发送 on a dead mail.
pub async fn retry_mail(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let id = id.into_inner();
    webhook_action(state, req, form, move |conn, actor| crate::admin::mail_outbox::retry_mail(conn, actor, id, clock::now())).await
}

/// 重新投递 on a dead letter.
pub async fn redeliver_webhook(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(i64, i64)>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (hook, delivery) = path.into_inner();
    webhook_action(state, req, form, move |conn, actor| webhooks::redeliver(conn, actor, hook, delivery, clock::now())).await
}

async fn webhook_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    action: impl FnOnce(&mut Conn, &str) -> AppResult<()> + Send + 'static,
) -> HttpResponse {
    let (principal, token) = match admin(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let actor = principal.actor_label();
    match state.db(move |conn, _| action(conn, &actor)).await {
        // Already gone or already redelivered (a second click): the page shows how it stands.
        Ok(()) | Err(AppError::NotFound(_)) | Err(AppError::Conflict { .. }) => see_other("/admin/webhooks?saved=1"),
        Err(e) => busy(&e),
    }
}
