//! The media loop's pulse: it beats on every turn, and anyone may ask
//! whether it still does (`/healthz`, systemd's watchdog through
//! [`crate::service`]).
//!
//! The loop turns at least once a second even when idle, so a pulse older
//! than [`STALL_AFTER`] means the loop has stopped (its thread died) or is
//! stuck inside one call: every stream in every room stands still.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest the loop may go without turning before it counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(3);

/// The longest the loop sleeps: it must beat more often than [`STALL_AFTER`].
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Shared between the loop (which beats) and whoever checks it.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last_beat_ms: AtomicU64,
    /// Set when the loop has ended (its thread returned or panicked).
    stopped: AtomicBool,
}

impl Heartbeat {
    /// A heartbeat that last beat at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            origin: now,
            last_beat_ms: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// The loop turned at `now`.
    pub fn beat(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.origin).as_millis();
        self.last_beat_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The loop has ended and will not beat again.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// How long the loop has been silent at `now`; `None` once it has
    /// ended (it will never beat again).
    pub fn silence(&self, now: Instant) -> Option<Duration> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let last = self.origin + Duration::from_millis(self.last_beat_ms.load(Ordering::Relaxed));
        Some(now.saturating_duration_since(last))
    }

    /// `Ok` while the loop turns; otherwise what is wrong, in words.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        let Some(silent) = self.silence(now) else {
            return Err("the media loop has stopped: no stream can flow".into());
        };
        if silent > STALL_AFTER {
            return Err(format!(
                "the media loop has not turned for {:.1} s: streams are standing still",
                silent.as_secs_f64()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beating_loop_is_healthy_and_a_silent_one_is_not() {
        let start = Instant::now();
        let heart = Heartbeat::new(start);
        assert_eq!(heart.check(start + Duration::from_secs(1)), Ok(()));
        heart.beat(start + Duration::from_secs(2));
        assert_eq!(heart.check(start + Duration::from_secs(5)), Ok(()));
        let why = heart
            .check(start + Duration::from_millis(5_100))
            .unwrap_err();
        assert!(why.contains("has not turned for 3.1 s"), "{why}");
    }

    #[test]
    fn a_stopped_loop_is_unhealthy_at_once() {
        let start = Instant::now();
        let heart = Heartbeat::new(start);
        heart.stop();
        let why = heart.check(start).unwrap_err();
        assert!(why.contains("stopped"), "{why}");
    }
}
