//! The room events message set, version 1: what travels on `/events/{room}`.
//!
//! Every message is one JSON object in one WebSocket text frame, with the
//! protocol version `v` and a `type`. The gateway, the capture daemon and
//! the page all use these shapes; the page's copy is `gateway/web/consultation.js`.
//! Fields may be added within version 1, so receivers ignore fields they do
//! not know; a change that removes a field or changes its meaning is
//! version 2.

use serde::{Deserialize, Serialize};

use crate::tokens::Role;

/// The version of the message set this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// A participant's id in a room: the id of the token it joined with, so the
/// camera's WebRTC session and its events socket are one participant.
pub type ParticipantId = String;

/// Sent by a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message on every socket: the room token (the one of the
    /// page's link, or the camera's publisher token).
    Hello { token: String },
    /// A short text for everyone in the room.
    Chat { text: String },
    /// A specialist asks the camera for a still photo.
    PhotoRequest {},
    /// How the sender's own connection does, measured where it is (a page
    /// from its WebRTC statistics, every few seconds); each field optional.
    Quality(QualityReport),
}

/// A participant's measurements of its own connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Round-trip time to the gateway, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    /// Packets lost lately, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// Video frames per second received (a page) or sent (the camera).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Media bitrate received or sent, kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
}

/// What a participant's connection quality comes to, for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityLevel {
    Good,
    Fair,
    Poor,
}

impl QualityReport {
    /// Poor at 5 % loss, 400 ms round trip or under 10 frames a second;
    /// fair at 1 %, 150 ms or under 20; good otherwise. A loss of a few
    /// percent already shows in the picture; a round trip above 150 ms
    /// makes talking over each other likely.
    pub fn level(&self) -> QualityLevel {
        let loss = self.loss_percent.unwrap_or(0.0);
        let rtt = self.rtt_ms.unwrap_or(0);
        let fps = self.fps.unwrap_or(f64::MAX);
        if loss >= 5.0 || rtt >= 400 || fps < 10.0 {
            QualityLevel::Poor
        } else if loss >= 1.0 || rtt >= 150 || fps < 20.0 {
            QualityLevel::Fair
        } else {
            QualityLevel::Good
        }
    }
}

/// A participant's last quality report and what it comes to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub level: QualityLevel,
    #[serde(flatten)]
    pub report: QualityReport,
}

impl ClientMessage {
    /// The `type` this message has on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Chat { .. } => "chat",
            ClientMessage::PhotoRequest {} => "photo_request",
            ClientMessage::Quality(_) => "quality",
        }
    }
}

/// Sent by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to a good `hello` (and again after the socket fell
    /// behind): who you are and who is in the room now. Events with a
    /// `seq` above this one's follow.
    Welcome {
        you: ParticipantId,
        room: String,
        participants: Vec<ParticipantView>,
    },
    /// A participant joined or changed (events socket or media session
    /// came or went): the whole entry, to put in place of the old one.
    Participant { participant: ParticipantView },
    /// A participant has neither an events socket nor a media session left.
    Left { id: ParticipantId },
    /// A participant started or stopped speaking (the gateway hears it in
    /// the audio levels of their talk-back).
    Speaking { id: ParticipantId, speaking: bool },
    /// A chat message, as the gateway received it.
    Chat {
        from: Sender,
        text: String,
        /// Gateway time, milliseconds since the Unix epoch.
        sent_at_ms: u64,
    },
    /// A specialist asked for a still photo; the camera takes it.
    PhotoRequested { by: Sender },
    /// The camera's photo is at the gateway (to specialists only).
    PhotoReady { photo: PhotoView },
    /// The room was ended (or expired); the gateway closes the socket next.
    RoomEnded {},
    /// Something this socket sent was refused, or the socket fell behind.
    /// Nothing else changes: the socket stays open unless `hello` failed.
    Error { error: String, message: String },
}

/// Who sent a chat message or a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: ParticipantId,
    pub role: Role,
    pub name: Option<String>,
}

/// A still photo, as specialists are told of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoView {
    pub id: String,
    /// `GET` it with the specialist's token (`Authorization: Bearer`).
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// When the camera took it, milliseconds since the Unix epoch.
    pub captured_at_ms: u64,
}

/// One participant as everyone in the room sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantView {
    pub id: ParticipantId,
    pub role: Role,
    /// The name on the token; none for tokens made without one.
    pub name: Option<String>,
    /// Open events sockets with this token (pages, the daemon).
    pub sockets: u32,
    /// The state of its WebRTC session (camera or viewer).
    pub media: MediaState,
    /// Its last quality report while its media flows; `null` before.
    pub quality: Option<Quality>,
    /// Whether the gateway hears it speak now (talk-back audio levels).
    #[serde(default)]
    pub speaking: bool,
}

/// Where a participant's WebRTC session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// No WHIP/WHEP session (chat only, or waiting for the camera).
    None,
    /// Offer answered, ICE/DTLS not up yet.
    Connecting,
    /// Media flows.
    Connected,
}

/// A message with its version and, for room-wide events, the room's
/// sequence number: every socket of a room sees the events in the same
/// order, `seq` rising by one from event to event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Envelope<T> {
    /// A version-1 message without a sequence number.
    pub fn new(body: T) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            seq: None,
            body,
        }
    }
}

