//! Photos from the head camera, taken by the camera's supervisor while the
//! stream goes on.
//!
//! There is no camera on a build machine: a live `videotestsrc` at the
//! size of a camera mode stands in for it ([`stand_in`]), and the
//! supervised stream goes through the real encoder and decoder.

mod common;

use std::time::{Duration, Instant};

use common::stand_in::{self, bright, longest_gap, run_pipeline, wait_for};
use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::consultation::still::{self, StillSource};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{
    self, CameraPhotoError, CameraPhotos, FullSizeFrames, PhotoFrom, PhotoSwitch, SourceSpec,
};

const FPS: u32 = 15;
/// The stream's size: smaller than any camera mode here, as after the
/// quality ladder stepped down.
const STREAM: (u32, u32) = (320, 240);
/// The stand-in camera's streaming mode.
const STREAMING_MODE: (u32, u32) = (640, 480);

fn video() -> VideoSettings {
    VideoSettings {
        width: STREAM.0,
        height: STREAM.1,
        fps: FPS,
        codec: VideoCodec::H264,
        bitrate_kbps: 400,
        x264_preset: Default::default(),
    }
}

fn frame_size(sample: &gst::Sample) -> (u32, u32) {
    let caps = sample.caps().expect("a frame with caps");
    let info = gstreamer_video::VideoInfo::from_caps(caps).expect("raw video caps");
    (info.width(), info.height())
}

#[test]
fn without_the_switch_a_photo_is_the_cameras_frame_at_its_streaming_size() {
    common::init();
    let (width, height) = STREAMING_MODE;
    let photos = CameraPhotos::new(PhotoSwitch::StreamingModeOnly);
    let first = stand_in::camera(width, height, FPS, "white", 0).unwrap();
    let supervised = source::supervise(
        first,
        &video(),
        Box::new(move || stand_in::camera(width, height, FPS, "white", 0)),
        Some(&photos),
    )
    .unwrap();
    assert_eq!(
        photos.take().unwrap_err(),
        CameraPhotoError::NoPicture("the camera has not started yet; ask again in a moment"),
        "before the stream runs"
    );
    let started = Instant::now();
    let (pipeline, frames) = run_pipeline(supervised, STREAM.0, STREAM.1);
    wait_for("the camera's picture", Duration::from_secs(5), || {
        bright(&frames, started) >= 10
    });

    let photo = photos.take().expect("a photo");
    assert_eq!(photo.from, PhotoFrom::StreamingMode);
    assert_eq!(frame_size(&photo.frame), STREAMING_MODE);
    // Through the photo taker: a JPEG at the camera's size.
    let spec = SourceSpec::V4l2(None);
    let stills = StillSource::for_source(&spec, &FullSizeFrames::default(), Some(&photos));
    let jpeg = still::take(&stills).expect("a JPEG");
    assert_eq!((jpeg.width, jpeg.height), STREAMING_MODE);
    assert_eq!(&jpeg.jpeg[..2], &[0xFF, 0xD8], "a JPEG");

    let after_photo = Instant::now();
    wait_for("the stream going on", Duration::from_secs(5), || {
        bright(&frames, after_photo) >= 10
    });
    let _ = pipeline.set_state(gst::State::Null);
    let frames = frames.lock().unwrap().clone();
    let gap = longest_gap(&frames);
    println!(
        "{} frames decoded; longest gap between frames {} ms",
        frames.len(),
        gap.as_millis()
    );
    assert!(gap < Duration::from_millis(700), "longest gap {gap:?}");
    // The supervisor is gone with the pipeline.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(photos.take().unwrap_err(), CameraPhotoError::NotRunning);
}
