//! The live path end to end: the real capture daemon on the test source
//! publishes over WHIP; WHEP viewers on another WebRTC stack (GStreamer's
//! webrtcbin) decode the H.264 the gateway forwards. In a private network
//! namespace; needs root.

mod support;

use std::time::Duration;

use samsyn_testkit::whep_viewer::{ViewerReport, WhepViewer};
use support::netns::{self, GATEWAY_IP};
use support::{Capture, Gateway, runtime, start_viewer};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

async fn frames(viewer: &mut WhepViewer, n: u64) -> ViewerReport {
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
    let camera = Capture::test_source(&gateway, &invite, WIDTH, HEIGHT);
    runtime().block_on(async {
        // Two specialists at once.
        let (mut first, mut second) = tokio::join!(start_viewer(&invite), start_viewer(&invite));
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
        let mut late = start_viewer(&invite).await;
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

    // The audit trail says who was there: the camera and three specialists,
    // each joined and left.
    let (who, trail) = gateway.who_was_there(&invite.room);
    println!("{trail}");
    assert_eq!(who.matches("publisher  camera").count(), 1, "{trail}");
    assert_eq!(who.matches("specialist").count(), 3, "{trail}");
    assert_eq!(who.matches(", left)").count(), 4, "everyone left: {trail}");
}
