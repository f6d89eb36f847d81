//! The uplink's decisions: when the WHIP session is live, when it is lost,
//! whether it is worth keeping, when to replace it and when to try again.
//!
//! - **Connecting**: a new session is opened (`POST`) and must connect
//!   (ICE and DTLS) within [`CONNECT_LIMIT`] of its answer. A failure the
//!   gateway says is final (token or room refused) ends the uplink;
//!   anything else is tried again after a pause (**Waiting**).
//! - **Live**: media flows. The session is lost when nothing has come back
//!   from the gateway for [`SILENCE_LIMIT`] (no RTCP at all: the gateway's
//!   transport-wide feedback normally arrives many times a second), or
//!   when webrtcbin reports the connection failed.
//! - **Address gone**: an address the session may run on went away (the
//!   laptop moved to another network) and the gateway went quiet for
//!   [`ADDRESS_SILENCE`] within [`ADDRESS_WATCH`] of it: the session went
//!   with the address, so a new one is opened at once, without recovering
//!   or pausing. A removed address the session does not use (the gateway
//!   still talks) changes nothing.
//! - **Recovering**: the session is kept while the gateway is asked
//!   (`PATCH` with unchanged ICE credentials) whether it still has it.
//!   When the path comes back by itself (a Wi-Fi hiccup, a blackout), media
//!   simply resumes on the same session and a keyframe is sent at once.
//!   When the gateway has forgotten the session (404: it restarted), or
//!   answers for [`STALE_PATH_LIMIT`] while no media gets through (the
//!   laptop changed networks), a new session is opened at once. webrtcbin
//!   in GStreamer 1.22 cannot restart ICE (its offers have no
//!   `ice-restart` option), so a new session stands in for an ICE restart
//!   over `PATCH`; it costs one DTLS handshake more.
//! - **Waiting**: the pause before the next try, from a [`Backoff`] with
//!   jitter; a new address that can carry the session ends it at once (the
//!   laptop joined a network, so the next try may well work).
//! - **Ended**: the hospital ended the consultation after the video had
//!   reached it: the uplink stops with success. A link to a consultation
//!   that had ended before the daemon ever connected is refused instead.
//! - **Refused**: the token or the room was refused: no retry can help.
//!
//! Every step is logged as the nurse should read it: "reconnecting, 3rd
//! try in 1.2 s: gateway unreachable (…)", "reconnected to the gateway
//! after 2.3 s (2 tries); the video is live again".
//!
//! The machine is sans-IO in the str0m way, as the quality ladder
//! ([`crate::latency::ladder`]) is: it never reads a clock, never sleeps and
//! never touches the network. The driver passes `now` and what happened
//! into [`UplinkMachine::handle`] and performs the [`Action`]s it returns;
//! [`Action::WaitUntil`] says when to look next (then the driver reports
//! the gateway's silence, [`Event::GatewaySilent`], and [`Event::Timeout`]).
//! The backoff's random jitter comes from a source given at construction,
//! so tests are exact.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::LinkState;
use crate::network_watch::AddressChange;
use crate::reconnect::{Backoff, ordinal};
use crate::webrtc::PipelineEvent;
use crate::whip::WhipError;

/// No RTCP from the gateway for this long: the connection is lost.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(2);
/// A new session must connect (ICE and DTLS) within this of its answer.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// The gateway answers but no media gets through for this long: the path
/// changed under the session, so make a new one.
pub const STALE_PATH_LIMIT: Duration = Duration::from_secs(3);
/// An address the session may run on went away and nothing has come from
/// the gateway for this long: the session went with the address. The
/// gateway's feedback comes about every 100 ms, so this is several missed
/// reports, yet short beside [`SILENCE_LIMIT`].
pub const ADDRESS_SILENCE: Duration = Duration::from_millis(400);
/// How long after an address went away a short silence counts as its
/// doing; later, [`SILENCE_LIMIT`] decides as usual.
pub const ADDRESS_WATCH: Duration = SILENCE_LIMIT;
/// How often a live session is looked at for silence, and (shorter) while
/// an address has just gone away.
pub const WATCH_TICK: Duration = Duration::from_millis(250);
/// See [`WATCH_TICK`].
pub const ADDRESS_WATCH_TICK: Duration = Duration::from_millis(50);
/// Something heard from the gateway within this: media gets through.
pub const HEARD_RECENTLY: Duration = Duration::from_secs(1);
/// How often a session being recovered is looked at between two checks,
/// so media coming back by itself is noticed at once.
pub const RECOVERY_LOOK: Duration = Duration::from_millis(100);

