//! Reading what webrtcbin's RTP session hands out about the path: per-packet
//! transport-wide feedback, REMB, and the round trip from its statistics.
//!
//! GStreamer 1.22's RTP session parses TWCC feedback itself and sends the
//! result upstream as an `RTPTWCCPackets` event (a list of `RTPTWCCPacket`
//! structures: `seqnum`, `local-ts`, `remote-ts`, `size`, `lost`); that is
//! what `rtpgccbwe` in gst-plugins-rs consumes too. REMB arrives through the
//! session's `on-feedback-rtcp` signal as the raw FCI.

use std::time::Duration;

use gstreamer as gst;
use gstreamer_webrtc as gst_webrtc;

use crate::congestion::PacketResult;

/// RTCP payload-specific feedback (RFC 4585).
const RTCP_PSFB: u32 = 206;
/// Application layer feedback, the format REMB uses.
const PSFB_AFB: u32 = 15;

/// The packets of an `RTPTWCCPackets` event, or `None` if `structure` is
/// something else.
pub fn transport_wide(structure: &gst::StructureRef) -> Option<Vec<PacketResult>> {
    if structure.name() != "RTPTWCCPackets" {
        return None;
    }
    let packets = structure.get::<gst::glib::ValueArray>("packets").ok()?;
    Some(
        packets
            .iter()
            .filter_map(|value| value.get::<gst::Structure>().ok())
            .filter_map(|packet| packet_result(&packet))
            .collect(),
    )
}

fn packet_result(packet: &gst::StructureRef) -> Option<PacketResult> {
    let seq = packet.get::<u32>("seqnum").ok()? as u16;
    let sent = clock_time(packet, "local-ts")?;
    let lost = packet.get::<bool>("lost").unwrap_or(false);
    let arrived = if lost {
        None
    } else {
        clock_time(packet, "remote-ts")
    };
    Some(PacketResult {
        seq,
        sent,
        arrived,
        size: packet.get::<u32>("size").unwrap_or(0),
    })
}

fn clock_time(structure: &gst::StructureRef, field: &str) -> Option<Duration> {
    let value = structure.get::<u64>(field).ok().or_else(|| {
        structure
            .get::<gst::ClockTime>(field)
            .ok()
            .map(|t| t.nseconds())
    })?;
    (value != u64::MAX).then(|| Duration::from_nanos(value))
}

/// The bitrate of a REMB (`goog-remb`) in an `on-feedback-rtcp` signal's
/// arguments: (session, type, fbtype, sender SSRC, media SSRC, FCI).
pub fn receiver_maximum(args: &[gst::glib::Value]) -> Option<u64> {
    let rtcp_type = args.get(1)?.get::<u32>().ok()?;
    let fb_type = args.get(2)?.get::<u32>().ok()?;
    if rtcp_type != RTCP_PSFB || fb_type != PSFB_AFB {
        return None;
    }
    let fci = args.get(5)?.get::<Option<gst::Buffer>>().ok()??;
    let map = fci.map_readable().ok()?;
    remb_bitrate(&map)
}

/// The bitrate in a REMB FCI: `"REMB"`, SSRC count, 6-bit exponent and
/// 18-bit mantissa (draft-alvestrand-rmcat-remb).
pub fn remb_bitrate(fci: &[u8]) -> Option<u64> {
    if fci.len() < 8 || &fci[..4] != b"REMB" {
        return None;
    }
    let exponent = u32::from(fci[5] >> 2);
    let mantissa = (u64::from(fci[5] & 0x03) << 16) | (u64::from(fci[6]) << 8) | u64::from(fci[7]);
    mantissa.checked_shl(exponent)
}

/// The round trip to the peer in webrtcbin's `get-stats` result (the
/// `remote-inbound-rtp` entries, from receiver reports).
pub fn round_trip_time(stats: &gst::StructureRef) -> Option<Duration> {
    stats
        .iter()
        .filter_map(|(_, value)| value.get::<gst::Structure>().ok())
        .filter(|s| {
            s.get::<gst_webrtc::WebRTCStatsType>("type").ok()
                == Some(gst_webrtc::WebRTCStatsType::RemoteInboundRtp)
        })
        .filter_map(|s| s.get::<f64>("round-trip-time").ok())
        .filter(|rtt| rtt.is_finite() && *rtt > 0.0)
        .map(Duration::from_secs_f64)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_bitrates_decode() {
        // 1 SSRC, exponent 3, mantissa 125000 → 1 000 000 bit/s.
        let mantissa: u32 = 125_000;
        let fci = [
            b'R',
            b'E',
            b'M',
            b'B',
            1,
            (3 << 2) | ((mantissa >> 16) as u8 & 0x03),
            (mantissa >> 8) as u8,
            mantissa as u8,
            0,
            0,
            0,
            1,
        ];
        assert_eq!(remb_bitrate(&fci), Some(1_000_000));
        assert_eq!(remb_bitrate(b"REMX\x01\x00\x00\x01"), None);
        assert_eq!(remb_bitrate(b"REMB"), None);
    }

    #[test]
    fn twcc_events_become_packet_results() {
        use gst::prelude::*;
        gst::init().unwrap();
        let packet = |seq: u32, local: u64, remote: u64, lost: bool| {
            gst::Structure::builder("RTPTWCCPacket")
                .field("seqnum", seq)
                .field("local-ts", local)
                .field("remote-ts", remote)
                .field("payload-type", 96u8)
                .field("size", 1200u32)
                .field("lost", lost)
                .build()
        };
        let array = gst::glib::ValueArray::new([
            packet(7, 1_000_000, 5_000_000, false),
            packet(8, 2_000_000, u64::MAX, true),
        ]);
        let mut event = gst::Structure::new_empty("RTPTWCCPackets");
        // SAFETY: the array never leaves this thread; GStreamer's RTP session
        // builds the same structure the same way.
        let packets = unsafe {
            use gst::glib::translate::UnsafeFrom;
            gst::glib::SendValue::unsafe_from(array.to_value().into_raw())
        };
        event.set_value("packets", packets);
        let results = transport_wide(&event).expect("a TWCC event");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].seq, 7);
        assert_eq!(results[0].sent, Duration::from_millis(1));
        assert_eq!(results[0].arrived, Some(Duration::from_millis(5)));
        assert_eq!(results[1].arrived, None);
        assert_eq!(results[1].size, 1200);
        let other = gst::Structure::new_empty("GstForceKeyUnit");
        assert!(transport_wide(&other).is_none());
    }
}
