//! `samsyn-bench connect`: the test a nurse runs before a consultation.
//!
//! Over a real WebRTC connection to the gateway (ICE, DTLS, SRTP: the path
//! the video will take) it opens a connection-test session with the room's
//! publisher token (`POST /probe/{room}`: the gateway measures what arrives
//! and forwards nothing, so a consultation in the room is not disturbed),
//! then:
//!
//! 1. measures the round-trip time from STUN checks on the media path;
//! 2. sends a video-like load in steps (0.5, 1, 2, 4, 8 Mbit/s), each a few
//!    seconds of 30 frames a second in bursts, and after each asks the
//!    gateway (`GET /probe/{room}/{session}`) what arrived: packets, loss,
//!    jitter, how much the queueing delay grew;
//! 3. stops at the first step the line cannot carry, estimates its capacity
//!    from what did arrive and confirms a rate just below it;
//! 4. judges the highest sustained rate: which quality the camera can send,
//!    and whether a consultation will work ([`verdict`]).
//!
//! That runs on the path a consultation will take ([`paths`]): straight to
//! the gateway's media port over UDP when that works, otherwise through the
//! first relay the gateway announces that does. Each other relay the bench
//! can speak gets a short check of its own (connect with relayed candidates
//! only, round trip, a second of 500 kbit/s), so the report says which paths
//! work; TLS relays are listed as not tested.
//!
//! It takes 15–25 s, plus a few seconds per relay. Exit code 0 good, 1
//! marginal, 2 unusable, 3 when the test itself could not run (wrong token
//! or address).

pub mod frames;
pub mod paths;
pub mod verdict;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use rtc::rtp;
use samsyn_gateway::media::probe::{
    BIN, PROBE_MARKER_LEN, ProbeMarker, ProbeReport, StepReport, TimelineBin,
};
use serde::Serialize;

use crate::relay::RelayLink;
use crate::report::{self, Chart, Level, Report, Series, Table, progress};
use crate::signal::{self, OfferError, Target};
use crate::webrtc::{ClientPeer, Direction, OfferingPeer, SocketOptions};
use paths::{PathKind, PathResult, Route, UntestedPath};
use verdict::Profile;

/// Exit code when the test could not run at all.
pub const EXIT_NOT_RUN: u8 = 3;

/// The load steps, kbit/s of media.
const STEPS_KBPS: [u32; 5] = [500, 1000, 2000, 4000, 8000];
/// How long the round trip is measured before any load.
const RTT_PHASE: Duration = Duration::from_millis(1500);
/// STUN checks this often give the round-trip samples.
const RTT_INTERVAL: Duration = Duration::from_millis(100);
/// After a step, time for the last packets to arrive before asking.
const DRAIN: Duration = Duration::from_millis(400);
/// A step is sustained when at most this share was lost …
const MAX_LOSS: f64 = 0.02;
/// … the queueing delay grew by at most this much …
const MAX_QUEUE_GROWTH_MS: f64 = 100.0;
/// … and this share of the rate arrived.
const MIN_DELIVERED: f64 = 0.85;
/// The confirmed rate after a failed step: this share of what arrived.
const HEADROOM: f64 = 0.9;
/// How long ICE may take to connect on a path.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A relay that is only checked: round trip for this long …
const CHECK_RTT: Duration = Duration::from_secs(1);
/// … then this rate for this long; it works when most of it arrives.
const CHECK_KBPS: u32 = 500;
const CHECK_STEP: Duration = Duration::from_millis(1500);

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The gateway: its address, or the room's WHIP URL
    /// (https://…/whip/<room>) as the capture daemon uses it
    #[arg(long, env = "SAMSYN_GATEWAY")]
    gateway: String,
    /// The room; by default the one --gateway or the token names
    #[arg(long, env = "SAMSYN_ROOM")]
    room: Option<String>,
    /// The room's publisher token (the capture daemon's); SAMSYN_TOKEN keeps
    /// it out of the process list
    #[arg(long, env = "SAMSYN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(flatten)]
    trust: signal::TrustArgs,
    /// Print one JSON object for IT (rtt_ms, max_sustainable_kbps, profile,
    /// paths, …) instead of the text report
    #[arg(long)]
    json: bool,
    /// Also write an HTML report with plots to FILE (attach it to a ticket)
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The highest media rate to try, kbit/s
    #[arg(long, default_value_t = 8000, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    max_kbps: u32,
    /// Seconds per load step
    #[arg(long, default_value_t = 2.5, value_parser = parse_step_secs)]
    step_secs: f64,
    /// Send from this local address (default: the one that routes to the gateway)
    #[arg(long, value_name = "IP")]
    local_address: Option<IpAddr>,
    /// Send through this network interface only, e.g. wlan0 or the 4G modem's
    /// (UDP; a relay's TCP connection follows the routing table)
    #[arg(long, value_name = "NAME")]
    interface: Option<String>,
    /// Test UDP only, not the relays the gateway announces
    #[arg(long)]
    udp_only: bool,
}

