//! Shared pieces of the gateway's end-to-end tests: the network namespace,
//! the real binaries as child processes, and a room to stream in.

#![allow(dead_code)] // Each test binary uses its own subset.

pub mod browser;
pub mod firewall;
pub mod health;
pub mod link;
pub mod netns;
pub mod turn_client;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use samsyn_capture::gateway_tls::GatewayTrust;
use samsyn_testkit::whep_viewer::{ViewerOptions, WhepViewer};
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
    /// The nurse's one link (`samsyn-capture join`).
    #[serde(default)]
    pub nurse_link: String,
    /// The certificate to pin, when the gateway's is self-signed.
    #[serde(default)]
    pub tls_pin_sha256: Option<String>,
}

/// A running `samsyn-gateway serve`, killed on drop.
pub struct Gateway {
    /// `None` while stopped.
    child: Option<Child>,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    pub http_port: u16,
    pub udp_port: u16,
    media_ips: Vec<String>,
    /// The namespace it runs in, when not the test's own.
    namespace: Option<String>,
    /// Serving HTTPS with a self-signed certificate.
    pub tls: bool,
    /// `SAMSYN_…` configuration given to `serve`.
    env: Vec<(String, String)>,
}

impl Gateway {
    /// Starts the gateway with HTTP on loopback and media on `media_ip`.
    pub fn start(media_ip: &str) -> Self {
        Self::launch(&[media_ip], &[], false)
    }

    /// Starts the gateway with HTTP on loopback and media on each of
    /// `media_ips` (one port).
    pub fn start_on(media_ips: &[&str]) -> Self {
        Self::launch(media_ips, &[], false)
    }

    /// Like [`Gateway::start`], with configuration from `SAMSYN_…`
    /// variables. Tests make many requests from one address, so the rate
    /// limit is raised unless `env` sets it.
    pub fn start_with_env(media_ip: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(&[media_ip], env, false)
    }

    /// Starts the gateway with HTTPS (a self-signed certificate made in its
    /// data directory) on loopback and media on `media_ip`.
    pub fn start_tls(media_ip: &str) -> Self {
        Self::launch(&[media_ip], &[], true)
    }

    /// [`Gateway::start_tls`] with configuration from `SAMSYN_…` variables,
    /// as [`Gateway::start_with_env`] takes them.
    pub fn start_tls_with_env(media_ip: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(&[media_ip], env, true)
    }

    fn launch(media_ips: &[&str], env: &[(&str, &str)], tls: bool) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let http_port = free_tcp_port();
        let udp_port = free_udp_port(media_ips[0]);
        let scheme = if tls { "https" } else { "http" };
        let mut gateway = Self {
            child: None,
            base_url: format!("{scheme}://127.0.0.1:{http_port}"),
            data_dir,
            http_port,
            udp_port,
            media_ips: media_ips.iter().map(|ip| (*ip).to_owned()).collect(),
            namespace: None,
            tls,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        gateway.child = Some(gateway.spawn());
        gateway.wait_healthy(Duration::from_secs(10));
        gateway
    }

