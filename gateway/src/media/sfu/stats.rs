//! What the SFU counts and measures, for metrics, benchmarks and the
//! consultation log: packet counters, who is connected, per-room traffic and
//! viewer counts, and the durations behind the metrics' histograms.

use std::time::Duration;

use samsyn_signaling::RoomId;
use samsyn_signaling::media::TrafficCount;

use crate::media::peer::{Transmit, WireCounters};
use crate::media::recovery::RecoveryStats;

use samsyn_signaling::media::MediaEvent;

use super::peers::{Peers, Role};
use super::room::Rooms;

/// Timing samples kept until the media loop takes them.
const MAX_PENDING_TIMINGS: usize = 10_000;

/// Counters for metrics and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SfuStats {
    pub datagrams_in: u64,
    pub datagrams_unroutable: u64,
    /// STUN checks that named a session but were not signed with its ICE
    /// password (dropped without reaching the session).
    pub stun_unauthenticated: u64,
    /// Peers dropped because the WebRTC stack failed (panicked) on them.
    pub peers_failed: u64,
    /// RTP packets from cameras (connection tests not included).
    pub rtp_in: u64,
    /// Their payload bytes.
    pub rtp_in_bytes: u64,
    /// RTP packets handed to viewers (one per viewer per packet).
    pub rtp_forwarded: u64,
    /// Their payload bytes.
    pub rtp_forwarded_bytes: u64,
    /// Packets held back from viewers waiting for a keyframe.
    pub rtp_gated: u64,
    /// Keyframe requests (PLI) sent to cameras, after throttling.
    pub keyframe_requests_sent: u64,
    /// Camera video packets found missing on the uplink.
    pub uplink_missing: u64,
    /// Of those, repaired by retransmission (NACK/RTX).
    pub uplink_repaired: u64,
    /// Of those, never repaired (a keyframe was asked for instead).
    pub uplink_lost: u64,
    /// NACK entries sent to cameras.
    pub uplink_nacks: u64,
    /// Caps sent to cameras for their slowest viewer (REMB).
    pub viewer_caps_sent: u64,
    /// Keyframe requests (PLI, FIR) that viewers sent.
    pub keyframe_requests_received: u64,
    /// Packets viewers asked to have resent (NACK).
    pub nacked_packets: u64,
    /// Packets resent to viewers in answer.
    pub retransmitted_packets: u64,
    /// RTP packets received from connection tests (never forwarded).
    pub connection_test_rtp_in: u64,
    /// Talk-back packets from specialists' microphones.
    pub talkback_in: u64,
    /// Talk-back packets a listener had no free slot for (more speakers at
    /// once than its offer has audio m-lines).
    pub talkback_without_slot: u64,
}

/// Who is connected right now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SfuOccupancy {
    /// Rooms with a camera or viewers.
    pub rooms: usize,
    pub publishers: usize,
    pub viewers: usize,
    pub connection_tests: usize,
}

/// A duration the SFU measured, for the metrics' histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// From a viewer's WHEP offer to the first video packet sent to it.
    FirstFrame(Duration),
    /// From a viewer's gate closing (connected, or the camera replaced) to
    /// the keyframe that opened it.
    KeyframeWait(Duration),
}

/// One room with a camera or viewers, and how many viewers it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomViewers {
    pub room: RoomId,
    /// A camera publishes in the room.
    pub has_publisher: bool,
    /// Viewing sessions, the camera's talk-back session included.
    pub viewers: usize,
}

/// What the SFU hands out as it works: datagrams to send, events for
/// signaling, counters and timings. Kept apart from rooms and peers so the
/// jobs that forward or measure can borrow it beside them.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) transmits: Vec<Transmit>,
    /// What signaling must hear about: sessions connected or gone.
    pub(super) events: Vec<MediaEvent>,
    pub(super) stats: SfuStats,
    timings: Vec<Timing>,
}

impl Outbox {
    /// Collects what `peer` wants to send now.
    pub(super) fn take_transmits(&mut self, peer: &mut crate::media::peer::Peer) {
        self.transmits
            .extend(std::iter::from_fn(|| peer.poll_transmit()));
    }

