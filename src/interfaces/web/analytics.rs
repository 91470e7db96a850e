//! The analytics page (统计分析): ratings by month and by department as server-drawn charts with
//! their numbers, and the complaint clustering — run one, list past runs, read a run's clusters
//! with their top terms, sizes and sample comments.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Datelike, Duration, NaiveDate};
use maud::{html, Markup, PreEscaped};

use crate::domain::access::Principal;
use crate::insight::analysis::{self, AnalysisRequest, RunView};
use crate::interfaces::app::AppState;
use crate::adapters::render::charts::{self, Format};
use crate::clock;
use crate::error::AppError;
use crate::domain::access::Role;
use crate::domain::calendar::local_date;
use crate::adapters::render::{figures_table, percent as pct, short_time};
use crate::insight::stats::{self, Figures, GroupBy, Period, Scope, Stats};

use super::staff::{check_csrf, pager, signed_in_as, staff_header};

/// Past clustering runs on one page of the analytics page.
const RUNS_PER_PAGE: i64 = 10;
use super::{busy, layout, message_page, page, see_other};

/// Supervisors and admins read analytics; department users are sent to their inbox.
async fn analyst(state: &web::Data<AppState>, req: &HttpRequest) -> Result<(Principal, String), HttpResponse> {
    signed_in_as(state, req, &[Role::Supervisor, Role::Admin], "统计分析仅供监督人员和管理员使用。").await
}

/// The period from the query, or the last six months up to today.
fn period_of(query: &HashMap<String, String>) -> Result<(Period, String, String), AppError> {
    let today = local_date(clock::now());
    let six_months_ago = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(5)))
        .unwrap_or(today - Duration::days(180));
    let from = query.get("from").filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| six_months_ago.to_string());
    let to = query.get("to").filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| today.to_string());
    Ok((Period::parse(&from, &to)?, from, to))
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match analyst(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (period, from, to) = match period_of(&query) {
        Ok(p) => p,
        Err(_) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "日期有误", "请输入 YYYY-MM-DD 格式的起止日期，结束日期不早于开始日期。"),
    };
    let runs_page = match query.get("page").map(|p| p.parse::<i64>()) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "页码有误", "页码应为正整数。"),
    };
    let data = state
        .read_db(move |conn, state| {
            let rules = state.read_rules(conn)?;
            let now = clock::now();
            let by_month = stats::compute(conn, period, Some(GroupBy::Month), Scope::All, now, &rules)?;
            let by_department = stats::compute(conn, period, Some(GroupBy::Department), Scope::All, now, &rules)?;
            let runs = analysis::list_page(conn, RUNS_PER_PAGE, (runs_page - 1) * RUNS_PER_PAGE)?;
            Ok::<_, AppError>((by_month, by_department, runs))
        })
        .await;
    let (by_month, by_department, runs) = match data {
        Ok(d) => d,
        Err(e) => return busy(&e),
    };
    let topics = super::topics::analytics_sections(&state, local_date(period.start), local_date(period.end - Duration::microseconds(1))).await;
    // 检索, keeping the page's period.
    let search = super::search::section("/analytics", &super::search::panel(&state, &query).await, &[("from", from.as_str()), ("to", to.as_str())]);
    let csrf = state.cookies.csrf(&token);
    let body = html! {
        (staff_header(&principal, &csrf))
        h1 { "统计分析" }
        form.card.filters method="get" action="/analytics" {
            label for="from" { "开始日期 " } input #from type="date" name="from" value=(from);
            " "
            label for="to" { "结束日期 " } input #to type="date" name="to" value=(to);
            " "
            button type="submit" { "查询" }
        }
        (totals_card(&by_month.total))
        (monthly_charts(&by_month))
        (department_charts(&by_department))
        (topics)
        (search)
        (cluster_form(&csrf, &from, &to))
        div.card {
            h2 { "历史聚类" }
            @if runs.0.is_empty() { p { "尚未运行聚类分析。" } }
            ul {
                @for r in &runs.0 {
                    li { a href={ "/analytics/clusters/" (r.id) } { (short_time(&r.created_at)) " · " (r.documents) " 条 · " (r.k) " 类" } " · " (r.created_by) }
                }
            }
            @if runs.1 > 0 { (pager("/analytics", &[("from", from.as_str()), ("to", to.as_str())], runs.1, runs_page, RUNS_PER_PAGE)) }
        }
    };
    page(StatusCode::OK, layout("统计分析", body))
}

