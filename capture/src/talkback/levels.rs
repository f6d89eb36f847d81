//! How loud each speaker and the mix are: the `level` elements' RMS
//! messages, averaged over the last second.

use std::collections::VecDeque;

use gstreamer as gst;

/// What a meter shows for silence, dBFS (`level` itself reports −700 dB
/// for digital silence, which means nothing to a reader).
pub const SILENCE_DB: f64 = -100.0;
/// A slot louder than this over the last second counts as someone heard
/// (quiet speech sits around −40 dBFS; comfort noise and the decoder's
/// concealment stay well below).
pub const ACTIVE_DB: f64 = -55.0;
/// How many `level` messages make up the window.
const WINDOW_MESSAGES: usize = 10;
/// The interval `level` elements post at; with [`WINDOW_MESSAGES`], the
/// window is about one second.
pub const INTERVAL: gst::ClockTime = gst::ClockTime::from_mseconds(100);

/// The recent loudness of one signal.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    /// Mean square (linear, full scale 1.0) of each recent message.
    recent: VecDeque<f64>,
}

impl Meter {
    /// Adds one `level` message's RMS values (dB, one per channel).
    pub fn push_rms_db(&mut self, rms_db: &[f64]) {
        if rms_db.is_empty() {
            return;
        }
        let mean_square = rms_db
            .iter()
            .map(|db| 10f64.powf(db.max(SILENCE_DB) / 10.0))
            .sum::<f64>()
            / rms_db.len() as f64;
        self.recent.push_back(mean_square);
        while self.recent.len() > WINDOW_MESSAGES {
            self.recent.pop_front();
        }
    }

    /// RMS over the window in dBFS; [`SILENCE_DB`] when nothing was heard.
    pub fn db(&self) -> f64 {
        if self.recent.is_empty() {
            return SILENCE_DB;
        }
        let mean = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        if mean <= 0.0 {
            return SILENCE_DB;
        }
        (10.0 * mean.log10()).max(SILENCE_DB)
    }

    /// Whether someone is heard on it.
    pub fn active(&self) -> bool {
        self.db() > ACTIVE_DB
    }
}

/// The RMS values of a `level` element message, one per channel, in dB.
pub fn rms_of(message: &gst::StructureRef) -> Option<Vec<f64>> {
    if message.name() != "level" {
        return None;
    }
    let rms = message.get::<gst::glib::ValueArray>("rms").ok()?;
    Some(rms.iter().filter_map(|v| v.get::<f64>().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_averages_power_over_its_window() {
        let mut meter = Meter::default();
        assert_eq!(meter.db(), SILENCE_DB);
        assert!(!meter.active());
        meter.push_rms_db(&[-20.0, -20.0]);
        assert!((meter.db() + 20.0).abs() < 1e-9);
        assert!(meter.active());
        // Silence (−700 dB from `level`) half the time: 3 dB less power.
        meter.push_rms_db(&[-700.0, -700.0]);
        assert!((meter.db() + 23.0103).abs() < 1e-3, "{}", meter.db());
        for _ in 0..WINDOW_MESSAGES {
            meter.push_rms_db(&[-700.0]);
        }
        assert_eq!(meter.db(), SILENCE_DB);
        assert!(!meter.active());
    }
}
