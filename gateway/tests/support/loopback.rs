//! The SFU in memory: real webrtc-rs peers (ICE, DTLS, SRTP) as camera and
//! viewers around an [`Sfu`], datagrams carried by a loop, time simulated.
//! Deterministic and fast: no sockets, no sleeps. Shared by the SFU tests and
//! the forwarding benchmark.
//!
//! The codec table, the camera's H.264 track, receive-only m-lines and the
//! host candidate come from `samsyn_testkit::rtc_client`, shared with the
//! bench's peers on real sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::TaggedBytesMut;
use samsyn_gateway::media::peer::{KeyframeRequestTap, LocalCandidates};
use samsyn_gateway::media::sfu::{Sfu, SfuSettings};
use samsyn_signaling::RoomId;
use samsyn_signaling::media::{Listener, MediaError, SessionId};
use samsyn_testkit::rtc_client::{self, udp_transport};

pub const GATEWAY: &str = "10.213.0.1:50000";

/// The room named `name`, for tests that name their rooms in literals.
pub fn room_id(name: &str) -> RoomId {
    RoomId::parse(name).expect("a test's room name is a valid room id")
}
pub const MS: Duration = Duration::from_millis(1);
/// The Opus payload type of webrtc-rs's default codecs, which every client
/// here offers.
pub const OPUS_PT: u8 = 111;
const AUDIO_SSRC: u32 = 0x5a5a_0002;
/// The RFC 6464 audio level extension, which every client here offers.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00];
pub const DELTA: &[u8] = &[0x41, 0x9a, 0x02, 0x00];

/// A webrtc-rs peer standing in for a camera or a viewer.
pub struct Client {
    pub pc: RTCPeerConnection,
    pub addr: SocketAddr,
    pub connected: bool,
    /// Video packets received.
    pub received: Vec<rtp::Packet>,
    /// Audio packets received.
    pub received_audio: Vec<rtp::Packet>,
    pub keyframe_requests: usize,
    pub video_ssrc: u32,
    /// A camera's encoder: next sequence number, frames sent, and whether a
    /// keyframe request is waiting to be answered.
    pub camera: Option<Encoder>,
}

#[derive(Default)]
pub struct Encoder {
    pub seq: u16,
    pub frames: u32,
    pub answered_requests: usize,
}

impl Client {
    pub fn new(addr: &str, now: Instant) -> Self {
        let mut media_engine = rtc_client::media_engine().unwrap();
        media_engine
            .register_header_extension(
                RTCRtpHeaderExtensionCapability {
                    uri: AUDIO_LEVEL_URI.into(),
                },
                RtpCodecKind::Audio,
                None,
            )
            .unwrap();
        let registry =
            Registry::new().with(KeyframeRequestTap::slot(), KeyframeRequestTap::default());
        let registry = register_default_interceptors(registry, &mut media_engine).unwrap();
        let pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .build(now)
            .unwrap();
        Self {
            pc,
            addr: addr.parse().unwrap(),
            connected: false,
            received: Vec::new(),
            received_audio: Vec::new(),
            keyframe_requests: 0,
            video_ssrc: 0x5a5a_0001,
            camera: None,
        }
    }

    pub fn camera(addr: &str, now: Instant) -> Self {
        let mut client = Self::new(addr, now);
        let track = rtc_client::h264_track("cam", client.video_ssrc);
        client.pc.add_track(track).unwrap();
        client.camera = Some(Encoder::default());
        client
    }

    /// Sends one frame as one packet, like an encoder: a keyframe first and
    /// whenever one was asked for, delta frames otherwise.
    pub fn send_frame(&mut self, now: Instant) {
        let requests = self.keyframe_requests;
        let Some(encoder) = self.camera.as_mut() else {
            return;
        };
        let keyframe = encoder.frames == 0 || encoder.answered_requests < requests;
        encoder.answered_requests = requests;
        let (seq, ts) = (encoder.seq, encoder.frames * 3000);
        encoder.seq = encoder.seq.wrapping_add(1);
        encoder.frames += 1;
        self.send_video(now, seq, ts, if keyframe { IDR } else { DELTA });
    }

    /// A camera that also sends Opus audio (the nurse's microphone).
    pub fn camera_with_audio(addr: &str, now: Instant) -> Self {
        let mut client = Self::camera(addr, now);
        client.add_microphone();
        client
    }

