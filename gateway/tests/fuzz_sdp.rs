//! Fuzzing what clients send the media plane: SDP offers (WHIP and WHEP)
//! and trickle-ICE / ICE-restart fragments, mutated from real offers of
//! the capture daemon (webrtcbin) and Chromium. Whatever arrives, the SFU
//! answers or refuses; it never panics, and a refused offer leaves no
//! session behind.
//!
//! Bounded for CI: `SAMSYN_FUZZ_CASES` cases per target (default 64); set
//! it higher to fuzz longer on a workstation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use samsyn_gateway::media::peer::LocalCandidates;
use samsyn_gateway::media::sfu::{Sfu, SfuSettings};
use samsyn_signaling::RoomId;
use samsyn_signaling::media::{Listener, MediaError, SessionKind};

const WHIP_OFFER: &str = include_str!("data/offers/webrtcbin-whip.sdp");
const WHEP_OFFER: &str = include_str!("data/offers/chromium-whep.sdp");
/// aiortc's: BUNDLE with one set of ICE credentials per section.
const AIORTC_WHEP_OFFER: &str = include_str!("data/offers/aiortc-whep.sdp");

fn cases() -> u32 {
    std::env::var("SAMSYN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn room_id(name: &str) -> RoomId {
    RoomId::parse(name).expect("a test's room name is a valid room id")
}

fn sfu() -> Sfu {
    Sfu::new(
        SfuSettings {
            keyframe_request_interval: Duration::from_millis(500),
            max_viewers_per_room: 50,
            connect_timeout: Duration::from_secs(30),
            retransmit_buffer_packets: 1024,
            viewer_floor_bps: 500_000,
        },
        LocalCandidates {
            host: vec!["10.213.0.1:50000".parse().unwrap()],
            public: vec![],
        },
    )
}

/// Lines that parsers find hard: wrong numbers, wrong shapes, huge values,
/// attributes in the wrong place.
fn tricky_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("m=video 0 RTP/AVP 0".to_owned()),
        Just("m=application 9 UDP/DTLS/SCTP webrtc-datachannel".to_owned()),
        Just("m=video 9 UDP/TLS/RTP/SAVPF".to_owned()),
        Just("a=rtpmap:96 H264/0".to_owned()),
        Just("a=rtpmap:300 VP8/90000".to_owned()),
        Just("a=rtpmap:96".to_owned()),
        Just("a=fmtp:96 profile-level-id=zzzzzz;packetization-mode=9".to_owned()),
        Just("a=fmtp:96".to_owned()),
        Just("a=extmap:300 urn:ietf:params:rtp-hdrext:sdes:mid".to_owned()),
        Just("a=extmap:0 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time".to_owned()),
        Just("a=ssrc:notanumber cname:x".to_owned()),
        Just("a=ssrc-group:FID 1".to_owned()),
        Just("a=group:BUNDLE 0 1 2 3 4 5 6 7".to_owned()),
        Just("a=mid:".to_owned()),
        Just("a=setup:banana".to_owned()),
        Just("a=fingerprint:sha-256 00".to_owned()),
        Just("a=fingerprint:md5 00:11".to_owned()),
        Just("a=ice-ufrag:".to_owned()),
        Just("a=ice-pwd:x".to_owned()),
        Just("a=candidate:1 1 udp 1 999.999.999.999 99999 typ host".to_owned()),
        Just("a=candidate:".to_owned()),
        Just("a=rtcp-fb:96 nack pli extra extra".to_owned()),
        Just("a=simulcast:send 1;2;3".to_owned()),
        Just("a=rid:1 send".to_owned()),
        Just("c=IN IP6 ::ffff:1.2.3.4".to_owned()),
        Just("b=AS:-1".to_owned()),
        Just("a=msid:- -".to_owned()),
        "a=[a-z-]{1,12}:[ -~]{0,40}".prop_map(|s| s),
        "[ -~]{0,80}".prop_map(|s| s),
    ]
}

/// How one offer is broken.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceLine(usize, String),
    InsertLine(usize, String),
    Truncate(usize),
    /// Replace every number on a line with this one.
    Renumber(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), tricky_line()).prop_map(|(i, l)| Mutation::ReplaceLine(i, l)),
        (any::<usize>(), tricky_line()).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop_oneof![Just(0u64), Just(65_536), Just(u64::MAX), any::<u64>()]
        )
            .prop_map(|(i, n)| Mutation::Renumber(i, n)),
    ]
}

fn mutate(offer: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = offer.lines().map(str::to_owned).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let at = |i: &usize| i % lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                let i = at(i);
                lines.remove(i);
            }
            Mutation::DuplicateLine(i) => {
                let i = at(i);
                lines.insert(i, lines[i].clone());
            }
            Mutation::ReplaceLine(i, line) => {
                let i = at(i);
                lines[i] = line.clone();
            }
            Mutation::InsertLine(i, line) => {
                let i = at(i);
                lines.insert(i, line.clone());
            }
            Mutation::Truncate(i) => {
                let i = at(i);
                let keep = lines[i].len() / 2;
                let cut: String = lines[i].chars().take(keep).collect();
                lines[i] = cut;
                lines.truncate(i + 1);
            }
            Mutation::Renumber(i, n) => {
                let i = at(i);
                let mut out = String::new();
                let mut in_number = false;
                for c in lines[i].chars() {
                    if c.is_ascii_digit() {
                        if !in_number {
                            out.push_str(&n.to_string());
                        }
                        in_number = true;
                    } else {
                        in_number = false;
                        out.push(c);
                    }
                }
                lines[i] = out;
            }
        }
    }
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    text
}

