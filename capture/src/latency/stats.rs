//! Distributions of per-frame durations: over a rolling window (what the
//! status shows and the ladder judges) and over the whole session (what a
//! benchmark reads at the end).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// How many frames these come from.
    pub frames: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (sorted in place); `None` when empty.
    pub fn of(values: &mut [Duration]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        Some(Self {
            p50: ms(nearest_rank(values, 0.50)),
            p95: ms(nearest_rank(values, 0.95)),
            p99: ms(nearest_rank(values, 0.99)),
            max: ms(values[values.len() - 1]),
            frames: values.len() as u64,
        })
    }
}

/// The value at quantile `q` of sorted, non-empty `values` (nearest rank).
pub fn nearest_rank(values: &[Duration], q: f64) -> Duration {
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// A duration in milliseconds, as shown to people.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Timestamped samples of the last `span`, oldest first.
#[derive(Debug, Clone)]
pub struct Rolling<T> {
    span: Duration,
    samples: VecDeque<(Instant, T)>,
}

impl<T: Copy> Rolling<T> {
    /// An empty window `span` long.
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `now` and forgets those older than the span.
    pub fn record(&mut self, now: Instant, value: T) {
        self.samples.push_back((now, value));
        self.expire(now);
    }

    /// Forgets samples older than the span before `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.samples.front() {
            if now.saturating_duration_since(*at) > self.span {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// The samples in the window, oldest first.
    pub fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.samples.iter().map(|(_, v)| *v)
    }

    /// How many samples the window holds.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The window's length.
    pub fn span(&self) -> Duration {
        self.span
    }
}

impl Rolling<Duration> {
    /// Percentiles of the window's samples.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let mut values: Vec<Duration> = self.values().collect();
        Percentiles::of(&mut values)
    }
}

/// Every sample since the start, in microseconds to three significant
/// digits (0.1 % resolution), in constant memory.
#[derive(Debug, Clone)]
pub struct SessionHistogram {
    histogram: hdrhistogram::Histogram<u64>,
}

impl Default for SessionHistogram {
    fn default() -> Self {
        Self {
            // Auto-resizing: a frame stuck for minutes is still counted.
            histogram: hdrhistogram::Histogram::new(3)
                .expect("3 significant digits is a valid histogram precision"),
        }
    }
}

impl SessionHistogram {
    /// Counts one sample.
    pub fn record(&mut self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX).max(1);
        // Auto-resize makes recording infallible for any u64.
        let _ = self.histogram.record(us);
    }

    /// Percentiles of everything recorded so far.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let h = &self.histogram;
        if h.is_empty() {
            return None;
        }
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        Some(Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: h.max() as f64 / 1e3,
            frames: h.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let mut values: Vec<Duration> = (1..=100).rev().map(|i| i * MS).collect();
        let p = Percentiles::of(&mut values).unwrap();
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(p.frames, 100);
        assert_eq!(Percentiles::of(&mut []), None);
    }

    #[test]
    fn rolling_window_forgets_old_samples() {
        let start = Instant::now();
        let mut window = Rolling::new(Duration::from_secs(10));
        window.record(start, 40 * MS);
        window.record(start + Duration::from_secs(5), 10 * MS);
        assert_eq!(window.percentiles().unwrap().max, 40.0);
        window.record(start + Duration::from_secs(11), 12 * MS);
        let p = window.percentiles().unwrap();
        assert_eq!((p.frames, p.max), (2, 12.0));
    }

    #[test]
    fn session_histogram_is_within_its_precision() {
        let mut h = SessionHistogram::default();
        for i in 1..=1000u64 {
            h.record(Duration::from_micros(i * 100));
        }
        let p = h.percentiles().unwrap();
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(p.frames, 1000);
    }
}
