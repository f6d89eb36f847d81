//! A relayed viewer that stops reading costs only itself: while its TURN
//! connection on the HTTPS port is stalled, a viewer on UDP in the same
//! room keeps its frame rate and loses nothing more, the gateway drops the
//! stalled viewer's video instead of queueing it, and once the viewer reads
//! again it plays again. In a private network namespace, with nftables
//! playing the network; needs root.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use samsyn_testkit::whep_viewer::WhepViewer;
use support::firewall::Firewall;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::{Capture, Gateway, metric, runtime, start_viewer_on};

/// The relayed viewer's own address, beside the clients' on the same veth.
const RELAYED_IP: &str = "10.213.0.3";
/// How long the relayed viewer reads nothing.
const STALL: Duration = Duration::from_secs(5);

/// One of the gateway's TCP connections on its HTTPS port, as `ss` sees it.
#[derive(Debug, Clone, Copy)]
struct Socket {
    client_port: u16,
    bytes_sent: u64,
    /// Written by the gateway, not yet sent by the kernel.
    unsent: u64,
    /// The kernel's send buffer for it.
    send_buffer: u64,
}

/// The gateway's established connections on `http_port`, from its side.
fn gateway_sockets(http_port: u16) -> Vec<Socket> {
    let output = Command::new("ss")
        .args(["-tnmiOH", "state", "established"])
        .arg(format!("( sport = :{http_port} )"))
        .output()
        .expect("ss runs (iproute2)");
    let field = |line: &str, key: &str| -> u64 {
        line.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .find_map(|word| word.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut addresses = line
                .split_whitespace()
                .filter_map(|word| word.parse::<SocketAddr>().ok());
            let (_local, client) = (addresses.next()?, addresses.next()?);
            Some(Socket {
                client_port: client.port(),
                bytes_sent: field(line, "bytes_sent:"),
                unsent: field(line, "notsent:"),
                send_buffer: field(line, "tb"),
            })
        })
        .collect()
}

/// The client port of the relayed viewer's TURN connection: the one the
/// gateway sends video down. (libnice does not bind its TCP relay socket to
/// the pinned address: every client reaches 127.0.0.1 from 127.0.0.1, so
/// only the port tells the connections apart.)
fn relayed_viewer_port(http_port: u16) -> u16 {
    let sockets = gateway_sockets(http_port);
    let busiest = sockets
        .iter()
        .max_by_key(|s| s.bytes_sent)
        .expect("the gateway has connections on its HTTPS port");
    let sent: Vec<u64> = sockets.iter().map(|s| s.bytes_sent).collect();
    println!("bytes the gateway sent on each HTTPS-port connection: {sent:?}");
    assert!(
        busiest.bytes_sent > 100_000
            && sockets
                .iter()
                .filter(|s| s.client_port != busiest.client_port)
                .all(|s| s.bytes_sent * 10 < busiest.bytes_sent),
        "one connection on the HTTPS port carries the relayed viewer's video: {sockets:?}"
    );
    busiest.client_port
}

/// Waits up to 10 s for a video packet, arriving after `since`, that is
/// less than a second old (the camera's clock is this machine's): how long
/// after `since` it came, and the oldest packet that arrived in between.
async fn wait_live(viewer: &WhepViewer, since: SystemTime) -> (Option<Duration>, Duration) {
    let mut stalest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for sample in viewer.latency().recent {
            let Ok(after) = sample.arrived.duration_since(since) else {
                continue;
            };
            let age = sample
                .arrived
                .duration_since(sample.captured)
                .unwrap_or_default();
            if age < Duration::from_secs(1) {
                return (Some(after), stalest);
            }
            stalest = stalest.max(age);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (None, stalest)
}

/// Frames decoded and packets lost so far.
fn sample(viewer: &WhepViewer) -> (u64, u64) {
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
    // The relay's TCP runs over `lo` here. At loopback's 64 KiB MTU the
    // kernel grows a connection's send buffer to 4 MiB, which holds many
    // seconds of video before the gateway's own queue sees any of it; an
    // Ethernet-sized MTU gives the buffers a real network would.
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
    let source = format!("file:{}", support::busy_video(dir.path()).display());
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
            text = gateway.scrape_metrics().await;
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

        let relayed_port = relayed_viewer_port(http);

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
        let held = gateway_sockets(http)
            .into_iter()
            .find(|s| s.client_port == relayed_port)
            .expect("the stalled connection is still open");
        let stalled_segments = stall.dropped_packets();
        let relayed_at_resume = sample(&relayed).0;
        drop(stall);
        let resumed = Instant::now();
        let resumed_clock = SystemTime::now();

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
             {stalled_segments} TCP segments to it; at its end the kernel held {} unsent \
             bytes for it (send buffer {} bytes)",
            relayed_at_resume - relayed_at_stall,
            held.unsent,
            held.send_buffer
        );
        assert!(
            stalled_segments > 0,
            "the stall held back the gateway's bytes to the relayed viewer"
        );

        // The relayed viewer plays again once it reads: first what waited
        // in the buffers, then the live picture (a packet that arrives less
        // than a second after its capture), and it goes on playing.
        let first = relayed
            .wait_frames(relayed_at_resume + 1, Duration::from_secs(10))
            .await
            .unwrap_or_else(|err| panic!("the relayed viewer never decodes again: {err}"));
        let to_first = resumed.elapsed();
        let (live_after, stalest) = wait_live(&relayed, resumed_clock).await;
        let live_frames = relayed.report().map_or(0, |r| r.frames);
        let playing = relayed
            .wait_frames(live_frames + 30, Duration::from_secs(5))
            .await
            .unwrap_or_else(|err| panic!("the relayed viewer does not play live: {err}"));
        println!(
            "relayed viewer after the stall: first frame after {} ms ({} frames by then), \
             the stalest packet seen {} ms old on arrival, live after {} ms, 30 live frames \
             after {} ms ({} frames in all)",
            to_first.as_millis(),
            first.frames - relayed_at_resume,
            stalest.as_millis(),
            live_after.map_or(-1, |d| d.as_millis() as i64),
            resumed.elapsed().as_millis(),
            playing.frames
        );
        let live_after = live_after.expect("the relayed viewer gets the live picture again");

        // What the gateway did meanwhile (metrics come once a second).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let text = gateway.scrape_metrics().await;
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
            live_after < Duration::from_secs(5),
            "the relayed viewer took {live_after:?} to get the live picture again"
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