#[test]
fn mutated_whip_offers_are_answered_or_refused_never_a_panic() {
    let now = Instant::now();
    let accepted = AtomicUsize::new(0);
    runner()
        .run(&prop::collection::vec(mutation(), 1..6), |mutations| {
            let offer = mutate(WHIP_OFFER, &mutations);
            let mut sfu = sfu();
            if sfu.publish(now, &room_id("room"), offer).is_ok() {
                accepted.fetch_add(1, Ordering::Relaxed);
            } else {
                // Refused offers leave nothing behind.
                prop_assert!(sfu.room_viewers().is_empty());
            }
            Ok(())
        })
        .unwrap();
    // Mutations leave many offers usable, so the answering path is fuzzed
    // too, not only the first check that refuses.
    assert!(accepted.into_inner() > 0, "no mutated offer was accepted");
}

#[test]
fn mutated_whep_offers_are_answered_or_refused_never_a_panic() {
    let now = Instant::now();
    let accepted = AtomicUsize::new(0);
    runner()
        .run(
            &(
                prop::sample::select(vec![WHEP_OFFER, AIORTC_WHEP_OFFER]),
                prop::collection::vec(mutation(), 1..6),
            ),
            |(seed, mutations)| {
                let mut sfu = sfu();
                sfu.publish(now, &room_id("room"), WHIP_OFFER.to_owned())
                    .expect("the real camera offer is accepted");
                let offer = mutate(seed, &mutations);
                let ok = sfu
                    .view(now, &room_id("room"), Listener::Specialist, offer)
                    .is_ok();
                accepted.fetch_add(usize::from(ok), Ordering::Relaxed);
                let viewers = sfu.room_viewers()[0].viewers;
                prop_assert_eq!(viewers, usize::from(ok));
                Ok(())
            },
        )
        .unwrap();
    assert!(accepted.into_inner() > 0, "no mutated offer was accepted");
}

#[test]
fn the_real_viewer_offers_of_chromium_and_aiortc_are_answered() {
    let now = Instant::now();
    let mut sfu = sfu();
    sfu.publish(now, &room_id("room"), WHIP_OFFER.to_owned())
        .expect("the real camera offer is accepted");
    for (client, offer) in [("Chromium", WHEP_OFFER), ("aiortc", AIORTC_WHEP_OFFER)] {
        let answer = sfu
            .view(
                now,
                &room_id("room"),
                Listener::Specialist,
                offer.to_owned(),
            )
            .unwrap_or_else(|err| panic!("{client}'s WHEP offer is refused: {err}"));
        let ufrags: std::collections::BTreeSet<&str> = answer
            .sdp
            .lines()
            .filter_map(|line| line.trim_end().strip_prefix("a=ice-ufrag:"))
            .collect();
        assert_eq!(
            ufrags.len(),
            1,
            "one transport for {client}: {}",
            answer.sdp
        );
        assert!(answer.sdp.contains("a=group:BUNDLE 0 1"), "{}", answer.sdp);
    }
    assert_eq!(sfu.room_viewers()[0].viewers, 2);

    // Without BUNDLE it would need a transport per section: refused, and
    // told why.
    let unbundled = AIORTC_WHEP_OFFER.replace("a=group:BUNDLE 0 1\r\n", "");
    match sfu.view(now, &room_id("room"), Listener::Specialist, unbundled) {
        Err(err @ MediaError::BadOffer(_)) => {
            assert!(err.to_string().contains("BUNDLE"), "{err}");
        }
        other => panic!("an unbundled offer with two transports: {other:?}"),
    }
    assert_eq!(sfu.room_viewers()[0].viewers, 2, "the room is untouched");
}

/// Fragments: trickled candidates and ICE restarts, mangled.
fn fragment() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("a=ice-ufrag:newfrag".to_owned()),
        Just("a=ice-pwd:newpasswordnewpasswordnewpw".to_owned()),
        Just("a=ice-ufrag:".to_owned()),
        Just("a=mid:0".to_owned()),
        Just("a=mid:99".to_owned()),
        Just("m=audio 9 RTP/AVP 0".to_owned()),
        Just("a=candidate:1 1 udp 2130706431 10.213.0.2 40000 typ host".to_owned()),
        Just("a=candidate:1 1 tcp 1 10.213.0.2 9 typ host tcptype active".to_owned()),
        Just("a=candidate:x".to_owned()),
        Just("a=end-of-candidates".to_owned()),
        tricky_line(),
    ];
    prop::collection::vec(line, 0..8).prop_map(|lines| {
        let mut text = lines.join("\r\n");
        text.push_str("\r\n");
        text
    })
}

#[test]
fn mangled_ice_fragments_are_applied_or_refused_never_a_panic() {
    let now = Instant::now();
    runner()
        .run(&(fragment(), any::<bool>()), |(fragment, to_camera)| {
            let mut sfu = sfu();
            let camera = sfu
                .publish(now, &room_id("room"), WHIP_OFFER.to_owned())
                .expect("the real camera offer is accepted");
            let viewer = sfu
                .view(
                    now,
                    &room_id("room"),
                    Listener::Specialist,
                    WHEP_OFFER.to_owned(),
                )
                .expect("the real viewer offer is accepted");
            let (kind, session) = if to_camera {
                (SessionKind::Publish, camera.session)
            } else {
                (SessionKind::View, viewer.session)
            };
            let _ = sfu.patch(now, &room_id("room"), kind, &session, &fragment);
            // The room is whole afterwards.
            prop_assert_eq!(sfu.room_viewers()[0].viewers, 1);
            Ok(())
        })
        .unwrap();
}
