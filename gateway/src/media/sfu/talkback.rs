//! Talk-back: a specialist's microphone forwarded to everyone else in the
//! room who listens (the other specialists' pages and the nurse's daemon),
//! each speaker in a talk-back slot of the listener's own session (see
//! [`super::peers::ViewerState::talkback_sink`]).

use std::time::Instant;

use samsyn_signaling::RoomId;

use super::peers::{PeerId, Peers, Role, Slot};
use super::room::Rooms;
use super::speaking;
use super::stats::Outbox;

/// A specialist's microphone packet to everyone else in the room who
/// listens: the other pages' talk-back slots and the nurse's daemon.
pub(super) fn forward_talkback(
    now: Instant,
    rooms: &mut Rooms,
    peers: &mut Peers,
    out: &mut Outbox,
    room_name: &RoomId,
    speaker: PeerId,
    packet: rtc::rtp::Packet,
) {
    out.stats.talkback_in += 1;
    speaking::hear(now, peers, out, speaker, &packet.header);
    let Some(Slot {
        role: Role::Viewer(state),
        ..
    }) = peers.get(&speaker)
    else {
        return;
    };
    let extensions = state.microphone.extensions.clone();
    let Some(room) = rooms.get_mut(room_name) else {
        return;
    };
    for listener in &room.viewers {
        if *listener == speaker {
            continue;
        }
        let Some(slot) = peers.get_mut(listener) else {
            continue;
        };
        if !slot.peer.is_connected() {
            continue;
        }
        let Role::Viewer(state) = &mut slot.role else {
            continue;
        };
        let Some(sink) = state.talkback_sink(speaker, &extensions, slot.peer.sinks()) else {
            out.stats.talkback_without_slot += 1;
            continue;
        };
        // The speaker's id names its stream: a slot that passes to
        // another speaker re-anchors, so the listener's stream goes on.
        if let Some(header) =
            state.rewriters[sink].rewrite(speaker, &packet.header, &packet.payload)
        {
            slot.peer
                .send_rtp(now, sink, header, packet.payload.clone());
            out.stats.rtp_forwarded += 1;
            out.stats.rtp_forwarded_bytes += packet.payload.len() as u64;
            room.traffic.to_viewers += packet.payload.len() as u64;
            out.take_transmits(&mut slot.peer);
        }
    }
}

/// `speaker` left `room_name`: every listener's slot that carried it is
/// free for the next speaker.
pub(super) fn release_speaker(
    rooms: &Rooms,
    peers: &mut Peers,
    room_name: &RoomId,
    speaker: PeerId,
) {
    let Some(room) = rooms.get(room_name) else {
        return;
    };
    for listener in &room.viewers {
        if let Some(Slot {
            role: Role::Viewer(state),
            ..
        }) = peers.get_mut(listener)
        {
            state.release_speaker(speaker);
        }
    }
}
