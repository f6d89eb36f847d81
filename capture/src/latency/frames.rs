//! Following each frame through the encode path.
//!
//! Pad probes report when a frame (known by its timestamp) passes each
//! [`Point`], and how long after its capture timestamp. [`FrameTracker`]
//! turns those marks into per-stage durations once the frame's last RTP
//! packet is out, and into drops, with their reason, for frames that never
//! got there. It is plain data: no GStreamer, no clock, so its rules are
//! tested with made-up marks.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where in the encode path a frame is seen; each point ends one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Point {
    /// The frame leaves the source (camera and its decoder, or the test
    /// pattern with its overlays) and enters the leaky queue.
    SourceOut,
    /// The encoder thread takes it from the leaky queue.
    QueueOut,
    /// Converted and scaled, it enters the encoder.
    EncoderIn,
    /// Encoded.
    EncoderOut,
    /// Its last RTP packet is handed to webrtcbin (which encrypts and sends
    /// it in the same thread).
    Payloaded,
}

impl Point {
    /// The name of the stage this point ends, as the status shows it.
    pub fn stage(self) -> &'static str {
        match self {
            Point::SourceOut => "source",
            Point::QueueOut => "queue",
            Point::EncoderIn => "convert",
            Point::EncoderOut => "encode",
            Point::Payloaded => "payload",
        }
    }
}

/// Why a frame did not make it through the encode path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The encoder was still busy with an earlier frame when a newer one
    /// arrived: the leaky queue kept the newer one.
    EncoderBusy,
    /// Left out on purpose: the quality ladder lowered the frame rate.
    FrameRate,
    /// Lost inside the encoder or the payloader (e.g. while the ladder
    /// restarted the encoder with a faster preset).
    Lost,
}

impl DropReason {
    /// Whether this drop means the budget was not held for that frame
    /// (a frame left out on purpose does not).
    pub fn misses_budget(self) -> bool {
        !matches!(self, DropReason::FrameRate)
    }

    /// The name the status uses.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::EncoderBusy => "encoder_busy",
            DropReason::FrameRate => "frame_rate",
            DropReason::Lost => "lost",
        }
    }
}

/// A frame that made it through: how long each stage took.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedFrame {
    /// Its timestamp (running time, ns).
    pub pts: u64,
    /// Each stage this pipeline has, in order, with its duration.
    pub stages: Vec<(Point, Duration)>,
    /// Capture timestamp to the last RTP packet handed to webrtcbin.
    pub encode_path: Duration,
    /// Bytes of RTP it became.
    pub bytes: u64,
}

/// What the tracker learned from a mark.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameEvent {
    /// A frame's last packet is out.
    Completed(CompletedFrame),
    /// A frame was dropped.
    Dropped(DropReason),
}

#[derive(Debug, Clone)]
struct InFlight {
    pts: u64,
    /// Index into `points` of the last point reached.
    reached: usize,
    ages: Vec<Option<Duration>>,
    bytes: u64,
}

/// Frames between their first and last point, oldest first.
#[derive(Debug, Clone)]
pub struct FrameTracker {
    points: Vec<Point>,
    in_flight: VecDeque<InFlight>,
}

/// More frames than this in flight means marks are being lost (a point
/// without its probe); the oldest are then given up as lost.
const MAX_IN_FLIGHT: usize = 64;

impl FrameTracker {
    /// A tracker for a pipeline that has these points (in path order; the
    /// first starts a frame, the last completes it).
    pub fn new(points: &[Point]) -> Self {
        let mut points = points.to_vec();
        points.sort();
        points.dedup();
        Self {
            points,
            in_flight: VecDeque::new(),
        }
    }

