//! Choosing and configuring the video encoder.
//!
//! [`candidates`] is the one table of encoders per codec, best first. A
//! hardware encoder is used only if its element exists *and* a short probe
//! pipeline through it actually runs: VA-API and V4L2 elements register on
//! machines whose driver then cannot open the device. Otherwise the software
//! encoder at the end of each list is used, tuned for latency: no B-frames, no
//! lookahead, a small rate-control buffer, and keyframes when a viewer asks
//! for one (PLI/FIR) rather than on a short fixed interval.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{self, ElementError, GstError};
use crate::settings::{VideoCodec, VideoSettings, X264Preset};

/// One encoder the table knows how to set up.
///
/// Property values may contain placeholders filled from the settings:
/// `{kbps}` and `{bps}` (target bitrate), `{keyint}` (maximum frames between
/// keyframes), `{threads}` (encoder threads) and `{x264_preset}` (the
/// configured x264 speed preset).
#[derive(Debug)]
pub struct EncoderCandidate {
    /// GStreamer element factory name.
    pub element: &'static str,
    /// Debian package that ships the element.
    pub package: &'static str,
    /// Whether this is a hardware encoder (probed before use).
    pub hardware: bool,
    /// Property settings, applied in order.
    pub properties: &'static [(&'static str, &'static str)],
    /// Caps forced on the encoder's output.
    pub output_caps: &'static str,
    /// Property settings, applied after `properties`, that make the encoder
    /// as fast as it goes: the quality ladder's first step when the latency
    /// budget is not held. Empty when it has no faster setting.
    pub fastest: &'static [(&'static str, &'static str)],
    /// The property that changes the target bitrate while encoding, if the
    /// element has one (congestion control moves it).
    pub live_bitrate: Option<LiveBitrate>,
}

/// A bitrate property that can change while the encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveBitrate {
    /// The property name.
    pub property: &'static str,
    /// Its unit.
    pub unit: BitrateUnit,
}

/// The unit of a bitrate property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitrateUnit {
    /// kbit/s.
    Kbps,
    /// bit/s.
    Bps,
}

const KBPS_BITRATE: Option<LiveBitrate> = Some(LiveBitrate {
    property: "bitrate",
    unit: BitrateUnit::Kbps,
});

/// Seconds between keyframes when no viewer asks for one. Viewers ask (PLI)
/// when they join or lose packets, so this is only a backstop; a short fixed
/// interval would spend the nurse's uplink on keyframes nobody needs.
pub const KEYFRAME_BACKSTOP_SECS: u32 = 10;

const H264_CAPS: &str = "video/x-h264,profile=constrained-baseline";

const H264: &[EncoderCandidate] = &[
    EncoderCandidate {
        element: "vah264enc",
        package: "gstreamer1.0-plugins-bad",
        hardware: true,
        properties: &[
            ("rate-control", "cbr"),
            ("bitrate", "{kbps}"),
            ("key-int-max", "{keyint}"),
            ("b-frames", "0"),
            ("ref-frames", "1"),
            ("target-usage", "7"),
        ],
        output_caps: H264_CAPS,
        // target-usage 7 is already its fastest.
        fastest: &[],
        live_bitrate: KBPS_BITRATE,
    },
    EncoderCandidate {
        element: "vaapih264enc",
        package: "gstreamer1.0-vaapi",
        hardware: true,
        properties: &[
            ("rate-control", "cbr"),
            ("bitrate", "{kbps}"),
            ("keyframe-period", "{keyint}"),
            ("max-bframes", "0"),
            ("quality-level", "7"),
        ],
        output_caps: H264_CAPS,
        fastest: &[],
        live_bitrate: KBPS_BITRATE,
    },
    EncoderCandidate {
        element: "v4l2h264enc",
        package: "gstreamer1.0-plugins-good",
        hardware: true,
        properties: &[(
            "extra-controls",
            "controls,video_bitrate={bps},video_bitrate_mode=1,h264_i_frame_period={keyint},video_b_frames=0",
        )],
        // V4L2 encoders name levels themselves; forcing a profile here would
        // fail negotiation on devices that only offer "baseline".
        output_caps: "video/x-h264",
        fastest: &[],
        live_bitrate: None,
    },
    EncoderCandidate {
        element: "nvh264enc",
        package: "gstreamer1.0-plugins-bad",
        hardware: true,
        properties: &[
            ("preset", "low-latency-hq"),
            ("rc-mode", "cbr"),
            ("bitrate", "{kbps}"),
            ("gop-size", "{keyint}"),
            ("bframes", "0"),
            ("zerolatency", "true"),
            ("rc-lookahead", "0"),
        ],
        output_caps: H264_CAPS,
        fastest: &[("preset", "low-latency-hp")],
        live_bitrate: KBPS_BITRATE,
    },
    EncoderCandidate {
        element: "x264enc",
        package: "gstreamer1.0-plugins-ugly",
        hardware: false,
        properties: &[
            // zerolatency: no lookahead, no frame threading (sliced threads
            // instead), so a frame leaves the encoder as soon as it is coded.
            ("tune", "zerolatency"),
            ("speed-preset", "{x264_preset}"),
            ("bframes", "0"),
            ("b-adapt", "false"),
            ("rc-lookahead", "0"),
            ("key-int-max", "{keyint}"),
            ("bitrate", "{kbps}"),
            // About four frames' worth at 30 fps: big enough that a keyframe
            // is not starved, small enough that the sender never builds up a
            // backlog the network has to drain.
            ("vbv-buf-capacity", "120"),
            ("threads", "{threads}"),
            ("sliced-threads", "true"),
        ],
        output_caps: H264_CAPS,
        fastest: &[("speed-preset", "ultrafast")],
        live_bitrate: KBPS_BITRATE,
    },
];

