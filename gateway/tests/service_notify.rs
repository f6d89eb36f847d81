//! The gateway under systemd's `Type=notify`, without systemd: the test
//! plays the service manager on a Unix datagram socket of its own
//! (`NOTIFY_SOCKET`) and asks for a 2 s watchdog (`WATCHDOG_USEC`), then
//! checks what the real `samsyn-gateway serve` tells it. The unit file in
//! `deploy/systemd/` is checked with the real `systemd-analyze`.
//!
//! No media flows here, so no namespace: loopback only.

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the test asks of the gateway's watchdog: pings every second.
const WATCHDOG_USEC: &str = "2000000";

/// The unit file hospital IT installs.
fn unit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd/samsyn-gateway.service")
}

/// The service manager's end of `NOTIFY_SOCKET`.
struct Notifications {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Notifications {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("the notification socket binds");
        Self { socket, path }
    }

    /// The next datagram, or `None` after `timeout`.
    fn next(&self, timeout: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(len) => Some(String::from_utf8_lossy(&buf[..len]).into_owned()),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(err) => panic!("reading the notification socket: {err}"),
        }
    }

    /// Datagrams until one carries `line`; that one last. Panics after
    /// `timeout`, with what did come.
    fn until(&self, line: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(message) = self.next(deadline.saturating_duration_since(Instant::now())) {
            let found = carries(&message, line);
            seen.push(message);
            if found {
                return seen;
            }
        }
        panic!("no {line} within {timeout:?}; the gateway sent {seen:?}");
    }

    /// The times at which datagrams carrying `line` arrived during `span`.
    fn arrivals(&self, line: &str, span: Duration) -> Vec<Instant> {
        let end = Instant::now() + span;
        let mut times = Vec::new();
        while let Some(message) = self.next(end.saturating_duration_since(Instant::now())) {
            if carries(&message, line) {
                times.push(Instant::now());
            }
        }
        times
    }
}

/// Whether a notification datagram (newline-separated `KEY=VALUE`) has `line`.
fn carries(message: &str, line: &str) -> bool {
    message.lines().any(|l| l == line)
}

/// `samsyn-gateway serve` with plain HTTP on loopback, killed on drop.
struct Served {
    child: Child,
    http_port: u16,
    udp_port: u16,
    _data: tempfile::TempDir,
}

impl Served {
    fn start(notifications: &Notifications) -> Self {
        let data = tempfile::tempdir().unwrap();
        let http_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let udp_port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
            .args(["serve", "--listen", &format!("127.0.0.1:{http_port}")])
            .arg("--data-dir")
            .arg(data.path())
            .args(["--media-udp-port", &udp_port.to_string()])
            .args(["--media-address", "127.0.0.1"])
            .env("SAMSYN_LOG", "warn")
            .env("NOTIFY_SOCKET", &notifications.path)
            .env("WATCHDOG_USEC", WATCHDOG_USEC)
            // Unset, the watchdog is meant for whoever reads WATCHDOG_USEC.
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-gateway starts");
        Self {
            child,
            http_port,
            udp_port,
            _data: data,
        }
    }

