//! The built-in TURN relay on the gateway's HTTPS port, end to end: with
//! UDP to the media port dropped by the network, the real capture daemon
//! publishes and viewers watch through the relay, with nothing configured
//! on their side; and what strangers send to that port disturbs neither
//! HTTPS nor a running consultation. In private network namespaces, with
//! nftables playing the restrictive network; needs root.

mod support;

use samsyn_signaling::turn_credentials;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::browser::page_plays;
use support::firewall::Firewall;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::turn_client::{TurnClient, announced_relays};
use support::{Capture, Gateway, metric, runtime, start_viewer};

#[test]
fn with_udp_blocked_the_camera_and_a_viewer_go_through_the_relay_on_the_https_port() {
    if !netns::isolate(
        "with_udp_blocked_the_camera_and_a_viewer_go_through_the_relay_on_the_https_port",
    ) {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    // TLS with defaults: the built-in relay is on.
    let gateway = Gateway::start_tls(GATEWAY_IP);

    // First, for comparison, a viewer's time to first frame over UDP.
    let direct = gateway.create_room();
    let pin = direct.tls_pin_sha256.clone().expect("a self-signed pin");
    let camera = Capture::start(
        &gateway,
        &direct,
        &support::pinned_camera_args(CLIENT_IP, &pin),
    );
    let udp_first_frame = runtime().block_on(async {
        let mut viewer = start_viewer(&direct).await;
        let joined = Instant::now();
        viewer
            .wait_frames(1, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes nothing over UDP: {err}"));
        let first_frame = joined.elapsed();
        viewer.stop().await.expect("WHEP DELETE succeeds");
        first_frame
    });
    camera.terminate();
    gateway.end_room(&direct.room);

    // Then the network drops UDP to the media port.
    let firewall = Firewall::drop_udp_port(gateway.udp_port);
    let invite = gateway.create_room();
    let started = Instant::now();
    let _camera = Capture::start(
        &gateway,
        &invite,
        &support::pinned_camera_args(CLIENT_IP, &pin),
    );

    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        let joined = Instant::now();
        let first = viewer
            .wait_frames(1, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes nothing through the relay: {err}"));
        println!(
            "time to first frame: relayed {} ms, UDP {} ms (from the viewer's WHEP session \
             to its first decoded frame; the relayed camera started {:.1} s before it)",
            joined.elapsed().as_millis(),
            udp_first_frame.as_millis(),
            started.elapsed().as_secs_f64()
        );
        let report = viewer
            .wait_frames(first.frames + 50, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("relayed video stalls: {err}"));
        println!("relayed: {} frames decoded", report.frames);

        // The metrics are published once a second.
        let mut text = String::new();
        for _ in 0..20 {
            text = gateway.scrape_metrics().await;
            if metric(&text, "samsyn_peers{path=\"relay_tcp\"}")
                + metric(&text, "samsyn_peers{path=\"relay_tls\"}")
                >= 2.0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let by_path = ["udp", "relay_tcp", "relay_tls", "external_relay"]
            .map(|path| metric(&text, &format!("samsyn_peers{{path=\"{path}\"}}")));
        println!("peers by path (udp, relay_tcp, relay_tls, external_relay): {by_path:?}");
        assert_eq!(by_path[0], 0.0, "no session can be on UDP here");
        assert!(
            by_path[1] + by_path[2] >= 2.0,
            "the camera and the viewer are relayed"
        );
        assert!(metric(&text, "samsyn_relay_allocations") >= 2.0);
        let relayed_rtp = metric(&text, "samsyn_rtp_sent_packets_total{path=\"relay_tcp\"}");
        println!("RTP packets sent through the relay: {relayed_rtp}");
        assert!(relayed_rtp > 0.0);
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });

    // The specialist's page in Chromium, behind the same network.
    page_plays(&gateway, &invite.viewer_link, "relayed page", &[]);
    // The audit trail says how each participant's media went.
    let audit = gateway.audit(&invite.room);
    let relayed = audit
        .lines()
        .filter(|line| line.contains("connected") && line.contains("relayed (built-in relay, TCP)"))
        .count();
    println!("audit lines of relayed connections: {relayed}");
    assert!(relayed >= 2, "the camera and the viewer, relayed:\n{audit}");
    let dropped = firewall.dropped_packets();
    println!("the firewall dropped {dropped} UDP datagrams");
    assert!(
        dropped > 0,
        "the clients tried UDP first, and the network dropped it"
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Writes `bytes` to a new connection to the HTTPS port and says whether the
/// gateway closed it within `within`.
fn closed_after(port: u16, bytes: &[u8], within: Duration) -> bool {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the HTTPS port accepts");
    stream.set_read_timeout(Some(within)).unwrap();
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) if Instant::now() < deadline => continue,
            Ok(_) => return false,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Sends the first `at_once` bytes of `bytes` at once, then one a second,
/// and then waits; how long until the gateway closed the connection.
fn dribble(port: u16, bytes: &[u8], at_once: usize) -> Duration {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the HTTPS port accepts");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let (first, rest) = bytes.split_at(at_once.min(bytes.len()));
    let mut pending = rest.iter();
    let _ = stream.write_all(first);
    let mut buf = [0u8; 512];
    let mut next_byte = Instant::now() + Duration::from_secs(1);
    while started.elapsed() < Duration::from_secs(30) {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                return started.elapsed();
            }
            _ => {}
        }
        if Instant::now() >= next_byte {
            next_byte += Duration::from_secs(1);
            if let Some(byte) = pending.next()
                && stream.write_all(&[*byte]).is_err()
            {
                return started.elapsed();
            }
        }
    }
    panic!("a dribbling client was never cut off");
}

/// A STUN header: Allocate request with `length` bytes of attributes to come.
fn stun_header(length: u16) -> Vec<u8> {
    stun_message(0x0003, length)
}

/// A STUN header of `message_type` announcing `length` bytes of attributes.
fn stun_message(message_type: u16, length: u16) -> Vec<u8> {
    let mut header = message_type.to_be_bytes().to_vec();
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&0x2112_A442u32.to_be_bytes());
    header.extend_from_slice(&[7; 12]);
    header
}

/// Sends `request` over TLS to the gateway's HTTPS port (its pinned
/// certificate trusted) and returns the 20-byte header of the answer.
async fn over_tls(gateway: &Gateway, request: &[u8]) -> [u8; 20] {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = gateway
        .trust()
        .rustls_config()
        .expect("a pinned TLS config");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gateway.http_port))
        .await
        .expect("the HTTPS port accepts");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    tls.write_all(request).await.unwrap();
    let mut answer = [0u8; 20];
    tokio::time::timeout(Duration::from_secs(3), tls.read_exact(&mut answer))
        .await
        .expect("an answer over TLS in time")
        .expect("an answer over TLS");
    answer
}

