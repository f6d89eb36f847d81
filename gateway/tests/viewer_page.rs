//! The specialist's page in a real browser: headless Chromium opens the
//! viewer link while the capture daemon publishes the test source, and the
//! video really plays; a wrong link shows a plain message instead of a blank
//! page; after a gateway restart the page plays again by itself; when the
//! page's own network drops for a few seconds it restarts ICE on the same
//! WHEP session. The pages speak the browser's language, and the nurse's
//! page offers to open the nurse's link in samsyn. Driven by
//! `tests/browser/viewer-plays.mjs` and `page-language.mjs` (Node +
//! playwright-core with the system Chromium). In a private network
//! namespace; needs root.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::browser::{driver_result, run_driver, run_viewer_page};
use support::link::{self, Impairment, NEAR_IP};
use support::netns::{self, GATEWAY_IP};
use support::{Capture, Gateway, Invite, browser_dir, runtime, start_viewer};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// Waits until a WHEP viewer decodes the camera, then leaves, so that the
/// page's time to first frame does not include the camera's start-up.
async fn wait_until_live(invite: &Invite) {
    let mut viewer = start_viewer(invite).await;
    viewer
        .wait_frames(5, Duration::from_secs(10))
        .await
        .unwrap_or_else(|err| panic!("the camera's video does not decode: {err}"));
    viewer.stop().await.expect("WHEP DELETE succeeds");
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
    let result = run_viewer_page(&[
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

/// Opens `link` in an English browser and waits for the page to show the
/// error `code`; keeps a screenshot as `viewer-page-<name>.png`.
fn expect_error(link: &str, code: &str, name: &str) -> serde_json::Value {
    let screenshot = support::artifacts_dir().join(format!("viewer-page-{name}.png"));
    let result = run_viewer_page(&[
        "--url",
        link,
        "--lang",
        "en-US",
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
    assert_eq!(result["lang"], "en");
    assert_eq!(result["badge"], "Error");
    assert_eq!(result["messageKey"], "msg.badLink");
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
    assert_eq!(result["messageKey"], "msg.badLink");
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
    assert_eq!(result["messageKey"], "msg.expired");
    assert_eq!(
        result["message"],
        "This link has expired \u{2014} ask the hospital for a new link."
    );

    // The hospital ended the consultation: its genuine link says so.
    gateway.end_room(&invite.room);
    let result = expect_error(&invite.viewer_link, "room_ended", "ended-room");
    assert_eq!(result["error"]["status"], 410);
    assert_eq!(result["messageKey"], "msg.ended");
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
    let result = run_viewer_page(&[
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
    let result = driver_result("viewer-plays.mjs --recover", status, &rest, &stderr);
    let recovery = &result["recovery"];
    let live_again_at = recovery["liveAgainAt"].as_u64().expect("a time");
    let after_gateway = live_again_at.saturating_sub(gateway_back);
    println!(
        "page after a gateway restart: live again {after_gateway} ms after the gateway answered \
         ({} ms after the page lost the stream); states {}; reconnect attempts {}",
        recovery["msLostToLive"], recovery["statesSeen"], recovery["maxAttempt"]
    );
    for line in recovery["console"].as_array().into_iter().flatten() {
        println!("  page: {}", line.as_str().unwrap_or_default());
    }
    assert_eq!(result["state"], "live");
    assert!(
        after_gateway < 20_000,
        "the page plays again within 20 s of the gateway's return: {after_gateway} ms"
    );
}

/// The specialists who joined `room` by WHEP, from the gateway's audit trail.
fn specialist_sessions(gateway: &Gateway, room: &str) -> usize {
    let (who, _) = gateway.who_was_there(room);
    who.lines()
        .filter(|line| line.trim_start().starts_with("specialist"))
        .count()
}

#[test]
fn the_page_restarts_ice_on_the_same_session_when_its_network_drops() {
    const NAME: &str = "the_page_restarts_ice_on_the_same_session_when_its_network_drops";
    let Some(path) = link::isolate_with_link(NAME) else {
        return;
    };
    let dir = browser_dir();
    gstreamer::init().expect("GStreamer initialises");
    // The gateway and the camera on this side; the specialist's browser on
    // the far side of an emulated path (its Wi-Fi), which the test cuts.
    let gateway = Gateway::start_on(&[GATEWAY_IP, NEAR_IP]);
    let invite = gateway.create_room();
    let _camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(wait_until_live(&invite));
    let http = path.relay_to_near(gateway.http_port);
    let page_link =
        invite
            .viewer_link
            .replacen(&gateway.base_url, &format!("http://127.0.0.1:{http}"), 1);

    let mut driver = path
        .far_command("node")
        .current_dir(&dir)
        .arg(dir.join("viewer-plays.mjs"))
        .args(["--url", &page_link, "--ice-restart"])
        .args(["--min-frames", "30", "--timeout-ms", "60000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let mut stdout = BufReader::new(driver.stdout.take().expect("piped stdout"));
    let mut stderr = driver.stderr.take().expect("piped stderr");
    let mut next_line = |what: &str| {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the driver's output");
        if line.trim().is_empty() {
            let mut why = String::new();
            stderr.read_to_string(&mut why).ok();
            panic!("viewer-plays.mjs --ice-restart ended before {what}:\n{why}");
        }
        line
    };
    assert_eq!(next_line("the video played").trim(), "live");

    // The path goes dead for 4 s, and stays dead until the page has begun
    // its ICE restart (it does after 3 s without a packet, so usually
    // within the 4 s; Chromium itself says 'disconnected' only later).
    path.set_both(Impairment::blackout());
    let cut = unix_ms();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(next_line("an ICE restart").trim(), "restarting");
    path.set_both(Impairment::clean());
    let restored = unix_ms();

    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the driver's result");
    let mut why = String::new();
    stderr.read_to_string(&mut why).ok();
    let status = driver.wait().expect("the driver ends");
    let result = driver_result("viewer-plays.mjs --ice-restart", status, &rest, &why);
    let restart = &result["iceRestart"];
    let connected_at = restart["connectedAt"].as_u64().expect("a time");
    let restart_at = restart["restartAt"].as_u64().expect("a time");
    println!(
        "page after its path was cut: ICE restart begun {} ms after the cut, the path back \
         after {} ms, connected again {} ms after that; video live again at {}; states {}; \
         path {} -> {}",
        restart_at.saturating_sub(cut),
        restored - cut,
        connected_at.saturating_sub(restored),
        restart["liveAgainAt"]
            .as_u64()
            .map_or("(not seen)".to_owned(), |t| format!(
                "+{} ms",
                t.saturating_sub(restored)
            )),
        restart["statesSeen"],
        restart["pathBefore"],
        result["path"]
    );
    for line in restart["console"].as_array().into_iter().flatten() {
        println!("  page: {}", line.as_str().unwrap_or_default());
    }
    assert_eq!(result["state"], "live");
    assert!(
        result["iceRestarts"].as_u64().unwrap_or(0) >= 1
            && result["iceRestartsConnected"].as_u64().unwrap_or(0) >= 1,
        "the page restarted ICE: {result}"
    );
    // The same WHEP session: no new POST from the page, none seen by the gateway.
    assert_eq!(
        result["sessionsStarted"], restart["sessionsStartedBefore"],
        "{result}"
    );
    assert_eq!(result["sessionsStarted"], 1, "{result}");
    assert_eq!(result["sessionUrl"], restart["sessionUrlBefore"]);
    assert_eq!(
        specialist_sessions(&gateway, &invite.room),
        2,
        "the gateway saw the test viewer's WHEP session and the page's, no third"
    );
    assert_eq!(result["path"], "udp");
}

#[test]
fn the_page_builds_its_connection_with_the_relays_announced_on_options() {
    if !netns::isolate("the_page_builds_its_connection_with_the_relays_announced_on_options") {
        return;
    }
    browser_dir();
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let _camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(wait_until_live(&invite));

    // Relays nobody runs (a closed port): the page plays directly all the
    // same, without waiting for them. (Whether Chromium gets to try them
    // depends on how soon the direct path works: it stops gathering then;
    // relay.rs has the page go through a real one.) Several Link headers
    // as fetch() joins them, with commas and semicolons inside quoted
    // credentials, and links the page must pass over.
    let port = support::free_tcp_port();
    let turn = format!("turn:{GATEWAY_IP}:{port}?transport=tcp");
    let turns = format!("turns:{GATEWAY_IP}:{port}?transport=tcp");
    let stun = format!("stun:{GATEWAY_IP}:{port}");
    let links = [
        format!(
            r#"<{turn}>; rel="ice-server"; username="1700000000:abc"; credential="pw, with; \"quotes\""; credential-type="password""#
        ),
        "</r/assets/viewer.css>; rel=preload".to_owned(),
        format!(r#"<{turns}>;rel="ice-server";username="1700000000:abc";credential="second,secret""#),
        format!(r#"<{stun}>; rel=ice-server"#),
        format!(
            r#"<turn:{GATEWAY_IP}:{port}>; rel="ice-server"; username="oauth-user-7731"; credential="oauth-token"; credential-type="oauth""#
        ),
        r#"<https://example.invalid/turn>; rel="ice-server"; username="web-user-7732"; credential="web-secret""#
            .to_owned(),
    ]
    .join(", ");
    let result = run_viewer_page(&[
        "--url",
        &invite.viewer_link,
        "--options-link",
        &links,
        "--min-frames",
        "30",
        "--timeout-ms",
        "20000",
    ]);
    println!(
        "page with unreachable relays: first frame {} ms after navigation start; \
         relays {}; candidate errors {}; path {}",
        result["msToFirstFrame"],
        result["iceServers"],
        result["iceCandidateErrors"],
        result["path"]
    );
    assert_eq!(result["state"], "live");
    assert!(result["optionsAnswered"].as_u64().unwrap_or(0) >= 1);
    // What the connection was configured with (its getConfiguration()).
    assert_eq!(
        result["iceServers"],
        serde_json::json!([turn, turns, stun]),
        "turn:, turns: and stun: links with password credentials, in order"
    );
    assert_eq!(
        result["secretsShown"],
        serde_json::json!([]),
        "no relay credential in the console or the page"
    );
    assert_eq!(result["path"], "udp");
    assert_eq!(
        result["pathText"], "direct (UDP)",
        "the page says (in the driver's English) the media is not relayed"
    );
}

/// `samsyn-gateway room create --json` for `gateway`, the whole object
/// (support's `Invite` reads only the fields the media tests need).
fn room_create_json(gateway: &Gateway, label: &str) -> serde_json::Value {
    let mut command = Command::new(support::gateway_binary());
    command
        .args(["room", "create", "--json", "--label", label])
        .arg("--data-dir")
        .arg(gateway.data_dir.path())
        .args(["--public-url", &gateway.base_url]);
    if gateway.tls {
        command.arg("--tls");
    }
    let output = command.output().expect("samsyn-gateway room create runs");
    assert!(
        output.status.success(),
        "room create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("room create --json prints one JSON object")
}

#[test]
fn the_pages_speak_the_browsers_language_and_the_nurses_page_opens_samsyn() {
    const NAME: &str = "the_pages_speak_the_browsers_language_and_the_nurses_page_opens_samsyn";
    if !netns::isolate(NAME) {
        return;
    }
    browser_dir();
    // HTTPS with a self-signed certificate: the nurse's link pins it.
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = room_create_json(&gateway, "Hjemmebesøk");
    let room = invite["room"].as_str().expect("a room");
    let token = invite["publisher_token"]
        .as_str()
        .expect("a publisher token");
    let pin = gateway.pin().replace(':', "").to_lowercase();
    assert_eq!(invite["tls_pin_sha256"], gateway.pin());
    let nurse_link = invite["nurse_link"]
        .as_str()
        .expect("room create --json gives the nurse's link");
    assert_eq!(
        nurse_link,
        format!("{}/n/{room}#token={token}&pin={pin}", gateway.base_url)
    );
    let viewer_link = invite["viewer_link"].as_str().expect("a viewer link");

    // No camera: the specialist's page waits for it, in the browser's language.
    let screenshots = support::artifacts_dir().join("page-language");
    std::fs::create_dir_all(&screenshots).expect("the screenshot folder");
    let spki = gateway.spki_sha256_base64();
    let result = run_driver(
        "page-language.mjs",
        &[
            "--viewer-url",
            viewer_link,
            "--nurse-url",
            nurse_link,
            "--trust-spki",
            &spki,
            "--screenshot-dir",
            screenshots.to_str().expect("a UTF-8 artifact path"),
            "--timeout-ms",
            "20000",
        ],
    );
    assert_eq!(result["ok"], true);
    assert!(
        !result.to_string().contains(token),
        "the driver prints no token"
    );

    // The button's link: the nurse's link under the scheme samsyn (the
    // driver prints it with the token as "…").
    let app_link = nurse_link
        .replacen("https://", "samsyn://", 1)
        .replace(token, "\u{2026}");
    let nb = [
        "Venter på kamera",
        "Slå på lyd fra sykepleier",
        "Demp mikrofonen min",
        "Åpne i samsyn",
        "Denne lenken åpner kameraprogrammet samsyn på den bærbare PC-en",
        "Lenken er ufullstendig",
    ];
    let nn = [
        "Ventar på kamera",
        "Slå på lyd frå sjukepleiar",
        "Demp mikrofonen min",
        "Opne i samsyn",
        "Denne lenkja opnar kameraprogrammet samsyn på den berbare PC-en",
        "Lenkja er ufullstendig",
    ];
    let en = [
        "Waiting for camera",
        "Hear the nurse",
        "Mute my microphone",
        "Open in samsyn",
        "This link opens the camera program samsyn on the laptop",
        "The link is incomplete",
    ];
    let cases = result["cases"].as_array().expect("the cases");
    for (name, lang, words) in [
        ("nb", "nb", nb),
        ("en-US", "en", en),
        ("nb-lang-en", "en", en),
        ("nn", "nn", nn),
        ("no", "nb", nb),
        ("en-US-lang-nb", "nb", nb),
    ] {
        let [waiting, sound, microphone, open, what, incomplete] = words;
        let case = cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {result}"));
        let (viewer, nurse) = (&case["viewer"], &case["nurse"]);
        println!(
            "{name}: browser {} -> {}: {}, {}, {}; nurse: {}",
            viewer["navigatorLanguages"],
            viewer["htmlLang"],
            viewer["badge"],
            viewer["sound"],
            viewer["microphone"],
            nurse["button"]
        );
        assert_eq!(viewer["htmlLang"], lang, "{name}: {case}");
        assert_eq!(viewer["state"], "waiting", "{name}");
        assert_eq!(viewer["messageKey"], "msg.waiting", "{name}");
        assert_eq!(viewer["badge"], waiting, "{name}");
        assert_eq!(viewer["sound"], sound, "{name}");
        assert_eq!(viewer["microphone"], microphone, "{name}");
        assert_eq!(nurse["htmlLang"], lang, "{name}");
        assert_eq!(nurse["state"], "ready", "{name}");
        assert_eq!(nurse["button"], open, "{name}");
        assert!(
            nurse["lead"].as_str().unwrap_or_default().starts_with(what),
            "{name}: {}",
            nurse["lead"]
        );
        assert_eq!(nurse["href"], app_link.as_str(), "{name}");
        assert_eq!(nurse["hrefMatches"], true, "{name}");
        assert_eq!(nurse["hasPin"], true, "{name}");
        assert!(
            nurse["fontSizePx"].as_f64().unwrap_or(0.0) >= 24.0,
            "{name}"
        );
        assert_eq!(case["nurseBroken"]["state"], "broken", "{name}");
        assert_eq!(case["nurseBroken"]["heading"], incomplete, "{name}");
    }
    // Behind a proxy under /samsyn/, the button keeps the path.
    let proxied = &cases[0]["nurseBehindProxy"];
    assert_eq!(proxied["state"], "ready");
    assert_eq!(
        proxied["href"],
        app_link.replacen("/n/", "/samsyn/n/", 1).as_str()
    );
    // Nothing but the page's own files was asked for.
    for request in cases[0]["nurseRequests"].as_array().expect("requests") {
        let request = request.as_str().unwrap_or_default();
        assert!(
            request.starts_with("document ")
                || request.starts_with("script ")
                || request.starts_with("stylesheet "),
            "{request}"
        );
    }
}
