//! The quality ladder: one place that decides how much picture the daemon
//! sends, so the latency budget holds on a busy laptop and on a thin uplink.
//!
//! A ladder is a list of [`Rung`]s, best first: the configured picture, then
//! a faster encoder preset, then lower frame rates, then lower resolutions
//! (see [`rungs`]). Two things push the picture down it:
//!
//! - **The encode budget** (this crate's latency measurement): every frame's
//!   encode-path time goes in with [`QualityLadder::handle_frame`] (a frame
//!   dropped because the encoder was busy goes in as
//!   [`QualityLadder::handle_missed_frame`]). Once per
//!   [`LadderConfig::window`] the window is judged, and the ladder steps one
//!   rung down on either of two overloads:
//!   - *clear*: the window's p95 stays over the budget for
//!     [`LadderConfig::step_down_after`] (every window but at most one, the
//!     last over);
//!   - *marginal*: the p95 hovers around the budget, so windows flip over and
//!     under it, but misses keep coming: over the same windows plus one, the
//!     last window missed, and even leaving out the two worst windows more
//!     than [`LadderConfig::max_missed_share`] of the frames missed;
//!   - *recurring*: the overload comes in bursts, each too short for the
//!     rules above: within [`LadderConfig::recurring_span`] the p95 went over
//!     in two separate bursts, the last one now, and more than
//!     [`LadderConfig::recurring_missed_share`] of the frames missed.
//!
//!   One bad second (a hiccup, a keyframe), or one short spike, is ridden
//!   out. When the
//!   p95 stays under `budget ×` [`LadderConfig::headroom`] for
//!   [`LadderConfig::climb_after`], the ladder climbs one rung. A climb that
//!   is followed by a step back down within [`LadderConfig::probation`]
//!   failed: each failure doubles the wait before the next climb from there
//!   (up to [`LadderConfig::climb_after_max`]), so a laptop that cannot hold
//!   the upper rung does not flap between the two. Failures are forgotten
//!   after [`LadderConfig::failures_forgotten_after`] without a step down.
//! - **A constraint from the bitrate controller**: it reports the bitrate the
//!   network allows with [`QualityLadder::handle_bitrate`]. Each rung needs
//!   [`Rung::min_kbps`] (its pixel rate at [`MIN_BITS_PER_PIXEL`]); the
//!   constraint is the best rung whose need fits. Climbing back needs
//!   [`BITRATE_CLIMB_MARGIN`] more than the rung's need, so a bitrate
//!   estimate wobbling around a threshold does not flap either.
//!   [`QualityLadder::clear_bitrate`] lifts the constraint. In the daemon
//!   the bitrate controller calls
//!   [`LatencyHandle::set_available_bitrate`](super::controller::LatencyHandle::set_available_bitrate),
//!   which feeds this ladder in the latency controller's task.
//!
//! The picture sent is the lower of the two: frame rate and size come from
//! the lower rung, while the encoder preset follows the encode budget alone
//! (a thin network is no reason to encode worse).
//!
//! The ladder is sans-IO in the str0m way: it never reads a clock and never
//! sleeps. Callers pass `now` in, call [`QualityLadder::handle_timeout`] at
//! [`QualityLadder::poll_timeout`], and take decisions with
//! [`QualityLadder::poll_step`]; each [`Step`] says what to apply and why,
//! with the measurement that caused it. Tests feed it recorded timing
//! sequences on a made-up clock.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::{ms, nearest_rank};

/// Bits per pixel the picture needs at least to look acceptable in H.264 at
/// low motion (a head camera over a wound); used for [`Rung::min_kbps`].
pub const MIN_BITS_PER_PIXEL: f64 = 0.04;

/// How much more than a rung's need the bitrate must allow before the
/// bitrate constraint lets the picture climb back to it.
pub const BITRATE_CLIMB_MARGIN: f64 = 1.25;

/// One setting of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rung {
    /// Frame width sent, pixels.
    pub width: u32,
    /// Frame height sent, pixels.
    pub height: u32,
    /// Frames per second sent.
    pub fps: u32,
    /// Whether the encoder runs its fastest preset instead of the configured one.
    pub fastest_preset: bool,
}

