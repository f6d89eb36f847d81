//! Signed tokens that admit a request to one room in one role.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`); nothing else is
//! accepted, so a token cannot pick a weaker algorithm for itself (`none`,
//! HMAC with the public key). They carry the room, the role
//! ([`Role`]: publisher, specialist, observer, admin), an expiry, a unique
//! id and an optional display name. The signature makes them
//! self-contained, so `samsyn-gateway room create` can issue them while the
//! server is down, sharing the key through the data directory; whether
//! their room is still open is checked against the room registry
//! ([`crate::rooms::RoomRegistry`]), which is what lets ending a room
//! revoke its tokens at once.

mod authority;
mod claims;
mod key_store;

pub use authority::{AuthError, Grant, TokenAuthority};
pub use claims::{Claims, Role};
pub use key_store::{KEY_DIR, KEY_FILE, KeyError};
