//! The consultation log: one record per consultation, for the statistics
//! the hospital and the municipality must register.
//!
//! A consultation starts with the first WebRTC session in a room (camera or
//! viewer) and ends when its room is ended (or expires), or when nobody has
//! been in it for
//! [`SignalingSettings::consultation_idle`](crate::SignalingSettings::consultation_idle). Its record holds the
//! start, the end, the duration, how many took part in each role (distinct
//! tokens), the media bytes the gateway carried, and a quality summary
//! (sessions, lost connections, camera reconnects, the participants'
//! quality reports). No names, no labels, no
//! addresses: nothing about the patient or the people.
//!
//! Records are appended, one JSON object per line, to
//! `<data_dir>/audit/consultations.log` (0600): the audit directory is the
//! data the gateway is already configured to keep on disk, and with
//! `audit.enabled = false` no consultation log is kept either. Records are
//! small (about 400 bytes): at [`ROTATE_AT_BYTES`] the file becomes
//! `consultations.log.1` (the older ones moving up to `.5`, the oldest
//! dropped), which is tens of thousands of consultations per file.
//! `samsyn-gateway report` reads them all, oldest first.
//!
//! Consultations still running when the gateway stops are written then,
//! `ended_by: "gateway stopped"`; the media plane reports a room's bytes
//! when its last session ends, so before they are written it is asked for
//! the counts of the rooms still in use
//! ([`AppState::finish_consultations`](crate::AppState::finish_consultations)).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::AUDIT_DIR;
use crate::clock::rfc3339_utc;
use crate::events::{QualityLevel, QualityReport};
use crate::json_lines::{self, JsonLinesFile, Rotation};
use crate::media::{EndReason, MediaPath, SessionId, SessionKind};
use crate::participants::Participant;
use crate::private_files::PathError;
use crate::rooms::RoomId;
use crate::tokens::Role;

/// The log's file in the audit directory.
pub const LOG_FILE: &str = "consultations.log";
/// The file is rotated when a record would take it past this size.
pub const ROTATE_AT_BYTES: u64 = 8 * 1024 * 1024;
/// Rotated files kept: `consultations.log.1` (newest) to `.5`.
pub const ROTATED_FILES: u32 = 5;
/// Time after a room ended for the media plane's last report to arrive.
const SETTLE: Duration = Duration::from_secs(2);

/// One finished consultation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsultationRecord {
    pub room: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_secs: u64,
    /// Who took part, counted by distinct token per role.
    pub participants: RoleCounts,
    /// Media payload bytes the gateway received from the camera.
    pub bytes_from_camera: u64,
    /// Media payload bytes the gateway sent to the viewers, all together.
    pub bytes_to_viewers: u64,
    pub quality: QualitySummary,
    /// `room ended` (ended or expired) or `everyone left`.
    pub ended_by: String,
}

/// Participants by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCounts {
    pub publisher: u32,
    pub specialist: u32,
    pub observer: u32,
}

/// How well the connections held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// WebRTC sessions (the camera's, its talk-back's, the viewers'),
    /// reconnects included.
    pub media_sessions: u32,
    /// Sessions whose connection was lost after it worked.
    pub connections_lost: u32,
    /// Sessions that never got connected.
    pub never_connected: u32,
    /// Camera sessions after the first: the nurse's line dropped or the
    /// daemon restarted.
    pub camera_reconnects: u32,
    /// Connection quality reports of the participants (every few seconds
    /// each), and how many of them were rated fair or poor.
    #[serde(default)]
    pub quality_reports: u32,
    #[serde(default)]
    pub fair_reports: u32,
    #[serde(default)]
    pub poor_reports: u32,
    /// The worst round trip and loss any participant reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_rtt_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_loss_percent: Option<f64>,
    /// Sessions whose media went through a relay (the network dropped UDP
    /// to the gateway), of those that connected.
    #[serde(default)]
    pub relayed_sessions: u32,
}

/// The consultations in progress, and where finished ones are written.
#[derive(Debug)]
pub struct ConsultationLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// None when the log is disabled.
    file: Option<JsonLinesFile>,
    running: HashMap<RoomId, Running>,
}

#[derive(Debug, Default)]
struct Running {
    started_at: u64,
    active: HashSet<SessionId>,
    /// When the last session left (and none has come since).
    empty_since: Option<u64>,
    room_ended: bool,
    tokens: HashMap<Role, HashSet<String>>,
    camera_sessions: u32,
    quality: QualitySummary,
    bytes_from_camera: u64,
    bytes_to_viewers: u64,
}

