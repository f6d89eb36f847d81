//! A WHEP viewer that decodes what it receives and reports on it.
//!
//! Used by the gateway's integration tests, the capture crate's loopback
//! tests and `samsyn-bench latency` to check that video published into a
//! room really arrives, decodes, and how long the first frame takes. It
//! offers abs-capture-time, reads each packet's capture time on arrival and,
//! for every decoded frame, how long after its capture it was decoded:
//! glass-to-glass latency when the camera's clock is this machine's
//! ([`WhepViewer::latency`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), samsyn_testkit::whep_viewer::ViewerError> {
//! use std::time::Duration;
//! use samsyn_testkit::whep_viewer::{ViewerOptions, WhepViewer};
//!
//! let url = url::Url::parse("http://127.0.0.1:8080/whep/ward7").unwrap();
//! let mut viewer = WhepViewer::start(ViewerOptions::new(url, "viewer-token")).await?;
//! let report = viewer.wait_frames(30, Duration::from_secs(10)).await?;
//! println!("{}x{} after {:?}", report.width, report.height, report.first_frame_after);
//! viewer.stop().await?;
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::{mpsc, watch};
use url::Url;

use samsyn_capture::elements::{self, ElementError};
use samsyn_capture::gateway_tls::{GatewayTrust, TrustError};
use samsyn_capture::webrtc::abs_capture_time;
use samsyn_capture::webrtc::{self, NegotiationError, PipelineEvent, ice};
use samsyn_capture::whip::{Session, SessionKind, WhipClient, WhipError};

/// Payload type offered for H.264.
const H264_PAYLOAD: i32 = 96;

/// Where and how to view.
#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// The WHEP endpoint, e.g. `http://127.0.0.1:8080/whep/ward7`.
    pub whep_url: Url,
    /// Viewer token for that room.
    pub token: String,
    /// Local addresses ICE is restricted to. Empty: 127.0.0.1 when the URL's
    /// host is loopback, otherwise all interfaces (the publisher's rule).
    pub ice_addresses: Vec<IpAddr>,
    /// The receiving jitter buffer's latency, ms (webrtcbin's default 200;
    /// a browser on a clean network holds a few ms).
    pub jitter_buffer_ms: u32,
    /// How the gateway's certificate is checked (system roots by default).
    pub trust: GatewayTrust,
}

impl ViewerOptions {
    /// Options with ICE chosen by the usual rule.
    pub fn new(whep_url: Url, token: impl Into<String>) -> Self {
        Self {
            whep_url,
            token: token.into(),
            ice_addresses: Vec::new(),
            jitter_buffer_ms: 200,
            trust: GatewayTrust::SystemRoots,
        }
    }
}

/// What the viewer saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerReport {
    /// Frames decoded so far.
    pub frames: u64,
    /// Keyframes received so far.
    pub keyframes: u64,
    /// Bytes of video RTP packets received so far.
    pub video_bytes: u64,
    /// Width of the first decoded frame.
    pub width: u32,
    /// Height of the first decoded frame.
    pub height: u32,
    /// Time from the WHEP `POST` to the first decoded frame.
    pub first_frame_after: Duration,
}

/// The viewer failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
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
    #[error("the WHEP viewer's pipeline failed: {0}")]
    Pipeline(String),
    /// Not enough frames in time.
    #[error("the WHEP viewer decoded {got} of {wanted} frames within {} ms", .timeout.as_millis())]
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
    keyframes: u64,
    video_bytes: u64,
    first: Option<(u32, u32, Duration)>,
}

/// What the viewer's jitter buffer counted: packets that came in time, and
/// the ones it gave up on (lost, after asking for retransmission).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Packets passed on to the depayloader.
    pub pushed: u64,
    /// Packets given up as lost.
    pub lost: u64,
    /// Packets that came too late to be used.
    pub late: u64,
    /// Retransmissions the viewer asked for.
    pub retransmission_requests: u64,
    /// Of those, how many arrived in time.
    pub retransmissions_received: u64,
}

/// One received video packet that carried abs-capture-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSample {
    /// Its RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
    /// The capture time it carried.
    pub captured: SystemTime,
    /// When it arrived here (after the jitter buffer).
    pub arrived: SystemTime,
}

