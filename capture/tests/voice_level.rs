//! The nurse's voice carries its loudness: the publisher's offer announces
//! the RFC 6464 audio level extension on the Opus m-line, and each Opus
//! packet the real pipeline makes (test sound → level → opusenc →
//! rtpopuspay) carries a level that is loud for a tone and at the floor
//! for silence. The gateway tells "the nurse is speaking" from it.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::audio::{TestSound, VoiceInput};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;
use samsyn_capture::webrtc::{
    AUDIO_LEVEL_EXTENSION_ID, AUDIO_LEVEL_URI, Publisher, PublisherOptions,
};

/// Opus packets to collect: a second of 20 ms frames.
const PACKETS: usize = 50;

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
        audio: VoiceInput::Test(sound),
        echo_probe: None,
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

/// Publishes `sound`, checks the offer, and returns the audio levels
/// (-dBov; `None` for a packet without the extension) of the first
/// [`PACKETS`] Opus packets the payloader makes.
async fn levels_sent(sound: TestSound) -> Vec<Option<u8>> {
    common::init();
    let mut publisher = Publisher::build(&options(sound)).expect("the publisher builds");
    let levels: Arc<Mutex<Vec<Option<u8>>>> = Arc::default();
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
            seen.lock().unwrap().push(level);
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
        (levels.len() >= PACKETS).then(|| levels[..PACKETS].to_vec())
    });
    publisher.stop();
    collected.expect("a second of Opus packets within 10 s")
}

#[tokio::test]
async fn a_tone_is_sent_loud() {
    let levels = levels_sent(TestSound::Tone).await;
    println!("tone: levels {levels:?}");
    // The encoder's first frames may predate the first measured buffer.
    let measured: Vec<u8> = levels.iter().skip(5).map(|l| l.expect("a level")).collect();
    // A sine of peak 0.3 has an RMS of -13.5 dBov.
    assert!(
        measured.iter().all(|level| (12..=15).contains(level)),
        "every packet of the tone carries about -13 dBov: {levels:?}"
    );
}

#[tokio::test]
async fn silence_is_sent_silent() {
    let levels = levels_sent(TestSound::Silence).await;
    println!("silence: levels {levels:?}");
    let measured: Vec<u8> = levels.iter().skip(5).map(|l| l.expect("a level")).collect();
    // `level` floors its measure near -60 dBov (1.22 gives -59 for digital
    // silence): far below speech, and below the gateway's "voiced" -45.
    assert!(
        measured.iter().all(|level| *level >= 55),
        "every packet of silence carries a level at the floor: {levels:?}"
    );
}
