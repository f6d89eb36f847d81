//! Transport-wide congestion feedback on a viewer's link: the gateway numbers
//! every packet it sends the viewer, remembers when each one left, and turns
//! the viewer's TWCC reports about them into the packet reports GCC reads
//! ([`ObservedGcc`]).
//!
//! webrtc-rs offers this as two interceptors (`TwccSenderInterceptor` and
//! `CongestionControlInterceptor`). Its send history indexes every packet in
//! three hash maps and scans the whole history on every timer; with 50
//! viewers that was a sixth of the gateway's CPU. Here the transport-wide
//! numbers are handed out by the same interceptor that records them, so they
//! are consecutive and the history is a ring indexed by number: recording,
//! looking up and forgetting a packet are O(1), and there is nothing to scan.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::interceptor::{
    Acknowledgement, BandwidthEstimator, Interceptor, Packet, PacketReport, Slot, StreamInfo,
    TaggedPacket, convert_twcc,
};
use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;
use rtc::sansio::Protocol;
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

use super::estimate::ObservedGcc;

/// A packet no report has named this long after it left is forgotten
/// (as webrtc-rs does): several round trips on any link worth estimating.
pub const FORGET_AFTER: Duration = Duration::from_secs(2);

/// At most this many packets are remembered, whatever their age: half the
/// 16-bit number space, so a number is never ambiguous within the history.
/// Two seconds at 50 Mbit/s of full packets is about 10 000.
pub const MAX_REMEMBERED: usize = 32_768;

/// What was sent, in send order, each packet with its transport-wide number.
///
/// Packet `id`s count from 0 without wrapping; a packet's transport-wide
/// number is its id's low 16 bits.
#[derive(Debug, Default)]
pub struct SendHistory {
    /// Sent packets not yet reported on; `packets[i].id == first_id + i`.
    packets: VecDeque<PacketReport>,
    /// The id the next packet sent gets.
    next_id: u64,
    /// The newest id a report said arrived, not yet handed on.
    highest_arrived: Option<u64>,
}

impl SendHistory {
    /// The transport-wide number the next packet recorded gets.
    pub fn next_number(&self) -> u16 {
        self.next_id as u16
    }

    /// Records a packet leaving at `departure`, `size` bytes with its number
    /// written in; returns that number.
    pub fn record(
        &mut self,
        ssrc: u32,
        rtp_sequence_number: u16,
        size: usize,
        departure: Instant,
    ) -> u16 {
        let cutoff = departure.checked_sub(FORGET_AFTER);
        while let Some(oldest) = self.packets.front() {
            let too_old = cutoff.is_some_and(|cutoff| oldest.departure < cutoff);
            if !too_old && self.packets.len() < MAX_REMEMBERED {
                break;
            }
            self.packets.pop_front();
        }
        let id = self.next_id;
        self.next_id += 1;
        let number = id as u16;
        self.packets.push_back(PacketReport {
            ssrc,
            id,
            rtp_sequence_number,
            is_twcc: true,
            twcc_sequence_number: number,
            size,
            arrived: false,
            departure,
            arrival: None,
            ecn: Ecn::NotEct,
        });
        number
    }

    /// Notes what a report says about one packet. A number outside the
    /// history (forgotten, or never sent) is ignored.
    pub fn acknowledge(&mut self, acknowledgement: &Acknowledgement) {
        let Some(first_id) = self.packets.front().map(|p| p.id) else {
            return;
        };
        // The one id in the history whose low 16 bits are this number.
        let offset = acknowledgement
            .sequence_number
            .wrapping_sub(first_id as u16);
        let Some(packet) = self.packets.get_mut(usize::from(offset)) else {
            return;
        };
        packet.arrived = acknowledgement.arrived;
        packet.arrival = acknowledgement.arrival;
        packet.ecn = acknowledgement.ecn;
        if packet.arrived {
            self.highest_arrived =
                Some(self.highest_arrived.map_or(packet.id, |h| h.max(packet.id)));
        }
    }

    /// Every packet up to the newest one reported as arrived, in send order,
    /// taken out of the history. Those before it that no report named as
    /// arrived count as lost. Nothing while no new arrival was reported: a
    /// report of losses alone waits for the next arrival to place them.
    pub fn take_reports(&mut self) -> Vec<PacketReport> {
        let Some(highest) = self.highest_arrived.take() else {
            return Vec::new();
        };
        let Some(first_id) = self.packets.front().map(|p| p.id) else {
            return Vec::new();
        };
        let count = highest
            .checked_sub(first_id)
            .map_or(0, |n| (n + 1) as usize)
            .min(self.packets.len());
        self.packets.drain(..count).collect()
    }

    /// How many packets wait for a report.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.packets.len()
    }
}

/// Where it sits: wire-most of what makes packets (below the NACK
/// responder and the retransmit budget, so retransmissions are numbered and
/// counted as bytes on the wire), where webrtc-rs puts its congestion control.
const SLOT: Slot = Slot::CongestionControl;

