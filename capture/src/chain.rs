//! The media path up to the network: source, leaky queue, encoder.
//!
//! [`VideoChain`] is one bin with an encoded `src` pad. The publisher links it
//! to a payloader and webrtcbin; tests link it to an appsink. Nothing in it
//! knows about WebRTC.
//!
//! ```text
//! source ─▶ encoder-queue ─▶ videoscale ─▶ videoconvert ─▶ encoder-input ─▶ encoder ─▶ encoder-output ─▶ parser
//!          (leaky, 1 frame)   (passthrough until                (size caps)            (codec caps)
//!                              the ladder lowers the size)
//! ```
//!
//! Its [`FrameTimer`] marks every frame at the queue's input and output, the
//! encoder's input and output; [`EncoderControl`] applies the quality
//! ladder's rungs to the running chain.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::watch;

use crate::elements::{self, ElementError, GstError};
use crate::encoder::{self, EncoderCandidate, EncoderError, EncoderParams};
use crate::latency::ladder::Rung;
use crate::latency::probes::FrameTimer;
use crate::latency::{self, frames::Point};
use crate::settings::{SettingsError, VideoCodec, VideoSettings};
use crate::source::{
    self, CameraPhotos, CameraState, CameraUse, FullSizeFrames, PhotoMode, SourceError,
    SourceOutput, SourceSpec, leaky_queue,
};

/// Source plus encoder, as one bin with a ghost `src` pad of encoded video.
#[derive(Debug)]
pub struct VideoChain {
    /// The bin. Add it to a pipeline and link its `src` pad.
    pub bin: gst::Bin,
    /// The encoder element used, or `None` when the camera's own H.264 is
    /// passed through.
    pub encoder: Option<&'static str>,
    /// The codec coming out of `src`.
    pub codec: VideoCodec,
    /// Marks frames along the chain (the publisher adds the payloader).
    pub timer: FrameTimer,
    /// Changes size, rate and encoder preset while running; `None` when the
    /// camera's own H.264 is passed through (nothing to change).
    pub control: Option<EncoderControl>,
    /// The source's newest frame at its own size (a recording's), for stills.
    pub full_size_frames: FullSizeFrames,
    /// Photos from the camera (`--source v4l2` delivering raw video).
    pub camera_photos: Option<CameraPhotos>,
    /// Whether the source delivers pictures (`None`: the camera's own
    /// H.264 goes unsupervised).
    pub camera_state: Option<watch::Receiver<CameraState>>,
}

/// The video chain could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The settings are not usable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The source could not be built.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// No encoder could be used.
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    /// An element is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Linking failed.
    #[error("could not assemble the video chain: {0}")]
    Assemble(String),
}

impl VideoChain {
    /// Builds source → leaky queue → convert → encoder → parser; a camera's
    /// photos switch it to its largest mode.
    pub fn build(spec: &SourceSpec, video: &VideoSettings) -> Result<Self, ChainError> {
        Self::with_photo_mode(spec, video, PhotoMode::Largest)
    }

