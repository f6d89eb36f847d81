//! What the nurse and hospital IT see: one status line on the terminal
//! (redrawn in place when stderr is a terminal, logged at info every few
//! seconds otherwise) and the same as JSON on the local status endpoint.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::stats::Percentiles;

/// The daemon's state, as served on `GET /status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Seconds since the pipeline started.
    pub uptime_secs: f64,
    /// What is being sent.
    pub video: VideoStatus,
    /// The encode budget and how well it is held.
    pub latency: LatencyStatus,
    /// The quality ladder.
    pub ladder: LadderStatus,
    // talkback: begin
    /// Talk-back: the specialists' voices on the nurse's headset.
    #[serde(default)]
    pub talkback: crate::talkback::TalkbackStatus,
    // talkback: end
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

impl Status {
    /// The one-line summary: frame rate, bitrate, encode p95 against the
    /// budget, share of frames within budget, and the setting.
    pub fn line(&self) -> String {
        let p95 = self
            .latency
            .encode_path_ms
            .map_or_else(|| "–".to_owned(), |p| format!("{:.1}", p.p95));
        let held = self
            .latency
            .budget_held_percent
            .map_or_else(|| "–".to_owned(), |h| format!("{h:.1} %"));
        let line = format!(
            "{:.1} fps | {} | encode p95 {p95} ms / budget {:.1} ms | budget held {held} | {}",
            self.video.fps,
            format_bitrate(self.video.bitrate_kbps),
            self.latency.encode_budget_ms,
            self.ladder.setting,
        );
        // talkback: begin
        match self.talkback.summary() {
            Some(talkback) => format!("{line} | {talkback}"),
            None => line,
        }
        // talkback: end
    }
}

fn format_bitrate(kbps: f64) -> String {
    if kbps >= 1000.0 {
        format!("{:.2} Mbit/s", kbps / 1000.0)
    } else {
        format!("{kbps:.0} kbit/s")
    }
}

/// The terminal's status line, while one is shown.
static TERMINAL_LINE: OnceLock<ProgressBar> = OnceLock::new();

/// Shows `status` to the nurse until the sender is dropped: redrawn in
/// place once a second when stderr is a terminal, otherwise logged at info
/// every `log_interval`.
pub async fn show(mut status: watch::Receiver<Status>, log_interval: Duration) {
    if std::io::stderr().is_terminal() {
        let bar = TERMINAL_LINE.get_or_init(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        while status.changed().await.is_ok() {
            let line = status.borrow_and_update().line();
            bar.set_message(line);
            bar.tick();
        }
        bar.finish_and_clear();
    } else {
        let mut ticks = tokio::time::interval(log_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let line = status.borrow().line();
                    tracing::info!("status: {line}");
                }
                changed = status.changed() => if changed.is_err() { break },
            }
        }
    }
}

/// Stderr for log lines that leaves the terminal's status line intact: the
/// line is cleared, the log line written, and the status redrawn below it.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match TERMINAL_LINE.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// The daemon's status with talk-back's filled in: a channel that follows
/// both until either sender is dropped.
pub fn with_talkback(
    mut status: watch::Receiver<Status>,
    mut talkback: watch::Receiver<crate::talkback::TalkbackStatus>,
) -> watch::Receiver<Status> {
    let combine = |status: &Status, talkback: &crate::talkback::TalkbackStatus| {
        let mut combined = status.clone();
        combined.talkback = talkback.clone();
        combined
    };
    let (tx, rx) = watch::channel(combine(&status.borrow(), &talkback.borrow()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = status.changed() => if changed.is_err() { return },
                changed = talkback.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
            let next = combine(&status.borrow_and_update(), &talkback.borrow_and_update());
            tx.send_replace(next);
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talkback::{TalkbackState, TalkbackStatus};

    #[test]
    fn the_status_line_names_rate_bitrate_budget_and_setting() {
        let mut status = Status::default();
        status.video.fps = 29.96;
        status.video.bitrate_kbps = 2450.0;
        status.latency.encode_budget_ms = 33.333;
        status.latency.encode_path_ms = Some(Percentiles {
            p50: 8.0,
            p95: 11.24,
            p99: 14.0,
            max: 20.0,
            frames: 300,
        });
        status.latency.budget_held_percent = Some(99.67);
        status.ladder.setting = "1280x720@30 superfast".into();
        assert_eq!(
            status.line(),
            "30.0 fps | 2.45 Mbit/s | encode p95 11.2 ms / budget 33.3 ms | budget held 99.7 % \
             | 1280x720@30 superfast"
        );
        let empty = Status::default().line();
        assert!(
            empty.contains("encode p95 – ms") && empty.contains("held –"),
            "{empty}"
        );
    }

    #[tokio::test]
    async fn the_merged_status_carries_both_and_follows_each() {
        let (status_tx, status_rx) = watch::channel(Status::default());
        let (talkback_tx, talkback_rx) = watch::channel(TalkbackStatus::default());
        let mut merged = with_talkback(status_rx, talkback_rx);
        status_tx.send_modify(|s| s.video.fps = 30.0);
        let seen = merged
            .wait_for(|s| s.video.fps == 30.0)
            .await
            .unwrap()
            .clone();
        assert_eq!(seen.talkback.state, TalkbackState::Off);
        talkback_tx.send_replace(TalkbackStatus {
            state: TalkbackState::Connected,
            volume_percent: 150,
            ..TalkbackStatus::default()
        });
        let seen = merged
            .wait_for(|s| s.talkback.state == TalkbackState::Connected)
            .await
            .unwrap()
            .clone();
        assert_eq!(seen.video.fps, 30.0);
        assert!(
            seen.line().ends_with("| talk-back: quiet, volume 150 %"),
            "{}",
            seen.line()
        );
        let json = serde_json::to_value(&seen).unwrap();
        assert_eq!(json["talkback"]["state"], "connected");
    }
}
