//! The encoder table: what gets chosen here, why, and how it is configured.

mod common;

use gstreamer::prelude::*;
use samsyn_capture::elements;
use samsyn_capture::encoder::{
    self, EncoderCandidate, EncoderError, EncoderParams, candidates, choose, choose_from,
};
use samsyn_capture::settings::{VideoCodec, VideoSettings};

#[test]
fn h264_falls_back_to_x264_and_says_why() {
    common::init();
    let choice = choose(VideoCodec::H264).expect("an H.264 encoder is usable");
    let table = candidates(VideoCodec::H264);
    let hardware_present = table
        .iter()
        .any(|c| c.hardware && elements::exists(c.element));
    if hardware_present {
        // A machine with a hardware encoder element: whatever was chosen,
        // everything ranked above it must have been skipped with a reason.
        let rank = table
            .iter()
            .position(|c| c.element == choice.candidate.element)
            .unwrap();
        assert_eq!(choice.skipped.len(), rank);
        return;
    }
    assert_eq!(choice.candidate.element, "x264enc");
    assert!(!choice.candidate.hardware);
    assert_eq!(
        choice.skipped[0],
        "vah264enc: element missing (gstreamer1.0-plugins-bad)"
    );
    assert_eq!(choice.skipped.len(), table.len() - 1);
    assert!(
        choice.summary().ends_with("x264enc chosen (software)"),
        "{}",
        choice.summary()
    );
}

#[test]
fn vp8_uses_vp8enc() {
    common::init();
    let choice = choose(VideoCodec::Vp8).unwrap();
    assert_eq!(choice.candidate.element, "vp8enc");
}

static MISSING_FIRST: &[EncoderCandidate] = &[
    EncoderCandidate {
        element: "samsynfakeh264enc",
        package: "gstreamer1.0-samsyn-fake",
        hardware: true,
        properties: &[],
        output_caps: "video/x-h264",
        fastest: &[],
        live_bitrate: None,
    },
    EncoderCandidate {
        // Exists, but cannot produce H.264: the probe pipeline fails, as a
        // VA-API element does on a machine whose driver cannot encode.
        element: "identity",
        package: "libgstreamer1.0-0",
        hardware: true,
        properties: &[],
        output_caps: "video/x-h264",
        fastest: &[],
        live_bitrate: None,
    },
    EncoderCandidate {
        element: "x264enc",
        package: "gstreamer1.0-plugins-ugly",
        hardware: false,
        properties: &[("bframes", "0")],
        output_caps: "video/x-h264,profile=constrained-baseline",
        fastest: &[],
        live_bitrate: None,
    },
];

#[test]
fn missing_and_failing_hardware_is_skipped_with_reasons() {
    common::init();
    let choice = choose_from(VideoCodec::H264, MISSING_FIRST).unwrap();
    assert_eq!(choice.candidate.element, "x264enc");
    assert_eq!(
        choice.skipped[0],
        "samsynfakeh264enc: element missing (gstreamer1.0-samsyn-fake)"
    );
    assert!(
        choice.skipped[1].starts_with("identity: probe failed ("),
        "{}",
        choice.skipped[1]
    );
}

static NOTHING_USABLE: &[EncoderCandidate] = &[EncoderCandidate {
    element: "samsynfakeh264enc",
    package: "gstreamer1.0-samsyn-fake",
    hardware: false,
    properties: &[],
    output_caps: "video/x-h264",
    fastest: &[],
    live_bitrate: None,
}];

#[test]
fn no_usable_encoder_names_the_package() {
    common::init();
    let err = choose_from(VideoCodec::H264, NOTHING_USABLE).unwrap_err();
    assert!(matches!(err, EncoderError::NoneUsable { .. }));
    assert_eq!(
        err.to_string(),
        "no usable h264 encoder: samsynfakeh264enc: element missing \
         (gstreamer1.0-samsyn-fake); install gstreamer1.0-samsyn-fake"
    );
}

#[test]
fn x264_is_tuned_for_latency() {
    common::init();
    let video = VideoSettings {
        width: 1280,
        height: 720,
        fps: 30,
        codec: VideoCodec::H264,
        bitrate_kbps: 1800,
        x264_preset: Default::default(),
    };
    let x264 = candidates(VideoCodec::H264)
        .iter()
        .find(|c| c.element == "x264enc")
        .unwrap();
    let enc = encoder::make_encoder(x264, &EncoderParams::for_video(&video)).unwrap();
    assert_eq!(enc.property::<u32>("bframes"), 0);
    assert_eq!(enc.property::<u32>("bitrate"), 1800);
    assert_eq!(enc.property::<u32>("key-int-max"), 300, "10 s at 30 fps");
    assert_eq!(enc.property::<u32>("vbv-buf-capacity"), 120);
    assert_eq!(enc.property::<i32>("rc-lookahead"), 0);
    let tune = enc.property_value("tune");
    let flags = gstreamer::glib::FlagsClass::with_type(tune.type_()).unwrap();
    assert!(
        flags.is_set_by_nick(&tune, "zerolatency"),
        "tune=zerolatency"
    );
    assert_eq!(
        encoder::output_caps(x264).to_string(),
        "video/x-h264, profile=(string)constrained-baseline"
    );
}

#[test]
fn vp8_is_realtime() {
    common::init();
    let video = VideoSettings {
        codec: VideoCodec::Vp8,
        ..VideoSettings::default()
    };
    let vp8 = &candidates(VideoCodec::Vp8)[0];
    let enc = encoder::make_encoder(vp8, &EncoderParams::for_video(&video)).unwrap();
    assert_eq!(enc.property::<i64>("deadline"), 1);
    assert_eq!(enc.property::<i32>("lag-in-frames"), 0);
    assert_eq!(enc.property::<i32>("target-bitrate"), 2_000_000);
    assert_eq!(enc.property::<i32>("keyframe-max-dist"), 300);
}

#[test]
fn table_is_consistent() {
    common::init();
    for codec in [VideoCodec::H264, VideoCodec::Vp8] {
        let table = candidates(codec);
        assert!(
            !table.last().unwrap().hardware,
            "a software fallback ends each list"
        );
        for c in table {
            assert!(
                c.output_caps.parse::<gstreamer::Caps>().is_ok(),
                "{} output caps parse",
                c.element
            );
            assert_eq!(
                elements::package_for(c.element),
                Some(c.package),
                "{}",
                c.element
            );
        }
    }
}