/// What the viewer learned about capture times and latency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyReport {
    /// The extension ID negotiated for abs-capture-time (`None`: not negotiated).
    pub extension_id: Option<u8>,
    /// Video packets received.
    pub packets: u64,
    /// Of those, packets carrying abs-capture-time.
    pub packets_with_capture_time: u64,
    /// The last packets with a capture time, oldest first (at most 600).
    pub recent: Vec<CaptureSample>,
    /// For each decoded frame whose capture time was known: decoded-at minus
    /// captured-at (glass-to-glass without the screen), in order.
    pub glass_to_glass: Vec<Duration>,
    /// Decoded frames without a known capture time.
    pub frames_without_capture_time: u64,
}

const RECENT_SAMPLES: usize = 600;

#[derive(Debug, Default)]
struct LatencyState {
    report: LatencyReport,
    /// Capture time by buffer timestamp, for frames on their way to the decoder.
    pending: std::collections::VecDeque<(gst::ClockTime, SystemTime)>,
}

/// A running WHEP viewer. Dropping it stops the pipeline but does not
/// `DELETE` the session; call [`WhepViewer::stop`] for that.
#[derive(Debug)]
pub struct WhepViewer {
    pipeline: gst::Pipeline,
    client: WhipClient,
    session: Option<Session>,
    stats: watch::Receiver<FrameStats>,
    events: mpsc::UnboundedReceiver<PipelineEvent>,
    jitterbuffers: Arc<Mutex<Vec<gst::Element>>>,
    latency: Arc<Mutex<LatencyState>>,
}

impl WhepViewer {
    /// Builds the receiving pipeline, makes the WHEP exchange and starts
    /// decoding whatever arrives.
    pub async fn start(options: ViewerOptions) -> Result<Self, ViewerError> {
        elements::require_all(&[
            "rtph264depay",
            "h264parse",
            "avdec_h264",
            "videoconvert",
            "appsink",
        ])?;
        let pinned = ice::pinned_addresses(&options.ice_addresses, &options.whep_url);
        let client = WhipClient::with_trust(SessionKind::View, options.token, &options.trust)?;
        // The relays the gateway announces, as for the daemon's sessions: a
        // viewer on a network without UDP to the gateway watches through them.
        let relays = samsyn_capture::publish::relays_for(&client, &options.whep_url).await;
        let webrtcbin = webrtc::new_webrtcbin("viewer-webrtc", &pinned)?;
        relays.apply(&webrtcbin, &pinned);
        webrtcbin.set_property("latency", options.jitter_buffer_ms);
        let pipeline = gst::Pipeline::with_name("whep-viewer");
        pipeline
            .add(&webrtcbin)
            .map_err(|e| ViewerError::Pipeline(e.to_string()))?;

        let transceiver = webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
            "add-transceiver",
            &[
                &gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
                &h264_receive_caps(),
            ],
        );
        // Ask the gateway to resend what is lost on the way (NACK), as a
        // browser does.
        transceiver.set_property("do-nack", true);
        let jitterbuffers = Arc::new(Mutex::new(Vec::new()));
        keep_jitterbuffers(&webrtcbin, jitterbuffers.clone());

        let (stats_tx, stats) = watch::channel(FrameStats::default());
        let posted_at = Arc::new(Mutex::new(Instant::now()));
        let stats_tx = Arc::new(stats_tx);
        let latency = Arc::new(Mutex::new(LatencyState::default()));
        webrtcbin.connect_pad_added({
            let pipeline = pipeline.downgrade();
            let posted_at = posted_at.clone();
            let latency = latency.clone();
            move |_, pad| {
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                if let Err(e) = attach_decoder(
                    &pipeline,
                    pad,
                    stats_tx.clone(),
                    posted_at.clone(),
                    latency.clone(),
                ) {
                    gst::element_error!(
                        pipeline,
                        gst::CoreError::Negotiation,
                        ("cannot decode the received stream: {e}")
                    );
                }
            }
        });

        let events = webrtc::forward_bus(&pipeline);
        webrtc::log_state_changes(&webrtcbin, "viewer");
        if pipeline.set_state(gst::State::Playing).is_err() {
            return Err(ViewerError::Pipeline("it would not start".into()));
        }

