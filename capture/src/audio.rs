//! The nurse's microphone, encoded to Opus.
//!
//! Audio is optional: a laptop without a working microphone still sends
//! video. The microphone is therefore found and test-opened *before* it joins
//! the main pipeline, because a source that fails to start there would stop
//! the whole pipeline, video included.
//!
//! Each Opus frame leaves with its loudness attached (`GstAudioLevelMeta`,
//! measured by `level` on what is actually encoded, after the echo
//! canceller): the RTP payloader writes it into the RFC 6464 audio level
//! header extension, from which the gateway tells the room that the nurse
//! is speaking without decoding anything.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{self, ElementError, GstError, InterAudioTiming};

/// Name of the audio bin, so its errors can be told apart from video's.
pub const CHAIN_NAME: &str = "audio-chain";

/// How long a microphone may take to deliver its first buffer in the probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Where the nurse's voice comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceInput {
    /// No audio is sent.
    Off,
    /// The system's default microphone, when one works.
    Microphone,
    /// A generated sound instead of a microphone: checks the audio path on
    /// a machine without one.
    Test(TestSound),
}

/// What a [`VoiceInput::Test`] source plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestSound {
    /// A 440 Hz tone in phrases ([`TONE_PHRASE`] on, then silence until
    /// the next [`TONE_PERIOD`]), at about -13 dBFS RMS while on: as loud as
    /// speech near a microphone, with pauses longer than the gateway's
    /// one-second hangover, so the nurse is seen to start and stop speaking.
    Tone,
    /// Digital silence.
    Silence,
}

/// How long each phrase of [`TestSound::Tone`] sounds.
pub const TONE_PHRASE: Duration = Duration::from_millis(1500);
/// From the start of one phrase of [`TestSound::Tone`] to the next.
pub const TONE_PERIOD: Duration = Duration::from_secs(4);
/// The tone's pitch, Hz.
const TONE_HZ: u32 = 440;

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

/// Builds microphone → queue → (echo canceller) → level → Opus as a bin
/// with a ghost `src` pad, or returns `Ok(None)` (with a log line saying
/// why) when `input` is off or there is no working microphone.
/// `echo_reference` is the talk-back playout's channel of what it plays
/// ([`Playout::echo_reference`](crate::talkback::Playout::echo_reference)):
/// that is taken out of what the microphone hears.
pub fn microphone_chain(
    input: VoiceInput,
    echo_reference: Option<&str>,
) -> Result<Option<gst::Bin>, AudioError> {
    elements::require_all(&[
        "audioconvert",
        "audioresample",
        "level",
        "opusenc",
        "queue",
        "volume",
    ])?;
    let (source, echo_reference) = match input {
        VoiceInput::Off => return Ok(None),
        VoiceInput::Microphone => match find_microphone() {
            Some(mic) => (mic, echo_reference),
            None => return Ok(None),
        },
        // A generated sound hears no headset: nothing to cancel, and noise
        // suppression would only wear the tone down.
        VoiceInput::Test(sound) => (test_source(sound)?, None),
    };
    voice_chain(source, echo_reference).map(Some)
}

/// A live `audiotestsrc` playing `sound`, in place of a microphone.
fn test_source(sound: TestSound) -> Result<gst::Element, ElementError> {
    let source = elements::make_named("audiotestsrc", Some("microphone"))?;
    source.set_property("is-live", true);
    match sound {
        TestSound::Tone => {
            // "Ticks" are whole numbers of sine periods, one per interval.
            elements::set_property_str(&source, "wave", "ticks")?;
            source.set_property("freq", f64::from(TONE_HZ));
            let periods = TONE_PHRASE.as_millis() as u32 * TONE_HZ / 1000;
            source.set_property("sine-periods-per-tick", periods);
            source.set_property("tick-interval", TONE_PERIOD.as_nanos() as u64);
            // A sine's RMS is 3 dB below its peak: 0.3 peak is about -13 dBFS.
            source.set_property("volume", 0.3f64);
        }
        TestSound::Silence => elements::set_property_str(&source, "wave", "silence")?,
    }
    tracing::info!(?sound, "audio from a test source instead of a microphone");
    Ok(source)
}

