//! The receive side of a connection test (`samsyn-bench connect`).
//!
//! A connection-test session is a publisher that is never forwarded: its RTP
//! is counted and timed here, then dropped, so a nurse can test the line
//! while a consultation runs in the same room. The bench marks every
//! packet's payload with the load step it belongs to and its send time on the
//! bench's clock ([`ProbeMarker`]); from that and the arrival times this
//! module reports, per step and over time, what arrived: packets, bytes,
//! loss (from sequence numbers), jitter (RFC 3550, on the send times) and the
//! queueing delay (one-way delay above the smallest seen: the clocks' offset
//! cancels out, what is left is how much the line's queues grew).
//!
//! Time is passed in, so the arithmetic is tested without sleeping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The first bytes of every connection-test payload.
pub const PROBE_MAGIC: [u8; 4] = *b"SSBP";
/// Magic, step, send time: the bytes a marker takes at the payload's start.
pub const PROBE_MARKER_LEN: usize = 4 + 1 + 8;
/// The timeline's resolution, and of each step's queueing-delay series.
pub const BIN: Duration = Duration::from_millis(250);
/// Bins kept: two minutes of timeline, ten seconds per step. A test that runs
/// longer keeps its totals but no longer adds bins.
const MAX_TIMELINE_BINS: usize = 480;
const MAX_STEP_BINS: usize = 40;

/// What the bench writes at the start of each payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeMarker {
    /// The load step the packet belongs to (0, 1, …).
    pub step: u8,
    /// When the bench sent it, in µs on the bench's own clock.
    pub sent_us: u64,
}

impl ProbeMarker {
    /// Reads a marker from the start of a payload.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let rest = payload.strip_prefix(&PROBE_MAGIC)?;
        let (&step, rest) = rest.split_first()?;
        let sent_us = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        Some(Self { step, sent_us })
    }

    /// The marker's bytes, as the bench writes them.
    pub fn to_bytes(self) -> [u8; PROBE_MARKER_LEN] {
        let mut out = [0u8; PROBE_MARKER_LEN];
        out[..4].copy_from_slice(&PROBE_MAGIC);
        out[4] = self.step;
        out[5..].copy_from_slice(&self.sent_us.to_be_bytes());
        out
    }
}

/// Everything a connection test has received so far.
#[derive(Debug)]
pub struct ProbeReceiver {
    started: Instant,
    packets: u64,
    bytes: u64,
    unmarked: u64,
    steps: BTreeMap<u8, StepStats>,
    timeline: Vec<Bin>,
    /// The smallest `arrival - sent` seen, in µs: the clocks' offset plus the
    /// line's base delay.
    min_transit_us: Option<i64>,
    sequence: SequenceUnwrapper,
}

