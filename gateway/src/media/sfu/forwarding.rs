//! Forwarding in a room: the camera's packets to every connected viewer
//! (the hot path), the keyframe gate each viewer's video waits behind, and
//! the keyframe requests sent to the camera when a viewer needs one.

use std::time::Instant;

use samsyn_signaling::RoomId;

use crate::media::peer::{Feed, MediaKind};
use crate::media::throttle::KeyframeThrottle;

use super::peers::{PeerId, Peers, Role};
use super::room::Rooms;
use super::stats::{Outbox, Timing};

/// RTP header bytes per packet (fixed header and typical extensions), for
/// the camera's measured rate.
const RTP_HEADER_BYTES: u64 = 20;

/// The hot path: one publisher packet to every connected viewer.
pub(super) fn forward(
    now: Instant,
    rooms: &mut Rooms,
    peers: &mut Peers,
    out: &mut Outbox,
    room_name: &RoomId,
    kind: MediaKind,
    packet: rtc::rtp::Packet,
) {
    out.stats.rtp_in += 1;
    out.stats.rtp_in_bytes += packet.payload.len() as u64;
    let Some(room) = rooms.get_mut(room_name) else {
        return;
    };
    let epoch = room.epoch;
    room.traffic.from_camera += packet.payload.len() as u64;
    if kind == MediaKind::Video {
        room.uplink.bytes += packet.payload.len() as u64 + RTP_HEADER_BYTES;
        let starts_keyframe = room
            .video_codec
            .is_some_and(|codec| codec.starts_keyframe(&packet.payload));
        if starts_keyframe {
            room.keyframes.keyframe_seen();
        }
    }
    for viewer in &room.viewers {
        let Some(slot) = peers.get_mut(viewer) else {
            continue;
        };
        if !slot.peer.is_connected() {
            continue;
        }
        let Role::Viewer(state) = &mut slot.role else {
            continue;
        };
        let Some(index) = state.camera_sink(kind) else {
            continue;
        };
        let rewriter = &mut state.rewriters[index];
        let was_gated = rewriter.waiting_for_keyframe();
        match rewriter.rewrite(epoch, &packet.header, &packet.payload) {
            Some(header) => {
                if kind == MediaKind::Video {
                    if was_gated && let Some(closed) = state.gate_closed_at.take() {
                        out.record(Timing::KeyframeWait(now.saturating_duration_since(closed)));
                    }
                    if !state.first_frame_sent {
                        state.first_frame_sent = true;
                        out.record(Timing::FirstFrame(
                            now.saturating_duration_since(slot.created),
                        ));
                    }
                }
                slot.peer
                    .send_rtp(now, index, header, packet.payload.clone());
                out.stats.rtp_forwarded += 1;
                out.stats.rtp_forwarded_bytes += packet.payload.len() as u64;
                room.traffic.to_viewers += packet.payload.len() as u64;
                out.take_transmits(&mut slot.peer);
            }
            None => out.stats.rtp_gated += 1,
        }
    }
}

/// Makes `viewer`'s camera video wait for the next keyframe (it joined,
/// the camera was replaced, or its media was lost on the way).
pub(super) fn close_gates(now: Instant, rooms: &Rooms, peers: &mut Peers, viewer: PeerId) {
    let Some(slot) = peers.get_mut(&viewer) else {
        return;
    };
    let Some(room) = rooms.get(&*slot.room) else {
        return;
    };
    if let (Role::Viewer(state), Some(codec)) = (&mut slot.role, room.video_codec) {
        if slot.peer.is_connected() {
            state.gate_closed_at = Some(now);
        }
        for (rewriter, sink) in state.rewriters.iter_mut().zip(slot.peer.sinks()) {
            if sink.kind == MediaKind::Video && sink.feed == Feed::Camera {
                rewriter.wait_for_keyframe(codec);
            }
        }
    }
}

/// Sends the room's publisher a keyframe request when its throttle, asked
/// the way `ask` does, says one is due now: [`KeyframeThrottle::request`]
/// for a viewer's request, [`KeyframeThrottle::request_for_join`] for a
/// joiner, [`KeyframeThrottle::poll`] for one held back earlier.
pub(super) fn ask_keyframe(
    now: Instant,
    rooms: &mut Rooms,
    peers: &mut Peers,
    out: &mut Outbox,
    room_name: &RoomId,
    ask: fn(&mut KeyframeThrottle, Instant) -> bool,
) {
    let due = rooms
        .get_mut(room_name)
        .is_some_and(|r| ask(&mut r.keyframes, now));
    if !due {
        return;
    }
    let Some(publisher) = rooms.get(room_name).and_then(|r| r.publisher) else {
        return;
    };
    // A camera still connecting sends a keyframe first anyway.
    if let Some(slot) = peers.get_mut(&publisher)
        && slot.peer.is_connected()
    {
        slot.peer.request_keyframe(now);
        out.stats.keyframe_requests_sent += 1;
        out.take_transmits(&mut slot.peer);
    }
}
