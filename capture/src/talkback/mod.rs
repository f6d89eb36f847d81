//! Talk-back: the specialists' voices in the nurse's headset.
//!
//! Specialists speak from their page; the gateway forwards each speaker's
//! Opus to the daemon over one WHEP session that the daemon opens with its
//! own (publisher) token. The daemon mixes them, at the nurse's volume, and
//! plays them on the headset; the nurse's microphone cancels that playout's
//! echo (`webrtcdsp`, fed with what the playout plays).
//!
//! - [`playout`]: the pipeline that lives as long as the daemon: one
//!   inter-pipeline channel per slot → levels → mixer → volume → level →
//!   speaker ([`speaker`]), and a copy to the microphone's echo canceller.
//! - [`session`]: one WHEP session's pipeline: [`TALKBACK_SLOTS`] recvonly
//!   Opus m-lines, m-line k decoded into slot k.
//! - [`link`]: keeps a session open beside the video's, and opens a new one
//!   whenever the video makes a new WHIP session.
//! - [`levels`], [`status`]: what the nurse and `GET /status` see.
//! - [`commands`]: `/volume`, `/louder`, `/softer`, `/help` on stdin.
//!
//! A talk-back failure never disturbs the video: it is logged in plain
//! words and tried again.

pub mod commands;
pub mod levels;
pub mod link;
pub mod playout;
pub mod session;
pub mod speaker;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use commands::{Command, CommandError};
pub use link::LinkOptions;
pub use playout::{Playout, PlayoutLevels, PlayoutOptions};
pub use session::TalkbackSession;
pub use speaker::Speaker;
pub use status::{SlotStatus, TalkbackState, TalkbackStatus};

use crate::elements::ElementError;
use crate::webrtc::NegotiationError;

/// How many specialists the nurse can hear at once: the m-lines offered.
pub const TALKBACK_SLOTS: usize = 4;
/// How often the status takes in the levels.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

/// Talk-back could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TalkbackError {
    /// An element is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Offer/answer failed.
    #[error(transparent)]
    Negotiation(#[from] NegotiationError),
    /// Elements could not be put together.
    #[error("could not assemble the talk-back pipeline: {0}")]
    Assemble(String),
    /// A pipeline would not start.
    #[error("{0}")]
    Start(String),
}

/// The raw audio every slot carries between the session and the playout:
/// what Opus decodes to, and what the echo probe takes.
pub fn slot_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48_000i32)
        .field("channels", 2i32)
        .build()
}

/// Talk-back in the daemon: the playout, its state and its status.
#[derive(Debug)]
pub struct Talkback {
    playout: Arc<Playout>,
    state: Arc<watch::Sender<TalkbackState>>,
    status: watch::Receiver<TalkbackStatus>,
}

impl Talkback {
    /// Starts the playout and the status that follows it. Needs a Tokio
    /// runtime.
    pub fn start(options: &PlayoutOptions) -> Result<Self, TalkbackError> {
        let playout = Arc::new(Playout::start(options)?);
        let (state, mut state_rx) = watch::channel(TalkbackState::Connecting);
        let initial = TalkbackStatus::new(
            TalkbackState::Connecting,
            playout.volume_percent(),
            &playout.levels(),
        );
        let (status_tx, status) = watch::channel(initial);
        let watched = playout.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(STATUS_INTERVAL);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    changed = state_rx.changed() => if changed.is_err() { return },
                }
                let next = TalkbackStatus::new(
                    *state_rx.borrow_and_update(),
                    watched.volume_percent(),
                    &watched.levels(),
                );
                status_tx.send_if_modified(|current| {
                    let modified = *current != next;
                    *current = next;
                    modified
                });
                if status_tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Self {
            playout,
            state: Arc::new(state),
            status,
        })
    }

    /// The playout (volume, levels, slot channels, echo reference).
    pub fn playout(&self) -> &Arc<Playout> {
        &self.playout
    }

    /// The talk-back status, updated a few times a second.
    pub fn status(&self) -> watch::Receiver<TalkbackStatus> {
        self.status.clone()
    }

    /// Opens talk-back sessions beside the uplink's: `uplink_sessions`
    /// counts the WHIP sessions that connected; dropping its sender ends
    /// the talk-back session too (await the task).
    pub fn follow_uplink(
        &self,
        options: LinkOptions,
        uplink_sessions: watch::Receiver<u64>,
    ) -> JoinHandle<()> {
        tokio::spawn(link::follow_uplink(
            options,
            self.playout.clone(),
            uplink_sessions,
            self.state.clone(),
        ))
    }
}