        let mut viewer = Self {
            pipeline,
            client,
            session: None,
            stats,
            events,
            jitterbuffers,
            latency,
        };
        let offer = webrtc::make_offer(&webrtcbin, relays.gather_timeout()).await?;
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
    ) -> Result<ViewerReport, ViewerError> {
        let mut stats = self.stats.clone();
        let wait = stats.wait_for(|s| s.frames >= n && s.first.is_some());
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, wait) => r.ok().and_then(|r| r.ok()).map(|s| *s),
            Some(event) = self.events.recv() => return Err(ViewerError::Pipeline(event.to_string())),
        };
        match result.as_ref().and_then(report) {
            Some(report) => Ok(report),
            None => Err(ViewerError::Timeout {
                got: self.stats.borrow().frames,
                wanted: n,
                timeout,
            }),
        }
    }

    /// What has been decoded so far (`None` before the first frame).
    pub fn report(&self) -> Option<ViewerReport> {
        report(&self.stats.borrow())
    }

    /// The WHEP session's URL (its `Location`), once established.
    pub fn session_url(&self) -> Option<&Url> {
        self.session.as_ref().map(|s| &s.location)
    }

    /// What the jitter buffer counted so far (summed over its streams).
    pub fn receive_stats(&self) -> ReceiveStats {
        let mut total = ReceiveStats::default();
        for jitterbuffer in self
            .jitterbuffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let stats = jitterbuffer.property::<gst::Structure>("stats");
            let count = |field: &str| stats.get::<u64>(field).unwrap_or(0);
            total.pushed += count("num-pushed");
            total.lost += count("num-lost");
            total.late += count("num-late");
            total.retransmission_requests += count("rtx-count");
            total.retransmissions_received += count("rtx-success-count");
        }
        total
    }

    /// Capture times received and glass-to-glass latency so far.
    pub fn latency(&self) -> LatencyReport {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .report
            .clone()
    }

    /// Forgets the glass-to-glass samples so far (start of a measurement).
    pub fn reset_latency(&self) {
        let mut state = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        state.report.glass_to_glass.clear();
        state.report.frames_without_capture_time = 0;
    }

    /// Ends the WHEP session (`DELETE`) and stops the pipeline.
    pub async fn stop(mut self) -> Result<(), ViewerError> {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(session) = self.session.take() {
            self.client.delete(&session).await?;
        }
        Ok(())
    }
}

impl Drop for WhepViewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn report(stats: &FrameStats) -> Option<ViewerReport> {
    stats.first.map(|(width, height, after)| ViewerReport {
        frames: stats.frames,
        keyframes: stats.keyframes,
        video_bytes: stats.video_bytes,
        width,
        height,
        first_frame_after: after,
    })
}

/// Keeps the jitter buffers webrtcbin makes, for their statistics.
fn keep_jitterbuffers(webrtcbin: &gst::Element, keep: Arc<Mutex<Vec<gst::Element>>>) {
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    bin.connect_deep_element_added(move |_, _, element| {
        if element
            .factory()
            .is_some_and(|f| f.name() == "rtpjitterbuffer")
        {
            keep.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(element.clone());
        }
    });
}

/// What the viewer offers to receive: H.264 constrained baseline,
/// packetization-mode 1, any level (level-asymmetry-allowed), with PLI so the
/// gateway can ask the publisher for a keyframe on our behalf, NACK, and
/// transport-wide feedback (TWCC) so the gateway can estimate this link.
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
        .field("rtcp-fb-transport-cc", true)
        .field(
            format!("extmap-{}", webrtc::TWCC_EXTENSION_ID),
            webrtc::TWCC_URI,
        )
        .field(
            format!("extmap-{}", abs_capture_time::OFFERED_ID).as_str(),
            abs_capture_time::URI,
        )
        .build()
}

