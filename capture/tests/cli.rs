//! The `samsyn-capture` binary: help, configuration errors, failures that
//! name their fix, and a clean end of session on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::Peer;

/// The binary without any SAMSYN_* settings from the caller's environment.
fn capture() -> Command {
    let mut cmd = common::capture_command();
    cmd.env("SAMSYN_LOG", "info");
    // These tests stand up a WHIP endpoint, not a gateway: no room events.
    cmd.env("SAMSYN_CONSULTATION", "false");
    // A bare WHIP endpoint has no talk-back to receive from.
    cmd.env("SAMSYN_TALKBACK__ENABLED", "false");
    cmd
}

/// Flags for a small, quick test stream.
const SMALL: &[&str] = &[
    "--source",
    "test",
    "--no-audio",
    "--width",
    "320",
    "--height",
    "240",
    "--fps",
    "15",
    "--bitrate-kbps",
    "300",
];

#[test]
fn help_lists_the_flags() {
    let out = capture().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--gateway",
        "--room",
        "--token",
        "--source",
        "--width",
        "--height",
        "--fps",
        "--codec",
        "--no-audio",
        "--bitrate-kbps",
        "--ice-address",
        "--print-config",
        "--no-talkback",
        "--speaker",
        "--talkback-volume",
        "--photo-mode",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
}

#[test]
fn print_config_shows_the_merged_values() {
    let out = capture()
        .args(["--print-config", "--width", "640", "--codec", "vp8"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8_lossy(&out.stdout);
    assert!(toml.contains("width = 640"), "{toml}");
    assert!(toml.contains("codec = \"vp8\""), "{toml}");
}

#[test]
fn missing_gateway_is_a_configuration_error() {
    let out = capture()
        .args(["--room", "r", "--token", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway"), "{err}");
}

#[test]
fn an_unreachable_gateway_is_retried_with_the_fix_on_screen() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = capture()
        .args([
            "--gateway",
            &format!("http://127.0.0.1:{port}"),
            "--room",
            "ward7",
        ])
        .args(["--token", "secret-publisher-token"])
        .args(SMALL)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The nurse may start the laptop before the network is up: the daemon
    // keeps trying, and says what is wrong and what to check each time.
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon keeps running while the gateway is unreachable"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = common::wait_until(Duration::from_secs(5), || child.try_wait().unwrap())
        .expect("the daemon exits on SIGTERM");
    assert_eq!(exit.code(), Some(0));
    let err = lines.join().unwrap().join("\n");
    assert!(
        err.contains(&format!(
            "gateway unreachable at http://127.0.0.1:{port}/whip/ward7"
        )),
        "{err}"
    );
    assert!(err.contains("reconnecting, 2nd try in "), "{err}");
    assert!(
        err.contains("check --gateway and that samsyn-gateway is running"),
        "the fix is named: {err}"
    );
    assert!(
        err.contains("reconnecting, 3rd try"),
        "tries are counted: {err}"
    );
    assert!(
        err.contains("x264enc chosen"),
        "the encoder choice is logged: {err}"
    );
    assert!(
        !err.contains("secret-publisher-token"),
        "the token is never logged: {err}"
    );
    assert!(!err.contains("v=0"), "no SDP at info level: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_session_and_exits_zero() {
    common::init();
    let peer_slot: Arc<Mutex<Option<Peer>>> = Arc::default();
    let slot = peer_slot.clone();
    let (base, mut requests) = common::whip_endpoint(move |offer| {
        let (peer, answer) = Peer::receiver(&offer);
        *slot.lock().unwrap() = Some(peer);
        answer
    })
    .await;

    let mut child = capture()
        .args([
            "--gateway",
            base.as_str(),
            "--room",
            "ward7",
            "--token",
            "tok",
        ])
        .args(SMALL)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // It asks for relays before each new session, then posts its offer.
    let options = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("the daemon asks for relays")
        .unwrap();
    assert!(
        options.head.starts_with("OPTIONS /whip/ward7 "),
        "{}",
        options.head
    );
    assert_eq!(options.header("authorization"), Some("Bearer tok"));
    let post = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("the daemon posts its offer")
        .unwrap();
    assert!(post.head.starts_with("POST /whip/ward7 "), "{}", post.head);

    // Media flows before we stop it.
    let frames = common::wait_until(Duration::from_secs(10), || {
        let received = peer_slot.lock().unwrap().as_ref()?.received();
        (received.frames >= 5).then_some(received.frames)
    });
    assert!(frames.is_some(), "the peer decodes the daemon's video");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let delete = tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("the daemon deletes its session")
        .unwrap();
    assert!(
        delete.head.starts_with("DELETE /session/1 "),
        "{}",
        delete.head
    );
    assert_eq!(delete.header("authorization"), Some("Bearer tok"));

    let exit = common::wait_until(Duration::from_secs(5), || child.try_wait().unwrap())
        .expect("the daemon exits");
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("peer connection state: connected"),
        "{stderr}"
    );
}

/// [`capture`] reading its default files from `system` (as if it were
/// `/etc/samsyn`) and `<xdg>/samsyn` (the user's).
fn capture_with_config_dirs(system: &std::path::Path, xdg: &std::path::Path) -> Command {
    let mut cmd = capture();
    cmd.env("SAMSYN_SYSTEM_CONFIG_DIR", system)
        .env("XDG_CONFIG_HOME", xdg);
    cmd
}

#[test]
fn print_config_names_the_default_files_and_the_users_overrides_the_systems() {
    let dirs = tempfile::tempdir().unwrap();
    let system = dirs.path().join("etc");
    let user = dirs.path().join("xdg/samsyn");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(system.join("capture.toml"), "width = 640\nfps = 15\n").unwrap();
    std::fs::write(user.join("capture.toml"), "width = 800\n").unwrap();

    let out = capture_with_config_dirs(&system, &dirs.path().join("xdg"))
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with("# config files read"), "{printed}");
    let system_line = printed
        .find(&format!(
            "{} (the system-wide",
            system.join("capture.toml").display()
        ))
        .expect("the system file is named");
    let user_line = printed
        .find(&format!(
            "{} (the user's",
            user.join("capture.toml").display()
        ))
        .expect("the user's file is named");
    assert!(
        system_line < user_line,
        "in the order they apply: {printed}"
    );
    assert!(printed.contains("width = 800"), "{printed}");
    assert!(printed.contains("fps = 15"), "{printed}");

    // --config replaces both.
    let named = dirs.path().join("named.toml");
    std::fs::write(&named, "height = 480\n").unwrap();
    let out = capture_with_config_dirs(&system, &dirs.path().join("xdg"))
        .arg("--print-config")
        .arg("--config")
        .arg(&named)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("(named by --config)"), "{printed}");
    assert!(
        printed.contains("width = 1280") && printed.contains("height = 480"),
        "{printed}"
    );
}

#[test]
fn a_bad_value_or_an_unreadable_default_file_names_the_file() {
    let dirs = tempfile::tempdir().unwrap();
    let system = dirs.path().join("etc");
    std::fs::create_dir_all(&system).unwrap();
    let file = system.join("capture.toml");
    std::fs::write(&file, "width = 641\n").unwrap();
    let run = || {
        capture_with_config_dirs(&system, &dirs.path().join("xdg"))
            .args([
                "--gateway",
                "http://127.0.0.1:9",
                "--room",
                "r",
                "--token",
                "t",
            ])
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("width = 641"), "{err}");
    assert!(
        err.contains(&format!("(from config file {})", file.display())),
        "{err}"
    );

    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "config file {} (the system-wide config file) cannot be read",
            file.display()
        )),
        "{err}"
    );
}
