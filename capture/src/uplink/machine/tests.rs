//! Every transition of the uplink machine, on a made-up clock.

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::*;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

/// The backoff's jitter at its middle: delays exactly as the table says.
fn no_jitter() -> Jitter {
    Box::new(|| 0.5)
}

fn machine() -> UplinkMachine {
    UplinkMachine::new(Backoff::default(), no_jitter())
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The decisions among `actions`, by name (the wake-ups left out: see
/// [`wake`]).
fn decided(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::ForgetSession => Some("forget"),
            Action::OpenSession => Some("open"),
            Action::CheckSession => Some("check"),
            Action::RequestKeyframe => Some("keyframe"),
            Action::SessionLive => Some("live"),
            Action::WaitUntil(_) => None,
            Action::Stop(Outcome::Stopped) => Some("stop: stopped"),
            Action::Stop(Outcome::Ended) => Some("stop: ended"),
            Action::Stop(Outcome::Refused(_)) => Some("stop: refused"),
            Action::Stop(Outcome::PipelineFailed(_)) => Some("stop: pipeline failed"),
        })
        .collect()
}

/// When `actions` ask to be woken.
fn wake(actions: &[Action]) -> Option<Instant> {
    actions.iter().rev().find_map(|action| match action {
        Action::WaitUntil(at) => Some(*at),
        _ => None,
    })
}

fn unreachable_gateway() -> WhipError {
    WhipError::Unreachable {
        url: "https://gw.example.org/whip/ward7".into(),
        cause: "tcp connect error: Connection refused (os error 111)".into(),
    }
}

fn token_expired() -> WhipError {
    WhipError::TokenRefused {
        room: "ward7".into(),
        role: "publisher",
        status: 401,
        code: Some("token_expired".into()),
    }
}

fn room_ended() -> WhipError {
    WhipError::RoomEnded {
        room: "ward7".into(),
        code: Some("room_ended".into()),
    }
}

fn camera_failed() -> PipelineEvent {
    PipelineEvent::Error {
        element: "/pipeline/source".into(),
        message: "Could not read from resource.".into(),
        debug: None,
    }
}

/// A machine whose first session connected at `t0`.
fn live(t0: Instant) -> UplinkMachine {
    let mut m = machine();
    assert_eq!(decided(&m.start(t0)), ["open"]);
    m.handle(t0, Event::SessionOpened);
    assert_eq!(decided(&m.handle(t0, Event::Connected)), ["live"]);
    assert_eq!(m.link_state(), LinkState::Live);
    m
}

/// A live machine whose session was lost at `t0` (the first check asked).
fn recovering(t0: Instant) -> UplinkMachine {
    let mut m = live(t0 - 10 * S);
    assert_eq!(
        decided(&m.handle(t0, Event::GatewaySilent(Some(2 * S)))),
        ["check"]
    );
    m
}

/// Runs `body` with this thread's log lines collected; returns them.
fn logged(body: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, body);
    String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_first_session_connects_and_goes_live() {
    let t0 = Instant::now();
    let mut m = machine();
    assert_eq!(m.link_state(), LinkState::Connecting);
    assert_eq!(decided(&m.start(t0)), ["open"]);
    assert_eq!(m.link_state(), LinkState::Connecting);
    let opened = m.handle(t0 + 300 * MS, Event::SessionOpened);
    assert_eq!(wake(&opened), Some(t0 + 300 * MS + CONNECT_LIMIT));
    let log = logged(|| {
        let connected = m.handle(t0 + S, Event::Connected);
        assert_eq!(decided(&connected), ["live"]);
        assert_eq!(wake(&connected), Some(t0 + S + WATCH_TICK));
    });
    assert!(
        log.contains("connected to the gateway; the video is live"),
        "{log}"
    );
    assert!(m.was_connected());
    assert_eq!(m.link_state(), LinkState::Live);
}

