//! The nurse's check, part by part, on this machine's real GStreamer: the
//! test picture gives frames and a picture for the screen, a camera that
//! is not there is unusable with the advice to plug it in, the test tone
//! is heard and the test silence is not, and a speaker set to `none` is
//! skipped. No network: the line is not given.

mod common;

use std::sync::Mutex;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_capture::check::{CheckLevel, CheckReport, CheckStep, run_check};
use samsyn_config::{CaptureConfig, Microphone};

/// A configuration with only what the test needs switched on.
fn config(source: &str, width: u32, height: u32) -> CaptureConfig {
    let mut config = CaptureConfig {
        source: source.to_owned(),
        width,
        height,
        fps: 15,
        audio: false,
        ..CaptureConfig::default()
    };
    config.talkback.speaker = "none".to_owned();
    config
}

/// Runs the check without a line; returns the report and the parts it
/// announced.
async fn check(config: &CaptureConfig) -> (CheckReport, Vec<CheckStep>) {
    common::init();
    let steps = Mutex::new(Vec::new());
    let report = run_check(config, None, &|step| steps.lock().unwrap().push(step)).await;
    println!("{}", samsyn_capture::check::render_report(&report));
    (report, steps.into_inner().unwrap())
}

/// The width and height of a JPEG, decoded by GStreamer.
fn jpeg_size(jpeg: &[u8]) -> (i32, i32) {
    let pipeline = gst::parse::launch("appsrc name=in ! jpegdec ! appsink name=out")
        .expect("a decoding pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let source = pipeline
        .by_name("in")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    source.set_caps(Some(&gst::Caps::builder("image/jpeg").build()));
    pipeline.set_state(gst::State::Playing).unwrap();
    source
        .push_buffer(gst::Buffer::from_slice(jpeg.to_vec()))
        .unwrap();
    source.end_of_stream().unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(5))
        .expect("the picture decodes as a JPEG");
    pipeline.set_state(gst::State::Null).unwrap();
    let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
    (caps.get("width").unwrap(), caps.get("height").unwrap())
}

#[tokio::test]
async fn the_test_picture_gives_frames_and_a_small_jpeg() {
    let (report, steps) = check(&config("test", 1280, 720)).await;
    let camera = &report.camera;
    assert_eq!(camera.finding.level, CheckLevel::Good, "{camera:?}");
    assert!(camera.frames >= 5, "frames in about a second: {camera:?}");
    assert_eq!((camera.width, camera.height), (Some(1280), Some(720)));
    assert!(
        camera.finding.headline.contains("the test picture")
            && camera
                .finding
                .headline
                .contains("pictures arrive (1280x720"),
        "{}",
        camera.finding.headline
    );
    assert!(camera.finding.headline_nb.contains("testbildet"));
    let jpeg = report
        .picture_jpeg
        .as_deref()
        .expect("a picture for the screen");
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "JPEG starts with SOI");
    assert_eq!(jpeg_size(jpeg), (640, 360), "scaled to the screen's width");
    // Audio off, speaker none, no line: the test picture alone decides.
    assert_eq!(report.level, CheckLevel::Good);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        steps,
        [CheckStep::Camera, CheckStep::Microphone, CheckStep::Sound]
    );
}

#[tokio::test]
async fn a_camera_that_is_not_there_is_unusable_and_says_to_plug_it_in() {
    let (report, _) = check(&config("v4l2:/dev/video99", 640, 360)).await;
    let camera = &report.camera;
    assert_eq!(camera.finding.level, CheckLevel::Unusable, "{camera:?}");
    assert_eq!(camera.frames, 0);
    assert!(report.picture_jpeg.is_none());
    assert!(
        camera.finding.headline.contains("/dev/video99"),
        "{}",
        camera.finding.headline
    );
    assert!(
        camera.finding.advice[0].starts_with("Plug in the head camera"),
        "{:?}",
        camera.finding.advice
    );
    assert!(camera.finding.advice_nb[0].starts_with("Koble til hodekameraet"));
    assert_eq!(report.level, CheckLevel::Unusable);
    assert_eq!(report.exit_code(), 2);
    assert_eq!(report.headline, camera.finding.headline);
    assert!(
        samsyn_capture::check::render_report(&report).contains("✗ Camera: the camera /dev/video99")
    );
}

