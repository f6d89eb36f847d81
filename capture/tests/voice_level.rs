//! The nurse's voice carries its loudness: the publisher's offer announces
//! the RFC 6464 audio level extension on the Opus m-line, and each Opus
//! packet the real pipeline makes (test sound → level → opusenc →
//! rtpopuspay) carries a level that is loud while the test tone sounds and
//! at the floor in its pauses and in silence. The gateway tells "the nurse
//! is speaking" from it.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::audio::{TONE_PERIOD, TONE_PHRASE, TestSound, VoiceInput};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;
use samsyn_capture::webrtc::{
    AUDIO_LEVEL_EXTENSION_ID, AUDIO_LEVEL_URI, Publisher, PublisherOptions,
};

/// One Opus packet: when in the sound it starts (its timestamp: the test
/// source's samples start at 0), and the level it carries (-dBov; `None`
/// without the extension).
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Duration,
    level: Option<u8>,
}

fn options(sound: TestSound) -> PublisherOptions {
    PublisherOptions {
        source: SourceSpec::Test,
        video: VideoSettings {
            width: 320,
            height: 240,
            fps: 15,
            codec: VideoCodec::H264,
            bitrate_kbps: 300,
            x264_preset: Default::default(),
        },
        photo_mode: Default::default(),
        audio: VoiceInput::Test(sound),
        echo_reference: None,
        ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}

/// The audio m-section of `sdp`.
fn audio_section(sdp: &str) -> &str {
    let start = sdp.find("m=audio").expect("the offer has an audio m-line");
    let rest = &sdp[start..];
    let end = rest[1..].find("\r\nm=").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// Publishes `sound`, checks the offer, and returns the Opus packets the
/// payloader makes for the sound's first `length`.
async fn levels_sent(sound: TestSound, length: Duration) -> Vec<Sent> {
    common::init();
    let mut publisher = Publisher::build(&options(sound)).expect("the publisher builds");
    let levels: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let payloaded = publisher
        .pipeline()
        .by_name("audio-pay")
        .and_then(|pay| pay.static_pad("src"))
        .expect("the Opus payloader has a src pad");
    let seen = levels.clone();
    payloaded.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer()
            && let Ok(rtp) = gstreamer_rtp::RTPBuffer::from_buffer_readable(buffer)
        {
            let level = rtp
                .extension_onebyte_header(AUDIO_LEVEL_EXTENSION_ID as u8, 0)
                .and_then(|element| element.first().map(|byte| byte & 0x7f));
            if let Some(pts) = buffer.pts() {
                let at = Duration::from_nanos(pts.nseconds());
                seen.lock().unwrap().push(Sent { at, level });
            }
        }
        gst::PadProbeReturn::Ok
    });

    let sdp = publisher.start_and_offer().await.expect("offer is made");
    assert!(publisher.has_audio(), "the test sound is sent");
    let audio = audio_section(&sdp);
    println!("{audio}");
    let extmap = format!("a=extmap:{AUDIO_LEVEL_EXTENSION_ID} {AUDIO_LEVEL_URI}");
    assert!(
        audio.lines().any(|line| line.starts_with(&extmap)),
        "the Opus m-line offers the audio level extension ({extmap}): {audio}"
    );
    assert!(
        audio.contains("a=rtpmap:111 OPUS/48000/2"),
        "Opus is offered: {audio}"
    );

    let collected = common::wait_until(Duration::from_secs(10), || {
        let levels = levels.lock().unwrap();
        (levels.last()?.at >= length).then(|| levels.clone())
    });
    publisher.stop();
    collected.expect("the Opus packets within 10 s")
}

/// The levels of the packets from `from` to `to` into the sound (by
/// timestamp, so a packet dropped on a busy machine moves nothing).
fn levels_between(sent: &[Sent], from: Duration, to: Duration) -> Vec<u8> {
    let levels: Vec<u8> = sent
        .iter()
        .filter(|packet| (from..to).contains(&packet.at))
        .map(|packet| packet.level.expect("every packet carries a level"))
        .collect();
    assert!(
        levels.len() * 20 >= (to - from).as_millis() as usize / 2,
        "most of {from:?}..{to:?} was sent: {} packets of 20 ms",
        levels.len()
    );
    levels
}

#[tokio::test]
async fn the_test_tone_is_sent_loud_in_phrases_and_at_the_floor_between() {
    let levels = levels_sent(TestSound::Tone, Duration::from_secs(5)).await;
    println!(
        "tone: levels {:?}",
        levels.iter().map(|p| p.level).collect::<Vec<_>>()
    );
    // 100 ms of margin around each edge: the encoder's delay, and packets
    // that straddle one.
    let margin = Duration::from_millis(100);
    let first_phrase = levels_between(&levels, margin, TONE_PHRASE - margin);
    let pause = levels_between(&levels, TONE_PHRASE + margin, TONE_PERIOD - margin);
    let second_phrase = levels_between(&levels, TONE_PERIOD + margin, Duration::from_secs(5));
    // A sine of peak 0.3 has an RMS of -13.5 dBov.
    for phrase in [&first_phrase, &second_phrase] {
        assert!(
            phrase.iter().all(|level| (12..=15).contains(level)),
            "every packet of a phrase carries about -13 dBov: {phrase:?}"
        );
    }
    assert!(
        pause.iter().all(|level| *level >= 55),
        "every packet of the pause carries a level at the floor: {pause:?}"
    );
}

#[tokio::test]
async fn silence_is_sent_silent() {
    let levels = levels_sent(TestSound::Silence, Duration::from_secs(1)).await;
    println!(
        "silence: levels {:?}",
        levels.iter().map(|p| p.level).collect::<Vec<_>>()
    );
    let measured = levels_between(&levels, Duration::from_millis(100), Duration::from_secs(1));
    // `level` floors its measure near -60 dBov (1.22 gives -59 for digital
    // silence): far below speech, and below the gateway's "voiced" -45.
    assert!(
        measured.iter().all(|level| *level >= 55),
        "every packet of silence carries a level at the floor: {measured:?}"
    );
}
