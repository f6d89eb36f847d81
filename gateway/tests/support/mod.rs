//! Shared pieces of the gateway's end-to-end tests: the network namespace,
//! the real binaries as child processes, and a room to stream in.

#![allow(dead_code)] // Each test binary uses its own subset.

pub mod health;
pub mod netns;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use samsyn_capture::probe::{ProbeOptions, ProbeViewer};
use serde::Deserialize;

/// The JSON of `samsyn-gateway room create --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Invite {
    pub room: String,
    pub publisher_token: String,
    pub viewer_token: String,
    pub observer_token: String,
    pub whip_url: String,
    pub whep_url: String,
    pub viewer_link: String,
}

/// A running `samsyn-gateway serve`, killed on drop.
pub struct Gateway {
    child: Child,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    pub udp_port: u16,
}

impl Gateway {
    /// Starts the gateway with HTTP on loopback and media on `media_ip`.
    pub fn start(media_ip: &str) -> Self {
        Self::start_with_env(media_ip, &[])
    }

    /// Like [`Gateway::start`], with configuration from `SAMSYN_…`
    /// variables. Tests make many requests from one address, so the rate
    /// limit is raised unless `env` sets it.
    pub fn start_with_env(media_ip: &str, env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let http_port = free_tcp_port();
        let udp_port = free_udp_port(media_ip);
        let base_url = format!("http://127.0.0.1:{http_port}");
        let child = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
            .args(["serve", "--listen", &format!("127.0.0.1:{http_port}")])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--public-url", &base_url])
            .args(["--media-address", media_ip])
            .args(["--media-udp-port", &udp_port.to_string()])
            .env("SAMSYN_LOG", test_log_filter())
            .env("SAMSYN_LIMITS__REQUESTS_PER_MINUTE", "6000")
            .env("SAMSYN_LIMITS__REQUEST_BURST", "1000")
            .envs(env.iter().copied())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-gateway starts");
        let gateway = Self {
            child,
            base_url,
            data_dir,
            udp_port,
        };
        gateway.wait_healthy(Duration::from_secs(10));
        gateway
    }

    fn wait_healthy(&self, timeout: Duration) {
        let addr = self.base_url.trim_start_matches("http://");
        assert!(
            health::wait_healthy(addr, timeout),
            "samsyn-gateway did not answer /healthz within {timeout:?}"
        );
    }

    /// Creates a room with the CLI, as hospital IT would.
    pub fn create_room(&self) -> Invite {
        self.create_labelled_room("")
    }

    /// Creates a room with a label, with the CLI.
    pub fn create_labelled_room(&self, label: &str) -> Invite {
        let output = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
            .args(["room", "create", "--json", "--label", label])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--public-url", &self.base_url])
            .output()
            .expect("samsyn-gateway room create runs");
        assert!(
            output.status.success(),
            "room create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("room create prints one JSON object")
    }

    /// Ends a room with the CLI, as hospital IT would.
    pub fn end_room(&self, room: &str) {
        let output = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
            .args(["room", "end", room])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--public-url", &self.base_url])
            .output()
            .expect("samsyn-gateway room end runs");
        assert!(
            output.status.success(),
            "room end failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A token the gateway's own key signed, with these claims: what only
    /// the key's holder could make (an expired token, say).
    pub fn sign(&self, claims: serde_json::Value) -> String {
        let pkcs8 = std::fs::read(self.data_dir.path().join("keys/token-signing.pk8"))
            .expect("the gateway's signing key");
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&pkcs8),
        )
        .expect("signing works")
    }

    /// An admin token, made with the CLI as hospital IT would.
    pub fn admin_token(&self) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
            .args(["token", "create", "--role", "admin", "--json"])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--public-url", &self.base_url])
            .output()
            .expect("samsyn-gateway token create runs");
        assert!(
            output.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("token create --json prints JSON");
        json["token"].as_str().expect("a token").to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A runtime for the async parts of a test (the WHEP probe, HTTP clients).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime builds")
}

/// Starts a WHEP viewer (GStreamer webrtcbin, decoding) once the camera is in
/// the room: the gateway answers 409 until then.
pub async fn start_viewer(invite: &Invite) -> ProbeViewer {
    // Generous: on a loaded 2-core machine the camera's start-up (encoder
    // probe, first frame, ICE) can take several seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut options = ProbeOptions::new(invite.whep_url.parse().unwrap(), &invite.viewer_token);
        options.ice_addresses = vec![netns::CLIENT_IP.parse().unwrap()];
        match ProbeViewer::start(options).await {
            Ok(viewer) => return viewer,
            Err(err) if Instant::now() < deadline => {
                eprintln!("viewer not started yet: {err}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => panic!("no WHEP viewer could start: {err}"),
        }
    }
}

/// A running `samsyn-capture`, stopped with SIGTERM (then killed) on drop.
pub struct Capture {
    child: Child,
}

impl Capture {
    /// Publishes the test source into the invite's room.
    pub fn start(gateway: &Gateway, invite: &Invite, extra: &[&str]) -> Self {
        let child = Command::new(capture_binary())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(["--token", &invite.publisher_token])
            .args(extra)
            .env("SAMSYN_LOG", test_log_filter())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-capture starts");
        Self { child }
    }

    /// Publishes the moving test picture at `width`x`height`, 30 fps, no
    /// audio, ICE on the namespace's client address.
    pub fn test_source(gateway: &Gateway, invite: &Invite, width: u32, height: u32) -> Self {
        let (width, height) = (width.to_string(), height.to_string());
        Self::start(
            gateway,
            invite,
            &[
                "--source",
                "test",
                "--width",
                &width,
                "--height",
                &height,
                "--fps",
                "30",
                "--no-audio",
                "--ice-address",
                netns::CLIENT_IP,
            ],
        )
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The child processes' log filter: `SAMSYN_TEST_LOG`, else info.
fn test_log_filter() -> String {
    std::env::var("SAMSYN_TEST_LOG").unwrap_or_else(|_| {
        "warn,rtc_dtls=error,samsyn_gateway=info,samsyn_signaling=info,samsyn_capture=info".into()
    })
}

/// The capture daemon binary, built beside the gateway's.
pub fn capture_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_samsyn-gateway")).with_file_name("samsyn-capture");
    assert!(
        path.exists(),
        "{} is missing; build it first: cargo build -p samsyn-capture",
        path.display()
    );
    path
}

/// Where tests leave screenshots and other artifacts.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().expect("child exits")
}

fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        terminate(child);
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
        .port()
}

fn free_udp_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// Reads lines from a child's stdout until one satisfies `pred`.
pub fn wait_for_line(reader: &mut impl BufRead, pred: impl Fn(&str) -> bool) -> Option<String> {
    let mut line = String::new();
    while reader.read_line(&mut line).ok()? > 0 {
        if pred(&line) {
            return Some(line);
        }
        line.clear();
    }
    None
}

pub fn line_reader(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    BufReader::new(child.stdout.take().expect("piped stdout"))
}
