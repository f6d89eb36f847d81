//! Talk-back through the SFU in memory: real webrtc-rs peers as the camera
//! (and the nurse speaking in its audio), specialists who speak, an
//! observer and the camera's own talk-back session, time passed in (see
//! `support/loopback.rs`).

#[allow(dead_code)] // Each user of the harness takes its own subset.
#[path = "support/loopback.rs"]
mod loopback;

use std::collections::BTreeMap;
use std::time::Duration;

use loopback::{AUDIO_LEVEL_URI, Client, MS, World, room_id};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use samsyn_signaling::media::{Listener, MediaEvent, SessionId, SessionKind};

const ROOM: &str = "room1";

/// The audio packets `listener` received, counted per SSRC (one SSRC per
/// audio m-line the gateway sends on).
fn audio_by_ssrc(world: &World, listener: usize) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for packet in &world.clients[listener].received_audio {
        *counts.entry(packet.header.ssrc).or_default() += 1;
    }
    counts
}

/// `speakers` each send `packets` 20 ms packets at `level`, in turn.
fn speak(world: &mut World, speakers: &[usize], first_seq: u16, packets: u16, level: u8) {
    for seq in first_seq..first_seq + packets {
        for &speaker in speakers {
            let now = world.now;
            world.clients[speaker].speak(now, seq, level);
        }
        world.run_for(20 * MS, 5 * MS);
    }
}

/// The "who is speaking" changes the SFU reported, by session.
fn speaking_events(world: &mut World) -> Vec<(SessionId, bool)> {
    world
        .sfu
        .drain_events()
        .filter_map(|event| match event {
            MediaEvent::Speaking { session, speaking } => Some((session, speaking)),
            _ => None,
        })
        .collect()
}

/// A page with a microphone and two talk-back slots joins as `listener`.
fn join_with_microphone(world: &mut World, addr: &str, listener: Listener) -> usize {
    let now = world.now;
    world
        .view_as(&room_id(ROOM), Client::speaker(addr, now, 2), listener)
        .unwrap()
}

/// A room with a camera (video only) and everyone joined and connected.
struct Consultation {
    world: World,
    berg: usize,
    lie: usize,
    observer: usize,
    nurse: usize,
}

fn consultation(nurse_slots: usize) -> Consultation {
    let mut world = World::new();
    world.publish(&room_id(ROOM), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let berg = join_with_microphone(&mut world, "10.213.0.10:41000", Listener::Specialist);
    let lie = join_with_microphone(&mut world, "10.213.0.11:41000", Listener::Specialist);
    // An observer's page may offer its microphone too; nobody hears it.
    let observer = join_with_microphone(&mut world, "10.213.0.12:41000", Listener::Observer);
    let nurse = world
        .view_as(
            &room_id(ROOM),
            Client::talkback_listener("10.213.0.2:40002", world.now, nurse_slots),
            Listener::Camera,
        )
        .unwrap();
    world.run_for(Duration::from_secs(1), 5 * MS);
    for client in [berg, lie, observer, nurse] {
        assert!(world.clients[client].connected, "client {client} connected");
    }
    speaking_events(&mut world);
    Consultation {
        world,
        berg,
        lie,
        observer,
        nurse,
    }
}

#[test]
fn each_speaker_reaches_the_nurse_and_the_other_pages_on_a_slot_of_its_own() {
    let Consultation {
        mut world,
        berg,
        lie,
        observer,
        nurse,
    } = consultation(4);

    speak(&mut world, &[berg, lie, observer], 0, 50, 20);

    let heard_by_nurse = audio_by_ssrc(&world, nurse);
    assert_eq!(
        heard_by_nurse.values().copied().collect::<Vec<_>>(),
        [50, 50],
        "the nurse hears both specialists, each on its own m-line, and not the observer: {heard_by_nurse:?}"
    );
    for (listener, other) in [(berg, lie), (lie, berg)] {
        let heard = audio_by_ssrc(&world, listener);
        assert_eq!(
            heard.values().copied().collect::<Vec<_>>(),
            [50],
            "client {listener} hears client {other} only, never itself: {heard:?}"
        );
    }
    let heard_by_observer = audio_by_ssrc(&world, observer);
    assert_eq!(
        heard_by_observer.values().sum::<usize>(),
        100,
        "the observer hears both specialists: {heard_by_observer:?}"
    );
    // The camera's talk-back session is not a viewer of the room.
    assert_eq!(world.sfu.occupancy().viewers, 3);
    assert_eq!(world.sfu.stats().talkback_in, 100);

    let events = speaking_events(&mut world);
    let started: Vec<&SessionId> = events
        .iter()
        .filter(|(_, speaking)| *speaking)
        .map(|(session, _)| session)
        .collect();
    assert_eq!(
        started,
        [&world.sessions[berg], &world.sessions[lie]],
        "both specialists are heard speaking, the observer is not: {events:?}"
    );
    // Quiet packets for a second and a bit: speech ends.
    speak(&mut world, &[berg, lie], 50, 60, 127);
    let ended: Vec<bool> = speaking_events(&mut world)
        .into_iter()
        .map(|(_, speaking)| speaking)
        .collect();
    assert_eq!(ended, [false, false]);
}

#[test]
fn a_speaker_keeps_its_slot_and_a_speaker_who_leaves_makes_room_for_the_next() {
    let Consultation {
        mut world,
        berg,
        lie,
        nurse,
        ..
    } = consultation(1);

    speak(&mut world, &[berg], 0, 20, 20);
    speak(&mut world, &[berg, lie], 20, 20, 20);
    speaking_events(&mut world);
    let heard = audio_by_ssrc(&world, nurse);
    assert_eq!(
        heard.values().copied().collect::<Vec<_>>(),
        [40],
        "one slot: the first speaker keeps it: {heard:?}"
    );
    assert_eq!(world.sfu.stats().talkback_without_slot, 20);

    // Dr. Berg hangs up while speaking: the room hears speech end, and
    // the slot passes to the next speaker with the numbering going on.
    let session = world.sessions[berg].clone();
    world
        .sfu
        .end(&room_id(ROOM), SessionKind::View, &session)
        .unwrap();
    assert_eq!(speaking_events(&mut world), [(session, false)]);
    speak(&mut world, &[lie], 40, 20, 20);
    let audio = &world.clients[nurse].received_audio;
    assert_eq!(audio.len(), 60);
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].header.sequence_number,
            pair[0].header.sequence_number.wrapping_add(1),
            "one continuous stream on the nurse's m-line"
        );
        assert_eq!(pair[1].header.ssrc, pair[0].header.ssrc);
    }
}

