//! What a viewer's link can take: webrtc-rs's send-side GCC on the
//! transport-wide feedback the viewer sends about what the gateway sends it.
//!
//! The estimator runs inside the peer's interceptor chain, out of the SFU's
//! reach, so it writes what it concludes into a [`LinkEstimate`] the peer
//! shares with the SFU.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport};

/// The estimate starts far above any camera's rate: a viewer counts as
/// limiting only once its link has shown congestion (GCC cuts to 85 % of what
/// arrived). Starting low would cap the room every time someone joins.
pub const INITIAL_BPS: f64 = 50_000_000.0;
/// The estimate never goes below this (a link this slow is reported as
/// weak, not followed down).
pub const MIN_BPS: f64 = 50_000.0;

/// A viewer link's latest estimate, written by the chain, read by the SFU.
#[derive(Debug, Default)]
pub struct LinkEstimate {
    target_bps: AtomicU64,
    /// Packets lost on the gateway → viewer leg, per mille, lately.
    loss_permille: AtomicU32,
    /// Whether any feedback has been seen (the viewer sends TWCC).
    reported: AtomicBool,
}

impl LinkEstimate {
    /// The estimate in bit/s, once the viewer has reported anything.
    pub fn target_bps(&self) -> Option<u64> {
        self.reported
            .load(Ordering::Relaxed)
            .then(|| self.target_bps.load(Ordering::Relaxed))
    }

    /// Fraction of packets lost on the viewer's leg, lately.
    pub fn loss(&self) -> Option<f64> {
        self.reported
            .load(Ordering::Relaxed)
            .then(|| f64::from(self.loss_permille.load(Ordering::Relaxed)) / 1000.0)
    }
}

/// GCC, publishing its estimate into a [`LinkEstimate`].
pub struct ObservedGcc {
    gcc: Gcc,
    loss: Option<f64>,
    out: Arc<LinkEstimate>,
}

impl ObservedGcc {
    /// A fresh estimator writing into `out`.
    pub fn new(out: Arc<LinkEstimate>) -> Self {
        Self {
            gcc: Gcc::new(INITIAL_BPS, MIN_BPS, INITIAL_BPS),
            loss: None,
            out,
        }
    }
}

impl BandwidthEstimator for ObservedGcc {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        if reports.is_empty() {
            return;
        }
        self.out
            .target_bps
            .store(self.gcc.target_bitrate() as u64, Ordering::Relaxed);
        // The leg's own recent loss, smoothed over about a second of
        // feedback (GCC's average reacts more slowly).
        let lost = reports.iter().filter(|r| !r.arrived).count() as f64;
        let sample = lost / reports.len() as f64;
        self.loss = Some(match self.loss {
            None => sample,
            Some(loss) => 0.9 * loss + 0.1 * sample,
        });
        let loss = self.loss.unwrap_or(0.0);
        self.out
            .loss_permille
            .store((loss.clamp(0.0, 1.0) * 1000.0) as u32, Ordering::Relaxed);
        self.out.reported.store(true, Ordering::Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.gcc.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}
