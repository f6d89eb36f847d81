//! Video sources: what `--source` names, built as a GStreamer bin.
//!
//! Every source is a [`gst::Bin`] with one ghost `src` pad. It delivers either
//! raw video at the configured size and rate, or (a camera that encodes H.264
//! itself) H.264 ready to be parsed and sent without re-encoding.

mod camera_photos;
pub mod camera_watch;
mod file;
mod full_size;
mod mode_switch;
mod supervised;
mod test_pattern;
mod v4l2;

pub use camera_photos::{CameraPhoto, CameraPhotoError, CameraPhotos, PhotoFrom};
pub use camera_watch::CameraState;
pub use full_size::FullSizeFrames;
pub use mode_switch::STILL_FRAME_LIMIT;
pub use supervised::{
    CameraUse, RETRY_EVERY, Rebuild, SLATE_TEXT, STALL_LIMIT, Supervised, supervise,
    supervise_with_state,
};
pub use v4l2::for_mode as camera_for_mode;

use std::path::PathBuf;

use gstreamer as gst;

use crate::elements::ElementError;
use crate::settings::VideoSettings;

pub use samsyn_config::{PhotoMode, SourceSpec};

/// What a source bin's `src` pad carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOutput {
    /// Raw video: at the configured size and frame rate once supervised
    /// ([`supervise`]); a camera's bin delivers its mode's size and rate.
    Raw,
    /// H.264 straight from the camera (parsed, not re-encoded).
    H264,
}

/// A built source: the bin and what it outputs.
#[derive(Debug)]
pub struct Source {
    /// The bin, with a ghost `src` pad.
    pub bin: gst::Bin,
    /// What comes out of it.
    pub output: SourceOutput,
}

/// A source that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A GStreamer element is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// `file:` names a file that is not there.
    #[error("video file {0} does not exist; pass --source file:<path> with an existing video file")]
    FileMissing(PathBuf),
    /// `file:` names something that is not a readable regular file.
    #[error("video file {path} cannot be read: {cause}; pass a readable video file")]
    FileUnreadable {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be read.
        cause: String,
    },
    /// The camera could not be opened or offers no usable mode.
    #[error("{0}")]
    Camera(String),
    /// Linking or configuring the bin failed.
    #[error("could not assemble the {source_kind} source: {cause}")]
    Assemble {
        /// Which source.
        source_kind: &'static str,
        /// What failed.
        cause: String,
    },
}

impl SourceError {
    pub(crate) fn assemble(source_kind: &'static str, cause: impl std::fmt::Display) -> Self {
        SourceError::Assemble {
            source_kind,
            cause: cause.to_string(),
        }
    }
}

/// Builds the source bin for `spec`.
///
/// `allow_native_h264` lets a camera that encodes H.264 itself deliver it
/// untouched (only sensible when the stream is H.264).
///
/// A recording keeps its newest frame at its own size in `full_size` (for
/// still photos); the other sources have larger pictures of their own.
pub fn build(
    spec: &SourceSpec,
    video: &VideoSettings,
    allow_native_h264: bool,
    full_size: &FullSizeFrames,
) -> Result<Source, SourceError> {
    match spec {
        SourceSpec::Test => test_pattern::build(video),
        SourceSpec::V4l2(device) => v4l2::build(device.as_deref(), video, allow_native_h264),
        SourceSpec::File(path) => file::build(path, video, full_size),
    }
}

/// Builds the camera of `spec` in its still mode (its largest picture),
/// delivering raw video at that size; only a V4L2 camera has one.
pub fn build_still(spec: &SourceSpec) -> Result<Source, SourceError> {
    match spec {
        SourceSpec::V4l2(device) => v4l2::build_still(device.as_deref()),
        SourceSpec::Test | SourceSpec::File(_) => Err(SourceError::Camera(
            "only a camera has a still mode".to_owned(),
        )),
    }
}

/// Adds `elements` to `bin`, links them in order and ghosts the last one's
/// `src` pad as the bin's `src`.
pub(crate) fn assemble_chain(
    bin: &gst::Bin,
    elements: &[gst::Element],
    source_kind: &'static str,
) -> Result<(), SourceError> {
    use gst::prelude::*;
    bin.add_many(elements)
        .map_err(|e| SourceError::assemble(source_kind, e))?;
    gst::Element::link_many(elements).map_err(|e| SourceError::assemble(source_kind, e))?;
    let last = elements
        .last()
        .ok_or_else(|| SourceError::assemble(source_kind, "no elements"))?;
    let pad = last
        .static_pad("src")
        .ok_or_else(|| SourceError::assemble(source_kind, "last element has no src pad"))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)
        .map_err(|e| SourceError::assemble(source_kind, e))?
        .name("src")
        .build();
    bin.add_pad(&ghost)
        .map_err(|e| SourceError::assemble(source_kind, e))?;
    Ok(())
}

/// A capsfilter element.
/// The entry for frames that another pipeline produces (a decoder, a
/// supervised camera): live, stamped with this pipeline's clock on arrival,
/// and never behind: a frame the encoder has not taken yet is replaced by
/// the next one. See [`push_untimed`].
pub(crate) fn frames_from_elsewhere(name: &str) -> gstreamer_app::AppSrc {
    gstreamer_app::AppSrc::builder()
        .name(name)
        .is_live(true)
        .format(gst::Format::Time)
        .do_timestamp(true)
        .max_buffers(2)
        .leaky_type(gstreamer_app::AppLeakyType::Downstream)
        .block(false)
        .build()
}

/// Pushes a buffer from another pipeline into `appsrc` without its
/// timestamps: they belong to the other pipeline's clock, and the appsrc
/// (live, `do-timestamp`) stamps it on arrival in its own.
pub(crate) fn push_untimed(appsrc: &gstreamer_app::AppSrc, mut buffer: gst::Buffer) {
    {
        let buffer = buffer.make_mut();
        buffer.set_pts(gst::ClockTime::NONE);
        buffer.set_dts(gst::ClockTime::NONE);
    }
    // Flushing only means the receiving pipeline is stopping.
    let _ = appsrc.push_buffer(buffer);
}

pub(crate) fn capsfilter(caps: &gst::Caps) -> Result<gst::Element, ElementError> {
    use gst::prelude::*;
    let filter = crate::elements::make("capsfilter")?;
    filter.set_property("caps", caps);
    Ok(filter)
}

/// A queue that holds at most one frame and drops the older one when the
/// next stage is busy: a late frame is worth less than a current one.
pub(crate) fn leaky_queue(name: &str) -> Result<gst::Element, ElementError> {
    use gst::prelude::*;
    let queue = crate::elements::make_named("queue", Some(name))?;
    queue.set_property("max-size-buffers", 1u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    crate::elements::set_property_str(&queue, "leaky", "downstream")?;
    Ok(queue)
}
