//! The publisher: the capture pipeline (camera → encoder → RTP payloaders),
//! which runs for the daemon's whole life, and the WHIP session it currently
//! sends into.
//!
//! ```text
//! capture pipeline:  video chain ─▶ payloader ─▶ outlet ┐        session pipeline (one per WHIP session)
//!                    microphone ─▶ opus ─▶ payloader ─▶ outlet ┼──▶ appsrc ─▶ webrtcbin ─▶ gateway
//! ```
//!
//! A lost connection or a restarted gateway only replaces the session
//! ([`Publisher::open_session`]); the camera and the encoder keep running,
//! so the picture is there the moment the new session connects.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_rtp::prelude::*;
use tokio::sync::{mpsc, watch};

use super::abs_capture_time::{self, CaptureTimeWriter};
use super::events::{PipelineEvent, forward_bus};
use super::negotiate::NegotiationError;
use super::outlet::Outlet;
use super::relays::Relays;
use super::session::{self, Session, SessionEvent, SessionStream, SharedClock};
use crate::audio::{self, VoiceInput};
use crate::chain::{ChainError, EncoderControl, VideoChain};
use crate::congestion::Feedback;
use crate::elements::{self, ElementError};
use crate::encoder;
use crate::latency::frames::Point;
use crate::latency::probes::FrameTimer;
use crate::settings::{VideoCodec, VideoSettings};
use crate::source::{CameraPhotos, CameraState, FullSizeFrames, PhotoMode, SourceSpec};

/// RTP payload type of the video stream.
pub const VIDEO_PAYLOAD: i32 = 96;
/// RTP payload type of the Opus stream.
pub const AUDIO_PAYLOAD: i32 = 111;
/// Header extension ID of the transport-wide sequence number (TWCC).
pub const TWCC_EXTENSION_ID: u32 = 1;
/// The transport-wide congestion control header extension.
pub const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// Header extension ID of the audio level (RFC 6464) on the Opus stream;
/// unique in the bundle, as every ID here.
pub const AUDIO_LEVEL_EXTENSION_ID: u32 = 2;
/// The client-to-mixer audio level header extension (RFC 6464).
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// How long the source may take to deliver its first encoded frame. A UVC
/// camera can take a second or two to start streaming.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the microphone's first packet once video runs.
const FIRST_AUDIO_TIMEOUT: Duration = Duration::from_secs(2);

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// The video source.
    pub source: SourceSpec,
    /// Video size, rate, codec and bitrate.
    pub video: VideoSettings,
    /// How a camera takes photos.
    pub photo_mode: PhotoMode,
    /// The voice to send: the microphone (skipped quietly when there is
    /// none), a test sound, or nothing.
    pub audio: VoiceInput,
    /// The talk-back playout's channel of what it plays, which the
    /// microphone's echo canceller takes out; `None` without talk-back.
    pub echo_reference: Option<String>,
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
    /// Linking the stream failed.
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

/// Something the publisher reports.
#[derive(Debug, Clone)]
pub enum PublisherEvent {
    /// The capture pipeline failed: nothing more can be sent.
    Capture(PipelineEvent),
    /// The current session reported something.
    Session(SessionEvent),
}

/// A built publisher: the capture pipeline, and a session when connected.
#[derive(Debug)]
pub struct Publisher {
    pipeline: gst::Pipeline,
    video: Outlet,
    audio: Option<Outlet>,
    codec: VideoCodec,
    encoder: Option<&'static str>,
    ice_addresses: Vec<IpAddr>,
    events: mpsc::UnboundedReceiver<PipelineEvent>,
    session: Option<Session>,
    feedback_tx: mpsc::UnboundedSender<Feedback>,
    feedback_rx: Option<mpsc::UnboundedReceiver<Feedback>>,
    started: bool,
    timer: FrameTimer,
    control: Option<EncoderControl>,
    full_size_frames: FullSizeFrames,
    camera_photos: Option<CameraPhotos>,
    /// Whether the camera delivers pictures.
    camera_state: Option<watch::Receiver<CameraState>>,
    capture_time: CaptureTimeWriter,
    publishing: Arc<AtomicBool>,
}

