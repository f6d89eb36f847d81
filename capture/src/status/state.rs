//! The daemon's status itself: the latency controller's report joined with
//! talk-back's, kept current as either changes.

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::latency::report::{LadderStatus, LatencyReport, LatencyStatus, VideoStatus};
use crate::talkback::TalkbackStatus;

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
    /// Talk-back: the specialists' voices on the nurse's headset.
    #[serde(default)]
    pub talkback: TalkbackStatus,
}

impl Status {
    /// The latency controller's `report` with talk-back's `talkback`.
    pub fn new(report: &LatencyReport, talkback: &TalkbackStatus) -> Self {
        let LatencyReport {
            uptime_secs,
            video,
            latency,
            ladder,
        } = report.clone();
        Status {
            uptime_secs,
            video,
            latency,
            ladder,
            talkback: talkback.clone(),
        }
    }
}

/// The daemon's status from the latency controller's `report` and, when
/// it runs, talk-back's: a channel that follows both until either sender is
/// dropped.
pub fn follow(
    mut report: watch::Receiver<LatencyReport>,
    mut talkback: Option<watch::Receiver<TalkbackStatus>>,
) -> watch::Receiver<Status> {
    let first = Status::new(&report.borrow(), &talkback_now(&mut talkback));
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = report.changed() => if changed.is_err() { return },
                changed = talkback_changed(&mut talkback) => if changed.is_err() { return },
                () = tx.closed() => return,
            }
            let next = Status::new(&report.borrow_and_update(), &talkback_now(&mut talkback));
            tx.send_replace(next);
        }
    });
    rx
}

/// Talk-back's status now (off when it does not run), marked as seen.
fn talkback_now(talkback: &mut Option<watch::Receiver<TalkbackStatus>>) -> TalkbackStatus {
    talkback
        .as_mut()
        .map(|t| t.borrow_and_update().clone())
        .unwrap_or_default()
}

/// Resolves when talk-back's status changes; never when it does not run.
async fn talkback_changed(
    talkback: &mut Option<watch::Receiver<TalkbackStatus>>,
) -> Result<(), watch::error::RecvError> {
    match talkback {
        Some(talkback) => talkback.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talkback::TalkbackState;

    #[tokio::test]
    async fn the_status_carries_both_and_follows_each() {
        let (report_tx, report_rx) = watch::channel(LatencyReport::default());
        let (talkback_tx, talkback_rx) = watch::channel(TalkbackStatus::default());
        let mut merged = follow(report_rx, Some(talkback_rx));
        report_tx.send_modify(|s| s.video.fps = 30.0);
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

    #[tokio::test]
    async fn without_talkback_the_status_follows_the_report() {
        let (report_tx, report_rx) = watch::channel(LatencyReport::default());
        let mut status = follow(report_rx, None);
        report_tx.send_modify(|s| s.ladder.rung = 2);
        let seen = status
            .wait_for(|s| s.ladder.rung == 2)
            .await
            .unwrap()
            .clone();
        assert_eq!(seen.talkback, TalkbackStatus::default());
        drop(report_tx);
        assert!(status.changed().await.is_err(), "ends with the report");
    }

    #[test]
    fn the_json_keeps_its_documented_keys_in_order() {
        let json = serde_json::to_string(&Status::default()).unwrap();
        let at = |key: &str| json.find(&format!("\"{key}\":")).unwrap();
        assert!(at("uptime_secs") < at("video"), "{json}");
        assert!(
            at("video") < at("latency") && at("latency") < at("ladder"),
            "{json}"
        );
        assert!(at("ladder") < at("talkback"), "{json}");
    }
}
