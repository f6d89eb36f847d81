//! Still photos for the patient record: a JPEG at the largest size the
//! source offers (not the stream's size), encoded by a pipeline of its own
//! while the live stream goes on, and sent to the gateway over HTTPS.
//!
//! The JPEG carries its capture time in its EXIF (`DateTimeOriginal`, local
//! time); the upload also sends it as `Samsyn-Captured-At`.
//!
//! The test source acts as a camera whose largest size is
//! [`TEST_STILL_WIDTH`]x[`TEST_STILL_HEIGHT`]. A recording gives the frame
//! on screen at the recording's own size (the stream is scaled from it; see
//! [`FullSizeFrames`]). A V4L2 camera's supervisor, which owns the camera,
//! switches it to its largest mode for one frame while the stream shows
//! the last picture, frozen; with `photo_mode = stream`, or when the
//! switch fails, the photo is the camera's newest frame at the size it
//! delivers it, before the stream's scaling ([`CameraPhotos`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_config::SourceSpec;
use url::Url;

use crate::elements::{self, ElementError};
use crate::source::{CameraPhotoError, CameraPhotos, FullSizeFrames};

/// The test source's largest still size: larger than any stream size the
/// daemon sends by default (1280x720), as a camera's still mode is.
pub const TEST_STILL_WIDTH: u32 = 2560;
pub const TEST_STILL_HEIGHT: u32 = 1440;
/// JPEG quality of stills: for a patient record, detail over size.
const JPEG_QUALITY: i32 = 92;
/// Time a still pipeline may take before it is given up.
const STILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where stills come from.
#[derive(Debug, Clone)]
pub enum StillSource {
    /// The test pattern at the given size.
    TestPattern { width: u32, height: u32 },
    /// A recording's newest frame at its own size.
    Recording(FullSizeFrames),
    /// The camera's frame, from its supervisor.
    Camera(CameraPhotos),
    /// This source cannot give stills (yet); the text says why.
    Unsupported(&'static str),
}

impl StillSource {
    /// The still source that goes with the live `--source`; `frames` is
    /// where a recording keeps its newest full-size frame, `camera` the
    /// camera's photo handle (`None` when the camera's own H.264 is sent).
    pub fn for_source(
        source: &SourceSpec,
        frames: &FullSizeFrames,
        camera: Option<&CameraPhotos>,
    ) -> Self {
        match (source, camera) {
            (SourceSpec::Test, _) => StillSource::TestPattern {
                width: TEST_STILL_WIDTH,
                height: TEST_STILL_HEIGHT,
            },
            (SourceSpec::V4l2(_), Some(camera)) => StillSource::Camera(camera.clone()),
            (SourceSpec::V4l2(_), None) => StillSource::Unsupported(
                "photos are not supported while the camera's own H.264 is sent as it is \
                 (no decoded picture to take them from); run with --codec vp8 for photos",
            ),
            (SourceSpec::File(_), _) => StillSource::Recording(frames.clone()),
        }
    }
}

/// A taken still.
#[derive(Clone, PartialEq, Eq)]
pub struct Still {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Milliseconds since the Unix epoch, when the frame was taken.
    pub captured_at_ms: u64,
}

impl std::fmt::Debug for Still {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Still")
            .field("bytes", &self.jpeg.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// Why no still was taken or delivered.
#[derive(Debug, thiserror::Error)]
pub enum StillError {
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Camera(#[from] CameraPhotoError),
    #[error(transparent)]
    Element(#[from] ElementError),
    #[error("the still pipeline failed: {0}")]
    Pipeline(String),
    #[error("the gateway did not take the photo: {0}")]
    Upload(String),
}

/// Takes one still (blocking: run it off the async threads).
pub fn take(source: &StillSource) -> Result<Still, StillError> {
    match source {
        StillSource::TestPattern { width, height } => {
            let source = elements::make("videotestsrc")?;
            source.set_property("num-buffers", 1i32);
            elements::set_property_str(&source, "pattern", "smpte")?;
            let caps = elements::make("capsfilter")?;
            caps.set_property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("width", i32::try_from(*width).unwrap_or(i32::MAX))
                    .field("height", i32::try_from(*height).unwrap_or(i32::MAX))
                    .build(),
            );
            encode(&[source, caps], (*width, *height), SystemTime::now())
        }
        StillSource::Recording(frames) => {
            let frame = frames.latest().ok_or(StillError::Unsupported(
                "the recording has not shown a picture yet; ask again in a moment",
            ))?;
            // The newest frame shown: at most one frame old.
            encode_frame(&frame, SystemTime::now())
        }
        StillSource::Camera(camera) => {
            let photo = camera.take().map_err(StillError::Camera)?;
            encode_frame(&photo.frame, photo.taken_at)
        }
        StillSource::Unsupported(why) => Err(StillError::Unsupported(why)),
    }
}

/// A raw frame (with its caps) as a JPEG with its capture time.
fn encode_frame(frame: &gst::Sample, captured_at: SystemTime) -> Result<Still, StillError> {
    let caps = frame
        .caps_owned()
        .ok_or_else(|| StillError::Pipeline("a frame without caps".to_owned()))?;
    let size = gstreamer_video::VideoInfo::from_caps(&caps)
        .map(|info| (info.width(), info.height()))
        .map_err(|e| StillError::Pipeline(format!("a frame of unknown size: {e}")))?;
    let source = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .build();
    if let Some(buffer) = frame.buffer_owned() {
        source
            .push_buffer(buffer)
            .map_err(|e| StillError::Pipeline(e.to_string()))?;
    }
    source
        .end_of_stream()
        .map_err(|e| StillError::Pipeline(e.to_string()))?;
    encode(&[source.upcast()], size, captured_at)
}

/// One picture from `head` (elements producing exactly one raw frame of
/// `width`x`height`) as a JPEG with `captured_at` as its capture time.
fn encode(
    head: &[gst::Element],
    (width, height): (u32, u32),
    captured_at: SystemTime,
) -> Result<Still, StillError> {
    let pipeline_error = |e: &dyn std::fmt::Display| StillError::Pipeline(e.to_string());
    let pipeline = gst::Pipeline::with_name("still");
    let convert = elements::make("videoconvert")?;
    let encoder = elements::make("jpegenc")?;
    encoder.set_property("quality", JPEG_QUALITY);
    // jifmux writes the capture time into the file's EXIF (DateTimeOriginal),
    // so it stays with the photo in the patient record.
    let muxer = elements::make("jifmux")?;
    let captured_at_ms = captured_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if let Some(setter) = muxer.dynamic_cast_ref::<gst::TagSetter>()
        && let Ok(time) = gst::DateTime::from_unix_epoch_local_time(
            i64::try_from(captured_at_ms / 1000).unwrap_or(0),
        )
    {
        setter.add_tag::<gst::tags::DateTime>(&time, gst::TagMergeMode::Replace);
    }
    let sink = gst_app::AppSink::builder().sync(false).build();
    let chain: Vec<&gst::Element> = head
        .iter()
        .chain([&convert, &encoder, &muxer, sink.upcast_ref()])
        .collect();
    pipeline
        .add_many(chain.iter().copied())
        .map_err(|e| pipeline_error(&e))?;
    gst::Element::link_many(chain.iter().copied()).map_err(|e| pipeline_error(&e))?;

    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| pipeline_error(&e))?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(STILL_TIMEOUT.as_secs()));
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.ok_or_else(|| {
        StillError::Pipeline(format!("no picture within {} s", STILL_TIMEOUT.as_secs()))
    })?;
    let buffer = sample
        .buffer()
        .ok_or_else(|| StillError::Pipeline("an empty picture".to_owned()))?;
    let map = buffer.map_readable().map_err(|e| pipeline_error(&e))?;
    Ok(Still {
        jpeg: map.as_slice().to_vec(),
        width,
        height,
        captured_at_ms,
    })
}

/// `POST <gateway>/api/rooms/{room}/photos`.
pub fn upload_url(gateway: &Url, room: &str) -> Option<Url> {
    super::gateway_path(gateway, &["api", "rooms", room, "photos"])
}

/// Sends `still` to the gateway with the publisher token.
pub async fn upload(
    http: &reqwest::Client,
    url: &Url,
    token: &str,
    still: Still,
) -> Result<(), StillError> {
    let response = http
        .post(url.clone())
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
        .header("Samsyn-Captured-At", still.captured_at_ms.to_string())
        .body(still.jpeg)
        .send()
        .await
        .map_err(|e| StillError::Upload(e.to_string()))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Err(StillError::Upload(format!(
        "{status} {}: {}",
        body["error"].as_str().unwrap_or("error"),
        body["message"].as_str().unwrap_or("no details")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_pattern_still_is_a_jpeg_at_the_still_size() {
        gst::init().unwrap();
        let frames = FullSizeFrames::default();
        let still = take(&StillSource::for_source(&SourceSpec::Test, &frames, None)).unwrap();
        assert_eq!(
            (still.width, still.height),
            (TEST_STILL_WIDTH, TEST_STILL_HEIGHT)
        );
        assert_eq!(&still.jpeg[..2], &[0xFF, 0xD8], "starts like a JPEG");
        assert!(still.jpeg.len() > 10_000, "{} bytes", still.jpeg.len());
        // The capture time is in the EXIF, as "YYYY:MM:DD HH:MM:SS" (local time).
        let exif = String::from_utf8_lossy(&still.jpeg[..still.jpeg.len().min(4096)]).into_owned();
        assert!(exif.contains("Exif"), "an EXIF segment");
        let t = gst::DateTime::from_unix_epoch_local_time(
            i64::try_from(still.captured_at_ms / 1000).unwrap(),
        )
        .unwrap();
        let stamp = format!(
            "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month().unwrap(),
            t.day().unwrap(),
            t.hour().unwrap(),
            t.minute().unwrap(),
            t.second().unwrap()
        );
        assert!(
            exif.contains(&stamp),
            "the capture time {stamp} in the EXIF"
        );
        // A camera whose own H.264 is sent: nothing decoded to take it from.
        assert!(matches!(
            take(&StillSource::for_source(
                &SourceSpec::V4l2(None),
                &frames,
                None
            )),
            Err(StillError::Unsupported(_))
        ));
    }

    #[test]
    fn a_recording_that_has_shown_nothing_yet_says_so() {
        gst::init().unwrap();
        let recording = SourceSpec::File("/nonexistent/visit.mp4".into());
        let err = take(&StillSource::for_source(
            &recording,
            &FullSizeFrames::default(),
            None,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("ask again in a moment"), "{err}");
    }
}
