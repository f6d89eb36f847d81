//! Pipeline bus messages and peer-connection state, as the async side sees
//! them.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use tokio::sync::mpsc;

/// Something on the pipeline bus the caller must act on.
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    /// An element failed; the stream is broken.
    Error {
        /// The element that posted it.
        element: String,
        /// GStreamer's message.
        message: String,
        /// GStreamer's debug detail.
        debug: Option<String>,
    },
    /// The stream ended (a source ran out).
    Eos,
}

impl std::fmt::Display for PipelineEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineEvent::Error {
                element, message, ..
            } => write!(f, "{element}: {message}"),
            PipelineEvent::Eos => f.write_str("end of stream"),
        }
    }
}

/// Forwards errors and end-of-stream from `pipeline`'s bus to a channel, and
/// logs warnings. Runs in the posting thread, so no main loop is needed.
pub fn forward_bus(pipeline: &gst::Pipeline) -> mpsc::UnboundedReceiver<PipelineEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    on_bus_events(pipeline, move |event| {
        let _ = tx.send(event);
    });
    rx
}

/// Calls `handle` with every error and end-of-stream on `pipeline`'s bus, in
/// the posting thread; logs warnings.
pub fn on_bus_events(
    pipeline: &gst::Pipeline,
    handle: impl Fn(PipelineEvent) + Send + Sync + 'static,
) {
    let Some(bus) = pipeline.bus() else {
        return;
    };
    bus.set_sync_handler(move |_, msg| {
        let source = || {
            msg.src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_else(|| "pipeline".into())
        };
        match msg.view() {
            gst::MessageView::Error(err) => handle(PipelineEvent::Error {
                element: source(),
                message: err.error().to_string(),
                debug: err.debug().map(|d| d.to_string()),
            }),
            gst::MessageView::Eos(_) => handle(PipelineEvent::Eos),
            gst::MessageView::Warning(w) => {
                tracing::warn!(element = %source(), "{}", w.error());
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
}

/// Logs ICE connection and peer connection state changes at info.
pub fn log_state_changes(webrtcbin: &gst::Element, peer: &'static str) {
    webrtcbin.connect_notify(Some("ice-connection-state"), move |bin, _| {
        let state = bin.property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
        tracing::info!(peer, "ICE connection state: {}", ice_state_name(state));
    });
    webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
        let state = bin.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
        tracing::info!(peer, "peer connection state: {}", peer_state_name(state));
    });
}

fn ice_state_name(state: gst_webrtc::WebRTCICEConnectionState) -> &'static str {
    use gst_webrtc::WebRTCICEConnectionState as S;
    match state {
        S::New => "new",
        S::Checking => "checking",
        S::Connected => "connected",
        S::Completed => "completed",
        S::Failed => "failed",
        S::Disconnected => "disconnected",
        S::Closed => "closed",
        _ => "unknown",
    }
}

fn peer_state_name(state: gst_webrtc::WebRTCPeerConnectionState) -> &'static str {
    use gst_webrtc::WebRTCPeerConnectionState as S;
    match state {
        S::New => "new",
        S::Connecting => "connecting",
        S::Connected => "connected",
        S::Disconnected => "disconnected",
        S::Failed => "failed",
        S::Closed => "closed",
        _ => "unknown",
    }
}
