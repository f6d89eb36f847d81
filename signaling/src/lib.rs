//! Signaling for samsyn: rooms, roles, tokens, TLS and the HTTP surface.
//!
//! The gateway composes this crate with its SFU. Signaling speaks HTTP(S)
//! (WHIP for the nurse's camera, WHEP for the specialists' browsers, the
//! rooms API, the viewer page, health) and checks who may do what;
//! everything about RTP is behind the [`media::MediaPlane`] trait, so the
//! same HTTP surface can later sit in front of several media nodes.
//!
//! - [`tokens`]: Ed25519-signed JWTs that carry a room, a role (publisher,
//!   specialist, observer, admin), an expiry, an id and a display name.
//! - [`rooms`]: the registry of consultations in `<data_dir>/rooms/` (what
//!   makes ending a room revoke its links), and the invites that open them.
//! - [`participants`]: who is in which room now; one camera per room.
//! - [`events`]: the room events WebSocket's message set (version 1) and
//!   the per-room hub: participants, chat, photo requests.
//! - [`photos`]: still photos, in memory for the room's lifetime.
//! - [`audit`]: the trail of who joined and left, for the people who must
//!   answer "who watched this consultation".
//! - [`consultation_log`]: one record per consultation (times, participants
//!   by role, bytes, quality; no personal data) for the statistics.
//! - [`json_lines`]: the rotating JSON-lines files both are written to.
//! - [`http`]: the axum [`Router`](axum::Router); [`server`] serves it over
//!   plain HTTP (loopback) or TLS ([`tls`]: configured or self-signed
//!   certificate).
//! - [`turn_credentials`]: short-lived relay credentials for each WHIP/WHEP
//!   client (the TURN REST API scheme coturn checks).
//! - [`ice_servers`]: the relays each WHIP/WHEP client is told about in
//!   `Link` headers, and the secret their credentials are made with.
//! - [`text`]: what labels, display names and chat may hold (one line,
//!   no control or direction characters), and how a terminal prints them.
//! - [`error`]: every error the HTTP surface returns, as
//!   `{"error": "<code>", "message": "<what to do>"}`.
//!
//! The data directory: `keys/token-signing.pk8`, `tls/` (a generated
//! certificate), `rooms/<room>.json` (deleted when the room expires),
//! `audit/audit.log*`, `turn/secret` (the relays' secret, unless configured);
//! all 0600 in 0700 directories ([`private_files`]).

// Unsafe code only where a system call has no safe wrapper: each such site
// says why with `#[allow(unsafe_code, reason = …)]` and a safety
// comment above the block (`deny`, not `forbid`, so that those sites
// can opt out).
#![deny(unsafe_code)]
// A library hands text to its caller; the binaries decide where it goes.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod audit;
pub mod consultation_log;
pub mod error;
pub mod events;
pub mod http;
pub mod ice_servers;
pub mod json_lines;
pub mod media;
pub mod participants;
pub mod photos;
pub mod private_files;
pub mod rooms;
pub mod sdp;
pub mod server;
pub mod settings;
pub mod text;
pub mod tls;
pub mod tokens;
pub mod turn_credentials;

mod clock;

pub use clock::{rfc3339_utc, unix_now};
pub use error::ApiError;
pub use http::{AppState, PageAssets, StateError, router, router_with};
pub use rooms::{RoomId, RoomInvite, RoomRecord, RoomRegistry};
pub use settings::SignalingSettings;
pub use tokens::{AuthError, Claims, Grant, KeyError, Role, TokenAuthority};