/// `source` → queue → (echo canceller) → level → Opus, as a bin named
/// [`CHAIN_NAME`] with a ghost `src` pad. The echo canceller is left out
/// (with a log line) when `echo_reference` is `None` or `webrtcdsp` is
/// missing.
///
/// With it, the bin also holds the canceller's reference: what the playout
/// plays (`interaudiosrc` on `echo_reference`) through a `webrtcechoprobe`
/// of this bin's own. The probe must live in the microphone's pipeline and
/// start with it: in delay-agnostic mode `webrtcdsp` takes the probe's
/// oldest audio first, so a probe that had been filling for as long as the
/// playout ran would hand it a reference seconds behind the echo.
pub fn voice_chain(
    source: gst::Element,
    echo_reference: Option<&str>,
) -> Result<gst::Bin, AudioError> {
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
    let mut reference = None;
    if let Some(channel) = echo_reference {
        match echo_canceller(channel) {
            Ok((canceller, reference_chain)) => {
                chain.push(canceller);
                chain.push(elements::make("audioconvert")?);
                chain.push(elements::make("audioresample")?);
                reference = Some(reference_chain);
            }
            Err(e) => tracing::info!(
                "{e}; the microphone is sent without echo cancellation (the nurse should \
                 wear a headset)"
            ),
        }
    }
    // Muting here, after the echo canceller and before the level, sends
    // silence: the session, the encoder and the specialists' speaking
    // marks carry on as for a pause.
    chain.push(elements::make_named("volume", Some(MUTE_NAME))?);
    chain.push(voice_level()?);
    chain.push(opus);

    let bin = gst::Bin::with_name(CHAIN_NAME);
    for chain in std::iter::once(&chain).chain(reference.as_ref()) {
        bin.add_many(chain)
            .map_err(|e| AudioError::Assemble(e.to_string()))?;
        gst::Element::link_many(chain).map_err(|e| AudioError::Assemble(e.to_string()))?;
    }
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

/// The `volume` element the nurse mutes her microphone with.
pub const MUTE_NAME: &str = "voice-mute";

/// Mutes or unmutes the microphone in a pipeline holding a voice chain;
/// `false` when the pipeline sends no voice.
pub fn set_microphone_muted(pipeline: &gst::Pipeline, muted: bool) -> bool {
    // `by_name` looks into the bins inside the pipeline too.
    match pipeline.by_name(MUTE_NAME) {
        Some(element) => {
            element.set_property("mute", muted);
            true
        }
        None => false,
    }
}

/// `level` attaching each buffer's loudness (`GstAudioLevelMeta`, -dBov)
/// for the audio level header extension. It sits last before the encoder so
/// that it measures what is sent: the specialists' voices that the echo
/// canceller took out do not make the nurse look as if she were speaking.
fn voice_level() -> Result<gst::Element, ElementError> {
    let level = elements::make_named("level", Some("voice-level"))?;
    level.set_property("audio-level-meta", true);
    // The meta is all that is wanted: no bus message ten times a second.
    level.set_property("post-messages", false);
    Ok(level)
}

/// Echo probes are looked up by name in a process-wide table, and a
/// session's old pipeline may still hold its probe while the next one
/// starts: each chain's probe gets a name of its own.
static NEXT_ECHO_PROBE: AtomicU32 = AtomicU32::new(0);

/// How the reference reads the playout's audio: small periods, and at most
/// 100 ms held, since the canceller finds the delay only within about a
/// quarter of a second.
const REFERENCE_TIMING: InterAudioTiming = InterAudioTiming {
    period: Duration::from_millis(10),
    latency: Duration::from_millis(20),
    buffer: Duration::from_millis(100),
};

/// `webrtcdsp` cancelling the echo of what the playout plays (its
/// `channel`) and suppressing noise, and the chain that feeds it that
/// reference: `interaudiosrc` → `webrtcechoprobe` → `fakesink`.
fn echo_canceller(channel: &str) -> Result<(gst::Element, Vec<gst::Element>), ElementError> {
    let played = elements::inter_audio_source("echo-reference", channel, REFERENCE_TIMING)?;
    let name = format!(
        "samsyn-echo-probe-{}",
        NEXT_ECHO_PROBE.fetch_add(1, Ordering::Relaxed)
    );
    // Made before the canceller, which looks it up by name as it starts.
    let probe = elements::make_named("webrtcechoprobe", Some(&name))?;
    let sink = elements::make_named("fakesink", Some("echo-reference-end"))?;
    sink.set_property("async", false);
    let reference = vec![
        played,
        elements::make("audioconvert")?,
        elements::make("audioresample")?,
        probe,
        sink,
    ];

    let dsp = elements::make_named("webrtcdsp", Some("echo-canceller"))?;
    dsp.set_property("probe", &name);
    dsp.set_property("echo-cancel", true);
    dsp.set_property("noise-suppression", true);
    // The playout and the speaker add a delay of their own before the
    // microphone hears the echo: let the canceller find it.
    dsp.set_property("delay-agnostic", true);
    Ok((dsp, reference))
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
fn probe(device: &gst::Device) -> Result<(), GstError> {
    let src = device
        .create_element(None)
        .map_err(|e| GstError::unexpected(format!("cannot create its source element: {e}")))?;
    let sink = elements::make("fakesink")?;
    sink.set_property("num-buffers", 1i32);
    let pipeline = gst::Pipeline::with_name("microphone-probe");
    let result = (|| {
        pipeline.add_many([&src, &sink])?;
        src.link(&sink)?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| GstError::state_change("it would not start"))?;
        let bus = pipeline.bus().ok_or(GstError::unexpected("no bus"))?;
        let timeout = gst::ClockTime::from_mseconds(PROBE_TIMEOUT.as_millis() as u64);
        match bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => Ok(()),
                gst::MessageView::Error(e) => Err(GstError::bus(e)),
                _ => Err(GstError::unexpected("unexpected message")),
            },
            None => Err(GstError::TimedOut {
                waiting: "no sound",
                limit: PROBE_TIMEOUT,
            }),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
