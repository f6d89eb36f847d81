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
//! The state is a sans-IO core, time passed in, run by the media loop; the
//! connections are carried by tasks of their own.
//!
//! - [`framing`]: TURN, TLS or HTTP on a new connection; a stream cut into
//!   STUN and ChannelData frames; ChannelData framed for a stream.
//! - [`connection`]: taking connections from the HTTPS listener, and the
//!   task that carries each between its socket and the media loop.
//! - [`send_queue`]: what waits to go down a connection, bounded.
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
pub mod connection;
pub mod credentials;
pub mod framing;
pub mod messages;
pub mod ports;
pub mod send_queue;
pub mod server;
pub mod stats;

#[cfg(test)]
mod tests;

pub use connection::{RelayDoor, RelayEvent};
pub use credentials::CredentialLookup;
pub use framing::{FirstBytes, FrameError, FrameReader, classify};
pub use send_queue::SendQueue;
pub use server::{ConnId, RelayOutput, RelayServer, RelaySettings, RelayTransport};
pub use stats::RelayStats;
