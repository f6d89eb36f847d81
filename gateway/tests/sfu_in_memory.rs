//! The SFU driven end to end in memory: real webrtc-rs peers (ICE, DTLS,
//! SRTP) as camera and viewers, datagrams carried by the test, time passed
//! in. Deterministic and fast: no sockets, no sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::RTCRtpTransceiverDirection;
use rtc::rtp_transceiver::RTCRtpTransceiverInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use samsyn_gateway::media::peer::{KeyframeRequestTap, LocalCandidates};
use samsyn_gateway::media::sfu::{Sfu, SfuSettings};
use samsyn_signaling::media::{MediaError, SessionId};

const GATEWAY: &str = "10.213.0.1:50000";
const MS: Duration = Duration::from_millis(1);
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00];
const DELTA: &[u8] = &[0x41, 0x9a, 0x02, 0x00];

/// A webrtc-rs peer standing in for a camera or a viewer.
struct Client {
    pc: RTCPeerConnection,
    addr: SocketAddr,
    connected: bool,
    received: Vec<rtp::Packet>,
    keyframe_requests: usize,
    video_ssrc: u32,
    /// A camera's encoder: next sequence number, frames sent, and whether a
    /// keyframe request is waiting to be answered.
    camera: Option<Encoder>,
}

#[derive(Default)]
struct Encoder {
    seq: u16,
    frames: u32,
    answered_requests: usize,
}

