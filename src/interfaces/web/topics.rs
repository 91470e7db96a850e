//! Topics on the pages: the analytics page's 问题主题 (weekly counts per topic, drawn) and
//! 差评分项 (the topic × department matrix), the board's 新出现的问题 (emerging-issue alerts),
//! and one topic's comments with their cases (`/analytics/topics/{id}`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDate};
use maud::{html, Markup, PreEscaped};

use crate::adapters::render::charts;
use crate::adapters::render::{percent, short_time};
use crate::clock;
use crate::domain::access::Role;
use crate::error::AppError;
use crate::insight::topic_views::{self, DepartmentFilter, DocumentFilter, DocumentPage, TopicAlertView, TopicMatrix, TopicSummary, TopicsOverview};
use crate::interfaces::app::AppState;

use super::staff::{pager, signed_in_as, staff_header};
use super::{busy, layout, message_page, page};

/// Topics the analytics page draws, and matrix rows it shows.
const TOPICS_SHOWN: usize = 12;
const MATRIX_ROWS: usize = 20;
/// The board shows the alerts of the last two weeks.
const BOARD_ALERT_DAYS: i64 = 14;
const BOARD_ALERTS: i64 = 10;
const DOCUMENTS_PER_PAGE: i64 = 30;

/// The analytics page's two topic sections over the days `from..=to` (the matrix; the topics
/// show the last twelve weeks). A failure leaves a note, not a broken page.
pub async fn analytics_sections(state: &web::Data<AppState>, from: NaiveDate, to: NaiveDate) -> Markup {
    let data = state
        .read_db(move |conn, _| {
            let overview = topic_views::overview(conn, clock::now(), topic_views::DEFAULT_WEEKS, TOPICS_SHOWN)?;
            let matrix = topic_views::matrix(conn, from, to)?;
            Ok::<_, AppError>((overview, matrix))
        })
        .await;
    match data {
        Ok((overview, matrix)) => html! { (topics_card(&overview)) (matrix_card(&matrix)) },
        Err(e) => {
            tracing::warn!(error = %e, "topics not read for the analytics page");
            html! { div.card { h2 { "问题主题" } p { "问题主题暂时无法读取，请稍后刷新。" } } }
        }
    }
}

/// `+3（+30%）`, or `+3` when the 7 days before had none.
fn change_text(t: &TopicSummary) -> String {
    match t.change_pct {
        Some(p) => format!("{:+}（{:+.0}%）", t.change, p * 100.0),
        None => format!("{:+}", t.change),
    }
}

