//! TLS end to end: the gateway serves HTTPS with its generated certificate,
//! the real capture daemon publishes only when its pin matches, and a WHEP
//! viewer that pins the same certificate decodes the camera. In a private
//! network namespace; needs root.

mod support;

use std::process::Command;
use std::time::Duration;

use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, capture_binary, runtime, start_viewer};

#[test]
fn the_capture_daemon_publishes_over_tls_only_to_the_pinned_certificate() {
    if !netns::isolate("the_capture_daemon_publishes_over_tls_only_to_the_pinned_certificate") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let invite = gateway.create_room();
    let pin = invite
        .tls_pin_sha256
        .clone()
        .expect("room create hands out the fingerprint of a self-signed certificate");
    assert_eq!(pin, gateway.pin(), "the fingerprint of tls/cert.pem");
    assert!(invite.whip_url.starts_with("https://127.0.0.1:"));

    // Without a pin, and with a wrong one, the daemon refuses the gateway
    // and says how to trust it; it never sends its token.
    let mut wrong = pin.clone();
    wrong.replace_range(0..2, if pin.starts_with("00") { "11" } else { "00" });
    for (case, pin_args) in [
        ("no pin", vec![]),
        ("a wrong pin", vec!["--pin-sha256", wrong.as_str()]),
    ] {
        let output = Command::new(capture_binary())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(["--token", &invite.publisher_token])
            .args(["--source", "test", "--no-audio", "--ice-address", CLIENT_IP])
            .args(pin_args)
            .env("SAMSYN_LOG", "warn")
            .output()
            .expect("samsyn-capture runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{case}: exit {}, {stderr}", output.status);
        assert!(
            !output.status.success(),
            "{case}: the daemon must not publish"
        );
        assert!(
            stderr.contains("certificate") && stderr.contains("--pin-sha256"),
            "{case}: the error names the certificate and the fix: {stderr}"
        );
    }

    // With the pin it publishes, and a pinned WHEP viewer decodes it.
    let camera = Capture::start(
        &gateway,
        &invite,
        &[
            "--source",
            "test",
            "--width",
            "640",
            "--height",
            "360",
            "--no-audio",
            "--ice-address",
            CLIENT_IP,
            "--pin-sha256",
            &pin,
        ],
    );
    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        let report = viewer
            .wait_frames(30, Duration::from_secs(10))
            .await
            .unwrap_or_else(|err| panic!("the viewer did not decode over TLS: {err}"));
        println!(
            "over TLS: {} frames of {}x{}, first after {} ms",
            report.frames,
            report.width,
            report.height,
            report.first_frame_after.as_millis()
        );
        assert_eq!((report.width, report.height), (640, 360));
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
    assert!(camera.terminate().success());
}
