//! What a V4L2 camera offers: pixel formats, frame sizes and frame intervals,
//! and the one mode chosen from them.
//!
//! The same types come from the device ([`super::device`]) and from
//! `v4l2-ctl --list-formats-ext` text ([`super::listing`]), so the mode choice
//! is tested on listings of real cameras.

use std::cmp::Ordering;
use std::fmt;

/// A camera pixel format, by V4L2 fourcc.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// `MJPG`: Motion-JPEG, compressed per frame.
    Mjpeg,
    /// `YUYV`: packed 4:2:2, uncompressed.
    Yuyv,
    /// `NV12`: planar 4:2:0, uncompressed.
    Nv12,
    /// `H264`: H.264 encoded by the camera itself.
    H264,
    /// Any other fourcc (`GREY`, `UYVY`, `RGB3`, …), kept for messages.
    Other(String),
}

impl PixelFormat {
    /// The format of a fourcc code; trailing spaces (`'Y10 '`) are ignored.
    pub fn from_fourcc(fourcc: &str) -> PixelFormat {
        match fourcc.trim_end() {
            "MJPG" => PixelFormat::Mjpeg,
            "YUYV" => PixelFormat::Yuyv,
            "NV12" => PixelFormat::Nv12,
            "H264" => PixelFormat::H264,
            other => PixelFormat::Other(other.to_owned()),
        }
    }

    /// The fourcc code as V4L2 spells it.
    pub fn fourcc(&self) -> &str {
        match self {
            PixelFormat::Mjpeg => "MJPG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::H264 => "H264",
            PixelFormat::Other(fourcc) => fourcc,
        }
    }

    /// Whether the capture pipeline can take this format.
    pub fn is_known(&self) -> bool {
        !matches!(self, PixelFormat::Other(_))
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.fourcc())
    }
}

/// A frame interval: `num / den` seconds per frame, as V4L2 reports it.
///
/// Equality and order compare the value, so `1/30 == 2/60`, and a shorter
/// interval (higher frame rate) is smaller.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    /// Numerator, seconds.
    pub num: u32,
    /// Denominator; never zero in values built by this module.
    pub den: u32,
}

impl Interval {
    /// `num / den` seconds, reduced; `None` if either is zero.
    pub fn new(num: u32, den: u32) -> Option<Interval> {
        Interval::reduced(u128::from(num), u128::from(den))
    }

    /// The interval of `fps` frames per second, for whole-number rates.
    pub fn from_fps(fps: u32) -> Option<Interval> {
        Interval::new(1, fps)
    }

    /// Reduces a wide fraction into `u32`s. Fractions that still don't fit
    /// after reducing are approximated by halving both sides, far below
    /// anything a camera can tell apart.
    pub(crate) fn reduced(num: u128, den: u128) -> Option<Interval> {
        if num == 0 || den == 0 {
            return None;
        }
        let divisor = gcd(num, den);
        let (mut num, mut den) = (num / divisor, den / divisor);
        // i32::MAX, not u32::MAX: GStreamer fractions are signed.
        let limit = i32::MAX as u128;
        while num > limit || den > limit {
            num = (num / 2).max(1);
            den = (den / 2).max(1);
        }
        Some(Interval {
            num: num as u32,
            den: den as u32,
        })
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        f64::from(self.den) / f64::from(self.num)
    }

    /// Seconds per frame.
    pub fn seconds(&self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Interval {}

impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Interval {
    fn cmp(&self, other: &Self) -> Ordering {
        let left = u64::from(self.num) * u64::from(other.den);
        let right = u64::from(other.num) * u64::from(self.den);
        left.cmp(&right)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} s", self.num, self.den)
    }
}

/// The frame intervals one frame size supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameIntervals {
    /// A list of intervals, in the camera's order.
    Discrete(Vec<Interval>),
    /// Every `min + k·step` up to `max`; without a step (V4L2's
    /// "continuous", or a zero step) any interval in `[min, max]`.
    /// `min == max` is a single interval.
    Stepwise {
        /// Shortest interval (highest frame rate).
        min: Interval,
        /// Longest interval (lowest frame rate).
        max: Interval,
        /// Grid spacing; `None` for a continuous range.
        step: Option<Interval>,
    },
}

