//! The two rate controllers that turn what the path reports into a target.
//!
//! - [`DelayRate`]: additive-increase / multiplicative-decrease driven by the
//!   delay detector (GCC §5.5): on overuse, drop to 85 % of what actually
//!   arrives, so the queue drains; while the path is quiet, grow: 8 % a
//!   second far from the last congestion point, about a packet per round trip
//!   near it; never more than 1.5 × what arrives.
//! - [`LossRate`]: the loss-based controller (GCC §6): more than 10 % lost
//!   cuts the rate by half the loss fraction, under 2 % lets it grow (at least
//!   as fast as the delay-based half, so it only ever limits after losses), in
//!   between it holds. Random loss of a few percent (a radio link) therefore
//!   neither raises nor lowers it; NACK/RTX repairs that.

use std::time::Duration;

use super::delay::Usage;

/// On overuse the target drops to this share of the received rate.
const BETA: f64 = 0.85;
/// Multiplicative increase per second, far from the last congestion point.
const GROWTH_PER_SECOND: f64 = 1.08;
/// Before the first sign of congestion the rate grows faster (there is no
/// probing): 25 % a second.
const STARTUP_GROWTH_PER_SECOND: f64 = 1.25;
/// The target never exceeds this multiple of the received rate (+10 kbit/s).
const RECEIVED_HEADROOM: f64 = 1.5;
/// A typical video packet, for the additive increase.
const PACKET_BITS: f64 = 1200.0 * 8.0;

/// The delay-based controller.
#[derive(Debug, Clone)]
pub struct DelayRate {
    target: f64,
    increasing: bool,
    last_update: Option<Duration>,
    /// Running mean and variance (relative) of the received rate when
    /// congestion was last seen: the link's capacity, roughly.
    capacity: Option<(f64, f64)>,
    congestion_seen: bool,
}

impl DelayRate {
    /// Starts at `start` bit/s.
    pub fn new(start: f64) -> Self {
        Self {
            target: start,
            increasing: true,
            last_update: None,
            capacity: None,
            congestion_seen: false,
        }
    }

    /// The current target, bit/s.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Whether congestion has been seen yet (the start-up ramp is over).
    pub fn congestion_seen(&self) -> bool {
        self.congestion_seen
    }

    /// Updates with the detector's `usage`, the rate arriving at the far end
    /// (`received`, bit/s, when known) and the round trip.
    pub fn update(
        &mut self,
        now: Duration,
        usage: Usage,
        received: Option<f64>,
        round_trip: Duration,
    ) -> f64 {
        let elapsed = self
            .last_update
            .map_or(Duration::ZERO, |last| now.saturating_sub(last))
            .min(Duration::from_secs(1));
        self.last_update = Some(now);
        match usage {
            Usage::Overusing => {
                if let Some(received) = received {
                    self.congestion_seen = true;
                    let decreased = BETA * received;
                    if decreased < self.target {
                        self.target = decreased;
                    }
                    self.remember_capacity(received);
                }
                self.increasing = false;
            }
            // The queue is draining: hold until it has.
            Usage::Underusing => self.increasing = false,
            Usage::Normal => {
                if self.increasing {
                    self.grow(elapsed, received, round_trip);
                }
                self.increasing = true;
            }
        }
        if let Some(received) = received {
            self.target = self.target.min(RECEIVED_HEADROOM * received + 10_000.0);
        }
        self.target
    }

    fn grow(&mut self, elapsed: Duration, received: Option<f64>, round_trip: Duration) {
        let seconds = elapsed.as_secs_f64();
        let near_capacity = match (self.capacity, received) {
            (Some((mean, variance)), Some(received)) => {
                let deviation = (variance * mean * mean).sqrt();
                (received - mean).abs() <= 3.0 * deviation.max(0.05 * mean)
            }
            _ => false,
        };
        if near_capacity {
            // About one packet more per response time.
            let response = (round_trip + Duration::from_millis(100)).as_secs_f64();
            self.target += (PACKET_BITS / response).max(4_000.0) * seconds;
        } else {
            if self
                .capacity
                .is_some_and(|(mean, _)| received.is_some_and(|r| r > 2.0 * mean))
            {
                // Far above the old capacity: it has changed; forget it.
                self.capacity = None;
            }
            let growth = if self.congestion_seen {
                GROWTH_PER_SECOND
            } else {
                STARTUP_GROWTH_PER_SECOND
            };
            self.target *= growth.powf(seconds);
        }
    }

    fn remember_capacity(&mut self, received: f64) {
        const ALPHA: f64 = 0.05;
        self.capacity = Some(match self.capacity {
            None => (received, 0.4_f64.powi(2)),
            Some((mean, variance)) => {
                let mean = (1.0 - ALPHA) * mean + ALPHA * received;
                let relative = (received - mean) / mean.max(1.0);
                let variance =
                    ((1.0 - ALPHA) * variance + ALPHA * relative * relative).clamp(0.004, 2.5);
                (mean, variance)
            }
        });
    }
}

/// The loss-based controller.
#[derive(Debug, Clone)]
pub struct LossRate {
    target: f64,
    window_start: Option<Duration>,
    lost: u32,
    total: u32,
    last_fraction: Option<f64>,
}

/// Loss fractions are judged over at least this much feedback.
const LOSS_WINDOW: Duration = Duration::from_millis(500);

