//! The self-view: the picture as it goes to the encoder, a few times a
//! second as a small JPEG, for the nurse to aim her head camera by.
//!
//! A buffer probe at the encoder's input copies one frame every
//! [`INTERVAL`] (a copy, so the camera's buffer pool is never held); a
//! pipeline of its own scales it to [`WIDTH`] pixels wide and encodes it.
//! The live path gains one copy every quarter second and nothing else: no
//! tee, no second encode of the stream, no second upload.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::elements::{self, ElementError};

/// How often a frame is taken.
pub const INTERVAL: Duration = Duration::from_millis(250);
/// The self-view's width in pixels (height follows the picture).
pub const WIDTH: i32 = 480;
/// JPEG quality: enough to aim a camera by.
const QUALITY: i32 = 70;
/// The element whose output is the picture the encoder gets.
const TAP: &str = "encoder-input";

/// The newest frame the probe copied, not yet encoded.
type Pending = Arc<Mutex<Option<gst::Sample>>>;

/// Copies frames off the live path and encodes them to JPEG.
pub struct SelfView {
    pending: Pending,
    encoder: Encoder,
    probe: Option<(gst::Pad, gst::PadProbeId)>,
}

impl SelfView {
    /// Taps `pipeline`'s encoder input; `None` when it has none (the
    /// camera's own H.264 is sent as it comes).
    pub fn attach(pipeline: &gst::Pipeline) -> Result<Option<Self>, ElementError> {
        let Some(pad) = pipeline.by_name(TAP).and_then(|e| e.static_pad("src")) else {
            return Ok(None);
        };
        let pending: Pending = Arc::default();
        let slot = pending.clone();
        let last: Mutex<Option<Instant>> = Mutex::new(None);
        let probe = pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < INTERVAL) {
                return gst::PadProbeReturn::Ok;
            }
            if let Some(buffer) = info.buffer()
                && let Some(caps) = pad.current_caps()
            {
                *last = Some(Instant::now());
                let copy = buffer.copy_deep().unwrap_or_else(|_| buffer.copy());
                let sample = gst::Sample::builder().buffer(&copy).caps(&caps).build();
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(sample);
            }
            gst::PadProbeReturn::Ok
        });
        Ok(Some(Self {
            pending,
            encoder: Encoder::start()?,
            probe: probe.map(|id| (pad, id)),
        }))
    }

    /// The newest frame as a JPEG, if one came since the last call.
    /// Blocking (it waits for the encoder): call it off the async threads.
    pub fn next_jpeg(&self) -> Option<Vec<u8>> {
        let sample = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        self.encoder.encode(&sample)
    }
}

impl Drop for SelfView {
    fn drop(&mut self) {
        if let Some((pad, id)) = self.probe.take() {
            pad.remove_probe(id);
        }
    }
}

/// appsrc ─▶ videoconvert ─▶ videoscale ─▶ WIDTH wide ─▶ jpegenc ─▶ appsink
struct Encoder {
    pipeline: gst::Pipeline,
    source: gst_app::AppSrc,
    sink: gst_app::AppSink,
}

impl Encoder {
    fn start() -> Result<Self, ElementError> {
        let pipeline = gst::Pipeline::with_name("self-view");
        let source = gst_app::AppSrc::builder()
            .format(gst::Format::Time)
            .is_live(false)
            .build();
        let convert = elements::make("videoconvert")?;
        let scale = elements::make("videoscale")?;
        let size = elements::make("capsfilter")?;
        size.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", WIDTH)
                .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                .build(),
        );
        let jpeg = elements::make("jpegenc")?;
        jpeg.set_property("quality", QUALITY);
        let sink = gst_app::AppSink::builder()
            .sync(false)
            .max_buffers(1)
            .drop(true)
            .build();
        let chain = [
            source.upcast_ref(),
            &convert,
            &scale,
            &size,
            &jpeg,
            sink.upcast_ref(),
        ];
        let broken = |e: &dyn std::fmt::Display| ElementError::Broken {
            factory: "self-view".to_owned(),
            cause: e.to_string(),
        };
        pipeline.add_many(chain).map_err(|e| broken(&e))?;
        gst::Element::link_many(chain).map_err(|e| broken(&e))?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| broken(&e))?;
        Ok(Self {
            pipeline,
            source,
            sink,
        })
    }

    fn encode(&self, sample: &gst::Sample) -> Option<Vec<u8>> {
        let caps = sample.caps_owned()?;
        if self.source.caps().as_ref() != Some(&caps) {
            self.source.set_caps(Some(&caps));
        }
        let mut buffer = sample.buffer_owned()?;
        // Each frame stands alone: no timestamps to wait for.
        {
            let buffer = buffer.make_mut();
            buffer.set_pts(gst::ClockTime::NONE);
            buffer.set_dts(gst::ClockTime::NONE);
        }
        self.source.push_buffer(buffer).ok()?;
        let jpeg = self.sink.try_pull_sample(gst::ClockTime::from_seconds(1))?;
        let map = jpeg.buffer()?.map_readable().ok()?;
        Some(map.as_slice().to_vec())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
