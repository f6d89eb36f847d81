//! The SFU core: rooms, peers, forwarding. No sockets, no clocks, no tasks.
//!
//! The I/O loop hands in datagrams and the current time and takes out what
//! to send; everything in between (routing, the keyframe gate, rewriting,
//! keyframe-request throttling) is deterministic and runs on whatever thread
//! drives it. One received packet is forwarded to every viewer in the same
//! call: the payload is shared, only the header is rewritten per viewer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samsyn_signaling::media::{
    EndReason, Listener, MediaError, MediaEvent, MediaPath, SessionAnswer, SessionId, SessionKind,
    TrafficCount,
};

use super::admission;
use super::keyframe::VideoCodec;
use super::peer::sdp::{Candidate, IceFragment};
use super::peer::{
    Feed, LocalCandidates, MediaKind, Peer, PeerEvent, PeerSettings, SinkTrack, SourceTrack,
    Transmit, WireCounters,
};
use super::probe::{ProbeReceiver, ProbeReport};
use super::recovery::RecoveryStats;
use super::rewrite::{OutboundTrack, TrackRewriter};
use super::routing::{DatagramRouter, Route};
use super::speech::Voice;
use super::throttle::KeyframeThrottle;
use super::viewer_cap::{self, CapSmoother, RoomLinks, ViewerLink};
use super::warnings::WarningSummary;

/// How the SFU behaves; from the gateway configuration.
#[derive(Debug, Clone)]
pub struct SfuSettings {
    pub keyframe_request_interval: Duration,
    pub max_viewers_per_room: usize,
    /// A peer that has not connected by then is dropped.
    pub connect_timeout: Duration,
    /// Packets kept per viewer stream to answer NACKs (a power of two).
    pub retransmit_buffer_packets: u16,
    /// The camera is never capped below this for the sake of a slow viewer
    /// (see [`super::viewer_cap`]), bit/s.
    pub viewer_floor_bps: u64,
}

/// How often the viewers' cap is sent to the camera (REMB).
const CAP_INTERVAL: Duration = Duration::from_secs(1);

type PeerId = u64;

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

/// What a viewer's page is told about its own link.
pub use samsyn_signaling::media::LinkReport;

struct Room {
    publisher: Option<PeerId>,
    /// Increments with every publisher session, so viewers re-anchor.
    epoch: u64,
    sources: Vec<SourceTrack>,
    /// The camera's video codec, for the keyframe gate; derived from `sources`.
    video_codec: Option<VideoCodec>,
    viewers: Vec<PeerId>,
    keyframes: KeyframeThrottle,
    /// The camera's video arriving, and the cap sent for the viewers.
    uplink: UplinkRate,
    /// What the room carried, for the consultation log.
    traffic: RoomTraffic,
}

/// Media payload bytes of one room since its first session.
#[derive(Debug, Default, Clone, Copy)]
struct RoomTraffic {
    from_camera: u64,
    to_viewers: u64,
}

/// The room's incoming video rate and the viewers' cap.
#[derive(Debug)]
struct UplinkRate {
    bytes: u64,
    since: Instant,
    stream_bps: Option<u64>,
    cap_bps: Option<u64>,
    smoother: CapSmoother,
    next_tick: Instant,
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
    fn measure(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.since).as_secs_f64();
        if elapsed > 0.0 {
            self.stream_bps = Some((self.bytes as f64 * 8.0 / elapsed) as u64);
        }
        self.bytes = 0;
        self.since = now;
        self.next_tick = now + CAP_INTERVAL;
    }
}

enum Role {
    /// The room's camera, and the nurse's voice in its audio.
    Publisher(Voice),
    Viewer(ViewerState),
    /// A connection test: received and measured, never forwarded.
    ConnectionTest(Box<ProbeReceiver>),
}

impl Role {
    /// The voice "who is speaking" reads in this session's packets: the
    /// nurse's in the camera's audio, a specialist's in their microphone.
    fn voice_mut(&mut self) -> Option<&mut Voice> {
        match self {
            Role::Publisher(voice) => Some(voice),
            Role::Viewer(state) => Some(&mut state.microphone.voice),
            Role::ConnectionTest(_) => None,
        }
    }
}

struct ViewerState {
    listener: Listener,
    /// One per sink, by the sink's index.
    rewriters: Vec<TrackRewriter>,
    /// The sinks that carry the camera's video and the nurse's voice.
    camera_video: Option<usize>,
    camera_audio: Option<usize>,
    /// The sinks that carry other speakers, and whom each carries now.
    talkback: Vec<TalkbackSlot>,
    /// A specialist's own microphone: its packets' extensions (as its first
    /// audio m-line negotiated them) and whether it speaks now.
    microphone: Microphone,
    /// Since when the video gate has waited for a keyframe.
    gate_closed_at: Option<Instant>,
    first_frame_sent: bool,
}

/// One talk-back m-line of a listener. A speaker keeps the slot it was
/// given for as long as it is in the room.
#[derive(Debug, Clone, Copy)]
struct TalkbackSlot {
    sink: usize,
    speaker: Option<PeerId>,
}

#[derive(Debug, Default)]
struct Microphone {
    extensions: Arc<[(u8, String)]>,
    voice: Voice,
}

