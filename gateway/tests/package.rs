//! The Debian packages as hospital and municipal IT use them.
//!
//! `scripts/package` packs the build (lintian and `systemd-analyze verify`
//! run inside it); apt installs both packages on this machine; IT's one
//! edit (the public URL) goes into the installed `/etc/samsyn/gateway.toml`;
//! the gateway's unit's `ExecStart` runs the way systemd would run it (as
//! the package's user, with the unit's capabilities, environment and
//! umask; there is no systemd as PID 1 here); a room made with the packaged
//! defaults carries a stream from the packaged camera daemon to a viewer.
//! Then: what a bad start says, an upgrade that keeps the rooms and keys,
//! and what a purge leaves.
//!
//! It installs for real, so it needs root, runs in a private network
//! namespace like the media tests, and refuses to run where samsyn is
//! installed already. Everything it installs is purged at the end, also
//! when it fails.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samsyn_capture::gateway_tls::GatewayTrust;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Invite, runtime, stop, stream_args};

const UNIT: &str = "/usr/lib/systemd/system/samsyn-gateway.service";
const GATEWAY_CONFIG: &str = "/etc/samsyn/gateway.toml";
const CAPTURE_CONFIG: &str = "/etc/samsyn/capture.toml";
const DATA_DIR: &str = "/var/lib/samsyn";
const SERVICE_USER: &str = "samsyn";
const PACKAGES: [&str; 2] = ["samsyn-gateway", "samsyn-capture"];

