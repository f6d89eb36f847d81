//! The delay-gradient detector: is the queue on the path growing?
//!
//! Packets are grouped into the bursts they were sent in (a frame's packets
//! leave within a few milliseconds). For consecutive groups, the difference
//! between how far apart they arrived and how far apart they were sent is
//! the change in queueing delay. Its running sum, smoothed, is fitted with a
//! straight line over the last [`WINDOW`] groups: a rising line means a queue
//! is building (the path carries less than is sent). The slope is compared
//! with an adaptive threshold that follows the noise of the path, as in
//! GCC (draft-ietf-rmcat-gcc-02 §5.3–5.4; libwebrtc's trendline estimator).

use std::collections::VecDeque;
use std::time::Duration;

use super::PacketResult;

/// Packets sent within this of a group's first packet belong to the group.
const BURST: Duration = Duration::from_millis(5);
/// Groups fitted by the trend line.
pub const WINDOW: usize = 20;
/// Smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by this (and by the number of samples, up to 60).
const TREND_GAIN: f64 = 4.0;
/// The threshold starts here (ms) and stays within [6, 600].
const INITIAL_THRESHOLD: f64 = 12.5;
const MIN_THRESHOLD: f64 = 6.0;
const MAX_THRESHOLD: f64 = 600.0;
/// How fast the threshold follows the trend when it is above or below it.
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// Overuse must last this long before it is declared.
const OVERUSE_TIME: Duration = Duration::from_millis(10);

/// What the detector concludes about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// The queue is steady: the path carries what is sent.
    Normal,
    /// The queue is growing: send less.
    Overusing,
    /// The queue is draining: hold, let it empty.
    Underusing,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_sent: Duration,
    last_sent: Duration,
    last_arrived: Duration,
}

/// The delay-gradient detector; feed it every received packet, in send order.
#[derive(Debug)]
pub struct DelayDetector {
    current: Option<Group>,
    previous: Option<Group>,
    /// Arrival of the first group, the origin of the fit's time axis.
    origin: Option<Duration>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    /// (arrival ms since origin, smoothed accumulated delay ms).
    samples: VecDeque<(f64, f64)>,
    deltas: u32,
    threshold: f64,
    last_threshold_update: Option<Duration>,
    trend: f64,
    previous_trend: f64,
    time_over: Option<Duration>,
    overuse_count: u32,
    usage: Usage,
}

impl Default for DelayDetector {
    fn default() -> Self {
        Self {
            current: None,
            previous: None,
            origin: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            samples: VecDeque::with_capacity(WINDOW),
            deltas: 0,
            threshold: INITIAL_THRESHOLD,
            last_threshold_update: None,
            trend: 0.0,
            previous_trend: 0.0,
            time_over: None,
            overuse_count: 0,
            usage: Usage::Normal,
        }
    }
}

impl DelayDetector {
    /// The current conclusion.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The latest scaled trend (ms), for logs and tests.
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// The current adaptive threshold (ms).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Adds one packet's result. Lost packets carry no delay information and
    /// are ignored here.
    pub fn add(&mut self, packet: &PacketResult) {
        let Some(arrived) = packet.arrived else {
            return;
        };
        match &mut self.current {
            // Sent before the current group (a late report): no use.
            Some(group) if packet.sent < group.first_sent => {}
            Some(group) if packet.sent - group.first_sent <= BURST => {
                group.last_sent = group.last_sent.max(packet.sent);
                group.last_arrived = group.last_arrived.max(arrived);
            }
            _ => {
                if let Some(done) = self.current.take() {
                    self.group_complete(done);
                }
                self.current = Some(Group {
                    first_sent: packet.sent,
                    last_sent: packet.sent,
                    last_arrived: arrived,
                });
            }
        }
    }

    fn group_complete(&mut self, group: Group) {
        let Some(previous) = self.previous.replace(group) else {
            self.origin = Some(group.last_arrived);
            return;
        };
        let send_delta = ms(group.last_sent) - ms(previous.last_sent);
        let arrival_delta = ms(group.last_arrived) - ms(previous.last_arrived);
        if arrival_delta < 0.0 || send_delta < 0.0 {
            return;
        }
        let delay_delta = arrival_delta - send_delta;
        self.deltas = (self.deltas + 1).min(1000);
        self.accumulated_ms += delay_delta;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let origin = self.origin.unwrap_or(group.last_arrived);
        let x = ms(group.last_arrived) - ms(origin);
        self.samples.push_back((x, self.smoothed_ms));
        if self.samples.len() > WINDOW {
            self.samples.pop_front();
        }
        if self.samples.len() == WINDOW
            && let Some(slope) = slope(&self.samples)
        {
            self.previous_trend = self.trend;
            self.trend = f64::from(self.deltas.min(60)) * slope * TREND_GAIN;
        }
        self.detect(send_delta, group.last_arrived);
    }

