//! Media really flows over loopback: the publisher to a receiving webrtcbin
//! (via the WHIP client), and a sending webrtcbin to the test WHEP viewer (via
//! WHEP). ICE is pinned to 127.0.0.1 on both ends.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::Peer;
use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::audio::VoiceInput;
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;
use samsyn_capture::webrtc::{Publisher, PublisherOptions};
use samsyn_capture::whip::{SessionKind, WhipClient, endpoint_url};
use samsyn_testkit::whep_viewer::{ViewerOptions, WhepViewer};

/// Counts keyframes leaving the publisher's encoder.
fn count_keyframes(publisher: &Publisher) -> Arc<AtomicUsize> {
    let keyframes = Arc::new(AtomicUsize::new(0));
    let encoder = publisher
        .pipeline()
        .by_name("video-encoder")
        .expect("the publisher has an encoder");
    let count = keyframes.clone();
    encoder
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer()
                && !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
            {
                count.fetch_add(1, Ordering::SeqCst);
            }
            gst::PadProbeReturn::Ok
        });
    keyframes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_video_arrives_and_a_pli_brings_a_keyframe() {
    common::init();
    let peer_slot: Arc<Mutex<Option<Peer>>> = Arc::default();
    let slot = peer_slot.clone();
    let (base, mut requests) = common::whip_endpoint(move |offer| {
        let (peer, answer) = Peer::receiver(&offer);
        *slot.lock().unwrap() = Some(peer);
        answer
    })
    .await;

    let mut publisher = Publisher::build(&PublisherOptions {
        source: SourceSpec::Test,
        video: VideoSettings {
            width: 320,
            height: 240,
            fps: 30,
            codec: VideoCodec::H264,
            bitrate_kbps: 400,
            x264_preset: Default::default(),
        },
        photo_mode: Default::default(),
        audio: VoiceInput::Off,
        echo_reference: None,
        ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    })
    .unwrap();
    let keyframes = count_keyframes(&publisher);

    let client = WhipClient::new(SessionKind::Publish, "pub-token");
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let offer = publisher.start_and_offer().await.unwrap();
    let session = client.post_offer(&url, &offer).await.unwrap();
    publisher.accept_answer(&session.answer).await.unwrap();

    let received = || peer_slot.lock().unwrap().as_ref().unwrap().received();
    let got = common::wait_until(Duration::from_secs(10), || {
        let r = received();
        (r.frames >= 10).then_some(r)
    })
    .unwrap_or_else(|| panic!("the peer decoded too few frames: {:?}", received()));
    assert_eq!(got.size, Some((320, 240)));

    // The receiving side asks for a keyframe the way a viewer's decoder
    // does; its RTP session turns that into an RTCP PLI to the publisher.
    let before = keyframes.load(Ordering::SeqCst);
    let sink = peer_slot
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .decoder_sink
        .lock()
        .unwrap()
        .clone()
        .unwrap();
    let request = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(true)
        .build();
    assert!(sink.send_event(request));
    let arrived = common::wait_until(Duration::from_secs(5), || {
        (keyframes.load(Ordering::SeqCst) > before).then_some(())
    });
    assert!(
        arrived.is_some(),
        "the publisher's encoder made a keyframe after the PLI (keyframes before: {before})"
    );

    client.delete(&session).await.unwrap();
    publisher.stop();
    let post = requests.recv().await.unwrap();
    assert_eq!(post.header("authorization"), Some("Bearer pub-token"));
    let delete = requests.recv().await.unwrap();
    assert!(
        delete.head.starts_with("DELETE /session/1 "),
        "{}",
        delete.head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whep_viewer_decodes_frames_over_whep() {
    common::init();
    let peer_slot: Arc<Mutex<Option<Peer>>> = Arc::default();
    let slot = peer_slot.clone();
    let (base, mut requests) = common::whip_endpoint(move |offer| {
        let (peer, answer) = Peer::sender(&offer);
        *slot.lock().unwrap() = Some(peer);
        answer
    })
    .await;

    // No addresses given: the loopback gateway URL pins ICE to 127.0.0.1.
    let url = endpoint_url(&base, SessionKind::View, "ward7").unwrap();
    let mut viewer = WhepViewer::start(ViewerOptions::new(url, "view-token"))
        .await
        .expect("the WHEP viewer connects");
    let report = viewer
        .wait_frames(10, Duration::from_secs(10))
        .await
        .expect("frames are decoded");
    assert!(report.frames >= 10);
    assert_eq!((report.width, report.height), (320, 240));
    assert!(report.first_frame_after > Duration::ZERO);
    assert!(report.first_frame_after < Duration::from_secs(10));
    assert_eq!(viewer.report().map(|r| r.width), Some(320));

    viewer.stop().await.expect("the session is deleted");
    // It asks for the gateway's relays first, with its token (RFC 9725).
    let options = requests.recv().await.unwrap();
    assert!(
        options.head.starts_with("OPTIONS /whep/ward7 ")
            && options.head.contains("authorization: Bearer view-token"),
        "{}",
        options.head
    );
    let post = requests.recv().await.unwrap();
    assert!(post.head.starts_with("POST /whep/ward7 "), "{}", post.head);
    assert!(post.body.contains("a=recvonly"), "the viewer only receives");
    assert!(
        post.body.contains("a=rtpmap:96 H264/90000"),
        "{}",
        post.body
    );
    assert!(
        post.body.contains("profile-level-id=42e01f"),
        "{}",
        post.body
    );
    assert_eq!(
        post.body.matches("level-asymmetry-allowed").count(),
        1,
        "{}",
        post.body
    );
    assert_eq!(post.header("authorization"), Some("Bearer view-token"));
    let delete = requests.recv().await.unwrap();
    assert!(
        delete.head.starts_with("DELETE /session/1 "),
        "{}",
        delete.head
    );
}
