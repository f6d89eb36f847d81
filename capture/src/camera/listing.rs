//! Parser of `v4l2-ctl --list-formats-ext` output, for tests on listings of
//! real cameras and for diagnostics (a listing pasted from a nurse's laptop).
//!
//! It reads both layouts v4l2-ctl has printed over the years:
//!
//! ```text
//! [0]: 'YUYV' (YUYV 4:2:2)            Index       : 0
//!     Size: Discrete 640x480           Pixel Format: 'MJPG' (compressed)
//!         Interval: Discrete 0.033s …  Name        : Motion-JPEG
//! ```
//!
//! Lines are recognised by their first word, never by indentation, which
//! varies (tabs, or runs of 2, 4 or 8 spaces, depending on where the text was
//! copied from). Blank lines and `#` comment lines are skipped.
//!
//! Frame rates are taken from the `(30.000 fps)` figure, which v4l2-ctl
//! prints with more precision than the seconds (`0.133s` is 7.5 fps).

use std::fmt;

use super::caps::{FormatCaps, FrameIntervals, FrameSize, Interval, PixelFormat};

/// A line of a listing that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("v4l2-ctl listing, line {line}: {problem}: {text:?}")]
pub struct ListingError {
    /// 1-based line number.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    /// What was expected.
    pub problem: String,
}

/// What is wrong with a `Size:` or `Interval:` line (the
/// [`ListingError::problem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Problem {
    #[error(
        "a range of frame sizes has no frame intervals in this listing; read the device itself instead"
    )]
    SizeRange,
    #[error("expected Size: Discrete WIDTHxHEIGHT")]
    Size,
    #[error("expected Interval: Discrete 0.033s (30.000 fps)")]
    DiscreteInterval,
    #[error("a discrete interval after a stepwise one")]
    DiscreteAfterStepwise,
    #[error("expected Interval: Discrete, Stepwise or Continuous")]
    IntervalKind,
    /// The kind (`Stepwise`, `Continuous`) as written.
    #[error("expected Interval: {0} MINs - MAXs [with step STEPs] (… fps)")]
    Range(String),
}

/// Parses `v4l2-ctl --list-formats-ext` text into formats with their sizes
/// and intervals, in the order listed.
pub fn parse_listing(text: &str) -> Result<Vec<FormatCaps>, ListingError> {
    let mut formats: Vec<FormatCaps> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let fail = |problem: &dyn fmt::Display| ListingError {
            line: index + 1,
            text: line.to_owned(),
            problem: problem.to_string(),
        };
        if line.is_empty() || line.starts_with('#') || line.starts_with("ioctl:") {
            continue;
        }
        if line.starts_with('[') {
            // `[0]: 'YUYV' (YUYV 4:2:2)`
            let fourcc = quoted_fourcc(line).ok_or_else(|| fail(&"expected [N]: 'FOURCC' (…)"))?;
            formats.push(new_format(fourcc));
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(fail(&"not a line of v4l2-ctl --list-formats-ext"));
        };
        let value = value.trim();
        match key.trim() {
            // Older layout: a format starts at its pixel format line.
            "Pixel Format" => {
                let fourcc =
                    quoted_fourcc(value).ok_or_else(|| fail(&"expected Pixel Format: 'FOURCC'"))?;
                formats.push(new_format(fourcc));
            }
            "Index" | "Type" | "Name" => {}
            "Size" => {
                let format = formats
                    .last_mut()
                    .ok_or_else(|| fail(&"a frame size before any pixel format"))?;
                format.sizes.push(parse_size(value).map_err(|e| fail(&e))?);
            }
            "Interval" => {
                let size = formats
                    .last_mut()
                    .and_then(|format| format.sizes.last_mut())
                    .ok_or_else(|| fail(&"a frame interval before any frame size"))?;
                add_interval(&mut size.intervals, value).map_err(|e| fail(&e))?;
            }
            _ => return Err(fail(&"not a line of v4l2-ctl --list-formats-ext")),
        }
    }
    Ok(formats)
}

fn new_format(fourcc: &str) -> FormatCaps {
    FormatCaps {
        format: PixelFormat::from_fourcc(fourcc),
        sizes: Vec::new(),
    }
}

/// The text between the first pair of single quotes.
fn quoted_fourcc(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once('\'')?;
    let (fourcc, _) = rest.split_once('\'')?;
    (!fourcc.trim().is_empty()).then_some(fourcc)
}

/// `Discrete 640x480`. Ranges of sizes are refused: v4l2-ctl prints no
/// intervals for them, so the listing cannot say which rates they allow.
fn parse_size(value: &str) -> Result<FrameSize, Problem> {
    let Some(dimensions) = value.strip_prefix("Discrete") else {
        return Err(
            if value.starts_with("Stepwise") || value.starts_with("Continuous") {
                Problem::SizeRange
            } else {
                Problem::Size
            },
        );
    };
    let (width, height) = dimensions
        .trim()
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or(Problem::Size)?;
    Ok(FrameSize {
        width,
        height,
        intervals: FrameIntervals::Discrete(Vec::new()),
    })
}