impl ConsultationLog {
    /// A log appending to `<data_dir>/audit/consultations.log`.
    pub fn open(data_dir: &Path) -> Result<Self, PathError> {
        let rotation = Rotation {
            max_file_bytes: ROTATE_AT_BYTES,
            max_files: ROTATED_FILES,
        };
        let file = JsonLinesFile::open(&data_dir.join(AUDIT_DIR), LOG_FILE, rotation)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                file: Some(file),
                running: HashMap::new(),
            }),
        })
    }

    /// A log that follows consultations but writes nothing.
    pub fn disabled() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Rotates at `bytes` instead of [`ROTATE_AT_BYTES`] (for tests).
    pub fn rotating_at(mut self, bytes: u64) -> Self {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = &mut inner.file {
            file.set_max_file_bytes(bytes);
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A WebRTC session started (its offer was answered).
    pub fn session_joined(&self, participant: &Participant, now: u64) {
        let mut inner = self.lock();
        let running = inner
            .running
            .entry(participant.room.clone())
            .or_insert_with(|| Running {
                started_at: now,
                ..Running::default()
            });
        running.active.insert(participant.session.clone());
        running.empty_since = None;
        running
            .tokens
            .entry(participant.role)
            .or_default()
            .insert(participant.token_id.clone());
        running.quality.media_sessions += 1;
        if participant.kind == SessionKind::Publish {
            running.camera_sessions += 1;
            running.quality.camera_reconnects = running.camera_sessions - 1;
        }
    }

    /// A WebRTC session ended.
    pub fn session_ended(&self, participant: &Participant, reason: EndReason, now: u64) {
        let mut inner = self.lock();
        let Some(running) = inner.running.get_mut(&participant.room) else {
            return;
        };
        if !running.active.remove(&participant.session) {
            return;
        }
        match reason {
            EndReason::ConnectionLost => running.quality.connections_lost += 1,
            EndReason::NeverConnected => running.quality.never_connected += 1,
            EndReason::Closed | EndReason::Replaced => {}
        }
        if running.active.is_empty() {
            running.empty_since = Some(now);
        }
    }

    /// A session of `room` connected along `path`.
    pub fn connected(&self, room: &RoomId, path: MediaPath) {
        if path.is_relayed()
            && let Some(running) = self.lock().running.get_mut(room)
        {
            running.quality.relayed_sessions += 1;
        }
    }

    /// A participant's connection quality report (room events).
    pub fn quality(&self, room: &RoomId, report: &QualityReport) {
        let mut inner = self.lock();
        let Some(running) = inner.running.get_mut(room) else {
            return;
        };
        let summary = &mut running.quality;
        summary.quality_reports += 1;
        match report.level() {
            QualityLevel::Good => {}
            QualityLevel::Fair => summary.fair_reports += 1,
            QualityLevel::Poor => summary.poor_reports += 1,
        }
        if let Some(rtt) = report.rtt_ms {
            summary.worst_rtt_ms = Some(summary.worst_rtt_ms.map_or(rtt, |w| w.max(rtt)));
        }
        if let Some(loss) = report.loss_percent {
            summary.worst_loss_percent =
                Some(summary.worst_loss_percent.map_or(loss, |w| w.max(loss)));
        }
    }

    /// The media plane's count of what a room carried (reported when its
    /// last session is gone; added up over the consultation).
    pub fn traffic(&self, room: &RoomId, bytes_from_camera: u64, bytes_to_viewers: u64) {
        if let Some(running) = self.lock().running.get_mut(room) {
            running.bytes_from_camera += bytes_from_camera;
            running.bytes_to_viewers += bytes_to_viewers;
        }
    }

    /// The room was ended or expired: its consultation is over once the
    /// media plane's last report is in (see [`ConsultationLog::finish`]).
    pub fn room_ended(&self, room: &RoomId, now: u64) {
        if let Some(running) = self.lock().running.get_mut(room) {
            running.room_ended = true;
            running.active.clear();
            running.empty_since.get_or_insert(now);
        }
    }

    /// Writes and forgets the consultations that are over: room ended (a
    /// few seconds ago, so the media plane's last traffic report is in), or
    /// nobody in it for `idle`. Called by signaling's housekeeping.
    pub fn finish(&self, now: u64, idle: Duration) -> Vec<ConsultationRecord> {
        let mut inner = self.lock();
        let over: Vec<RoomId> = inner
            .running
            .iter()
            .filter(|(_, r)| {
                let wait = if r.room_ended { SETTLE } else { idle };
                r.active.is_empty()
                    && r.empty_since
                        .is_some_and(|t| now.saturating_sub(t) >= wait.as_secs())
            })
            .map(|(room, _)| room.clone())
            .collect();
        over.into_iter()
            .filter_map(|room| {
                let running = inner.running.remove(&room)?;
                Some(self.write(&mut inner, running.record(&room, now, None)))
            })
            .collect()
    }

    /// The gateway stops: every consultation still running is over now.
    pub fn finish_all(&self, now: u64) -> Vec<ConsultationRecord> {
        let mut inner = self.lock();
        let running: Vec<(RoomId, Running)> = inner.running.drain().collect();
        running
            .into_iter()
            .map(|(room, running)| {
                let record = running.record(&room, now, Some("gateway stopped"));
                self.write(&mut inner, record)
            })
            .collect()
    }

    /// Appends `record` to the file (rotating it first when it is full).
    fn write(&self, inner: &mut Inner, record: ConsultationRecord) -> ConsultationRecord {
        if let Some(file) = &mut inner.file
            && let Err(err) = file.append(&record)
        {
            // A file error names the file itself.
            tracing::error!(
                "the consultation log could not be written: {err}; check free space \
                 and permissions of the data directory's audit/ folder"
            );
        }
        tracing::info!(room = %record.room, duration_secs = record.duration_secs, "consultation logged");
        record
    }
}

impl Running {
    /// The record of this consultation, over at `now` (or when the last
    /// one left); `ended_by` when something other than the room says why.
    fn record(self, room: &RoomId, now: u64, ended_by: Option<&str>) -> ConsultationRecord {
        let ended = match ended_by {
            Some(_) if !self.active.is_empty() => now,
            _ => self.empty_since.unwrap_or(now),
        }
        .max(self.started_at);
        let count = |role| {
            self.tokens
                .get(&role)
                .map_or(0, |tokens| u32::try_from(tokens.len()).unwrap_or(u32::MAX))
        };
        ConsultationRecord {
            room: room.to_string(),
            started_at: rfc3339_utc(self.started_at),
            ended_at: rfc3339_utc(ended),
            duration_secs: ended - self.started_at,
            participants: RoleCounts {
                publisher: count(Role::Publisher),
                specialist: count(Role::Specialist),
                observer: count(Role::Observer),
            },
            bytes_from_camera: self.bytes_from_camera,
            bytes_to_viewers: self.bytes_to_viewers,
            quality: self.quality,
            ended_by: ended_by
                .unwrap_or(if self.room_ended {
                    "room ended"
                } else {
                    "everyone left"
                })
                .to_owned(),
        }
    }
}

/// Every record in `<data_dir>/audit/consultations.log` and its rotated
/// files, oldest first; `bad_line(path, line number)` hears of lines that
/// are not records. No file yet is an empty log.
pub fn read_log(
    data_dir: &Path,
    bad_line: impl FnMut(&Path, usize),
) -> Result<Vec<ConsultationRecord>, PathError> {
    json_lines::read_all(&data_dir.join(AUDIT_DIR), LOG_FILE, bad_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(room: &RoomId, id: &str, role: Role, token: &str) -> Participant {
        Participant {
            session: SessionId(id.into()),
            room: room.clone(),
            kind: if role == Role::Publisher {
                SessionKind::Publish
            } else {
                SessionKind::View
            },
            role,
            name: Some("Dr. Berg".into()),
            token_id: token.into(),
            address: None,
            joined_at: 0,
            connected: false,
        }
    }

    #[test]
    fn a_consultation_is_counted_and_written_once_over() {
        let dir = tempfile::tempdir().unwrap();
        let log = ConsultationLog::open(dir.path()).unwrap();
        let room = RoomId::parse("ward").unwrap();
        let camera = session(&room, "c1", Role::Publisher, "cam");
        let camera_again = session(&room, "c2", Role::Publisher, "cam");
        let berg = session(&room, "v1", Role::Specialist, "berg");
        let berg_again = session(&room, "v2", Role::Specialist, "berg");
        let lie = session(&room, "v3", Role::Specialist, "lie");

        log.session_joined(&camera, 1000);
        log.session_joined(&berg, 1010);
        log.session_ended(&berg, EndReason::ConnectionLost, 1020);
        log.session_joined(&berg_again, 1021);
        log.session_joined(&lie, 1030);
        // Lie's network drops UDP: her page is relayed.
        log.connected(&room, MediaPath::RelayTls);
        log.connected(&room, MediaPath::Udp);
        log.session_ended(&camera, EndReason::Replaced, 1040);
        log.session_joined(&camera_again, 1041);
        for (p, t) in [(&berg_again, 1100), (&lie, 1100), (&camera_again, 1200)] {
            log.session_ended(p, EndReason::Closed, t);
        }
        log.traffic(&room, 5_000, 9_000);
        for (rtt, loss) in [(20, 0.0), (180, 0.4), (30, 7.5)] {
            log.quality(
                &room,
                &QualityReport {
                    rtt_ms: Some(rtt),
                    loss_percent: Some(loss),
                    ..QualityReport::default()
                },
            );
        }
        // Not over yet: nobody in it, but not for long enough.
        assert!(log.finish(1250, Duration::from_secs(120)).is_empty());
        log.traffic(&room, 100, 0);
        let records = log.finish(1320, Duration::from_secs(120));
        assert_eq!(
            records,
            [ConsultationRecord {
                room: "ward".into(),
                started_at: rfc3339_utc(1000),
                ended_at: rfc3339_utc(1200),
                duration_secs: 200,
                participants: RoleCounts {
                    publisher: 1,
                    specialist: 2,
                    observer: 0
                },
                bytes_from_camera: 5_100,
                bytes_to_viewers: 9_000,
                quality: QualitySummary {
                    media_sessions: 5,
                    connections_lost: 1,
                    never_connected: 0,
                    camera_reconnects: 1,
                    quality_reports: 3,
                    fair_reports: 1,
                    poor_reports: 1,
                    worst_rtt_ms: Some(180),
                    worst_loss_percent: Some(7.5),
                    relayed_sessions: 1,
                },
                ended_by: "everyone left".into(),
            }]
        );
        assert!(log.finish(5000, Duration::from_secs(120)).is_empty());

        let written = read_log(dir.path(), |_, n| panic!("bad line {n}")).unwrap();
        assert_eq!(written, records);
        let text = std::fs::read_to_string(dir.path().join("audit").join(LOG_FILE)).unwrap();
        assert!(!text.contains("Berg"), "no names in the log: {text}");
    }

    #[test]
    fn an_ended_room_is_over_at_once_and_a_disabled_log_writes_nothing() {
        let log = ConsultationLog::disabled();
        let room = RoomId::parse("ward").unwrap();
        log.session_joined(&session(&room, "c1", Role::Publisher, "cam"), 10);
        log.room_ended(&room, 70);
        assert!(log.finish(71, Duration::from_secs(3600)).is_empty());
        let records = log.finish(72, Duration::from_secs(3600));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].duration_secs, 60);
        assert_eq!(records[0].ended_by, "room ended");
    }

    #[test]
    fn consultations_running_when_the_gateway_stops_are_logged_then() {
        let dir = tempfile::tempdir().unwrap();
        let log = ConsultationLog::open(dir.path()).unwrap();
        let room = RoomId::parse("ward").unwrap();
        log.session_joined(&session(&room, "c1", Role::Publisher, "cam"), 100);
        log.session_joined(&session(&room, "v1", Role::Specialist, "berg"), 110);

        let records = log.finish_all(400);

        assert_eq!(records.len(), 1);
        assert_eq!(records[0].duration_secs, 300);
        assert_eq!(records[0].ended_by, "gateway stopped");
        assert_eq!(records[0].participants.specialist, 1);
        assert_eq!(read_log(dir.path(), |_, _| ()).unwrap(), records);
        assert!(log.finish_all(500).is_empty(), "written once");
    }

    #[test]
    fn a_full_log_is_rotated_and_read_back_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        // About two records per file.
        let log = ConsultationLog::open(dir.path()).unwrap().rotating_at(900);
        let mut rooms = Vec::new();
        for n in 0..14u64 {
            let room = RoomId::parse(&format!("ward{n:02}")).unwrap();
            log.session_joined(
                &session(&room, &format!("c{n}"), Role::Publisher, "cam"),
                n * 10,
            );
            log.room_ended(&room, n * 10 + 5);
            log.finish(n * 10 + 8, Duration::from_secs(3600));
            rooms.push(room.to_string());
        }
        let audit = dir.path().join("audit");
        for n in 1..=ROTATED_FILES {
            let rotated = audit.join(format!("{LOG_FILE}.{n}"));
            assert!(rotated.exists(), "{} exists", rotated.display());
            assert!(std::fs::metadata(&rotated).unwrap().len() <= 900);
        }
        assert!(
            !audit
                .join(format!("{LOG_FILE}.{}", ROTATED_FILES + 1))
                .exists()
        );
        let read: Vec<String> =
            read_log(dir.path(), |p, n| panic!("bad line {n} in {}", p.display()))
                .unwrap()
                .into_iter()
                .map(|r| r.room)
                .collect();
        // The oldest went with the oldest file; the rest in order.
        assert!(read.len() >= 10 && read.len() < 14, "{read:?}");
        assert_eq!(read, rooms[rooms.len() - read.len()..]);
    }
}
