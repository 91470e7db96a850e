//! The monthly operations report (运营报告): the month's figures against the month before, a
//! six-month trend, per-department figures, department and window rankings, the top complaint
//! clusters with sample comments and the cases still overdue — as HTML with charts, as CSV and
//! as XLSX with the same figures.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use rust_xlsxwriter::{Format as CellFormat, FormatAlign, Workbook, Worksheet, XlsxError};
use serde::Serialize;

use crate::domain::access::Principal;
use crate::insight::analysis::{self, AnalysisRequest, ClusterView};
use crate::domain::rules::Rules;
use crate::cases::work::{self, CaseFilter, CaseListItem};
use crate::adapters::render::charts::{self, Format};
use crate::clock;
use crate::error::{AppError, AppResult};
use crate::domain::access::Role;
use crate::adapters::render::percent as pct;
use crate::insight::stats::{self, Figures, GroupBy, Period, Ranking, Scope};
use crate::storage::Conn;

crate::domain::intake_rules::string_enum! {
    ReportFormat {
        Html = "html",
        Csv = "csv",
        Xlsx = "xlsx",
    }
}

impl ReportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

const TREND_MONTHS: u32 = 6;
const TOP_CLUSTERS: usize = 5;
const MAX_OVERDUE_LISTED: i64 = 500;

#[derive(Debug, Serialize)]
pub struct MonthlyReport {
    pub month: String,
    pub generated_at: String,
    pub total: Figures,
    pub previous_total: Figures,
    pub trend: Vec<Figures>,
    pub departments: Vec<Figures>,
    pub department_ranking: Ranking,
    pub window_ranking: Ranking,
    pub clusters: Vec<ClusterView>,
    pub overdue: Vec<CaseListItem>,
    pub overdue_total: i64,
}

fn month_label(period: &Period) -> String {
    period.first_day().format("%Y-%m").to_string()
}

/// Gathers the report of `month` (`YYYY-MM`); the overdue list is as of `now`.
pub fn build(conn: &mut Conn, month: &str, min_ratings: i64, now: DateTime<Utc>, rules: &Rules) -> AppResult<MonthlyReport> {
    let period = Period::month(month)?;
    let first = period.first_day();
    let previous = Period::month(&(first - chrono::Duration::days(1)).format("%Y-%m").to_string())?;
    let trend_start = first.checked_sub_months(chrono::Months::new(TREND_MONTHS - 1)).ok_or_else(|| AppError::invalid("month", "out of range"))?;
    let trend_period = Period::days(trend_start, period.last_day())?;

    let total = stats::compute(conn, period, None, Scope::All, now, rules)?.total;
    let previous_total = stats::compute(conn, previous, None, Scope::All, now, rules)?.total;
    let trend = stats::compute(conn, trend_period, Some(GroupBy::Month), Scope::All, now, rules)?.groups;
    let departments = stats::compute(conn, period, Some(GroupBy::Department), Scope::All, now, rules)?.groups;
    let windows = stats::compute(conn, period, Some(GroupBy::Window), Scope::All, now, rules)?.groups;
    let request = AnalysisRequest {
        from: Some(period.first_day()),
        to: Some(period.last_day()),
        source: Some("all".into()),
        grade: Some("bad".into()),
        k: Some(serde_json::json!("auto")),
        seed: Some(42),
    };
    let mut clusters = analysis::preview(conn, &request)?;
    clusters.sort_by(|a, b| b.size.cmp(&a.size));
    clusters.truncate(TOP_CLUSTERS);
    let supervisor = Principal::User { id: 0, username: "report".into(), role: Role::Supervisor, department_id: None };
    let filter = CaseFilter { alert: Some("overdue".into()), limit: Some(MAX_OVERDUE_LISTED), ..CaseFilter::default() };
    let overdue = work::list_cases(conn, &supervisor, &filter, now, rules)?;
    Ok(MonthlyReport {
        month: month_label(&period),
        generated_at: clock::rfc3339_local(clock::to_db(now)),
        total,
        previous_total,
        trend,
        department_ranking: stats::rank(GroupBy::Department, &departments, min_ratings),
        window_ranking: stats::rank(GroupBy::Window, &windows, min_ratings),
        departments,
        clusters,
        overdue_total: overdue.total,
        overdue: overdue.items,
    })
}