impl ViewerState {
    fn new(listener: Listener, sinks: &[SinkTrack], sources: &[SourceTrack]) -> Self {
        let rewriters = sinks
            .iter()
            .map(|sink| {
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
                    Some(codec) if sink.kind == MediaKind::Video => {
                        TrackRewriter::gated(out, codec, seq, ts)
                    }
                    _ => TrackRewriter::ungated(out, seq, ts),
                }
            })
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
    fn camera_sink(&self, kind: MediaKind) -> Option<usize> {
        match kind {
            MediaKind::Video => self.camera_video,
            MediaKind::Audio => self.camera_audio,
        }
    }

    /// The sink that carries `speaker`, giving it a free slot if it has
    /// none yet; `None` when every slot is taken.
    fn talkback_sink(
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
    fn release_speaker(&mut self, speaker: PeerId) {
        for slot in &mut self.talkback {
            if slot.speaker == Some(speaker) {
                slot.speaker = None;
            }
        }
    }

    /// Whether this session watches the camera (the camera's own talk-back
    /// session does not).
    fn watches(&self) -> bool {
        self.listener != Listener::Camera
    }
}

/// Opus's RTP clock.
const OPUS_CLOCK_RATE: u32 = 48_000;

struct Slot {
    peer: Peer,
    /// Shared, so handling a packet never copies the room's name.
    room: Arc<str>,
    session: SessionId,
    role: Role,
    created: Instant,
}

/// All rooms and peers of one gateway.
pub struct Sfu {
    settings: SfuSettings,
    peer_settings: PeerSettings,
    peers: HashMap<PeerId, Slot>,
    rooms: HashMap<String, Room>,
    sessions: HashMap<SessionId, PeerId>,
    router: DatagramRouter<PeerId>,
    next_peer: PeerId,
    transmits: Vec<Transmit>,
    /// What signaling must hear about: sessions connected or gone.
    events: Vec<MediaEvent>,
    stats: SfuStats,
    /// Loss-repair counts of camera sessions that have ended.
    ended_recovery: RecoveryStats,
    timings: Vec<Timing>,
    /// STUN checks without a session's password, for the log's summary.
    unauthenticated: WarningSummary,
    /// When the router next forgets silent addresses.
    next_address_sweep: Option<Instant>,
    /// Who started each connection test (token id); see
    /// [`Sfu::start_connection_test`].
    connection_test_owners: HashMap<SessionId, String>,
}

/// How often the router forgets addresses that fell silent.
const ADDRESS_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

impl Sfu {
    pub fn new(settings: SfuSettings, candidates: LocalCandidates) -> Self {
        Self {
            peer_settings: PeerSettings {
                candidates,
                retransmit_buffer_packets: settings.retransmit_buffer_packets,
                wire_counters: Default::default(),
            },
            settings,
            peers: HashMap::new(),
            rooms: HashMap::new(),
            sessions: HashMap::new(),
            router: DatagramRouter::default(),
            next_peer: 1,
            transmits: Vec::new(),
            events: Vec::new(),
            stats: SfuStats::default(),
            ended_recovery: RecoveryStats::default(),
            timings: Vec::new(),
            unauthenticated: WarningSummary::default(),
            next_address_sweep: None,
            connection_test_owners: HashMap::new(),
        }
    }

    pub fn stats(&self) -> SfuStats {
        use std::sync::atomic::Ordering::Relaxed;
        let wire: &WireCounters = &self.peer_settings.wire_counters;
        let mut recovery = self.ended_recovery;
        for slot in self.peers.values() {
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
            ..self.stats
        }
    }

    /// What a viewer's page is told about its own link (WHEP session
    /// `session` in `room`).
    pub fn link_report(
        &self,
        room_name: &str,
        session: &SessionId,
    ) -> Result<LinkReport, MediaError> {
        let id = self.session_peer(room_name, SessionKind::View, session)?;
        let room = self
            .rooms
            .get(room_name)
            .ok_or(MediaError::UnknownSession)?;
        let link = self
            .peers
            .get(&id)
            .map(|slot| viewer_link(&slot.peer))
            .unwrap_or_default();
        let verdict = viewer_cap::verdict(
            &link,
            RoomLinks {
                stream_bps: room.uplink.stream_bps,
                cap_bps: room.uplink.cap_bps,
                slowest_bps: viewer_cap::slowest(&viewer_links_of(&self.peers, room)),
            },
        );
        let kbps = |bps: u64| u32::try_from(bps / 1000).unwrap_or(u32::MAX);
        Ok(LinkReport {
            estimate_kbps: link
                .estimate_bps
                .filter(|bps| *bps < viewer_cap::UNLIMITED_BPS)
                .map(kbps),
            stream_kbps: room.uplink.stream_bps.map(kbps),
            loss_percent: link.loss.map(|loss| (loss * 100.0) as f32),
            weak: verdict.weak,
            limits_room: verdict.limits_room,
        })
    }

    /// Rooms, cameras, viewers and connection tests present now.
    pub fn occupancy(&self) -> SfuOccupancy {
        let mut occupancy = SfuOccupancy {
            rooms: self.rooms.len(),
            ..Default::default()
        };
        for slot in self.peers.values() {
            match slot.role {
                Role::Publisher(_) => occupancy.publishers += 1,
                Role::Viewer(ref state) if state.watches() => occupancy.viewers += 1,
                Role::Viewer(_) => {}
                Role::ConnectionTest(_) => occupancy.connection_tests += 1,
            }
        }
        occupancy
    }

