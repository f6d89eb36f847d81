//! The WHIP uplink: publish the camera to the gateway and keep the session
//! alive through network drops and gateway restarts.
//!
//! The camera and the encoder start once and keep running; only the WHIP
//! session (webrtcbin) is replaced when the connection is lost. What to do
//! when is decided by [`UplinkMachine`] ([`machine`]), which takes the time
//! and what happened and says what to do, without any I/O, so every rule is
//! a unit test on a made-up clock. [`Uplink`] ([`driver`]) does the I/O:
//! it opens, checks and deletes WHIP sessions, watches webrtcbin and the
//! laptop's addresses, and feeds what it sees into the machine.
//!
//! The state the nurse's screen shows is [`LinkState`], followed with
//! [`Uplink::state`]; [`UplinkStop`] ends the uplink from inside the
//! program (the nurse ends the visit on her screen).

pub mod driver;
pub mod machine;

use std::sync::Arc;

use tokio::sync::watch;

pub use driver::{Uplink, UplinkError};
pub use machine::{
    ADDRESS_SILENCE, ADDRESS_WATCH, Action, CONNECT_LIMIT, ConnectFailure, Event, Outcome,
    SILENCE_LIMIT, STALE_PATH_LIMIT, UplinkMachine,
};

/// The uplink as the nurse's screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The first session is being opened and connected.
    Connecting,
    /// The video reaches the gateway.
    Live,
    /// The connection was lost (or the first try failed) and is being
    /// restored.
    Reconnecting {
        /// The try under way or next, counted as the log counts them
        /// ("reconnecting, 3rd try": 3).
        attempt: u32,
    },
    /// The hospital ended the consultation after the video had reached it.
    Ended,
    /// The gateway refused the token or the room (or the consultation had
    /// ended before the video ever reached it): trying again cannot help.
    Refused {
        /// The gateway's machine error code when it gave one
        /// (`token_expired`, `invalid_token`, `wrong_room`, `unknown_room`,
        /// `room_ended`, …); otherwise `token_refused`, `unknown_room`,
        /// `room_ended`, `certificate_not_accepted`, `not_whip`, `bad_url`
        /// or `refused`, from what the refusal was.
        code: String,
        /// What was refused and what to do about it, for a person.
        message: String,
    },
    /// The uplink stopped: asked to, or the camera pipeline failed.
    Stopped,
}

/// Asks a running [`Uplink`] to stop: [`Uplink::keep_connected`] then
/// returns `Ok(())` with the state [`LinkState::Stopped`]. Clones share
/// the request; asking more than once changes nothing.
#[derive(Debug, Clone)]
pub struct UplinkStop(Arc<watch::Sender<bool>>);

impl UplinkStop {
    fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Asks the uplink to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether stopping was asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopping is asked for (at once if it already was).
    async fn requested(&self) {
        let mut asked = self.0.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = asked.wait_for(|asked| *asked).await;
    }
}
