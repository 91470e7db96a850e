//! The search form (检索) and its hits, on the board and on the analytics page: words, period,
//! department, grade, source and topic; each hit's snippet with its matches marked, a link to
//! its case, and paging. Its fields are prefixed (`sfrom`, `spage`…) so that they keep clear of
//! the page's own (the analytics period, the page of clustering runs).

use std::collections::HashMap;

use actix_web::web;
use maud::{html, Markup, PreEscaped};

use crate::admin::master_data::{self, DepartmentView, ListFilter};
use crate::adapters::render::short_time;
use crate::domain::search::{DocSource, COUNT_CAP};
use crate::error::AppError;
use crate::insight::search::{self, SearchPage, SearchRequest};
use crate::insight::stats::Scope;
use crate::interfaces::app::AppState;

use super::staff::link;

/// The form's fields, in the query string.
const FIELDS: [&str; 8] = ["q", "sfrom", "sto", "sdept", "sgrade", "ssource", "stopic", "spage"];

/// What the form holds and, once asked, what was found.
pub struct Panel {
    values: HashMap<&'static str, String>,
    departments: Vec<DepartmentView>,
    outcome: Option<Result<SearchPage, String>>,
}

impl Panel {
    fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }
}

/// Reads the form from the page's query and, when it asks something, searches (as a
/// supervisor or admin: everything).
pub async fn panel(state: &web::Data<AppState>, query: &HashMap<String, String>) -> Panel {
    let values: HashMap<&'static str, String> =
        FIELDS.iter().filter_map(|&f| query.get(f).map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| (f, v.to_owned()))).collect();
    let asked = query.contains_key("q");
    let get = |name: &str| values.get(name).cloned();
    let number = |name: &str| get(name).map(|v| v.parse::<i64>().map_err(|_| name.to_owned())).transpose();
    let request = match (number("stopic"), number("spage")) {
        (Ok(topic), Ok(page)) => Ok(SearchRequest {
            q: get("q").unwrap_or_default(),
            from: get("sfrom"),
            to: get("sto"),
            department_code: get("sdept"),
            grade: get("sgrade"),
            source: get("ssource"),
            topic,
            page,
            limit: None,
        }),
        (Err(_), _) => Err("主题编号应为数字。".to_owned()),
        (_, Err(_)) => Err("页码应为正整数。".to_owned()),
    };
    let found = state
        .db(move |conn, _| {
            let departments = master_data::list_departments(conn, &ListFilter::default())?;
            let outcome = match (asked, request) {
                (false, _) => None,
                (true, Err(message)) => Some(Err(message)),
                (true, Ok(request)) => Some(match search::search(conn, Scope::All, &request) {
                    Ok(page) => Ok(page),
                    Err(AppError::BadRequest(_)) if request.q.trim().is_empty() => Err("请输入要检索的词语。".to_owned()),
                    Err(AppError::BadRequest(_)) => Err("没有可检索的词语：标点和“的、了、我们”等常用字词不参与检索，请换个说法。".to_owned()),
                    Err(AppError::Invalid(e)) => Err(format!("{}：{}", field_label(e.field), e.message)),
                    Err(e) => return Err(e),
                }),
            };
            Ok((departments, outcome))
        })
        .await;
    match found {
        Ok((departments, outcome)) => Panel { values, departments, outcome },
        Err(e) => {
            tracing::warn!(error = %e, "search panel failed");
            Panel { values, departments: Vec::new(), outcome: asked.then(|| Err("检索暂时不可用，请稍后再试。".to_owned())) }
        }
    }
}

fn field_label(field: &str) -> &str {
    match field {
        "from" => "开始日期",
        "to" => "结束日期",
        "department_code" => "部门",
        "grade" => "评价等级",
        "source" => "类型",
        "topic" => "主题",
        "page" => "页码",
        other => other,
    }
}