    /// Where each connected camera's and viewer's media comes from (its most
    /// recently heard address), for counting paths.
    pub fn connected_remotes(&self) -> Vec<SocketAddr> {
        let latest = self.router.latest_addresses();
        self.peers
            .iter()
            .filter(|(_, slot)| {
                slot.peer.is_connected()
                    && matches!(slot.role, Role::Publisher(_) | Role::Viewer(_))
            })
            .filter_map(|(id, _)| latest.get(id).copied())
            .collect()
    }

    /// Where the session's media comes from now (its most recently heard
    /// address).
    pub fn remote_of_session(&self, session: &SessionId) -> Option<SocketAddr> {
        let (id, _) = self
            .peers
            .iter()
            .find(|(_, slot)| slot.session == *session)?;
        self.router.latest_address_of(*id)
    }

    /// Takes the durations measured since the last call.
    pub fn drain_timings(&mut self) -> Vec<Timing> {
        std::mem::take(&mut self.timings)
    }

    /// Rooms with a publisher or viewers, and their viewer counts.
    pub fn room_viewers(&self) -> Vec<(String, bool, usize)> {
        self.rooms
            .iter()
            .map(|(name, room)| (name.clone(), room.publisher.is_some(), room.viewers.len()))
            .collect()
    }

    /// Accepts the room's camera (WHIP). A newer publisher replaces the old one.
    pub fn publish(
        &mut self,
        now: Instant,
        room_name: &str,
        offer: String,
    ) -> Result<SessionAnswer, MediaError> {
        tracing::trace!(room = room_name, %offer, "WHIP offer");
        let (peer, sdp, sources) = Peer::publisher(offer, &self.peer_settings, now)?;
        tracing::trace!(room = room_name, answer = %sdp, "WHIP answer");
        let nurse = sources
            .iter()
            .find(|s| s.kind == MediaKind::Audio)
            .map(|audio| Voice::new(&audio.extensions))
            .unwrap_or_default();
        let id = self.add_peer(now, peer, room_name, Role::Publisher(nurse));
        let interval = self.settings.keyframe_request_interval;
        let room = self
            .rooms
            .entry(room_name.to_owned())
            .or_insert_with(|| Room {
                publisher: None,
                epoch: 0,
                sources: Vec::new(),
                video_codec: None,
                viewers: Vec::new(),
                keyframes: KeyframeThrottle::new(interval),
                uplink: UplinkRate::new(now),
                traffic: RoomTraffic::default(),
            });
        let replaced = room.publisher.replace(id);
        room.epoch += 1;
        room.video_codec = sources
            .iter()
            .find(|s| s.kind == MediaKind::Video)
            .and_then(|s| VideoCodec::from_mime(&s.codec.mime_type));
        room.sources = sources;
        // Viewers wait for the new camera's first keyframe.
        let viewers = room.viewers.clone();
        for viewer in viewers {
            self.close_gates(now, viewer);
        }
        if let Some(old) = replaced {
            tracing::info!(
                room = room_name,
                "a new camera session replaces the previous one"
            );
            self.remove_peer(old, EndReason::Replaced);
        }
        Ok(self.answer(id, sdp))
    }

    /// Accepts one more viewer (WHEP), or the camera's talk-back session.
    pub fn view(
        &mut self,
        now: Instant,
        room_name: &str,
        listener: Listener,
        offer: String,
    ) -> Result<SessionAnswer, MediaError> {
        let room = self
            .rooms
            .get(room_name)
            .filter(|room| room.publisher.is_some())
            .ok_or(MediaError::NoPublisher)?;
        let mut present = admission::Listeners::default();
        for id in &room.viewers {
            if let Some(Role::Viewer(state)) = self.peers.get(id).map(|slot| &slot.role) {
                present.add(state.listener);
            }
        }
        admission::admit(listener, present, self.settings.max_viewers_per_room)?;
        let (peer, sdp) = Peer::viewer(offer, &room.sources, listener, &self.peer_settings, now)?;
        let state = ViewerState::new(listener, peer.sinks(), &room.sources);
        let id = self.add_peer(now, peer, room_name, Role::Viewer(state));
        if let Some(room) = self.rooms.get_mut(room_name) {
            room.viewers.push(id);
        }
        Ok(self.answer(id, sdp))
    }

    /// Accepts a connection test (`samsyn-bench connect`): a publisher whose
    /// media is measured and dropped. It joins no room, so the room's camera
    /// and viewers never see it.
    /// `owner` (the token's id) is the only one who may read or end it.
    pub fn start_connection_test(
        &mut self,
        now: Instant,
        room_name: &str,
        owner: &str,
        offer: String,
    ) -> Result<SessionAnswer, MediaError> {
        let running = self
            .peers
            .values()
            .filter(|slot| &*slot.room == room_name && matches!(slot.role, Role::ConnectionTest(_)))
            .count();
        admission::admit_connection_test(running)?;
        let (peer, sdp, _sources) = Peer::publisher(offer, &self.peer_settings, now)?;
        let receiver = Box::new(ProbeReceiver::new(now));
        let id = self.add_peer(now, peer, room_name, Role::ConnectionTest(receiver));
        let answer = self.answer(id, sdp);
        // Forget the owners of tests that have ended since the last start.
        let (sessions, peers) = (&self.sessions, &self.peers);
        self.connection_test_owners.retain(|session, _| {
            sessions.get(session).is_some_and(|id| {
                peers
                    .get(id)
                    .is_some_and(|slot| matches!(slot.role, Role::ConnectionTest(_)))
            })
        });
        self.connection_test_owners
            .insert(answer.session.clone(), owner.to_owned());
        Ok(answer)
    }

