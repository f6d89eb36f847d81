//! Warnings about what outsiders send, summed up instead of logged one by one.
//!
//! A datagram costs an attacker nothing; a log line per datagram would let
//! anyone flood the gateway's log and bury what matters. What arrives is
//! counted, and at most one line a minute says how many, naming no address.

use std::time::{Duration, Instant};

/// How often a summary may be written.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Counts one kind of event and says when a summary is due.
#[derive(Debug, Default)]
pub struct WarningSummary {
    count: u64,
    since: Option<Instant>,
}

impl WarningSummary {
    /// One more event at `now`.
    pub fn record(&mut self, now: Instant) {
        self.count += 1;
        self.since.get_or_insert(now);
    }

    /// The count to report when the first event counted is at least
    /// [`SUMMARY_INTERVAL`] old; counting then starts afresh.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        let since = self.since?;
        if now.saturating_duration_since(since) < SUMMARY_INTERVAL {
            return None;
        }
        let count = std::mem::take(&mut self.count);
        self.since = None;
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_becomes_one_line_a_minute() {
        let start = Instant::now();
        let mut summary = WarningSummary::default();
        assert_eq!(summary.due(start + SUMMARY_INTERVAL * 2), None);
        for i in 0..10_000u64 {
            summary.record(start + Duration::from_micros(i));
        }
        assert_eq!(summary.due(start + Duration::from_secs(59)), None);
        assert_eq!(summary.due(start + SUMMARY_INTERVAL), Some(10_000));
        assert_eq!(summary.due(start + SUMMARY_INTERVAL * 3), None);
        summary.record(start + SUMMARY_INTERVAL * 3);
        assert_eq!(summary.due(start + SUMMARY_INTERVAL * 4), Some(1));
    }
}