fn totals_card(t: &Figures) -> Markup {
    html! {
        div.card {
            h2 { "总体" }
            ul.tiles {
                li { span.tile { span.n { (t.ratings) } span { "评价数" } } }
                li { span.tile { span.n { (pct(t.good_rate)) } span { "好评率" } } }
                li { span.tile { span.n { (pct(t.bad_rate)) } span { "差评率" } } }
                li { span.tile { span.n { (pct(t.active_good_rate)) } span { "主动评价好评率" } } }
                li { span.tile { span.n { (pct(t.bad_reply_rate)) } span { "差评回复率" } } }
                li { span.tile { span.n { (pct(t.on_time_rate)) } span { "按期办结率" } } }
                li { span.tile { span.n { (pct(t.follow_up_satisfaction_rate)) } span { "回访满意率" } } }
                li { span.tile { span.n { (t.overdue_cases) } span { "超期案件" } } }
            }
        }
    }
}

fn monthly_charts(s: &Stats) -> Markup {
    let months: Vec<String> = s.groups.iter().map(|g| g.key.clone()).collect();
    let ratings: Vec<f64> = s.groups.iter().map(|g| g.ratings as f64).collect();
    let bad: Vec<f64> = s.groups.iter().map(|g| (g.stars[0] + g.stars[1]) as f64).collect();
    let good_rate: Vec<f64> = s.groups.iter().map(|g| g.good_rate.unwrap_or(0.0)).collect();
    html! {
        div.card {
            h2 { "按月评价" }
            @if months.is_empty() { p { "所选期间没有评价。" } } @else {
                div.charts {
                (PreEscaped(charts::lines("每月评价数与差评数", &months, &[("评价数", ratings, charts::BLUE), ("差评数", bad, charts::RED)], Format::Count)))
                (PreEscaped(charts::lines("每月好评率", &months, &[("好评率", good_rate, charts::GREEN)], Format::Percent)))
                }
                (figures_table("月份", &s.groups.iter().map(Figures::row).collect::<Vec<_>>()))
            }
        }
    }
}

fn department_charts(s: &Stats) -> Markup {
    let rated: Vec<&Figures> = s.groups.iter().filter(|g| g.ratings > 0).collect();
    let names: Vec<String> = rated.iter().map(|g| g.name.clone()).collect();
    html! {
        div.card {
            h2 { "按部门" }
            @if rated.is_empty() { p { "所选期间没有评价。" } } @else {
                div.charts {
                (PreEscaped(charts::bars("各部门评价数", &names, &rated.iter().map(|g| g.ratings as f64).collect::<Vec<_>>(), Format::Count, charts::BLUE)))
                (PreEscaped(charts::bars("各部门差评率", &names, &rated.iter().map(|g| g.bad_rate.unwrap_or(0.0)).collect::<Vec<_>>(), Format::Percent, charts::RED)))
                (PreEscaped(charts::bars("各部门按期办结率", &names, &rated.iter().map(|g| g.on_time_rate.unwrap_or(0.0)).collect::<Vec<_>>(), Format::Percent, charts::GREEN)))
                }
                (figures_table("部门", &s.groups.iter().map(Figures::row).collect::<Vec<_>>()))
            }
        }
    }
}

fn cluster_form(csrf: &str, from: &str, to: &str) -> Markup {
    html! {
        form.card method="post" action="/analytics/clusters" {
            h2 { "差评与投诉聚类" }
            p.muted { "对所选期间的评价意见或投诉内容分词后聚类，找出群众反映集中的问题。" }
            input type="hidden" name="csrf" value=(csrf);
            p {
                label for="c-from" { "开始日期 " } input #c-from type="date" name="from" value=(from);
                " "
                label for="c-to" { "结束日期 " } input #c-to type="date" name="to" value=(to);
            }
            p {
                label for="c-source" { "对象 " }
                select #c-source name="source" {
                    option value="reviews" { "评价意见" } option value="complaints" { "投诉" } option value="all" { "全部" }
                }
                " "
                label for="c-grade" { "评价等级 " }
                select #c-grade name="grade" { option value="bad" { "仅差评" } option value="all" { "全部评价" } }
                " "
                label for="c-k" { "类别数 " }
                select #c-k name="k" {
                    option value="auto" { "自动" }
                    @for k in 2..=15 { option value=(k) { (k) } }
                }
            }
            button type="submit" { "开始聚类" }
        }
    }
}

