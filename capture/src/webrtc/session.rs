//! One WHIP session's network half: an `appsrc` per stream → webrtcbin, in a
//! pipeline of its own.
//!
//! A session is cheap to throw away and build again: the camera, encoder and
//! payloaders keep running in the capture pipeline while the daemon
//! reconnects (see [`super::outlet`]). The session shares the capture
//! pipeline's clock and base time, so buffer timestamps mean the same in both.
//!
//! What the session learns from the gateway comes out as [`SessionEvent`]s
//! (connected, failed, errors) and as congestion feedback on the channel the
//! publisher gave it: transport-wide feedback (TWCC), the gateway's cap for
//! its viewers (REMB). Any RTCP from the gateway also counts as a sign of
//! life ([`Session::silent_for`]).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::mpsc;

use super::abs_capture_time;
use super::events::{PipelineEvent, log_state_changes, on_bus_events};
use super::feedback;
use super::negotiate::{self, NegotiationError};
use super::outlet::Outlet;
use super::relays::Relays;
use crate::congestion::Feedback;
use crate::settings::VideoCodec;

/// Longest wait for the first packet of each stream before the offer.
const STREAM_CAPS_TIMEOUT: Duration = Duration::from_secs(1);

/// Something the session reports about its connection.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// ICE and DTLS are up: media reaches the gateway.
    Connected,
    /// webrtcbin gave the connection up (ICE or DTLS failed, or closed).
    Failed(&'static str),
    /// An element of the session pipeline failed.
    Error(PipelineEvent),
}

/// A stream to send in the session: where it comes from, what it is.
#[derive(Debug, Clone)]
pub struct SessionStream {
    /// The capture pipeline's exit for this stream.
    pub outlet: Outlet,
    /// The RTP caps the payloader produces.
    pub caps: gst::Caps,
    /// What to announce in the offer: the codec, its feedback, extensions.
    pub codec_preferences: gst::Caps,
}

/// A built session (the offer not yet made).
pub struct Session {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    streams: Vec<SessionStream>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    last_heard: Arc<Mutex<Option<Instant>>>,
    retransmitters: Arc<Mutex<Vec<gst::Element>>>,
    gather_timeout: Duration,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pipeline", &self.pipeline.name())
            .finish_non_exhaustive()
    }
}

/// Where the session's clock comes from: the capture pipeline's.
#[derive(Debug, Clone)]
pub struct SharedClock {
    /// The capture pipeline's clock.
    pub clock: gst::Clock,
    /// The capture pipeline's base time.
    pub base_time: gst::ClockTime,
}

impl Session {
    /// Builds a session for `streams` (not started), with ICE on `pinned`
    /// addresses (all when empty) and the gateway's `relays`. Feedback goes
    /// to `feedback`.
    pub fn build(
        streams: &[SessionStream],
        pinned: &[IpAddr],
        relays: &Relays,
        clock: &SharedClock,
        feedback: mpsc::UnboundedSender<Feedback>,
    ) -> Result<Self, NegotiationError> {
        let webrtcbin = negotiate::new_webrtcbin("webrtc", pinned)?;
        // Before any stream exists: webrtcbin's ICE agent reads the
        // servers when a stream is added.
        relays.apply(&webrtcbin, pinned);
        let pipeline = gst::Pipeline::with_name("session");
        pipeline.use_clock(Some(&clock.clock));
        pipeline.set_start_time(gst::ClockTime::NONE);
        pipeline.set_base_time(clock.base_time);
        pipeline
            .add(&webrtcbin)
            .map_err(|e| NegotiationError::SetLocal(e.to_string()))?;

        let last_heard = Arc::new(Mutex::new(None));
        let retransmitters = Arc::new(Mutex::new(Vec::new()));
        watch_rtp_session(&webrtcbin, &feedback, &last_heard, &retransmitters);

        for stream in streams {
            let appsrc = gst_app::AppSrc::builder()
                .name(format!("{}-rtp-in", stream.outlet.name()))
                .caps(&stream.caps)
                .is_live(true)
                .format(gst::Format::Time)
                // Packets made before the session connects are old news by
                // the time it does; keep a few, drop the oldest.
                .max_buffers(64)
                .leaky_type(gst_app::AppLeakyType::Downstream)
                .block(false)
                .build();
            pipeline
                .add(&appsrc)
                .map_err(|e| NegotiationError::SetLocal(e.to_string()))?;
            let transceiver = link_sendonly(&appsrc, &webrtcbin)?;
            transceiver.set_codec_preferences(Some(&stream.codec_preferences));
            relay_upstream(&appsrc, &stream.outlet, &feedback, &last_heard);
            stream.outlet.attach(&appsrc);
        }

        let (tx, events) = mpsc::unbounded_channel();
        forward_errors(&pipeline, tx.clone());
        report_connection(&webrtcbin, tx);
        log_state_changes(&webrtcbin, "gateway");

        Ok(Self {
            pipeline,
            webrtcbin,
            streams: streams.to_vec(),
            events,
            last_heard,
            retransmitters,
            gather_timeout: relays.gather_timeout(),
        })
    }

