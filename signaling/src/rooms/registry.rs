//! The rooms a gateway knows: one small file per room in `<data_dir>/rooms/`.
//!
//! A room is a consultation: created from the command line or the API, open
//! until it is ended or expires. Tokens name their room; a token is only
//! honoured while its room is open, which is what makes ending a room
//! revoke every link to it at once, including on a gateway restarted in
//! between.
//!
//! The directory is the source of truth and is read on every lookup (a
//! stat and a few hundred bytes, on requests that then set up a WebRTC
//! session), so `samsyn-gateway room create` and `room end` take effect on
//! a running gateway without telling it. A record holds the room id, its
//! label (no patient data, see [`check_label`]) and three times; it is
//! deleted once the room's expiry has passed, since its tokens are expired
//! by then anyway.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RoomId;
use crate::clock::unix_now;
use crate::private_files::{self, PathError};
use crate::text::{self, TextError};

/// Directory under the data directory with one `<room>.json` per room.
pub const ROOMS_DIR: &str = "rooms";

/// Longest label, in characters: it is shown in a page header.
pub use crate::text::MAX_LABEL_CHARS;

/// What is kept of one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: RoomId,
    /// A display label for the people in the consultation ("Home visit,
    /// district north"); never patient data. May be empty.
    #[serde(default)]
    pub label: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub expires_at: u64,
    /// Set when the room was ended before its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

impl RoomRecord {
    /// Open: not ended and not expired at `now`.
    pub fn is_open(&self, now: u64) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

/// Why a room could not be created, read or ended.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("{} is not a room record: {reason}; move it away", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{open} rooms are open, the configured maximum (limits.max_rooms)")]
    TooManyRooms { open: usize },
    #[error("{0}")]
    BadLabel(LabelError),
    #[error("a room named {0} exists already")]
    Exists(RoomId),
}

/// A label that may not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// Not one line of plain, visible text within the length (see [`crate::text`]).
    #[error("the label {0}")]
    Text(#[from] TextError),
    #[error(
        "the label holds a run of six or more digits, which looks like a national identity \
         number or a date of birth; labels must never hold patient data"
    )]
    LooksLikePatientData,
}

/// Checks a label: short plain text ([`text::Field::Label`]), and nothing
/// that looks like a personal identity number or a birth date (the one kind
/// of patient data a check can recognise). Returns the label as it is kept
/// (NFC).
pub fn check_label(label: &str) -> Result<String, LabelError> {
    let label = text::check(text::Field::Label, label)?;
    let mut run = 0;
    for c in label.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 6 {
            return Err(LabelError::LooksLikePatientData);
        }
    }
    Ok(label)
}

/// The rooms of one data directory.
#[derive(Debug)]
pub struct RoomRegistry {
    dir: PathBuf,
    max_open: usize,
    /// Serialises create and end within this process; across processes the
    /// limit on open rooms is best effort.
    writing: Mutex<()>,
}

impl RoomRegistry {
    /// Opens (and creates, 0700) `<data_dir>/rooms/`.
    pub fn open(data_dir: &Path, max_open: usize) -> Result<Self, RegistryError> {
        let dir = data_dir.join(ROOMS_DIR);
        private_files::create_private_dir(&dir)?;
        Ok(Self {
            dir,
            max_open,
            writing: Mutex::new(()),
        })
    }

    /// Creates a room with a fresh id, open for `ttl` from now.
    pub fn create(&self, label: &str, ttl: Duration) -> Result<RoomRecord, RegistryError> {
        self.create_with_id(RoomId::generate(), label, ttl)
    }

    /// Creates a room with the given id (which must be new), open for `ttl`
    /// from now.
    pub fn create_with_id(
        &self,
        room: RoomId,
        label: &str,
        ttl: Duration,
    ) -> Result<RoomRecord, RegistryError> {
        let label = check_label(label).map_err(RegistryError::BadLabel)?;
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let open = self.list_open_at(now)?.len();
        if open >= self.max_open {
            return Err(RegistryError::TooManyRooms { open });
        }
        let record = RoomRecord {
            room,
            label,
            created_at: now,
            expires_at: now.saturating_add(ttl.as_secs()),
            ended_at: None,
        };
        match private_files::create_new_private(&self.path(&record.room), &to_json(&record)) {
            Ok(()) => Ok(record),
            Err(err) if err.already_exists() => Err(RegistryError::Exists(record.room)),
            Err(err) => Err(err.into()),
        }
    }

