//! The pad probes that mark frames at each [`Point`] of the encode path and
//! leave frames out when the ladder lowers the frame rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_rtp as gst_rtp;
use tokio::sync::mpsc;

use super::clock;
use super::frames::{DropReason, FrameEvent, FrameTracker, Point};

/// A frame event and when it happened.
pub type TimedEvent = (Instant, FrameEvent);

#[derive(Debug, Default)]
struct RateLimit {
    /// Least time between frames let through, ns; 0 lets all through.
    interval_ns: AtomicU64,
    /// `pts / interval` of the last frame let through.
    last_slot: Mutex<Option<u64>>,
}

/// Marks frames at the points of one pipeline and reports what the
/// [`FrameTracker`] makes of it to whoever [`Self::subscribe`]d.
#[derive(Debug, Clone)]
pub struct FrameTimer {
    tracker: Arc<Mutex<FrameTracker>>,
    events: Arc<Mutex<Option<mpsc::UnboundedSender<TimedEvent>>>>,
    rate: Arc<RateLimit>,
}

impl FrameTimer {
    /// A timer for a pipeline with these points.
    pub fn new(points: &[Point]) -> Self {
        Self {
            tracker: Arc::new(Mutex::new(FrameTracker::new(points))),
            events: Arc::default(),
            rate: Arc::default(),
        }
    }

    /// Adds `point` (the pipeline grew a stage, e.g. the payloader).
    pub fn add_point(&self, point: Point) {
        let mut tracker = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        let mut points = tracker.points().to_vec();
        points.push(point);
        *tracker = FrameTracker::new(&points);
    }

    /// Frame events from now on (a new subscription replaces the old).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<TimedEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// Lets at most `fps` frames per second through the first point (`None`:
    /// all of them).
    pub fn limit_frame_rate(&self, fps: Option<u32>) {
        let interval = fps
            .filter(|f| *f > 0)
            .map_or(0, |f| 1_000_000_000 / u64::from(f));
        self.rate.interval_ns.store(interval, Ordering::Relaxed);
    }

    /// Marks buffers passing `pad` as frames reaching `point`. At
    /// [`Point::Payloaded`] buffers are RTP packets: the marker bit ends a
    /// frame and their sizes are summed.
    pub fn attach(&self, point: Point, pad: &gst::Pad) {
        let timer = self.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let now = Instant::now();
                let mut out = Vec::new();
                let mut keep = true;
                match &info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => {
                        keep = timer.mark(point, pad, buffer, now, &mut out);
                    }
                    Some(gst::PadProbeData::BufferList(list)) => {
                        for buffer in list.iter() {
                            timer.mark(point, pad, buffer, now, &mut out);
                        }
                    }
                    _ => {}
                }
                timer.send(now, out);
                if keep {
                    gst::PadProbeReturn::Ok
                } else {
                    // Consumed here: the push upstream succeeds, the frame is gone.
                    drop(info.take_buffer());
                    gst::PadProbeReturn::Handled
                }
            },
        );
    }

    /// Records one buffer; returns false when it is to be left out.
    fn mark(
        &self,
        point: Point,
        pad: &gst::Pad,
        buffer: &gst::BufferRef,
        _now: Instant,
        out: &mut Vec<FrameEvent>,
    ) -> bool {
        let Some(pts) = buffer.pts() else {
            return true;
        };
        let mut tracker = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        let first = tracker.points().first() == Some(&point);
        if first && self.left_out_by_rate(pts) {
            tracker.left_out(DropReason::FrameRate, out);
            return false;
        }
        // Frames are known by their capture time on the running-time
        // line: encoders may rewrite timestamps (x264enc moves them 1000 h
        // ahead) but keep running time, via their segment.
        let (Some(captured), Some(age)) = (clock::running_time(pad, pts), clock::age(pad, pts))
        else {
            return true;
        };
        let (bytes, last_of_frame) = if point == Point::Payloaded {
            let marker = gst_rtp::RTPBuffer::from_buffer_readable(buffer)
                .map(|rtp| rtp.is_marker())
                .unwrap_or(true);
            (buffer.size() as u64, marker)
        } else {
            (buffer.size() as u64, true)
        };
        tracker.reached(point, captured.nseconds(), age, bytes, last_of_frame, out);
        true
    }

    fn left_out_by_rate(&self, pts: gst::ClockTime) -> bool {
        let interval = self.rate.interval_ns.load(Ordering::Relaxed);
        let mut last = self
            .rate
            .last_slot
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if interval == 0 {
            *last = None;
            return false;
        }
        // One frame per `interval`-long slot of the timeline: the frames let
        // through are spread evenly whatever the source's own rate.
        let slot = pts.nseconds() / interval;
        if *last == Some(slot) {
            return true;
        }
        *last = Some(slot);
        false
    }

    fn send(&self, now: Instant, events: Vec<FrameEvent>) {
        if events.is_empty() {
            return;
        }
        let mut sender = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = sender.as_ref() {
            for event in events {
                if tx.send((now, event)).is_err() {
                    *sender = None;
                    return;
                }
            }
        }
    }
}
