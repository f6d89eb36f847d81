//! Keeping a talk-back session open beside the video: opened once the
//! uplink's WHIP session is connected, opened again whenever the uplink
//! makes a new one (reconnect, gateway restart), retried with the uplink's
//! backoff when it fails. Nothing here can stop the video: failures are
//! logged in plain words and tried again.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use url::Url;

use super::playout::Playout;
use super::session::TalkbackSession;
use super::status::TalkbackState;
use super::{TALKBACK_SLOTS, TalkbackError};
use crate::publish;
use crate::reconnect::{Backoff, ordinal};
use crate::webrtc::SessionEvent;
use crate::whip::{self, WhipClient, WhipError};

/// A session must connect (ICE and DTLS) within this.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How long ending the session may take when stopping.
const DELETE_LIMIT: Duration = Duration::from_secs(3);

/// Where the talk-back session goes: the room's WHEP endpoint, with the
/// camera's own (publisher) token.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// `{gateway}/whep/{room}`.
    pub whep_url: Url,
    /// A WHEP client carrying the publisher token and the gateway trust.
    pub client: WhipClient,
    /// ICE pinned like the uplink's.
    pub ice_addresses: Vec<IpAddr>,
}

/// Follows the uplink: `uplink_sessions` counts the WHIP sessions that
/// connected. Returns (ending its session) when that sender is dropped.
pub async fn follow_uplink(
    options: LinkOptions,
    playout: Arc<Playout>,
    mut uplink_sessions: watch::Receiver<u64>,
    state: Arc<watch::Sender<TalkbackState>>,
) {
    let mut link = Link {
        options,
        playout,
        state,
        backoff: Backoff::default(),
        session: None,
    };
    link.set(TalkbackState::Connecting);
    // Talk-back waits for the video: the gateway answers 409 until then.
    if *uplink_sessions.borrow_and_update() == 0 && uplink_sessions.changed().await.is_err() {
        return;
    }
    loop {
        uplink_sessions.borrow_and_update();
        match link.serve(&mut uplink_sessions).await {
            Next::NewUplinkSession => continue,
            Next::Stop => break,
        }
    }
    link.end().await;
}

/// What ended one uplink session's talk-back.
enum Next {
    /// The uplink made a new WHIP session: make a new talk-back one.
    NewUplinkSession,
    /// The daemon stops.
    Stop,
}

fn next(changed: Result<(), watch::error::RecvError>) -> Next {
    match changed {
        Ok(()) => Next::NewUplinkSession,
        Err(_) => Next::Stop,
    }
}

/// Why opening failed.
enum OpenError {
    /// Try again after a pause.
    Retry(String),
    /// Trying again with this uplink session cannot help.
    Refused(String),
}

struct Link {
    options: LinkOptions,
    playout: Arc<Playout>,
    state: Arc<watch::Sender<TalkbackState>>,
    backoff: Backoff,
    session: Option<(TalkbackSession, whip::Session)>,
}

impl Link {
    fn set(&self, state: TalkbackState) {
        self.state.send_replace(state);
    }

    /// Keeps a talk-back session open while the uplink keeps its session.
    async fn serve(&mut self, uplink: &mut watch::Receiver<u64>) -> Next {
        let mut attempt: u32 = 0;
        let outage = Instant::now();
        loop {
            self.forget_session();
            self.set(TalkbackState::Connecting);
            let opened = tokio::select! {
                opened = self.open() => opened,
                changed = uplink.changed() => return next(changed),
            };
            match opened {
                Ok(()) => {
                    attempt = 0;
                    self.set(TalkbackState::Connected);
                    tracing::info!(
                        "talk-back connected: the specialists' voices play on {}",
                        self.playout.speaker()
                    );
                    let why = tokio::select! {
                        why = self.watch() => why,
                        changed = uplink.changed() => return next(changed),
                    };
                    tracing::warn!(
                        "talk-back lost: {why}; the video goes on, reconnecting talk-back"
                    );
                }
                Err(OpenError::Refused(why)) => {
                    self.set(TalkbackState::Failed);
                    tracing::warn!(
                        "talk-back unavailable: {why}. The video goes on; talk-back is tried \
                         again when the video reconnects"
                    );
                    return next(uplink.changed().await);
                }
                Err(OpenError::Retry(why)) => {
                    self.set(TalkbackState::Failed);
                    attempt += 1;
                    let delay = self
                        .backoff
                        .delay(attempt, outage.elapsed(), rand::random());
                    tracing::warn!(
                        "talk-back not connected: {why}; the video goes on, {} try in {:.1} s",
                        ordinal(attempt + 1),
                        delay.as_secs_f64()
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        changed = uplink.changed() => return next(changed),
                    }
                }
            }
        }
    }

