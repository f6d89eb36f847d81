//! Replacing the served certificate while the gateway runs.
//!
//! Hospital IT renews the certificate every few months, usually by putting
//! new PEM files where the old ones were. A restart would end every running
//! consultation, so the rustls configuration does not hold the certificate
//! itself: it asks [`ServedCertificate`] at every handshake. Swapping what
//! that holds gives new connections the new certificate, while connections
//! already open (HTTPS, room events WebSockets, TURN over TLS) keep the
//! session they negotiated; the one `ServerConfig`, with its ALPN and
//! session tickets, stays as it is.
//!
//! A replacement is checked before it is served ([`check_replacement`]): it
//! must be PEM, its key must be the certificate's, and it must not have
//! expired. One that fails leaves the certificate in use in place: a
//! half-finished renewal must not take the gateway off the air.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{Fingerprint, TlsError, parse_pair, read_pair, refuse_world_readable};

/// The certificate and key files the configuration names (`--tls-cert`,
/// `--tls-key`), read again on every reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    /// Reads the pair now in the files and checks it can replace the served
    /// one at `now` (see [`check_replacement`]).
    pub fn read_replacement(&self, now: SystemTime) -> Result<CertificatePair, TlsError> {
        let pem = read_pair(self)?;
        let pair = check_replacement(self, &pem.cert_pem, &pem.key_pem, now)?;
        refuse_world_readable(&self.key, pem.key_mode)?;
        Ok(pair)
    }
}

/// A certificate chain with its signing key, ready to serve, and what the
/// logs and metrics say about it.
pub struct CertificatePair {
    certified: Arc<CertifiedKey>,
    /// SHA-256 of the server's own (first) certificate.
    pub fingerprint: Fingerprint,
    /// Its notAfter, in Unix seconds.
    pub not_after_unix: i64,
    /// Its notAfter as people read it (RFC 2822).
    pub not_after: String,
}

impl std::fmt::Debug for CertificatePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatePair")
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertificatePair {
    /// Joins `chain` (from `files.cert`) and `key` (from `files.key`) after
    /// checking that the key is the certificate's. Expiry is not checked:
    /// at start there is no other certificate to serve instead.
    pub(super) fn new(
        files: &CertificateFiles,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let unparsable = |reason: String| TlsError::UnparsableCertificate {
            path: files.cert.clone(),
            reason,
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|err| unparsable(err.to_string()))?;
        let not_after = parsed.validity().not_after;
        let signing_key = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|err| TlsError::UnusableKey {
                path: files.key.clone(),
                reason: err.to_string(),
            })?;
        let fingerprint = Fingerprint::of(&chain[0]);
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            // Unknown: the key cannot name its public half; rustls serves
            // such pairs too (`CertifiedKey::from_der`).
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(TlsError::KeyMismatch {
                    cert: files.cert.clone(),
                    key: files.key.clone(),
                });
            }
            Err(err) => return Err(unparsable(err.to_string())),
        }
        Ok(Self {
            certified: Arc::new(certified),
            fingerprint,
            not_after_unix: not_after.timestamp(),
            not_after: not_after
                .to_rfc2822()
                .unwrap_or_else(|_| not_after.to_string()),
        })
    }
}

/// Checks the PEM text read from `files` before it replaces the served
/// pair: a certificate chain and a private key, the key the certificate's,
/// and the certificate not expired at `now`. The error names the file and
/// what is wrong with it.
pub fn check_replacement(
    files: &CertificateFiles,
    cert_pem: &[u8],
    key_pem: &[u8],
    now: SystemTime,
) -> Result<CertificatePair, TlsError> {
    let (chain, key) = parse_pair(&files.cert, cert_pem, &files.key, key_pem)?;
    let pair = CertificatePair::new(files, chain, key)?;
    if pair.not_after_unix <= unix_seconds(now) {
        return Err(TlsError::Expired {
            path: files.cert.clone(),
            not_after: pair.not_after,
        });
    }
    Ok(pair)
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The crypto of every TLS connection of the gateway (ring).
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// New connections get this pair.
    Replaced(Arc<CertificatePair>),
    /// The files hold the certificate already served.
    Unchanged,
}

/// The pair new TLS connections are given; rustls asks for it at every
/// handshake (see the module docs).
pub struct ServedCertificate {
    current: RwLock<Arc<CertificatePair>>,
}

impl std::fmt::Debug for ServedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ServedCertificate")
            .field(&self.current())
            .finish()
    }
}

