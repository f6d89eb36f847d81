//! Per-viewer rewriting of forwarded RTP headers, and the keyframe gate.
//!
//! Each viewer negotiated its own SSRC, payload type and header-extension IDs,
//! and must see one continuous sequence-number and timestamp space even when
//! it joined mid-stream or the camera reconnected. The payload is never
//! touched: it stays shared between all viewers.

use rtc::rtp::header::{EXTENSION_PROFILE_ONE_BYTE, EXTENSION_PROFILE_TWO_BYTE, Extension, Header};

use super::keyframe::VideoCodec;

/// What one viewer negotiated for one forwarded track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTrack {
    pub ssrc: u32,
    pub payload_type: u8,
    /// Publisher extension ID → this viewer's ID, for extensions both sides
    /// negotiated. Everything else is dropped.
    pub extension_ids: Vec<(u8, u8)>,
    /// Clock rate, to keep timestamps moving across a camera reconnect.
    pub clock_rate: u32,
}

/// Rewrites one publisher track for one viewer.
#[derive(Debug)]
pub struct TrackRewriter {
    out: OutboundTrack,
    /// `Some(codec)` while the viewer waits for a keyframe of that codec.
    gate: Option<VideoCodec>,
    /// Offsets in force for the current publisher session (`epoch`).
    anchor: Option<Anchor>,
    last_out: Option<(u16, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    epoch: u64,
    seq_offset: u16,
    ts_offset: u32,
}

impl TrackRewriter {
    /// A rewriter for video: nothing passes until a keyframe starts.
    pub fn gated(out: OutboundTrack, codec: VideoCodec, first_seq: u16, first_ts: u32) -> Self {
        Self::new(out, Some(codec), first_seq, first_ts)
    }

    /// A rewriter for audio: every packet passes.
    pub fn ungated(out: OutboundTrack, first_seq: u16, first_ts: u32) -> Self {
        Self::new(out, None, first_seq, first_ts)
    }

    fn new(out: OutboundTrack, gate: Option<VideoCodec>, first_seq: u16, first_ts: u32) -> Self {
        Self {
            out,
            gate,
            anchor: None,
            // The packet before the first: the first forwarded one gets `first_seq`.
            last_out: Some((first_seq.wrapping_sub(1), first_ts)),
        }
    }

    /// Maps another source's extension IDs from now on (a talk-back slot
    /// passing to the next speaker).
    pub fn set_extension_ids(&mut self, extension_ids: Vec<(u8, u8)>) {
        self.out.extension_ids = extension_ids;
    }

    /// True while the viewer waits for a keyframe.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.gate.is_some()
    }

    /// Closes the gate again (the viewer lost its picture, or the camera
    /// reconnected with a new encoder).
    pub fn wait_for_keyframe(&mut self, codec: VideoCodec) {
        self.gate = Some(codec);
    }

    /// The header this viewer gets for `header`, or `None` to hold it back.
    ///
    /// `epoch` names the publisher session: when it changes, sequence numbers
    /// and timestamps are re-anchored so the viewer's stream stays continuous.
    pub fn rewrite(&mut self, epoch: u64, header: &Header, payload: &[u8]) -> Option<Header> {
        if let Some(codec) = self.gate {
            if !codec.starts_keyframe(payload) {
                return None;
            }
            self.gate = None;
        }
        let anchor = match self.anchor {
            Some(anchor) if anchor.epoch == epoch => anchor,
            _ => self.anchor_at(epoch, header),
        };
        let seq = header.sequence_number.wrapping_add(anchor.seq_offset);
        let ts = header.timestamp.wrapping_add(anchor.ts_offset);
        if self
            .last_out
            .is_none_or(|(last_seq, _)| seq_is_newer(seq, last_seq))
        {
            self.last_out = Some((seq, ts));
        }
        let extensions = self.map_extensions(&header.extensions);
        Some(Header {
            ssrc: self.out.ssrc,
            payload_type: self.out.payload_type,
            sequence_number: seq,
            timestamp: ts,
            extension: header.extension && !extensions.is_empty(),
            // The publisher's padding belonged to its own set of extensions.
            // `rtp` keeps this count in step as extensions are added (the
            // gateway's transport-wide sequence number is, after this), so
            // it must be right for the viewer's set from the start.
            extensions_padding: extension_padding(header.extension_profile, &extensions),
            extensions,
            ..header.clone()
        })
    }

