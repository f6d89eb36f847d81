//! The real gateway under `samsyn-bench load`: CPU per forwarded packet with
//! many viewers, time to first frame, memory per viewer; and the send path
//! with and without UDP GSO, alternated in one run so both see the same
//! machine.
//!
//! Inside a private network namespace (root): the release gateway with its
//! media on 10.213.0.1, the release `samsyn-bench load` with a synthetic
//! 2.5 Mbit/s camera and N viewers on 10.213.0.2.
//!
//! Run: `cargo build --release --bins && cargo bench -p samsyn-bench --bench gateway_load`.
//! `SAMSYN_BENCH_VIEWERS` (default 50), `SAMSYN_BENCH_STEP` (default 10),
//! `SAMSYN_BENCH_WINDOW_SECS` (default 10), `SAMSYN_BENCH_ROUNDS` (default 2:
//! GSO on, off, on, off).
//! `SAMSYN_BENCH_BASELINE_GATEWAY=<path to another samsyn-gateway>`: instead of
//! GSO against `sendto`, this build against that one (both with GSO), so a
//! change to the gateway is judged by a ratio from one run.
//! `SAMSYN_BENCH_COMPARE=paths`: instead, viewers straight over UDP against
//! viewers only through the gateway's built-in TURN relay over TCP
//! (`load --path relay-tcp`), each also with lone joiners for the time to
//! first frame. The viewers come from four addresses (10.213.0.2–5), as the
//! relay takes at most 32 connections from one.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use support::{Gateway, netns, target_dir};

const NAME: &str = "gateway_load";
const INSIDE_MARKER: &str = "SAMSYN_NETNS_TEST";

