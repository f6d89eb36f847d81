//! The uplink's I/O: opens, checks and deletes WHIP sessions, listens to
//! webrtcbin and to the laptop's addresses, and looks at the session's
//! silence when the [`UplinkMachine`] asks; every decision is the
//! machine's.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use url::Url;

use super::machine::{Action, ConnectFailure, Event, Outcome, UplinkMachine};
use super::{LinkState, UplinkStop};
use crate::network_watch::AddressWatch;
use crate::publish::{self, OpenError, Opened};
use crate::rate_control::{SharedRoundTrip, retransmission_window};
use crate::reconnect::{Backoff, unchanged_ice_fragment};
use crate::webrtc::{self, PublishError, Publisher, PublisherEvent, SessionEvent};
use crate::whip::{self, WhipClient, WhipError};

/// How long ending the session may take when stopping.
pub const DELETE_LIMIT: Duration = Duration::from_secs(3);
/// How often the session's retransmission history is sized to the round
/// trip the bitrate loop measured.
const SIZING_EVERY: Duration = Duration::from_secs(2);

/// The uplink stopped with an error retrying cannot fix.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The gateway refused the token or the room (or the consultation had
    /// ended before the video ever reached it).
    #[error(transparent)]
    Whip(#[from] WhipError),
    /// The capture pipeline failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The WHIP side of the connection: which session the gateway has for us,
/// kept alive as the [`UplinkMachine`] decides.
pub struct Uplink {
    client: WhipClient,
    url: Url,
    machine: UplinkMachine,
    /// The round trip the bitrate loop measured (sizes the RTX history).
    round_trip: SharedRoundTrip,
    last_sizing: Option<Instant>,
    /// The current WHIP session and the ICE fragment that checks it.
    session: Option<(whip::Session, String)>,
    /// How many WHIP sessions have connected: talk-back opens its session
    /// beside each new one.
    connected_sessions: watch::Sender<u64>,
    /// The state for the nurse's screen.
    state: watch::Sender<LinkState>,
    stop: UplinkStop,
    /// The laptop's addresses appearing and going away.
    addresses: AddressWatch,
    /// The addresses ICE is pinned to (none: any).
    pinned: Vec<IpAddr>,
    /// When the machine wants to look next.
    wake_at: Option<Instant>,
    /// Whether the publisher's events still come (its bus is open).
    publisher_events: bool,
}

impl std::fmt::Debug for Uplink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uplink")
            .field("url", &self.url.as_str())
            .field("machine", &self.machine)
            .field("session", &self.session.as_ref().map(|(s, _)| s))
            .finish_non_exhaustive()
    }
}

impl Uplink {
    /// An uplink publishing to the WHIP endpoint `url` with `client`, ICE
    /// pinned to `pinned` (none: any address). Nothing happens until
    /// [`Self::keep_connected`].
    pub fn new(
        client: WhipClient,
        url: Url,
        round_trip: SharedRoundTrip,
        pinned: &[IpAddr],
    ) -> Self {
        Self {
            client,
            url,
            machine: UplinkMachine::new(Backoff::default(), Box::new(rand::random::<f64>)),
            round_trip,
            last_sizing: None,
            session: None,
            connected_sessions: watch::channel(0).0,
            state: watch::channel(LinkState::Connecting).0,
            stop: UplinkStop::new(),
            addresses: AddressWatch::start(),
            pinned: pinned.to_vec(),
            wake_at: None,
            publisher_events: true,
        }
    }

    /// Follows the uplink's state, for the nurse's screen.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    /// A handle that stops the uplink from elsewhere in the program.
    pub fn stopper(&self) -> UplinkStop {
        self.stop.clone()
    }

    /// Follows how many WHIP sessions have connected.
    pub fn connected_sessions(&self) -> watch::Receiver<u64> {
        self.connected_sessions.subscribe()
    }

    /// Connects and stays connected until the hospital ends the
    /// consultation or [`UplinkStop::stop`] is called (`Ok`), or an error
    /// retrying cannot fix (token refused, camera pipeline failed). A link
    /// to a consultation that had ended before the daemon ever connected
    /// is such an error.
    pub async fn keep_connected(&mut self, publisher: &mut Publisher) -> Result<(), UplinkError> {
        let stop = self.stop.clone();
        let driven = tokio::select! {
            outcome = self.drive(publisher) => Some(outcome),
            () = stop.requested() => None,
        };
        match driven {
            Some(outcome) => outcome,
            None => {
                tracing::info!("the visit was ended; stopping");
                self.feed(Event::StopRequested);
                Ok(())
            }
        }
    }

