//! The media path up to (not including) webrtcbin: source → leaky queue →
//! encoder, run for real into an appsink.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_capture::chain::{ChainError, VideoChain};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{SourceError, SourceSpec};

/// A pipeline of `chain` into `sink`, not started.
fn into_sink(chain: &VideoChain, sink: &gst::Element) -> gst::Pipeline {
    let pipeline = gst::Pipeline::new();
    pipeline
        .add_many([chain.bin.upcast_ref::<gst::Element>(), sink])
        .unwrap();
    chain.bin.link(sink).unwrap();
    pipeline
}

#[derive(Debug, Default, Clone)]
struct Seen {
    buffers: usize,
    /// Indexes of buffers that are keyframes.
    keyframes: Vec<usize>,
    caps: Option<gst::Caps>,
}

/// A running chain → appsink pipeline that records what comes out.
struct Harness {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    seen: Arc<Mutex<Seen>>,
}

impl Harness {
    fn start(spec: SourceSpec, video: VideoSettings) -> Self {
        let chain = VideoChain::build(&spec, &video).expect("video chain builds");
        let sink = gst_app::AppSink::builder().sync(false).build();
        let pipeline = into_sink(&chain, sink.upcast_ref());

        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = seen.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut seen = record.lock().unwrap();
                    if let Some(buffer) = sample.buffer()
                        && !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
                    {
                        let index = seen.buffers;
                        seen.keyframes.push(index);
                    }
                    seen.buffers += 1;
                    seen.caps = sample.caps_owned();
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .expect("pipeline starts");
        Self {
            pipeline,
            sink,
            seen,
        }
    }

