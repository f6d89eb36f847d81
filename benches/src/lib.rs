//! samsyn-bench: checks and measurements of a samsyn deployment, for
//! hospital and municipal IT.
//!
//! One module per subcommand, each with its own `clap` arguments and `run`:
//! [`connect`] (the line test a nurse runs before a consultation), [`load`]
//! (many rooms and viewers against a gateway), [`latency`] (encode-path and
//! glass-to-glass latency on this machine), [`health`]. They share the
//! WebRTC endpoints ([`webrtc`]) and their TURN client ([`relay`]), the
//! HTTP side ([`signal`]), the gateway's metrics ([`scrape`]) and one report
//! style ([`report`]: terminal table, JSON, HTML with plots); [`child`] keeps
//! the processes they start from outliving a failed measurement.

pub mod child;
pub mod connect;
pub mod health;
pub mod latency;
pub mod load;
pub mod relay;
pub mod report;
pub mod scrape;
pub mod signal;
pub mod webrtc;