impl<T: Serialize> Envelope<T> {
    /// The message's JSON text.
    pub fn to_json(&self) -> String {
        // Plain structs, strings and numbers: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ServerMessage {
    /// An error message with a code and a text saying what to do.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            error: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a text frame is not a message of this set.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Not JSON, or a known type with missing or mistyped fields.
    Malformed(String),
    /// `v` is missing or another version.
    Version(Option<u64>),
    /// A `type` this version does not have.
    UnknownType(String),
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "bad_message",
            DecodeError::Version(_) => "unsupported_version",
            DecodeError::UnknownType(_) => "unknown_type",
        }
    }

    pub fn message(&self) -> String {
        match self {
            DecodeError::Malformed(why) => format!(
                "the message is not one of the room events: {why}; send one JSON object \
                 such as {{\"v\": 1, \"type\": \"chat\", \"text\": \"…\"}}"
            ),
            DecodeError::Version(Some(v)) => format!(
                "this gateway speaks version {PROTOCOL_VERSION} of the room events, not {v}; \
                 reload the page or update the program"
            ),
            DecodeError::Version(None) => {
                format!("the message has no version; add \"v\": {PROTOCOL_VERSION}")
            }
            DecodeError::UnknownType(kind) => format!(
                "version {PROTOCOL_VERSION} of the room events has no message type \"{kind}\"; \
                 the types are hello, chat, photo_request and quality"
            ),
        }
    }
}

/// Reads a participant's text frame: the version first, then the type,
/// then the fields, so each failure says which it was.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| DecodeError::Malformed(err.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(DecodeError::Malformed("not a JSON object".to_owned()));
    };
    match object.get("v").map(serde_json::Value::as_u64) {
        Some(Some(v)) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => return Err(DecodeError::Version(v)),
        None => return Err(DecodeError::Version(None)),
    }
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        _ => return Err(DecodeError::Malformed("no \"type\"".to_owned())),
    };
    if !["hello", "chat", "photo_request", "quality"].contains(&kind.as_str()) {
        return Err(DecodeError::UnknownType(kind));
    }
    serde_json::from_value::<ClientMessage>(value)
        .map_err(|err| DecodeError::Malformed(err.to_string()))
}

/// Reads a gateway message (for the capture daemon and tests).
pub fn decode_server(text: &str) -> Result<Envelope<ServerMessage>, DecodeError> {
    let envelope: Envelope<ServerMessage> =
        serde_json::from_str(text).map_err(|err| DecodeError::Malformed(err.to_string()))?;
    if envelope.v != PROTOCOL_VERSION {
        return Err(DecodeError::Version(Some(u64::from(envelope.v))));
    }
    Ok(envelope)
}

/// A participant's message as JSON text (for the capture daemon and tests).
pub fn encode_client(message: ClientMessage) -> String {
    Envelope::new(message).to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_read_as_documented() {
        assert_eq!(
            decode_client(r#"{"v":1,"type":"hello","token":"abc"}"#),
            Ok(ClientMessage::Hello {
                token: "abc".into()
            })
        );
        assert_eq!(
            decode_client(r#"{"v":1,"type":"chat","text":"turn the foot","extra":1}"#),
            Ok(ClientMessage::Chat {
                text: "turn the foot".into()
            })
        );
        assert_eq!(
            decode_client(r#"{"v":1,"type":"photo_request"}"#),
            Ok(ClientMessage::PhotoRequest {})
        );
        assert_eq!(
            decode_client(r#"{"v":1,"type":"quality","rtt_ms":12,"loss_percent":0.5}"#),
            Ok(ClientMessage::Quality(QualityReport {
                rtt_ms: Some(12),
                loss_percent: Some(0.5),
                ..QualityReport::default()
            }))
        );
        for message in [
            ClientMessage::Hello { token: "t".into() },
            ClientMessage::Chat { text: "x".into() },
            ClientMessage::PhotoRequest {},
            ClientMessage::Quality(QualityReport {
                fps: Some(29.5),
                ..QualityReport::default()
            }),
        ] {
            assert_eq!(decode_client(&encode_client(message.clone())), Ok(message));
        }
    }

    #[test]
    fn each_bad_message_is_named() {
        let code = |text: &str| decode_client(text).unwrap_err().code();
        assert_eq!(code("not json"), "bad_message");
        assert_eq!(code("[1]"), "bad_message");
        assert_eq!(code(r#"{"type":"chat","text":"x"}"#), "unsupported_version");
        assert_eq!(
            code(r#"{"v":2,"type":"chat","text":"x"}"#),
            "unsupported_version"
        );
        assert_eq!(code(r#"{"v":1,"type":"dance"}"#), "unknown_type");
        assert_eq!(code(r#"{"v":1}"#), "bad_message");
        assert_eq!(code(r#"{"v":1,"type":"chat"}"#), "bad_message");
        assert_eq!(code(r#"{"v":1,"type":"chat","text":5}"#), "bad_message");
    }

    #[test]
    fn server_messages_carry_version_sequence_and_type() {
        let mut envelope = Envelope::new(ServerMessage::Left { id: "t1".into() });
        envelope.seq = Some(7);
        let json: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "seq": 7, "type": "left", "id": "t1"})
        );
        let error = Envelope::new(ServerMessage::error("wrong_role", "no"));
        let json: serde_json::Value = serde_json::from_str(&error.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "type": "error", "error": "wrong_role", "message": "no"})
        );
        assert_eq!(decode_server(&error.to_json()), Ok(error));
    }
}