fn topics_card(o: &TopicsOverview) -> Markup {
    html! {
        div.card #topics {
            h2 { "问题主题（按周）" }
            p.muted { "每周对评价意见和投诉内容聚类，并与此前各周的主题匹配：同一问题保持同一编号；首次出现的标为“新”。" }
            @if o.topics.is_empty() { p { "尚未形成问题主题（扫描后生成）。" } } @else {
                div.charts {
                    @for t in &o.topics {
                        div.topic {
                            h3 { a href=(t.page_url) { "主题 #" (t.id) "：" (t.label) } @if t.is_new { " " span.badge.yellow { "新" } } }
                            (PreEscaped(charts::sparkline(&format!("主题 #{} 每周条数（{} 起）：{}", t.id, o.weeks.first().map(String::as_str).unwrap_or(""), t.weekly.iter().map(i64::to_string).collect::<Vec<_>>().join("、")), &t.weekly.iter().map(|&n| n as f64).collect::<Vec<_>>(), charts::BLUE)))
                            p {
                                "近7天 " strong { (t.last_7_days) } " 条，前7天 " (t.previous_7_days) " 条，变化 " (change_text(t))
                                " · 差评占比 " (percent(t.bad_share)) " · 投诉 " (t.complaints) " 件"
                            }
                            p.muted { "关键词：" (t.top_terms.join("、")) }
                            p.muted { "涉及部门：" @for (i, d) in t.departments.iter().take(4).enumerate() { @if i > 0 { "、" } (d.department_name) " " (d.documents) } }
                        }
                    }
                }
                div.table-wrap {
                    table {
                        caption { "各主题每周条数" }
                        thead { tr { th scope="col" { "主题" } @for w in &o.weeks { th scope="col" { (w.get(5..).unwrap_or(w)) } } } }
                        tbody {
                            @for t in &o.topics {
                                tr { th scope="row" { "#" (t.id) " " (t.label) } @for n in &t.weekly { td { (n) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A matrix cell's link to its comments, keeping the period.
fn cell_link(topic: i64, department: Option<&str>, m: &TopicMatrix) -> String {
    let department = department.map(|c| DepartmentFilter::Code(c.to_owned())).unwrap_or(DepartmentFilter::Unassigned);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("department", &topic_views::department_param(&department)).append_pair("from", &m.from).append_pair("to", &m.to);
    format!("/analytics/topics/{topic}?{}", query.finish())
}

fn matrix_card(m: &TopicMatrix) -> Markup {
    html! {
        div.card #matrix {
            h2 { "差评分项：主题 × 部门" }
            p.muted { "每格：差评数/有意见的评价数（差评率），及投诉件数；点开可看这些评价和投诉及其案件。期间 " (m.from) " 至 " (m.to) "。" }
            @if m.rows.is_empty() { p { "所选期间没有归入主题的评价或投诉。" } } @else {
                div.table-wrap {
                    table.matrix {
                        thead { tr {
                            th scope="col" { "主题" } th scope="col" { "合计" }
                            @for d in &m.departments { th scope="col" { (d.department_name) } }
                        } }
                        tbody {
                            @for r in m.rows.iter().take(MATRIX_ROWS) {
                                tr {
                                    th scope="row" { a href={ "/analytics/topics/" (r.topic_id) } { "#" (r.topic_id) " " (r.label) } @if r.is_new { " " span.badge.yellow { "新" } } }
                                    td { (r.bad_reviews) "/" (r.reviews) "（" (percent(r.bad_rate)) "）" @if r.complaints > 0 { br; "投诉 " (r.complaints) } }
                                    @for d in &m.departments {
                                        @match r.cells.iter().find(|c| c.department_code == d.department_code) {
                                            Some(c) => td { a href=(cell_link(r.topic_id, c.department_code.as_deref(), m)) {
                                                @if c.reviews > 0 { (c.bad_reviews) "/" (c.reviews) "（" (percent(c.bad_rate)) "）" }
                                                @if c.reviews > 0 && c.complaints > 0 { br; }
                                                @if c.complaints > 0 { "投诉 " (c.complaints) }
                                            } },
                                            None => td { "—" },
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
}

/// The board's 新出现的问题: alerts of the last two weeks. A failure leaves a note.
pub async fn board_section(state: &web::Data<AppState>) -> Markup {
    let since = clock::now() - Duration::days(BOARD_ALERT_DAYS);
    match state.read_db(move |conn, _| topic_views::alerts(conn, Some(since), BOARD_ALERTS)).await {
        Ok(alerts) => alerts_section(&alerts),
        Err(e) => {
            tracing::warn!(error = %e, "topic alerts not read for the board");
            html! { section #emerging { h2 { "新出现的问题" } p.card { "暂时无法读取，请稍后刷新。" } } }
        }
    }
}

fn alerts_section(alerts: &[TopicAlertView]) -> Markup {
    html! {
        section #emerging {
            h2 { "新出现的问题（" (alerts.len()) "）" }
            p.muted { "近 7 天差评和投诉中激增（超过此前 8 周均值 3 个标准差）或新出现的问题主题，近两周内发现的。" }
            @if alerts.is_empty() { p.card { "没有新出现的问题。" } }
            @for a in alerts {
                div.card.topic-alert {
                    div {
                        @if a.kind == "surge" { span.badge.red { "激增" } } @else { span.badge.yellow { "新问题" } }
                        " " strong { "主题 #" (a.topic_id) "：" (a.label) }
                    }
                    @if a.kind == "surge" {
                        p { "近 7 天 " strong { (a.count) } " 件；此前 8 周每周平均 " (format!("{:.1}", a.baseline_mean)) " 件（标准差 " (format!("{:.1}", a.baseline_sd)) "）。" }
                    } @else {
                        p { "近 7 天新出现，已有 " strong { (a.count) } " 件。" }
                    }
                    p.muted { "关键词：" (a.top_terms.join("、")) " · 发现于 " (short_time(&a.created_at)) }
                    ul.samples { @for s in &a.samples { li { (s) } } }
                    a.more href=(a.page_url) { "查看全部相关评价和投诉" }
                }
            }
        }
    }
}

/// `/analytics/topics/{id}`: one topic's comments, newest first, each with its case; filtered by
/// department, days and issues, 30 a page.
pub async fn show_topic(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match signed_in_as(&state, &req, &[Role::Supervisor, Role::Admin], "问题主题仅供监督人员和管理员使用。").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = query.into_inner();
    let get = |name: &str| query.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    let refused = || message_page(StatusCode::UNPROCESSABLE_ENTITY, "筛选条件有误", "请输入 YYYY-MM-DD 格式的日期和正整数页码。");
    let date = |name: &str| get(name).map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d"));
    let (from, to) = match (date("from").transpose(), date("to").transpose()) {
        (Ok(f), Ok(t)) => (f, t),
        _ => return refused(),
    };
    let page_no = match get("page").map(|p| p.parse::<i64>()) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => return refused(),
    };
    let department = get("department");
    if department.as_ref().is_some_and(|d| d.chars().count() > 64) {
        return refused();
    }
    let issues_only = get("issues_only").as_deref() == Some("true");
    let filter = DocumentFilter {
        department: department.as_deref().map(DepartmentFilter::parse),
        from,
        to,
        issues_only,
        limit: DOCUMENTS_PER_PAGE,
        offset: (page_no - 1) * DOCUMENTS_PER_PAGE,
    };
    let id = id.into_inner();
    let found = state.read_db(move |conn, _| topic_views::documents(conn, id, &filter)).await;
    let docs = match found {
        Ok(d) => d,
        Err(AppError::NotFound(_)) => return message_page(StatusCode::NOT_FOUND, "未找到", "该问题主题不存在。"),
        Err(AppError::Invalid(_)) => return refused(),
        Err(e) => return busy(&e),
    };
    let keep: Vec<(&str, String)> = [
        ("department", department.clone()),
        ("from", from.map(|d| d.to_string())),
        ("to", to.map(|d| d.to_string())),
        ("issues_only", issues_only.then(|| "true".to_owned())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let csrf = state.cookies.csrf(&token);
    page(StatusCode::OK, topic_page(&docs, &principal, &csrf, &keep, page_no))
}

fn topic_page(d: &DocumentPage, principal: &crate::domain::access::Principal, csrf: &str, keep: &[(&str, String)], page_no: i64) -> Markup {
    let t = &d.topic;
    let value = |name: &str| keep.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let keep_refs: Vec<(&str, &str)> = keep.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let base = format!("/analytics/topics/{}", t.id);
    let body = html! {
        (staff_header(principal, csrf))
        p { a href="/analytics#topics" { "← 返回统计分析" } }
        h1 { "主题 #" (t.id) "：" (t.label) @if t.is_new { " " span.badge.yellow { "新" } } }
        div.card {
            dl.facts {
                dt { "关键词" } dd { (t.top_terms.join("、")) }
                dt { "首次出现" } dd { (t.first_week) " 当周" }
                dt { "最近出现" } dd { (t.last_week) " 当周" }
            }
        }
        form.card.filters method="get" action=(base) {
            @if !value("department").is_empty() { input type="hidden" name="department" value=(value("department")); }
            label for="t-from" { "开始日期 " } input #t-from type="date" name="from" value=(value("from"));
            " "
            label for="t-to" { "结束日期 " } input #t-to type="date" name="to" value=(value("to"));
            " "
            label for="t-issues" { input #t-issues type="checkbox" name="issues_only" value="true" checked[value("issues_only") == "true"]; " 仅差评和投诉" }
            " "
            button type="submit" { "筛选" }
            @if !value("department").is_empty() { p.muted { "仅看一个部门的。" a href=(base) { "看全部部门" } } }
        }
        h2 { "评价和投诉（" (d.total) "）" }
        @if d.items.is_empty() { p.card { "没有符合条件的评价或投诉。" } }
        @for doc in &d.items {
            div.card {
                div {
                    @if doc.source == "complaint" { span.badge.yellow { "投诉" } } @else if doc.bad { span.badge.red { "差评" } } @else { span.badge.green { "评价" } }
                    " " (short_time(&doc.occurred_at)) " · " (doc.department_name)
                    @if let Some(case) = doc.case_id { " · " a href={ "/cases/" (case) } { "案件 #" (case) } }
                }
                blockquote { (doc.text) }
            }
        }
        (pager(&base, &keep_refs, d.total, page_no, DOCUMENTS_PER_PAGE))
    };
    layout(&format!("问题主题 #{}", t.id), body)
}