const VP8: &[EncoderCandidate] = &[EncoderCandidate {
    element: "vp8enc",
    package: "gstreamer1.0-plugins-good",
    hardware: false,
    properties: &[
        ("deadline", "1"),
        ("cpu-used", "8"),
        ("end-usage", "cbr"),
        ("target-bitrate", "{bps}"),
        ("keyframe-max-dist", "{keyint}"),
        ("error-resilient", "default"),
        ("lag-in-frames", "0"),
        ("threads", "{threads}"),
        // Client buffer model in milliseconds, kept as small as the H.264
        // VBV above for the same reason.
        ("buffer-initial-size", "100"),
        ("buffer-optimal-size", "120"),
        ("buffer-size", "150"),
    ],
    output_caps: "video/x-vp8",
    fastest: &[("cpu-used", "16")],
    live_bitrate: Some(LiveBitrate {
        property: "target-bitrate",
        unit: BitrateUnit::Bps,
    }),
}];

/// The encoder table for `codec`, best first.
pub fn candidates(codec: VideoCodec) -> &'static [EncoderCandidate] {
    match codec {
        VideoCodec::H264 => H264,
        VideoCodec::Vp8 => VP8,
    }
}

/// No encoder of the table could be used.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// Every candidate was missing or failed its probe.
    #[error("no usable {codec} encoder: {}; install {}", .reasons.join("; "), .install)]
    NoneUsable {
        /// The codec asked for.
        codec: String,
        /// Why each candidate was skipped.
        reasons: Vec<String>,
        /// The package of the software fallback.
        install: &'static str,
    },
    /// The chosen element could not be created or configured.
    #[error(transparent)]
    Element(#[from] ElementError),
}

/// The encoder picked from the table, and why the better ones were not.
#[derive(Debug)]
pub struct EncoderChoice {
    /// The chosen table row.
    pub candidate: &'static EncoderCandidate,
    /// One line per better-ranked candidate that was skipped, e.g.
    /// `vah264enc: element missing (gstreamer1.0-plugins-bad)`.
    pub skipped: Vec<String>,
}

impl EncoderChoice {
    /// A one-line account of the choice, for the log.
    pub fn summary(&self) -> String {
        let kind = if self.candidate.hardware {
            "hardware"
        } else {
            "software"
        };
        if self.skipped.is_empty() {
            format!("{} chosen ({kind})", self.candidate.element)
        } else {
            format!(
                "{}; {} chosen ({kind})",
                self.skipped.join("; "),
                self.candidate.element
            )
        }
    }
}

/// Picks the first usable encoder for `codec` and logs why.
pub fn choose(codec: VideoCodec) -> Result<EncoderChoice, EncoderError> {
    let choice = choose_from(codec, candidates(codec))?;
    tracing::info!(%codec, "video encoder: {}", choice.summary());
    Ok(choice)
}

/// Picks the first usable encoder from an explicit list (the table, or a
/// test's own list).
pub fn choose_from(
    codec: VideoCodec,
    table: &'static [EncoderCandidate],
) -> Result<EncoderChoice, EncoderError> {
    let mut skipped = Vec::new();
    for candidate in table {
        if !elements::exists(candidate.element) {
            skipped.push(format!(
                "{}: element missing ({})",
                candidate.element, candidate.package
            ));
            continue;
        }
        if candidate.hardware
            && let Err(why) = probe_cached(candidate)
        {
            skipped.push(format!("{}: probe failed ({why})", candidate.element));
            continue;
        }
        return Ok(EncoderChoice { candidate, skipped });
    }
    Err(EncoderError::NoneUsable {
        codec: codec.to_string(),
        reasons: skipped,
        install: table
            .last()
            .map_or("gstreamer1.0-plugins-ugly", |c| c.package),
    })
}

/// The values the table's placeholders are filled with.
#[derive(Debug, Clone, Copy)]
pub struct EncoderParams {
    /// Target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Maximum frames between keyframes.
    pub keyframe_interval: u32,
    /// Encoder threads.
    pub threads: u32,
    /// x264's speed preset.
    pub x264_preset: X264Preset,
}