    /// What a connection test has received so far.
    pub fn connection_test_report(
        &self,
        now: Instant,
        room_name: &str,
        owner: &str,
        session: &SessionId,
    ) -> Result<ProbeReport, MediaError> {
        let id = self.connection_test_peer(room_name, owner, session)?;
        match self.peers.get(&id).map(|slot| &slot.role) {
            Some(Role::ConnectionTest(receiver)) => Ok(receiver.report(now)),
            _ => Err(MediaError::UnknownSession),
        }
    }

    /// Ends a connection test.
    pub fn end_connection_test(
        &mut self,
        room_name: &str,
        owner: &str,
        session: &SessionId,
    ) -> Result<(), MediaError> {
        let id = self.connection_test_peer(room_name, owner, session)?;
        self.remove_peer(id, EndReason::Closed);
        Ok(())
    }

    /// The connection test `session` of `room`, if `owner` started it: a
    /// session id alone does not reach another token's test.
    fn connection_test_peer(
        &self,
        room: &str,
        owner: &str,
        session: &SessionId,
    ) -> Result<PeerId, MediaError> {
        if self.connection_test_owners.get(session).map(String::as_str) != Some(owner) {
            return Err(MediaError::UnknownSession);
        }
        self.sessions
            .get(session)
            .copied()
            .filter(|id| {
                self.peers.get(id).is_some_and(|slot| {
                    &*slot.room == room && matches!(slot.role, Role::ConnectionTest(_))
                })
            })
            .ok_or(MediaError::UnknownSession)
    }

    /// Applies a trickle-ICE fragment (`a=candidate:` lines), or restarts ICE
    /// when the fragment carries new credentials; then returns the answer fragment.
    pub fn patch(
        &mut self,
        now: Instant,
        room_name: &str,
        kind: SessionKind,
        session: &SessionId,
        sdpfrag: &str,
    ) -> Result<Option<String>, MediaError> {
        let id = self.session_peer(room_name, kind, session)?;
        let slot = self.peers.get_mut(&id).ok_or(MediaError::UnknownSession)?;
        let fragment = IceFragment::read(sdpfrag);
        if let Some(ufrag) = fragment.ufrag
            && !slot.peer.remote_ufrag_is(ufrag)
        {
            // New credentials: an ICE restart (the client moved networks).
            let pwd = fragment.pwd.ok_or_else(|| {
                MediaError::BadFragment("an ICE restart needs a=ice-pwd as well".into())
            })?;
            let answer = slot
                .peer
                .restart_ice(now, ufrag, pwd, &self.peer_settings.candidates)?;
            self.router
                .add_ufrag(slot.peer.ufrag(), slot.peer.ice_pwd(), id);
            tracing::info!(room = room_name, "ICE restarted");
            // A restart may carry the client's new candidates too.
            add_trickled_candidates(&mut slot.peer, &fragment)?;
            return Ok(Some(answer));
        }
        add_trickled_candidates(&mut slot.peer, &fragment)?;
        Ok(None)
    }

    /// Ends a session (WHIP/WHEP DELETE).
    pub fn end(
        &mut self,
        room_name: &str,
        kind: SessionKind,
        session: &SessionId,
    ) -> Result<(), MediaError> {
        let id = self.session_peer(room_name, kind, session)?;
        self.remove_peer(id, EndReason::Closed);
        Ok(())
    }

    /// The rooms with any session: cameras, viewers, connection tests.
    pub fn rooms_in_use(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self
            .peers
            .values()
            .map(|slot| slot.room.to_string())
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        rooms
    }

    /// What each room still in use has carried since its first session
    /// (reported otherwise only when its last session ends).
    pub fn traffic_counts(&self) -> Vec<TrafficCount> {
        let mut counts: Vec<TrafficCount> = self
            .rooms
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

    /// Ends every session of a room: its consultation is over.
    pub fn end_room(&mut self, room_name: &str) {
        // Cameras, viewers and connection tests.
        let everyone: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, slot)| &*slot.room == room_name)
            .map(|(id, _)| *id)
            .collect();
        for id in everyone {
            self.remove_peer(id, EndReason::Closed);
        }
    }

