//! The SFU driven end to end in memory: real webrtc-rs peers as camera and
//! viewers, time passed in (see `support/loopback.rs`).

#[allow(dead_code)] // Each user of the harness takes its own subset.
#[path = "support/loopback.rs"]
mod loopback;

use std::time::Duration;

use loopback::{IDR, MS, World, room_id};
use samsyn_signaling::media::{Listener, MediaError, SessionKind};

fn received_frames(world: &World, viewer: usize) -> usize {
    world.clients[viewer].received.len()
}

#[test]
fn a_viewer_joining_mid_stream_starts_on_a_keyframe_with_its_own_numbering() {
    let mut world = World::new();
    let cam = world.publish(&room_id("room1"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(
        world.clients[cam].connected,
        "the camera connects through ICE-lite and DTLS"
    );
    let frames_before_join = world.clients[cam].camera.as_ref().unwrap().frames;
    assert!(frames_before_join > 40, "the camera is streaming");

    let viewer = world
        .view(&room_id("room1"), "10.213.0.3:40001")
        .expect("viewer accepted");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(world.clients[viewer].connected, "the viewer connects");
    assert!(
        world.clients[cam].keyframe_requests >= 1,
        "the camera is asked for a keyframe when a viewer joins"
    );

    let got = &world.clients[viewer].received;
    assert!(
        got.len() >= 50,
        "2 s at 30 fps reach the viewer, got {}",
        got.len()
    );
    assert_eq!(
        &got[0].payload[..],
        IDR,
        "the first packet a viewer gets is a keyframe"
    );
    assert_ne!(
        got[0].header.ssrc, world.clients[cam].video_ssrc,
        "SSRC is rewritten"
    );
    for pair in got.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1),
            "the viewer sees continuous sequence numbers"
        );
        assert_eq!(
            pair[1]
                .header
                .timestamp
                .wrapping_sub(pair[0].header.timestamp),
            3000
        );
    }
    let stats = world.sfu.stats();
    assert_eq!(stats.rtp_forwarded as usize, got.len());
}

