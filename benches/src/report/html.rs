//! The report as one self-contained HTML page: inline CSS, inline SVG plots,
//! no scripts and nothing fetched, so it can be attached to a ticket and
//! opened anywhere.

use std::fmt::Write;

use super::{Chart, Level, Report, Series, Table};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
/// Plot area margins: left (y labels), right, top, bottom (x labels).
const MARGIN: (f64, f64, f64, f64) = (64.0, 16.0, 16.0, 44.0);
/// Line colours, distinguishable in greyscale print too.
const COLOURS: &[&str] = &[
    "#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#555555",
];

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:780px;\
color:#222;padding:0 1em}h1{font-size:1.5em;margin-bottom:.2em}.context{color:#555;margin:0 0 1em}\
.verdict{padding:.8em 1em;border-radius:6px;margin:1em 0}.verdict h2{margin:0;font-size:1.2em}\
.good{background:#e3f4e8;border:1px solid #2e8b57}.marginal{background:#fdf3dc;border:1px solid #d68910}\
.unusable{background:#fbe5e3;border:1px solid #c0392b}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}td.num{text-align:right;\
font-variant-numeric:tabular-nums}figure{margin:1em 0 2em}figcaption{font-weight:600;margin-bottom:.3em}\
svg text{font:12px system-ui,sans-serif;fill:#444}.legend span{margin-right:1.2em}\
.legend i{display:inline-block;width:1em;height:.25em;vertical-align:middle;margin-right:.3em}";

/// The page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&report.title),
        escape(&report.title)
    );
    if !report.context.is_empty() {
        out.push_str("<p class=\"context\">");
        let lines: Vec<String> = report.context.iter().map(|l| escape(l)).collect();
        out.push_str(&lines.join("<br>"));
        out.push_str("</p>\n");
    }
    if let Some(verdict) = &report.verdict {
        let class = match verdict.level {
            Level::Good => "good",
            Level::Marginal => "marginal",
            Level::Unusable => "unusable",
        };
        let _ = write!(
            out,
            "<section class=\"verdict {class}\" data-level=\"{class}\"><h2>{}: {}</h2>",
            verdict.level.word(),
            escape(&verdict.headline)
        );
        if !verdict.advice.is_empty() {
            out.push_str("<ul>");
            for advice in &verdict.advice {
                let _ = write!(out, "<li>{}</li>", escape(advice));
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>\n");
    }
    if !report.summary.is_empty() {
        out.push_str("<table class=\"summary\">");
        for (key, value) in &report.summary {
            let _ = write!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(key),
                escape(value)
            );
        }
        out.push_str("</table>\n");
    }
    for chart in &report.charts {
        out.push_str(&chart_figure(chart));
    }
    for table in &report.tables {
        out.push_str(&table_html(table));
    }
    out.push_str("</body></html>\n");
    out
}

fn table_html(table: &Table) -> String {
    let mut out = String::new();
    if !table.title.is_empty() {
        let _ = write!(out, "<h3>{}</h3>", escape(&table.title));
    }
    out.push_str("<table><tr>");
    for column in &table.columns {
        let _ = write!(out, "<th>{}</th>", escape(column));
    }
    out.push_str("</tr>");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let numeric = cell
                .trim_end_matches(|c: char| c.is_alphabetic() || c == '%' || c == ' ')
                .parse::<f64>()
                .is_ok();
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
    out
}

fn chart_figure(chart: &Chart) -> String {
    let (kind, svg, legend) = match chart {
        Chart::Lines {
            x_label,
            y_label,
            series,
            ..
        } => ("lines", lines_svg(x_label, y_label, series), legend(series)),
        Chart::Histogram {
            x_label,
            samples,
            bins,
            ..
        } => (
            "histogram",
            histogram_svg(x_label, samples, *bins),
            String::new(),
        ),
    };
    format!(
        "<figure class=\"chart\" data-kind=\"{kind}\"><figcaption>{}</figcaption>{svg}{legend}</figure>\n",
        escape(chart.title())
    )
}

fn legend(series: &[Series]) -> String {
    if series.len() < 2 {
        return String::new();
    }
    let mut out = String::from("<div class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            COLOURS[i % COLOURS.len()],
            escape(&s.name)
        );
    }
    out.push_str("</div>");
    out
}

/// Maps data ranges onto the plot area.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
    /// Counts: no fractional ticks on the y axis.
    whole_y: bool,
}

impl Axes {
    fn px(&self, x: f64) -> f64 {
        let (l, r) = (MARGIN.0, WIDTH - MARGIN.1);
        l + (x - self.x.0) / (self.x.1 - self.x.0).max(f64::EPSILON) * (r - l)
    }
    fn py(&self, y: f64) -> f64 {
        let (t, b) = (MARGIN.2, HEIGHT - MARGIN.3);
        b - (y - self.y.0) / (self.y.1 - self.y.0).max(f64::EPSILON) * (b - t)
    }