    /// Feeds one datagram from the shared port.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        self.stats.datagrams_in += 1;
        let id = match self.router.route(now, remote, data) {
            Route::Peer(id) => id,
            Route::Unauthenticated => {
                self.stats.stun_unauthenticated += 1;
                self.unauthenticated.record(now);
                return;
            }
            Route::Unknown => {
                tracing::trace!(len = data.len(), "datagram for no known peer dropped");
                self.stats.datagrams_unroutable += 1;
                return;
            }
        };
        self.guarded(id, |sfu| {
            if let Some(slot) = sfu.peers.get_mut(&id) {
                slot.peer.handle_datagram(now, local, remote, data);
            }
            sfu.process(now, id);
        });
    }

    /// Runs `work` for peer `id`; if it panics (inside the WebRTC stack, on
    /// something a peer sent), that peer is dropped and everyone else goes
    /// on, instead of the one thread that carries every room dying.
    fn guarded(&mut self, id: PeerId, work: impl FnOnce(&mut Self)) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut *self)));
        if outcome.is_err() {
            self.stats.peers_failed += 1;
            let room = self.peers.get(&id).map(|slot| slot.room.clone());
            tracing::error!(
                room = room.as_deref().unwrap_or("?"),
                "a peer connection failed inside the WebRTC stack and was dropped; \
                 every other session goes on"
            );
            self.remove_peer(id, EndReason::ConnectionLost);
        }
    }

    /// Media to the viewer at `remote` was lost on its way (a relayed
    /// connection that could not keep up dropped video): its picture is
    /// broken until the next keyframe, so its video waits for one and the
    /// camera is asked for one (throttled like any other request).
    pub fn viewer_lost_media(&mut self, now: Instant, remote: SocketAddr) {
        let Some(viewer) = self.router.peer_at(remote) else {
            return;
        };
        let Some(room) = self.peers.get(&viewer).map(|slot| slot.room.clone()) else {
            return;
        };
        self.close_gates(now, viewer);
        self.ask_keyframe(now, &room);
    }

    /// The earliest instant at which [`Sfu::handle_timeout`] has work.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let peers = self.peers.values_mut().filter_map(|slot| {
            let connect_deadline =
                (!slot.peer.is_connected()).then(|| slot.created + self.settings.connect_timeout);
            [slot.peer.poll_timeout(), connect_deadline]
                .into_iter()
                .flatten()
                .min()
        });
        let throttles = self
            .rooms
            .values()
            .filter_map(|room| room.keyframes.deadline());
        let caps = self
            .rooms
            .values()
            .filter(|room| room.publisher.is_some() && !room.viewers.is_empty())
            .map(|room| room.uplink.next_tick);
        peers.chain(throttles).chain(caps).min()
    }

    /// Runs timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .peers
            .iter_mut()
            .filter_map(|(id, slot)| {
                slot.peer
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
                    .then_some(*id)
            })
            .collect();
        for id in due {
            self.guarded(id, |sfu| {
                if let Some(slot) = sfu.peers.get_mut(&id) {
                    slot.peer.handle_timeout(now);
                }
                sfu.process(now, id);
            });
        }
        self.end_quiet_speech(now);
        self.sweep_addresses(now);
        if let Some(count) = self.unauthenticated.due(now) {
            tracing::warn!(
                count,
                "STUN checks without the session's ICE password were dropped in the last minute \
                 (someone probing the media port, or a client with stale credentials)"
            );
        }
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                !s.peer.is_connected() && now >= s.created + self.settings.connect_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            tracing::info!(
                "a peer did not connect within {:?}; dropped",
                self.settings.connect_timeout
            );
            self.remove_peer(id, EndReason::NeverConnected);
        }
        let rooms: Vec<String> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.ask_keyframe_by(now, &room, KeyframeThrottle::poll);
            if self
                .rooms
                .get(&room)
                .is_some_and(|r| r.uplink.next_tick <= now)
            {
                self.cap_camera(now, &room);
            }
        }
    }

    /// Forgets remote addresses that fell silent, every few seconds.
    fn sweep_addresses(&mut self, now: Instant) {
        let due = self
            .next_address_sweep
            .get_or_insert(now + ADDRESS_SWEEP_INTERVAL);
        if now >= *due {
            self.router.forget_silent(now);
            self.next_address_sweep = Some(now + ADDRESS_SWEEP_INTERVAL);
        }
    }

    /// Speakers whose packets went quiet (or stopped) stop speaking.
    fn end_quiet_speech(&mut self, now: Instant) {
        for slot in self.peers.values_mut() {
            if let Some(voice) = slot.role.voice_mut()
                && let Some(speaking) = voice.poll(now)
            {
                self.events.push(MediaEvent::Speaking {
                    session: slot.session.clone(),
                    speaking,
                });
            }
        }
    }

    /// Measures the camera's rate and sends it the cap its slowest viewer
    /// allows (REMB), if any viewer limits it.
    fn cap_camera(&mut self, now: Instant, room_name: &str) {
        let floor = self.settings.viewer_floor_bps;
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        room.uplink.measure(now);
        let links = viewer_links_of(&self.peers, room);
        let cap = room.uplink.smoother.next(
            viewer_cap::room_cap(&links, floor),
            CAP_INTERVAL.as_secs_f64(),
        );
        if cap.is_some() != room.uplink.cap_bps.is_some() {
            match cap {
                Some(bps) => tracing::info!(
                    room = room_name,
                    cap_kbps = bps / 1000,
                    "a viewer's link is measured: the camera is asked to send at most this"
                ),
                None => tracing::info!(
                    room = room_name,
                    "no viewer's link caps the camera any more"
                ),
            }
        }
        room.uplink.cap_bps = cap;
        let (Some(bps), Some(publisher)) = (cap, room.publisher) else {
            return;
        };
        if let Some(slot) = self.peers.get_mut(&publisher) {
            slot.peer.send_receiver_estimate(now, bps);
            self.stats.viewer_caps_sent += 1;
            self.transmits
                .extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
        }
    }

    /// Takes everything waiting to be sent.
    pub fn drain_transmits(&mut self) -> std::vec::Drain<'_, Transmit> {
        self.transmits.drain(..)
    }

    /// Takes the session events signaling has not heard yet.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MediaEvent> {
        self.events.drain(..)
    }

    fn add_peer(&mut self, now: Instant, peer: Peer, room: &str, role: Role) -> PeerId {
        let id = self.next_peer;
        self.next_peer += 1;
        self.router.add_ufrag(peer.ufrag(), peer.ice_pwd(), id);
        let session = SessionId(random_session_id());
        self.sessions.insert(session.clone(), id);
        self.peers.insert(
            id,
            Slot {
                peer,
                room: Arc::from(room),
                session,
                role,
                created: now,
            },
        );
        id
    }

    fn answer(&self, id: PeerId, sdp: String) -> SessionAnswer {
        SessionAnswer {
            session: self.peers[&id].session.clone(),
            sdp,
        }
    }

    /// The peer behind `session`, if it belongs to `room` and is of `kind`.
    fn session_peer(
        &self,
        room: &str,
        kind: SessionKind,
        session: &SessionId,
    ) -> Result<PeerId, MediaError> {
        self.sessions
            .get(session)
            .copied()
            .filter(|id| {
                self.peers.get(id).is_some_and(|slot| {
                    &*slot.room == room
                        && match slot.role {
                            Role::Publisher(_) => kind == SessionKind::Publish,
                            Role::Viewer(_) => kind == SessionKind::View,
                            // Reached only through its own endpoint.
                            Role::ConnectionTest(_) => false,
                        }
                })
            })
            .ok_or(MediaError::UnknownSession)
    }

    fn remove_peer(&mut self, id: PeerId, reason: EndReason) {
        let Some(mut slot) = self.peers.remove(&id) else {
            return;
        };
        if slot
            .role
            .voice_mut()
            .is_some_and(|voice| voice.is_speaking())
        {
            // Before `Ended`: signaling forgets the session then.
            self.events.push(MediaEvent::Speaking {
                session: slot.session.clone(),
                speaking: false,
            });
        }
        // Signaling tracks cameras and viewers, not connection tests.
        if !matches!(slot.role, Role::ConnectionTest(_)) {
            self.events.push(MediaEvent::Ended {
                session: slot.session.clone(),
                reason,
            });
        }
        // A peer dropped after a failure may fail again on the way out; its
        // goodbye is not worth the loop.
        let transmits = &mut self.transmits;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.peer.close();
            transmits.extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
        }));
        self.router.remove_peer(id);
        self.sessions.remove(&slot.session);
        let mut empty = false;
        if let Some(room) = self.rooms.get_mut(&*slot.room) {
            if room.publisher == Some(id) {
                room.publisher = None;
                let recovery = slot.peer.recovery_stats();
                add_recovery(&mut self.ended_recovery, recovery);
                log_uplink_repairs(&slot.room, recovery);
            }
            room.viewers.retain(|v| *v != id);
            for listener in &room.viewers {
                if let Some(Slot {
                    role: Role::Viewer(state),
                    ..
                }) = self.peers.get_mut(listener)
                {
                    state.release_speaker(id);
                }
            }
            empty = room.publisher.is_none() && room.viewers.is_empty();
        }
        if empty && let Some(room) = self.rooms.remove(&*slot.room) {
            self.events.push(MediaEvent::RoomTraffic {
                room: slot.room.to_string(),
                bytes_from_camera: room.traffic.from_camera,
                bytes_to_viewers: room.traffic.to_viewers,
            });
        }
    }

    fn close_gates(&mut self, now: Instant, viewer: PeerId) {
        let Some(slot) = self.peers.get_mut(&viewer) else {
            return;
        };
        let Some(room) = self.rooms.get(&*slot.room) else {
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

    /// Handles everything peer `id` has to report, then collects its output.
    fn process(&mut self, now: Instant, id: PeerId) {
        loop {
            let Some(slot) = self.peers.get_mut(&id) else {
                return;
            };
            let Some(event) = slot.peer.poll_event(now) else {
                break;
            };
            let is_viewer = matches!(slot.role, Role::Viewer(_));
            let is_test = matches!(slot.role, Role::ConnectionTest(_));
            let room = slot.room.clone();
            match event {
                PeerEvent::Rtp(_, packet) if is_test => {
                    self.stats.connection_test_rtp_in += 1;
                    if let Role::ConnectionTest(receiver) = &mut slot.role {
                        receiver.record(now, packet.header.sequence_number, &packet.payload);
                    }
                }
                // Signaling does not track connection tests: no event.
                PeerEvent::Connected if is_test => {
                    tracing::info!(room = &*room, "connection test connected");
                }
                PeerEvent::KeyframeRequest if is_test => {}
                PeerEvent::Connected => {
                    // The node knows the relays and fills in the path.
                    self.events.push(MediaEvent::Connected {
                        session: slot.session.clone(),
                        path: MediaPath::Udp,
                    });
                    if let Role::Viewer(state) = &mut slot.role {
                        state.gate_closed_at = Some(now);
                        tracing::info!(room = &*room, "viewer connected");
                        self.ask_keyframe_for_joiner(now, &room);
                    } else {
                        tracing::info!(room = &*room, "camera connected");
                    }
                }
                PeerEvent::Gone => {
                    tracing::info!(room = &*room, viewer = is_viewer, "peer connection ended");
                    self.remove_peer(id, EndReason::ConnectionLost);
                    return;
                }
                PeerEvent::KeyframeRequest => {
                    self.stats.keyframe_requests_received += 1;
                    self.ask_keyframe(now, &room);
                }
                // The uplink lost packets for good: every viewer's picture
                // is broken until the next keyframe.
                PeerEvent::UnrepairableLoss => self.ask_keyframe(now, &room),
                PeerEvent::Rtp(kind, packet) if !is_viewer => {
                    if kind == MediaKind::Audio {
                        self.hear(now, id, &packet.header);
                    }
                    self.forward(now, &room, kind, packet);
                }
                PeerEvent::Rtp(MediaKind::Audio, packet) => {
                    self.forward_talkback(now, &room, id, packet);
                }
                PeerEvent::Rtp(..) => {}
            }
        }
        if let Some(slot) = self.peers.get_mut(&id) {
            self.transmits
                .extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
        }
    }

    fn ask_keyframe(&mut self, now: Instant, room: &str) {
        self.ask_keyframe_by(now, room, KeyframeThrottle::request);
    }

    fn ask_keyframe_for_joiner(&mut self, now: Instant, room: &str) {
        self.ask_keyframe_by(now, room, KeyframeThrottle::request_for_join);
    }

    /// Sends the room's publisher a keyframe request when its throttle,
    /// asked the way `ask` does, says one is due now.
    fn ask_keyframe_by(
        &mut self,
        now: Instant,
        room: &str,
        ask: fn(&mut KeyframeThrottle, Instant) -> bool,
    ) {
        let due = self
            .rooms
            .get_mut(room)
            .is_some_and(|r| ask(&mut r.keyframes, now));
        if due {
            self.send_keyframe_request(now, room);
        }
    }

    fn send_keyframe_request(&mut self, now: Instant, room: &str) {
        let Some(publisher) = self.rooms.get(room).and_then(|r| r.publisher) else {
            return;
        };
        // A camera still connecting sends a keyframe first anyway.
        if let Some(slot) = self.peers.get_mut(&publisher)
            && slot.peer.is_connected()
        {
            slot.peer.request_keyframe(now);
            self.stats.keyframe_requests_sent += 1;
            self.transmits
                .extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
        }
    }

    /// The hot path: one publisher packet to every connected viewer.
    fn forward(
        &mut self,
        now: Instant,
        room_name: &str,
        kind: MediaKind,
        packet: rtc::rtp::Packet,
    ) {
        self.stats.rtp_in += 1;
        self.stats.rtp_in_bytes += packet.payload.len() as u64;
        let Some(room) = self.rooms.get_mut(room_name) else {
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
            let Some(slot) = self.peers.get_mut(viewer) else {
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
                            let wait = now.saturating_duration_since(closed);
                            if self.timings.len() < MAX_PENDING_TIMINGS {
                                self.timings.push(Timing::KeyframeWait(wait));
                            }
                        }
                        if !state.first_frame_sent {
                            state.first_frame_sent = true;
                            let ttff = now.saturating_duration_since(slot.created);
                            if self.timings.len() < MAX_PENDING_TIMINGS {
                                self.timings.push(Timing::FirstFrame(ttff));
                            }
                        }
                    }
                    slot.peer
                        .send_rtp(now, index, header, packet.payload.clone());
                    self.stats.rtp_forwarded += 1;
                    self.stats.rtp_forwarded_bytes += packet.payload.len() as u64;
                    room.traffic.to_viewers += packet.payload.len() as u64;
                    self.transmits
                        .extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
                }
                None => self.stats.rtp_gated += 1,
            }
        }
    }
}

