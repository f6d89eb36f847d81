//! The consultation around the video, end to end, through the real gateway
//! and the real capture daemon on the test source:
//!
//! - two specialists' pages in headless Chromium play the video and list
//!   everyone; chat goes from each page to the other and to the nurse's
//!   terminal, and from the nurse's terminal to both pages; a photo the
//!   first page asks for is taken by the daemon larger than the stream and
//!   shows on the second page (driven by `tests/browser/consultation.mjs`);
//! - talk-back: both pages speak through fake microphones and hear each
//!   other, "Mute" and "hold to talk" work, and the daemon hears both
//!   specialists on slots of their own in its mixed output (its status
//!   endpoint's levels) and names who is speaking; a page's volume at
//!   300 % plays three times (9.5 dB) louder than it hears, at 100 % as loud;
//!   the daemon's test tone
//!   (the nurse's voice, in phrases) has both pages list the nurse as
//!   speaking, not in a pause, and speaking again;
//! - the daemon joins the room events over TLS with the pinned certificate;
//! - a consultation ends up in `samsyn-gateway report`, CSV and JSON.
//!
//! In a private network namespace; needs root.

mod support;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use samsyn_capture::status::endpoint;
use support::browser::DriverProgress;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, Invite, browser_dir, runtime, start_viewer};

const NAMES: [&str; 2] = ["Dr. Berg", "Dr. Lie"];
const CAMERA_CHAT: &str = "The foot is turned";

/// The capture daemon with its terminal in pipes: stdin to chat, stdout
/// read line by line on a thread and kept, so each check looks at
/// everything shown so far, whatever order the lines came in.
struct NurseTerminal {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    shown: RefCell<Vec<String>>,
}

impl NurseTerminal {
    /// The daemon on the test source, sending `microphone` (`test-tone`,
    /// `test-silence`) as the nurse's voice.
    fn start(gateway: &Gateway, invite: &Invite, microphone: &str, extra: &[&str]) -> Self {
        let stream = support::stream_args_with_voice("test", 640, 360, CLIENT_IP, microphone);
        let mut child = Command::new(support::capture_binary())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(extra)
            .args(stream)
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
            shown: RefCell::new(Vec::new()),
        }
    }

    /// Types a line, as the nurse would.
    fn type_line(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").expect("the daemon reads its stdin");
        self.stdin.flush().expect("stdin flushes");
    }

    /// Waits until each of `lines` has been shown, in any order.
    fn wait_for_all(&self, lines: &[String], timeout: Duration) {
        for line in lines {
            self.wait_for(line, timeout, |shown| shown == line);
        }
    }

    /// Waits until a line satisfying `pred` has been shown (now or
    /// before); panics after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.shown.borrow().iter().find(|line| pred(line)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.shown.borrow_mut().push(line),
                Err(_) => panic!("the nurse's terminal never showed {what}"),
            }
        }
    }
}

impl Drop for NurseTerminal {
    fn drop(&mut self) {
        support::stop(&mut self.child);
    }
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
fn two_specialists_and_the_nurse_see_each_other_chat_and_take_a_photo() {
    if !netns::isolate("two_specialists_and_the_nurse_see_each_other_chat_and_take_a_photo") {
        return;
    }
    let dir = browser_dir();
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit, district north");
    let status_port = support::free_tcp_port();
    let status_port_arg = status_port.to_string();
    let mut nurse = NurseTerminal::start(
        &gateway,
        &invite,
        "test-tone",
        &["--speaker", "none", "--status-port", &status_port_arg],
    );
    nurse.wait_for("the participant list", Duration::from_secs(30), |line| {
        line.starts_with("in the consultation: this camera (publisher")
    });

    let screenshots = support::artifacts_dir().join("consultation");
    let links: Vec<String> = NAMES
        .iter()
        .map(|name| named_link(&gateway, &invite, name))
        .collect();
    let mut driver = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("consultation.mjs"))
        .args(["--url", &links[0], "--url", &links[1]])
        .args(["--expect-name", NAMES[0], "--expect-name", NAMES[1]])
        .args([
            "--camera-chat",
            CAMERA_CHAT,
            "--timeout-ms",
            "40000",
            "--talk",
            "--nurse-speaks",
        ])
        .arg("--screenshot-prefix")
        .arg(&screenshots)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut progress = DriverProgress::follow("consultation.mjs", &mut driver);
    let mut next_json = || progress.next_json();

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

