//! The daemon's bitrate loop: the gateway's feedback in, the encoder's
//! bitrate and the quality ladder's bitrate constraint out (see
//! [`crate::congestion`] for the controller itself).
//!
//! Runs as one task for the daemon's life, across sessions: a reconnect
//! keeps the last estimate instead of starting over. The encoder is looked up
//! by name at every change, because the ladder may replace it (a faster
//! preset); a replaced encoder gets the current bitrate at once. When the
//! bitrate cannot carry the current picture, the ladder (the latency
//! budget's, [`crate::latency`]) steps down its size or rate: it gets the
//! encoder's bitrate as its constraint, from the first sign that the line
//! (or a specialist's) is what limits the rate. Before that the controller
//! is still ramping up from its start rate, and a constraint would start
//! every consultation with a small picture. Changes reach the nurse's terminal
//! when they are large ("sending 850 kbit/s: the line is full"), the full
//! detail is at debug level, and with `SAMSYN_CC_TRACE=<file>` every piece
//! of feedback is recorded for replay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::mpsc;

use crate::congestion::trace::{TraceEvent, TraceWriter};
use crate::congestion::{
    BitrateController, BitrateLimits, ControllerState, EncoderBudget, Feedback, Usage,
};
use crate::encoder;
use crate::latency::controller::LatencyHandle;

/// Environment variable naming a file to record congestion feedback into.
pub const TRACE_ENV: &str = "SAMSYN_CC_TRACE";
/// The encoder is only retuned when its bitrate would move by more than this.
const RETUNE_STEP: f64 = 0.05;
/// How long the network must hold the rate down before the picture
/// follows: a keyframe's burst or a moment of cross traffic is not a line.
const LIMIT_SHOWN: Duration = Duration::from_secs(2);
/// The terminal hears about the rate when it moved by more than this.
const REPORT_STEP: f64 = 0.25;

/// What the loop needs to know.
#[derive(Debug, Clone)]
pub struct RateSettings {
    /// The sending rate's range and start.
    pub limits: BitrateLimits,
    /// What the encoder gets of the sending rate.
    pub budget: EncoderBudget,
}

/// The round trip the loop measured last, shared with the session watcher
/// (it sizes the retransmission history).
pub type SharedRoundTrip = Arc<Mutex<Option<Duration>>>;

/// Starts the loop: feedback from `feedback`, bitrate into the encoder of
/// `pipeline` (when it can change while running) and, as a constraint, into
/// the quality `ladder`.
pub fn spawn(
    settings: RateSettings,
    mut feedback: mpsc::UnboundedReceiver<Feedback>,
    pipeline: gst::Pipeline,
    round_trip: SharedRoundTrip,
    ladder: Option<LatencyHandle>,
) {
    let mut controller = BitrateController::new(settings.limits);
    let floor = settings.limits.min_bps;
    let mut encoder = EncoderSetting::new(pipeline);
    let start = controller.target_bps();
    let mut applied = settings.budget.encoder_bps(start, floor);
    if !encoder.apply(applied) {
        tracing::info!(
            "the video encoder cannot change its bitrate while running; congestion control \
             only logs what it would send"
        );
    }
    // Set once the network has shown its limit; see the module docs.
    let mut line_limits = false;
    let mut limited_since = None;
    let mut trace = std::env::var_os(TRACE_ENV).and_then(|path| {
        TraceWriter::open(std::path::Path::new(&path))
            .map_err(|e| tracing::warn!(error = %e, "cannot open the congestion trace file"))
            .ok()
    });
    tokio::spawn(async move {
        let clock = gst::SystemClock::obtain();
        let mut reported = start;
        while let Some(item) = feedback.recv().await {
            let now = Duration::from_nanos(clock.time().nseconds());
            if let Some(writer) = trace.as_mut() {
                let _ = writer.write(&TraceEvent {
                    at: now,
                    feedback: item.clone(),
                });
            }
            let target = controller.on_feedback(now, &item);
            let state = controller.state();
            *round_trip.lock().unwrap_or_else(|e| e.into_inner()) = state.round_trip;
            let wanted = settings.budget.encoder_bps(target, floor);
            let newly_limited = !line_limits
                && shown_for(&mut limited_since, now, network_limits(&state), LIMIT_SHOWN);
            line_limits |= newly_limited;
            if moved(applied, wanted, RETUNE_STEP) || newly_limited {
                encoder.apply(wanted);
                if line_limits {
                    constrain(ladder.as_ref(), wanted);
                }
                applied = wanted;
                tracing::debug!(?state, encoder_bps = wanted, "bitrate retuned");
            } else {
                // The ladder may have replaced the encoder meanwhile.
                encoder.keep(applied);
            }
            if moved(reported, target, REPORT_STEP) {
                tracing::info!(
                    "sending {} kbit/s: {}",
                    target / 1000,
                    reason(&state, settings.limits)
                );
                reported = target;
            }
        }
    });
}

