//! An unplugged camera: the stream goes on with a "camera disconnected"
//! slate, and the camera's picture comes back by itself when the camera
//! does, without restarting anything.
//!
//! There is no camera on a build machine. The stand-in ([`stand_in`])
//! behaves as a UVC camera does to GStreamer: while plugged it streams (a
//! white picture); an unplug ends its stream (here after a set number of
//! frames; v4l2src posts an error instead, which the supervisor treats the
//! same way); while it is unplugged, building it fails as opening a missing
//! device does. The frames then go through the real encoder and decoder,
//! and the test reads the brightness of what comes out: white is the
//! camera, dark grey the slate.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::stand_in::{self, bright, dark, run_pipeline, wait_for};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{self, Source, SourceError};

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

/// The stand-in camera: a live white picture at the stream's size, ending
/// after `frames` frames (0: never).
fn white_camera(frames: i32) -> Result<Source, SourceError> {
    stand_in::camera(320, 240, FPS, "white", frames)
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
        Box::new(move |_| {
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
    let supervised = source::supervise(first, &video(), rebuild, None).unwrap();
    let started = Instant::now();
    let (pipeline, frames) = run_pipeline(supervised, 320, 240);

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
    let (frames, longest_gap) = stand_in::stop(&pipeline, &frames);
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
