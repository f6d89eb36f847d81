//! The sound part: a short chime on the speaker talk-back plays the
//! specialists' voices on. The check can only tell that the output took
//! it; whether she heard it, the screen asks her.

use std::borrow::Cow;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_config::CaptureConfig;

use super::report::{CheckLevel, Finding, SoundFinding};
use crate::elements::{self, GstError};
use crate::talkback::Speaker;

/// The chime's pitch, Hz: E5, soft and clear on small headset speakers.
const CHIME_HZ: u32 = 660;
/// Each of its notes sounds this long …
const NOTE: Duration = Duration::from_millis(300);
/// … and starts this long after the one before.
const NOTE_EVERY: Duration = Duration::from_millis(500);
/// The chime's length: two notes.
const CHIME: Duration = Duration::from_secs(1);
/// Samples a second the chime is made at.
const RATE: u32 = 48_000;
/// Its loudness (linear, full scale 1.0): well below the specialists' voices.
const VOLUME: f64 = 0.25;
/// How long the output may take to open and play it.
const PLAY_TIMEOUT: Duration = Duration::from_secs(5);

/// The sound part's finding.
pub(super) fn check(config: &CaptureConfig) -> SoundFinding {
    let skipped = |finding| SoundFinding {
        finding,
        output: None,
    };
    if !config.talkback.enabled {
        return skipped(Finding::skipped(
            "Sound: not tested (talk-back is off in the settings).",
            "Lyd: ikke testet (tilbakesnakk er slått av i innstillingene).",
        ));
    }
    let speaker = Speaker::parse(&config.talkback.speaker);
    if speaker == Speaker::None {
        return skipped(Finding::skipped(
            "Sound: not tested (speaker = none in the settings).",
            "Lyd: ikke testet (høyttaler = none i innstillingene).",
        ));
    }
    match play_chime(&speaker) {
        Ok(Played::Output(output)) => SoundFinding {
            finding: Finding::new(
                CheckLevel::Good,
                format!(
                    "Sound: a test chime played on {}. Did you hear it?",
                    output.en
                ),
                format!(
                    "Lyd: et testsignal ble spilt av på {}. Hørte du det?",
                    output.nb
                ),
            )
            .advise(
                "If you did not hear the chime: check that the headset is plugged in and the \
                 volume is up.",
                "Hvis du ikke hørte signalet: sjekk at hodesettet er koblet til og at volumet \
                 er skrudd opp.",
            ),
            output: Some(output.en),
        },
        Ok(Played::Nowhere) => SoundFinding {
            finding: headset_advice(Finding::new(
                CheckLevel::Marginal,
                "Sound: no sound output found; you would not hear the specialist.",
                "Lyd: fant ingen lydutgang; du ville ikke høre spesialisten.",
            )),
            output: None,
        },
        Err(why) => SoundFinding {
            finding: headset_advice(Finding::new(
                CheckLevel::Marginal,
                format!("Sound: the test chime did not play on {speaker}: {why}"),
                format!("Lyd: testsignalet ble ikke spilt av ({speaker}): {why}"),
            )),
            output: None,
        },
    }
}

fn headset_advice(finding: Finding) -> Finding {
    finding.advise(
        "Plug in the headset, check that the laptop's sound is not muted, and check again.",
        "Koble til hodesettet, sjekk at lyden på PC-en ikke er dempet, og sjekk på nytt.",
    )
}

/// Where the chime went.
enum Played {
    /// An output took it, named in both languages.
    Output(OutputName),
    /// `autoaudiosink` found no output and played into nothing.
    Nowhere,
}

struct OutputName {
    en: String,
    nb: String,
}

/// Plays the chime on `speaker` to its end.
fn play_chime(speaker: &Speaker) -> Result<Played, GstError> {
    let source = chime()?;
    let sink = speaker.sink("check-speaker")?;
    let chain = [
        source,
        elements::make("audioconvert")?,
        elements::make("audioresample")?,
        sink.clone(),
    ];
    let pipeline = gst::Pipeline::with_name("check-sound");
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    let result = play(&pipeline);
    let actual = actual_sink(&sink);
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    Ok(match (speaker, actual.as_deref()) {
        (_, Some("fakesink")) => Played::Nowhere,
        (Speaker::Device(device), _) => Played::Output(OutputName {
            en: format!("the sound output {device}"),
            nb: format!("lydutgangen {device}"),
        }),
        (_, Some(element)) => Played::Output(OutputName {
            en: format!("the default sound output ({element})"),
            nb: format!("standard lydutgang ({element})"),
        }),
        (_, None) => Played::Output(OutputName {
            en: "the default sound output".to_owned(),
            nb: "standard lydutgang".to_owned(),
        }),
    })
}

/// Two soft notes. Each note is whole sine periods (`audiotestsrc`'s
/// ticks), so it starts and stops at a zero crossing, without a click.
fn chime() -> Result<gst::Element, elements::ElementError> {
    let source = elements::make_named("audiotestsrc", Some("check-chime"))?;
    elements::set_property_str(&source, "wave", "ticks")?;
    source.set_property("freq", f64::from(CHIME_HZ));
    source.set_property(
        "sine-periods-per-tick",
        (NOTE.as_millis() as u32) * CHIME_HZ / 1000,
    );
    source.set_property("tick-interval", NOTE_EVERY.as_nanos() as u64);
    source.set_property("volume", VOLUME);
    // A tenth of a second per buffer, so the chime ends after whole buffers.
    let samples_per_buffer = RATE / 10;
    source.set_property("samplesperbuffer", samples_per_buffer as i32);
    source.set_property("num-buffers", (CHIME.as_millis() as u32 / 100) as i32);
    Ok(source)
}

/// Plays until the chime has ended (end of stream), or says why not.
fn play(pipeline: &gst::Pipeline) -> Result<(), GstError> {
    let bus = pipeline
        .bus()
        .ok_or(GstError::unexpected("the pipeline has no bus"))?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The output's own words say more (no sound server, no such device).
        let said = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|message| match message.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        return Err(GstError::state_change(
            said.map_or("the sound output would not start".into(), Cow::Owned),
        ));
    }
    let timeout = gst::ClockTime::from_nseconds(PLAY_TIMEOUT.as_nanos() as u64);
    match bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(message) => match message.view() {
            gst::MessageView::Error(e) => Err(GstError::bus(e)),
            _ => Ok(()),
        },
        None => Err(GstError::TimedOut {
            waiting: "it did not finish playing",
            limit: PLAY_TIMEOUT,
        }),
    }
}

/// The element `autoaudiosink` chose (`pulsesink`, `alsasink`, or
/// `fakesink` when no output works), or the sink's own factory name.
fn actual_sink(sink: &gst::Element) -> Option<String> {
    match sink.downcast_ref::<gst::Bin>() {
        Some(bin) => bin
            .children()
            .first()
            .and_then(|child| child.factory())
            .map(|factory| factory.name().to_string()),
        None => sink.factory().map(|factory| factory.name().to_string()),
    }
}