fn parse_step_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s} is not a number"))?;
    if (1.0..=10.0).contains(&v) {
        Ok(v)
    } else {
        Err("give 1 to 10 seconds".into())
    }
}

/// One load step's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepResult {
    pub target_kbps: u32,
    pub sent_packets: u64,
    pub received_packets: u64,
    pub sent_kbps: f64,
    pub received_kbps: f64,
    pub loss_percent: f64,
    pub jitter_ms: f64,
    /// How much the queueing delay grew from the step's start to its end.
    pub queue_growth_ms: f64,
    pub sustained: bool,
    /// True for the rate confirmed after a failed step.
    pub confirmation: bool,
}

/// The JSON object `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectOutcome {
    pub verdict: Level,
    pub headline: String,
    pub advice: Vec<String>,
    pub exit_code: u8,
    pub gateway: String,
    pub room: String,
    /// False when no media got through (UDP blocked).
    pub connected: bool,
    /// Median round trip on the media path before the load, ms.
    pub rtt_ms: Option<f64>,
    /// 95th percentile of the round trip during the load, ms.
    pub rtt_ms_under_load_p95: Option<f64>,
    /// The highest media bitrate the line sustained, kbit/s.
    pub max_sustainable_kbps: u32,
    pub profile: Profile,
    /// The capture daemon's flags for that profile.
    pub capture_flags: Option<&'static str>,
    pub steps: Vec<StepResult>,
    pub duration_s: f64,
    /// Every path tried, in ICE's order of preference: UDP, then the
    /// relays. The figures above are those of `consultation_path`.
    pub paths: Vec<PathResult>,
    /// Relays announced but not tried (TLS), and why.
    pub paths_not_tested: Vec<UntestedPath>,
    /// The path a consultation from here will take; null when none works.
    pub consultation_path: Option<PathKind>,
    /// Its relay's URI (no credentials); null for UDP.
    pub consultation_path_url: Option<String>,
    /// Which path the video takes, in words (Norwegian · English).
    pub path_summary: String,
    /// Round-trip samples: (seconds from the start, ms).
    #[serde(skip)]
    rtt_timeline: Vec<(f64, f64)>,
    /// Sent bitrate: (seconds on the gateway's clock, kbit/s).
    #[serde(skip)]
    sent_timeline: Vec<(f64, f64)>,
    #[serde(skip)]
    gateway_timeline: Vec<TimelineBin>,
}

/// Runs the test; returns the exit code.
pub fn run(args: ConnectArgs) -> anyhow::Result<u8> {
    let target = Target::parse(&args.gateway, args.room.as_deref(), Some(&args.token))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let http = signal::http_client(&args.trust)?;
    let announced = if args.udp_only {
        Vec::new()
    } else {
        let spinner = progress::spinner("Asking the gateway for its relays");
        let announced = runtime.block_on(announced_relays(&http, &target, &args.token));
        spinner.finish_and_clear();
        announced
    };
    let plan = paths::plan(&announced, &target.base);
    let total = plan.routes.len();
    let mut results: Vec<PathResult> = Vec::new();
    let mut outcome: Option<ConnectOutcome> = None;
    let mut media_port = None;
    for (index, route) in plan.routes.iter().enumerate() {
        let position = format!("[{}/{total}] ", index + 1);
        let failed = |why: String| PathResult {
            path: route.kind,
            url: route.url(),
            works: false,
            rtt_ms: None,
            max_sustainable_kbps: None,
            problem: Some(why),
        };
        let mut test = match runtime.block_on(Test::start(&target, &args, &http, route, &position))
        {
            Ok(test) => test,
            Err(StartError::NotRun(err)) if route.kind == PathKind::Udp => {
                eprintln!("samsyn-bench connect: {err:#}");
                return Ok(EXIT_NOT_RUN);
            }
            Err(StartError::NotRun(err)) => {
                results.push(failed(format!("{err:#}")));
                continue;
            }
            Err(StartError::Blocked(why, port_hint)) => {
                media_port = port_hint.or(media_port);
                results.push(failed(why));
                continue;
            }
        };
        if media_port.is_none() {
            media_port = test.media_port.clone();
        }
        // The first path that works is the consultation's: it gets the
        // whole test; the others a check.
        let result = if outcome.is_none() {
            test.run(&runtime, &args).map(|o| {
                let works = o.steps.iter().any(|s| s.received_packets > 0);
                let result = PathResult {
                    path: route.kind,
                    url: route.url(),
                    works,
                    rtt_ms: o.rtt_ms,
                    max_sustainable_kbps: Some(o.max_sustainable_kbps),
                    problem: (!works).then(|| "no media arrived at the gateway".to_owned()),
                };
                if works {
                    outcome = Some(o);
                }
                result
            })
        } else {
            let what = format!("{position}Checking {}", route.describe());
            test.check(&runtime, &what)
                .map(|(works, rtt_ms)| PathResult {
                    path: route.kind,
                    url: route.url(),
                    works,
                    rtt_ms,
                    max_sustainable_kbps: None,
                    problem: (!works).then(|| "less than half of a short load arrived".to_owned()),
                })
        };
        test.close();
        runtime.block_on(signal::end_session(&test.http, &test.session, &args.token));
        results.push(result?);
    }
    let media_port = media_port.unwrap_or_else(|| "the UDP media port".into());
    let mut outcome = outcome.unwrap_or_else(|| blocked_outcome(&target, &media_port));
    outcome.duration_s = started.elapsed().as_secs_f64();
    attach_paths(&mut outcome, results, plan.untested, &media_port);
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
    Ok(outcome.exit_code)
}

