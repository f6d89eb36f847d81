//! IPv6 only: in a namespace whose network has unique local IPv6 addresses
//! and no IPv4, the gateway serves HTTPS and media on its IPv6 address, the
//! real capture daemon publishes, and a WHEP viewer and the specialist's
//! page in Chromium watch, all over UDP. Needs root.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::browser::page_plays;
use support::firewall::Firewall;
use support::netns::{self, CLIENT_IP6, GATEWAY_IP6};
use support::{Capture, Gateway, metric, runtime, start_viewer_on};

/// The namespace's addresses of `family` (`-4`, `-6`) outside loopback.
fn addresses(family: &str) -> String {
    let output = Command::new("ip")
        .args([family, "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Chromium as a specialist who allowed the page the microphone (it asks,
/// for talk-back): a fake device, permission granted. Without that
/// permission Chromium hides its host addresses behind mDNS names, and its
/// mDNS responder cannot start on a network without IPv4 (on Linux it binds
/// its IPv6 socket to ff02::fb without a scope: EINVAL), so it gathers no
/// candidate at all there.
fn chromium_with_microphone(dir: &Path) -> PathBuf {
    let path = dir.join("chromium-with-microphone");
    std::fs::write(
        &path,
        "#!/bin/sh\nexec \"${SAMSYN_CHROMIUM:-/usr/bin/chromium}\" \
         --use-fake-ui-for-media-stream --use-fake-device-for-media-stream \"$@\"\n",
    )
    .expect("the wrapper is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("the wrapper is executable");
    path
}

#[test]
fn ipv6_only_the_camera_publishes_and_a_viewer_and_the_page_watch() {
    if !netns::isolate_ipv6_only("ipv6_only_the_camera_publishes_and_a_viewer_and_the_page_watch") {
        return;
    }
    assert_eq!(addresses("-4"), "", "no IPv4 beside loopback");
    assert!(addresses("-6").contains(GATEWAY_IP6));
    gstreamer::init().expect("GStreamer initialises");

    let gateway = Gateway::start_tls_listening_on(GATEWAY_IP6);
    let invite = gateway.create_room();
    let base = format!("https://[{GATEWAY_IP6}]:{}/", gateway.http_port);
    assert!(
        invite.whip_url.starts_with(&base) && invite.viewer_link.starts_with(&base),
        "links on the IPv6 address: {invite:?}"
    );
    let pin = invite.tls_pin_sha256.clone().expect("a self-signed pin");
    let camera_args = support::pinned_camera_args(CLIENT_IP6, &pin);
    let camera = Capture::start(&gateway, &invite, &camera_args);

    runtime().block_on(async {
        let mut viewer = start_viewer_on(&invite, CLIENT_IP6).await;
        let report = viewer
            .wait_frames(50, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes nothing over IPv6: {err}"));
        println!(
            "WHEP viewer on {CLIENT_IP6}: {} frames of {}x{}, first after {} ms",
            report.frames,
            report.width,
            report.height,
            report.first_frame_after.as_millis()
        );
        assert_eq!((report.width, report.height), (640, 360));

        // The metrics are published once a second.
        let mut text = String::new();
        for _ in 0..20 {
            text = gateway.scrape_metrics().await;
            if metric(&text, "samsyn_peers{path=\"udp\"}") >= 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let by_path = ["udp", "relay_tcp", "relay_tls", "external_relay"]
            .map(|path| metric(&text, &format!("samsyn_peers{{path=\"{path}\"}}")));
        println!("peers by path (udp, relay_tcp, relay_tls, external_relay): {by_path:?}");
        assert!(by_path[0] >= 2.0, "the camera and the viewer on UDP");
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });

    // The specialist's page in Chromium, from the IPv6 link.
    let browser_dir = tempfile::tempdir().expect("temp dir");
    let chromium = chromium_with_microphone(browser_dir.path());
    page_plays(
        &gateway,
        &invite.viewer_link,
        "page over IPv6",
        &["--chromium", chromium.to_str().expect("a UTF-8 path")],
    );
    assert!(camera.terminate().success());

    // Where the network drops UDP to the media port, the built-in relay on
    // the HTTPS port carries IPv6 as well.
    let _firewall = Firewall::drop_udp_port(gateway.udp_port);
    let relayed = gateway.create_room();
    let _camera = Capture::start(&gateway, &relayed, &camera_args);
    runtime().block_on(async {
        let mut viewer = start_viewer_on(&relayed, CLIENT_IP6).await;
        let report = viewer
            .wait_frames(50, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes nothing relayed over IPv6: {err}"));
        println!(
            "relayed over IPv6: {} frames, first after {} ms",
            report.frames,
            report.first_frame_after.as_millis()
        );
        let mut relayed_peers = 0.0;
        for _ in 0..20 {
            let text = gateway.scrape_metrics().await;
            relayed_peers = metric(&text, "samsyn_peers{path=\"relay_tcp\"}");
            if relayed_peers >= 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            relayed_peers >= 2.0,
            "the camera and the viewer relayed: {relayed_peers}"
        );
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
}