impl Sfu {
    /// Reads "who is speaking" in a packet of `speaker`'s voice (the
    /// camera's audio or a specialist's microphone) and tells the room
    /// when it changes.
    fn hear(&mut self, now: Instant, speaker: PeerId, header: &rtc::rtp::header::Header) {
        let Some(slot) = self.peers.get_mut(&speaker) else {
            return;
        };
        if let Some(voice) = slot.role.voice_mut()
            && let Some(speaking) = voice.on_packet(now, header)
        {
            self.events.push(MediaEvent::Speaking {
                session: slot.session.clone(),
                speaking,
            });
        }
    }

    /// A specialist's microphone packet to everyone else in the room who
    /// listens: the other pages' talk-back slots and the nurse's daemon.
    fn forward_talkback(
        &mut self,
        now: Instant,
        room_name: &str,
        speaker: PeerId,
        packet: rtc::rtp::Packet,
    ) {
        self.stats.talkback_in += 1;
        self.hear(now, speaker, &packet.header);
        let Some(Slot {
            role: Role::Viewer(state),
            ..
        }) = self.peers.get(&speaker)
        else {
            return;
        };
        let extensions = state.microphone.extensions.clone();
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        for listener in &room.viewers {
            if *listener == speaker {
                continue;
            }
            let Some(slot) = self.peers.get_mut(listener) else {
                continue;
            };
            if !slot.peer.is_connected() {
                continue;
            }
            let Role::Viewer(state) = &mut slot.role else {
                continue;
            };
            let Some(sink) = state.talkback_sink(speaker, &extensions, slot.peer.sinks()) else {
                self.stats.talkback_without_slot += 1;
                continue;
            };
            // The speaker's id names its stream: a slot that passes to
            // another speaker re-anchors, so the listener's stream goes on.
            if let Some(header) =
                state.rewriters[sink].rewrite(speaker, &packet.header, &packet.payload)
            {
                slot.peer
                    .send_rtp(now, sink, header, packet.payload.clone());
                self.stats.rtp_forwarded += 1;
                self.stats.rtp_forwarded_bytes += packet.payload.len() as u64;
                room.traffic.to_viewers += packet.payload.len() as u64;
                self.transmits
                    .extend(std::iter::from_fn(|| slot.peer.poll_transmit()));
            }
        }
    }
}

