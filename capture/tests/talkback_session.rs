//! A talk-back session against a WHEP endpoint on loopback whose far end
//! is a real webrtcbin speaking Opus on one m-line, as the gateway forwards
//! a specialist: the voice must come out of the matching playout slot, and
//! stopping the daemon's side must end the session with a DELETE.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::Peer;
use samsyn_capture::talkback::{LinkOptions, PlayoutOptions, Speaker, Talkback, TalkbackState};
use samsyn_capture::whip::{self, SessionKind, WhipClient};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_specialists_voice_on_mline_two_plays_in_slot_two() {
    common::init();
    const SLOT: u32 = 2;
    let peer_slot: Arc<Mutex<Option<Peer>>> = Arc::default();
    let keep = peer_slot.clone();
    let (base, mut requests) = common::whip_endpoint(move |offer| {
        let (peer, answer) = Peer::speaker(&offer, SLOT);
        *keep.lock().unwrap() = Some(peer);
        answer
    })
    .await;

    let talkback = Talkback::start(&PlayoutOptions {
        speaker: Speaker::None,
        volume_percent: 100,
    })
    .expect("talk-back starts");
    let (uplink_tx, uplink_rx) = watch::channel(0u64);
    let link = talkback.follow_uplink(
        LinkOptions {
            whep_url: whip::endpoint_url(&base, SessionKind::View, "ward7").unwrap(),
            client: WhipClient::new(SessionKind::View, "camera-token"),
            ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        },
        uplink_rx,
    );
    let mut status = talkback.status();

    // Nothing is posted before the video is up.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), requests.recv())
            .await
            .is_err(),
        "talk-back waits for the uplink"
    );
    uplink_tx.send_replace(1);
    // It asks for the relays first, with the same token.
    let options = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("talk-back asks for relays once the uplink is connected")
        .unwrap();
    assert!(
        options.head.starts_with("OPTIONS /whep/ward7 "),
        "{}",
        options.head
    );
    assert_eq!(options.header("authorization"), Some("Bearer camera-token"));
    let post = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("talk-back posts its offer once the uplink is connected")
        .unwrap();
    assert!(post.head.starts_with("POST /whep/ward7 "), "{}", post.head);
    assert_eq!(post.header("authorization"), Some("Bearer camera-token"));
    let posted = std::time::Instant::now();

    let heard = tokio::time::timeout(
        Duration::from_secs(15),
        status.wait_for(|s| {
            s.state == TalkbackState::Connected
                && s.slots[SLOT as usize].active
                && s.mix_level_db > -30.0
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the voice plays in slot {SLOT}: {:?}",
            talkback.status().borrow()
        )
    })
    .unwrap()
    .clone();
    println!(
        "slot {SLOT} heard {:.0} ms after the offer was posted: {}",
        posted.elapsed().as_secs_f64() * 1e3,
        serde_json::to_string(&heard).unwrap()
    );
    for other in (0..4).filter(|k| *k != SLOT as usize) {
        assert!(
            !heard.slots[other].active,
            "slot {other} stays silent: {heard:?}"
        );
    }

    // The uplink goes away (the daemon stops): talk-back ends its session.
    drop(uplink_tx);
    let delete = tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("talk-back deletes its session")
        .unwrap();
    assert!(
        delete.head.starts_with("DELETE /session/1 "),
        "{}",
        delete.head
    );
    tokio::time::timeout(Duration::from_secs(5), link)
        .await
        .expect("the link task ends")
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        status.wait_for(|s| s.state == TalkbackState::Off),
    )
    .await
    .expect("the status says talk-back is off")
    .unwrap();
}
