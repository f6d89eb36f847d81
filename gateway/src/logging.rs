//! The gateway's log: one event, one line, whatever the event carries
//! (escaped by [`samsyn_config::EscapingWriter`], as the daemon's is).
//!
//! `log.format = "json"` writes each event as one JSON object per line
//! (tracing-subscriber's JSON formatter) for a log collector: `timestamp`,
//! `level`, `target`, `fields` (`message` and the event's own fields) and,
//! inside an HTTP request, `span` (`name`, `method`, `route`). JSON escapes
//! control characters below U+0020 itself; the C1 controls and
//! bidirectional overrides it leaves as they are are written as `\uXXXX`,
//! which keeps the line valid JSON.

use std::io;

use samsyn_config::{Escaping, EscapingWriter, LOG_FILTER_ENV, LogFormat};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Info for samsyn itself; the WebRTC stack's own chatter only when it warns.
/// DTLS warns about every TLS extension a browser offers that it skips.
pub const DEFAULT_FILTER: &str = "warn,rtc_dtls=error,samsyn_gateway=info,samsyn_signaling=info";

/// Logs to standard error in `format`, one escaped line per event, filtered
/// by `SAMSYN_LOG` (or `RUST_LOG`), else [`DEFAULT_FILTER`].
///
/// Call it once the configuration is loaded (the format is part of it) and
/// before anything logs; a second call changes nothing.
pub fn install(format: LogFormat) {
    // `try_init` also hands the `log` crate's records (the WebRTC stack's)
    // to the subscriber. A logger installed earlier stays (see `init`).
    let _ = subscriber(format, filter(), io::stderr).try_init();
}

/// The subscriber [`install`] installs, writing to `make_writer`.
fn subscriber<M>(
    format: LogFormat,
    filter: EnvFilter,
    make_writer: M,
) -> Box<dyn Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours are escape sequences too: the escaping would show them.
        .with_ansi(false);
    match format {
        LogFormat::Text => Box::new(
            builder
                .with_target(false)
                .with_writer(OneLinePerEvent::new(make_writer, format.escaping()))
                .finish(),
        ),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_target(true)
                // The request's span (method and route pattern, never the
                // URI); not the list of all spans, which would repeat it.
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(OneLinePerEvent::new(make_writer, format.escaping()))
                .finish(),
        ),
    }
}

/// The text log, unless [`install`] already installed the configured one:
/// `serve::run` calls it for callers that start the gateway without the
/// binary's `main`.
pub fn init() {
    install(LogFormat::Text);
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env(LOG_FILTER_ENV)
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Wraps a writer maker so each event is written as one escaped line.
#[derive(Debug, Clone, Copy)]
pub struct OneLinePerEvent<M> {
    make_writer: M,
    escaping: Escaping,
}

impl<M> OneLinePerEvent<M> {
    pub fn new(make_writer: M, escaping: Escaping) -> Self {
        OneLinePerEvent {
            make_writer,
            escaping,
        }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLinePerEvent<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter::new(self.make_writer.make_writer(), self.escaping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samsyn_config::is_bidi_control;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// Where the tests' subscribers write.
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

    /// What `install(format)` would log for the events `log` makes.
    fn logged(format: LogFormat, log: impl FnOnce()) -> String {
        let memory = Memory::default();
        let sink = memory.clone();
        let subscriber = subscriber(format, EnvFilter::new("info"), move || sink.clone());
        tracing::subscriber::with_default(subscriber, log);
        let bytes = memory.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    const FORGED: &str = "gw:x\n2026-12-07T10:00:00Z  INFO room ended by admin";

    #[test]
    fn an_event_with_outside_text_is_one_line_in_the_log() {
        let log = logged(LogFormat::Text, || {
            tracing::warn!(username = %FORGED, "discard message");
        });
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains("\\n2026-12-07T10:00:00Z"), "{log}");
    }

    #[test]
    fn a_json_event_with_outside_text_is_one_object_on_one_line() {
        // C1 CSI (U+009B) and a right-to-left override: serde_json leaves
        // both raw, the JSON escaping does not.
        let hostile = format!("{FORGED}\u{9b}2J\u{202e}gpj.exe\t\u{1b}[31m");
        let log = logged(LogFormat::Json, || {
            let span = tracing::info_span!("http", method = "POST", route = "/whip/{room}");
            let _entered = span.enter();
            tracing::warn!(username = %hostile, "discard message");
        });
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.ends_with('\n'), "{log}");
        assert!(
            !log.trim_end()
                .chars()
                .any(|c| c.is_control() || is_bidi_control(c)),
            "{log:?}"
        );
        let event: serde_json::Value =
            serde_json::from_str(log.trim_end()).expect("one JSON object");
        // The value reads back exactly as it was logged.
        assert_eq!(event["fields"]["username"], hostile.as_str(), "{log}");
        assert_eq!(event["fields"]["message"], "discard message");
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["target"], "samsyn_gateway::logging::tests");
        assert_eq!(event["span"]["name"], "http");
        assert_eq!(event["span"]["route"], "/whip/{room}");
        assert!(event["timestamp"].is_string(), "{log}");
    }
}