/// The rows of the overview, shared by every format: label, this month, last month.
fn overview_rows(r: &MonthlyReport) -> Vec<(&'static str, Metric, Metric)> {
    let (t, p) = (&r.total, &r.previous_total);
    vec![
        ("评价数", Metric::Count(t.ratings), Metric::Count(p.ratings)),
        ("主动评价数", Metric::Count(t.active_ratings), Metric::Count(p.active_ratings)),
        ("默认评价数", Metric::Count(t.default_ratings), Metric::Count(p.default_ratings)),
        ("好评率", Metric::Rate(t.good_rate), Metric::Rate(p.good_rate)),
        ("差评率", Metric::Rate(t.bad_rate), Metric::Rate(p.bad_rate)),
        ("主动评价好评率", Metric::Rate(t.active_good_rate), Metric::Rate(p.active_good_rate)),
        ("未评率", Metric::Rate(t.unrated_rate), Metric::Rate(p.unrated_rate)),
        ("差评回复率", Metric::Rate(t.bad_reply_rate), Metric::Rate(p.bad_reply_rate)),
        ("整改率", Metric::Rate(t.rectification_rate), Metric::Rate(p.rectification_rate)),
        ("按期办结率", Metric::Rate(t.on_time_rate), Metric::Rate(p.on_time_rate)),
        ("回访满意率", Metric::Rate(t.follow_up_satisfaction_rate), Metric::Rate(p.follow_up_satisfaction_rate)),
        ("超期案件", Metric::Count(t.overdue_cases), Metric::Count(p.overdue_cases)),
        ("超期工作日合计", Metric::Count(t.overdue_days), Metric::Count(p.overdue_days)),
        ("申诉", Metric::Count(t.appeals_filed), Metric::Count(p.appeals_filed)),
        ("申诉成立", Metric::Count(t.appeals_upheld), Metric::Count(p.appeals_upheld)),
        ("退单", Metric::Count(t.returns), Metric::Count(p.returns)),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Metric {
    Count(i64),
    Rate(Option<f64>),
}

impl Metric {
    fn text(self) -> String {
        match self {
            Metric::Count(n) => n.to_string(),
            Metric::Rate(r) => pct(r),
        }
    }
}

/// How the report links the service's stylesheet: the server's Content-Security-Policy forbids
/// inline styles; `haochaping report` puts the sheet in its place when it writes a file.
pub const STYLESHEET_LINK: &str = r#"<link rel="stylesheet" href="/static/app.css">"#;

/// The report as a page with `preface` under its title (a frozen report's status and what
/// changed since the version before, as the frozen reports carry).
pub fn html_with(r: &MonthlyReport, preface: Markup) -> String {
    let title = format!("{} 政务服务“好差评”运营报告", r.month);
    let months: Vec<String> = r.trend.iter().map(|g| g.key.clone()).collect();
    let rated: Vec<&Figures> = r.departments.iter().filter(|g| g.ratings > 0).collect();
    let names: Vec<String> = rated.iter().map(|g| g.name.clone()).collect();
    let stars: Vec<String> = ["1星 非常不满意", "2星 不满意", "3星 基本满意", "4星 满意", "5星 非常满意"].iter().map(|s| s.to_string()).collect();
    let body = html! {
        h1 { (title) }
        (preface)
        p.muted { "统计期间：" (r.month) "（北京时间），生成于 " (crate::adapters::render::short_time(&r.generated_at)) "。已剔除申诉成立的评价；默认评价单列。" }
        section.card {
            h2 { "一、总体情况" }
            div.table-wrap { table {
                thead { tr { th scope="col" { "指标" } th scope="col" { "本月" } th scope="col" { "上月" } } }
                tbody { @for (label, now, before) in overview_rows(r) { tr { th scope="row" { (label) } td { (now.text()) } td { (before.text()) } } } }
            } }
        }
        section.card {
            h2 { "二、评价趋势与分布" }
            (PreEscaped(charts::lines("近六个月评价数与差评数", &months, &[
                ("评价数", r.trend.iter().map(|g| g.ratings as f64).collect(), charts::BLUE),
                ("差评数", r.trend.iter().map(|g| (g.stars[0] + g.stars[1]) as f64).collect(), charts::RED),
            ], Format::Count)))
            (PreEscaped(charts::lines("近六个月好评率", &months, &[("好评率", r.trend.iter().map(|g| g.good_rate.unwrap_or(0.0)).collect(), charts::GREEN)], Format::Percent)))
            (PreEscaped(charts::bars("本月评价等级分布", &stars, &r.total.stars.iter().map(|n| *n as f64).collect::<Vec<_>>(), Format::Count, charts::AMBER)))
        }
        section.card {
            h2 { "三、各部门情况" }
            @if rated.is_empty() { p { "本月没有评价。" } } @else {
                (PreEscaped(charts::bars("各部门好评率", &names, &rated.iter().map(|g| g.good_rate.unwrap_or(0.0)).collect::<Vec<_>>(), Format::Percent, charts::GREEN)))
                (PreEscaped(charts::bars("各部门差评回复率", &names, &rated.iter().map(|g| g.bad_reply_rate.unwrap_or(0.0)).collect::<Vec<_>>(), Format::Percent, charts::BLUE)))
            }
            (PreEscaped(charts::bars("各部门超期案件", &r.departments.iter().filter(|g| g.overdue_cases > 0).map(|g| g.name.clone()).collect::<Vec<_>>(),
                &r.departments.iter().filter(|g| g.overdue_cases > 0).map(|g| g.overdue_cases as f64).collect::<Vec<_>>(), Format::Count, charts::RED)))
            (crate::adapters::render::figures_table("部门", &r.departments.iter().map(Figures::row).collect::<Vec<_>>()))
        }
        section.card {
            h2 { "四、排名" }
            (ranking_table("部门排名", &r.department_ranking))
            (ranking_table("窗口排名", &r.window_ranking))
        }
        section.card {
            h2 { "五、群众反映集中的问题（差评与投诉聚类）" }
            @if r.clusters.is_empty() { p { "本月差评意见和投诉太少，未做聚类。" } }
            @for (i, c) in r.clusters.iter().enumerate() {
                h3 { (i + 1) ". " (c.label) " " span.muted { "（" (c.size) " 条）" } }
                p { "关键词：" (c.top_terms.join("、")) }
                ul.samples { @for s in &c.samples { li { (s) } } }
            }
        }
        section.card {
            h2 { "六、仍超期的案件（" (r.overdue_total) "）" }
            @if r.overdue.is_empty() { p { "目前没有超期案件。" } } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "案件" } th scope="col" { "部门" } th scope="col" { "状态" } th scope="col" { "超期工作日" } th scope="col" { "内容" } } }
                    tbody { @for c in &r.overdue { tr {
                        td { "#" (c.id) } td { (c.department_name.as_deref().unwrap_or("待分派")) } td { (c.state_label) } td { (c.overdue_days) }
                        td.wrap { (c.summary.chars().take(40).collect::<String>()) }
                    } } }
                } }
            }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                (PreEscaped(STYLESHEET_LINK))
            }
            body { main.report { (body) } }
        }
    };
    page.into_string()
}