#[test]
fn strangers_on_the_https_port_disturb_neither_https_nor_a_consultation() {
    if !netns::isolate("strangers_on_the_https_port_disturb_neither_https_nor_a_consultation") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    // A short header timeout, so that the dribbling below is cut off soon.
    let gateway =
        Gateway::start_tls_with_env(GATEWAY_IP, &[("SAMSYN_LIMITS__HEADER_TIMEOUT_SECS", "3")]);
    let invite = gateway.create_room();
    let pin = invite.tls_pin_sha256.clone().expect("a self-signed pin");
    let _camera = Capture::start(
        &gateway,
        &invite,
        &support::pinned_camera_args(CLIENT_IP, &pin),
    );
    let port = gateway.http_port;
    // Beside everything else: a client that dribbles a byte a second is cut
    // off by the header timeout before it is even sorted, and one that
    // starts TURN but never authenticates by the relay's 10 s.
    let dribbling = std::thread::spawn(move || dribble(port, &stun_header(0), 0));
    let silent = std::thread::spawn(move || dribble(port, &stun_header(4), 20));

    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        let before = viewer
            .wait_frames(30, Duration::from_secs(20))
            .await
            .expect("the room streams before the strangers come")
            .frames;

        let held = tokio::task::spawn_blocking(move || {
            let quickly = Duration::from_secs(3);
            // Garbage first bytes: neither TLS, nor STUN, nor HTTP.
            assert!(closed_after(port, &[0xC7; 64], quickly), "garbage");
            // A frame longer than any datagram.
            assert!(
                closed_after(port, &stun_header(0xFFFC), quickly),
                "an oversized TURN frame"
            );
            // A STUN start, then bytes that are neither STUN nor ChannelData.
            let mut frames = stun_header(0);
            frames.extend_from_slice(&[0xC0; 24]);
            assert!(closed_after(port, &frames, quickly), "garbage after TURN");
            // Hundreds of connections from one address: the relay keeps a
            // few (until they fail to authenticate) and closes the rest.
            let mut held = Vec::new();
            for _ in 0..200 {
                if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = stream.write_all(&stun_header(0));
                    held.push(stream);
                }
            }
            held
        })
        .await
        .expect("the strangers' thread ends");
        let client = gateway
            .trust()
            .http_client(Duration::from_secs(2), Duration::from_secs(5))
            .unwrap();
        let health = client
            .get(format!("{}/healthz", gateway.base_url))
            .send()
            .await
            .expect("HTTPS answers while strangers hold connections");
        assert_eq!(health.status(), 200);
        drop(held);

        let after = viewer
            .wait_frames(before + 60, Duration::from_secs(10))
            .await
            .expect("the room keeps streaming through it all")
            .frames;
        println!("the room: {before} frames before the strangers, {after} after");
        // The relay answers on the HTTPS port over TLS and over plain TCP.
        let binding = stun_message(0x0001, 0);
        let over_tls = over_tls(&gateway, &binding).await;
        assert_eq!(over_tls[..2], [0x01, 0x01], "a Binding success over TLS");
        let over_tcp = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            stream.write_all(&binding).unwrap();
            let mut answer = [0u8; 20];
            stream.read_exact(&mut answer).map(|()| answer)
        })
        .await
        .unwrap()
        .expect("an answer over TCP");
        assert_eq!(over_tcp[..2], [0x01, 0x01], "a Binding success over TCP");

        // No open relay: the built-in relay takes only current credentials
        // and permits only the gateway's media address.
        let announced = announced_relays(&client, &invite.whep_url, &invite.viewer_token).await;
        let (_, credential) = announced
            .into_iter()
            .find(|(url, _)| url.starts_with("turn:"))
            .expect("the built-in relay over TCP is announced");
        let secret = std::fs::read(gateway.data_dir.path().join("turn/secret"))
            .expect("the relay's secret in the data directory");
        let media: SocketAddr = format!("{GATEWAY_IP}:{}", gateway.udp_port)
            .parse()
            .unwrap();
        tokio::task::spawn_blocking(move || {
            let relay = ("127.0.0.1", port);
            let expired = turn_credentials::mint(&secret, unix_now() - 60, "expired");
            let expired = TurnClient::connect(relay, "samsyn").allocate(&expired);
            assert!(
                matches!(expired, Err(401 | 441)),
                "an expired credential: {expired:?}"
            );
            let mut turn = TurnClient::connect(relay, "samsyn");
            turn.allocate(&credential)
                .expect("an allocation for the announced credential");
            assert_eq!(turn.permit(&credential, media), Ok(()));
            for elsewhere in [
                format!("{CLIENT_IP}:9"),
                format!("127.0.0.1:{port}"),
                "192.0.2.1:3478".to_owned(),
            ] {
                assert_eq!(
                    turn.permit(&credential, elsewhere.parse().unwrap()),
                    Err(403),
                    "a permission for {elsewhere}"
                );
            }
        })
        .await
        .expect("the TURN client's checks pass");

        let dribbled = dribbling.join().expect("the dribbling client ends");
        println!("a client dribbling a byte a second was cut off after {dribbled:?}");
        assert!(dribbled < Duration::from_secs(5), "{dribbled:?}");
        let unauthenticated = silent.join().expect("the silent client ends");
        println!("a TURN client that never authenticates was cut off after {unauthenticated:?}");
        assert!(
            (Duration::from_secs(9)..Duration::from_secs(13)).contains(&unauthenticated),
            "{unauthenticated:?}"
        );

        let text = gateway.scrape_metrics().await;
        let refused = metric(&text, "samsyn_relay_refused_total");
        println!("relay refusals counted: {refused}");
        // Two malformed streams, and the connections beyond the relay's
        // limit per address (32 of the 200).
        assert!(
            refused >= 2.0 + 150.0,
            "each stranger is counted: {refused}"
        );
        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
}