    /// Starts the gateway on the far side of `link`, media on
    /// [`link::FAR_IP`] (reached over the link) and
    /// [`link::FAR_GATEWAY_IP`] (for a camera on the far side too); its HTTP
    /// listener (loopback there) is reached through a relay over the link,
    /// at `base_url`, and directly at [`Gateway::local_url`] on the far side.
    pub fn start_far(link: &link::EmulatedLink) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        // A fresh namespace has every port free.
        let http_port = free_tcp_port();
        let udp_port = free_udp_port("0.0.0.0");
        let relay = link.relay_to_far(http_port);
        let mut gateway = Self {
            child: None,
            base_url: format!("http://127.0.0.1:{relay}"),
            data_dir,
            http_port,
            udp_port,
            media_ips: vec![link::FAR_IP.to_owned(), link::FAR_GATEWAY_IP.to_owned()],
            namespace: Some(link.far_namespace().to_owned()),
            tls: false,
            env: Vec::new(),
        };
        gateway.child = Some(gateway.spawn());
        gateway.wait_healthy(Duration::from_secs(10));
        gateway
    }

    /// `samsyn-gateway serve`, in the gateway's namespace.
    fn spawn(&self) -> Child {
        let mut command = match &self.namespace {
            None => Command::new(gateway_binary()),
            Some(namespace) => {
                let mut command = Command::new("ip");
                command
                    .args(["netns", "exec", namespace])
                    .arg(gateway_binary());
                command
            }
        };
        self.add_common_args(&mut command, "serve");
        command
            .args(["--listen", &format!("127.0.0.1:{}", self.http_port)])
            .args(["--media-udp-port", &self.udp_port.to_string()])
            .env("SAMSYN_LOG", test_log_filter())
            .env("SAMSYN_LIMITS__REQUESTS_PER_MINUTE", "6000")
            .env("SAMSYN_LIMITS__REQUEST_BURST", "1000")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for ip in &self.media_ips {
            command.args(["--media-address", ip]);
        }
        command.spawn().expect("samsyn-gateway starts")
    }

    /// The gateway's own URL in its namespace (loopback there).
    pub fn local_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.http_port)
    }

    /// Stops the gateway process (SIGTERM) and leaves it stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Starts the gateway process again on the same ports and data
    /// directory, as after an update or a crash, and waits for `/healthz`.
    pub fn start_again(&mut self) {
        self.stop();
        self.child = Some(self.spawn());
        self.wait_healthy(Duration::from_secs(10));
    }

    /// `samsyn-gateway <subcommand…>` with this gateway's data directory,
    /// public URL and TLS setting, as every command needs them.
    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(gateway_binary());
        self.add_common_args(&mut command, subcommand);
        command
    }

    fn add_common_args(&self, command: &mut Command, subcommand: &str) {
        command
            .args(subcommand.split(' '))
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--public-url", &self.base_url]);
        if self.tls {
            command.arg("--tls");
        }
    }

    /// Runs a CLI command to completion; its stdout.
    fn run(&self, subcommand: &str, args: &[&str]) -> Vec<u8> {
        let output = self
            .command(subcommand)
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("samsyn-gateway {subcommand} runs: {err}"));
        assert!(
            output.status.success(),
            "samsyn-gateway {subcommand} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn wait_healthy(&self, timeout: Duration) {
        let healthy = if self.tls {
            let cert = self.data_dir.path().join("tls/cert.pem");
            runtime().block_on(async {
                let deadline = Instant::now() + timeout;
                while Instant::now() < deadline {
                    // The gateway makes its certificate as it starts.
                    if cert.exists() {
                        let client = self
                            .trust()
                            .http_client(Duration::from_secs(1), Duration::from_secs(2))
                            .expect("a pinned client builds");
                        let url = format!("{}/healthz", self.base_url);
                        if client
                            .get(url)
                            .send()
                            .await
                            .is_ok_and(|r| r.status() == 200)
                        {
                            return true;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false
            })
        } else {
            health::wait_healthy(self.base_url.trim_start_matches("http://"), timeout)
        };
        assert!(
            healthy,
            "samsyn-gateway did not answer /healthz within {timeout:?}"
        );
    }

    /// The SHA-256 fingerprint of the gateway's self-signed certificate.
    pub fn pin(&self) -> String {
        let pem = std::fs::read_to_string(self.data_dir.path().join("tls/cert.pem"))
            .expect("the gateway made its certificate");
        let der = base64::engine::general_purpose::STANDARD
            .decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .expect("PEM holds base64");
        samsyn_signaling::tls::Fingerprint::of(&der).to_string()
    }

    /// What Chromium's `--ignore-certificate-errors-spki-list` takes to
    /// trust this gateway's self-signed certificate: base64 of the SHA-256
    /// of its public key (SubjectPublicKeyInfo).
    pub fn spki_sha256_base64(&self) -> String {
        let pem = std::fs::read_to_string(self.data_dir.path().join("tls/key.pem"))
            .expect("the gateway made its key");
        let key = rcgen::KeyPair::from_pem(&pem).expect("a PEM key");
        let digest = samsyn_signaling::tls::Fingerprint::of(
            &rcgen::PublicKeyData::subject_public_key_info(&key),
        );
        base64::engine::general_purpose::STANDARD.encode(digest.0)
    }

    /// How clients trust this gateway: its pinned certificate over TLS.
    pub fn trust(&self) -> GatewayTrust {
        if self.tls {
            GatewayTrust::Pinned(
                samsyn_config::parse_sha256_fingerprint(&self.pin()).expect("a fingerprint"),
            )
        } else {
            GatewayTrust::SystemRoots
        }
    }

    /// Creates a room with the CLI, as hospital IT would.
    pub fn create_room(&self) -> Invite {
        self.create_labelled_room("")
    }

    /// Creates a room with a label, with the CLI.
    pub fn create_labelled_room(&self, label: &str) -> Invite {
        let stdout = self.run("room create", &["--json", "--label", label]);
        serde_json::from_slice(&stdout).expect("room create prints one JSON object")
    }

    /// Ends a room with the CLI, as hospital IT would.
    pub fn end_room(&self, room: &str) {
        self.run("room end", &[room]);
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

    /// `samsyn-gateway audit --room <room>`, as the people who answer for
    /// the gateway would read it.
    pub fn audit(&self, room: &str) -> String {
        String::from_utf8(self.run("audit", &["--room", room])).expect("UTF-8 text")
    }

    /// The closing summary of `samsyn-gateway audit` for `room` (who was
    /// there, and how each left), and the whole trail for messages.
    pub fn who_was_there(&self, room: &str) -> (String, String) {
        let trail = self.audit(room);
        let who = trail
            .split("Who was there:")
            .nth(1)
            .unwrap_or_else(|| panic!("the audit trail has no summary of who was there: {trail}"))
            .to_owned();
        (who, trail)
    }

    /// `samsyn-gateway report <args>`: the consultation log.
    pub fn report(&self, args: &[&str]) -> String {
        String::from_utf8(self.run("report", args)).expect("UTF-8 text")
    }

    /// An admin token, made with the CLI as hospital IT would.
    pub fn admin_token(&self) -> String {
        let stdout = self.run("token create", &["--role", "admin", "--json"]);
        let json: serde_json::Value =
            serde_json::from_slice(&stdout).expect("token create --json prints JSON");
        json["token"].as_str().expect("a token").to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Gateway {
    /// Starts the gateway with HTTPS (a self-signed certificate) listening
    /// on `ip` itself, not loopback, with media on `ip` too: links and
    /// `base_url` are `https://<ip>/…`, IPv6 addresses bracketed. For a
    /// namespace without IPv4 ([`netns::isolate_ipv6_only`]).
    /// [`Gateway::start_again`] would bring it back on loopback: not for
    /// these.
    pub fn start_tls_listening_on(ip: &str) -> Self {
        let address: std::net::IpAddr = ip.parse().expect("an IP address");
        let http_port = TcpListener::bind((address, 0))
            .and_then(|l| l.local_addr())
            .expect("a free TCP port")
            .port();
        let listen = std::net::SocketAddr::new(address, http_port);
        let mut gateway = Self {
            child: None,
            base_url: format!("https://{listen}"),
            data_dir: tempfile::tempdir().expect("temp dir"),
            http_port,
            udp_port: free_udp_port(ip),
            media_ips: vec![ip.to_owned()],
            namespace: None,
            tls: true,
            env: Vec::new(),
        };
        let mut command = Command::new(gateway_binary());
        gateway.add_common_args(&mut command, "serve");
        let child = command
            .args(["--listen", &listen.to_string()])
            .args(["--media-udp-port", &gateway.udp_port.to_string()])
            .args(["--media-address", ip])
            .env("SAMSYN_LOG", test_log_filter())
            .env("SAMSYN_LIMITS__REQUESTS_PER_MINUTE", "6000")
            .env("SAMSYN_LIMITS__REQUEST_BURST", "1000")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-gateway starts");
        gateway.child = Some(child);
        gateway.wait_healthy(Duration::from_secs(10));
        gateway
    }

    /// `GET /metrics` over the gateway's pinned TLS (or plain HTTP).
    pub async fn scrape_metrics(&self) -> String {
        let client = self
            .trust()
            .http_client(Duration::from_secs(2), Duration::from_secs(5))
            .expect("an HTTP client builds");
        client
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics has a body")
    }
}

/// The value of the `/metrics` line that starts with `name` (labels
/// included); panics, showing the scrape, when there is none.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("the metrics have {name}:\n{text}"))
}

/// A runtime for the async parts of a test (the WHEP viewer, HTTP clients).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime builds")
}

/// Starts a WHEP viewer (GStreamer webrtcbin, decoding) once the camera is in
/// the room: the gateway answers 409 until then.
pub async fn start_viewer(invite: &Invite) -> WhepViewer {
    start_viewer_on(invite, netns::CLIENT_IP).await
}

/// [`start_viewer`] with ICE on `address` (an address of the interface that
/// leads to the gateway).
pub async fn start_viewer_on(invite: &Invite, address: &str) -> WhepViewer {
    let trust = match &invite.tls_pin_sha256 {
        Some(pin) => GatewayTrust::Pinned(samsyn_config::parse_sha256_fingerprint(pin).unwrap()),
        None => GatewayTrust::SystemRoots,
    };
    start_viewer_trusting(invite, address, &trust).await
}

/// [`start_viewer_on`] trusting the gateway's certificate as `trust` says
/// (a hospital's CA, say), whatever the invite carries.
pub async fn start_viewer_trusting(
    invite: &Invite,
    address: &str,
    trust: &GatewayTrust,
) -> WhepViewer {
    // Generous: on a loaded 2-core machine the camera's start-up (encoder
    // probe, first frame, ICE) can take several seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut options =
            ViewerOptions::new(invite.whep_url.parse().unwrap(), &invite.viewer_token);
        options.ice_addresses = vec![address.parse().unwrap()];
        options.trust = trust.clone();
        match WhepViewer::start(options).await {
            Ok(viewer) => return viewer,
            Err(err) if Instant::now() < deadline => {
                eprintln!("viewer not started yet: {err}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => panic!("no WHEP viewer could start: {err}"),
        }
    }
}

/// True once `{base_url}/healthz` answers 200 over HTTPS, trusting the
/// gateway as `trust` says, polling until `timeout`.
pub fn wait_healthy_over_tls(base_url: &str, trust: &GatewayTrust, timeout: Duration) -> bool {
    let client = trust
        .http_client(Duration::from_secs(1), Duration::from_secs(2))
        .expect("an HTTPS client builds");
    let url = format!("{base_url}/healthz");
    runtime().block_on(async {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    })
}

/// A running `samsyn-capture`, stopped with SIGTERM (then killed) on drop.
pub struct Capture {
    child: Child,
}

impl Capture {
    /// Publishes the test source into the invite's room.
    pub fn start<S: AsRef<std::ffi::OsStr>>(
        gateway: &Gateway,
        invite: &Invite,
        extra: &[S],
    ) -> Self {
        Self::start_with(
            Command::new(capture_binary()),
            &gateway.base_url,
            invite,
            extra,
        )
    }

    /// Publishes into the invite's room through `gateway_url` with `command`
    /// (the capture binary, possibly wrapped, e.g. to run in another
    /// namespace).
    pub fn start_with<S: AsRef<std::ffi::OsStr>>(
        mut command: Command,
        gateway_url: &str,
        invite: &Invite,
        extra: &[S],
    ) -> Self {
        let child = command
            .args(["--gateway", gateway_url, "--room", &invite.room])
            .args(["--token", &invite.publisher_token])
            .args(extra)
            .env("SAMSYN_LOG", test_log_filter())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-capture starts");
        Self { child }
    }

    /// Whether the daemon is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the daemon to stop by itself.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Publishes the moving test picture at `width`x`height`, 30 fps, no
    /// audio, ICE on the namespace's client address.
    /// Over TLS it pins the gateway's certificate.
    pub fn test_source(gateway: &Gateway, invite: &Invite, width: u32, height: u32) -> Self {
        let mut args = stream_args("test", width, height, netns::CLIENT_IP);
        if let Some(pin) = &invite.tls_pin_sha256 {
            args.extend(["--pin-sha256".to_owned(), pin.clone()]);
        }
        Self::start(gateway, invite, &args)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// [`stream_args`] with the nurse's voice: `microphone` (`test-tone`,
/// `test-silence`) instead of no audio.
pub fn stream_args_with_voice(
    source: &str,
    width: u32,
    height: u32,
    ice_address: &str,
    microphone: &str,
) -> Vec<String> {
    let mut args = stream_args(source, width, height, ice_address);
    args.retain(|arg| arg != "--no-audio");
    args.extend(["--microphone".to_owned(), microphone.to_owned()]);
    args
}

/// Three seconds of noise as a 640x360 video file at 30 fps: every frame
/// is new detail, so the encoder uses every bit it is allowed (the moving
/// test pattern would compress to a fraction of the configured bitrate and
/// never fill a line).
pub fn busy_video(dir: &Path) -> PathBuf {
    use gstreamer::prelude::*;
    let path = dir.join("busy.mp4");
    let description = format!(
        "videotestsrc num-buffers=90 pattern=snow ! \
         video/x-raw,width=640,height=360,framerate=30/1 ! \
         x264enc speed-preset=ultrafast bitrate=12000 key-int-max=30 ! mp4mux ! \
         filesink location={}",
        path.display()
    );
    let pipeline = gstreamer::parse::launch(&description).expect("writer pipeline");
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(30),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("the busy video is written");
    assert!(matches!(msg.view(), gstreamer::MessageView::Eos(_)));
    pipeline.set_state(gstreamer::State::Null).unwrap();
    path
}

/// The arguments of a test-pattern camera (640x360, no audio) that ICE pins
/// to `ice_address` and that trusts the gateway's certificate with `pin`.
pub fn pinned_camera_args(ice_address: &str, pin: &str) -> Vec<String> {
    let mut args = stream_args("test", 640, 360, ice_address);
    args.extend(["--pin-sha256".to_owned(), pin.to_owned()]);
    args
}

/// The daemon's flags to send `source` at `width`x`height`, 30 fps, without
/// audio, ICE on `ice_address`.
pub fn stream_args(source: &str, width: u32, height: u32, ice_address: &str) -> Vec<String> {
    [
        "--source",
        source,
        "--width",
        &width.to_string(),
        "--height",
        &height.to_string(),
        "--fps",
        "30",
        "--no-audio",
        "--ice-address",
        ice_address,
    ]
    .map(str::to_owned)
    .to_vec()
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

/// The gateway binary cargo built for this test.
pub fn gateway_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_samsyn-gateway"))
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

/// The connection test binary (`samsyn-bench`), built beside the
/// gateway's: `cargo build -p samsyn-bench --bin samsyn-bench`.
pub fn bench_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_samsyn-gateway")).with_file_name("samsyn-bench");
    assert!(
        path.exists(),
        "{} is missing; build it first: cargo build -p samsyn-bench --bin samsyn-bench",
        path.display()
    );
    path
}

/// The browser drivers' directory, with their dependencies installed.
pub fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "{} has no node_modules/playwright-core: run scripts/install-deps (npm ci in tests/browser)",
        dir.display()
    );
    dir
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

/// Stops a child that may still run: SIGTERM, then kill after 5 s.
pub fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        terminate(child);
    }
}

pub fn free_tcp_port() -> u16 {
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

/// A hospital's own certificate authority for the TLS tests: its
/// certificate and the issuer that signs the gateway's.
pub fn hospital_ca() -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Hospital test CA");
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}