/// The relays the gateway announces to this token (`OPTIONS /whip/{room}`,
/// RFC 9725 `Link` headers); none when it announces none or does not answer.
async fn announced_relays(
    http: &reqwest::Client,
    target: &Target,
    token: &str,
) -> Vec<samsyn_capture::whip::IceServer> {
    let Ok(url) = target.url(&format!("whip/{}", target.room)) else {
        return Vec::new();
    };
    let request = || {
        http.request(reqwest::Method::OPTIONS, url.clone())
            .bearer_auth(token)
    };
    match signal::send_patiently(request).await {
        Ok(response) if response.status().is_success() => response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(samsyn_capture::whip::parse_link_header)
            .collect(),
        _ => Vec::new(),
    }
}

/// The paths into the outcome: the list, the sentence first among the
/// advice, and what IT can do about them.
fn attach_paths(
    outcome: &mut ConnectOutcome,
    results: Vec<PathResult>,
    untested: Vec<UntestedPath>,
    media_port: &str,
) {
    let chosen = paths::chosen(&results).cloned();
    outcome.path_summary = paths::summary(&results);
    let mut advice = vec![outcome.path_summary.clone()];
    advice.append(&mut outcome.advice);
    advice.extend(paths::it_advice(&results, media_port));
    // Only when there is more to say than the summary: relays, or TLS.
    if results.len() > 1 || !untested.is_empty() {
        advice.extend(paths::lines(&results, &untested));
    }
    outcome.advice = advice;
    outcome.consultation_path = chosen.as_ref().map(|p| p.path);
    outcome.consultation_path_url = chosen.and_then(|p| p.url);
    outcome.paths = results;
    outcome.paths_not_tested = untested;
}

enum StartError {
    /// Wrong token, room or address: the line was not tested.
    NotRun(anyhow::Error),
    /// HTTP worked but the path carried nothing: why, and (UDP) the media
    /// port the gateway's answer named.
    Blocked(String, Option<String>),
}

impl From<anyhow::Error> for StartError {
    fn from(err: anyhow::Error) -> Self {
        Self::NotRun(err)
    }
}

/// A connected connection-test session.
struct Test {
    http: reqwest::Client,
    token: String,
    target: Target,
    session: signal::Session,
    /// The media port the gateway's answer named, for advice.
    media_port: Option<String>,
    status_url: reqwest::Url,
    peer: ClientPeer,
    started: Instant,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    rtt_samples: Vec<(f64, f64)>,
    /// Payload bytes sent per [`BIN`] since `started`.
    sent_bins: Vec<u64>,
    rtt_responses: u64,
    last_rtt_poll: Instant,
}

