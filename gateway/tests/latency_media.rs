//! The latency budget end to end, with the real capture daemon and gateway
//! in a private network namespace (needs root):
//!
//! - every video packet a WHEP viewer receives carries abs-capture-time,
//!   forwarded by the gateway, with values that fit the stream and this
//!   machine's clock;
//! - an encoder far too slow for its setting (x264 `veryslow` at 1080p30)
//!   makes the daemon step down the quality ladder and hold the budget
//!   again, as its status endpoint shows.

mod support;

use std::time::{Duration, Instant};

use samsyn_capture::status::Status;
use samsyn_capture::status::endpoint;
use samsyn_testkit::whep_viewer::ViewerOptions;
use support::netns::{self, GATEWAY_IP};
use support::{Capture, Gateway, free_tcp_port, runtime, start_viewer};

#[test]
fn abs_capture_time_reaches_a_whep_viewer_with_sane_values() {
    if !netns::isolate("abs_capture_time_reaches_a_whep_viewer_with_sane_values") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let camera = Capture::test_source(&gateway, &invite, 640, 360);
    runtime().block_on(async {
        let mut viewer = start_viewer(&invite).await;
        viewer
            .wait_frames(90, Duration::from_secs(15))
            .await
            .unwrap_or_else(|e| panic!("the viewer decodes the camera: {e}"));
        let report = viewer.latency();
        viewer.stop().await.expect("WHEP DELETE succeeds");

        println!(
            "extension id {:?}; {} of {} video packets carried abs-capture-time; \
             {} frames with glass-to-glass, {} without",
            report.extension_id,
            report.packets_with_capture_time,
            report.packets,
            report.glass_to_glass.len(),
            report.frames_without_capture_time
        );
        assert!(
            report.extension_id.is_some(),
            "the viewer's offer of abs-capture-time was answered"
        );
        assert!(report.packets >= 90, "{} packets", report.packets);
        assert_eq!(
            report.packets_with_capture_time, report.packets,
            "every forwarded video packet carries the capture time"
        );

        // Sane values: in the past (same clock), by seconds at most even on
        // a loaded machine, never by the NTP/Unix epoch gap or a unit error;
        // one value per frame; advancing with the RTP clock.
        let mut oldest = Duration::ZERO;
        for sample in &report.recent {
            let age = sample
                .arrived
                .duration_since(sample.captured)
                .unwrap_or_else(|e| panic!("a capture time {:?} in the future", e.duration()));
            assert!(
                age < Duration::from_secs(5),
                "a packet {age:?} after capture"
            );
            oldest = oldest.max(age);
        }
        println!(
            "oldest packet on arrival: {:.1} ms after capture",
            oldest.as_secs_f64() * 1e3
        );
        let frames: Vec<_> = report
            .recent
            .windows(2)
            .filter(|w| w[0].rtp_timestamp != w[1].rtp_timestamp)
            .map(|w| (w[0], w[1]))
            .collect();
        assert!(frames.len() > 30, "{} frame boundaries", frames.len());
        for pair in report.recent.windows(2) {
            if pair[0].rtp_timestamp == pair[1].rtp_timestamp {
                assert_eq!(
                    pair[0].captured, pair[1].captured,
                    "the packets of one frame carry one capture time"
                );
            }
        }
        for (a, b) in &frames {
            let by_rtp = f64::from(b.rtp_timestamp.wrapping_sub(a.rtp_timestamp)) / 90.0;
            let by_capture = b
                .captured
                .duration_since(a.captured)
                .map(|d| d.as_secs_f64() * 1e3)
                .unwrap_or(-1.0);
            assert!(
                (by_rtp - by_capture).abs() < 15.0,
                "capture times advance with the RTP clock: {by_capture:.1} ms against \
                 {by_rtp:.1} ms of RTP time"
            );
        }
        let mut g2g = report.glass_to_glass.clone();
        assert!(g2g.len() >= 60, "{} frames timed", g2g.len());
        g2g.sort();
        let p50 = g2g[g2g.len() / 2];
        println!(
            "glass-to-glass (capture to decoded, jitter buffer {} ms): p50 {:.1} ms, max {:.1} ms",
            ViewerOptions::new("http://x/".parse().unwrap(), "").jitter_buffer_ms,
            p50.as_secs_f64() * 1e3,
            g2g[g2g.len() - 1].as_secs_f64() * 1e3
        );
        assert!(
            p50 > Duration::ZERO && p50 < Duration::from_secs(1),
            "{p50:?}"
        );
    });
    let status = camera.terminate();
    assert!(
        status.success(),
        "the capture daemon exits cleanly: {status}"
    );
}