fn main() -> ExitCode {
    if std::env::var(INSIDE_MARKER).as_deref() == Ok(NAME) {
        return match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gateway_load: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("gateway_load: a measurement, not a test; run it with `cargo bench`");
        return ExitCode::SUCCESS;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("gateway_load: skipped; it runs in a private network namespace and needs root");
        return ExitCode::SUCCESS;
    }
    netns::isolate(NAME);
    ExitCode::SUCCESS
}

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run() -> anyhow::Result<()> {
    let (viewers, step, window, rounds) = (
        setting("SAMSYN_BENCH_VIEWERS", 50),
        setting("SAMSYN_BENCH_STEP", 10),
        setting("SAMSYN_BENCH_WINDOW_SECS", 10),
        setting("SAMSYN_BENCH_ROUNDS", 2),
    );
    let release = target_dir()?.join("release");
    let (gateway_bin, bench_bin) = (release.join("samsyn-gateway"), release.join("samsyn-bench"));
    if !gateway_bin.exists() || !bench_bin.exists() {
        bail!("build the release binaries first: cargo build --release --bins");
    }
    println!(
        "1 room, synthetic camera at 2500 kbit/s, viewers {step}..{viewers} in steps of {step}, \
         {window} s windows; release build"
    );
    println!(
        "{:<8} {:>7} {:>9} {:>12} {:>11} {:>9} {:>9} {:>8} {:>9} {:>7}",
        "variant",
        "viewers",
        "CPU %",
        "µs/packet",
        "egress Mb/s",
        "TTFF p50",
        "TTFF p95",
        "loss %",
        "RSS MiB",
        "relayed"
    );
    let variants = compared_variants(&gateway_bin)?;
    let paths = std::env::var("SAMSYN_BENCH_COMPARE").as_deref() == Ok("paths");
    if paths {
        for address in EXTRA_CLIENT_IPS {
            netns::ip(&["addr", "add", &format!("{address}/24"), "dev", "veth-cl"]);
        }
    }
    // (variant, viewers, µs per forwarded packet) of every stage.
    let mut per_packet: Vec<(usize, u64, f64)> = Vec::new();
    let ramp = [
        "--viewers".to_owned(),
        viewers.to_string(),
        "--step".to_owned(),
        step.to_string(),
        "--window-secs".to_owned(),
        window.to_string(),
    ];
    for round in 0..rounds * 2 {
        let which = round as usize % 2;
        let variant = &variants[which];
        let mut args = ramp.to_vec();
        args.extend(variant.args.iter().map(|a| a.to_string()));
        let json = load(&variant.gateway_bin, &bench_bin, variant.env, &args)?;
        print_stages(variant.label, &json);
        for stage in json["stages"].as_array().into_iter().flatten() {
            per_packet.push((
                which,
                stage["viewers"].as_u64().unwrap_or(0),
                stage["gateway_cpu_us_per_packet"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            ));
        }
    }
    // Viewers joining one at a time, further apart than the keyframe-request
    // interval (500 ms): the time to first frame of a lone joiner.
    let spaced = [
        "--viewers",
        "20",
        "--step",
        "20",
        "--window-secs",
        "3",
        "--join-interval-ms",
        "700",
    ]
    .map(String::from);
    if paths {
        for variant in &variants {
            let mut args = spaced.to_vec();
            args.extend(variant.args.iter().map(|a| a.to_string()));
            let json = load(&variant.gateway_bin, &bench_bin, variant.env, &args)?;
            print_stages(&format!("{}-lone", variant.label), &json);
        }
    } else {
        // Idle viewers: the camera connected but silent.
        let mut idle = ramp[..4].to_vec();
        idle.extend(["--window-secs", "3", "--idle"].map(String::from));
        let json = load(&gateway_bin, &bench_bin, &[], &idle)?;
        print_stages("idle", &json);
        let json = load(&gateway_bin, &bench_bin, &[], &spaced)?;
        print_stages("spaced", &json);
    }
    let mut counts: Vec<u64> = per_packet.iter().map(|p| p.1).collect();
    counts.sort_unstable();
    counts.dedup();
    let (first, second) = (variants[0].label, variants[1].label);
    for count in counts {
        let mean = |which: usize| {
            let v: Vec<f64> = per_packet
                .iter()
                .filter(|p| p.0 == which && p.1 == count)
                .map(|p| p.2)
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        println!(
            "µs per forwarded packet at {count} viewers: {first} {:.2}, {second} {:.2}; \
             {first} / {second} = {:.2}",
            mean(0),
            mean(1),
            mean(0) / mean(1)
        );
    }
    Ok(())
}

/// One of the two gateways (or send paths, or viewer paths) a run
/// alternates between.
struct Variant {
    label: &'static str,
    gateway_bin: PathBuf,
    env: &'static [(&'static str, &'static str)],
    /// Extra arguments of `samsyn-bench load`.
    args: &'static [&'static str],
}

/// More addresses of the viewers' side, for `SAMSYN_BENCH_COMPARE=paths`.
const EXTRA_CLIENT_IPS: [&str; 3] = ["10.213.0.3", "10.213.0.4", "10.213.0.5"];

/// The gateway's built-in relay on (its HTTP port here), with room for 50
/// relayed viewers from the bench's addresses.
const RELAY_ON: &[(&str, &str)] = &[
    ("SAMSYN_TURN__BUILTIN", "true"),
    ("SAMSYN_LIMITS__MAX_RELAY_ALLOCATIONS_PER_IP", "128"),
];

/// GSO against one `sendto` per datagram, or this build against a baseline.
fn compared_variants(gateway_bin: &Path) -> anyhow::Result<[Variant; 2]> {
    let this = |label| Variant {
        label,
        gateway_bin: gateway_bin.to_owned(),
        env: &[],
        args: &[],
    };
    if std::env::var("SAMSYN_BENCH_COMPARE").as_deref() == Ok("paths") {
        return Ok([
            Variant {
                env: RELAY_ON,
                args: &[
                    "--path",
                    "relay-tcp",
                    "--local-address",
                    EXTRA_CLIENT_IPS[0],
                    "--local-address",
                    EXTRA_CLIENT_IPS[1],
                    "--local-address",
                    EXTRA_CLIENT_IPS[2],
                ],
                ..this("relay")
            },
            Variant {
                env: RELAY_ON,
                args: &[
                    "--path",
                    "udp",
                    "--local-address",
                    EXTRA_CLIENT_IPS[0],
                    "--local-address",
                    EXTRA_CLIENT_IPS[1],
                    "--local-address",
                    EXTRA_CLIENT_IPS[2],
                ],
                ..this("udp")
            },
        ]);
    }
    Ok(match std::env::var_os("SAMSYN_BENCH_BASELINE_GATEWAY") {
        Some(baseline) => {
            let baseline = PathBuf::from(baseline);
            if !baseline.exists() {
                bail!(
                    "SAMSYN_BENCH_BASELINE_GATEWAY: {} does not exist; give the path of a \
                     samsyn-gateway binary to compare with",
                    baseline.display()
                );
            }
            [
                this("this"),
                Variant {
                    label: "baseline",
                    gateway_bin: baseline,
                    env: &[],
                    args: &[],
                },
            ]
        }
        None => [
            this("gso"),
            Variant {
                label: "sendto",
                gateway_bin: gateway_bin.to_owned(),
                env: &[("SAMSYN_MEDIA_GSO", "off")],
                args: &[],
            },
        ],
    })
}

/// One `samsyn-bench load` run against a fresh gateway.
fn load(
    gateway_bin: &Path,
    bench_bin: &Path,
    env: &[(&str, &str)],
    args: &[String],
) -> anyhow::Result<serde_json::Value> {
    let gateway =
        Gateway::start_with_env(gateway_bin, netns::GATEWAY_IP, "warn,rtc_dtls=error", env)?;
    let output = Command::new(bench_bin)
        .args(["load", "--gateway", &gateway.base_url, "--data-dir"])
        .arg(gateway.data_dir.path())
        .arg("--gateway-bin")
        .arg(gateway_bin)
        .args(["--rooms", "1", "--max-loss-percent", "100"])
        .args(["--local-address", netns::CLIENT_IP, "--json"])
        .args(args)
        .output()
        .context("samsyn-bench load runs")?;
    if !output.status.success() {
        bail!("load failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn print_stages(label: &str, json: &serde_json::Value) {
    for stage in json["stages"].as_array().into_iter().flatten() {
        let f = |k: &str| stage[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<8} {:>7} {:>9.1} {:>12.2} {:>11.1} {:>9.1} {:>9.1} {:>8.2} {:>9.1} {:>7}",
            label,
            f("viewers"),
            f("gateway_cpu_percent"),
            f("gateway_cpu_us_per_packet"),
            f("egress_mbps_gateway"),
            f("ttff_ms_p50"),
            f("ttff_ms_p95"),
            f("loss_percent_worst"),
            f("gateway_memory_mib"),
            f("gateway_relayed_peers"),
        );
    }
    println!(
        "{label:<8} all: TTFF p50 {:.1} ms, p95 {:.1} ms; memory per viewer {:.0} KiB; \
         {} keyframe requests; forwarded {} / received {}",
        json["ttff_ms_p50"].as_f64().unwrap_or(f64::NAN),
        json["ttff_ms_p95"].as_f64().unwrap_or(f64::NAN),
        json["memory_per_viewer_kib"].as_f64().unwrap_or(f64::NAN),
        json["keyframe_requests"],
        json["agreement"]["forwarded_packets_metrics"],
        json["agreement"]["received_packets_viewers"],
    );
}
