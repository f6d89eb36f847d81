//! samsyn-gateway: the hospital side of samsyn.
//!
//! It composes [`samsyn_signaling`] (rooms, tokens, TLS, WHIP/WHEP, the
//! page) with the [`media`] plane, an SFU that fans the nurse's one uplink
//! out to every specialist over a single UDP port.
//!
//! - [`serve`]: the server; [`setup`]: what it and the offline commands
//!   open from the configuration; [`service`]: readiness and the watchdog
//!   under systemd.
//! - [`rooms`]: `room create/end/list` and `token create`; [`data_owner`]:
//!   those commands, started as root, go on as the data directory's owner.
//! - [`audit`]: `samsyn-gateway audit`; [`report`]: `samsyn-gateway report`,
//!   the consultation log for the statistics.
//! - [`logging`]: one escaped line per event, whatever text from outside
//!   it carries.
//! - [`metrics`]: `GET /metrics`; [`http`]: the gateway's own routes
//!   (metrics, connection tests).
//! - [`relay`]: the built-in TURN relay's sans-IO core (TCP and TLS on the
//!   HTTPS port, relaying only into the gateway's own SFU).

// Unsafe code only where a system call has no safe wrapper: each such site
// says why with `#[allow(unsafe_code, reason = …)]` and a safety
// comment above the block (`deny`, not `forbid`, so that those sites
// can opt out).
#![deny(unsafe_code)]

pub mod audit;
pub mod data_owner;
pub mod http;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod relay;
pub mod report;
pub mod rooms;
pub mod serve;
pub mod service;
pub mod setup;