#[test]
fn a_slow_encoder_steps_down_the_ladder_and_holds_the_budget_again() {
    if !netns::isolate("a_slow_encoder_steps_down_the_ladder_and_holds_the_budget_again") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let gateway = Gateway::start(GATEWAY_IP);
    let invite = gateway.create_room();
    let port = free_tcp_port().to_string();
    let camera = Capture::start(
        &gateway,
        &invite,
        &[
            "--source",
            "test",
            "--width",
            "1920",
            "--height",
            "1080",
            "--fps",
            "30",
            "--x264-preset",
            "veryslow",
            // Half a frame interval: on an idle machine `veryslow` encodes
            // the test pattern's simple picture in 20–30 ms, close to a whole
            // frame interval; half of it is missed whatever the machine's load.
            "--encode-budget-ms",
            "15",
            "--no-audio",
            "--ice-address",
            netns::CLIENT_IP,
            "--status-port",
            &port,
        ],
    );
    let port: u16 = port.parse().unwrap();
    runtime().block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let mut stepped_down_after = None;
        let mut last: Option<Status> = None;
        // Held: a full status window (10 s) after the last step with the
        // encode path's p95 inside the budget.
        let held = loop {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the budget was not held again within 90 s; last status: {last:#?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Ok(now) = endpoint::fetch(&http, port).await else {
                continue;
            };
            if stepped_down_after.is_none() && now.ladder.rung > 0 {
                stepped_down_after = Some(now.uptime_secs);
                println!(
                    "stepped down after {:.1} s: {:#?}",
                    now.uptime_secs, now.ladder.steps
                );
            }
            let last_step = now.ladder.steps.last().map_or(0.0, |s| s.at_secs);
            let inside = now
                .latency
                .encode_path_ms
                .is_some_and(|p| p.p95 <= now.latency.encode_budget_ms && p.frames >= 100);
            let settled = now.uptime_secs - last_step >= 10.0;
            if now.ladder.rung > 0 && inside && settled {
                break now;
            }
            last = Some(now);
        };
        let first = &held.ladder.steps[0];
        println!(
            "held at rung {} ({}) after {:.1} s: encode p95 {:.1} ms / budget {:.1} ms, \
             {:.1} % of frames within budget over {} s; steps: {:#?}",
            held.ladder.rung,
            held.ladder.setting,
            held.uptime_secs,
            held.latency.encode_path_ms.unwrap().p95,
            held.latency.encode_budget_ms,
            held.latency.budget_held_percent.unwrap_or(0.0),
            held.latency.window_secs,
            held.ladder.steps
        );
        assert_eq!((first.from, first.to), (0, 1));
        assert!(
            first.cause.contains("over the 15.0 ms budget"),
            "the step names its measurement: {}",
            first.cause
        );
        assert!(first.setting.contains("ultrafast"), "{}", first.setting);
        assert!(
            held.latency.budget_held_percent.unwrap_or(0.0) >= 90.0,
            "{:?}",
            held.latency.budget_held_percent
        );
        assert_eq!(held.video.encoder.as_deref(), Some("x264enc"));
        assert_eq!(held.video.preset.as_deref(), Some("ultrafast"));
        assert!(
            held.video.capture_time_sent,
            "the gateway accepted abs-capture-time"
        );
        assert!(
            held.video.fps > 5.0,
            "video still flows: {:.1} fps",
            held.video.fps
        );
    });
    let status = camera.terminate();
    assert!(
        status.success(),
        "the capture daemon exits cleanly: {status}"
    );
}
