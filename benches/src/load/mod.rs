//! `samsyn-bench load`: how many rooms and viewers a gateway carries.
//!
//! N rooms, each with a camera (a synthetic one in this process sending
//! H.264-shaped RTP, or the real `samsyn-capture --source test`) and up to
//! M real WebRTC viewers (webrtc-rs `rtc`: ICE, DTLS, SRTP, decrypting every
//! packet, no decoding). Viewers join in stages; after each, a steady window
//! measures the gateway from its `GET /metrics` (CPU, memory, packets
//! forwarded) and the viewers from what they got (egress, loss, time to the
//! first frame). It stops at the configured size or at the first limit hit:
//! loss above the bound, the gateway's CPU at the bound, viewers left
//! without a picture. At the end the cameras pause, and the gateway's count
//! of forwarded packets is checked against what the viewers received.
//!
//! With `--path relay-tcp` every viewer reaches the gateway only through its
//! built-in TURN relay over TCP (relayed candidates only, see
//! [`crate::relay`]), so the relay's cost per packet and its time to the
//! first frame can be set beside UDP's.

pub mod driver;
pub mod rooms;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Url;
use serde::Serialize;

use crate::connect::paths::{self, PathKind};
use crate::relay::{self, RelayLink, RelayServer};
use crate::report::{self, Chart, Report, Series, Table, progress};
use crate::scrape::{Scrape, scrape};
use crate::signal::{self, OfferError, Session};
use crate::webrtc::{Direction, OfferingPeer, SocketOptions, video_payload_types};
use driver::{Driver, Member, PublisherCounters, ViewerCounters};
use rooms::{Invite, RoomSource, sibling_binary};

/// How long viewers settle (keyframe, rates) before a window.
const SETTLE: Duration = Duration::from_secs(2);
/// How long a viewer may take to show its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PublisherKind {
    /// H.264-shaped RTP from this process: light, answers keyframe requests
    Synthetic,
    /// The real capture daemon with its test picture (`samsyn-capture --source test`)
    Capture,
}

