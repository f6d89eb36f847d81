//! The status on the terminal: one line, redrawn in place once a second
//! when stderr is a terminal, logged at info every few seconds otherwise;
//! and a writer for log lines that leaves that line intact.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use super::state::Status;

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
        match self.talkback.summary() {
            Some(talkback) => format!("{line} | {talkback}"),
            None => line,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::stats::Percentiles;

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
}