#[tokio::test]
async fn the_test_tone_is_heard() {
    let mut config = config("test", 320, 240);
    config.audio = true;
    config.microphone = Microphone::TestTone;
    let (report, _) = check(&config).await;
    let microphone = &report.microphone;
    assert_eq!(microphone.finding.level, CheckLevel::Good, "{microphone:?}");
    assert!(
        microphone
            .finding
            .headline
            .contains("The microphone hears you")
            || microphone
                .finding
                .headline
                .contains("the microphone hears you"),
        "{}",
        microphone.finding.headline
    );
    // The tone is made at about −13 dBFS RMS.
    let rms = microphone.rms_dbfs.expect("a loudness");
    assert!((-20.0..=-8.0).contains(&rms), "{rms} dBFS");
    assert!(microphone.peak_dbfs.expect("a peak") > rms);
    assert_eq!(report.level, CheckLevel::Good);
}

#[tokio::test]
async fn the_test_silence_is_heard_as_nothing() {
    let mut config = config("test", 320, 240);
    config.audio = true;
    config.microphone = Microphone::TestSilence;
    let (report, _) = check(&config).await;
    let microphone = &report.microphone;
    assert_eq!(
        microphone.finding.level,
        CheckLevel::Marginal,
        "{microphone:?}"
    );
    assert!(
        microphone.finding.headline.contains("hears nothing"),
        "{}",
        microphone.finding.headline
    );
    assert!(microphone.rms_dbfs.expect("a loudness") <= -90.0);
    assert_eq!(report.level, CheckLevel::Marginal);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.headline, microphone.finding.headline);
    assert!(!report.advice.is_empty());
}

#[tokio::test]
async fn a_speaker_set_to_none_and_audio_off_are_skipped() {
    let (report, _) = check(&config("test", 320, 240)).await;
    for finding in [
        &report.sound.finding,
        &report.microphone.finding,
        &report.line.finding,
    ] {
        assert!(finding.skipped, "{finding:?}");
        assert_eq!(finding.level, CheckLevel::NotRun);
    }
    assert!(
        report.sound.finding.headline.contains("speaker = none"),
        "{}",
        report.sound.finding.headline
    );
    assert!(report.microphone.finding.headline.contains("audio is off"));
    // Skipped parts do not make the check "not run".
    assert_eq!(report.level, CheckLevel::Good);
    let text = samsyn_capture::check::render_report(&report);
    assert!(
        text.contains("– Sound: not tested (speaker = none"),
        "{text}"
    );
}

#[tokio::test]
async fn a_speaker_that_is_not_there_says_the_chime_did_not_play() {
    let mut config = config("test", 320, 240);
    config.talkback.speaker = "samsyn-no-such-output".to_owned();
    let (report, _) = check(&config).await;
    let sound = &report.sound;
    assert_eq!(sound.finding.level, CheckLevel::Marginal, "{sound:?}");
    assert!(!sound.finding.skipped);
    assert!(
        sound.finding.headline.starts_with(
            "Sound: the test chime did not play on audio output samsyn-no-such-output"
        ),
        "{}",
        sound.finding.headline
    );
    assert!(sound.finding.advice[0].starts_with("Plug in the headset"));
    assert_eq!(report.level, CheckLevel::Marginal);
}

#[test]
fn the_command_exits_with_the_verdicts_code() {
    common::init();
    let missing = config("v4l2:/dev/video99", 640, 360);
    assert_eq!(
        samsyn_capture::check::check_command(missing, None, true),
        std::process::ExitCode::from(2)
    );
    let fine = config("test", 320, 240);
    assert_eq!(
        samsyn_capture::check::check_command(fine, None, false),
        std::process::ExitCode::from(0)
    );
}
