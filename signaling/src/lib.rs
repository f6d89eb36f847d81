//! Signaling for samsyn: rooms, roles, tokens and the HTTP surface.
//!
//! The gateway composes this crate with its SFU. Signaling speaks HTTP
//! (WHIP for the nurse's camera, WHEP for the specialists' browsers, the
//! viewer page, health) and checks who may do what; everything about RTP is
//! behind the [`media::MediaPlane`] trait, so the same HTTP surface can later
//! sit in front of several media nodes.
//!
//! - [`tokens`]: Ed25519-signed JWTs that carry a room and a role. The signing
//!   key lives in `<data_dir>/keys/token-signing.pk8`.
//! - [`rooms`]: room ids and the invite (tokens plus URLs) that
//!   `samsyn-gateway room create` prints. Tokens are self-contained, so no room
//!   registry is needed to admit a request.
//! - [`http`]: the axum [`Router`](axum::Router) with WHIP, WHEP, the viewer
//!   page and `/healthz`.
//! - [`error`]: every error the HTTP surface returns, as
//!   `{"error": "<code>", "message": "<what to do>"}`.

pub mod error;
pub mod http;
pub mod media;
pub mod rooms;
pub mod sdp;
pub mod settings;
pub mod tokens;

mod clock;

pub use error::ApiError;
pub use http::{AppState, PageAssets, router, router_with};
pub use rooms::{RoomId, RoomInvite, create_room};
pub use settings::SignalingSettings;
pub use tokens::{AuthError, Claims, KeyError, Role, TokenAuthority};