impl Test {
    async fn start(
        target: &Target,
        args: &ConnectArgs,
        http: &reqwest::Client,
        route: &Route,
        position: &str,
    ) -> Result<Self, StartError> {
        let options = SocketOptions {
            address: args.local_address,
            interface: args.interface.clone(),
            keepalive: Some(RTT_INTERVAL),
        };
        let what = route.describe();
        let spinner = progress::spinner(&format!("{position}Connecting to the gateway"));
        // A relay needs no answer: its allocation comes first, as a
        // browser gathers its relayed candidate before it offers.
        let link = match &route.relay {
            Some(server) => {
                spinner.set_message(format!("{position}Reaching {what} ({})", server.describe()));
                match RelayLink::open(server, args.local_address).await {
                    Ok(link) => Some(link),
                    Err(err) => {
                        spinner.finish_and_clear();
                        return Err(StartError::Blocked(format!("{err:#}"), None));
                    }
                }
            }
            None => None,
        };
        let ssrc = rand::random();
        let (offering, offer) = OfferingPeer::offer(Direction::SendVideo { ssrc }, &options)?;
        let url = target.url(&format!("probe/{}", target.room))?;
        let session = match signal::post_offer(http, &url, &args.token, offer).await {
            Ok(session) => session,
            Err(err @ OfferError::Refused { .. }) => {
                spinner.finish_and_clear();
                let hint = match err.code() {
                    Some("invalid_token" | "missing_token" | "expired_token" | "wrong_room") => {
                        "; use the room's publisher token, as given to the capture daemon"
                    }
                    Some("wrong_role") => {
                        "; this test takes the publisher token, not the specialists' link"
                    }
                    _ => "",
                };
                return Err(StartError::NotRun(anyhow::anyhow!("{err}{hint}")));
            }
            Err(OfferError::Other(err)) => {
                spinner.finish_and_clear();
                return Err(StartError::NotRun(err));
            }
        };
        let media_port = answer_media_port(&session.answer);
        let connected = match link {
            None => offering.connect(session.answer.clone()),
            Some(link) => offering.connect_relayed(session.answer.clone(), link),
        };
        let mut peer = match connected {
            Ok(peer) => peer,
            Err(err) => {
                spinner.finish_and_clear();
                signal::end_session(http, &session, &args.token).await;
                return Err(match route.relay {
                    Some(_) => StartError::Blocked(format!("{err:#}"), None),
                    None => StartError::NotRun(err),
                });
            }
        };
        let payload_type = match peer.negotiated_video_payload_type() {
            Some(pt) => pt,
            None => {
                spinner.finish_and_clear();
                signal::end_session(http, &session, &args.token).await;
                return Err(StartError::NotRun(anyhow::anyhow!(
                    "the gateway did not accept H.264"
                )));
            }
        };
        spinner.set_message(format!("{position}Opening the video path: {what}"));
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while !peer.state().connected {
            if peer.state().failed || Instant::now() > deadline {
                spinner.finish_and_clear();
                let why = match peer.relay_failure() {
                    Some(failure) => failure.to_owned(),
                    None if route.relay.is_some() => format!(
                        "no answer to ICE checks through the relay within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                    None => format!(
                        "no answer to ICE checks over UDP within {} s ({media_port})",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                };
                peer.close();
                signal::end_session(http, &session, &args.token).await;
                let port = route.relay.is_none().then_some(media_port);
                return Err(StartError::Blocked(why, port));
            }
            peer.pump(|_| {});
            peer.wait(Duration::from_millis(10));
        }
        spinner.finish_and_clear();
        let status_url = session.location.clone();
        Ok(Self {
            http: http.clone(),
            token: args.token.clone(),
            target: target.clone(),
            session,
            media_port: route.relay.is_none().then_some(media_port),
            status_url,
            peer,
            started: Instant::now(),
            payload_type,
            ssrc,
            seq: rand::random(),
            rtt_samples: Vec::new(),
            sent_bins: Vec::new(),
            rtt_responses: 0,
            last_rtt_poll: Instant::now(),
        })
    }

    /// A short check of a path that is not the consultation's: its round
    /// trip, and whether a second and a half of 500 kbit/s arrives.
    fn check(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        what: &str,
    ) -> anyhow::Result<(bool, Option<f64>)> {
        let spinner = progress::spinner(what);
        self.idle(CHECK_RTT);
        let step = self.step(runtime, 0, CHECK_KBPS, CHECK_STEP, false);
        spinner.finish_and_clear();
        let step = step?;
        let rtts: Vec<f64> = self.rtt_samples.iter().map(|s| s.1).collect();
        let works = step.received_packets > 0 && step.received_packets * 2 >= step.sent_packets;
        Ok((works, report::percentile(&rtts, 50.0)))
    }

    /// Closes the peer connection (and gives a relayed address back).
    fn close(&mut self) {
        self.peer.close();
    }

    fn run(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        args: &ConnectArgs,
    ) -> anyhow::Result<ConnectOutcome> {
        let steps: Vec<u32> = STEPS_KBPS
            .iter()
            .copied()
            .filter(|&k| k <= args.max_kbps)
            .collect();
        let step_time = Duration::from_secs_f64(args.step_secs);
        let bar = progress::bar(steps.len() as u64 + 1, "Testing the line");
        bar.set_message("round trip");
        self.idle(RTT_PHASE);
        let rtt_before: Vec<f64> = self.rtt_samples.iter().map(|s| s.1).collect();
        bar.inc(1);

        let mut results: Vec<StepResult> = Vec::new();
        let mut step_index = 0u8;
        for &kbps in &steps {
            bar.set_message(format!("{kbps} kbit/s"));
            let result = self.step(runtime, step_index, kbps, step_time, false)?;
            step_index += 1;
            bar.inc(1);
            let sustained = result.sustained;
            let received = result.received_kbps;
            results.push(result);
            if !sustained {
                // What arrived is about what the line carries; confirm a rate
                // just below it, above the last step that held.
                let last_good = results
                    .iter()
                    .rev()
                    .find(|r| r.sustained)
                    .map_or(0, |r| r.target_kbps);
                let candidate = (received * HEADROOM) as u32;
                if candidate > last_good + last_good / 8 && candidate >= 64 && candidate < kbps {
                    bar.set_message(format!("confirming {candidate} kbit/s"));
                    let confirm = self.step(runtime, step_index, candidate, step_time, true)?;
                    results.push(confirm);
                }
                break;
            }
        }
        bar.finish_and_clear();
        let max_sustainable_kbps = results
            .iter()
            .filter(|r| r.sustained)
            .map(|r| r.target_kbps)
            .max()
            .unwrap_or(0);
        let rtt_ms =
            report::percentile(&rtt_before, 50.0).or_else(|| self.rtt_samples.first().map(|s| s.1));
        let under_load: Vec<f64> = self
            .rtt_samples
            .iter()
            .filter(|s| s.0 > RTT_PHASE.as_secs_f64())
            .map(|s| s.1)
            .collect();
        let (profile, verdict) = verdict::judge(rtt_ms.unwrap_or(0.0), max_sustainable_kbps);
        let last_report = self.probe_report(runtime)?;
        // The gateway's clock starts when it accepted the session, ours once
        // connected: shift what we sent onto its time axis.
        let offset_s =
            (last_report.elapsed_ms as f64 / 1e3 - self.started.elapsed().as_secs_f64()).max(0.0);
        let sent_timeline = self
            .sent_bins
            .iter()
            .enumerate()
            .map(|(i, &bytes)| {
                (
                    offset_s + i as f64 * BIN.as_secs_f64(),
                    bytes as f64 * 8.0 / 1e3 / BIN.as_secs_f64(),
                )
            })
            .collect();
        let gateway_timeline = last_report.timeline;
        Ok(ConnectOutcome {
            verdict: verdict.level,
            exit_code: verdict.level.exit_code(),
            headline: verdict.headline,
            advice: verdict.advice,
            gateway: self.target.base.as_str().trim_end_matches('/').to_owned(),
            room: self.target.room.clone(),
            connected: true,
            rtt_ms,
            rtt_ms_under_load_p95: report::percentile(&under_load, 95.0),
            max_sustainable_kbps,
            profile,
            capture_flags: profile.capture_flags(),
            steps: results,
            duration_s: self.started.elapsed().as_secs_f64(),
            paths: Vec::new(),
            paths_not_tested: Vec::new(),
            consultation_path: None,
            consultation_path_url: None,
            path_summary: String::new(),
            rtt_timeline: self
                .rtt_samples
                .iter()
                .map(|&(t, ms)| (t + offset_s, ms))
                .collect(),
            sent_timeline,
            gateway_timeline,
        })
    }

    /// Keeps the connection serviced for `time` without load.
    fn idle(&mut self, time: Duration) {
        let until = Instant::now() + time;
        while Instant::now() < until {
            self.service(until);
        }
    }

    /// Reads, runs timers and samples the RTT until `until` at the latest.
    fn service(&mut self, until: Instant) {
        self.peer.pump(|_| {});
        let now = Instant::now();
        if now.duration_since(self.last_rtt_poll) >= RTT_INTERVAL / 2 {
            self.last_rtt_poll = now;
            if let Some((rtt, responses)) = self.peer.ice_rtt()
                && responses > self.rtt_responses
            {
                self.rtt_responses = responses;
                let t = now.duration_since(self.started).as_secs_f64();
                self.rtt_samples.push((t, rtt.as_secs_f64() * 1e3));
            }
        }
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(5));
        if !wait.is_zero() {
            self.peer.wait(wait);
        }
    }

