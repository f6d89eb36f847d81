//! What the latency controller reports once a second: what is being sent,
//! the encode budget and how well it is held, and the quality ladder. The
//! daemon's status ([`crate::status`]) shows it to the nurse and to IT.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::Percentiles;

/// The stream as the latency controller sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyReport {
    /// Seconds since the pipeline started.
    pub uptime_secs: f64,
    /// What is being sent.
    pub video: VideoStatus,
    /// The encode budget and how well it is held.
    pub latency: LatencyStatus,
    /// The quality ladder.
    pub ladder: LadderStatus,
}

/// What is being sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoStatus {
    /// Frame width sent.
    pub width: u32,
    /// Frame height sent.
    pub height: u32,
    /// Frame rate asked for (the ladder may lower it).
    pub fps_target: u32,
    /// Frames per second leaving the encoder, over the last 2 s.
    pub fps: f64,
    /// RTP bitrate over the last 2 s, kbit/s.
    pub bitrate_kbps: f64,
    /// The encoder element (`None`: the camera's H.264 is passed through).
    pub encoder: Option<String>,
    /// Its preset now.
    pub preset: Option<String>,
    /// Whether packets carry abs-capture-time (the gateway accepted it).
    pub capture_time_sent: bool,
}

/// The encode budget and how well it is held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStatus {
    /// The budget, ms: capture timestamp to last RTP packet handed to WebRTC.
    pub encode_budget_ms: f64,
    /// The end-to-end goal, ms.
    pub glass_to_glass_target_ms: u32,
    /// Length of the window the figures below cover, seconds.
    pub window_secs: f64,
    /// Encode path over the window.
    pub encode_path_ms: Option<Percentiles>,
    /// Each stage over the window (source, queue, convert, encode, payload).
    pub stages_ms: BTreeMap<String, Percentiles>,
    /// Frames within budget over the window, percent of frames captured
    /// (frames left out on purpose by the ladder do not count).
    pub budget_held_percent: Option<f64>,
    /// Since the start.
    pub session: SessionStatus,
}

/// Figures since the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// Encode path since the start.
    pub encode_path_ms: Option<Percentiles>,
    /// Frames within budget since the start, percent.
    pub budget_held_percent: Option<f64>,
    /// Frames whose last packet went out.
    pub frames_sent: u64,
    /// Frames dropped, by reason (`encoder_busy`, `frame_rate`, `lost`).
    pub frames_dropped: BTreeMap<String, u64>,
}

/// The quality ladder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LadderStatus {
    /// Whether it may step the picture down.
    pub enabled: bool,
    /// The rung in force (0 is the configured picture).
    pub rung: usize,
    /// Every rung, best first.
    pub rungs: Vec<String>,
    /// The setting in force, e.g. `1280x720@30 superfast`.
    pub setting: String,
    /// The last steps, oldest first.
    pub steps: Vec<StepRecord>,
}

/// One step of the ladder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// When, seconds after the start.
    pub at_secs: f64,
    /// Rung before.
    pub from: usize,
    /// Rung after.
    pub to: usize,
    /// The setting after.
    pub setting: String,
    /// What caused it, with the measurement.
    pub cause: String,
}