impl EncoderParams {
    /// Parameters for the configured video.
    pub fn for_video(video: &VideoSettings) -> Self {
        // Two threads at most: the capture, conversion and network threads
        // need the other cores of a nurse's laptop.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().min(2) as u32)
            .unwrap_or(1);
        Self {
            bitrate_kbps: video.bitrate_kbps,
            keyframe_interval: video.fps * KEYFRAME_BACKSTOP_SECS,
            threads,
            x264_preset: video.x264_preset,
        }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{kbps}", &self.bitrate_kbps.to_string())
            .replace("{bps}", &(u64::from(self.bitrate_kbps) * 1000).to_string())
            .replace("{keyint}", &self.keyframe_interval.to_string())
            .replace("{threads}", &self.threads.to_string())
            .replace("{x264_preset}", &self.x264_preset.to_string())
    }
}

/// Creates and configures the encoder element of `candidate`.
pub fn make_encoder(
    candidate: &EncoderCandidate,
    params: &EncoderParams,
) -> Result<gst::Element, ElementError> {
    make_encoder_at(candidate, params, false)
}

/// Creates the encoder of `candidate`, at its fastest setting if `fastest`.
pub fn make_encoder_at(
    candidate: &EncoderCandidate,
    params: &EncoderParams,
    fastest: bool,
) -> Result<gst::Element, ElementError> {
    let encoder = elements::make_named(candidate.element, Some(ENCODER_NAME))?;
    for (property, template) in candidate.properties {
        elements::set_property_str(&encoder, property, &params.fill(template))?;
    }
    if fastest {
        for (property, template) in candidate.fastest {
            elements::set_property_str(&encoder, property, &params.fill(template))?;
        }
    }
    Ok(encoder)
}

/// The name of the encoder element in the video chain.
pub const ENCODER_NAME: &str = "video-encoder";

/// Sets a running encoder's target bitrate to `bps` bits per second, if its
/// table row names a live bitrate property; false otherwise.
pub fn set_bitrate(encoder: &gst::Element, bps: u64) -> bool {
    let factory = elements::factory_name(encoder);
    let Some(live) = [H264, VP8]
        .iter()
        .flat_map(|table| table.iter())
        .find(|c| c.element == factory)
        .and_then(|c| c.live_bitrate)
    else {
        return false;
    };
    let value = match live.unit {
        BitrateUnit::Kbps => (bps / 1000).to_string(),
        BitrateUnit::Bps => bps.to_string(),
    };
    elements::set_property_str(encoder, live.property, &value).is_ok()
}

/// The caps forced on `candidate`'s output.
pub fn output_caps(candidate: &EncoderCandidate) -> gst::Caps {
    // The table's caps strings are constants checked by the unit tests.
    gst::Caps::from_str(candidate.output_caps).unwrap_or_else(|_| gst::Caps::new_any())
}

fn probe_cache() -> &'static Mutex<HashMap<&'static str, Result<(), GstError>>> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Result<(), GstError>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Probes each hardware encoder once per process: the answer does not change
/// while the program runs, and a probe opens the device.
fn probe_cached(candidate: &'static EncoderCandidate) -> Result<(), GstError> {
    let mut cache = probe_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(candidate.element)
        .or_insert_with(|| probe(candidate))
        .clone()
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `videotestsrc num-buffers=5 ! videoconvert ! <encoder> ! fakesink`
/// with the encoder configured as it would be for real.
pub fn probe(candidate: &EncoderCandidate) -> Result<(), GstError> {
    let params = EncoderParams {
        bitrate_kbps: 1000,
        keyframe_interval: 300,
        threads: 1,
        x264_preset: X264Preset::default(),
    };
    let pipeline = gst::Pipeline::with_name("encoder-probe");
    let build = || -> Result<(), GstError> {
        let src = elements::make("videotestsrc")?;
        src.set_property("num-buffers", 5i32);
        let raw = elements::make("capsfilter")?;
        raw.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", 640i32)
                .field("height", 480i32)
                .field("framerate", gst::Fraction::new(30, 1))
                .build(),
        );
        let convert = elements::make("videoconvert")?;
        let encoder = make_encoder(candidate, &params)?;
        let out = elements::make("capsfilter")?;
        out.set_property("caps", output_caps(candidate));
        let sink = elements::make("fakesink")?;
        let chain = [src, raw, convert, encoder, out, sink];
        pipeline.add_many(&chain)?;
        Ok(gst::Element::link_many(&chain)?)
    };
    let result = build().and_then(|()| run_to_eos(&pipeline));
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run_to_eos(pipeline: &gst::Pipeline) -> Result<(), GstError> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| GstError::state_change("the pipeline would not start"))?;
    let bus = pipeline
        .bus()
        .ok_or(GstError::unexpected("pipeline has no bus"))?;
    let deadline = gst::ClockTime::from_nseconds(PROBE_TIMEOUT.as_nanos() as u64);
    match bus.timed_pop_filtered(deadline, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(msg) => match msg.view() {
            gst::MessageView::Eos(_) => Ok(()),
            gst::MessageView::Error(err) => Err(GstError::bus(err)),
            _ => Err(GstError::unexpected("unexpected message")),
        },
        None => Err(GstError::TimedOut {
            waiting: "no output",
            limit: PROBE_TIMEOUT,
        }),
    }
}
