//! `samsyn-bench latency`: glass-to-glass and encode-path latency on one
//! machine.
//!
//! Runs the real `samsyn-gateway` and `samsyn-capture` (test pattern) on
//! 127.0.0.1 (the daemon pins ICE to loopback, as in the demo) and a
//! decoding WHEP viewer in this process ([`samsyn_testkit::whep_viewer`]). The
//! viewer reads each packet's abs-capture-time on arrival and, for every
//! decoded frame, how long after its capture it was decoded: glass-to-glass
//! without the screen (same clock, so no NTP question). The encode path
//! (capture timestamp to the frame's last RTP packet handed to webrtcbin)
//! comes from the daemon's status endpoint.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::child::Process;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use samsyn_capture::latency::stats::Percentiles;
use samsyn_capture::status::Status;
use samsyn_capture::status::endpoint;
use samsyn_testkit::whep_viewer::{ViewerOptions, WhepViewer};
use serde::{Deserialize, Serialize};

/// What to measure, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// Seconds to measure (after the warm-up)
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Seconds of streaming before measuring starts
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Frame width of the test picture
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Frame height of the test picture
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Frames per second
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Busy threads to start when measuring starts (1 keeps one core of two
    /// busy: does the ladder step down and hold the budget?)
    #[arg(long, default_value_t = 0)]
    pub cpu_hog: usize,
    /// Extra flags for samsyn-capture, e.g. "--x264-preset veryfast"
    #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
    pub capture_flags: Option<String>,
    /// The viewer's jitter buffer, ms
    #[arg(long, default_value_t = 50)]
    pub jitter_buffer_ms: u32,
    /// samsyn-gateway binary [default: next to samsyn-bench, then $PATH]
    #[arg(long, value_name = "PATH")]
    pub gateway_bin: Option<PathBuf>,
    /// samsyn-capture binary [default: next to samsyn-bench, then $PATH]
    #[arg(long, value_name = "PATH")]
    pub capture_bin: Option<PathBuf>,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
    /// Keep samsyn-capture's log in this file (its filter: $SAMSYN_LOG, or
    /// info; e.g. SAMSYN_LOG=info,samsyn_capture::latency::ladder=debug
    /// logs every second the quality ladder judges)
    #[arg(long, value_name = "PATH")]
    pub capture_log: Option<PathBuf>,
}

/// The result, as `--json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyResult {
    /// Capture timestamp to last RTP packet handed to webrtcbin, from the
    /// daemon (its whole session: warm-up and measurement).
    pub encode_path_ms: Percentiles,
    /// Capture timestamp to decoded frame at the viewer, over the measurement.
    pub glass_to_glass_ms: Percentiles,
    /// The daemon's encode budget, ms.
    pub encode_budget_ms: f64,
    /// Frames within the budget, percent, since the daemon started.
    pub budget_held_percent: Option<f64>,
    /// The encode path over the daemon's last 10 s (after any ladder steps).
    pub last_window_encode_path_ms: Option<Percentiles>,
    /// Frames within the budget over the daemon's last 10 s, percent.
    pub last_window_budget_held_percent: Option<f64>,
    /// Frames the daemon dropped, by reason.
    pub frames_dropped: std::collections::BTreeMap<String, u64>,
    /// The quality ladder's steps (seconds after the daemon started).
    pub ladder_steps: Vec<samsyn_capture::status::StepRecord>,
    /// When the CPU hog started, seconds after the daemon started (with --cpu-hog).
    pub hog_started_at_secs: Option<f64>,
    /// Video packets the viewer received, and how many carried abs-capture-time.
    pub packets: (u64, u64),
    /// The setting at the end, e.g. `1280x720@30 superfast`.
    pub setting: String,
    /// What was measured and where.
    pub machine: String,
    /// Load average (1 min) at the start and at the end.
    pub load: (f64, f64),
}