#[derive(Debug, Default)]
struct StepStats {
    packets: u64,
    bytes: u64,
    lowest_seq: Option<u64>,
    highest_seq: Option<u64>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    /// RFC 3550 interarrival jitter, in µs.
    jitter_us: f64,
    last_transit_us: Option<i64>,
    /// Transit sums per [`BIN`] from the step's first arrival.
    bins: Vec<Bin>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Bin {
    packets: u64,
    bytes: u64,
    transit_sum_us: i64,
}

/// The report `GET /probe/{room}/{session}` returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeReport {
    /// Since the session was accepted.
    pub elapsed_ms: u64,
    pub packets: u64,
    /// RTP payload bytes.
    pub bytes: u64,
    /// Packets without a marker (not from `samsyn-bench`): counted, not timed.
    pub unmarked_packets: u64,
    pub steps: Vec<StepReport>,
    /// Every [`BIN`] since the first packet.
    pub timeline: Vec<TimelineBin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    pub step: u8,
    pub packets: u64,
    pub bytes: u64,
    /// Packets the sequence numbers say were sent in this step.
    pub expected: u64,
    pub lost: u64,
    /// From the session's start.
    pub first_arrival_ms: f64,
    pub last_arrival_ms: f64,
    pub jitter_ms: f64,
    /// Mean queueing delay per [`BIN`] of the step.
    pub queue_delay_ms: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineBin {
    /// The bin's start, from the session's start.
    pub t_ms: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Mean queueing delay of the bin's packets, if any had a marker.
    pub queue_delay_ms: Option<f64>,
}

impl ProbeReceiver {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            packets: 0,
            bytes: 0,
            unmarked: 0,
            steps: BTreeMap::new(),
            timeline: Vec::new(),
            min_transit_us: None,
            sequence: SequenceUnwrapper::default(),
        }
    }

    /// Records one RTP packet that arrived at `now`.
    pub fn record(&mut self, now: Instant, sequence_number: u16, payload: &[u8]) {
        self.packets += 1;
        let len = payload.len() as u64;
        self.bytes += len;
        let seq = self.sequence.unwrap(sequence_number);
        let marker = ProbeMarker::parse(payload);
        let arrival_us = micros(now.saturating_duration_since(self.started));
        let transit_us = marker.map(|m| arrival_us as i64 - m.sent_us as i64);
        if let Some(transit) = transit_us {
            self.min_transit_us = Some(self.min_transit_us.map_or(transit, |m| m.min(transit)));
        }
        let timeline_index = (arrival_us / micros(BIN)) as usize;
        add_to_bin(
            &mut self.timeline,
            timeline_index,
            MAX_TIMELINE_BINS,
            len,
            transit_us,
        );
        let Some(marker) = marker else {
            self.unmarked += 1;
            return;
        };
        let step = self.steps.entry(marker.step).or_default();
        step.packets += 1;
        step.bytes += len;
        step.lowest_seq = Some(step.lowest_seq.map_or(seq, |s| s.min(seq)));
        step.highest_seq = Some(step.highest_seq.map_or(seq, |s| s.max(seq)));
        let first = *step.first_arrival.get_or_insert(now);
        step.last_arrival = Some(now);
        if let (Some(last), Some(transit)) = (step.last_transit_us, transit_us) {
            let d = (transit - last).abs() as f64;
            step.jitter_us += (d - step.jitter_us) / 16.0;
        }
        step.last_transit_us = transit_us;
        let step_index = (micros(now.saturating_duration_since(first)) / micros(BIN)) as usize;
        add_to_bin(&mut step.bins, step_index, MAX_STEP_BINS, len, transit_us);
    }

    /// What has arrived so far, as of `now`.
    pub fn report(&self, now: Instant) -> ProbeReport {
        let base = self.min_transit_us.unwrap_or(0);
        let queue_ms = |bin: &Bin| {
            (bin.packets > 0).then(|| {
                (bin.transit_sum_us as f64 / bin.packets as f64 - base as f64).max(0.0) / 1000.0
            })
        };
        let since_start_ms = |t: Option<Instant>| {
            t.map_or(0.0, |t| t.duration_since(self.started).as_secs_f64() * 1e3)
        };
        ProbeReport {
            elapsed_ms: now.saturating_duration_since(self.started).as_millis() as u64,
            packets: self.packets,
            bytes: self.bytes,
            unmarked_packets: self.unmarked,
            steps: self
                .steps
                .iter()
                .map(|(&step, s)| {
                    let expected = match (s.lowest_seq, s.highest_seq) {
                        (Some(low), Some(high)) => high - low + 1,
                        _ => 0,
                    };
                    StepReport {
                        step,
                        packets: s.packets,
                        bytes: s.bytes,
                        expected,
                        lost: expected.saturating_sub(s.packets),
                        first_arrival_ms: since_start_ms(s.first_arrival),
                        last_arrival_ms: since_start_ms(s.last_arrival),
                        jitter_ms: s.jitter_us / 1000.0,
                        queue_delay_ms: s.bins.iter().filter_map(queue_ms).collect(),
                    }
                })
                .collect(),
            timeline: self
                .timeline
                .iter()
                .enumerate()
                .map(|(i, bin)| TimelineBin {
                    t_ms: i as u64 * BIN.as_millis() as u64,
                    packets: bin.packets,
                    bytes: bin.bytes,
                    // Only marked packets carry a send time.
                    queue_delay_ms: queue_ms(bin),
                })
                .collect(),
        }
    }
}