impl Publisher {
    /// Builds the capture pipeline (not started yet).
    pub fn build(options: &PublisherOptions) -> Result<Self, PublishError> {
        let chain =
            VideoChain::with_photo_mode(&options.source, &options.video, options.photo_mode)?;
        let pipeline = gst::Pipeline::with_name("publisher");
        let video_payloader = video_payloader(chain.codec)?;
        let video = Outlet::new("video");
        pipeline
            .add_many([
                chain.bin.upcast_ref::<gst::Element>(),
                &video_payloader,
                &video.element(),
            ])
            .map_err(|e| PublishError::Link(e.to_string()))?;
        gst::Element::link_many([
            chain.bin.upcast_ref::<gst::Element>(),
            &video_payloader,
            &video.element(),
        ])
        .map_err(|e| PublishError::Link(e.to_string()))?;
        let payloaded = video_payloader
            .static_pad("src")
            .ok_or_else(|| PublishError::Link("payloader has no src pad".into()))?;
        let capture_time = CaptureTimeWriter::attach(&payloaded);
        chain.timer.add_point(Point::Payloaded);
        chain.timer.attach(Point::Payloaded, &payloaded);

        let audio = if options.audio == VoiceInput::Off {
            tracing::info!("audio disabled (--no-audio or audio = false)");
            None
        } else {
            add_microphone(&pipeline, options.audio, options.echo_reference.as_deref())?
        };

        let events = forward_bus(&pipeline);
        let (feedback_tx, feedback_rx) = mpsc::unbounded_channel();
        Ok(Self {
            pipeline,
            video,
            audio,
            codec: chain.codec,
            encoder: chain.encoder,
            ice_addresses: options.ice_addresses.clone(),
            events,
            session: None,
            feedback_tx,
            feedback_rx: Some(feedback_rx),
            started: false,
            timer: chain.timer,
            control: chain.control,
            full_size_frames: chain.full_size_frames,
            camera_photos: chain.camera_photos,
            camera_state: chain.camera_state,
            capture_time,
            publishing: Arc::default(),
        })
    }

    /// Starts the camera and the encoder and waits for the first encoded
    /// frame. Idempotent.
    pub async fn start(&mut self) -> Result<(), PublishError> {
        if self.started {
            return Ok(());
        }
        if self.pipeline.set_state(gst::State::Playing).is_err() {
            let detail = self
                .events
                .try_recv()
                .map(|e| e.to_string())
                .unwrap_or_else(|_| "no detail on the bus".into());
            return Err(PublishError::Start(detail));
        }
        tokio::select! {
            caps = self.video.wait_for_caps(FIRST_FRAME_TIMEOUT) => {
                if caps.is_none() {
                    return Err(PublishError::NoVideo(FIRST_FRAME_TIMEOUT));
                }
            }
            Some(event) = self.events.recv() => return Err(PublishError::Pipeline(event)),
        }
        if let Some(audio) = &self.audio
            && audio.wait_for_caps(FIRST_AUDIO_TIMEOUT).await.is_none()
        {
            tracing::warn!("the microphone delivered nothing; sending video only");
            self.audio = None;
        }
        self.started = true;
        Ok(())
    }

    /// Replaces the current session (if any) with a new one that may use
    /// `relays`, and returns its SDP offer; starts the capture pipeline
    /// first if needed.
    pub async fn open_session(&mut self, relays: &Relays) -> Result<String, PublishError> {
        self.start().await?;
        self.close_session();
        let mut streams = Vec::new();
        for (outlet, codec) in [
            (Some(&self.video), Some(self.codec)),
            (self.audio.as_ref(), None),
        ] {
            let Some(outlet) = outlet else { continue };
            let Some(caps) = outlet.caps() else { continue };
            streams.push(SessionStream {
                outlet: outlet.clone(),
                codec_preferences: session::codec_preferences(&caps, codec),
                caps,
            });
        }
        let clock = SharedClock {
            clock: self
                .pipeline
                .clock()
                .ok_or_else(|| PublishError::Start("the capture pipeline has no clock".into()))?,
            base_time: self.pipeline.base_time().ok_or_else(|| {
                PublishError::Start("the capture pipeline has no base time".into())
            })?,
        };
        let mut session = Session::build(
            &streams,
            &self.ice_addresses,
            relays,
            &clock,
            self.feedback_tx.clone(),
        )?;
        let offer = tokio::select! {
            offer = session.start_and_offer() => offer?,
            Some(event) = self.events.recv() => return Err(PublishError::Pipeline(event)),
        };
        self.session = Some(session);
        Ok(offer)
    }

