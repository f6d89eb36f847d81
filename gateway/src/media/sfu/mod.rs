//! The SFU core: rooms, peers, forwarding. No sockets, no clocks, no tasks.
//!
//! The I/O loop hands in datagrams and the current time and takes out what
//! to send; everything in between (routing, the keyframe gate, rewriting,
//! keyframe-request throttling) is deterministic and runs on whatever thread
//! drives it. One received packet is forwarded to every viewer in the same
//! call: the payload is shared, only the header is rewritten per viewer.
//!
//! [`Sfu`] itself routes datagrams and timers to peers and runs their
//! lifecycle (offers, ICE, ending, timeouts); each job it hands work to is a
//! module of its own:
//!
//! - [`forwarding`]: the camera's packets to a room's viewers, the keyframe
//!   gate and the keyframe requests;
//! - [`talkback`]: a specialist's microphone to the room's other listeners;
//! - [`speaking`]: who is speaking, from the audio levels;
//! - [`connection_tests`]: sessions that are measured, never forwarded;
//! - [`viewer_caps`]: the cap sent to a room's camera for its slowest viewer;
//! - [`link_reports`]: what a viewer's page is told about its own link;
//! - [`stats`]: counters, occupancy, timings and per-room traffic;
//! - [`peers`] and [`room`]: the state those jobs work on.

mod connection_tests;
mod forwarding;
mod link_reports;
mod peers;
mod room;
mod speaking;
mod stats;
mod talkback;
mod viewer_caps;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samsyn_signaling::RoomId;
use samsyn_signaling::media::{
    EndReason, Listener, MediaError, MediaEvent, MediaPath, SessionAnswer, SessionId, SessionKind,
    TrafficCount,
};

use super::admission;
use super::peer::sdp::{Candidate, IceFragment};
use super::peer::{LocalCandidates, MediaKind, Peer, PeerEvent, PeerSettings, Transmit};
use super::probe::{ProbeReceiver, ProbeReport};
use super::recovery::RecoveryStats;
use super::routing::{DatagramRouter, Route};
use super::speech::Voice;
use super::throttle::KeyframeThrottle;
use super::warnings::WarningSummary;

use connection_tests::ConnectionTests;
use peers::{PeerId, Peers, Role, Sessions, Slot, ViewerState};
use room::{Room, Rooms};
use stats::Outbox;
pub use stats::{RoomViewers, SfuOccupancy, SfuStats, Timing};

/// What a viewer's page is told about its own link.
pub use samsyn_signaling::media::LinkReport;

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

/// How often the router forgets addresses that fell silent.
const ADDRESS_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// All rooms and peers of one gateway.
pub struct Sfu {
    settings: SfuSettings,
    peer_settings: PeerSettings,
    peers: Peers,
    rooms: Rooms,
    sessions: Sessions,
    router: DatagramRouter<PeerId>,
    next_peer: PeerId,
    /// Datagrams, events, counters and timings waiting to be taken.
    out: Outbox,
    /// Loss-repair counts of camera sessions that have ended.
    ended_recovery: RecoveryStats,
    /// STUN checks without a session's password, for the log's summary.
    unauthenticated: WarningSummary,
    /// When the router next forgets silent addresses.
    next_address_sweep: Option<Instant>,
    /// Who started each connection test; see [`Sfu::start_connection_test`].
    connection_tests: ConnectionTests,
}

impl Sfu {
    pub fn new(settings: SfuSettings, candidates: LocalCandidates) -> Self {
        Self {
            peer_settings: PeerSettings {
                candidates,
                retransmit_buffer_packets: settings.retransmit_buffer_packets,
                wire_counters: Default::default(),
            },
            settings,
            peers: Peers::new(),
            rooms: Rooms::new(),
            sessions: Sessions::new(),
            router: DatagramRouter::default(),
            next_peer: 1,
            out: Outbox::default(),
            ended_recovery: RecoveryStats::default(),
            unauthenticated: WarningSummary::default(),
            next_address_sweep: None,
            connection_tests: ConnectionTests::default(),
        }
    }

    // --- What the SFU reports -------------------------------------------

    pub fn stats(&self) -> SfuStats {
        stats::totals(
            self.out.stats,
            self.ended_recovery,
            &self.peers,
            &self.peer_settings.wire_counters,
        )
    }

    /// Rooms, cameras, viewers and connection tests present now.
    pub fn occupancy(&self) -> SfuOccupancy {
        stats::occupancy(&self.rooms, &self.peers)
    }

