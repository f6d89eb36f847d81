//! `--source file:<path>`: a video file played as if it were a live camera.
//!
//! The file is decoded in a small pipeline of its own, paced by its clock
//! (`appsink sync=true`) and looped with a flushing seek on end-of-stream.
//! Frames cross into the main pipeline through a live `appsrc` that stamps
//! them with the main pipeline's running time. Keeping the seek inside the
//! private pipeline means it never flushes the encoder or webrtcbin, and the
//! main pipeline sees one continuous live stream across loops.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::{Source, SourceError, SourceOutput, assemble_chain, capsfilter};
use crate::elements::{make, require_all};
use crate::settings::VideoSettings;

const KIND: &str = "file";

pub(super) fn build(
    path: &Path,
    video: &VideoSettings,
    full_size: &super::FullSizeFrames,
) -> Result<Source, SourceError> {
    let path = check_file(path)?;
    require_all(&[
        "uridecodebin",
        "videoconvert",
        "videoscale",
        "videorate",
        "appsink",
        "appsrc",
    ])?;

    let decoder = Decoder::build(&path, video)?;
    full_size.keep_from(&decoder.full_size_pad);

    let appsrc = super::frames_from_elsewhere("file-appsrc");

    // The decoder's output already has the configured caps; the filter makes
    // the contract explicit for the elements downstream.
    let caps = capsfilter(&video.raw_caps())?;

    let bin = gst::Bin::with_name("source-file");
    assemble_chain(&bin, &[appsrc.clone().upcast(), caps], KIND)?;

    let frames = Arc::new(AtomicU64::new(0));
    forward_frames(&decoder.sink, &appsrc, frames.clone());
    spawn_loop_thread(decoder.pipeline, appsrc.downgrade(), path, frames);

    Ok(Source {
        bin,
        output: SourceOutput::Raw,
    })
}

/// Resolves the path and checks it is a readable file, so a typo gets a
/// message about the path rather than a decoder error.
fn check_file(path: &Path) -> Result<PathBuf, SourceError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(SourceError::FileMissing(path.to_owned()))
        }
        Err(e) => Err(SourceError::FileUnreadable {
            path: path.to_owned(),
            cause: e.to_string(),
        }),
        Ok(meta) if !meta.is_file() => Err(SourceError::FileUnreadable {
            path: path.to_owned(),
            cause: "it is not a regular file".into(),
        }),
        Ok(_) => path
            .canonicalize()
            .map_err(|e| SourceError::FileUnreadable {
                path: path.to_owned(),
                cause: e.to_string(),
            }),
    }
}

/// The private decode pipeline: file → raw video at the configured size and
/// rate → appsink paced by the clock.
struct Decoder {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    /// Where frames pass at the file's own size (converted, not yet scaled).
    full_size_pad: gst::Pad,
}

impl Decoder {
    fn build(path: &Path, video: &VideoSettings) -> Result<Self, SourceError> {
        let uri = url::Url::from_file_path(path)
            .map_err(|()| SourceError::FileUnreadable {
                path: path.to_owned(),
                cause: "the path cannot be expressed as a file URI".into(),
            })?
            .to_string();

        let decode = make("uridecodebin")?;
        decode.set_property("uri", &uri);
        // Only the video stream is decoded; audio tracks in the file are
        // discarded rather than left dangling.
        let video_only =
            gst::Caps::from_str("video/x-raw(ANY)").map_err(|e| SourceError::assemble(KIND, e))?;
        decode.set_property("caps", &video_only);
        decode.set_property("expose-all-streams", false);

        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        let rate = make("videorate")?;
        let caps = capsfilter(&video.fixed_raw_caps())?;
        let sink = gst_app::AppSink::builder()
            .name("file-decoded")
            .sync(true)
            .max_buffers(1)
            .drop(true)
            .build();

        let pipeline = gst::Pipeline::with_name("file-decoder");
        let tail = [convert, scale, rate, caps, sink.clone().upcast()];
        pipeline
            .add(&decode)
            .map_err(|e| SourceError::assemble(KIND, e))?;
        pipeline
            .add_many(&tail)
            .map_err(|e| SourceError::assemble(KIND, e))?;
        gst::Element::link_many(&tail).map_err(|e| SourceError::assemble(KIND, e))?;

        let convert_sink = tail[0]
            .static_pad("sink")
            .ok_or_else(|| SourceError::assemble(KIND, "videoconvert has no sink pad"))?;
        decode.connect_pad_added(move |_, pad| {
            if convert_sink.is_linked() {
                return;
            }
            if let Err(e) = pad.link(&convert_sink) {
                tracing::warn!(error = ?e, "could not link the decoded video stream");
            }
        });

        let full_size_pad = tail[1]
            .static_pad("sink")
            .ok_or_else(|| SourceError::assemble(KIND, "videoscale has no sink pad"))?;
        Ok(Self {
            pipeline,
            sink,
            full_size_pad,
        })
    }
}