impl LossRate {
    /// Starts at `start` bit/s.
    pub fn new(start: f64) -> Self {
        Self {
            target: start,
            window_start: None,
            lost: 0,
            total: 0,
            last_fraction: None,
        }
    }

    /// The current target, bit/s.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// The loss fraction of the last complete window.
    pub fn loss_fraction(&self) -> Option<f64> {
        self.last_fraction
    }

    /// Counts `lost` of `total` reported packets; every `LOSS_WINDOW`
    /// adjusts the target. With little loss it grows to at least `follow`
    /// (the delay-based target), never above `ceiling` (the maximum).
    pub fn update(
        &mut self,
        now: Duration,
        lost: u32,
        total: u32,
        follow: f64,
        ceiling: f64,
    ) -> f64 {
        let start = *self.window_start.get_or_insert(now);
        self.lost += lost;
        self.total += total;
        let elapsed = now.saturating_sub(start);
        if elapsed < LOSS_WINDOW || self.total < 10 {
            return self.target;
        }
        let fraction = f64::from(self.lost) / f64::from(self.total);
        self.last_fraction = Some(fraction);
        if fraction > 0.10 {
            self.target *= 1.0 - 0.5 * fraction;
        } else if fraction < 0.02 {
            let grown = self.target * GROWTH_PER_SECOND.powf(elapsed.as_secs_f64().min(1.0));
            self.target = grown.max(follow).min(ceiling);
        }
        self.window_start = Some(now);
        self.lost = 0;
        self.total = 0;
        self.target
    }

    /// Brings the target down to `at_most`.
    pub fn limit(&mut self, at_most: f64) {
        self.target = self.target.min(at_most);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const RTT: Duration = Duration::from_millis(50);

    #[test]
    fn overuse_drops_to_85_percent_of_what_arrives() {
        let mut rate = DelayRate::new(2_000_000.0);
        rate.update(Duration::ZERO, Usage::Normal, Some(1_500_000.0), RTT);
        let target = rate.update(100 * MS, Usage::Overusing, Some(1_000_000.0), RTT);
        assert!((target - 850_000.0).abs() < 1.0, "{target}");
        assert!(rate.congestion_seen());
        // Holding while the queue drains, then growing again.
        assert_eq!(
            rate.update(200 * MS, Usage::Underusing, Some(900_000.0), RTT),
            target
        );
        assert_eq!(
            rate.update(300 * MS, Usage::Normal, Some(850_000.0), RTT),
            target
        );
        assert!(rate.update(1300 * MS, Usage::Normal, Some(850_000.0), RTT) > target);
    }

    #[test]
    fn growth_is_bounded_by_what_arrives() {
        let mut rate = DelayRate::new(500_000.0);
        for step in 0..100 {
            rate.update(step * 100 * MS, Usage::Normal, Some(600_000.0), RTT);
        }
        assert!(rate.target() <= 1.5 * 600_000.0 + 10_000.0 + 1.0);
    }

    #[test]
    fn start_up_grows_faster_than_after_congestion() {
        let mut fresh = DelayRate::new(500_000.0);
        let mut seasoned = DelayRate::new(500_000.0);
        seasoned.congestion_seen = true;
        for step in 0..=10 {
            fresh.update(step * 100 * MS, Usage::Normal, None, RTT);
            seasoned.update(step * 100 * MS, Usage::Normal, None, RTT);
        }
        assert!(
            (fresh.target() / 500_000.0 - 1.25).abs() < 0.01,
            "{}",
            fresh.target()
        );
        assert!((seasoned.target() / 500_000.0 - 1.08).abs() < 0.01);
    }

    #[test]
    fn near_the_old_capacity_growth_is_additive() {
        let mut rate = DelayRate::new(1_000_000.0);
        rate.update(Duration::ZERO, Usage::Normal, Some(1_000_000.0), RTT);
        rate.update(100 * MS, Usage::Overusing, Some(1_000_000.0), RTT);
        let after_cut = rate.target();
        rate.update(200 * MS, Usage::Normal, Some(1_000_000.0), RTT);
        rate.update(1200 * MS, Usage::Normal, Some(1_000_000.0), RTT);
        let gained = rate.target() - after_cut;
        // One 1200-byte packet per 150 ms response time: 64 kbit/s a second.
        assert!((60_000.0..70_000.0).contains(&gained), "{gained}");
    }

    #[test]
    fn loss_over_ten_percent_cuts_under_two_grows_between_holds() {
        let ceiling = 10_000_000.0;
        let delay = 0.0;
        let mut loss = LossRate::new(1_000_000.0);
        loss.update(Duration::ZERO, 0, 0, delay, ceiling);
        assert_eq!(
            loss.update(500 * MS, 5, 100, delay, ceiling),
            1_000_000.0,
            "5 % holds"
        );
        let cut = loss.update(1000 * MS, 30, 100, delay, ceiling);
        assert!((cut - 850_000.0).abs() < 1.0, "30 % cuts by 15 %: {cut}");
        let grown = loss.update(1500 * MS, 1, 100, delay, ceiling);
        assert!(grown > cut);
        assert_eq!(loss.loss_fraction(), Some(0.01));
        // With little loss it keeps up with the delay-based half.
        assert_eq!(
            loss.update(2000 * MS, 0, 100, 2_000_000.0, ceiling),
            2_000_000.0
        );
    }
}
