//! Keyframe requests to the publisher, at most one per interval.
//!
//! Every viewer that joins or loses a picture asks for a keyframe, and a room
//! of specialists can ask many times a second. A keyframe is several times the
//! size of a delta frame, so the publisher gets at most one request per
//! interval. A request that arrives inside the interval is deferred, never
//! dropped: the viewer that asked still gets its keyframe, just a little later.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct KeyframeThrottle {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_sent: None,
            pending: false,
        }
    }

    /// Records a request; true when it may go to the publisher now.
    pub fn request(&mut self, now: Instant) -> bool {
        self.pending = true;
        self.poll(now)
    }

    /// True when a deferred request is due now (and marks it sent).
    pub fn poll(&mut self, now: Instant) -> bool {
        if !self.pending {
            return false;
        }
        let due = self
            .last_sent
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.pending = false;
            self.last_sent = Some(now);
        }
        due
    }

    /// When a deferred request falls due, for the event loop's timer.
    pub fn deadline(&self) -> Option<Instant> {
        // A pending request always has a `last_sent`: the first one goes out at once.
        self.last_sent
            .filter(|_| self.pending)
            .map(|last| last + self.interval)
    }

    /// A keyframe arrived by itself: a deferred request is satisfied.
    pub fn keyframe_seen(&mut self) {
        self.pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_request_goes_out_at_once() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request(t0));
        assert_eq!(throttle.deadline(), None);
    }

    #[test]
    fn requests_inside_the_interval_are_deferred_and_merged() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request(t0));
        assert!(!throttle.request(t0 + 100 * MS));
        assert!(!throttle.request(t0 + 200 * MS));
        assert_eq!(throttle.deadline(), Some(t0 + 500 * MS));
        assert!(!throttle.poll(t0 + 499 * MS));
        assert!(throttle.poll(t0 + 500 * MS));
        // Two deferred requests became one.
        assert!(!throttle.poll(t0 + 1500 * MS));
    }

    #[test]
    fn ten_viewers_joining_at_once_cost_two_keyframes() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        let mut sent = 0;
        for i in 0..10 {
            sent += usize::from(throttle.request(t0 + i * 10 * MS));
        }
        for step in 0..100 {
            sent += usize::from(throttle.poll(t0 + step * 10 * MS));
        }
        assert_eq!(sent, 2);
    }

    #[test]
    fn a_keyframe_arriving_satisfies_a_deferred_request() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request(t0));
        assert!(!throttle.request(t0 + 100 * MS));
        throttle.keyframe_seen();
        assert!(!throttle.poll(t0 + 600 * MS));
        assert_eq!(throttle.deadline(), None);
    }
}
