//! Choosing the camera mode (pixel format, frame size, frame rate) for the
//! configured width, height and frame rate.
//!
//! # Policy
//!
//! The configured size and rate are an upper bound: the encoder and the
//! nurse's uplink are sized for them, so a larger camera mode only costs USB
//! bandwidth and CPU to scale down.
//!
//! 1. A mode *fits* when its width and height are at most the requested ones
//!    and it offers a frame rate at most the requested one. For each frame size
//!    the highest such rate is taken; for stepwise intervals that is the
//!    highest rate on the `min + k·step` grid (any rate for a continuous range).
//! 2. Among fitting modes, the largest picture (area) wins, then the higher
//!    frame rate, then the format, in this order:
//!    camera-native H.264 (only when `prefer_native_h264`) > MJPEG > NV12 >
//!    YUYV > H.264 (when not preferred: it must be decoded first).
//!    MJPEG ranks above the raw formats because over USB 2 raw frames are
//!    bandwidth-limited: cameras that offer a raw size at all often offer it
//!    at a lower rate (the C920 gives YUYV 1280x720 at 10 fps, MJPEG at 30);
//!    at equal size and rate, compressed frames leave the bus headroom.
//!    NV12 ranks above YUYV as it is half the bytes and what encoders take.
//! 3. A fitting mode below half the requested rate (5 fps when 30 was asked)
//!    is useless for guiding a treatment live, so fitting modes that reach
//!    at least half the rate are preferred to larger ones that don't. Only
//!    when none does is the largest slow one taken, with a note.
//! 4. When nothing fits: if some sizes fit but only at a higher rate, the
//!    largest such size at its lowest rate; otherwise the smallest size above
//!    the request (highest rate within the request, else the lowest). Either
//!    way the choice carries a note saying so; the pipeline scales and
//!    rate-adapts to the configured values.
//! 5. Formats this program can't take (`PixelFormat::Other`) are never chosen;
//!    a camera with nothing else is an error listing what it offers.

use std::cmp::Ordering;

pub use super::caps::{CameraMode, PixelFormat};
use super::caps::{FormatCaps, FrameIntervals, Interval, describe_formats};

/// What the capture configuration asks of the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeRequest {
    /// Largest width wanted, in pixels.
    pub width: u32,
    /// Largest height wanted, in pixels.
    pub height: u32,
    /// Highest frame rate wanted.
    pub fps: u32,
    /// Rank the camera's own H.264 first (it is sent without re-encoding).
    pub prefer_native_h264: bool,
}

/// The chosen mode, with a note when it is not within the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChoice {
    /// The mode to open the camera in.
    pub mode: CameraMode,
    /// Why the mode is larger, faster or much slower than asked, if it is.
    pub note: Option<String>,
}

/// Why no mode could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// The camera offers only pixel formats this program cannot take.
    #[error(
        "the camera offers no pixel format samsyn can use (MJPG, YUYV, NV12 or H264); \
         it offers {offered}; use another camera, or --source test"
    )]
    NoUsableFormat {
        /// What the camera offers, in one line.
        offered: String,
    },
    /// Known formats, but no frame size with a frame interval.
    #[error(
        "the camera lists no frame size with a frame rate in a usable format; \
         it offers {offered}; try replugging it, or use another camera"
    )]
    NoModes {
        /// What the camera offers, in one line.
        offered: String,
    },
    /// The request itself is unusable (zero size or rate).
    #[error(
        "cannot choose a camera mode for {width}x{height} @ {fps} fps: size and rate must be above zero"
    )]
    InvalidRequest {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Requested frame rate.
        fps: u32,
    },
}

/// Picks the mode to open the camera in; see the module doc for the policy.
///
/// A choice outside the request is logged as a warning; use [`choose_mode`]
/// to get the note itself.
pub fn pick_mode(formats: &[FormatCaps], want: &ModeRequest) -> Result<CameraMode, ModeError> {
    let choice = choose_mode(formats, want)?;
    if let Some(note) = &choice.note {
        tracing::warn!(mode = %choice.mode, "{note}");
    }
    Ok(choice.mode)
}

