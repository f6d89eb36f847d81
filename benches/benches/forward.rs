//! What the SFU core spends on one camera packet, and on the pure pieces of
//! the forwarding decision.
//!
//! `fanout/N`: a camera and N viewers (real webrtc-rs peers) connect to an
//! [`Sfu`] in memory; then each iteration hands the SFU one encrypted camera
//! datagram (an 1100-byte H.264 delta-frame fragment) and drains the SRTP
//! datagrams it produces for the N viewers. The camera's encryption happens
//! outside the timed part, and the viewers never see the output: what is
//! timed is the gateway's work (route, SRTP decrypt, interceptors, keyframe
//! check, N header rewrites, N SRTP encryptions). Criterion reports the time
//! per viewer as `thrpt` (elements = viewers).
//!
//! The simulated clock stands still during measurement: no timers fire, so
//! every iteration does the same work.

#[allow(dead_code)] // The harness serves the SFU tests too.
#[path = "../../gateway/tests/support/loopback.rs"]
mod loopback;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use loopback::{Client, GATEWAY, MS, World, room_id};
use rtc::rtp;
use rtc::sansio::Protocol;
use samsyn_gateway::media::keyframe::VideoCodec;
use samsyn_gateway::media::peer::LocalCandidates;
use samsyn_gateway::media::routing::{DatagramRouter, Route};
use samsyn_gateway::media::sfu::{Sfu, SfuSettings};

const ROOM: &str = "bench";
const CAMERA: &str = "10.213.0.2:40000";
/// Payload bytes per packet: what an encoder's packetizer fills under a
/// 1200-byte MTU budget.
const PAYLOAD_LEN: usize = 1100;
/// Viewer counts measured.
const VIEWERS: [usize; 3] = [1, 10, 50];

/// The camera, taken out of the world so that it feeds the SFU directly.
struct Camera {
    client: Client,
    addr: SocketAddr,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    payload: Bytes,
}

impl Camera {
    /// Encrypts the camera's next packet: the datagram(s) it puts on the wire.
    fn next_datagrams(&mut self, now: Instant) -> Vec<BytesMut> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        if seq.is_multiple_of(8) {
            // About eight packets per delta frame at 2.5 Mbit/s and 30 fps.
            self.timestamp = self.timestamp.wrapping_add(3000);
        }
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: self.payload_type,
                sequence_number: seq,
                timestamp: self.timestamp,
                ssrc: self.client.video_ssrc,
                ..Default::default()
            },
            payload: self.payload.clone(),
        };
        let sender = self.client.pc.get_senders().next().unwrap();
        self.client
            .pc
            .rtp_sender(sender)
            .unwrap()
            .write_rtp(now, packet)
            .unwrap();
        std::iter::from_fn(|| self.client.pc.poll_write())
            .map(|out| out.message)
            .collect()
    }
}

/// A room whose camera and viewers are all connected.
struct Fanout {
    world: World,
    camera: Camera,
    gateway: SocketAddr,
    viewers: usize,
}

impl Fanout {
    fn connect(viewers: usize) -> Self {
        let mut world = World::new();
        world.sfu = Sfu::new(
            SfuSettings {
                keyframe_request_interval: 500 * MS,
                max_viewers_per_room: viewers,
                connect_timeout: Duration::from_secs(30),
                // The gateway's default (`sfu.retransmit_buffer_packets`).
                retransmit_buffer_packets: 512,
                // The gateway's default (`sfu.viewer_floor_kbps`).
                viewer_floor_bps: 500_000,
            },
            LocalCandidates {
                host: vec![GATEWAY.parse().unwrap()],
                public: vec![],
            },
        );
        let cam = world.publish(&room_id(ROOM), CAMERA);
        world.run_for(Duration::from_secs(1), 5 * MS);
        assert!(world.clients[cam].connected, "the camera connects");
        let indices: Vec<usize> = (0..viewers)
            .map(|i| {
                let addr = format!("10.213.{}.{}:41000", 1 + i / 200, 1 + i % 200);
                world.view(&room_id(ROOM), &addr).expect("viewer accepted")
            })
            .collect();
        // Every viewer connected and past the keyframe gate.
        let ready = |world: &World| {
            indices
                .iter()
                .all(|&v| world.clients[v].connected && !world.clients[v].received.is_empty())
        };
        for _ in 0..20 {
            if ready(&world) {
                break;
            }
            world.run_for(Duration::from_millis(500), 5 * MS);
        }
        assert!(ready(&world), "all {viewers} viewers connect and get video");

        let mut client = world.clients.remove(cam);
        world.sessions.remove(cam);
        let encoder = client.camera.as_ref().expect("the camera's encoder");
        let (seq, timestamp) = (encoder.seq, encoder.frames * 3000);
        // An FU-A fragment from the middle of a non-IDR slice: the common case.
        let mut payload = vec![0x5c, 0x01];
        payload.extend((0..PAYLOAD_LEN - 2).map(|i| (i * 7) as u8));
        Self {
            camera: Camera {
                addr: client.addr,
                payload_type: client.video_pt(),
                client,
                seq,
                timestamp,
                payload: Bytes::from(payload),
            },
            world,
            gateway: GATEWAY.parse().unwrap(),
            viewers,
        }
    }

