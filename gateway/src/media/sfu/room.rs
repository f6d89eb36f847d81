//! What the SFU keeps per room: its camera and viewers, the camera's tracks,
//! the keyframe throttle, the measured uplink and the traffic it carried.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use samsyn_signaling::RoomId;

use crate::media::keyframe::VideoCodec;
use crate::media::peer::{MediaKind, SourceTrack};
use crate::media::throttle::KeyframeThrottle;
use crate::media::viewer_cap::CapSmoother;

use super::peers::PeerId;

/// How often the viewers' cap is sent to the camera (REMB).
pub(super) const CAP_INTERVAL: Duration = Duration::from_secs(1);

/// Every room with a camera or viewers, by id.
pub(super) type Rooms = HashMap<RoomId, Room>;

pub(super) struct Room {
    pub(super) publisher: Option<PeerId>,
    /// Increments with every publisher session, so viewers re-anchor.
    pub(super) epoch: u64,
    pub(super) sources: Vec<SourceTrack>,
    /// The camera's video codec, for the keyframe gate; derived from `sources`.
    pub(super) video_codec: Option<VideoCodec>,
    pub(super) viewers: Vec<PeerId>,
    pub(super) keyframes: KeyframeThrottle,
    /// The camera's video arriving, and the cap sent for the viewers.
    pub(super) uplink: UplinkRate,
    /// What the room carried, for the consultation log.
    pub(super) traffic: RoomTraffic,
}

impl Room {
    /// A room before its first camera.
    pub(super) fn new(now: Instant, keyframe_request_interval: Duration) -> Self {
        Self {
            publisher: None,
            epoch: 0,
            sources: Vec::new(),
            video_codec: None,
            viewers: Vec::new(),
            keyframes: KeyframeThrottle::new(keyframe_request_interval),
            uplink: UplinkRate::new(now),
            traffic: RoomTraffic::default(),
        }
    }

    /// A new camera session: viewers re-anchor on it, and its tracks are
    /// what they receive from now on. Returns the camera it replaces.
    pub(super) fn take_publisher(
        &mut self,
        publisher: PeerId,
        sources: Vec<SourceTrack>,
    ) -> Option<PeerId> {
        let replaced = self.publisher.replace(publisher);
        self.epoch += 1;
        self.video_codec = sources
            .iter()
            .find(|s| s.kind == MediaKind::Video)
            .and_then(|s| VideoCodec::from_mime(&s.codec.mime_type));
        self.sources = sources;
        replaced
    }

    /// Neither a camera nor a viewer: the room can go.
    pub(super) fn is_empty(&self) -> bool {
        self.publisher.is_none() && self.viewers.is_empty()
    }
}

/// Media payload bytes of one room since its first session.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct RoomTraffic {
    pub(super) from_camera: u64,
    pub(super) to_viewers: u64,
}

/// The room's incoming video rate and the viewers' cap.
#[derive(Debug)]
pub(super) struct UplinkRate {
    pub(super) bytes: u64,
    since: Instant,
    pub(super) stream_bps: Option<u64>,
    pub(super) cap_bps: Option<u64>,
    pub(super) smoother: CapSmoother,
    pub(super) next_tick: Instant,
}

impl UplinkRate {
    fn new(now: Instant) -> Self {
        Self {
            bytes: 0,
            since: now,
            stream_bps: None,
            cap_bps: None,
            smoother: CapSmoother::default(),
            next_tick: now + CAP_INTERVAL,
        }
    }

    /// Closes the measurement interval: the rate of the last one.
    pub(super) fn measure(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.since).as_secs_f64();
        if elapsed > 0.0 {
            self.stream_bps = Some((self.bytes as f64 * 8.0 / elapsed) as u64);
        }
        self.bytes = 0;
        self.since = now;
        self.next_tick = now + CAP_INTERVAL;
    }
}