    /// Starts the pipeline and returns the SDP offer with its candidates.
    pub async fn start_and_offer(&mut self) -> Result<String, NegotiationError> {
        self.pipeline.set_state(gst::State::Playing).map_err(|_| {
            NegotiationError::SetLocal("the session pipeline would not start".into())
        })?;
        // webrtcbin describes a stream from the caps that reached its sink
        // pad (SSRC, H.264 parameter sets); the next packet brings them.
        let deadline = Instant::now() + STREAM_CAPS_TIMEOUT;
        while Instant::now() < deadline && !self.all_streams_have_caps() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        negotiate::make_offer(&self.webrtcbin, self.gather_timeout).await
    }

    fn all_streams_have_caps(&self) -> bool {
        self.webrtcbin
            .sink_pads()
            .iter()
            .all(|pad| pad.current_caps().is_some())
    }

    /// Applies the gateway's answer; media flows once ICE and DTLS connect.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), NegotiationError> {
        negotiate::apply_answer(&self.webrtcbin, sdp).await
    }

    /// The next thing the session has to report.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// How long nothing has come back from the gateway (no RTCP of any
    /// kind); `None` until the first RTCP arrives.
    pub fn silent_for(&self, now: Instant) -> Option<Duration> {
        self.last_heard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| now.saturating_duration_since(t))
    }

    /// Keeps sent video packets for retransmission this long (the RTX
    /// sender's history). Sized from the round trip by the caller.
    pub fn set_retransmission_window(&self, window: Duration) {
        let ms = u32::try_from(window.as_millis()).unwrap_or(u32::MAX);
        for rtx in self
            .retransmitters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            rtx.set_property("max-size-time", ms);
            rtx.set_property("max-size-packets", 0u32);
        }
    }

    /// The round trip to the gateway from its receiver reports, if known.
    pub async fn round_trip_time(&self) -> Option<Duration> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let promise = gst::Promise::with_change_func(move |reply| {
            let _ = tx.send(reply.ok().flatten().map(|s| s.to_owned()));
        });
        self.webrtcbin
            .emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
        let stats = tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .ok()?
            .ok()??;
        feedback::round_trip_time(&stats)
    }

    /// The webrtcbin element.
    pub fn webrtcbin(&self) -> &gst::Element {
        &self.webrtcbin
    }

    /// Stops the pipeline; the outlets drop packets from now on.
    pub fn stop(&self) {
        for stream in &self.streams {
            stream.outlet.detach();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Links `appsrc` to a new webrtcbin sink pad and makes its transceiver
/// send-only, with retransmission (RTX) for NACKs.
fn link_sendonly(
    appsrc: &gst_app::AppSrc,
    webrtcbin: &gst::Element,
) -> Result<gst_webrtc::WebRTCRTPTransceiver, NegotiationError> {
    let link_error =
        |why: String| NegotiationError::SetLocal(format!("cannot link a stream: {why}"));
    let sink = webrtcbin
        .request_pad_simple("sink_%u")
        .ok_or_else(|| link_error("webrtcbin gave no sink pad".into()))?;
    let src = appsrc
        .static_pad("src")
        .ok_or_else(|| link_error("appsrc has no src pad".into()))?;
    src.link(&sink).map_err(|e| link_error(format!("{e:?}")))?;
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    transceiver.set_direction(gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
    // Keep sent packets and answer the gateway's NACKs with RTX.
    transceiver.set_property("do-nack", true);
    Ok(transceiver)
}

/// Handles upstream events webrtcbin sends towards a stream's `appsrc`: a
/// keyframe request goes on to the encoder, transport-wide feedback to the
/// congestion controller.
fn relay_upstream(
    appsrc: &gst_app::AppSrc,
    outlet: &Outlet,
    feedback_tx: &mpsc::UnboundedSender<Feedback>,
    last_heard: &Arc<Mutex<Option<Instant>>>,
) {
    let Some(pad) = appsrc.static_pad("src") else {
        return;
    };
    let outlet = outlet.clone();
    let feedback_tx = feedback_tx.clone();
    let last_heard = last_heard.clone();
    // The probe only looks: the events go on to the appsrc, which ignores
    // them. (Dropping them here makes GStreamer 1.22 unref them twice.)
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        let Some(event) = info.event() else {
            return gst::PadProbeReturn::Ok;
        };
        if gstreamer_video::ForceKeyUnitEvent::is(event) {
            outlet.send_upstream(event.clone());
            return gst::PadProbeReturn::Ok;
        }
        if let Some(packets) = event.structure().and_then(feedback::transport_wide) {
            *last_heard.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            if !packets.is_empty() {
                let _ = feedback_tx.send(Feedback::Transport(packets));
            }
            return gst::PadProbeReturn::Ok;
        }
        gst::PadProbeReturn::Ok
    });
}

/// Connects to the RTP session inside webrtcbin once it exists: every RTCP
/// packet from the gateway is a sign of life; REMB carries the gateway's cap;
/// the RTX sender is kept so its history can be sized.
fn watch_rtp_session(
    webrtcbin: &gst::Element,
    feedback_tx: &mpsc::UnboundedSender<Feedback>,
    last_heard: &Arc<Mutex<Option<Instant>>>,
    retransmitters: &Arc<Mutex<Vec<gst::Element>>>,
) {
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    let feedback_tx = feedback_tx.clone();
    let last_heard = last_heard.clone();
    let retransmitters = retransmitters.clone();
    bin.connect_deep_element_added(move |_, _, element| {
        let factory = element
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        match factory.as_str() {
            "rtprtxsend" => retransmitters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(element.clone()),
            "rtpsession" => {
                let Some(session) =
                    element.property::<Option<gst::glib::Object>>("internal-session")
                else {
                    return;
                };
                let heard = last_heard.clone();
                session.connect("on-receiving-rtcp", false, move |_| {
                    *heard.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    None
                });
                let tx = feedback_tx.clone();
                session.connect("on-feedback-rtcp", false, move |values| {
                    if let Some(bps) = feedback::receiver_maximum(values) {
                        let _ = tx.send(Feedback::ReceiverMaximum(bps));
                    }
                    None
                });
            }
            _ => {}
        }
    });
}

/// Reports every error on a session pipeline's bus as [`SessionEvent::Error`].
pub(crate) fn forward_errors(pipeline: &gst::Pipeline, tx: mpsc::UnboundedSender<SessionEvent>) {
    on_bus_events(pipeline, move |event| {
        let _ = tx.send(SessionEvent::Error(event));
    });
}

/// Reports connection state changes that matter to the daemon.
pub(crate) fn report_connection(webrtcbin: &gst::Element, tx: mpsc::UnboundedSender<SessionEvent>) {
    webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
        use gst_webrtc::WebRTCPeerConnectionState as S;
        let event = match bin.property::<S>("connection-state") {
            S::Connected => SessionEvent::Connected,
            S::Failed => SessionEvent::Failed("the connection to the gateway failed"),
            S::Closed => SessionEvent::Failed("the connection to the gateway was closed"),
            _ => return,
        };
        let _ = tx.send(event);
    });
}