impl Rung {
    /// The bitrate this rung needs at least, in kbit/s.
    pub fn min_kbps(&self) -> u32 {
        let pixels_per_second =
            f64::from(self.width) * f64::from(self.height) * f64::from(self.fps);
        (pixels_per_second * MIN_BITS_PER_PIXEL / 1000.0).round() as u32
    }

    /// This rung's size and rate with another preset.
    fn with_preset_of(self, other: &Rung) -> Rung {
        Rung {
            fastest_preset: other.fastest_preset,
            ..self
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}", self.width, self.height, self.fps)?;
        if self.fastest_preset {
            f.write_str(" fastest preset")?;
        }
        Ok(())
    }
}

/// The ladder for a configured picture, best first: as configured; with the
/// fastest preset (when the encoder has a faster one); at 2/3 and 1/2 of the
/// frame rate; then at 3/4 and 1/2 of the size.
pub fn rungs(width: u32, height: u32, fps: u32, has_faster_preset: bool) -> Vec<Rung> {
    let top = Rung {
        width,
        height,
        fps,
        fastest_preset: false,
    };
    let mut ladder = vec![top];
    let fast = Rung {
        fastest_preset: has_faster_preset,
        ..top
    };
    if has_faster_preset {
        ladder.push(fast);
    }
    let mut lowest_fps = fps;
    for rate in [fps * 2 / 3, fps / 2] {
        if rate >= 5 && rate < lowest_fps {
            ladder.push(Rung { fps: rate, ..fast });
            lowest_fps = rate;
        }
    }
    for (num, den) in [(3, 4), (1, 2)] {
        let (w, h) = (even(width * num / den), even(height * num / den));
        if w >= 16 && h >= 16 {
            ladder.push(Rung {
                width: w,
                height: h,
                fps: lowest_fps,
                ..fast
            });
        }
    }
    ladder
}

fn even(v: u32) -> u32 {
    v & !1
}

/// The share of the frames of `windows` that missed the budget.
fn missed_share(windows: &[JudgedWindow]) -> f64 {
    let frames: usize = windows.iter().map(|w| w.frames).sum();
    let missed: usize = windows.iter().map(|w| w.missed).sum();
    missed as f64 / frames.max(1) as f64
}

/// How many separate runs of windows with the p95 over the budget `windows`
/// hold.
fn bursts_over_budget(windows: &[JudgedWindow]) -> usize {
    let mut before = false;
    let mut bursts = 0;
    for window in windows {
        if window.p95_over && !before {
            bursts += 1;
        }
        before = window.p95_over;
    }
    bursts
}

/// A p95 in ms as causes carry it: infinite when most frames were dropped.
fn p95_ms(p95: Duration) -> f64 {
    if p95 == Duration::MAX {
        f64::INFINITY
    } else {
        ms(p95)
    }
}

/// How the ladder judges the encode budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LadderConfig {
    /// The encode budget: most time from capture timestamp to RTP.
    pub budget: Duration,
    /// Length of one judged window.
    pub window: Duration,
    /// Windows with fewer frames than this are not judged (the source
    /// stalled, or the encoder was just restarted).
    pub min_frames_per_window: usize,
    /// p95 over the budget this long (one window under in between allowed):
    /// step down.
    pub step_down_after: Duration,
    /// Or, over `step_down_after` plus one window, misses in the last window
    /// and more than this share of the frames over the budget even leaving
    /// out the two worst windows: step down (a marginal overload).
    pub max_missed_share: f64,
    /// Or, over this span: the p95 over the budget in the last window and in
    /// at least one separate burst before it, and more than
    /// `recurring_missed_share` of all frames missed: step down (an overload
    /// that comes back in bursts, each too short for the rules above).
    pub recurring_span: Duration,
    /// See `recurring_span`.
    pub recurring_missed_share: f64,
    /// After any step, samples are ignored this long (the encoder restarts,
    /// the first frames at the new setting are keyframes).
    pub settle: Duration,
    /// p95 under `budget × headroom` …
    pub headroom: f64,
    /// … this long: climb one rung.
    pub climb_after: Duration,
    /// Longest wait before climbing, after repeated failed climbs.
    pub climb_after_max: Duration,
    /// A step down this soon after climbing marks the climb as failed.
    pub probation: Duration,
    /// Failed climbs are forgotten after this long without a step down for
    /// the encode budget (the load that made them fail is gone).
    pub failures_forgotten_after: Duration,
}

