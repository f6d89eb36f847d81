//! The built-in TURN relay (RFC 8656) over TCP and TLS, relaying only into
//! the gateway itself.
//!
//! Networks that drop UDP still reach the gateway's HTTPS port. A client
//! there may speak TURN instead of HTTP; its allocation gets a *virtual*
//! relayed address (a media IP of the gateway and a port from a range, with
//! no socket behind it) whose datagrams go straight into the SFU, and the
//! SFU's answers to that address come back over the client's connection.
//! Permissions are granted only for the gateway's own media addresses, so
//! the relay can never carry traffic anywhere else.
//!
//! This is the sans-IO core, time passed in; the listener and connection
//! tasks live with the media loop.
//!
//! - [`framing`]: TURN, TLS or HTTP on a new connection; a stream cut into
//!   STUN and ChannelData frames; ChannelData framed for a stream.
//! - [`server`]: [`RelayServer`], the state machine: authentication,
//!   allocations, permissions, channels, relaying, timers.
//! - [`allocation`]: one allocation's lifetime, permissions and channels.
//! - [`ports`]: the virtual relayed ports.
//! - [`messages`]: responses and indications built with `rtc::stun` and
//!   `rtc::turn::proto`.
//! - [`credentials`]: passwords of the TURN REST API scheme, as minted by
//!   [`samsyn_signaling::turn_credentials`].
//! - [`stats`]: what the relay counts.

pub mod allocation;
pub mod credentials;
pub mod framing;
pub mod messages;
pub mod ports;
pub mod server;
pub mod stats;

#[cfg(test)]
mod tests;

pub use credentials::CredentialLookup;
pub use framing::{FirstBytes, FrameError, FrameReader, classify};
pub use server::{ConnId, RelayOutput, RelayServer, RelaySettings, RelayTransport};
pub use stats::RelayStats;
