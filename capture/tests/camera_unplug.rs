//! An unplugged camera: the stream goes on with a "camera disconnected"
//! slate, and the camera's picture comes back by itself when the camera
//! does, without restarting anything.
//!
//! There is no camera on a build machine. The stand-in behaves as a UVC
//! camera does to GStreamer: while plugged it streams (a white picture); an
//! unplug ends its stream (here after a set number of frames; v4l2src posts
//! an error instead, which the supervisor treats the same way); while it is
//! unplugged, building it fails as opening a missing device does. The frames
//! then go through the real encoder and decoder, and the test reads the
//! brightness of what comes out: white is the camera, dark grey the slate.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_capture::elements;
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{self, Source, SourceError, SourceOutput};

const FPS: u32 = 15;

fn video() -> VideoSettings {
    VideoSettings {
        width: 320,
        height: 240,
        fps: FPS,
        codec: VideoCodec::H264,
        bitrate_kbps: 400,
        x264_preset: Default::default(),
    }
}

/// The stand-in camera: a live white picture, ending after `frames` frames
/// (0: never).
fn white_camera(frames: i32) -> Result<Source, SourceError> {
    let src = elements::make("videotestsrc").map_err(SourceError::from)?;
    src.set_property("is-live", true);
    elements::set_property_str(&src, "pattern", "white").map_err(SourceError::from)?;
    if frames > 0 {
        src.set_property("num-buffers", frames);
    }
    let caps = elements::make("capsfilter").map_err(SourceError::from)?;
    caps.set_property("caps", video().raw_caps());
    let bin = gst::Bin::with_name("stand-in-camera");
    bin.add_many([&src, &caps]).unwrap();
    src.link(&caps).unwrap();
    let ghost = gst::GhostPad::builder_with_target(&caps.static_pad("src").unwrap())
        .unwrap()
        .name("src")
        .build();
    bin.add_pad(&ghost).unwrap();
    Ok(Source {
        bin,
        output: SourceOutput::Raw,
    })
}

/// (when, mean luma) of every decoded frame.
type Frames = Arc<Mutex<Vec<(Instant, f64)>>>;

/// supervised source → x264 → decoder → appsink measuring brightness.
fn run_pipeline(source: Source) -> (gst::Pipeline, Frames) {
    let pipeline = gst::Pipeline::new();
    let encode = gst::parse::bin_from_description(
        "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 \
         ! h264parse ! avdec_h264 ! videoconvert ! capsfilter caps=video/x-raw,format=GRAY8",
        true,
    )
    .expect("encode/decode bin");
    let sink = gst_app::AppSink::builder().sync(false).build();
    let frames: Frames = Arc::default();
    let seen = frames.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                // The luma plane is 320×240 bytes at the start.
                let luma = &map[..320 * 240];
                let mean = luma.iter().map(|&v| f64::from(v)).sum::<f64>() / luma.len() as f64;
                seen.lock().unwrap().push((Instant::now(), mean));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline
        .add_many([
            source.bin.upcast_ref::<gst::Element>(),
            encode.upcast_ref(),
            sink.upcast_ref(),
        ])
        .unwrap();
    gst::Element::link_many([
        source.bin.upcast_ref::<gst::Element>(),
        encode.upcast_ref(),
        sink.upcast_ref(),
    ])
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, frames)
}

/// Frames before `at` count as old.
fn bright(frames: &Frames, after: Instant) -> usize {
    frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t > after && *l > 128.0)
        .count()
}

fn dark(frames: &Frames, after: Instant) -> usize {
    frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t > after && *l < 100.0)
        .count()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen within {timeout:?}");
}

#[test]
fn an_unplugged_camera_becomes_a_slate_and_comes_back_by_itself() {
    common::init();
    let plugged = Arc::new(AtomicBool::new(true));
    let rebuilds = Arc::new(AtomicUsize::new(0));
    // Streams 2 s, then "unplugged" (its stream ends).
    let first = white_camera(2 * FPS as i32).unwrap();
    let rebuild: source::Rebuild = {
        let (plugged, rebuilds) = (plugged.clone(), rebuilds.clone());
        Box::new(move || {
            rebuilds.fetch_add(1, Ordering::SeqCst);
            if plugged.load(Ordering::SeqCst) {
                white_camera(0)
            } else {
                Err(SourceError::Camera(
                    "cannot open /dev/video0: No such device".into(),
                ))
            }
        })
    };
    plugged.store(false, Ordering::SeqCst);
    let supervised = source::supervise(first, &video(), rebuild).unwrap();
    let started = Instant::now();
    let (pipeline, frames) = run_pipeline(supervised);

    wait_for("the camera's picture", Duration::from_secs(5), || {
        bright(&frames, started) >= 10
    });
    let slate_after = wait_for("the slate", Duration::from_secs(6), || {
        dark(&frames, started) >= 5
    });
    println!(
        "slate shown {} ms after start (the camera ended after 2 s)",
        slate_after.as_millis()
    );

    // Unplugged for 3 s: the slate carries on, the camera is retried.
    std::thread::sleep(Duration::from_secs(3));
    let unplugged_tries = rebuilds.load(Ordering::SeqCst);
    assert!(
        unplugged_tries >= 2,
        "the camera is retried while unplugged ({unplugged_tries} tries)"
    );
    let replugged = Instant::now();
    plugged.store(true, Ordering::SeqCst);
    let back_after = wait_for("the camera's picture again", Duration::from_secs(5), || {
        bright(&frames, replugged) >= 5
    });
    println!(
        "camera picture back {} ms after it was plugged in again ({unplugged_tries} tries while unplugged)",
        back_after.as_millis()
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = pipeline.set_state(gst::State::Null);

    let frames = frames.lock().unwrap().clone();
    let longest_gap = frames
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    println!(
        "{} frames decoded; longest gap between frames {} ms",
        frames.len(),
        longest_gap.as_millis()
    );
    assert!(
        longest_gap < Duration::from_millis(700),
        "the stream never stops: the longest gap was {longest_gap:?}"
    );
    assert!(
        back_after < source::RETRY_EVERY + Duration::from_secs(2),
        "the camera returns within a retry: {back_after:?}"
    );
    // Slate frames are dark, not a frozen white picture.
    let slate_frames = frames.iter().filter(|(_, l)| *l < 100.0).count();
    assert!(
        slate_frames >= 3 * FPS as usize,
        "{slate_frames} slate frames"
    );
}
