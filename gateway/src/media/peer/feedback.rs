//! Lets keyframe requests (PLI, FIR) through webrtc-rs's interceptor chain.
//!
//! Inbound RTCP ends at the chain's terminus unless an interceptor marks it
//! for the application. The SFU must see a viewer's keyframe request to relay
//! it to the camera, and nothing else: receiver reports and NACKs are handled
//! inside the chain (reports, the NACK responder).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where in the chain the tap sits: application-ward of the default
/// interceptors, so they have acted on the packet first.
pub const SLOT: usize = 14_000;

/// Marks inbound RTCP compounds that carry a PLI or FIR for the application.
#[derive(Default)]
pub struct KeyframeRequestTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl KeyframeRequestTap {
    pub fn slot() -> Slot {
        Slot::from(SLOT)
    }
}

/// True when an RTCP compound asks for a keyframe.
pub fn asks_for_keyframe(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets
        .iter()
        .any(|p| p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>())
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestTap {
    queued_packets_without_timers!();

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && asks_for_keyframe(packets)
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }
}

interceptor_without_stream_state!(KeyframeRequestTap);