    fn anchor_at(&mut self, epoch: u64, header: &Header) -> Anchor {
        let (last_seq, last_ts) = self.last_out.unwrap_or_default();
        // One frame interval at 30 fps (or 20 ms of audio) past the last packet.
        let ts_step = self.out.clock_rate / 30;
        let anchor = Anchor {
            epoch,
            seq_offset: last_seq
                .wrapping_add(1)
                .wrapping_sub(header.sequence_number),
            ts_offset: if self.anchor.is_some() {
                last_ts.wrapping_add(ts_step).wrapping_sub(header.timestamp)
            } else {
                last_ts.wrapping_sub(header.timestamp)
            },
        };
        self.anchor = Some(anchor);
        anchor
    }

    fn viewer_extension_id(&self, publisher_id: u8) -> Option<u8> {
        self.out
            .extension_ids
            .iter()
            .find(|(from, _)| *from == publisher_id)
            .map(|(_, to)| *to)
    }

    fn map_extensions(&self, extensions: &[Extension]) -> Vec<Extension> {
        extensions
            .iter()
            .filter_map(|ext| {
                self.viewer_extension_id(ext.id).map(|id| Extension {
                    id,
                    payload: ext.payload.clone(),
                })
            })
            .collect()
    }
}

/// The zero bytes that align `extensions` to 32 bits in an RTP header with
/// `profile` (RFC 8285: one byte of id and length per element, or two).
fn extension_padding(profile: u16, extensions: &[Extension]) -> usize {
    let per_element = match profile {
        EXTENSION_PROFILE_ONE_BYTE => 1,
        EXTENSION_PROFILE_TWO_BYTE => 2,
        _ => 0,
    };
    let len: usize = extensions
        .iter()
        .map(|e| per_element + e.payload.len())
        .sum();
    (4 - len % 4) % 4
}

