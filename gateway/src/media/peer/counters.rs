//! Counts what crosses the wire end of every peer's interceptor chain, for
//! the gateway's metrics: NACKs that arrive and the retransmissions the NACK
//! responder sends in answer. Neither reaches the application otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Wire-most: below the congestion controller (1 000) and the NACK responder
/// (4 000), so every departing packet, retransmissions included, passes here
/// last, and every arriving one first.
pub const SLOT: usize = 500;

/// Totals over every peer of the gateway; one media thread writes them.
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Packets that viewers asked to have resent (the sum over every NACK).
    pub nacked_packets: AtomicU64,
    /// RTP packets sent again (a sequence number not newer than one sent before).
    pub retransmitted_packets: AtomicU64,
}

/// The interceptor that feeds [`WireCounters`].
pub struct WireTap {
    counters: Arc<WireCounters>,
    /// Per outbound SSRC, the newest sequence number sent.
    newest_sent: HashMap<u32, u16>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl WireTap {
    pub fn new(counters: Arc<WireCounters>) -> Self {
        Self {
            counters,
            newest_sent: HashMap::new(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    pub fn slot() -> Slot {
        Slot::from(SLOT)
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for WireTap {
    queued_packets_without_timers!();

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let nacked: usize = packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerNack>())
                .flat_map(|nack| &nack.nacks)
                .map(|pair| pair.packet_list().len())
                .sum();
            if nacked > 0 {
                self.counters
                    .nacked_packets
                    .fetch_add(nacked as u64, Ordering::Relaxed);
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            let seq = packet.header.sequence_number;
            match self.newest_sent.get_mut(&packet.header.ssrc) {
                Some(newest) if seq.wrapping_sub(*newest) as i16 <= 0 => {
                    self.counters
                        .retransmitted_packets
                        .fetch_add(1, Ordering::Relaxed);
                }
                Some(newest) => *newest = seq,
                None => {
                    self.newest_sent.insert(packet.header.ssrc, seq);
                }
            }
        }
        self.writes.push_back(msg);
        Ok(())
    }
}

impl Interceptor for WireTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.newest_sent.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