    /// An Opus track from this client: a camera's microphone, or a page's.
    fn add_microphone(&mut self) {
        let track = MediaStreamTrack::new(
            "cam".into(),
            "audio".into(),
            "audio".into(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(AUDIO_SSRC),
                    ..Default::default()
                },
                codec: RTCRtpCodec {
                    mime_type: "audio/opus".into(),
                    clock_rate: 48_000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                    rtcp_feedback: vec![],
                },
                ..Default::default()
            }],
        );
        self.pc.add_track(track).unwrap();
    }

    /// A viewer receiving video and audio, as the specialist's page does.
    pub fn viewer(addr: &str, now: Instant) -> Self {
        let mut client = Self::new(addr, now);
        client.add_recvonly(RtpCodecKind::Video);
        client.add_recvonly(RtpCodecKind::Audio);
        client
    }

    /// One more m-line of `kind` that only receives.
    pub fn add_recvonly(&mut self, kind: RtpCodecKind) {
        rtc_client::add_recvonly(&mut self.pc, kind).unwrap();
    }

    /// A specialist's page: video received, its microphone sent and the
    /// nurse heard on the first audio m-line (`sendrecv`), and `slots`
    /// more audio m-lines to hear the other speakers.
    pub fn speaker(addr: &str, now: Instant, slots: usize) -> Self {
        let mut client = Self::new(addr, now);
        client.add_recvonly(RtpCodecKind::Video);
        client.add_microphone();
        client.add_audio_slots(slots);
        client
    }

    /// The nurse's daemon hearing the speakers: `slots` audio m-lines, nothing else.
    pub fn talkback_listener(addr: &str, now: Instant, slots: usize) -> Self {
        let mut client = Self::new(addr, now);
        client.add_audio_slots(slots);
        client
    }

    fn add_audio_slots(&mut self, slots: usize) {
        for _ in 0..slots {
            self.add_recvonly(RtpCodecKind::Audio);
        }
    }

    /// Sends one 20 ms Opus packet from this client's microphone, carrying
    /// `level` (-dBov) in the audio level extension.
    pub fn speak(&mut self, now: Instant, seq: u16, level: u8) {
        let senders: Vec<_> = self.pc.get_senders().collect();
        let sender = senders
            .into_iter()
            .find(|id| {
                self.pc
                    .rtp_sender(*id)
                    .is_some_and(|s| s.track().kind() == RtpCodecKind::Audio)
            })
            .expect("a client with a microphone");
        let mut sender = self.pc.rtp_sender(sender).unwrap();
        let level_id = sender
            .get_parameters()
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|e| e.uri == AUDIO_LEVEL_URI)
            .map(|e| e.id as u8)
            .expect("the audio level extension was negotiated");
        let mut packet = opus_packet(seq);
        packet
            .header
            .set_extension(level_id, Bytes::copy_from_slice(&[0x80 | level]))
            .unwrap();
        sender.write_rtp(now, packet).unwrap();
    }

    /// Sends one 20 ms Opus packet from the camera's audio track.
    pub fn send_audio(&mut self, now: Instant, seq: u16) {
        let sender = self.pc.get_senders().nth(1).expect("a camera with audio");
        self.pc
            .rtp_sender(sender)
            .unwrap()
            .write_rtp(now, opus_packet(seq))
            .unwrap();
    }

    pub fn offer(&mut self, now: Instant) -> String {
        let offer = self.pc.create_offer(None).unwrap();
        self.pc.set_local_description(now, offer).unwrap();
        self.add_host_candidate();
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())
            .unwrap();
        self.pc.local_description().unwrap().sdp
    }

    /// Announces this client's address as its one host candidate.
    fn add_host_candidate(&mut self) {
        let candidate = rtc_client::host_candidate(self.addr).unwrap();
        self.pc.add_local_candidate(candidate).unwrap();
    }

    /// Moves to `addr` (a new network) and restarts ICE; returns the
    /// trickle-ICE fragment a WHIP/WHEP client PATCHes to the session.
    pub fn restart_ice(&mut self, now: Instant, addr: &str) -> String {
        self.addr = addr.parse().unwrap();
        self.pc.restart_ice();
        let offer = self.pc.create_offer(None).unwrap();
        self.pc.set_local_description(now, offer).unwrap();
        self.add_host_candidate();
        let sdp = self.pc.local_description().unwrap().sdp;
        sdp.lines()
            .filter(|l| l.starts_with("a=ice-ufrag:") || l.starts_with("a=ice-pwd:"))
            .take(2)
            .map(|l| format!("{}\r\n", l.trim_end()))
            .collect()
    }

    /// Applies the gateway's answer fragment to an ICE restart.
    pub fn accept_restart(&mut self, now: Instant, fragment: &str) {
        let value = |name: &str| {
            fragment
                .lines()
                .find_map(|l| l.trim_end().strip_prefix(name))
                .unwrap()
                .to_owned()
        };
        let (ufrag, pwd) = (value("a=ice-ufrag:"), value("a=ice-pwd:"));
        let previous = self.pc.remote_description().unwrap().sdp.clone();
        let answer: String = previous
            .lines()
            .map(|line| match line.trim_end() {
                l if l.starts_with("a=ice-ufrag:") => format!("a=ice-ufrag:{ufrag}\r\n"),
                l if l.starts_with("a=ice-pwd:") => format!("a=ice-pwd:{pwd}\r\n"),
                l => format!("{l}\r\n"),
            })
            .collect();
        self.accept(now, answer);
    }

    pub fn accept(&mut self, now: Instant, answer: String) {
        let answer = RTCSessionDescription::answer(answer).unwrap();
        self.pc.set_remote_description(now, answer).unwrap();
    }

    pub fn send_video(&mut self, now: Instant, seq: u16, ts: u32, payload: &'static [u8]) {
        let sender = self.pc.get_senders().next().unwrap();
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                marker: true,
                payload_type: self.video_pt(),
                sequence_number: seq,
                timestamp: ts,
                ssrc: self.video_ssrc,
                ..Default::default()
            },
            payload: Bytes::from_static(payload),
        };
        self.pc
            .rtp_sender(sender)
            .unwrap()
            .write_rtp(now, packet)
            .unwrap();
    }

    pub fn video_pt(&mut self) -> u8 {
        let sender = self.pc.get_senders().next().unwrap();
        let mut sender = self.pc.rtp_sender(sender).unwrap();
        sender
            .get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| {
                c.rtp_codec
                    .mime_type
                    .eq_ignore_ascii_case(rtc_client::H264_MIME)
            })
            .unwrap()
            .payload_type
    }

    fn drain(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                RTCPeerConnectionState::Connected,
            ) = event
            {
                self.connected = true;
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            match message {
                RTCMessage::RtpPacket(_, packet) if packet.header.payload_type == OPUS_PT => {
                    self.received_audio.push(packet)
                }
                RTCMessage::RtpPacket(_, packet) => self.received.push(packet),
                RTCMessage::RtcpPacket(_, packets) => {
                    self.keyframe_requests += packets
                        .iter()
                        .filter(|p| p.as_any().is::<PictureLossIndication>())
                        .count();
                }
                _ => {}
            }
        }
    }
}