#[test]
fn the_packages_install_serve_a_stream_upgrade_and_purge() {
    if !netns::isolate("the_packages_install_serve_a_stream_upgrade_and_purge") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let machine = Machine::before_install();
    let dir = tempfile::tempdir().unwrap();
    let first = package(dir.path(), 1);
    let upgrade = package(dir.path(), 2);
    let _cleanup = PurgeOnDrop(machine);

    // --- Install, as municipal and hospital IT do. -----------------------
    let output = apt(
        &["install", "-y", "--no-install-recommends"],
        &first.all(),
        &[],
    );
    let said = text(&output);
    assert!(
        said.contains("systemctl enable --now samsyn-gateway"),
        "the installation says how to start the gateway:\n{said}"
    );
    for path in [
        "/usr/bin/samsyn-gateway",
        "/usr/bin/samsyn-capture",
        "/usr/bin/samsyn-bench",
        "/usr/share/applications/samsyn-capture.desktop",
        "/usr/share/doc/samsyn-gateway/monitoring/samsyn-gateway-dashboard.json",
        "/usr/share/doc/samsyn-gateway/monitoring/samsyn-alerts.yml",
        "/usr/share/doc/samsyn-gateway/copyright",
        "/usr/share/doc/samsyn-gateway/changelog.Debian.gz",
        UNIT,
        GATEWAY_CONFIG,
        CAPTURE_CONFIG,
    ] {
        assert!(Path::new(path).exists(), "the packages install {path}");
    }
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}\n", "samsyn-gateway"]);
    assert!(
        text(&conffiles).contains(GATEWAY_CONFIG),
        "{GATEWAY_CONFIG} is a conffile"
    );
    let data = std::fs::metadata(DATA_DIR).expect("the package makes the data directory");
    let service_uid = uid_of(SERVICE_USER).expect("the package makes the samsyn user");
    assert_eq!(data.uid(), service_uid, "{DATA_DIR} belongs to samsyn");
    assert_eq!(data.mode() & 0o777, 0o700, "{DATA_DIR} is samsyn's alone");
    let verify = run("systemd-analyze", &["verify", UNIT]);
    assert!(
        verify.status.success(),
        "systemd-analyze verify accepts the installed unit:\n{}",
        text(&verify)
    );

    // IT's one edit: the address people reach the gateway at.
    let public_url = format!("https://{GATEWAY_IP}");
    let config = std::fs::read_to_string(GATEWAY_CONFIG).unwrap();
    let edited = config.replacen(
        "# public_url = \"https://samsyn.example-hospital.no\"",
        &format!("public_url = \"{public_url}\""),
        1,
    );
    assert_ne!(
        config, edited,
        "the packaged gateway.toml offers public_url to fill in"
    );
    std::fs::write(GATEWAY_CONFIG, edited).unwrap();

    // --- A room from the administrator's command line, no flags. ---------
    let invite = room_create();
    assert!(
        invite.whip_url.starts_with(&public_url),
        "{}",
        invite.whip_url
    );
    let room_file = Path::new(DATA_DIR)
        .join("rooms")
        .join(format!("{}.json", invite.room));
    assert_eq!(
        std::fs::metadata(&room_file).unwrap().uid(),
        service_uid,
        "a room made by root belongs to samsyn, so the service can read it"
    );
    let signing_key = std::fs::read(Path::new(DATA_DIR).join("keys/token-signing.pk8")).unwrap();
    // Anyone else is told to use root or samsyn, and changes nothing.
    let stranger = packaged_configuration(Command::new("setpriv"))
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["/usr/bin/samsyn-gateway", "room", "list"])
        .output()
        .expect("setpriv runs");
    assert!(!stranger.status.success(), "{}", text(&stranger));
    assert!(
        text(&stranger).contains("belongs to samsyn; run this command as root"),
        "a user who is neither root nor samsyn is told how to run it: {}",
        text(&stranger)
    );

    // --- The service, as systemd runs it, carries a stream. --------------
    let unit = Unit::read(Path::new(UNIT));
    let mut gateway = unit.start();
    let trust = GatewayTrust::Pinned(
        samsyn_config::parse_sha256_fingerprint(
            invite
                .tls_pin_sha256
                .as_deref()
                .expect("a self-signed gateway's links carry its pin"),
        )
        .expect("a fingerprint"),
    );
    wait_healthy(&public_url, &trust, &mut gateway);
    let camera = packaged_camera(&public_url, &invite);
    runtime().block_on(async {
        let mut viewer = support::start_viewer(&invite).await;
        let report = viewer
            .wait_frames(30, Duration::from_secs(15))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes the packaged camera: {err}"));
        println!(
            "viewer: {} frames of {}x{} through the packaged gateway",
            report.frames, report.width, report.height
        );
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
    assert!(
        camera.terminate().success(),
        "the packaged camera stops cleanly"
    );
    let status = gateway.stop();
    assert!(
        status.success(),
        "the service stops cleanly on SIGTERM: {status}"
    );

    // --- A bad start says what is wrong and what to do, in one line. -----
    bad_starts(&unit);

    // --- An upgrade keeps the rooms, the keys, the trail and IT's edit. --
    apt(
        &["install", "-y", "--no-install-recommends"],
        &upgrade.all(),
        &[],
    );
    let rooms = admin(&["room", "list", "--json"]);
    assert!(
        rooms.contains(&invite.room),
        "the room made before the upgrade is still there: {rooms}"
    );
    assert_eq!(
        std::fs::read(Path::new(DATA_DIR).join("keys/token-signing.pk8")).unwrap(),
        signing_key,
        "the upgrade keeps the signing key (links already sent stay valid)"
    );
    assert!(
        admin(&["audit", "--room", &invite.room]).contains(&invite.room),
        "the upgrade keeps the audit trail"
    );
    assert!(
        std::fs::read_to_string(GATEWAY_CONFIG)
            .unwrap()
            .contains(&format!("public_url = \"{public_url}\"")),
        "the upgrade keeps IT's edit of gateway.toml"
    );

    // --- A purge removes the programs and settings, keeps the data. ------
    let purge = apt(&["purge", "-y"], &PACKAGES.map(String::from), &[]);
    let said = text(&purge);
    assert!(
        said.contains("kept /var/lib/samsyn") && said.contains("SAMSYN_PURGE_DATA=yes"),
        "the purge says it keeps the data and how to remove it:\n{said}"
    );
    for gone in [
        "/usr/bin/samsyn-gateway",
        "/usr/bin/samsyn-capture",
        UNIT,
        GATEWAY_CONFIG,
        CAPTURE_CONFIG,
    ] {
        assert!(!Path::new(gone).exists(), "the purge removes {gone}");
    }
    assert!(room_file.exists(), "the purge keeps the rooms");
    assert!(
        uid_of(SERVICE_USER).is_some(),
        "the samsyn user stays, as Debian keeps system users"
    );

    // ... and removes the data too when asked.
    apt(
        &["install", "-y", "--no-install-recommends"],
        &upgrade.all(),
        &[],
    );
    let purge = apt(
        &["purge", "-y"],
        &PACKAGES.map(String::from),
        &[("SAMSYN_PURGE_DATA", "yes")],
    );
    assert!(
        text(&purge).contains("removed /var/lib/samsyn"),
        "the purge says it removed the data:\n{}",
        text(&purge)
    );
    assert!(
        !Path::new(DATA_DIR).exists(),
        "SAMSYN_PURGE_DATA=yes removes {DATA_DIR}"
    );
}

/// The unit's start, refused in four ways IT meets: each ends the process
/// with one line that names the problem and the fix, and changes nothing.
fn bad_starts(unit: &Unit) {
    let data_dir = Path::new(DATA_DIR);

    // The configuration file unreadable for the service's user.
    set_mode(Path::new(GATEWAY_CONFIG), 0o600);
    unit.refused(
        "an unreadable gateway.toml",
        &["cannot be read", "chmod 0644"],
    );
    set_mode(Path::new(GATEWAY_CONFIG), 0o644);

    // A certificate file that is not there.
    let config = std::fs::read_to_string(GATEWAY_CONFIG).unwrap();
    let with_files = config
        .replacen("# cert_file = ", "cert_file = ", 1)
        .replacen("# key_file = ", "key_file = ", 1);
    assert_ne!(
        config, with_files,
        "the packaged file offers the certificate keys"
    );
    std::fs::write(GATEWAY_CONFIG, with_files).unwrap();
    unit.refused(
        "a missing certificate",
        &[
            "tls.cert_file",
            "/etc/samsyn/tls/fullchain.pem",
            "No such file",
        ],
    );
    std::fs::write(GATEWAY_CONFIG, config).unwrap();

    // The HTTPS port held by another program.
    let holder = std::net::TcpListener::bind("0.0.0.0:443").expect("port 443 is free here");
    unit.refused(
        "port 443 taken",
        &["cannot listen on 0.0.0.0:443", "ss -ltnp"],
    );
    drop(holder);

    // The data directory handed to another user.
    chown(data_dir, 0, 0);
    unit.refused(
        "a data directory owned by root",
        &["belongs to root", "chown -R samsyn:samsyn /var/lib/samsyn"],
    );
    let uid = uid_of(SERVICE_USER).unwrap();
    let gid = gid_of(SERVICE_USER).unwrap();
    chown(data_dir, uid, gid);
}

/// The `.deb` files of one `scripts/package --debug` run.
struct Packages {
    gateway: PathBuf,
    capture: PathBuf,
}

impl Packages {
    fn all(&self) -> [String; 2] {
        [&self.gateway, &self.capture].map(|path| path.display().to_string())
    }
}

/// Packs the tests' build with Debian revision `revision` into `dir`.
fn package(dir: &Path, revision: u32) -> Packages {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/package");
    let out = dir.join(format!("revision-{revision}"));
    let output = Command::new(&script)
        .args(["--debug", "--revision", &revision.to_string(), "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("scripts/package runs");
    println!("{}", text(&output));
    assert!(
        output.status.success(),
        "scripts/package --debug packs the build (lintian, systemd-analyze verify): {}",
        output.status
    );
    let version = env!("CARGO_PKG_VERSION");
    let packages = Packages {
        gateway: out.join(format!("samsyn-gateway_{version}-{revision}_amd64.deb")),
        capture: out.join(format!("samsyn-capture_{version}-{revision}_amd64.deb")),
    };
    for deb in [&packages.gateway, &packages.capture] {
        assert!(deb.exists(), "scripts/package made {}", deb.display());
    }
    packages
}

/// The build directory these tests' binaries are in (`…/debug/deps/..`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_samsyn-gateway"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary sits in <target>/debug/")
        .to_owned()
}

/// What was on the machine before the test installed anything.
struct Machine {
    /// The samsyn user existed already (kept at the end).
    had_user: bool,
}

impl Machine {
    /// Refuses to run where samsyn is installed or has data: the test
    /// purges what it installs and removes the data directory.
    fn before_install() -> Self {
        for package in PACKAGES {
            // "install ok installed", or "deinstall ok config-files" for a
            // package removed but not purged.
            let status = text(&run("dpkg-query", &["-W", "-f=${Status}", package]));
            assert!(
                !status.contains("ok installed") && !status.contains("config-files"),
                "{package} is installed on this machine; this test installs and purges it, so \
                 run it on a throwaway machine (as CI does) or remove the package first"
            );
        }
        for path in [DATA_DIR, GATEWAY_CONFIG, CAPTURE_CONFIG] {
            assert!(
                !Path::new(path).exists(),
                "{path} exists; this test would remove it: run it on a throwaway machine"
            );
        }
        Self {
            had_user: uid_of(SERVICE_USER).is_some(),
        }
    }
}

/// Purges whatever the test installed and removes what it made, also when
/// an assertion failed half-way.
struct PurgeOnDrop(Machine);

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("apt-get")
            .args(["purge", "-y", "-qq"])
            .args(PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("SAMSYN_PURGE_DATA", "yes")
            .output();
        let _ = std::fs::remove_dir_all(DATA_DIR);
        if !self.0.had_user && uid_of(SERVICE_USER).is_some() {
            let _ = Command::new("deluser")
                .args(["--system", "--quiet", SERVICE_USER])
                .output();
            let _ = Command::new("delgroup")
                .args(["--system", "--quiet", SERVICE_USER])
                .output();
        }
    }
}

/// `apt-get <action> <packages>`, asserting success; its output.
fn apt(action: &[&str], packages: &[String], env: &[(&str, &str)]) -> Output {
    let output = Command::new("apt-get")
        .args(action)
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .envs(env.iter().copied())
        .output()
        .expect("apt-get runs");
    println!("{}", text(&output));
    assert!(
        output.status.success(),
        "apt-get {action:?} {packages:?}: {}",
        output.status
    );
    output
}

/// `samsyn-gateway room create --json` as root, with no flags: the
/// packaged configuration.
fn room_create() -> Invite {
    let json = admin(&["room", "create", "--json", "--label", ""]);
    serde_json::from_str(&json).expect("room create prints JSON")
}

/// An administrator's command (as root, no configuration flags); stdout.
fn admin(args: &[&str]) -> String {
    let output = packaged_configuration(Command::new("/usr/bin/samsyn-gateway"))
        .args(args)
        .output()
        .expect("samsyn-gateway runs");
    assert!(
        output.status.success(),
        "samsyn-gateway {args:?} with the packaged configuration: {}",
        text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `command` reading the installed `/etc/samsyn`, as on a machine with the
/// package: without the test run's `SAMSYN_SYSTEM_CONFIG_DIR` (see
/// `scripts/test`) or a `SAMSYN_CONFIG` of the caller's.
fn packaged_configuration(mut command: Command) -> Command {
    command
        .env_remove("SAMSYN_CONFIG")
        .env_remove("SAMSYN_SYSTEM_CONFIG_DIR");
    command
}

/// The `[Service]` lines of the installed unit this test runs by.
struct Unit {
    exec_start: Vec<String>,
    user: String,
    group: String,
    environment: Vec<(String, String)>,
    ambient_capabilities: Vec<String>,
    umask: String,
    no_new_privileges: bool,
}

impl Unit {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let values = |key: &str| -> Vec<String> {
            text.lines()
                .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
                .collect()
        };
        let one = |key: &str| -> String {
            values(key)
                .pop()
                .unwrap_or_else(|| panic!("the unit sets {key}="))
        };
        Self {
            exec_start: one("ExecStart")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            user: one("User"),
            group: one("Group"),
            environment: values("Environment")
                .iter()
                .flat_map(|line| line.split_whitespace())
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            ambient_capabilities: one("AmbientCapabilities")
                .split_whitespace()
                .map(|cap| cap.to_lowercase().trim_start_matches("cap_").to_owned())
                .collect(),
            umask: one("UMask"),
            no_new_privileges: one("NoNewPrivileges") == "yes",
        }
    }

    /// `ExecStart` as systemd would run it: the unit's user and group, its
    /// ambient capabilities and nothing more, its environment and umask.
    fn command(&self) -> Command {
        let capabilities = self
            .ambient_capabilities
            .iter()
            .map(|cap| format!("+{cap}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask \"$0\" && exec \"$@\"", &self.umask, "setpriv"])
            .arg(format!("--reuid={}", self.user))
            .arg(format!("--regid={}", self.group))
            .arg("--init-groups")
            .arg(format!("--inh-caps={capabilities}"))
            .arg(format!("--ambient-caps={capabilities}"));
        if self.no_new_privileges {
            command.arg("--no-new-privs");
        }
        command
            .arg("--")
            .args(&self.exec_start)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(self.environment.iter().map(|(k, v)| (k, v)));
        command
    }

    fn start(&self) -> Service {
        let mut child = self
            .command()
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the unit's ExecStart runs");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("gateway: {line}");
                kept.lock().unwrap().push(line);
            }
        });
        Service { child, log }
    }

    /// Starts the unit and expects it to fail at once with one line that
    /// holds every one of `words`.
    fn refused(&self, case: &str, words: &[&str]) {
        let output = self.command().output().expect("the unit's ExecStart runs");
        assert!(
            !output.status.success(),
            "{case}: the gateway must not start"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("samsyn-gateway:"))
            .collect();
        println!("{case}: {}", errors.join(" | "));
        assert_eq!(
            errors.len(),
            1,
            "{case}: one journal line says what is wrong, got:\n{stderr}"
        );
        for word in words {
            assert!(
                errors[0].contains(word),
                "{case}: the line names {word:?}: {}",
                errors[0]
            );
        }
    }
}

