//! What the SFU keeps per peer: its room, its role in it, and for a viewer
//! the per-sink rewriters, talk-back slots and microphone.
//!
//! Plain state with the bookkeeping that belongs to it; the jobs that use it
//! (forwarding, talk-back, connection tests, …) are modules of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use samsyn_signaling::RoomId;
use samsyn_signaling::media::{Listener, SessionId};

use crate::media::keyframe::VideoCodec;
use crate::media::peer::{Feed, MediaKind, Peer, SinkTrack, SourceTrack};
use crate::media::probe::ProbeReceiver;
use crate::media::rewrite::{OutboundTrack, TrackRewriter};
use crate::media::speech::Voice;

pub(super) type PeerId = u64;

/// Every peer of the gateway, by id.
pub(super) type Peers = HashMap<PeerId, Slot>;

/// Which peer each session is.
pub(super) type Sessions = HashMap<SessionId, PeerId>;

/// Opus's RTP clock.
const OPUS_CLOCK_RATE: u32 = 48_000;

/// One peer connection and where it belongs.
pub(super) struct Slot {
    pub(super) peer: Peer,
    /// Shared, so handling a packet never copies the room's id.
    pub(super) room: Arc<RoomId>,
    pub(super) session: SessionId,
    pub(super) role: Role,
    pub(super) created: Instant,
}

impl Slot {
    /// A viewer that watches the camera (not the camera's own talk-back
    /// session, and not a connection test).
    pub(super) fn watches(&self) -> bool {
        matches!(&self.role, Role::Viewer(state) if state.watches())
    }
}

pub(super) enum Role {
    /// The room's camera, and the nurse's voice in its audio.
    Publisher(Voice),
    Viewer(ViewerState),
    /// A connection test: received and measured, never forwarded.
    ConnectionTest(Box<ProbeReceiver>),
}

impl Role {
    /// The voice "who is speaking" reads in this session's packets: the
    /// nurse's in the camera's audio, a specialist's in their microphone.
    pub(super) fn voice_mut(&mut self) -> Option<&mut Voice> {
        match self {
            Role::Publisher(voice) => Some(voice),
            Role::Viewer(state) => Some(&mut state.microphone.voice),
            Role::ConnectionTest(_) => None,
        }
    }
}

pub(super) struct ViewerState {
    pub(super) listener: Listener,
    /// One per sink, by the sink's index.
    pub(super) rewriters: Vec<TrackRewriter>,
    /// The sinks that carry the camera's video and the nurse's voice.
    camera_video: Option<usize>,
    camera_audio: Option<usize>,
    /// The sinks that carry other speakers, and whom each carries now.
    talkback: Vec<TalkbackSlot>,
    /// A specialist's own microphone: its packets' extensions (as its first
    /// audio m-line negotiated them) and whether it speaks now.
    pub(super) microphone: Microphone,
    /// Since when the video gate has waited for a keyframe.
    pub(super) gate_closed_at: Option<Instant>,
    pub(super) first_frame_sent: bool,
}

/// One talk-back m-line of a listener. A speaker keeps the slot it was
/// given for as long as it is in the room.
#[derive(Debug, Clone, Copy)]
struct TalkbackSlot {
    sink: usize,
    speaker: Option<PeerId>,
}

#[derive(Debug, Default)]
pub(super) struct Microphone {
    pub(super) extensions: Arc<[(u8, String)]>,
    pub(super) voice: Voice,
}

impl ViewerState {
    pub(super) fn new(listener: Listener, sinks: &[SinkTrack], sources: &[SourceTrack]) -> Self {
        let rewriters = sinks
            .iter()
            .map(|sink| sink_rewriter(sink, sources))
            .collect();
        let camera_sink = |kind| {
            sinks
                .iter()
                .position(|s| s.feed == Feed::Camera && s.kind == kind)
        };
        let microphone = sinks
            .iter()
            .find(|s| s.kind == MediaKind::Audio && listener.may_speak())
            .map(|sink| Microphone {
                extensions: sink.extensions.clone().into(),
                voice: Voice::new(&sink.extensions),
            })
            .unwrap_or_default();
        Self {
            listener,
            rewriters,
            camera_video: camera_sink(MediaKind::Video),
            camera_audio: camera_sink(MediaKind::Audio),
            talkback: sinks
                .iter()
                .enumerate()
                .filter(|(_, s)| s.feed == Feed::Talkback)
                .map(|(sink, _)| TalkbackSlot {
                    sink,
                    speaker: None,
                })
                .collect(),
            microphone,
            gate_closed_at: None,
            first_frame_sent: false,
        }
    }

    /// The sink carrying the camera's `kind`.
    pub(super) fn camera_sink(&self, kind: MediaKind) -> Option<usize> {
        match kind {
            MediaKind::Video => self.camera_video,
            MediaKind::Audio => self.camera_audio,
        }
    }

    /// The sink that carries `speaker`, giving it a free slot if it has
    /// none yet; `None` when every slot is taken.
    pub(super) fn talkback_sink(
        &mut self,
        speaker: PeerId,
        speaker_extensions: &[(u8, String)],
        sinks: &[SinkTrack],
    ) -> Option<usize> {
        if let Some(slot) = self.talkback.iter().find(|t| t.speaker == Some(speaker)) {
            return Some(slot.sink);
        }
        let slot = self.talkback.iter_mut().find(|t| t.speaker.is_none())?;
        slot.speaker = Some(speaker);
        let mapping = extension_mapping(speaker_extensions, &sinks[slot.sink].extensions);
        self.rewriters[slot.sink].set_extension_ids(mapping);
        Some(slot.sink)
    }

    /// `speaker` left: its slot is free for the next one.
    pub(super) fn release_speaker(&mut self, speaker: PeerId) {
        for slot in &mut self.talkback {
            if slot.speaker == Some(speaker) {
                slot.speaker = None;
            }
        }
    }

    /// Whether this session watches the camera (the camera's own talk-back
    /// session does not).
    pub(super) fn watches(&self) -> bool {
        self.listener != Listener::Camera
    }
}

/// The rewriter for one of a viewer's sinks: a camera sink rewrites the
/// camera's track (video behind the keyframe gate), a talk-back sink whoever
/// speaks in it.
fn sink_rewriter(sink: &SinkTrack, sources: &[SourceTrack]) -> TrackRewriter {
    let source = match sink.feed {
        Feed::Camera => sources.iter().find(|s| s.kind == sink.kind),
        Feed::Talkback => None,
    };
    let out = OutboundTrack {
        ssrc: sink.ssrc,
        payload_type: sink.payload_type,
        extension_ids: source
            .map(|s| extension_mapping(&s.extensions, &sink.extensions))
            .unwrap_or_default(),
        clock_rate: source.map_or(OPUS_CLOCK_RATE, |s| s.codec.clock_rate),
    };
    let (seq, ts) = (rand::random(), rand::random());
    match source.and_then(|s| VideoCodec::from_mime(&s.codec.mime_type)) {
        Some(codec) if sink.kind == MediaKind::Video => TrackRewriter::gated(out, codec, seq, ts),
        _ => TrackRewriter::ungated(out, seq, ts),
    }
}

/// Publisher extension IDs mapped to a viewer's, by URI.
fn extension_mapping(publisher: &[(u8, String)], viewer: &[(u8, String)]) -> Vec<(u8, u8)> {
    publisher
        .iter()
        .filter_map(|(from, uri)| {
            viewer
                .iter()
                .find(|(_, u)| u == uri)
                .map(|(to, _)| (*from, *to))
        })
        .collect()
}
