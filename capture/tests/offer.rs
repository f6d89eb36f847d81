//! The publisher's SDP offer: H.264 send-only, with ICE pinned to loopback;
//! and the talk-back session's: Opus receive-only on every slot.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use samsyn_capture::audio::VoiceInput;
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;
use samsyn_capture::webrtc::{Publisher, PublisherOptions};

fn options(codec: VideoCodec) -> PublisherOptions {
    PublisherOptions {
        source: SourceSpec::Test,
        video: VideoSettings {
            width: 320,
            height: 240,
            fps: 30,
            codec,
            bitrate_kbps: 500,
            x264_preset: Default::default(),
        },
        photo_mode: Default::default(),
        audio: VoiceInput::Off,
        echo_reference: None,
        ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}

#[tokio::test]
async fn h264_offer_has_video_line_and_loopback_candidate() {
    common::init();
    let mut publisher = Publisher::build(&options(VideoCodec::H264)).expect("publisher builds");
    let sdp = publisher.start_and_offer().await.expect("offer is made");
    println!("{sdp}");
    publisher.stop();

    let video = sdp
        .lines()
        .find(|l| l.starts_with("m=video"))
        .expect("offer has a video m-line");
    assert!(
        video.contains(" 96"),
        "video m-line carries payload 96: {video}"
    );
    assert!(sdp.contains("a=rtpmap:96 H264/90000"), "H.264 is offered");
    assert!(sdp.contains("packetization-mode=1"));
    assert!(
        is_constrained_baseline(&sdp),
        "constrained baseline profile: {sdp}"
    );
    assert_eq!(
        sdp.matches("level-asymmetry-allowed").count(),
        1,
        "no duplicated fmtp parameters"
    );
    assert!(sdp.contains("a=sendonly"));
    assert!(sdp.contains("a=group:BUNDLE"));
    assert!(
        sdp.contains("a=rtcp-fb:96 nack pli"),
        "PLI feedback is offered"
    );
    assert!(!sdp.contains("m=audio"), "no audio with audio disabled");
    let candidates: Vec<&str> = sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate"))
        .collect();
    assert!(
        candidates.iter().any(|c| c.contains(" 127.0.0.1 ")),
        "a 127.0.0.1 candidate is offered: {candidates:?}"
    );
    assert!(
        candidates.iter().all(|c| c.contains(" 127.0.0.1 ")),
        "only the pinned address is used: {candidates:?}"
    );
}

#[tokio::test]
async fn ice_pinned_to_a_foreign_address_is_reported() {
    common::init();
    // TEST-NET-1: never an address of this machine.
    let mut options = options(VideoCodec::H264);
    options.ice_addresses = vec!["192.0.2.1".parse().unwrap()];
    let mut publisher = Publisher::build(&options).expect("publisher builds");
    let err = publisher.start_and_offer().await.unwrap_err();
    publisher.stop();
    assert!(err.to_string().contains("--ice-address"), "{err}");
}

#[tokio::test]
async fn missing_microphone_does_not_stop_video() {
    common::init();
    let mut options = options(VideoCodec::H264);
    options.audio = VoiceInput::Microphone;
    let mut publisher = Publisher::build(&options).expect("publisher builds with audio asked for");
    let sdp = publisher.start_and_offer().await.expect("offer is made");
    publisher.stop();
    assert!(sdp.contains("m=video"));
    // With a working microphone the offer carries Opus too; without one
    // (as on a build server) it is video only.
    assert_eq!(
        publisher.has_audio(),
        sdp.contains("a=rtpmap:111 OPUS/48000")
    );
}

#[tokio::test]
async fn vp8_offer() {
    common::init();
    let mut publisher = Publisher::build(&options(VideoCodec::Vp8)).expect("publisher builds");
    let sdp = publisher.start_and_offer().await.expect("offer is made");
    publisher.stop();
    assert!(
        sdp.contains("a=rtpmap:96 VP8/90000"),
        "VP8 is offered: {sdp}"
    );
}

/// profile_idc 66 (0x42) with constraint_set1 (0x40 in profile-iop): what
/// browsers accept as constrained baseline (42e0xx and 42c0xx alike).
fn is_constrained_baseline(sdp: &str) -> bool {
    let Some(start) = sdp.find("profile-level-id=") else {
        return false;
    };
    let id = &sdp[start + "profile-level-id=".len()..][..6];
    let profile_iop = u8::from_str_radix(&id[2..4], 16).unwrap_or(0);
    id[..2].eq_ignore_ascii_case("42") && profile_iop & 0x40 != 0
}

/// The talk-back session's WHEP offer: only audio, one recvonly Opus
/// 48000/2 m-line per slot, bundled on one transport with rtcp-mux.
#[tokio::test]
async fn talkback_offer_receives_opus_on_every_slot() {
    use samsyn_capture::talkback::{TALKBACK_SLOTS, TalkbackSession};

    common::init();
    let channels = (0..TALKBACK_SLOTS)
        .map(|slot| format!("offer-test-{slot}"))
        .collect();
    let mut session = TalkbackSession::build(
        channels,
        &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        &samsyn_capture::webrtc::Relays::default(),
    )
    .expect("the talk-back session builds");
    let sdp = session.start_and_offer().await.expect("offer is made");
    println!("{sdp}");
    session.stop();

    let sections: Vec<&str> = sdp.split("\r\nm=").skip(1).collect();
    assert_eq!(sections.len(), TALKBACK_SLOTS, "one m-line per slot: {sdp}");
    let mut mids = Vec::new();
    for (slot, section) in sections.iter().enumerate() {
        let mline = section.lines().next().unwrap_or_default();
        assert!(
            mline.starts_with("audio ") && mline.ends_with(" 111"),
            "m-line {slot} is audio with Opus only: {mline}"
        );
        let attribute = |name: &str| section.lines().any(|l| l.trim() == name);
        assert!(attribute("a=recvonly"), "m-line {slot} is recvonly");
        assert!(attribute("a=rtcp-mux"), "m-line {slot} muxes RTCP");
        assert!(
            attribute("a=rtpmap:111 OPUS/48000/2"),
            "m-line {slot} offers Opus 48000/2: {section}"
        );
        assert_eq!(
            section.matches("a=rtpmap:").count(),
            1,
            "m-line {slot} offers nothing besides Opus: {section}"
        );
        assert!(
            section.contains("useinbandfec=1"),
            "FEC asked for: {section}"
        );
        let mid = section
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=mid:"))
            .expect("every m-line has a mid");
        mids.push(mid.to_owned());
    }
    assert!(!sdp.contains("m=video"), "no video in a talk-back offer");
    assert!(!sdp.contains("a=sendrecv") && !sdp.contains("a=sendonly"));
    let bundle = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=group:BUNDLE "))
        .expect("the m-lines are bundled");
    assert_eq!(bundle.split(' ').collect::<Vec<_>>(), mids);
    assert!(
        sdp.contains("127.0.0.1"),
        "ICE is pinned to the given address: {sdp}"
    );
}
