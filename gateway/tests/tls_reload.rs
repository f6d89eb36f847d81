//! Renewing the hospital's certificate during a consultation: the gateway
//! serves a certificate from PEM files signed by the hospital's CA, a
//! camera publishes and a viewer decodes; new files and SIGHUP give new TLS
//! connections the new certificate and the expiry metric its date, while
//! the viewer's video goes on without a stall. A bad pair (a key of another
//! certificate) is refused with a warning and the certificate in use stays.
//! In a private network namespace; needs root.

mod support;

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, Issuer, KeyPair, date_time_ymd};
use samsyn_capture::gateway_tls::GatewayTrust;
use samsyn_testkit::whep_viewer::WhepViewer;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{
    Invite, capture_binary, free_tcp_port, gateway_binary, metric, runtime, stop, stream_args,
};

/// The longest the viewer may go without a new decoded frame across the
/// reload (30 fps: a frame every 33 ms).
const MAX_FRAME_GAP: Duration = Duration::from_millis(200);
/// How often the viewer's decoded frame count is read.
const FRAME_SAMPLE_INTERVAL: Duration = Duration::from_millis(20);
const EXPIRY_METRIC: &str = "samsyn_tls_certificate_expiry_timestamp_seconds";

/// The hospital's CA, which signs each certificate the gateway is given.
struct HospitalCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate for 127.0.0.1 and localhost (the names the gateway wants
/// covered on loopback), and its key.
struct Issued {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
    /// notAfter, Unix seconds.
    not_after: i64,
}

impl HospitalCa {
    fn new() -> Self {
        let (cert, issuer) = support::hospital_ca();
        Self {
            issuer,
            pem: cert.pem(),
        }
    }

    /// A certificate valid until the first of January of `expiry_year`.
    fn issue(&self, expiry_year: i32) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(expiry_year, 1, 1);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            not_after: params.not_after.unix_timestamp(),
        }
    }
}

/// The files `--tls-cert`, `--tls-key` and the capture daemon's
/// `--ca-file` name.
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl TlsFiles {
    fn in_dir(dir: &Path, ca: &HospitalCa) -> Self {
        let files = Self {
            cert: dir.join("gateway.pem"),
            key: dir.join("gateway.key"),
            ca: dir.join("ca.pem"),
        };
        std::fs::write(&files.ca, &ca.pem).unwrap();
        files
    }

    /// Writes `cert_pem` and `key_pem` over the files, as a renewal does.
    fn write(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&self.cert, cert_pem).unwrap();
        std::fs::write(&self.key, key_pem).unwrap();
        std::fs::set_permissions(&self.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn trust(&self) -> GatewayTrust {
        GatewayTrust::CaFile(self.ca.clone())
    }
}

/// `samsyn-gateway serve` with the hospital's certificate files, its log
/// kept to be read.
struct CertifiedGateway {
    child: Child,
    base_url: String,
    port: u16,
    data_dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

impl CertifiedGateway {
    fn start(files: &TlsFiles) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let media_port = std::net::UdpSocket::bind((GATEWAY_IP, 0))
            .and_then(|s| s.local_addr())
            .unwrap()
            .port();
        let base_url = format!("https://127.0.0.1:{port}");
        let mut child = Self::command(&data_dir, &base_url, files, "serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--media-udp-port", &media_port.to_string()])
            .args(["--media-address", GATEWAY_IP])
            .env(
                "SAMSYN_LOG",
                "warn,rtc_dtls=error,samsyn_gateway=info,samsyn_signaling=info",
            )
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .expect("samsyn-gateway starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                kept.lock().unwrap().push(line);
            }
        });
        let gateway = Self {
            child,
            base_url,
            port,
            data_dir,
            log,
        };
        gateway.wait_healthy(files);
        gateway
    }

    fn command(
        data_dir: &tempfile::TempDir,
        base_url: &str,
        files: &TlsFiles,
        sub: &str,
    ) -> Command {
        let mut command = Command::new(gateway_binary());
        command
            .args(sub.split(' '))
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--public-url", base_url])
            .arg("--tls-cert")
            .arg(&files.cert)
            .arg("--tls-key")
            .arg(&files.key);
        command
    }

    fn wait_healthy(&self, files: &TlsFiles) {
        assert!(
            support::wait_healthy_over_tls(&self.base_url, &files.trust(), Duration::from_secs(10)),
            "the gateway did not answer /healthz over TLS"
        );
    }

    fn create_room(&self, files: &TlsFiles) -> Invite {
        let output = Self::command(&self.data_dir, &self.base_url, files, "room create")
            .args(["--json", "--label", ""])
            .output()
            .expect("room create runs");
        assert!(
            output.status.success(),
            "room create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("room create prints JSON")
    }

    fn hang_up(&self) {
        // SAFETY: kill(2) on our own child's pid.
        let sent = unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
        assert_eq!(sent, 0, "SIGHUP reaches the gateway");
    }

    fn log_has(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.log.lock().unwrap().iter().any(|line| wanted(line))
    }

    /// The end-entity certificate a new TLS connection is given.
    async fn served_certificate(&self, files: &TlsFiles) -> Vec<u8> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls_pki_types_der(&std::fs::read(&files.ca).unwrap());
        roots.add(ca).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("the gateway accepts connections");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .expect("the TLS handshake succeeds with the hospital's CA");
        tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
    }

    async fn expiry_metric(&self, files: &TlsFiles) -> i64 {
        let client = files
            .trust()
            .http_client(Duration::from_secs(2), Duration::from_secs(5))
            .unwrap();
        let text = client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .unwrap();
        metric(&text, EXPIRY_METRIC) as i64
    }
}