/// Whether the controller's target is held down by the network: delay
/// building, heavy loss, or a specialist's link (the gateway's
/// cap) — not only the ramp from the start rate.
///
/// A sender that uses far less than its target (a still picture encodes
/// small) is limited by its own content, and its delay signal is noise.
fn network_limits(state: &ControllerState) -> bool {
    let target = state.target_bps;
    let content_limited = state
        .received_bps
        .is_none_or(|received| received.saturating_mul(2) < target);
    if content_limited {
        return false;
    }
    state.usage == Usage::Overusing
        || state.cap_bps.is_some_and(|cap| cap <= target)
        || state.loss.is_some_and(|loss| loss > 0.10) && state.loss_bps <= target
}

/// True once `condition` has held without a break for `needed`, tracked in
/// `since`.
fn shown_for(
    since: &mut Option<Duration>,
    now: Duration,
    condition: bool,
    needed: Duration,
) -> bool {
    if !condition {
        *since = None;
        return false;
    }
    now.saturating_sub(*since.get_or_insert(now)) >= needed
}

/// Tells the quality ladder what the encoder may spend: when that cannot
/// carry the current picture, the ladder steps down its size or rate.
fn constrain(ladder: Option<&LatencyHandle>, encoder_bps: u64) {
    if let Some(ladder) = ladder {
        ladder.set_available_bitrate(Some(u32::try_from(encoder_bps / 1000).unwrap_or(u32::MAX)));
    }
}

/// The encoder element the bitrate goes to, found by name each time.
struct EncoderSetting {
    pipeline: gst::Pipeline,
    last: Option<gst::Element>,
}

impl EncoderSetting {
    fn new(pipeline: gst::Pipeline) -> Self {
        Self {
            pipeline,
            last: None,
        }
    }

    /// Sets the bitrate; false when the encoder cannot change it running.
    fn apply(&mut self, bps: u64) -> bool {
        self.last = self.pipeline.by_name(encoder::ENCODER_NAME);
        self.last
            .as_ref()
            .is_some_and(|element| encoder::set_bitrate(element, bps))
    }

    /// Sets the bitrate again if the encoder was replaced since.
    fn keep(&mut self, bps: u64) {
        let current = self.pipeline.by_name(encoder::ENCODER_NAME);
        if current != self.last {
            tracing::debug!("the encoder was replaced; giving it the current bitrate");
            self.apply(bps);
        }
    }
}

fn moved(from: u64, to: u64, step: f64) -> bool {
    let from = from.max(1) as f64;
    ((to as f64 - from) / from).abs() > step
}

/// Why the target is where it is, in the nurse's words.
fn reason(state: &ControllerState, limits: BitrateLimits) -> String {
    let target = state.target_bps;
    if target >= limits.max_bps {
        return "the configured maximum; the line has room".into();
    }
    if state.cap_bps.is_some_and(|cap| cap <= target) {
        return "a specialist's connection cannot take more".into();
    }
    if let Some(loss) = state.loss
        && loss > 0.10
        && state.loss_bps <= target
    {
        return format!("the line loses {:.0} % of the packets", loss * 100.0);
    }
    if target <= limits.min_bps {
        return "the configured minimum; the line is very slow".into();
    }
    match state.usage {
        Usage::Overusing => "the line is full (delay growing)".into(),
        Usage::Underusing => "the line is full (queue draining)".into(),
        Usage::Normal => "probing the line".into(),
    }
}

