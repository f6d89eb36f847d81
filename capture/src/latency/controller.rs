//! The daemon's latency controller: takes every frame's timing from the
//! probes, keeps the statistics, drives the quality ladder, applies its steps
//! to the running chain and publishes a [`LatencyReport`] once a second.
//!
//! [`LatencyController`] itself is driven like the ladder (time passed in),
//! so it can be exercised without a pipeline; [`spawn`] runs it on tokio.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::frames::{DropReason, FrameEvent};
use super::ladder::{LadderConfig, QualityLadder, Rung, Step, rungs};
use super::probes::TimedEvent;
use super::report::{
    LadderStatus, LatencyReport, LatencyStatus, SessionStatus, StepRecord, VideoStatus,
};
use super::stats::{Rolling, SessionHistogram, ms};
use crate::elements::ElementError;
use crate::settings::VideoSettings;

/// The running encoder as the controller sees it: what the ladder may
/// change and what the status names. The media chain provides it; keeping
/// the trait here lets the controller run (and be tested) without knowing
/// how a chain is built.
pub trait EncoderControl: std::fmt::Debug + Send {
    /// Whether the encoder has a faster setting than the configured one.
    fn has_faster_preset(&self) -> bool;
    /// The encoder element's name, e.g. `x264enc`.
    fn encoder_element(&self) -> &'static str;
    /// The preset names the status shows for the configured and the fastest setting.
    fn preset_names(&self) -> (String, String);
    /// Changes the running chain to `rung`.
    fn apply(&self, rung: &Rung) -> Result<(), ElementError>;
}

/// Length of the window the status figures cover.
pub const STATUS_WINDOW: Duration = Duration::from_secs(10);
/// Window for frame rate and bitrate.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// How many ladder steps the status keeps.
const STEPS_KEPT: usize = 20;

/// What the controller needs to know.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// The encode budget.
    pub budget: Duration,
    /// The end-to-end goal, ms (shown only).
    pub glass_to_glass_target_ms: u32,
    /// Whether the ladder may change the picture.
    pub ladder: bool,
    /// The configured picture.
    pub video: VideoSettings,
}

/// Statistics, ladder and report of one publishing session.
#[derive(Debug)]
pub struct LatencyController {
    options: ControllerOptions,
    control: Option<Box<dyn EncoderControl>>,
    started: Instant,
    ladder: Option<QualityLadder>,
    setting: Rung,
    presets: (String, String),
    encode_path: Rolling<Duration>,
    stages: BTreeMap<&'static str, Rolling<Duration>>,
    held: Rolling<bool>,
    sent: Rolling<u64>,
    session_path: SessionHistogram,
    session_held: (u64, u64),
    frames_sent: u64,
    dropped: BTreeMap<DropReason, u64>,
    steps: VecDeque<StepRecord>,
    capture_time: Option<CaptureTimeSent>,
    /// Set once the gateway's answer is applied; frames before that wait in
    /// webrtcbin for the session and say nothing about the encode path.
    publishing: Option<Arc<AtomicBool>>,
    /// Frames count from this time on (a moment after publishing began).
    counting_from: Option<Instant>,
}

/// Whether packets carry abs-capture-time: asked of the publisher's
/// writer, which the controller does not otherwise depend on.
struct CaptureTimeSent(Box<dyn Fn() -> bool + Send>);

impl std::fmt::Debug for CaptureTimeSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureTimeSent")
    }
}

/// After the session starts, frames are counted only after this long: the
/// frames held in webrtcbin during the WHIP exchange are still leaving.
const START_GRACE: Duration = Duration::from_secs(1);

impl LatencyController {
    /// A controller for a chain whose encoder `control` can change (none:
    /// the camera's H.264 is passed through and only measured).
    pub fn new(
        options: ControllerOptions,
        control: Option<Box<dyn EncoderControl>>,
        now: Instant,
    ) -> Self {
        let video = options.video;
        let top = Rung {
            width: video.width,
            height: video.height,
            fps: video.fps,
            fastest_preset: false,
        };
        let ladder = match (&control, options.ladder) {
            (Some(control), true) => Some(QualityLadder::new(
                rungs(
                    video.width,
                    video.height,
                    video.fps,
                    control.has_faster_preset(),
                ),
                LadderConfig::for_budget(options.budget),
                now,
            )),
            _ => None,
        };
        let presets = control
            .as_ref()
            .map(|control| control.preset_names())
            .unwrap_or_default();
        Self {
            options,
            control,
            started: now,
            ladder,
            setting: top,
            presets,
            encode_path: Rolling::new(STATUS_WINDOW),
            stages: BTreeMap::new(),
            held: Rolling::new(STATUS_WINDOW),
            sent: Rolling::new(RATE_WINDOW),
            session_path: SessionHistogram::default(),
            session_held: (0, 0),
            frames_sent: 0,
            dropped: BTreeMap::new(),
            steps: VecDeque::new(),
            capture_time: None,
            publishing: None,
            counting_from: Some(now),
        }
    }

