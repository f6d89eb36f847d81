//! An external relay as the only way in: Debian's coturn with the shipped
//! `deploy/coturn/turnserver.conf`, filled in for the namespace (TURN REST
//! API credentials from the gateway's secret, relaying only to the gateway's
//! media address), with the gateway's built-in relay off and a network that lets
//! the clients reach the gateway only on its HTTPS port and coturn only over
//! TCP. The real capture daemon publishes and viewers watch through coturn;
//! coturn refuses credentials past their time and peers other than the
//! gateway. In a private network namespace, with nftables playing the
//! restrictive network; needs root and coturn's `turnserver`.

mod support;

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use samsyn_signaling::turn_credentials;
use support::browser::run_viewer_page;
use support::firewall::Firewall;
use support::netns::{self, CLIENT_IP, GATEWAY_IP};
use support::turn_client::{TurnClient, announced_relays};
use support::{Capture, Gateway, metric, runtime, start_viewer};

/// coturn's address: on `lo`, so that neither libnice nor Chromium gathers
/// a candidate on it, but every client reaches it.
const RELAY_IP: &str = "10.213.0.5";
const RELAY_PORT: u16 = 3478;
const RELAY: (&str, u16) = (RELAY_IP, RELAY_PORT);
/// What the gateway announces: TURN over TCP only, as the network allows.
const RELAY_URL: &str = "turn:10.213.0.5:3478?transport=tcp";
/// coturn's relayed ports (on [`RELAY_IP`]).
const RELAYED_PORTS: (u16, u16) = (49160, 49200);
const REALM: &str = "samsyn.test";
const CREDENTIAL_TTL_SECS: u64 = 600;

/// `turnserver` in the test's namespace, stopped on drop; its log is
/// printed if the test fails.
struct Coturn {
    child: Child,
    dir: PathBuf,
}

