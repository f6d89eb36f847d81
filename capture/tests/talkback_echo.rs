//! The echo canceller, shown cancelling an echo.
//!
//! The nurse hears the specialists in her headset (or, worse, from the
//! laptop's speaker) and her microphone picks some of it up: without echo
//! cancellation the specialists hear themselves back a moment later. Here
//! the room is played by the test: a specialist's voice goes into a
//! talk-back slot of the real playout (`--speaker none`) and, delayed and
//! quieter, into the microphone, as a speaker and a room would put it there.
//! The microphone's real chain (`webrtcdsp` fed with what the playout
//! plays, then Opus) is decoded and measured.
//!
//! Both runs go through the same chain, noise suppression included. They
//! differ only in whether the playout plays the voice the microphone picks
//! up: when it does, the canceller knows the echo and takes it out; when the
//! voice reaches the microphone without being played (as a stranger in the
//! room would), it is not an echo and must come through. So what the
//! comparison shows is echo cancellation, not noise suppression.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::elements::{self, InterAudioTiming};
use samsyn_capture::talkback::{Playout, PlayoutOptions, Speaker, slot_caps};

/// How long each run lasts, and from when it is measured (the canceller
/// first has to find the delay and learn the room).
const RUN: Duration = Duration::from_secs(9);
const CONVERGED_AFTER: Duration = Duration::from_secs(4);

/// A specialist's voice: a tone in phrases (1 s on, 0.5 s off), loud as
/// speech is, sent into the room channel the microphone hears and, when
/// `played`, into a talk-back slot too.
struct FarEnd {
    pipeline: gst::Pipeline,
}

impl FarEnd {
    fn speak(slot_channel: &str, room_channel: &str, played: bool) -> Self {
        // The room: 10 dB quieter at the microphone than in the headset, as
        // a laptop speaker at arm's length would put it, and 120 ms after
        // the voice went into the slot (the playout's own latency, the
        // sound card's output buffer and the microphone's input buffer).
        let into_slot = if played {
            format!(
                "t. ! queue ! capsfilter name=slot-caps ! interaudiosink channel={slot_channel}"
            )
        } else {
            String::new()
        };
        let description = format!(
            "audiotestsrc is-live=true wave=ticks freq=440 sine-periods-per-tick=440 \
             tick-interval=1500000000 volume=0.3 ! audioconvert ! audioresample ! \
             capsfilter name=caps ! tee name=t \
             {into_slot} \
             t. ! queue min-threshold-time=120000000 max-size-time=0 max-size-bytes=0 \
             max-size-buffers=0 ! volume volume=0.316 ! interaudiosink channel={room_channel}"
        );
        let pipeline = gst::parse::launch(&description)
            .expect("the far end's pipeline parses")
            .downcast::<gst::Pipeline>()
            .unwrap();
        for name in ["caps", "slot-caps"] {
            if let Some(filter) = pipeline.by_name(name) {
                filter.set_property("caps", slot_caps());
            }
        }
        pipeline
            .set_state(gst::State::Playing)
            .expect("the far end starts");
        Self { pipeline }
    }
}

impl Drop for FarEnd {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// What the microphone's chain sends, decoded: RMS levels in dBFS with the
/// time since the chain started.
fn run_microphone(room_channel: &str, echo_reference: &str) -> Vec<(Duration, f64)> {
    // A sound card's small periods, not interaudiosrc's 100 ms default.
    let microphone = elements::inter_audio_source(
        "microphone",
        room_channel,
        InterAudioTiming {
            period: Duration::from_millis(10),
            latency: Duration::from_millis(20),
            buffer: Duration::from_millis(100),
        },
    )
    .expect("interaudiosrc (gst-plugins-bad)");
    let chain = samsyn_capture::audio::voice_chain(microphone, Some(echo_reference))
        .expect("the microphone chain builds");
    assert!(
        chain.by_name("echo-canceller").is_some(),
        "the echo canceller is in the chain"
    );
    let pipeline = gst::Pipeline::new();
    let decode = gst::parse::bin_from_description(
        "opusdec ! audioconvert ! level name=sent interval=250000000 post-messages=true ! \
         fakesink sync=false",
        true,
    )
    .expect("the decoder parses");
    pipeline
        .add_many([chain.upcast_ref::<gst::Element>(), decode.upcast_ref()])
        .unwrap();
    chain.link(&decode).unwrap();

    let levels = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let bus = pipeline.bus().unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .expect("the microphone chain starts beside the playout");
    while started.elapsed() < RUN {
        let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match message.view() {
            gst::MessageView::Error(e) => panic!("the microphone chain failed: {}", e.error()),
            gst::MessageView::Element(element) => {
                let Some(structure) = element.structure() else {
                    continue;
                };
                if structure.name() != "level" {
                    continue;
                }
                let rms = structure
                    .get::<gst::glib::ValueArray>("rms")
                    .ok()
                    .and_then(|values| values.first().and_then(|v| v.get::<f64>().ok()));
                if let Some(rms) = rms {
                    levels.lock().unwrap().push((started.elapsed(), rms));
                }
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    Arc::try_unwrap(levels).unwrap().into_inner().unwrap()
}

/// The loudest quarter-seconds after convergence: the phrases, not the
/// pauses between them (mean of the top half, in dB).
fn phrase_level(levels: &[(Duration, f64)]) -> f64 {
    let mut after: Vec<f64> = levels
        .iter()
        .filter(|(at, _)| *at >= CONVERGED_AFTER)
        .map(|(_, db)| db.max(-100.0))
        .collect();
    assert!(after.len() >= 8, "levels measured: {levels:?}");
    after.sort_by(|a, b| b.total_cmp(a));
    let top = &after[..after.len() / 2];
    top.iter().sum::<f64>() / top.len() as f64
}

fn playout() -> Playout {
    common::init();
    Playout::start(&PlayoutOptions {
        speaker: Speaker::None,
        volume_percent: 100,
    })
    .expect("the playout starts without a sound card")
}

#[test]
fn the_microphone_sends_the_specialists_voice_back_far_quieter_than_it_hears_it() {
    let playout = playout();
    let slot = playout.slot_channel(0);

    // The specialist's voice played in the headset and picked up again.
    let echo = {
        let _far_end = FarEnd::speak(&slot, "samsyn-test-room-echo", true);
        run_microphone("samsyn-test-room-echo", playout.echo_reference())
    };
    // The same voice at the microphone, not played: not an echo.
    let voice = {
        let _far_end = FarEnd::speak(&slot, "samsyn-test-room-voice", false);
        run_microphone("samsyn-test-room-voice", playout.echo_reference())
    };

    let (echo_db, voice_db) = (phrase_level(&echo), phrase_level(&voice));
    let show = |levels: &[(Duration, f64)]| {
        levels
            .iter()
            .map(|(at, db)| format!("{:.1}s {db:.0}", at.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "after {} s: the echo is sent at {echo_db:.1} dBFS, the same sound not played (not an \
         echo) at {voice_db:.1} dBFS: {:.1} dB taken out by the echo canceller\n  echo:  {}\n  \
         voice: {}",
        CONVERGED_AFTER.as_secs(),
        voice_db - echo_db,
        show(&echo),
        show(&voice)
    );
    assert!(
        voice_db > -40.0,
        "a sound the playout did not play comes through: {voice_db:.1} dBFS"
    );
    assert!(
        voice_db - echo_db >= 10.0,
        "the echo is at least 10 dB quieter than the same sound unplayed: echo \
         {echo_db:.1} dBFS, not an echo {voice_db:.1} dBFS"
    );
}
