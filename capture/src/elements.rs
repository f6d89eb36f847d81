//! Creating GStreamer elements, with errors that say which Debian package
//! provides a missing one.
//!
//! Every element this crate uses goes through [`make`], so a machine that
//! lacks a plugin gets "install gstreamer1.0-plugins-ugly" instead of a bare
//! "no such element factory".

use std::borrow::Cow;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

/// Element factory name → the Debian 12 package that ships it.
///
/// Elements not in this table still work; only the error message for a
/// missing one is less specific.
const PACKAGES: &[(&str, &str)] = &[
    // Core elements ship with libgstreamer1.0-0 itself.
    ("queue", "libgstreamer1.0-0"),
    ("capsfilter", "libgstreamer1.0-0"),
    ("identity", "libgstreamer1.0-0"),
    ("fakesink", "libgstreamer1.0-0"),
    ("tee", "libgstreamer1.0-0"),
    // gst-plugins-base
    ("videotestsrc", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videoscale", "gstreamer1.0-plugins-base"),
    ("videorate", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
    ("audiotestsrc", "gstreamer1.0-plugins-base"),
    ("opusenc", "gstreamer1.0-plugins-base"),
    ("opusdec", "gstreamer1.0-plugins-base"),
    ("decodebin", "gstreamer1.0-plugins-base"),
    ("uridecodebin", "gstreamer1.0-plugins-base"),
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("appsink", "gstreamer1.0-plugins-base"),
    ("audiomixer", "gstreamer1.0-plugins-base"),
    ("volume", "gstreamer1.0-plugins-base"),
    ("alsasrc", "gstreamer1.0-alsa"),
    // Text overlays (Pango) ship with the X11 plugin package on Debian.
    ("clockoverlay", "gstreamer1.0-x"),
    ("timeoverlay", "gstreamer1.0-x"),
    ("textoverlay", "gstreamer1.0-x"),
    // gst-plugins-good
    ("v4l2src", "gstreamer1.0-plugins-good"),
    ("v4l2h264enc", "gstreamer1.0-plugins-good"),
    ("jpegdec", "gstreamer1.0-plugins-good"),
    ("vp8enc", "gstreamer1.0-plugins-good"),
    ("vp8dec", "gstreamer1.0-plugins-good"),
    ("rtph264pay", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("rtpvp8pay", "gstreamer1.0-plugins-good"),
    ("rtpvp8depay", "gstreamer1.0-plugins-good"),
    ("rtpopuspay", "gstreamer1.0-plugins-good"),
    ("rtpopusdepay", "gstreamer1.0-plugins-good"),
    ("rtpbin", "gstreamer1.0-plugins-good"),
    ("rtphdrexttwcc", "gstreamer1.0-plugins-good"),
    ("rtphdrextclientaudiolevel", "gstreamer1.0-plugins-good"),
    ("autoaudiosrc", "gstreamer1.0-plugins-good"),
    ("pulsesrc", "gstreamer1.0-plugins-good"),
    ("pulsesink", "gstreamer1.0-plugins-good"),
    ("autoaudiosink", "gstreamer1.0-plugins-good"),
    ("level", "gstreamer1.0-plugins-good"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("qtdemux", "gstreamer1.0-plugins-good"),
    // gst-plugins-bad
    ("webrtcbin", "gstreamer1.0-plugins-bad"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("vah264enc", "gstreamer1.0-plugins-bad"),
    ("nvh264enc", "gstreamer1.0-plugins-bad"),
    ("dtlssrtpenc", "gstreamer1.0-plugins-bad"),
    ("srtpenc", "gstreamer1.0-plugins-bad"),
    ("interaudiosrc", "gstreamer1.0-plugins-bad"),
    ("interaudiosink", "gstreamer1.0-plugins-bad"),
    ("webrtcdsp", "gstreamer1.0-plugins-bad"),
    ("webrtcechoprobe", "gstreamer1.0-plugins-bad"),
    // gst-plugins-ugly
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    // others
    ("nicesrc", "gstreamer1.0-nice"),
    ("nicesink", "gstreamer1.0-nice"),
    ("avdec_h264", "gstreamer1.0-libav"),
    ("vaapih264enc", "gstreamer1.0-vaapi"),
];

/// The Debian package that ships `factory`, if this crate knows it.
pub fn package_for(factory: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(name, _)| *name == factory)
        .map(|(_, package)| *package)
}

/// Adds `chain` to a running `pipeline`, links it in order, brings each
/// element to the pipeline's state, and returns the first element's sink
/// pad for the stream to be linked to (what a new webrtcbin pad needs).
pub fn add_running_chain(
    pipeline: &gst::Pipeline,
    chain: &[gst::Element],
) -> Result<gst::Pad, GstError> {
    pipeline.add_many(chain)?;
    gst::Element::link_many(chain)?;
    for element in chain {
        element.sync_state_with_parent()?;
    }
    let first = chain
        .first()
        .ok_or(GstError::unexpected("an empty chain"))?;
    first.static_pad("sink").ok_or_else(|| GstError::NoPad {
        element: first
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default(),
        pad: "sink",
    })
}

/// A GStreamer element this program needs is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElementError {
    /// No factory of that name is registered.
    #[error("{}", missing_message(.factory, *.package))]
    Missing {
        /// The element factory name, e.g. `x264enc`.
        factory: String,
        /// The Debian package that provides it, when known.
        package: Option<&'static str>,
    },
    /// The factory exists but refused to create an element.
    #[error("GStreamer element '{factory}' is installed but could not be created: {cause}")]
    Broken {
        /// The element factory name.
        factory: String,
        /// What GStreamer said.
        cause: String,
    },
    /// A property value from the encoder table did not parse for this element.
    #[error("GStreamer element '{factory}' rejected property {property}={value}")]
    BadProperty {
        /// The element factory name.
        factory: String,
        /// The property name.
        property: String,
        /// The value that did not parse.
        value: String,
    },
}

/// Building or running a GStreamer pipeline failed. Shared by the small
/// pipelines of this crate (probes, the check, the photo mode, talk-back)
/// so each says why in the same few ways; the texts are what the nurse's
/// check and the logs show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GstError {
    /// An element is missing (naming its Debian package) or broken.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Adding, removing or linking elements or pads failed; GStreamer's
    /// own words.
    #[error("{0}")]
    Link(String),
    /// An element lacks a pad it always has when it works.
    #[error("{element} has no {pad} pad")]
    NoPad {
        /// The element, as the message names it.
        element: String,
        /// `sink` or `src`.
        pad: &'static str,
    },
    /// The pipeline refused to change state; the element's own error
    /// where it posted one, else what would not start.
    #[error("{0}")]
    StateChange(Cow<'static, str>),
    /// What was waited for did not come in time.
    #[error("{waiting} within {} s", .limit.as_secs_f64())]
    TimedOut {
        /// What did not happen, e.g. `no output`.
        waiting: &'static str,
        /// How long it was given.
        limit: Duration,
    },
    /// An element posted an error on the bus.
    #[error("{0}")]
    Bus(String),
    /// The pipeline did something it should not (ended early, has no bus,
    /// gave a sample without data).
    #[error("{0}")]
    Unexpected(Cow<'static, str>),
}

impl GstError {
    /// A failed pad link, as GStreamer names its reason (`NoFormat`, …).
    pub fn pad_link(error: gst::PadLinkError) -> Self {
        GstError::Link(format!("{error:?}"))
    }

    /// A state change that failed, in `what`'s words.
    pub fn state_change(what: impl Into<Cow<'static, str>>) -> Self {
        GstError::StateChange(what.into())
    }

    /// Something the pipeline should not have done.
    pub fn unexpected(what: impl Into<Cow<'static, str>>) -> Self {
        GstError::Unexpected(what.into())
    }

    /// The error of an `Error` bus message.
    pub fn bus(error: &gst::message::Error) -> Self {
        GstError::Bus(error.error().to_string())
    }
}

impl From<gst::glib::BoolError> for GstError {
    fn from(error: gst::glib::BoolError) -> Self {
        GstError::Link(error.to_string())
    }
}

impl From<gst::StateChangeError> for GstError {
    fn from(error: gst::StateChangeError) -> Self {
        GstError::StateChange(error.to_string().into())
    }
}

fn missing_message(factory: &str, package: Option<&str>) -> String {
    match package {
        Some(package) => format!(
            "GStreamer element '{factory}' is missing; install the Debian package \
             {package} (sudo apt install {package})"
        ),
        None => format!(
            "GStreamer element '{factory}' is missing; find the plugin package that \
             provides it (apt-cache search gstreamer1.0) and check with \
             `gst-inspect-1.0 {factory}`"
        ),
    }
}

/// Whether an element factory of this name is registered.
pub fn exists(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some()
}

/// The error for a missing `factory`, naming its package.
pub fn missing(factory: &str) -> ElementError {
    ElementError::Missing {
        factory: factory.to_owned(),
        package: package_for(factory),
    }
}

/// Creates an element, or says which package to install.
pub fn make(factory: &str) -> Result<gst::Element, ElementError> {
    make_named(factory, None)
}

/// Creates an element with an explicit name (for finding it again in a bin).
pub fn make_named(factory: &str, name: Option<&str>) -> Result<gst::Element, ElementError> {
    if !exists(factory) {
        return Err(missing(factory));
    }
    let mut builder = gst::ElementFactory::make(factory);
    if let Some(name) = name {
        builder = builder.name(name);
    }
    builder.build().map_err(|e| ElementError::Broken {
        factory: factory.to_owned(),
        cause: e.to_string(),
    })
}

/// How an `interaudiosrc` reads its channel.
#[derive(Debug, Clone, Copy)]
pub struct InterAudioTiming {
    /// How much it reads at a time.
    pub period: Duration,
    /// How much audio it reports as its latency.
    pub latency: Duration,
    /// The most it holds before the oldest audio is dropped.
    pub buffer: Duration,
}

/// An `interaudiosrc` named `name` reading `channel` with `timing`.
/// GStreamer's defaults (100 ms latency, 25 ms periods, a 1 s buffer)
/// would add a tenth of a second to every word that passes through it.
pub fn inter_audio_source(
    name: &str,
    channel: &str,
    timing: InterAudioTiming,
) -> Result<gst::Element, ElementError> {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let source = make_named("interaudiosrc", Some(name))?;
    source.set_property("channel", channel);
    source.set_property("period-time", nanos(timing.period));
    source.set_property("latency-time", nanos(timing.latency));
    source.set_property("buffer-time", nanos(timing.buffer));
    Ok(source)
}

/// Checks up front that every element in `factories` is installed, so a
/// missing plugin is reported before anything starts.
pub fn require_all(factories: &[&str]) -> Result<(), ElementError> {
    factories
        .iter()
        .find(|f| !exists(f))
        .map_or(Ok(()), |f| Err(missing(f)))
}

/// Sets a property from its string form (enums and flags by nick, structures
/// in their serialized form). Properties the element does not have are
/// skipped with a debug line: plugin versions differ, and a tuning knob
/// missing on one version must not stop the stream.
pub fn set_property_str(
    element: &gst::Element,
    property: &str,
    value: &str,
) -> Result<(), ElementError> {
    let factory = factory_name(element);
    let Some(pspec) = element.find_property(property) else {
        tracing::debug!(element = %factory, property, "property not present in this version; skipped");
        return Ok(());
    };
    let parsed = glib_value_from_str(value, &pspec).ok_or_else(|| ElementError::BadProperty {
        factory: factory.clone(),
        property: property.to_owned(),
        value: value.to_owned(),
    })?;
    element.set_property(property, parsed);
    Ok(())
}

fn glib_value_from_str(value: &str, pspec: &gst::glib::ParamSpec) -> Option<gst::glib::Value> {
    use gst::prelude::GstValueExt;
    gst::glib::Value::deserialize_with_pspec(value, pspec).ok()
}

/// The factory name of an element (`x264enc`), or its object name if it has none.
pub fn factory_name(element: &gst::Element) -> String {
    element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_else(|| element.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::PACKAGES;

    /// The value of `key = "…"` in the Debian package's table of
    /// `Cargo.toml`, split into its package names (alternatives too).
    fn debian_field(key: &str) -> Vec<String> {
        let manifest = include_str!("../Cargo.toml");
        let line = manifest
            .lines()
            .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix("= \""))
            .unwrap_or_else(|| panic!("capture/Cargo.toml's [package.metadata.deb] sets {key}"));
        line.trim_end_matches('"')
            .split([',', '|'])
            .map(|name| name.trim().to_owned())
            .collect()
    }

    /// Every plugin package the daemon may ask for is one the Debian package
    /// brings (Depends) or suggests (Recommends): a nurse's laptop gets
    /// what it needs from `apt install`, not from a hand-run script.
    #[test]
    fn the_debian_package_brings_every_plugin_package_the_daemon_names() {
        let mut brought = debian_field("depends");
        brought.extend(debian_field("recommends"));
        // `$auto` is the libraries the program links against (GStreamer's
        // own, with its core elements), found by dpkg-shlibdeps.
        let linked =
            |package: &str| package.starts_with("lib") && brought.contains(&"$auto".into());
        for (factory, package) in PACKAGES {
            assert!(
                brought.iter().any(|name| name == package) || linked(package),
                "{factory} comes from {package}, which capture/Cargo.toml's \
                 [package.metadata.deb] neither depends on nor recommends; add it"
            );
        }
    }
}