/// Picks the mode to open the camera in, with a note when it is outside the
/// request; see the module doc for the policy.
pub fn choose_mode(formats: &[FormatCaps], want: &ModeRequest) -> Result<ModeChoice, ModeError> {
    let invalid = ModeError::InvalidRequest {
        width: want.width,
        height: want.height,
        fps: want.fps,
    };
    if want.width == 0 || want.height == 0 {
        return Err(invalid);
    }
    let (Some(target), Some(half_rate)) =
        (Interval::from_fps(want.fps), Interval::new(2, want.fps))
    else {
        return Err(invalid);
    };

    let usable: Vec<&FormatCaps> = formats
        .iter()
        .filter(|caps| caps.format.is_known())
        .collect();
    if usable.is_empty() {
        return Err(ModeError::NoUsableFormat {
            offered: describe_formats(formats),
        });
    }

    let candidates: Vec<Candidate<'_>> = usable
        .iter()
        .flat_map(|caps| {
            caps.sizes.iter().filter_map(move |size| {
                let (within, above) = rates_around(&size.intervals, target);
                let (interval, rate_fits) = match (within, above) {
                    (Some(interval), _) => (interval, true),
                    (None, Some(interval)) => (interval, false),
                    (None, None) => return None,
                };
                let size_fits = size.width <= want.width && size.height <= want.height;
                Some(Candidate {
                    format: &caps.format,
                    width: size.width,
                    height: size.height,
                    interval,
                    tier: match (size_fits, rate_fits) {
                        (true, true) if interval <= half_rate => Tier::Fits,
                        (true, true) => Tier::FitsSlow,
                        (true, false) => Tier::FasterThanAsked,
                        (false, _) => Tier::LargerThanAsked { rate_fits },
                    },
                    rank: format_rank(&caps.format, want.prefer_native_h264),
                })
            })
        })
        .collect();

    let best = candidates
        .iter()
        .max_by(|a, b| compare(a, b))
        .ok_or_else(|| ModeError::NoModes {
            offered: describe_formats(formats),
        })?;
    let mode = CameraMode::new(best.format.clone(), best.width, best.height, best.interval);
    let asked = format!("{}x{} @ {} fps", want.width, want.height, want.fps);
    let note = match best.tier {
        Tier::Fits => None,
        Tier::FitsSlow => Some(format!(
            "no camera mode within {asked} reaches half that frame rate; using {mode}"
        )),
        Tier::FasterThanAsked => Some(format!(
            "the camera offers no frame rate at or below {} fps within {}x{}; using {mode}, \
             above the requested rate",
            want.fps, want.width, want.height
        )),
        Tier::LargerThanAsked { .. } => Some(format!(
            "the camera has no mode within {asked}; using the smallest above it: {mode}"
        )),
    };
    Ok(ModeChoice { mode, note })
}

/// How well a candidate meets the request; later variants are worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Within size and rate, at least half the rate.
    Fits,
    /// Within size and rate, but under half the rate.
    FitsSlow,
    /// Within size, only rates above the request.
    FasterThanAsked,
    /// Larger than the request.
    LargerThanAsked { rate_fits: bool },
}

impl Tier {
    fn order(self) -> u8 {
        match self {
            Tier::Fits => 3,
            Tier::FitsSlow => 2,
            Tier::FasterThanAsked => 1,
            Tier::LargerThanAsked { .. } => 0,
        }
    }
}

/// One frame size of one format, at the rate chosen for it.
#[derive(Debug)]
struct Candidate<'a> {
    format: &'a PixelFormat,
    width: u32,
    height: u32,
    interval: Interval,
    tier: Tier,
    rank: u8,
}

impl Candidate<'_> {
    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// `Greater` when `a` is the better choice.
fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> Ordering {
    let by_tier = a.tier.order().cmp(&b.tier.order());
    let by_rank = a.rank.cmp(&b.rank);
    // A shorter interval is a higher rate.
    let faster = b.interval.cmp(&a.interval);
    let within_then_fewer = match (a.tier, b.tier) {
        // Above the request: smallest picture; a rate within the request if
        // there is one, else the lowest above it.
        (Tier::LargerThanAsked { rate_fits: fa }, Tier::LargerThanAsked { rate_fits: fb }) => b
            .area()
            .cmp(&a.area())
            .then(fa.cmp(&fb))
            .then(if fa { faster } else { faster.reverse() }),
        // Only faster rates: largest picture at the lowest of them.
        (Tier::FasterThanAsked, Tier::FasterThanAsked) => {
            a.area().cmp(&b.area()).then(faster.reverse())
        }
        // Fitting: largest picture, then highest rate.
        _ => a.area().cmp(&b.area()).then(faster),
    };
    by_tier
        .then(within_then_fewer)
        .then(by_rank)
        // Same area, rate and format (e.g. 640x360 vs 480x480): the wider.
        .then(a.width.cmp(&b.width))
}

fn format_rank(format: &PixelFormat, prefer_native_h264: bool) -> u8 {
    match format {
        PixelFormat::H264 if prefer_native_h264 => 5,
        PixelFormat::Mjpeg => 4,
        PixelFormat::Nv12 => 3,
        PixelFormat::Yuyv => 2,
        PixelFormat::H264 => 1,
        PixelFormat::Other(_) => 0,
    }
}