#[test]
fn one_uplink_packet_reaches_every_viewer_and_requests_are_throttled() {
    let mut world = World::new();
    let cam = world.publish(&room_id("room1"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewers: Vec<usize> = (0..3)
        .map(|i| {
            world
                .view(&room_id("room1"), &format!("10.213.0.{}:4100{i}", 10 + i))
                .unwrap()
        })
        .collect();
    world.run_for(Duration::from_secs(2), 5 * MS);
    // Three viewers joined at once: their requests merge under the throttle.
    let requests = world.clients[cam].keyframe_requests;
    assert!(
        (1..=2).contains(&requests),
        "{requests} keyframe requests for 3 joins"
    );
    let uplink_frames = world.clients[cam].camera.as_ref().unwrap().frames as usize;
    for &v in &viewers {
        let got = received_frames(&world, v);
        assert!(got >= 50, "viewer {v} got {got} frames");
        assert_eq!(&world.clients[v].received[0].payload[..], IDR);
    }
    let stats = world.sfu.stats();
    assert_eq!(
        stats.rtp_in as usize, uplink_frames,
        "the uplink carries one stream"
    );
    // A fourth viewer is over the configured maximum.
    assert_eq!(
        world
            .view(&room_id("room1"), "10.213.0.20:42000")
            .unwrap_err(),
        MediaError::TooManyViewers(3)
    );
}

#[test]
fn rooms_are_independent_and_a_room_without_camera_says_so() {
    let mut world = World::new();
    world.publish(&room_id("room-a"), "10.213.0.2:40000");
    world.publish(&room_id("room-b"), "10.213.0.3:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let va = world.view(&room_id("room-a"), "10.213.0.10:41000").unwrap();
    let vb = world.view(&room_id("room-b"), "10.213.0.11:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(received_frames(&world, va) >= 20);
    assert!(received_frames(&world, vb) >= 20);

    // Room b's camera leaves; room a keeps streaming.
    let session_b = world.sessions[1].clone();
    assert_eq!(
        world
            .sfu
            .end(&room_id("room-b"), SessionKind::View, &session_b),
        Err(MediaError::UnknownSession),
        "the camera's session cannot be ended through the viewers' endpoint"
    );
    world
        .sfu
        .end(&room_id("room-b"), SessionKind::Publish, &session_b)
        .unwrap();
    assert_eq!(
        world
            .sfu
            .end(&room_id("room-b"), SessionKind::Publish, &session_b),
        Err(MediaError::UnknownSession)
    );
    let (a_before, b_before) = (received_frames(&world, va), received_frames(&world, vb));
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(
        received_frames(&world, va) >= a_before + 25,
        "room a still streams"
    );
    assert_eq!(
        received_frames(&world, vb),
        b_before,
        "room b has no camera"
    );

    assert_eq!(
        world
            .view(&room_id("room-empty"), "10.213.0.12:41000")
            .unwrap_err(),
        MediaError::NoPublisher
    );
    // A session id from room a cannot end anything through room b.
    let session_a = world.sessions[0].clone();
    assert_eq!(
        world
            .sfu
            .end(&room_id("room-b"), SessionKind::Publish, &session_a),
        Err(MediaError::UnknownSession)
    );
}

#[test]
fn a_malformed_offer_is_refused_without_touching_other_rooms() {
    let mut world = World::new();
    world.publish(&room_id("room-a"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world.view(&room_id("room-a"), "10.213.0.10:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);

    let err = world
        .sfu
        .publish(
            world.now,
            &room_id("room-b"),
            "v=0\r\nthis is not sdp\r\n".into(),
        )
        .unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");
    let err = world
        .sfu
        .view(
            world.now,
            &room_id("room-a"),
            Listener::Specialist,
            "v=0\r\n".into(),
        )
        .unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");

    let before = received_frames(&world, viewer);
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(received_frames(&world, viewer) >= before + 25);
}

#[test]
fn a_camera_that_changes_network_restarts_ice_and_viewers_keep_watching() {
    let mut world = World::new();
    let cam = world.publish(&room_id("room1"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world.view(&room_id("room1"), "10.213.0.10:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(received_frames(&world, viewer) >= 20);

    // The nurse walks from Wi-Fi to 4G: new address, ICE restart over PATCH.
    let now = world.now;
    let fragment = world.clients[cam].restart_ice(now, "10.213.0.77:45000");
    let session = world.sessions[cam].clone();
    let answer = world
        .sfu
        .patch(
            now,
            &room_id("room1"),
            SessionKind::Publish,
            &session,
            &fragment,
        )
        .expect("the restart is accepted")
        .expect("an ICE restart is answered with a fragment");
    assert!(
        answer.contains("a=ice-ufrag:") && answer.contains("a=ice-pwd:"),
        "{answer}"
    );
    assert!(answer.contains("a=candidate:"), "{answer}");
    world.clients[cam].accept_restart(now, &answer);

    let before = received_frames(&world, viewer);
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(
        received_frames(&world, viewer) >= before + 40,
        "frames keep coming after the restart: {} then {}",
        before,
        received_frames(&world, viewer)
    );

    // A trickle fragment with the current credentials is not a restart.
    let trickle =
        fragment.clone() + "a=candidate:1 1 udp 2130706431 10.213.0.77 45000 typ host\r\n";
    assert_eq!(
        world.sfu.patch(
            world.now,
            &room_id("room1"),
            SessionKind::Publish,
            &session,
            &trickle
        ),
        Ok(None)
    );

    // Browsers trickle `.local` names and sometimes a line the stack cannot
    // read: those are skipped, the rest is taken.
    let mixed = fragment.clone()
        + "a=candidate:2 1 udp 2130706431 3f1c9a2e-5d1b-4c4e-9f8e-1b2c3d4e5f60.local 45001 typ host\r\n"
        + "a=candidate:garbage\r\n"
        + "a=candidate:3 1 udp 2130706431 10.213.0.77 45002 typ host\r\n";
    assert_eq!(
        world.sfu.patch(
            world.now,
            &room_id("room1"),
            SessionKind::Publish,
            &session,
            &mixed
        ),
        Ok(None)
    );
    // A fragment with nothing readable is refused, and says why.
    let broken = fragment.clone() + "a=candidate:garbage\r\n";
    let refused = world.sfu.patch(
        world.now,
        &room_id("room1"),
        SessionKind::Publish,
        &session,
        &broken,
    );
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn the_nurses_audio_reaches_viewers_without_waiting_for_a_keyframe() {
    let mut world = World::new();
    let cam = world.publish_with_audio(&room_id("room1"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world.view(&room_id("room1"), "10.213.0.10:41000").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    for seq in 0..50u16 {
        let now = world.now;
        world.clients[cam].send_audio(now, 1000 + seq);
        world.run_for(20 * MS, 5 * MS);
    }
    let audio = &world.clients[viewer].received_audio;
    assert_eq!(audio.len(), 50, "every audio packet is forwarded");
    assert_eq!(audio[0].header.payload_type, loopback::OPUS_PT);
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            pair[1]
                .header
                .timestamp
                .wrapping_sub(pair[0].header.timestamp),
            960
        );
    }
    assert!(
        received_frames(&world, viewer) >= 40,
        "video flows beside the audio"
    );
}

#[test]
fn a_lost_camera_packet_is_nacked_and_only_an_unrepairable_one_costs_a_keyframe() {
    let mut world = World::new();
    let cam = world.publish(&room_id("room1"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world
        .view(&room_id("room1"), "10.213.0.3:40001")
        .expect("viewer");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(world.clients[viewer].connected);

    // Arriving out of order is not a loss: repaired, no keyframe needed.
    let requests = world.clients[cam].keyframe_requests;
    let now = world.now;
    let seq = world.clients[cam].camera.as_ref().unwrap().seq;
    world.clients[cam].send_video(now, seq.wrapping_add(1), 0, loopback::DELTA);
    world.clients[cam].send_video(now, seq, 0, loopback::DELTA);
    world.clients[cam].camera.as_mut().unwrap().seq = seq.wrapping_add(2);
    world.run_for(Duration::from_millis(1500), 5 * MS);
    let stats = world.sfu.stats();
    assert_eq!((stats.uplink_missing, stats.uplink_repaired), (1, 1));
    assert_eq!(
        world.clients[cam].keyframe_requests, requests,
        "a repaired gap costs no keyframe"
    );

    // A packet that never comes is NACKed, then given up: one keyframe.
    world.clients[cam].camera.as_mut().unwrap().seq += 1;
    world.run_for(Duration::from_millis(500), 5 * MS);
    let stats = world.sfu.stats();
    assert!(stats.uplink_nacks >= 2, "NACKed: {stats:?}");
    assert_eq!(stats.uplink_lost, 0, "not given up yet");
    assert_eq!(world.clients[cam].keyframe_requests, requests);
    world.run_for(Duration::from_secs(1), 5 * MS);
    let stats = world.sfu.stats();
    assert_eq!(
        (stats.uplink_missing, stats.uplink_lost),
        (2, 1),
        "{stats:?}"
    );
    assert_eq!(
        world.clients[cam].keyframe_requests,
        requests + 1,
        "an unrepairable loss asks the camera for one keyframe"
    );
}

#[test]
fn a_connection_test_is_measured_and_never_reaches_the_rooms_viewers() {
    let mut world = World::new();
    let cam = world.publish(&room_id("ward"), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let viewer = world.view(&room_id("ward"), "10.213.0.3:40001").unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(world.clients[cam].connected && world.clients[viewer].connected);

    // The nurse tests her line in the room while the consultation runs.
    let test = world.connection_test(&room_id("ward"), "10.213.0.4:40002");
    let before = received_frames(&world, viewer);
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(
        world.clients[test].connected,
        "the test connects like a camera"
    );
    let during = received_frames(&world, viewer) - before;
    assert!(
        (50..=65).contains(&during),
        "the viewer gets the camera's 30 fps and nothing of the test's: {during} frames in 2 s"
    );
    let session = world.sessions[test].clone();
    let report = world
        .sfu
        .connection_test_report(world.now, &room_id("ward"), "camera-token", &session)
        .expect("the test's report");
    assert!(
        report.packets >= 50,
        "the gateway counted the test's packets: {report:?}"
    );
    let occupancy = world.sfu.occupancy();
    assert_eq!(
        (
            occupancy.publishers,
            occupancy.viewers,
            occupancy.connection_tests
        ),
        (1, 1, 1)
    );
    assert!(world.sfu.stats().connection_test_rtp_in >= 50);

    // Only its own endpoint reaches it, and ending it leaves the room alone.
    for kind in [SessionKind::Publish, SessionKind::View] {
        assert_eq!(
            world.sfu.end(&room_id("ward"), kind, &session),
            Err(MediaError::UnknownSession)
        );
    }
    world
        .sfu
        .end_connection_test(&room_id("ward"), "camera-token", &session)
        .unwrap();
    let before = received_frames(&world, viewer);
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(
        received_frames(&world, viewer) - before >= 25,
        "the viewer keeps watching"
    );
    assert_eq!(world.sfu.occupancy().connection_tests, 0);
    assert!(
        world
            .sfu
            .connection_test_report(world.now, &room_id("ward"), "camera-token", &session)
            .is_err()
    );
}

/// Garbage on the shared port, from strangers and from addresses spoofed to
/// look like the camera's and the viewer's: the real `rtc` peers take what
/// reaches them, no panic escapes, and the stream goes on at its rate.
#[test]
fn garbage_on_the_media_port_disturbs_no_stream() {
    use rand::{Rng, SeedableRng};

    let mut world = World::new();
    let cam = world.publish(&room_id("room1"), "10.213.0.2:40000");
    let viewer = world
        .view(&room_id("room1"), "10.213.0.3:40001")
        .expect("viewer accepted");
    world.run_for(Duration::from_secs(2), 5 * MS);
    assert!(world.clients[viewer].connected, "the viewer connects");
    let before = received_frames(&world, viewer);

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5a3_5e7);
    let local = loopback::GATEWAY.parse().unwrap();
    let targets = [
        world.clients[cam].addr,
        world.clients[viewer].addr,
        "10.213.0.66:5000".parse().unwrap(),
    ];
    let mut sent = 0usize;
    let end = world.now + Duration::from_secs(3);
    while world.now < end {
        for _ in 0..20 {
            let len = rng.random_range(0..1500);
            let mut datagram: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if let Some(first) = datagram.first_mut() {
                // As often STUN-, DTLS- and RTP-shaped as anything else.
                *first = match rng.random_range(0..4) {
                    0 => *first & 0x03,
                    1 => rng.random_range(20..64),
                    2 => rng.random_range(128..192),
                    _ => *first,
                };
            }
            if datagram.len() >= 8 && rng.random_bool(0.5) {
                datagram[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
            }
            let from = targets[rng.random_range(0..targets.len())];
            world.sfu.handle_datagram(world.now, local, from, &datagram);
            sent += 1;
        }
        world.run_for(10 * MS, 5 * MS);
    }
    let during = received_frames(&world, viewer) - before;
    println!("{sent} garbage datagrams; the viewer got {during} packets meanwhile");
    assert_eq!(world.sfu.stats().peers_failed, 0, "no peer failed");
    assert!(
        during >= 80,
        "3 s at 30 fps keep reaching the viewer through the garbage, got {during}"
    );
}

#[test]
fn connection_tests_belong_to_their_token_and_each_room_has_its_own_slots() {
    use loopback::Client;
    use samsyn_gateway::media::admission::MAX_CONNECTION_TESTS_PER_ROOM;

    let mut world = World::new();
    let start = |world: &mut World, room: &str, owner: &str, port: u16| {
        let mut client = Client::camera(&format!("10.213.0.4:{port}"), world.now);
        let offer = client.offer(world.now);
        world
            .sfu
            .start_connection_test(world.now, &room_id(room), owner, offer)
    };
    // One room's publisher takes every slot of its room …
    let mut sessions = Vec::new();
    for n in 0..MAX_CONNECTION_TESTS_PER_ROOM {
        let answer = start(&mut world, "ward", "nurse-a", 40000 + n as u16).unwrap();
        sessions.push(answer.session);
    }
    assert_eq!(
        start(&mut world, "ward", "nurse-a", 40100).unwrap_err(),
        MediaError::TooManyConnectionTests(MAX_CONNECTION_TESTS_PER_ROOM)
    );
    // … and another room still tests its line.
    start(&mut world, "other", "nurse-b", 40200).expect("another room's test");
    // A room with nothing but a test is a room in use: ending it from the
    // command line reaches the test too.
    assert!(world.sfu.rooms_in_use().contains(&room_id("other")));
    world.sfu.end_room(&room_id("other"));
    assert!(!world.sfu.rooms_in_use().contains(&room_id("other")));

    // A second publisher token of the room neither reads nor ends the first's test.
    let first = &sessions[0];
    assert_eq!(
        world
            .sfu
            .connection_test_report(world.now, &room_id("ward"), "second-publisher", first)
            .unwrap_err(),
        MediaError::UnknownSession
    );
    assert_eq!(
        world
            .sfu
            .end_connection_test(&room_id("ward"), "second-publisher", first)
            .unwrap_err(),
        MediaError::UnknownSession
    );
    assert!(
        world
            .sfu
            .connection_test_report(world.now, &room_id("ward"), "nurse-a", first)
            .is_ok(),
        "its own token still reads it"
    );
    world
        .sfu
        .end_connection_test(&room_id("ward"), "nurse-a", first)
        .unwrap();
    start(&mut world, "ward", "nurse-a", 40300).expect("a freed slot is used again");
}

#[test]
fn the_cameras_talkback_sessions_are_counted() {
    use loopback::Client;
    use samsyn_gateway::media::admission::MAX_TALKBACK_SESSIONS_PER_ROOM;

    let mut world = World::new();
    world.publish(&room_id("ward"), "10.213.0.2:40000");
    for n in 0..MAX_TALKBACK_SESSIONS_PER_ROOM {
        let listener =
            Client::talkback_listener(&format!("10.213.0.2:{}", 40010 + n), world.now, 1);
        world
            .view_as(&room_id("ward"), listener, Listener::Camera)
            .expect("the camera's talk-back");
    }
    let one_more = Client::talkback_listener("10.213.0.2:40099", world.now, 1);
    assert_eq!(
        world
            .view_as(&room_id("ward"), one_more, Listener::Camera)
            .unwrap_err(),
        MediaError::TalkbackTaken(MAX_TALKBACK_SESSIONS_PER_ROOM)
    );
    // They take no viewer's place: the specialists still get in.
    world
        .view(&room_id("ward"), "10.213.0.3:40001")
        .expect("a specialist watches");
}
