//! The live path end to end: the real capture daemon on the test source
//! publishes over WHIP; WHEP viewers on another WebRTC stack (GStreamer's
//! webrtcbin) decode the H.264 the gateway forwards. In a private network
//! namespace; needs root.

mod support;

use std::time::{Duration, Instant};

use samsyn_capture::probe::{ProbeOptions, ProbeReport, ProbeViewer};
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, Invite};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts a WHEP viewer once the camera is in the room (409 until then).
async fn viewer(invite: &Invite) -> ProbeViewer {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut options = ProbeOptions::new(invite.whep_url.parse().unwrap(), &invite.viewer_token);
        options.ice_addresses = vec![CLIENT_IP.parse().unwrap()];
        match ProbeViewer::start(options).await {
            Ok(viewer) => return viewer,
            Err(err) if Instant::now() < deadline => {
                eprintln!("viewer not started yet: {err}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => panic!("no WHEP viewer could start: {err}"),
        }
    }
}

async fn frames(viewer: &mut ProbeViewer, n: u64) -> ProbeReport {
    viewer
        .wait_frames(n, Duration::from_secs(10))
        .await
        .unwrap_or_else(|err| panic!("viewer did not decode {n} frames: {err}"))
}

#[test]
fn two_whep_viewers_decode_the_camera_and_a_late_joiner_starts_fast() {
    if !netns::isolate("two_whep_viewers_decode_the_camera_and_a_late_joiner_starts_fast") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let size = [WIDTH.to_string(), HEIGHT.to_string()];
    let camera = Capture::start(
        &gateway,
        &invite,
        &[
            "--source",
            "test",
            "--width",
            &size[0],
            "--height",
            &size[1],
            "--fps",
            "30",
            "--no-audio",
            "--ice-address",
            CLIENT_IP,
        ],
    );
    runtime().block_on(async {
        // Two specialists at once.
        let (mut first, mut second) = tokio::join!(viewer(&invite), viewer(&invite));
        let (a, b) = tokio::join!(frames(&mut first, 50), frames(&mut second, 50));
        for (name, report) in [("first", a), ("second", b)] {
            println!(
                "{name} viewer: {} frames of {}x{}, first frame {} ms after the WHEP POST",
                report.frames,
                report.width,
                report.height,
                report.first_frame_after.as_millis()
            );
            assert_eq!(
                (report.width, report.height),
                (WIDTH, HEIGHT),
                "{name} viewer's size"
            );
            assert!(report.frames >= 50);
        }

        // A GP joins the running stream: the keyframe gate and the keyframe
        // request on join get the first picture to them quickly.
        let mut late = viewer(&invite).await;
        let report = frames(&mut late, 30).await;
        println!(
            "late viewer: first frame {} ms after the WHEP POST",
            report.first_frame_after.as_millis()
        );
        assert!(
            report.first_frame_after < Duration::from_secs(1),
            "a viewer joining a running stream should see its first frame within 1 s, took {:?}",
            report.first_frame_after
        );

        for viewer in [first, second, late] {
            viewer.stop().await.expect("WHEP DELETE succeeds");
        }
    });
    let status = camera.terminate();
    assert!(
        status.success(),
        "the capture daemon exits cleanly on SIGTERM: {status}"
    );
}