/// RFC 1982 serial-number comparison for 16-bit sequence numbers.
fn seq_is_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const IDR: &[u8] = &[0x65, 0x88];
    const DELTA: &[u8] = &[0x41, 0x9a];

    fn out() -> OutboundTrack {
        OutboundTrack {
            ssrc: 0xbeef,
            payload_type: 102,
            extension_ids: vec![(3, 5)],
            clock_rate: 90_000,
        }
    }

    fn packet(seq: u16, ts: u32) -> Header {
        Header {
            version: 2,
            payload_type: 96,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 0x1234,
            ..Default::default()
        }
    }

    #[test]
    fn gate_holds_delta_frames_until_a_keyframe() {
        let mut rw = TrackRewriter::gated(out(), VideoCodec::H264, 1000, 5000);
        assert!(rw.rewrite(1, &packet(40, 9000), DELTA).is_none());
        assert!(rw.rewrite(1, &packet(41, 9000), DELTA).is_none());
        assert!(rw.waiting_for_keyframe());
        let first = rw
            .rewrite(1, &packet(42, 12000), IDR)
            .expect("keyframe passes");
        assert_eq!(first.sequence_number, 1000);
        assert_eq!(first.timestamp, 5000);
        assert_eq!(first.ssrc, 0xbeef);
        assert_eq!(first.payload_type, 102);
        // After the gate opens, delta frames pass with continuous numbers.
        let next = rw.rewrite(1, &packet(43, 15000), DELTA).unwrap();
        assert_eq!(next.sequence_number, 1001);
        assert_eq!(next.timestamp, 8000);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut rw = TrackRewriter::ungated(out(), 65535, 0);
        let a = rw.rewrite(1, &packet(10, 0), DELTA).unwrap();
        let b = rw.rewrite(1, &packet(11, 0), DELTA).unwrap();
        assert_eq!((a.sequence_number, b.sequence_number), (65535, 0));
        // A late packet keeps its place before the first.
        let late = rw.rewrite(1, &packet(9, 0), DELTA).unwrap();
        assert_eq!(late.sequence_number, 65534);
    }

    #[test]
    fn a_new_publisher_session_continues_the_viewers_numbering() {
        let mut rw = TrackRewriter::gated(out(), VideoCodec::H264, 100, 0);
        rw.rewrite(1, &packet(500, 90_000), IDR).unwrap();
        let last = rw.rewrite(1, &packet(501, 93_000), DELTA).unwrap();
        // The camera reconnects: new SSRC, new random sequence and timestamp.
        rw.wait_for_keyframe(VideoCodec::H264);
        assert!(rw.rewrite(2, &packet(7, 1_000_000), DELTA).is_none());
        let first = rw.rewrite(2, &packet(8, 1_003_000), IDR).unwrap();
        assert_eq!(first.sequence_number, last.sequence_number + 1);
        assert_eq!(first.timestamp, last.timestamp + 3000);
    }

    #[test]
    fn a_rewritten_header_takes_the_gateways_own_extension_and_marshals_whole() {
        use rtc::shared::marshal::{Marshal, MarshalSize, Unmarshal};
        // The camera's packet: its transport-wide number (id 1, dropped: it
        // is per hop) and a forwarded extension (id 3).
        let raw = {
            let mut header = packet(1, 0);
            header
                .set_extension(1, Bytes::from_static(&[0, 7]))
                .unwrap();
            header
                .set_extension(3, Bytes::from_static(&[1, 2, 3]))
                .unwrap();
            header.marshal().unwrap()
        };
        // A forwarded abs-capture-time (8 bytes: 9 with its one-byte
        // element header, so the set needs 3 bytes of padding).
        let raw_capture_time = {
            let mut header = packet(3, 0);
            header
                .set_extension(3, Bytes::from_static(&[9; 8]))
                .unwrap();
            header.marshal().unwrap()
        };
        let parsed = Header::unmarshal(&mut &raw[..]).unwrap();
        let with_capture_time = Header::unmarshal(&mut &raw_capture_time[..]).unwrap();
        let mut rw = TrackRewriter::ungated(out(), 0, 0);
        for camera in [parsed.clone(), with_capture_time, packet(2, 0)] {
            let mut viewer = rw.rewrite(1, &camera, DELTA).unwrap();
            // What the gateway's TWCC sender does on the way out.
            viewer
                .set_extension(9, Bytes::from_static(&[0, 1]))
                .unwrap();
            let bytes = viewer.marshal().unwrap();
            assert_eq!(bytes.len(), viewer.marshal_size(), "{viewer:?}");
        }
    }

    #[test]
    fn extensions_are_renumbered_or_dropped() {
        let mut rw = TrackRewriter::ungated(out(), 0, 0);
        let mut header = packet(1, 0);
        header.extension = true;
        header.extension_profile = 0xBEDE;
        header.extensions = vec![
            Extension {
                id: 3,
                payload: Bytes::from_static(&[1, 2]),
            },
            Extension {
                id: 4,
                payload: Bytes::from_static(&[9]),
            },
        ];
        let rewritten = rw.rewrite(1, &header, DELTA).unwrap();
        assert_eq!(rewritten.extensions.len(), 1);
        assert_eq!(rewritten.extensions[0].id, 5);
        assert_eq!(&rewritten.extensions[0].payload[..], &[1, 2]);
        assert!(rewritten.extension);

        header.extensions.truncate(0);
        header.extensions.push(Extension {
            id: 4,
            payload: Bytes::from_static(&[9]),
        });
        let none_left = rw.rewrite(1, &header, DELTA).unwrap();
        assert!(none_left.extensions.is_empty());
        assert!(!none_left.extension);
    }
}