    /// One forward outside measurement: every viewer gets one datagram that
    /// carries the whole payload.
    fn check(&mut self) {
        let now = self.world.now;
        let datagrams = self.camera.next_datagrams(now);
        assert_eq!(datagrams.len(), 1, "one camera packet, one datagram");
        let before = self.world.sfu.stats();
        for datagram in &datagrams {
            self.world
                .sfu
                .handle_datagram(now, self.gateway, self.camera.addr, datagram);
        }
        let sizes: Vec<usize> = self
            .world
            .sfu
            .drain_transmits()
            .map(|t| t.data.len())
            .collect();
        let after = self.world.sfu.stats();
        assert_eq!(after.rtp_in - before.rtp_in, 1);
        assert_eq!(
            (after.rtp_forwarded - before.rtp_forwarded) as usize,
            self.viewers,
            "the packet is forwarded to every viewer"
        );
        assert_eq!(after.rtp_gated, before.rtp_gated, "no viewer is gated");
        assert_eq!(sizes.len(), self.viewers, "one datagram per viewer");
        assert!(
            sizes.iter().all(|&len| len > PAYLOAD_LEN),
            "each datagram carries the payload: {sizes:?}"
        );
    }
}

/// The measured work: the SFU takes the camera's datagram(s) and produces the
/// viewers' datagrams. Returns how many it produced.
fn forward(
    sfu: &mut Sfu,
    now: Instant,
    gateway: SocketAddr,
    camera: SocketAddr,
    datagrams: &[BytesMut],
) -> usize {
    for datagram in datagrams {
        sfu.handle_datagram(now, gateway, camera, datagram);
    }
    let mut produced = 0;
    for transmit in sfu.drain_transmits() {
        black_box(transmit.data);
        produced += 1;
    }
    produced
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for viewers in VIEWERS {
        let Fanout {
            mut world,
            mut camera,
            gateway,
            ..
        } = {
            let mut fanout = Fanout::connect(viewers);
            fanout.check();
            fanout
        };
        let (now, camera_addr) = (world.now, camera.addr);
        let before = world.sfu.stats();
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_function(BenchmarkId::from_parameter(viewers), |b| {
            b.iter_batched_ref(
                || camera.next_datagrams(now),
                |datagrams| forward(&mut world.sfu, now, gateway, camera_addr, datagrams),
                BatchSize::SmallInput,
            );
        });
        let after = world.sfu.stats();
        let packets = after.rtp_in - before.rtp_in;
        assert!(packets > 0);
        assert_eq!(
            after.rtp_forwarded - before.rtp_forwarded,
            packets * viewers as u64,
            "every packet reached every viewer"
        );
        assert_eq!(after.rtp_gated, before.rtp_gated, "no packet was held back");
    }
    group.finish();
}

