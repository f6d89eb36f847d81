//! Offer, local description, ICE gathering and answer on a webrtcbin.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::Notify;

use super::ice::{self, PinError};
use super::sdp::Sdp;
use crate::elements::{self, ElementError};

/// How long to wait for ICE gathering before sending what was gathered.
/// Host candidates on pinned addresses take milliseconds; this only bounds
/// the wait when a STUN server or an interface is slow.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for webrtcbin to answer an offer/answer request.
const PROMISE_TIMEOUT: Duration = Duration::from_secs(10);

/// Offer/answer on webrtcbin failed.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    /// webrtcbin (or libnice) is missing.
    #[error(transparent)]
    Element(#[from] ElementError),
    /// An ICE address could not be pinned.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// webrtcbin could not create the offer.
    #[error("webrtcbin could not create an SDP offer: {0}")]
    Offer(String),
    /// webrtcbin rejected its own offer as local description.
    #[error("webrtcbin rejected the local description: {0}")]
    SetLocal(String),
    /// Gathering produced no candidate, so the peer could never connect.
    #[error(
        "ICE found no usable local address; if --ice-address is set, check each one is an \
         address of this machine (see `ip -brief address`)"
    )]
    NoCandidates,
    /// The gateway's answer is not SDP or does not match the offer.
    #[error("the gateway's SDP answer could not be applied: {0}")]
    Answer(String),
}

/// A webrtcbin with one BUNDLE group (all media on one transport, as the
/// gateway's single UDP port wants) and ICE pinned to `pinned` (all local
/// interfaces when empty).
pub fn new_webrtcbin(name: &str, pinned: &[IpAddr]) -> Result<gst::Element, NegotiationError> {
    // libnice provides webrtcbin's ICE; without it webrtcbin fails later
    // with a much less helpful message.
    elements::require_all(&["webrtcbin", "nicesrc", "nicesink"])?;
    let webrtcbin = elements::make_named("webrtcbin", Some(name))?;
    elements::set_property_str(&webrtcbin, "bundle-policy", "max-bundle")?;
    ice::udp_only(&webrtcbin);
    ice::pin(&webrtcbin, pinned)?;
    Ok(webrtcbin)
}

/// Creates an offer, sets it as local description, waits for ICE gathering
/// (at most `gather_timeout`) and returns the local SDP with its candidates.
pub async fn make_offer(
    webrtcbin: &gst::Element,
    gather_timeout: Duration,
) -> Result<String, NegotiationError> {
    let reply = promise_reply(|promise| {
        webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, promise]);
    })
    .await
    .map_err(NegotiationError::Offer)?
    .ok_or_else(|| NegotiationError::Offer("no reply".into()))?;
    if let Some(error) = reply_error(&reply) {
        return Err(NegotiationError::Offer(error));
    }
    let offer = reply
        .value("offer")
        .map_err(|e| NegotiationError::Offer(e.to_string()))?
        .get::<gst_webrtc::WebRTCSessionDescription>()
        .map_err(|e| NegotiationError::Offer(e.to_string()))?;

    // Subscribe before gathering starts (it starts with the local
    // description) so the "complete" notification cannot be missed.
    let gathered = Arc::new(Notify::new());
    let handler = webrtcbin.connect_notify(Some("ice-gathering-state"), {
        let gathered = gathered.clone();
        move |_, _| gathered.notify_one()
    });

    let set_local = promise_reply(|promise| {
        webrtcbin.emit_by_name::<()>("set-local-description", &[&offer, promise]);
    })
    .await;
    let result = match set_local {
        Ok(reply) => match reply.as_deref().and_then(reply_error) {
            Some(error) => Err(NegotiationError::SetLocal(error)),
            None => Ok(()),
        },
        Err(e) => Err(NegotiationError::SetLocal(e)),
    };
    if let Err(e) = result {
        webrtcbin.disconnect(handler);
        return Err(e);
    }

    wait_for_gathering(webrtcbin, &gathered, gather_timeout).await;
    webrtcbin.disconnect(handler);

    let sdp = local_sdp(webrtcbin)
        .ok_or_else(|| NegotiationError::SetLocal("no local description after offer".into()))?;
    tracing::debug!(sdp = %sdp, "local offer");
    let offer = Sdp::parse(&sdp)
        .map_err(|e| NegotiationError::SetLocal(format!("webrtcbin's own offer: {e}")))?;
    if !offer.has_candidates() {
        return Err(NegotiationError::NoCandidates);
    }
    Ok(sdp)
}

async fn wait_for_gathering(webrtcbin: &gst::Element, gathered: &Notify, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state =
            webrtcbin.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state");
        if state == gst_webrtc::WebRTCICEGatheringState::Complete {
            tracing::debug!("ICE gathering complete");
            return;
        }
        if tokio::time::timeout_at(deadline, gathered.notified())
            .await
            .is_err()
        {
            tracing::debug!(
                timeout_ms = timeout.as_millis() as u64,
                "ICE gathering not complete in time; sending the candidates gathered so far"
            );
            return;
        }
    }
}

/// The current local description as SDP text.
pub fn local_sdp(webrtcbin: &gst::Element) -> Option<String> {
    webrtcbin
        .property::<Option<gst_webrtc::WebRTCSessionDescription>>("local-description")
        .and_then(|d| d.sdp().as_text().ok())
}

/// Applies the gateway's SDP answer as remote description.
pub async fn apply_answer(webrtcbin: &gst::Element, sdp: &str) -> Result<(), NegotiationError> {
    tracing::debug!(sdp = %sdp, "remote answer");
    let message = Sdp::parse(sdp)
        .map_err(|e| NegotiationError::Answer(e.to_string()))?
        .into_message();
    let answer =
        gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, message);
    let reply = promise_reply(|promise| {
        webrtcbin.emit_by_name::<()>("set-remote-description", &[&answer, promise]);
    })
    .await
    .map_err(NegotiationError::Answer)?;
    match reply.as_deref().and_then(reply_error) {
        Some(error) => Err(NegotiationError::Answer(error)),
        None => Ok(()),
    }
}

/// Calls `emit` with a new promise and waits for webrtcbin to answer it.
/// An interrupted or dropped promise (webrtcbin shutting down) is an error,
/// never a hang.
async fn promise_reply(emit: impl FnOnce(&gst::Promise)) -> Result<Option<gst::Structure>, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(
            reply
                .map(|r| r.map(|s| s.to_owned()))
                .map_err(|e| format!("{e:?}")),
        );
    });
    emit(&promise);
    // webrtcbin answers in milliseconds; a request that never resolves (a
    // stalled pipeline) becomes an error that names it instead of a hang.
    match tokio::time::timeout(PROMISE_TIMEOUT, rx).await {
        Ok(reply) => reply.unwrap_or_else(|_| Err("webrtcbin dropped the request".into())),
        Err(_) => Err(format!(
            "webrtcbin did not answer within {} s; the media pipeline may be stalled",
            PROMISE_TIMEOUT.as_secs()
        )),
    }
}

/// webrtcbin reports failures as an `error` field holding a GError.
fn reply_error(reply: &gst::StructureRef) -> Option<String> {
    reply
        .get::<gst::glib::Error>("error")
        .ok()
        .map(|e| e.to_string())
}