fn ranking_table(title: &str, ranking: &Ranking) -> Markup {
    html! {
        h3 { (title) }
        p.muted { "按好评率排名（并列时比较按期办结率），本月评价不少于 " (ranking.min_ratings) " 条的参与排名。" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "名次" } th scope="col" { "名称" } th scope="col" { "评价数" } th scope="col" { "好评率" } th scope="col" { "差评回复率" } th scope="col" { "按期办结率" } } }
            tbody {
                @for e in &ranking.ranked { tr { td { (e.rank.unwrap_or(0)) } th scope="row" { (e.name) } td { (e.ratings) } td { (pct(e.good_rate)) } td { (pct(e.bad_reply_rate)) } td { (pct(e.on_time_rate)) } } }
                @for e in &ranking.not_ranked { tr.muted { td { "—" } th scope="row" { (e.name) } td { (e.ratings) } td { (pct(e.good_rate)) } td { (pct(e.bad_reply_rate)) } td { (pct(e.on_time_rate)) } } }
            }
        } }
    }
}

/// Department figures as rows, in one column order for CSV and XLSX.
const FIGURE_HEADERS: [&str; 18] = [
    "编码", "名称", "评价数", "主动评价数", "默认评价数", "好评率", "差评率", "主动评价好评率", "未评率", "差评回复率", "整改率", "按期办结率", "回访满意率", "超期案件", "超期工作日", "申诉", "申诉成立", "退单",
];

