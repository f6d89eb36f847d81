//! The media plane: an SFU on webrtc-rs's sans-IO core over one UDP port.
//!
//! - [`peer`] wraps one `rtc` peer connection; nothing else imports `rtc`
//!   beyond its RTP header type.
//! - [`sfu`] holds rooms and peers and forwards packets, time passed in.
//! - [`routing`], [`rewrite`], [`keyframe`], [`throttle`]: the pieces of the
//!   forwarding decision, each a pure function of its inputs.
//! - [`recovery`] (the camera's uplink losses: NACK, or a keyframe when a
//!   loss is beyond repair) and [`viewer_cap`] (how much the room's viewers
//!   can take: the cap sent to the camera as REMB): pure as well.
//! - [`speech`] tells from a speaker's audio levels when they speak.
//! - [`admission`]: the per-room limits on viewers, talk-back sessions and
//!   connection tests.
//! - [`probe`] measures what a connection test (`samsyn-bench connect`) sends.
//! - [`node`] owns the sockets and the one thread that drives the SFU;
//!   [`gso`] sends each viewer's burst in one system call; [`heartbeat`]
//!   tells `/healthz` whether that thread still turns; [`relay_port`] runs
//!   the built-in TURN relay ([`crate::relay`]) beside the SFU.
//! - [`warnings`] sums up what outsiders send (one log line a minute, not
//!   one a datagram).
//!
//! One port, one socket per media address: the candidates announce the
//! address the socket is bound to, so replies leave from the address the
//! peer checked. IPv4 and IPv6 alike (see [`addresses`]).

pub mod addresses;
pub mod admission;
pub mod gso;
pub mod h264_profile;
pub mod heartbeat;
pub mod keyframe;
pub mod node;
pub mod peer;
pub mod probe;
pub mod recovery;
pub mod relay_port;
pub mod rewrite;
pub mod routing;
pub mod sfu;
pub mod socket_buffers;
pub mod speech;
pub mod throttle;
pub mod viewer_cap;
pub mod warnings;

pub use node::{MediaNode, MediaNodeConfig};
pub use sfu::{SfuOccupancy, SfuSettings, SfuStats, Timing};
