//! The media path up to the network: source, leaky queue, encoder.
//!
//! [`VideoChain`] is one bin with an encoded `src` pad. The publisher links it
//! to a payloader and webrtcbin; tests link it to an appsink. Nothing in it
//! knows about WebRTC.

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{self, ElementError};
use crate::encoder::{self, EncoderError, EncoderParams};
use crate::settings::{SettingsError, VideoCodec, VideoSettings};
use crate::source::{self, SourceError, SourceOutput, SourceSpec, leaky_queue};

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
    /// Builds source → leaky queue → convert → encoder → parser.
    pub fn build(spec: &SourceSpec, video: &VideoSettings) -> Result<Self, ChainError> {
        video.validate()?;
        let source = source::build(spec, video, video.codec == VideoCodec::H264)?;
        // A raw source survives an unplugged camera (a slate stands in until
        // it is back); rebuilt sources always deliver raw frames.
        let source = {
            let (spec, video) = (spec.clone(), *video);
            source::supervise(
                source,
                &video,
                Box::new(move || source::build(&spec, &video, false)),
            )?
        };

        let mut chain: Vec<gst::Element> = vec![source.bin.clone().upcast()];

        let encoder_name = match source.output {
            SourceOutput::H264 => {
                // No leaky queue here: dropping an encoded frame would break
                // every frame that references it until the next keyframe.
                tracing::info!("camera delivers H.264; passing it through without re-encoding");
                None
            }
            SourceOutput::Raw => {
                // Between capture and encoder: when the encoder is busy the
                // waiting frame is replaced by the newest, so latency never
                // accumulates here.
                chain.push(leaky_queue("encoder-queue")?);
                let choice = encoder::choose(video.codec)?;
                let params = EncoderParams::for_video(video);
                chain.push(elements::make("videoconvert")?);
                let encoder = encoder::make_encoder(choice.candidate, &params)?;
                log_keyframe_requests(&encoder);
                chain.push(encoder);
                let caps = elements::make("capsfilter")?;
                caps.set_property("caps", encoder::output_caps(choice.candidate));
                chain.push(caps);
                if video.codec == VideoCodec::H264 {
                    let parse = elements::make("h264parse")?;
                    // SPS/PPS before every keyframe: a viewer joining late
                    // (or after loss) decodes from the next keyframe alone.
                    parse.set_property("config-interval", -1i32);
                    chain.push(parse);
                }
                Some(choice.candidate.element)
            }
        };

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
        })
    }
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