fn figure_cells(g: &Figures) -> Vec<Metric> {
    vec![
        Metric::Count(g.ratings),
        Metric::Count(g.active_ratings),
        Metric::Count(g.default_ratings),
        Metric::Rate(g.good_rate),
        Metric::Rate(g.bad_rate),
        Metric::Rate(g.active_good_rate),
        Metric::Rate(g.unrated_rate),
        Metric::Rate(g.bad_reply_rate),
        Metric::Rate(g.rectification_rate),
        Metric::Rate(g.on_time_rate),
        Metric::Rate(g.follow_up_satisfaction_rate),
        Metric::Count(g.overdue_cases),
        Metric::Count(g.overdue_days),
        Metric::Count(g.appeals_filed),
        Metric::Count(g.appeals_upheld),
        Metric::Count(g.returns),
    ]
}

/// CSV: one table after another, each under a title line; UTF-8 with a byte-order mark so that
/// spreadsheet programs read the Chinese correctly.
pub fn csv(r: &MonthlyReport) -> AppResult<Vec<u8>> {
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(vec![0xEF, 0xBB, 0xBF]);
    let mut write = |row: Vec<String>| out.write_record(row.iter().map(|cell| crate::adapters::render::spreadsheet_safe(cell))).map_err(AppError::internal);
    write(vec![format!("{} 运营报告", r.month)])?;
    write(vec!["指标".into(), "本月".into(), "上月".into()])?;
    for (label, now, before) in overview_rows(r) {
        write(vec![label.into(), now.text(), before.text()])?;
    }
    write(vec![])?;
    write(vec!["各部门".into()])?;
    write(FIGURE_HEADERS.iter().map(|s| s.to_string()).collect())?;
    for g in &r.departments {
        write([g.key.clone(), g.name.clone()].into_iter().chain(figure_cells(g).into_iter().map(Metric::text)).collect())?;
    }
    write(vec![])?;
    write(vec!["月度趋势".into()])?;
    write(std::iter::once("月份").chain(FIGURE_HEADERS[2..].iter().copied()).map(str::to_owned).collect())?;
    for g in &r.trend {
        write(std::iter::once(g.key.clone()).chain(figure_cells(g).into_iter().map(Metric::text)).collect())?;
    }
    for ranking in [&r.department_ranking, &r.window_ranking] {
        write(vec![])?;
        write(vec![if ranking.by == "window" { "窗口排名".into() } else { "部门排名".into() }, format!("最少评价数 {}", ranking.min_ratings)])?;
        write(vec!["名次".into(), "编码".into(), "名称".into(), "评价数".into(), "好评率".into(), "差评回复率".into(), "按期办结率".into()])?;
        for e in ranking.ranked.iter().chain(&ranking.not_ranked) {
            write(vec![e.rank.map(|n| n.to_string()).unwrap_or_else(|| "不参与排名".into()), e.key.clone(), e.name.clone(), e.ratings.to_string(), pct(e.good_rate), pct(e.bad_reply_rate), pct(e.on_time_rate)])?;
        }
    }
    write(vec![])?;
    write(vec!["集中问题".into()])?;
    write(vec!["序号".into(), "问题".into(), "条数".into(), "关键词".into(), "示例".into()])?;
    for (i, c) in r.clusters.iter().enumerate() {
        write(vec![(i + 1).to_string(), c.label.clone(), c.size.to_string(), c.top_terms.join("、"), c.samples.join(" / ")])?;
    }
    write(vec![])?;
    write(vec!["仍超期的案件".into()])?;
    write(vec!["案件".into(), "部门".into(), "状态".into(), "到期".into(), "超期工作日".into(), "内容".into()])?;
    for c in &r.overdue {
        write(vec![c.id.to_string(), c.department_name.clone().unwrap_or_default(), c.state_label.clone(), c.due_at.clone().unwrap_or_default(), c.overdue_days.to_string(), c.summary.clone()])?;
    }
    out.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("csv: {e}")))
}

