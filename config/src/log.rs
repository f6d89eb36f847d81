//! How the binaries write their log (`[log]`), shared by the gateway and
//! the capture daemon. Which events are logged stays with `SAMSYN_LOG`
//! (a tracing filter, not a configuration key).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The environment variable holding the log filter (`SAMSYN_LOG=debug`).
/// It is not a configuration key, though `log` is a table: the
/// environment layer skips it.
pub const LOG_FILTER_ENV: &str = "SAMSYN_LOG";

/// The `[log]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people reading a terminal or the journal, `json` for a
    /// log collector: one JSON object per line.
    pub format: LogFormat,
}

/// How each log event is written to standard error.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), and `span` inside a request.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}