    /// Starts (if needed) and opens a first session without relays: the
    /// offer to post.
    pub async fn start_and_offer(&mut self) -> Result<String, PublishError> {
        self.open_session(&Relays::default()).await
    }

    /// Applies the gateway's answer; media flows once ICE and DTLS connect.
    /// When the answer accepts abs-capture-time, every video packet carries
    /// its frame's capture time from now on.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), PublishError> {
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| PublishError::Start("no session to apply the answer to".into()))?;
        session.accept_answer(sdp).await?;
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

    /// The source's newest frame at its own size (a recording's), for stills.
    pub fn full_size_frames(&self) -> &FullSizeFrames {
        &self.full_size_frames
    }

    /// Whether the source delivers pictures (for the nurse's screen);
    /// `None` when the camera's H.264 is passed through unsupervised.
    pub fn camera_state(&self) -> Option<watch::Receiver<CameraState>> {
        self.camera_state.clone()
    }

    /// Photos from the camera, when the source is one delivering raw video.
    pub fn camera_photos(&self) -> Option<&CameraPhotos> {
        self.camera_photos.as_ref()
    }

    /// Whether video packets carry abs-capture-time.
    pub fn sends_capture_time(&self) -> bool {
        self.capture_time.is_enabled()
    }

    /// Set once a gateway's answer is applied and media may flow.
    pub fn publishing(&self) -> Arc<AtomicBool> {
        self.publishing.clone()
    }

    /// The abs-capture-time stamper of the video packets.
    pub fn capture_time_writer(&self) -> &CaptureTimeWriter {
        &self.capture_time
    }

    /// Ends the current session's pipeline (not the WHIP resource: that is
    /// the caller's `DELETE`). The camera keeps running.
    pub fn close_session(&mut self) {
        if let Some(session) = self.session.take() {
            session.stop();
        }
    }

    /// The current session, if one is open.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The next thing to act on: the capture pipeline failing (a failing
    /// microphone is only logged: video goes on without it), or an event of
    /// the current session. A session that connects gets a keyframe at once.
    pub async fn next_event(&mut self) -> Option<PublisherEvent> {
        loop {
            let session = &mut self.session;
            let session_event = async {
                match session.as_mut() {
                    Some(session) => session.next_event().await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                event = self.events.recv() => PublisherEvent::Capture(event?),
                Some(event) = session_event => PublisherEvent::Session(event),
            };
            match &event {
                PublisherEvent::Capture(PipelineEvent::Error { element, .. })
                    if element.contains(&format!("/{}/", audio::CHAIN_NAME)) =>
                {
                    tracing::warn!(?event, "the microphone failed; continuing with video only");
                    continue;
                }
                PublisherEvent::Session(SessionEvent::Connected) => self.request_keyframe(),
                _ => {}
            }
            return Some(event);
        }
    }

    /// The congestion feedback of every session, in order; there is one
    /// receiver, taken once.
    pub fn take_feedback(&mut self) -> Option<mpsc::UnboundedReceiver<Feedback>> {
        self.feedback_rx.take()
    }

    /// Asks the encoder for a keyframe now.
    pub fn request_keyframe(&self) {
        let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        self.video.send_upstream(event);
    }

    /// Sets the video encoder's target bitrate, in bits per second. Returns
    /// false when the encoder cannot change it while running (or when the
    /// camera's own H.264 is passed through).
    pub fn set_video_bitrate(&self, bps: u64) -> bool {
        self.video_encoder()
            .is_some_and(|element| encoder::set_bitrate(&element, bps))
    }

    /// The video encoder element, `None` for camera H.264 passthrough.
    pub fn video_encoder(&self) -> Option<gst::Element> {
        self.pipeline.by_name(encoder::ENCODER_NAME)
    }

    /// Stops everything (state Null).
    pub fn stop(&mut self) {
        self.close_session();
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    /// The capture pipeline.
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The current session's webrtcbin.
    pub fn webrtcbin(&self) -> Option<&gst::Element> {
        self.session.as_ref().map(Session::webrtcbin)
    }

    /// The encoder element used, `None` for camera H.264 passthrough.
    pub fn encoder(&self) -> Option<&'static str> {
        self.encoder
    }

    /// Whether a microphone is being sent.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn video_payloader(codec: VideoCodec) -> Result<gst::Element, ElementError> {
    let pay = match codec {
        VideoCodec::H264 => {
            let pay = elements::make_named("rtph264pay", Some("video-pay"))?;
            // SPS/PPS with every keyframe, and in the same packet as the
            // first slice (STAP-A) without waiting for the next frame.
            pay.set_property("config-interval", -1i32);
            elements::set_property_str(&pay, "aggregate-mode", "zero-latency")?;
            pay
        }
        VideoCodec::Vp8 => {
            let pay = elements::make_named("rtpvp8pay", Some("video-pay"))?;
            elements::set_property_str(&pay, "picture-id-mode", "15-bit")?;
            pay
        }
    };
    pay.set_property("pt", VIDEO_PAYLOAD as u32);
    add_transport_wide_cc(&pay)?;
    Ok(pay)
}

