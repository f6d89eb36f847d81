//! Link reports: what a viewer's page is told about its own link (served at
//! `GET /whep/{room}/{session}/link`), from its estimate and the room's.

use samsyn_signaling::media::LinkReport;

use crate::media::viewer_cap::{self, RoomLinks};

use super::peers::{PeerId, Peers};
use super::room::Room;
use super::viewer_caps::{viewer_link, viewer_links_of};

/// The report for viewer `id` of `room`.
pub(super) fn link_report(peers: &Peers, room: &Room, id: PeerId) -> LinkReport {
    let link = peers
        .get(&id)
        .map(|slot| viewer_link(&slot.peer))
        .unwrap_or_default();
    let verdict = viewer_cap::verdict(
        &link,
        RoomLinks {
            stream_bps: room.uplink.stream_bps,
            cap_bps: room.uplink.cap_bps,
            slowest_bps: viewer_cap::slowest(&viewer_links_of(peers, room)),
        },
    );
    // A page shows kbit/s; no link comes near u32::MAX of them.
    let kbps = |bps: u64| u32::try_from(bps / 1000).unwrap_or(u32::MAX);
    LinkReport {
        estimate_kbps: link
            .estimate_bps
            .filter(|bps| *bps < viewer_cap::UNLIMITED_BPS)
            .map(kbps),
        stream_kbps: room.uplink.stream_bps.map(kbps),
        loss_percent: link.loss.map(|loss| (loss * 100.0) as f32),
        weak: verdict.weak,
        limits_room: verdict.limits_room,
    }
}