    /// Takes the durations measured since the last call.
    pub fn drain_timings(&mut self) -> Vec<Timing> {
        self.out.take_timings()
    }

    /// Rooms with a publisher or viewers, and their viewer counts.
    pub fn room_viewers(&self) -> Vec<RoomViewers> {
        stats::room_viewers(&self.rooms)
    }

    /// The rooms with any session: cameras, viewers, connection tests.
    pub fn rooms_in_use(&self) -> Vec<RoomId> {
        stats::rooms_in_use(&self.peers)
    }

    /// What each room still in use has carried since its first session
    /// (reported otherwise only when its last session ends).
    pub fn traffic_counts(&self) -> Vec<TrafficCount> {
        stats::traffic_counts(&self.rooms)
    }

    /// What a viewer's page is told about its own link (WHEP session
    /// `session` in `room`).
    pub fn link_report(
        &self,
        room_name: &RoomId,
        session: &SessionId,
    ) -> Result<LinkReport, MediaError> {
        let id = self.session_peer(room_name, SessionKind::View, session)?;
        let room = self
            .rooms
            .get(room_name)
            .ok_or(MediaError::UnknownSession)?;
        Ok(link_reports::link_report(&self.peers, room, id))
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

    /// Takes everything waiting to be sent.
    pub fn drain_transmits(&mut self) -> std::vec::Drain<'_, Transmit> {
        self.out.transmits.drain(..)
    }

