//! The specialist's page in a real browser: headless Chromium opens the
//! viewer link while the capture daemon publishes the test source, and the
//! video really plays; a wrong link shows a plain message instead of a blank
//! page; after a gateway restart the page plays again by itself. Driven by `tests/browser/viewer-plays.mjs` (Node + playwright-core
//! with the system Chromium). In a private network namespace; needs root.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::netns::{self, GATEWAY_IP};
use support::{Capture, Gateway, Invite, browser_dir, runtime, start_viewer};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// Runs `viewer-plays.mjs` with `args`, in this test's namespace, and
/// returns its JSON line; panics with its diagnostics if it fails.
fn run_driver(args: &[&str]) -> serde_json::Value {
    let dir = browser_dir();
    let started = Instant::now();
    let output = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("viewer-plays.mjs"))
        .args(args)
        .output()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "viewer-plays.mjs failed ({}) after {} ms:\n{stderr}\n{stdout}",
        output.status,
        started.elapsed().as_millis()
    );
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("viewer-plays.mjs printed no JSON line:\n{stdout}\n{stderr}"));
    println!(
        "viewer-plays.mjs took {} ms: {line}",
        started.elapsed().as_millis()
    );
    serde_json::from_str(line).expect("viewer-plays.mjs prints JSON")
}

/// Waits until a WHEP viewer decodes the camera, then leaves, so that the
/// page's time to first frame does not include the camera's start-up.
async fn wait_until_live(invite: &Invite) {
    let mut probe = start_viewer(invite).await;
    probe
        .wait_frames(5, Duration::from_secs(10))
        .await
        .unwrap_or_else(|err| panic!("the camera's video does not decode: {err}"));
    probe.stop().await.expect("WHEP DELETE succeeds");
}

#[test]
fn the_specialists_page_plays_the_live_camera_in_chromium() {
    if !netns::isolate("the_specialists_page_plays_the_live_camera_in_chromium") {
        return;
    }
    browser_dir();
    gstreamer::init().expect("GStreamer initialises");
    let gateway =
        Gateway::start_with_env(GATEWAY_IP, &[("SAMSYN_DISPLAY_NAME", "Wound clinic, test")]);
    let invite = gateway.create_labelled_room("Home visit, district north");
    let camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(wait_until_live(&invite));

    let screenshot = support::artifacts_dir().join("viewer-page.png");
    let size = [WIDTH.to_string(), HEIGHT.to_string()];
    let result = run_driver(&[
        "--url",
        &invite.viewer_link,
        "--width",
        &size[0],
        "--height",
        &size[1],
        "--screenshot",
        screenshot.to_str().expect("a UTF-8 artifact path"),
        "--min-frames",
        "30",
        "--expect-latency",
        "--timeout-ms",
        "20000",
    ]);

    let stats = &result["stats"];
    println!(
        "page: {} frames rendered, {}x{}, first frame {} ms after navigation start; \
         stats: {} fps, {} kbit/s, RTT {} ms, {} packets received, {} lost, codec {}; \
         screenshot {}",
        result["framesRendered"],
        result["videoWidth"],
        result["videoHeight"],
        result["msToFirstFrame"],
        stats["fps"],
        stats["bitrateKbps"],
        stats["rttMs"],
        stats["packetsReceived"],
        stats["packetsLost"],
        stats["codec"],
        screenshot.display()
    );
    assert_eq!(result["ok"], true);
    assert_eq!(result["state"], "live");
    // The page says which consultation this is, and where.
    assert_eq!(result["roomShown"], true);
    assert_eq!(result["roomLabel"], "Home visit, district north");
    assert_eq!(result["gatewayName"], "Wound clinic, test");
    assert_eq!(
        result["title"],
        "Home visit, district north \u{2014} Wound clinic, test"
    );
    assert!(
        result["framesRendered"].as_u64().unwrap_or(0) >= 30,
        "frames rendered: {}",
        result["framesRendered"]
    );
    assert_eq!(result["videoWidth"], WIDTH);
    assert_eq!(result["videoHeight"], HEIGHT);
    assert_eq!(stats["codec"], "H264", "the page receives H.264");
    // The camera's capture times reach the page (same clock here): the
    // delay from capture to the browser's delivery is shown.
    let delay = result["latency"]["ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("the page shows the camera delay: {}", result["latency"]));
    println!("page: camera delay {delay} ms ({})", result["latencyText"]);
    assert!(
        (0.0..1000.0).contains(&delay),
        "a camera delay of {delay} ms on one machine"
    );
    assert_eq!(result["latencyText"], format!("{delay} ms"));
    let first_frame = result["msToFirstFrame"]
        .as_u64()
        .expect("the page records its first frame");
    assert!(
        first_frame < 10_000,
        "the first frame took {first_frame} ms from navigation start"
    );

    let status = camera.terminate();
    assert!(
        status.success(),
        "the capture daemon exits cleanly on SIGTERM: {status}"
    );
}

/// Opens `link` and waits for the page to show the error `code`; keeps a
/// screenshot as `viewer-page-<name>.png`.
fn expect_error(link: &str, code: &str, name: &str) -> serde_json::Value {
    let screenshot = support::artifacts_dir().join(format!("viewer-page-{name}.png"));
    let result = run_driver(&[
        "--url",
        link,
        "--expect-error",
        code,
        "--screenshot",
        screenshot.to_str().expect("a UTF-8 artifact path"),
        "--timeout-ms",
        "15000",
    ]);
    assert_eq!(result["error"]["code"], code);
    result
}

#[test]
fn a_wrong_link_shows_a_plain_message_not_a_blank_page() {
    if !netns::isolate("a_wrong_link_shows_a_plain_message_not_a_blank_page") {
        return;
    }
    browser_dir();
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let other = gateway.create_room();
    let page = format!("{}/r/{}", gateway.base_url, invite.room);

    // A token that is no token: the WHEP POST gets 401 invalid_token.
    let result = expect_error(
        &format!("{page}#token=garbage"),
        "invalid_token",
        "bad-link",
    );
    assert_eq!(result["state"], "error");
    assert_eq!(result["badge"], "Error");
    assert_eq!(result["error"]["status"], 401);
    let message = result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("expired or is wrong") && message.contains("new link"),
        "the page tells the specialist what to do: {message:?}"
    );
    assert_eq!(result["framesRendered"], 0);

    // Another room's genuine viewer token: 403 wrong_room, the same advice.
    let link = format!("{page}#token={}", other.viewer_token);
    let result = expect_error(&link, "wrong_room", "other-room-link");
    assert_eq!(result["error"]["status"], 403);
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired or is wrong"),
        "{}",
        result["message"]
    );

    // This room's own token, expired: said as such.
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let expired = gateway.sign(serde_json::json!({
        "room": invite.room, "role": "specialist", "iat": an_hour_ago - 60,
        "exp": an_hour_ago, "jti": "expired",
    }));
    let link = format!("{page}#token={expired}");
    let result = expect_error(&link, "token_expired", "expired-link");
    assert_eq!(result["error"]["status"], 401);
    assert_eq!(
        result["message"],
        "This link has expired \u{2014} ask the hospital for a new link."
    );

    // The hospital ended the consultation: its genuine link says so.
    gateway.end_room(&invite.room);
    let result = expect_error(&invite.viewer_link, "room_ended", "ended-room");
    assert_eq!(result["error"]["status"], 410);
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("This consultation has ended."),
        "{}",
        result["message"]
    );
    assert_eq!(result["roomShown"], false);
}

