//! The token signing key on disk: `<data_dir>/keys/token-signing.pk8`.
//!
//! An Ed25519 key in PKCS#8 (DER), generated with ring on first use. The
//! directory is created 0700 and the file 0600; a key file that others can
//! read is refused rather than used, since anyone holding it can mint tokens.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Directory under the data directory that holds keys.
pub const KEY_DIR: &str = "keys";
/// File name of the token signing key.
pub const KEY_FILE: &str = "token-signing.pk8";

/// Why the signing key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is readable by others (mode {mode:o}); anyone who can read it can mint tokens. \
         Run `chmod 600 {path}` (and check who could have copied it)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "{path} is not an Ed25519 PKCS#8 key; move it away to have a new key generated \
         (tokens already handed out will stop working)"
    )]
    Corrupt { path: PathBuf },
    #[error("the system random generator failed while generating a signing key")]
    Generate,
}

/// A validated signing key: the PKCS#8 document and its raw public key.
pub(crate) struct KeyMaterial {
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) public_key: Vec<u8>,
    pub(crate) path: PathBuf,
}

/// Loads the key from `data_dir`, or generates and stores one if there is none.
pub(crate) fn load_or_create(data_dir: &Path) -> Result<KeyMaterial, KeyError> {
    let dir = data_dir.join(KEY_DIR);
    create_private_dir(data_dir, &dir)?;
    let path = dir.join(KEY_FILE);

    match read_key(&path) {
        Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        loaded => return loaded,
    }

    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyError::Generate)?
        .as_ref()
        .to_vec();
    match store_new_key(&dir, &path, &pkcs8) {
        Ok(()) => parse(pkcs8, path),
        // Another process (`room create` next to `serve`) stored its key
        // first; use that one so both agree.
        Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            read_key(&path)
        }
        Err(err) => Err(err),
    }
}

fn create_private_dir(data_dir: &Path, dir: &Path) -> Result<(), KeyError> {
    fs::create_dir_all(data_dir).map_err(|source| io_error(data_dir, source))?;
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(io_error(dir, source)),
    }
}

fn read_key(path: &Path) -> Result<KeyMaterial, KeyError> {
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let mode = file
        .metadata()
        .map_err(|source| io_error(path, source))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let mut pkcs8 = Vec::new();
    file.read_to_end(&mut pkcs8)
        .map_err(|source| io_error(path, source))?;
    parse(pkcs8, path.to_owned())
}

fn parse(pkcs8: Vec<u8>, path: PathBuf) -> Result<KeyMaterial, KeyError> {
    let pair =
        Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Corrupt { path: path.clone() })?;
    let public_key = pair.public_key().as_ref().to_vec();
    Ok(KeyMaterial {
        pkcs8,
        public_key,
        path,
    })
}

/// Writes the key to a private temporary file, then links it into place.
///
/// Linking fails if the key file already exists, so two processes starting
/// at once cannot overwrite each other's key, and nobody ever reads a
/// half-written file.
fn store_new_key(dir: &Path, path: &Path, pkcs8: &[u8]) -> Result<(), KeyError> {
    let tmp = dir.join(format!(
        ".{KEY_FILE}.{:016x}.tmp",
        rand::rng().random::<u64>()
    ));
    let written = write_private(&tmp, pkcs8)
        .and_then(|()| fs::hard_link(&tmp, path).map_err(|source| io_error(path, source)));
    // The temporary name is only a staging step; it must not stay behind
    // whether or not the link succeeded.
    let _ = fs::remove_file(&tmp);
    written?;
    if let Ok(dir_handle) = File::open(dir) {
        let _ = dir_handle.sync_all();
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| io_error(path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        source,
    }
}
