//! What the bench's end-to-end tests and the gateway CPU benchmark share:
//! the real gateway as a child process, a room from its CLI, the binaries
//! of this build, and shaping a link of the test namespace with `tc`.

#![allow(dead_code)] // Each test binary uses its own subset.

#[path = "../../../gateway/tests/support/firewall.rs"]
pub mod firewall;
#[path = "../../../gateway/tests/support/health.rs"]
pub mod health;
#[path = "../../../gateway/tests/support/netns.rs"]
pub mod netns;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub use samsyn_bench::child::Process;

/// The parts of `samsyn-gateway room create --json` the tests use.
#[derive(Debug, Clone)]
pub struct Invite {
    pub room: String,
    pub publisher_token: String,
    pub viewer_token: String,
    pub whip_url: String,
    pub whep_url: String,
}

/// A running `samsyn-gateway serve`: HTTP on loopback, media on `media_ip`.
pub struct Gateway {
    pub process: Process,
    binary: PathBuf,
    pub data_dir: tempfile::TempDir,
    pub base_url: String,
    pub udp_port: u16,
}

impl Gateway {
    pub fn start(binary: &Path, media_ip: &str, log: &str) -> anyhow::Result<Self> {
        Self::start_with_env(binary, media_ip, log, &[])
    }

    /// [`Gateway::start`] with extra environment variables.
    pub fn start_with_env(
        binary: &Path,
        media_ip: &str,
        log: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let http_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let udp_port = UdpSocket::bind((media_ip, 0))?.local_addr()?.port();
        let base_url = format!("http://127.0.0.1:{http_port}");
        let process = Process::spawn(
            Command::new(binary)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .args(["serve", "--listen", &format!("127.0.0.1:{http_port}")])
                .arg("--data-dir")
                .arg(data_dir.path())
                .args(["--public-url", &base_url])
                .args(["--media-address", media_ip])
                .args(["--media-udp-port", &udp_port.to_string()])
                .envs(env.iter().copied())
                .env("SAMSYN_LOG", log),
        )?;
        let gateway = Self {
            process,
            binary: binary.to_owned(),
            data_dir,
            base_url,
            udp_port,
        };
        let addr = gateway.base_url.trim_start_matches("http://");
        if !health::wait_healthy(addr, Duration::from_secs(10)) {
            bail!("samsyn-gateway did not answer /healthz within 10 s");
        }
        Ok(gateway)
    }

    /// Creates a room with the CLI, as hospital IT would.
    pub fn create_room(&self) -> anyhow::Result<Invite> {
        let output = Command::new(&self.binary)
            .args(["room", "create", "--json"])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--public-url", &self.base_url])
            .output()?;
        if !output.status.success() {
            bail!(
                "room create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let field = |name: &str| -> anyhow::Result<String> {
            json[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("room create --json printed no {name}"))
        };
        Ok(Invite {
            room: field("room")?,
            publisher_token: field("publisher_token")?,
            viewer_token: field("viewer_token")?,
            whip_url: field("whip_url")?,
            whep_url: field("whep_url")?,
        })
    }
}

impl Gateway {
    /// An admin token for the rooms API, from the CLI.
    pub fn admin_token(&self) -> anyhow::Result<String> {
        let output = Command::new(&self.binary)
            .args(["token", "create", "--role", "admin", "--json"])
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .output()?;
        if !output.status.success() {
            bail!(
                "token create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        json["token"]
            .as_str()
            .map(str::to_owned)
            .context("token create --json printed no token")
    }
}

/// The target directory: test and bench binaries are `<target>/<profile>/deps/<name>`.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent()?.parent())
        .map(Path::to_path_buf)
        .with_context(|| format!("{} is not under <target>/<profile>/deps", exe.display()))
}

/// A binary of this build (the profile this test was built with).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests live in <target>/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing; build it first: cargo build --workspace --bins",
        path.display()
    );
    path
}

/// Runs `samsyn-bench` with `args`; its stderr is printed and kept.
pub fn run_bench(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_samsyn-bench"))
        .args(args)
        .output()
        .expect("samsyn-bench runs");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The body of `GET http://{base}{path}` (HTTP/1.1, no client library).
pub fn http_get(base_url: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = base_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Opens an HTML report in headless Chromium (`tests/browser/report-renders.mjs`)
/// with every network request refused; asserts it renders at least
/// `min_charts` plots and returns what the browser saw. A screenshot goes
/// beside the report.
pub fn assert_report_renders(report: &Path, min_charts: usize) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "{} has no node_modules/playwright-core: run scripts/install-deps (npm ci in tests/browser)",
        dir.display()
    );
    let output = Command::new("node")
        .current_dir(&dir)
        .arg("report-renders.mjs")
        .arg("--file")
        .arg(report)
        .args(["--min-charts", &min_charts.to_string()])
        .arg("--screenshot")
        .arg(report.with_extension("png"))
        .output()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the report did not render:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("report-renders: {stdout}");
    serde_json::from_str(stdout.trim()).expect("report-renders.mjs prints one JSON line")
}

/// Where tests leave reports and screenshots for people to look at.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// Shapes what leaves `device` to `kbit` per second (token bucket), with up
/// to 200 ms of queue, as a DSL or 4G uplink has.
pub fn shape(device: &str, kbit: u32) {
    tc(&[
        "qdisc",
        "replace",
        "dev",
        device,
        "root",
        "tbf",
        "rate",
        &format!("{kbit}kbit"),
        "burst",
        "16kb",
        "latency",
        "200ms",
    ]);
}

/// Removes the shaping of `device`.
pub fn unshape(device: &str) {
    tc(&["qdisc", "del", "dev", device, "root"]);
}

fn tc(args: &[&str]) {
    let output = Command::new("tc")
        .args(args)
        .output()
        .expect("tc (iproute2) runs");
    assert!(
        output.status.success(),
        "`tc {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}