impl LadderConfig {
    /// The defaults for a budget: 1 s windows; down after 3 s with the p95
    /// over, or when more than 3 % of the frames of the last 4 s missed the
    /// budget even without its two worst seconds (at 30 fps: 2 frames in the
    /// two best seconds), or when the p95 went over in two separate bursts
    /// of the last 15 s with more than 5 % of its frames missed; up after
    /// 10 s under 60 % of the budget; a step down within 30 s
    /// of a climb fails it, failed climbs back off up to 5 minutes and are
    /// forgotten after 10 minutes without a step down.
    pub fn for_budget(budget: Duration) -> Self {
        Self {
            budget,
            window: Duration::from_secs(1),
            min_frames_per_window: 5,
            step_down_after: Duration::from_secs(3),
            max_missed_share: 0.03,
            recurring_span: Duration::from_secs(15),
            recurring_missed_share: 0.05,
            settle: Duration::from_secs(1),
            headroom: 0.6,
            climb_after: Duration::from_secs(10),
            climb_after_max: Duration::from_secs(300),
            probation: Duration::from_secs(30),
            failures_forgotten_after: Duration::from_secs(600),
        }
    }

    /// How many windows `step_down_after` spans.
    fn windows_to_step_down(&self) -> usize {
        self.windows_in(self.step_down_after)
    }

    /// How many windows `span` covers (at least one).
    fn windows_in(&self, span: Duration) -> usize {
        (span.as_secs_f64() / self.window.as_secs_f64())
            .ceil()
            .max(1.0) as usize
    }
}

/// Why the ladder moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The encode path's p95 was over the budget in every window for `for_ms`.
    OverBudget {
        /// The last window's p95, ms (infinite when most frames were dropped).
        p95_ms: f64,
        /// The budget, ms.
        budget_ms: f64,
        /// How long it was over, ms.
        for_ms: f64,
        /// Set when this step ends a climb that failed.
        failed_climb: Option<FailedClimb>,
    },
    /// More than the allowed share of frames missed the budget over `for_ms`,
    /// spread over the windows (a marginal overload).
    MissedBudget {
        /// Frames over the budget (or dropped).
        missed: usize,
        /// Frames judged.
        frames: usize,
        /// The budget, ms.
        budget_ms: f64,
        /// Over how long, ms.
        for_ms: f64,
        /// Separate bursts with the p95 over the budget (0: the misses were
        /// spread over the windows).
        bursts: usize,
        /// The last window's p95, ms (infinite when most frames were dropped).
        p95_ms: f64,
        /// Set when this step ends a climb that failed.
        failed_climb: Option<FailedClimb>,
    },
    /// The p95 stayed under `headroom × budget` for `for_ms`.
    Headroom {
        /// The last window's p95, ms.
        p95_ms: f64,
        /// The budget, ms.
        budget_ms: f64,
        /// How long it was under, ms.
        for_ms: f64,
        /// Earlier climbs from this rung that failed (each doubled the wait).
        failed_climbs: u32,
    },
    /// The bitrate controller's estimate changed which rungs fit.
    Bitrate {
        /// The bitrate allowed, kbit/s (`None`: the constraint was lifted).
        kbps: Option<u32>,
        /// What the new rung needs at least, kbit/s.
        rung_needs_kbps: u32,
    },
}

/// A climb that was followed by a step back down within the probation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FailedClimb {
    /// How long after the climb the step down came, ms.
    pub after_ms: f64,
    /// How long the next climb from the lower rung waits, ms.
    pub next_wait_ms: f64,
}

