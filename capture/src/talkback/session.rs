//! One talk-back session: a WHEP receiver for the specialists' voices, in a
//! pipeline of its own, writing m-line k's audio into playout slot k.
//!
//! ```text
//! webrtcbin (TALKBACK_SLOTS recvonly Opus m-lines)
//!   └ m-line k ─▶ rtpopusdepay ─▶ opusdec (plc, fec) ─▶ audioconvert ─▶ audioresample ─▶ interaudiosink <prefix>-k
//! ```
//!
//! The offer holds only audio: one `recvonly` Opus 48000/2 m-line per slot,
//! BUNDLE and rtcp-mux as webrtcbin does for the uplink. The gateway
//! forwards each speaker on one m-line; unused m-lines carry nothing.

use std::net::IpAddr;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::mpsc;

use super::{TALKBACK_SLOTS, TalkbackError, slot_caps};
use crate::elements::{self, GstError};
use crate::webrtc::{self, Relays, SessionEvent};

/// RTP payload type offered for Opus (the browsers' usual one).
pub const OPUS_PAYLOAD: i32 = 111;
/// The receiving jitter buffer, ms: enough for a home line's jitter,
/// short enough for a conversation (webrtcbin's default is 200).
const JITTER_BUFFER_MS: u32 = 80;

/// A talk-back session's pipeline (WHEP exchange is the caller's).
pub struct TalkbackSession {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    events: mpsc::UnboundedReceiver<SessionEvent>,
    gather_timeout: Duration,
}

impl std::fmt::Debug for TalkbackSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalkbackSession")
            .field("pipeline", &self.pipeline.name())
            .finish_non_exhaustive()
    }
}

impl TalkbackSession {
    /// Builds a session whose m-line k plays into `slot_channels[k]`, with
    /// ICE on `pinned` addresses (all when empty) and the gateway's
    /// `relays`. Not started.
    pub fn build(
        slot_channels: Vec<String>,
        pinned: &[IpAddr],
        relays: &Relays,
    ) -> Result<Self, TalkbackError> {
        elements::require_all(&[
            "rtpopusdepay",
            "opusdec",
            "audioconvert",
            "audioresample",
            "interaudiosink",
        ])?;
        let webrtcbin = webrtc::new_webrtcbin("talkback-webrtc", pinned)?;
        // Before the transceivers: the ICE agent reads the servers when a
        // stream is added.
        relays.apply(&webrtcbin, pinned);
        webrtcbin.set_property("latency", JITTER_BUFFER_MS);
        let pipeline = gst::Pipeline::with_name("talkback-session");
        pipeline
            .add(&webrtcbin)
            .map_err(|e| TalkbackError::Assemble(e.to_string()))?;
        for _ in 0..TALKBACK_SLOTS {
            webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                "add-transceiver",
                &[
                    &gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
                    &opus_receive_caps(),
                ],
            );
        }
        webrtcbin.connect_pad_added({
            let pipeline = pipeline.downgrade();
            move |_, pad| {
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                if let Err(why) = play_into_slot(&pipeline, pad, &slot_channels) {
                    gst::element_error!(
                        pipeline,
                        gst::CoreError::Negotiation,
                        ("cannot play a specialist's voice: {why}")
                    );
                }
            }
        });

        let (tx, events) = mpsc::unbounded_channel();
        webrtc::forward_errors(&pipeline, tx.clone());
        webrtc::report_connection(&webrtcbin, tx);
        webrtc::log_state_changes(&webrtcbin, "talk-back");
        Ok(Self {
            pipeline,
            webrtcbin,
            events,
            gather_timeout: relays.gather_timeout(),
        })
    }

    /// Starts the pipeline and returns the SDP offer with its candidates.
    pub async fn start_and_offer(&mut self) -> Result<String, TalkbackError> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| TalkbackError::Start("the talk-back session would not start".into()))?;
        Ok(webrtc::make_offer(&self.webrtcbin, self.gather_timeout).await?)
    }

    /// Applies the gateway's answer; voices flow once ICE and DTLS connect.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), TalkbackError> {
        Ok(webrtc::apply_answer(&self.webrtcbin, sdp).await?)
    }

    /// The next thing the session has to report.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Stops the pipeline (the WHEP resource is the caller's `DELETE`).
    pub fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for TalkbackSession {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What each m-line offers to receive: Opus 48000/2 only, with in-band
/// forward error correction (a browser sends it when asked, and it hides
/// single lost packets on a lossy line).
pub fn opus_receive_caps() -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", OPUS_PAYLOAD)
        .field("clock-rate", 48_000i32)
        .field("encoding-params", "2")
        .field("useinbandfec", "1")
        .build()
}

/// Links a new webrtcbin source pad (m-line k) to the decoder chain that
/// writes into slot k's channel.
fn play_into_slot(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    slot_channels: &[String],
) -> Result<(), GstError> {
    if pad.direction() != gst::PadDirection::Src {
        return Ok(());
    }
    let slot = pad
        .property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
        .map(|t| t.mlineindex() as usize)
        .ok_or(GstError::unexpected("the stream has no transceiver"))?;
    let channel = slot_channels
        .get(slot)
        .ok_or_else(|| GstError::unexpected(format!("m-line {slot} has no playout slot")))?;
    let make = elements::make;
    let decoder = make("opusdec")?;
    // Conceal a lost packet instead of a click of silence; use the FEC the
    // next packet carries where it does.
    decoder.set_property("plc", true);
    decoder.set_property("use-inband-fec", true);
    let caps = make("capsfilter")?;
    caps.set_property("caps", slot_caps());
    let sink = make("interaudiosink")?;
    sink.set_property("channel", channel);
    let chain = [
        make("rtpopusdepay")?,
        decoder,
        make("audioconvert")?,
        make("audioresample")?,
        caps,
        sink,
    ];
    let sink_pad = elements::add_running_chain(pipeline, &chain)?;
    pad.link(&sink_pad).map_err(GstError::pad_link)?;
    tracing::debug!(slot, "a specialist's voice plays into its slot");
    Ok(())
}
