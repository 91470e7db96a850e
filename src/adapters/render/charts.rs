//! Charts drawn on the server as SVG (plotters), so that pages, printouts and the HTML report
//! show the same picture without scripts. Each chart carries a `<title>` and the page shows the
//! numbers beside it in a table, for screen readers and for copying.

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;

const INK: RGBColor = RGBColor(0x1f, 0x29, 0x33);
const GRID: RGBColor = RGBColor(0xd9, 0xde, 0xe3);
/// Bars: the brand red for what is bad, a blue for neutral counts, green for good.
pub const RED: RGBColor = RGBColor(0xb3, 0x26, 0x1e);
pub const BLUE: RGBColor = RGBColor(0x1a, 0x56, 0xdb);
pub const GREEN: RGBColor = RGBColor(0x1e, 0x6b, 0x3a);
pub const AMBER: RGBColor = RGBColor(0xb7, 0x79, 0x1f);

const FONT: &str = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif";

/// How to print a value on an axis and beside a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Count,
    Percent,
}

impl Format {
    pub fn show(self, v: f64) -> String {
        match self {
            Format::Count => format!("{v:.0}"),
            Format::Percent => super::percent(Some(v)),
        }
    }
}

/// Wraps plotters' SVG in a figure that scales to the page width and names itself.
fn finish(title: &str, svg: String) -> String {
    let escaped = maud::html! { (title) }.into_string();
    // plotters writes a fixed-size <svg>; a viewBox lets it shrink on a phone.
    let svg = match (svg.find("width=\""), svg.find("<svg")) {
        (Some(_), Some(start)) => {
            let head_end = svg[start..].find('>').map(|i| start + i).unwrap_or(start);
            let head = &svg[start..head_end];
            let dim = |name: &str| {
                head.split(&format!("{name}=\"")).nth(1).and_then(|s| s.split('"').next()).map(str::to_owned).unwrap_or_default()
            };
            let (w, h) = (dim("width"), dim("height"));
            format!(
                "<svg role=\"img\" aria-label=\"{escaped}\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\"><title>{escaped}</title>{}",
                &svg[head_end + 1..]
            )
        }
        _ => svg,
    };
    format!("<figure class=\"chart\">{svg}</figure>")
}

/// Draws on a white SVG canvas; a chart that fails to draw is logged and left blank rather than
/// failing the page it stands on.
fn render(title: &str, size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), Box<dyn std::error::Error>>) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into));
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "chart not drawn");
        }
    }
    finish(title, svg)
}

/// Horizontal bars, one per label: readable on a phone even with long Chinese names.
pub fn bars(title: &str, labels: &[String], values: &[f64], format: Format, color: RGBColor) -> String {
    let n = labels.len().min(values.len());
    if n == 0 {
        return String::new();
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let top = match format {
        // Room beside the longest bar for its value.
        Format::Percent => 1.18_f64.max(max * 1.18),
        Format::Count => (max * 1.18).max(1.0),
    };
    // The first label is drawn on top: segment 0 is the bottom of the axis.
    let row = |i: usize| n - 1 - i;
    let height = 60 + 36 * n as u32;
    render(title, (480, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20).into_font().color(&INK))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(160)
            .build_cartesian_2d(0.0..top, (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .x_labels(5)
            .x_label_formatter(&|v| if format == Format::Percent && *v > 1.0 { String::new() } else { format.show(*v) })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => labels.get(row(*i)).map(|l| shorten(l, 9)).unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_style(INK)
            .draw()?;
        chart.draw_series(values.iter().take(n).enumerate().map(|(i, v)| {
            let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(row(i))), (*v, SegmentValue::Exact(row(i) + 1))], color.filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        chart.draw_series(values.iter().take(n).enumerate().map(|(i, v)| {
            Text::new(format!(" {}", format.show(*v)), (*v, SegmentValue::CenterOf(row(i))), (FONT, 14).into_font().color(&INK))
        }))?;
        Ok(())
    })
}

/// One or more lines over ordered labels (months), each series with its own colour.
pub fn lines(title: &str, labels: &[String], series: &[(&str, Vec<f64>, RGBColor)], format: Format) -> String {
    if labels.is_empty() || series.is_empty() {
        return String::new();
    }
    let max = series.iter().flat_map(|(_, v, _)| v.iter().copied()).fold(0.0_f64, f64::max);
    let top = match format {
        Format::Percent => 1.0,
        Format::Count => (max * 1.15).max(1.0),
    };
    let n = labels.len() as i32;
    let label_at = |i: i32| usize::try_from(i).ok().and_then(|i| labels.get(i)).cloned().unwrap_or_default();
    render(title, (480, 300), |root| {
        // One empty slot either side keeps the first and last points off the frame.
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20).into_font().color(&INK))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-1..n, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .bold_line_style(GRID)
            .y_labels(5)
            .y_label_formatter(&|v| format.show(*v))
            .x_labels(usize::try_from(n + 2).unwrap_or(2))
            .x_label_formatter(&|i| label_at(*i))
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_style(INK)
            .draw()?;
        for (name, values, color) in series {
            let points: Vec<(i32, f64)> = values.iter().take(labels.len()).enumerate().map(|(i, v)| (i as i32, *v)).collect();
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 15).into_font().color(&INK))
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
        Ok(())
    })
}

