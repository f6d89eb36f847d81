//! What one forwarded packet costs the real gateway process in CPU.
//!
//! Inside a private network namespace (as the media tests do; needs root):
//! the real `samsyn-gateway serve`, a room made with `samsyn-gateway room
//! create --json`, the real `samsyn-capture` publishing the 720p30 test
//! picture at 2.5 Mbit/s, and receive-only WHEP viewers in this process
//! (webrtc-rs `rtc` peers, one UDP socket and one thread each, no decoding)
//! that count the RTP packets they get. Over a steady window it reads the
//! gateway's CPU time from /proc and divides by the packets the viewers got:
//! first with 1 viewer, then with 10.
//!
//! Run: `cargo build --release --bins && cargo bench -p samsyn-bench --bench gateway_cpu`.
//! `SAMSYN_BENCH_PROFILES` (default `release,debug`) picks which builds of
//! the binaries under the target directory to measure (missing ones are
//! skipped); `SAMSYN_BENCH_WINDOW_SECS` (default 20) sets the window.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Gateway, Invite, Process, netns, target_dir};

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use samsyn_bench::signal::{self, Session};
use samsyn_bench::webrtc::{Direction, OfferingPeer, SocketOptions};

const NAME: &str = "gateway_cpu";
/// Set by `netns::isolate` on the run inside the namespace.
const INSIDE_MARKER: &str = "SAMSYN_NETNS_TEST";
const GATEWAY_IP: &str = netns::GATEWAY_IP;
const CLIENT_IP: &str = netns::CLIENT_IP;
/// The camera's settings, as the issue states them.
const CAPTURE_ARGS: &[&str] = &[
    "--source",
    "test",
    "--width",
    "1280",
    "--height",
    "720",
    "--fps",
    "30",
    "--no-audio",
    "--bitrate-kbps",
    "2500",
    "--ice-address",
    CLIENT_IP,
];
/// Viewer counts measured, in order, on one gateway and camera. The last,
/// none (every viewer has ended its session), is the gateway's baseline: it
/// only receives the camera.
const VIEWER_STEPS: [usize; 3] = [1, 10, 0];
/// Time to settle after viewers join (keyframe, rate) before measuring.
const SETTLE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    if std::env::var(INSIDE_MARKER).as_deref() == Ok(NAME) {
        return match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gateway_cpu: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench targets without `--bench`.
        println!("gateway_cpu: a measurement, not a test; run it with `cargo bench`");
        return ExitCode::SUCCESS;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "gateway_cpu: skipped; it runs the gateway in a private network namespace \
             and needs root"
        );
        return ExitCode::SUCCESS;
    }
    netns::isolate(NAME);
    ExitCode::SUCCESS
}