    // Both pages speak (fake microphones) and hear each other, each listing
    // the other as speaking.
    let talking = next_json();
    assert_eq!(talking["event"], "talking", "{talking}");
    // The daemon hears both specialists, each on a slot of its own, and
    // the mix it plays carries their energy.
    let heard = runtime().block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = endpoint::fetch(&http, status_port).await.ok();
            if let Some(status) = &status {
                let active = status.talkback.slots.iter().filter(|s| s.active).count();
                if active >= 2 && status.talkback.mix_level_db > -55.0 {
                    break status.talkback.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not hear both speakers: {:#?}",
                status.map(|s| s.talkback)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    println!(
        "the daemon hears: mix {:.1} dBFS, slots {:?}",
        heard.mix_level_db,
        heard
            .slots
            .iter()
            .map(|s| format!("{}: {:.1} dBFS", s.slot, s.level_db))
            .collect::<Vec<_>>()
    );
    nurse.wait_for("a specialist speaking", Duration::from_secs(10), |line| {
        NAMES
            .iter()
            .any(|name| line == format!("{name} is speaking"))
    });
    nurse.type_line(CAMERA_CHAT);

    let result = next_json();
    let status = driver.wait().expect("the driver exits");
    assert!(status.success(), "consultation.mjs failed: {result}");
    assert_eq!(result["ok"], true);
    // Above 100 %: checked by consultation.mjs (9.5 dB louder than heard at
    // 300 %, as loud at 100 %, over moments something was heard).
    println!("the first page's volume: {}", result["talk"]["volume"]);
    for percent in ["at300", "at100"] {
        let volume = &result["talk"]["volume"][percent];
        assert!(volume["boostDb"].as_f64().is_some(), "{volume}");
        assert!(
            volume["moments"].as_u64() >= Some(5),
            "heard something: {volume}"
        );
    }
    // The nurse's phrases, as both pages marked them.
    println!("the nurse speaking on both pages: {}", result["nurse"]);
    let changes: Vec<bool> = result["nurse"]["changes"]
        .as_array()
        .expect("the nurse's speaking was followed")
        .iter()
        .map(|change| change["speaking"].as_bool().unwrap())
        .collect();
    assert_eq!(changes, [true, false, true]);
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
                && line.contains("Dr. Berg (specialist, watching")
                && line.contains("Dr. Lie (specialist, watching")
                && line.contains("this camera (publisher, sending")
        },
    );
    let mut expected: Vec<String> = NAMES
        .iter()
        .map(|name| format!("chat: {name} (specialist): Hello from {name}"))
        .collect();
    expected.push(format!("chat: you: {CAMERA_CHAT}"));
    nurse.wait_for_all(&expected, Duration::from_secs(10));

    // The photo: at the test source's still size, larger than the stream.
    let photo = &result["photo"];
    println!(
        "photo: {}x{} JPEG of {} bytes on the second page {} ms after the click, stream {}x{}",
        photo["naturalWidth"],
        photo["naturalHeight"],
        photo["bytes"],
        photo["msFromClick"],
        result["video"]["width"],
        result["video"]["height"]
    );
    assert_eq!(photo["naturalWidth"], 2560);
    assert_eq!(photo["naturalHeight"], 1440);
    assert_eq!(photo["type"], "image/jpeg");
    assert_eq!(
        result["video"]["width"], 640,
        "the stream stayed at its size"
    );
    assert!(photo["bytes"].as_u64().unwrap() > 10_000);
    nurse.wait_for("the photo sent", Duration::from_secs(10), |line| {
        line.starts_with("photo sent (2560x1440, ")
    });

    // Everyone's connection quality, as each measured it: the pages their
    // round trip and loss, the camera its frame rate and bitrate.
    println!("qualities: {}", result["qualities"]);
    for quality in result["qualities"].as_array().unwrap() {
        assert!(
            ["good", "fair", "poor"].contains(&quality["level"].as_str().unwrap_or("")),
            "{quality}"
        );
        if quality["role"] == "specialist" {
            assert!(
                quality["rtt_ms"].as_u64().is_some(),
                "a page's round trip: {quality}"
            );
        } else {
            assert!(
                quality["fps"].as_f64().unwrap_or(0.0) > 0.0,
                "the camera's frame rate: {quality}"
            );
        }
    }
    nurse.wait_for(
        "the specialists' connection quality",
        Duration::from_secs(15),
        |line| {
            line.starts_with("in the consultation: ") && line.matches(" connection").count() == 3
        },
    );
}

#[test]
fn the_nurse_joins_over_tls_trusting_only_the_pinned_certificate() {
    if !netns::isolate("the_nurse_joins_over_tls_trusting_only_the_pinned_certificate") {
        return;
    }
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_room();
    let pin = invite
        .tls_pin_sha256
        .clone()
        .expect("a self-signed gateway's pin");
    let nurse = NurseTerminal::start(&gateway, &invite, "test-silence", &["--pin-sha256", &pin]);
    nurse.wait_for(
        "the participant list over wss://",
        Duration::from_secs(30),
        |line| line.starts_with("in the consultation: this camera (publisher"),
    );
}

#[test]
fn a_finished_consultation_is_in_the_report_without_personal_data() {
    if !netns::isolate("a_finished_consultation_is_in_the_report_without_personal_data") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit, district north");
    let mut camera = Capture::test_source(&gateway, &invite, 640, 360);
    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        viewer
            .wait_frames(30, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes the camera: {err}"));
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
    // The hospital ends the consultation; the running gateway notices on
    // its next housekeeping round and logs it a moment later.
    gateway.end_room(&invite.room);
    let deadline = Instant::now() + Duration::from_secs(30);
    let records = loop {
        let json = gateway.report(&["--room", &invite.room, "--format", "json"]);
        let records: Vec<serde_json::Value> =
            serde_json::from_str(&json).expect("report --format json prints a JSON array");
        if !records.is_empty() || Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // The nurse's daemon stops by itself, cleanly: nothing to retry.
    let stopped = camera.wait_for_exit(Duration::from_secs(20));
    assert!(
        stopped.is_some_and(|status| status.success()),
        "the daemon should stop with success once the hospital ends the consultation: {stopped:?}"
    );
    // Started again with the ended consultation's link: an error (exit 1).
    let mut late = Capture::test_source(&gateway, &invite, 640, 360);
    let refused = late.wait_for_exit(Duration::from_secs(20));
    assert_eq!(
        refused.and_then(|status| status.code()),
        Some(1),
        "a daemon started on an ended consultation's link exits with 1"
    );
    println!("report: {records:#?}");
    assert_eq!(records.len(), 1, "one consultation logged");
    let record = &records[0];
    assert_eq!(record["room"], invite.room.as_str());
    assert_eq!(record["ended_by"], "room ended");
    assert_eq!(
        record["participants"],
        serde_json::json!({"publisher": 1, "specialist": 1, "observer": 0})
    );
    assert!(record["duration_secs"].as_u64().unwrap() >= 1, "{record}");
    // 30 frames of 640x360 went through to the viewer at least.
    for field in ["bytes_from_camera", "bytes_to_viewers"] {
        let bytes = record[field].as_u64().unwrap();
        assert!(bytes > 20_000, "{field} = {bytes}");
    }
    assert!(
        record["bytes_from_camera"].as_u64() >= record["bytes_to_viewers"].as_u64(),
        "one viewer, who joined late, got at most what the camera sent: {record}"
    );
    // The camera's, its talk-back's and the viewer's.
    assert_eq!(record["quality"]["media_sessions"], 3);
    assert_eq!(record["quality"]["camera_reconnects"], 0);
    // The daemon reports its stream every 5 s; the test WHEP viewer reports none.
    assert!(
        record["quality"]["quality_reports"].as_u64().is_some(),
        "{record}"
    );

    let csv = gateway.report(&["--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("room,started_at,ended_at,duration_secs,"));
    assert!(lines[1].starts_with(&format!("{},", invite.room)), "{csv}");
    // Ended by the hospital; no session needed a relay.
    assert!(lines[1].ends_with(",room ended,0"), "{csv}");
    let later = gateway.report(&["--since", "2999-01-01", "--format", "csv"]);
    assert_eq!(later.lines().count(), 1, "only the header: {later}");

    let log = std::fs::read_to_string(gateway.data_dir.path().join("audit/consultations.log"))
        .expect("the log is in the audit directory");
    assert!(!log.contains("Home visit"), "no label in the log: {log}");
    assert!(
        !log.contains(&invite.publisher_token),
        "no token in the log"
    );
}

#[test]
fn a_consultation_running_when_the_gateway_stops_is_logged_as_such() {
    if !netns::isolate("a_consultation_running_when_the_gateway_stops_is_logged_as_such") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let mut gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit, district north");
    let camera = Capture::test_source(&gateway, &invite, 640, 360);
    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        viewer
            .wait_frames(10, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes the camera: {err}"));
        // The gateway stops (an update, a reboot) in mid-consultation.
        gateway.stop();
    });
    drop(camera);
    let json = gateway.report(&["--room", &invite.room, "--format", "json"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    println!("report: {records:#?}");
    assert_eq!(records.len(), 1, "the running consultation was logged");
    assert_eq!(records[0]["ended_by"], "gateway stopped");
    assert_eq!(
        records[0]["participants"],
        serde_json::json!({"publisher": 1, "specialist": 1, "observer": 0})
    );
    // The camera was still sending and the viewer still watching: what the
    // media plane carried until then is counted, not left at zero.
    for field in ["bytes_from_camera", "bytes_to_viewers"] {
        let bytes = records[0][field].as_u64().unwrap_or(0);
        assert!(bytes > 0, "{field} = {bytes}: {}", records[0]);
    }
}
