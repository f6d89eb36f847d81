//! The media settings the pipeline is built from.
//!
//! These are the parts of the capture configuration that shape the media
//! path. They are separate from the configuration file layer so tests and the
//! test WHEP viewer (samsyn-testkit) can build pipelines without a config file.

use samsyn_config::CaptureConfig;
pub use samsyn_config::{VideoCodec, X264Preset};

/// Size, rate, codec and bitrate of the video sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSettings {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Codec to encode to.
    pub codec: VideoCodec,
    /// Target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// x264's speed preset (when x264 encodes).
    pub x264_preset: X264Preset,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
            codec: VideoCodec::H264,
            bitrate_kbps: 2000,
            x264_preset: X264Preset::default(),
        }
    }
}

/// A video setting that cannot produce a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Width or height is zero, odd, or absurdly large.
    #[error(
        "video size {width}x{height} is not usable; width and height must be even numbers \
         between 16 and 7680 (set --width/--height)"
    )]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// Frame rate outside 1..=120.
    #[error("frame rate {0} is not usable; use 1 to 120 (set --fps)")]
    Fps(u32),
    /// Bitrate outside 50..=50000 kbit/s.
    #[error("bitrate {0} kbit/s is not usable; use 50 to 50000 (set --bitrate-kbps)")]
    Bitrate(u32),
}

impl VideoSettings {
    /// The video part of the capture configuration.
    pub fn from_config(config: &CaptureConfig) -> Self {
        Self {
            width: config.width,
            height: config.height,
            fps: config.fps,
            codec: config.codec,
            bitrate_kbps: config.bitrate_kbps,
            x264_preset: config.x264_preset,
        }
    }

    /// Checks the values before any element sees them: GStreamer's own
    /// complaint about a caps mismatch would not say which flag to fix.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let size_ok = |v: u32| (16..=7680).contains(&v) && v.is_multiple_of(2);
        if !size_ok(self.width) || !size_ok(self.height) {
            return Err(SettingsError::Size {
                width: self.width,
                height: self.height,
            });
        }
        if !(1..=120).contains(&self.fps) {
            return Err(SettingsError::Fps(self.fps));
        }
        if !(50..=50_000).contains(&self.bitrate_kbps) {
            return Err(SettingsError::Bitrate(self.bitrate_kbps));
        }
        Ok(())
    }

    /// Raw video caps at the configured size and rate.
    pub fn raw_caps(&self) -> gstreamer::Caps {
        gstreamer::Caps::builder("video/x-raw")
            .field("width", self.width as i32)
            .field("height", self.height as i32)
            .field("framerate", gstreamer::Fraction::new(self.fps as i32, 1))
            .build()
    }

    /// [`raw_caps`](Self::raw_caps) with the format (I420) and square
    /// pixels fixed too: a source that loops or is rebuilt hands over the
    /// same caps every time, so nothing downstream renegotiates.
    pub fn fixed_raw_caps(&self) -> gstreamer::Caps {
        gstreamer::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", self.width as i32)
            .field("height", self.height as i32)
            .field("framerate", gstreamer::Fraction::new(self.fps as i32, 1))
            .field("pixel-aspect-ratio", gstreamer::Fraction::new(1, 1))
            .build()
    }
}
