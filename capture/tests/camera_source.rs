//! The camera bin for each pixel format a UVC camera offers. There is no
//! camera on a build machine, so these check the bin's shape (elements and
//! links); the media path behind it is the same one the test and file
//! sources run through in `media_chain`.

mod common;

use std::path::Path;

use gstreamer::prelude::*;
use samsyn_capture::camera::{CameraMode, PixelFormat};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{SourceError, SourceOutput, camera_for_mode};

fn mode(format: PixelFormat) -> CameraMode {
    CameraMode {
        format,
        width: 1280,
        height: 720,
        fps_num: 30,
        fps_den: 1,
    }
}

fn video() -> VideoSettings {
    VideoSettings {
        width: 640,
        height: 360,
        fps: 15,
        codec: VideoCodec::H264,
        bitrate_kbps: 800,
        x264_preset: Default::default(),
    }
}

/// Factory names of the bin's elements, source first.
fn factories(bin: &gstreamer::Bin) -> Vec<String> {
    let mut names: Vec<String> = bin
        .iterate_sorted()
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.factory().map(|f| f.name().to_string()))
        .collect();
    // iterate_sorted goes from sinks to sources.
    names.reverse();
    names
}

#[test]
fn mjpeg_is_decoded_then_scaled() {
    common::init();
    let source = camera_for_mode(
        Path::new("/dev/video0"),
        &mode(PixelFormat::Mjpeg),
        &video(),
        true,
    )
    .unwrap();
    assert_eq!(source.output, SourceOutput::Raw);
    assert_eq!(
        factories(&source.bin),
        [
            "v4l2src",
            "capsfilter",
            "queue",
            "jpegdec",
            "videoconvert",
            "videoscale",
            "videorate",
            "capsfilter"
        ]
    );
    let queue = source.bin.by_name("camera-queue").unwrap();
    assert_eq!(queue.property::<u32>("max-size-buffers"), 1);
}

#[test]
fn raw_formats_are_converted() {
    common::init();
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12] {
        let source =
            camera_for_mode(Path::new("/dev/video0"), &mode(format), &video(), true).unwrap();
        assert_eq!(source.output, SourceOutput::Raw);
        let names = factories(&source.bin);
        assert!(!names.contains(&"jpegdec".to_string()), "{names:?}");
        assert!(names.contains(&"videoconvert".to_string()), "{names:?}");
    }
}

#[test]
fn camera_h264_is_passed_through_without_dropping_frames() {
    common::init();
    let source = camera_for_mode(
        Path::new("/dev/video0"),
        &mode(PixelFormat::H264),
        &video(),
        true,
    )
    .unwrap();
    assert_eq!(source.output, SourceOutput::H264);
    assert_eq!(
        factories(&source.bin),
        ["v4l2src", "capsfilter", "h264parse"]
    );
}

#[test]
fn camera_h264_is_decoded_when_sending_vp8() {
    common::init();
    let source = camera_for_mode(
        Path::new("/dev/video0"),
        &mode(PixelFormat::H264),
        &video(),
        false,
    )
    .unwrap();
    assert_eq!(source.output, SourceOutput::Raw);
    let names = factories(&source.bin);
    assert!(names.contains(&"avdec_h264".to_string()), "{names:?}");
    assert!(
        source.bin.by_name("camera-queue").is_none(),
        "no leaky queue before an H.264 decoder"
    );
}

#[test]
fn unknown_pixel_format_is_refused() {
    common::init();
    let err = camera_for_mode(
        Path::new("/dev/video0"),
        &mode(PixelFormat::Other("GREY".into())),
        &video(),
        true,
    )
    .unwrap_err();
    assert!(matches!(err, SourceError::Camera(_)));
    assert!(err.to_string().contains("GREY"), "{err}");
}