    /// Frame, ticks and axis labels.
    fn draw(&self, out: &mut String, x_label: &str, y_label: &str) {
        let (l, r, t, b) = (MARGIN.0, WIDTH - MARGIN.1, MARGIN.2, HEIGHT - MARGIN.3);
        let _ = write!(
            out,
            "<rect x=\"{l}\" y=\"{t}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#bbb\"/>",
            r - l,
            b - t
        );
        let y_ticks = nice_ticks(self.y.0, self.y.1);
        for tick in y_ticks
            .into_iter()
            .filter(|t| !self.whole_y || t.fract() == 0.0)
        {
            let y = self.py(tick);
            let _ = write!(
                out,
                "<line x1=\"{l}\" x2=\"{r}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                l - 6.0,
                y + 4.0,
                format_tick(tick)
            );
        }
        for tick in nice_ticks(self.x.0, self.x.1) {
            let x = self.px(tick);
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                b + 16.0,
                format_tick(tick)
            );
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (l + r) / 2.0,
            HEIGHT - 6.0,
            escape(x_label),
            (t + b) / 2.0,
            escape(y_label)
        );
    }
}

fn svg_open() -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"100%\" role=\"img\">"
    )
}

fn lines_svg(x_label: &str, y_label: &str, series: &[Series]) -> String {
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x = bounds(points().map(|p| p.0));
    let (_, y_max) = bounds(points().map(|p| p.1));
    // Rates, losses and delays start at zero: the axis does too.
    let axes = Axes {
        x,
        y: (0.0, nice_ceiling(y_max)),
        whole_y: false,
    };
    let mut out = svg_open();
    axes.draw(&mut out, x_label, y_label);
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", axes.px(x), axes.py(y)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{}\" \
             stroke-width=\"2\" points=\"{}\"/>",
            escape(&s.name),
            COLOURS[i % COLOURS.len()],
            path.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

fn histogram_svg(x_label: &str, samples: &[f64], bins: usize) -> String {
    let bins = bins.max(1);
    let (lo, hi) = bounds(samples.iter().copied());
    let width = ((hi - lo) / bins as f64).max(f64::EPSILON);
    let mut counts = vec![0usize; bins];
    for &s in samples {
        let i = (((s - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0) as f64;
    let axes = Axes {
        x: (lo, lo + width * bins as f64),
        y: (0.0, nice_ceiling(top.max(1.0))),
        whole_y: true,
    };
    let mut out = svg_open();
    axes.draw(&mut out, x_label, "count");
    for (i, &count) in counts.iter().enumerate() {
        let (x0, x1) = (
            axes.px(lo + width * i as f64),
            axes.px(lo + width * (i + 1) as f64),
        );
        let y = axes.py(count as f64);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{}\"/>",
            x0 + 0.5,
            (x1 - x0 - 1.0).max(0.5),
            axes.py(0.0) - y,
            COLOURS[0]
        );
    }
    out.push_str("</svg>");
    out
}

/// (min, max) of finite values; (0, 1) when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    }
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// About five round tick values within [lo, hi].
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = nice_ceiling((hi - lo) / 5.0);
    let mut tick = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    while tick <= hi + step * 1e-9 && ticks.len() < 12 {
        ticks.push(tick);
        tick += step;
    }
    ticks
}

fn format_tick(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}").trim_end_matches('0').to_owned()
    }
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            title: "Load <test>".into(),
            charts: vec![
                Chart::Lines {
                    title: "Bitrate".into(),
                    x_label: "s".into(),
                    y_label: "kbit/s".into(),
                    series: vec![
                        Series {
                            name: "sent".into(),
                            points: vec![(0.0, 500.0), (1.0, 1000.0), (2.0, 2000.0)],
                        },
                        Series {
                            name: "received".into(),
                            points: vec![(0.0, 490.0), (1.0, 990.0), (2.0, 1500.0)],
                        },
                    ],
                },
                Chart::Histogram {
                    title: "Time to first frame".into(),
                    x_label: "ms".into(),
                    samples: vec![80.0, 90.0, 95.0, 120.0, 300.0],
                    bins: 10,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let page = render(&report());
        assert!(page.contains("<title>Load &lt;test&gt;</title>"));
        assert_eq!(page.matches("<polyline").count(), 2);
        assert_eq!(page.matches("class=\"bar\"").count(), 10);
        for external in ["<script", "src=", "href=", "url(", "@import"] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(2300.0), 5000.0);
        assert_eq!(nice_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(2000.0), "2000");
    }
}
