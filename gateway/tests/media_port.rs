//! The media port against someone who is not a peer: the real gateway, with
//! room A streaming from the real capture daemon to a decoding viewer, while
//! a raw UDP client aims at room B's session (whose ICE ufrag it has seen,
//! since STUN travels in clear text) and at the port in general. Each row
//! shows the attack refused (nothing answers it, and the gateway counts
//! every forged check it dropped), and room A's picture never stops. In a private
//! network namespace; needs root.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use rtc::crypto::RTCCryptoProvider;
use rtc::crypto::providers::RingProvider;
use rtc::stun::attributes::ATTR_USERNAME;
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{BINDING_REQUEST, Message, Setter, TransactionId};
use rtc::stun::textattrs::Username;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, runtime, start_viewer};

static CRYPTO: RingProvider = RingProvider::new();
const WEBRTCBIN_OFFER: &str = include_str!("data/offers/webrtcbin-whip.sdp");

/// ICE attributes a controlling agent nominates with (RFC 8445 §7.1.2).
const ICE_CONTROLLING: u16 = 0x802a;
const USE_CANDIDATE: u16 = 0x0025;
const PRIORITY: u16 = 0x0024;

/// A binding request naming `ufrag` (and the offer's own ufrag, as its
/// sender would); signed with `pwd` when one is given, nominating the pair
/// as a browser would.
fn binding_request(ufrag: &str, pwd: Option<&str>) -> Vec<u8> {
    let offered = sdp_attribute(WEBRTCBIN_OFFER, "ice-ufrag");
    let mut msg = Message::new();
    msg.build(&[
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId::new()),
        Box::new(Username::new(ATTR_USERNAME, format!("{ufrag}:{offered}"))),
    ])
    .unwrap();
    msg.add(
        rtc::stun::attributes::AttrType(ICE_CONTROLLING),
        &7u64.to_be_bytes(),
    );
    msg.add(rtc::stun::attributes::AttrType(USE_CANDIDATE), &[]);
    msg.add(
        rtc::stun::attributes::AttrType(PRIORITY),
        &2_130_706_431u32.to_be_bytes(),
    );
    if let Some(pwd) = pwd {
        MessageIntegrity::new_short_term_integrity_with_provider(pwd.to_owned(), CRYPTO.crypto())
            .add_to(&mut msg)
            .unwrap();
        FINGERPRINT.add_to(&mut msg).unwrap();
    }
    msg.raw
}

/// A DTLS 1.2 ClientHello (RFC 6347), as a browser's first DTLS flight.
fn client_hello() -> Vec<u8> {
    let mut extensions = Vec::new();
    for (kind, body) in [
        (0x000a_u16, &[0x00, 0x02, 0x00, 0x17][..]), // supported groups: P-256
        (0x000b, &[0x01, 0x00][..]),                 // point formats: uncompressed
        (0x000d, &[0x00, 0x02, 0x04, 0x03][..]),     // ecdsa_secp256r1_sha256
        (0x000e, &[0x00, 0x02, 0x00, 0x01, 0x00][..]), // use_srtp: AES128_CM_SHA1_80
        (0x0017, &[][..]),                           // extended master secret
    ] {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(body.len() as u16).to_be_bytes());
        extensions.extend_from_slice(body);
    }
    let mut hello = vec![0xfe, 0xfd];
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.extend_from_slice(&[0, 0]); // session id, cookie: empty
    hello.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2b]); // ECDHE-ECDSA-AES128-GCM-SHA256
    hello.extend_from_slice(&[0x01, 0x00]); // no compression
    hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    hello.extend_from_slice(&extensions);
    let len = (hello.len() as u32).to_be_bytes();
    let mut handshake = vec![
        0x01, len[1], len[2], len[3], 0, 0, 0, 0, 0, len[1], len[2], len[3],
    ];
    handshake.extend_from_slice(&hello);
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// What comes back on `socket` within a short wait, if anything.
fn answer(socket: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    socket
        .recv_from(&mut buf)
        .ok()
        .map(|(len, _)| buf[..len].to_vec())
}

