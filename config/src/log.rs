//! How the binaries write their log (`[log]`), shared by the gateway and
//! the capture daemon. Which events are logged stays with `SAMSYN_LOG`
//! (a tracing filter, not a configuration key).
//!
//! Both write every event as one line, whatever it carries: log fields
//! often hold text from outside (a STUN USERNAME quoted by the WebRTC
//! stack, a client's header, a room event's name). A newline in such text
//! would let anyone write a line of their own into the log ("room ended by
//! admin"), and an escape sequence could rewrite an operator's terminal.
//! So [`EscapingWriter`] writes every control character and bidirectional
//! override escaped (`\n`, `\u{1b}`; in JSON `\u009b`), and only the newline
//! that ends the event stays.

use std::fmt;
use std::io::{self, Write};

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

impl LogFormat {
    /// How this format's lines are made safe to show.
    pub fn escaping(self) -> Escaping {
        match self {
            LogFormat::Text => Escaping::Text,
            LogFormat::Json => Escaping::Json,
        }
    }
}

/// How a log line is made safe to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// [`escape_event`]: control characters escaped Rust-style (`\n`).
    Text,
    /// [`escape_json_event`]: what JSON leaves raw escaped JSON-style
    /// (`\u202e`).
    Json,
}

/// Writes what it is given with control characters escaped. A tracing
/// formatter hands it one whole event per `write`.
#[derive(Debug)]
pub struct EscapingWriter<W> {
    inner: W,
    escaping: Escaping,
}

impl<W> EscapingWriter<W> {
    /// Wraps `inner` (stdout, stderr, a test buffer) so every event written
    /// through it is escaped as `escaping` says.
    pub fn new(inner: W, escaping: Escaping) -> Self {
        Self { inner, escaping }
    }
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = match self.escaping {
            Escaping::Text => escape_event(buf),
            Escaping::Json => escape_json_event(buf),
        };
        self.inner.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `event` with every control character but a final newline escaped.
pub fn escape_event(event: &[u8]) -> String {
    escape_lines(event, |c, line| match c {
        '\n' => line.push_str("\\n"),
        '\r' => line.push_str("\\r"),
        '\t' => line.push_str("\\t"),
        c => line.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
    })
}

/// A JSON `event` with every control character and bidirectional override
/// but a final newline written as a JSON escape (`\u009b`). Outside strings
/// a JSON line holds only printable ASCII, so every such character is inside
/// a string, where the escape means the same character: the line stays
/// valid JSON with the same values.
pub fn escape_json_event(event: &[u8]) -> String {
    escape_lines(event, |c, line| {
        // Every control and bidi character is in the Basic Multilingual Plane.
        line.push_str(&format!("\\u{:04x}", u32::from(c)));
    })
}

/// `event` with `escape` writing each control or bidi character of its body.
fn escape_lines(event: &[u8], escape: impl Fn(char, &mut String)) -> String {
    let text = String::from_utf8_lossy(event);
    let (body, ending) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    let mut line = String::with_capacity(body.len() + ending.len());
    for c in body.chars() {
        if c.is_control() || is_bidi_control(c) {
            escape(c, &mut line);
        } else {
            line.push(c);
        }
    }
    line.push_str(ending);
    line
}

/// Characters that reorder how the rest of a line is displayed.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_inside_its_event() {
        assert_eq!(
            escape_event(b"WARN discard from x:y\nINFO room ended by admin\n"),
            "WARN discard from x:y\\nINFO room ended by admin\n"
        );
        assert_eq!(escape_event(b"a\x1b[2Jb\r\0\n"), "a\\u{1b}[2Jb\\r\\u{0}\n");
        assert_eq!(
            escape_event("name \u{202e}gpj.exe\n".as_bytes()),
            "name \\u{202e}gpj.exe\n"
        );
        assert_eq!(
            escape_event("Ærlig talt: 3,2 cm\n".as_bytes()),
            "Ærlig talt: 3,2 cm\n"
        );
    }

    #[test]
    fn json_escaping_leaves_plain_text_and_the_final_newline() {
        assert_eq!(
            escape_json_event("{\"m\":\"Ærlig talt\"}\n".as_bytes()),
            "{\"m\":\"Ærlig talt\"}\n"
        );
        assert_eq!(
            escape_json_event("{\"m\":\"a\u{202e}b\u{85}\"}\n".as_bytes()),
            "{\"m\":\"a\\u202eb\\u0085\"}\n"
        );
    }

    #[test]
    fn the_writer_escapes_what_passes_through_it() {
        let mut out = Vec::new();
        let mut writer = EscapingWriter::new(&mut out, LogFormat::Text.escaping());
        writer.write_all(b"a\nb\n").unwrap();
        assert_eq!(out, b"a\\nb\n");
    }
}