impl FrameIntervals {
    /// Highest frame rate offered.
    pub fn fastest(&self) -> Option<Interval> {
        match self {
            FrameIntervals::Discrete(list) => list.iter().min().copied(),
            FrameIntervals::Stepwise { min, .. } => Some(*min),
        }
    }

    /// Lowest frame rate offered.
    pub fn slowest(&self) -> Option<Interval> {
        match self {
            FrameIntervals::Discrete(list) => list.iter().max().copied(),
            FrameIntervals::Stepwise { min, max, .. } => Some((*min).max(*max)),
        }
    }

    /// How many intervals a discrete list holds; `None` for a range.
    pub fn discrete_len(&self) -> Option<usize> {
        match self {
            FrameIntervals::Discrete(list) => Some(list.len()),
            FrameIntervals::Stepwise { .. } => None,
        }
    }
}

/// One frame size of a format and the intervals it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame intervals at this size.
    pub intervals: FrameIntervals,
}

impl FrameSize {
    /// Pixels per frame.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// One pixel format and all its frame sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatCaps {
    /// The pixel format.
    pub format: PixelFormat,
    /// Frame sizes, in the camera's order (not sorted).
    pub sizes: Vec<FrameSize>,
}

/// The mode a camera is opened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraMode {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate numerator (frames).
    pub fps_num: u32,
    /// Frame rate denominator (seconds); the rate is `fps_num / fps_den`.
    pub fps_den: u32,
}

impl CameraMode {
    /// A mode from a size and a frame interval.
    pub fn new(format: PixelFormat, width: u32, height: u32, interval: Interval) -> CameraMode {
        CameraMode {
            format,
            width,
            height,
            fps_num: interval.den,
            fps_den: interval.num,
        }
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        f64::from(self.fps_num) / f64::from(self.fps_den)
    }
}

impl fmt::Display for CameraMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} @ {} fps",
            self.format,
            self.width,
            self.height,
            fps_text(self.fps())
        )
    }
}

/// A frame rate for people: `30`, `7.5`, `29.97`.
pub fn fps_text(fps: f64) -> String {
    let text = format!("{fps:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A one-line account of what a camera offers, for error messages:
/// `MJPG: 19 sizes up to 1280x960, up to 30 fps; YUYV: …`.
pub fn describe_formats(formats: &[FormatCaps]) -> String {
    if formats.is_empty() {
        return "no formats at all".to_owned();
    }
    let parts: Vec<String> = formats
        .iter()
        .map(|caps| {
            let largest = caps.sizes.iter().max_by_key(|size| size.area());
            let fastest = caps
                .sizes
                .iter()
                .filter_map(|size| size.intervals.fastest())
                .min();
            match (largest, fastest) {
                (Some(size), Some(interval)) => format!(
                    "{}: {} size{} up to {}x{}, up to {} fps",
                    caps.format,
                    caps.sizes.len(),
                    if caps.sizes.len() == 1 { "" } else { "s" },
                    size.width,
                    size.height,
                    fps_text(interval.fps())
                ),
                _ => format!("{}: no usable sizes", caps.format),
            }
        })
        .collect();
    parts.join("; ")
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_compare_by_value() {
        let a = Interval::new(1, 30).unwrap();
        let b = Interval::new(2, 60).unwrap();
        assert_eq!(a, b);
        assert_eq!((b.num, b.den), (1, 30));
        assert!(Interval::new(1, 60).unwrap() < a);
        assert!(Interval::new(0, 30).is_none());
    }

    #[test]
    fn wide_fractions_are_reduced_into_range() {
        let interval = Interval::reduced(333_333 * 10_000_000, 10_000_000 * 10_000_000).unwrap();
        assert!((interval.fps() - 30.0).abs() < 0.001, "{interval}");
    }

    #[test]
    fn fps_text_drops_needless_zeros() {
        assert_eq!(fps_text(30.0), "30");
        assert_eq!(fps_text(7.5), "7.5");
        assert_eq!(fps_text(30_000.0 / 1001.0), "29.97");
    }
}