    /// The points this tracker follows.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Frame `pts` (its capture time, ns; matched within [`SAME_FRAME`])
    /// passed `point`, `age` after its capture timestamp,
    /// carrying `bytes`. At the last point, `last_of_frame` says whether this
    /// was the frame's final RTP packet (the marker bit). Events go to `out`.
    pub fn reached(
        &mut self,
        point: Point,
        pts: u64,
        age: Duration,
        bytes: u64,
        last_of_frame: bool,
        out: &mut Vec<FrameEvent>,
    ) {
        let Some(index) = self.points.iter().position(|p| *p == point) else {
            return;
        };
        if index == 0 {
            if self.in_flight.iter().any(|f| same_frame(f.pts, pts)) {
                return;
            }
            let mut ages = vec![None; self.points.len()];
            ages[0] = Some(age);
            // Bytes count where the frame leaves (the last point) only.
            let single = self.points.len() == 1;
            self.in_flight.push_back(InFlight {
                pts,
                reached: 0,
                ages,
                bytes: if single { bytes } else { 0 },
            });
            while self.in_flight.len() > MAX_IN_FLIGHT {
                self.in_flight.pop_front();
                out.push(FrameEvent::Dropped(DropReason::Lost));
            }
            if self.points.len() == 1 && last_of_frame {
                self.complete_newest(out);
            }
            return;
        }
        let Some(position) = self.in_flight.iter().position(|f| same_frame(f.pts, pts)) else {
            // Not seen at the first point (it was in the pipeline before
            // the probes were attached): nothing to measure.
            return;
        };
        // The path is in order: every older frame that has not reached this
        // point by now never will.
        let mut kept = VecDeque::with_capacity(self.in_flight.len());
        for (i, frame) in std::mem::take(&mut self.in_flight).into_iter().enumerate() {
            if i < position && frame.reached < index {
                out.push(FrameEvent::Dropped(self.drop_reason(frame.reached)));
            } else {
                kept.push_back(frame);
            }
        }
        self.in_flight = kept;
        let Some(frame) = self.in_flight.iter_mut().find(|f| same_frame(f.pts, pts)) else {
            return;
        };
        if frame.reached < index || frame.ages[index].is_none() {
            frame.ages[index] = Some(age);
            frame.reached = index;
        }
        if index == self.points.len() - 1 {
            frame.bytes += bytes;
            frame.ages[index] = Some(age);
            if last_of_frame {
                let frame = self
                    .in_flight
                    .iter()
                    .position(|f| same_frame(f.pts, pts))
                    .and_then(|i| self.in_flight.remove(i));
                if let Some(frame) = frame {
                    out.push(FrameEvent::Completed(self.completed(frame)));
                }
            }
        }
    }

    /// Frame `pts` was dropped on purpose before its first point.
    pub fn left_out(&mut self, reason: DropReason, out: &mut Vec<FrameEvent>) {
        out.push(FrameEvent::Dropped(reason));
    }

    fn complete_newest(&mut self, out: &mut Vec<FrameEvent>) {
        if let Some(frame) = self.in_flight.pop_back() {
            out.push(FrameEvent::Completed(self.completed(frame)));
        }
    }

    /// Why a frame whose last point was `points[reached]` went missing.
    fn drop_reason(&self, reached: usize) -> DropReason {
        match (self.points[reached], self.points.get(reached + 1)) {
            (Point::SourceOut, Some(Point::QueueOut)) => DropReason::EncoderBusy,
            _ => DropReason::Lost,
        }
    }

    fn completed(&self, frame: InFlight) -> CompletedFrame {
        let mut stages = Vec::with_capacity(self.points.len());
        let mut before = Duration::ZERO;
        for (point, age) in self.points.iter().zip(&frame.ages) {
            if let Some(age) = age {
                stages.push((*point, age.saturating_sub(before)));
                before = before.max(*age);
            }
        }
        CompletedFrame {
            pts: frame.pts,
            stages,
            encode_path: frame.ages.last().copied().flatten().unwrap_or(before),
            bytes: frame.bytes,
        }
    }
}

/// Two marks this close (ns) are the same frame: encoders round timestamps
/// a little, frames are at least 8 ms apart.
pub const SAME_FRAME: u64 = 1_000_000;

fn same_frame(a: u64, b: u64) -> bool {
    a.abs_diff(b) < SAME_FRAME
}