/// How viewers reach the gateway's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerPath {
    /// Straight to the gateway's media port over UDP
    Udp,
    /// Only through the gateway's built-in TURN relay, over TCP on its HTTPS port
    RelayTcp,
    /// Through the built-in relay over TLS: refused, the bench speaks no TLS for TURN
    RelayTls,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The gateway's base URL
    #[arg(long, env = "SAMSYN_GATEWAY")]
    gateway: String,
    #[command(flatten)]
    trust: signal::TrustArgs,
    /// Rooms, each with its own camera
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    rooms: u32,
    /// Viewers per room, at most
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    viewers: u32,
    /// Add this many viewers per room per stage, until --viewers or a limit
    /// (default: all at once)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    step: Option<u32>,
    /// Seconds measured per stage
    #[arg(long, default_value_t = 10.0)]
    window_secs: f64,
    /// Wait this long between two viewers joining (0: as fast as the gateway
    /// answers). Past the gateway's allowance of four immediate keyframe
    /// requests for joins, joins closer than its keyframe-request interval
    /// (sfu.pli_throttle_ms) share its keyframes and wait for them.
    #[arg(long, default_value_t = 0)]
    join_interval_ms: u64,
    /// Idle viewers: the cameras connect but send nothing while viewers join
    /// and are measured (the gateway's memory and CPU per idle viewer)
    #[arg(long)]
    idle: bool,
    /// An admin token: rooms come from the gateway's rooms API (POST /api/rooms)
    #[arg(
        long,
        env = "SAMSYN_ADMIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "data_dir"
    )]
    admin_token: Option<String>,
    /// The gateway's data directory on this machine: rooms come from
    /// `samsyn-gateway room create` (for a gateway without the rooms API)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The samsyn-gateway binary for --data-dir (default: beside this one, or PATH)
    #[arg(long, value_name = "PATH")]
    gateway_bin: Option<PathBuf>,
    /// What the cameras are
    #[arg(long, value_enum, default_value_t = PublisherKind::Synthetic)]
    publisher: PublisherKind,
    /// The samsyn-capture binary for --publisher capture (default: beside this one, or PATH)
    #[arg(long, value_name = "PATH")]
    capture_bin: Option<PathBuf>,
    /// Extra arguments for each samsyn-capture (repeat), e.g. --capture-arg=--ice-address=10.0.0.2
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    capture_arg: Vec<String>,
    /// Each camera's video bitrate, kbit/s
    #[arg(long, default_value_t = 2500)]
    bitrate_kbps: u32,
    /// How the viewers reach the gateway's media: udp, or relay-tcp (only
    /// through the gateway's built-in TURN relay over TCP, as behind a
    /// firewall that drops UDP; the cameras stay on UDP)
    #[arg(long, value_enum, default_value_t = ViewerPath::Udp)]
    path: ViewerPath,
    /// Stop when a stage's worst viewer loses more than this, %
    #[arg(long, default_value_t = 1.0)]
    max_loss_percent: f64,
    /// Stop when the gateway's CPU reaches this, % of one core
    #[arg(long, default_value_t = 90.0)]
    max_gateway_cpu_percent: f64,
    /// Open the WebRTC sockets on this local address (default: the route to
    /// the gateway); repeat to spread the viewers over several, as viewers
    /// at different addresses (the gateway's relay takes at most 32
    /// connections from one address)
    #[arg(long, value_name = "IP")]
    local_address: Vec<IpAddr>,
    /// Print one JSON object instead of the text report
    #[arg(long)]
    json: bool,
    /// Also write an HTML report with plots to FILE
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// One stage's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub viewers_per_room: u32,
    pub viewers: u32,
    pub window_s: f64,
    /// Gateway CPU over the window, % of one core (its /metrics).
    pub gateway_cpu_percent: f64,
    /// Gateway CPU per forwarded packet over the window, µs.
    pub gateway_cpu_us_per_packet: Option<f64>,
    pub gateway_memory_mib: f64,
    /// Packets the gateway forwarded in the window (its /metrics).
    pub forwarded_packets: u64,
    /// Packets the viewers received in the window.
    pub received_packets: u64,
    /// Payload egress by the gateway's count, and by the viewers'.
    pub egress_mbps_gateway: f64,
    pub egress_mbps_viewers: f64,
    pub loss_percent_mean: f64,
    pub loss_percent_worst: f64,
    /// Viewers that joined in this stage and never got a frame.
    pub viewers_without_picture: u32,
    pub ttff_ms_p50: Option<f64>,
    pub ttff_ms_p95: Option<f64>,
    /// From the WHEP offer to ICE and DTLS up, median of this stage's viewers.
    pub connect_ms_p50: Option<f64>,
    /// Sessions the gateway counts as relayed (`samsyn_peers` by path) at
    /// the window's end.
    pub gateway_relayed_peers: f64,
}

/// The gateway's count against the viewers', over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub forwarded_packets_metrics: u64,
    pub received_packets_viewers: u64,
    pub difference_percent: f64,
    /// Time to first frame as the gateway measured it (its histogram's mean).
    pub gateway_ttff_ms_mean: Option<f64>,
}

/// The JSON object `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct LoadOutcome {
    pub gateway: String,
    pub rooms: u32,
    pub publisher: String,
    pub bitrate_kbps: u32,
    /// How the viewers reached the media: "udp" or "relay_tcp".
    pub path: ViewerPath,
    /// True when the cameras sent nothing while viewers were measured.
    pub idle: bool,
    pub stages: Vec<Stage>,
    /// Why it stopped before --viewers, if it did.
    pub stopped_because: Option<String>,
    pub ttff_ms_p50: Option<f64>,
    pub ttff_ms_p95: Option<f64>,
    pub ttff_ms_max: Option<f64>,
    /// Growth of the gateway's resident memory per viewer added, KiB (from
    /// the first stage to the last when there are several).
    pub memory_per_viewer_kib: Option<f64>,
    /// Keyframe requests the gateway sent the cameras from the first viewer
    /// on: what the joins cost the cameras' uplinks.
    pub keyframe_requests: u64,
    pub agreement: Agreement,
    #[serde(skip)]
    ttff_samples_ms: Vec<f64>,
}

struct Room {
    invite: Invite,
    /// The relay the viewers go through (`--path relay-tcp`).
    relay: Option<RelayServer>,
    counters: Arc<PublisherCounters>,
    publisher_session: Option<Session>,
    capture: Option<Child>,
    viewers: Vec<ViewerHandle>,
}

