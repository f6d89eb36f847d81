//! samsyn's WebRTC test clients: what the tests and the bench suite use to
//! receive and check the media that the gateway forwards.
//!
//! - [`whep_viewer`]: a WHEP viewer on GStreamer's webrtcbin that decodes
//!   H.264, counts frames and keyframes, reads abs-capture-time and measures
//!   glass-to-glass latency ([`WhepViewer`]).
//! - [`rtc_client`]: what the clients on webrtc-rs's sans-IO `rtc` core
//!   share: the codec table, a camera's H.264 track, receive-only m-lines,
//!   the host candidate. The bench's peers (`connect`, `load`) and the
//!   gateway tests' in-memory peers around the SFU build on it.
//!
//! Who uses it: the gateway's integration tests, the capture crate's
//! loopback tests, and `samsyn-bench` (`latency` watches through the WHEP
//! viewer; `connect` and `load` build their peers on `rtc_client`). The
//! bench suite is a shipped binary (the capture package carries
//! `samsyn-bench`), so this crate is a normal dependency of `samsyn-bench`;
//! it is a dev-dependency of `samsyn-gateway` and `samsyn-capture` only. It
//! is not part of the nurse's daemon: neither the `samsyn-capture` library
//! nor its binary links it, and it is never published.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod rtc_client;
pub mod whep_viewer;

pub use whep_viewer::{ViewerError, ViewerOptions, ViewerReport, WhepViewer};