    /// Sends `kbps` for `time`, then asks the gateway what arrived.
    fn step(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        index: u8,
        kbps: u32,
        time: Duration,
        confirmation: bool,
    ) -> anyhow::Result<StepResult> {
        let frames = (time.as_secs_f64() * f64::from(frames::FPS)).round() as u32;
        let start = Instant::now();
        let mut timestamp: u32 = rand::random();
        let (mut packets, mut bytes) = (0u64, 0u64);
        for frame in 0..frames {
            let due = start + frames::frame_interval() * frame;
            while Instant::now() < due {
                self.service(due);
            }
            let sizes = frames::frame_packets(kbps, frame, PROBE_MARKER_LEN);
            let last = sizes.len() - 1;
            for (i, size) in sizes.into_iter().enumerate() {
                let payload = self.payload(index, size);
                self.peer.write_rtp(rtp::Packet {
                    header: rtp::header::Header {
                        version: 2,
                        marker: i == last,
                        payload_type: self.payload_type,
                        sequence_number: self.seq,
                        timestamp,
                        ssrc: self.ssrc,
                        ..Default::default()
                    },
                    payload,
                })?;
                self.seq = self.seq.wrapping_add(1);
                packets += 1;
                bytes += size as u64;
                let bin = (self.started.elapsed().as_millis() / BIN.as_millis()) as usize;
                if self.sent_bins.len() <= bin {
                    self.sent_bins.resize(bin + 1, 0);
                }
                self.sent_bins[bin] += size as u64;
            }
            // The whole frame leaves as one burst.
            self.peer.flush();
            timestamp = timestamp.wrapping_add(frames::CLOCK_RATE / frames::FPS);
        }
        let sent_secs = (frames::frame_interval() * frames).as_secs_f64();
        let drain_until = Instant::now() + DRAIN;
        while Instant::now() < drain_until {
            self.service(drain_until);
        }
        let report = self.probe_report(runtime)?;
        let step = report.steps.iter().find(|s| s.step == index);
        Ok(evaluate(
            kbps,
            packets,
            bytes,
            sent_secs,
            step,
            confirmation,
        ))
    }

