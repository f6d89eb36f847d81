//! The nurse's microphone, encoded to Opus.
//!
//! Audio is optional: a laptop without a working microphone still sends
//! video. The microphone is therefore found and test-opened *before* it joins
//! the main pipeline, because a source that fails to start there would stop
//! the whole pipeline, video included.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{self, ElementError};

/// Name of the audio bin, so its errors can be told apart from video's.
pub const CHAIN_NAME: &str = "audio-chain";

/// How long a microphone may take to deliver its first buffer in the probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Why audio was not set up.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// An element of the Opus chain is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Linking failed.
    #[error("could not assemble the audio chain: {0}")]
    Assemble(String),
}

/// Builds microphone → queue → Opus as a bin with a ghost `src` pad, or
/// returns `Ok(None)` (with a log line saying why) when there is no working
/// microphone.
pub fn microphone_chain() -> Result<Option<gst::Bin>, AudioError> {
    elements::require_all(&["audioconvert", "audioresample", "opusenc", "queue"])?;
    let Some(mic) = find_microphone() else {
        return Ok(None);
    };

    let queue = elements::make_named("queue", Some("audio-queue"))?;
    // Audio is cheap to keep but stale audio is as useless as stale video:
    // hold at most 200 ms and drop the oldest beyond that.
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 200_000_000u64);
    elements::set_property_str(&queue, "leaky", "downstream")?;
    let convert = elements::make("audioconvert")?;
    let resample = elements::make("audioresample")?;
    let opus = elements::make_named("opusenc", Some("audio-encoder"))?;
    elements::set_property_str(&opus, "audio-type", "voice")?;
    elements::set_property_str(&opus, "bitrate", "32000")?;
    elements::set_property_str(&opus, "frame-size", "20")?;
    // Forward error correction lets the far end conceal single lost packets
    // on a lossy 4G uplink.
    elements::set_property_str(&opus, "inband-fec", "true")?;

    let bin = gst::Bin::with_name(CHAIN_NAME);
    let chain = [mic, queue, convert, resample, opus];
    bin.add_many(&chain)
        .map_err(|e| AudioError::Assemble(e.to_string()))?;
    gst::Element::link_many(&chain).map_err(|e| AudioError::Assemble(e.to_string()))?;
    let pad = chain[4]
        .static_pad("src")
        .ok_or_else(|| AudioError::Assemble("opusenc has no src pad".into()))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)
        .map_err(|e| AudioError::Assemble(e.to_string()))?
        .name("src")
        .build();
    bin.add_pad(&ghost)
        .map_err(|e| AudioError::Assemble(e.to_string()))?;
    Ok(Some(bin))
}

/// Finds the default audio capture device and checks it delivers sound.
fn find_microphone() -> Option<gst::Element> {
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Audio/Source"), None);
    if monitor.start().is_err() {
        tracing::info!("no audio device monitor available; sending video without audio");
        return None;
    }
    let devices = monitor.devices();
    monitor.stop();

    // Prefer the device the sound server calls default; monitors of output
    // devices ("Monitor of …") are not microphones.
    let is_default = |d: &gst::Device| {
        d.properties()
            .and_then(|p| p.get::<bool>("is-default").ok())
            .unwrap_or(false)
    };
    let is_monitor = |d: &gst::Device| {
        d.properties()
            .and_then(|p| p.get::<String>("device.class").ok())
            .is_some_and(|c| c == "monitor")
    };
    let mut candidates: Vec<gst::Device> = devices.into_iter().filter(|d| !is_monitor(d)).collect();
    candidates.sort_by_key(|d| !is_default(d));

    let Some(device) = candidates.into_iter().next() else {
        tracing::info!("no microphone found; sending video without audio");
        return None;
    };
    let name = device.display_name();
    match probe(&device) {
        Ok(()) => {
            tracing::info!(microphone = %name, "audio from microphone");
            device.create_element(Some("microphone")).ok()
        }
        Err(why) => {
            tracing::info!(microphone = %name, reason = %why, "microphone does not work; sending video without audio");
            None
        }
    }
}

/// Opens the device in a throwaway pipeline and waits for one buffer.
fn probe(device: &gst::Device) -> Result<(), String> {
    let src = device
        .create_element(None)
        .map_err(|e| format!("cannot create its source element: {e}"))?;
    let sink = elements::make("fakesink").map_err(|e| e.to_string())?;
    sink.set_property("num-buffers", 1i32);
    let pipeline = gst::Pipeline::with_name("microphone-probe");
    let result = (|| {
        pipeline
            .add_many([&src, &sink])
            .map_err(|e| e.to_string())?;
        src.link(&sink).map_err(|e| e.to_string())?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| "it would not start".to_string())?;
        let bus = pipeline.bus().ok_or("no bus")?;
        let timeout = gst::ClockTime::from_mseconds(PROBE_TIMEOUT.as_millis() as u64);
        match bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => Ok(()),
                gst::MessageView::Error(e) => Err(e.error().to_string()),
                _ => Err("unexpected message".into()),
            },
            None => Err("no sound within 1.5 s".into()),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