    /// The status line of one `GET /healthz`, without retrying.
    fn healthz(&self) -> String {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port))
            .expect("the HTTP port accepts a connection");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.lines().next().unwrap_or_default().to_owned()
    }

    fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM reaches the gateway");
    }

    fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not exit within {timeout:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_gateway_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notifications = Notifications::bind(dir.path());
    let mut served = Served::start(&notifications);

    // READY=1 (with a status line), and nothing before it claims a ping.
    let before_ready = notifications.until("READY=1", Duration::from_secs(20));
    let ready = before_ready.last().unwrap();
    assert!(
        ready.lines().any(|l| l.starts_with("STATUS=serving on ")),
        "READY=1 should come with a status: {ready:?}"
    );
    assert!(
        !before_ready.iter().any(|m| carries(m, "WATCHDOG=1")),
        "no watchdog ping before READY=1: {before_ready:?}"
    );

    // Ready means ready: both listeners answer at once, no retry.
    assert_eq!(served.healthz(), "HTTP/1.1 200 OK", "/healthz at READY=1");
    let media_port = std::net::UdpSocket::bind(("127.0.0.1", served.udp_port));
    assert_eq!(
        media_port.map_err(|err| err.kind()).err(),
        Some(std::io::ErrorKind::AddrInUse),
        "the media port should be bound by the gateway at READY=1"
    );

    // WATCHDOG_USEC=2 s: a ping about every second while the media loop turns.
    let span = Duration::from_millis(4_500);
    let pings = notifications.arrivals("WATCHDOG=1", span);
    assert!(
        (3..=6).contains(&pings.len()),
        "expected a watchdog ping about once a second, got {} in {span:?}",
        pings.len()
    );
    let longest_gap = pings
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap();
    assert!(
        longest_gap < Duration::from_millis(1_600),
        "watchdog pings came {longest_gap:?} apart; systemd would have waited 2 s at most"
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    served.terminate();
    notifications.until("STOPPING=1", Duration::from_secs(5));
    let status = served.wait(Duration::from_secs(20));
    assert!(status.success(), "the gateway exited with {status}");
}

/// `systemd-analyze`, or why the test cannot run.
fn systemd_analyze() -> Option<Command> {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(output) if output.status.success() => Some(Command::new("systemd-analyze")),
        Ok(output) => {
            eprintln!(
                "skipped: systemd-analyze --version failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
        Err(err) => {
            eprintln!("skipped: systemd-analyze is not installed ({err}); apt-get install systemd");
            None
        }
    }
}

/// The unit as installed, but starting the binary cargo built (verify
/// insists that ExecStart= names an executable that exists).
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(unit_file()).expect("the unit file is readable");
    let installed = "ExecStart=/usr/bin/samsyn-gateway serve";
    assert!(
        unit.lines().any(|l| l == installed),
        "the unit should start {installed:?}"
    );
    let built = format!("ExecStart={} serve", env!("CARGO_BIN_EXE_samsyn-gateway"));
    let path = dir.join("samsyn-gateway.service");
    std::fs::write(&path, unit.replace(installed, &built)).unwrap();
    path
}

/// Settings `systemd-analyze security` marks as exposure, each kept for a
/// reason: the gateway is a network server that binds port 443 (internet
/// sockets, CAP_NET_BIND_SERVICE given as an ambient capability, the host's
/// network, no IP allow list); it reads the interface list over netlink and
/// logs over a Unix socket; PrivateUsers= would take away the port below
/// 1024; ProtectClock= itself allows reading the RTC; RootDirectory= would
/// need an image of its own, and ProtectSystem= already makes the host's
/// read-only.
const ACCEPTED_EXPOSURES: &[&str] = &[
    "RootDirectory=/RootImage=",
    "AmbientCapabilities=",
    "RestrictAddressFamilies=~AF_NETLINK",
    "RestrictAddressFamilies=~AF_UNIX",
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)",
    "PrivateNetwork=",
    "PrivateUsers=",
    "DeviceAllow=",
    "IPAddressDeny=",
];

/// The overall exposure `systemd-analyze security` measured for this unit.
const MEASURED_EXPOSURE: f64 = 1.5;

#[test]
fn systemd_accepts_the_unit_and_rates_it_well_confined() {
    let Some(_) = systemd_analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());

    // verify exits 0 even for lines it ignores, so any word about the unit
    // (an unknown key, a value it cannot parse) fails the test.
    let verify = systemd_analyze()
        .unwrap()
        .arg("verify")
        .arg(&unit)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "systemd-analyze verify: {said}");
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("samsyn-gateway.service"))
        .collect();
    assert!(
        complaints.is_empty(),
        "systemd-analyze verify complains about the unit:\n{}",
        complaints.join("\n")
    );

    let security = systemd_analyze()
        .unwrap()
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(
        security.status.success(),
        "systemd-analyze security: {report}{}",
        String::from_utf8_lossy(&security.stderr)
    );
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for samsyn-gateway.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{report}"));
    assert!(
        exposure <= MEASURED_EXPOSURE,
        "the unit's exposure rose to {exposure} (it was {MEASURED_EXPOSURE}): a sandboxing \
         setting was loosened or lost\n{report}"
    );
    let unexpected: Vec<&str> = report
        .lines()
        .filter_map(|l| l.strip_prefix("✗ "))
        .filter(|finding| {
            let setting = finding.split_whitespace().next().unwrap_or_default();
            !ACCEPTED_EXPOSURES.contains(&setting)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "systemd-analyze security finds exposures the unit should not have:\n{}",
        unexpected.join("\n")
    );
}