    /// Keeps a measured duration for the metrics, unless the media loop has
    /// not taken the last ones for so long that they would pile up.
    pub(super) fn record(&mut self, timing: Timing) {
        if self.timings.len() < MAX_PENDING_TIMINGS {
            self.timings.push(timing);
        }
    }

    pub(super) fn take_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }
}

/// The counters, with the uplink repairs of the cameras still connected
/// and the wire counters of every peer added in.
pub(super) fn totals(
    counted: SfuStats,
    ended_recovery: RecoveryStats,
    peers: &Peers,
    wire: &WireCounters,
) -> SfuStats {
    use std::sync::atomic::Ordering::Relaxed;
    let mut recovery = ended_recovery;
    for slot in peers.values() {
        if matches!(slot.role, Role::Publisher(_)) {
            add_recovery(&mut recovery, slot.peer.recovery_stats());
        }
    }
    SfuStats {
        uplink_missing: recovery.missing,
        uplink_repaired: recovery.repaired,
        uplink_lost: recovery.lost,
        uplink_nacks: recovery.nacks,
        nacked_packets: wire.nacked_packets.load(Relaxed),
        retransmitted_packets: wire.retransmitted_packets.load(Relaxed),
        ..counted
    }
}

/// Rooms, cameras, viewers and connection tests present now.
pub(super) fn occupancy(rooms: &Rooms, peers: &Peers) -> SfuOccupancy {
    let mut occupancy = SfuOccupancy {
        rooms: rooms.len(),
        ..Default::default()
    };
    for slot in peers.values() {
        match slot.role {
            Role::Publisher(_) => occupancy.publishers += 1,
            Role::Viewer(ref state) if state.watches() => occupancy.viewers += 1,
            Role::Viewer(_) => {}
            Role::ConnectionTest(_) => occupancy.connection_tests += 1,
        }
    }
    occupancy
}

/// Rooms with a publisher or viewers, and their viewer counts.
pub(super) fn room_viewers(rooms: &Rooms) -> Vec<RoomViewers> {
    rooms
        .iter()
        .map(|(name, room)| RoomViewers {
            room: name.clone(),
            has_publisher: room.publisher.is_some(),
            viewers: room.viewers.len(),
        })
        .collect()
}

/// What each room still in use has carried since its first session.
pub(super) fn traffic_counts(rooms: &Rooms) -> Vec<TrafficCount> {
    let mut counts: Vec<TrafficCount> = rooms
        .iter()
        .map(|(name, room)| TrafficCount {
            room: name.clone(),
            bytes_from_camera: room.traffic.from_camera,
            bytes_to_viewers: room.traffic.to_viewers,
        })
        .collect();
    counts.sort_unstable_by(|a, b| a.room.cmp(&b.room));
    counts
}

/// The rooms with any session: cameras, viewers, connection tests.
pub(super) fn rooms_in_use(peers: &Peers) -> Vec<RoomId> {
    let mut rooms: Vec<RoomId> = peers
        .values()
        .map(|slot| RoomId::clone(&slot.room))
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    rooms
}

pub(super) fn add_recovery(total: &mut RecoveryStats, more: RecoveryStats) {
    total.received += more.received;
    total.missing += more.missing;
    total.repaired += more.repaired;
    total.lost += more.lost;
    total.nacks += more.nacks;
}

/// One line per camera session about its uplink: how much was lost on the
/// way and how much of that retransmission repaired.
pub(super) fn log_uplink_repairs(room: &RoomId, stats: RecoveryStats) {
    if stats.missing == 0 {
        tracing::info!(
            room = room.as_str(),
            packets = stats.received,
            "camera session ended; no packet lost on its uplink"
        );
        return;
    }
    tracing::info!(
        room = room.as_str(),
        packets = stats.received,
        missing = stats.missing,
        repaired = stats.repaired,
        lost = stats.lost,
        "camera session ended; {:.1} % of its packets went missing on the uplink, {:.0} % of those were repaired by retransmission",
        100.0 * stats.missing as f64 / (stats.received + stats.lost).max(1) as f64,
        100.0 * stats.repaired as f64 / stats.missing as f64,
    );
}
