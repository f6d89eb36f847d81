//! Where the specialists' voices play: `--speaker auto|none|<output>`.

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{self, ElementError};

/// The nurse's choice of audio output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    /// The system's default output (`autoaudiosink`); nowhere, with a log
    /// line, when it cannot start.
    Auto,
    /// Nowhere: the mix runs in real time and is measured, but not played
    /// (tests, a laptop without a sound card).
    None,
    /// A named PulseAudio output (`pactl list short sinks`).
    Device(String),
}

impl Speaker {
    /// Reads the `speaker` setting (validated non-empty by the config).
    pub fn parse(setting: &str) -> Self {
        match setting.trim() {
            "auto" => Speaker::Auto,
            "none" => Speaker::None,
            device => Speaker::Device(device.to_owned()),
        }
    }

    /// The sink element for this choice, named `name`.
    pub fn sink(&self, name: &str) -> Result<gst::Element, ElementError> {
        let sink = match self {
            Speaker::Auto => elements::make_named("autoaudiosink", Some(name))?,
            Speaker::None => {
                let sink = elements::make_named("fakesink", Some(name))?;
                // Consume at the pace a sound card would, so levels, the
                // echo probe and the inter-pipeline channels see real time.
                sink.set_property("sync", true);
                sink
            }
            Speaker::Device(device) => {
                let sink = elements::make_named("pulsesink", Some(name))?;
                sink.set_property("device", device);
                sink
            }
        };
        // A sound card buffers less than GStreamer's 200 ms default asks;
        // the nurse hears the specialist this much sooner.
        if sink.find_property("buffer-time").is_some() {
            sink.set_property("buffer-time", 40_000i64);
            sink.set_property("latency-time", 10_000i64);
        }
        Ok(sink)
    }
}

impl std::fmt::Display for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speaker::Auto => f.write_str("the default audio output"),
            Speaker::None => f.write_str("no audio output"),
            Speaker::Device(device) => write!(f, "audio output {device}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_choices() {
        assert_eq!(Speaker::parse("auto"), Speaker::Auto);
        assert_eq!(Speaker::parse(" none "), Speaker::None);
        assert_eq!(
            Speaker::parse("alsa_output.usb-Jabra"),
            Speaker::Device("alsa_output.usb-Jabra".into())
        );
    }
}
