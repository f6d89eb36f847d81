//! A stand-in for the head camera, and the stream behind its supervisor.
//!
//! There is no camera on a build machine. The stand-in is a live
//! `videotestsrc` delivering raw video at the size of a camera mode, as the
//! V4L2 camera bin does; the supervised stream then goes through the real
//! encoder and decoder, and every decoded frame's time and brightness is
//! recorded: the stand-ins are white, the "camera disconnected" slate dark
//! grey.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_capture::elements;
use samsyn_capture::source::{Source, SourceError, SourceOutput};

/// A live picture of `width`x`height` at `fps`, in `pattern`
/// (`videotestsrc`'s), ending after `frames` frames (0: never).
pub fn camera(
    width: u32,
    height: u32,
    fps: u32,
    pattern: &str,
    frames: i32,
) -> Result<Source, SourceError> {
    let src = elements::make("videotestsrc")?;
    src.set_property("is-live", true);
    elements::set_property_str(&src, "pattern", pattern)?;
    if frames > 0 {
        src.set_property("num-buffers", frames);
    }
    let caps = elements::make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(fps as i32, 1))
            .build(),
    );
    Ok(raw_source("stand-in-camera", &[src, caps]))
}

/// `elements`, linked in order, as a raw source bin named `name`.
pub fn raw_source(name: &str, elements: &[gst::Element]) -> Source {
    let bin = gst::Bin::with_name(name);
    bin.add_many(elements).unwrap();
    gst::Element::link_many(elements).unwrap();
    let last = elements.last().expect("at least one element");
    let ghost = gst::GhostPad::builder_with_target(&last.static_pad("src").unwrap())
        .unwrap()
        .name("src")
        .build();
    bin.add_pad(&ghost).unwrap();
    Source {
        bin,
        output: SourceOutput::Raw,
    }
}

/// (when, mean luma) of every decoded frame.
pub type Frames = Arc<Mutex<Vec<(Instant, f64)>>>;

/// supervised source (`width`x`height`) → x264 → decoder → appsink
/// measuring brightness.
pub fn run_pipeline(source: Source, width: u32, height: u32) -> (gst::Pipeline, Frames) {
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
    let luma_bytes = (width * height) as usize;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                // The luma plane is at the start.
                let luma = &map[..luma_bytes];
                let mean = luma.iter().map(|&v| f64::from(v)).sum::<f64>() / luma.len() as f64;
                seen.lock().unwrap().push((Instant::now(), mean));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let chain = [
        source.bin.upcast_ref::<gst::Element>(),
        encode.upcast_ref(),
        sink.upcast_ref(),
    ];
    pipeline.add_many(chain).unwrap();
    gst::Element::link_many(chain).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, frames)
}

/// Frames after `after` brighter than mid-grey (the stand-ins).
pub fn bright(frames: &Frames, after: Instant) -> usize {
    frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t > after && *l > 128.0)
        .count()
}

/// Frames after `after` darker than mid-grey (the slate).
pub fn dark(frames: &Frames, after: Instant) -> usize {
    frames
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t > after && *l < 100.0)
        .count()
}

/// Stops the pipeline; prints and returns the decoded frames and the
/// longest gap between two of them.
pub fn stop(pipeline: &gst::Pipeline, frames: &Frames) -> (Vec<(Instant, f64)>, Duration) {
    let _ = pipeline.set_state(gst::State::Null);
    let frames = frames.lock().unwrap().clone();
    let gap = longest_gap(&frames);
    println!(
        "{} frames decoded; longest gap between frames {} ms",
        frames.len(),
        gap.as_millis()
    );
    (frames, gap)
}

/// The longest time between two decoded frames.
pub fn longest_gap(frames: &[(Instant, f64)]) -> Duration {
    frames
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default()
}

/// Waits until `ready`, panicking after `timeout`; returns how long it took.
pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen within {timeout:?}");
}
