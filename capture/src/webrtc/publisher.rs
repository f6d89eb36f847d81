//! The publishing pipeline: video chain (and microphone) → RTP payloaders →
//! webrtcbin, all send-only.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::{mpsc, oneshot};

use super::events::{PipelineEvent, forward_bus, log_state_changes};
use super::negotiate::{self, GATHER_TIMEOUT, NegotiationError};
use crate::audio;
use crate::chain::{ChainError, EncoderControl, VideoChain};
use crate::elements::{self, ElementError};
use crate::latency::abs_capture_time::{self, CaptureTimeWriter};
use crate::latency::frames::Point;
use crate::latency::probes::FrameTimer;
use crate::settings::{VideoCodec, VideoSettings};
use crate::source::SourceSpec;

/// RTP payload type of the video stream.
pub const VIDEO_PAYLOAD: i32 = 96;
/// RTP payload type of the Opus stream.
pub const AUDIO_PAYLOAD: i32 = 111;

/// How long the source may take to deliver its first encoded frame. A UVC
/// camera can take a second or two to start streaming.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// The video source.
    pub source: SourceSpec,
    /// Video size, rate, codec and bitrate.
    pub video: VideoSettings,
    /// Whether to send the microphone (skipped quietly when there is none).
    pub audio: bool,
    /// Local addresses ICE is restricted to; empty for all interfaces. See
    /// [`crate::webrtc::ice::pinned_addresses`] for the usual rule.
    pub ice_addresses: Vec<IpAddr>,
}

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The video chain could not be built.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// An element is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Offer/answer failed.
    #[error(transparent)]
    Negotiation(#[from] NegotiationError),
    /// The pipeline would not start.
    #[error("the media pipeline would not start: {0}")]
    Start(String),
    /// Linking webrtcbin failed.
    #[error("could not link the stream into webrtcbin: {0}")]
    Link(String),
    /// The source delivered nothing.
    #[error(
        "no video from the source within {} s; check the camera is connected and not \
         used by another program",
        .0.as_secs()
    )]
    NoVideo(Duration),
    /// The pipeline failed while running.
    #[error("the media pipeline failed: {0}")]
    Pipeline(PipelineEvent),
}

/// A built publishing pipeline.
#[derive(Debug)]
pub struct Publisher {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    video_transceiver: gst_webrtc::WebRTCRTPTransceiver,
    video_payloader: gst::Element,
    codec: VideoCodec,
    encoder: Option<&'static str>,
    audio: bool,
    events: mpsc::UnboundedReceiver<PipelineEvent>,
    timer: FrameTimer,
    control: Option<EncoderControl>,
    capture_time: CaptureTimeWriter,
    publishing: Arc<AtomicBool>,
}

impl Publisher {
    /// Builds the pipeline (not started yet).
    pub fn build(options: &PublisherOptions) -> Result<Self, PublishError> {
        let chain = VideoChain::build(&options.source, &options.video)?;
        let webrtcbin = negotiate::new_webrtcbin("webrtc", &options.ice_addresses)?;
        let pipeline = gst::Pipeline::with_name("publisher");
        pipeline
            .add_many([chain.bin.upcast_ref::<gst::Element>(), &webrtcbin])
            .map_err(|e| PublishError::Link(e.to_string()))?;

        let video_payloader = video_payloader(chain.codec)?;
        pipeline
            .add(&video_payloader)
            .map_err(|e| PublishError::Link(e.to_string()))?;
        chain
            .bin
            .link(&video_payloader)
            .map_err(|e| PublishError::Link(e.to_string()))?;
        let video_transceiver = link_sendonly(&video_payloader, &webrtcbin)?;
        let payloaded = video_payloader
            .static_pad("src")
            .ok_or_else(|| PublishError::Link("payloader has no src pad".into()))?;
        let capture_time = CaptureTimeWriter::attach(&payloaded);
        chain.timer.add_point(Point::Payloaded);
        chain.timer.attach(Point::Payloaded, &payloaded);

        let audio = options.audio && add_microphone(&pipeline, &webrtcbin)?;
        if !options.audio {
            tracing::info!("audio disabled (--no-audio or audio = false)");
        }

        let events = forward_bus(&pipeline);
        log_state_changes(&webrtcbin, "gateway");

        Ok(Self {
            pipeline,
            webrtcbin,
            video_transceiver,
            video_payloader,
            codec: chain.codec,
            encoder: chain.encoder,
            audio,
            events,
            timer: chain.timer,
            control: chain.control,
            capture_time,
            publishing: Arc::default(),
        })
    }