/// The interceptor: numbers departing RTP of the streams that negotiated
/// transport-wide sequence numbers, and feeds the viewer's TWCC reports to
/// GCC.
pub struct LinkFeedback {
    history: SendHistory,
    estimator: ObservedGcc,
    /// `(ssrc, header extension id)` of the local streams that carry the
    /// transport-wide number: a handful, so a list beats a hash map.
    numbered_streams: Vec<(u32, u8)>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl LinkFeedback {
    pub fn new(estimator: ObservedGcc) -> Self {
        Self {
            history: SendHistory::default(),
            estimator,
            numbered_streams: Vec::new(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
        }
    }

    pub fn slot() -> Slot {
        SLOT
    }

    fn extension_id(&self, ssrc: u32) -> Option<u8> {
        self.numbered_streams
            .iter()
            .find(|(s, _)| *s == ssrc)
            .map(|(_, id)| *id)
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for LinkFeedback {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let mut reported = false;
            for feedback in packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerCc>())
            {
                reported = true;
                for acknowledgement in convert_twcc(feedback) {
                    self.history.acknowledge(&acknowledgement);
                }
            }
            if reported {
                let reports = self.history.take_reports();
                self.estimator.on_reports(msg.now, &reports);
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &mut msg.message.packet
            && let Some(extension_id) = self.extension_id(packet.header.ssrc)
        {
            let number = self.history.next_number();
            let _ = packet
                .header
                .set_extension(extension_id, Bytes::copy_from_slice(&number.to_be_bytes()));
            self.history.record(
                packet.header.ssrc,
                packet.header.sequence_number,
                packet.marshal_size(),
                msg.now,
            );
        }
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.reads.pop_front()
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.writes.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        self.estimator.handle_timeout(now);
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        self.estimator.poll_timeout()
    }
}

impl Interceptor for LinkFeedback {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let extension = info
            .rtp_header_extensions
            .iter()
            .find(|e| e.uri == TRANSPORT_CC_URI)
            .and_then(|e| u8::try_from(e.id).ok())
            .filter(|id| *id != 0);
        if let Some(id) = extension {
            self.numbered_streams.retain(|(s, _)| *s != info.ssrc);
            self.numbered_streams.push((info.ssrc, id));
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.numbered_streams.retain(|(s, _)| *s != info.ssrc);
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrived(number: u16, at_ms: u64) -> Acknowledgement {
        Acknowledgement::received(number, Some(Duration::from_millis(at_ms)), Ecn::NotEct)
    }

    fn history_of(count: u16, start: Instant) -> SendHistory {
        let mut history = SendHistory::default();
        for i in 0..count {
            let number = history.record(
                7,
                100 + i,
                1200,
                start + Duration::from_millis(u64::from(i)),
            );
            assert_eq!(number, i);
        }
        history
    }

    #[test]
    fn reports_come_in_send_order_with_unnamed_packets_lost() {
        let start = Instant::now();
        let mut history = history_of(5, start);
        history.acknowledge(&arrived(0, 10));
        history.acknowledge(&Acknowledgement::lost(1));
        history.acknowledge(&arrived(3, 14));
        let reports = history.take_reports();
        let fates: Vec<(u16, bool)> = reports
            .iter()
            .map(|r| (r.twcc_sequence_number, r.arrived))
            .collect();
        assert_eq!(fates, [(0, true), (1, false), (2, false), (3, true)]);
        assert_eq!(reports[3].rtp_sequence_number, 103);
        assert_eq!(reports[3].arrival, Some(Duration::from_millis(14)));
        assert_eq!(reports[3].departure, start + Duration::from_millis(3));
        assert_eq!(history.len(), 1, "packet 4 still waits");
        assert!(history.take_reports().is_empty(), "nothing new arrived");
    }

    #[test]
    fn losses_alone_wait_for_the_next_arrival() {
        let mut history = history_of(3, Instant::now());
        history.acknowledge(&Acknowledgement::lost(0));
        assert!(history.take_reports().is_empty());
        history.acknowledge(&arrived(1, 5));
        let reports = history.take_reports();
        assert_eq!(reports.len(), 2);
        assert!(!reports[0].arrived && reports[1].arrived);
    }

    #[test]
    fn numbers_wrap_and_still_find_their_packet() {
        let start = Instant::now();
        let mut history = SendHistory::default();
        // Send 70 000 packets, reporting as we go, as a long call would.
        for i in 0..70_000u32 {
            let at = start + Duration::from_micros(u64::from(i) * 100);
            let number = history.record(7, i as u16, 1200, at);
            assert_eq!(number, i as u16);
            if i % 100 == 99 {
                history.acknowledge(&arrived(number, u64::from(i)));
                let reports = history.take_reports();
                assert_eq!(reports.len(), 100, "at packet {i}");
                assert_eq!(reports.last().map(|r| r.id), Some(u64::from(i)));
            }
        }
        assert_eq!(history.len(), 0);
    }

    #[test]
    fn old_and_excess_packets_are_forgotten() {
        let start = Instant::now();
        let mut history = history_of(10, start);
        // One packet 2.5 s later: the ten from the start are forgotten.
        let late = history.record(7, 500, 1200, start + Duration::from_millis(2_500));
        assert_eq!(history.len(), 1);
        // A report naming a forgotten number is ignored.
        history.acknowledge(&arrived(3, 1));
        assert!(history.take_reports().is_empty());
        history.acknowledge(&arrived(late, 2_600));
        assert_eq!(history.take_reports().len(), 1);

        let mut history = SendHistory::default();
        for i in 0..(MAX_REMEMBERED as u32 + 10) {
            history.record(7, i as u16, 100, start);
        }
        assert_eq!(history.len(), MAX_REMEMBERED);
    }

    #[test]
    fn a_report_of_a_number_never_sent_changes_nothing() {
        let mut history = history_of(3, Instant::now());
        history.acknowledge(&arrived(40_000, 1));
        assert!(history.take_reports().is_empty());
        assert_eq!(history.len(), 3);
    }
}