/// The running service.
struct Service {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Service {
    fn stop(&mut self) -> std::process::ExitStatus {
        stop(&mut self.child);
        self.child.wait().unwrap()
    }

    fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(format!("{status}: {}", self.log.lock().unwrap().join("\n")))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Waits for the service's `/healthz`, failing early with its log if it
/// exits.
fn wait_healthy(public_url: &str, trust: &GatewayTrust, service: &mut Service) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(exit) = service.exited() {
            panic!("the service exited at start: {exit}");
        }
        if support::wait_healthy_over_tls(public_url, trust, Duration::from_millis(500)) {
            return;
        }
    }
    panic!("the service does not answer {public_url}/healthz");
}

/// The packaged daemon on the test picture, trusting the link's pin;
/// stopped on drop.
fn packaged_camera(public_url: &str, invite: &Invite) -> Capture {
    let pin = invite.tls_pin_sha256.clone().unwrap();
    let mut args = stream_args("test", 640, 360, CLIENT_IP);
    args.extend(["--pin-sha256".to_owned(), pin]);
    Capture::start_with(
        Command::new("/usr/bin/samsyn-capture"),
        public_url,
        invite,
        &args,
    )
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} runs: {err}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn uid_of(user: &str) -> Option<u32> {
    id_field("/etc/passwd", user)
}

fn gid_of(group: &str) -> Option<u32> {
    id_field("/etc/group", group)
}

/// The id (third field) of `name` in `/etc/passwd` or `/etc/group`.
fn id_field(path: &str, name: &str) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == name).then_some(())?;
            fields.nth(1)?.parse().ok()
        })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}
