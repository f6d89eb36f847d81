//! How the capture daemon (and the other clients of a gateway: the probe
//! viewer, samsyn-bench) trust the gateway's HTTPS certificate.
//!
//! Verification is never off. There are three ways to trust:
//!
//! - the system's CA roots (a gateway with a certificate from a public or
//!   hospital CA the laptop already trusts);
//! - a CA file (`--ca-file`): exactly these CAs, names checked as usual;
//! - a pinned SHA-256 fingerprint (`--pin-sha256`): exactly that
//!   certificate, the way to trust a gateway's self-signed one. The
//!   handshake signature is still checked against its key, so only the
//!   holder of the gateway's private key gets through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use samsyn_config::{ClientTlsConfig, parse_sha256_fingerprint};

/// Which certificates the client accepts from the gateway.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum GatewayTrust {
    /// The system's trusted CA roots.
    #[default]
    SystemRoots,
    /// The CA certificates in this PEM file, and no others.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint.
    Pinned([u8; 32]),
}

impl fmt::Debug for GatewayTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayTrust::SystemRoots => f.write_str("SystemRoots"),
            GatewayTrust::CaFile(path) => write!(f, "CaFile({})", path.display()),
            GatewayTrust::Pinned(pin) => write!(f, "Pinned({})", hex(pin)),
        }
    }
}

/// The trust settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Both a CA file and a pin: one way of trusting at a time.
    #[error("give either --ca-file or --pin-sha256, not both")]
    Both,
    /// The pin is not a SHA-256 fingerprint.
    #[error(
        "--pin-sha256 {0:?} is not a SHA-256 fingerprint; copy the 64 hex digits \
         (colons allowed) that samsyn-gateway prints"
    )]
    BadPin(String),
    /// The CA file cannot be read or holds no certificate.
    #[error("cannot use the CA file {}: {why}; give a PEM file with the hospital's CA certificate (BEGIN CERTIFICATE)", path.display())]
    CaFile { path: PathBuf, why: String },
    /// The HTTP client could not be built.
    #[error("the HTTPS client could not be set up: {0}")]
    Client(String),
}

impl GatewayTrust {
    /// The trust the capture configuration asks for.
    pub fn from_config(config: &ClientTlsConfig) -> Result<Self, TrustError> {
        match (&config.ca_file, &config.pin_sha256) {
            (Some(_), Some(_)) => Err(TrustError::Both),
            (Some(path), None) => Ok(GatewayTrust::CaFile(path.clone())),
            (None, Some(pin)) => parse_sha256_fingerprint(pin)
                .map(GatewayTrust::Pinned)
                .ok_or_else(|| TrustError::BadPin(pin.clone())),
            (None, None) => Ok(GatewayTrust::SystemRoots),
        }
    }

    /// An HTTP client that verifies the gateway this way.
    pub fn http_client(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<reqwest::Client, TrustError> {
        let builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            // A fresh connection per request: the few WHIP/WHEP requests are
            // rare, and a pooled connection can be half-dead after a network
            // drop, stalling the very request that should reconnect.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("samsyn-capture/", env!("CARGO_PKG_VERSION")));
        let builder = match self {
            GatewayTrust::SystemRoots => builder,
            GatewayTrust::CaFile(path) => builder.use_preconfigured_tls(ca_file_config(path)?),
            GatewayTrust::Pinned(pin) => builder.use_preconfigured_tls(pinned_config(*pin)),
        };
        builder
            .build()
            .map_err(|err| TrustError::Client(err.to_string()))
    }
}

impl GatewayTrust {
    /// The TLS client settings of this trust, for connections that are not
    /// HTTP requests (the room events WebSocket).
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, TrustError> {
        match self {
            GatewayTrust::SystemRoots => system_roots_config(),
            GatewayTrust::CaFile(path) => ca_file_config(path),
            GatewayTrust::Pinned(pin) => Ok(pinned_config(*pin)),
        }
    }
}

fn system_roots_config() -> Result<rustls::ClientConfig, TrustError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _unusable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(TrustError::Client(
            "the system has no trusted CA certificates; install ca-certificates, or give \
             --ca-file or --pin-sha256"
                .to_owned(),
        ));
    }
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| TrustError::Client(e.to_string()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_file_config(path: &Path) -> Result<rustls::ClientConfig, TrustError> {
    let error = |why: String| TrustError::CaFile {
        path: path.to_owned(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| error(e.to_string()))?;
        roots.add(cert).map_err(|e| error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(error("it holds no certificate".to_owned()));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn pinned_config(pin: [u8; 32]) -> rustls::ClientConfig {
    let provider = provider();
    let verifier = PinnedCertificate {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// Accepts exactly the certificate whose SHA-256 is `pin`, whatever names
/// or issuer it has, and checks the handshake was signed with its key.
#[derive(Debug)]
struct PinnedCertificate {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = format!(
                "the gateway's certificate has SHA-256 fingerprint {}, not the pinned {}",
                hex(digest.as_ref()),
                hex(&self.pin)
            );
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(std::io::Error::other(mismatch))),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `AB:CD:…`, as the gateway prints fingerprints.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_comes_from_the_configuration() {
        let mut config = ClientTlsConfig::default();
        assert_eq!(
            GatewayTrust::from_config(&config).unwrap(),
            GatewayTrust::SystemRoots
        );
        config.pin_sha256 = Some("ab".repeat(32));
        assert_eq!(
            GatewayTrust::from_config(&config).unwrap(),
            GatewayTrust::Pinned([0xab; 32])
        );
        config.ca_file = Some("ca.pem".into());
        assert!(matches!(
            GatewayTrust::from_config(&config),
            Err(TrustError::Both)
        ));
        config.pin_sha256 = None;
        assert_eq!(
            GatewayTrust::from_config(&config).unwrap(),
            GatewayTrust::CaFile("ca.pem".into())
        );
        config.ca_file = None;
        config.pin_sha256 = Some("nope".into());
        assert!(matches!(
            GatewayTrust::from_config(&config),
            Err(TrustError::BadPin(_))
        ));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let error = GatewayTrust::CaFile(path)
            .http_client(Duration::from_secs(1), Duration::from_secs(1))
            .unwrap_err();
        assert!(
            error.to_string().contains("holds no certificate"),
            "{error}"
        );
    }
}