/// Drops counted by reason, for the status.
pub type DropCounts = BTreeMap<DropReason, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    /// Frame timestamps 33 ms apart, as at 30 fps.
    const F1: u64 = 33_333_333;
    const F2: u64 = 66_666_666;
    const ALL: [Point; 5] = [
        Point::SourceOut,
        Point::QueueOut,
        Point::EncoderIn,
        Point::EncoderOut,
        Point::Payloaded,
    ];

    fn pass(tracker: &mut FrameTracker, pts: u64, ages_ms: &[u64]) -> Vec<FrameEvent> {
        let mut out = Vec::new();
        for (point, age) in ALL.iter().zip(ages_ms) {
            let last = *point == Point::Payloaded;
            tracker.reached(
                *point,
                pts,
                Duration::from_millis(*age),
                100,
                last,
                &mut out,
            );
        }
        out
    }

    #[test]
    fn a_frame_through_every_point_has_its_stages() {
        let mut tracker = FrameTracker::new(&ALL);
        let out = pass(&mut tracker, 1, &[2, 3, 5, 14, 15]);
        let [FrameEvent::Completed(frame)] = out.as_slice() else {
            panic!("{out:?}");
        };
        let stages: Vec<_> = frame.stages.iter().map(|(p, d)| (p.stage(), *d)).collect();
        assert_eq!(
            stages,
            [
                ("source", 2 * MS),
                ("queue", MS),
                ("convert", 2 * MS),
                ("encode", 9 * MS),
                ("payload", MS)
            ]
        );
        assert_eq!(frame.encode_path, 15 * MS);
        assert_eq!(frame.bytes, 100);
    }

    #[test]
    fn a_frame_of_several_packets_completes_with_its_marker() {
        let mut tracker = FrameTracker::new(&[Point::SourceOut, Point::Payloaded]);
        let mut out = Vec::new();
        tracker.reached(Point::SourceOut, 7, MS, 0, false, &mut out);
        tracker.reached(Point::Payloaded, 7, 9 * MS, 1200, false, &mut out);
        tracker.reached(Point::Payloaded, 7, 10 * MS, 1200, false, &mut out);
        assert!(out.is_empty());
        tracker.reached(Point::Payloaded, 7, 11 * MS, 300, true, &mut out);
        let [FrameEvent::Completed(frame)] = out.as_slice() else {
            panic!("{out:?}");
        };
        assert_eq!((frame.encode_path, frame.bytes), (11 * MS, 2700));
    }

    #[test]
    fn a_frame_replaced_in_the_leaky_queue_counts_as_encoder_busy() {
        let mut tracker = FrameTracker::new(&ALL);
        let mut out = Vec::new();
        tracker.reached(Point::SourceOut, F1, MS, 0, false, &mut out);
        tracker.reached(Point::SourceOut, F2, MS, 0, false, &mut out);
        // Frame 2 leaves the queue; frame 1 never did.
        tracker.reached(Point::QueueOut, F2, 2 * MS, 0, false, &mut out);
        assert_eq!(out, [FrameEvent::Dropped(DropReason::EncoderBusy)]);
    }

    #[test]
    fn a_frame_vanishing_in_the_encoder_is_lost() {
        let mut tracker = FrameTracker::new(&ALL);
        let mut out = Vec::new();
        for pts in [F1, F2] {
            tracker.reached(Point::SourceOut, pts, MS, 0, false, &mut out);
            tracker.reached(Point::QueueOut, pts, MS, 0, false, &mut out);
            tracker.reached(Point::EncoderIn, pts, MS, 0, false, &mut out);
        }
        // The encoder rounds the timestamp a little.
        tracker.reached(Point::EncoderOut, F2 + 1_000, 9 * MS, 0, false, &mut out);
        assert_eq!(out, [FrameEvent::Dropped(DropReason::Lost)]);
        tracker.reached(Point::Payloaded, F2, 10 * MS, 10, true, &mut out);
        assert!(matches!(out[1], FrameEvent::Completed(_)));
    }

    #[test]
    fn marks_for_unknown_frames_are_ignored() {
        let mut tracker = FrameTracker::new(&ALL);
        let mut out = Vec::new();
        tracker.reached(Point::EncoderOut, 42, MS, 0, false, &mut out);
        tracker.reached(Point::Payloaded, 42, MS, 0, true, &mut out);
        assert!(out.is_empty());
    }
}