/// Why opening or connecting a new session failed.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The WHIP exchange failed: the gateway refused the offer (perhaps for
    /// good: see [`WhipError::is_permanent`]) or could not be reached.
    Whip(WhipError),
    /// Something else on the way failed (preparing the offer, applying the
    /// answer, ICE or DTLS): worth another try. The text says what.
    Other(String),
}

/// What happened, as the driver saw it.
#[derive(Debug)]
pub enum Event {
    /// The new session's offer was accepted and its answer applied: ICE
    /// and DTLS are under way.
    SessionOpened,
    /// The new session connected (ICE and DTLS are up).
    Connected,
    /// Opening or connecting the new session failed.
    ConnectFailed(ConnectFailure),
    /// A look at the current session: how long nothing has come back from
    /// the gateway (`None`: nothing yet at all). A short silence means
    /// media gets through again.
    GatewaySilent(Option<Duration>),
    /// webrtcbin gave the connection up, or the session's pipeline failed.
    WebrtcFailed(String),
    /// One of the laptop's addresses went away.
    AddressRemoved {
        /// The address.
        address: IpAddr,
        /// Whether the session may run on it (see
        /// [`AddressChange::concerns`]).
        concerns_session: bool,
    },
    /// The laptop has a new address.
    AddressAdded {
        /// The address.
        address: IpAddr,
        /// Whether a session may run on it.
        concerns_session: bool,
    },
    /// The gateway answered the check: it still has the session.
    CheckAnswered,
    /// The gateway no longer knows the session (404: it restarted).
    SessionGone,
    /// The check failed otherwise (perhaps for good: the token or the room
    /// was refused).
    CheckFailed(WhipError),
    /// The time of the last [`Action::WaitUntil`] has come.
    Timeout,
    /// The hospital ended the consultation.
    RoomEnded {
        /// The room.
        room: String,
    },
    /// The capture pipeline (camera, encoder) failed: nothing more can be
    /// sent.
    PipelineFailed(PipelineEvent),
    /// Stopping was asked for (Ctrl-C, or the nurse ended the visit).
    StopRequested,
}

impl Event {
    /// The event for the answer to a session check.
    pub fn checked(answer: Result<(), WhipError>) -> Self {
        match answer {
            Ok(()) => Event::CheckAnswered,
            Err(WhipError::SessionGone { .. }) => Event::SessionGone,
            Err(e) => Event::CheckFailed(e),
        }
    }

    /// The event for an address change, with ICE pinned to `pinned`
    /// (none: any address).
    pub fn address(change: AddressChange, pinned: &[IpAddr]) -> Self {
        let concerns_session = change.concerns(pinned);
        match change {
            AddressChange::Added(address) => Event::AddressAdded {
                address,
                concerns_session,
            },
            AddressChange::Removed(address) => Event::AddressRemoved {
                address,
                concerns_session,
            },
        }
    }
}

/// What the driver must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Forget the current WHIP session: delete it in the background (best
    /// effort: the gateway replaces it anyway when the new one arrives).
    ForgetSession,
    /// Open a new session (relays, offer, `POST`, answer) and report
    /// [`Event::SessionOpened`] or [`Event::ConnectFailed`].
    OpenSession,
    /// Ask the gateway whether it still has the session (`PATCH`) and
    /// report the answer ([`Event::checked`]).
    CheckSession,
    /// Ask the encoder for a keyframe: media resumes on the same session.
    RequestKeyframe,
    /// A new session connected: tell those who follow the uplink
    /// (talk-back opens its own session beside each new one).
    SessionLive,
    /// Report [`Event::Timeout`] (after a look at the session,
    /// [`Event::GatewaySilent`]) at this time, unless told another time
    /// first.
    WaitUntil(Instant),
    /// Stop: the uplink is over.
    Stop(Outcome),
}

/// How the uplink ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stopping was asked for.
    Stopped,
    /// The hospital ended the consultation after the video had reached it.
    Ended,
    /// The gateway refused the token or the room; retrying cannot help.
    Refused(WhipError),
    /// The capture pipeline failed.
    PipelineFailed(PipelineEvent),
}

