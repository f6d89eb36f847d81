//! A gateway with the hospital's own certificate (PEM files from its CA):
//! the capture daemon's WHIP client trusts it through `--ca-file` with that
//! CA, and refuses it with another CA or with the system's roots. Only the
//! TLS handshake matters here, so no media and no namespace: any HTTP
//! answer (401 for a token the gateway never issued) means the handshake
//! was accepted.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use samsyn_capture::gateway_tls::GatewayTrust;
use samsyn_capture::whip::{SessionKind, WhipClient, WhipError, endpoint_url};

const OFFER: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";

/// A CA and the gateway certificate it signed for `127.0.0.1`.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let (ca_cert, issuer) = support::hospital_ca();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

struct Served {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_with_hospital_certificate() -> Served {
    use std::os::unix::fs::PermissionsExt;
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let cert = write("cert.pem", &pki.cert_pem, 0o644);
    let key = write("key.pem", &pki.key_pem, 0o600);
    let ca_file = write("ca.pem", &pki.ca_pem, 0o644);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let media_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--media-udp-port", &media_port.to_string()])
        .env("SAMSYN_LOG", "warn")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("samsyn-gateway starts");
    let served = Served {
        child,
        base_url: format!("https://127.0.0.1:{port}"),
        _dir: dir,
        ca_file,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    served
}

async fn post(served: &Served, trust: &GatewayTrust) -> Result<(), WhipError> {
    let url = endpoint_url(
        &served.base_url.parse().unwrap(),
        SessionKind::Publish,
        "ward7",
    )
    .unwrap();
    let client = WhipClient::with_trust(SessionKind::Publish, "not-a-token", trust).unwrap();
    client.post_offer(&url, OFFER).await.map(|_| ())
}

#[tokio::test]
async fn the_capture_daemon_trusts_the_hospital_ca_it_is_given_and_no_other() {
    let served = serve_with_hospital_certificate();

    // The hospital's CA: the handshake succeeds, the made-up token does not.
    match post(&served, &GatewayTrust::CaFile(served.ca_file.clone())).await {
        Err(WhipError::TokenRefused { status, .. }) => assert_eq!(status, 401),
        other => panic!("with the right CA the gateway should answer 401, got {other:?}"),
    }

    // Another CA, and the system's roots: refused at the handshake, with
    // the way to fix it in the message.
    let other_ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other_ca.path(), support::hospital_ca().0.pem()).unwrap();
    for trust in [
        GatewayTrust::CaFile(other_ca.path().to_owned()),
        GatewayTrust::SystemRoots,
    ] {
        match post(&served, &trust).await {
            Err(err @ WhipError::Certificate { .. }) => {
                let text = err.to_string();
                assert!(text.contains("--ca-file"), "{text}");
            }
            other => panic!("{trust:?} must refuse the certificate, got {other:?}"),
        }
    }
}
