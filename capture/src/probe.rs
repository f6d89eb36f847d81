//! A WHEP viewer that decodes what it receives and reports on it.
//!
//! Used by the gateway's integration tests and the bench suite to check that
//! video published into a room really arrives, decodes, and how long the
//! first frame takes:
//!
//! ```no_run
//! # async fn demo() -> Result<(), samsyn_capture::probe::ProbeError> {
//! use std::time::Duration;
//! use samsyn_capture::probe::{ProbeOptions, ProbeViewer};
//!
//! let url = url::Url::parse("http://127.0.0.1:8080/whep/ward7").unwrap();
//! let mut viewer = ProbeViewer::start(ProbeOptions::new(url, "viewer-token")).await?;
//! let report = viewer.wait_frames(30, Duration::from_secs(10)).await?;
//! println!("{}x{} after {:?}", report.width, report.height, report.first_frame_after);
//! viewer.stop().await?;
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::{mpsc, watch};
use url::Url;

use crate::elements::{self, ElementError};
use crate::gateway_tls::{GatewayTrust, TrustError};
use crate::webrtc::{self, NegotiationError, PipelineEvent, ice};
use crate::whip::{Session, SessionKind, WhipClient, WhipError};

/// Payload type offered for H.264.
const H264_PAYLOAD: i32 = 96;

/// Where and how to view.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The WHEP endpoint, e.g. `http://127.0.0.1:8080/whep/ward7`.
    pub whep_url: Url,
    /// Viewer token for that room.
    pub token: String,
    /// Local addresses ICE is restricted to. Empty: 127.0.0.1 when the URL's
    /// host is loopback, otherwise all interfaces (the publisher's rule).
    pub ice_addresses: Vec<IpAddr>,
    /// How the gateway's certificate is checked (system roots by default).
    pub trust: GatewayTrust,
}

impl ProbeOptions {
    /// Options with ICE chosen by the usual rule.
    pub fn new(whep_url: Url, token: impl Into<String>) -> Self {
        Self {
            whep_url,
            token: token.into(),
            ice_addresses: Vec::new(),
            trust: GatewayTrust::SystemRoots,
        }
    }
}

/// What the probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport {
    /// Frames decoded so far.
    pub frames: u64,
    /// Width of the first decoded frame.
    pub width: u32,
    /// Height of the first decoded frame.
    pub height: u32,
    /// Time from the WHEP `POST` to the first decoded frame.
    pub first_frame_after: Duration,
}

/// The probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// An element is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Offer/answer failed.
    #[error(transparent)]
    Negotiation(#[from] NegotiationError),
    /// The WHEP exchange failed.
    #[error(transparent)]
    Whep(#[from] WhipError),
    /// The certificate settings cannot be used.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The pipeline would not start or broke.
    #[error("the probe viewer's pipeline failed: {0}")]
    Pipeline(String),
    /// Not enough frames in time.
    #[error("the probe viewer decoded {got} of {wanted} frames within {} ms", .timeout.as_millis())]
    Timeout {
        /// Frames decoded.
        got: u64,
        /// Frames wanted.
        wanted: u64,
        /// How long it waited.
        timeout: Duration,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct FrameStats {
    frames: u64,
    first: Option<(u32, u32, Duration)>,
}

/// A running WHEP viewer. Dropping it stops the pipeline but does not
/// `DELETE` the session; call [`ProbeViewer::stop`] for that.
#[derive(Debug)]
pub struct ProbeViewer {
    pipeline: gst::Pipeline,
    client: WhipClient,
    session: Option<Session>,
    stats: watch::Receiver<FrameStats>,
    events: mpsc::UnboundedReceiver<PipelineEvent>,
}

impl ProbeViewer {
    /// Builds the receiving pipeline, makes the WHEP exchange and starts
    /// decoding whatever arrives.
    pub async fn start(options: ProbeOptions) -> Result<Self, ProbeError> {
        elements::require_all(&[
            "rtph264depay",
            "h264parse",
            "avdec_h264",
            "videoconvert",
            "appsink",
        ])?;
        let pinned = ice::pinned_addresses(&options.ice_addresses, &options.whep_url);
        let webrtcbin = webrtc::new_webrtcbin("probe-webrtc", &pinned)?;
        let pipeline = gst::Pipeline::with_name("probe-viewer");
        pipeline
            .add(&webrtcbin)
            .map_err(|e| ProbeError::Pipeline(e.to_string()))?;

        webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
            "add-transceiver",
            &[
                &gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
                &h264_receive_caps(),
            ],
        );

        let (stats_tx, stats) = watch::channel(FrameStats::default());
        let posted_at = Arc::new(Mutex::new(Instant::now()));
        let stats_tx = Arc::new(stats_tx);
        webrtcbin.connect_pad_added({
            let pipeline = pipeline.downgrade();
            let posted_at = posted_at.clone();
            move |_, pad| {
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                if let Err(e) = attach_decoder(&pipeline, pad, stats_tx.clone(), posted_at.clone())
                {
                    gst::element_error!(
                        pipeline,
                        gst::CoreError::Negotiation,
                        ("cannot decode the received stream: {e}")
                    );
                }
            }
        });

        let events = webrtc::forward_bus(&pipeline);
        webrtc::log_state_changes(&webrtcbin, "probe");
        if pipeline.set_state(gst::State::Playing).is_err() {
            return Err(ProbeError::Pipeline("it would not start".into()));
        }

        let mut viewer = Self {
            pipeline,
            client: WhipClient::with_trust(SessionKind::View, options.token, &options.trust)?,
            session: None,
            stats,
            events,
        };
        let offer = webrtc::make_offer(&webrtcbin, webrtc::GATHER_TIMEOUT).await?;
        *posted_at.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let session = viewer.client.post_offer(&options.whep_url, &offer).await?;
        let answer = session.answer.clone();
        viewer.session = Some(session);
        webrtc::apply_answer(&webrtcbin, &answer).await?;
        Ok(viewer)
    }

    /// Waits until `n` frames have been decoded in total.
    pub async fn wait_frames(
        &mut self,
        n: u64,
        timeout: Duration,
    ) -> Result<ProbeReport, ProbeError> {
        let mut stats = self.stats.clone();
        let wait = stats.wait_for(|s| s.frames >= n && s.first.is_some());
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, wait) => r.ok().and_then(|r| r.ok()).map(|s| *s),
            Some(event) = self.events.recv() => return Err(ProbeError::Pipeline(event.to_string())),
        };
        match result.as_ref().and_then(report) {
            Some(report) => Ok(report),
            None => Err(ProbeError::Timeout {
                got: self.stats.borrow().frames,
                wanted: n,
                timeout,
            }),
        }
    }

    /// What has been decoded so far (`None` before the first frame).
    pub fn report(&self) -> Option<ProbeReport> {
        report(&self.stats.borrow())
    }

    /// Ends the WHEP session (`DELETE`) and stops the pipeline.
    pub async fn stop(mut self) -> Result<(), ProbeError> {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(session) = self.session.take() {
            self.client.delete(&session).await?;
        }
        Ok(())
    }
}