#[test]
fn a_failed_try_waits_with_backoff_then_tries_again() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    let log = logged(|| {
        let failed = m.handle(
            t0,
            Event::ConnectFailed(ConnectFailure::Whip(unreachable_gateway())),
        );
        assert!(decided(&failed).is_empty());
        assert_eq!(wake(&failed), Some(t0 + 250 * MS));
    });
    // Before the first connection, the whole message with its fix.
    assert!(
        log.contains("reconnecting, 2nd try in 0.2 s: gateway unreachable at"),
        "{log}"
    );
    assert!(log.contains("check --gateway"), "{log}");
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
    // Early: nothing yet.
    assert!(decided(&m.handle(t0 + 200 * MS, Event::Timeout)).is_empty());
    assert_eq!(
        decided(&m.handle(t0 + 250 * MS, Event::Timeout)),
        ["forget", "open"]
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
    // The second failure waits twice as long, counted in the same outage.
    let failed = m.handle(
        t0 + 400 * MS,
        Event::ConnectFailed(ConnectFailure::Other("the pipeline stopped".into())),
    );
    assert_eq!(wake(&failed), Some(t0 + 900 * MS));
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 3 });
    m.handle(t0 + 900 * MS, Event::Timeout);
    m.handle(t0 + 1200 * MS, Event::SessionOpened);
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(t0 + 2300 * MS, Event::Connected)),
            ["live"]
        );
    });
    assert!(
        log.contains("reconnected to the gateway after 2.3 s (3 tries); the video is live again"),
        "{log}"
    );
}

#[test]
fn the_jitter_spreads_the_pause() {
    let t0 = Instant::now();
    let mut m = UplinkMachine::new(Backoff::default(), Box::new(|| 1.0));
    m.start(t0);
    let failed = m.handle(t0, Event::ConnectFailed(ConnectFailure::Other("x".into())));
    assert_eq!(wake(&failed), Some(t0 + 300 * MS), "250 ms + 20 %");
}

#[test]
fn after_the_first_connection_a_failure_is_told_short() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    m.handle(t0 + S, Event::SessionGone);
    let log = logged(|| {
        m.handle(
            t0 + 2 * S,
            Event::ConnectFailed(ConnectFailure::Whip(unreachable_gateway())),
        );
    });
    assert!(
        log.contains("reconnecting, 2nd try in 0.2 s: gateway unreachable (tcp connect error"),
        "{log}"
    );
    assert!(!log.contains("check --gateway"), "{log}");
}

#[test]
fn a_session_that_does_not_connect_in_time_is_tried_again() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    m.handle(t0, Event::SessionOpened);
    assert!(decided(&m.handle(t0 + 9 * S, Event::Timeout)).is_empty());
    assert_eq!(m.link_state(), LinkState::Connecting);
    let log = logged(|| {
        let late = m.handle(t0 + CONNECT_LIMIT, Event::Timeout);
        assert_eq!(wake(&late), Some(t0 + CONNECT_LIMIT + 250 * MS));
    });
    assert!(
        log.contains("no media connection within 10 s (UDP to the gateway blocked?)"),
        "{log}"
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
}

#[test]
fn webrtc_failing_while_connecting_is_tried_again() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    m.handle(t0, Event::SessionOpened);
    let failed = m.handle(t0 + S, Event::WebrtcFailed("ICE failed".into()));
    assert_eq!(wake(&failed), Some(t0 + S + 250 * MS));
}

#[test]
fn a_silent_gateway_starts_recovering_the_session() {
    let t0 = Instant::now();
    let mut m = live(t0);
    assert!(decided(&m.handle(t0 + S, Event::GatewaySilent(Some(1900 * MS)))).is_empty());
    // Nothing heard at all yet is no silence to judge.
    assert!(decided(&m.handle(t0 + S, Event::GatewaySilent(None))).is_empty());
    let log = logged(|| {
        let lost = m.handle(t0 + 2 * S, Event::GatewaySilent(Some(SILENCE_LIMIT)));
        assert_eq!(decided(&lost), ["check"]);
        assert_eq!(wake(&lost), None, "no look while the check is under way");
    });
    assert!(
        log.contains(
            "connection to the gateway lost: nothing heard from the gateway for 2.0 s; reconnecting"
        ),
        "{log}"
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 1 });
}

