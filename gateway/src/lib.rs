//! samsyn-gateway: the hospital side of samsyn.
//!
//! It composes [`samsyn_signaling`] (rooms, tokens, WHIP/WHEP, the page) with
//! the [`media`] plane, an SFU that fans the nurse's one uplink out to every
//! specialist over a single UDP port.

pub mod http;
pub mod media;
pub mod metrics;
pub mod rooms;
pub mod serve;
