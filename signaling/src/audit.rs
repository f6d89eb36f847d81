//! The audit trail: who joined and left which consultation, when rooms were
//! created and ended, and which requests were refused.
//!
//! One JSON object per line in `<data_dir>/audit/audit.log`, mode 0600,
//! each line synced to disk before the request it records is answered.
//! When the file would outgrow `max_file_bytes` it is renamed to
//! `audit.log.1` (the older ones shift up to `audit.log.<max_files>`, and
//! the oldest is deleted; [`json_lines`] writes and rotates).
//! [`read_trail`] reads them back in order, for `samsyn-gateway audit`.
//!
//! What one token (or one address's refused requests) can make it write is
//! limited ([`budget`]): beyond [`LINES_PER_MINUTE`] lines a minute its
//! events are counted and summed up in one line.
//!
//! The trail is the one place that holds display names and client
//! addresses: it is what the hospital needs to answer "who watched this
//! consultation". Logs never carry them. A failing write is logged as an
//! error and does not stop the consultation: patient care comes first, and
//! the error tells IT to fix the disk.

mod budget;

pub use crate::json_lines::Rotation;
pub use budget::LINES_PER_MINUTE;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339_utc, unix_now};
use crate::json_lines::{self, Appended, JsonLinesFile};
use crate::private_files::PathError;

/// Directory under the data directory that holds the trail.
pub const AUDIT_DIR: &str = "audit";
/// The current file; rotated ones get `.1`, `.2`, … appended.
pub const AUDIT_FILE: &str = "audit.log";

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 UTC.
    pub time: String,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    RoomCreated {
        room: String,
        label: String,
        expires_at: String,
        /// `command line`, or `api (token <id>)`.
        by: String,
    },
    RoomEnded {
        room: String,
        by: String,
    },
    Joined {
        room: String,
        session: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        token_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
        /// The camera's talk-back session (it hears the speakers): the same
        /// device as the camera's video session, not another participant.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        talkback: bool,
    },
    /// A session's media connected; `path` says how it reaches the gateway
    /// (`udp`, `relay_tcp`, `relay_tls`, `external_relay`), so IT sees who
    /// needed a relay.
    Connected {
        room: String,
        session: String,
        role: String,
        token_id: String,
        path: String,
    },
    Left {
        room: String,
        session: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        token_id: String,
        /// `left` (DELETE), `connection lost`, `room ended`, …
        reason: String,
        /// How long they were in.
        seconds: u64,
    },
    /// A room events socket (participants, chat, photo requests) joined:
    /// it reads the chat even without watching.
    EventsJoined {
        room: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        token_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
    },
    /// That socket closed.
    EventsLeft {
        room: String,
        role: String,
        token_id: String,
        /// How long it was open.
        seconds: u64,
    },
    /// A request with a token that did not admit it (the error code says why).
    Refused {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
    },
    /// Events of one token (or refusals of one address) beyond
    /// [`LINES_PER_MINUTE`], counted instead of written one by one.
    Summarized {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
        /// How many of each event, by its name (`events_joined`: 40, …).
        counts: BTreeMap<String, u32>,
        /// The first and the last of them, RFC 3339 UTC.
        from: String,
        until: String,
    },
}

impl AuditEvent {
    /// The room this event concerns, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            AuditEvent::RoomCreated { room, .. }
            | AuditEvent::RoomEnded { room, .. }
            | AuditEvent::Joined { room, .. }
            | AuditEvent::Connected { room, .. }
            | AuditEvent::Left { room, .. }
            | AuditEvent::EventsJoined { room, .. }
            | AuditEvent::EventsLeft { room, .. } => Some(room),
            AuditEvent::Refused { room, .. } | AuditEvent::Summarized { room, .. } => {
                room.as_deref()
            }
        }
    }

    /// The event's name in the trail (its `event` field).
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::RoomCreated { .. } => "room_created",
            AuditEvent::RoomEnded { .. } => "room_ended",
            AuditEvent::Joined { .. } => "joined",
            AuditEvent::Connected { .. } => "connected",
            AuditEvent::Left { .. } => "left",
            AuditEvent::EventsJoined { .. } => "events_joined",
            AuditEvent::EventsLeft { .. } => "events_left",
            AuditEvent::Refused { .. } => "refused",
            AuditEvent::Summarized { .. } => "summarized",
        }
    }

    /// The role of the participant this event concerns, if any.
    pub fn role(&self) -> Option<&str> {
        match self {
            AuditEvent::Joined { role, .. }
            | AuditEvent::Connected { role, .. }
            | AuditEvent::Left { role, .. }
            | AuditEvent::EventsJoined { role, .. }
            | AuditEvent::EventsLeft { role, .. } => Some(role),
            AuditEvent::Summarized { role, .. } => role.as_deref(),
            AuditEvent::RoomCreated { .. }
            | AuditEvent::RoomEnded { .. }
            | AuditEvent::Refused { .. } => None,
        }
    }
}