#[test]
fn webrtc_failing_while_live_starts_recovering_the_session() {
    let t0 = Instant::now();
    let mut m = live(t0);
    assert_eq!(
        decided(&m.handle(t0 + S, Event::WebrtcFailed("DTLS failed".into()))),
        ["check"]
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 1 });
}

#[test]
fn a_live_session_is_looked_at_every_tick() {
    let t0 = Instant::now();
    let mut m = live(t0);
    let looked = m.handle(t0 + WATCH_TICK, Event::Timeout);
    assert!(decided(&looked).is_empty());
    assert_eq!(wake(&looked), Some(t0 + 2 * WATCH_TICK));
}

#[test]
fn media_resuming_while_recovering_goes_live_with_a_keyframe() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    let paused = m.handle(t0 + 100 * MS, Event::CheckAnswered);
    assert!(decided(&paused).is_empty());
    // The first look comes at once.
    assert_eq!(wake(&paused), Some(t0 + 100 * MS));
    // Still quiet: look again shortly.
    let still = m.handle(t0 + 100 * MS, Event::GatewaySilent(Some(2100 * MS)));
    assert!(decided(&still).is_empty());
    let looked = m.handle(t0 + 100 * MS, Event::Timeout);
    assert_eq!(wake(&looked), Some(t0 + 200 * MS));
    let log = logged(|| {
        let back = m.handle(t0 + 1500 * MS, Event::GatewaySilent(Some(40 * MS)));
        assert_eq!(decided(&back), ["keyframe"]);
        assert_eq!(wake(&back), Some(t0 + 1500 * MS + WATCH_TICK));
    });
    assert!(
        log.contains(
            "the connection to the gateway came back after 1.5 s; the video is live again"
        ),
        "{log}"
    );
    assert_eq!(m.link_state(), LinkState::Live);
}

#[test]
fn a_gateway_that_lost_the_session_gets_a_new_one_at_once() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(t0 + 200 * MS, Event::SessionGone)),
            ["forget", "open"]
        );
    });
    assert!(
        log.contains(
            "starting a new session: the gateway no longer knows this session (it restarted?)"
        ),
        "{log}"
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 1 });
    m.handle(t0 + S, Event::SessionOpened);
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(t0 + 2300 * MS, Event::Connected)),
            ["live"]
        );
    });
    // The outage counts from the loss.
    assert!(
        log.contains("reconnected to the gateway after 2.3 s (1 try)"),
        "{log}"
    );
}

#[test]
fn a_404_from_the_check_counts_as_the_session_gone() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    let gone = Event::checked(Err(WhipError::SessionGone {
        url: "https://gw.example.org/whip/ward7/s1".into(),
    }));
    assert!(matches!(gone, Event::SessionGone));
    assert_eq!(decided(&m.handle(t0, gone)), ["forget", "open"]);
    assert!(matches!(Event::checked(Ok(())), Event::CheckAnswered));
}