    /// Takes the session events signaling has not heard yet.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MediaEvent> {
        self.out.events.drain(..)
    }

    // --- Sessions: offers, ICE, ending ------------------------------------

    /// Accepts the room's camera (WHIP). A newer publisher replaces the old one.
    pub fn publish(
        &mut self,
        now: Instant,
        room_name: &RoomId,
        offer: String,
    ) -> Result<SessionAnswer, MediaError> {
        tracing::trace!(room = room_name.as_str(), %offer, "WHIP offer");
        let (peer, sdp, sources) = Peer::publisher(offer, &self.peer_settings, now)?;
        tracing::trace!(room = room_name.as_str(), answer = %sdp, "WHIP answer");
        let nurse = sources
            .iter()
            .find(|s| s.kind == MediaKind::Audio)
            .map(|audio| Voice::new(&audio.extensions))
            .unwrap_or_default();
        let id = self.add_peer(now, peer, room_name, Role::Publisher(nurse));
        let interval = self.settings.keyframe_request_interval;
        let room = self
            .rooms
            .entry(room_name.clone())
            .or_insert_with(|| Room::new(now, interval));
        let replaced = room.take_publisher(id, sources);
        // Viewers wait for the new camera's first keyframe.
        let viewers = room.viewers.clone();
        for viewer in viewers {
            forwarding::close_gates(now, &self.rooms, &mut self.peers, viewer);
        }
        if let Some(old) = replaced {
            tracing::info!(
                room = room_name.as_str(),
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
        room_name: &RoomId,
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

    /// Accepts a connection test (`samsyn-bench connect`; see
    /// [`connection_tests`]). `owner` (the token's id) is the only one who
    /// may read or end it.
    pub fn start_connection_test(
        &mut self,
        now: Instant,
        room_name: &RoomId,
        owner: &str,
        offer: String,
    ) -> Result<SessionAnswer, MediaError> {
        ConnectionTests::admit(&self.peers, room_name)?;
        let (peer, sdp, _sources) = Peer::publisher(offer, &self.peer_settings, now)?;
        let receiver = Box::new(ProbeReceiver::new(now));
        let id = self.add_peer(now, peer, room_name, Role::ConnectionTest(receiver));
        let answer = self.answer(id, sdp);
        self.connection_tests
            .started(answer.session.clone(), owner, &self.sessions, &self.peers);
        Ok(answer)
    }

    /// What a connection test has received so far.
    pub fn connection_test_report(
        &self,
        now: Instant,
        room_name: &RoomId,
        owner: &str,
        session: &SessionId,
    ) -> Result<ProbeReport, MediaError> {
        let id =
            self.connection_tests
                .peer(&self.sessions, &self.peers, room_name, owner, session)?;
        connection_tests::report(&self.peers, now, id)
    }

    /// Ends a connection test.
    pub fn end_connection_test(
        &mut self,
        room_name: &RoomId,
        owner: &str,
        session: &SessionId,
    ) -> Result<(), MediaError> {
        let id =
            self.connection_tests
                .peer(&self.sessions, &self.peers, room_name, owner, session)?;
        self.remove_peer(id, EndReason::Closed);
        Ok(())
    }

    /// Applies a trickle-ICE fragment (`a=candidate:` lines), or restarts ICE
    /// when the fragment carries new credentials; then returns the answer fragment.
    pub fn patch(
        &mut self,
        now: Instant,
        room_name: &RoomId,
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
            tracing::info!(room = room_name.as_str(), "ICE restarted");
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
        room_name: &RoomId,
        kind: SessionKind,
        session: &SessionId,
    ) -> Result<(), MediaError> {
        let id = self.session_peer(room_name, kind, session)?;
        self.remove_peer(id, EndReason::Closed);
        Ok(())
    }

    /// Ends every session of a room: its consultation is over.
    pub fn end_room(&mut self, room_name: &RoomId) {
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

    fn add_peer(&mut self, now: Instant, peer: Peer, room: &RoomId, role: Role) -> PeerId {
        let id = self.next_peer;
        self.next_peer += 1;
        self.router.add_ufrag(peer.ufrag(), peer.ice_pwd(), id);
        let session = SessionId(random_session_id());
        self.sessions.insert(session.clone(), id);
        self.peers.insert(
            id,
            Slot {
                peer,
                room: Arc::new(room.clone()),
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
        room: &RoomId,
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
            self.out.events.push(MediaEvent::Speaking {
                session: slot.session.clone(),
                speaking: false,
            });
        }
        // Signaling tracks cameras and viewers, not connection tests.
        if !matches!(slot.role, Role::ConnectionTest(_)) {
            self.out.events.push(MediaEvent::Ended {
                session: slot.session.clone(),
                reason,
            });
        }
        // A peer dropped after a failure may fail again on the way out; its
        // goodbye is not worth the loop.
        let out = &mut self.out;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.peer.close();
            out.take_transmits(&mut slot.peer);
        }));
        self.router.remove_peer(id);
        self.sessions.remove(&slot.session);
        self.leave_room(id, &slot);
    }

    /// Takes peer `id` (already removed) out of its room, and the room away
    /// once nobody is left in it.
    fn leave_room(&mut self, id: PeerId, slot: &Slot) {
        let Some(room) = self.rooms.get_mut(&*slot.room) else {
            return;
        };
        if room.publisher == Some(id) {
            room.publisher = None;
            let recovery = slot.peer.recovery_stats();
            stats::add_recovery(&mut self.ended_recovery, recovery);
            stats::log_uplink_repairs(&slot.room, recovery);
        }
        room.viewers.retain(|v| *v != id);
        let empty = room.is_empty();
        talkback::release_speaker(&self.rooms, &mut self.peers, &slot.room, id);
        if empty && let Some(room) = self.rooms.remove(&*slot.room) {
            self.out.events.push(MediaEvent::RoomTraffic {
                room: RoomId::clone(&slot.room),
                bytes_from_camera: room.traffic.from_camera,
                bytes_to_viewers: room.traffic.to_viewers,
            });
        }
    }

    // --- Routing: datagrams and timers to peers ---------------------------

    /// Feeds one datagram from the shared port.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        self.out.stats.datagrams_in += 1;
        let id = match self.router.route(now, remote, data) {
            Route::Peer(id) => id,
            Route::Unauthenticated => {
                self.out.stats.stun_unauthenticated += 1;
                self.unauthenticated.record(now);
                return;
            }
            Route::Unknown => {
                tracing::trace!(len = data.len(), "datagram for no known peer dropped");
                self.out.stats.datagrams_unroutable += 1;
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
            self.out.stats.peers_failed += 1;
            let room = self.peers.get(&id).map(|slot| slot.room.clone());
            tracing::error!(
                room = room.as_deref().map_or("?", RoomId::as_str),
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
        forwarding::close_gates(now, &self.rooms, &mut self.peers, viewer);
        self.ask_keyframe(now, &room, KeyframeThrottle::request);
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
        speaking::end_quiet_speech(now, &mut self.peers, &mut self.out);
        self.sweep_addresses(now);
        if let Some(count) = self.unauthenticated.due(now) {
            tracing::warn!(
                count,
                "STUN checks without the session's ICE password were dropped in the last minute \
                 (someone probing the media port, or a client with stale credentials)"
            );
        }
        self.drop_unconnected(now);
        let rooms: Vec<RoomId> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.ask_keyframe(now, &room, KeyframeThrottle::poll);
            if self
                .rooms
                .get(&room)
                .is_some_and(|r| r.uplink.next_tick <= now)
            {
                viewer_caps::cap_camera(
                    now,
                    &mut self.rooms,
                    &mut self.peers,
                    &mut self.out,
                    &room,
                    self.settings.viewer_floor_bps,
                );
            }
        }
    }

    /// Drops peers that have not connected within the configured time.
    fn drop_unconnected(&mut self, now: Instant) {
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
                    self.out.stats.connection_test_rtp_in += 1;
                    if let Role::ConnectionTest(receiver) = &mut slot.role {
                        receiver.record(now, packet.header.sequence_number, &packet.payload);
                    }
                }
                // Signaling does not track connection tests: no event.
                PeerEvent::Connected if is_test => {
                    tracing::info!(room = room.as_str(), "connection test connected");
                }
                PeerEvent::KeyframeRequest if is_test => {}
                PeerEvent::Connected => {
                    // The node knows the relays and fills in the path.
                    self.out.events.push(MediaEvent::Connected {
                        session: slot.session.clone(),
                        path: MediaPath::Udp,
                    });
                    if let Role::Viewer(state) = &mut slot.role {
                        state.gate_closed_at = Some(now);
                        tracing::info!(room = room.as_str(), "viewer connected");
                        self.ask_keyframe(now, &room, KeyframeThrottle::request_for_join);
                    } else {
                        tracing::info!(room = room.as_str(), "camera connected");
                    }
                }
                PeerEvent::Gone => {
                    tracing::info!(
                        room = room.as_str(),
                        viewer = is_viewer,
                        "peer connection ended"
                    );
                    self.remove_peer(id, EndReason::ConnectionLost);
                    return;
                }
                PeerEvent::KeyframeRequest => {
                    self.out.stats.keyframe_requests_received += 1;
                    self.ask_keyframe(now, &room, KeyframeThrottle::request);
                }
                // The uplink lost packets for good: every viewer's picture
                // is broken until the next keyframe.
                PeerEvent::UnrepairableLoss => {
                    self.ask_keyframe(now, &room, KeyframeThrottle::request)
                }
                PeerEvent::Rtp(kind, packet) if !is_viewer => {
                    if kind == MediaKind::Audio {
                        speaking::hear(now, &mut self.peers, &mut self.out, id, &packet.header);
                    }
                    forwarding::forward(
                        now,
                        &mut self.rooms,
                        &mut self.peers,
                        &mut self.out,
                        &room,
                        kind,
                        packet,
                    );
                }
                PeerEvent::Rtp(MediaKind::Audio, packet) => {
                    talkback::forward_talkback(
                        now,
                        &mut self.rooms,
                        &mut self.peers,
                        &mut self.out,
                        &room,
                        id,
                        packet,
                    );
                }
                PeerEvent::Rtp(..) => {}
            }
        }
        if let Some(slot) = self.peers.get_mut(&id) {
            self.out.take_transmits(&mut slot.peer);
        }
    }

    /// Asks `room`'s camera for a keyframe if its throttle, asked with
    /// `ask`, says one is due (see [`forwarding::ask_keyframe`]).
    fn ask_keyframe(
        &mut self,
        now: Instant,
        room: &RoomId,
        ask: fn(&mut KeyframeThrottle, Instant) -> bool,
    ) {
        forwarding::ask_keyframe(
            now,
            &mut self.rooms,
            &mut self.peers,
            &mut self.out,
            room,
            ask,
        );
    }
}

/// Adds the `a=candidate:` lines of a trickled fragment to `peer`.
///
/// `.local` (mDNS) candidates are skipped: an ICE-lite gateway learns a
/// browser's address from its checks, and resolving names is what it must
/// not do. A line the stack cannot read is skipped too, so one odd
/// candidate does not cost the others; only a fragment whose every
/// candidate is unreadable is refused, with the first reason.
fn add_trickled_candidates(peer: &mut Peer, fragment: &IceFragment<'_>) -> Result<(), MediaError> {
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

    const WEBRTCBIN: &str = include_str!("../../../tests/data/offers/webrtcbin-whip.sdp");

    fn room_id(name: &str) -> RoomId {
        RoomId::parse(name).expect("a test's room name is a valid room id")
    }

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
        let a = sfu
            .publish(now, &room_id("room-a"), WEBRTCBIN.to_owned())
            .unwrap();
        let b = sfu
            .publish(now, &room_id("room-b"), WEBRTCBIN.to_owned())
            .unwrap();
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
