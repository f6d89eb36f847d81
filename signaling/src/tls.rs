//! The gateway's TLS identity: the hospital's certificate from PEM files, or
//! a self-signed one made on first start and kept in `<data_dir>/tls/`.
//!
//! TLS 1.2 and 1.3 only, on ring (the one crypto backend of samsyn). A
//! self-signed certificate is identified by its SHA-256 fingerprint, which
//! the gateway prints and the capture daemon pins (`--pin-sha256`).
//!
//! The hospital's certificate can be replaced while the gateway runs
//! ([`reload`], triggered by [`watch`]); a self-signed one cannot, since
//! capture daemons pin it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::private_files::{self, PathError};

pub mod reload;
pub mod watch;

pub use reload::{CertificateFiles, CertificatePair, ServedCertificate};

/// Directory under the data directory holding the generated certificate.
pub const TLS_DIR: &str = "tls";
/// The generated certificate, PEM.
pub const CERT_FILE: &str = "cert.pem";
/// Its private key, PEM (PKCS#8), mode 0600.
pub const KEY_FILE: &str = "key.pem";

/// Why the TLS identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("{} holds no PEM certificate; give the certificate chain (BEGIN CERTIFICATE) with --tls-cert", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key; give the certificate's key (BEGIN PRIVATE KEY) with --tls-key", path.display())]
    NoKey { path: PathBuf },
    #[error(
        "{} is readable by every user of the machine (mode {mode:o}); anyone could impersonate \
         the gateway. Run `chmod 600 {}` (or 640 with a group)",
        path.display(), path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error(
        "the certificate and key cannot be used together: {0}; check that --tls-key belongs to --tls-cert"
    )]
    Mismatch(String),
    #[error(
        "{} is not the private key of the certificate in {}; give the key that was made with \
         this certificate (--tls-key)",
        key.display(), cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{} holds a certificate that cannot be read ({reason}); give a PEM X.509 certificate", path.display())]
    UnparsableCertificate { path: PathBuf, reason: String },
    #[error("{} holds a private key rustls cannot use ({reason}); give an RSA, ECDSA or Ed25519 key", path.display())]
    UnusableKey { path: PathBuf, reason: String },
    #[error("{} holds a certificate that expired on {not_after}; renew it", path.display())]
    Expired { path: PathBuf, not_after: String },
    #[error("a self-signed certificate could not be made: {0}")]
    Generate(String),
}

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

/// `AB:CD:…`, the form browsers and OpenSSL show.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Where the certificate came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// The PEM files the configuration names.
    Files { cert: PathBuf },
    /// Self-signed, kept in the data directory; `created` on this start.
    SelfSigned { cert: PathBuf, created: bool },
}

/// A loaded TLS identity, ready for the listener.
#[derive(Clone)]
pub struct ServerTls {
    /// Takes its certificate from `served` at every handshake.
    pub config: Arc<ServerConfig>,
    /// Of the server's own (first) certificate as loaded at start; a reload
    /// changes `served`, not this (only a self-signed certificate is pinned
    /// by fingerprint, and it is never reloaded).
    pub fingerprint: Fingerprint,
    /// The pair new connections are given, replaced by a reload.
    pub served: Arc<ServedCertificate>,
    /// Where the pair is read again on reload; `None` for a self-signed
    /// certificate.
    pub files: Option<CertificateFiles>,
    pub source: CertificateSource,
    /// Names from `wanted_names` the certificate does not cover (browsers
    /// will warn about those).
    pub uncovered_names: Vec<String>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads `cert_file`/`key_file` if given, else the self-signed
    /// certificate in `<data_dir>/tls/`, making one for `wanted_names`
    /// (host names and IP addresses) if there is none yet.
    pub fn load_or_create(
        data_dir: &Path,
        files: Option<(&Path, &Path)>,
        wanted_names: &[String],
    ) -> Result<Self, TlsError> {
        let (paths, source) = match files {
            Some((cert, key)) => {
                let paths = CertificateFiles {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                };
                let source = CertificateSource::Files {
                    cert: cert.to_owned(),
                };
                (paths, source)
            }
            None => load_or_create_self_signed(data_dir, wanted_names)?,
        };
        let pem = read_pair(&paths)?;
        let (chain, key) = parse_pair(&paths.cert, &pem.cert_pem, &paths.key, &pem.key_pem)?;
        refuse_world_readable(&paths.key, pem.key_mode)?;
        let uncovered_names = uncovered(&chain[0], wanted_names);
        let pair = CertificatePair::new(&paths, chain, key)?;
        let fingerprint = pair.fingerprint;
        let served = Arc::new(ServedCertificate::new(pair));
        let config = server_config(served.clone())?;
        let files = matches!(source, CertificateSource::Files { .. }).then_some(paths);
        Ok(Self {
            config,
            fingerprint,
            served,
            files,
            source,
            uncovered_names,
        })
    }

    /// True for a generated certificate, which clients must pin.
    pub fn is_self_signed(&self) -> bool {
        matches!(self.source, CertificateSource::SelfSigned { .. })
    }
}

