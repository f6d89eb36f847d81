//! The playout pipeline: every talk-back slot's voice, mixed, at the
//! nurse's volume, to the speaker, and a copy of what is played to the
//! microphone's echo canceller. It runs for the daemon's whole life;
//! sessions come and go and write into its slots.
//!
//! ```text
//! interaudiosrc <prefix>-0 ─▶ level ─┐
//! interaudiosrc <prefix>-1 ─▶ level ─┤                                     ┌▶ audioconvert ─▶ audioresample ─▶ speaker
//!          …                        ├▶ audiomixer ─▶ volume ─▶ level ─▶ tee
//! interaudiosrc <prefix>-3 ─▶ level ─┘                                     └▶ interaudiosink <echo reference>
//! ```
//!
//! A slot no session writes into plays silence; that keeps the mixer
//! running at the sound card's pace whatever the network does.
//!
//! The echo canceller's probe is not here but beside the microphone, in the
//! capture pipeline (see `audio`): `webrtcdsp` reads its probe by running
//! time, or in delay-agnostic mode from the oldest audio the probe holds
//! (up to seconds of it), so a probe in this long-lived pipeline handed a
//! microphone started later a reference seconds out of step with the echo,
//! and nothing was cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::levels::{self, Meter};
use super::speaker::Speaker;
use super::{TALKBACK_SLOTS, TalkbackError, slot_caps};
use crate::elements::{self, InterAudioTiming};

/// How each slot's source reads its channel: small periods, so a
/// specialist's words are not held back, and at most 200 ms held, which
/// bounds the delay a late burst from the network can build up.
const SLOT_TIMING: InterAudioTiming = InterAudioTiming {
    period: Duration::from_millis(10),
    latency: Duration::from_millis(20),
    buffer: Duration::from_millis(200),
};
/// How long the speaker may take to start before it counts as not working.
const START_TIMEOUT: Duration = Duration::from_secs(3);

/// Channels are per process (interaudio channels are looked up by name in a
/// process-wide table), so each playout gets its own number.
static NEXT_PLAYOUT: AtomicU32 = AtomicU32::new(0);

/// What to play the mix on and how loud.
#[derive(Debug, Clone)]
pub struct PlayoutOptions {
    /// Where to play.
    pub speaker: Speaker,
    /// Percent of the received level, 0 to 400.
    pub volume_percent: u32,
}

/// The loudness of the slots and the mix over the last second.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayoutLevels {
    /// The mix, after the volume, dBFS.
    pub mix_db: f64,
    /// Each slot before the volume, dBFS, by slot.
    pub slots_db: Vec<f64>,
}

impl PlayoutLevels {
    /// Whether someone is heard on `slot`.
    pub fn active(&self, slot: usize) -> bool {
        self.slots_db
            .get(slot)
            .is_some_and(|db| *db > levels::ACTIVE_DB)
    }

    /// How many slots someone is heard on.
    pub fn hearing(&self) -> usize {
        (0..self.slots_db.len()).filter(|k| self.active(*k)).count()
    }
}

/// The running playout pipeline.
#[derive(Debug)]
pub struct Playout {
    pipeline: gst::Pipeline,
    volume: gst::Element,
    volume_percent: Arc<AtomicU32>,
    channel_prefix: String,
    echo_reference: String,
    meters: Arc<Mutex<HashMap<String, Meter>>>,
    speaker: Speaker,
}

impl Playout {
    /// Builds and starts the playout on the chosen speaker. When the
    /// speaker cannot start, plays to no output instead and says so: the
    /// nurse's video must not depend on a sound card.
    pub fn start(options: &PlayoutOptions) -> Result<Self, TalkbackError> {
        let number = NEXT_PLAYOUT.fetch_add(1, Ordering::Relaxed);
        match Self::start_on(&options.speaker, options.volume_percent, number) {
            Ok(playout) => Ok(playout),
            Err(error) if options.speaker != Speaker::None => {
                tracing::warn!(
                    "talk-back: {} could not be opened ({error}); the specialists' voices are \
                     received but not played. Check the headset is plugged in, or name an \
                     output with --speaker (see `pactl list short sinks`)",
                    options.speaker
                );
                Self::start_on(&Speaker::None, options.volume_percent, number)
            }
            Err(error) => Err(error),
        }
    }

