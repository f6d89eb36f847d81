//! The pieces of a photo in the camera's still mode: the frozen picture
//! the stream carries meanwhile, and the still frame itself. The camera's
//! supervisor ([`super::supervise`]) runs the switch: it stops the camera,
//! holds the picture, opens the still mode, takes a frame, and opens the
//! streaming mode again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::{Source, capsfilter};
use crate::elements::{GstError, make};

/// The still mode must deliver its frame within this, counted from the
/// moment the camera is asked to start in it; otherwise the photo falls
/// back to the streaming mode's frame.
pub const STILL_FRAME_LIMIT: Duration = Duration::from_secs(4);
/// Frames skipped after the still mode starts ...
const SETTLE_FRAMES: u32 = 3;
/// ... unless this much time has passed since its first frame.
///
/// Right after a UVC camera starts streaming, and more so after a mode
/// change, its automatic exposure and white balance are still adjusting
/// from where the last mode left them, and some cameras' first frames are
/// dark, tinted or cut short (an MJPEG frame half written). A few frames
/// or half a second is enough for them to settle; whichever comes first,
/// so a slow still mode (the C920's largest picture comes at 2 fps) does
/// not hold the stream's frozen picture longer than needed.
const SETTLE_TIME: Duration = Duration::from_millis(500);

/// The last camera picture, repeated into the stream while the camera is
/// in its still mode; dropping it ends the repeat (and waits for it).
pub(super) struct HeldPicture {
    released: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HeldPicture {
    /// Repeats `picture` into the stream every `every`, while the stream
    /// runs and `frozen()` holds, until dropped.
    pub(super) fn hold(
        appsrc: gst::glib::WeakRef<gst_app::AppSrc>,
        picture: gst::Buffer,
        every: Duration,
        frozen: impl Fn() -> bool + Send + 'static,
    ) -> Self {
        let released = Arc::new(AtomicBool::new(false));
        let repeating = released.clone();
        let thread = std::thread::Builder::new()
            .name("camera-freeze".into())
            .spawn(move || {
                while !repeating.load(Ordering::Acquire) && frozen() {
                    let Some(appsrc) = appsrc.upgrade() else {
                        return;
                    };
                    if appsrc.current_state() < gst::State::Paused {
                        return;
                    }
                    super::push_untimed(&appsrc, picture.clone());
                    drop(appsrc);
                    std::thread::sleep(every);
                }
            });
        let thread = thread
            .inspect_err(|e| {
                tracing::warn!(error = %e, "could not hold the picture while the camera switches modes");
            })
            .ok();
        HeldPicture { released, thread }
    }
}

impl Drop for HeldPicture {
    fn drop(&mut self) {
        self.released.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `source` (the camera in its still mode) in a pipeline of its own
/// and returns one raw frame at the size it delivers, once the camera has
/// settled; an error says why there is none.
pub(super) fn grab_still(source: Source) -> Result<gst::Sample, GstError> {
    let pipeline = gst::Pipeline::with_name("camera-still");
    let convert = make("videoconvert")?;
    // A format the JPEG encoder takes, the camera's own where it is one
    // (YUYV stays 4:2:2): left open, videoconvert would pick its widest.
    let formats = capsfilter(
        &gst::Caps::builder("video/x-raw")
            .field(
                "format",
                gst::List::new(["I420", "NV12", "YUY2", "Y42B", "Y444"]),
            )
            .build(),
    )?;
    let sink = gst_app::AppSink::builder()
        .name("camera-still-frames")
        .sync(false)
        .max_buffers(1)
        .drop(true)
        .build();
    let chain = [source.bin.upcast(), convert, formats, sink.clone().upcast()];
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    let frame = settled_frame(&pipeline, &sink);
    // Closes the device before the streaming mode opens it again.
    let _ = pipeline.set_state(gst::State::Null);
    frame
}

fn settled_frame(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
) -> Result<gst::Sample, GstError> {
    let deadline = Instant::now() + STILL_FRAME_LIMIT;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| GstError::state_change("the camera could not be started in its still mode"))?;
    let bus = pipeline
        .bus()
        .ok_or(GstError::unexpected("the still pipeline has no bus"))?;
    let mut first_at = None;
    let mut frames = 0;
    loop {
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            return Err(match msg.view() {
                gst::MessageView::Error(err) => GstError::bus(err),
                _ => GstError::unexpected("the camera's still mode ended before it gave a frame"),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(GstError::TimedOut {
                waiting: "no frame",
                limit: STILL_FRAME_LIMIT,
            });
        }
        let wait = left.min(Duration::from_millis(100));
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_nseconds(
            u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
        )) else {
            continue;
        };
        frames += 1;
        let first = *first_at.get_or_insert_with(Instant::now);
        if frames > SETTLE_FRAMES || first.elapsed() >= SETTLE_TIME {
            return own_copy(&sample);
        }
    }
}

/// The frame with memory of its own: a raw frame straight from the driver
/// lives in the device's buffers, which are gone once it is closed.
fn own_copy(sample: &gst::Sample) -> Result<gst::Sample, GstError> {
    let buffer = sample
        .buffer()
        .ok_or(GstError::unexpected("a still frame without data"))?;
    let caps = sample
        .caps_owned()
        .ok_or(GstError::unexpected("a still frame without caps"))?;
    let copy = buffer
        .copy_deep()
        .map_err(|e| GstError::unexpected(format!("the still frame could not be copied: {e}")))?;
    Ok(gst::Sample::builder().buffer(&copy).caps(&caps).build())
}
