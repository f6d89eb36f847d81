//! Reading the gateway's `GET /metrics` (Prometheus text format).

use std::collections::HashMap;

use anyhow::Context;
use reqwest::Url;

/// One scrape: every sample by its series name with labels, as written
/// (`samsyn_viewers`, `samsyn_dropped_packets_total{reason="keyframe_gate"}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    samples: HashMap<String, f64>,
}

impl Scrape {
    /// Parses the text format; comments and malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                // The value follows the last space outside the labels.
                let split = match line.rfind('}') {
                    Some(end) => end + 1 + line[end + 1..].find(' ')?,
                    None => line.find(' ')?,
                };
                let (name, rest) = line.split_at(split);
                let value = rest.split_whitespace().next()?.parse().ok()?;
                Some((name.to_owned(), value))
            })
            .collect();
        Self { samples }
    }

    /// The sample named exactly `series`.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// `series`, or 0 when the gateway did not report it (yet).
    pub fn value(&self, series: &str) -> f64 {
        self.get(series).unwrap_or(0.0)
    }

    /// Every sample of a histogram's `_bucket` series: (upper bound, count).
    pub fn buckets(&self, histogram: &str) -> Vec<(f64, f64)> {
        let prefix = format!("{histogram}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter_map(|(name, value)| {
                let le = name.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, *value))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// GETs `<base>metrics`.
pub async fn scrape(http: &reqwest::Client, base: &Url) -> anyhow::Result<Scrape> {
    let url = base.join("metrics")?;
    let response = http
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}; is this a samsyn gateway with metrics?");
    }
    Ok(Scrape::parse(&response.text().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_labels_and_buckets() {
        let text = "# HELP samsyn_viewers Viewers\n# TYPE samsyn_viewers gauge\n\
            samsyn_viewers 10\n\
            samsyn_dropped_packets_total{reason=\"keyframe_gate\"} 7\n\
            samsyn_time_to_first_frame_seconds_bucket{le=\"0.08\"} 3\n\
            samsyn_time_to_first_frame_seconds_bucket{le=\"+Inf\"} 4\n\
            process_cpu_seconds_total 1.5e0\n# EOF\n";
        let s = Scrape::parse(text);
        assert_eq!(s.get("samsyn_viewers"), Some(10.0));
        assert_eq!(
            s.value("samsyn_dropped_packets_total{reason=\"keyframe_gate\"}"),
            7.0
        );
        assert_eq!(s.value("process_cpu_seconds_total"), 1.5);
        assert_eq!(s.value("missing"), 0.0);
        assert_eq!(
            s.buckets("samsyn_time_to_first_frame_seconds"),
            vec![(0.08, 3.0), (f64::INFINITY, 4.0)]
        );
    }
}