    fn start_on(
        speaker: &Speaker,
        volume_percent: u32,
        number: u32,
    ) -> Result<Self, TalkbackError> {
        elements::require_all(&[
            "interaudiosrc",
            "level",
            "audiomixer",
            "volume",
            "tee",
            "queue",
            "interaudiosink",
            "audioconvert",
            "audioresample",
        ])?;
        let channel_prefix = format!("samsyn-talkback-{number}");
        let echo_reference = format!("samsyn-played-{number}");
        let pipeline = gst::Pipeline::with_name(&format!("talkback-playout-{number}"));
        let assemble = |e: gst::glib::BoolError| TalkbackError::Assemble(e.to_string());

        let mixer = elements::make_named("audiomixer", Some("talkback-mixer"))?;
        let volume = elements::make_named("volume", Some("talkback-volume"))?;
        volume.set_property("volume", volume_factor(volume_percent));
        let mix_level = level_meter(MIX_METER)?;
        let split = elements::make("tee")?;
        let mix_chain = [mixer.clone(), volume.clone(), mix_level, split.clone()];
        let speaker_chain = [
            elements::make("queue")?,
            elements::make("audioconvert")?,
            elements::make("audioresample")?,
            speaker.sink("talkback-speaker")?,
        ];
        let played = elements::make_named("interaudiosink", Some("played"))?;
        played.set_property("channel", &echo_reference);
        let reference_chain = [elements::make("queue")?, played];
        for chain in [&mix_chain[..], &speaker_chain, &reference_chain] {
            pipeline.add_many(chain).map_err(assemble)?;
            gst::Element::link_many(chain).map_err(assemble)?;
        }
        split.link(&speaker_chain[0]).map_err(assemble)?;
        split.link(&reference_chain[0]).map_err(assemble)?;

        for slot in 0..TALKBACK_SLOTS {
            let source = elements::inter_audio_source(
                &format!("slot-src-{slot}"),
                &slot_channel(&channel_prefix, slot),
                SLOT_TIMING,
            )?;
            let caps = elements::make("capsfilter")?;
            caps.set_property("caps", slot_caps());
            let level = level_meter(&slot_meter(slot))?;
            let chain = [source, caps, level];
            pipeline.add_many(&chain).map_err(assemble)?;
            gst::Element::link_many(&chain).map_err(assemble)?;
            chain[2].link(&mixer).map_err(assemble)?;
        }

        let meters = Arc::new(Mutex::new(HashMap::new()));
        watch_bus(&pipeline, meters.clone());
        let mut playout = Self {
            pipeline,
            volume,
            volume_percent: Arc::new(AtomicU32::new(volume_percent)),
            channel_prefix,
            echo_reference,
            meters,
            speaker: speaker.clone(),
        };
        playout.play()?;
        if *speaker == Speaker::Auto && playout.plays_nowhere() {
            tracing::warn!(
                "talk-back: no audio output could be opened; the specialists' voices are \
                 received but not played. Check the headset is plugged in and the sound \
                 server runs, or name an output with --speaker (see `pactl list short sinks`)"
            );
            playout.speaker = Speaker::None;
        }
        tracing::info!(
            output = %playout.speaker,
            volume_percent,
            "talk-back playout started"
        );
        Ok(playout)
    }

    fn play(&self) -> Result<(), TalkbackError> {
        let failed = |why: String| {
            let _ = self.pipeline.set_state(gst::State::Null);
            TalkbackError::Start(why)
        };
        self.pipeline.set_state(gst::State::Playing).map_err(|_| {
            failed(
                self.first_error()
                    .unwrap_or_else(|| "it would not start".into()),
            )
        })?;
        let timeout = gst::ClockTime::from_nseconds(nanos(START_TIMEOUT));
        match self.pipeline.state(timeout) {
            (Ok(_), gst::State::Playing, _) => Ok(()),
            (result, state, _) => {
                Err(failed(self.first_error().unwrap_or_else(|| {
                    format!("it stayed in {state:?} ({result:?})")
                })))
            }
        }
    }

