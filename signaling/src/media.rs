//! The boundary between signaling and the media plane.
//!
//! Signaling knows rooms, roles and HTTP; it knows nothing of RTP. Everything
//! it needs from media goes through [`MediaPlane`], so a signaling service in
//! front of several media nodes only needs another implementation of it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::rooms::RoomId;

/// A boxed future, so [`MediaPlane`] stays object safe (`Arc<dyn MediaPlane>`).
pub type MediaFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, MediaError>> + Send + 'a>>;

/// Which side of a room a WebRTC session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// The nurse's camera, publishing over WHIP.
    Publish,
    /// A specialist (or GP, or observer) watching over WHEP.
    View,
}

/// Who a viewing (WHEP) session is for: it decides what the session
/// receives and whether its audio is heard by the room.
///
/// Talk-back rides on WHEP: a specialist's page offers its microphone on its
/// first audio m-line (`sendrecv`), and every further `recvonly` audio m-line
/// is a slot in which the gateway forwards one other speaker. The nurse's
/// daemon hears the speakers through a WHEP session of its own, made with its
/// publisher token, whose offer holds only audio slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    /// A wound specialist or GP: sees the camera, hears the nurse and the
    /// other speakers, and may speak.
    Specialist,
    /// A relative or student: sees and hears, is never heard.
    Observer,
    /// The nurse's own daemon: hears the speakers, for the headset.
    Camera,
}

impl Listener {
    /// Whether this listener's microphone is forwarded to the room.
    pub fn may_speak(self) -> bool {
        self == Listener::Specialist
    }
}

/// Opaque identifier of one WebRTC session; the last segment of its `Location`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub String);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The media plane's answer to an offer.
#[derive(Debug, Clone)]
pub struct SessionAnswer {
    pub session: SessionId,
    /// The SDP answer, complete with the gateway's candidates (ICE-lite).
    pub sdp: String,
}

/// How a viewer's own network link is doing, for their page: whether it is
/// the reason the picture suffers. Served at `GET /whep/{room}/{session}/link`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LinkReport {
    /// What the viewer's link can take, kbit/s, once congestion has shown it.
    pub estimate_kbps: Option<u32>,
    /// What the room's stream carries now, kbit/s.
    pub stream_kbps: Option<u32>,
    /// Packets lost on the way to this viewer lately, percent.
    pub loss_percent: Option<f32>,
    /// The viewer's own connection cannot carry the stream well.
    pub weak: bool,
    /// This viewer's link is what limits the room's quality now.
    pub limits_room: bool,
}

/// What a media plane can refuse, each mapped to an HTTP status by signaling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The offer could not be parsed or negotiated (400).
    #[error("the SDP offer was not accepted: {0}")]
    BadOffer(String),
    /// The viewer's codecs cannot receive what the publisher sends (422).
    #[error("{0}")]
    CodecMismatch(String),
    /// A viewer asked for a room with no camera publishing yet (409).
    #[error("no camera is publishing in this room yet")]
    NoPublisher,
    /// The room holds as many viewers as configured (409).
    #[error("the room already has {0} viewers, the configured maximum")]
    TooManyViewers(usize),
    /// Observers hold every place they may take; the rest are kept for
    /// the specialists (409).
    #[error("the room's {0} places for observers are taken; the others are kept for specialists")]
    ObserverPlacesTaken(usize),
    /// The camera already has this many talk-back sessions (409).
    #[error("the camera already has {0} talk-back sessions, the most a room has")]
    TalkbackTaken(usize),
    /// The room runs this many connection tests already (429).
    #[error("this room runs {0} connection tests already, the most one room may")]
    TooManyConnectionTests(usize),
    /// The session in the URL does not exist (any more) (404).
    #[error("no such session; it has ended or never existed")]
    UnknownSession,
    /// A trickle-ICE or ICE-restart fragment could not be used (400).
    #[error("the ICE fragment was not accepted: {0}")]
    BadFragment(String),
    /// The media plane is not running or failed internally (503).
    #[error("the media plane is unavailable: {0}")]
    Unavailable(String),
}

/// Why the media plane is not moving packets, in words for IT: `/healthz`
/// shows it as it is. One kind only, since every stall gets the same answer
/// (take the gateway out and restart it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MediaStalled(pub String);

/// What the media plane reports about sessions by itself, on the channel
/// the gateway hands to [`crate::AppState::watch_media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// ICE and DTLS are up: media flows, along `path`.
    Connected { session: SessionId, path: MediaPath },
    /// The session is gone.
    Ended {
        session: SessionId,
        reason: EndReason,
    },
    /// A speaker started or stopped speaking (from the audio levels their
    /// packets carry), for the room's "who is speaking".
    Speaking { session: SessionId, speaking: bool },
    /// A room's last session is gone: the media payload bytes it carried
    /// since its first (for the consultation log).
    RoomTraffic {
        room: RoomId,
        bytes_from_camera: u64,
        bytes_to_viewers: u64,
    },
}

