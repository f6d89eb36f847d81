//! How much one source can make the audit trail write: every line is
//! synced to disk, and the rotation keeps a fixed number of files, so a
//! genuine token opening and closing sockets in a loop could otherwise
//! push the consultations of the week out of the trail.
//!
//! A source is one token (its sessions and sockets joining and leaving) or,
//! for refused requests, one client address in one room. Each may write
//! [`LINES_PER_MINUTE`] lines a minute; beyond that its events are counted,
//! and when the minute is over one [`AuditEvent::Summarized`] line says how
//! many of each there were. Rooms created and ended are always written.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::AuditEvent;
use crate::clock::rfc3339_utc;

/// Lines one source may write per minute before its events are counted.
/// A participant joining, reconnecting twice and leaving writes about ten.
pub const LINES_PER_MINUTE: u32 = 20;
/// The length of a source's window, in seconds.
const WINDOW_SECS: u64 = 60;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    Token {
        room: String,
        token_id: String,
    },
    Address {
        room: Option<String>,
        address: IpAddr,
    },
}

impl Source {
    /// The source of `event`; `None` for events that are always written.
    fn of(event: &AuditEvent) -> Option<Self> {
        match event {
            AuditEvent::Joined { room, token_id, .. }
            | AuditEvent::Connected { room, token_id, .. }
            | AuditEvent::Left { room, token_id, .. }
            | AuditEvent::EventsJoined { room, token_id, .. }
            | AuditEvent::EventsLeft { room, token_id, .. } => Some(Source::Token {
                room: room.clone(),
                token_id: token_id.clone(),
            }),
            AuditEvent::Refused {
                room,
                address: Some(address),
                ..
            } => Some(Source::Address {
                room: room.clone(),
                address: *address,
            }),
            AuditEvent::Refused { address: None, .. }
            | AuditEvent::RoomCreated { .. }
            | AuditEvent::RoomEnded { .. }
            | AuditEvent::Summarized { .. } => None,
        }
    }
}

/// One source's current minute.
#[derive(Debug)]
struct Window {
    started: u64,
    written: u32,
    held: Held,
}

/// The events of a window that were counted, not written.
#[derive(Debug, Default)]
struct Held {
    role: Option<String>,
    counts: BTreeMap<String, u32>,
    first: u64,
    last: u64,
}

impl Window {
    fn new(now: u64) -> Self {
        Self {
            started: now,
            written: 0,
            held: Held::default(),
        }
    }

    fn is_over(&self, now: u64) -> bool {
        now >= self.started.saturating_add(WINDOW_SECS)
    }

    /// The summary of what was held, if anything was.
    fn summary(&mut self, source: &Source) -> Option<AuditEvent> {
        let held = std::mem::take(&mut self.held);
        if held.counts.is_empty() {
            return None;
        }
        let (room, token_id, address) = match source.clone() {
            Source::Token { room, token_id } => (Some(room), Some(token_id), None),
            Source::Address { room, address } => (room, None, Some(address)),
        };
        Some(AuditEvent::Summarized {
            room,
            role: held.role,
            token_id,
            address,
            counts: held.counts,
            from: rfc3339_utc(held.first),
            until: rfc3339_utc(held.last),
        })
    }
}

/// The windows of every source seen within the last minute.
#[derive(Debug, Default)]
pub(super) struct Budget {
    windows: HashMap<Source, Window>,
}

/// What to write for one event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Admitted {
    /// The summary of the source's previous minute, due now.
    pub summary: Option<AuditEvent>,
    /// Whether the event itself is written (else it was counted).
    pub write: bool,
}

impl Budget {
    /// Decides whether `event`, at `now` (Unix seconds), is written.
    pub fn admit(&mut self, event: &AuditEvent, now: u64) -> Admitted {
        let Some(source) = Source::of(event) else {
            return Admitted {
                summary: None,
                write: true,
            };
        };
        let window = self
            .windows
            .entry(source.clone())
            .or_insert_with(|| Window::new(now));
        let mut summary = None;
        if window.is_over(now) {
            summary = window.summary(&source);
            *window = Window::new(now);
        }
        if window.written < LINES_PER_MINUTE {
            window.written += 1;
            return Admitted {
                summary,
                write: true,
            };
        }
        let held = &mut window.held;
        if held.counts.is_empty() {
            held.first = now;
        }
        held.last = now;
        if held.role.is_none() {
            held.role = event.role().map(str::to_owned);
        }
        *held.counts.entry(event.kind().to_owned()).or_default() += 1;
        Admitted {
            summary,
            write: false,
        }
    }

    /// The summaries of the minutes that are over at `now`; forgets those
    /// sources.
    pub fn due(&mut self, now: u64) -> Vec<AuditEvent> {
        let mut summaries = Vec::new();
        self.windows.retain(|source, window| {
            if !window.is_over(now) {
                return true;
            }
            summaries.extend(window.summary(source));
            false
        });
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket_joined(token: &str) -> AuditEvent {
        AuditEvent::EventsJoined {
            room: "ward".into(),
            role: "observer".into(),
            name: None,
            token_id: token.into(),
            address: None,
        }
    }

    fn socket_left(token: &str) -> AuditEvent {
        AuditEvent::EventsLeft {
            room: "ward".into(),
            role: "observer".into(),
            token_id: token.into(),
            seconds: 0,
        }
    }

    #[test]
    fn a_flurry_becomes_one_line_with_counts() {
        let mut budget = Budget::default();
        let mut written = 0;
        for _ in 0..50 {
            for event in [socket_joined("obs"), socket_left("obs")] {
                let admitted = budget.admit(&event, 1000);
                assert_eq!(admitted.summary, None);
                written += usize::from(admitted.write);
            }
        }
        assert_eq!(written, LINES_PER_MINUTE as usize);
        // Another token is not held back by this one.
        assert!(budget.admit(&socket_joined("spec"), 1000).write);
        assert!(budget.due(1059).is_empty(), "the minute is not over");

        let summaries = budget.due(1060);
        assert_eq!(summaries.len(), 1);
        let AuditEvent::Summarized {
            token_id, counts, ..
        } = &summaries[0]
        else {
            panic!("{summaries:?}");
        };
        assert_eq!(token_id.as_deref(), Some("obs"));
        assert_eq!(counts["events_joined"], 40);
        assert_eq!(counts["events_left"], 40);
        // A new minute writes again.
        assert!(budget.admit(&socket_joined("obs"), 1060).write);
    }

    #[test]
    fn the_summary_is_due_with_the_next_event_too() {
        let mut budget = Budget::default();
        for _ in 0..=LINES_PER_MINUTE {
            budget.admit(&socket_joined("obs"), 0);
        }
        let admitted = budget.admit(&socket_left("obs"), 61);
        assert!(admitted.write);
        assert!(matches!(
            admitted.summary,
            Some(AuditEvent::Summarized { .. })
        ));
        let room = AuditEvent::RoomEnded {
            room: "ward".into(),
            by: "command line".into(),
        };
        for _ in 0..100 {
            assert!(budget.admit(&room, 61).write, "rooms are always written");
        }
    }
}