impl Drop for CertifiedGateway {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The DER of the first certificate in `pem`.
fn rustls_pki_types_der(pem: &[u8]) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem).expect("a PEM certificate")
}

/// The longest time between two increases of the viewer's decoded frame
/// count while `during` runs, sampled every [`FRAME_SAMPLE_INTERVAL`].
async fn longest_frame_gap<T>(
    viewer: &WhepViewer,
    during: impl Future<Output = T>,
) -> (Duration, T) {
    let longest = Cell::new(Duration::ZERO);
    let sampling = async {
        let mut last_count = viewer.report().map_or(0, |r| r.frames);
        let mut last_change = Instant::now();
        loop {
            tokio::time::sleep(FRAME_SAMPLE_INTERVAL).await;
            let count = viewer.report().map_or(0, |r| r.frames);
            let now = Instant::now();
            if count != last_count {
                last_count = count;
                last_change = now;
            }
            longest.set(longest.get().max(now - last_change));
        }
    };
    let result = tokio::select! {
        result = during => result,
        () = sampling => unreachable!("sampling runs until `during` ends"),
    };
    (longest.get(), result)
}

#[test]
fn a_renewed_certificate_is_served_on_sighup_without_interrupting_the_video() {
    if !netns::isolate("a_renewed_certificate_is_served_on_sighup_without_interrupting_the_video") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let dir = tempfile::tempdir().unwrap();
    let ca = HospitalCa::new();
    let files = TlsFiles::in_dir(dir.path(), &ca);
    let first = ca.issue(2031);
    files.write(&first.cert_pem, &first.key_pem);
    let gateway = CertifiedGateway::start(&files);
    let invite = gateway.create_room(&files);
    assert_eq!(
        invite.tls_pin_sha256, None,
        "a CA-signed certificate is not pinned"
    );

    let mut camera_args = stream_args("test", 640, 360, CLIENT_IP);
    camera_args.extend(["--ca-file".to_owned(), files.ca.display().to_string()]);
    let mut camera = Command::new(capture_binary())
        .args(["--gateway", &gateway.base_url, "--room", &invite.room])
        .args(["--token", &invite.publisher_token])
        .args(&camera_args)
        .env("SAMSYN_LOG", "warn,samsyn_capture=info")
        .spawn()
        .expect("samsyn-capture starts");

    runtime().block_on(async {
        let mut viewer = support::start_viewer_trusting(&invite, CLIENT_IP, &files.trust()).await;
        viewer
            .wait_frames(30, Duration::from_secs(30))
            .await
            .unwrap_or_else(|err| panic!("the viewer did not decode: {err}"));
        assert_eq!(gateway.served_certificate(&files).await, first.der);
        assert_eq!(gateway.expiry_metric(&files).await, first.not_after);

        // The renewal: new files, then SIGHUP, while the video runs.
        let second = ca.issue(2032);
        let (gap, reloaded_after) = longest_frame_gap(&viewer, async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            files.write(&second.cert_pem, &second.key_pem);
            let asked = Instant::now();
            gateway.hang_up();
            while gateway.served_certificate(&files).await != second.der {
                assert!(
                    asked.elapsed() < Duration::from_secs(5),
                    "new connections still get the old certificate 5 s after SIGHUP"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let reloaded_after = asked.elapsed();
            tokio::time::sleep(Duration::from_secs(2)).await;
            reloaded_after
        })
        .await;
        println!(
            "new certificate served {} ms after SIGHUP; longest gap between frames {} ms",
            reloaded_after.as_millis(),
            gap.as_millis()
        );
        assert!(
            gap <= MAX_FRAME_GAP,
            "the video stalled for {} ms across the reload",
            gap.as_millis()
        );
        assert_eq!(gateway.expiry_metric(&files).await, second.not_after);

        // A bad renewal: a new certificate with the key of another one.
        let third = ca.issue(2033);
        let stranger = ca.issue(2033);
        files.write(&third.cert_pem, &stranger.key_pem);
        gateway.hang_up();
        let key_path = files.key.display().to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gateway.log_has(|line| {
            line.contains("WARN")
                && line.contains("not reloaded")
                && line.contains(&key_path)
                && line.contains("is not the private key")
        }) {
            assert!(
                Instant::now() < deadline,
                "no warning about the mismatched key within 5 s of SIGHUP"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            gateway.served_certificate(&files).await,
            second.der,
            "the second certificate stays served"
        );
        assert_eq!(gateway.expiry_metric(&files).await, second.not_after);

        // The consultation is still on.
        let before = viewer.report().unwrap().frames;
        viewer
            .wait_frames(before + 30, Duration::from_secs(5))
            .await
            .unwrap_or_else(|err| panic!("the video stopped after the refused reload: {err}"));
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
    stop(&mut camera);
}