impl ServedCertificate {
    pub fn new(pair: CertificatePair) -> Self {
        Self {
            current: RwLock::new(Arc::new(pair)),
        }
    }

    /// The pair served now.
    pub fn current(&self) -> Arc<CertificatePair> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads `files` and serves their pair from the next handshake on, if
    /// it passes [`check_replacement`]; on an error the pair in use stays.
    pub fn reload_from(
        &self,
        files: &CertificateFiles,
        now: SystemTime,
    ) -> Result<Reloaded, TlsError> {
        let pair = files.read_replacement(now)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.fingerprint == pair.fingerprint {
            return Ok(Reloaded::Unchanged);
        }
        *current = Arc::new(pair);
        Ok(Reloaded::Replaced(current.clone()))
    }
}

impl ResolvesServerCert for ServedCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().certified.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use rcgen::{CertificateParams, KeyPair, date_time_ymd};

    /// A certificate for 127.0.0.1 valid from 2020 until the start of
    /// `expiry_year`, and its key, both PEM.
    fn pem_pair(expiry_year: i32) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(expiry_year, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn files() -> CertificateFiles {
        CertificateFiles {
            cert: "/etc/ssl/gateway.pem".into(),
            key: "/etc/ssl/private/gateway.key".into(),
        }
    }

    /// 2025-06-01.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_748_736_000)
    }

    #[test]
    fn a_renewed_pair_is_accepted_with_its_expiry() {
        let (cert, key) = pem_pair(2030);
        let pair = check_replacement(&files(), cert.as_bytes(), key.as_bytes(), now()).unwrap();
        // 2030-01-01T00:00:00Z
        assert_eq!(pair.not_after_unix, 1_893_456_000);
        assert!(pair.not_after.contains("2030"), "{}", pair.not_after);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_files() {
        let (cert, _) = pem_pair(2030);
        let (_, other_key) = pem_pair(2030);
        let err =
            check_replacement(&files(), cert.as_bytes(), other_key.as_bytes(), now()).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("/etc/ssl/gateway.pem") && text.contains("/etc/ssl/private/gateway.key"),
            "{text}"
        );
    }

    #[test]
    fn an_expired_certificate_is_refused_with_its_date() {
        let (cert, key) = pem_pair(2024);
        let err = check_replacement(&files(), cert.as_bytes(), key.as_bytes(), now()).unwrap_err();
        assert!(matches!(err, TlsError::Expired { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("/etc/ssl/gateway.pem") && text.contains("2024"),
            "{text}"
        );
    }

    #[test]
    fn text_that_is_not_pem_is_refused_naming_the_file() {
        let (cert, key) = pem_pair(2030);
        let not_pem = b"certbot: renewal failed\n";
        let err = check_replacement(&files(), not_pem, key.as_bytes(), now()).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().contains("/etc/ssl/gateway.pem"), "{err}");
        let err = check_replacement(&files(), cert.as_bytes(), not_pem, now()).unwrap_err();
        assert!(matches!(err, TlsError::NoKey { .. }), "{err:?}");
        assert!(
            err.to_string().contains("/etc/ssl/private/gateway.key"),
            "{err}"
        );

        // PEM armour around bytes that are no certificate.
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err =
            check_replacement(&files(), garbage.as_bytes(), key.as_bytes(), now()).unwrap_err();
        assert!(
            matches!(err, TlsError::UnparsableCertificate { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_reload_swaps_only_a_good_new_pair() {
        let dir = tempfile::tempdir().unwrap();
        let files = CertificateFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let write = |(cert, key): &(String, String)| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&files.cert, cert).unwrap();
            std::fs::write(&files.key, key).unwrap();
            std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        let first = pem_pair(2030);
        write(&first);
        let served = ServedCertificate::new(files.read_replacement(now()).unwrap());
        let first_fingerprint = served.current().fingerprint;
        assert!(matches!(
            served.reload_from(&files, now()),
            Ok(Reloaded::Unchanged)
        ));

        let second = pem_pair(2031);
        write(&second);
        let Ok(Reloaded::Replaced(pair)) = served.reload_from(&files, now()) else {
            panic!("a good new pair is served");
        };
        assert_ne!(pair.fingerprint, first_fingerprint);
        assert_eq!(served.current().fingerprint, pair.fingerprint);

        // The first certificate with the second's key: refused, the second stays.
        write(&(first.0.clone(), second.1.clone()));
        assert!(matches!(
            served.reload_from(&files, now()),
            Err(TlsError::KeyMismatch { .. })
        ));
        assert_eq!(served.current().fingerprint, pair.fingerprint);
    }
}