    fn detect(&mut self, send_delta_ms: f64, now: Duration) {
        if self.deltas < 2 {
            return;
        }
        let trend = self.trend;
        if trend > self.threshold {
            let step = Duration::from_secs_f64(send_delta_ms.max(0.0) / 1000.0);
            let over = match self.time_over {
                None => step / 2,
                Some(t) => t + step,
            };
            self.time_over = Some(over);
            self.overuse_count += 1;
            if over > OVERUSE_TIME && self.overuse_count > 1 && trend >= self.previous_trend {
                self.time_over = None;
                self.overuse_count = 0;
                self.usage = Usage::Overusing;
            }
        } else if trend < -self.threshold {
            self.time_over = None;
            self.overuse_count = 0;
            self.usage = Usage::Underusing;
        } else {
            self.time_over = None;
            self.overuse_count = 0;
            self.usage = Usage::Normal;
        }
        self.update_threshold(trend, now);
    }

    fn update_threshold(&mut self, trend: f64, now: Duration) {
        let last = self.last_threshold_update.replace(now);
        let Some(last) = last else {
            return;
        };
        // A sudden spike (a route change, a keyframe burst) must not drag
        // the threshold up with it.
        if trend.abs() > self.threshold + 15.0 {
            return;
        }
        let k = if trend.abs() < self.threshold {
            K_DOWN
        } else {
            K_UP
        };
        let elapsed_ms = (ms(now) - ms(last)).clamp(0.0, 100.0);
        self.threshold += k * (trend.abs() - self.threshold) * elapsed_ms;
        self.threshold = self.threshold.clamp(MIN_THRESHOLD, MAX_THRESHOLD);
    }
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1000.0
}

/// Least-squares slope of `points`.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, sent_ms: f64, arrived_ms: f64) -> PacketResult {
        PacketResult {
            seq,
            sent: Duration::from_secs_f64(sent_ms / 1000.0),
            arrived: Some(Duration::from_secs_f64(arrived_ms / 1000.0)),
            size: 1200,
        }
    }

    /// Frames every 33 ms; each arrives `delay(frame)` ms after it was sent.
    fn run(frames: u16, delay: impl Fn(u16) -> f64) -> (DelayDetector, Vec<Usage>) {
        let mut detector = DelayDetector::default();
        let mut seen = Vec::new();
        for frame in 0..frames {
            let sent = f64::from(frame) * 33.0;
            detector.add(&packet(frame, sent, sent + delay(frame)));
            seen.push(detector.usage());
        }
        (detector, seen)
    }

    #[test]
    fn a_steady_path_is_normal() {
        let (detector, seen) = run(200, |_| 40.0);
        assert!(seen.iter().all(|u| *u == Usage::Normal), "{seen:?}");
        assert!(detector.trend().abs() < 1e-6);
    }

    #[test]
    fn a_growing_queue_is_overuse() {
        // Steady for 3 s, then each frame waits 2 ms longer than the last.
        let (_, seen) = run(150, |f| 40.0 + f64::from(f.saturating_sub(90)) * 2.0);
        let first = seen.iter().position(|u| *u == Usage::Overusing);
        assert!(
            first.is_some_and(|f| (90..110).contains(&f)),
            "overuse within 20 frames of the queue starting to grow: {first:?}"
        );
        assert!(seen[..90].iter().all(|u| *u == Usage::Normal));
    }

    #[test]
    fn a_draining_queue_is_underuse() {
        // A queue of 400 ms drains 3 ms per frame.
        let (_, seen) = run(150, |f| {
            (400.0 - f64::from(f.saturating_sub(60)) * 3.0).max(40.0)
        });
        assert!(seen[60..120].contains(&Usage::Underusing), "{seen:?}");
    }

    #[test]
    fn jitter_alone_raises_the_threshold_not_an_alarm() {
        // ±15 ms of noise around a steady 75 ms.
        let noise = [0.0, 15.0, -10.0, 5.0, -15.0, 10.0, -5.0, 12.0, -12.0, 3.0];
        let (detector, seen) = run(600, |f| 75.0 + noise[usize::from(f) % noise.len()]);
        let overuse = seen[100..]
            .iter()
            .filter(|u| **u == Usage::Overusing)
            .count();
        assert_eq!(overuse, 0, "jitter is not congestion");
        assert!(detector.threshold() >= MIN_THRESHOLD);
    }

    #[test]
    fn lost_packets_are_skipped() {
        let mut detector = DelayDetector::default();
        detector.add(&PacketResult {
            seq: 0,
            sent: Duration::ZERO,
            arrived: None,
            size: 1200,
        });
        assert!(detector.current.is_none());
    }
}