    /// [`build`](Self::build), with how a camera takes photos.
    pub fn with_photo_mode(
        spec: &SourceSpec,
        video: &VideoSettings,
        photo_mode: PhotoMode,
    ) -> Result<Self, ChainError> {
        video.validate()?;
        let full_size_frames = FullSizeFrames::default();
        let source = source::build(
            spec,
            video,
            video.codec == VideoCodec::H264,
            &full_size_frames,
        )?;
        // The camera's photos come from its supervisor, which owns it.
        let camera_photos = (matches!(spec, SourceSpec::V4l2(_))
            && source.output == SourceOutput::Raw)
            .then(|| CameraPhotos::new(photo_mode));
        // A raw source survives an unplugged camera (a slate stands in until
        // it is back); rebuilt sources always deliver raw frames.
        let source = {
            let (spec, video, frames) = (spec.clone(), *video, full_size_frames.clone());
            source::supervise_with_state(
                source,
                &video,
                Box::new(move |usage| match usage {
                    CameraUse::Stream => source::build(&spec, &video, false, &frames),
                    CameraUse::Still => source::build_still(&spec),
                }),
                camera_photos.as_ref(),
            )?
        };
        let camera_state = source.camera_state;
        let source = source.source;

        let mut chain: Vec<gst::Element> = vec![source.bin.clone().upcast()];

        let mut stable_pads: Vec<(Point, gst::Pad)> = Vec::new();
        let mut control = None;
        let encoder_name = match source.output {
            SourceOutput::H264 => {
                // No leaky queue here: dropping an encoded frame would break
                // every frame that references it until the next keyframe.
                tracing::info!("camera delivers H.264; passing it through without re-encoding");
                if let Some(pad) = source.bin.static_pad("src") {
                    stable_pads.push((Point::SourceOut, pad));
                }
                None
            }
            SourceOutput::Raw => {
                // Between capture and encoder: when the encoder is busy the
                // waiting frame is replaced by the newest, so latency never
                // accumulates here.
                let queue = leaky_queue("encoder-queue")?;
                chain.push(queue.clone());
                let choice = encoder::choose(video.codec)?;
                let params = EncoderParams::for_video(video);
                // Passthrough (no cost) until the ladder asks for a smaller picture.
                chain.push(elements::make("videoscale")?);
                chain.push(elements::make("videoconvert")?);
                let input = elements::make_named("capsfilter", Some("encoder-input"))?;
                input.set_property("caps", size_caps(video.width, video.height));
                chain.push(input.clone());
                let encoder = encoder::make_encoder(choice.candidate, &params)?;
                log_keyframe_requests(&encoder);
                chain.push(encoder);
                let output = elements::make_named("capsfilter", Some("encoder-output"))?;
                output.set_property("caps", encoder::output_caps(choice.candidate));
                chain.push(output.clone());
                if video.codec == VideoCodec::H264 {
                    let parse = elements::make("h264parse")?;
                    // SPS/PPS before every keyframe: a viewer joining late
                    // (or after loss) decodes from the next keyframe alone.
                    parse.set_property("config-interval", -1i32);
                    chain.push(parse);
                }
                for (point, element, pad) in [
                    (Point::SourceOut, &queue, "sink"),
                    (Point::QueueOut, &queue, "src"),
                    (Point::EncoderIn, &input, "src"),
                    (Point::EncoderOut, &output, "src"),
                ] {
                    if let Some(pad) = element.static_pad(pad) {
                        stable_pads.push((point, pad));
                    }
                }
                control = Some(EncoderControl {
                    candidate: choice.candidate,
                    params,
                    input,
                    output,
                    configured: *video,
                    applied: Arc::new(Mutex::new(None)),
                    timer: None,
                });
                Some(choice.candidate.element)
            }
        };

        let points: Vec<Point> = stable_pads.iter().map(|(p, _)| *p).collect();
        let timer = FrameTimer::new(&points);
        for (point, pad) in &stable_pads {
            timer.attach(*point, pad);
        }
        if let Some(control) = &mut control {
            control.timer = Some(timer.clone());
        }

        let bin = gst::Bin::with_name("video-chain");
        bin.add_many(&chain)
            .map_err(|e| ChainError::Assemble(e.to_string()))?;
        gst::Element::link_many(&chain).map_err(|e| ChainError::Assemble(e.to_string()))?;
        let last = chain
            .last()
            .and_then(|e| e.static_pad("src"))
            .ok_or_else(|| ChainError::Assemble("the chain has no output pad".into()))?;
        let ghost = gst::GhostPad::builder_with_target(&last)
            .map_err(|e| ChainError::Assemble(e.to_string()))?
            .name("src")
            .build();
        bin.add_pad(&ghost)
            .map_err(|e| ChainError::Assemble(e.to_string()))?;

        Ok(Self {
            bin,
            encoder: encoder_name,
            codec: video.codec,
            timer,
            control,
            full_size_frames,
            camera_photos,
            camera_state,
        })
    }
}

/// Raw video caps of one size, square pixels.
fn size_caps(width: u32, height: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// Applies quality-ladder rungs to a running chain: frame rate (frames left
/// out evenly before the queue), size (the encoder input's caps, scaled by
/// videoscale) and preset (the encoder is replaced by one at its fastest
/// setting; the new one starts with a keyframe).
#[derive(Debug, Clone)]
pub struct EncoderControl {
    candidate: &'static EncoderCandidate,
    params: EncoderParams,
    input: gst::Element,
    output: gst::Element,
    configured: VideoSettings,
    applied: Arc<Mutex<Option<Rung>>>,
    timer: Option<FrameTimer>,
}

impl latency::controller::EncoderControl for EncoderControl {
    /// Whether the encoder has a faster setting than the configured one.
    fn has_faster_preset(&self) -> bool {
        !self.candidate.fastest.is_empty()
    }

    /// The encoder element's name, e.g. `x264enc`.
    fn encoder_element(&self) -> &'static str {
        self.candidate.element
    }

    /// The preset names the status shows for the configured and the fastest setting.
    fn preset_names(&self) -> (String, String) {
        let find = |props: &[(&str, &str)]| {
            props
                .iter()
                .find(|(p, _)| {
                    matches!(
                        *p,
                        "speed-preset" | "preset" | "cpu-used" | "target-usage" | "quality-level"
                    )
                })
                .map(|(p, v)| match *p {
                    "speed-preset" | "preset" => self.params_fill(v),
                    _ => format!("{p} {}", self.params_fill(v)),
                })
        };
        let configured = find(self.candidate.properties).unwrap_or_else(|| "default".into());
        let fastest = find(self.candidate.fastest).unwrap_or_else(|| configured.clone());
        (configured, fastest)
    }

    /// Changes the running chain to `rung`; only what differs from the rung
    /// applied before is touched.
    fn apply(&self, rung: &Rung) -> Result<(), ElementError> {
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let before = applied.unwrap_or(Rung {
            width: self.configured.width,
            height: self.configured.height,
            fps: self.configured.fps,
            fastest_preset: false,
        });
        if rung.fps != before.fps
            && let Some(timer) = &self.timer
        {
            timer.limit_frame_rate((rung.fps < self.configured.fps).then_some(rung.fps));
        }
        if (rung.width, rung.height) != (before.width, before.height) {
            self.input
                .set_property("caps", size_caps(rung.width, rung.height));
        }
        if rung.fastest_preset != before.fastest_preset && self.has_faster_preset() {
            self.replace_encoder(rung.fastest_preset)?;
        }
        *applied = Some(*rung);
        Ok(())
    }
}