    /// Builds a session, makes the WHEP exchange and waits until it connects.
    async fn open(&mut self) -> Result<(), OpenError> {
        let retry = |e: TalkbackError| OpenError::Retry(e.to_string());
        let channels = (0..TALKBACK_SLOTS)
            .map(|slot| self.playout.slot_channel(slot))
            .collect();
        // The same relays as the video's, with credentials of its own.
        let relays = publish::relays_for(&self.options.client, &self.options.whep_url).await;
        if !relays.is_empty() {
            tracing::debug!("relays announced for talk-back: {}", relays.summary());
        }
        let mut pipeline = TalkbackSession::build(channels, &self.options.ice_addresses, &relays)
            .map_err(retry)?;
        let offer = pipeline.start_and_offer().await.map_err(retry)?;
        let whep = self
            .options
            .client
            .post_offer(&self.options.whep_url, &offer)
            .await
            .map_err(refusal)?;
        let answered = pipeline.accept_answer(&whep.answer).await;
        self.session = Some((pipeline, whep));
        answered
            .map_err(|e| OpenError::Retry(format!("the gateway's answer was not usable: {e}")))?;
        let Some((pipeline, _)) = self.session.as_mut() else {
            return Err(OpenError::Retry("the session was lost".into()));
        };
        let connected = tokio::time::timeout(CONNECT_LIMIT, async {
            match pipeline.next_event().await {
                Some(SessionEvent::Connected) => Ok(()),
                Some(SessionEvent::Failed(why)) => Err(why.to_owned()),
                Some(SessionEvent::Error(e)) => Err(e.to_string()),
                None => Err("the session pipeline stopped".to_owned()),
            }
        })
        .await;
        match connected {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(OpenError::Retry(why)),
            Err(_) => Err(OpenError::Retry(format!(
                "no media connection within {} s (UDP to the gateway blocked?)",
                CONNECT_LIMIT.as_secs()
            ))),
        }
    }

    /// Waits until the connected session fails; returns why.
    async fn watch(&mut self) -> String {
        let Some((pipeline, _)) = self.session.as_mut() else {
            return "no session".into();
        };
        loop {
            match pipeline.next_event().await {
                Some(SessionEvent::Connected) => {}
                Some(SessionEvent::Failed(why)) => return why.to_owned(),
                Some(SessionEvent::Error(e)) => return e.to_string(),
                None => return "the session pipeline stopped".into(),
            }
        }
    }

    /// Drops the current session, deleting it in the background.
    fn forget_session(&mut self) {
        if let Some((pipeline, whep)) = self.session.take() {
            pipeline.stop();
            let client = self.options.client.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(DELETE_LIMIT, client.delete(&whep)).await;
            });
        }
    }

    /// Ends the current session when the daemon stops.
    async fn end(&mut self) {
        self.set(TalkbackState::Off);
        if let Some((pipeline, whep)) = self.session.take() {
            pipeline.stop();
            if !matches!(
                tokio::time::timeout(DELETE_LIMIT, self.options.client.delete(&whep)).await,
                Ok(Ok(()))
            ) {
                tracing::debug!(
                    "the talk-back session was not ended; the gateway will time it out"
                );
            }
        }
    }
}

/// A failed WHEP exchange, told as talk-back's: the client's own wording
/// speaks of viewer tokens, but talk-back uses the camera's.
fn refusal(error: WhipError) -> OpenError {
    match error {
        WhipError::TokenRefused { .. } => OpenError::Refused(
            "the gateway refused this camera's token for talk-back (a gateway without \
             talk-back, or an ended room)"
                .into(),
        ),
        e if e.is_permanent() => OpenError::Refused(e.to_string()),
        e => OpenError::Retry(e.short()),
    }
}