/// The media payload bytes a room carried since its first session, as the
/// media plane counts them (see [`MediaPlane::traffic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficCount {
    pub room: RoomId,
    pub bytes_from_camera: u64,
    pub bytes_to_viewers: u64,
}

/// How a participant's media reaches the gateway.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum MediaPath {
    /// UDP straight to the media port.
    Udp,
    /// Through the gateway's built-in relay over TCP on its HTTPS port.
    RelayTcp,
    /// Through the gateway's built-in relay over TLS on its HTTPS port.
    RelayTls,
    /// Through an external relay (`turn.urls`).
    ExternalRelay,
}

impl MediaPath {
    pub const ALL: [MediaPath; 4] = [
        Self::Udp,
        Self::RelayTcp,
        Self::RelayTls,
        Self::ExternalRelay,
    ];

    /// The name used in metrics, the audit trail and the consultation log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::RelayTcp => "relay_tcp",
            Self::RelayTls => "relay_tls",
            Self::ExternalRelay => "external_relay",
        }
    }

    pub fn is_relayed(self) -> bool {
        self != Self::Udp
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Ended on request: `DELETE`, or its room was ended.
    Closed,
    /// The connection failed or timed out after working.
    ConnectionLost,
    /// ICE and DTLS never came up in time.
    NeverConnected,
    /// A newer session of the same camera took its place.
    Replaced,
}

impl EndReason {
    /// The words used in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::ConnectionLost => "connection lost",
            EndReason::NeverConnected => "never connected",
            EndReason::Replaced => "replaced by a reconnect",
        }
    }
}

/// The media plane as signaling sees it.
///
/// Implementations own every peer connection; calls only hand over SDP and
/// identifiers. `room` is already authorised when these are called.
pub trait MediaPlane: Send + Sync + 'static {
    /// Accepts a WHIP offer: the room's camera. A newer publisher replaces an
    /// older one in the same room (the capture daemon reconnecting).
    fn publish<'a>(&'a self, room: &'a RoomId, offer_sdp: String)
    -> MediaFuture<'a, SessionAnswer>;

    /// Accepts a WHEP offer: one more viewer of the room's camera, or the
    /// camera's own talk-back session (see [`Listener`]).
    fn view<'a>(
        &'a self,
        room: &'a RoomId,
        listener: Listener,
        offer_sdp: String,
    ) -> MediaFuture<'a, SessionAnswer>;

    /// Applies a trickle-ICE or ICE-restart `application/trickle-ice-sdpfrag`.
    /// Returns `Some(answer fragment)` for an ICE restart, `None` for trickle.
    ///
    /// `kind` is the endpoint the request came through: a session is only
    /// found through its own kind, so a viewer's token never reaches the
    /// camera's session.
    fn patch<'a>(
        &'a self,
        room: &'a RoomId,
        kind: SessionKind,
        session: &'a SessionId,
        sdpfrag: String,
    ) -> MediaFuture<'a, Option<String>>;

    /// Ends a session (WHIP/WHEP `DELETE`); `kind` as for [`MediaPlane::patch`].
    fn end<'a>(
        &'a self,
        room: &'a RoomId,
        kind: SessionKind,
        session: &'a SessionId,
    ) -> MediaFuture<'a, ()>;

    /// Ends every session of `room` at once: the consultation is over.
    fn end_room<'a>(&'a self, room: &'a RoomId) -> MediaFuture<'a, ()>;

    /// The rooms in which this media plane holds any session, those
    /// signaling does not track (connection tests) included, so a room
    /// ended from the command line is ended here too.
    fn rooms(&self) -> MediaFuture<'_, Vec<RoomId>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// How a viewer's (WHEP) session's own link is doing. A media plane that
    /// does not measure links says so (503).
    fn link_report<'a>(
        &'a self,
        _room: &'a RoomId,
        _session: &'a SessionId,
    ) -> MediaFuture<'a, LinkReport> {
        Box::pin(async {
            Err(MediaError::Unavailable(
                "this media plane does not measure viewers' links".into(),
            ))
        })
    }

    /// What each room with sessions has carried so far, not yet reported
    /// in a [`MediaEvent::RoomTraffic`]: asked when the gateway stops, so
    /// the consultations still running are logged with their bytes. A media
    /// plane that does not count says it has nothing.
    fn traffic(&self) -> MediaFuture<'_, Vec<TrafficCount>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether the media plane is moving packets: `Err` with what is wrong
    /// when it has stopped or stalled, so `/healthz` never says "ok" while
    /// every stream stands still.
    fn health(&self) -> Result<(), MediaStalled> {
        Ok(())
    }
}