impl EncoderControl {
    fn params_fill(&self, template: &str) -> String {
        template.replace("{x264_preset}", &self.params.x264_preset.to_string())
    }

    /// Swaps the encoder for a new one (fastest or configured setting) while
    /// the stream is held just before it.
    fn replace_encoder(&self, fastest: bool) -> Result<(), ElementError> {
        let Some(bin) = self
            .input
            .parent()
            .and_then(|p| p.downcast::<gst::Bin>().ok())
        else {
            return Ok(());
        };
        let (Some(upstream), Some(downstream)) =
            (self.input.static_pad("src"), self.output.static_pad("sink"))
        else {
            return Ok(());
        };
        // Checked now, so a property the element refuses is an error here
        // rather than inside the streaming thread.
        drop(encoder::make_encoder_at(
            self.candidate,
            &self.params,
            fastest,
        )?);
        let candidate = self.candidate;
        let params = self.params;
        upstream.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, move |pad, _| {
            if let Err(e) = swap(&bin, pad, &downstream, candidate, &params, fastest) {
                gst::element_error!(
                    bin,
                    gst::CoreError::StateChange,
                    ("could not restart the encoder with a new preset: {e}")
                );
            }
            gst::PadProbeReturn::Remove
        });
        Ok(())
    }
}

/// Replaces the encoder between `upstream` and `downstream` (called with
/// `upstream` blocked, so no frame is inside the encoder).
fn swap(
    bin: &gst::Bin,
    upstream: &gst::Pad,
    downstream: &gst::Pad,
    candidate: &EncoderCandidate,
    params: &EncoderParams,
    fastest: bool,
) -> Result<(), GstError> {
    if let Some(old) = bin.by_name(encoder::ENCODER_NAME) {
        if let Some(sink) = old.static_pad("sink") {
            let _ = upstream.unlink(&sink);
        }
        if let Some(src) = old.static_pad("src") {
            let _ = src.unlink(downstream);
        }
        let _ = old.set_state(gst::State::Null);
        bin.remove(&old)?;
    }
    let new = encoder::make_encoder_at(candidate, params, fastest)?;
    bin.add(&new)?;
    let no_pad = |pad| GstError::NoPad {
        element: "the encoder".to_owned(),
        pad,
    };
    let sink = new.static_pad("sink").ok_or_else(|| no_pad("sink"))?;
    let src = new.static_pad("src").ok_or_else(|| no_pad("src"))?;
    upstream.link(&sink).map_err(GstError::pad_link)?;
    src.link(downstream).map_err(GstError::pad_link)?;
    log_keyframe_requests(&new);
    new.sync_state_with_parent()?;
    Ok(())
}

/// Logs (at debug) each keyframe request reaching the encoder. webrtcbin's
/// RTP session turns a viewer's PLI or FIR into an upstream force-key-unit
/// event; seeing it arrive here is how one checks that path end to end.
fn log_keyframe_requests(encoder: &gst::Element) {
    let Some(pad) = encoder.static_pad("src") else {
        return;
    };
    let name = elements::factory_name(encoder);
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        if let Some(event) = info.event()
            && gstreamer_video::ForceKeyUnitEvent::is(event)
        {
            tracing::debug!(encoder = %name, "keyframe requested by a viewer (PLI/FIR)");
        }
        gst::PadProbeReturn::Ok
    });
}