/// Packet `seq` of a 20 ms Opus stream (the payload a DTX frame's size).
fn opus_packet(seq: u16) -> rtp::Packet {
    rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            payload_type: OPUS_PT,
            sequence_number: seq,
            timestamp: u32::from(seq) * 960,
            ssrc: AUDIO_SSRC,
            ..Default::default()
        },
        payload: Bytes::from_static(&[0xfc, 0xff, 0xfe]),
    }
}

/// The SFU plus its clients, exchanging datagrams on a simulated clock.
pub struct World {
    pub sfu: Sfu,
    pub clients: Vec<Client>,
    /// The session of each client, by the same index.
    pub sessions: Vec<SessionId>,
    pub start: Instant,
    pub now: Instant,
}

impl World {
    pub fn new() -> Self {
        // RUST_LOG=rtc=trace shows the peers' protocol traffic.
        let _ = env_logger::builder().is_test(true).try_init();
        let now = Instant::now();
        let sfu = Sfu::new(
            SfuSettings {
                keyframe_request_interval: 500 * MS,
                max_viewers_per_room: 3,
                connect_timeout: Duration::from_secs(30),
                retransmit_buffer_packets: 1024,
                viewer_floor_bps: 500_000,
            },
            LocalCandidates {
                host: vec![GATEWAY.parse().unwrap()],
                public: vec![],
            },
        );
        Self {
            sfu,
            clients: Vec::new(),
            sessions: Vec::new(),
            start: now,
            now,
        }
    }