#[test]
fn failed_checks_back_off_and_are_counted() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    let log = logged(|| {
        let failed = m.handle(t0 + 100 * MS, Event::CheckFailed(unreachable_gateway()));
        assert!(decided(&failed).is_empty());
    });
    assert!(
        log.contains("reconnecting, 1st try: gateway unreachable (tcp connect error"),
        "{log}"
    );
    // Looks meanwhile, every RECOVERY_LOOK, up to the pause's end.
    assert!(decided(&m.handle(t0 + 100 * MS, Event::GatewaySilent(Some(3 * S)))).is_empty());
    let looked = m.handle(t0 + 300 * MS, Event::Timeout);
    assert_eq!(wake(&looked), Some(t0 + 350 * MS), "the pause ends first");
    assert_eq!(decided(&m.handle(t0 + 350 * MS, Event::Timeout)), ["check"]);
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
    // The second pause is twice as long.
    m.handle(t0 + 400 * MS, Event::CheckFailed(unreachable_gateway()));
    assert!(decided(&m.handle(t0 + 850 * MS, Event::Timeout)).is_empty());
    assert_eq!(decided(&m.handle(t0 + 900 * MS, Event::Timeout)), ["check"]);
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 3 });
}

#[test]
fn a_gateway_that_answers_while_no_media_gets_through_gets_a_new_session() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    // The gateway answers every check from 100 ms on, but media never
    // comes: the path changed under the session. Pauses: 0.25, 0.5, 1, 2 s.
    for (answered, next_check) in [(100, 350), (400, 900), (1000, 2000), (2100, 4100)] {
        assert!(decided(&m.handle(t0 + answered * MS, Event::CheckAnswered)).is_empty());
        assert_eq!(
            decided(&m.handle(t0 + next_check * MS, Event::Timeout)),
            ["check"]
        );
    }
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(t0 + 4200 * MS, Event::CheckAnswered)),
            ["forget", "open"]
        );
    });
    assert!(
        log.contains(
            "starting a new session: the gateway answers but media does not get through \
             (the network changed?)"
        ),
        "{log}"
    );
}

/// Makes the machine check at once (a new address appeared).
fn check_at(m: &mut UplinkMachine, at: Instant) {
    let event = Event::AddressAdded {
        address: address("10.0.0.9"),
        concerns_session: true,
    };
    assert_eq!(decided(&m.handle(at, event)), ["check"]);
}

#[test]
fn the_stale_path_clock_restarts_when_a_check_fails() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    m.handle(t0, Event::CheckAnswered);
    check_at(&mut m, t0 + 2 * S);
    m.handle(t0 + 2 * S, Event::CheckFailed(unreachable_gateway()));
    // Answering again from 3 s: not stale at 3 s, nor at 4 s ...
    check_at(&mut m, t0 + 3 * S);
    assert!(decided(&m.handle(t0 + 3 * S, Event::CheckAnswered)).is_empty());
    check_at(&mut m, t0 + 4 * S);
    assert!(decided(&m.handle(t0 + 4 * S, Event::CheckAnswered)).is_empty());
    // ... but at 6 s.
    check_at(&mut m, t0 + 6 * S);
    assert_eq!(
        decided(&m.handle(t0 + 6 * S, Event::CheckAnswered)),
        ["forget", "open"]
    );
}

#[test]
fn a_new_address_while_recovering_checks_at_once() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    m.handle(t0, Event::CheckFailed(unreachable_gateway()));
    // Not the session's business: nothing.
    assert!(
        decided(&m.handle(
            t0 + 50 * MS,
            Event::AddressAdded {
                address: address("fe80::1"),
                concerns_session: false,
            }
        ))
        .is_empty()
    );
    assert_eq!(
        decided(&m.handle(
            t0 + 60 * MS,
            Event::AddressAdded {
                address: address("10.0.0.9"),
                concerns_session: true,
            }
        )),
        ["check"]
    );
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
}

#[test]
fn webrtc_failing_while_recovering_gets_a_new_session() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    m.handle(t0, Event::CheckFailed(unreachable_gateway()));
    assert_eq!(
        decided(&m.handle(t0 + S, Event::WebrtcFailed("ICE failed".into()))),
        ["forget", "open"]
    );
}