impl Cause {
    /// Whether the encode budget (not the network) caused the step.
    pub fn is_encode_budget(&self) -> bool {
        !matches!(self, Cause::Bitrate { .. })
    }
}

fn show_p95(p95_ms: f64) -> String {
    if p95_ms.is_finite() {
        format!("{p95_ms:.1} ms")
    } else {
        "(most frames dropped)".to_owned()
    }
}

fn show_failed_climb(f: &mut fmt::Formatter<'_>, failed: Option<&FailedClimb>) -> fmt::Result {
    match failed {
        Some(FailedClimb {
            after_ms,
            next_wait_ms,
        }) => write!(
            f,
            ", {:.0} s after climbing: the next climb waits {:.0} s",
            after_ms / 1e3,
            next_wait_ms / 1e3
        ),
        None => Ok(()),
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::OverBudget {
                p95_ms,
                budget_ms,
                for_ms,
                failed_climb,
            } => {
                write!(
                    f,
                    "encode path p95 {} over the {budget_ms:.1} ms budget for {:.0} s",
                    show_p95(*p95_ms),
                    for_ms / 1e3
                )?;
                show_failed_climb(f, failed_climb.as_ref())
            }
            Cause::MissedBudget {
                missed,
                frames,
                budget_ms,
                for_ms,
                bursts,
                p95_ms,
                failed_climb,
            } => {
                write!(
                    f,
                    "encode path: {missed} of {frames} frames ({:.1} %) over the {budget_ms:.1} ms \
                     budget in {:.0} s, ",
                    100.0 * *missed as f64 / (*frames).max(1) as f64,
                    for_ms / 1e3,
                )?;
                match bursts {
                    0 => f.write_str("spread over the seconds (")?,
                    n => write!(f, "in {n} separate bursts (")?,
                }
                if p95_ms.is_finite() {
                    write!(f, "last p95 {p95_ms:.1} ms)")?;
                } else {
                    f.write_str("frames dropped)")?;
                }
                show_failed_climb(f, failed_climb.as_ref())
            }
            Cause::Headroom {
                p95_ms,
                budget_ms,
                for_ms,
                failed_climbs,
            } => {
                write!(
                    f,
                    "encode path p95 {p95_ms:.1} ms, well under the {budget_ms:.1} ms budget for {:.0} s",
                    for_ms / 1e3
                )?;
                match failed_climbs {
                    0 => Ok(()),
                    1 => f.write_str(" (twice the wait: the last climb from here failed)"),
                    n => write!(f, " (a longer wait: {n} climbs from here failed)"),
                }
            }
            Cause::Bitrate {
                kbps: Some(kbps),
                rung_needs_kbps,
            } => write!(
                f,
                "the network allows {kbps} kbit/s; this setting needs {rung_needs_kbps} kbit/s"
            ),
            Cause::Bitrate {
                kbps: None,
                rung_needs_kbps,
            } => write!(
                f,
                "bitrate constraint lifted; this setting needs {rung_needs_kbps} kbit/s"
            ),
        }
    }
}

/// A decision: apply `rung` (index `to` of the ladder), because of `cause`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// Rung index before.
    pub from: usize,
    /// Rung index after (higher is lower quality).
    pub to: usize,
    /// The setting to apply now (size and rate of rung `to`; preset as the
    /// encode budget decides).
    pub rung: Rung,
    /// Why.
    pub cause: Cause,
}

/// The ladder's state; see the module documentation.
#[derive(Debug, Clone)]
pub struct QualityLadder {
    rungs: Vec<Rung>,
    config: LadderConfig,
    /// Rung index the encode budget asks for.
    budget_rung: usize,
    /// Best rung index the bitrate allows (0 when unconstrained).
    bitrate_rung: usize,
    bitrate_kbps: Option<u32>,
    /// What was last handed out.
    applied: usize,
    applied_rung: Rung,
    window_start: Instant,
    window: Vec<Duration>,
    ignore_until: Instant,
    /// The last judged windows, newest last.
    judged: VecDeque<JudgedWindow>,
    under_since: Option<Instant>,
    last_p95: Option<Duration>,
    /// When the last climb (to which rung) happened.
    last_climb: Option<(Instant, usize)>,
    /// When the encode budget last stepped the ladder down.
    last_step_down: Option<Instant>,
    /// Per rung index: failed climbs from it since the failures were last
    /// forgotten (each doubles the wait before the next climb).
    failed_climbs: Vec<u32>,
    steps: VecDeque<Step>,
}

