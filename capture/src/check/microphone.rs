//! The microphone part: records a couple of seconds through the daemon's
//! own voice chain (the same source, the same `level` element before the
//! Opus encoder) and says whether it heard speech-loud sound.

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_config::{CaptureConfig, Microphone};

use super::report::{CheckLevel, Finding, MicrophoneFinding};
use crate::audio::{self, TestSound, VoiceInput};
use crate::elements::{self, GstError};
use crate::talkback::levels::{INTERVAL, SILENCE_DB, rms_of};

/// How long the microphone is listened to.
const LISTEN: Duration = Duration::from_secs(2);
/// The loudest tenth of a second at least this loud (RMS, dBFS) is a voice:
/// speech into a headset's microphone sits around −25 to −15 dBFS, quiet
/// speech into a laptop's own at arm's length around −40.
pub const HEARD_DBFS: f64 = -45.0;
/// Below this the microphone hears nothing at all (a quiet room is about
/// −60 dBFS; a muted or unplugged microphone is digital silence).
pub const NOTHING_DBFS: f64 = -65.0;

/// What was heard, in dBFS.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Heard {
    peak: f64,
    rms: f64,
}

/// The microphone part's finding.
pub(super) fn check(config: &CaptureConfig) -> MicrophoneFinding {
    let skipped = |finding| MicrophoneFinding {
        finding,
        input: None,
        peak_dbfs: None,
        rms_dbfs: None,
    };
    if !config.audio {
        return skipped(Finding::skipped(
            "Microphone: not used (audio is off in the settings).",
            "Mikrofon: brukes ikke (lyd er slått av i innstillingene).",
        ));
    }
    let (input, name) = match config.microphone {
        Microphone::Auto => {
            let device = default_microphone_name();
            let name = Name {
                en: device
                    .clone()
                    .unwrap_or_else(|| "system microphone".to_owned()),
                nb: device.unwrap_or_else(|| "systemets mikrofon".to_owned()),
            };
            (VoiceInput::Microphone, name)
        }
        Microphone::TestTone => (
            VoiceInput::Test(TestSound::Tone),
            Name::both("test tone", "testtone"),
        ),
        Microphone::TestSilence => (
            VoiceInput::Test(TestSound::Silence),
            Name::both("test silence", "teststillhet"),
        ),
    };
    let mut finding = MicrophoneFinding {
        input: Some(name.en.clone()),
        ..skipped(Finding::new(CheckLevel::NotRun, "", ""))
    };
    let chain = match audio::microphone_chain(input, None) {
        Ok(Some(chain)) => chain,
        Ok(None) => {
            finding.input = None;
            finding.finding = plug_in_headset(Finding::new(
                CheckLevel::Marginal,
                "Microphone: no working microphone found.",
                "Mikrofon: fant ingen mikrofon som virker.",
            ));
            return finding;
        }
        Err(e) => {
            finding.finding = Finding::new(
                CheckLevel::Marginal,
                format!("Microphone: it cannot be used: {e}"),
                format!("Mikrofon: den kan ikke brukes: {e}"),
            )
            .advise(
                "Call IT and tell them this message.",
                "Ring IT og fortell dem denne meldingen.",
            );
            return finding;
        }
    };
    match listen(chain) {
        Ok(heard) => {
            finding.peak_dbfs = Some(round(heard.peak));
            finding.rms_dbfs = Some(round(heard.rms));
            finding.finding = judge(&name, heard);
        }
        Err(why) => {
            finding.finding = plug_in_headset(Finding::new(
                CheckLevel::Marginal,
                format!("Microphone ({}): it stopped: {why}", name.en),
                format!("Mikrofon ({}): den stoppet: {why}", name.nb),
            ));
        }
    }
    finding
}

/// What was listened to, in both languages.
struct Name {
    en: String,
    nb: String,
}

impl Name {
    fn both(en: &str, nb: &str) -> Self {
        Self {
            en: en.to_owned(),
            nb: nb.to_owned(),
        }
    }
}

/// `finding` with the advice to plug in and unmute the headset.
fn plug_in_headset(finding: Finding) -> Finding {
    finding.advise(
        "Check that the headset is plugged in and its microphone is not muted, then check \
         again.",
        "Sjekk at hodesettet er koblet til og at mikrofonen ikke er dempet, og sjekk på nytt.",
    )
}

fn round(db: f64) -> f64 {
    (db * 10.0).round() / 10.0
}