#[test]
fn an_address_gone_while_recovering_gets_a_new_session() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    m.handle(t0, Event::CheckFailed(unreachable_gateway()));
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(
                t0 + S,
                Event::AddressRemoved {
                    address: address("10.0.0.2"),
                    concerns_session: true,
                }
            )),
            ["forget", "open"]
        );
    });
    assert!(
        log.contains(
            "starting a new session: the laptop's network address changed (10.0.0.2 is gone)"
        ),
        "{log}"
    );
}

#[test]
fn an_address_gone_with_the_gateway_quiet_gets_a_new_session_at_once() {
    let t0 = Instant::now();
    let mut m = live(t0);
    let gone_at = t0 + 10 * S;
    let noticed = m.handle(
        gone_at,
        Event::AddressRemoved {
            address: address("10.0.0.2"),
            concerns_session: true,
        },
    );
    assert!(decided(&noticed).is_empty());
    assert_eq!(
        wake(&noticed),
        Some(gone_at + ADDRESS_WATCH_TICK),
        "looks sooner"
    );
    assert_eq!(m.link_state(), LinkState::Live);
    assert!(
        decided(&m.handle(gone_at + 200 * MS, Event::GatewaySilent(Some(300 * MS)))).is_empty(),
        "too early to tell"
    );
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(
                gone_at + 300 * MS,
                Event::GatewaySilent(Some(ADDRESS_SILENCE))
            )),
            ["forget", "open"]
        );
    });
    assert!(
        log.contains(
            "the laptop's network address changed (10.0.0.2 is gone and the gateway went quiet); \
             starting a new session"
        ),
        "{log}"
    );
    // No pause, and the outage counts from the removal.
    m.handle(gone_at + 500 * MS, Event::SessionOpened);
    let log = logged(|| {
        m.handle(gone_at + 1200 * MS, Event::Connected);
    });
    assert!(
        log.contains("reconnected to the gateway after 1.2 s (1 try)"),
        "{log}"
    );
}

#[test]
fn a_removal_the_session_survives_changes_nothing() {
    let t0 = Instant::now();
    let mut m = live(t0);
    m.handle(
        t0,
        Event::AddressRemoved {
            address: address("2001:db8::7"),
            concerns_session: true,
        },
    );
    assert!(decided(&m.handle(t0 + S, Event::GatewaySilent(Some(80 * MS)))).is_empty());
    let log = logged(|| {
        assert!(
            decided(&m.handle(t0 + ADDRESS_WATCH, Event::GatewaySilent(Some(80 * MS)))).is_empty()
        );
    });
    assert!(
        log.contains("the video still gets through; the session did not use 2001:db8::7"),
        "{log}"
    );
    // The removal is forgotten: back to the usual looks, and a later
    // short silence is nothing.
    let looked = m.handle(t0 + ADDRESS_WATCH, Event::Timeout);
    assert_eq!(wake(&looked), Some(t0 + ADDRESS_WATCH + WATCH_TICK));
    assert!(decided(&m.handle(t0 + 3 * S, Event::GatewaySilent(Some(500 * MS)))).is_empty());
    assert_eq!(m.link_state(), LinkState::Live);
}

#[test]
fn a_removal_of_an_address_the_session_cannot_use_is_ignored() {
    let t0 = Instant::now();
    let mut m = live(t0);
    let ignored = m.handle(
        t0,
        Event::AddressRemoved {
            address: address("fe80::1"),
            concerns_session: false,
        },
    );
    assert_eq!(wake(&ignored), Some(t0 + WATCH_TICK), "no sooner look");
    assert!(decided(&m.handle(t0 + 500 * MS, Event::GatewaySilent(Some(500 * MS)))).is_empty());
}

