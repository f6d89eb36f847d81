//! Recording the feedback a run received, and replaying it.
//!
//! With `SAMSYN_CC_TRACE=<file>` the daemon appends every piece of
//! congestion feedback to `<file>`, one JSON object per line:
//!
//! ```text
//! {"at_us":1234567,"twcc":[[17,1200000,5300000,1200],[18,1203000,null,1150]]}
//! {"at_us":1300000,"remb":850000}
//! ```
//!
//! `at_us` is when it arrived (microseconds on the monotonic clock the send
//! times are on); each TWCC entry is `[sequence, sent µs, arrived µs or null
//! when lost, bytes]`. Tests replay such files through the controller, so
//! its behaviour on a real bad line is fixed down to the bit.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Feedback, PacketResult};

/// One recorded piece of feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// When it arrived.
    pub at: Duration,
    /// What it said.
    pub feedback: Feedback,
}

/// One packet's report as written: sequence, sent µs, arrived µs, bytes.
type PacketLine = (u16, u64, Option<u64>, u32);

#[derive(Serialize, Deserialize)]
struct Line {
    at_us: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    twcc: Option<Vec<PacketLine>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    remb: Option<u64>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `event` as one line of JSON (without the newline).
pub fn to_line(event: &TraceEvent) -> String {
    let line = match &event.feedback {
        Feedback::Transport(packets) => Line {
            at_us: micros(event.at),
            twcc: Some(
                packets
                    .iter()
                    .map(|p| (p.seq, micros(p.sent), p.arrived.map(micros), p.size))
                    .collect(),
            ),
            remb: None,
        },
        Feedback::ReceiverMaximum(bps) => Line {
            at_us: micros(event.at),
            twcc: None,
            remb: Some(*bps),
        },
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// Why a trace line does not parse.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Not the JSON of a line.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Both or neither of the feedback kinds.
    #[error("a line needs exactly one of \"twcc\" or \"remb\"")]
    Feedback,
}

/// Why a trace does not parse: the line (from 1) and what is wrong there.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {cause}")]
pub struct TraceError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub cause: LineError,
}

/// Parses one line written by [`to_line`].
pub fn parse_line(text: &str) -> Result<TraceEvent, LineError> {
    let line: Line = serde_json::from_str(text)?;
    let at = Duration::from_micros(line.at_us);
    let feedback = match (line.twcc, line.remb) {
        (Some(packets), None) => Feedback::Transport(
            packets
                .into_iter()
                .map(|(seq, sent, arrived, size)| PacketResult {
                    seq,
                    sent: Duration::from_micros(sent),
                    arrived: arrived.map(Duration::from_micros),
                    size,
                })
                .collect(),
        ),
        (None, Some(bps)) => Feedback::ReceiverMaximum(bps),
        _ => return Err(LineError::Feedback),
    };
    Ok(TraceEvent { at, feedback })
}

/// Parses a whole trace; the error names the line.
pub fn parse(text: &str) -> Result<Vec<TraceEvent>, TraceError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| parse_line(line).map_err(|cause| TraceError { line: n + 1, cause }))
        .collect()
}

/// Appends feedback to a trace file.
#[derive(Debug)]
pub struct TraceWriter {
    file: std::fs::File,
}

impl TraceWriter {
    /// Opens (creating or appending) `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self { file })
    }

    /// Writes one event.
    pub fn write(&mut self, event: &TraceEvent) -> std::io::Result<()> {
        writeln!(self.file, "{}", to_line(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let events = [
            TraceEvent {
                at: Duration::from_micros(1_234_567),
                feedback: Feedback::Transport(vec![
                    PacketResult {
                        seq: 17,
                        sent: Duration::from_micros(1_200_000),
                        arrived: Some(Duration::from_micros(5_300_000)),
                        size: 1200,
                    },
                    PacketResult {
                        seq: 18,
                        sent: Duration::from_micros(1_203_000),
                        arrived: None,
                        size: 1150,
                    },
                ]),
            },
            TraceEvent {
                at: Duration::from_micros(1_300_000),
                feedback: Feedback::ReceiverMaximum(850_000),
            },
        ];
        let text: String = events.iter().map(|e| to_line(e) + "\n").collect();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"at_us":1234567,"twcc":[[17,1200000,5300000,1200],[18,1203000,null,1150]]}"#
        );
        assert_eq!(parse(&text).unwrap(), events);
        let err = parse("{\"at_us\":1}").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.to_string().starts_with("line 1:"), "{err}");
    }
}