/// Reserves the transport-wide sequence number in every packet the
/// payloader makes; webrtcbin's RTP session fills it in as the packet
/// leaves, and the gateway's feedback refers to it.
fn add_transport_wide_cc(payloader: &gst::Element) -> Result<(), ElementError> {
    add_extension(payloader, TWCC_URI, TWCC_EXTENSION_ID, "rtphdrexttwcc")
}

/// Has the payloader write header extension `uri` (element `factory`)
/// under `id`; the payloader's caps then carry `extmap-<id>`, which
/// webrtcbin offers as `a=extmap`.
fn add_extension(
    payloader: &gst::Element,
    uri: &str,
    id: u32,
    factory: &str,
) -> Result<(), ElementError> {
    let extension = gstreamer_rtp::RTPHeaderExtension::create_from_uri(uri)
        .ok_or_else(|| elements::missing(factory))?;
    extension.set_id(id);
    payloader.emit_by_name::<()>("add-extension", &[&extension]);
    Ok(())
}

/// Each Opus packet carries its loudness, from the `GstAudioLevelMeta` of
/// its frame (see [`audio`]): the gateway reads who is speaking from it.
fn add_audio_level(payloader: &gst::Element) -> Result<(), ElementError> {
    add_extension(
        payloader,
        AUDIO_LEVEL_URI,
        AUDIO_LEVEL_EXTENSION_ID,
        "rtphdrextclientaudiolevel",
    )
}

/// Adds voice → Opus → RTP → outlet to the pipeline. Returns the outlet,
/// or `None` when there is no working microphone (video goes on alone).
fn add_microphone(
    pipeline: &gst::Pipeline,
    input: VoiceInput,
    echo_reference: Option<&str>,
) -> Result<Option<Outlet>, PublishError> {
    let bin = match audio::microphone_chain(input, echo_reference) {
        Ok(Some(bin)) => bin,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "audio unavailable; sending video only");
            return Ok(None);
        }
    };
    let pay = elements::make_named("rtpopuspay", Some("audio-pay"))?;
    pay.set_property("pt", AUDIO_PAYLOAD as u32);
    add_transport_wide_cc(&pay)?;
    add_audio_level(&pay)?;
    let outlet = Outlet::new("audio");
    let chain = [bin.upcast_ref::<gst::Element>(), &pay, &outlet.element()];
    pipeline
        .add_many(chain)
        .map_err(|e| PublishError::Link(e.to_string()))?;
    gst::Element::link_many(chain).map_err(|e| PublishError::Link(e.to_string()))?;
    Ok(Some(outlet))
}