/// The writer; `disabled` writes nothing.
#[derive(Debug)]
pub struct AuditLog {
    writer: Option<Mutex<Writer>>,
}

#[derive(Debug)]
struct Writer {
    file: JsonLinesFile,
    budget: budget::Budget,
}

impl AuditLog {
    /// Opens (creating 0700/0600) `<data_dir>/audit/audit.log` for appending.
    pub fn open(data_dir: &Path, rotation: Rotation) -> Result<Self, PathError> {
        let file = JsonLinesFile::open(&data_dir.join(AUDIT_DIR), AUDIT_FILE, rotation)?;
        Ok(Self {
            writer: Some(Mutex::new(Writer {
                file,
                budget: budget::Budget::default(),
            })),
        })
    }

    /// A trail that records nothing (`audit.enabled = false`).
    pub fn disabled() -> Self {
        Self { writer: None }
    }

    /// Appends `event`, stamped with the current time, unless its source
    /// is beyond its budget (then it is counted for a summary line).
    pub fn record(&self, event: AuditEvent) {
        let Some(writer) = &self.writer else {
            return;
        };
        let now = unix_now();
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        let admitted = writer.budget.admit(&event, now);
        if let Some(summary) = admitted.summary {
            writer.write(now, summary);
        }
        if admitted.write {
            writer.write(now, event);
        }
    }

    /// Writes the summaries of the budget windows that are over at `now`
    /// (Unix seconds); the gateway calls it every few seconds.
    pub fn write_summaries(&self, now: u64) {
        let Some(writer) = &self.writer else {
            return;
        };
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        for summary in writer.budget.due(now) {
            writer.write(now, summary);
        }
    }
}

impl Writer {
    fn write(&mut self, now: u64, event: AuditEvent) {
        let record = AuditRecord {
            time: rfc3339_utc(now),
            event,
        };
        match self.file.append(&record) {
            Ok(Appended::ToCurrentFile) => {}
            // IT should know when the oldest records go: a trail that
            // rotates often keeps less history than audit.max_files suggests.
            Ok(Appended::AfterRotating) => tracing::info!(
                max_file_bytes = self.file.rotation().max_file_bytes,
                files_kept = self.file.rotation().max_files,
                "the audit trail was rotated (audit.log is now audit.log.1); the oldest file \
                 beyond audit.max_files was deleted"
            ),
            Err(err) => tracing::error!(
                "the audit trail could not be written: {err}; check free space and permissions \
                 of the data directory's audit/ folder"
            ),
        }
    }
}

/// Every record in the trail of `data_dir`, oldest first; lines that are not
/// records are reported through `on_bad_line` (file, line number) and skipped.
/// A data directory without a trail yet has no records; a missing data
/// directory is an error (most likely the wrong one was given).
pub fn read_trail(
    data_dir: &Path,
    on_bad_line: impl FnMut(&Path, usize),
) -> Result<Vec<AuditRecord>, PathError> {
    if !data_dir.exists() {
        return Err(PathError::new(
            data_dir,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    json_lines::read_all(&data_dir.join(AUDIT_DIR), AUDIT_FILE, on_bad_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(n: usize) -> AuditEvent {
        AuditEvent::Joined {
            room: "ward".into(),
            session: format!("s{n}"),
            role: "specialist".into(),
            name: Some("Dr. Berg".into()),
            token_id: "tok".into(),
            address: Some("10.0.0.7".parse().unwrap()),
            talkback: false,
        }
    }

    #[test]
    fn records_survive_rotation_in_order() {
        let data = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_file_bytes: 600,
            max_files: 3,
        };
        let log = AuditLog::open(data.path(), rotation).unwrap();
        for n in 0..12 {
            log.record(joined(n));
        }
        let dir = data.path().join(AUDIT_DIR);
        assert!(dir.join("audit.log.3").exists());
        assert!(!dir.join("audit.log.4").exists());
        // Sizes and modes of the files are json_lines' to keep (its tests).

        let records = read_trail(data.path(), |p, n| {
            panic!("bad line {n} in {}", p.display())
        })
        .unwrap();
        let sessions: Vec<String> = records
            .iter()
            .map(|r| match &r.event {
                AuditEvent::Joined { session, .. } => session.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        // The oldest were rotated away; what is left is in order and ends
        // with the newest.
        assert_eq!(sessions.last().map(String::as_str), Some("s11"));
        let numbers: Vec<usize> = sessions.iter().map(|s| s[1..].parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert!(numbers.len() >= 6, "{numbers:?}");
    }

    #[test]
    fn reopening_appends_and_disabled_writes_nothing() {
        let data = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_file_bytes: 1 << 20,
            max_files: 2,
        };
        AuditLog::open(data.path(), rotation)
            .unwrap()
            .record(joined(1));
        AuditLog::open(data.path(), rotation)
            .unwrap()
            .record(joined(2));
        AuditLog::disabled().record(joined(3));
        let records = read_trail(data.path(), |_, _| panic!("bad line")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].event, joined(2));
    }
}