/// A small line without axes (a topic's comments per week) that sits beside its numbers; the
/// title says what it shows.
pub fn sparkline(title: &str, values: &[f64], color: RGBColor) -> String {
    if values.is_empty() {
        return String::new();
    }
    let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let last = i32::try_from(values.len()).unwrap_or(i32::MAX).saturating_sub(1).max(1);
    let svg = render(title, (240, 56), |root| {
        let mut chart = ChartBuilder::on(root).margin(6).build_cartesian_2d(0..last, 0.0..top)?;
        let points: Vec<(i32, f64)> = values.iter().enumerate().map(|(i, v)| (i32::try_from(i).unwrap_or(i32::MAX), *v)).collect();
        chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
        chart.draw_series(points.last().map(|p| Circle::new(*p, 3, color.filled())))?;
        Ok(())
    });
    svg.replacen("<figure class=\"chart\">", "<figure class=\"chart spark\">", 1)
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max_chars - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_svg_with_escaped_title_and_labels() {
        let svg = bars("各部门差评率 <测试>", &["区市场监督管理局".into(), "区税务局".into()], &[0.125, 0.5], Format::Percent, RED);
        assert!(svg.starts_with("<figure class=\"chart\"><svg role=\"img\""), "{svg}");
        assert!(svg.contains("<title>各部门差评率 &lt;测试&gt;</title>"));
        assert!(svg.contains("区市场监督管理局") && svg.contains("12.5%") && svg.contains("50.0%"));
        assert!(svg.contains("viewBox=\"0 0 480 "));
        assert!(svg.matches("<rect").count() >= 2);
    }

    #[test]
    fn lines_draw_each_series_and_month() {
        let months: Vec<String> = ["2026-09", "2026-10", "2026-11"].iter().map(|s| s.to_string()).collect();
        let svg = lines("评价量", &months, &[("评价数", vec![10.0, 30.0, 20.0], BLUE), ("差评数", vec![1.0, 3.0, 2.0], RED)], Format::Count);
        assert!(svg.contains("2026-10") && svg.contains("评价数") && svg.contains("差评数"));
        assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");
        assert_eq!(bars("x", &[], &[], Format::Count, RED), "");
        let spark = sparkline("主题 #3 每周条数：1、4、2", &[1.0, 4.0, 2.0], BLUE);
        assert!(spark.starts_with("<figure class=\"chart spark\"><svg role=\"img\"") && spark.contains("<title>主题 #3 每周条数：1、4、2</title>"), "{spark}");
        assert_eq!(sparkline("x", &[], BLUE), "");
    }
}
