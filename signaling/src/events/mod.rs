//! Room events: one WebSocket per participant that carries who is in the
//! consultation, chat and photo requests. Version 1 of the message set.
//!
//! # Connecting
//!
//! `GET /events/{room}` upgrades to a WebSocket (`wss://` over TLS). The
//! first message must be
//!
//! ```json
//! {"v": 1, "type": "hello", "token": "<the room token>"}
//! ```
//!
//! within [`HELLO_TIMEOUT`](policy::HELLO_TIMEOUT). The token travels in
//! that message, not in the URL (URLs reach access logs and proxies) and
//! not in `Sec-WebSocket-Protocol` (a header that proxies log as well, and
//! that would make the server echo the token back): a message inside the
//! established, encrypted socket is seen by nobody but the gateway. A bad
//! token gets an `error` (the same codes as the HTTP surface: `invalid_token`,
//! `token_expired`, `wrong_room`, `wrong_role`, `room_ended`, …) and the
//! socket is closed (close code 1008). A good one gets a `welcome`.
//!
//! # Messages
//!
//! Every message is a JSON object with `"v": 1` and a `"type"`. Room-wide
//! events also carry `"seq"`, the room's event counter: every socket in a
//! room sees the same events in the same order, `seq` rising by one (a
//! socket skips the numbers of events meant for other roles only). The
//! `welcome` carries the `seq` of the snapshot it holds; the events that
//! follow it start at `seq + 1`.
//!
//! From a participant ([`ClientMessage`]):
//!
//! | type | fields | who |
//! |---|---|---|
//! | `hello` | `token` | everyone, once, first |
//! | `chat` | `text`: one line of at most [`MAX_CHAT_CHARS`](policy::MAX_CHAT_CHARS) characters, no control or direction-override characters ([`crate::text`]) | publisher, specialist |
//! | `photo_request` | | specialist |
//! | `quality` | `rtt_ms`, `loss_percent`, `fps`, `bitrate_kbps` (each optional) | a participant with a video session, about that session, every few seconds while media flows |
//!
//! From the gateway ([`ServerMessage`]):
//!
//! | type | fields | when |
//! |---|---|---|
//! | `welcome` | `you`, `room`, `participants` | after `hello`; again after the socket fell behind |
//! | `participant` | `participant` (`id`, `role`, `name`, `sockets`, `media`: `none`/`connecting`/`connected`, `quality`: `null` or the last report with `level`: `good`/`fair`/`poor`, `speaking`) | someone joined, their socket or video session came or went, or they reported their quality |
//! | `left` | `id` | someone has neither socket nor video session left |
//! | `speaking` | `id`, `speaking` | someone started or stopped speaking, as the gateway hears it in their talk-back audio |
//! | `chat` | `from` (`id`, `role`, `name`), `text`, `sent_at_ms` | a chat message, also back to its sender |
//! | `photo_requested` | `by` | a specialist asked the camera for a photo |
//! | `photo_ready` | `photo` (`id`, `url`, `width`, `height`, `bytes`, `captured_at_ms`) | to specialists only: the photo is at the gateway, `GET url` with the token |
//! | `room_ended` | | the room was ended or expired; the socket closes next |
//! | `error` | `error`, `message` | to the sender only: what was refused and what to do |
//!
//! A participant is a token: the page's WHEP session and its socket (or
//! the camera's WHIP session and the daemon's socket) make one entry,
//! `id` being the token's id. Two pages opened with the same link are one
//! participant with two sockets; a third socket of the same token takes
//! the place of its oldest ([`MAX_SOCKETS_PER_TOKEN`]), which gets an
//! `error` `replaced` and is closed. Observers' sockets leave
//! [`SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS`] of the room's
//! [`MAX_SOCKETS_PER_ROOM`] free.
//!
//! # Refusals
//!
//! A message that is not JSON, has another `v`, an unknown `type`, is
//! larger than [`MAX_MESSAGE_BYTES`](policy::MAX_MESSAGE_BYTES), is not
//! allowed for the sender's role ([`policy`]), or comes faster than the
//! budget ([`MESSAGES_PER_SECOND`](policy::MESSAGES_PER_SECOND) after a
//! burst of [`MESSAGE_BURST`](policy::MESSAGE_BURST)) gets an `error` back
//! on the same socket. The socket stays open and nobody else notices. Only
//! a frame above [`MAX_FRAME_BYTES`](policy::MAX_FRAME_BYTES) closes it
//! (close code 1009).
//!
//! # Privacy
//!
//! Chat texts and display names go to the room's sockets only: they are
//! never logged and never written to disk. The gateway keeps no chat
//! history; a page that joins late sees the chat from then on.

mod hub;
mod messages;
pub mod policy;

pub use hub::{
    MAX_SOCKETS_PER_ROOM, MAX_SOCKETS_PER_TOKEN, NoMediaSession, Published, ROOM_EVENT_BACKLOG,
    RoomEvents, RoomFull, SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS, Seat, Subscription,
};
pub use messages::{
    ClientMessage, DecodeError, Envelope, MediaState, PROTOCOL_VERSION, ParticipantId,
    ParticipantView, PhotoView, Quality, QualityLevel, QualityReport, Sender, ServerMessage,
    decode_client, decode_server, encode_client,
};