/// The codec the offer announces for a stream, taken from what its payloader
/// actually produces (so profile-level-id matches the encoder's real level),
/// with the feedback the gateway may send: NACK, PLI, FIR, transport-wide
/// congestion control; and the payloader's header extensions, plus
/// abs-capture-time for video (stamped once the gateway accepts it).
pub fn codec_preferences(payloader_caps: &gst::Caps, codec: Option<VideoCodec>) -> gst::Caps {
    let keep: &[&str] = match codec {
        Some(VideoCodec::H264) => &[
            "media",
            "encoding-name",
            "payload",
            "clock-rate",
            "packetization-mode",
            "profile-level-id",
        ],
        Some(VideoCodec::Vp8) => &["media", "encoding-name", "payload", "clock-rate"],
        None => &[
            "media",
            "encoding-name",
            "payload",
            "clock-rate",
            "encoding-params",
        ],
    };
    let mut out = gst::Structure::new_empty("application/x-rtp");
    if let Some(s) = payloader_caps.structure(0) {
        for (name, value) in s.iter() {
            if keep.contains(&name.as_str()) || name.starts_with("extmap-") {
                out.set_value(name, value.clone());
            }
        }
    }
    if codec.is_some() {
        out.set("rtcp-fb-nack", true);
        out.set("rtcp-fb-nack-pli", true);
        out.set("rtcp-fb-ccm-fir", true);
        // webrtcbin writes `extmap-N` fields as `a=extmap:N <uri>`.
        out.set(
            format!("extmap-{}", abs_capture_time::OFFERED_ID).as_str(),
            abs_capture_time::URI,
        );
    }
    out.set("rtcp-fb-transport-cc", true);
    gst::Caps::builder_full().structure(out).build()
}