/// What the step-down rules need to know of one judged window.
#[derive(Debug, Clone, Copy)]
struct JudgedWindow {
    frames: usize,
    /// Frames over the budget (or dropped).
    missed: usize,
    p95_over: bool,
}

impl QualityLadder {
    /// A ladder over `rungs` (best first, at least one), starting at the top.
    pub fn new(rungs: Vec<Rung>, config: LadderConfig, now: Instant) -> Self {
        assert!(!rungs.is_empty(), "a ladder has at least one rung");
        let top = rungs[0];
        Self {
            failed_climbs: vec![0; rungs.len()],
            rungs,
            config,
            budget_rung: 0,
            bitrate_rung: 0,
            bitrate_kbps: None,
            applied: 0,
            applied_rung: top,
            window_start: now,
            window: Vec::new(),
            ignore_until: now,
            judged: VecDeque::new(),
            under_since: None,
            last_p95: None,
            last_climb: None,
            last_step_down: None,
            steps: VecDeque::new(),
        }
    }

    /// The rungs, best first.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    /// The rung index in force and its setting.
    pub fn current(&self) -> (usize, Rung) {
        (self.applied, self.applied_rung)
    }

    /// The configuration.
    pub fn config(&self) -> &LadderConfig {
        &self.config
    }

    /// The p95 of the last judged window.
    pub fn last_p95(&self) -> Option<Duration> {
        self.last_p95
    }

    /// One frame's encode-path time.
    pub fn handle_frame(&mut self, now: Instant, encode_path: Duration) {
        self.roll(now);
        if now >= self.ignore_until {
            self.window.push(encode_path);
        }
    }

    /// A frame that missed the budget without an encode-path time (dropped
    /// because the encoder was busy): counts as over any budget.
    pub fn handle_missed_frame(&mut self, now: Instant) {
        self.handle_frame(now, Duration::MAX);
    }

    /// The bitrate controller's constraint: the network allows `kbps`.
    pub fn handle_bitrate(&mut self, now: Instant, kbps: u32) {
        self.roll(now);
        let fits =
            |i: usize, margin: f64| f64::from(self.rungs[i].min_kbps()) * margin <= f64::from(kbps);
        let mut best = (0..self.rungs.len())
            .find(|&i| fits(i, 1.0))
            .unwrap_or(self.rungs.len() - 1);
        // Climbing back above the current constraint needs a margin.
        if best < self.bitrate_rung {
            best = (best..self.bitrate_rung)
                .find(|&i| fits(i, BITRATE_CLIMB_MARGIN))
                .unwrap_or(self.bitrate_rung);
        }
        self.bitrate_kbps = Some(kbps);
        if best != self.bitrate_rung {
            self.bitrate_rung = best;
            self.decide(Cause::Bitrate {
                kbps: Some(kbps),
                rung_needs_kbps: 0,
            });
        }
    }

    /// Lifts the bitrate constraint (the controller has no estimate).
    pub fn clear_bitrate(&mut self, now: Instant) {
        self.roll(now);
        self.bitrate_kbps = None;
        if self.bitrate_rung != 0 {
            self.bitrate_rung = 0;
            self.decide(Cause::Bitrate {
                kbps: None,
                rung_needs_kbps: 0,
            });
        }
    }

    /// When [`Self::handle_timeout`] must be called next: the end of the
    /// current window.
    pub fn poll_timeout(&self) -> Instant {
        self.window_start + self.config.window
    }