#[test]
fn a_new_address_during_the_pause_tries_at_once() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    m.handle(
        t0,
        Event::ConnectFailed(ConnectFailure::Whip(unreachable_gateway())),
    );
    assert!(
        decided(&m.handle(
            t0 + 10 * MS,
            Event::AddressAdded {
                address: address("127.0.0.2"),
                concerns_session: false,
            }
        ))
        .is_empty()
    );
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(
                t0 + 20 * MS,
                Event::AddressAdded {
                    address: address("10.0.0.9"),
                    concerns_session: true,
                }
            )),
            ["forget", "open"]
        );
    });
    assert!(
        log.contains("the laptop has a new network address (10.0.0.9); trying again now"),
        "{log}"
    );
    // The try counts on: a failure now waits for the 3rd.
    let failed = m.handle(
        t0 + 30 * MS,
        Event::ConnectFailed(ConnectFailure::Other("x".into())),
    );
    assert_eq!(wake(&failed), Some(t0 + 530 * MS));
    assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 3 });
}

#[test]
fn a_refused_token_is_fatal() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    let refused = m.handle(
        t0,
        Event::ConnectFailed(ConnectFailure::Whip(token_expired())),
    );
    assert_eq!(decided(&refused), ["stop: refused"]);
    assert!(matches!(
        &refused[..],
        [Action::Stop(Outcome::Refused(
            WhipError::TokenRefused { .. }
        ))]
    ));
    let LinkState::Refused { code, message } = m.link_state() else {
        panic!("{:?}", m.link_state());
    };
    assert_eq!(code, "token_expired");
    assert!(
        message.contains("ask for a new publisher token"),
        "{message}"
    );
    assert!(m.is_over());
    // Nothing moves it any more.
    assert!(m.handle(t0 + S, Event::Timeout).is_empty());
}

#[test]
fn a_token_refused_to_a_check_is_fatal_too() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    assert_eq!(
        decided(&m.handle(t0, Event::CheckFailed(token_expired()))),
        ["stop: refused"]
    );
    assert!(matches!(m.link_state(), LinkState::Refused { .. }));
}

#[test]
fn a_refusal_without_a_gateway_code_is_named_by_its_kind() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    m.handle(
        t0,
        Event::ConnectFailed(ConnectFailure::Whip(WhipError::TokenRefused {
            room: "ward7".into(),
            role: "publisher",
            status: 403,
            code: None,
        })),
    );
    assert!(matches!(
        m.link_state(),
        LinkState::Refused { code, .. } if code == "token_refused"
    ));
}

#[test]
fn a_room_ended_after_connecting_ends_the_uplink_cleanly() {
    let t0 = Instant::now();
    let mut m = recovering(t0);
    let log = logged(|| {
        assert_eq!(
            decided(&m.handle(t0, Event::CheckFailed(room_ended()))),
            ["forget", "stop: ended"]
        );
    });
    assert!(
        log.contains("the hospital has ended this consultation"),
        "{log}"
    );
    assert_eq!(m.link_state(), LinkState::Ended);
    // A new session refused with 410 ends it the same way.
    let mut m = recovering(t0);
    m.handle(t0, Event::SessionGone);
    assert_eq!(
        decided(&m.handle(t0, Event::ConnectFailed(ConnectFailure::Whip(room_ended())))),
        ["forget", "stop: ended"]
    );
    // And so does word of it from elsewhere.
    let mut m = live(t0);
    assert_eq!(
        decided(&m.handle(
            t0,
            Event::RoomEnded {
                room: "ward7".into()
            }
        )),
        ["forget", "stop: ended"]
    );
    assert_eq!(m.link_state(), LinkState::Ended);
}

#[test]
fn a_room_ended_before_ever_connecting_is_an_error() {
    let t0 = Instant::now();
    let mut m = machine();
    m.start(t0);
    assert_eq!(
        decided(&m.handle(t0, Event::ConnectFailed(ConnectFailure::Whip(room_ended())))),
        ["stop: refused"]
    );
    assert!(matches!(
        m.link_state(),
        LinkState::Refused { code, .. } if code == "room_ended"
    ));
}