/// The highest rate at or below `target` (the smallest interval ≥ `target`),
/// and the lowest rate above it (the largest interval < `target`).
fn rates_around(
    intervals: &FrameIntervals,
    target: Interval,
) -> (Option<Interval>, Option<Interval>) {
    match intervals {
        FrameIntervals::Discrete(list) => (
            list.iter().filter(|i| **i >= target).min().copied(),
            list.iter().filter(|i| **i < target).max().copied(),
        ),
        FrameIntervals::Stepwise { min, max, step } => {
            let (min, max) = ((*min).min(*max), (*min).max(*max));
            let on_grid = |k: u128| match step {
                Some(step) => grid_point(min, *step, k),
                None => None,
            };
            // The last grid point not past `max`.
            let last = match step {
                Some(step) => steps_between(min, max, *step, Rounding::Down)
                    .and_then(on_grid)
                    .unwrap_or(max),
                None => max,
            };
            if target <= min {
                return (Some(min), None);
            }
            if target > last {
                return (None, Some(last));
            }
            match step {
                // Continuous: exactly the requested rate.
                None => (Some(target), Some(min)),
                Some(step) => {
                    let k = steps_between(min, target, *step, Rounding::Up);
                    match k.and_then(|k| Some((on_grid(k)?, k))) {
                        Some((at, k)) if at <= last => {
                            let below = k.checked_sub(1).and_then(on_grid);
                            (Some(at), below)
                        }
                        // Arithmetic out of range on an absurd grid: treat as continuous.
                        _ => (Some(target), Some(min)),
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rounding {
    Up,
    Down,
}

/// How many `step`s from `from` to `to` (`to ≥ from`), rounded.
fn steps_between(from: Interval, to: Interval, step: Interval, rounding: Rounding) -> Option<u128> {
    let (fnum, fden) = (u128::from(from.num), u128::from(from.den));
    let (tnum, tden) = (u128::from(to.num), u128::from(to.den));
    let (snum, sden) = (u128::from(step.num), u128::from(step.den));
    // (to - from) / step = (tnum·fden − fnum·tden)·sden / (tden·fden·snum)
    let numerator = (tnum * fden).checked_sub(fnum * tden)?.checked_mul(sden)?;
    let denominator = tden.checked_mul(fden)?.checked_mul(snum)?;
    if denominator == 0 {
        return None;
    }
    Some(match rounding {
        Rounding::Down => numerator / denominator,
        Rounding::Up => numerator.div_ceil(denominator),
    })
}

/// `from + k·step`.
fn grid_point(from: Interval, step: Interval, k: u128) -> Option<Interval> {
    let (fnum, fden) = (u128::from(from.num), u128::from(from.den));
    let (snum, sden) = (u128::from(step.num), u128::from(step.den));
    let numerator =
        (fnum.checked_mul(sden)?).checked_add(k.checked_mul(snum)?.checked_mul(fden)?)?;
    Interval::reduced(numerator, fden.checked_mul(sden)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(num: u32, den: u32) -> Interval {
        Interval::new(num, den).unwrap()
    }

    #[test]
    fn stepwise_grid_gives_the_fastest_rate_not_above_target() {
        // 1..25 fps in 0.04 s steps: 0.04, 0.08, 0.12, …
        let range = FrameIntervals::Stepwise {
            min: iv(1, 25),
            max: iv(1, 1),
            step: Some(iv(1, 25)),
        };
        assert_eq!(rates_around(&range, iv(1, 30)), (Some(iv(1, 25)), None));
        // 15 fps is 0.0667 s: the next grid point is 0.08 s (12.5 fps).
        assert_eq!(
            rates_around(&range, iv(1, 15)),
            (Some(iv(2, 25)), Some(iv(1, 25)))
        );
        assert_eq!(
            rates_around(&range, iv(1, 1)),
            (Some(iv(1, 1)), Some(iv(24, 25)))
        );
    }

    #[test]
    fn degenerate_and_continuous_ranges() {
        let single = FrameIntervals::Stepwise {
            min: iv(1, 30),
            max: iv(1, 30),
            step: None,
        };
        assert_eq!(rates_around(&single, iv(1, 30)), (Some(iv(1, 30)), None));
        assert_eq!(rates_around(&single, iv(1, 15)), (None, Some(iv(1, 30))));

        let continuous = FrameIntervals::Stepwise {
            min: iv(1, 60),
            max: iv(1, 1),
            step: None,
        };
        assert_eq!(rates_around(&continuous, iv(1, 24)).0, Some(iv(1, 24)));
    }

    #[test]
    fn discrete_lists() {
        let list = FrameIntervals::Discrete(vec![iv(1, 30), iv(1, 15), iv(1, 5)]);
        assert_eq!(
            rates_around(&list, iv(1, 20)),
            (Some(iv(1, 15)), Some(iv(1, 30)))
        );
        assert_eq!(rates_around(&list, iv(1, 60)), (Some(iv(1, 30)), None));
    }
}
