//! The bitrate controller: transport feedback and the gateway's cap in, the
//! sending target out.
//!
//! ```text
//! TWCC reports ─┬─▶ DelayDetector ─▶ DelayRate ─┐
//!               ├─▶ received rate ─────────────▶┤
//!               └─▶ LossRate ──────────────────▶┼─▶ min ─▶ clamp(min, max) ─▶ target
//! REMB (the viewers' cap, from the gateway) ───▶┘
//! ```
//!
//! The lowest of the delay estimate, the loss estimate and the gateway's cap
//! wins: a deep buffer queues without losing, a shallow or radio link loses
//! without queueing, and the specialists' own links may be the narrowest
//! part. Time is passed in (the monotonic clock the packets' send times are
//! on), so a recorded run of feedback replays to the same targets.

use std::collections::VecDeque;
use std::time::Duration;

use super::delay::{DelayDetector, Usage};
use super::rate::{DelayRate, LossRate};
use super::{Feedback, PacketResult};

/// The configured range and start of the sending rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitrateLimits {
    /// Never below this, bit/s (the picture is not worth having below it).
    pub min_bps: u64,
    /// Never above this, bit/s (the configured bitrate).
    pub max_bps: u64,
    /// Where to start, bit/s, before anything is known about the path.
    pub start_bps: u64,
}

impl BitrateLimits {
    /// The limits for a configured `min`..=`max` (bit/s): start at the
    /// lower of `max` and 1 Mbit/s, so a slow line is not flooded at once
    /// while a fast one reaches `max` within seconds.
    pub fn new(min_bps: u64, max_bps: u64) -> Self {
        let max_bps = max_bps.max(min_bps);
        Self {
            min_bps,
            max_bps,
            start_bps: max_bps.min(1_000_000).max(min_bps),
        }
    }
}

/// Everything the controller knows, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerState {
    /// The target sending rate, bit/s.
    pub target_bps: u64,
    /// The delay-based half, bit/s.
    pub delay_bps: u64,
    /// The loss-based half, bit/s.
    pub loss_bps: u64,
    /// The gateway's cap (REMB), bit/s, while it is fresh.
    pub cap_bps: Option<u64>,
    /// What arrived at the gateway lately, bit/s.
    pub received_bps: Option<u64>,
    /// Loss fraction of the last loss window (before retransmission).
    pub loss: Option<f64>,
    /// The delay detector's conclusion.
    pub usage: Usage,
    /// Round trip, from send time to the feedback about it.
    pub round_trip: Option<Duration>,
}

/// The gateway's REMB is trusted this long after it arrives.
const CAP_LIFETIME: Duration = Duration::from_secs(5);
/// The received rate is measured over this much arrival time.
const RECEIVED_WINDOW: Duration = Duration::from_millis(750);

/// GCC-style sending-rate controller; see the module docs.
#[derive(Debug)]
pub struct BitrateController {
    limits: BitrateLimits,
    detector: DelayDetector,
    delay: DelayRate,
    loss: LossRate,
    /// (arrival on the gateway's clock, bytes) of recent packets.
    arrivals: VecDeque<(Duration, u32)>,
    round_trip: Option<Duration>,
    cap: Option<(u64, Duration)>,
    target: u64,
    now: Duration,
}

impl BitrateController {
    /// A controller within `limits`.
    pub fn new(limits: BitrateLimits) -> Self {
        let start = limits.start_bps as f64;
        Self {
            limits,
            detector: DelayDetector::default(),
            delay: DelayRate::new(start),
            loss: LossRate::new(start),
            arrivals: VecDeque::new(),
            round_trip: None,
            cap: None,
            target: limits.start_bps,
            now: Duration::ZERO,
        }
    }

    /// The target sending rate, bit/s.
    pub fn target_bps(&self) -> u64 {
        self.target
    }

    /// Feeds one piece of feedback, received at `now`.
    pub fn on_feedback(&mut self, now: Duration, feedback: &Feedback) -> u64 {
        match feedback {
            Feedback::Transport(packets) => self.on_transport(now, packets),
            Feedback::ReceiverMaximum(bps) => self.on_receiver_maximum(now, *bps),
        }
    }

    /// Feeds per-packet reports (TWCC), received at `now`.
    pub fn on_transport(&mut self, now: Duration, packets: &[PacketResult]) -> u64 {
        self.now = now;
        if packets.is_empty() {
            return self.target;
        }
        let mut lost = 0;
        for packet in packets {
            self.detector.add(packet);
            match packet.arrived {
                Some(arrived) => self.arrivals.push_back((arrived, packet.size)),
                None => lost += 1,
            }
        }
        self.update_round_trip(now, packets);
        self.prune_arrivals();
        let received = self.received_bps();
        if let Some(received) = received {
            // Neither half may sit far above what actually arrives: a later
            // loss burst or overuse would cut from a fiction.
            self.loss.limit(1.5 * received + 10_000.0);
        }
        let round_trip = self.round_trip.unwrap_or(Duration::from_millis(100));
        self.delay
            .update(now, self.detector.usage(), received, round_trip);
        self.loss.update(
            now,
            lost,
            packets.len() as u32,
            self.delay.target(),
            self.limits.max_bps as f64,
        );
        self.combine()
    }