/// Counts the RTP payload entering `depay` and the keyframes leaving `parse`.
fn count_received(
    depay: &gst::Element,
    parse: &gst::Element,
    stats: Arc<watch::Sender<FrameStats>>,
) {
    if let Some(pad) = depay.static_pad("sink") {
        let stats = stats.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let bytes = buffer.size() as u64;
                stats.send_modify(|s| s.video_bytes += bytes);
            }
            gst::PadProbeReturn::Ok
        });
    }
    if let Some(pad) = parse.static_pad("src") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if info
                .buffer()
                .is_some_and(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
            {
                stats.send_modify(|s| s.keyframes += 1);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Links a new webrtcbin source pad to depayloader → decoder → appsink.
fn attach_decoder(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    stats: Arc<watch::Sender<FrameStats>>,
    posted_at: Arc<Mutex<Instant>>,
    latency: Arc<Mutex<LatencyState>>,
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
        tracing::debug!(%encoding, "viewer ignores a non-H.264 stream");
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

    let stats_counter = stats.clone();
    let extension_id = pad
        .current_caps()
        .and_then(|c| abs_capture_time::id_from_caps(&c));
    latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .report
        .extension_id = extension_id;
    let appsink = gst_app::AppSink::builder()
        .name("viewer-frames")
        .sync(false)
        .max_buffers(1)
        .drop(true)
        .build();
    let decoded_latency = latency.clone();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(pts) = sample.buffer().and_then(|b| b.pts()) {
                    frame_decoded(&decoded_latency, pts, SystemTime::now());
                }
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
                            "viewer decoded its first frame"
                        );
                        s.first = Some((size.0, size.1, after));
                    }
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );

    let depay = elements::make("rtph264depay").map_err(|e| e.to_string())?;
    // Ask for a keyframe (PLI) when the jitter buffer gives a packet up, as
    // a browser's decoder would.
    if depay.find_property("request-keyframe").is_some() {
        depay.set_property("request-keyframe", true);
    }
    let parse = elements::make("h264parse").map_err(|e| e.to_string())?;
    count_received(&depay, &parse, stats_counter.clone());
    let chain = [
        depay,
        parse,
        elements::make("avdec_h264").map_err(|e| e.to_string())?,
        elements::make("videoconvert").map_err(|e| e.to_string())?,
        appsink.upcast(),
    ];
    let sink_pad = elements::add_running_chain(pipeline, &chain).map_err(|e| e.to_string())?;
    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            packet_arrived(&latency, buffer, extension_id, SystemTime::now());
        }
        gst::PadProbeReturn::Ok
    });
    pad.link(&sink_pad)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Notes a video packet's capture time (if it carries one) on arrival.
fn packet_arrived(
    latency: &Mutex<LatencyState>,
    buffer: &gst::BufferRef,
    extension_id: Option<u8>,
    arrived: SystemTime,
) {
    let mut state = latency.lock().unwrap_or_else(|e| e.into_inner());
    state.report.packets += 1;
    let Some(ntp) = extension_id.and_then(|id| abs_capture_time::read(buffer, id)) else {
        return;
    };
    let captured = abs_capture_time::system_time_from_ntp(ntp);
    state.report.packets_with_capture_time += 1;
    let rtp_timestamp = gstreamer_rtp::RTPBuffer::from_buffer_readable(buffer)
        .map(|rtp| rtp.timestamp())
        .unwrap_or_default();
    let recent = &mut state.report.recent;
    recent.push(CaptureSample {
        rtp_timestamp,
        captured,
        arrived,
    });
    if recent.len() > RECENT_SAMPLES {
        recent.remove(0);
    }
    if let Some(pts) = buffer.pts()
        && state.pending.back().is_none_or(|(p, _)| *p != pts)
    {
        state.pending.push_back((pts, captured));
        while state.pending.len() > 64 {
            state.pending.pop_front();
        }
    }
}

/// A frame came out of the decoder: how long after its capture?
fn frame_decoded(latency: &Mutex<LatencyState>, pts: gst::ClockTime, decoded: SystemTime) {
    let mut state = latency.lock().unwrap_or_else(|e| e.into_inner());
    let found = state
        .pending
        .iter()
        .position(|(p, _)| p.nseconds().abs_diff(pts.nseconds()) < 1_000_000);
    match found {
        Some(index) => {
            let captured = state.pending[index].1;
            state.pending.drain(..=index);
            let age = decoded.duration_since(captured).unwrap_or_default();
            state.report.glass_to_glass.push(age);
        }
        None => state.report.frames_without_capture_time += 1,
    }
}
