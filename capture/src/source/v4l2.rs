//! `--source v4l2[:/dev/videoN]`: the head camera.
//!
//! The camera module picks the device mode; this builds the GStreamer side
//! for it. MJPEG is decoded and raw YUYV/NV12 is passed on, at the mode's
//! size: the supervisor ([`super::supervise`]) converts and scales it to the
//! stream's size and keeps the camera's own size for photos. H.264 from the
//! camera itself is passed through untouched when the stream is H.264 (no
//! second encode, no extra latency).

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::{Source, SourceError, SourceOutput, assemble_chain, capsfilter, leaky_queue};
use crate::camera::{
    CameraMode, ModeRequest, PixelFormat, choose_still_mode, open_camera, pick_mode,
};
use crate::elements::make;
use crate::settings::VideoSettings;

const KIND: &str = "v4l2";

pub(super) fn build(
    device: Option<&Path>,
    video: &VideoSettings,
    allow_native_h264: bool,
) -> Result<Source, SourceError> {
    let (info, formats) = open_camera(device).map_err(|e| SourceError::Camera(e.to_string()))?;
    let request = ModeRequest {
        width: video.width,
        height: video.height,
        fps: video.fps,
        prefer_native_h264: allow_native_h264,
    };
    let mode: CameraMode =
        pick_mode(&formats, &request).map_err(|e| SourceError::Camera(e.to_string()))?;
    tracing::info!(
        device = %info.path.display(),
        camera = %info.card,
        %mode,
        "camera mode chosen"
    );
    for_mode(&info.path, &mode, allow_native_h264)
}

/// Builds the camera bin in its still mode (the largest picture it
/// offers), delivering raw video at that size.
pub(super) fn build_still(device: Option<&Path>) -> Result<Source, SourceError> {
    let (info, formats) = open_camera(device).map_err(|e| SourceError::Camera(e.to_string()))?;
    let mode = choose_still_mode(&formats).map_err(|e| SourceError::Camera(e.to_string()))?;
    tracing::info!(device = %info.path.display(), %mode, "camera still mode chosen");
    for_mode(&info.path, &mode, false)
}

/// Builds the camera bin for a mode already chosen: capture in that mode,
/// then decode to raw video at the mode's size, or pass H.264 on.
pub fn for_mode(
    device: &Path,
    mode: &CameraMode,
    allow_native_h264: bool,
) -> Result<Source, SourceError> {
    let src = make("v4l2src")?;
    src.set_property("device", device.to_string_lossy().as_ref());
    src.set_property("do-timestamp", true);

    let (camera_caps, output) = match &mode.format {
        PixelFormat::Mjpeg => (mode_caps("image/jpeg", mode, None), SourceOutput::Raw),
        PixelFormat::Yuyv => (
            mode_caps("video/x-raw", mode, Some("YUY2")),
            SourceOutput::Raw,
        ),
        PixelFormat::Nv12 => (
            mode_caps("video/x-raw", mode, Some("NV12")),
            SourceOutput::Raw,
        ),
        PixelFormat::H264 if allow_native_h264 => {
            (mode_caps("video/x-h264", mode, None), SourceOutput::H264)
        }
        PixelFormat::H264 => (mode_caps("video/x-h264", mode, None), SourceOutput::Raw),
        PixelFormat::Other(fourcc) => {
            return Err(SourceError::Camera(format!(
                "the chosen mode of {} has pixel format {fourcc}, which this program cannot \
                 use; pick another camera with --source v4l2:/dev/videoN",
                device.display()
            )));
        }
    };

    let mut chain = vec![src, capsfilter(&camera_caps)?];
    // Right behind the camera: if decoding falls behind, the older camera
    // frame is dropped instead of the driver's ring filling with stale ones.
    // Not for H.264, where each frame depends on the ones before it.
    if mode.format != PixelFormat::H264 {
        chain.push(leaky_queue("camera-queue")?);
    }
    match (&mode.format, output) {
        (PixelFormat::H264, SourceOutput::H264) => {
            let parse = make("h264parse")?;
            parse.set_property("config-interval", -1i32);
            chain.push(parse);
        }
        // Raw at the mode's size and rate; the supervisor scales and
        // rate-adapts it to exactly what was configured.
        (PixelFormat::Mjpeg, _) => chain.push(make("jpegdec")?),
        (PixelFormat::H264, _) => {
            chain.push(make("h264parse")?);
            chain.push(make("avdec_h264")?);
        }
        _ => {}
    }

    let bin = gst::Bin::with_name("source-v4l2");
    assemble_chain(&bin, &chain, KIND)?;
    Ok(Source { bin, output })
}

fn mode_caps(media: &str, mode: &CameraMode, format: Option<&str>) -> gst::Caps {
    let mut builder = gst::Caps::builder(media)
        .field("width", mode.width as i32)
        .field("height", mode.height as i32)
        .field(
            "framerate",
            gst::Fraction::new(mode.fps_num as i32, mode.fps_den as i32),
        );
    if let Some(format) = format {
        builder = builder.field("format", format);
    }
    builder.build()
}