#[test]
fn the_cameras_talkback_session_needs_audio_and_does_not_count_as_a_viewer() {
    let mut world = World::new();
    world.publish(&room_id(ROOM), "10.213.0.2:40000");
    world.run_for(Duration::from_secs(1), 5 * MS);
    let now = world.now;
    let mut video_only = Client::new("10.213.0.2:40002", now);
    video_only.add_recvonly(RtpCodecKind::Video);
    let err = world
        .view_as(&room_id(ROOM), video_only, Listener::Camera)
        .unwrap_err();
    assert!(err.to_string().contains("audio m-line"), "{err}");
    // The harness's rooms take three viewers; the camera's session is extra.
    for n in 0..3 {
        world
            .view(&room_id(ROOM), &format!("10.213.0.{}:41000", 10 + n))
            .unwrap();
    }
    world
        .view_as(
            &room_id(ROOM),
            Client::talkback_listener("10.213.0.2:40002", now, 2),
            Listener::Camera,
        )
        .expect("the camera hears talk-back in a full room");
}

/// The nurse's voice, as the capture daemon sends it: the camera's Opus
/// with the audio level extension (`vad=on`, as GStreamer offers it). The
/// answer accepts the extension, and the room hears the nurse speak by the
/// same rule as the specialists: not while she is silent (GStreamer's
/// `level` floors silence at -59 dBov), from a tone on, until a second of
/// silence, and no longer once the camera hangs up.
#[test]
fn the_nurse_is_heard_speaking_in_the_cameras_audio() {
    let mut world = World::new();
    let mut camera = Client::camera_with_audio("10.213.0.2:40000", world.now);
    let offer = camera.offer(world.now).replace(
        &format!("{AUDIO_LEVEL_URI}\r\n"),
        &format!("{AUDIO_LEVEL_URI} vad=on\r\n"),
    );
    assert!(offer.contains(" vad=on\r\n"), "{offer}");
    let answer = world.sfu.publish(world.now, &room_id(ROOM), offer).unwrap();
    let audio_answer = &answer.sdp[answer.sdp.find("m=audio").expect("audio answered")..];
    assert!(
        audio_answer
            .lines()
            .any(|l| l.starts_with("a=extmap:") && l.contains(AUDIO_LEVEL_URI)),
        "the answer accepts the audio level on the camera's audio: {audio_answer}"
    );
    camera.accept(world.now, answer.sdp);
    world.clients.push(camera);
    world.sessions.push(answer.session);
    let (nurse, nurse_session) = (0, world.sessions[0].clone());
    world.run_for(Duration::from_secs(1), 5 * MS);
    let berg = join_with_microphone(&mut world, "10.213.0.10:41000", Listener::Specialist);
    world.run_for(Duration::from_secs(1), 5 * MS);
    assert!(world.clients[berg].connected);
    speaking_events(&mut world);

    speak(&mut world, &[nurse], 0, 100, 59);
    assert_eq!(
        speaking_events(&mut world),
        [],
        "silence from the camera is not speech"
    );
    speak(&mut world, &[nurse], 100, 4, 13);
    assert_eq!(
        speaking_events(&mut world),
        [],
        "not before 100 ms of voice"
    );
    speak(&mut world, &[nurse], 104, 46, 13);
    assert_eq!(
        speaking_events(&mut world),
        [(nurse_session.clone(), true)],
        "the nurse speaks"
    );
    assert_eq!(
        audio_by_ssrc(&world, berg).values().sum::<usize>(),
        150,
        "the specialist hears the nurse on the first audio m-line meanwhile"
    );
    speak(&mut world, &[nurse], 150, 60, 59);
    assert_eq!(
        speaking_events(&mut world),
        [(nurse_session.clone(), false)],
        "a second of silence ends it"
    );

    // Hanging up while speaking: the room hears speech end first.
    speak(&mut world, &[nurse], 210, 10, 13);
    assert_eq!(speaking_events(&mut world), [(nurse_session.clone(), true)]);
    world
        .sfu
        .end(&room_id(ROOM), SessionKind::Publish, &nurse_session)
        .unwrap();
    let events: Vec<MediaEvent> = world.sfu.drain_events().collect();
    assert!(
        matches!(
            events.first(),
            Some(MediaEvent::Speaking { session, speaking: false }) if *session == nurse_session
        ),
        "speech ends before the session does: {events:?}"
    );
}