fn run() -> anyhow::Result<()> {
    let window = Duration::from_secs(
        std::env::var("SAMSYN_BENCH_WINDOW_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let profiles =
        std::env::var("SAMSYN_BENCH_PROFILES").unwrap_or_else(|_| "release,debug".into());
    let target = target_dir()?;
    println!("{}", samsyn_bench::report::machine());
    println!(
        "camera: samsyn-capture {}; viewers: webrtc-rs rtc, receive only, \
         no decoding; window {} s after {} s settling",
        CAPTURE_ARGS.join(" "),
        window.as_secs(),
        SETTLE.as_secs()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut measured = 0;
    for profile in profiles.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let dir = target.join(profile);
        let gateway = dir.join("samsyn-gateway");
        let capture = dir.join("samsyn-capture");
        if !gateway.exists() || !capture.exists() {
            println!(
                "\n[{profile}] skipped: {} or {} is missing; build them with `cargo build{} --bins`",
                gateway.display(),
                capture.display(),
                if profile == "release" {
                    " --release"
                } else {
                    ""
                }
            );
            continue;
        }
        println!(
            "\n[{profile}] {} (built {})",
            gateway.display(),
            age(&gateway)
        );
        let results = measure(&runtime, &gateway, &capture, window)
            .with_context(|| format!("measuring the {profile} build"))?;
        report(&results);
        measured += 1;
    }
    if measured == 0 {
        bail!("no gateway build to measure; run `cargo build --release --bins` first");
    }
    Ok(())
}

/// One window's figures.
struct Sample {
    viewers: usize,
    seconds: f64,
    delivered: u64,
    payload_bytes: u64,
    cpu_ticks_seconds: f64,
    cpu_sched_seconds: f64,
    capture_cpu_seconds: f64,
    machine_busy: f64,
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    gateway_bin: &Path,
    capture_bin: &Path,
    window: Duration,
) -> anyhow::Result<Vec<Sample>> {
    // rtc's DTLS warns about every extension of webrtcbin's hello it does not know.
    let gateway = Gateway::start(gateway_bin, GATEWAY_IP, "warn,rtc_dtls=error")?;
    let invite = gateway.create_room()?;
    let capture = Process::spawn(
        Command::new(capture_bin)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .args(["--gateway", &gateway.base_url, "--room", &invite.room])
            .args(["--token", &invite.publisher_token])
            .args(CAPTURE_ARGS)
            .env("SAMSYN_LOG", "warn"),
    )?;
    let http = reqwest::Client::new();
    let mut viewers: Vec<Viewer> = Vec::new();
    let mut samples = Vec::new();
    for count in VIEWER_STEPS {
        while viewers.len() < count {
            let viewer = runtime.block_on(Viewer::start(&http, &invite))?;
            viewers.push(viewer);
        }
        if count < viewers.len() {
            for viewer in viewers.drain(count..) {
                runtime.block_on(viewer.end(&http, &invite))?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !viewers
            .iter()
            .all(|v| v.counters.packets.load(Ordering::Relaxed) > 0)
        {
            if Instant::now() > deadline {
                bail!("not every viewer received video within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(SETTLE);
        let start = Snapshot::take(gateway.process.pid(), capture.pid(), &viewers)?;
        std::thread::sleep(window);
        let end = Snapshot::take(gateway.process.pid(), capture.pid(), &viewers)?;
        if viewers
            .iter()
            .any(|v| v.counters.gone.load(Ordering::Relaxed))
        {
            bail!("a viewer's connection failed during the window");
        }
        samples.push(Sample::between(count, &start, &end));
    }
    drop(capture);
    drop(gateway);
    Ok(samples)
}

fn report(samples: &[Sample]) {
    println!(
        "  viewers  packets in  delivered  kbit/s/viewer  gateway CPU s (ticks / schedstat)  \
         gateway CPU  µs per delivered packet (ticks / schedstat)  capture CPU  machine busy"
    );
    println!(
        "  (packets in = delivered / viewers; CPU columns in % of one CPU, machine busy in % \
         of all CPUs)"
    );
    for s in samples {
        let (packets_in, rate, per_packet) = if s.viewers == 0 {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.0}", s.delivered as f64 / s.viewers as f64),
                format!(
                    "{:.0}",
                    s.payload_bytes as f64 * 8.0 / 1000.0 / s.seconds / s.viewers as f64
                ),
                format!(
                    "{:.2} / {:.2}",
                    s.per_packet_us(s.cpu_ticks_seconds),
                    s.per_packet_us(s.cpu_sched_seconds)
                ),
            )
        };
        println!(
            "  {:>7}  {:>10}  {:>9}  {:>13}  {:>14.3} / {:<16.3}  {:>10.1}%  {:>43}  {:>10.0}%  {:>11.0}%",
            s.viewers,
            packets_in,
            s.delivered,
            rate,
            s.cpu_ticks_seconds,
            s.cpu_sched_seconds,
            100.0 * s.cpu_sched_seconds / s.seconds,
            per_packet,
            100.0 * s.capture_cpu_seconds / s.seconds,
            100.0 * s.machine_busy,
        );
    }
    let find = |n: usize| samples.iter().find(|s| s.viewers == n);
    if let (Some(one), Some(many)) = (find(1), find(10)) {
        let ratio =
            many.per_packet_us(many.cpu_sched_seconds) / one.per_packet_us(one.cpu_sched_seconds);
        // Extra CPU per second over extra packets per second: what one more
        // viewer costs per packet, with the camera's inbound cost taken out.
        let marginal = (many.cpu_sched_seconds / many.seconds
            - one.cpu_sched_seconds / one.seconds)
            / (many.delivered as f64 / many.seconds - one.delivered as f64 / one.seconds)
            * 1e6;
        println!(
            "  per delivered packet, {} viewers vs {}: {ratio:.2}x; marginal cost per extra \
             viewer: {marginal:.2} µs per packet (schedstat)",
            many.viewers, one.viewers
        );
    }
}

impl Sample {
    fn between(viewers: usize, start: &Snapshot, end: &Snapshot) -> Self {
        let busy = |s: &Snapshot| s.machine_total - s.machine_idle;
        let total = (end.machine_total - start.machine_total).max(1) as f64;
        Self {
            viewers,
            seconds: (end.at - start.at).as_secs_f64(),
            delivered: end.packets - start.packets,
            payload_bytes: end.payload_bytes - start.payload_bytes,
            cpu_ticks_seconds: (end.gateway_ticks - start.gateway_ticks) as f64
                / ticks_per_second(),
            cpu_sched_seconds: (end.gateway_sched_ns - start.gateway_sched_ns) as f64 / 1e9,
            capture_cpu_seconds: (end.capture_ticks - start.capture_ticks) as f64
                / ticks_per_second(),
            machine_busy: (busy(end) - busy(start)) as f64 / total,
        }
    }

    fn per_packet_us(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds * 1e6 / self.delivered.max(1) as f64
    }
}

/// Counters read at one instant.
struct Snapshot {
    at: Instant,
    gateway_ticks: u64,
    gateway_sched_ns: u64,
    capture_ticks: u64,
    packets: u64,
    payload_bytes: u64,
    machine_total: u64,
    machine_idle: u64,
}

impl Snapshot {
    fn take(gateway: u32, capture: u32, viewers: &[Viewer]) -> anyhow::Result<Self> {
        let (machine_total, machine_idle) = machine_ticks()?;
        Ok(Self {
            at: Instant::now(),
            gateway_ticks: process_ticks(gateway)?,
            gateway_sched_ns: process_sched_ns(gateway)?,
            capture_ticks: process_ticks(capture)?,
            packets: viewers
                .iter()
                .map(|v| v.counters.packets.load(Ordering::Relaxed))
                .sum(),
            payload_bytes: viewers
                .iter()
                .map(|v| v.counters.bytes.load(Ordering::Relaxed))
                .sum(),
            machine_total,
            machine_idle,
        })
    }
}

/// utime + stime of a process (all its threads), in clock ticks.
fn process_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The command name may hold spaces; the fields after it are fixed.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `fields[0]` is field 3.
    let utime: u64 = fields
        .get(11)
        .and_then(|f| f.parse().ok())
        .context("utime")?;
    let stime: u64 = fields
        .get(12)
        .and_then(|f| f.parse().ok())
        .context("stime")?;
    Ok(utime + stime)
}

/// Time on CPU of a process's live threads, in nanoseconds (schedstat):
/// finer than clock ticks, for the small figures of one viewer.
fn process_sched_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// All CPUs' ticks since boot: (total, idle + iowait).
fn machine_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("/proc/stat is empty")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Ok((total, idle))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn age(path: &Path) -> String {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    match modified
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
    {
        Some(age) => format!("{} min ago", age.as_secs() / 60),
        None => "at an unknown time".into(),
    }
}

/// What a viewer's loop reports.
#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    gone: AtomicBool,
    stop: AtomicBool,
}

/// A receive-only WHEP viewer: the bench's own `rtc` peer connection on its
/// own UDP socket and thread, counting the RTP packets it gets.
struct Viewer {
    counters: Arc<Counters>,
    thread: JoinHandle<()>,
    session: Session,
}

impl Viewer {
    /// Offers, POSTs to the room's WHEP URL (retrying while the camera has not
    /// published yet), and starts the loop.
    async fn start(http: &reqwest::Client, invite: &Invite) -> anyhow::Result<Self> {
        let options = SocketOptions {
            address: Some(CLIENT_IP.parse()?),
            ..Default::default()
        };
        let whep = reqwest::Url::parse(&invite.whep_url)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let (offering, session) = loop {
            let (offering, offer) = OfferingPeer::offer(Direction::Receive, &options)?;
            match signal::post_offer(http, &whep, &invite.viewer_token, offer).await {
                Ok(session) => break (offering, session),
                // 409 until the camera is in the room.
                Err(err) if err.code() == Some("no_publisher") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => bail!("WHEP offer: {err}"),
            }
        };
        let mut peer = offering.connect(session.answer.clone())?;
        let counters = Arc::new(Counters::default());
        let thread = {
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("whep-viewer".into())
                .spawn(move || {
                    while !counters.stop.load(Ordering::Relaxed) {
                        peer.pump(|received| {
                            counters.packets.fetch_add(1, Ordering::Relaxed);
                            counters
                                .bytes
                                .fetch_add(received.packet.payload.len() as u64, Ordering::Relaxed);
                        });
                        if peer.state().failed {
                            counters.gone.store(true, Ordering::Relaxed);
                        }
                        // Timers (RTCP reports, keepalives) need no finer resolution.
                        peer.wait(Duration::from_millis(5));
                    }
                    peer.close();
                })?
        };
        Ok(Self {
            counters,
            thread,
            session,
        })
    }

    /// Ends the WHEP session (DELETE), then the loop.
    async fn end(self, http: &reqwest::Client, invite: &Invite) -> anyhow::Result<()> {
        signal::end_session(http, &self.session, &invite.viewer_token).await;
        self.counters.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        Ok(())
    }
}
