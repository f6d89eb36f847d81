//! One report shape for every subcommand: a verdict, a summary, tables and
//! charts; rendered as a terminal table ([`text`]) or a self-contained HTML
//! page with inline SVG plots ([`html`]) that IT can attach to a ticket.
//! Each subcommand prints its own JSON object for scripts (`--json`).
//!
//! Nothing is fetched by the HTML page: no scripts, fonts or images from
//! anywhere, so it opens the same on a ward's offline laptop.

pub mod html;
pub mod progress;
pub mod text;

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// How a check came out; also the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Good,
    Marginal,
    Unusable,
}

impl Level {
    /// 0 good, 1 marginal, 2 unusable.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Good => 0,
            Self::Marginal => 1,
            Self::Unusable => 2,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Good => "GOOD",
            Self::Marginal => "MARGINAL",
            Self::Unusable => "UNUSABLE",
        }
    }
}

/// The headline of a report, in plain words.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub level: Level,
    pub headline: String,
    /// What to do, one sentence each.
    pub advice: Vec<String>,
}

/// A table: a title, column names, rows of cells.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// (x, y) in chart units.
    pub points: Vec<(f64, f64)>,
}

/// A plot.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Lines over a shared x axis (time, usually).
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        series: Vec<Series>,
    },
    /// Counts of samples in bins (latency distributions).
    Histogram {
        title: String,
        x_label: String,
        samples: Vec<f64>,
        bins: usize,
    },
}

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Self::Lines { title, .. } | Self::Histogram { title, .. } => title,
        }
    }
}

/// Everything a subcommand found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub title: String,
    /// What was tested, where, when: one line each.
    pub context: Vec<String>,
    pub verdict: Option<Verdict>,
    /// Key figures: (name, value with unit).
    pub summary: Vec<(String, String)>,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
}

impl Report {
    /// Writes the HTML page to `path`.
    pub fn write_html(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, html::render(self))
            .with_context(|| format!("cannot write the report to {}", path.display()))
    }
}

/// Percentile `p` (0–100) of `values`, by nearest rank; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The machine a measurement ran on (CPUs, CPU model, kernel), as the
/// first line of a report: figures only compare on like machines.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cpus} CPUs (nproc), {model}, Linux {}",
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
