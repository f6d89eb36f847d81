//! WHIP and WHEP with clients that are not samsyn's own, on WebRTC stacks
//! that share no code with samsyn, GStreamer or Chromium:
//!
//! - aiortc (Python; its own ICE agent, DTLS on OpenSSL, SRTP on libsrtp,
//!   AES-CM rather than GCM), `tests/interop/aiortc_client.py`, with
//!   Python's HTTP (OpenSSL for HTTPS): player, speaking specialist and
//!   publisher;
//! - werift (TypeScript, on Node), `tests/interop/werift_client.mjs`: a
//!   player that counts what it receives (it does not decode).
//!
//! In a private network namespace; needs root, Debian's python3-aiortc and
//! the npm packages of `tests/interop` (`scripts/install-deps` installs
//! both).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use samsyn_capture::status::endpoint;
use samsyn_testkit::whep_viewer::{ViewerOptions, ViewerReport, WhepViewer};
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, Invite, runtime, start_viewer, stream_args_with_voice};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// `tests/interop/werift_client.mjs`, after checking werift is installed.
fn werift_client() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    assert!(
        dir.join("node_modules/werift").exists(),
        "werift is missing: run scripts/install-deps (npm ci in tests/interop)"
    );
    dir.join("werift_client.mjs")
}

/// `tests/interop/aiortc_client.py`, after checking aiortc is installed.
fn aiortc_client() -> PathBuf {
    let python = Command::new("/usr/bin/python3")
        .args(["-c", "import aiortc"])
        .output();
    assert!(
        python.is_ok_and(|out| out.status.success()),
        "aiortc is missing: install Debian's python3-aiortc (scripts/install-deps does)"
    );
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/aiortc_client.py")
}

fn aiortc(args: &[&str]) -> Command {
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(aiortc_client())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The client's JSON report, or the test fails with what it said.
fn report(what: &str, output: Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}): {stderr}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{what}: {}", stdout.trim());
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|err| panic!("{what} printed no JSON ({err}): {stdout} {stderr}"))
}

/// An aiortc WHEP player decoding `frames` video and `audio_frames` audio
/// frames of the invite's room, failing after `timeout_secs`.
fn aiortc_player(invite: &Invite, frames: u32, audio_frames: u32, timeout_secs: u32) -> Child {
    aiortc(&[
        "whep",
        &invite.whep_url,
        &invite.viewer_token,
        "--frames",
        &frames.to_string(),
        "--audio-frames",
        &audio_frames.to_string(),
        "--timeout",
        &timeout_secs.to_string(),
    ])
    .spawn()
    .expect("python3 starts")
}

async fn decoded(viewer: &mut samsyn_testkit::whep_viewer::WhepViewer, n: u64) -> ViewerReport {
    viewer
        .wait_frames(n, Duration::from_secs(15))
        .await
        .unwrap_or_else(|err| panic!("the GStreamer viewer did not decode {n} frames: {err}"))
}