    fn wait_buffers(&self, n: usize, timeout: Duration) -> Seen {
        let bus = self.pipeline.bus().unwrap();
        common::wait_until(timeout, || {
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                && let gst::MessageView::Error(e) = msg.view()
            {
                panic!("pipeline error: {} ({:?})", e.error(), e.debug());
            }
            let seen = self.seen.lock().unwrap();
            (seen.buffers >= n).then(|| seen.clone())
        })
        .unwrap_or_else(|| {
            panic!(
                "fewer than {n} encoded buffers within {timeout:?}: {:?}",
                self.seen.lock().unwrap()
            )
        })
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn small(codec: VideoCodec) -> VideoSettings {
    VideoSettings {
        width: 320,
        height: 240,
        fps: 30,
        codec,
        bitrate_kbps: 400,
        x264_preset: Default::default(),
    }
}

fn caps_field<'a, T: gst::glib::value::FromValue<'a>>(caps: &'a gst::Caps, name: &str) -> T {
    caps.structure(0).unwrap().get::<T>(name).unwrap()
}

#[test]
fn test_source_gives_h264_of_configured_size() {
    common::init();
    let harness = Harness::start(SourceSpec::Test, small(VideoCodec::H264));
    let seen = harness.wait_buffers(10, Duration::from_secs(10));
    let caps = seen.caps.expect("caps seen");
    assert_eq!(caps.structure(0).unwrap().name(), "video/x-h264");
    assert_eq!(caps_field::<i32>(&caps, "width"), 320);
    assert_eq!(caps_field::<i32>(&caps, "height"), 240);
    assert_eq!(caps_field::<&str>(&caps, "profile"), "constrained-baseline");
    assert_eq!(
        seen.keyframes.first(),
        Some(&0),
        "the stream starts with a keyframe"
    );
}

#[test]
fn keyframe_comes_on_request_not_on_a_short_interval() {
    common::init();
    let harness = Harness::start(SourceSpec::Test, small(VideoCodec::H264));
    let before = harness.wait_buffers(15, Duration::from_secs(10));
    assert_eq!(
        before.keyframes,
        vec![0],
        "no periodic keyframes in the first half second"
    );

    // What webrtcbin's RTP session sends upstream when a PLI or FIR arrives.
    let request = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    assert!(
        harness.sink.send_event(request),
        "the request travels upstream"
    );

    let target = before.buffers + 20;
    let after = harness.wait_buffers(target, Duration::from_secs(10));
    assert!(
        after.keyframes.iter().any(|&i| i >= before.buffers),
        "a keyframe follows the request: {:?}",
        after.keyframes
    );
}

#[test]
fn vp8_chain() {
    common::init();
    let harness = Harness::start(SourceSpec::Test, small(VideoCodec::Vp8));
    let seen = harness.wait_buffers(5, Duration::from_secs(10));
    let caps = seen.caps.expect("caps seen");
    assert_eq!(caps.structure(0).unwrap().name(), "video/x-vp8");
    assert_eq!(caps_field::<i32>(&caps, "width"), 320);
}

#[test]
fn file_source_is_scaled_and_loops_past_its_end() {
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    // One second of 640x360 at 20 fps.
    common::make_h264_file(&path, 20, 640, 360, 20);

    let video = VideoSettings {
        width: 320,
        height: 180,
        fps: 20,
        codec: VideoCodec::H264,
        bitrate_kbps: 300,
        x264_preset: Default::default(),
    };
    let started = std::time::Instant::now();
    let harness = Harness::start(SourceSpec::File(path), video);
    // More frames than the file has: only possible if it looped.
    let seen = harness.wait_buffers(35, Duration::from_secs(12));
    // Paced like a live source: 35 frames at 20 fps take about 1.75 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "the file plays in real time, not as fast as it decodes ({:?})",
        started.elapsed()
    );
    let caps = seen.caps.expect("caps seen");
    assert_eq!(caps_field::<i32>(&caps, "width"), 320);
    assert_eq!(caps_field::<i32>(&caps, "height"), 180);
}

#[test]
fn missing_file_is_named() {
    common::init();
    let err = VideoChain::build(
        &SourceSpec::File("/nonexistent/wound.mp4".into()),
        &small(VideoCodec::H264),
    )
    .unwrap_err();
    assert!(
        matches!(err, ChainError::Source(SourceError::FileMissing(_))),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/wound.mp4 does not exist"),
        "{text}"
    );
    assert!(text.contains("--source file:"), "{text}");
}

#[test]
fn unusable_size_is_refused_before_building() {
    common::init();
    let video = VideoSettings {
        width: 321,
        ..small(VideoCodec::H264)
    };
    let err = VideoChain::build(&SourceSpec::Test, &video).unwrap_err();
    assert!(err.to_string().contains("--width/--height"), "{err}");
}

#[test]
fn camera_source_without_that_camera_says_so() {
    common::init();
    let err = VideoChain::build(
        &SourceSpec::V4l2(Some("/dev/video99".into())),
        &small(VideoCodec::H264),
    )
    .unwrap_err();
    assert!(
        matches!(err, ChainError::Source(SourceError::Camera(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("/dev/video99"), "{err}");
}

#[test]
fn file_that_is_not_video_is_reported_on_the_bus() {
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mp4");
    std::fs::write(&path, "wound notes, not a video\n".repeat(200)).unwrap();

    let chain = VideoChain::build(&SourceSpec::File(path.clone()), &small(VideoCodec::H264))
        .expect("the chain builds; the content is only read once it runs");
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    let pipeline = into_sink(&chain, &sink);
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error]);
    let _ = pipeline.set_state(gst::State::Null);
    let Some(msg) = msg else {
        panic!("no error for a file that is not a video");
    };
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    let text = err.error().to_string();
    assert!(
        text.contains(&format!("video file {} cannot be played", path.display())),
        "{text}"
    );
}

#[test]
fn a_photo_of_a_recording_is_the_frame_on_screen_at_the_recordings_own_size() {
    use samsyn_capture::consultation::still::{self, StillSource};
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visit.mp4");
    common::make_h264_file(&path, 60, 1280, 720, 30);
    let spec = SourceSpec::File(path);
    let chain = VideoChain::build(&spec, &small(VideoCodec::H264)).expect("video chain builds");
    let sink = gst_app::AppSink::builder().sync(false).build();
    let pipeline = into_sink(&chain, sink.upcast_ref());
    pipeline.set_state(gst::State::Playing).unwrap();
    let stream = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .expect("the stream runs");

    let photo = still::take(&StillSource::for_source(
        &spec,
        &chain.full_size_frames,
        None,
    ));
    let streaming = sink.try_pull_sample(gst::ClockTime::from_seconds(5));
    let _ = pipeline.set_state(gst::State::Null);

    let photo = photo.expect("a photo of the recording");
    assert_eq!((photo.width, photo.height), (1280, 720));
    assert_eq!(&photo.jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    let stream_caps = stream.caps().unwrap().structure(0).unwrap().to_owned();
    assert_eq!(
        stream_caps.get::<i32>("width").unwrap(),
        320,
        "{stream_caps}"
    );
    assert!(streaming.is_some(), "the stream goes on after the photo");
}