/// RTP header bytes per packet (fixed header and typical extensions), for
/// the camera's measured rate.
const RTP_HEADER_BYTES: u64 = 20;

/// A viewer peer's link, as far as known.
/// The links of `room`'s connected viewers.
fn viewer_links_of(peers: &HashMap<PeerId, Slot>, room: &Room) -> Vec<ViewerLink> {
    room.viewers
        .iter()
        .filter_map(|id| peers.get(id))
        .filter(|slot| slot.peer.is_connected() && slot.watches())
        .map(|slot| viewer_link(&slot.peer))
        .collect()
}

fn viewer_link(peer: &Peer) -> ViewerLink {
    peer.link_estimate()
        .map(|estimate| ViewerLink {
            estimate_bps: estimate.target_bps(),
            loss: estimate.loss(),
        })
        .unwrap_or_default()
}

impl Slot {
    /// A viewer that watches the camera (not the camera's own talk-back
    /// session, and not a connection test).
    fn watches(&self) -> bool {
        matches!(&self.role, Role::Viewer(state) if state.watches())
    }
}

fn add_recovery(total: &mut RecoveryStats, more: RecoveryStats) {
    total.received += more.received;
    total.missing += more.missing;
    total.repaired += more.repaired;
    total.lost += more.lost;
    total.nacks += more.nacks;
}

