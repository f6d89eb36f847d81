//! samsyn's nurse-side daemon: head camera → low-latency encoder →
//! webrtcbin → WHIP to the gateway.
//!
//! The media path is plain GStreamer:
//!
//! ```text
//! source bin ─▶ leaky queue ─▶ videoscale ─▶ videoconvert ─▶ encoder ─▶ parser ─▶ RTP payloader ─▶ webrtcbin
//! (test | v4l2 | file)        (drop old frames)                   (hw or x264/vp8)      (+ abs-capture-time)
//! microphone ─▶ queue ─▶ opusenc ─▶ rtpopuspay ─────────────────────────────────▶ (optional)
//! ```
//!
//! - [`camera`] finds the head camera and picks the mode to open it in.
//! - [`source`] builds the capture side for `--source`; [`encoder`] holds the
//!   one table of encoders and picks from it; [`chain`] joins them into a
//!   reusable bin that tests can run without any network.
//! - [`webrtc`] builds the publisher around webrtcbin (send-only, BUNDLE,
//!   ICE pinned to chosen addresses) and does the offer/answer steps.
//! - [`whip`] is the WHIP/WHEP HTTP client, which verifies the gateway's
//!   certificate as [`gateway_tls`] says and reads the relays the gateway
//!   announces; [`publish`] opens one WHIP session with them; [`run`] ties
//!   everything into the daemon's life cycle, with [`network_watch`] telling
//!   it when the laptop's addresses change; [`cli`] is the command line.
//! - [`latency`] times every frame along that path, holds the latency budget
//!   with the quality ladder and stamps packets with their capture time;
//!   [`status`] shows the daemon's status (terminal line, local JSON
//!   endpoint, the picture's quality on the nurse screen).
//! - [`consultation`] joins the room's events: who is in the consultation
//!   and the chat, on the nurse's terminal.
//! - [`talkback`] plays the specialists' voices, mixed, on the nurse's
//!   headset, and cancels their echo in the microphone.
//! - [`elements`] creates elements and names the Debian package of a missing
//!   one.

pub mod audio;
pub mod camera;
pub mod chain;
pub mod check;
pub mod cli;
pub mod congestion;
pub mod consultation;
pub mod elements;
pub mod encoder;
pub mod gateway_tls;
pub mod join;
pub mod latency;
pub mod network_watch;
pub mod nurse_link;
pub mod publish;
pub mod rate_control;
pub mod reconnect;
pub mod run;
pub mod screen;
pub mod self_view;
pub mod settings;
pub mod source;
pub mod status;
pub mod talkback;
pub mod uplink;
pub mod webrtc;
pub mod whip;
