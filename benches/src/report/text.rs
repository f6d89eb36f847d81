//! The report as plain text for the terminal: verdict, summary, tables.
//! Charts are only named here; they are drawn in the HTML report.

use std::fmt::Write;

use super::{Report, Table};

/// The whole report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", report.title);
    for line in &report.context {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(verdict) = &report.verdict {
        let _ = writeln!(out, "\n{}: {}", verdict.level.word(), verdict.headline);
        for advice in &verdict.advice {
            let _ = writeln!(out, "  - {advice}");
        }
    }
    if !report.summary.is_empty() {
        out.push('\n');
        let width = report
            .summary
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (key, value) in &report.summary {
            let _ = writeln!(out, "  {key:<width$}  {value}");
        }
    }
    for table in &report.tables {
        out.push('\n');
        out.push_str(&table_text(table));
    }
    out
}

/// A table with aligned columns: numbers right, text left.
pub fn table_text(table: &Table) -> String {
    let mut out = String::new();
    if !table.title.is_empty() {
        let _ = writeln!(out, "{}", table.title);
    }
    let columns = table.columns.len();
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.chars().count()).collect();
    for row in &table.rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let numeric = |cell: &str| {
        cell.trim_end_matches(|c: char| c.is_alphabetic() || c == '%' || c == ' ')
            .parse::<f64>()
            .is_ok()
    };
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .take(columns)
            .map(|(i, c)| {
                if numeric(c) {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", parts.join("  ").trim_end());
    };
    line(&table.columns, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let _ = writeln!(out, "  {}", rule.join("  "));
    for row in &table.rows {
        line(row, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Level, Verdict};

    #[test]
    fn a_report_reads_top_down() {
        let report = Report {
            title: "Connection test".into(),
            context: vec!["gateway https://gw.example".into()],
            verdict: Some(Verdict {
                level: Level::Good,
                headline: "720p30 will work".into(),
                advice: vec!["Nothing to do.".into()],
            }),
            summary: vec![("Round trip".into(), "12 ms".into())],
            tables: vec![Table {
                title: "Steps".into(),
                columns: vec!["step".into(), "kbit/s".into()],
                rows: vec![
                    vec!["1".into(), "500".into()],
                    vec!["2".into(), "1000".into()],
                ],
            }],
            charts: vec![],
        };
        let text = render(&report);
        assert!(text.contains("GOOD: 720p30 will work"), "{text}");
        assert!(text.contains("Round trip  12 ms"), "{text}");
        assert!(text.contains("     1     500"), "{text}");
    }
}