/// One line per camera session about its uplink: how much was lost on the
/// way and how much of that retransmission repaired.
fn log_uplink_repairs(room: &str, stats: RecoveryStats) {
    if stats.missing == 0 {
        tracing::info!(
            room,
            packets = stats.received,
            "camera session ended; no packet lost on its uplink"
        );
        return;
    }
    tracing::info!(
        room,
        packets = stats.received,
        missing = stats.missing,
        repaired = stats.repaired,
        lost = stats.lost,
        "camera session ended; {:.1} % of its packets went missing on the uplink, {:.0} % of those were repaired by retransmission",
        100.0 * stats.missing as f64 / (stats.received + stats.lost).max(1) as f64,
        100.0 * stats.repaired as f64 / stats.missing as f64,
    );
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

/// Adds the `a=candidate:` lines of a trickled fragment to `peer`.
///
/// `.local` (mDNS) candidates are skipped: an ICE-lite gateway learns a
/// browser's address from its checks, and resolving names is what it must
/// not do. A line the stack cannot read is skipped too, so one odd
/// candidate does not cost the others; only a fragment whose every
/// candidate is unreadable is refused, with the first reason.
fn add_trickled_candidates(peer: &mut Peer, fragment: &IceFragment) -> Result<(), MediaError> {
    let mut first_error = None;
    let mut added = 0usize;
    for &candidate in &fragment.candidates {
        if Candidate::parse(candidate).is_some_and(|c| c.is_mdns()) {
            continue;
        }
        match peer.add_remote_candidate(candidate.to_owned()) {
            Ok(()) => added += 1,
            Err(err) => {
                tracing::debug!("a trickled candidate was skipped: {err}");
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) if added == 0 => Err(err),
        _ => Ok(()),
    }
}

fn random_session_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBRTCBIN: &str = include_str!("../../tests/data/offers/webrtcbin-whip.sdp");

    fn sfu() -> Sfu {
        Sfu::new(
            SfuSettings {
                keyframe_request_interval: Duration::from_millis(500),
                max_viewers_per_room: 3,
                connect_timeout: Duration::from_secs(30),
                retransmit_buffer_packets: 512,
                viewer_floor_bps: 500_000,
            },
            LocalCandidates {
                host: vec!["10.213.0.1:50000".parse().unwrap()],
                public: Vec::new(),
            },
        )
    }

    #[test]
    fn a_peer_that_trips_the_stack_is_dropped_and_the_others_go_on() {
        let now = Instant::now();
        let mut sfu = sfu();
        let a = sfu.publish(now, "room-a", WEBRTCBIN.to_owned()).unwrap();
        let b = sfu.publish(now, "room-b", WEBRTCBIN.to_owned()).unwrap();
        let broken = sfu.sessions[&a.session];
        sfu.drain_events().for_each(drop);

        sfu.guarded(broken, |_| panic!("a failure inside the WebRTC stack"));

        assert_eq!(sfu.stats().peers_failed, 1);
        assert!(
            !sfu.sessions.contains_key(&a.session),
            "room A's camera is gone"
        );
        assert!(
            sfu.sessions.contains_key(&b.session),
            "room B's camera stays"
        );
        let events: Vec<MediaEvent> = sfu.drain_events().collect();
        assert!(
            events.iter().any(|e| matches!(
                e,
                MediaEvent::Ended { session, reason: EndReason::ConnectionLost } if *session == a.session
            )),
            "signaling hears that the session ended: {events:?}"
        );
        // The loop goes on: the survivor still has timers to run.
        sfu.handle_timeout(now + Duration::from_millis(100));
        assert_eq!(sfu.occupancy().publishers, 1);
    }
}