    /// Starts the media, waits for the first encoded frame, and returns the
    /// SDP offer with its ICE candidates.
    pub async fn start_and_offer(&mut self) -> Result<String, PublishError> {
        let caps = wait_for_caps(&self.video_payloader);
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            let detail = self
                .events
                .try_recv()
                .map(|e| e.to_string())
                .unwrap_or_else(|_| "no detail on the bus".into());
            return Err(PublishError::Start(detail));
        }
        let caps = tokio::select! {
            caps = tokio::time::timeout(FIRST_FRAME_TIMEOUT, caps) => match caps {
                Ok(Ok(caps)) => caps,
                _ => return Err(PublishError::NoVideo(FIRST_FRAME_TIMEOUT)),
            },
            Some(event) = self.events.recv() => return Err(PublishError::Pipeline(event)),
        };
        self.video_transceiver
            .set_codec_preferences(Some(&codec_preferences(&caps, self.codec)));

        let offer = tokio::select! {
            offer = negotiate::make_offer(&self.webrtcbin, GATHER_TIMEOUT) => offer?,
            Some(event) = self.events.recv() => return Err(PublishError::Pipeline(event)),
        };
        Ok(offer)
    }

    /// Applies the gateway's answer; media flows once ICE and DTLS connect.
    /// When the answer accepts abs-capture-time, every video packet carries
    /// its frame's capture time from now on.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), PublishError> {
        negotiate::apply_answer(&self.webrtcbin, sdp).await?;
        self.publishing.store(true, Ordering::Relaxed);
        match abs_capture_time::negotiated_id(sdp) {
            Some(id) => {
                self.capture_time.enable(id);
                tracing::debug!(id, "sending each frame's capture time (abs-capture-time)");
            }
            None => tracing::info!(
                "the gateway did not accept abs-capture-time: viewers cannot measure \
                 end-to-end latency"
            ),
        }
        Ok(())
    }

    /// Marks each frame along the encode path (subscribe for its timings).
    pub fn frame_timer(&self) -> &FrameTimer {
        &self.timer
    }

    /// Changes size, rate and preset while streaming; `None` when the
    /// camera's H.264 is passed through.
    pub fn encoder_control(&self) -> Option<&EncoderControl> {
        self.control.as_ref()
    }

    /// Whether video packets carry abs-capture-time.
    pub fn sends_capture_time(&self) -> bool {
        self.capture_time.is_enabled()
    }

    /// Set once the gateway's answer is applied and media may flow.
    pub fn publishing(&self) -> Arc<AtomicBool> {
        self.publishing.clone()
    }

    /// The abs-capture-time stamper of the video packets.
    pub fn capture_time_writer(&self) -> &CaptureTimeWriter {
        &self.capture_time
    }

    /// The next error or end-of-stream from the pipeline that ends the
    /// stream. A failing microphone is only logged: video goes on without it.
    pub async fn next_event(&mut self) -> Option<PipelineEvent> {
        loop {
            let event = self.events.recv().await?;
            match &event {
                PipelineEvent::Error { element, .. }
                    if element.contains(&format!("/{}/", audio::CHAIN_NAME)) =>
                {
                    tracing::warn!(%event, "the microphone failed; continuing with video only");
                }
                _ => return Some(event),
            }
        }
    }

    /// Stops the pipeline (state Null).
    pub fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    /// The GStreamer pipeline.
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The webrtcbin element.
    pub fn webrtcbin(&self) -> &gst::Element {
        &self.webrtcbin
    }

    /// The encoder element used, `None` for camera H.264 passthrough.
    pub fn encoder(&self) -> Option<&'static str> {
        self.encoder
    }

    /// Whether a microphone is being sent.
    pub fn has_audio(&self) -> bool {
        self.audio
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn video_payloader(codec: VideoCodec) -> Result<gst::Element, ElementError> {
    match codec {
        VideoCodec::H264 => {
            let pay = elements::make_named("rtph264pay", Some("video-pay"))?;
            pay.set_property("pt", VIDEO_PAYLOAD as u32);
            // SPS/PPS with every keyframe, and in the same packet as the
            // first slice (STAP-A) without waiting for the next frame.
            pay.set_property("config-interval", -1i32);
            elements::set_property_str(&pay, "aggregate-mode", "zero-latency")?;
            Ok(pay)
        }
        VideoCodec::Vp8 => {
            let pay = elements::make_named("rtpvp8pay", Some("video-pay"))?;
            pay.set_property("pt", VIDEO_PAYLOAD as u32);
            elements::set_property_str(&pay, "picture-id-mode", "15-bit")?;
            Ok(pay)
        }
    }
}

/// Links a payloader to a new webrtcbin sink pad and makes its transceiver
/// send-only.
fn link_sendonly(
    payloader: &gst::Element,
    webrtcbin: &gst::Element,
) -> Result<gst_webrtc::WebRTCRTPTransceiver, PublishError> {
    let sink = webrtcbin
        .request_pad_simple("sink_%u")
        .ok_or_else(|| PublishError::Link("webrtcbin gave no sink pad".into()))?;
    let src = payloader
        .static_pad("src")
        .ok_or_else(|| PublishError::Link("payloader has no src pad".into()))?;
    src.link(&sink)
        .map_err(|e| PublishError::Link(format!("{e:?}")))?;
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    transceiver.set_direction(gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
    // Keep sent packets for retransmission when the gateway NACKs them.
    transceiver.set_property("do-nack", true);
    Ok(transceiver)
}

/// Adds microphone → Opus → RTP to the pipeline. Returns whether audio is
/// sent; a missing or broken microphone leaves the video untouched.
fn add_microphone(
    pipeline: &gst::Pipeline,
    webrtcbin: &gst::Element,
) -> Result<bool, PublishError> {
    let bin = match audio::microphone_chain() {
        Ok(Some(bin)) => bin,
        Ok(None) => return Ok(false),
        Err(e) => {
            tracing::warn!(error = %e, "audio unavailable; sending video only");
            return Ok(false);
        }
    };
    let pay = elements::make_named("rtpopuspay", Some("audio-pay"))?;
    pay.set_property("pt", AUDIO_PAYLOAD as u32);
    pipeline
        .add_many([bin.upcast_ref::<gst::Element>(), &pay])
        .map_err(|e| PublishError::Link(e.to_string()))?;
    bin.link(&pay)
        .map_err(|e| PublishError::Link(e.to_string()))?;
    let transceiver = link_sendonly(&pay, webrtcbin)?;
    let caps = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", AUDIO_PAYLOAD)
        .field("clock-rate", 48_000i32)
        .field("encoding-params", "2")
        .build();
    transceiver.set_codec_preferences(Some(&caps));
    Ok(true)
}

/// Resolves with the caps of the first buffer leaving `element`'s src pad,
/// once that buffer is on its way (its caps already in webrtcbin).
fn wait_for_caps(element: &gst::Element) -> oneshot::Receiver<gst::Caps> {
    let (tx, rx) = oneshot::channel();
    let Some(pad) = element.static_pad("src") else {
        return rx;
    };
    let tx = Arc::new(Mutex::new(Some(tx)));
    // On the first buffer, not on the caps event: the event has then been
    // pushed on into webrtcbin, so an offer made right after sees the same
    // caps (with sprop-parameter-sets) that webrtcbin now holds.
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |pad, _| {
            let Some(caps) = pad.current_caps() else {
                return gst::PadProbeReturn::Ok;
            };
            if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(caps);
            }
            gst::PadProbeReturn::Remove
        },
    );
    rx
}