/// Hands every decoded frame to the live `appsrc`, without its file
/// timestamps: the `appsrc` stamps it with the main pipeline's clock.
fn forward_frames(sink: &gst_app::AppSink, appsrc: &gst_app::AppSrc, frames: Arc<AtomicU64>) {
    let appsrc = appsrc.downgrade();
    let mut caps_set = false;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                frames.fetch_add(1, Ordering::Relaxed);
                let Some(appsrc) = appsrc.upgrade() else {
                    return Err(gst::FlowError::Flushing);
                };
                if !caps_set {
                    appsrc.set_caps(sample.caps().map(|c| c.to_owned()).as_ref());
                    caps_set = true;
                }
                // When the main pipeline stops, the loop thread notices and
                // shuts the decoder down.
                if let Some(buffer) = sample.buffer_owned() {
                    super::push_untimed(&appsrc, buffer);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// Runs the private pipeline alongside the main one: starts it once the
/// `appsrc` is running, seeks back to the start on end-of-stream, forwards
/// errors to the main pipeline's bus, and stops when the main pipeline does.
fn spawn_loop_thread(
    pipeline: gst::Pipeline,
    appsrc: gst::glib::WeakRef<gst_app::AppSrc>,
    path: PathBuf,
    frames: Arc<AtomicU64>,
) {
    let spawned = thread::Builder::new()
        .name("file-source".into())
        .spawn(move || run_loop(&pipeline, &appsrc, &path, &frames));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the file source thread");
    }
}

fn run_loop(
    pipeline: &gst::Pipeline,
    appsrc: &gst::glib::WeakRef<gst_app::AppSrc>,
    path: &Path,
    frames: &AtomicU64,
) {
    let Some(bus) = pipeline.bus() else { return };
    let mut started = false;
    let mut loops: u64 = 0;
    let mut frames_at_last_loop = 0;
    loop {
        let Some(src) = appsrc.upgrade() else { break };
        let main_running = src.current_state() >= gst::State::Paused;
        if !started && main_running {
            if pipeline.set_state(gst::State::Playing).is_err() {
                post_error(&src, path, "the file could not be opened for playback");
                break;
            }
            started = true;
        } else if started && !main_running {
            break;
        }
        drop(src);

        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                let frames_now = frames.load(Ordering::Relaxed);
                if frames_now == frames_at_last_loop {
                    // Seeking back would only spin: there is nothing to play.
                    if let Some(src) = appsrc.upgrade() {
                        post_error(&src, path, "it contains no video frames");
                    }
                    break;
                }
                frames_at_last_loop = frames_now;
                loops += 1;
                tracing::debug!(loops, file = %path.display(), "file source reached its end; looping");
                let seek = pipeline.seek_simple(
                    gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                    gst::ClockTime::ZERO,
                );
                if seek.is_err() {
                    if let Some(src) = appsrc.upgrade() {
                        post_error(&src, path, "the file cannot be seeked back to its start");
                    }
                    break;
                }
            }
            gst::MessageView::Error(err) => {
                if let Some(src) = appsrc.upgrade()
                    && src.current_state() >= gst::State::Paused
                {
                    post_error(&src, path, &err.error().to_string());
                }
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
}

fn post_error(appsrc: &gst_app::AppSrc, path: &Path, what: &str) {
    gst::element_error!(
        appsrc,
        gst::ResourceError::Read,
        (
            "video file {} cannot be played: {what}; check it is a video GStreamer can decode (gst-discoverer-1.0 {})",
            path.display(),
            path.display()
        )
    );
}