fn xlsx_error(e: XlsxError) -> AppError {
    AppError::internal(anyhow::anyhow!("xlsx: {e}"))
}

fn put(sheet: &mut Worksheet, row: u32, col: u16, m: Metric, count: &CellFormat, rate: &CellFormat) -> Result<(), XlsxError> {
    match m {
        Metric::Count(n) => sheet.write_number_with_format(row, col, n as f64, count).map(|_| ()),
        Metric::Rate(Some(r)) => sheet.write_number_with_format(row, col, r, rate).map(|_| ()),
        Metric::Rate(None) => sheet.write_string(row, col, "—").map(|_| ()),
    }
}

/// `2026-11` as the Excel date of its first day.
fn month_start(month: &str) -> Option<rust_xlsxwriter::ExcelDateTime> {
    let (year, month) = month.split_once('-')?;
    rust_xlsxwriter::ExcelDateTime::from_ymd(year.parse().ok()?, month.parse().ok()?, 1).ok()
}

/// An RFC 3339 instant as the Excel date-time of its wall clock in Beijing (Excel has no zones).
fn local_moment(rfc3339: &str) -> Option<rust_xlsxwriter::ExcelDateTime> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?.with_timezone(&chrono_tz::Asia::Shanghai);
    rust_xlsxwriter::ExcelDateTime::from_ymd(u16::try_from(t.year()).ok()?, t.month() as u8, t.day() as u8)
        .ok()?
        .and_hms(t.hour() as u16, t.minute() as u8, t.second())
        .ok()
}