/// The keyframe gate's question, asked of every video packet from the camera.
fn keyframe(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyframe");
    // The first FU-A fragment of a non-IDR slice: what most frames start with.
    let mut fu_a_delta = vec![0x5c, 0x81];
    fu_a_delta.extend((0..PAYLOAD_LEN - 2).map(|i| i as u8));
    // STAP-A with SPS and PPS, as packetizers send ahead of an IDR.
    let stap_a_key: &[u8] = &[
        0x78, // STAP-A
        0x00, 0x0a, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, // SPS
        0x00, 0x04, 0x68, 0xce, 0x3c, 0x80, // PPS
    ];
    assert!(!VideoCodec::H264.starts_keyframe(&fu_a_delta));
    assert!(VideoCodec::H264.starts_keyframe(stap_a_key));
    group.bench_function("h264_fu_a_delta", |b| {
        b.iter(|| VideoCodec::H264.starts_keyframe(black_box(&fu_a_delta)))
    });
    group.bench_function("h264_stap_a_keyframe", |b| {
        b.iter(|| VideoCodec::H264.starts_keyframe(black_box(stap_a_key)))
    });
    group.finish();
}

/// A STUN binding request as a browser sends it: USERNAME, PRIORITY,
/// ICE-CONTROLLING, MESSAGE-INTEGRITY signed with `pwd`, FINGERPRINT.
fn stun_binding_request(username: &str, pwd: &str) -> Vec<u8> {
    use rtc::crypto::RTCCryptoProvider;
    use rtc::stun::attributes::{ATTR_USERNAME, AttrType};
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::integrity::MessageIntegrity;
    use rtc::stun::message::{BINDING_REQUEST, Message, Setter, TransactionId};
    use rtc::stun::textattrs::Username;

    static CRYPTO: rtc::crypto::providers::RingProvider =
        rtc::crypto::providers::RingProvider::new();
    let mut message = Message::new();
    message
        .build(&[
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, username.to_owned())),
        ])
        .expect("a binding request builds");
    message.add(AttrType(0x0024), &[0x6e, 0x7f, 0x1e, 0xff]);
    message.add(AttrType(0x802a), &[0x5a; 8]);
    MessageIntegrity::new_short_term_integrity_with_provider(pwd.to_owned(), CRYPTO.crypto())
        .add_to(&mut message)
        .expect("MESSAGE-INTEGRITY adds");
    FINGERPRINT.add_to(&mut message).expect("FINGERPRINT adds");
    message.raw
}

/// Which peer a datagram on the shared port belongs to, with 50 peers known:
/// a STUN check (by USERNAME, its MESSAGE-INTEGRITY checked) and an SRTP
/// packet (by learned address).
fn routing(c: &mut Criterion) {
    const PEERS: u64 = 50;
    let mut group = c.benchmark_group("routing");
    let mut router = DatagramRouter::default();
    let address = |peer: u64| -> SocketAddr {
        format!(
            "10.213.{}.{}:{}",
            1 + peer / 200,
            1 + peer % 200,
            50_000 + peer
        )
        .parse()
        .unwrap()
    };
    let ufrag = |peer: u64| format!("Gw{peer:06}xQz");
    let pwd = |peer: u64| format!("pwd{peer:06}pwdpwdpwdpwdpwdpwd");
    let now = std::time::Instant::now();
    for peer in 0..PEERS {
        router.add_ufrag(&ufrag(peer), &pwd(peer), peer);
    }
    for peer in 0..PEERS {
        let request = stun_binding_request(&format!("{}:bRwS", ufrag(peer)), &pwd(peer));
        assert_eq!(
            router.route(now, address(peer), &request),
            Route::Peer(peer)
        );
    }
    let target = PEERS / 2;
    let stun = stun_binding_request(&format!("{}:bRwS", ufrag(target)), &pwd(target));
    let mut srtp = vec![0x90, 0x66, 0x12, 0x34];
    srtp.resize(PAYLOAD_LEN + 40, 0xab);
    let from = address(target);
    group.bench_function("stun_username", |b| {
        b.iter(|| router.route(now, black_box(from), black_box(&stun)))
    });
    group.bench_function("srtp_by_address", |b| {
        b.iter(|| router.route(now, black_box(from), black_box(&srtp)))
    });
    group.finish();
}

/// The media loop asks the SFU for its next deadline after every wake-up:
/// what that costs with N peers connected.
fn deadline(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_deadline");
    for viewers in [10, 50] {
        let mut fanout = Fanout::connect(viewers);
        fanout.check();
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_function(BenchmarkId::from_parameter(viewers), |b| {
            b.iter(|| fanout.world.sfu.poll_timeout());
        });
    }
    group.finish();
}

criterion_group!(benches, fanout, deadline, keyframe, routing);
criterion_main!(benches);