fn add_to_bin(bins: &mut Vec<Bin>, index: usize, max: usize, bytes: u64, transit: Option<i64>) {
    if index >= max {
        return;
    }
    if bins.len() <= index {
        bins.resize(index + 1, Bin::default());
    }
    let bin = &mut bins[index];
    bin.bytes += bytes;
    // Only packets with a send time count towards the delay mean.
    if let Some(transit) = transit {
        bin.packets += 1;
        bin.transit_sum_us += transit;
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// 16-bit RTP sequence numbers extended to 64 bits across wrap-arounds.
#[derive(Debug, Default)]
struct SequenceUnwrapper {
    last: Option<u64>,
}

impl SequenceUnwrapper {
    fn unwrap(&mut self, seq: u16) -> u64 {
        let extended = match self.last {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let delta = seq.wrapping_sub(last as u16) as i16;
                (last as i64 + i64::from(delta)).max(0) as u64
            }
        };
        if self.last.is_none_or(|last| extended > last) {
            self.last = Some(extended);
        }
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn payload(step: u8, sent_us: u64) -> Vec<u8> {
        let mut p = ProbeMarker { step, sent_us }.to_bytes().to_vec();
        p.resize(1000, 0xab);
        p
    }

    #[test]
    fn a_marker_round_trips_and_foreign_payloads_have_none() {
        let marker = ProbeMarker {
            step: 3,
            sent_us: 123_456_789,
        };
        let mut bytes = marker.to_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(ProbeMarker::parse(&bytes), Some(marker));
        assert_eq!(ProbeMarker::parse(&[0x65, 0x88, 0x84]), None);
        assert_eq!(ProbeMarker::parse(&bytes[..8]), None);
    }

    #[test]
    fn loss_is_counted_per_step_from_sequence_numbers() {
        let t0 = Instant::now();
        let mut rx = ProbeReceiver::new(t0);
        // Step 0: 10 packets, the 4th lost; step 1 starts across a wrap.
        for i in 0..10u16 {
            if i != 3 {
                rx.record(
                    t0 + u32::from(i) * MS,
                    65530u16.wrapping_add(i),
                    &payload(0, 0),
                );
            }
        }
        for i in 10..20u16 {
            rx.record(
                t0 + u32::from(i) * MS,
                65530u16.wrapping_add(i),
                &payload(1, 0),
            );
        }
        let report = rx.report(t0 + 30 * MS);
        assert_eq!(report.packets, 19);
        assert_eq!(report.steps.len(), 2);
        assert_eq!((report.steps[0].expected, report.steps[0].lost), (10, 1));
        assert_eq!((report.steps[1].expected, report.steps[1].lost), (10, 0));
        assert_eq!(report.steps[0].bytes, 9000);
    }

    #[test]
    fn queueing_delay_grows_when_arrivals_fall_behind_sends() {
        let t0 = Instant::now();
        let mut rx = ProbeReceiver::new(t0);
        // The bench's clock runs 5 s ahead of ours: only differences matter.
        let offset_us = 5_000_000;
        for i in 0..100u64 {
            // Sent every 10 ms, arriving 1 ms later each time: the queue grows.
            let sent = i * 10_000;
            let arrival = t0 + Duration::from_micros(sent + i * 1000);
            rx.record(arrival, i as u16, &payload(0, sent + offset_us));
        }
        let report = rx.report(t0 + Duration::from_secs(2));
        let delays = &report.steps[0].queue_delay_ms;
        assert!(delays[0] < 15.0, "{delays:?}");
        assert!(*delays.last().unwrap() > 80.0, "{delays:?}");
        // Evenly growing transit is 1 ms of jitter per packet.
        assert!((report.steps[0].jitter_ms - 1.0).abs() < 0.2, "{report:?}");
        let timeline_bytes: u64 = report.timeline.iter().map(|b| b.bytes).sum();
        assert_eq!(timeline_bytes, report.bytes);
    }

    #[test]
    fn unmarked_packets_are_counted_but_not_timed() {
        let t0 = Instant::now();
        let mut rx = ProbeReceiver::new(t0);
        rx.record(t0, 1, &[0x41, 0x9a, 0, 0]);
        let report = rx.report(t0 + MS);
        assert_eq!((report.packets, report.unmarked_packets), (1, 1));
        assert!(report.steps.is_empty());
        assert_eq!(report.timeline[0].queue_delay_ms, None);
    }
}