    /// Whether `autoaudiosink` found no working output and fell back to
    /// its own fake sink (it does that with only a warning).
    fn plays_nowhere(&self) -> bool {
        let Some(sink) = self
            .pipeline
            .by_name("talkback-speaker")
            .and_then(|sink| sink.downcast::<gst::Bin>().ok())
        else {
            return false;
        };
        sink.children()
            .iter()
            .any(|child| child.factory().is_some_and(|f| f.name() == "fakesink"))
    }

    fn first_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let message = bus.pop_filtered(&[gst::MessageType::Error])?;
        match message.view() {
            gst::MessageView::Error(error) => Some(error.error().to_string()),
            _ => None,
        }
    }

    /// The interaudio channel that feeds `slot`: a session's
    /// `interaudiosink channel=…` for its m-line `slot`.
    pub fn slot_channel(&self, slot: usize) -> String {
        slot_channel(&self.channel_prefix, slot)
    }

    /// The interaudio channel carrying what is played, for the
    /// microphone's echo canceller.
    pub fn echo_reference(&self) -> &str {
        &self.echo_reference
    }

    /// Where the mix plays (after any fallback).
    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// The volume now, percent.
    pub fn volume_percent(&self) -> u32 {
        self.volume_percent.load(Ordering::Relaxed)
    }

    /// Sets the volume (0 to 400 percent; higher values are held at 400).
    pub fn set_volume_percent(&self, percent: u32) {
        let percent = percent.min(samsyn_config::MAX_TALKBACK_VOLUME_PERCENT);
        self.volume.set_property("volume", volume_factor(percent));
        self.volume_percent.store(percent, Ordering::Relaxed);
    }

    /// The slots' and the mix's loudness over the last second.
    pub fn levels(&self) -> PlayoutLevels {
        let meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        let db = |name: &str| meters.get(name).map_or(levels::SILENCE_DB, Meter::db);
        PlayoutLevels {
            mix_db: db(MIX_METER),
            slots_db: (0..TALKBACK_SLOTS).map(|k| db(&slot_meter(k))).collect(),
        }
    }

    /// Stops the playout.
    pub fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for Playout {
    fn drop(&mut self) {
        self.stop();
    }
}

const MIX_METER: &str = "mix-level";

fn slot_meter(slot: usize) -> String {
    format!("slot-level-{slot}")
}

fn slot_channel(prefix: &str, slot: usize) -> String {
    format!("{prefix}-{slot}")
}

fn volume_factor(percent: u32) -> f64 {
    f64::from(percent) / 100.0
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A `level` element posting RMS every [`levels::INTERVAL`].
fn level_meter(name: &str) -> Result<gst::Element, TalkbackError> {
    let level = elements::make_named("level", Some(name))?;
    level.set_property("interval", levels::INTERVAL.nseconds());
    level.set_property("post-messages", true);
    Ok(level)
}

/// Feeds the `level` messages into the meters and logs the pipeline's
/// errors in plain words (the video goes on whatever happens here).
fn watch_bus(pipeline: &gst::Pipeline, meters: Arc<Mutex<HashMap<String, Meter>>>) {
    let Some(bus) = pipeline.bus() else {
        return;
    };
    bus.set_sync_handler(move |_, message| {
        match message.view() {
            gst::MessageView::Element(element) => {
                if let (Some(structure), Some(source)) = (element.structure(), message.src())
                    && let Some(rms) = levels::rms_of(structure)
                {
                    meters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(source.name().to_string())
                        .or_default()
                        .push_rms_db(&rms);
                }
                return gst::BusSyncReply::Drop;
            }
            gst::MessageView::Error(error) => {
                tracing::warn!(
                    "talk-back playout failed: {}; the specialists cannot be heard, the video \
                     goes on",
                    error.error()
                );
            }
            _ => return gst::BusSyncReply::Drop,
        }
        // Errors stay on the bus so a failed start can name them.
        gst::BusSyncReply::Pass
    });
}
