//! How old a buffer is: now on the pipeline clock, minus its timestamp.
//!
//! A buffer's timestamp, turned into running time with its segment, is when
//! it was captured on the pipeline clock (the V4L2 driver's time for a
//! camera, the clock at generation for the test pattern, the clock-synced
//! playout time for a file). The pipeline's current running time at a probe
//! minus that is the frame's age there.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

/// How long ago, on the pipeline clock, the buffer with timestamp `pts`
/// passing `pad` was captured; `None` before the pipeline runs.
pub fn age(pad: &gst::Pad, pts: gst::ClockTime) -> Option<Duration> {
    let captured = running_time(pad, pts)?;
    let now = pad.parent_element()?.current_running_time()?;
    Some(Duration::from_nanos(
        now.nseconds().saturating_sub(captured.nseconds()),
    ))
}

/// `pts` as running time, by the segment in force on `pad`.
pub fn running_time(pad: &gst::Pad, pts: gst::ClockTime) -> Option<gst::ClockTime> {
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment
        .segment()
        .downcast_ref::<gst::ClockTime>()?
        .to_running_time(pts)
}
