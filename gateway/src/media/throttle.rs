//! Keyframe requests to the publisher, at most one per interval.
//!
//! Every viewer that joins or loses a picture asks for a keyframe, and a room
//! of specialists can ask many times a second. A keyframe is several times the
//! size of a delta frame, so the publisher gets at most one request per
//! interval. A request that arrives inside the interval is deferred, never
//! dropped: the viewer that asked still gets its keyframe, just a little later.
//!
//! Joining viewers are the exception, within an allowance. A viewer that
//! joins sees nothing until a keyframe, and the GP and the specialist often
//! open the link at the same moment: the second would wait out the interval
//! for no better reason than the first. Joins are few (people, not packet
//! loss, make them), so a join may ask at once [`JOIN_ALLOWANCE`] times in a
//! burst, one more every [`JOIN_ALLOWANCE_REFILL`]; past that it waits like
//! any request. A join while a requested keyframe is still on its way asks
//! for nothing: that keyframe opens its picture too.

use std::time::{Duration, Instant};

/// Immediate keyframe requests that joins may make in a burst.
pub const JOIN_ALLOWANCE: u32 = 4;
/// One more immediate request for a join comes back this often.
pub const JOIN_ALLOWANCE_REFILL: Duration = Duration::from_secs(2);
/// A requested keyframe that has not come after this long counts as lost.
const KEYFRAME_ON_ITS_WAY_FOR: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct KeyframeThrottle {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
    /// When the request the publisher has not answered yet was sent.
    awaiting_since: Option<Instant>,
    /// Immediate requests left for joins, and when the allowance last grew.
    join_allowance: u32,
    join_allowance_at: Option<Instant>,
}

impl KeyframeThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_sent: None,
            pending: false,
            awaiting_since: None,
            join_allowance: JOIN_ALLOWANCE,
            join_allowance_at: None,
        }
    }

    /// Records a joining viewer's request; true when it may go to the
    /// publisher now (see the module docs for how joins differ).
    pub fn request_for_join(&mut self, now: Instant) -> bool {
        let on_its_way = self
            .awaiting_since
            .is_some_and(|sent| now.saturating_duration_since(sent) < KEYFRAME_ON_ITS_WAY_FOR);
        if on_its_way {
            // Should that keyframe be lost, the deferred request follows it.
            self.pending = true;
            return false;
        }
        self.refill_join_allowance(now);
        if self.join_allowance == 0 {
            return self.request(now);
        }
        self.join_allowance -= 1;
        self.send(now);
        true
    }

    fn refill_join_allowance(&mut self, now: Instant) {
        let since = *self.join_allowance_at.get_or_insert(now);
        let earned =
            now.saturating_duration_since(since).as_millis() / JOIN_ALLOWANCE_REFILL.as_millis();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.join_allowance = self
                .join_allowance
                .saturating_add(earned)
                .min(JOIN_ALLOWANCE);
            // Keep the part of a refill period already waited.
            self.join_allowance_at = Some(since + JOIN_ALLOWANCE_REFILL.saturating_mul(earned));
        }
        if self.join_allowance == JOIN_ALLOWANCE {
            self.join_allowance_at = Some(now);
        }
    }

    fn send(&mut self, now: Instant) {
        self.pending = false;
        self.last_sent = Some(now);
        self.awaiting_since = Some(now);
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
            self.send(now);
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

    /// A keyframe arrived: deferred requests and the one on its way are
    /// satisfied.
    pub fn keyframe_seen(&mut self) {
        self.pending = false;
        self.awaiting_since = None;
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

    #[test]
    fn joins_share_a_keyframe_on_its_way_and_ask_again_once_it_passed() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request_for_join(t0));
        // Joined before the keyframe came: it opens this picture too.
        assert!(!throttle.request_for_join(t0 + 20 * MS));
        throttle.keyframe_seen();
        assert_eq!(throttle.deadline(), None, "nothing left to ask for");
        // Joined after it passed: asks at once, not 500 ms later.
        assert!(throttle.request_for_join(t0 + 60 * MS));
    }

    #[test]
    fn a_lost_keyframe_is_asked_for_again_by_the_deferred_request() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request_for_join(t0));
        assert!(!throttle.request_for_join(t0 + 20 * MS));
        assert!(throttle.poll(t0 + 500 * MS), "no keyframe came: ask again");
    }

    #[test]
    fn a_storm_of_joins_spends_the_allowance_then_waits_like_any_request() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        let mut immediate = 0;
        for i in 0..20 {
            let at = t0 + i * 50 * MS;
            immediate += usize::from(throttle.request_for_join(at));
            // Each keyframe comes before the next join.
            throttle.keyframe_seen();
        }
        // 1 s of joins every 50 ms: the allowance of 4 (0 to 150 ms), then
        // one per 500 ms like any request (650 ms).
        assert_eq!(immediate, 5);
        // One more join may ask at once every two seconds, counted from the
        // start of the burst: at 2.5 s (earned at 2 s), then at 4 s, not at
        // 3.9 s, even right after a request that went by the interval.
        assert!(throttle.request_for_join(t0 + 2_500 * MS));
        throttle.keyframe_seen();
        assert!(throttle.request(t0 + 3_800 * MS), "by the interval");
        throttle.keyframe_seen();
        assert!(!throttle.request_for_join(t0 + 3_900 * MS));
        throttle.keyframe_seen();
        assert!(throttle.request_for_join(t0 + 4_000 * MS));
    }

    #[test]
    fn viewers_losing_their_picture_stay_throttled() {
        let t0 = Instant::now();
        let mut throttle = KeyframeThrottle::new(500 * MS);
        assert!(throttle.request(t0));
        throttle.keyframe_seen();
        assert!(!throttle.request(t0 + 100 * MS), "not a join: waits");
        assert_eq!(throttle.deadline(), Some(t0 + 500 * MS));
    }
}