/// XLSX: one sheet per table, Chinese headers, rates as percentages, counts as whole numbers.
pub fn xlsx(r: &MonthlyReport) -> AppResult<Vec<u8>> {
    let build = || -> Result<Vec<u8>, XlsxError> {
        let mut book = Workbook::new();
        let header = CellFormat::new().set_bold().set_background_color("#F7F8FA").set_align(FormatAlign::Center);
        let count = CellFormat::new().set_num_format("0");
        let rate = CellFormat::new().set_num_format("0.0%");
        let month = CellFormat::new().set_num_format("yyyy-mm");
        let moment = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm");

        let sheet = book.add_worksheet().set_name("总体")?;
        sheet.write_string(0, 0, format!("{} 政务服务“好差评”运营报告", r.month))?;
        for (c, h) in ["指标", "本月", "上月"].iter().enumerate() {
            sheet.write_string_with_format(1, c as u16, *h, &header)?;
        }
        for (i, (label, now, before)) in overview_rows(r).into_iter().enumerate() {
            let row = 2 + i as u32;
            sheet.write_string(row, 0, label)?;
            put(sheet, row, 1, now, &count, &rate)?;
            put(sheet, row, 2, before, &count, &rate)?;
        }
        sheet.set_column_width(0, 18)?;

        let sheet = book.add_worksheet().set_name("各部门")?;
        for (c, h) in FIGURE_HEADERS.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
        }
        for (i, g) in r.departments.iter().enumerate() {
            let row = 1 + i as u32;
            sheet.write_string(row, 0, &g.key)?;
            sheet.write_string(row, 1, &g.name)?;
            for (j, m) in figure_cells(g).into_iter().enumerate() {
                put(sheet, row, 2 + j as u16, m, &count, &rate)?;
            }
        }
        sheet.set_column_width(1, 22)?;
        sheet.set_freeze_panes(1, 2)?;

        // One row per month, the month a real date (its first day, shown as 2026-11), so that
        // Excel sorts, filters and charts it as time.
        let sheet = book.add_worksheet().set_name("月度趋势")?;
        for (c, h) in std::iter::once("月份").chain(FIGURE_HEADERS[2..].iter().copied()).enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &header)?;
        }
        for (i, g) in r.trend.iter().enumerate() {
            let row = 1 + i as u32;
            match month_start(&g.key) {
                Some(date) => sheet.write_datetime_with_format(row, 0, &date, &month)?,
                None => sheet.write_string(row, 0, &g.key)?,
            };
            for (j, m) in figure_cells(g).into_iter().enumerate() {
                put(sheet, row, 1 + j as u16, m, &count, &rate)?;
            }
        }
        sheet.set_column_width(0, 10)?;
        sheet.set_freeze_panes(1, 1)?;

        for (name, ranking) in [("部门排名", &r.department_ranking), ("窗口排名", &r.window_ranking)] {
            let sheet = book.add_worksheet().set_name(name)?;
            for (c, h) in ["名次", "编码", "名称", "评价数", "好评率", "差评回复率", "按期办结率"].iter().enumerate() {
                sheet.write_string_with_format(0, c as u16, *h, &header)?;
            }
            for (i, e) in ranking.ranked.iter().chain(&ranking.not_ranked).enumerate() {
                let row = 1 + i as u32;
                match e.rank {
                    Some(n) => sheet.write_number_with_format(row, 0, f64::from(n), &count)?,
                    None => sheet.write_string(row, 0, "不参与排名")?,
                };
                sheet.write_string(row, 1, &e.key)?;
                sheet.write_string(row, 2, &e.name)?;
                put(sheet, row, 3, Metric::Count(e.ratings), &count, &rate)?;
                put(sheet, row, 4, Metric::Rate(e.good_rate), &count, &rate)?;
                put(sheet, row, 5, Metric::Rate(e.bad_reply_rate), &count, &rate)?;
                put(sheet, row, 6, Metric::Rate(e.on_time_rate), &count, &rate)?;
            }
            sheet.set_column_width(2, 22)?;
        }

        let sheet = book.add_worksheet().set_name("集中问题")?;
        for (c, h) in ["序号", "问题", "条数", "关键词", "示例"].iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
        }
        for (i, c) in r.clusters.iter().enumerate() {
            let row = 1 + i as u32;
            sheet.write_number_with_format(row, 0, (i + 1) as f64, &count)?;
            sheet.write_string(row, 1, &c.label)?;
            sheet.write_number_with_format(row, 2, f64::from(c.size), &count)?;
            sheet.write_string(row, 3, c.top_terms.join("、"))?;
            sheet.write_string(row, 4, c.samples.join(" / "))?;
        }
        sheet.set_column_width(4, 60)?;

        let sheet = book.add_worksheet().set_name("超期案件")?;
        for (c, h) in ["案件", "部门", "状态", "到期", "超期工作日", "内容"].iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *h, &header)?;
        }
        for (i, c) in r.overdue.iter().enumerate() {
            let row = 1 + i as u32;
            sheet.write_number_with_format(row, 0, c.id as f64, &count)?;
            sheet.write_string(row, 1, c.department_name.as_deref().unwrap_or("待分派"))?;
            sheet.write_string(row, 2, &c.state_label)?;
            match c.due_at.as_deref().and_then(local_moment) {
                Some(due) => sheet.write_datetime_with_format(row, 3, &due, &moment)?,
                None => sheet.write_string(row, 3, c.due_at.as_deref().unwrap_or(""))?,
            };
            sheet.write_number_with_format(row, 4, f64::from(c.overdue_days), &count)?;
            sheet.write_string(row, 5, &c.summary)?;
        }
        sheet.set_column_width(3, 17)?;
        sheet.set_column_width(5, 60)?;
        book.save_to_buffer()
    };
    build().map_err(xlsx_error)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_in_citizens_text_stay_text() {
        assert_eq!(crate::adapters::render::spreadsheet_safe("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(crate::adapters::render::spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(crate::adapters::render::spreadsheet_safe("排队太久"), "排队太久");
        assert_eq!(crate::adapters::render::spreadsheet_safe("95.0%"), "95.0%");
    }
}
