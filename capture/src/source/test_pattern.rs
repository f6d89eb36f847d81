//! `--source test`: a live moving pattern with clocks burnt in.
//!
//! The bouncing ball shows motion (so stutter and freezes are visible), the
//! wall clock lets a viewer estimate glass-to-glass latency against their own
//! clock, and the running time shows how long the stream has been up.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::{Source, SourceError, SourceOutput, assemble_chain, capsfilter};
use crate::elements::{make, set_property_str};
use crate::settings::VideoSettings;

pub(super) fn build(video: &VideoSettings) -> Result<Source, SourceError> {
    let src = make("videotestsrc")?;
    src.set_property("is-live", true);
    set_property_str(&src, "pattern", "ball")?;
    // Position from running time, not frame count: on a machine too busy to
    // produce every frame the ball keeps pace with the clock, as a camera
    // image would.
    set_property_str(&src, "animation-mode", "running-time")?;
    set_property_str(&src, "motion", "wavy")?;

    let caps = capsfilter(&video.raw_caps())?;

    let wall_clock = make("clockoverlay")?;
    set_property_str(&wall_clock, "time-format", "%H:%M:%S")?;
    set_property_str(&wall_clock, "halignment", "right")?;
    set_property_str(&wall_clock, "valignment", "top")?;
    set_property_str(&wall_clock, "font-desc", "Sans Bold 24")?;

    let running = make("timeoverlay")?;
    set_property_str(&running, "halignment", "left")?;
    set_property_str(&running, "valignment", "top")?;
    set_property_str(&running, "time-mode", "running-time")?;
    set_property_str(&running, "font-desc", "Sans 18")?;

    let bin = gst::Bin::with_name("source-test");
    assemble_chain(&bin, &[src, caps, wall_clock, running], "test")?;
    Ok(Source {
        bin,
        output: SourceOutput::Raw,
    })
}