/// A rustls server configuration: ring, TLS 1.2 and 1.3, HTTP/1.1, the
/// certificate `served` holds at each handshake.
fn server_config(served: Arc<ServedCertificate>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(reload::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(served);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The PEM text of a certificate file and of its key file.
struct PemFiles {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    /// The key file's permission bits.
    key_mode: u32,
}

fn read_pair(files: &CertificateFiles) -> Result<PemFiles, TlsError> {
    let (cert_pem, _) = private_files::read_with_mode(&files.cert)?;
    let (key_pem, key_mode) = private_files::read_with_mode(&files.key)?;
    Ok(PemFiles {
        cert_pem,
        key_pem,
        key_mode,
    })
}

/// Refuses a key file every user of the machine can read.
fn refuse_world_readable(key: &Path, mode: u32) -> Result<(), TlsError> {
    // Group-readable keys are usual (certbot's ssl-cert group); world-readable is not.
    if mode & 0o004 != 0 {
        return Err(TlsError::KeyPermissions {
            path: key.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// The certificate chain in `cert_pem` (read from `cert`) and the private
/// key in `key_pem` (from `key`).
fn parse_pair(
    cert: &Path,
    cert_pem: &[u8],
    key: &Path,
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| TlsError::NoCertificate {
            path: cert.to_owned(),
        })?;
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey {
        path: key.to_owned(),
    })?;
    Ok((chain, key_der))
}

/// The paths of the self-signed certificate and its key, made first if
/// there are none.
fn load_or_create_self_signed(
    data_dir: &Path,
    names: &[String],
) -> Result<(CertificateFiles, CertificateSource), TlsError> {
    let dir = data_dir.join(TLS_DIR);
    private_files::create_private_dir(&dir)?;
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let mut created = false;
    if !cert_path.exists() {
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        // Key first: a certificate on disk always has its key beside it.
        match private_files::create_new_private(
            &key_path,
            made.signing_key.serialize_pem().as_bytes(),
        ) {
            Ok(()) => {
                private_files::create_new_private(&cert_path, made.cert.pem().as_bytes())?;
                created = true;
            }
            // Another process (`room create` beside `serve`) made one first.
            Err(err) if err.already_exists() => wait_for(&cert_path),
            Err(err) => return Err(err.into()),
        }
    }
    let source = CertificateSource::SelfSigned {
        cert: cert_path.clone(),
        created,
    };
    let files = CertificateFiles {
        cert: cert_path,
        key: key_path,
    };
    Ok((files, source))
}

/// Gives a concurrent creator a moment to link its certificate into place.
fn wait_for(path: &Path) {
    for _ in 0..50 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The names in `wanted` that `cert` is not valid for.
fn uncovered(cert: &CertificateDer<'_>, wanted: &[String]) -> Vec<String> {
    let Ok(end_entity) = webpki::EndEntityCert::try_from(cert) else {
        return wanted.to_vec();
    };
    wanted
        .iter()
        .filter(|name| {
            ServerName::try_from(name.as_str()).map_or(true, |server| {
                end_entity
                    .verify_is_valid_for_subject_name(&server)
                    .is_err()
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_prints_as_browsers_show_it() {
        let fp = Fingerprint([0xab; 32]);
        assert_eq!(fp.to_string(), ["AB"; 32].join(":"));
    }

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let data = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = ServerTls::load_or_create(data.path(), None, &names).unwrap();
        assert!(first.is_self_signed());
        assert!(
            first.uncovered_names.is_empty(),
            "{:?}",
            first.uncovered_names
        );
        let second = ServerTls::load_or_create(data.path(), None, &names).unwrap();
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(
            second.source,
            CertificateSource::SelfSigned {
                cert: data.path().join("tls/cert.pem"),
                created: false
            }
        );

        // A name the kept certificate was not made for is reported.
        let more = [names.clone(), vec!["wound.example.org".to_owned()]].concat();
        let third = ServerTls::load_or_create(data.path(), None, &more).unwrap();
        assert_eq!(third.uncovered_names, vec!["wound.example.org".to_owned()]);
    }

    #[test]
    fn configured_files_must_hold_a_certificate_and_a_private_key() {
        let data = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = data.path().join("cert.pem");
        let key = data.path().join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        private_files::create_new_private(&key, made.signing_key.serialize_pem().as_bytes())
            .unwrap();

        let loaded = ServerTls::load_or_create(data.path(), Some((&cert, &key)), &[]).unwrap();
        assert_eq!(loaded.fingerprint, Fingerprint::of(made.cert.der()));
        assert!(!loaded.is_self_signed());

        let swapped = ServerTls::load_or_create(data.path(), Some((&key, &cert)), &[]);
        assert!(
            matches!(swapped, Err(TlsError::NoCertificate { .. })),
            "{swapped:?}"
        );

        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = ServerTls::load_or_create(data.path(), Some((&cert, &key)), &[]);
        assert!(
            matches!(open, Err(TlsError::KeyPermissions { .. })),
            "{open:?}"
        );
    }
}