fn client_socket() -> UdpSocket {
    let socket = UdpSocket::bind((CLIENT_IP, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    socket
}

fn sdp_attribute<'a>(sdp: &'a str, name: &str) -> &'a str {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix(&format!("a={name}:")))
        .unwrap_or_else(|| panic!("the answer has a={name}: {sdp}"))
}

#[test]
fn outsiders_on_the_media_port_reach_no_session_and_streams_go_on() {
    if !netns::isolate("outsiders_on_the_media_port_reach_no_session_and_streams_go_on") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let a = gateway.create_room();
    let b = gateway.create_room();
    let _camera = Capture::test_source(&gateway, &a, 640, 360);
    let media: SocketAddr = format!("{GATEWAY_IP}:{}", gateway.udp_port)
        .parse()
        .unwrap();

    runtime().block_on(async {
        let mut viewer = start_viewer(&a).await;
        let before = viewer
            .wait_frames(30, Duration::from_secs(10))
            .await
            .expect("room A's viewer decodes 30 frames")
            .frames;

        // Room B's camera session, whose ufrag (and, for the control rows,
        // password) the test knows.
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/whip/{}", gateway.base_url, b.room))
            .bearer_auth(&b.publisher_token)
            .header("Content-Type", "application/sdp")
            .body(WEBRTCBIN_OFFER)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "room B's WHIP session");
        let answer_sdp = response.text().await.unwrap();
        let ufrag = sdp_attribute(&answer_sdp, "ice-ufrag").to_owned();

        tokio::task::spawn_blocking(move || {
            // 1. A check naming room B's session without its password, then
            //    a ClientHello from the same address: neither is answered.
            let attacker = client_socket();
            attacker
                .send_to(&binding_request(&ufrag, None), media)
                .unwrap();
            assert_eq!(answer(&attacker), None, "an unsigned check is not answered");
            attacker.send_to(&client_hello(), media).unwrap();
            assert_eq!(
                answer(&attacker),
                None,
                "a ClientHello after an unsigned check reaches no session"
            );
            // Signed with a guessed password: the same.
            let guesser = client_socket();
            let guessed = binding_request(&ufrag, Some("0123456789abcdef0123456789"));
            guesser.send_to(&guessed, media).unwrap();
            assert_eq!(answer(&guesser), None, "a check with a wrong password");
            guesser.send_to(&client_hello(), media).unwrap();
            assert_eq!(answer(&guesser), None, "and its ClientHello");

            // 2. A flood of unsigned checks from many ports, and garbage.
            for round in 0..2000u32 {
                let socket = if round % 100 == 0 {
                    client_socket()
                } else {
                    attacker.try_clone().unwrap()
                };
                socket
                    .send_to(&binding_request(&ufrag, None), media)
                    .unwrap();
                let garbage: Vec<u8> = (0..(round % 300)).map(|i| (i * 7 + round) as u8).collect();
                socket.send_to(&garbage, media).unwrap();
            }
        })
        .await
        .unwrap();

        // Room A never stopped.
        let after = viewer
            .wait_frames(before + 60, Duration::from_secs(10))
            .await
            .expect("room A's viewer keeps decoding through every attack")
            .frames;
        println!("room A: {before} frames before, {after} after the attacks");

        // The metrics are published once a second; wait for the flood to show.
        let mut unauthenticated = 0.0;
        for _ in 0..20 {
            let metrics = http
                .get(format!("{}/metrics", gateway.base_url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            unauthenticated = metrics
                .lines()
                .find(|l| l.starts_with("samsyn_dropped_packets_total{reason=\"unauthenticated\"}"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("the metrics count unauthenticated checks:\n{metrics}"));
            if unauthenticated >= 2002.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!("unauthenticated checks dropped: {unauthenticated} of 2002 sent");
        // A datagram the kernel dropped under the flood never reached the
        // gateway; most must have, and each of those was counted.
        assert!(unauthenticated >= 1000.0, "{unauthenticated}");
        let health = http
            .get(format!("{}/healthz", gateway.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "healthz while the loop turns");
    });
}
