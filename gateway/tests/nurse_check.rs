//! The nurse's check before a visit, against the real gateway with the real
//! `samsyn-bench connect` measuring the line.
//!
//! The check runs in this test process (`samsyn_capture::check::run_check`,
//! the function `samsyn-capture check` and the nurse screen both call):
//! `samsyn-capture` gets its `check` subcommand elsewhere, and calling the
//! function keeps the whole report in hand, not only what a terminal shows.
//! The terminal's words are checked with `render_report`, which is what
//! `check_command` prints. The line test is the real `samsyn-bench` binary,
//! which the check runs as a child: `SAMSYN_BENCH` names it, as an
//! installation elsewhere would.
//!
//! On an emulated path (`support::link`): the bench runs on the far side
//! (the nurse's laptop) through `ip netns exec`, the gateway on this side.
//! Limited to 1 Mbit/s the line is weak (marginal, exit code 1); clean it
//! is good (exit code 0). With UDP to the media port dropped (nftables) the
//! report names the gateway's relay over TCP as the way the video will go.
//!
//! The camera, microphone and sound parts use the test picture, the test
//! tone and no speaker, so the line alone decides the verdict. Needs root;
//! skips, saying so, without it. Build the bench first:
//! `cargo build -p samsyn-bench --bin samsyn-bench`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use samsyn_capture::check::{
    BENCH_ENV, CheckLevel, CheckReport, CheckStep, LinePath, LineTarget, render_report, run_check,
};
use samsyn_capture::gateway_tls::GatewayTrust;
use samsyn_config::{CaptureConfig, Microphone};
use support::firewall::Firewall;
use support::link::{self, EmulatedLink, Impairment, NEAR_IP};
use support::{Gateway, Invite, netns, runtime};

/// The nurse's settings: everything local is generated, so only the line
/// can make the check weak.
fn nurse_config() -> CaptureConfig {
    let mut config = CaptureConfig {
        source: "test".to_owned(),
        width: 320,
        height: 240,
        fps: 15,
        audio: true,
        microphone: Microphone::TestTone,
        ..CaptureConfig::default()
    };
    config.talkback.speaker = "none".to_owned();
    config
}

/// The room's line as the nurse's link gives it, through `gateway_url`.
fn line_to(gateway_url: &str, invite: &Invite) -> LineTarget {
    LineTarget {
        gateway: gateway_url.parse().expect("a gateway URL"),
        room: invite.room.clone(),
        token: invite.publisher_token.clone(),
        trust: GatewayTrust::SystemRoots,
    }
}

/// Makes the check run `bench` for the line.
fn use_bench(bench: &Path) {
    // SAFETY: set before the check starts any thread; the threads running
    // now (the emulated path's pumps and relays) only move bytes between
    // file descriptors and never read the environment.
    unsafe { std::env::set_var(BENCH_ENV, bench) };
}

/// A `samsyn-bench` that runs on the far side of `link`: a script in
/// `dir` that starts the real one there. The check's environment (the
/// token) passes through `ip netns exec`.
fn bench_on_far_side(link: &EmulatedLink, dir: &Path) -> PathBuf {
    let script = dir.join("samsyn-bench-on-the-far-side");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec ip netns exec '{}' '{}' \"$@\"\n",
            link.far_namespace(),
            support::bench_binary().display()
        ),
    )
    .expect("the wrapper is written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("the wrapper is executable");
    script
}

/// Runs the whole check; prints what the terminal would show.
fn check(line: LineTarget) -> (CheckReport, Vec<CheckStep>, String) {
    let steps = std::sync::Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let report = runtime().block_on(run_check(&nurse_config(), Some(line), &|step| {
        steps.lock().unwrap().push(step)
    }));
    let text = render_report(&report);
    println!(
        "{text}\nline: path {:?} ({:?}), profile {:?}, {:?} kbit/s, rtt {:?} ms; the check took \
         {:.1} s",
        report.line.path,
        report.line.path_url,
        report.line.profile,
        report.line.max_sustainable_kbps,
        report.line.rtt_ms,
        started.elapsed().as_secs_f64()
    );
    (report, steps.into_inner().unwrap(), text)
}

/// The parts on this laptop are fine, so the verdict is the line's.
fn assert_local_parts_good(report: &CheckReport) {
    assert_eq!(
        report.camera.finding.level,
        CheckLevel::Good,
        "{:?}",
        report.camera
    );
    assert_eq!(
        report.microphone.finding.level,
        CheckLevel::Good,
        "{:?}",
        report.microphone
    );
    assert!(report.sound.finding.skipped, "{:?}", report.sound);
    assert!(report.picture_jpeg.is_some(), "the screen gets a picture");
}

/// The gateway on this side, media on the path's address only; the
/// check's bench on the far side, reaching the gateway's HTTP over the path.
fn far_nurse_rig(link: &EmulatedLink, dir: &Path) -> (Gateway, Invite, LineTarget) {
    use_bench(&bench_on_far_side(link, dir));
    let gateway = Gateway::start_on(&[NEAR_IP]);
    let invite = gateway.create_room();
    let http = link.relay_to_near(gateway.http_port);
    let line = line_to(&format!("http://127.0.0.1:{http}"), &invite);
    (gateway, invite, line)
}