struct ViewerHandle {
    counters: Arc<ViewerCounters>,
    session: Session,
    stage: usize,
}

/// One viewer's counters read at one moment; a stage compares two readings.
#[derive(Debug, Clone, Copy)]
struct ViewerCounts {
    packets: u64,
    bytes: u64,
    /// Video packets the sequence numbers say were sent to this viewer.
    video_expected: u64,
    video_received: u64,
}

pub fn run(args: LoadArgs) -> anyhow::Result<u8> {
    if args.path == ViewerPath::RelayTls {
        bail!(
            "--path relay-tls cannot be measured from here: {}. The gateway's TLS relay is the \
             same relay behind TLS on the same port: --path relay-tcp measures its relaying \
             without the encryption",
            relay::NO_TLS
        );
    }
    let base = Url::parse(&args.gateway)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .with_context(|| format!("--gateway {:?} is not an http(s) URL", args.gateway))?;
    let base = base.join("./")?;
    let source = match (&args.admin_token, &args.data_dir) {
        (Some(token), _) => RoomSource::Api {
            admin_token: token.clone(),
        },
        (None, Some(dir)) => RoomSource::Cli {
            gateway_bin: args
                .gateway_bin
                .clone()
                .unwrap_or_else(|| sibling_binary("samsyn-gateway")),
            data_dir: dir.clone(),
        },
        (None, None) => bail!(
            "where do rooms come from? Give --admin-token (the gateway's rooms API) or \
             --data-dir (a gateway on this machine)"
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let http = signal::http_client(&args.trust)?;
    let driver = Driver::start()?;
    let mut test = LoadTest {
        args: &args,
        base,
        http,
        runtime,
        driver,
        source,
        rooms: Vec::new(),
    };
    let result = test.run();
    test.clean_up();
    let outcome = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", report::text::render(&outcome_report(&outcome)));
    }
    if let Some(path) = &args.html {
        outcome_report(&outcome).write_html(path)?;
        if !args.json {
            println!("\nReport written to {}", path.display());
        }
    }
    Ok(0)
}

struct LoadTest<'a> {
    args: &'a LoadArgs,
    base: Url,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    driver: Driver,
    source: RoomSource,
    rooms: Vec<Room>,
}

