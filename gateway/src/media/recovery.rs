//! Repairing the camera's losses on its uplink: which packets to NACK and
//! when, and when a loss can no longer be repaired (then, and only then, a
//! keyframe is the answer).
//!
//! The camera keeps what it sent for a while and resends a NACKed packet on
//! its RTX stream. A gap is NACKed as soon as it is seen, again after about a
//! round trip if the repair has not come, up to [`MAX_NACKS`] times; a packet
//! still missing after [`GIVE_UP_AFTER`] (longer than any viewer's jitter
//! buffer waits) is written off, and the caller asks the camera for a
//! keyframe (through the PLI throttle). The round trip is measured here, from
//! a NACK to the repair it brought.
//!
//! A gap too large to be worth repairing (a blackout, a camera restart) is
//! written off at once.
//!
//! Pure and clock-free: time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// NACKs per missing packet before giving up.
pub const MAX_NACKS: u8 = 6;
/// A packet missing this long is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_millis(1000);
/// A gap larger than this (packets) is not repaired.
pub const MAX_REPAIRABLE_GAP: u64 = 300;
/// How long to wait before the first NACK: packets reordered on the path
/// arrive within this.
const REORDER_WAIT: Duration = Duration::from_millis(5);
/// Between NACKs for the same packet when the round trip is still unknown.
const DEFAULT_RETRY: Duration = Duration::from_millis(100);

/// What the arrival of a packet meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next packet, or one after a gap.
    InOrder,
    /// A missing packet arrived (a retransmission, or a late original).
    Repaired,
    /// Seen already, or too old to matter.
    Duplicate,
}

/// What is due now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Due {
    /// Sequence numbers to NACK.
    pub nack: Vec<u16>,
    /// How many packets were given up (a keyframe is needed when > 0).
    pub given_up: u64,
}

/// Counters for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Packets received (originals and repairs).
    pub received: u64,
    /// Packets found missing.
    pub missing: u64,
    /// Missing packets that arrived after all.
    pub repaired: u64,
    /// Missing packets given up.
    pub lost: u64,
    /// NACK entries sent.
    pub nacks: u64,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    since: Instant,
    nacks: u8,
    last_nack: Option<Instant>,
}

/// Loss tracking for one RTP stream.
#[derive(Debug, Default)]
pub struct LossRecovery {
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    missing: BTreeMap<u64, Missing>,
    round_trip: Option<Duration>,
    stats: RecoveryStats,
}

impl LossRecovery {
    /// Records a packet with sequence number `seq` arriving at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16) -> Arrival {
        self.stats.received += 1;
        let Some(highest) = self.highest else {
            self.highest = Some(u64::from(seq) + (1 << 16));
            return Arrival::InOrder;
        };
        let extended = extend(highest, seq);
        if extended > highest {
            let gap = extended - highest - 1;
            if gap > 0 {
                self.stats.missing += gap;
                if gap > MAX_REPAIRABLE_GAP {
                    // Not worth repairing: count it lost now.
                    self.stats.lost += gap;
                    self.missing.clear();
                } else {
                    for missing in highest + 1..extended {
                        self.missing.insert(
                            missing,
                            Missing {
                                since: now,
                                nacks: 0,
                                last_nack: None,
                            },
                        );
                    }
                }
            }
            self.highest = Some(extended);
            return Arrival::InOrder;
        }
        match self.missing.remove(&extended) {
            Some(missing) => {
                self.stats.repaired += 1;
                if let Some(nacked) = missing.last_nack {
                    self.sample_round_trip(now.saturating_duration_since(nacked));
                }
                Arrival::Repaired
            }
            None => Arrival::Duplicate,
        }
    }

    /// What is due at `now`: NACKs to send, packets given up.
    pub fn poll(&mut self, now: Instant) -> Due {
        let retry = self.retry_interval();
        let mut due = Due::default();
        self.missing.retain(|extended, missing| {
            if now.saturating_duration_since(missing.since) >= GIVE_UP_AFTER
                || (missing.nacks >= MAX_NACKS
                    && missing
                        .last_nack
                        .is_some_and(|at| now.saturating_duration_since(at) >= retry))
            {
                due.given_up += 1;
                return false;
            }
            let nack_now = match missing.last_nack {
                None => now.saturating_duration_since(missing.since) >= REORDER_WAIT,
                Some(at) => missing.nacks < MAX_NACKS && now.saturating_duration_since(at) >= retry,
            };
            if nack_now {
                missing.nacks += 1;
                missing.last_nack = Some(now);
                due.nack.push(*extended as u16);
            }
            true
        });
        self.stats.lost += due.given_up;
        self.stats.nacks += due.nack.len() as u64;
        due
    }

    /// When [`LossRecovery::poll`] next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        let retry = self.retry_interval();
        self.missing
            .values()
            .map(|missing| {
                let give_up = missing.since + GIVE_UP_AFTER;
                let next = match missing.last_nack {
                    None => missing.since + REORDER_WAIT,
                    Some(at) => at + retry,
                };
                next.min(give_up)
            })
            .min()
    }

    /// The round trip measured from NACKs to repairs.
    pub fn round_trip(&self) -> Option<Duration> {
        self.round_trip
    }

    /// The counters so far.
    pub fn stats(&self) -> RecoveryStats {
        self.stats
    }

    fn retry_interval(&self) -> Duration {
        self.round_trip.map_or(DEFAULT_RETRY, |rtt| {
            (rtt.mul_f64(1.2) + Duration::from_millis(5)).max(Duration::from_millis(20))
        })
    }

    fn sample_round_trip(&mut self, sample: Duration) {
        self.round_trip = Some(match self.round_trip {
            None => sample,
            Some(rtt) => rtt.mul_f64(0.8) + sample.mul_f64(0.2),
        });
    }
}