#[test]
fn a_one_megabit_line_is_weak_and_the_check_says_so() {
    const NAME: &str = "a_one_megabit_line_is_weak_and_the_check_says_so";
    let Some(link) = link::isolate_with_link(NAME) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_gateway, _invite, line) = far_nurse_rig(&link, dir.path());
    link.set_uplink(Impairment::rate(1_000_000, Duration::from_millis(500)));

    let (report, steps, text) = check(line);

    assert_eq!(
        steps,
        [
            CheckStep::Camera,
            CheckStep::Microphone,
            CheckStep::Sound,
            CheckStep::Line
        ]
    );
    assert_local_parts_good(&report);
    let line = &report.line;
    assert_eq!(line.finding.level, CheckLevel::Marginal, "{line:?}");
    assert_eq!(line.profile.as_deref(), Some("360p"), "{line:?}");
    let kbps = line.max_sustainable_kbps.expect("a rate");
    assert!(
        (500..1000).contains(&kbps),
        "{kbps} kbit/s on a 1 Mbit/s line"
    );
    assert_eq!(line.path, Some(LinePath::Udp));
    assert!(
        line.finding
            .headline
            .starts_with("Line to the hospital: weak. The consultation will work"),
        "{}",
        line.finding.headline
    );
    assert!(
        line.finding
            .headline_nb
            .starts_with("Linjen til sykehuset: svak.")
    );
    assert!(
        link.uplink_stats().queue_delays_ms.len() > 100,
        "the load went through the limited path"
    );

    assert_eq!(report.level, CheckLevel::Marginal);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.headline, line.finding.headline);
    assert!(
        text.contains("\n! Line to the hospital: weak.")
            && text.contains("\nVerdict: MARGINAL — Line to the hospital: weak.")
            && text.starts_with("Sjekk før besøket: SVAK — Linjen til sykehuset: svak."),
        "{text}"
    );
    assert!(
        report
            .advice
            .iter()
            .any(|a| a.starts_with("Move closer to the Wi-Fi router")),
        "{:?}",
        report.advice
    );
}

#[test]
fn a_clean_line_is_good_and_the_check_is_ready() {
    const NAME: &str = "a_clean_line_is_good_and_the_check_is_ready";
    let Some(link) = link::isolate_with_link(NAME) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (_gateway, _invite, line) = far_nurse_rig(&link, dir.path());

    let (report, _, text) = check(line);

    assert_local_parts_good(&report);
    let line = &report.line;
    assert_eq!(line.finding.level, CheckLevel::Good, "{line:?}");
    assert!(
        line.max_sustainable_kbps.is_some_and(|k| k >= 2000),
        "{line:?}"
    );
    assert_eq!(line.path, Some(LinePath::Udp));
    assert!(
        line.finding
            .headline
            .ends_with("The video goes straight to the hospital over UDP."),
        "{}",
        line.finding.headline
    );
    assert!(
        link.uplink_stats().passed > 1000,
        "the load crossed the path"
    );
    assert_eq!(report.level, CheckLevel::Good);
    assert_eq!(report.exit_code(), 0);
    assert!(report.advice.is_empty(), "{:?}", report.advice);
    assert!(
        text.contains("\n✓ Line to the hospital: good.")
            && text.contains("\nVerdict: GOOD — Everything works: ready for the consultation."),
        "{text}"
    );
}

#[test]
fn with_udp_dropped_the_check_names_the_relay_the_video_will_take() {
    const NAME: &str = "with_udp_dropped_the_check_names_the_relay_the_video_will_take";
    if !netns::isolate(NAME) {
        return;
    }
    use_bench(&support::bench_binary());
    // Plain HTTP here, so the built-in relay (TURN over TCP on the HTTP
    // port) is switched on explicitly; it is on by default with TLS.
    let gateway = Gateway::start_with_env(netns::GATEWAY_IP, &[("SAMSYN_TURN__BUILTIN", "true")]);
    let invite = gateway.create_room();
    let firewall = Firewall::drop_udp_port(gateway.udp_port);

    let (report, _, text) = check(line_to(&gateway.base_url, &invite));

    assert!(
        firewall.dropped_packets() > 0,
        "the network dropped nothing"
    );
    assert_local_parts_good(&report);
    let line = &report.line;
    assert_eq!(line.path, Some(LinePath::RelayTcp), "{line:?}");
    let relay = format!("turn:127.0.0.1:{}?transport=tcp", gateway.http_port);
    assert_eq!(line.path_url.as_deref(), Some(relay.as_str()));
    let through = format!(
        "The video goes through the hospital's relay over TCP (port {}), since UDP is blocked \
         on this network.",
        gateway.http_port
    );
    assert!(
        line.finding.headline.ends_with(&through),
        "{}",
        line.finding.headline
    );
    assert!(
        line.finding
            .headline_nb
            .contains("gjennom sykehusets relé over TCP"),
        "{}",
        line.finding.headline_nb
    );
    assert!(text.contains(&through), "{text}");
    // The relay carries the test; a loopback relay is fast enough for video.
    assert!(
        matches!(line.finding.level, CheckLevel::Good | CheckLevel::Marginal),
        "{line:?}"
    );
    assert_eq!(report.exit_code(), line.finding.level.exit_code());
}
