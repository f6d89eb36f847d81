//! The gateway's log: one event, one line, whatever the event carries.
//!
//! Log fields often hold text from outside (a STUN USERNAME quoted by the
//! WebRTC stack, a client's header). A newline in such text would let anyone
//! write a line of their own into the log ("room ended by admin"), and an
//! escape sequence could rewrite an operator's terminal. So every control
//! character and every bidirectional override in a line is written escaped
//! (`\n`, `\u{1b}`), and only the newline that ends the event stays.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Info for samsyn itself; the WebRTC stack's own chatter only when it warns.
/// DTLS warns about every TLS extension a browser offers that it skips.
pub const DEFAULT_FILTER: &str = "warn,rtc_dtls=error,samsyn_gateway=info,samsyn_signaling=info";

/// Logs to standard error, one escaped line per event, filtered by
/// `SAMSYN_LOG` (or `RUST_LOG`), else [`DEFAULT_FILTER`].
pub fn init() {
    let filter = EnvFilter::try_from_env("SAMSYN_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours are escape sequences too: the escaping would show them.
        .with_ansi(false)
        .with_writer(OneLinePerEvent(io::stderr))
        .init();
}

/// Wraps a writer maker so each event is written as one escaped line.
#[derive(Debug, Clone, Copy)]
pub struct OneLinePerEvent<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLinePerEvent<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }
}

/// Writes what it is given with control characters escaped. The formatter
/// hands it one whole event per `write`.
#[derive(Debug)]
pub struct EscapingWriter<W>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(escape_event(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `event` with every control character but a final newline escaped.
pub fn escape_event(event: &[u8]) -> String {
    let text = String::from_utf8_lossy(event);
    let (body, ending) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    let mut line = String::with_capacity(body.len() + ending.len());
    for c in body.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                line.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => line.push(c),
        }
    }
    line.push_str(ending);
    line
}

/// Characters that reorder how the rest of a line is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

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

    /// The subscriber as `init` builds it, writing to memory.
    #[test]
    fn an_event_with_outside_text_is_one_line_in_the_log() {
        #[derive(Clone, Default)]
        struct Memory(Arc<Mutex<Vec<u8>>>);
        impl Write for Memory {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let memory = Memory::default();
        let sink = memory.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(OneLinePerEvent(move || sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let username = "gw:x\n2026-12-07T10:00:00Z  INFO room ended by admin";
            tracing::warn!(%username, "discard message");
        });
        let log = String::from_utf8(memory.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains("\\n2026-12-07T10:00:00Z"), "{log}");
    }
}
