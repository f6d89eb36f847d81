//! The token signing key on disk: `<data_dir>/keys/token-signing.pk8`, or a
//! key file the configuration names (`tokens.signing_key_file`).
//!
//! An Ed25519 key in PKCS#8 (DER, or PEM when given by configuration),
//! generated with ring on first use. A key file that others can read is
//! refused rather than used, since anyone holding it can mint tokens.

use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

use crate::private_files::{self, PathError};

/// Directory under the data directory that holds keys.
pub const KEY_DIR: &str = "keys";
/// File name of the token signing key.
pub const KEY_FILE: &str = "token-signing.pk8";

/// Why the signing key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(
        "{path} is readable by others (mode {mode:o}); anyone who can read it can mint tokens. \
         Run `chmod 600 {path}` (and check who could have copied it)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "{path} is not an Ed25519 PKCS#8 key; move it away to have a new key generated \
         (tokens already handed out will stop working), or generate one with \
         `openssl genpkey -algorithm ed25519 -out {path}`"
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
    private_files::create_private_dir(&dir)?;
    let path = dir.join(KEY_FILE);

    match load(&path) {
        Err(KeyError::Io(err)) if err.is_not_found() => {}
        loaded => return loaded,
    }

    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyError::Generate)?
        .as_ref()
        .to_vec();
    match private_files::create_new_private(&path, &pkcs8) {
        Ok(()) => parse(pkcs8, path),
        // Another process (`room create` next to `serve`) stored its key
        // first; use that one so both agree.
        Err(err) if err.already_exists() => load(&path),
        Err(err) => Err(err.into()),
    }
}

/// Loads the key in `path`: PKCS#8 DER, or PEM (`BEGIN PRIVATE KEY`).
pub(crate) fn load(path: &Path) -> Result<KeyMaterial, KeyError> {
    let (bytes, mode) = private_files::read_with_mode(path)?;
    if private_files::readable_by_others(mode) {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let der = match PrivatePkcs8KeyDer::from_pem_slice(&bytes) {
        Ok(key) => key.secret_pkcs8_der().to_vec(),
        Err(_) => bytes,
    };
    parse(der, path.to_owned())
}

fn parse(pkcs8: Vec<u8>, path: PathBuf) -> Result<KeyMaterial, KeyError> {
    // ring only reads PKCS#8 v2 documents that carry the public key; keys
    // from OpenSSL are v1, which `from_pkcs8_maybe_unchecked` also takes.
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
        .map_err(|_| KeyError::Corrupt { path: path.clone() })?;
    let public_key = pair.public_key().as_ref().to_vec();
    Ok(KeyMaterial {
        pkcs8,
        public_key,
        path,
    })
}
