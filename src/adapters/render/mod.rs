//! Rendering shared by the pages and the report files: the stylesheet, number and time
//! formats, the figures table, the SVG charts ([`charts`]) and QR codes of rating links ([`qr`]).

pub mod charts;
pub mod qr;

use maud::{html, Markup};

/// The one stylesheet: served to pages as `/static/app.css`, inlined in a standalone report.
pub const APP_CSS: &str = include_str!("app.css");

/// `95.0%`, or `—` when nothing was counted.
pub fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

/// `2026-11-22 09:30` from an RFC 3339 time as the API writes it.
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").chars().take(16).collect()
}

/// One group's line of the figures table.
pub struct FigureRow<'a> {
    pub name: &'a str,
    pub ratings: i64,
    pub bad: i64,
    pub good_rate: Option<f64>,
    pub bad_reply_rate: Option<f64>,
    pub rectification_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub follow_up_satisfaction_rate: Option<f64>,
    pub overdue_cases: i64,
}

/// The numbers behind a chart, in a table that scrolls sideways on a phone.
pub fn figures_table(key_label: &str, rows: &[FigureRow<'_>]) -> Markup {
    html! {
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { (key_label) } th scope="col" { "评价数" } th scope="col" { "差评" } th scope="col" { "好评率" }
                    th scope="col" { "差评回复率" } th scope="col" { "整改率" } th scope="col" { "按期办结率" } th scope="col" { "回访满意率" } th scope="col" { "超期" }
                } }
                tbody {
                    @for g in rows {
                        tr {
                            th scope="row" { (g.name) } td { (g.ratings) } td { (g.bad) } td { (percent(g.good_rate)) }
                            td { (percent(g.bad_reply_rate)) } td { (percent(g.rectification_rate)) } td { (percent(g.on_time_rate)) } td { (percent(g.follow_up_satisfaction_rate)) } td { (g.overdue_cases) }
                        }
                    }
                }
            }
        }
    }
}

/// Citizens' text opened in a spreadsheet must stay text: a leading `=`, `+`, `-`, `@`, tab or
/// carriage return would make it a formula, so such a cell gets a leading apostrophe.
pub fn spreadsheet_safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}