impl Coturn {
    /// Starts coturn with the shipped configuration, its placeholders
    /// filled in for this namespace, written (mode 0600: it holds the
    /// secret) into `dir`, and waits until it accepts TCP.
    fn start(dir: &Path, secret: &str) -> Self {
        let config = relay_config(dir, secret);
        let config_path = dir.join("turnserver.conf");
        write_private(&config_path, &config);
        let output = File::create(dir.join("turnserver.out")).expect("a file for coturn's output");
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("coturn's turnserver runs (Debian: apt-get install coturn)");
        let mut coturn = Self {
            child,
            dir: dir.to_owned(),
        };
        let relay: SocketAddr = format!("{RELAY_IP}:{RELAY_PORT}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&relay, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = coturn.child.try_wait() {
                panic!("turnserver exited ({status}):\n{}", coturn.output());
            }
            assert!(
                Instant::now() < deadline,
                "turnserver does not listen on {relay}:\n{}",
                coturn.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        coturn
    }

    fn output(&self) -> String {
        ["turnserver.out", "turnserver.log"]
            .map(|name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .join("\n")
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        support::stop(&mut self.child);
        if std::thread::panicking() {
            eprintln!("coturn's log:\n{}", self.output());
        }
    }
}

/// `deploy/coturn/turnserver.conf` as hospital IT would fill it in for
/// this namespace, plus what only a test needs.
fn relay_config(dir: &Path, secret: &str) -> String {
    let shipped_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/coturn/turnserver.conf");
    let shipped = std::fs::read_to_string(&shipped_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", shipped_path.display()));
    let mut config = String::new();
    for line in shipped.lines() {
        let filled = match line.split_once('=').map(|(name, _)| name) {
            Some("static-auth-secret" | "#static-auth-secret") => {
                format!("static-auth-secret={secret}")
            }
            Some("listening-ip" | "#listening-ip") => format!("listening-ip={RELAY_IP}"),
            Some("relay-ip" | "#relay-ip") => format!("relay-ip={RELAY_IP}"),
            Some("realm") => format!("realm={REALM}"),
            Some("allowed-peer-ip") => format!("allowed-peer-ip={GATEWAY_IP}"),
            _ if line == "syslog" => format!("log-file={}", dir.join("turnserver.log").display()),
            _ => line.to_owned(),
        };
        assert!(
            filled.starts_with('#') || !filled.contains("CHANGE-ME"),
            "the test fills in every placeholder of the shipped configuration: {filled}"
        );
        writeln!(config, "{filled}").unwrap();
    }
    let (min_port, max_port) = RELAYED_PORTS;
    for line in [
        // Later lines win: a narrow range of relayed ports for the
        // firewall rules, and no TLS listener (no certificate here).
        format!("min-port={min_port}"),
        format!("max-port={max_port}"),
        "no-tls".into(),
        // Nothing of the machine's own coturn: its database, pid file.
        format!("userdb={}", dir.join("turndb").display()),
        format!("pidfile={}", dir.join("turnserver.pid").display()),
        "simple-log".into(),
    ] {
        writeln!(config, "{line}").unwrap();
    }
    config
}

/// Writes `text` to a new file only its owner may read.
fn write_private(path: &Path, text: &str) {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The peers on UDP and through the external relay, as `/metrics` says.
async fn peers_by_path(client: &reqwest::Client, gateway: &Gateway) -> (f64, f64) {
    let text = client
        .get(format!("{}/metrics", gateway.base_url))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics has a body");
    (
        metric(&text, "samsyn_peers{path=\"udp\"}"),
        metric(&text, "samsyn_peers{path=\"external_relay\"}"),
    )
}

#[test]
fn with_only_coturn_over_tcp_open_the_camera_and_viewers_go_through_it() {
    if !netns::isolate("with_only_coturn_over_tcp_open_the_camera_and_viewers_go_through_it") {
        return;
    }
    let began = Instant::now();
    gstreamer::init().expect("GStreamer initialises");
    netns::ip(&["addr", "add", &format!("{RELAY_IP}/32"), "dev", "lo"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let secret_file = dir.path().join("turn-secret");
    write_private(&secret_file, &format!("{secret}\n"));
    let _coturn = Coturn::start(dir.path(), &secret);

    let gateway = Gateway::start_tls_with_env(
        GATEWAY_IP,
        &[
            ("SAMSYN_TURN__BUILTIN", "false"),
            ("SAMSYN_TURN__URLS", &format!("[\"{RELAY_URL}\"]")),
            ("SAMSYN_TURN__SECRET_FILE", secret_file.to_str().unwrap()),
            (
                "SAMSYN_TURN__CREDENTIAL_TTL_SECS",
                &CREDENTIAL_TTL_SECS.to_string(),
            ),
        ],
    );
    // The clients reach the gateway only on its HTTPS port and coturn only
    // over TCP; coturn's relayed ports alone exchange UDP with the media port.
    let media = gateway.udp_port;
    let (min_port, max_port) = RELAYED_PORTS;
    let relayed = format!("{min_port}-{max_port}");
    let firewall = Firewall::with_rules(&[
        format!("ip saddr {RELAY_IP} udp sport {relayed} udp dport {media} accept"),
        format!("udp dport {media} counter drop"),
        format!("ip daddr {RELAY_IP} udp dport {relayed} udp sport {media} accept"),
        format!("udp sport {media} counter drop"),
        format!("udp dport {RELAY_PORT} counter drop"),
    ]);
    let invite = gateway.create_room();
    let pin = invite.tls_pin_sha256.clone().expect("a self-signed pin");
    let client = gateway
        .trust()
        .http_client(Duration::from_secs(2), Duration::from_secs(5))
        .expect("a pinned client builds");

    // coturn checks the gateway's credentials with the shared secret, and
    // only while they are current; it relays only to the gateway.
    let rt = runtime();
    let announced = rt.block_on(announced_relays(
        &client,
        &invite.whep_url,
        &invite.viewer_token,
    ));
    assert_eq!(
        announced
            .iter()
            .map(|(url, _)| url.as_str())
            .collect::<Vec<_>>(),
        [RELAY_URL],
        "with the built-in relay off, coturn is the one relay announced"
    );
    let current = announced[0].1.clone();
    let now = now_unix();
    assert!(
        current.expires_unix > now && current.expires_unix <= now + CREDENTIAL_TTL_SECS + 5,
        "the credential lives turn.credential_ttl_secs at most"
    );
    let expired = turn_credentials::mint(secret.as_bytes(), now - 60, "expired-token");
    let foreign = turn_credentials::mint(b"not the relay's secret", now + 600, "foreign-token");
    assert_eq!(
        TurnClient::connect(RELAY, REALM).allocate(&expired),
        Err(401),
        "coturn refuses a credential past its expiry"
    );
    assert_eq!(
        TurnClient::connect(RELAY, REALM).allocate(&foreign),
        Err(401),
        "coturn refuses a credential made with another secret"
    );
    let mut turn = TurnClient::connect(RELAY, REALM);
    let relayed_address = turn
        .allocate(&current)
        .expect("coturn allocates for the gateway's current credential");
    assert_eq!(relayed_address.ip().to_string(), RELAY_IP);
    let gateway_media: SocketAddr = format!("{GATEWAY_IP}:{media}").parse().unwrap();
    let elsewhere = SocketAddr::new(CLIENT_IP.parse::<IpAddr>().unwrap(), 9);
    assert_eq!(turn.permit(&current, gateway_media), Ok(()));
    assert_eq!(
        turn.permit(&current, elsewhere),
        Err(403),
        "coturn relays to no one but the gateway"
    );
    drop(turn);
    println!(
        "coturn: expired and foreign credentials get 401, the announced one an allocation \
         at {relayed_address}; a permission for {CLIENT_IP} gets 403"
    );

    let started = Instant::now();
    let _camera = Capture::start(
        &gateway,
        &invite,
        &support::pinned_camera_args(CLIENT_IP, &pin),
    );
    let camera_sessions = rt.block_on(async {
        let mut viewer = start_viewer(&invite).await;
        let joined = Instant::now();
        let first = viewer
            .wait_frames(1, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("the viewer decodes nothing through coturn: {err}"));
        println!(
            "through coturn: the viewer's first frame {} ms after its WHEP session was made \
             ({:.1} s after the camera started)",
            joined.elapsed().as_millis(),
            started.elapsed().as_secs_f64()
        );
        let report = viewer
            .wait_frames(first.frames + 50, Duration::from_secs(20))
            .await
            .unwrap_or_else(|err| panic!("video through coturn stalls: {err}"));
        println!("through coturn: {} frames decoded", report.frames);

        // The metrics are published once a second.
        let mut peers = (0.0, 0.0);
        for _ in 0..20 {
            peers = peers_by_path(&client, &gateway).await;
            if peers.1 >= 2.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!("peers (udp, external_relay): {peers:?}");
        assert_eq!(peers.0, 0.0, "no session can be on UDP here");
        assert!(
            peers.1 >= 2.0,
            "the camera and the viewer count as relayed by coturn"
        );
        viewer.stop().await.expect("WHEP DELETE succeeds");
        // The camera's own sessions (video, and the talk-back it listens
        // to) stay: wait for the viewer's to leave the count, so that what
        // counts next is the page's.
        let mut remaining = peers.1;
        for _ in 0..20 {
            remaining = peers_by_path(&client, &gateway).await.1;
            if remaining < peers.1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(remaining < peers.1, "the viewer's session ends");
        remaining
    });

    // The specialist's page in Chromium, behind the same network, with the
    // gateway's metrics watched while it plays.
    let args: Vec<String> = [
        "--url",
        &invite.viewer_link,
        "--trust-spki",
        &gateway.spki_sha256_base64(),
        "--min-frames",
        "60",
        "--timeout-ms",
        "30000",
    ]
    .map(str::to_owned)
    .to_vec();
    let page = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_viewer_page(&args)
    });
    let (most_on_udp, most_relayed) = rt.block_on(async {
        let mut most = (0.0f64, 0.0f64);
        while !page.is_finished() {
            let (udp, relayed) = peers_by_path(&client, &gateway).await;
            most = (most.0.max(udp), most.1.max(relayed));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        most
    });
    let result = page
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    println!(
        "page through coturn: {} frames rendered, first frame {} ms after navigation start; \
         at most {most_relayed} peers relayed and {most_on_udp} on UDP meanwhile",
        result["framesRendered"], result["msToFirstFrame"]
    );
    assert_eq!(result["ok"], true);
    assert!(result["framesRendered"].as_u64().unwrap_or(0) >= 60);
    assert_eq!(most_on_udp, 0.0, "the page is not on UDP either");
    assert!(
        most_relayed > camera_sessions,
        "the page counts as relayed by coturn, beside the camera's {camera_sessions} sessions"
    );
    let dropped = firewall.dropped_packets();
    println!(
        "the firewall dropped {dropped} UDP datagrams; the test took {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert!(
        dropped > 0,
        "the clients tried UDP first, and the network dropped it"
    );
}
