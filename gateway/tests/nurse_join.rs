//! The nurse's way in, end to end: `samsyn-capture join` with the link
//! `room create --json` gives, through the real gateway over TLS, the real
//! daemon on the test source, and headless Chromium reading her screen
//! beside a specialist's page (`tests/browser/nurse-join.mjs`); and every
//! way a link can be wrong: the exit code, the sentence in the terminal,
//! and the same on her screen.
//!
//! In a private network namespace; needs root.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::browser::DriverProgress;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Gateway, Invite, browser_dir};

const SPECIALIST: &str = "Dr. Berg";
const CHAT: &str = "3,2 cm";

/// `samsyn-capture join <link>` on the test source, its terminal in pipes.
struct Nurse {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Nurse {
    fn join(link: &str, extra: &[&str]) -> Self {
        let stream = support::stream_args_with_voice("test", 640, 360, CLIENT_IP, "test-tone");
        let mut child = Command::new(support::capture_binary())
            .arg("join")
            .arg(link)
            .args(["--no-browser", "--speaker", "none"])
            .args(stream)
            .args(extra)
            .env("SAMSYN_LOG", "warn,samsyn_capture=info")
            .env_remove("SAMSYN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("samsyn-capture starts");
        let (lines, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("nurse terminal: {line}");
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            eprint!("{text}");
            text
        });
        Self {
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// The first line of standard output: `nurse screen: <url>`.
    fn screen_url(&self) -> String {
        let line = self
            .stdout
            .recv_timeout(Duration::from_secs(30))
            .expect("join prints the screen's address first");
        let url = line
            .strip_prefix("nurse screen: ")
            .unwrap_or_else(|| panic!("the first line names the screen: {line}"));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        url.to_owned()
    }

    /// Waits for the exit; the status, what was printed after the screen's
    /// address, and standard error.
    fn finish(mut self, within: Duration) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("samsyn-capture join did not end within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let printed = self.stdout.try_iter().collect();
        let stderr = self
            .stderr
            .take()
            .map(|reader| reader.join().expect("stderr read"))
            .unwrap_or_default();
        (status, printed, stderr)
    }
}

impl Drop for Nurse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A specialist's page link with a name on its token.
fn named_link(gateway: &Gateway, invite: &Invite, name: &str) -> String {
    let now = unix_now();
    let token = gateway.sign(serde_json::json!({
        "room": invite.room, "role": "specialist", "name": name,
        "iat": now, "exp": now + 3600, "jti": "test-berg",
    }));
    format!("{}/r/{}#token={token}", gateway.base_url, invite.room)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn one_link_starts_everything_and_her_screen_shows_the_consultation() {
    if !netns::isolate("one_link_starts_everything_and_her_screen_shows_the_consultation") {
        return;
    }
    let dir = browser_dir();
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit, district north");
    assert!(
        invite.nurse_link.contains("/n/") && invite.nurse_link.contains("&pin="),
        "a self-signed gateway's nurse link carries its pin"
    );
    let nurse = Nurse::join(&invite.nurse_link, &[]);
    let screen = nurse.screen_url();

    let screenshots = support::artifacts_dir().join("nurse-join");
    std::fs::create_dir_all(&screenshots).unwrap();
    let mut driver = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("nurse-join.mjs"))
        .args(["--screen", &screen])
        .args(["--specialist", &named_link(&gateway, &invite, SPECIALIST)])
        .args(["--name", SPECIALIST, "--chat", CHAT])
        .args(["--trust-spki", &gateway.spki_sha256_base64()])
        .arg("--screenshot-dir")
        .arg(&screenshots)
        .args(["--timeout-ms", "40000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut progress = DriverProgress::follow("nurse-join.mjs", &mut driver);
    let mut next_json = || progress.next_json();

    let ready = next_json();
    assert_eq!(ready["event"], "ready", "{ready}");
    assert_eq!(ready["langs"], serde_json::json!(["nb", "en"]));
    let live = ready["liveWords"].to_string();
    assert!(live.contains("Spesialisten ser deg"), "{live}");
    let photo = ready["photoWords"].to_string();
    assert!(photo.contains(SPECIALIST), "{photo}");
    // The check from her screen measured the real line, in Norwegian.
    let check = &ready["check"];
    assert_eq!(check["verdict"], "good", "{check}");
    assert!(
        check["headline"].as_str().is_some_and(|h| !h.is_empty()),
        "{check}"
    );

    gateway.end_room(&invite.room);
    let done = next_json();
    assert_eq!(done["ok"], true, "{done}");
    let ended = done["endedWords"].to_string();
    assert!(ended.contains("Konsultasjonen er avsluttet"), "{ended}");
    assert!(driver.wait().unwrap().success());

    let (status, printed, _) = nurse.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "a room ended under her ends with 0");
    assert!(
        printed
            .iter()
            .any(|l| l.contains("Konsultasjonen er avsluttet")),
        "{printed:?}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&format!("chat: {SPECIALIST} (specialist): {CHAT}"))),
        "the terminal shows the chat too: {printed:?}"
    );
}

/// Runs `join` with a link that cannot work; its exit code, the terminal's
/// words, and what the screen said.
fn refused(link: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let nurse = Nurse::join(link, extra);
    let screen = nurse.screen_url();
    let view = screen_view(&screen);
    let (status, _, stderr) = nurse.finish(Duration::from_secs(60));
    (status.code(), stderr, view)
}

/// The screen's link state once it has settled on a refusal, read as its
/// page reads it: over its WebSocket.
fn screen_view(screen: &str) -> serde_json::Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}ws", screen.replacen("http://", "ws://", 1));
    support::runtime().block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("the screen's socket opens with its secret");
        let read = async {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let message: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                let link = &message["view"]["link"];
                if ["refused", "ended", "stopped"].contains(&link["state"].as_str().unwrap_or("")) {
                    return link.clone();
                }
            }
            panic!("the screen's socket closed before a final state");
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("a final state within 30 s")
    })
}

