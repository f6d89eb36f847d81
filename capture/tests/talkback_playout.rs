//! The talk-back playout, for real: speakers fed into their slots through
//! the inter-pipeline channels (as a session's decoders feed them), mixed,
//! measured, at the nurse's volume, with no sound card (`--speaker none`).

mod common;

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::talkback::{
    Playout, PlayoutLevels, PlayoutOptions, Speaker, Talkback, TalkbackState, slot_caps,
};

/// A sine at 0.3 of full scale: about −13.5 dBFS RMS.
const SPEECH_LIKE_DB: f64 = -13.5;

/// A live tone written into one slot's channel, as a talk-back session's
/// decoder would write a specialist's voice.
struct Speaker_ {
    pipeline: gst::Pipeline,
}

impl Speaker_ {
    fn speak(channel: &str, frequency: f64) -> Self {
        let description = format!(
            "audiotestsrc is-live=true wave=sine freq={frequency} volume=0.3 ! audioconvert ! \
             audioresample ! capsfilter name=caps ! interaudiosink channel={channel}"
        );
        let pipeline = gst::parse::launch(&description)
            .expect("speaker pipeline parses")
            .downcast::<gst::Pipeline>()
            .unwrap();
        pipeline
            .by_name("caps")
            .unwrap()
            .set_property("caps", slot_caps());
        pipeline
            .set_state(gst::State::Playing)
            .expect("speaker starts");
        Self { pipeline }
    }
}

