//! `samsyn-bench load` against the real gateway: a small run finishes with
//! rooms from the rooms API, and its figures agree with the gateway's own
//! `/metrics`.

mod support;

use support::{Gateway, artifacts_dir, assert_report_renders, binary, http_get, netns, run_bench};

#[test]
fn a_small_load_run_finishes_and_agrees_with_the_gateway_metrics() {
    if !netns::isolate("a_small_load_run_finishes_and_agrees_with_the_gateway_metrics") {
        return;
    }
    let gateway_bin = binary("samsyn-gateway");
    let gateway = Gateway::start(&gateway_bin, netns::GATEWAY_IP, "warn,rtc_dtls=error")
        .expect("gateway starts");
    let html = artifacts_dir().join("load.html");
    let admin_token = gateway.admin_token().expect("an admin token");
    let output = run_bench(&[
        "load",
        "--gateway",
        &gateway.base_url,
        // Rooms from the rooms API, as IT would make them.
        "--admin-token",
        &admin_token,
        "--rooms",
        "2",
        "--viewers",
        "4",
        "--step",
        "2",
        "--window-secs",
        "3",
        "--bitrate-kbps",
        "1500",
        "--local-address",
        netns::CLIENT_IP,
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "load exited with {}",
        output.status
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");

    let stages = json["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 2, "two stages of 2 viewers per room");
    assert_eq!(stages[1]["viewers"], 8);
    assert!(
        json["stopped_because"].is_null(),
        "{}",
        json["stopped_because"]
    );
    for stage in stages {
        assert_eq!(stage["viewers_without_picture"], 0);
        assert!(stage["gateway_cpu_percent"].as_f64().unwrap() > 0.0);
        assert!(stage["gateway_memory_mib"].as_f64().unwrap() > 1.0);
        // The gateway's count and the viewers' over the same window: the
        // metrics are updated once a second, so they may lag by that much.
        let forwarded = stage["forwarded_packets"].as_f64().unwrap();
        let received = stage["received_packets"].as_f64().unwrap();
        let window = stage["window_s"].as_f64().unwrap();
        assert!(forwarded > 0.0);
        assert!(
            (received - forwarded).abs() / forwarded <= 1.2 / window,
            "forwarded {forwarded}, received {received}"
        );
        let egress = stage["egress_mbps_viewers"].as_f64().unwrap();
        let viewers = stage["viewers"].as_f64().unwrap();
        assert!(
            egress > 0.7 * viewers * 1.5 && egress < 1.3 * viewers * 1.5,
            "{egress} Mbit/s for {viewers} viewers of 1.5 Mbit/s"
        );
    }
    // Over the whole run, with the cameras paused at the end, the counts meet.
    let agreement = &json["agreement"];
    let difference = agreement["difference_percent"].as_f64().unwrap();
    assert!(difference.abs() < 1.0, "{agreement}");
    assert!(
        agreement["gateway_ttff_ms_mean"].as_f64().is_some(),
        "{agreement}"
    );
    assert!(json["ttff_ms_p95"].as_f64().is_some_and(|t| t < 5000.0));

    // The run ended its sessions: the gateway soon counts no viewer (its
    // gauges are updated once a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let metrics = http_get(&gateway.base_url, "/metrics").expect("GET /metrics");
        if metrics.lines().any(|l| l == "samsyn_viewers 0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "viewers left after the run:\n{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // CPU, egress, loss and the time-to-first-frame histogram.
    let seen = assert_report_renders(&html, 4);
    let kinds: Vec<&str> = seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"histogram"), "{kinds:?}");
}

#[test]
fn a_relayed_load_run_reaches_every_viewer_through_the_gateways_relay() {
    if !netns::isolate("a_relayed_load_run_reaches_every_viewer_through_the_gateways_relay") {
        return;
    }
    // Plain HTTP here, so the built-in relay is switched on explicitly.
    let gateway = Gateway::start_with_env(
        &binary("samsyn-gateway"),
        netns::GATEWAY_IP,
        "warn,rtc_dtls=error",
        &[("SAMSYN_TURN__BUILTIN", "true")],
    )
    .expect("gateway starts");
    let admin_token = gateway.admin_token().expect("an admin token");
    let output = run_bench(&[
        "load",
        "--gateway",
        &gateway.base_url,
        "--admin-token",
        &admin_token,
        "--viewers",
        "3",
        "--window-secs",
        "2",
        "--bitrate-kbps",
        "1000",
        "--path",
        "relay-tcp",
        "--local-address",
        netns::CLIENT_IP,
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "load exited with {}",
        output.status
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(json["path"], "relay_tcp");
    let stage = &json["stages"][0];
    assert_eq!(stage["viewers_without_picture"], 0, "{stage}");
    // The gateway counts the three viewers as relayed (the camera is on UDP).
    assert_eq!(stage["gateway_relayed_peers"], 3.0, "{stage}");
    assert!(stage["received_packets"].as_u64().unwrap() > 0, "{stage}");
    // From the relay allocation to the first video packet.
    assert!(
        json["ttff_ms_p95"].as_f64().is_some_and(|t| t < 1500.0),
        "{}",
        json["ttff_ms_p95"]
    );
}

#[test]
fn load_through_the_tls_relay_is_refused_with_the_reason() {
    // Refused before anything is asked of the gateway.
    let output = run_bench(&[
        "load",
        "--gateway",
        "http://127.0.0.1:9",
        "--admin-token",
        "unused",
        "--path",
        "relay-tls",
    ]);
    assert_eq!(output.status.code(), Some(3), "nothing was measured");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not over TLS") && stderr.contains("--path relay-tcp"),
        "{stderr}"
    );
}