/// The codec the offer announces, taken from what the payloader actually
/// produces (so profile-level-id matches the encoder's real level), plus
/// the feedback the gateway may send: NACK, PLI and FIR.
fn codec_preferences(payloader_caps: &gst::Caps, codec: VideoCodec) -> gst::Caps {
    let keep: &[&str] = match codec {
        VideoCodec::H264 => &[
            "media",
            "encoding-name",
            "payload",
            "clock-rate",
            "packetization-mode",
            "profile-level-id",
        ],
        VideoCodec::Vp8 => &["media", "encoding-name", "payload", "clock-rate"],
    };
    let mut out = gst::Structure::new_empty("application/x-rtp");
    if let Some(s) = payloader_caps.structure(0) {
        for (name, value) in s.iter() {
            if keep.contains(&name.as_str()) {
                out.set_value(name, value.clone());
            }
        }
    }
    out.set("rtcp-fb-nack", true);
    out.set("rtcp-fb-nack-pli", true);
    out.set("rtcp-fb-ccm-fir", true);
    // webrtcbin writes `extmap-N` fields as `a=extmap:N <uri>`.
    out.set(
        format!("extmap-{}", abs_capture_time::OFFERED_ID).as_str(),
        abs_capture_time::URI,
    );
    gst::Caps::builder_full().structure(out).build()
}
