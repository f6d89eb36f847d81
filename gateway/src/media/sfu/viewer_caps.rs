//! The viewer cap in a room: once a second the camera's rate is measured and
//! the camera is sent the cap its slowest viewer allows (REMB). How the cap
//! is chosen is [`crate::media::viewer_cap`]; this module feeds it each
//! room's viewers' links and sends the result.

use std::time::Instant;

use samsyn_signaling::RoomId;

use crate::media::peer::Peer;
use crate::media::viewer_cap::{self, ViewerLink};

use super::peers::Peers;
use super::room::{CAP_INTERVAL, Room, Rooms};
use super::stats::Outbox;

/// Measures the camera's rate and sends it the cap its slowest viewer
/// allows (REMB), if any viewer limits it.
pub(super) fn cap_camera(
    now: Instant,
    rooms: &mut Rooms,
    peers: &mut Peers,
    out: &mut Outbox,
    room_name: &RoomId,
    floor_bps: u64,
) {
    let Some(room) = rooms.get_mut(room_name) else {
        return;
    };
    room.uplink.measure(now);
    let links = viewer_links_of(peers, room);
    let cap = room.uplink.smoother.next(
        viewer_cap::room_cap(&links, floor_bps),
        CAP_INTERVAL.as_secs_f64(),
    );
    if cap.is_some() != room.uplink.cap_bps.is_some() {
        match cap {
            Some(bps) => tracing::info!(
                room = room_name.as_str(),
                cap_kbps = bps / 1000,
                "a viewer's link is measured: the camera is asked to send at most this"
            ),
            None => tracing::info!(
                room = room_name.as_str(),
                "no viewer's link caps the camera any more"
            ),
        }
    }
    room.uplink.cap_bps = cap;
    let (Some(bps), Some(publisher)) = (cap, room.publisher) else {
        return;
    };
    if let Some(slot) = peers.get_mut(&publisher) {
        slot.peer.send_receiver_estimate(now, bps);
        out.stats.viewer_caps_sent += 1;
        out.take_transmits(&mut slot.peer);
    }
}

/// The links of `room`'s connected viewers.
pub(super) fn viewer_links_of(peers: &Peers, room: &Room) -> Vec<ViewerLink> {
    room.viewers
        .iter()
        .filter_map(|id| peers.get(id))
        .filter(|slot| slot.peer.is_connected() && slot.watches())
        .map(|slot| viewer_link(&slot.peer))
        .collect()
}

/// A viewer peer's link, as far as known.
pub(super) fn viewer_link(peer: &Peer) -> ViewerLink {
    peer.link_estimate()
        .map(|estimate| ViewerLink {
            estimate_bps: estimate.target_bps(),
            loss: estimate.loss(),
        })
        .unwrap_or_default()
}