impl Drop for Speaker_ {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn playout(volume_percent: u32) -> Playout {
    common::init();
    Playout::start(&PlayoutOptions {
        speaker: Speaker::None,
        volume_percent,
    })
    .expect("the playout starts without a sound card")
}

/// Polls the levels until `done` holds; panics with the last levels after
/// `timeout`. Returns the levels and how long it took.
fn wait_levels(
    playout: &Playout,
    timeout: Duration,
    what: &str,
    done: impl Fn(&PlayoutLevels) -> bool,
) -> (PlayoutLevels, Duration) {
    let start = Instant::now();
    loop {
        let levels = playout.levels();
        if done(&levels) {
            return (levels, start.elapsed());
        }
        assert!(
            start.elapsed() < timeout,
            "{what} within {timeout:?}; levels: {levels:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_speakers_are_heard_in_the_mix_and_an_unused_slot_stays_silent() {
    let playout = playout(100);
    let (quiet, _) = wait_levels(&playout, Duration::from_secs(3), "silence measured", |l| {
        l.slots_db.len() == 4
    });
    assert!(quiet.mix_db <= -90.0, "nobody speaks yet: {quiet:?}");

    let _berg = Speaker_::speak(&playout.slot_channel(0), 440.0);
    let _lie = Speaker_::speak(&playout.slot_channel(1), 660.0);
    // The meters average over a second, so each rises to its full level
    // within about that; the mix of two equal, unrelated tones settles
    // about 3 dB above each.
    let (heard, after) = wait_levels(
        &playout,
        Duration::from_secs(5),
        "both speakers and the mix at full level",
        |l| {
            l.slots_db[0] > SPEECH_LIKE_DB - 1.0
                && l.slots_db[1] > SPEECH_LIKE_DB - 1.0
                && l.mix_db > SPEECH_LIKE_DB + 1.5
        },
    );
    println!(
        "both slots at full level {:.0} ms after the speakers started; levels: {heard:?}",
        after.as_secs_f64() * 1e3
    );
    assert!(heard.active(0) && heard.active(1));
    assert_eq!(heard.hearing(), 2);
    assert!(heard.mix_db < SPEECH_LIKE_DB + 6.0, "{heard:?}");
    assert!(heard.slots_db[2] <= -90.0 && !heard.active(2), "{heard:?}");
    assert!(heard.slots_db[3] <= -90.0, "{heard:?}");
}

#[test]
fn volume_zero_silences_the_mix_but_not_the_slots_and_changes_while_playing() {
    let playout = playout(100);
    assert_eq!(playout.volume_percent(), 100);
    let _berg = Speaker_::speak(&playout.slot_channel(2), 440.0);
    let (full, _) = wait_levels(&playout, Duration::from_secs(5), "the speaker heard", |l| {
        l.slots_db[2] > SPEECH_LIKE_DB - 1.0 && l.mix_db > SPEECH_LIKE_DB - 1.0
    });
    assert!((full.mix_db - full.slots_db[2]).abs() < 1.0, "{full:?}");

    playout.set_volume_percent(0);
    assert_eq!(playout.volume_percent(), 0);
    let (muted, after) = wait_levels(&playout, Duration::from_secs(3), "the mix silenced", |l| {
        l.mix_db <= -90.0
    });
    println!(
        "volume 0 silenced the mix within {:.0} ms",
        after.as_secs_f64() * 1e3
    );
    assert!(
        muted.slots_db[2] > SPEECH_LIKE_DB - 1.0,
        "the slot still measures: {muted:?}"
    );

    // 200 %: 6 dB louder than received.
    playout.set_volume_percent(200);
    let (loud, _) = wait_levels(&playout, Duration::from_secs(3), "the mix at 200 %", |l| {
        (l.mix_db - (l.slots_db[2] + 6.02)).abs() < 1.0
    });
    println!(
        "at 200 %: slot {:.1} dBFS, mix {:.1} dBFS",
        loud.slots_db[2], loud.mix_db
    );

    // Beyond the top the volume is held at 400 %.
    playout.set_volume_percent(1000);
    assert_eq!(playout.volume_percent(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_follows_the_levels_and_the_volume() {
    common::init();
    let talkback = Talkback::start(&PlayoutOptions {
        speaker: Speaker::None,
        volume_percent: 150,
    })
    .expect("talk-back starts");
    let mut status = talkback.status();
    assert_eq!(status.borrow().state, TalkbackState::Connecting);
    assert_eq!(status.borrow().volume_percent, 150);
    assert_eq!(status.borrow().slots.len(), 4);

    let _berg = Speaker_::speak(&talkback.playout().slot_channel(1), 440.0);
    let heard = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.slots[1].active && s.mix_level_db > SPEECH_LIKE_DB),
    )
    .await
    .expect("the status shows the speaker within 5 s")
    .expect("the status goes on")
    .clone();
    println!("{}", serde_json::to_string(&heard).unwrap());
    assert!(!heard.slots[0].active && !heard.slots[2].active);

    talkback.playout().set_volume_percent(50);
    tokio::time::timeout(
        Duration::from_secs(2),
        status.wait_for(|s| s.volume_percent == 50),
    )
    .await
    .expect("the status shows the new volume")
    .expect("the status goes on");
}

/// Runs the microphone's chain with a tone standing in for the microphone
/// (this machine has none) into a fakesink; returns the Opus packets made
/// within `run_for`, or the pipeline's error.
fn run_voice_chain(echo_reference: &str, run_for: Duration) -> Result<u64, String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let microphone = gst::ElementFactory::make("audiotestsrc")
        .property("is-live", true)
        .build()
        .unwrap();
    let chain =
        samsyn_capture::audio::voice_chain(microphone, Some(echo_reference)).expect("chain builds");
    assert!(
        chain.by_name("echo-canceller").is_some(),
        "the echo canceller is in the chain"
    );
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    let pipeline = gst::Pipeline::new();
    pipeline
        .add_many([chain.upcast_ref::<gst::Element>(), &sink])
        .unwrap();
    chain.link(&sink).unwrap();
    let packets = Arc::new(AtomicU64::new(0));
    let counted = packets.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counted.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let started = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let error = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(run_for.as_nanos() as u64),
        &[gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match (started, error) {
        (_, Some(message)) => match message.view() {
            gst::MessageView::Error(e) => Err(e.error().to_string()),
            _ => unreachable!(),
        },
        (Err(e), None) => Err(e.to_string()),
        (Ok(_), None) => Ok(packets.load(Ordering::Relaxed)),
    }
}

#[test]
fn the_microphone_chain_runs_with_the_playouts_echo_canceller() {
    let playout = playout(100);
    let _berg = Speaker_::speak(&playout.slot_channel(0), 440.0);
    let packets = run_voice_chain(playout.echo_reference(), Duration::from_secs(2))
        .expect("the echo-cancelled microphone chain runs beside the playout");
    println!("{packets} Opus packets in 2 s through webrtcdsp");
    // 20 ms frames: 100 in 2 s; allow for the start.
    assert!(packets >= 50, "{packets} Opus packets in 2 s");
}

#[test]
fn the_microphone_chain_runs_while_no_playout_plays_its_reference() {
    common::init();
    // The reference is silence until a playout writes into its channel:
    // the microphone does not depend on the talk-back playout.
    let packets = run_voice_chain("samsyn-nothing-played", Duration::from_secs(2))
        .expect("the microphone chain runs without a playout");
    assert!(packets >= 50, "{packets} Opus packets in 2 s");
}

#[test]
fn without_a_sound_card_auto_plays_nowhere_and_says_so() {
    common::init();
    // This machine has no sound server: `auto` must not fail the daemon.
    let playout = Playout::start(&PlayoutOptions {
        speaker: Speaker::Auto,
        volume_percent: 100,
    })
    .expect("the playout starts even without a sound card");
    println!("auto plays on: {}", playout.speaker());
    let _berg = Speaker_::speak(&playout.slot_channel(3), 440.0);
    wait_levels(&playout, Duration::from_secs(5), "the speaker heard", |l| {
        l.active(3) && l.mix_db > SPEECH_LIKE_DB - 1.5
    });
}