#[test]
fn a_link_that_cannot_work_says_why_in_the_terminal_and_on_her_screen() {
    if !netns::isolate("a_link_that_cannot_work_says_why_in_the_terminal_and_on_her_screen") {
        return;
    }
    browser_dir();
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_room();

    // Cut off before its token.
    let cut = invite.nurse_link.split('#').next().unwrap().to_owned();
    let (code, stderr, view) = refused(&cut, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the link is incomplete"), "{stderr}");
    assert_eq!(view["problem"], "malformed_link", "{view}");

    // Not a samsyn link at all.
    let (code, stderr, _) = refused("https://example.org/some/page", &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not a samsyn link"), "{stderr}");

    // Expired: a token the gateway signed, its time over.
    let now = unix_now();
    let expired = gateway.sign(serde_json::json!({
        "room": invite.room, "role": "publisher", "name": "camera",
        "iat": now - 7200, "exp": now - 60, "jti": "test-expired",
    }));
    let link = invite.nurse_link.replace(&invite.publisher_token, &expired);
    let (code, stderr, view) = refused(&link, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the link has expired"), "{stderr}");
    assert_eq!(view["problem"], "token_expired", "{view}");

    // A pin that is not the gateway's: nothing is sent to it.
    let pin = invite.nurse_link.split("&pin=").nth(1).unwrap().to_owned();
    let other_pin: String = pin
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let link = invite.nurse_link.replace(&pin, &other_pin);
    let (code, stderr, view) = refused(&link, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(view["problem"], "certificate_not_accepted", "{view}");

    // IT set up this laptop for another gateway.
    let (code, stderr, view) = refused(
        &invite.nurse_link,
        &["--gateway", "https://wound.example.org"],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("this laptop is set up for https://wound.example.org"),
        "{stderr}"
    );
    assert_eq!(view["problem"], "other_gateway", "{view}");

    // A consultation that had ended before she joined.
    gateway.end_room(&invite.room);
    let (code, stderr, view) = refused(&invite.nurse_link, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.to_lowercase().contains("ended"), "{stderr}");
    assert_eq!(view["problem"], "room_ended", "{view}");
}