#[test]
fn a_failed_camera_pipeline_is_fatal_in_any_state() {
    let t0 = Instant::now();
    let mut m = live(t0);
    assert_eq!(
        decided(&m.handle(t0, Event::PipelineFailed(camera_failed()))),
        ["stop: pipeline failed"]
    );
    assert_eq!(m.link_state(), LinkState::Stopped);
    let mut m = machine();
    m.start(t0);
    m.handle(t0, Event::ConnectFailed(ConnectFailure::Other("x".into())));
    assert_eq!(
        decided(&m.handle(t0, Event::PipelineFailed(PipelineEvent::Eos))),
        ["stop: pipeline failed"]
    );
    let mut m = recovering(t0);
    assert_eq!(
        decided(&m.handle(t0, Event::PipelineFailed(camera_failed()))),
        ["stop: pipeline failed"]
    );
}

#[test]
fn a_stop_request_stops_in_any_state() {
    let t0 = Instant::now();
    for mut m in [machine(), live(t0), recovering(t0)] {
        m.start(t0);
        assert_eq!(
            decided(&m.handle(t0, Event::StopRequested)),
            ["stop: stopped"]
        );
        assert_eq!(m.link_state(), LinkState::Stopped);
        assert!(m.handle(t0, Event::Connected).is_empty());
    }
    // An ended consultation stays ended.
    let mut m = live(t0);
    m.handle(
        t0,
        Event::RoomEnded {
            room: "ward7".into(),
        },
    );
    assert!(m.handle(t0, Event::StopRequested).is_empty());
    assert_eq!(m.link_state(), LinkState::Ended);
}

#[test]
fn events_of_another_state_change_nothing() {
    let t0 = Instant::now();
    let mut m = live(t0);
    for event in [
        Event::Connected,
        Event::SessionOpened,
        Event::CheckAnswered,
        Event::SessionGone,
        Event::ConnectFailed(ConnectFailure::Other("old".into())),
        Event::AddressAdded {
            address: address("10.0.0.9"),
            concerns_session: true,
        },
    ] {
        assert!(decided(&m.handle(t0, event)).is_empty());
        assert_eq!(m.link_state(), LinkState::Live);
    }
    // While waiting, the old session's reports are history.
    let mut m = machine();
    m.start(t0);
    m.handle(t0, Event::ConnectFailed(ConnectFailure::Other("x".into())));
    for event in [
        Event::WebrtcFailed("ICE failed".into()),
        Event::Connected,
        Event::GatewaySilent(Some(5 * S)),
        Event::AddressRemoved {
            address: address("10.0.0.2"),
            concerns_session: true,
        },
    ] {
        assert!(decided(&m.handle(t0, event)).is_empty());
        assert_eq!(m.link_state(), LinkState::Reconnecting { attempt: 2 });
    }
}

#[test]
fn a_quiet_gateway_after_a_removal_means_the_session_went_with_it() {
    assert_eq!(after_removal(Some(400 * MS), 400 * MS), AfterRemoval::Gone);
    // Quiet since before the removal: the removal explains it.
    assert_eq!(after_removal(Some(1500 * MS), 50 * MS), AfterRemoval::Gone);
}

#[test]
fn a_gateway_still_talking_means_another_address_carries_the_session() {
    assert_eq!(after_removal(Some(80 * MS), 300 * MS), AfterRemoval::Wait);
    assert_eq!(
        after_removal(Some(80 * MS), ADDRESS_WATCH),
        AfterRemoval::Kept
    );
}

#[test]
fn late_silence_is_left_to_the_usual_limit() {
    // Quiet only after the watch ended: SILENCE_LIMIT decides.
    assert_eq!(
        after_removal(Some(500 * MS), ADDRESS_WATCH),
        AfterRemoval::Kept
    );
    // A session that never heard anything is not judged by a removal.
    assert_eq!(after_removal(None, 100 * MS), AfterRemoval::Wait);
    assert_eq!(after_removal(None, ADDRESS_WATCH), AfterRemoval::Kept);
}