/// What a removal of an address says, judged by the session's silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterRemoval {
    /// The gateway went quiet: the session ran on that address.
    Gone,
    /// The gateway kept talking: the session runs on another address.
    Kept,
    /// Too early to tell.
    Wait,
}

/// Judges an address removal `since` ago by how long the session has heard
/// nothing from the gateway (`None`: nothing yet at all). A session whose
/// address went away hears nothing from then on (the kernel no longer
/// delivers to it); a removal it survives is common (IPv6 temporary
/// addresses expire and go, a second interface loses its lease).
fn after_removal(silent: Option<Duration>, since: Duration) -> AfterRemoval {
    match silent {
        Some(silent) if silent >= ADDRESS_SILENCE && since < ADDRESS_WATCH => AfterRemoval::Gone,
        _ if since >= ADDRESS_WATCH => AfterRemoval::Kept,
        _ => AfterRemoval::Wait,
    }
}

/// The pause between two checks of a session being recovered.
#[derive(Debug, Clone, Copy)]
struct Pause {
    /// When the next check is due.
    until: Instant,
    /// When to look at the session next meanwhile.
    next_look: Instant,
}

#[derive(Debug, Clone)]
enum State {
    /// Not started.
    Idle,
    /// A new session is being opened and connected.
    Connecting {
        /// Tries of this outage that failed (0: this is the first).
        failed: u32,
        /// Since when the video is down (`None`: the first try ever).
        outage: Option<Instant>,
        /// Set once the answer is applied: the session must connect by then.
        connect_by: Option<Instant>,
    },
    /// Media flows.
    Live {
        /// An address the session may run on that went away, and when.
        removed: Option<(IpAddr, Instant)>,
        /// When to look at the session's silence next.
        next_look: Instant,
    },
    /// The session is kept while the gateway is asked whether it has it.
    Recovering {
        /// When the connection was lost.
        since: Instant,
        /// Checks made (the one under way included).
        checks: u32,
        /// Since when the gateway answers the checks (while media still
        /// does not get through).
        answering_since: Option<Instant>,
        /// The pause after a check; `None` while a check is under way.
        pause: Option<Pause>,
    },
    /// The pause before the next try to connect.
    Waiting {
        /// When the next try is due.
        until: Instant,
        /// Tries of this outage that failed.
        failed: u32,
        /// Since when the video is down.
        outage: Instant,
    },
    /// The hospital ended the consultation.
    Ended,
    /// The gateway refused the token or the room.
    Refused {
        /// See [`LinkState::Refused`].
        code: String,
        /// See [`LinkState::Refused`].
        message: String,
    },
    /// Stopped on request, or because the capture pipeline failed.
    Stopped,
}

/// A random value uniform in 0.0..1.0, for the backoff's jitter.
pub type Jitter = Box<dyn FnMut() -> f64 + Send>;

/// The uplink's decisions; see the [module documentation](self).
pub struct UplinkMachine {
    state: State,
    backoff: Backoff,
    jitter: Jitter,
    /// Whether a session has connected since the daemon started.
    was_connected: bool,
}

impl std::fmt::Debug for UplinkMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UplinkMachine")
            .field("state", &self.state)
            .field("backoff", &self.backoff)
            .field("was_connected", &self.was_connected)
            .finish_non_exhaustive()
    }
}

impl UplinkMachine {
    /// A machine that pauses as `backoff` says, spread by values from
    /// `jitter` (uniform in 0.0..1.0).
    pub fn new(backoff: Backoff, jitter: Jitter) -> Self {
        Self {
            state: State::Idle,
            backoff,
            jitter,
            was_connected: false,
        }
    }

    /// Starts: the first session is to be opened.
    pub fn start(&mut self, _now: Instant) -> Vec<Action> {
        if !matches!(self.state, State::Idle) {
            return Vec::new();
        }
        self.state = State::Connecting {
            failed: 0,
            outage: None,
            connect_by: None,
        };
        vec![Action::OpenSession]
    }

    /// Whether a session has connected since the start.
    pub fn was_connected(&self) -> bool {
        self.was_connected
    }

