//! Signed tokens that admit a request to one room in one role.
//!
//! Tokens are JWTs signed with Ed25519 (`alg: EdDSA`); nothing else is
//! accepted, so a token cannot pick a weaker algorithm for itself. They are
//! self-contained: the gateway needs no room registry to check them, and
//! `samsyn-gateway room create` can issue them while the server is down,
//! sharing the key through the data directory.

mod authority;
mod claims;
mod key_store;

pub use authority::{AuthError, TokenAuthority};
pub use claims::{Claims, Role};
pub use key_store::{KEY_DIR, KEY_FILE, KeyError};