    /// Reports whether packets are stamped with abs-capture-time, as
    /// `sent` tells (the publisher's writer, which knows once the answer
    /// is applied).
    pub fn watch_capture_time(&mut self, sent: impl Fn() -> bool + Send + 'static) {
        self.capture_time = Some(CaptureTimeSent(Box::new(sent)));
    }

    /// Counts frames only once `publishing` is set (and a moment after):
    /// before, webrtcbin holds them while the session is negotiated.
    pub fn wait_for_publishing(&mut self, publishing: Arc<AtomicBool>) {
        self.publishing = Some(publishing);
        self.counting_from = None;
    }

    fn counting(&mut self, at: Instant) -> bool {
        if self.counting_from.is_none()
            && self
                .publishing
                .as_ref()
                .is_some_and(|p| p.load(Ordering::Relaxed))
        {
            self.counting_from = Some(at + START_GRACE);
        }
        self.counting_from.is_some_and(|from| at >= from)
    }

    /// One frame event from the probes, which happened at `at`.
    pub fn handle_event(&mut self, at: Instant, event: FrameEvent) {
        if !self.counting(at) {
            return;
        }
        match event {
            FrameEvent::Completed(frame) => {
                let held = frame.encode_path.as_secs_f64() <= self.options.budget.as_secs_f64();
                self.encode_path.record(at, frame.encode_path);
                for (point, duration) in &frame.stages {
                    self.stages
                        .entry(point.stage())
                        .or_insert_with(|| Rolling::new(STATUS_WINDOW))
                        .record(at, *duration);
                }
                self.held.record(at, held);
                self.sent.record(at, frame.bytes);
                self.session_path.record(frame.encode_path);
                self.count_held(held);
                self.frames_sent += 1;
                if let Some(ladder) = &mut self.ladder {
                    ladder.handle_frame(at, frame.encode_path);
                }
            }
            FrameEvent::Dropped(reason) => {
                *self.dropped.entry(reason).or_default() += 1;
                if reason.misses_budget() {
                    self.held.record(at, false);
                    self.count_held(false);
                    if let Some(ladder) = &mut self.ladder {
                        ladder.handle_missed_frame(at);
                    }
                }
            }
        }
        self.apply_steps(at);
    }

    fn count_held(&mut self, held: bool) {
        self.session_held.1 += 1;
        if held {
            self.session_held.0 += 1;
        }
    }

    /// The bitrate controller's constraint (see [`QualityLadder::handle_bitrate`]).
    pub fn handle_bitrate(&mut self, now: Instant, kbps: Option<u32>) {
        if let Some(ladder) = &mut self.ladder {
            match kbps {
                Some(kbps) => ladder.handle_bitrate(now, kbps),
                None => ladder.clear_bitrate(now),
            }
        }
        self.apply_steps(now);
    }