    /// Judges every window that ended by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.roll(now);
    }

    /// The next decision to apply, oldest first.
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    fn roll(&mut self, now: Instant) {
        while now >= self.window_start + self.config.window {
            let end = self.window_start + self.config.window;
            self.judge_window(end);
            self.window_start = end;
        }
    }

    fn judge_window(&mut self, end: Instant) {
        let mut samples = std::mem::take(&mut self.window);
        if samples.len() < self.config.min_frames_per_window {
            return;
        }
        samples.sort_unstable();
        let budget = self.config.budget;
        let p95 = nearest_rank(&samples, 0.95);
        let missed = samples.len() - samples.partition_point(|d| *d <= budget);
        tracing::debug!(
            "latency window: {} frames, {missed} over the {:.1} ms budget, p95 {}",
            samples.len(),
            ms(budget),
            show_p95(p95_ms(p95))
        );
        self.last_p95 = Some(p95);
        self.forget_failures_when_quiet(end);
        self.judged.push_back(JudgedWindow {
            frames: samples.len(),
            missed,
            p95_over: p95 > budget,
        });
        let kept = (self.config.windows_to_step_down() + 1)
            .max(self.config.windows_in(self.config.recurring_span));
        while self.judged.len() > kept {
            self.judged.pop_front();
        }
        if let Some(overload) = self.overload(p95) {
            self.under_since = None;
            if self.budget_rung + 1 < self.rungs.len() {
                let failed = self.step_budget_rung(end, self.budget_rung + 1);
                let mut cause = overload;
                if let Cause::OverBudget { failed_climb, .. }
                | Cause::MissedBudget { failed_climb, .. } = &mut cause
                {
                    *failed_climb = failed;
                }
                self.decide(cause);
            }
        } else if p95.as_secs_f64() <= budget.as_secs_f64() * self.config.headroom {
            let start = end - self.config.window;
            let since = *self.under_since.get_or_insert(start);
            let under_for = end - since;
            let failed_climbs = self.failed_climbs[self.budget_rung];
            if self.budget_rung > 0 && under_for >= self.climb_wait(self.budget_rung) {
                self.step_budget_rung(end, self.budget_rung - 1);
                self.decide(Cause::Headroom {
                    p95_ms: ms(p95),
                    budget_ms: ms(budget),
                    for_ms: ms(under_for),
                    failed_climbs,
                });
            }
        } else {
            self.under_since = None;
        }
    }

    /// The overload the judged windows show, if any; `p95` is the last
    /// window's.
    fn overload(&self, p95: Duration) -> Option<Cause> {
        let needed = self.config.windows_to_step_down();
        let recent: Vec<JudgedWindow> =
            self.judged.iter().rev().take(needed + 1).copied().collect();
        let last = recent.first()?;
        let budget_ms = ms(self.config.budget);
        let p95_ms = p95_ms(p95);
        // Clear: over budget in all but one of the last `needed + 1` windows,
        // and in the last. A load that lets one window through now and then
        // (a CPU hog sharing the core) still counts as staying over, while a
        // spike shorter than `step_down_after` does not.
        let p95_over = recent.iter().filter(|w| w.p95_over).count();
        if last.p95_over && p95_over >= needed {
            return Some(Cause::OverBudget {
                p95_ms,
                budget_ms,
                for_ms: ms(self.config.window * p95_over as u32),
                failed_climb: None,
            });
        }
        let missed_budget = |windows: &[JudgedWindow], bursts: usize| Cause::MissedBudget {
            missed: windows.iter().map(|w| w.missed).sum(),
            frames: windows.iter().map(|w| w.frames).sum(),
            budget_ms,
            for_ms: ms(self.config.window * windows.len() as u32),
            bursts,
            p95_ms,
            failed_climb: None,
        };
        if recent.len() > needed && self.misses_keep_coming(&recent) {
            return Some(missed_budget(&recent, 0));
        }
        // Recurring: bursts each shorter than `step_down_after`; one alone is
        // a spike, a second within the span is the overload coming back.
        let span = self.config.windows_in(self.config.recurring_span);
        let recurring: Vec<JudgedWindow> = self.judged.iter().rev().take(span).copied().collect();
        let bursts = bursts_over_budget(&recurring);
        (last.p95_over
            && bursts >= 2
            && missed_share(&recurring) > self.config.recurring_missed_share)
            .then(|| missed_budget(&recurring, bursts))
    }

    /// Marginal: the p95 hovers around the budget, so single windows flip
    /// over and under it, but the misses of all `recent` windows (newest
    /// first) show the overload steadily. The two worst windows are left
    /// out, so one bad second (a keyframe, a hiccup, even split across two
    /// windows) amid a few stray misses is no overload.
    fn misses_keep_coming(&self, recent: &[JudgedWindow]) -> bool {
        if recent.first().is_none_or(|last| last.missed == 0) {
            return false;
        }
        let mut by_misses = recent.to_vec();
        by_misses.sort_unstable_by_key(|w| w.missed);
        let best = &by_misses[..by_misses.len().saturating_sub(2)];
        missed_share(best) > self.config.max_missed_share
    }

    /// How long the p95 must stay well under the budget before climbing from
    /// `rung`: doubled for each failed climb from there.
    fn climb_wait(&self, rung: usize) -> Duration {
        let doublings = self.failed_climbs[rung].min(16);
        (self.config.climb_after * 2u32.pow(doublings)).min(self.config.climb_after_max)
    }

    fn forget_failures_when_quiet(&mut self, now: Instant) {
        if self.last_step_down.is_some_and(|at| {
            now.saturating_duration_since(at) >= self.config.failures_forgotten_after
        }) {
            if self.failed_climbs.iter().any(|n| *n > 0) {
                tracing::debug!(
                    "latency: no step down for {:.0} s; failed climbs forgotten",
                    self.config.failures_forgotten_after.as_secs_f64()
                );
            }
            self.failed_climbs.fill(0);
            self.last_step_down = None;
        }
    }

    /// Moves the rung the encode budget asks for; on a step down that ends
    /// a failed climb, says so.
    fn step_budget_rung(&mut self, now: Instant, to: usize) -> Option<FailedClimb> {
        let from = self.budget_rung;
        let mut failed = None;
        if to > from {
            // Down: was the last climb to `from` a mistake?
            if let Some((at, climbed_to)) = self.last_climb
                && climbed_to == from
                && now.saturating_duration_since(at) <= self.config.probation
            {
                self.failed_climbs[to] += 1;
                failed = Some(FailedClimb {
                    after_ms: ms(now.saturating_duration_since(at)),
                    next_wait_ms: ms(self.climb_wait(to)),
                });
            }
            self.last_climb = None;
            self.last_step_down = Some(now);
        } else {
            self.last_climb = Some((now, to));
        }
        self.budget_rung = to;
        self.judged.clear();
        self.under_since = None;
        self.window.clear();
        self.ignore_until = now + self.config.settle;
        failed
    }

    /// Hands out a step when the effective setting changed.
    fn decide(&mut self, cause: Cause) {
        let index = self.budget_rung.max(self.bitrate_rung);
        let rung = self.rungs[index].with_preset_of(&self.rungs[self.budget_rung]);
        if rung == self.applied_rung && index == self.applied {
            return;
        }
        let cause = match cause {
            Cause::Bitrate { kbps, .. } => Cause::Bitrate {
                kbps,
                rung_needs_kbps: self.rungs[index].min_kbps(),
            },
            other => other,
        };
        self.steps.push_back(Step {
            from: self.applied,
            to: index,
            rung,
            cause,
        });
        self.applied = index;
        self.applied_rung = rung;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_of_720p30() {
        let ladder = rungs(1280, 720, 30, true);
        let shown: Vec<String> = ladder.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "1280x720@30",
                "1280x720@30 fastest preset",
                "1280x720@20 fastest preset",
                "1280x720@15 fastest preset",
                "960x540@15 fastest preset",
                "640x360@15 fastest preset",
            ]
        );
        assert_eq!(rungs(1280, 720, 30, false).len(), 5);
        assert_eq!(ladder[0].min_kbps(), 1106);
    }
}
