//! The latency budget: measured per frame, held by the quality ladder, and
//! carried to the viewers.
//!
//! - [`frames`] and [`probes`]: pad probes mark each frame at the points of
//!   the encode path (source out, leaky queue out, encoder in, encoder out,
//!   last RTP packet handed to webrtcbin); the age at each point is the
//!   pipeline clock minus the frame's capture timestamp ([`clock`]). Frames
//!   that never arrive are counted as drops with their reason.
//! - [`stats`]: rolling percentiles (the last 10 s) and whole-session
//!   histograms of each stage and of the encode path.
//! - [`ladder`]: the quality ladder, sans-IO, driven by the encode budget
//!   and (from the bitrate controller) by the bitrate the network allows.
//! - Every video packet carries its frame's capture time, so receivers
//!   measure glass-to-glass latency: that RTP header extension is
//!   negotiated and written with the rest of WebRTC
//!   ([`crate::webrtc::abs_capture_time`]), on this module's [`clock`].
//! - [`controller`] runs it all in the daemon and publishes a [`report`]
//!   once a second; how that is shown to the nurse and IT is
//!   [`crate::status`]'s business.

pub mod clock;
pub mod controller;
pub mod frames;
pub mod ladder;
pub mod probes;
pub mod report;
pub mod stats;
