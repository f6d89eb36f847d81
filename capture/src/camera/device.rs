//! Finding the head camera among `/dev/video*` and reading what it offers,
//! through V4L2 ioctls (the `v4l` crate).
//!
//! A USB camera usually shows up as two nodes: one that captures video and
//! one for metadata. Only nodes with the `VIDEO_CAPTURE` capability are
//! cameras here. With no device given, removable (external USB) cameras come
//! before fixed ones, so a head camera plugged into a laptop wins over the
//! laptop's built-in webcam; `--source v4l2:/dev/v4l/by-id/…` pins one.

use std::fs;
use std::io;
use std::mem;
use std::path::{Path, PathBuf};

use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::caps::{FormatCaps, FrameIntervals, FrameSize, Interval, PixelFormat};

const DEV_DIR: &str = "/dev";

// From linux/videodev2.h; fixed by the kernel ABI.
const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
const FRMIVAL_TYPE_CONTINUOUS: u32 = 2;
/// "Inappropriate ioctl for device": what QUERYCAP gives on a non-V4L2 file
/// (asm-generic/errno-base.h, the same on every Linux architecture).
const ENOTTY: i32 = 25;

/// Frame sizes tried on cameras that report a range of sizes instead of a
/// list (rare for UVC): the common 4:3 and 16:9 ones, plus the largest.
const COMMON_SIZES: [(u32, u32); 12] = [
    (320, 240),
    (640, 360),
    (640, 480),
    (800, 600),
    (960, 540),
    (1024, 576),
    (1280, 720),
    (1280, 960),
    (1600, 900),
    (1920, 1080),
    (2560, 1440),
    (3840, 2160),
];

/// A V4L2 device node and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device node, e.g. `/dev/video0`.
    pub path: PathBuf,
    /// Device name, e.g. `HD Pro Webcam C920`.
    pub card: String,
    /// Kernel driver, e.g. `uvcvideo`.
    pub driver: String,
    /// Bus position, e.g. `usb-0000:00:14.0-2`.
    pub bus: String,
    /// Whether the node captures video (not metadata, output or a codec).
    pub is_capture: bool,
}

impl DeviceInfo {
    fn describe(&self) -> String {
        let role = if self.is_capture {
            "camera"
        } else {
            "not a video capture node"
        };
        format!(
            "{} ({}, {}): {role}",
            self.path.display(),
            self.card,
            self.driver
        )
    }
}

/// Why no camera could be opened.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// No capture device among `/dev/video*`.
    #[error("{}", no_camera_message(found))]
    NoCamera {
        /// One line per `/dev/video*` node seen, saying what it is.
        found: Vec<String>,
    },
    /// The given device could not be opened or queried.
    #[error("cannot open camera {}: {source}{hint}", path.display())]
    Open {
        /// The device asked for.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
        /// What to do about it, starting with "; ".
        hint: String,
    },
    /// The given device exists but does not capture video.
    #[error(
        "{} ({card}, {driver}) is not a video capture device (it may be the camera's \
         metadata node); {}",
        path.display(),
        others_hint(others)
    )]
    NotCapture {
        /// The device asked for.
        path: PathBuf,
        /// Its name.
        card: String,
        /// Its driver.
        driver: String,
        /// Capture devices that were found instead.
        others: Vec<PathBuf>,
    },
    /// Enumerating the device's formats failed.
    #[error("cannot read the video formats of {}: {source}; try replugging the camera", path.display())]
    Formats {
        /// The device.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

fn no_camera_message(found: &[String]) -> String {
    let advice = "plug in the head camera, or use --source test";
    if found.is_empty() {
        format!("no /dev/video* capture device found; {advice}")
    } else {
        format!(
            "no /dev/video* capture device found (seen: {}); {advice}",
            found.join("; ")
        )
    }
}

fn others_hint(others: &[PathBuf]) -> String {
    if others.is_empty() {
        "no capture device was found; plug in the head camera, or use --source test".to_owned()
    } else {
        let list: Vec<String> = others.iter().map(|p| p.display().to_string()).collect();
        format!(
            "capture devices found: {}; pass one with --source v4l2:<device>",
            list.join(", ")
        )
    }
}

/// Every `/dev/video*` node that answers as a V4L2 device, capture or not,
/// in index order.
pub fn list_devices() -> Vec<DeviceInfo> {
    scan(Path::new(DEV_DIR))
        .into_iter()
        .filter_map(|node| node.info.ok())
        .collect()
}

/// Reads the formats, frame sizes and frame intervals a device offers.
pub fn read_formats(path: &Path) -> Result<Vec<FormatCaps>, CameraError> {
    let device = Device::with_path(path).map_err(|source| open_error(path, source, &[]))?;
    formats_of(&device, path)
}

/// Opens the camera at `path`, or with `None` the first capture device
/// (removable ones first), and reads what it offers.
pub fn open_camera(path: Option<&Path>) -> Result<(DeviceInfo, Vec<FormatCaps>), CameraError> {
    open_in(Path::new(DEV_DIR), path)
}

fn open_in(dir: &Path, path: Option<&Path>) -> Result<(DeviceInfo, Vec<FormatCaps>), CameraError> {
    let info = match path {
        Some(path) => {
            let nodes = scan(dir);
            let info = query(path).map_err(|source| open_error(path, source, &nodes))?;
            if !info.is_capture {
                return Err(CameraError::NotCapture {
                    path: info.path,
                    card: info.card,
                    driver: info.driver,
                    others: capture_paths(&nodes),
                });
            }
            info
        }
        None => {
            let mut nodes = scan(dir);
            // Stable: among equals, index order stays.
            nodes.sort_by_key(|node| !node.removable);
            let found = nodes.iter().map(Node::describe).collect();
            nodes
                .into_iter()
                .filter_map(|node| node.info.ok())
                .find(|info| info.is_capture)
                .ok_or(CameraError::NoCamera { found })?
        }
    };
    let device =
        Device::with_path(&info.path).map_err(|source| open_error(&info.path, source, &[]))?;
    let formats = formats_of(&device, &info.path)?;
    Ok((info, formats))
}

/// A `/dev/video*` node as found by a scan.
struct Node {
    path: PathBuf,
    info: Result<DeviceInfo, io::Error>,
    removable: bool,
}

impl Node {
    fn describe(&self) -> String {
        match &self.info {
            Ok(info) => info.describe(),
            Err(error) => format!("{}: cannot open: {error}", self.path.display()),
        }
    }
}

/// All `video<N>` entries of `dir`, queried, in index order.
fn scan(dir: &Path) -> Vec<Node> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut numbered: Vec<(u32, String)> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let index = name.strip_prefix("video")?.parse().ok()?;
            Some((index, name))
        })
        .collect();
    numbered.sort();
    numbered
        .into_iter()
        .map(|(_, name)| {
            let path = dir.join(&name);
            Node {
                info: query(&path),
                removable: is_removable(&name),
                path,
            }
        })
        .collect()
}

