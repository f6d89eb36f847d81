//! The consultation around the video, end to end: two specialists' pages in
//! headless Chromium and the real capture daemon on the test source, through
//! the real gateway. Both pages play the video and list everyone; chat goes
//! from each page to the other and to the nurse's terminal, and from the
//! nurse's terminal to both pages. Driven by
//! `tests/browser/consultation.mjs`. In a private network namespace; needs root.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Gateway, Invite};

const NAMES: [&str; 2] = ["Dr. Berg", "Dr. Lie"];
const CAMERA_CHAT: &str = "The foot is turned";

/// The capture daemon with its terminal in pipes: stdin to chat, stdout
/// read line by line on a thread.
struct NurseTerminal {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl NurseTerminal {
    fn start(gateway: &Gateway, invite: &Invite, extra: &[&str]) -> Self {
        let mut child = Command::new(support::capture_binary())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(extra)
            .args(["--source", "test", "--width", "640", "--height", "360"])
            .args(["--fps", "30", "--no-audio", "--ice-address", CLIENT_IP])
            .env("SAMSYN_TOKEN", &invite.publisher_token)
            .env("SAMSYN_LOG", "warn,samsyn_capture=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("samsyn-capture starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                println!("nurse's terminal: {line}");
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Types a line, as the nurse would.
    fn type_line(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").expect("the daemon reads its stdin");
        self.stdin.flush().expect("stdin flushes");
    }

    /// Waits until each of `lines` has been shown, in any order.
    fn wait_for_all(&self, lines: &[String], timeout: Duration) {
        let mut missing: Vec<&String> = lines.iter().collect();
        let deadline = Instant::now() + timeout;
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => missing.retain(|wanted| **wanted != line),
                Err(_) => panic!("the nurse's terminal never showed {missing:?}"),
            }
        }
    }

    /// Waits for a line that satisfies `pred`; panics after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("the nurse's terminal never showed {what}"),
            }
        }
    }
}

impl Drop for NurseTerminal {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "{} has no node_modules/playwright-core: run scripts/install-deps (npm ci in tests/browser)",
        dir.display()
    );
    dir
}

/// A specialist's link with a named token, as `token create --name` makes.
fn named_link(gateway: &Gateway, invite: &Invite, name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = gateway.sign(serde_json::json!({
        "room": invite.room, "role": "specialist", "name": name,
        "iat": now, "exp": now + 3600, "jti": format!("test-{}", name.replace(['.', ' '], "")),
    }));
    format!("{}/r/{}#token={token}", gateway.base_url, invite.room)
}

#[test]
fn two_specialists_and_the_nurse_see_each_other_and_chat() {
    if !netns::isolate("two_specialists_and_the_nurse_see_each_other_and_chat") {
        return;
    }
    let dir = browser_dir();
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit, district north");
    let mut nurse = NurseTerminal::start(&gateway, &invite, &[]);
    nurse.wait_for("the participant list", Duration::from_secs(30), |line| {
        line.starts_with("in the consultation: this camera (publisher")
    });

    let screenshots = support::artifacts_dir().join("consultation");
    let links: Vec<String> = NAMES
        .iter()
        .map(|name| named_link(&gateway, &invite, name))
        .collect();
    let started = Instant::now();
    let mut driver = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("consultation.mjs"))
        .args(["--url", &links[0], "--url", &links[1]])
        .args(["--expect-name", NAMES[0], "--expect-name", NAMES[1]])
        .args(["--camera-chat", CAMERA_CHAT, "--timeout-ms", "40000"])
        .arg("--screenshot-prefix")
        .arg(&screenshots)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut progress = BufReader::new(driver.stdout.take().expect("piped stdout")).lines();
    let mut next_json = || -> serde_json::Value {
        let line = progress
            .next()
            .unwrap_or_else(|| panic!("consultation.mjs ended without a result (see its stderr)"))
            .expect("UTF-8 output");
        println!(
            "consultation.mjs after {} ms: {line}",
            started.elapsed().as_millis()
        );
        serde_json::from_str(&line).expect("consultation.mjs prints JSON lines")
    };

    // Both pages play and list everyone: now the nurse writes.
    let joined = next_json();
    assert_eq!(joined["event"], "joined", "{joined}");
    for listed in joined["listed"].as_array().unwrap() {
        let text = listed.to_string();
        assert!(
            text.contains("Dr. Berg") && text.contains("Dr. Lie"),
            "{text}"
        );
        assert!(text.contains("camera live"), "{text}");
    }
    nurse.type_line(CAMERA_CHAT);

    let result = next_json();
    let status = driver.wait().expect("the driver exits");
    assert!(status.success(), "consultation.mjs failed: {result}");
    assert_eq!(result["ok"], true);
    let chat = result["chat"].to_string();
    for text in ["Hello from Dr. Berg", "Hello from Dr. Lie", CAMERA_CHAT] {
        assert!(chat.contains(text), "{text} reached the pages: {chat}");
    }

    // The nurse's terminal lists both specialists watching, shows its own
    // message, and both pages' messages with their names.
    nurse.wait_for(
        "both specialists watching",
        Duration::from_secs(10),
        |line| {
            line.starts_with("in the consultation: ")
                && line.contains("Dr. Berg (specialist, watching)")
                && line.contains("Dr. Lie (specialist, watching)")
                && line.contains("this camera (publisher, sending)")
        },
    );
    let mut expected: Vec<String> = NAMES
        .iter()
        .map(|name| format!("chat: {name} (specialist): Hello from {name}"))
        .collect();
    expected.push(format!("chat: you: {CAMERA_CHAT}"));
    nurse.wait_for_all(&expected, Duration::from_secs(10));
}

#[test]
fn the_nurse_joins_over_tls_trusting_only_the_pinned_certificate() {
    if !netns::isolate("the_nurse_joins_over_tls_trusting_only_the_pinned_certificate") {
        return;
    }
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_room();
    let pin = invite.tls_pin_sha256.clone().expect("a self-signed gateway's pin");
    let nurse = NurseTerminal::start(&gateway, &invite, &["--pin-sha256", &pin]);
    nurse.wait_for(
        "the participant list over wss://",
        Duration::from_secs(30),
        |line| line.starts_with("in the consultation: this camera (publisher"),
    );
}
