//! Choosing the camera mode for a still photo: the largest picture the
//! camera offers, whatever its frame rate.
//!
//! # Policy
//!
//! 1. Only formats this program can decode are considered (MJPEG, YUYV,
//!    NV12, H.264); a camera with nothing else is an error listing what it
//!    offers, as for the streaming mode.
//! 2. The largest picture (area) wins: a still is for the patient record, so
//!    detail counts, not frame rate (the C920's largest picture, 2304x1536,
//!    comes only as YUYV at 2 fps).
//! 3. At the same size, the higher frame rate: the stream shows a frozen
//!    picture while the camera is in its still mode, and a faster mode
//!    settles and delivers its frame sooner.
//! 4. Then the format: uncompressed (NV12, YUYV) before MJPEG, which adds
//!    its own compression before ours; H.264 last, as its first frames
//!    after the camera starts may not decode until a keyframe comes.
//! 5. Then the wider picture (same area, e.g. 640x360 against 480x480).

use std::cmp::Ordering;

use super::caps::{CameraMode, FormatCaps, PixelFormat, describe_formats};
use super::pick::ModeError;

/// The mode to open the camera in for a still photo; see the module doc.
pub fn choose_still_mode(formats: &[FormatCaps]) -> Result<CameraMode, ModeError> {
    if !formats.iter().any(|caps| caps.format.is_known()) {
        return Err(ModeError::NoUsableFormat {
            offered: describe_formats(formats),
        });
    }
    formats
        .iter()
        .filter(|caps| caps.format.is_known())
        .flat_map(|caps| {
            caps.sizes.iter().filter_map(|size| {
                let fastest = size.intervals.fastest()?;
                Some(CameraMode::new(
                    caps.format.clone(),
                    size.width,
                    size.height,
                    fastest,
                ))
            })
        })
        .max_by(better_still)
        .ok_or_else(|| ModeError::NoModes {
            offered: describe_formats(formats),
        })
}

/// `Greater` when `a` is the better still mode.
fn better_still(a: &CameraMode, b: &CameraMode) -> Ordering {
    let area = |m: &CameraMode| u64::from(m.width) * u64::from(m.height);
    // fps_num/fps_den compared without floating point.
    let rate = u64::from(a.fps_num) * u64::from(b.fps_den);
    let other_rate = u64::from(b.fps_num) * u64::from(a.fps_den);
    area(a)
        .cmp(&area(b))
        .then(rate.cmp(&other_rate))
        .then(still_rank(&a.format).cmp(&still_rank(&b.format)))
        .then(a.width.cmp(&b.width))
}

fn still_rank(format: &PixelFormat) -> u8 {
    match format {
        PixelFormat::Nv12 => 4,
        PixelFormat::Yuyv => 3,
        PixelFormat::Mjpeg => 2,
        PixelFormat::H264 => 1,
        PixelFormat::Other(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::caps::{FrameIntervals, FrameSize, Interval};

    fn size(width: u32, height: u32, fps: &[u32]) -> FrameSize {
        FrameSize {
            width,
            height,
            intervals: FrameIntervals::Discrete(
                fps.iter()
                    .map(|f| Interval::from_fps(*f).unwrap())
                    .collect(),
            ),
        }
    }

    #[test]
    fn same_size_and_rate_prefers_raw_then_mjpeg_then_h264() {
        let formats = [
            FormatCaps {
                format: PixelFormat::H264,
                sizes: vec![size(1920, 1080, &[30])],
            },
            FormatCaps {
                format: PixelFormat::Mjpeg,
                sizes: vec![size(1920, 1080, &[30])],
            },
            FormatCaps {
                format: PixelFormat::Yuyv,
                sizes: vec![size(1920, 1080, &[30, 5])],
            },
        ];
        let mode = choose_still_mode(&formats).unwrap();
        assert_eq!((mode.fps(), mode.format), (30.0, PixelFormat::Yuyv));
        let mode = choose_still_mode(&formats[..2]).unwrap();
        assert_eq!(mode.format, PixelFormat::Mjpeg);
    }

    #[test]
    fn formats_it_cannot_decode_are_never_chosen() {
        let formats = [
            FormatCaps {
                format: PixelFormat::Other("GREY".into()),
                sizes: vec![size(4000, 3000, &[5])],
            },
            FormatCaps {
                format: PixelFormat::Mjpeg,
                sizes: vec![size(640, 480, &[30])],
            },
        ];
        assert_eq!(choose_still_mode(&formats).unwrap().width, 640);
        let err = choose_still_mode(&formats[..1]).unwrap_err();
        assert!(err.to_string().contains("GREY"), "{err}");
        let empty = [FormatCaps {
            format: PixelFormat::Mjpeg,
            sizes: vec![],
        }];
        assert!(matches!(
            choose_still_mode(&empty),
            Err(ModeError::NoModes { .. })
        ));
    }
}