    /// Whether the uplink is over (ended, refused or stopped).
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            State::Ended | State::Refused { .. } | State::Stopped
        )
    }

    /// The state as the nurse's screen shows it.
    pub fn link_state(&self) -> LinkState {
        match &self.state {
            State::Idle
            | State::Connecting {
                outage: None,
                failed: 0,
                ..
            } => LinkState::Connecting,
            State::Connecting { failed, .. } | State::Waiting { failed, .. } => {
                LinkState::Reconnecting {
                    attempt: failed + 1,
                }
            }
            State::Live { .. } => LinkState::Live,
            State::Recovering { checks, .. } => LinkState::Reconnecting {
                attempt: (*checks).max(1),
            },
            State::Ended => LinkState::Ended,
            State::Refused { code, message } => LinkState::Refused {
                code: code.clone(),
                message: message.clone(),
            },
            State::Stopped => LinkState::Stopped,
        }
    }

    /// Takes in what happened at `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.is_over() {
            return actions;
        }
        match event {
            Event::StopRequested => {
                self.state = State::Stopped;
                actions.push(Action::Stop(Outcome::Stopped));
            }
            Event::PipelineFailed(error) => {
                self.state = State::Stopped;
                actions.push(Action::Stop(Outcome::PipelineFailed(error)));
            }
            Event::RoomEnded { room } => {
                self.give_up(WhipError::RoomEnded { room, code: None }, &mut actions);
            }
            Event::SessionOpened => {
                if let State::Connecting { connect_by, .. } = &mut self.state {
                    *connect_by = Some(now + CONNECT_LIMIT);
                }
            }
            Event::Connected => self.connected(now, &mut actions),
            Event::ConnectFailed(failure) => self.connect_failed(now, failure, &mut actions),
            Event::GatewaySilent(silent) => self.look(now, silent, &mut actions),
            Event::WebrtcFailed(why) => match self.state {
                State::Connecting { .. } => self.try_later(now, why),
                State::Live { .. } => self.lose(now, &why, &mut actions),
                State::Recovering { since, .. } => self.replace(since, &why, &mut actions),
                _ => {}
            },
            Event::AddressRemoved {
                address,
                concerns_session: true,
            } => self.address_removed(now, address, &mut actions),
            Event::AddressAdded {
                address,
                concerns_session: true,
            } => self.address_added(address, &mut actions),
            Event::AddressRemoved { .. } | Event::AddressAdded { .. } => {}
            Event::CheckAnswered => self.check_answered(now, &mut actions),
            Event::SessionGone => self.session_gone(&mut actions),
            Event::CheckFailed(WhipError::SessionGone { .. }) => self.session_gone(&mut actions),
            Event::CheckFailed(error) => self.check_failed(now, error, &mut actions),
            Event::Timeout => self.timeout(now, &mut actions),
        }
        if let Some(at) = self.wake_at() {
            actions.push(Action::WaitUntil(at));
        }
        actions
    }

    /// When the machine wants to look next.
    fn wake_at(&self) -> Option<Instant> {
        match &self.state {
            State::Connecting { connect_by, .. } => *connect_by,
            State::Live { next_look, .. } => Some(*next_look),
            State::Recovering { pause, .. } => pause.map(|p| p.next_look),
            State::Waiting { until, .. } => Some(*until),
            _ => None,
        }
    }

    fn connected(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let State::Connecting { failed, outage, .. } = self.state else {
            return;
        };
        match outage {
            None => tracing::info!("connected to the gateway; the video is live"),
            Some(since) => tracing::info!(
                "reconnected to the gateway after {:.1} s ({} {}); the video is live again",
                now.saturating_duration_since(since).as_secs_f64(),
                failed + 1,
                if failed == 0 { "try" } else { "tries" },
            ),
        }
        self.was_connected = true;
        self.state = State::Live {
            removed: None,
            next_look: now + WATCH_TICK,
        };
        actions.push(Action::SessionLive);
    }

    fn connect_failed(&mut self, now: Instant, failure: ConnectFailure, actions: &mut Vec<Action>) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        let why = match failure {
            ConnectFailure::Whip(error) if error.is_permanent() => {
                return self.give_up(error, actions);
            }
            // Until the first connection the whole message, with its fix
            // (check --gateway): the URL may simply be wrong.
            ConnectFailure::Whip(error) if !self.was_connected => error.to_string(),
            ConnectFailure::Whip(error) => error.short(),
            ConnectFailure::Other(why) => why,
        };
        self.try_later(now, why);
    }

    /// The try under way failed: pause before the next.
    fn try_later(&mut self, now: Instant, why: String) {
        let State::Connecting { failed, outage, .. } = self.state else {
            return;
        };
        let failed = failed + 1;
        let outage = outage.unwrap_or(now);
        let delay = self.backoff.delay(
            failed,
            now.saturating_duration_since(outage),
            (self.jitter)(),
        );
        tracing::warn!(
            "reconnecting, {} try in {:.1} s: {why}",
            ordinal(failed + 1),
            delay.as_secs_f64()
        );
        self.state = State::Waiting {
            until: now + delay,
            failed,
            outage,
        };
    }

    /// A new session, at once: the current one cannot come back.
    fn open_new(&mut self, failed: u32, outage: Instant, actions: &mut Vec<Action>) {
        self.state = State::Connecting {
            failed,
            outage: Some(outage),
            connect_by: None,
        };
        actions.extend([Action::ForgetSession, Action::OpenSession]);
    }

    /// Recovering did not help: replace the session at once.
    fn replace(&mut self, since: Instant, why: &str, actions: &mut Vec<Action>) {
        tracing::warn!("starting a new session: {why}");
        self.open_new(0, since, actions);
    }

    /// The live session was lost: keep it, and ask the gateway about it.
    fn lose(&mut self, now: Instant, why: &str, actions: &mut Vec<Action>) {
        tracing::warn!("connection to the gateway lost: {why}; reconnecting");
        self.state = State::Recovering {
            since: now,
            checks: 0,
            answering_since: None,
            pause: None,
        };
        self.check_now(actions);
    }

    fn check_now(&mut self, actions: &mut Vec<Action>) {
        if let State::Recovering { checks, pause, .. } = &mut self.state {
            *checks += 1;
            *pause = None;
            actions.push(Action::CheckSession);
        }
    }

    /// A look at the session's silence.
    fn look(&mut self, now: Instant, silent: Option<Duration>, actions: &mut Vec<Action>) {
        match &mut self.state {
            State::Live { removed, .. } => {
                if let Some((address, at)) = *removed {
                    match after_removal(silent, now.saturating_duration_since(at)) {
                        AfterRemoval::Gone => {
                            tracing::warn!(
                                "the laptop's network address changed ({address} is gone and \
                                 the gateway went quiet); starting a new session"
                            );
                            return self.open_new(0, at, actions);
                        }
                        AfterRemoval::Kept => {
                            if silent.is_some_and(|s| s < ADDRESS_SILENCE) {
                                tracing::info!(
                                    "the video still gets through; the session did not use \
                                     {address}"
                                );
                            }
                            *removed = None;
                        }
                        AfterRemoval::Wait => {}
                    }
                }
                if let Some(silent) = silent
                    && silent >= SILENCE_LIMIT
                {
                    let why = format!(
                        "nothing heard from the gateway for {:.1} s",
                        silent.as_secs_f64()
                    );
                    self.lose(now, &why, actions);
                }
            }
            State::Recovering { since, .. } if silent.is_some_and(|s| s < HEARD_RECENTLY) => {
                tracing::info!(
                    "the connection to the gateway came back after {:.1} s; the video is live again",
                    now.saturating_duration_since(*since).as_secs_f64()
                );
                self.state = State::Live {
                    removed: None,
                    next_look: now + WATCH_TICK,
                };
                actions.push(Action::RequestKeyframe);
            }
            _ => {}
        }
    }

    fn address_removed(&mut self, now: Instant, address: IpAddr, actions: &mut Vec<Action>) {
        match &mut self.state {
            State::Live { removed, next_look } => {
                tracing::info!(
                    "the laptop's network address {address} went away; checking that the video \
                     still gets through"
                );
                *removed = Some((address, now));
                *next_look = now + ADDRESS_WATCH_TICK;
            }
            // The session is silent already: if its address went, it
            // cannot come back.
            State::Recovering { since, .. } => {
                let since = *since;
                let why = format!("the laptop's network address changed ({address} is gone)");
                self.replace(since, &why, actions);
            }
            _ => {}
        }
    }

    fn address_added(&mut self, address: IpAddr, actions: &mut Vec<Action>) {
        match self.state {
            State::Waiting { failed, outage, .. } => {
                tracing::info!(
                    "the laptop has a new network address ({address}); trying again now"
                );
                self.open_new(failed, outage, actions);
            }
            // A new path may carry the session: ask the gateway now.
            State::Recovering { pause: Some(_), .. } => self.check_now(actions),
            _ => {}
        }
    }

    fn check_answered(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let State::Recovering {
            since,
            answering_since,
            ..
        } = &mut self.state
        else {
            return;
        };
        let since = *since;
        let answering = *answering_since.get_or_insert(now);
        if now.saturating_duration_since(answering) >= STALE_PATH_LIMIT {
            return self.replace(
                since,
                "the gateway answers but media does not get through (the network changed?)",
                actions,
            );
        }
        self.pause(now, "the gateway answers; waiting for media to get through");
    }

    fn session_gone(&mut self, actions: &mut Vec<Action>) {
        if let State::Recovering { since, .. } = self.state {
            self.replace(
                since,
                "the gateway no longer knows this session (it restarted?)",
                actions,
            );
        }
    }

    fn check_failed(&mut self, now: Instant, error: WhipError, actions: &mut Vec<Action>) {
        let State::Recovering {
            answering_since, ..
        } = &mut self.state
        else {
            return;
        };
        if error.is_permanent() {
            return self.give_up(error, actions);
        }
        *answering_since = None;
        self.pause(now, &error.short());
    }

    /// Waits before the next check, looking at the session meanwhile (the
    /// first look at once).
    fn pause(&mut self, now: Instant, reason: &str) {
        let State::Recovering {
            since,
            checks,
            pause,
            ..
        } = &mut self.state
        else {
            return;
        };
        let delay = self.backoff.delay(
            *checks,
            now.saturating_duration_since(*since),
            (self.jitter)(),
        );
        tracing::warn!("reconnecting, {} try: {reason}", ordinal(*checks));
        *pause = Some(Pause {
            until: now + delay,
            next_look: now,
        });
    }

    fn timeout(&mut self, now: Instant, actions: &mut Vec<Action>) {
        match &mut self.state {
            State::Connecting {
                connect_by: Some(by),
                ..
            } if now >= *by => self.try_later(
                now,
                format!(
                    "no media connection within {} s (UDP to the gateway blocked?)",
                    CONNECT_LIMIT.as_secs()
                ),
            ),
            State::Live { removed, next_look } => {
                let tick = if removed.is_some() {
                    ADDRESS_WATCH_TICK
                } else {
                    WATCH_TICK
                };
                *next_look = now + tick;
            }
            State::Recovering {
                pause: Some(pause), ..
            } => {
                if now >= pause.until {
                    self.check_now(actions);
                } else {
                    pause.next_look = pause.until.min(now + RECOVERY_LOOK);
                }
            }
            State::Waiting {
                until,
                failed,
                outage,
            } if now >= *until => {
                let (failed, outage) = (*failed, *outage);
                self.open_new(failed, outage, actions);
            }
            _ => {}
        }
    }

    /// Trying again cannot help. A consultation the hospital ended after
    /// the video had reached it ends the uplink cleanly; anything else
    /// refused it.
    fn give_up(&mut self, error: WhipError, actions: &mut Vec<Action>) {
        if let WhipError::RoomEnded { room, .. } = &error
            && self.was_connected
        {
            tracing::info!(room, "the hospital has ended this consultation; stopping");
            self.state = State::Ended;
            actions.extend([Action::ForgetSession, Action::Stop(Outcome::Ended)]);
            return;
        }
        self.state = State::Refused {
            code: refusal_code(&error).to_owned(),
            message: error.to_string(),
        };
        actions.push(Action::Stop(Outcome::Refused(error)));
    }
}

/// The gateway's machine code for a refusal, or a word for what it was.
fn refusal_code(error: &WhipError) -> &str {
    if let Some(code) = error.code() {
        return code;
    }
    match error {
        WhipError::TokenRefused { .. } => "token_refused",
        WhipError::RoomUnknown { .. } => "unknown_room",
        WhipError::RoomEnded { .. } => "room_ended",
        WhipError::Certificate { .. } => "certificate_not_accepted",
        WhipError::NotWhip { .. } => "not_whip",
        WhipError::BadUrl { .. } => "bad_url",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests;