impl Drop for ProbeViewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn report(stats: &FrameStats) -> Option<ProbeReport> {
    stats.first.map(|(width, height, after)| ProbeReport {
        frames: stats.frames,
        width,
        height,
        first_frame_after: after,
    })
}

/// What the probe offers to receive: H.264 constrained baseline,
/// packetization-mode 1, any level (level-asymmetry-allowed), with PLI so the
/// gateway can ask the publisher for a keyframe on our behalf.
fn h264_receive_caps() -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "H264")
        .field("payload", H264_PAYLOAD)
        .field("clock-rate", 90_000i32)
        .field("packetization-mode", "1")
        .field("profile-level-id", "42e01f")
        .field("level-asymmetry-allowed", "1")
        .field("rtcp-fb-nack", true)
        .field("rtcp-fb-nack-pli", true)
        .field("rtcp-fb-ccm-fir", true)
        .build()
}

/// Links a new webrtcbin source pad to depayloader → decoder → appsink.
fn attach_decoder(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    stats: Arc<watch::Sender<FrameStats>>,
    posted_at: Arc<Mutex<Instant>>,
) -> Result<(), String> {
    if pad.direction() != gst::PadDirection::Src {
        return Ok(());
    }
    let encoding = pad
        .current_caps()
        .and_then(|c| {
            c.structure(0)
                .and_then(|s| s.get::<String>("encoding-name").ok())
        })
        .unwrap_or_default();
    if !encoding.eq_ignore_ascii_case("H264") {
        // Audio or anything else: drain it so webrtcbin is not blocked.
        tracing::debug!(%encoding, "probe ignores a non-H.264 stream");
        let sink = elements::make("fakesink").map_err(|e| e.to_string())?;
        sink.set_property("sync", false);
        pipeline.add(&sink).map_err(|e| e.to_string())?;
        sink.sync_state_with_parent().map_err(|e| e.to_string())?;
        let sink_pad = sink.static_pad("sink").ok_or("fakesink has no sink pad")?;
        return pad
            .link(&sink_pad)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"));
    }

    let appsink = gst_app::AppSink::builder()
        .name("probe-frames")
        .sync(false)
        .max_buffers(1)
        .drop(true)
        .build();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let after = posted_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .elapsed();
                let size = sample
                    .caps()
                    .and_then(|c| gstreamer_video::VideoInfo::from_caps(c).ok())
                    .map(|info| (info.width(), info.height()))
                    .unwrap_or((0, 0));
                stats.send_modify(|s| {
                    s.frames += 1;
                    if s.first.is_none() {
                        tracing::debug!(
                            width = size.0,
                            height = size.1,
                            ?after,
                            "probe decoded its first frame"
                        );
                        s.first = Some((size.0, size.1, after));
                    }
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );

    let chain = [
        elements::make("rtph264depay").map_err(|e| e.to_string())?,
        elements::make("h264parse").map_err(|e| e.to_string())?,
        elements::make("avdec_h264").map_err(|e| e.to_string())?,
        elements::make("videoconvert").map_err(|e| e.to_string())?,
        appsink.upcast(),
    ];
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(&chain).map_err(|e| e.to_string())?;
    for element in &chain {
        element
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
    }
    let sink_pad = chain[0]
        .static_pad("sink")
        .ok_or("depayloader has no sink pad")?;
    pad.link(&sink_pad)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}
