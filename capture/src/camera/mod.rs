//! The head camera: what it offers, and which of its modes to open.
//!
//! - [`caps`]: pixel formats, frame sizes, frame intervals, the chosen mode.
//! - [`device`]: finding the camera among `/dev/video*` and reading its modes.
//! - [`listing`]: reading the same from `v4l2-ctl --list-formats-ext` text.
//! - [`pick`]: choosing the mode for the configured size and frame rate.
//! - [`still_mode`]: choosing the mode for a still photo (the largest picture).

pub mod caps;
pub mod device;
pub mod listing;
pub mod pick;
pub mod still_mode;

pub use caps::{
    CameraMode, FormatCaps, FrameIntervals, FrameSize, Interval, PixelFormat, describe_formats,
};
pub use device::{CameraError, DeviceInfo, list_devices, open_camera, read_formats};
pub use listing::{ListingError, parse_listing};
pub use pick::{ModeChoice, ModeError, ModeRequest, choose_mode, pick_mode};
pub use still_mode::choose_still_mode;
