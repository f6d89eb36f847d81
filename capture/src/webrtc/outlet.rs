//! Where an RTP stream leaves the capture pipeline for the current session.
//!
//! The camera, encoder and payloaders live in one long-running pipeline; each
//! WHIP session's webrtcbin lives in a pipeline of its own (see
//! [`super::session`]). An [`Outlet`] joins them: an `appsink` at the end of
//! the capture pipeline hands every RTP buffer to the `appsrc` of the session
//! currently connected, or drops it when there is none. Reconnecting to the
//! gateway therefore never stops, restarts or renegotiates the camera or the
//! encoder: only the session pipeline is replaced.
//!
//! Upstream events travel back the same way: a viewer's keyframe request
//! (PLI) reaches webrtcbin's RTP session as a force-key-unit event, which the
//! session forwards through [`Outlet::send_upstream`] to the encoder.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::watch;

/// One RTP stream's exit from the capture pipeline.
#[derive(Clone)]
pub struct Outlet {
    inner: Arc<Inner>,
}

struct Inner {
    name: &'static str,
    appsink: gst_app::AppSink,
    /// The current session's input, if a session is attached.
    target: Mutex<Option<gst_app::AppSrc>>,
    /// The caps of the stream's latest packet; `None` before the first.
    caps: watch::Sender<Option<gst::Caps>>,
}

impl std::fmt::Debug for Outlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outlet")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Outlet {
    /// A new outlet; add [`Outlet::element`] to the capture pipeline and link
    /// the payloader to it. `name` (`video`, `audio`) names its elements.
    pub fn new(name: &'static str) -> Self {
        let appsink = gst_app::AppSink::builder()
            .name(format!("{name}-rtp-out"))
            // Forward as soon as a packet is made: pacing is the network's.
            .sync(false)
            .async_(false)
            .wait_on_eos(false)
            .build();
        let (caps, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            name,
            appsink: appsink.clone(),
            target: Mutex::new(None),
            caps,
        });

        // The weak reference keeps the callbacks from holding the outlet alive.
        let weak = Arc::downgrade(&inner);
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(inner) = weak.upgrade() else {
                        return Err(gst::FlowError::Flushing);
                    };
                    // The caps of the first packet (and of later ones, when
                    // they change): by then the payloader knows everything
                    // the offer should say, e.g. H.264's parameter sets.
                    if let Some(caps) = sample.caps()
                        && inner.caps.borrow().as_ref().is_none_or(|c| c != caps)
                    {
                        inner.caps.send_replace(Some(caps.to_owned()));
                    }
                    if let Some(buffer) = sample.buffer_owned()
                        && let Some(target) = inner.target().as_ref()
                    {
                        // A session that is not (or no longer) connected
                        // drops what it cannot send; the capture side never
                        // waits for the network.
                        let _ = target.push_buffer(in_running_time(buffer, &sample));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Self { inner }
    }

    /// The element to add to the capture pipeline.
    pub fn element(&self) -> gst::Element {
        self.inner.appsink.clone().upcast()
    }

    /// The stream's name (`video`, `audio`).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The RTP caps of the latest packet, once one has passed.
    pub fn caps(&self) -> Option<gst::Caps> {
        self.inner.caps.borrow().clone()
    }

    /// Waits until the first packet has passed (the first frame is encoded),
    /// at most `timeout`, and returns its caps.
    pub async fn wait_for_caps(&self, timeout: Duration) -> Option<gst::Caps> {
        let mut caps = self.inner.caps.subscribe();
        let ready = caps.wait_for(Option::is_some);
        tokio::time::timeout(timeout, ready)
            .await
            .ok()
            .and_then(|r| r.ok())
            .and_then(|c| c.clone())
    }

    /// From now on, packets go to `appsrc` (a session's input).
    pub fn attach(&self, appsrc: &gst_app::AppSrc) {
        *self.inner.target() = Some(appsrc.clone());
    }

    /// From now on, packets are dropped (no session).
    pub fn detach(&self) {
        *self.inner.target() = None;
    }

    /// Sends an upstream event (e.g. force-key-unit) into the capture
    /// pipeline, towards the payloader and the encoder.
    pub fn send_upstream(&self, event: gst::Event) -> bool {
        self.inner
            .appsink
            .static_pad("sink")
            .is_some_and(|pad| pad.push_event(event))
    }
}

/// The buffer with its timestamps as running time: the session's `appsrc`
/// starts a plain segment on the shared clock and base time, while encoders
/// may shift timestamps inside their own segment (x264enc adds 1000 hours).
fn in_running_time(mut buffer: gst::Buffer, sample: &gst::Sample) -> gst::Buffer {
    let Some(segment) = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
    else {
        return buffer;
    };
    let (pts, dts) = (
        buffer.pts().and_then(|t| segment.to_running_time(t)),
        buffer.dts().and_then(|t| segment.to_running_time(t)),
    );
    let buffer_mut = buffer.make_mut();
    buffer_mut.set_pts(pts);
    buffer_mut.set_dts(dts);
    buffer
}

impl Inner {
    fn target(&self) -> MutexGuard<'_, Option<gst_app::AppSrc>> {
        self.target.lock().unwrap_or_else(|e| e.into_inner())
    }
}