impl Client {
    fn new(addr: &str, now: Instant) -> Self {
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().unwrap();
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
            keyframe_requests: 0,
            video_ssrc: 0x5a5a_0001,
            camera: None,
        }
    }

    fn camera(addr: &str, now: Instant) -> Self {
        let mut client = Self::new(addr, now);
        let track = MediaStreamTrack::new(
            "cam".into(),
            "video".into(),
            "video".into(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(client.video_ssrc),
                    ..Default::default()
                },
                codec: RTCRtpCodec {
                    mime_type: "video/H264".into(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: H264_FMTP.into(),
                    rtcp_feedback: vec![],
                },
                ..Default::default()
            }],
        );
        client.pc.add_track(track).unwrap();
        client.camera = Some(Encoder::default());
        client
    }

    /// Sends one frame as one packet, like an encoder: a keyframe first and
    /// whenever one was asked for, delta frames otherwise.
    fn send_frame(&mut self, now: Instant) {
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

    fn viewer(addr: &str, now: Instant) -> Self {
        let mut client = Self::new(addr, now);
        client
            .pc
            .add_transceiver_from_kind(
                RtpCodecKind::Video,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                }),
            )
            .unwrap();
        client
    }

    fn offer(&mut self, now: Instant) -> String {
        let offer = self.pc.create_offer(None).unwrap();
        self.pc.set_local_description(now, offer).unwrap();
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: self.addr.ip().to_string(),
                port: self.addr.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .unwrap();
        self.pc
            .add_local_candidate(RTCIceCandidate::from(&candidate).to_json().unwrap())
            .unwrap();
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())
            .unwrap();
        self.pc.local_description().unwrap().sdp
    }

    fn accept(&mut self, now: Instant, answer: String) {
        let answer = RTCSessionDescription::answer(answer).unwrap();
        self.pc.set_remote_description(now, answer).unwrap();
    }

    fn send_video(&mut self, now: Instant, seq: u16, ts: u32, payload: &'static [u8]) {
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

    fn video_pt(&mut self) -> u8 {
        let sender = self.pc.get_senders().next().unwrap();
        let mut sender = self.pc.rtp_sender(sender).unwrap();
        sender
            .get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case("video/H264"))
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

/// The SFU plus its clients, exchanging datagrams on a simulated clock.
struct World {
    sfu: Sfu,
    clients: Vec<Client>,
    /// The session of each client, by the same index.
    sessions: Vec<SessionId>,
    start: Instant,
    now: Instant,
}

impl World {
    fn new() -> Self {
        // RUST_LOG=rtc=trace shows the peers' protocol traffic.
        let _ = env_logger::builder().is_test(true).try_init();
        let now = Instant::now();
        let sfu = Sfu::new(
            SfuSettings {
                keyframe_request_interval: 500 * MS,
                max_viewers_per_room: 3,
                connect_timeout: Duration::from_secs(30),
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

    fn publish(&mut self, room: &str, addr: &str) -> usize {
        let mut camera = Client::camera(addr, self.now);
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

    fn view(&mut self, room: &str, addr: &str) -> Result<usize, MediaError> {
        let mut viewer = Client::viewer(addr, self.now);
        let offer = viewer.offer(self.now);
        let answer = self.sfu.view(self.now, room, offer)?;
        viewer.accept(self.now, answer.sdp);
        self.sessions.push(answer.session);
        self.clients.push(viewer);
        Ok(self.clients.len() - 1)
    }

    /// Moves every pending datagram, then advances the clock by `step`.
    fn run_for(&mut self, duration: Duration, step: Duration) {
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
    fn frame_index(&self) -> u128 {
        (self.now - self.start).as_millis() / 33
    }

    fn exchange(&mut self) {
        for _ in 0..50 {
            let mut moved = false;
            for client in &mut self.clients {
                while let Some(out) = client.pc.poll_write() {
                    moved = true;
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
                            transport: TransportContext {
                                local_addr: t.remote,
                                peer_addr: t.local,
                                ecn: None,
                                transport_protocol: TransportProtocol::UDP,
                            },
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

fn received_frames(world: &World, viewer: usize) -> usize {
    world.clients[viewer].received.len()
}

#[test]
fn a_viewer_joining_mid_stream_starts_on_a_keyframe_with_its_own_numbering() {
    let mut world = World::new();
    let cam = world.publish("room1", "10.213.0.2:40000");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(
        world.clients[cam].connected,
        "the camera connects through ICE-lite and DTLS"
    );
    let frames_before_join = world.clients[cam].camera.as_ref().unwrap().frames;
    assert!(frames_before_join > 40, "the camera is streaming");

    let viewer = world
        .view("room1", "10.213.0.3:40001")
        .expect("viewer accepted");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(world.clients[viewer].connected, "the viewer connects");
    assert!(
        world.clients[cam].keyframe_requests >= 1,
        "the camera is asked for a keyframe when a viewer joins"
    );

    let got = &world.clients[viewer].received;
    assert!(
        got.len() >= 50,
        "2 s at 30 fps reach the viewer, got {}",
        got.len()
    );
    assert_eq!(
        &got[0].payload[..],
        IDR,
        "the first packet a viewer gets is a keyframe"
    );
    assert_ne!(
        got[0].header.ssrc, world.clients[cam].video_ssrc,
        "SSRC is rewritten"
    );
    for pair in got.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1),
            "the viewer sees continuous sequence numbers"
        );
        assert_eq!(
            pair[1]
                .header
                .timestamp
                .wrapping_sub(pair[0].header.timestamp),
            3000
        );
    }
    let stats = world.sfu.stats();
    assert_eq!(stats.rtp_forwarded as usize, got.len());
}

#[test]
fn one_uplink_packet_reaches_every_viewer_and_requests_are_throttled() {
    let mut world = World::new();
    let cam = world.publish("room1", "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewers: Vec<usize> = (0..3)
        .map(|i| {
            world
                .view("room1", &format!("10.213.0.{}:4100{i}", 10 + i))
                .unwrap()
        })
        .collect();
    world.run_for(Duration::from_secs(2), 5 * MS);
    // Three viewers joined at once: their requests merge under the throttle.
    let requests = world.clients[cam].keyframe_requests;
    assert!(
        (1..=2).contains(&requests),
        "{requests} keyframe requests for 3 joins"
    );
    let uplink_frames = world.clients[cam].camera.as_ref().unwrap().frames as usize;
    for &v in &viewers {
        let got = received_frames(&world, v);
        assert!(got >= 50, "viewer {v} got {got} frames");
        assert_eq!(&world.clients[v].received[0].payload[..], IDR);
    }
    let stats = world.sfu.stats();
    assert_eq!(
        stats.rtp_in as usize, uplink_frames,
        "the uplink carries one stream"
    );
    // A fourth viewer is over the configured maximum.
    assert_eq!(
        world.view("room1", "10.213.0.20:42000").unwrap_err(),
        MediaError::TooManyViewers(3)
    );
}

#[test]
fn rooms_are_independent_and_a_room_without_camera_says_so() {
    let mut world = World::new();
    world.publish("room-a", "10.213.0.2:40000");
    world.publish("room-b", "10.213.0.3:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let va = world.view("room-a", "10.213.0.10:41000").unwrap();
    let vb = world.view("room-b", "10.213.0.11:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(received_frames(&world, va) >= 20);
    assert!(received_frames(&world, vb) >= 20);

    // Room b's camera leaves; room a keeps streaming.
    let session_b = world.sessions[1].clone();
    world.sfu.end("room-b", &session_b).unwrap();
    assert_eq!(
        world.sfu.end("room-b", &session_b),
        Err(MediaError::UnknownSession)
    );
    let (a_before, b_before) = (received_frames(&world, va), received_frames(&world, vb));
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(
        received_frames(&world, va) >= a_before + 25,
        "room a still streams"
    );
    assert_eq!(
        received_frames(&world, vb),
        b_before,
        "room b has no camera"
    );

    assert_eq!(
        world.view("room-empty", "10.213.0.12:41000").unwrap_err(),
        MediaError::NoPublisher
    );
    // A session id from room a cannot end anything through room b.
    let session_a = world.sessions[0].clone();
    assert_eq!(
        world.sfu.end("room-b", &session_a),
        Err(MediaError::UnknownSession)
    );
}

#[test]
fn a_malformed_offer_is_refused_without_touching_other_rooms() {
    let mut world = World::new();
    world.publish("room-a", "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world.view("room-a", "10.213.0.10:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);

    let err = world
        .sfu
        .publish(world.now, "room-b", "v=0\r\nthis is not sdp\r\n".into())
        .unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");
    let err = world
        .sfu
        .view(world.now, "room-a", "v=0\r\n".into())
        .unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");

    let before = received_frames(&world, viewer);
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(received_frames(&world, viewer) >= before + 25);
}
