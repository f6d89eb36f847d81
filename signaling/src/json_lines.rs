//! Append-only JSON-lines files that rotate by size and count: what the
//! audit trail and the consultation log are written to and read back from.
//!
//! A file `<dir>/<name>` (0600 in a 0700 directory, [`private_files`])
//! holds one JSON object a line, each synced to disk before
//! [`JsonLinesFile::append`] returns, so a record that was answered for is
//! on disk. When a line would take a non-empty file past
//! [`Rotation::max_file_bytes`] the file is renamed `<name>.1`, the older
//! ones move up to `<name>.<max_files>`, and the one beyond that is
//! deleted. [`read_all`] reads them back oldest first.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::private_files::{self, PathError};

/// Rotation limits.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// A line that would take the current file past this size goes to a
    /// fresh file.
    pub max_file_bytes: u64,
    /// Rotated files kept: `<name>.1` (newest) to `<name>.<max_files>`.
    pub max_files: u32,
}

/// Why a record was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the record cannot be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    File(#[from] PathError),
}

/// Where an appended line went, so a caller can tell IT that the oldest
/// records were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    ToCurrentFile,
    AfterRotating,
}

/// One rotating JSON-lines file, open for appending.
#[derive(Debug)]
pub struct JsonLinesFile {
    dir: PathBuf,
    name: &'static str,
    file: File,
    /// Tracked rather than asked of the file on every line: this handle is
    /// the only writer.
    size: u64,
    rotation: Rotation,
}

impl JsonLinesFile {
    /// Opens `<dir>/<name>` for appending, creating the directory 0700 and
    /// the file 0600 when they are missing.
    pub fn open(dir: &Path, name: &'static str, rotation: Rotation) -> Result<Self, PathError> {
        private_files::create_private_dir(dir)?;
        let path = dir.join(name);
        let file = private_files::open_private_append(&path)?;
        let size = file
            .metadata()
            .map_err(|source| PathError::new(&path, source))?
            .len();
        Ok(Self {
            dir: dir.to_owned(),
            name,
            file,
            size,
            rotation,
        })
    }

    /// The file being appended to.
    pub fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }

    pub fn rotation(&self) -> Rotation {
        self.rotation
    }

    /// Rotates at `bytes` from now on.
    pub fn set_max_file_bytes(&mut self, bytes: u64) {
        self.rotation.max_file_bytes = bytes;
    }

    /// Appends `record` as one line and syncs it, rotating first when the
    /// line would not fit.
    pub fn append(&mut self, record: &impl Serialize) -> Result<Appended, AppendError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let appended =
            if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_file_bytes {
                self.rotate()?;
                Appended::AfterRotating
            } else {
                Appended::ToCurrentFile
            };
        let path = self.path();
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| PathError::new(&path, source))?;
        self.size += line.len() as u64;
        Ok(appended)
    }

    /// `<name>.{n-1}` → `.n` … `<name>` → `.1`, dropping the oldest.
    fn rotate(&mut self) -> Result<(), PathError> {
        let keep = self.rotation.max_files;
        let oldest = rotated_path(&self.dir, self.name, keep);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PathError::new(&oldest, e));
            }
            _ => {}
        }
        for n in (1..keep).rev() {
            let from = rotated_path(&self.dir, self.name, n);
            if from.exists() {
                let to = rotated_path(&self.dir, self.name, n + 1);
                std::fs::rename(&from, &to).map_err(|e| PathError::new(&from, e))?;
            }
        }
        let current = self.path();
        let first = rotated_path(&self.dir, self.name, 1);
        std::fs::rename(&current, &first).map_err(|e| PathError::new(&current, e))?;
        self.file = private_files::open_private_append(&current)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated_path(dir: &Path, name: &str, n: u32) -> PathBuf {
    dir.join(format!("{name}.{n}"))
}

/// Every record in `<dir>/<name>` and its rotated files, oldest first;
/// lines that are not records are reported through `on_bad_line` (file,
/// line number) and skipped. No directory yet is no records.
pub fn read_all<T: DeserializeOwned>(
    dir: &Path,
    name: &str,
    mut on_bad_line: impl FnMut(&Path, usize),
) -> Result<Vec<T>, PathError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PathError::new(dir, e)),
    };
    // Every rotated file there is, not only up to today's max_files: a
    // lowered limit must not hide the records still on disk.
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name == name {
            files.push((0, entry.path()));
        } else if let Some(n) = file_name
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<u32>().ok())
        {
            files.push((n, entry.path()));
        }
    }
    // Highest rotation number is oldest; the current file (0) is newest.
    files.sort_by(|(a, _), (b, _)| match (*a, *b) {
        (0, 0) => std::cmp::Ordering::Equal,
        (0, _) => std::cmp::Ordering::Greater,
        (_, 0) => std::cmp::Ordering::Less,
        (a, b) => b.cmp(&a),
    });
    let mut records = Vec::new();
    for (_, path) in files {
        let file = File::open(&path).map_err(|e| PathError::new(&path, e))?;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| PathError::new(&path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(record) => records.push(record),
                Err(_) => on_bad_line(&path, index + 1),
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Line {
        n: u32,
        pad: String,
    }

    fn line(n: u32) -> Line {
        Line {
            n,
            pad: "x".repeat(40),
        }
    }

    #[test]
    fn rotates_by_size_and_count_and_reads_back_oldest_first() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("audit");
        let rotation = Rotation {
            max_file_bytes: 120,
            max_files: 2,
        };
        let mut file = JsonLinesFile::open(&dir, "x.log", rotation).unwrap();
        let mut rotations = 0;
        for n in 0..10 {
            if file.append(&line(n)).unwrap() == Appended::AfterRotating {
                rotations += 1;
            }
        }
        assert!(rotations >= 3, "{rotations}");
        assert!(dir.join("x.log.2").exists());
        assert!(!dir.join("x.log.3").exists());
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let meta = entry.unwrap().metadata().unwrap();
            assert!(meta.len() <= 120, "a file outgrew the rotation size");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(dir.join("other.log"), "{}\n").unwrap();

        let read: Vec<Line> = read_all(&dir, "x.log", |p, n| {
            panic!("bad line {n} in {}", p.display())
        })
        .unwrap();
        let numbers: Vec<u32> = read.iter().map(|l| l.n).collect();
        assert_eq!(numbers.last(), Some(&9));
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    }

    #[test]
    fn bad_lines_are_reported_and_a_missing_directory_is_empty() {
        let root = tempfile::tempdir().unwrap();
        let none: Vec<Line> = read_all(&root.path().join("none"), "x.log", |_, _| ()).unwrap();
        assert!(none.is_empty());
        std::fs::write(
            root.path().join("x.log"),
            "{\"n\":1,\"pad\":\"\"}\n\nnot json\n",
        )
        .unwrap();
        let mut bad = Vec::new();
        let read: Vec<Line> = read_all(root.path(), "x.log", |_, n| bad.push(n)).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(bad, [3]);
    }
}
