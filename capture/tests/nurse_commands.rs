//! The nurse's subcommands of `samsyn-capture` as a laptop runs them:
//! `join` with a link that cannot work, `check` without a link, and
//! `install-desktop` registering `samsyn://` links. The join that
//! publishes, and the check of a real line, run against a real gateway in
//! `gateway/tests/nurse_join.rs` and `gateway/tests/nurse_check.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_samsyn-capture");

/// The binary without any SAMSYN_* settings from the caller's environment.
fn capture() -> Command {
    let mut cmd = common::capture_command();
    cmd.env("SAMSYN_LOG", "warn");
    cmd
}

#[test]
fn join_with_a_broken_link_says_so_and_exits_1() {
    let started = Instant::now();
    let output = capture()
        .args([
            "join",
            "https://wound.example.org/n/ward7#tok",
            "--no-browser",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // The screen comes up first, so a nurse sees the sentence too.
    assert!(
        stdout.starts_with("nurse screen: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the link is incomplete")
            && stderr.contains("ask the hospital to send it again"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn join_needs_a_link_and_says_what_it_is() {
    let output = capture().arg("join").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let help = capture().args(["join", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("NURSE_LINK"), "{help}");
    assert!(help.contains("/etc/samsyn/capture.toml"), "{help}");
    assert!(help.contains("--no-browser"), "{help}");
}

#[test]
fn check_without_a_link_checks_the_laptop_and_leaves_the_line() {
    let output = capture()
        .args(["check", "--source", "test", "--microphone", "test-tone"])
        .args(["--speaker", "none", "--width", "320", "--height", "240"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("✓ Camera"), "{stdout}");
    assert!(stdout.contains("✓ Microphone"), "{stdout}");
    assert!(
        stdout.contains("Line to the hospital: not tested"),
        "{stdout}"
    );

    let json = capture()
        .args([
            "check",
            "--json",
            "--source",
            "test",
            "--microphone",
            "test-silence",
        ])
        .args(["--speaker", "none", "--width", "320", "--height", "240"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    // Silence from the microphone: the visit works, with a warning.
    assert_eq!(report["level"], "marginal", "{report}");
    assert_eq!(json.status.code(), Some(1));
}

#[test]
fn a_check_with_a_broken_link_could_not_run() {
    let output = capture()
        .args([
            "check",
            "https://wound.example.org/n/ward7",
            "--source",
            "test",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the link is incomplete"));
}

#[test]
fn install_desktop_makes_samsyn_links_open_join() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("mimeapps.list"),
        "[Default Applications]\ntext/html=firefox.desktop\n",
    )
    .unwrap();
    let output = capture()
        .arg("install-desktop")
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entry = std::fs::read_to_string(
        home.path()
            .join(".local/share/applications/samsyn-capture.desktop"),
    )
    .unwrap();
    assert!(
        entry.contains(&format!("\nExec={BIN} join %u\n")),
        "{entry}"
    );
    assert!(
        entry.contains("MimeType=x-scheme-handler/samsyn;"),
        "{entry}"
    );
    let associations = std::fs::read_to_string(config.join("mimeapps.list")).unwrap();
    assert!(
        associations.contains("x-scheme-handler/samsyn=samsyn-capture.desktop"),
        "{associations}"
    );
    assert!(
        associations.contains("text/html=firefox.desktop"),
        "{associations}"
    );
}