/// The finding from what was heard.
fn judge(name: &Name, heard: Heard) -> Finding {
    let rms = format!("{:.0}", heard.rms);
    let (name, name_nb) = (&name.en, &name.nb);
    if heard.rms >= HEARD_DBFS {
        Finding::new(
            CheckLevel::Good,
            format!("Microphone ({name}): the microphone hears you (loudest {rms} dBFS)."),
            format!("Mikrofon ({name_nb}): mikrofonen hører deg (sterkest {rms} dBFS)."),
        )
    } else if heard.rms >= NOTHING_DBFS {
        Finding::new(
            CheckLevel::Marginal,
            format!("Microphone ({name}): the microphone hears only faint sound ({rms} dBFS)."),
            format!("Mikrofon ({name_nb}): mikrofonen hører bare svak lyd ({rms} dBFS)."),
        )
        .advise(
            "Say a few words during the check, and move the headset's microphone closer to \
             your mouth.",
            "Si noen ord mens sjekken går, og flytt mikrofonen på hodesettet nærmere munnen.",
        )
    } else {
        plug_in_headset(Finding::new(
            CheckLevel::Marginal,
            format!(
                "Microphone ({name}): the microphone hears nothing: check that it is plugged \
                 in and not muted."
            ),
            format!(
                "Mikrofon ({name_nb}): mikrofonen hører ingenting: sjekk at den er koblet til og \
                 ikke dempet."
            ),
        ))
        .advise(
            "Say a few words during the check.",
            "Si noen ord mens sjekken går.",
        )
    }
}

/// Plays the voice chain into a fakesink for [`LISTEN`] and takes the
/// loudest of its `level` element's measurements.
fn listen(chain: gst::Bin) -> Result<Heard, GstError> {
    let level = chain
        .by_name("voice-level")
        .ok_or(GstError::unexpected("the voice chain has no level element"))?;
    level.set_property("post-messages", true);
    level.set_property("interval", INTERVAL.nseconds());
    let sink = elements::make("fakesink")?;
    sink.set_property("sync", false);
    let pipeline = gst::Pipeline::with_name("check-microphone");
    pipeline.add_many([chain.upcast_ref::<gst::Element>(), &sink])?;
    chain.link(&sink)?;
    let result = measure(&pipeline);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn measure(pipeline: &gst::Pipeline) -> Result<Heard, GstError> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| GstError::state_change("it would not start"))?;
    let bus = pipeline
        .bus()
        .ok_or(GstError::unexpected("the pipeline has no bus"))?;
    let mut heard = Heard {
        peak: SILENCE_DB,
        rms: SILENCE_DB,
    };
    let mut measurements = 0u32;
    let until = Instant::now() + LISTEN;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Element, gst::MessageType::Error],
        ) else {
            break;
        };
        match message.view() {
            gst::MessageView::Error(e) => return Err(GstError::bus(e)),
            gst::MessageView::Element(element) => {
                let Some(structure) = element.structure() else {
                    continue;
                };
                let Some(rms) = rms_of(structure) else {
                    continue;
                };
                measurements += 1;
                heard.rms = heard.rms.max(loudest(&rms));
                if let Ok(peak) = structure.get::<gst::glib::ValueArray>("peak") {
                    let peak: Vec<f64> = peak.iter().filter_map(|v| v.get::<f64>().ok()).collect();
                    heard.peak = heard.peak.max(loudest(&peak));
                }
            }
            _ => {}
        }
    }
    if measurements == 0 {
        return Err(GstError::TimedOut {
            waiting: "no sound arrived",
            limit: LISTEN,
        });
    }
    Ok(heard)
}

/// The loudest channel, never below [`SILENCE_DB`] (`level` reports
/// digital silence as −700 dB or −inf).
fn loudest(channels_db: &[f64]) -> f64 {
    channels_db
        .iter()
        .copied()
        .filter(|db| !db.is_nan())
        .fold(SILENCE_DB, f64::max)
}

/// The name of the microphone the daemon would pick: the sound server's
/// default capture device, not an output's monitor.
fn default_microphone_name() -> Option<String> {
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Audio/Source"), None);
    monitor.start().ok()?;
    let devices = monitor.devices();
    monitor.stop();
    let property =
        |d: &gst::Device, key: &str| d.properties().and_then(|p| p.get::<String>(key).ok());
    let is_default = |d: &gst::Device| {
        d.properties()
            .and_then(|p| p.get::<bool>("is-default").ok())
            .unwrap_or(false)
    };
    let mut microphones: Vec<gst::Device> = devices
        .into_iter()
        .filter(|d| property(d, "device.class").as_deref() != Some("monitor"))
        .collect();
    microphones.sort_by_key(|d| !is_default(d));
    microphones.first().map(|d| d.display_name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_heard_faint_sound_and_silence_are_not() {
        let heard = |rms| {
            judge(
                &Name::both("mic", "mik"),
                Heard {
                    peak: rms + 3.0,
                    rms,
                },
            )
        };
        assert_eq!(heard(-13.0).level, CheckLevel::Good);
        assert!(heard(-13.0).headline.contains("hears you"));
        assert_eq!(heard(-55.0).level, CheckLevel::Marginal);
        assert!(heard(-55.0).headline.contains("faint"));
        let silent = heard(SILENCE_DB);
        assert_eq!(silent.level, CheckLevel::Marginal);
        assert!(
            silent.headline.contains("hears nothing"),
            "{}",
            silent.headline
        );
        assert_eq!(silent.advice.len(), silent.advice_nb.len());
    }

    #[test]
    fn silence_is_floored() {
        assert_eq!(loudest(&[-700.0, f64::NEG_INFINITY]), SILENCE_DB);
        assert_eq!(loudest(&[-20.0, -30.0]), -20.0);
        assert_eq!(loudest(&[]), SILENCE_DB);
    }
}