#[test]
fn the_page_plays_over_https_from_a_gateway_with_its_own_certificate() {
    if !netns::isolate("the_page_plays_over_https_from_a_gateway_with_its_own_certificate") {
        return;
    }
    browser_dir();
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_labelled_room("Home visit over TLS");
    assert!(invite.viewer_link.starts_with("https://"));
    let camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(wait_until_live(&invite));

    // Chromium trusts exactly the gateway's key, as a person who checked the
    // fingerprint would; the page, its API call, WHEP and the video all run
    // over that.
    let spki = gateway.spki_sha256_base64();
    let screenshot = support::artifacts_dir().join("viewer-page-https.png");
    let size = [WIDTH.to_string(), HEIGHT.to_string()];
    let result = run_driver(&[
        "--url",
        &invite.viewer_link,
        "--trust-spki",
        &spki,
        "--width",
        &size[0],
        "--height",
        &size[1],
        "--screenshot",
        screenshot.to_str().expect("a UTF-8 artifact path"),
        "--timeout-ms",
        "20000",
    ]);
    assert_eq!(result["ok"], true);
    assert_eq!(result["state"], "live");
    assert_eq!(result["roomLabel"], "Home visit over TLS");
    assert_eq!(
        (
            result["videoWidth"].as_u64(),
            result["videoHeight"].as_u64()
        ),
        (Some(u64::from(WIDTH)), Some(u64::from(HEIGHT)))
    );

    // Without trusting that key the browser refuses the page: nothing plays.
    let refused = Command::new("node")
        .current_dir(browser_dir())
        .arg(browser_dir().join("viewer-plays.mjs"))
        .args(["--url", &invite.viewer_link, "--timeout-ms", "5000"])
        .output()
        .expect("node runs");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("ERR_CERT"),
        "an untrusted certificate must not play: {}\n{why}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert!(camera.terminate().success());
}

/// Milliseconds since the Unix epoch: the browser driver's clock.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

#[test]
fn the_page_plays_again_by_itself_after_a_gateway_restart() {
    if !netns::isolate("the_page_plays_again_by_itself_after_a_gateway_restart") {
        return;
    }
    let dir = browser_dir();
    gstreamer::init().expect("GStreamer initialises");
    let mut gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let _camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(wait_until_live(&invite));

    let mut driver = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("viewer-plays.mjs"))
        .args(["--url", &invite.viewer_link, "--recover"])
        .args(["--min-frames", "30", "--timeout-ms", "60000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut stdout = BufReader::new(driver.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("the driver's first line");
    assert_eq!(first.trim(), "live", "the page plays before the restart");

    // The hospital restarts the gateway (an update, a crash): same room,
    // same links. Nobody touches the page or the daemon.
    gateway.start_again();
    let gateway_back = unix_ms();
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the driver's result");
    let mut stderr = String::new();
    driver
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .ok();
    let status = driver.wait().expect("the driver ends");
    assert!(
        status.success(),
        "viewer-plays.mjs --recover failed:\n{stderr}\n{rest}"
    );
    let result: serde_json::Value = serde_json::from_str(
        rest.lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON line: {rest}")),
    )
    .expect("the driver prints JSON");
    let recovery = &result["recovery"];
    let live_again_at = recovery["liveAgainAt"].as_u64().expect("a time");
    let after_gateway = live_again_at.saturating_sub(gateway_back);
    println!(
        "page after a gateway restart: live again {after_gateway} ms after the gateway answered \
         ({} ms after the page lost the stream); states {}; reconnect attempts {}",
        recovery["msLostToLive"], recovery["statesSeen"], recovery["maxAttempt"]
    );
    assert_eq!(result["state"], "live");
    assert!(
        after_gateway < 20_000,
        "the page plays again within 20 s of the gateway's return: {after_gateway} ms"
    );
}
