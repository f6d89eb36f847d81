//! `samsyn-bench connect` against the real gateway over a rate-limited link,
//! and on a network that drops UDP.
//!
//! In a private network namespace: the gateway's media on 10.213.0.1, the
//! bench sending from 10.213.0.2 through `veth-cl` (`--interface`), whose
//! egress a token bucket (`tc tbf`) limits like a slow uplink. The bench must
//! find the limit within ±25 % and pick the profile that fits. With UDP to
//! the media port dropped (nftables), it must find the gateway's built-in
//! relay and run the test through it.

mod support;

use samsyn_bench::signal::Target;
use support::firewall::Firewall;
use support::{Gateway, artifacts_dir, assert_report_renders, binary, netns, run_bench, shape};

/// `samsyn-bench connect` at the gateway's base URL; with `room` `None` the
/// room is the one the token names.
fn connect(
    gateway: &Gateway,
    token: &str,
    room: Option<&str>,
    html: &str,
) -> (serde_json::Value, i32) {
    let mut args = vec!["connect", "--html", html, "--gateway", &gateway.base_url];
    if let Some(room) = room {
        args.extend(["--room", room]);
    }
    args.extend([
        "--token",
        token,
        "--json",
        "--interface",
        "veth-cl",
        "--local-address",
        netns::CLIENT_IP,
    ]);
    let output = run_bench(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let json = serde_json::from_str(&stdout).expect("connect --json prints one JSON object");
    (json, output.status.code().expect("exit code"))
}

/// `room_flag`: whether the bench is given `--room` as well as the token.
fn check_limit(limit_kbit: u32, expected_profile: &str, expected_exit: i32, room_flag: bool) {
    let gateway = Gateway::start(
        &binary("samsyn-gateway"),
        netns::GATEWAY_IP,
        "warn,rtc_dtls=error",
    )
    .expect("gateway starts");
    let invite = gateway.create_room().expect("room");
    shape("veth-cl", limit_kbit);
    let started = std::time::Instant::now();
    let html = artifacts_dir().join(format!("connect-{limit_kbit}kbit.html"));
    let (json, code) = connect(
        &gateway,
        &invite.publisher_token,
        room_flag.then_some(invite.room.as_str()),
        html.to_str().unwrap(),
    );
    let took = started.elapsed();
    assert_eq!(json["room"], invite.room.as_str());
    let found = json["max_sustainable_kbps"]
        .as_f64()
        .expect("max_sustainable_kbps");
    // The limit counts IP packets; the bench reports media (RTP payload).
    let error = (found - f64::from(limit_kbit)) / f64::from(limit_kbit);
    println!(
        "limit {limit_kbit} kbit/s: found {found} kbit/s ({:+.0} %), profile {}, rtt {} ms, exit {code}, {:.1} s",
        error * 100.0,
        json["profile"],
        json["rtt_ms"],
        took.as_secs_f64()
    );
    assert!(
        error.abs() <= 0.25,
        "found {found} kbit/s for a {limit_kbit} kbit/s limit"
    );
    assert_eq!(json["profile"], expected_profile);
    assert_eq!(code, expected_exit);
    assert!(
        json["rtt_ms"].as_f64().is_some_and(|r| r < 50.0),
        "{}",
        json["rtt_ms"]
    );
    assert!(took.as_secs() < 30, "took {took:?}");

    // The report IT would attach renders, with its plots.
    let seen = assert_report_renders(&html, 4);
    assert_eq!(seen["requests"], 0);
    let level = if expected_exit == 0 {
        "good"
    } else {
        "marginal"
    };
    assert_eq!(seen["verdict"], level);
}

#[test]
fn connect_finds_a_3_mbit_uplink_and_chooses_720p() {
    if !netns::isolate("connect_finds_a_3_mbit_uplink_and_chooses_720p") {
        return;
    }
    // As IT runs it: the gateway's address and the publisher token, which
    // names the room.
    check_limit(3000, "720p30", 0, false);
}

#[test]
fn connect_finds_a_900_kbit_uplink_and_chooses_360p() {
    if !netns::isolate("connect_finds_a_900_kbit_uplink_and_chooses_360p") {
        return;
    }
    check_limit(900, "360p", 1, true);
}

#[test]
fn connect_with_udp_dropped_finds_the_gateways_relay_and_tests_through_it() {
    if !netns::isolate("connect_with_udp_dropped_finds_the_gateways_relay_and_tests_through_it") {
        return;
    }
    // Plain HTTP here, so the built-in relay (TURN over TCP on the HTTP
    // port) is switched on explicitly; it is on by default with TLS.
    let gateway = Gateway::start_with_env(
        &binary("samsyn-gateway"),
        netns::GATEWAY_IP,
        "warn,rtc_dtls=error",
        &[("SAMSYN_TURN__BUILTIN", "true")],
    )
    .expect("gateway starts");
    let invite = gateway.create_room().expect("room");
    let firewall = Firewall::drop_udp_port(gateway.udp_port);
    let started = std::time::Instant::now();
    let html = artifacts_dir().join("connect-udp-blocked.html");
    let (json, code) = connect(
        &gateway,
        &invite.publisher_token,
        Some(&invite.room),
        html.to_str().unwrap(),
    );
    let took = started.elapsed();
    println!(
        "UDP dropped: paths {}, consultation path {}, {} kbit/s, rtt {} ms, exit {code}, {:.1} s \
         ({} datagrams dropped)",
        json["paths"],
        json["consultation_path"],
        json["max_sustainable_kbps"],
        json["rtt_ms"],
        took.as_secs_f64(),
        firewall.dropped_packets()
    );
    assert!(
        firewall.dropped_packets() > 0,
        "the network dropped nothing"
    );
    let paths = json["paths"].as_array().expect("paths");
    let path = |name: &str| {
        paths
            .iter()
            .find(|p| p["path"] == name)
            .unwrap_or_else(|| panic!("no {name} path in {paths:?}"))
    };
    let udp = path("udp");
    assert_eq!(udp["works"], false, "{udp}");
    assert!(udp["url"].is_null() && udp["rtt_ms"].is_null(), "{udp}");
    let relay = path("relay_tcp");
    assert_eq!(relay["works"], true, "{relay}");
    let expected_url = format!(
        "turn:{}?transport=tcp",
        gateway.base_url.trim_start_matches("http://")
    );
    assert_eq!(relay["url"], expected_url.as_str());
    assert!(
        relay["rtt_ms"].as_f64().is_some_and(|r| r < 50.0),
        "{relay}"
    );
    // The whole test ran through the relay: an unshaped line carries the
    // highest step.
    assert_eq!(relay["max_sustainable_kbps"], 8000, "{relay}");
    assert_eq!(json["consultation_path"], "relay_tcp");
    assert_eq!(json["connected"], true);
    assert_eq!(json["max_sustainable_kbps"], 8000);
    assert_eq!(code, 0, "a relayed line that carries 1080p is good");
    let summary = json["path_summary"].as_str().expect("path_summary");
    assert!(
        summary.starts_with("UDP til gatewayen er blokkert på dette nettet; video går gjennom")
            && summary.contains("UDP to the gateway is blocked on this network"),
        "{summary}"
    );
    assert_eq!(json["advice"][0], summary);
    assert!(took.as_secs() < 45, "took {took:?}");
    // The report IT would attach renders, with the paths in it.
    let seen = assert_report_renders(&html, 4);
    assert_eq!(seen["requests"], 0);
    assert_eq!(seen["verdict"], "good");
    let page = std::fs::read_to_string(&html).expect("the report");
    assert!(
        page.contains("Paths · Veier"),
        "no path table in the report"
    );
}

#[test]
fn connect_with_the_specialists_token_says_which_token_to_use() {
    // No media moves: the gateway refuses the offer, so loopback will do.
    let gateway =
        Gateway::start(&binary("samsyn-gateway"), "127.0.0.1", "warn").expect("gateway starts");
    let invite = gateway.create_room().expect("room");
    let output = run_bench(&[
        "connect",
        "--gateway",
        &invite.whip_url,
        "--token",
        &invite.viewer_token,
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(3), "the line was not tested");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("publisher token"), "{stderr}");
    assert!(output.stdout.is_empty(), "no verdict for an untested line");
}

#[test]
fn connect_reads_the_room_from_the_token() {
    // Only the room's resolution is checked: the gateway's refusal of the
    // specialists' token shows that the bench got as far as offering in the
    // token's room. No media moves, so loopback will do.
    let gateway =
        Gateway::start(&binary("samsyn-gateway"), "127.0.0.1", "warn").expect("gateway starts");
    let invite = gateway.create_room().expect("room");
    let target = Target::parse(&gateway.base_url, None, Some(&invite.publisher_token))
        .expect("the publisher token names the room");
    assert_eq!(target.room, invite.room);
    assert_eq!(target.base.as_str(), format!("{}/", gateway.base_url));
    // An explicit --room that agrees with the token is fine.
    let target = Target::parse(
        &gateway.base_url,
        Some(&invite.room),
        Some(&invite.publisher_token),
    )
    .expect("the same room twice");
    assert_eq!(target.room, invite.room);
    // A token that names no room leaves it to --room.
    let target = Target::parse(&gateway.base_url, Some(&invite.room), Some("not-a-jwt"))
        .expect("--room with an unreadable token");
    assert_eq!(target.room, invite.room);
    let err = Target::parse(&gateway.base_url, None, Some("not-a-jwt")).unwrap_err();
    assert!(err.to_string().starts_with("which room?"), "{err}");

    let output = run_bench(&[
        "connect",
        "--gateway",
        &gateway.base_url,
        "--token",
        &invite.viewer_token,
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("which room"), "{stderr}");
    assert!(stderr.contains("publisher token"), "{stderr}");
}

#[test]
fn connect_refuses_a_room_the_token_is_not_for() {
    let gateway =
        Gateway::start(&binary("samsyn-gateway"), "127.0.0.1", "warn").expect("gateway starts");
    let invite = gateway.create_room().expect("room");
    let other = gateway.create_room().expect("a second room");
    for gateway_arg in [gateway.base_url.clone(), other.whip_url.clone()] {
        let room_flag: &[&str] = if gateway_arg == gateway.base_url {
            &["--room", &other.room]
        } else {
            &[]
        };
        let mut args = vec!["connect", "--gateway", &gateway_arg];
        args.extend(room_flag);
        args.extend(["--token", &invite.publisher_token, "--json"]);
        let output = run_bench(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains(&other.room) && stderr.contains(&invite.room),
            "the error names both rooms: {stderr}"
        );
        assert!(stderr.contains("not the room the token is for"), "{stderr}");
        assert!(
            !stderr.contains(&invite.publisher_token),
            "no token in the error: {stderr}"
        );
        assert!(output.stdout.is_empty(), "no verdict for an untested line");
    }
}