    /// Feeds the gateway's cap (REMB), received at `now`.
    pub fn on_receiver_maximum(&mut self, now: Duration, bps: u64) -> u64 {
        self.now = now;
        self.cap = Some((bps, now));
        self.combine()
    }

    /// What the controller knows now.
    pub fn state(&self) -> ControllerState {
        ControllerState {
            target_bps: self.target,
            delay_bps: self.delay.target() as u64,
            loss_bps: self.loss.target() as u64,
            cap_bps: self.fresh_cap(),
            received_bps: self.received_bps().map(|r| r as u64),
            loss: self.loss.loss_fraction(),
            usage: self.detector.usage(),
            round_trip: self.round_trip,
        }
    }

    fn combine(&mut self) -> u64 {
        let mut target = self.delay.target().min(self.loss.target());
        if let Some(cap) = self.fresh_cap() {
            target = target.min(cap as f64);
        }
        self.target = (target as u64).clamp(self.limits.min_bps, self.limits.max_bps);
        self.target
    }

    fn fresh_cap(&self) -> Option<u64> {
        self.cap
            .filter(|(_, at)| self.now.saturating_sub(*at) < CAP_LIFETIME)
            .map(|(bps, _)| bps)
    }

    /// Forgets arrivals older than [`RECEIVED_WINDOW`] before the newest.
    fn prune_arrivals(&mut self) {
        let Some(newest) = self.arrivals.iter().map(|(t, _)| *t).max() else {
            return;
        };
        while self
            .arrivals
            .front()
            .is_some_and(|(t, _)| newest.saturating_sub(*t) > RECEIVED_WINDOW)
        {
            self.arrivals.pop_front();
        }
    }

    /// The rate arriving at the gateway over the last [`RECEIVED_WINDOW`] of
    /// its clock, once at least a third of that is covered.
    fn received_bps(&self) -> Option<f64> {
        let newest = self.arrivals.iter().map(|(t, _)| *t).max()?;
        let oldest = self.arrivals.iter().map(|(t, _)| *t).min()?;
        let span = newest.saturating_sub(oldest);
        if span < RECEIVED_WINDOW / 3 {
            return None;
        }
        let bits: f64 = self
            .arrivals
            .iter()
            .map(|(_, size)| f64::from(*size) * 8.0)
            .sum();
        Some(bits / span.as_secs_f64())
    }

    fn update_round_trip(&mut self, now: Duration, packets: &[PacketResult]) {
        let Some(sample) = packets
            .iter()
            .filter(|p| p.arrived.is_some())
            .map(|p| now.saturating_sub(p.sent))
            .min()
        else {
            return;
        };
        self.round_trip = Some(match self.round_trip {
            None => sample,
            Some(rtt) => rtt.mul_f64(0.85) + sample.mul_f64(0.15),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn limits() -> BitrateLimits {
        BitrateLimits::new(300_000, 2_500_000)
    }

    #[test]
    fn starts_at_one_megabit_or_the_maximum() {
        assert_eq!(limits().start_bps, 1_000_000);
        assert_eq!(BitrateLimits::new(100_000, 600_000).start_bps, 600_000);
        assert_eq!(BitrateLimits::new(800_000, 500_000).max_bps, 800_000);
    }

    #[test]
    fn the_gateways_cap_wins_while_fresh() {
        let mut controller = BitrateController::new(limits());
        assert_eq!(
            controller.on_receiver_maximum(Duration::ZERO, 600_000),
            600_000
        );
        assert_eq!(controller.state().cap_bps, Some(600_000));
        // A cap below the minimum is held at the minimum.
        assert_eq!(controller.on_receiver_maximum(MS, 100_000), 300_000);
        // Expired caps no longer count.
        controller.on_transport(6000 * MS, &[]);
        assert_eq!(
            controller.on_receiver_maximum(6000 * MS, 2_000_000),
            1_000_000
        );
        controller.now = 12_000 * MS;
        assert_eq!(controller.state().cap_bps, None);
    }

    #[test]
    fn heavy_loss_brings_the_target_down() {
        let mut controller = BitrateController::new(limits());
        let mut seq = 0u16;
        for step in 0..40u32 {
            let now = step * 100 * MS;
            let packets: Vec<_> = (0..10u32)
                .map(|i| {
                    seq = seq.wrapping_add(1);
                    let sent = now.saturating_sub(50 * MS) + i * 3 * MS;
                    PacketResult {
                        seq,
                        sent,
                        // Every third packet lost; the rest arrive promptly.
                        arrived: (i % 3 != 0).then(|| sent + 20 * MS),
                        size: 1200,
                    }
                })
                .collect();
            controller.on_transport(now, &packets);
        }
        let state = controller.state();
        assert!(state.loss.is_some_and(|l| l > 0.3), "{state:?}");
        assert_eq!(state.target_bps, 300_000, "down to the floor: {state:?}");
    }
}
