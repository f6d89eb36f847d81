//! The daemon's status: what the nurse and hospital IT see of the stream.
//!
//! [`Status`] ([`state`]) joins the latency controller's report
//! ([`crate::latency::report`]) with talk-back's ([`crate::talkback`]);
//! [`follow`] keeps it current as either changes. It is shown three ways:
//!
//! - [`line`]: one line on the terminal (redrawn in place when stderr is a
//!   terminal, logged at info every few seconds otherwise);
//! - [`endpoint`]: the same as JSON on `GET http://127.0.0.1:<port>/status`;
//! - [`screen`]: the picture's quality in words on the nurse screen.
//!
//! It sits above the modules it reports on, so neither the latency
//! controller nor talk-back needs to know how they are shown.

pub mod endpoint;
pub mod line;
pub mod screen;
pub mod state;

use std::time::Duration;

use samsyn_config::StatusConfig;
use tokio::sync::watch;

pub use crate::latency::report::{
    LadderStatus, LatencyReport, LatencyStatus, SessionStatus, StepRecord, VideoStatus,
};
use crate::talkback::TalkbackStatus;

pub use line::LogWriter;
pub use state::{Status, follow};

/// Shows the daemon's status as `settings` ask: serves it on the endpoint
/// (a port that cannot be had is logged and skipped: the stream matters
/// more) and keeps the terminal line going until the report ends.
pub async fn start(
    settings: &StatusConfig,
    report: watch::Receiver<LatencyReport>,
    talkback: Option<watch::Receiver<TalkbackStatus>>,
) {
    let status = follow(report, talkback);
    if settings.endpoint {
        match endpoint::serve(settings.port, status.clone()).await {
            Ok(address) => tracing::info!("status endpoint: http://{address}/status"),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    tokio::spawn(line::show(
        status,
        Duration::from_secs(u64::from(settings.log_interval_secs)),
    ));
}
