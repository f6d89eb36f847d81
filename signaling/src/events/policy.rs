//! What each role may send on the room events socket, and how much.
//!
//! | message         | publisher | specialist | observer |
//! |-----------------|-----------|------------|----------|
//! | `hello`         | yes       | yes        | yes      |
//! | `chat`          | yes       | yes        | no       |
//! | `photo_request` | no        | yes        | no       |
//! | `quality`       | yes       | yes        | yes      |
//!
//! (`quality` only with a video session of the sender's own: see
//! [`no_media_session`].)
//!
//! The nurse (publisher) and the specialists (the GP is one too) run the
//! consultation, so both write in the chat. Observers (a relative, a
//! student) watch and read; writing would make them participants the
//! hospital did not invite as such. Only a specialist decides what goes
//! into the patient record, so only a specialist asks for a photo.
//! Admin tokens belong to no room and open no socket.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

use super::messages::{ClientMessage, QualityReport};
use crate::text::{self, TextError};
use crate::tokens::Role;

/// The roles that may open an events socket.
pub const SOCKET_ROLES: &[Role] = &[Role::Publisher, Role::Specialist, Role::Observer];

/// Largest message a participant may send, in bytes of JSON. Larger ones
/// (up to [`MAX_FRAME_BYTES`]) are refused with an error; the socket stays.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Largest WebSocket message the server reads at all; a larger one closes
/// the socket (close code 1009), as nothing that large is ever legitimate.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest chat text, in characters: chat is for when speech fails.
pub use crate::text::MAX_CHAT_CHARS;
/// Messages one socket may send at once, and per second after that.
pub const MESSAGE_BURST: u32 = 10;
pub const MESSAGES_PER_SECOND: u32 = 5;
/// Time a new socket has to send its `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a participant's message was refused, as `{error, message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Whether `role` may send `message`, and whether its content is within
/// bounds.
pub fn check(role: Role, message: &ClientMessage) -> Result<(), Refusal> {
    match message {
        ClientMessage::Hello { .. } => Err(Refusal::new(
            "already_joined",
            "this socket has already joined the room; send hello only once",
        )),
        ClientMessage::Chat { .. } if role == Role::Observer => Err(Refusal::new(
            "wrong_role",
            "observers can read the chat but not write in it; \
             ask the hospital for a specialist's link if you should take part",
        )),
        ClientMessage::Chat { text } => check_chat(text),
        ClientMessage::PhotoRequest {} if role != Role::Specialist => Err(Refusal::new(
            "wrong_role",
            format!("only a specialist can ask for a photo; this is a {role}'s link"),
        )),
        ClientMessage::PhotoRequest {} => Ok(()),
        ClientMessage::Quality(report) => check_quality(report),
    }
}

/// A chat message is one line of plain text ([`text::Field::Chat`]).
fn check_chat(chat: &str) -> Result<(), Refusal> {
    match text::check(text::Field::Chat, chat) {
        Ok(_) => Ok(()),
        Err(TextError::Empty) => Err(Refusal::new("empty_chat", "the chat message is empty")),
        Err(TextError::TooLong { .. }) => Err(Refusal::new(
            "chat_too_long",
            format!(
                "chat messages are at most {MAX_CHAT_CHARS} characters; \
                 split it, or say it in the call"
            ),
        )),
        Err(err) => Err(Refusal::new(
            "bad_chat_text",
            format!(
                "the chat message {err}; send it again as one line, without control characters"
            ),
        )),
    }
}

/// Measurements a connection can have: finite, not negative, loss at most
/// 100 %, round trip at most a minute.
fn check_quality(report: &QualityReport) -> Result<(), Refusal> {
    let number_ok = |value: Option<f64>, max: f64| {
        value.is_none_or(|v| v.is_finite() && (0.0..=max).contains(&v))
    };
    let fine = number_ok(report.loss_percent, 100.0)
        && number_ok(report.fps, 1000.0)
        && report.rtt_ms.is_none_or(|rtt| rtt <= 60_000);
    if fine {
        Ok(())
    } else {
        Err(Refusal::new(
            "bad_quality",
            "quality values out of range: loss_percent 0 to 100, fps 0 to 1000, \
             rtt_ms at most 60000",
        ))
    }
}