fn capture_paths(nodes: &[Node]) -> Vec<PathBuf> {
    nodes
        .iter()
        .filter_map(|node| node.info.as_ref().ok())
        .filter(|info| info.is_capture)
        .map(|info| info.path.clone())
        .collect()
}

/// The USB port's own judgement: "removable" for a socket, "fixed" for a
/// device wired inside the laptop, like a built-in webcam.
fn is_removable(name: &str) -> bool {
    let attribute = Path::new("/sys/class/video4linux")
        .join(name)
        .join("device/../removable");
    fs::read_to_string(attribute).is_ok_and(|value| value.trim() == "removable")
}

/// Opens a node and asks what it is (VIDIOC_QUERYCAP).
fn query(path: &Path) -> Result<DeviceInfo, io::Error> {
    let device = Device::with_path(path)?;
    // Done here rather than with `Device::query_caps`, which panics on a
    // device name that isn't valid UTF-8 (USB names cut at 32 bytes can be).
    //
    // SAFETY: `v4l2_capability` is a plain C struct for which all-zero bytes
    // are valid; the ioctl writes at most `size_of::<v4l2_capability>()`
    // bytes into it, on a file descriptor `device` keeps open.
    let caps = unsafe {
        let mut caps: v4l::v4l_sys::v4l2_capability = mem::zeroed();
        v4l::v4l2::ioctl(
            device.handle().fd(),
            v4l::v4l2::vidioc::VIDIOC_QUERYCAP,
            &mut caps as *mut _ as *mut std::os::raw::c_void,
        )?;
        caps
    };
    // `device_caps` describes this node; `capabilities` the whole device.
    let flags = if caps.capabilities & CAP_DEVICE_CAPS != 0 {
        caps.device_caps
    } else {
        caps.capabilities
    };
    Ok(DeviceInfo {
        path: path.to_owned(),
        card: c_text(&caps.card),
        driver: c_text(&caps.driver),
        bus: c_text(&caps.bus_info),
        is_capture: flags & CAP_VIDEO_CAPTURE != 0,
    })
}

fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_owned()
}

fn open_error(path: &Path, source: io::Error, nodes: &[Node]) -> CameraError {
    let hint = match source.kind() {
        io::ErrorKind::PermissionDenied => {
            "; add the user to the 'video' group (sudo usermod -aG video $USER, then log in again)"
                .to_owned()
        }
        io::ErrorKind::NotFound => {
            let captures = capture_paths(nodes);
            if captures.is_empty() {
                "; no camera is plugged in (no /dev/video* capture device); \
                 plug in the head camera, or use --source test"
                    .to_owned()
            } else {
                let list: Vec<String> = captures.iter().map(|p| p.display().to_string()).collect();
                format!("; capture devices found: {}", list.join(", "))
            }
        }
        _ if source.raw_os_error() == Some(ENOTTY) => {
            "; this is not a V4L2 video device".to_owned()
        }
        _ => String::new(),
    };
    CameraError::Open {
        path: path.to_owned(),
        source,
        hint,
    }
}