impl LoadTest<'_> {
    fn run(&mut self) -> anyhow::Result<LoadOutcome> {
        let args = self.args;
        let first = self.scrape()?;
        let bar = progress::bar(u64::from(args.rooms), "Cameras");
        for _ in 0..args.rooms {
            let invite = self
                .runtime
                .block_on(self.source.create(&self.http, &self.base))?;
            let mut room = self.start_publisher(invite)?;
            if args.path == ViewerPath::RelayTcp {
                room.relay = Some(self.builtin_relay(&room.invite)?);
            }
            self.rooms.push(room);
            bar.inc(1);
        }
        bar.finish_and_clear();
        if args.idle {
            if args.publisher == PublisherKind::Capture {
                bail!("--idle needs --publisher synthetic: the capture daemon cannot pause");
            }
            self.driver.set_publishing(false);
        }
        let before_viewers = self.scrape()?;
        let step = args.step.unwrap_or(args.viewers).min(args.viewers);
        let mut stages = Vec::new();
        let mut stopped_because = None;
        let mut per_room = 0;
        while per_room < args.viewers {
            per_room = (per_room + step).min(args.viewers);
            let stage_index = stages.len();
            self.add_viewers(per_room, stage_index)?;
            let stage = self.measure_stage(per_room, stage_index)?;
            let limit = self.limit_hit(&stage);
            stages.push(stage);
            if let Some(reason) = limit {
                stopped_because = Some(reason);
                break;
            }
        }
        // Pause the cameras so every count comes to rest, then compare.
        self.driver.set_publishing(false);
        for room in &mut self.rooms {
            if let Some(child) = &mut room.capture {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        std::thread::sleep(Duration::from_millis(2500));
        let last = self.scrape()?;
        let received: u64 = self
            .viewers()
            .map(|v| v.counters.packets.load(Ordering::Relaxed))
            .sum();
        let forwarded = counter_delta(&first, &last, "samsyn_rtp_forwarded_packets_total");
        let keyframe_requests = counter_delta(
            &before_viewers,
            &last,
            "samsyn_keyframe_requests_sent_total",
        );
        let ttff = &last;
        let gateway_ttff_ms_mean = {
            let count = ttff.value("samsyn_time_to_first_frame_seconds_count")
                - first.value("samsyn_time_to_first_frame_seconds_count");
            let sum = ttff.value("samsyn_time_to_first_frame_seconds_sum")
                - first.value("samsyn_time_to_first_frame_seconds_sum");
            (count > 0.0).then(|| sum / count * 1e3)
        };
        let ttff_samples_ms: Vec<f64> = self
            .viewers()
            .filter_map(|v| ttff_ms(&v.counters))
            .collect();
        let memory_per_viewer_kib = memory_per_viewer_kib(&before_viewers, &stages);
        Ok(LoadOutcome {
            gateway: self.base.as_str().trim_end_matches('/').to_owned(),
            rooms: args.rooms,
            publisher: match args.publisher {
                PublisherKind::Synthetic => "synthetic H.264 RTP".into(),
                PublisherKind::Capture => "samsyn-capture --source test".into(),
            },
            bitrate_kbps: args.bitrate_kbps,
            path: args.path,
            idle: args.idle,
            stages,
            stopped_because,
            ttff_ms_p50: report::percentile(&ttff_samples_ms, 50.0),
            ttff_ms_p95: report::percentile(&ttff_samples_ms, 95.0),
            ttff_ms_max: report::percentile(&ttff_samples_ms, 100.0),
            memory_per_viewer_kib,
            keyframe_requests,
            agreement: Agreement {
                forwarded_packets_metrics: forwarded,
                received_packets_viewers: received,
                difference_percent: if forwarded == 0 {
                    0.0
                } else {
                    (received as f64 - forwarded as f64) / forwarded as f64 * 100.0
                },
                gateway_ttff_ms_mean,
            },
            ttff_samples_ms,
        })
    }

    fn viewers(&self) -> impl Iterator<Item = &ViewerHandle> {
        self.rooms.iter().flat_map(|r| r.viewers.iter())
    }

    fn scrape(&self) -> anyhow::Result<Scrape> {
        self.runtime.block_on(scrape(&self.http, &self.base))
    }

    fn start_publisher(&mut self, invite: Invite) -> anyhow::Result<Room> {
        let counters = Arc::new(PublisherCounters::default());
        let whip = self.base.join(&format!("whip/{}", invite.room))?;
        let mut room = Room {
            invite,
            counters: counters.clone(),
            relay: None,
            publisher_session: None,
            capture: None,
            viewers: Vec::new(),
        };
        match self.args.publisher {
            PublisherKind::Synthetic => {
                let ssrc = rand::random();
                let (offering, offer) =
                    OfferingPeer::offer(Direction::SendVideo { ssrc }, &self.socket_options(0))?;
                let session = self
                    .runtime
                    .block_on(signal::post_offer(
                        &self.http,
                        &whip,
                        &room.invite.publisher_token,
                        offer,
                    ))
                    .map_err(|e| anyhow::anyhow!("the camera's WHIP offer: {e}"))?;
                let peer = offering.connect(session.answer.clone())?;
                let payload_type = peer
                    .negotiated_video_payload_type()
                    .context("the gateway did not accept H.264")?;
                self.driver.add(Member::Publisher {
                    peer,
                    payload_type,
                    ssrc,
                    kbps: self.args.bitrate_kbps,
                    counters: counters.clone(),
                });
                room.publisher_session = Some(session);
                let deadline = Instant::now() + Duration::from_secs(10);
                while !counters.connected.load(Ordering::Relaxed) {
                    if counters.failed.load(Ordering::Relaxed) || Instant::now() > deadline {
                        bail!("a synthetic camera did not connect within 10 s");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            PublisherKind::Capture => {
                let binary = self
                    .args
                    .capture_bin
                    .clone()
                    .unwrap_or_else(|| sibling_binary("samsyn-capture"));
                let child = Command::new(&binary)
                    .args(["--gateway", self.base.as_str().trim_end_matches('/')])
                    .args([
                        "--room",
                        &room.invite.room,
                        "--source",
                        "test",
                        "--no-audio",
                        // Load on the media path only: many daemons from one
                        // address would spend the rate limit on room events.
                        "--no-consultation",
                        // The camera's fan-out is measured, not talk-back.
                        "--no-talkback",
                    ])
                    .args(["--bitrate-kbps", &self.args.bitrate_kbps.to_string()])
                    .args(&self.args.capture_arg)
                    .env("SAMSYN_TOKEN", &room.invite.publisher_token)
                    .env("SAMSYN_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| {
                        format!(
                            "cannot start {}; give its path with --capture-bin",
                            binary.display()
                        )
                    })?;
                room.capture = Some(child);
            }
        }
        Ok(room)
    }

    /// The gateway's built-in relay over TCP, with credentials for the
    /// room's viewers (`OPTIONS /whep/{room}`).
    fn builtin_relay(&self, invite: &Invite) -> anyhow::Result<RelayServer> {
        let url = self.base.join(&format!("whep/{}", invite.room))?;
        let response = self
            .runtime
            .block_on(signal::send_patiently(|| {
                self.http
                    .request(reqwest::Method::OPTIONS, url.clone())
                    .bearer_auth(&invite.viewer_token)
            }))
            .with_context(|| format!("no answer from OPTIONS {url}"))?;
        let announced: Vec<_> = response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(samsyn_capture::whip::parse_link_header)
            .collect();
        paths::plan(&announced, &self.base)
            .routes
            .into_iter()
            .find(|r| r.kind == PathKind::RelayTcp)
            .and_then(|r| r.relay)
            .with_context(|| {
                format!(
                    "--path relay-tcp: the gateway announces no relay over TCP on its own port \
                     ({}); turn its built-in relay on: turn.builtin = true \
                     (SAMSYN_TURN__BUILTIN=true, --turn-builtin), and check that --gateway is \
                     its public URL",
                    self.base.as_str().trim_end_matches('/')
                )
            })
    }

    /// The local address of the `index`th endpoint: round robin over
    /// `--local-address`.
    fn local_address(&self, index: usize) -> Option<IpAddr> {
        let addresses = &self.args.local_address;
        (!addresses.is_empty()).then(|| addresses[index % addresses.len()])
    }

    fn socket_options(&self, index: usize) -> SocketOptions {
        SocketOptions {
            address: self.local_address(index),
            ..Default::default()
        }
    }

    /// Brings every room to `per_room` viewers.
    fn add_viewers(&mut self, per_room: u32, stage: usize) -> anyhow::Result<()> {
        let missing: usize = self
            .rooms
            .iter()
            .map(|r| (per_room as usize).saturating_sub(r.viewers.len()))
            .sum();
        let bar = progress::bar(missing as u64, "Viewers joining");
        for index in 0..self.rooms.len() {
            while self.rooms[index].viewers.len() < per_room as usize {
                let viewer = self.start_viewer(index, stage, self.viewers().count())?;
                self.rooms[index].viewers.push(viewer);
                bar.inc(1);
                std::thread::sleep(Duration::from_millis(self.args.join_interval_ms));
            }
        }
        bar.finish_and_clear();
        // Every new viewer gets a picture (idle: connects), or the deadline passes.
        let idle = self.args.idle;
        let ready = |v: &ViewerHandle| {
            if idle {
                v.counters.connected_us.load(Ordering::Relaxed) > 0
            } else {
                ttff_ms(&v.counters).is_some()
            }
        };
        let deadline = Instant::now() + FIRST_FRAME_TIMEOUT;
        while Instant::now() < deadline && self.viewers().any(|v| v.stage == stage && !ready(v)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts the `number`th viewer of the run, in room `room`.
    fn start_viewer(
        &self,
        room: usize,
        stage: usize,
        number: usize,
    ) -> anyhow::Result<ViewerHandle> {
        let invite = &self.rooms[room].invite;
        let whep = self.base.join(&format!("whep/{}", invite.room))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        // A relayed viewer's time to the first frame starts with its
        // allocation, as a browser's does.
        let started = Instant::now();
        let mut link = match &self.rooms[room].relay {
            Some(server) => Some(
                self.runtime
                    .block_on(RelayLink::open(server, self.local_address(number)))
                    .context("a viewer's relay")?,
            ),
            None => None,
        };
        loop {
            let (offering, offer) =
                OfferingPeer::offer(Direction::Receive, &self.socket_options(number))?;
            let offered_at = if link.is_some() {
                started
            } else {
                Instant::now()
            };
            match self.runtime.block_on(signal::post_offer(
                &self.http,
                &whep,
                &invite.viewer_token,
                offer,
            )) {
                Ok(session) => {
                    let video_payload_types = video_payload_types(&session.answer);
                    let peer = match link.take() {
                        Some(link) => offering
                            .connect_relayed(session.answer.clone(), link)
                            .context("a viewer's relay")?,
                        None => offering.connect(session.answer.clone())?,
                    };
                    let counters = Arc::new(ViewerCounters::default());
                    self.driver.add(Member::Viewer {
                        peer,
                        video_payload_types,
                        offered_at,
                        counters: counters.clone(),
                    });
                    return Ok(ViewerHandle {
                        counters,
                        session,
                        stage,
                    });
                }
                // The camera is not in the room yet, or this token's earlier
                // viewers are still connecting (the gateway lets one link
                // have only a few sessions connecting at once).
                Err(err @ OfferError::Refused { .. })
                    if matches!(
                        err.code(),
                        Some("no_publisher" | "too_many_pending_sessions")
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => bail!("a viewer's WHEP offer: {err}"),
            }
        }
    }

    fn measure_stage(&mut self, per_room: u32, stage_index: usize) -> anyhow::Result<Stage> {
        std::thread::sleep(SETTLE);
        let window = Duration::from_secs_f64(self.args.window_secs.max(1.0));
        let start = self.scrape()?;
        let started = Instant::now();
        let counts_before = self.viewer_counts();
        let bar = progress::bar(
            window.as_secs(),
            &format!("{} viewers", self.viewers().count()),
        );
        while started.elapsed() < window {
            std::thread::sleep(
                Duration::from_millis(250).min(window.saturating_sub(started.elapsed())),
            );
            bar.set_position(started.elapsed().as_secs());
        }
        bar.finish_and_clear();
        let end = self.scrape()?;
        let seconds = started.elapsed().as_secs_f64();
        let counts_after = self.viewer_counts();
        let cpu = end.value("process_cpu_seconds_total") - start.value("process_cpu_seconds_total");
        let forwarded = counter_delta(&start, &end, "samsyn_rtp_forwarded_packets_total");
        let forwarded_bytes = counter_delta(&start, &end, "samsyn_rtp_forwarded_bytes_total");
        let received: u64 = counts_after
            .iter()
            .zip(&counts_before)
            .map(|(a, b)| a.packets - b.packets)
            .sum();
        let received_bytes: u64 = counts_after
            .iter()
            .zip(&counts_before)
            .map(|(a, b)| a.bytes - b.bytes)
            .sum();
        let losses: Vec<f64> = counts_after
            .iter()
            .zip(&counts_before)
            .map(|(a, b)| {
                let expected = a.video_expected.saturating_sub(b.video_expected);
                let got = a.video_received.saturating_sub(b.video_received);
                if self.args.idle {
                    0.0
                } else if expected == 0 {
                    100.0
                } else {
                    (1.0 - got as f64 / expected as f64).max(0.0) * 100.0
                }
            })
            .collect();
        let stage_ttff: Vec<f64> = self
            .viewers()
            .filter(|v| v.stage == stage_index)
            .filter_map(|v| ttff_ms(&v.counters))
            .collect();
        let joined = self.viewers().filter(|v| v.stage == stage_index).count();
        let connect_ms: Vec<f64> = self
            .viewers()
            .filter(|v| v.stage == stage_index)
            .map(|v| v.counters.connected_us.load(Ordering::Relaxed))
            .filter(|&us| us > 0)
            .map(|us| us as f64 / 1e3)
            .collect();
        Ok(Stage {
            viewers_per_room: per_room,
            viewers: self.viewers().count() as u32,
            window_s: seconds,
            gateway_cpu_percent: cpu / seconds * 100.0,
            gateway_cpu_us_per_packet: (forwarded > 0).then(|| cpu / forwarded as f64 * 1e6),
            gateway_memory_mib: end.value("process_resident_memory_bytes") / (1024.0 * 1024.0),
            forwarded_packets: forwarded,
            received_packets: received,
            egress_mbps_gateway: forwarded_bytes as f64 * 8.0 / 1e6 / seconds,
            egress_mbps_viewers: received_bytes as f64 * 8.0 / 1e6 / seconds,
            loss_percent_mean: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
            loss_percent_worst: losses.iter().copied().fold(0.0, f64::max),
            viewers_without_picture: if self.args.idle {
                self.viewers()
                    .filter(|v| v.stage == stage_index)
                    .filter(|v| v.counters.connected_us.load(Ordering::Relaxed) == 0)
                    .count() as u32
            } else {
                (joined - stage_ttff.len()) as u32
            },
            ttff_ms_p50: report::percentile(&stage_ttff, 50.0),
            ttff_ms_p95: report::percentile(&stage_ttff, 95.0),
            connect_ms_p50: report::percentile(&connect_ms, 50.0),
            gateway_relayed_peers: ["relay_tcp", "relay_tls", "external_relay"]
                .iter()
                .map(|path| end.value(&format!("samsyn_peers{{path=\"{path}\"}}")))
                .sum(),
        })
    }

    /// What each viewer has received so far, in the order of [`Self::viewers`].
    fn viewer_counts(&self) -> Vec<ViewerCounts> {
        self.viewers()
            .map(|v| {
                let c = &v.counters;
                ViewerCounts {
                    packets: c.packets.load(Ordering::Relaxed),
                    bytes: c.bytes.load(Ordering::Relaxed),
                    video_expected: c.video_expected.load(Ordering::Relaxed),
                    video_received: c.video_received.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    fn limit_hit(&self, stage: &Stage) -> Option<String> {
        if stage.viewers_without_picture > 0 {
            return Some(format!(
                "{} viewers got no picture (idle: did not connect) within {} s",
                stage.viewers_without_picture,
                FIRST_FRAME_TIMEOUT.as_secs()
            ));
        }
        if stage.loss_percent_worst > self.args.max_loss_percent {
            return Some(format!(
                "a viewer lost {:.1} % of the video (bound {} %)",
                stage.loss_percent_worst, self.args.max_loss_percent
            ));
        }
        if stage.gateway_cpu_percent >= self.args.max_gateway_cpu_percent {
            return Some(format!(
                "the gateway used {:.0} % of a core (bound {} %)",
                stage.gateway_cpu_percent, self.args.max_gateway_cpu_percent
            ));
        }
        None
    }

    /// Ends every session and room; stops the cameras.
    fn clean_up(&mut self) {
        let rooms = std::mem::take(&mut self.rooms);
        for mut room in rooms {
            for viewer in &room.viewers {
                self.runtime.block_on(signal::end_session(
                    &self.http,
                    &viewer.session,
                    &room.invite.viewer_token,
                ));
            }
            if let Some(session) = &room.publisher_session {
                self.runtime.block_on(signal::end_session(
                    &self.http,
                    session,
                    &room.invite.publisher_token,
                ));
            }
            if let Some(child) = &mut room.capture {
                let _ = child.kill();
                let _ = child.wait();
            }
            self.runtime
                .block_on(self.source.end(&self.http, &self.base, &room.invite.room));
            let _ = room.counters;
        }
    }
}

/// Resident memory growth per viewer: between the first and the last stage
/// when there are several (the gateway's own start-up growth cancels out),
/// else from before the first viewer.
fn memory_per_viewer_kib(before_viewers: &Scrape, stages: &[Stage]) -> Option<f64> {
    let last = stages.last()?;
    let (memory_mib, viewers) = match stages.first() {
        Some(first) if stages.len() > 1 => (first.gateway_memory_mib, first.viewers),
        _ => (
            before_viewers.value("process_resident_memory_bytes") / (1024.0 * 1024.0),
            0,
        ),
    };
    let added = last.viewers.checked_sub(viewers).filter(|&n| n > 0)?;
    Some((last.gateway_memory_mib - memory_mib) * 1024.0 / f64::from(added))
}

fn ttff_ms(counters: &ViewerCounters) -> Option<f64> {
    let us = counters.first_frame_us.load(Ordering::Relaxed);
    (us > 0).then(|| us as f64 / 1e3)
}

fn counter_delta(before: &Scrape, after: &Scrape, series: &str) -> u64 {
    (after.value(series) - before.value(series)).max(0.0) as u64
}

fn outcome_report(outcome: &LoadOutcome) -> Report {
    let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.1} {unit}"));
    let rows = outcome
        .stages
        .iter()
        .map(|s| {
            vec![
                s.viewers.to_string(),
                format!("{:.1} %", s.gateway_cpu_percent),
                opt(s.gateway_cpu_us_per_packet, "µs"),
                format!("{:.1} MiB", s.gateway_memory_mib),
                format!("{:.1}", s.egress_mbps_gateway),
                format!("{:.2} %", s.loss_percent_worst),
                opt(s.ttff_ms_p50, "ms"),
                opt(s.ttff_ms_p95, "ms"),
            ]
        })
        .collect();
    let x = |s: &Stage| f64::from(s.viewers);
    let series = |name: &str, f: &dyn Fn(&Stage) -> f64| Series {
        name: name.into(),
        points: outcome.stages.iter().map(|s| (x(s), f(s))).collect(),
    };
    let a = &outcome.agreement;
    Report {
        title: "samsyn gateway load test".into(),
        context: vec![
            format!("Gateway {}", outcome.gateway),
            format!(
                "{} rooms, cameras: {} at {} kbit/s{}",
                outcome.rooms,
                outcome.publisher,
                outcome.bitrate_kbps,
                if outcome.idle {
                    " (paused: idle viewers)"
                } else {
                    ""
                }
            ),
            match outcome.path {
                ViewerPath::Udp => "Viewers over UDP, straight to the media port".to_owned(),
                _ => "Viewers only through the gateway's built-in relay (TURN over TCP); time \
                      to first frame counted from the relay allocation"
                    .to_owned(),
            },
        ],
        verdict: None,
        summary: vec![
            (
                "Viewers reached".into(),
                outcome.stages.last().map_or(0, |s| s.viewers).to_string(),
            ),
            (
                "Stopped because".into(),
                outcome
                    .stopped_because
                    .clone()
                    .unwrap_or_else(|| "all viewers joined".into()),
            ),
            (
                "Time to first frame p50".into(),
                opt(outcome.ttff_ms_p50, "ms"),
            ),
            (
                "Time to first frame p95".into(),
                opt(outcome.ttff_ms_p95, "ms"),
            ),
            (
                "Gateway memory per viewer".into(),
                opt(outcome.memory_per_viewer_kib, "KiB"),
            ),
            (
                "Keyframe requests to the cameras".into(),
                outcome.keyframe_requests.to_string(),
            ),
            (
                "Forwarded (gateway) / received (viewers)".into(),
                format!(
                    "{} / {} packets ({:+.2} %)",
                    a.forwarded_packets_metrics, a.received_packets_viewers, a.difference_percent
                ),
            ),
        ],
        tables: vec![Table {
            title: "Stages".into(),
            columns: [
                "viewers",
                "gateway CPU",
                "CPU/packet",
                "memory",
                "egress Mbit/s",
                "worst loss",
                "TTFF p50",
                "TTFF p95",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }],
        charts: vec![
            Chart::Lines {
                title: "Gateway CPU".into(),
                x_label: "viewers".into(),
                y_label: "% of one core".into(),
                series: vec![series("CPU", &|s| s.gateway_cpu_percent)],
            },
            Chart::Lines {
                title: "Egress bitrate".into(),
                x_label: "viewers".into(),
                y_label: "Mbit/s".into(),
                series: vec![
                    series("gateway's count", &|s| s.egress_mbps_gateway),
                    series("viewers' count", &|s| s.egress_mbps_viewers),
                ],
            },
            Chart::Lines {
                title: "Loss per viewer".into(),
                x_label: "viewers".into(),
                y_label: "% lost".into(),
                series: vec![
                    series("worst", &|s| s.loss_percent_worst),
                    series("mean", &|s| s.loss_percent_mean),
                ],
            },
            Chart::Histogram {
                title: "Time to first frame".into(),
                x_label: "ms from WHEP offer to first video packet".into(),
                samples: outcome.ttff_samples_ms.clone(),
                bins: 20,
            },
        ],
    }
}