/// Adds one `Interval:` line to a size's intervals.
fn add_interval(intervals: &mut FrameIntervals, value: &str) -> Result<(), Problem> {
    let (kind, rest) = value.split_once(' ').unwrap_or((value, ""));
    match kind {
        "Discrete" => {
            // `0.033s (30.000 fps)`
            let interval = fps_in_parens(rest)
                .and_then(|fps| fps.first().copied().flatten())
                .or_else(|| seconds(rest.split_whitespace().next()?))
                .ok_or(Problem::DiscreteInterval)?;
            match intervals {
                FrameIntervals::Discrete(list) => list.push(interval),
                FrameIntervals::Stepwise { .. } => {
                    return Err(Problem::DiscreteAfterStepwise);
                }
            }
        }
        "Stepwise" | "Continuous" => {
            *intervals = parse_range(kind, rest)?;
        }
        _ => return Err(Problem::IntervalKind),
    }
    Ok(())
}

/// `0.040s - 1.000s with step 0.040s (1.000-25.000 fps)` (stepwise) or
/// `0.033s - 1.000s (1.000-30.000 fps)` (continuous).
fn parse_range(kind: &str, text: &str) -> Result<FrameIntervals, Problem> {
    let expected = || Problem::Range(kind.to_owned());
    let words: Vec<&str> = text.split_whitespace().collect();
    let (min_s, max_s, step_s) = match words.as_slice() {
        [min, "-", max, "with", "step", step, ..] => (*min, *max, Some(*step)),
        [min, "-", max, ..] => (*min, *max, None),
        _ => return Err(expected()),
    };
    // The parenthesis gives the rates at the slowest and the fastest end.
    let (slowest_fps, fastest_fps) = match fps_in_parens(text).as_deref() {
        Some([slow, fast]) => (*slow, *fast),
        _ => (None, None),
    };
    let min = fastest_fps
        .or_else(|| seconds(min_s))
        .ok_or_else(expected)?;
    let max = slowest_fps
        .or_else(|| seconds(max_s))
        .ok_or_else(expected)?;
    // A zero step ("with step 0.000s") leaves no grid: a degenerate or
    // continuous range.
    let step = match step_s {
        Some(step) if !is_zero_seconds(step) => Some(seconds(step).ok_or_else(expected)?),
        _ => None,
    };
    Ok(FrameIntervals::Stepwise {
        min: min.min(max),
        max: min.max(max),
        step,
    })
}

/// The frame rates in `(30.000 fps)` or `(1.000-25.000 fps)`, as intervals.
fn fps_in_parens(text: &str) -> Option<Vec<Option<Interval>>> {
    let (_, rest) = text.split_once('(')?;
    let (inside, _) = rest.split_once(')')?;
    let rates = inside.trim().strip_suffix("fps")?.trim();
    Some(
        rates
            .split('-')
            .map(|rate| {
                let (units, scale) = decimal(rate.trim())?;
                // fps = units/scale, so the interval is scale/units seconds.
                Interval::reduced(scale, units)
            })
            .collect(),
    )
}

/// `0.033s` as an interval.
fn seconds(text: &str) -> Option<Interval> {
    let (units, scale) = decimal(text.strip_suffix('s')?)?;
    Interval::reduced(units, scale)
}

fn is_zero_seconds(text: &str) -> bool {
    text.strip_suffix('s')
        .and_then(decimal)
        .is_some_and(|(units, _)| units == 0)
}

/// A decimal like `7.500` as `(7500, 1000)`, exactly.
fn decimal(text: &str) -> Option<(u128, u128)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let scale = 10u128.pow(fraction.len() as u32);
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    Some((whole * scale + fraction, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(num: u32, den: u32) -> Interval {
        Interval::new(num, den).unwrap()
    }

    #[test]
    fn discrete_rates_come_from_the_fps_figure() {
        let text = "[0]: 'YUYV' (YUYV 4:2:2)\n\tSize: Discrete 640x480\n\
                    \t\tInterval: Discrete 0.133s (7.500 fps)\n\
                    \t\tInterval: Discrete 0.033s (30.000 fps)\n";
        let formats = parse_listing(text).unwrap();
        assert_eq!(
            formats[0].sizes[0].intervals,
            FrameIntervals::Discrete(vec![interval(2, 15), interval(1, 30)])
        );
    }

    #[test]
    fn stepwise_and_continuous_ranges() {
        let text = "[0]: 'YUYV' (YUYV 4:2:2)\n Size: Discrete 320x240\n  \
                    Interval: Stepwise 0.040s - 1.000s with step 0.040s (1.000-25.000 fps)\n \
                    Size: Discrete 640x480\n  \
                    Interval: Continuous 0.033s - 1.000s (1.000-30.000 fps)\n";
        let formats = parse_listing(text).unwrap();
        assert_eq!(
            formats[0].sizes[0].intervals,
            FrameIntervals::Stepwise {
                min: interval(1, 25),
                max: interval(1, 1),
                step: Some(interval(1, 25)),
            }
        );
        assert_eq!(
            formats[0].sizes[1].intervals,
            FrameIntervals::Stepwise {
                min: interval(1, 30),
                max: interval(1, 1),
                step: None,
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        let error =
            parse_listing("[0]: 'MJPG' (Motion-JPEG)\n  Size: Discrete 640by480\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.to_string().contains("WIDTHxHEIGHT"), "{error}");

        let error = parse_listing("  Size: Discrete 640x480\n").unwrap_err();
        assert!(error.problem.contains("before any pixel format"), "{error}");

        let error = parse_listing(
            "[0]: 'YUYV' (YUYV)\n Size: Stepwise 16x16 - 1920x1080 with step 16/16\n",
        )
        .unwrap_err();
        assert!(error.problem.contains("range of frame sizes"), "{error}");
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal("7.500"), Some((7500, 1000)));
        assert_eq!(decimal("30"), Some((30, 1)));
        assert_eq!(decimal("x"), None);
        assert_eq!(decimal("."), None);
    }
}