/// A refusal for a message above [`MAX_MESSAGE_BYTES`].
pub fn too_large(bytes: usize) -> Refusal {
    Refusal::new(
        "message_too_large",
        format!(
            "the message has {bytes} bytes, more than the {MAX_MESSAGE_BYTES} allowed; \
             send a shorter one"
        ),
    )
}

/// A refusal for a quality report from a participant without a video
/// session: there is no connection of theirs to report on.
pub fn no_media_session() -> Refusal {
    Refusal::new(
        "no_media_session",
        "quality reports are about your own video connection, and this link has none \
         in the room; start the video first",
    )
}

/// A refusal for a binary frame.
pub fn not_text() -> Refusal {
    Refusal::new(
        "bad_message",
        "room events are JSON text messages; binary messages are not read",
    )
}

/// The per-socket budget of [`MESSAGE_BURST`] and [`MESSAGES_PER_SECOND`].
pub struct MessageBudget(DefaultDirectRateLimiter);

impl Default for MessageBudget {
    fn default() -> Self {
        let quota =
            Quota::per_second(NonZeroU32::new(MESSAGES_PER_SECOND).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(MESSAGE_BURST).unwrap_or(NonZeroU32::MIN));
        Self(DefaultDirectRateLimiter::direct(quota))
    }
}

impl MessageBudget {
    /// Takes one message from the budget, or says how long to wait.
    pub fn take(&self) -> Result<(), Refusal> {
        self.0.check().map_err(|_| {
            Refusal::new(
                "rate_limited",
                format!(
                    "more than {MESSAGES_PER_SECOND} messages a second from this page; \
                     wait a moment and send again"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_decide_what_is_sent() {
        let chat = ClientMessage::Chat { text: "hi".into() };
        let photo = ClientMessage::PhotoRequest {};
        assert!(check(Role::Publisher, &chat).is_ok());
        assert!(check(Role::Specialist, &chat).is_ok());
        assert_eq!(check(Role::Observer, &chat).unwrap_err().code, "wrong_role");
        assert!(check(Role::Specialist, &photo).is_ok());
        assert_eq!(
            check(Role::Publisher, &photo).unwrap_err().code,
            "wrong_role"
        );
        assert_eq!(
            check(Role::Observer, &photo).unwrap_err().code,
            "wrong_role"
        );
    }

    #[test]
    fn chat_text_is_bounded() {
        let long = ClientMessage::Chat {
            text: "å".repeat(MAX_CHAT_CHARS + 1),
        };
        assert_eq!(
            check(Role::Specialist, &long).unwrap_err().code,
            "chat_too_long"
        );
        let exact = ClientMessage::Chat {
            text: "å".repeat(MAX_CHAT_CHARS),
        };
        assert!(check(Role::Specialist, &exact).is_ok());
        let blank = ClientMessage::Chat { text: "  ".into() };
        assert_eq!(
            check(Role::Specialist, &blank).unwrap_err().code,
            "empty_chat"
        );
        for hostile in [
            "\u{1b}]0;owned\u{7}",
            "line\r\nbreak",
            "nul\0",
            "\u{202E}txet",
        ] {
            let chat = ClientMessage::Chat {
                text: hostile.into(),
            };
            assert_eq!(
                check(Role::Specialist, &chat).unwrap_err().code,
                "bad_chat_text",
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn budget_allows_a_burst_then_refuses() {
        let budget = MessageBudget::default();
        for _ in 0..MESSAGE_BURST {
            budget.take().unwrap();
        }
        assert_eq!(budget.take().unwrap_err().code, "rate_limited");
    }
}