    /// Ends the current WHIP session, if any (when stopping).
    pub async fn end(&mut self) {
        self.feed(Event::StopRequested);
        if let Some((session, _)) = self.session.take() {
            match tokio::time::timeout(DELETE_LIMIT, self.client.delete(&session)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    "could not end the WHIP session; the gateway will time it out"
                ),
                Err(_) => tracing::warn!(
                    "the gateway did not answer the end of the session; it will time it out"
                ),
            }
        }
    }

    /// Performs the machine's actions and feeds it what happens, until it
    /// stops.
    async fn drive(&mut self, publisher: &mut Publisher) -> Result<(), UplinkError> {
        let mut actions: VecDeque<Action> = self.machine.start(Instant::now()).into();
        self.publish_state();
        loop {
            while let Some(action) = actions.pop_front() {
                let reply = match action {
                    Action::ForgetSession => {
                        self.forget_session();
                        None
                    }
                    Action::OpenSession => Some(self.open(publisher).await),
                    Action::CheckSession => Some(self.check().await),
                    Action::RequestKeyframe => {
                        publisher.request_keyframe();
                        None
                    }
                    Action::SessionLive => {
                        self.connected_sessions.send_modify(|n| *n += 1);
                        None
                    }
                    Action::WaitUntil(at) => {
                        self.wake_at = Some(at);
                        None
                    }
                    Action::Stop(outcome) => return result_of(outcome),
                };
                if let Some(event) = reply {
                    actions.extend(self.feed(event));
                }
            }
            for event in self.next_events(publisher).await {
                actions.extend(self.feed(event));
            }
        }
    }

    /// Hands `event` to the machine and shows its state.
    fn feed(&mut self, event: Event) -> Vec<Action> {
        let actions = self.machine.handle(Instant::now(), event);
        self.publish_state();
        actions
    }

    fn publish_state(&self) {
        let state = self.machine.link_state();
        self.state.send_if_modified(|shown| {
            if *shown == state {
                false
            } else {
                *shown = state;
                true
            }
        });
    }

    /// Waits for what happens next: the look the machine asked for, an
    /// event of the publisher, or an address change.
    async fn next_events(&mut self, publisher: &mut Publisher) -> Vec<Event> {
        let wake = self.wake_at;
        let look = async move {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = look => {
                self.wake_at = None;
                let now = Instant::now();
                let mut events = Vec::with_capacity(2);
                if let Some(session) = publisher.session() {
                    self.size_retransmission(session, now);
                    events.push(Event::GatewaySilent(session.silent_for(now)));
                }
                events.push(Event::Timeout);
                events
            }
            event = publisher.next_event(), if self.publisher_events => {
                vec![self.publisher_event(event)]
            }
            change = self.addresses.next() => vec![Event::address(change, &self.pinned)],
        }
    }

    fn publisher_event(&mut self, event: Option<PublisherEvent>) -> Event {
        match event {
            Some(PublisherEvent::Capture(e)) => Event::PipelineFailed(e),
            Some(PublisherEvent::Session(SessionEvent::Connected)) => Event::Connected,
            Some(PublisherEvent::Session(SessionEvent::Failed(why))) => {
                Event::WebrtcFailed(why.to_owned())
            }
            Some(PublisherEvent::Session(SessionEvent::Error(e))) => {
                Event::WebrtcFailed(e.to_string())
            }
            None => {
                self.publisher_events = false;
                Event::WebrtcFailed("the pipeline stopped".into())
            }
        }
    }

    /// Keeps the session's retransmission history sized to the round trip.
    fn size_retransmission(&mut self, session: &webrtc::Session, now: Instant) {
        if self
            .last_sizing
            .is_some_and(|at| now.saturating_duration_since(at) < SIZING_EVERY)
        {
            return;
        }
        let rtt = *self.round_trip.lock().unwrap_or_else(|e| e.into_inner());
        session.set_retransmission_window(retransmission_window(rtt));
        self.last_sizing = Some(now);
    }

    /// Opens a new session on `publisher` and applies the gateway's answer.
    async fn open(&mut self, publisher: &mut Publisher) -> Event {
        let opened = publish::open_session(&self.client, &self.url, publisher).await;
        let Opened { session, offer } = match opened {
            Ok(opened) => opened,
            Err(OpenError::Whip(e)) => return Event::ConnectFailed(ConnectFailure::Whip(e)),
            Err(e @ OpenError::Prepare(_)) => {
                return Event::ConnectFailed(ConnectFailure::Other(e.to_string()));
            }
        };
        let check = unchanged_ice_fragment(&offer).unwrap_or_default();
        self.session = Some((session.clone(), check));
        match publisher.accept_answer(&session.answer).await {
            Ok(()) => Event::SessionOpened,
            Err(e) => Event::ConnectFailed(ConnectFailure::Other(format!(
                "the gateway's answer was not usable: {e}"
            ))),
        }
    }

    /// Asks the gateway whether it still has the session.
    async fn check(&self) -> Event {
        match &self.session {
            Some((session, fragment)) => Event::checked(self.client.check(session, fragment).await),
            // Nothing to ask about: only a new session can help.
            None => Event::WebrtcFailed("no session to keep".into()),
        }
    }

    /// Forgets the current WHIP session, deleting it in the background (best
    /// effort: the gateway replaces it anyway when the new one arrives).
    fn forget_session(&mut self) {
        if let Some((session, _)) = self.session.take() {
            let client = self.client.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(DELETE_LIMIT, client.delete(&session)).await;
            });
        }
    }
}

/// What `keep_connected` returns for how the uplink ended.
fn result_of(outcome: Outcome) -> Result<(), UplinkError> {
    match outcome {
        Outcome::Stopped | Outcome::Ended => Ok(()),
        Outcome::Refused(error) => Err(error.into()),
        Outcome::PipelineFailed(error) => Err(PublishError::Pipeline(error).into()),
    }
}