    /// A payload of `size` bytes starting with the marker the gateway reads.
    fn payload(&self, step: u8, size: usize) -> Bytes {
        let marker = ProbeMarker {
            step,
            sent_us: self.started.elapsed().as_micros() as u64,
        };
        let mut payload = Vec::with_capacity(size);
        payload.extend_from_slice(&marker.to_bytes());
        payload.resize(size.max(PROBE_MARKER_LEN), 0);
        Bytes::from(payload)
    }

    fn probe_report(&mut self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<ProbeReport> {
        let (http, url) = (&self.http, self.status_url.clone());
        let response = runtime.block_on(async {
            let response = http
                .get(url.clone())
                .bearer_auth(&self.token)
                .send()
                .await
                .with_context(|| format!("no answer from {url}"))?;
            let status = response.status();
            let body = response.text().await?;
            if !status.is_success() {
                return Err(anyhow::Error::new(signal::refusal(&url, status, &body)));
            }
            serde_json::from_str::<ProbeReport>(&body)
                .with_context(|| format!("{url} answered something else than a test report"))
        });
        // Keep the connection serviced after the HTTP round trip.
        self.peer.pump(|_| {});
        response
    }
}

/// A step's figures from what was sent and what the gateway saw.
fn evaluate(
    target_kbps: u32,
    sent_packets: u64,
    sent_bytes: u64,
    sent_secs: f64,
    step: Option<&StepReport>,
    confirmation: bool,
) -> StepResult {
    let (received_packets, received_bytes, span_secs, jitter_ms, queue_growth_ms) = match step {
        Some(s) => {
            let span = (s.last_arrival_ms - s.first_arrival_ms) / 1e3;
            let delays = &s.queue_delay_ms;
            // The step's last bins against its first: how much the queue grew.
            let start = delays.first().copied().unwrap_or(0.0);
            let end = delays.iter().rev().take(2).copied().fold(0.0, f64::max);
            (
                s.packets,
                s.bytes,
                span,
                s.jitter_ms,
                (end - start).max(0.0),
            )
        }
        None => (0, 0, 0.0, 0.0, 0.0),
    };
    let sent_kbps = sent_bytes as f64 * 8.0 / 1e3 / sent_secs.max(1e-3);
    // A queue drains after the last send: the arrivals' span can be longer.
    let received_kbps = received_bytes as f64 * 8.0 / 1e3 / span_secs.max(sent_secs).max(1e-3);
    let loss = 1.0 - received_packets as f64 / sent_packets.max(1) as f64;
    let sustained = loss <= MAX_LOSS
        && queue_growth_ms <= MAX_QUEUE_GROWTH_MS
        && received_kbps >= MIN_DELIVERED * f64::from(target_kbps);
    StepResult {
        target_kbps,
        sent_packets,
        received_packets,
        sent_kbps,
        received_kbps,
        loss_percent: loss.max(0.0) * 100.0,
        jitter_ms,
        queue_growth_ms,
        sustained,
        confirmation,
    }
}

/// The media port the gateway's answer announces, for the blocked verdict.
fn answer_media_port(answer: &str) -> String {
    answer
        .lines()
        .find_map(|line| {
            let c = line.trim_end().strip_prefix("a=candidate:")?;
            let fields: Vec<&str> = c.split(' ').collect();
            Some(format!("UDP {} port {}", fields.get(4)?, fields.get(5)?))
        })
        .unwrap_or_else(|| "the UDP media port".into())
}

fn blocked_outcome(target: &Target, port_hint: &str) -> ConnectOutcome {
    let verdict = verdict::blocked(port_hint);
    ConnectOutcome {
        verdict: verdict.level,
        exit_code: verdict.level.exit_code(),
        headline: verdict.headline,
        advice: verdict.advice,
        gateway: target.base.as_str().trim_end_matches('/').to_owned(),
        room: target.room.clone(),
        connected: false,
        rtt_ms: None,
        rtt_ms_under_load_p95: None,
        max_sustainable_kbps: 0,
        profile: Profile::Nothing,
        capture_flags: None,
        steps: Vec::new(),
        duration_s: 0.0,
        paths: Vec::new(),
        paths_not_tested: Vec::new(),
        consultation_path: None,
        consultation_path_url: None,
        path_summary: String::new(),
        rtt_timeline: Vec::new(),
        sent_timeline: Vec::new(),
        gateway_timeline: Vec::new(),
    }
}

/// The outcome as a report: verdict, figures, steps, plots.
fn outcome_report(outcome: &ConnectOutcome) -> Report {
    let ms = |v: Option<f64>| match v {
        None => "-".to_owned(),
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
    };
    let mut summary = vec![
        ("Round trip".to_owned(), ms(outcome.rtt_ms)),
        (
            "Round trip under load (95 %)".to_owned(),
            ms(outcome.rtt_ms_under_load_p95),
        ),
        (
            "Highest sustained rate".to_owned(),
            format!("{} kbit/s", outcome.max_sustainable_kbps),
        ),
        (
            "Picture quality".to_owned(),
            outcome.profile.name().to_owned(),
        ),
    ];
    if let Some(flags) = outcome.capture_flags {
        summary.push(("Capture settings".to_owned(), flags.to_owned()));
    }
    if let Some(path) = outcome.consultation_path {
        let (no, en) = paths::name(path, outcome.consultation_path_url.as_deref());
        summary.push(("Video path · Videovei".to_owned(), format!("{no} · {en}")));
    }
    let mut path_rows: Vec<Vec<String>> = outcome
        .paths
        .iter()
        .map(|p| {
            let (no, en) = paths::name(p.path, p.url.as_deref());
            vec![
                format!("{no} · {en}"),
                p.url.clone().unwrap_or_else(|| "-".into()),
                if p.works { "ja · yes" } else { "nei · no" }.to_owned(),
                ms(p.rtt_ms),
                p.max_sustainable_kbps
                    .map_or_else(|| "-".to_owned(), |k| k.to_string()),
            ]
        })
        .collect();
    path_rows.extend(outcome.paths_not_tested.iter().map(|p| {
        let (no, en) = paths::name(p.path, Some(&p.url));
        vec![
            format!("{no} · {en}"),
            p.url.clone(),
            "ikke testet · not tested".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ]
    }));
    let rows = outcome
        .steps
        .iter()
        .map(|s| {
            vec![
                format!(
                    "{}{}",
                    s.target_kbps,
                    if s.confirmation { " (confirm)" } else { "" }
                ),
                format!("{:.0}", s.received_kbps),
                format!("{:.1} %", s.loss_percent),
                format!("{:.1} ms", s.jitter_ms),
                format!("{:.0} ms", s.queue_growth_ms),
                if s.sustained { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let timeline = &outcome.gateway_timeline;
    let bin_secs = BIN.as_secs_f64();
    let received: Vec<(f64, f64)> = timeline
        .iter()
        .map(|b| (b.t_ms as f64 / 1e3, b.bytes as f64 * 8.0 / 1e3 / bin_secs))
        .collect();
    let queue: Vec<(f64, f64)> = timeline
        .iter()
        .filter_map(|b| Some((b.t_ms as f64 / 1e3, b.queue_delay_ms?)))
        .collect();
    // Loss per bin is not known at the gateway (sequence gaps are per step);
    // the step table has it. Packets per bin show the bursts instead.
    let packets: Vec<(f64, f64)> = timeline
        .iter()
        .map(|b| (b.t_ms as f64 / 1e3, b.packets as f64 / bin_secs))
        .collect();
    let loss: Vec<(f64, f64)> = outcome
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64 + 1.0, s.loss_percent))
        .collect();
    Report {
        title: "samsyn connection test".into(),
        context: vec![
            format!("Gateway {}, room {}", outcome.gateway, outcome.room),
            format!("Test took {:.1} s", outcome.duration_s),
        ],
        verdict: Some(report::Verdict {
            level: outcome.verdict,
            headline: outcome.headline.clone(),
            advice: outcome.advice.clone(),
        }),
        summary,
        tables: vec![Table {
            title: "Load steps".into(),
            columns: [
                "kbit/s sent",
                "kbit/s arrived",
                "loss",
                "jitter",
                "queue growth",
                "held",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }]
        .into_iter()
        .chain((!path_rows.is_empty()).then(|| {
            Table {
                title: "Paths · Veier".into(),
                columns: [
                    "path · vei",
                    "relay",
                    "works · virker",
                    "round trip",
                    "kbit/s held",
                ]
                .map(String::from)
                .to_vec(),
                rows: path_rows,
            }
        }))
        .collect(),
        charts: vec![
            Chart::Lines {
                title: "Bitrate arriving at the gateway".into(),
                x_label: "seconds".into(),
                y_label: "kbit/s".into(),
                series: vec![
                    Series {
                        name: "sent".into(),
                        points: outcome.sent_timeline.clone(),
                    },
                    Series {
                        name: "arrived".into(),
                        points: received,
                    },
                ],
            },
            Chart::Lines {
                title: "Round trip and queueing delay".into(),
                x_label: "seconds".into(),
                y_label: "ms".into(),
                series: vec![
                    Series {
                        name: "round trip (STUN)".into(),
                        points: outcome.rtt_timeline.clone(),
                    },
                    Series {
                        name: "queueing delay at the gateway".into(),
                        points: queue,
                    },
                ],
            },
            Chart::Lines {
                title: "Loss per load step".into(),
                x_label: "step".into(),
                y_label: "% lost".into(),
                series: vec![Series {
                    name: "loss".into(),
                    points: loss,
                }],
            },
            Chart::Lines {
                title: "Packets arriving per second".into(),
                x_label: "seconds".into(),
                y_label: "packets/s".into(),
                series: vec![Series {
                    name: "packets".into(),
                    points: packets,
                }],
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(packets: u64, bytes: u64, span_ms: f64, delays: Vec<f64>) -> StepReport {
        StepReport {
            step: 0,
            packets,
            bytes,
            expected: packets,
            lost: 0,
            first_arrival_ms: 1000.0,
            last_arrival_ms: 1000.0 + span_ms,
            jitter_ms: 1.0,
            queue_delay_ms: delays,
        }
    }

    #[test]
    fn a_step_that_arrives_whole_and_on_time_is_sustained() {
        let s = step(1000, 312_500, 2500.0, vec![1.0, 2.0, 1.5]);
        let r = evaluate(1000, 1000, 312_500, 2.5, Some(&s), false);
        assert!(r.sustained, "{r:?}");
        assert!((r.received_kbps - 1000.0).abs() < 1.0, "{r:?}");
    }

    #[test]
    fn loss_queue_growth_or_a_short_delivery_fail_a_step() {
        let lossy = step(950, 296_875, 2500.0, vec![1.0, 1.0]);
        assert!(!evaluate(1000, 1000, 312_500, 2.5, Some(&lossy), false).sustained);
        let queued = step(1000, 312_500, 2700.0, vec![1.0, 80.0, 190.0]);
        let r = evaluate(1000, 1000, 312_500, 2.5, Some(&queued), false);
        assert!(!r.sustained && r.queue_growth_ms > 150.0, "{r:?}");
        let nothing = evaluate(1000, 1000, 312_500, 2.5, None, false);
        assert!(!nothing.sustained && nothing.loss_percent == 100.0);
    }
}