#[test]
fn an_aiortc_player_sees_and_hears_the_daemons_camera_beside_a_gstreamer_viewer() {
    if !netns::isolate(
        "an_aiortc_player_sees_and_hears_the_daemons_camera_beside_a_gstreamer_viewer",
    ) {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    // The test source with the nurse's voice as a test tone.
    let mut args = stream_args_with_voice("test", WIDTH, HEIGHT, CLIENT_IP, "test-tone");
    args.push("--no-talkback".to_owned());
    let camera = Capture::start(&gateway, &invite, &args);

    runtime().block_on(async {
        // Our own viewer first: it waits until the camera is in the room.
        let mut gstreamer_viewer = start_viewer(&invite).await;
        let player = aiortc_player(&invite, 60, 50, 20);
        let gstreamer = decoded(&mut gstreamer_viewer, 60).await;
        let aiortc = finished("aiortc whep", player).await;

        assert_eq!(
            (aiortc["width"].as_u64(), aiortc["height"].as_u64()),
            (Some(WIDTH.into()), Some(HEIGHT.into())),
            "aiortc decodes the camera's picture at its size"
        );
        assert!(aiortc["frames"].as_u64() >= Some(60));
        assert!(
            aiortc["audio_frames"].as_u64() >= Some(50),
            "aiortc decodes the nurse's voice (Opus): {aiortc}"
        );
        assert_eq!(aiortc["codec"], "H264", "the camera's H.264 reaches aiortc");
        assert_eq!((gstreamer.width, gstreamer.height), (WIDTH, HEIGHT));
        gstreamer_viewer.stop().await.expect("WHEP DELETE succeeds");
    });
    assert!(camera.terminate().success(), "the daemon exits cleanly");

    let (who, trail) = gateway.who_was_there(&invite.room);
    assert_eq!(
        who.matches("specialist").count(),
        2,
        "the aiortc player and the GStreamer viewer: {trail}"
    );
    assert_eq!(
        who.matches(", left)").count(),
        3,
        "aiortc's DELETE ended its session like the others: {trail}"
    );
}

/// The RMS of the aiortc client's tone (a sine at 0.1 of full scale).
const TONE_RMS_DBFS: f64 = -23.0;

/// werift's default offer (bundle policy "max-compat") gives each section
/// its own ICE credentials, like aiortc's; its player receives and decrypts
/// the daemon's H.264, keyframes included, and Opus.
#[test]
fn a_werift_player_receives_the_daemons_camera_and_voice() {
    if !netns::isolate("a_werift_player_receives_the_daemons_camera_and_voice") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let mut args = stream_args_with_voice("test", WIDTH, HEIGHT, CLIENT_IP, "test-tone");
    args.push("--no-talkback".to_owned());
    let camera = Capture::start(&gateway, &invite, &args);

    let output = Command::new("node")
        .arg(werift_client())
        .args(["--url", &invite.whep_url, "--token", &invite.viewer_token])
        .args([
            "--packets",
            "120",
            "--timeout",
            "30",
            "--ice-address",
            CLIENT_IP,
        ])
        .output()
        .expect("node runs (Node 20+ is needed for the interop tests)");
    let werift = report("werift whep", output);
    // Encoding names are case-insensitive (RFC 8866); werift writes "h264".
    assert!(
        werift["codec"]
            .as_str()
            .is_some_and(|codec| codec.eq_ignore_ascii_case("H264")),
        "{werift}"
    );
    assert!(werift["video_packets"].as_u64() >= Some(120), "{werift}");
    assert!(werift["audio_packets"].as_u64() >= Some(50), "{werift}");
    assert!(werift["keyframes"].as_u64() >= Some(1), "{werift}");
    assert!(camera.terminate().success(), "the daemon exits cleanly");

    let (who, trail) = gateway.who_was_there(&invite.room);
    assert_eq!(
        who.matches(", left)").count(),
        2,
        "werift's DELETE ended its session: {trail}"
    );
}

/// A specialist on aiortc who speaks (a tone on the sendrecv audio m-line,
/// as the page sends its microphone) is heard by the nurse's daemon, on a
/// talk-back slot and at the level sent (its meter averages over a second),
/// while watching the camera. Over HTTPS with the gateway's self-signed
/// certificate, which Python (OpenSSL) trusts as a CA file.
#[test]
fn an_aiortc_specialist_is_heard_by_the_nurses_daemon() {
    if !netns::isolate("an_aiortc_specialist_is_heard_by_the_nurses_daemon") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let certificate = gateway.data_dir.path().join("tls/cert.pem");
    let certificate = certificate.to_str().expect("a UTF-8 path");
    let invite = gateway.create_room();
    let status_port = support::free_tcp_port().to_string();
    let mut args = stream_args_with_voice("test", WIDTH, HEIGHT, CLIENT_IP, "test-silence");
    args.extend(
        [
            "--speaker",
            "none",
            "--status-port",
            &status_port,
            "--pin-sha256",
            invite
                .tls_pin_sha256
                .as_deref()
                .expect("a self-signed gateway's pin"),
        ]
        .map(str::to_owned),
    );
    let camera = Capture::start(&gateway, &invite, &args);

    runtime().block_on(async {
        let mut specialist = aiortc(&[
            "whep",
            &invite.whep_url,
            &invite.viewer_token,
            "--frames",
            "30",
            "--timeout",
            "30",
            "--talk",
            "--stay",
            "10",
            "--cafile",
            certificate,
        ])
        .spawn()
        .expect("python3 starts");
        let http = reqwest::Client::new();
        let port: u16 = status_port.parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let heard = loop {
            let status = endpoint::fetch(&http, port).await.ok();
            if let Some(slot) = status
                .as_ref()
                .and_then(|s| s.talkback.slots.iter().find(|slot| slot.active))
                && slot.level_db > TONE_RMS_DBFS - 1.5
            {
                break slot.clone();
            }
            if let Ok(Some(_)) = specialist.try_wait() {
                let early = report(
                    "aiortc whep",
                    specialist.wait_with_output().expect("aiortc ran"),
                );
                panic!("the aiortc specialist left before the daemon heard it: {early}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not hear the aiortc specialist: {:#?}",
                status.map(|s| s.talkback)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        println!(
            "the daemon hears the aiortc specialist on slot {} at {:.1} dBFS",
            heard.slot, heard.level_db
        );
        assert!(
            heard.level_db < TONE_RMS_DBFS + 1.5,
            "the voice arrives at the level it was sent: {:.1} dBFS",
            heard.level_db
        );
        let watched = finished("aiortc whep", specialist).await;
        assert_eq!(
            (watched["width"].as_u64(), watched["height"].as_u64()),
            (Some(WIDTH.into()), Some(HEIGHT.into())),
            "the speaking specialist sees the camera too"
        );
    });
    assert!(camera.terminate().success(), "the daemon exits cleanly");
}

/// An aiortc WHIP publisher sending its moving picture in `codec` for
/// `seconds`, then ending its session.
fn aiortc_publisher(invite: &Invite, codec: &str, seconds: u32) -> Child {
    aiortc(&[
        "whip",
        &invite.whip_url,
        &invite.publisher_token,
        "--codec",
        codec,
        "--seconds",
        &seconds.to_string(),
        "--width",
        &WIDTH.to_string(),
        "--height",
        &HEIGHT.to_string(),
    ])
    .spawn()
    .expect("python3 starts")
}

async fn finished(what: &str, child: Child) -> serde_json::Value {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("aiortc runs");
    report(what, output)
}

/// H.264, the hospital default. aiortc 1.4 ignores keyframe requests for
/// H.264 (its encoder drops the flag) and sends a keyframe every 250 frames,
/// so a viewer that joins after the first may wait up to ~8 s for its
/// picture: the waits below allow for that. The VP8 test below is the one
/// that shows keyframe requests reaching aiortc.
///
/// Its voice (Opus) reaches the aiortc player.
#[test]
fn an_aiortc_h264_publisher_reaches_a_gstreamer_viewer_and_an_aiortc_player() {
    if !netns::isolate("an_aiortc_h264_publisher_reaches_a_gstreamer_viewer_and_an_aiortc_player") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let publisher = aiortc_publisher(&invite, "h264", 20);

    runtime().block_on(async {
        let mut gstreamer_viewer = start_viewer(&invite).await;
        // aiortc's voice too: its audio m-line came with credentials of its own.
        let player = aiortc_player(&invite, 60, 50, 25);
        let gstreamer = gstreamer_viewer
            .wait_frames(60, Duration::from_secs(25))
            .await
            .expect("the GStreamer viewer decodes 60 of aiortc's frames");
        println!(
            "GStreamer viewer: {} frames of {}x{}, first after {} ms",
            gstreamer.frames,
            gstreamer.width,
            gstreamer.height,
            gstreamer.first_frame_after.as_millis()
        );
        assert_eq!(
            (gstreamer.width, gstreamer.height),
            (WIDTH, HEIGHT),
            "aiortc's H.264 decodes in GStreamer at its size"
        );
        let player = finished("aiortc whep", player).await;
        assert_eq!(
            (player["width"].as_u64(), player["height"].as_u64()),
            (Some(WIDTH.into()), Some(HEIGHT.into()))
        );
        assert!(player["audio_frames"].as_u64() >= Some(50), "{player}");
        gstreamer_viewer.stop().await.expect("WHEP DELETE succeeds");
        let published = finished("aiortc whip", publisher).await;
        assert_eq!(published["codec"], "H264");
    });

    let (who, trail) = gateway.who_was_there(&invite.room);
    assert_eq!(who.matches("publisher").count(), 1, "{trail}");
    assert_eq!(
        who.matches(", left)").count(),
        3,
        "aiortc's WHIP DELETE ended the camera's session: {trail}"
    );
}

/// VP8, whose aiortc encoder does honour keyframe requests and otherwise
/// makes a keyframe only every 3000 frames (100 s): a player joining the
/// running stream sees its first picture within seconds only because the
/// gateway's request on its join reached aiortc and was answered.
/// A viewer that cannot receive VP8 (the H.264-only GStreamer test viewer) is
/// told so.
#[test]
fn an_aiortc_vp8_publisher_answers_the_keyframe_request_for_a_late_joiner() {
    if !netns::isolate("an_aiortc_vp8_publisher_answers_the_keyframe_request_for_a_late_joiner") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let publisher = aiortc_publisher(&invite, "vp8", 16);

    runtime().block_on(async {
        let first = finished("aiortc whep", aiortc_player(&invite, 30, 0, 20)).await;
        assert_eq!(first["codec"], "VP8");
        assert_eq!(
            (first["width"].as_u64(), first["height"].as_u64()),
            (Some(WIDTH.into()), Some(HEIGHT.into()))
        );

        let mut options =
            ViewerOptions::new(invite.whep_url.parse().unwrap(), &invite.viewer_token);
        options.ice_addresses = vec![CLIENT_IP.parse().unwrap()];
        let refusal = match WhepViewer::start(options).await {
            Ok(_) => panic!("an H.264-only viewer was given a VP8 camera"),
            Err(err) => err.to_string(),
        };
        println!("H.264-only viewer: {refusal}");
        assert!(
            refusal.contains("422") && refusal.contains("video/VP8"),
            "the refusal names the camera's codec: {refusal}"
        );

        // Well after the stream's first keyframe.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let late = finished("aiortc whep", aiortc_player(&invite, 30, 0, 15)).await;
        let first_frame_ms = late["first_frame_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            first_frame_ms < 5_000,
            "a late aiortc player waited {first_frame_ms} ms for its first VP8 frame: \
             the keyframe request on its join did not reach the aiortc publisher"
        );
        let published = finished("aiortc whip", publisher).await;
        assert_eq!(published["codec"], "VP8");
    });
}