/// Runs the measurement and prints it.
pub fn run(args: &LatencyArgs) -> anyhow::Result<()> {
    gstreamer::init()
        .context("GStreamer could not be initialised; install gstreamer1.0-plugins-base")?;
    let gateway_bin = find_binary("samsyn-gateway", args.gateway_bin.as_deref())?;
    let capture_bin = find_binary("samsyn-capture", args.capture_bin.as_deref())?;
    let work = tempfile::tempdir().context("cannot make a temporary directory")?;
    let http_port = free_tcp_port()?;
    let status_port = free_tcp_port()?;
    let media_port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{http_port}");
    let load_start = load_average();

    let _gateway = Process::spawn(
        Command::new(&gateway_bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{http_port}")])
            .arg("--data-dir")
            .arg(work.path())
            .args([
                "--public-url",
                &base,
                "--media-udp-port",
                &media_port.to_string(),
            ])
            .env("SAMSYN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file(work.path(), "gateway.log")?),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let http = reqwest::Client::new();
    runtime.block_on(wait_healthy(&http, &base))?;
    let invite = create_room(&gateway_bin, work.path(), &base)?;

    let mut capture = Command::new(&capture_bin);
    capture
        .args([
            "--gateway",
            &base,
            "--room",
            &invite.room,
            "--source",
            "test",
        ])
        .args([
            "--width",
            &args.width.to_string(),
            "--height",
            &args.height.to_string(),
        ])
        .args(["--fps", &args.fps.to_string(), "--no-audio"])
        .args(["--status-port", &status_port.to_string()])
        .args(
            args.capture_flags
                .as_deref()
                .unwrap_or("")
                .split_whitespace(),
        )
        .env("SAMSYN_TOKEN", &invite.publisher_token)
        .env(
            "SAMSYN_LOG",
            std::env::var("SAMSYN_LOG").unwrap_or_else(|_| "info".to_owned()),
        )
        .stdout(Stdio::null())
        .stderr(log_file(work.path(), "capture.log")?);
    let _capture = Process::spawn(&mut capture)
        .with_context(|| format!("cannot start {}", capture_bin.display()))?;

    let result = runtime.block_on(measure(args, &http, &invite, status_port, load_start));
    if result.is_err() {
        let log = std::fs::read_to_string(work.path().join("capture.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        eprintln!("samsyn-capture's last log lines:");
        for line in tail.iter().rev() {
            eprintln!("  {line}");
        }
    }
    if let Some(path) = &args.capture_log {
        std::fs::copy(work.path().join("capture.log"), path)
            .with_context(|| format!("cannot keep the daemon's log in {}", path.display()))?;
    }
    let result = result?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print_table(args, &result);
    }
    Ok(())
}

async fn measure(
    args: &LatencyArgs,
    http: &reqwest::Client,
    invite: &Invite,
    status_port: u16,
    load_start: f64,
) -> anyhow::Result<LatencyResult> {
    let whep: url::Url = invite
        .whep_url
        .parse()
        .context("the gateway printed a bad WHEP URL")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut viewer = loop {
        let mut options = ViewerOptions::new(whep.clone(), &invite.viewer_token);
        options.jitter_buffer_ms = args.jitter_buffer_ms;
        match WhepViewer::start(options).await {
            Ok(viewer) => break viewer,
            // The camera takes a few seconds to connect; until then WHEP says 409.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => bail!("no WHEP viewer could start within 30 s: {e}"),
        }
    };
    viewer
        .wait_frames(10, Duration::from_secs(20))
        .await
        .context("the viewer decoded no video")?;

    let total = args.warmup_secs + args.duration_secs;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} s  {msg}")?
            .progress_chars("=> "),
    );
    bar.set_prefix("warm-up");
    let hog = Hog::default();
    let mut hog_started_at = None;
    for second in 1..=total {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if second == args.warmup_secs {
            viewer.reset_latency();
            bar.set_prefix("measuring");
            if args.cpu_hog > 0 {
                hog.start(args.cpu_hog);
                hog_started_at = status(http, status_port).await.map(|s| s.uptime_secs);
            }
        }
        bar.set_position(second);
        if let Some(s) = status(http, status_port).await {
            let g2g = Percentiles::of(&mut viewer.latency().glass_to_glass);
            bar.set_message(format!(
                "encode p95 {} | glass-to-glass p95 {} | {}",
                s.latency
                    .encode_path_ms
                    .map_or("–".into(), |p| format!("{:.1} ms", p.p95)),
                g2g.map_or("–".into(), |p| format!("{:.1} ms", p.p95)),
                s.ladder.setting
            ));
        }
    }
    hog.stop();
    bar.finish_and_clear();

    let report = viewer.latency();
    let status = status(http, status_port)
        .await
        .context("the capture daemon's status endpoint does not answer")?;
    let _ = viewer.stop().await;
    let mut g2g = report.glass_to_glass.clone();
    let glass_to_glass_ms = Percentiles::of(&mut g2g)
        .context("no decoded frame had a capture time: does the daemon send abs-capture-time?")?;
    let encode_path_ms = status
        .latency
        .session
        .encode_path_ms
        .context("the daemon measured no frame")?;
    Ok(LatencyResult {
        encode_path_ms,
        glass_to_glass_ms,
        encode_budget_ms: status.latency.encode_budget_ms,
        budget_held_percent: status.latency.session.budget_held_percent,
        last_window_encode_path_ms: status.latency.encode_path_ms,
        last_window_budget_held_percent: status.latency.budget_held_percent,
        frames_dropped: status.latency.session.frames_dropped.clone(),
        ladder_steps: status.ladder.steps.clone(),
        hog_started_at_secs: hog_started_at,
        packets: (report.packets, report.packets_with_capture_time),
        setting: status.ladder.setting.clone(),
        machine: crate::report::machine(),
        load: (load_start, load_average()),
    })
}

fn print_table(args: &LatencyArgs, r: &LatencyResult) {
    println!("{}", r.machine);
    println!(
        "{}x{}@{} test picture, {} s measured after {} s warm-up{}; load average {:.2} → {:.2}",
        args.width,
        args.height,
        args.fps,
        args.duration_secs,
        args.warmup_secs,
        if args.cpu_hog > 0 {
            format!(
                ", {} busy thread(s) from the start of the measurement",
                args.cpu_hog
            )
        } else {
            String::new()
        },
        r.load.0,
        r.load.1
    );
    println!();
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p95", "p99", "max", "frames"
    );
    for (name, p) in [
        ("encode path (capture → RTP), ms", &r.encode_path_ms),
        (
            "glass-to-glass (capture → decoded), ms",
            &r.glass_to_glass_ms,
        ),
    ] {
        println!(
            "{name:<44} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8}",
            p.p50, p.p95, p.p99, p.max, p.frames
        );
    }
    println!();
    println!(
        "encode budget {:.1} ms, held for {} of frames; dropped: {:?}; setting at the end: {}",
        r.encode_budget_ms,
        r.budget_held_percent
            .map_or("–".into(), |h| format!("{h:.2} %")),
        r.frames_dropped,
        r.setting
    );
    if let Some(p) = &r.last_window_encode_path_ms {
        println!(
            "last 10 s: encode path p95 {:.1} ms, p99 {:.1} ms, {} of frames within budget",
            p.p95,
            p.p99,
            r.last_window_budget_held_percent
                .map_or("–".into(), |h| format!("{h:.1} %"))
        );
    }
    println!(
        "viewer: {} video packets, {} with abs-capture-time; jitter buffer {} ms",
        r.packets.0, r.packets.1, args.jitter_buffer_ms
    );
    let hog = r.hog_started_at_secs;
    if let Some(at) = hog {
        println!("CPU hog started {at:.1} s after the daemon");
    }
    for step in &r.ladder_steps {
        let since_hog = hog.map_or(String::new(), |h| {
            format!(" ({:+.1} s after the hog started)", step.at_secs - h)
        });
        println!(
            "ladder at {:.1} s{since_hog}: rung {} → {} ({}): {}",
            step.at_secs, step.from, step.to, step.setting, step.cause
        );
    }
}

/// The JSON of `samsyn-gateway room create --json` (the parts used here).
#[derive(Debug, Deserialize)]
struct Invite {
    room: String,
    publisher_token: String,
    viewer_token: String,
    whep_url: String,
}

fn create_room(gateway: &Path, data_dir: &Path, base: &str) -> anyhow::Result<Invite> {
    let output = Command::new(gateway)
        .args(["room", "create", "--json"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--public-url", base])
        .output()
        .context("samsyn-gateway room create did not run")?;
    if !output.status.success() {
        bail!(
            "samsyn-gateway room create failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("room create printed no JSON object")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway did not answer {base}/healthz within 15 s")
}

async fn status(http: &reqwest::Client, port: u16) -> Option<Status> {
    endpoint::fetch(http, port).await.ok()
}

/// `name` from `--<name>-bin`, else next to this program, else on $PATH.
fn find_binary(name: &str, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if path.exists() {
            return Ok(path.to_owned());
        }
        bail!("{} does not exist", path.display());
    }
    let beside = std::env::current_exe()?.with_file_name(name);
    if beside.exists() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.exists());
    on_path.with_context(|| {
        format!(
            "{name} not found next to samsyn-bench or on PATH; build it (cargo build --release \
             --bins) or pass --{}-bin <path>",
            name.trim_start_matches("samsyn-")
        )
    })
}

fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(dir.join(name)).with_context(|| format!("cannot create {name}"))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Busy threads, each keeping one core at 100 %, until stopped.
#[derive(Debug, Default)]
struct Hog {
    stop: Arc<AtomicBool>,
}

impl Hog {
    fn start(&self, threads: usize) {
        for _ in 0..threads {
            let stop = self.stop.clone();
            std::thread::spawn(move || {
                let mut x: u64 = 1;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..100_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                }
            });
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop();
    }
}
