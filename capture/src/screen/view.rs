//! What the nurse screen shows, as one value the daemon keeps up to date,
//! and what the screen may ask the daemon to do.
//!
//! The daemon owns the truth: the uplink's state machine says whether the
//! specialists see her, the room events say who is there and what was
//! written, the stream's status says how the picture fares. Each of those
//! writes its part of a [`ScreenView`] through [`ScreenFeed`]; the screen
//! gets the whole value again after every change, so a page that reloads
//! or reconnects shows everything at once and never re-derives a state.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

/// How many chat messages the screen keeps: the last few are what a nurse
/// reads from across the room.
pub const CHAT_KEPT: usize = 6;

/// Everything the nurse screen shows, sent whole as JSON on every change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScreenView {
    /// Whether the specialists see her.
    pub link: LinkView,
    /// The room's label (no patient data), when known.
    pub room_label: Option<String>,
    /// Everyone in the consultation, the nurse herself marked `you`.
    pub participants: Vec<PersonView>,
    /// The last [`CHAT_KEPT`] chat messages, oldest first.
    pub chat: Vec<ChatLine>,
    /// The last photo asked for, if any: the screen flashes when `seq`
    /// changes.
    pub photo: Option<PhotoNotice>,
    /// How the sent picture fares, in words the screen translates.
    pub quality: QualityView,
    /// Whether the head camera delivers pictures.
    pub camera: CameraView,
    /// Talk-back (the specialists' voices in her headset); `None` when off.
    pub talkback: Option<TalkbackView>,
    /// Her microphone; `None` when the daemon sends no sound.
    pub microphone: Option<MicrophoneView>,
    /// The last line check started from the screen, while and after it runs.
    pub check: Option<CheckView>,
}

/// The one big state: do the specialists see her?
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkView {
    /// The camera and the first connection are starting.
    #[default]
    Connecting,
    /// The video reaches the gateway.
    Live,
    /// The line dropped; the daemon is getting it back. `attempt` counts
    /// from 1.
    Reconnecting { attempt: u32 },
    /// The hospital ended the consultation.
    Ended,
    /// The gateway refused the link (expired, ended before it began, wrong
    /// room): `problem` is a machine code the screen words, `message` the
    /// gateway's own sentence (English) for IT.
    Refused { problem: String, message: String },
    /// The daemon is stopping because she asked it to.
    Stopped,
}

/// One person in the consultation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonView {
    pub id: String,
    /// The name on the token, or none (the screen then shows the role).
    pub name: Option<String>,
    /// `publisher` (the camera, i.e. her), `specialist`, `observer`, …
    pub role: String,
    /// The gateway hears this person speak now.
    pub speaking: bool,
    /// This is the nurse's own daemon.
    pub you: bool,
    /// This person's video or talk-back session is connected.
    pub connected: bool,
}

/// A chat message as the screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatLine {
    /// Rises by one per message: the screen highlights new ones.
    pub seq: u64,
    pub from: Option<String>,
    pub role: String,
    pub text: String,
    /// Gateway time, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
}

/// A photo a specialist asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoNotice {
    /// Rises by one per request: the screen flashes once per change.
    pub seq: u64,
    /// Who asked (the name on their token, or none).
    pub by: Option<String>,
    pub by_role: String,
    pub outcome: PhotoOutcome,
}

/// Where a photo stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoOutcome {
    Taking,
    Sent,
    Failed,
}

/// How the picture fares, as words rather than figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityView {
    /// Nothing measured yet, or nothing sent.
    #[default]
    Unknown,
    /// The picture goes out as configured.
    Good,
    /// The line is weak: the picture was made smaller or slower.
    Reduced,
    /// Hardly anything gets through.
    Poor,
}

/// The head camera, as its supervisor sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraView {
    /// Not delivering yet.
    #[default]
    Starting,
    /// Pictures arrive.
    Live,
    /// Nothing arrives (unplugged, knocked loose): the specialists see a
    /// slate, and the daemon opens the camera again until it is back.
    Lost,
    /// Switched to its still mode for a photo; the stream holds the last
    /// picture.
    Photo,
}

/// The specialists' voices in her headset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TalkbackView {
    pub volume_percent: u32,
}

/// Her microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MicrophoneView {
    pub muted: bool,
}

/// A line check started from the screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CheckView {
    /// Running: `step` names what is being checked now (`camera`,
    /// `microphone`, `sound`, `line`).
    Running { step: String },
    /// Done: `verdict` is `good`, `marginal`, `unusable` or `not_run`;
    /// `headline` and `advice` are the check's own sentences.
    Done {
        verdict: String,
        headline: String,
        advice: Vec<String>,
    },
}

/// What the screen may ask of the daemon (its only inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScreenCommand {
    /// Mute or unmute her microphone.
    Microphone { muted: bool },
    /// Talk-back one step louder.
    Louder,
    /// Talk-back one step softer.
    Softer,
    /// Run the line check.
    Check,
    /// End the visit: the daemon ends its session and stops.
    EndVisit,
}

/// The daemon's side: writes parts of the view and the self-view; the
/// screen's commands arrive on the receiver [`ScreenFeed::new`] returns.
#[derive(Debug, Clone)]
pub struct ScreenFeed {
    view: watch::Sender<ScreenView>,
    self_view: watch::Sender<Option<SelfViewFrame>>,
}

/// One JPEG of the picture as it is sent (scaled down), for the nurse to
/// aim her head camera by.
pub type SelfViewFrame = Arc<Vec<u8>>;

/// The screen's side: follow the view, send commands.
#[derive(Debug, Clone)]
pub struct ScreenLink {
    pub view: watch::Receiver<ScreenView>,
    /// The newest self-view frame, a few times a second.
    pub self_view: watch::Receiver<Option<SelfViewFrame>>,
    pub commands: mpsc::Sender<ScreenCommand>,
}

impl ScreenFeed {
    /// A feed, the screen's end of it, and where the screen's commands
    /// arrive.
    pub fn new() -> (Self, ScreenLink, mpsc::Receiver<ScreenCommand>) {
        let (view, view_rx) = watch::channel(ScreenView::default());
        let (self_view, self_view_rx) = watch::channel(None);
        let (commands, commands_rx) = mpsc::channel(16);
        (
            Self { view, self_view },
            ScreenLink {
                view: view_rx,
                self_view: self_view_rx,
                commands,
            },
            commands_rx,
        )
    }

    /// Changes the view; the screen is told only when something changed.
    pub fn update(&self, change: impl FnOnce(&mut ScreenView)) {
        self.view.send_if_modified(|view| {
            let before = view.clone();
            change(view);
            *view != before
        });
    }

    /// Shows a new self-view frame.
    pub fn show_self_view(&self, jpeg: Vec<u8>) {
        self.self_view.send_replace(Some(Arc::new(jpeg)));
    }

    /// The view as it stands.
    pub fn current(&self) -> ScreenView {
        self.view.borrow().clone()
    }
}