/// The form and the hits; `action` is the page's path, `keep` the page's own fields.
pub fn section(action: &str, panel: &Panel, keep: &[(&str, &str)]) -> Markup {
    let chosen = |name: &str, value: &str| panel.value(name) == value;
    html! {
        section #search.card {
            h2 { "检索评价、投诉与答复" }
            form.inbox-filters method="get" action={ (action) "#search" } role="search" {
                @for (k, v) in keep { input type="hidden" name=(k) value=(v); }
                span.field { label for="search-q" { "关键词 " }
                    input #search-q type="search" name="q" value=(panel.value("q")) maxlength="100" placeholder="如：排队 社保卡"; }
                span.field { label for="search-from" { "开始日期 " } input #search-from type="date" name="sfrom" value=(panel.value("sfrom")); }
                span.field { label for="search-to" { "结束日期 " } input #search-to type="date" name="sto" value=(panel.value("sto")); }
                span.field { label for="search-dept" { "部门 " }
                    select #search-dept name="sdept" {
                        option value="" { "全部" }
                        @for d in &panel.departments { option value=(d.code) selected[chosen("sdept", &d.code)] { (d.name) } }
                    } }
                span.field { label for="search-grade" { "评价等级 " }
                    select #search-grade name="sgrade" {
                        @for (value, label) in [("", "全部"), ("bad", "差评（1–2星）"), ("basic", "基本满意（3星）"), ("good", "好评（4–5星）")] {
                            option value=(value) selected[chosen("sgrade", value)] { (label) }
                        }
                    } }
                span.field { label for="search-source" { "类型 " }
                    select #search-source name="ssource" {
                        option value="" { "全部" }
                        @for s in DocSource::ALL { option value=(s.as_str()) selected[chosen("ssource", s.as_str())] { (s.label()) } }
                    } }
                span.field { label for="search-topic" { "主题编号 " }
                    input #search-topic type="number" name="stopic" min="1" value=(panel.value("stopic")) inputmode="numeric"; }
                button type="submit" { "检索" }
            }
            @match &panel.outcome {
                None => { p.muted { "按词语检索评价意见、投诉内容和部门答复（分词与聚类相同），可按期间、部门、等级、类型和主题筛选，最新的在前。" } }
                Some(Err(message)) => { p.error role="alert" { (message) } }
                Some(Ok(found)) => { (hits(action, panel, keep, found)) }
            }
        }
    }
}

fn hits(action: &str, panel: &Panel, keep: &[(&str, &str)], found: &SearchPage) -> Markup {
    let pages = ((found.total + found.limit - 1) / found.limit).max(1);
    let href = |page: i64| {
        let page = page.to_string();
        let mut params: Vec<(&str, &str)> = keep.iter().copied().collect();
        params.extend(FIELDS.iter().filter(|f| **f != "spage").map(|f| (*f, panel.value(f))));
        params.push(("spage", &page));
        format!("{}#search", link(action, &params))
    };
    html! {
        p role="status" {
            @if found.total_is_estimate { "找到约 " (COUNT_CAP) " 条以上，请缩小范围；" }
            @else if found.total_is_lower_bound { "找到超过 " (COUNT_CAP) " 条，请缩小范围；" }
            @else { "找到 " (found.total) " 条；" }
            "检索词：" @for (i, t) in found.terms.iter().enumerate() { @if i > 0 { "、" } mark { (t) } }
        }
        @if found.hits.is_empty() { p { "没有找到包含这些词语的评价、投诉或答复。" } }
        ol.search-hits {
            @for h in &found.hits {
                li.card {
                    div.muted {
                        (DocSource::parse(&h.source).map_or(h.source.as_str(), |s| s.label()))
                        " · " (h.department.as_deref().unwrap_or("待分派"))
                        @if let Some(s) = h.stars { " · " (s) " 星" }
                        " · " (short_time(&h.occurred_at))
                    }
                    // The snippet is escaped by insight::search, its only markup the <mark>s.
                    p.snippet { (PreEscaped(&h.snippet)) }
                    div.muted {
                        @if let Some(case_id) = h.case_id { a href={ "/cases/" (case_id) } { "案件 #" (case_id) } }
                        @if let Some(no) = &h.transaction_no { " · 办件 " (no) }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="检索结果分页" {
                span.count { "第 " (found.page) "/" (pages) " 页" }
                @if found.page > 1 { a rel="prev" href=(href(found.page - 1)) { "上一页" } }
                @if found.page < pages { a rel="next" href=(href(found.page + 1)) { "下一页" } }
            }
        }
    }
}
