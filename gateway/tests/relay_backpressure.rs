//! A relayed viewer that stops reading costs only itself: while its TURN
//! connection on the HTTPS port is stalled, a viewer on UDP in the same
//! room keeps its frame rate and loses nothing more, the gateway drops the
//! stalled viewer's video instead of queueing it, and once the viewer reads
//! again it plays again. In a private network namespace, with nftables
//! playing the network; needs root.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gstreamer::prelude::*;

use samsyn_capture::probe::ProbeViewer;
use support::firewall::Firewall;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, runtime, start_viewer_on};

/// The relayed viewer's own address, beside the clients' on the same veth.
const RELAYED_IP: &str = "10.213.0.3";
/// How long the relayed viewer reads nothing.
const STALL: Duration = Duration::from_secs(5);

/// The value of the metric line that starts with `name` (labels included),
/// 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(gateway: &Gateway) -> String {
    let client = gateway
        .trust()
        .http_client(Duration::from_secs(2), Duration::from_secs(5))
        .expect("a pinned client builds");
    client
        .get(format!("{}/metrics", gateway.base_url))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics has a body")
}

/// The client port of the busiest TCP connection the gateway serves on
/// `http_port`, by bytes sent: the relayed viewer's TURN connection. (libnice
/// does not bind its TCP relay socket to the pinned address: every client
/// reaches 127.0.0.1 from 127.0.0.1, so only the port tells them apart.)
fn busiest_connection_to_client(http_port: u16) -> u16 {
    let output = Command::new("ss")
        .args(["-tniOH", "state", "established"])
        .arg(format!("( sport = :{http_port} )"))
        .output()
        .expect("ss runs (iproute2)");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut connections: Vec<(u64, u16)> = text
        .lines()
        .filter_map(|line| {
            let mut addresses = line
                .split_whitespace()
                .filter_map(|word| word.parse::<SocketAddr>().ok());
            let (_local, peer) = (addresses.next()?, addresses.next()?);
            let sent = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix("bytes_sent:"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Some((sent, peer.port()))
        })
        .collect();
    connections.sort_unstable();
    println!("the gateway's connections (bytes sent, client port): {connections:?}");
    let &(sent, port) = connections
        .last()
        .expect("the gateway has connections on its HTTPS port");
    assert!(
        sent > 20_000,
        "the busiest connection on the HTTPS port ({sent} bytes sent) carries no video"
    );
    port
}

/// A few seconds of noise as a video file: every frame is new detail, so the
/// camera sends all the bitrate it may (the moving test pattern compresses
/// to ~200 kbit/s, which the socket buffers would absorb for minutes).
fn busy_video(dir: &Path) -> PathBuf {
    let path = dir.join("busy.mp4");
    let description = format!(
        "videotestsrc num-buffers=90 pattern=snow ! \
         video/x-raw,width=640,height=360,framerate=30/1 ! \
         x264enc speed-preset=ultrafast bitrate=12000 key-int-max=30 ! mp4mux ! \
         filesink location={}",
        path.display()
    );
    let pipeline = gstreamer::parse::launch(&description).expect("writer pipeline");
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(30),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .expect("the busy video is written");
    assert!(matches!(msg.view(), gstreamer::MessageView::Eos(_)));
    pipeline.set_state(gstreamer::State::Null).unwrap();
    path
}

/// Frames decoded and packets lost so far.
fn sample(viewer: &ProbeViewer) -> (u64, u64) {
    let frames = viewer.report().map_or(0, |r| r.frames);
    (frames, viewer.receive_stats().lost)
}

#[test]
fn a_relayed_viewer_that_stops_reading_costs_only_itself() {
    if !netns::isolate("a_relayed_viewer_that_stops_reading_costs_only_itself") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    netns::ip(&["addr", "add", &format!("{RELAYED_IP}/32"), "dev", "veth-cl"]);
    netns::ip(&["link", "set", "lo", "mtu", "1500"]);
    let gateway = Gateway::start_tls(GATEWAY_IP);
    let media = gateway.udp_port;
    let http = gateway.http_port;
    // Only the relayed viewer's address is cut off from the media port.
    let _no_udp = Firewall::with_rules(&[
        format!("ip saddr {RELAYED_IP} udp dport {media} counter drop"),
        format!("ip daddr {RELAYED_IP} udp sport {media} counter drop"),
    ]);
    let invite = gateway.create_room();
    let pin = invite.tls_pin_sha256.clone().expect("a self-signed pin");
    let dir = tempfile::tempdir().expect("a temp dir");
    let source = format!("file:{}", busy_video(dir.path()).display());
    let camera_args: Vec<String> = [
        "--source",
        &source,
        "--width",
        "640",
        "--height",
        "360",
        "--fps",
        "30",
        "--no-audio",
        "--no-talkback",
        "--ice-address",
        CLIENT_IP,
        "--pin-sha256",
        &pin,
    ]
    .map(str::to_owned)
    .to_vec();
    let _camera = Capture::start(&gateway, &invite, &camera_args);

    runtime().block_on(async {
        let mut direct = start_viewer_on(&invite, CLIENT_IP).await;
        let mut relayed = start_viewer_on(&invite, RELAYED_IP).await;
        for (name, viewer) in [("UDP", &mut direct), ("relayed", &mut relayed)] {
            viewer
                .wait_frames(60, Duration::from_secs(30))
                .await
                .unwrap_or_else(|err| panic!("the {name} viewer does not play: {err}"));
        }

        // Each viewer on the path meant for it (metrics come once a second).
        let mut text = String::new();
        for _ in 0..20 {
            text = scrape(&gateway).await;
            if metric(&text, "samsyn_peers{path=\"relay_tcp\"}")
                + metric(&text, "samsyn_peers{path=\"relay_tls\"}")
                >= 1.0
                && metric(&text, "samsyn_peers{path=\"udp\"}") >= 2.0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let by_path = ["udp", "relay_tcp", "relay_tls"]
            .map(|path| metric(&text, &format!("samsyn_peers{{path=\"{path}\"}}")));
        println!("peers by path (udp, relay_tcp, relay_tls): {by_path:?}");
        assert_eq!(by_path[0], 2.0, "the camera and one viewer are on UDP");
        assert_eq!(by_path[1] + by_path[2], 1.0, "one viewer is relayed");
        let dropped_before = metric(
            &text,
            "samsyn_dropped_packets_total{reason=\"relay_backpressure\"}",
        );
        let refused_before = metric(&text, "samsyn_relay_refused_total");

        let relayed_port = busiest_connection_to_client(http);

        // The UDP viewer undisturbed, as a baseline.
        let start = sample(&direct);
        tokio::time::sleep(STALL).await;
        let before = sample(&direct);

        // The relayed viewer reads nothing: the gateway's bytes to it go
        // nowhere, so they back up into the socket, then the send queue.
        let stall = Firewall::with_rules(&[format!(
            "ip daddr 127.0.0.1 tcp sport {http} tcp dport {relayed_port} counter drop"
        )]);
        let relayed_at_stall = sample(&relayed).0;
        tokio::time::sleep(STALL).await;
        let during = sample(&direct);
        let ss = Command::new("ss")
            .args(["-tnmiOH", "state", "established"])
            .arg(format!("( sport = :{http} and dport = :{relayed_port} )"))
            .output()
            .unwrap();
        println!("DEBUG ss:\n{}", String::from_utf8_lossy(&ss.stdout));
        let stalled_segments = stall.dropped_packets();
        let relayed_at_resume = sample(&relayed).0;
        drop(stall);
        let resumed = Instant::now();

        let rate = |from: (u64, u64), to: (u64, u64)| (to.0 - from.0) as f64 / STALL.as_secs_f64();
        let rate_before = rate(start, before);
        let rate_during = rate(before, during);
        let lost_before = before.1 - start.1;
        let lost_during = during.1 - before.1;
        println!(
            "UDP viewer: {rate_before:.1} frames/s and {lost_before} packets lost in the {} s \
             before the stall; {rate_during:.1} frames/s and {lost_during} lost during it",
            STALL.as_secs()
        );
        println!(
            "relayed viewer: {} frames decoded during the stall; the firewall dropped \
             {stalled_segments} TCP segments to it",
            relayed_at_resume - relayed_at_stall
        );
        assert!(
            stalled_segments > 0,
            "the stall held back the gateway's bytes to the relayed viewer"
        );

        // The relayed viewer plays again once it reads.
        let first = relayed
            .wait_frames(relayed_at_resume + 1, Duration::from_secs(10))
            .await
            .unwrap_or_else(|err| panic!("the relayed viewer never decodes again: {err}"));
        let to_first = resumed.elapsed();
        let playing = relayed
            .wait_frames(first.frames + 30, Duration::from_secs(10))
            .await
            .unwrap_or_else(|err| panic!("the relayed viewer does not keep playing: {err}"));
        let to_playing = resumed.elapsed();
        println!(
            "relayed viewer: first new frame {} ms after it reads again, 30 more by {} ms \
             ({} frames in all)",
            to_first.as_millis(),
            to_playing.as_millis(),
            playing.frames
        );

        // What the gateway did meanwhile (metrics come once a second).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let text = scrape(&gateway).await;
        let dropped = metric(
            &text,
            "samsyn_dropped_packets_total{reason=\"relay_backpressure\"}",
        ) - dropped_before;
        let refused = metric(&text, "samsyn_relay_refused_total") - refused_before;
        println!(
            "gateway: {dropped} RTP packets dropped for back-pressure, {refused} relay \
             connections refused or closed"
        );

        assert!(
            rate_during >= 0.8 * rate_before,
            "the UDP viewer slowed down while the relayed one stalled: {rate_before:.1} -> \
             {rate_during:.1} frames/s"
        );
        assert!(
            lost_during <= lost_before + 5,
            "the UDP viewer lost packets while the relayed one stalled: {lost_before} -> \
             {lost_during}"
        );
        assert!(
            to_playing < Duration::from_secs(8),
            "the relayed viewer took {to_playing:?} to play again"
        );
        assert_eq!(refused, 0.0, "the stalled connection was kept");
        assert!(
            dropped > 0.0,
            "the gateway dropped the stalled viewer's video rather than queue it"
        );

        direct.stop().await.expect("WHEP DELETE succeeds");
        relayed.stop().await.expect("WHEP DELETE succeeds");
    });
}
