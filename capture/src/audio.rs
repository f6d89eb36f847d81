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

/// Builds microphone → queue → (echo canceller) → Opus as a bin with a
/// ghost `src` pad, or returns `Ok(None)` (with a log line saying why) when
/// there is no working microphone. `echo_probe` names the talk-back
/// playout's `webrtcechoprobe`: what the headset plays is taken out of what
/// the microphone hears.
pub fn microphone_chain(echo_probe: Option<&str>) -> Result<Option<gst::Bin>, AudioError> {
    elements::require_all(&["audioconvert", "audioresample", "opusenc", "queue"])?;
    let Some(mic) = find_microphone() else {
        return Ok(None);
    };
    voice_chain(mic, echo_probe).map(Some)
}

/// `source` → queue → (echo canceller) → Opus, as a bin named
/// [`CHAIN_NAME`] with a ghost `src` pad. The echo canceller is left out
/// (with a log line) when `echo_probe` is `None` or `webrtcdsp` is missing.
pub fn voice_chain(source: gst::Element, echo_probe: Option<&str>) -> Result<gst::Bin, AudioError> {
    let queue = elements::make_named("queue", Some("audio-queue"))?;
    // Audio is cheap to keep but stale audio is as useless as stale video:
    // hold at most 200 ms and drop the oldest beyond that.
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 200_000_000u64);
    elements::set_property_str(&queue, "leaky", "downstream")?;
    let opus = elements::make_named("opusenc", Some("audio-encoder"))?;
    elements::set_property_str(&opus, "audio-type", "voice")?;
    elements::set_property_str(&opus, "bitrate", "32000")?;
    elements::set_property_str(&opus, "frame-size", "20")?;
    // Forward error correction lets the far end conceal single lost packets
    // on a lossy 4G uplink.
    elements::set_property_str(&opus, "inband-fec", "true")?;

    let mut chain = vec![
        source,
        queue,
        elements::make("audioconvert")?,
        elements::make("audioresample")?,
    ];
    if let Some(probe) = echo_probe {
        match echo_canceller(probe) {
            Ok(canceller) => {
                chain.push(canceller);
                chain.push(elements::make("audioconvert")?);
                chain.push(elements::make("audioresample")?);
            }
            Err(e) => tracing::info!(
                "{e}; the microphone is sent without echo cancellation (the nurse should \
                 wear a headset)"
            ),
        }
    }
    chain.push(opus);

    let bin = gst::Bin::with_name(CHAIN_NAME);
    bin.add_many(&chain)
        .map_err(|e| AudioError::Assemble(e.to_string()))?;
    gst::Element::link_many(&chain).map_err(|e| AudioError::Assemble(e.to_string()))?;
    let pad = chain
        .last()
        .and_then(|opus| opus.static_pad("src"))
        .ok_or_else(|| AudioError::Assemble("opusenc has no src pad".into()))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)
        .map_err(|e| AudioError::Assemble(e.to_string()))?
        .name("src")
        .build();
    bin.add_pad(&ghost)
        .map_err(|e| AudioError::Assemble(e.to_string()))?;
    Ok(bin)
}

/// `webrtcdsp` cancelling the echo of what `probe` (a `webrtcechoprobe`
/// by name, in the talk-back playout) plays, and suppressing noise.
fn echo_canceller(probe: &str) -> Result<gst::Element, ElementError> {
    let dsp = elements::make_named("webrtcdsp", Some("echo-canceller"))?;
    dsp.set_property("probe", probe);
    dsp.set_property("echo-cancel", true);
    dsp.set_property("noise-suppression", true);
    // The playout and the microphone run in different pipelines, whose
    // delay to each other is not known in advance: let the canceller find it.
    dsp.set_property("delay-agnostic", true);
    Ok(dsp)
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
