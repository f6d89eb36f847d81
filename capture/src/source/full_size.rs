//! The newest frame at the source's own size, before it is scaled to the
//! stream's: what a still photo is taken from when the source cannot be
//! asked for a larger picture (a recording played as a camera).
//!
//! Keeping it costs a reference to a buffer the source decoded anyway: no
//! copy, no encoding until a photo is asked for.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

/// Shared between the source (which stores) and the photo taker (which
/// reads); survives the source being rebuilt.
#[derive(Debug, Clone, Default)]
pub struct FullSizeFrames(Arc<Mutex<Option<gst::Sample>>>);

impl FullSizeFrames {
    /// The newest frame, with its caps (format and size).
    pub fn latest(&self) -> Option<gst::Sample> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps every buffer that passes `pad` (with the pad's caps) as the
    /// newest frame.
    pub fn keep_from(&self, pad: &gst::Pad) {
        let latest = self.0.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buffer) = info.buffer()
                && let Some(caps) = pad.current_caps()
            {
                let sample = gst::Sample::builder().buffer(buffer).caps(&caps).build();
                *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(sample);
            }
            gst::PadProbeReturn::Ok
        });
    }
}
