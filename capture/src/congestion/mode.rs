//! Whether the bitrate the path allows can carry the current video mode.
//!
//! Congestion control moves the encoder's bitrate; below some bits per pixel
//! a picture at full size and rate turns to mush, and a smaller or slower
//! mode looks better at the same bitrate. The quality ladder (the latency
//! budget's component that steps resolution and frame rate) takes this
//! signal as one of its constraints; this module only judges, with enough
//! hysteresis that a short dip does not make the picture change size.

use std::time::Duration;

/// A video mode: size and frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoMode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

impl VideoMode {
    /// Pixels encoded per second.
    pub fn pixel_rate(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * f64::from(self.fps)
    }
}

/// What the bitrate means for the current mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeFit {
    /// Too few bits for this mode: step down (smaller or slower).
    TooExpensive,
    /// The mode suits the bitrate.
    Fits,
    /// Bits to spare: a larger or faster mode would look better.
    Cheap,
}

/// Below this many bits per pixel H.264 at low-latency settings smears;
/// 0.04 is about 1.1 Mbit/s for 1280×720 at 30 fps, 280 kbit/s for 640×360.
pub const MIN_BITS_PER_PIXEL: f64 = 0.04;
/// Above this, a mode with twice the pixels per second would still get 0.06
/// bits per pixel, comfortably above the minimum: worth stepping up.
pub const CHEAP_BITS_PER_PIXEL: f64 = 0.12;

/// The fit of `mode` at `encoder_bps`, without hysteresis.
pub fn fit(encoder_bps: u64, mode: VideoMode) -> ModeFit {
    let rate = mode.pixel_rate();
    if rate <= 0.0 {
        return ModeFit::Fits;
    }
    let bpp = encoder_bps as f64 / rate;
    if bpp < MIN_BITS_PER_PIXEL {
        ModeFit::TooExpensive
    } else if bpp > CHEAP_BITS_PER_PIXEL {
        ModeFit::Cheap
    } else {
        ModeFit::Fits
    }
}

/// Reports a fit only once it has held long enough: stepping down after
/// [`ModeFitFilter::down_after`], up after the longer
/// [`ModeFitFilter::up_after`] (a wrong step up costs a visible change and a
/// congested path; a late one only costs sharpness).
#[derive(Debug, Clone)]
pub struct ModeFitFilter {
    /// How long `TooExpensive` must hold.
    pub down_after: Duration,
    /// How long `Cheap` must hold.
    pub up_after: Duration,
    candidate: ModeFit,
    since: Option<Duration>,
}

impl Default for ModeFitFilter {
    fn default() -> Self {
        Self {
            down_after: Duration::from_secs(3),
            up_after: Duration::from_secs(10),
            candidate: ModeFit::Fits,
            since: None,
        }
    }
}

impl ModeFitFilter {
    /// Feeds the momentary fit at `now`; returns the sustained one.
    pub fn update(&mut self, now: Duration, fit: ModeFit) -> ModeFit {
        if fit != self.candidate || self.since.is_none() {
            self.candidate = fit;
            self.since = Some(now);
        }
        let held = now.saturating_sub(self.since.unwrap_or(now));
        match self.candidate {
            ModeFit::TooExpensive if held >= self.down_after => ModeFit::TooExpensive,
            ModeFit::Cheap if held >= self.up_after => ModeFit::Cheap,
            _ => ModeFit::Fits,
        }
    }

    /// Starts over (after the mode changed).
    pub fn reset(&mut self) {
        self.candidate = ModeFit::Fits;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: VideoMode = VideoMode {
        width: 1280,
        height: 720,
        fps: 30,
    };

    #[test]
    fn bits_per_pixel_decide() {
        assert_eq!(fit(600_000, HD), ModeFit::TooExpensive);
        assert_eq!(fit(2_000_000, HD), ModeFit::Fits);
        assert_eq!(fit(4_000_000, HD), ModeFit::Cheap);
    }

    #[test]
    fn a_short_dip_does_not_change_the_mode() {
        let s = Duration::from_secs(1);
        let mut filter = ModeFitFilter::default();
        assert_eq!(
            filter.update(Duration::ZERO, ModeFit::TooExpensive),
            ModeFit::Fits
        );
        assert_eq!(filter.update(2 * s, ModeFit::Fits), ModeFit::Fits);
        assert_eq!(filter.update(3 * s, ModeFit::TooExpensive), ModeFit::Fits);
        assert_eq!(
            filter.update(6 * s, ModeFit::TooExpensive),
            ModeFit::TooExpensive
        );
        assert_eq!(filter.update(7 * s, ModeFit::Cheap), ModeFit::Fits);
        assert_eq!(filter.update(16 * s, ModeFit::Cheap), ModeFit::Fits);
        assert_eq!(filter.update(17 * s, ModeFit::Cheap), ModeFit::Cheap);
    }
}
