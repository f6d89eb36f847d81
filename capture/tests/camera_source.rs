//! The camera bin for each pixel format a UVC camera offers. There is no
//! camera on a build machine, so these check the bin's shape (elements and
//! links); the supervisor behind it (converting and scaling to the stream,
//! taking photos) runs with stand-in cameras in `camera_unplug` and
//! `camera_photo`.

mod common;

use std::path::Path;

use gstreamer::prelude::*;
use samsyn_capture::camera::{CameraMode, PixelFormat};
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
fn mjpeg_is_decoded_at_the_modes_size() {
    common::init();
    let source =
        camera_for_mode(Path::new("/dev/video0"), &mode(PixelFormat::Mjpeg), true).unwrap();
    assert_eq!(source.output, SourceOutput::Raw);
    assert_eq!(
        factories(&source.bin),
        ["v4l2src", "capsfilter", "queue", "jpegdec"]
    );
    let queue = source.bin.by_name("camera-queue").unwrap();
    assert_eq!(queue.property::<u32>("max-size-buffers"), 1);
}

#[test]
fn raw_formats_are_passed_on_at_the_modes_size() {
    common::init();
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12] {
        let source =
            camera_for_mode(Path::new("/dev/video0"), &mode(format.clone()), true).unwrap();
        assert_eq!(source.output, SourceOutput::Raw);
        let names = factories(&source.bin);
        // Passed on as they come: the supervisor converts and scales.
        assert_eq!(names, ["v4l2src", "capsfilter", "queue"], "{format}");
    }
}

#[test]
fn camera_h264_is_passed_through_without_dropping_frames() {
    common::init();
    let source = camera_for_mode(Path::new("/dev/video0"), &mode(PixelFormat::H264), true).unwrap();
    assert_eq!(source.output, SourceOutput::H264);
    assert_eq!(
        factories(&source.bin),
        ["v4l2src", "capsfilter", "h264parse"]
    );
}

#[test]
fn camera_h264_is_decoded_when_sending_vp8() {
    common::init();
    let source =
        camera_for_mode(Path::new("/dev/video0"), &mode(PixelFormat::H264), false).unwrap();
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
        true,
    )
    .unwrap_err();
    assert!(matches!(err, SourceError::Camera(_)));
    assert!(err.to_string().contains("GREY"), "{err}");
}