pub async fn run_clustering(state: web::Data<AppState>, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let (principal, token) = match analyst(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let form = form.into_inner();
    if let Err(refused) = check_csrf(&state, &token, &form) {
        return refused;
    }
    let date = |name: &str| form.get(name).filter(|s| !s.is_empty()).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    let k = match form.get("k").map(String::as_str) {
        None | Some("auto") | Some("") => serde_json::json!("auto"),
        Some(n) => match n.parse::<u32>() {
            Ok(n) => serde_json::json!(n),
            Err(_) => return message_page(StatusCode::UNPROCESSABLE_ENTITY, "参数有误", "类别数应为 2 到 15 的整数或“自动”。"),
        },
    };
    let request = AnalysisRequest {
        from: date("from"),
        to: date("to"),
        source: form.get("source").cloned(),
        grade: form.get("grade").cloned(),
        k: Some(k),
        seed: None,
    };
    let actor = principal.actor_label();
    match state.db(move |conn, _| analysis::run(conn, &request, &actor, clock::now())).await {
        Ok(run) => see_other(&format!("/analytics/clusters/{}", run.id)),
        Err(AppError::Invalid(e)) => message_page(StatusCode::UNPROCESSABLE_ENTITY, "无法聚类", &format!("{}：{}。请调整期间或对象后重试。", e.field, e.message)),
        Err(_) => message_page(StatusCode::SERVICE_UNAVAILABLE, "系统繁忙", "聚类未完成，请稍后再试。"),
    }
}

pub async fn show_run(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let (principal, token) = match analyst(&state, &req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = id.into_inner();
    // The page a new run redirects to: one not yet on the replica is read from the primary.
    let run = match state.read_db(move |conn, _| analysis::load(conn, id)).await {
        Err(AppError::NotFound(_)) if state.replica.is_some() => state.db(move |conn, _| analysis::load(conn, id)).await,
        read => read,
    };
    match run {
        Ok(run) => page(StatusCode::OK, run_page(&run, &principal, &state.cookies.csrf(&token))),
        Err(AppError::NotFound(_)) => message_page(StatusCode::NOT_FOUND, "未找到", "该聚类结果不存在。"),
        Err(e) => busy(&e),
    }
}

fn run_page(run: &RunView, principal: &Principal, csrf: &str) -> Markup {
    let labels: Vec<String> = run.clusters.iter().map(|c| format!("{} {}", c.number + 1, c.label)).collect();
    let sizes: Vec<f64> = run.clusters.iter().map(|c| c.size as f64).collect();
    let body = html! {
        (staff_header(principal, csrf))
        p { a href="/analytics" { "← 返回统计分析" } }
        h1 { "聚类结果 #" (run.id) }
        div.card {
            dl.facts {
                dt { "运行时间" } dd { (short_time(&run.created_at)) " · " (run.created_by) }
                dt { "文本数" } dd { (run.documents) }
                dt { "类别数" } dd { (run.k) }
                dt { "轮廓系数" } dd { (format!("{:.3}", run.silhouette)) }
                dt { "用时" } dd { (format!("{:.1} 秒", run.seconds)) }
            }
        }
        @if run.clusters.is_empty() { p.card { "所选范围内没有可聚类的文本。" } } @else {
            div.card { (PreEscaped(charts::bars("各类别文本数", &labels, &sizes, Format::Count, charts::AMBER))) }
        }
        @for c in &run.clusters {
            div.card.cluster {
                // Clusters are numbered from 0 in the API; people count from 1.
                h2 { "第 " (c.number + 1) " 类：" (c.label) " " span.muted { "（" (c.size) " 条）" } }
                p { "关键词：" @for (i, t) in c.top_terms.iter().enumerate() { @if i > 0 { "、" } span.term { (t) } } }
                ul.samples { @for s in &c.samples { li { (s) } } }
            }
        }
    };
    layout(&format!("聚类结果 #{}", run.id), body)
}