/// How long the RTX sender keeps sent packets: long enough for a NACK to
/// come back and be answered a few times over the measured round trip.
pub fn retransmission_window(round_trip: Option<Duration>) -> Duration {
    let rtt = round_trip.unwrap_or(Duration::from_millis(200));
    (rtt * 4 + Duration::from_millis(200)).clamp(Duration::from_millis(500), Duration::from_secs(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retransmission_window_follows_the_round_trip() {
        assert_eq!(retransmission_window(None), Duration::from_millis(1000));
        assert_eq!(
            retransmission_window(Some(Duration::from_millis(20))),
            Duration::from_millis(500)
        );
        assert_eq!(
            retransmission_window(Some(Duration::from_millis(150))),
            Duration::from_millis(800)
        );
        assert_eq!(
            retransmission_window(Some(Duration::from_secs(2))),
            Duration::from_secs(3)
        );
    }

    /// A controller sending 800 kbit/s, 700 of which arrive, no loss.
    fn sending_800_kbps(usage: Usage) -> ControllerState {
        ControllerState {
            target_bps: 800_000,
            delay_bps: 800_000,
            loss_bps: 2_000_000,
            cap_bps: None,
            received_bps: Some(700_000),
            loss: Some(0.0),
            usage,
            round_trip: None,
        }
    }

    #[test]
    fn only_a_network_limit_constrains_the_picture() {
        let ramping = sending_800_kbps(Usage::Normal);
        assert!(!network_limits(&ramping), "ramping up from the start rate");
        assert!(
            !network_limits(&ControllerState {
                usage: Usage::Overusing,
                received_bps: Some(50_000),
                ..ramping
            }),
            "a still picture sends far under its target: no verdict on the line"
        );
        assert!(network_limits(&ControllerState {
            usage: Usage::Overusing,
            ..ramping
        }));
        assert!(
            !network_limits(&ControllerState {
                usage: Usage::Underusing,
                ..ramping
            }),
            "a queue draining after a keyframe says nothing of the line"
        );
        assert!(network_limits(&ControllerState {
            cap_bps: Some(600_000),
            ..ramping
        }));
        assert!(!network_limits(&ControllerState {
            cap_bps: Some(1_600_000),
            ..ramping
        }));
        assert!(network_limits(&ControllerState {
            loss: Some(0.2),
            loss_bps: 700_000,
            ..ramping
        }));
        assert!(
            !network_limits(&ControllerState {
                loss: Some(0.03),
                ..ramping
            }),
            "light loss is left to retransmission"
        );
    }

    #[test]
    fn a_limit_counts_once_it_has_held_without_a_break() {
        let secs = Duration::from_secs;
        let mut since = None;
        assert!(!shown_for(&mut since, secs(10), true, secs(2)));
        assert!(!shown_for(&mut since, secs(11), true, secs(2)));
        assert!(!shown_for(&mut since, secs(11), false, secs(2)), "a break");
        assert!(!shown_for(&mut since, secs(12), true, secs(2)));
        assert!(shown_for(&mut since, secs(14), true, secs(2)));
    }

    #[test]
    fn reasons_name_the_bottleneck() {
        let limits = BitrateLimits::new(300_000, 2_500_000);
        let mut state = sending_800_kbps(Usage::Overusing);
        assert_eq!(reason(&state, limits), "the line is full (delay growing)");
        state.cap_bps = Some(800_000);
        assert_eq!(
            reason(&state, limits),
            "a specialist's connection cannot take more"
        );
        state.cap_bps = None;
        state.loss = Some(0.2);
        state.loss_bps = 800_000;
        assert_eq!(reason(&state, limits), "the line loses 20 % of the packets");
    }
}