/// Enumerates formats, then sizes per format, then intervals per size.
fn formats_of(device: &Device, path: &Path) -> Result<Vec<FormatCaps>, CameraError> {
    let formats_error = |source| CameraError::Formats {
        path: path.to_owned(),
        source,
    };
    let descriptions = device.enum_formats().map_err(formats_error)?;
    let mut formats = Vec::with_capacity(descriptions.len());
    for description in descriptions {
        let fourcc = description.fourcc;
        // A format whose sizes can't be listed is kept empty: the mode choice
        // skips it, and messages still show that the camera has it.
        let sizes = device
            .enum_framesizes(fourcc)
            .map(|sizes| {
                sizes
                    .into_iter()
                    .flat_map(|size| frame_sizes(device, fourcc, size.size))
                    .collect()
            })
            .unwrap_or_default();
        formats.push(FormatCaps {
            format: PixelFormat::from_fourcc(&fourcc_text(fourcc)),
            sizes,
        });
    }
    Ok(formats)
}

fn fourcc_text(fourcc: FourCC) -> String {
    String::from_utf8_lossy(&fourcc.repr).into_owned()
}

/// One reported size (or a range of sizes) with the intervals of each.
fn frame_sizes(
    device: &Device,
    fourcc: FourCC,
    size: v4l::framesize::FrameSizeEnum,
) -> Vec<FrameSize> {
    let dimensions: Vec<(u32, u32)> = match size {
        v4l::framesize::FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
        v4l::framesize::FrameSizeEnum::Stepwise(range) => {
            let on_grid = |value: u32, min: u32, max: u32, step: u32| {
                (min..=max).contains(&value) && (value - min).is_multiple_of(step.max(1))
            };
            let mut sizes: Vec<(u32, u32)> = COMMON_SIZES
                .iter()
                .copied()
                .filter(|&(w, h)| {
                    on_grid(w, range.min_width, range.max_width, range.step_width)
                        && on_grid(h, range.min_height, range.max_height, range.step_height)
                })
                .collect();
            sizes.push((range.max_width, range.max_height));
            sizes.dedup();
            sizes
        }
    };
    dimensions
        .into_iter()
        .filter_map(|(width, height)| {
            let intervals = intervals_of(device, fourcc, width, height)?;
            Some(FrameSize {
                width,
                height,
                intervals,
            })
        })
        .collect()
}

fn intervals_of(
    device: &Device,
    fourcc: FourCC,
    width: u32,
    height: u32,
) -> Option<FrameIntervals> {
    let reported = device.enum_frameintervals(fourcc, width, height).ok()?;
    let mut discrete = Vec::new();
    for entry in reported {
        match entry.interval {
            v4l::frameinterval::FrameIntervalEnum::Discrete(f) => {
                discrete.extend(Interval::new(f.numerator, f.denominator));
            }
            v4l::frameinterval::FrameIntervalEnum::Stepwise(range) => {
                let min = Interval::new(range.min.numerator, range.min.denominator)?;
                let max = Interval::new(range.max.numerator, range.max.denominator)?;
                // Continuous ranges carry a meaningless step; a zero step is no grid.
                let step = if entry.typ == FRMIVAL_TYPE_CONTINUOUS {
                    None
                } else {
                    Interval::new(range.step.numerator, range.step.denominator)
                };
                return Some(FrameIntervals::Stepwise {
                    min: min.min(max),
                    max: min.max(max),
                    step,
                });
            }
        }
    }
    (!discrete.is_empty()).then_some(FrameIntervals::Discrete(discrete))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dev_dir_says_to_plug_in_the_camera() {
        let dir = tempfile::tempdir().unwrap();
        let error = open_in(dir.path(), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no /dev/video* capture device found; plug in the head camera, or use --source test"
        );
    }

    #[test]
    fn nodes_that_are_not_cameras_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file answers QUERYCAP with "inappropriate ioctl".
        fs::write(dir.path().join("video0"), b"").unwrap();
        fs::write(dir.path().join("videodev.conf"), b"").unwrap();
        let error = open_in(dir.path(), None).unwrap_err();
        let CameraError::NoCamera { found } = &error else {
            panic!("expected NoCamera, got {error}");
        };
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("video0"), "{error}");
        assert!(error.to_string().contains("--source test"), "{error}");
    }

    #[test]
    fn a_named_device_that_is_not_v4l2_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("video7");
        fs::write(&file, b"").unwrap();
        let error = open_in(dir.path(), Some(&file)).unwrap_err();
        assert!(
            error.to_string().contains("not a V4L2 video device"),
            "{error}"
        );
    }
}
