//! Retransmissions to a viewer, within a budget.
//!
//! A viewer on a congested link loses packets, NACKs them, and every
//! retransmission adds to the congestion that lost them: a browser's jitter
//! buffer asks again and again, and the link collapses under repairs. So the
//! retransmissions the NACK responder makes for one viewer may use at most
//! [`SHARE`] of what is sent to it (with a small burst allowance); past that
//! they are dropped, and the viewer's decoder asks for a keyframe instead
//! (throttled, see `throttle`).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

/// Retransmissions may add this share of the media bytes sent.
pub const SHARE: f64 = 0.25;
/// Bytes of retransmission allowed in one burst.
pub const BURST_BYTES: f64 = 24_000.0;

/// Where the budget sits: wire-ward of the NACK responder (4 000), so it sees
/// the retransmissions the responder emits, application-ward of the pacer and
/// the transport-wide numbering, so a dropped one gets no number.
pub const SLOT: usize = 3_500;

/// Drops retransmissions past the budget.
pub struct RetransmitBudget {
    allowance: f64,
    writes: VecDeque<TaggedPacket>,
    reads: VecDeque<TaggedPacket>,
}

impl Default for RetransmitBudget {
    fn default() -> Self {
        Self {
            allowance: BURST_BYTES,
            writes: VecDeque::new(),
            reads: VecDeque::new(),
        }
    }
}

impl RetransmitBudget {
    pub fn slot() -> Slot {
        Slot::from(SLOT)
    }

    /// Whether a packet of `bytes` may go: media earns allowance, a
    /// retransmission spends it.
    fn admit(&mut self, bytes: usize, retransmission: bool) -> bool {
        let bytes = bytes as f64;
        if !retransmission {
            self.allowance = (self.allowance + SHARE * bytes).min(BURST_BYTES);
            return true;
        }
        if self.allowance >= bytes {
            self.allowance -= bytes;
            true
        } else {
            false
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RetransmitBudget {
    queued_packets_without_timers!();

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            let retransmission = msg.message.has(&Attribute::Retransmission);
            if !self.admit(packet.marshal_size(), retransmission) {
                return Ok(());
            }
        }
        self.writes.push_back(msg);
        Ok(())
    }
}

interceptor_without_stream_state!(RetransmitBudget);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmissions_get_a_quarter_of_the_media_bytes() {
        let mut budget = RetransmitBudget::default();
        // The burst allowance first.
        let mut sent = 0;
        while budget.admit(1200, true) {
            sent += 1;
        }
        assert_eq!(sent, 20);
        // Then one retransmission per four media packets.
        let mut admitted = 0;
        for _ in 0..100 {
            budget.admit(1200, false);
            admitted += usize::from(budget.admit(1200, true));
        }
        assert_eq!(admitted, 25);
    }
}
