//! Files only the gateway's user may read: the signing key, the TLS key,
//! room records, the audit trail.
//!
//! Directories are created 0700 and files 0600. A file is written to a
//! private temporary name first and then moved into place, so nobody ever
//! reads half of it; keys are linked rather than renamed, so two processes
//! starting at once cannot overwrite each other's.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;

/// An I/O failure on a named path.
///
/// The I/O error is part of the message and not a separate cause, so a
/// chain of contexts (`{:#}`) says it once.
#[derive(Debug, thiserror::Error)]
#[error("cannot access {}: {cause}", path.display())]
pub struct PathError {
    pub path: PathBuf,
    pub cause: io::Error,
}

impl PathError {
    pub(crate) fn new(path: &Path, cause: io::Error) -> Self {
        Self {
            path: path.to_owned(),
            cause,
        }
    }

    /// The file or directory does not exist.
    pub fn is_not_found(&self) -> bool {
        self.cause.kind() == io::ErrorKind::NotFound
    }

    /// The file already existed (a `create_new` that lost a race).
    pub fn already_exists(&self) -> bool {
        self.cause.kind() == io::ErrorKind::AlreadyExists
    }
}

/// Creates `dir` (and its parents) with mode 0700 for the last component.
pub fn create_private_dir(dir: &Path) -> Result<(), PathError> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(|source| PathError::new(parent, source))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(PathError::new(dir, source)),
    }
}

/// Reads a file, returning its bytes and its permission bits.
pub fn read_with_mode(path: &Path) -> Result<(Vec<u8>, u32), PathError> {
    let mut file = File::open(path).map_err(|source| PathError::new(path, source))?;
    let mode = file
        .metadata()
        .map_err(|source| PathError::new(path, source))?
        .permissions()
        .mode();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| PathError::new(path, source))?;
    Ok((bytes, mode & 0o777))
}

/// True when group or others may read or write a file of this mode.
pub fn readable_by_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Writes `bytes` as a new private file at `path`; fails with
/// `AlreadyExists` if there is one (for keys: the first writer wins).
pub fn create_new_private(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let tmp = staging_name(path);
    let written = write_private(&tmp, bytes)
        .and_then(|()| fs::hard_link(&tmp, path).map_err(|source| PathError::new(path, source)));
    // The temporary name is only a staging step; it must not stay behind
    // whether or not the link succeeded.
    let _ = fs::remove_file(&tmp);
    written?;
    sync_dir(path);
    Ok(())
}

/// Replaces the private file at `path` with `bytes` in one step.
pub fn replace_private(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let tmp = staging_name(path);
    let written = write_private(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path).map_err(|source| PathError::new(path, source)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(path);
    Ok(())
}

/// Opens a private file for appending, creating it 0600.
pub fn open_private_append(path: &Path) -> Result<File, PathError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| PathError::new(path, source))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PathError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| PathError::new(path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| PathError::new(path, source))
}

/// A hidden, random sibling name to stage a write under.
fn staging_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{:016x}.tmp", rand::rng().random::<u64>()))
}

/// Makes a new directory entry durable; best effort.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(handle) = File::open(dir)
    {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_in_a_0700_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/keys");
        create_private_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let path = dir.join("k");
        create_new_private(&path, b"one").unwrap();
        assert!(
            create_new_private(&path, b"two")
                .unwrap_err()
                .already_exists()
        );
        assert_eq!(read_with_mode(&path).unwrap(), (b"one".to_vec(), 0o600));

        replace_private(&path, b"three").unwrap();
        assert_eq!(read_with_mode(&path).unwrap(), (b"three".to_vec(), 0o600));
        // No staging files are left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