    /// When [`Self::handle_timeout`] is due (the ladder's next window end).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ladder.as_ref().map(QualityLadder::poll_timeout)
    }

    /// Lets the ladder judge the windows that ended by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(ladder) = &mut self.ladder {
            ladder.handle_timeout(now);
        }
        self.apply_steps(now);
    }

    fn apply_steps(&mut self, now: Instant) {
        let Some(ladder) = &mut self.ladder else {
            return;
        };
        let mut steps: Vec<Step> = Vec::new();
        while let Some(step) = ladder.poll_step() {
            steps.push(step);
        }
        for step in steps {
            self.apply(now, step);
        }
    }

    fn apply(&mut self, now: Instant, step: Step) {
        let before = self.describe(&self.setting);
        let after = self.describe(&step.rung);
        let rungs = self.ladder.as_ref().map_or(1, |l| l.rungs().len());
        let down = step.to > step.from || step.rung.fastest_preset && !self.setting.fastest_preset;
        if down {
            tracing::warn!(
                "latency: {}; stepping down: {before} → {after} (rung {} of {})",
                step.cause,
                step.to,
                rungs - 1
            );
        } else {
            tracing::info!(
                "latency: {}; stepping up: {before} → {after} (rung {} of {})",
                step.cause,
                step.to,
                rungs - 1
            );
        }
        if let Some(control) = &self.control
            && let Err(e) = control.apply(&step.rung)
        {
            tracing::warn!(error = %e, "could not apply the new setting; keeping the old one");
            return;
        }
        self.setting = step.rung;
        if step.cause.is_encode_budget() {
            // The next frames come from a restarted or resized encoder.
            self.encode_path = Rolling::new(STATUS_WINDOW);
        }
        self.steps.push_back(StepRecord {
            at_secs: now.saturating_duration_since(self.started).as_secs_f64(),
            from: step.from,
            to: step.to,
            setting: after,
            cause: step.cause.to_string(),
        });
        while self.steps.len() > STEPS_KEPT {
            self.steps.pop_front();
        }
    }

    fn describe(&self, rung: &Rung) -> String {
        let preset = if rung.fastest_preset {
            &self.presets.1
        } else {
            &self.presets.0
        };
        if preset.is_empty() {
            format!("{}x{}@{}", rung.width, rung.height, rung.fps)
        } else {
            format!("{}x{}@{} {preset}", rung.width, rung.height, rung.fps)
        }
    }

    /// The report at `now`.
    pub fn report(&mut self, now: Instant) -> LatencyReport {
        self.encode_path.expire(now);
        self.held.expire(now);
        self.sent.expire(now);
        for window in self.stages.values_mut() {
            window.expire(now);
        }
        let uptime = now.saturating_duration_since(self.started);
        let rate_span = RATE_WINDOW.min(uptime).as_secs_f64().max(1e-3);
        let bytes: u64 = self.sent.values().sum();
        let held_total = self.held.len();
        let held = self.held.values().filter(|h| *h).count();
        let percent =
            |held: u64, total: u64| (total > 0).then(|| 100.0 * held as f64 / total as f64);
        let (rung, rungs) = self
            .ladder
            .as_ref()
            .map(|l| {
                (
                    l.current().0,
                    l.rungs().iter().map(|r| self.describe(r)).collect(),
                )
            })
            .unwrap_or((0, vec![self.describe(&self.setting)]));
        LatencyReport {
            uptime_secs: uptime.as_secs_f64(),
            video: VideoStatus {
                width: self.setting.width,
                height: self.setting.height,
                fps_target: self.setting.fps,
                fps: self.sent.len() as f64 / rate_span,
                bitrate_kbps: bytes as f64 * 8.0 / 1000.0 / rate_span,
                encoder: self
                    .control
                    .as_ref()
                    .map(|c| c.encoder_element().to_owned()),
                preset: self.control.as_ref().map(|_| {
                    if self.setting.fastest_preset {
                        self.presets.1.clone()
                    } else {
                        self.presets.0.clone()
                    }
                }),
                capture_time_sent: self.capture_time.as_ref().is_some_and(|sent| (sent.0)()),
            },
            latency: LatencyStatus {
                encode_budget_ms: ms(self.options.budget),
                glass_to_glass_target_ms: self.options.glass_to_glass_target_ms,
                window_secs: STATUS_WINDOW.as_secs_f64(),
                encode_path_ms: self.encode_path.percentiles(),
                stages_ms: self
                    .stages
                    .iter()
                    .filter_map(|(name, w)| w.percentiles().map(|p| ((*name).to_owned(), p)))
                    .collect(),
                budget_held_percent: percent(held as u64, held_total as u64),
                session: SessionStatus {
                    encode_path_ms: self.session_path.percentiles(),
                    budget_held_percent: percent(self.session_held.0, self.session_held.1),
                    frames_sent: self.frames_sent,
                    frames_dropped: self
                        .dropped
                        .iter()
                        .map(|(r, n)| (r.name().to_owned(), *n))
                        .collect(),
                },
            },
            ladder: LadderStatus {
                enabled: self.ladder.is_some(),
                rung,
                rungs,
                setting: self.describe(&self.setting),
                steps: self.steps.iter().cloned().collect(),
            },
        }
    }
}

/// The running controller: its report, and the input through which the
/// bitrate controller constrains the quality ladder.
#[derive(Debug, Clone)]
pub struct LatencyHandle {
    /// The report, refreshed once a second.
    pub report: watch::Receiver<LatencyReport>,
    bitrate: tokio::sync::mpsc::UnboundedSender<Option<u32>>,
}

impl LatencyHandle {
    /// Tells the ladder the bitrate the network allows now, kbit/s (`None`:
    /// no estimate, constraint lifted). The picture's frame rate and size
    /// follow the lower of this and the encode budget; see
    /// [`QualityLadder::handle_bitrate`].
    pub fn set_available_bitrate(&self, kbps: Option<u32>) {
        let _ = self.bitrate.send(kbps);
    }
}

/// Runs `controller` on frame `events` until they end, publishing its
/// report once a second; the handle also feeds it bitrate constraints.
pub fn spawn(
    mut controller: LatencyController,
    mut events: tokio::sync::mpsc::UnboundedReceiver<TimedEvent>,
) -> LatencyHandle {
    let (tx, rx) = watch::channel(controller.report(Instant::now()));
    let (bitrate_tx, mut bitrate) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut next_status = Instant::now() + Duration::from_secs(1);
        loop {
            let wake = controller
                .poll_timeout()
                .map_or(next_status, |t| t.min(next_status));
            tokio::select! {
                event = events.recv() => match event {
                    Some((at, event)) => controller.handle_event(at, event),
                    None => break,
                },
                Some(kbps) = bitrate.recv() => controller.handle_bitrate(Instant::now(), kbps),
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    controller.handle_timeout(now);
                    if now >= next_status {
                        next_status += Duration::from_secs(1);
                        if tx.send(controller.report(now)).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    LatencyHandle {
        report: rx,
        bitrate: bitrate_tx,
    }
}