/// `seq` extended to 64 bits next to `reference` (the nearest value with the
/// same low 16 bits).
fn extend(reference: u64, seq: u16) -> u64 {
    let cycle = reference & !0xffff;
    let candidates = [
        cycle.wrapping_sub(1 << 16) | u64::from(seq),
        cycle | u64::from(seq),
        (cycle + (1 << 16)) | u64::from(seq),
    ];
    candidates
        .into_iter()
        .min_by_key(|c| c.abs_diff(reference))
        .unwrap_or(cycle | u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_gap_is_nacked_and_the_repair_is_counted() {
        let t0 = Instant::now();
        let mut recovery = LossRecovery::default();
        assert_eq!(recovery.on_packet(t0, 10), Arrival::InOrder);
        assert_eq!(recovery.on_packet(t0 + MS, 13), Arrival::InOrder);
        assert_eq!(
            recovery.poll(t0 + 2 * MS).nack,
            Vec::<u16>::new(),
            "reorder wait"
        );
        assert_eq!(recovery.deadline(), Some(t0 + 6 * MS));
        assert_eq!(recovery.poll(t0 + 6 * MS).nack, vec![11, 12]);
        assert_eq!(recovery.on_packet(t0 + 46 * MS, 11), Arrival::Repaired);
        assert_eq!(recovery.round_trip(), Some(40 * MS));
        assert_eq!(recovery.on_packet(t0 + 47 * MS, 11), Arrival::Duplicate);
        // 12 is asked for again after about a round trip.
        assert!(recovery.poll(t0 + 50 * MS).nack.is_empty());
        assert_eq!(recovery.poll(t0 + 60 * MS).nack, vec![12]);
        let stats = recovery.stats();
        assert_eq!((stats.missing, stats.repaired, stats.nacks), (2, 1, 3));
    }

    #[test]
    fn an_unrepaired_packet_is_given_up_once() {
        let t0 = Instant::now();
        let mut recovery = LossRecovery::default();
        recovery.on_packet(t0, 1);
        recovery.on_packet(t0, 3);
        let mut nacks = 0;
        let mut given_up = 0;
        for step in 1..=150 {
            let due = recovery.poll(t0 + step * 10 * MS);
            nacks += due.nack.len();
            given_up += due.given_up;
        }
        assert_eq!(nacks, usize::from(MAX_NACKS));
        assert_eq!(given_up, 1);
        assert_eq!(recovery.stats().lost, 1);
        assert_eq!(recovery.deadline(), None);
    }

    #[test]
    fn a_blackout_gap_is_written_off_at_once() {
        let t0 = Instant::now();
        let mut recovery = LossRecovery::default();
        recovery.on_packet(t0, 100);
        recovery.on_packet(t0 + 10_000 * MS, 2100);
        assert_eq!(recovery.stats().lost, 1999);
        assert!(recovery.poll(t0 + 10_010 * MS).nack.is_empty());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t0 = Instant::now();
        let mut recovery = LossRecovery::default();
        recovery.on_packet(t0, 65534);
        recovery.on_packet(t0, 1);
        assert_eq!(recovery.poll(t0 + 10 * MS).nack, vec![65535, 0]);
        assert_eq!(recovery.on_packet(t0 + 20 * MS, 0), Arrival::Repaired);
        assert_eq!(recovery.on_packet(t0 + 20 * MS, 65535), Arrival::Repaired);
        assert_eq!(recovery.on_packet(t0 + 21 * MS, 2), Arrival::InOrder);
    }
}