    /// The room's record, open or not; `None` if there is none.
    pub fn get(&self, room: &RoomId) -> Result<Option<RoomRecord>, RegistryError> {
        let path = self.path(room);
        match private_files::read_with_mode(&path) {
            Ok((bytes, _)) => parse(&path, &bytes).map(Some),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Ends the room now. Returns its record as it was before, or `None` if
    /// there is no such room. Ending an ended room changes nothing.
    pub fn end(&self, room: &RoomId) -> Result<Option<RoomRecord>, RegistryError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let Some(before) = self.get(room)? else {
            return Ok(None);
        };
        if before.ended_at.is_none() {
            let ended = RoomRecord {
                ended_at: Some(unix_now()),
                ..before.clone()
            };
            private_files::replace_private(&self.path(room), &to_json(&ended))?;
        }
        Ok(Some(before))
    }

    /// Open rooms, oldest first.
    pub fn list_open(&self) -> Result<Vec<RoomRecord>, RegistryError> {
        self.list_open_at(unix_now())
    }

    /// Deletes the records of rooms whose expiry has passed; returns their ids.
    pub fn sweep_expired(&self) -> Result<Vec<RoomId>, RegistryError> {
        let now = unix_now();
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut removed = Vec::new();
        for record in self.all()? {
            if now >= record.expires_at {
                let path = self.path(&record.room);
                std::fs::remove_file(&path).map_err(|e| PathError::new(&path, e))?;
                removed.push(record.room);
            }
        }
        Ok(removed)
    }

    fn list_open_at(&self, now: u64) -> Result<Vec<RoomRecord>, RegistryError> {
        let mut open: Vec<RoomRecord> =
            self.all()?.into_iter().filter(|r| r.is_open(now)).collect();
        open.sort_by(|a, b| (a.created_at, &a.room).cmp(&(b.created_at, &b.room)));
        Ok(open)
    }

    /// Every record in the directory; files that are not records (a staging
    /// file, something copied in by hand) are skipped.
    fn all(&self) -> Result<Vec<RoomRecord>, RegistryError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| PathError::new(&self.dir, e))?;
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| PathError::new(&self.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(room) = RoomId::parse(id) else {
                continue;
            };
            match self.get(&room) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {} // ended and swept meanwhile
                Err(err) => tracing::warn!("skipping a room record: {err}"),
            }
        }
        Ok(records)
    }

    fn path(&self, room: &RoomId) -> PathBuf {
        // Room ids are `[a-z0-9_-]`, so this stays inside the directory.
        self.dir.join(format!("{room}.json"))
    }
}

fn to_json(record: &RoomRecord) -> Vec<u8> {
    serde_json::to_vec_pretty(record).expect("a room record serializes")
}

fn parse(path: &Path, bytes: &[u8]) -> Result<RoomRecord, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hold_no_identity_numbers() {
        assert_eq!(
            check_label("Home visit, district north").as_deref(),
            Ok("Home visit, district north")
        );
        assert!(check_label("Room 12, ward 4B").is_ok());
        assert!(check_label("").is_ok());
        assert_eq!(
            check_label("Kari 01017012345"),
            Err(LabelError::LooksLikePatientData)
        );
        assert_eq!(
            check_label("born 010170"),
            Err(LabelError::LooksLikePatientData)
        );
        assert!(matches!(
            check_label("a\nb"),
            Err(LabelError::Text(TextError::ControlCharacter(_)))
        ));
        assert_eq!(
            check_label(&"x".repeat(61)),
            Err(LabelError::Text(TextError::TooLong { max: 60 }))
        );
    }

    #[test]
    fn rooms_are_created_found_ended_and_swept() {
        let data = tempfile::tempdir().unwrap();
        let registry = RoomRegistry::open(data.path(), 2).unwrap();
        let a = registry
            .create("Ward 4", Duration::from_secs(3600))
            .unwrap();
        assert!(a.is_open(unix_now()));
        assert_eq!(registry.get(&a.room).unwrap(), Some(a.clone()));
        assert_eq!(registry.list_open().unwrap(), vec![a.clone()]);

        let b = registry.create("", Duration::from_secs(3600)).unwrap();
        assert!(matches!(
            registry.create("", Duration::from_secs(3600)),
            Err(RegistryError::TooManyRooms { open: 2 })
        ));

        assert_eq!(registry.end(&a.room).unwrap(), Some(a.clone()));
        let ended = registry.get(&a.room).unwrap().unwrap();
        assert!(ended.ended_at.is_some() && !ended.is_open(unix_now()));
        assert_eq!(registry.list_open().unwrap(), vec![b.clone()]);
        // An ended room frees its place.
        registry.create("", Duration::from_secs(3600)).unwrap();

        let unknown = RoomId::parse("nosuchroom").unwrap();
        assert_eq!(registry.end(&unknown).unwrap(), None);
        assert_eq!(registry.get(&unknown).unwrap(), None);

        // Nothing has expired yet; a zero-length room has.
        assert!(registry.sweep_expired().unwrap().is_empty());
        let short = registry.create("", Duration::ZERO);
        assert!(matches!(short, Err(RegistryError::TooManyRooms { .. })));
        let roomy = RoomRegistry::open(data.path(), 10).unwrap();
        let gone = roomy.create("", Duration::ZERO).unwrap();
        assert_eq!(roomy.sweep_expired().unwrap(), vec![gone.room.clone()]);
        assert_eq!(roomy.get(&gone.room).unwrap(), None);
    }

    #[test]
    fn records_are_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().unwrap();
        let registry = RoomRegistry::open(data.path(), 10).unwrap();
        let room = registry.create("x", Duration::from_secs(60)).unwrap();
        let path = data
            .path()
            .join(ROOMS_DIR)
            .join(format!("{}.json", room.room));
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
