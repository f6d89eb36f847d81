//! The publisher's SDP offer: H.264 send-only, with ICE pinned to loopback.

mod common;

use std::net::{IpAddr, Ipv4Addr};

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
        audio: false,
        echo_probe: None,
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
    options.audio = true;
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