    pub fn publish(&mut self, room: &RoomId, addr: &str) -> usize {
        self.publish_camera(room, Client::camera(addr, self.now))
    }

    pub fn publish_with_audio(&mut self, room: &RoomId, addr: &str) -> usize {
        self.publish_camera(room, Client::camera_with_audio(addr, self.now))
    }

    fn publish_camera(&mut self, room: &RoomId, mut camera: Client) -> usize {
        let offer = camera.offer(self.now);
        let answer = self
            .sfu
            .publish(self.now, room, offer)
            .expect("publish accepted");
        camera.accept(self.now, answer.sdp);
        self.sessions.push(answer.session);
        self.clients.push(camera);
        self.clients.len() - 1
    }

    /// A connection test (`samsyn-bench connect`) from a camera-like client.
    pub fn connection_test(&mut self, room: &RoomId, addr: &str) -> usize {
        let mut client = Client::camera(addr, self.now);
        let offer = client.offer(self.now);
        let answer = self
            .sfu
            .start_connection_test(self.now, room, "camera-token", offer)
            .expect("connection test accepted");
        client.accept(self.now, answer.sdp);
        self.sessions.push(answer.session);
        self.clients.push(client);
        self.clients.len() - 1
    }

    pub fn view(&mut self, room: &RoomId, addr: &str) -> Result<usize, MediaError> {
        let viewer = Client::viewer(addr, self.now);
        self.view_as(room, viewer, Listener::Specialist)
    }

    /// Joins `client` to `room` over WHEP as `listener`.
    pub fn view_as(
        &mut self,
        room: &RoomId,
        mut viewer: Client,
        listener: Listener,
    ) -> Result<usize, MediaError> {
        let offer = viewer.offer(self.now);
        let answer = self.sfu.view(self.now, room, listener, offer)?;
        viewer.accept(self.now, answer.sdp);
        self.sessions.push(answer.session);
        self.clients.push(viewer);
        Ok(self.clients.len() - 1)
    }

    /// Moves every pending datagram, then advances the clock by `step`.
    pub fn run_for(&mut self, duration: Duration, step: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.exchange();
            let frame_before = self.frame_index();
            self.now += step;
            if self.frame_index() != frame_before {
                for client in self.clients.iter_mut().filter(|c| c.connected) {
                    client.send_frame(self.now);
                }
            }
            for client in &mut self.clients {
                if client.pc.poll_timeout().is_some_and(|t| t <= self.now) {
                    client.pc.handle_timeout(self.now).unwrap();
                }
            }
            if self.sfu.poll_timeout().is_some_and(|t| t <= self.now) {
                self.sfu.handle_timeout(self.now);
            }
        }
        self.exchange();
    }

    /// Cameras send a frame every 33 ms of simulated time.
    pub fn frame_index(&self) -> u128 {
        (self.now - self.start).as_millis() / 33
    }

    pub fn exchange(&mut self) {
        for _ in 0..50 {
            let mut moved = false;
            for client in &mut self.clients {
                while let Some(out) = client.pc.poll_write() {
                    moved = true;
                    // A network the client has left carries nothing any more.
                    if out.transport.local_addr != client.addr {
                        continue;
                    }
                    self.sfu.handle_datagram(
                        self.now,
                        out.transport.peer_addr,
                        out.transport.local_addr,
                        &out.message,
                    );
                }
            }
            let transmits: Vec<_> = self.sfu.drain_transmits().collect();
            for t in transmits {
                moved = true;
                if let Some(client) = self.clients.iter_mut().find(|c| c.addr == t.remote) {
                    client
                        .pc
                        .handle_read(TaggedBytesMut {
                            now: self.now,
                            transport: udp_transport(t.remote, t.local),
                            message: BytesMut::from(&t.data[..]),
                        })
                        .ok();
                }
            }
            for client in &mut self.clients {
                client.drain();
            }
            if !moved {
                return;
            }
        }
    }
}
