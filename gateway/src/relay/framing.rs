//! TURN over a byte stream: telling TURN from TLS and HTTP on a shared port,
//! cutting the stream into whole messages, and framing what goes back.
//!
//! Over TCP and TLS, STUN messages and ChannelData messages follow each other
//! with nothing in between (RFC 8656 §12.5): a STUN message is its 20-byte
//! header plus the length in that header; a ChannelData message is its 4-byte
//! header plus its length, padded to a multiple of four. Nothing a client
//! sends is larger than one datagram plus headers, so a larger frame is a
//! broken or hostile client and the connection is closed.

use bytes::{Buf, Bytes, BytesMut};
use rtc::stun::message::{MAGIC_COOKIE, MESSAGE_HEADER_SIZE};
use rtc::turn::proto::chandata::ChannelData;
use rtc::turn::proto::channum::ChannelNumber;

/// The largest datagram relayed in either direction (an Ethernet MTU; WebRTC
/// stays well below it).
pub const MAX_DATAGRAM: usize = 1500;

/// The largest frame a client may send: a datagram plus the largest STUN
/// wrapping a Send indication can add (header, XOR-PEER-ADDRESS for IPv6,
/// DATA, DONT-FRAGMENT, MESSAGE-INTEGRITY, FINGERPRINT), with room to spare
/// for an Allocate carrying USERNAME, REALM and NONCE.
pub const MAX_FRAME_LEN: usize = MAX_DATAGRAM + 256;

/// How many bytes a [`FrameReader`] holds before it refuses more: one
/// incomplete frame plus a generous read from the socket.
pub const MAX_BUFFERED: usize = MAX_FRAME_LEN + 64 * 1024;

const CHANNEL_DATA_HEADER_SIZE: usize = 4;

/// Channel numbers RFC 8656 §12 allows (RFC 5766 allowed up to 0x7FFF; the
/// upper half is now reserved so the first byte tells ChannelData from
/// other protocols multiplexed on the port).
pub const CHANNEL_NUMBERS: std::ops::RangeInclusive<u16> = 0x4000..=0x4FFF;

/// What the first bytes of a stream (or of a frame) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstBytes {
    /// A TLS record (handshake, version 3.x): TURN over TLS or HTTPS.
    Tls,
    /// A STUN message: TURN over plain TCP.
    Stun,
    /// A ChannelData message.
    ChannelData,
    /// Neither: HTTP in the clear, or garbage.
    Other,
    /// Too few bytes to tell yet.
    NeedMore,
}

/// Classifies the first bytes of a stream or a frame.
///
/// At the start of a connection only [`FirstBytes::Tls`] and
/// [`FirstBytes::Stun`] open TURN: ChannelData cannot come before an
/// Allocate, and its first bytes 0x40–0x4F are also ASCII `@`–`O`, the
/// first letter of HTTP's `GET`, `HEAD`, `OPTIONS` and `DELETE`. A listener
/// should therefore treat [`FirstBytes::ChannelData`] there as
/// [`FirstBytes::Other`].
pub fn classify(bytes: &[u8]) -> FirstBytes {
    let Some(&first) = bytes.first() else {
        return FirstBytes::NeedMore;
    };
    if first == 0x16 {
        return match bytes.get(1) {
            None => FirstBytes::NeedMore,
            Some(0x03) => FirstBytes::Tls,
            Some(_) => FirstBytes::Other,
        };
    }
    if (0x40..=0x4F).contains(&first) {
        return FirstBytes::ChannelData;
    }
    if first & 0xC0 == 0 {
        // STUN's top two bits are zero; the magic cookie confirms it.
        return match bytes.get(4..8) {
            None => FirstBytes::NeedMore,
            Some(cookie) if cookie == MAGIC_COOKIE.to_be_bytes() => FirstBytes::Stun,
            Some(_) => FirstBytes::Other,
        };
    }
    FirstBytes::Other
}

/// Why a stream cannot be read as TURN any further; the caller closes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame starts with byte {first_byte:#04x}, neither STUN nor ChannelData")]
    NotTurn { first_byte: u8 },
    #[error("a frame of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("{buffered} bytes are buffered without a whole frame; the limit is {limit}")]
    BufferFull { buffered: usize, limit: usize },
}

/// Cuts a byte stream (TCP, or TLS plaintext) into whole TURN frames.
///
/// Feed it with [`FrameReader::push`], then take frames with
/// [`FrameReader::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameReader {
    buffer: BytesMut,
    max_frame_len: usize,
    max_buffered: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN, MAX_BUFFERED)
    }
}

impl FrameReader {
    /// A reader refusing frames over `max_frame_len` bytes and holding at
    /// most `max_buffered` bytes (at least one frame's worth).
    pub fn new(max_frame_len: usize, max_buffered: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_frame_len,
            max_buffered: max_buffered.max(max_frame_len),
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        let buffered = self.buffer.len() + bytes.len();
        if buffered > self.max_buffered {
            return Err(FrameError::BufferFull {
                buffered,
                limit: self.max_buffered,
            });
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    /// The next whole frame, `Ok(None)` while it is incomplete.
    ///
    /// A ChannelData frame is returned with its padding removed.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(&first_byte) = self.buffer.first() else {
            return Ok(None);
        };
        let (frame_len, wire_len) = match classify(&self.buffer) {
            FirstBytes::NeedMore => return Ok(None),
            FirstBytes::Stun => {
                let body = usize::from(u16::from_be_bytes([self.buffer[2], self.buffer[3]]));
                (MESSAGE_HEADER_SIZE + body, MESSAGE_HEADER_SIZE + body)
            }
            FirstBytes::ChannelData => {
                let Some(header) = self.buffer.get(..CHANNEL_DATA_HEADER_SIZE) else {
                    return Ok(None);
                };
                let body = usize::from(u16::from_be_bytes([header[2], header[3]]));
                let len = CHANNEL_DATA_HEADER_SIZE + body;
                (len, len.next_multiple_of(4))
            }
            FirstBytes::Tls | FirstBytes::Other => {
                return Err(FrameError::NotTurn { first_byte });
            }
        };
        if wire_len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len: wire_len,
                limit: self.max_frame_len,
            });
        }
        if self.buffer.len() < wire_len {
            return Ok(None);
        }
        let mut frame = self.buffer.split_to(wire_len);
        frame.truncate(frame_len);
        Ok(Some(frame.freeze()))
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Drops everything buffered (after an error, if the caller reuses it).
    pub fn clear(&mut self) {
        self.buffer.advance(self.buffer.len());
    }
}

/// A ChannelData message for `payload` on `channel`, padded to a multiple of
/// four as a stream transport needs (RFC 8656 §12.5).
pub fn channel_data_frame(channel: u16, payload: &[u8]) -> Bytes {
    let mut message = ChannelData {
        data: payload.to_vec(),
        number: ChannelNumber(channel),
        raw: Vec::with_capacity(CHANNEL_DATA_HEADER_SIZE + payload.len() + 3),
    };
    // rtc-turn's encoder already pads to four bytes.
    message.encode();
    Bytes::from(message.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stun_frame(body_len: u16) -> Vec<u8> {
        let mut frame = vec![0x00, 0x01];
        frame.extend_from_slice(&body_len.to_be_bytes());
        frame.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        frame.extend_from_slice(&[9; 12]);
        frame.extend(std::iter::repeat_n(0xAB, usize::from(body_len)));
        frame
    }

    #[test]
    fn classifies_tls_stun_channel_data_and_http() {
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x02, 0x00]), FirstBytes::Tls);
        assert_eq!(classify(&stun_frame(0)), FirstBytes::Stun);
        assert_eq!(classify(&[0x40, 0x00, 0x00, 0x04]), FirstBytes::ChannelData);
        assert_eq!(classify(b"PUT / HTTP/1.1\r\n"), FirstBytes::Other);
        assert_eq!(
            classify(&[0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4]),
            FirstBytes::Other
        );
        assert_eq!(classify(&[0x16, 0x01]), FirstBytes::Other);
        assert_eq!(classify(&[]), FirstBytes::NeedMore);
        assert_eq!(classify(&[0x16]), FirstBytes::NeedMore);
        assert_eq!(classify(&[0x00, 0x01, 0x00]), FirstBytes::NeedMore);
    }

    #[test]
    fn yields_whole_frames_across_arbitrary_splits() {
        let stun = stun_frame(8);
        let channel = channel_data_frame(0x4001, &[1, 2, 3, 4, 5]);
        assert_eq!(channel.len(), 12, "5 payload bytes pad to 8");
        let mut stream = stun.clone();
        stream.extend_from_slice(&channel);
        stream.extend_from_slice(&stun);

        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        for byte in &stream {
            reader.push(&[*byte]).unwrap();
            while let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].as_ref(), stun.as_slice());
        assert_eq!(frames[1].as_ref(), &channel[..9], "padding is removed");
        assert_eq!(frames[2].as_ref(), stun.as_slice());
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn refuses_http_oversized_frames_and_an_overfull_buffer() {
        let mut reader = FrameReader::default();
        reader.push(b"\x80\x00 not turn").unwrap();
        assert_eq!(
            reader.next_frame(),
            Err(FrameError::NotTurn { first_byte: 0x80 })
        );

        let mut reader = FrameReader::default();
        reader.push(&[0x40, 0x00, 0xFF, 0xFF]).unwrap();
        assert!(matches!(
            reader.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));

        let mut reader = FrameReader::default();
        reader.push(&stun_frame(2000)[..20]).unwrap();
        assert!(matches!(
            reader.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));

        let mut reader = FrameReader::new(100, 200);
        reader.push(&[0; 150]).unwrap();
        assert!(matches!(
            reader.push(&[0; 51]),
            Err(FrameError::BufferFull { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_streams_never_panic_nor_yield_oversized_frames(
            stream in proptest::collection::vec(any::<u8>(), 0..6000),
            cuts in proptest::collection::vec(0usize..6000, 0..20),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut reader = FrameReader::default();
            'stream: for pair in cuts.windows(2) {
                if reader.push(&stream[pair[0]..pair[1]]).is_err() {
                    break;
                }
                loop {
                    match reader.next_frame() {
                        Ok(Some(frame)) => prop_assert!(frame.len() <= MAX_FRAME_LEN),
                        Ok(None) => break,
                        Err(_) => break 'stream,
                    }
                }
                prop_assert!(reader.buffered() <= MAX_BUFFERED);
            }
        }

        #[test]
        fn valid_frames_survive_any_split(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1400), 1..8),
            cut in 0usize..12000,
        ) {
            let mut stream = Vec::new();
            for (i, payload) in payloads.iter().enumerate() {
                stream.extend_from_slice(&channel_data_frame(0x4000 + i as u16, payload));
            }
            let cut = cut.min(stream.len());
            let mut reader = FrameReader::default();
            let mut frames = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                reader.push(part).unwrap();
                while let Some(frame) = reader.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            prop_assert_eq!(frames.len(), payloads.len());
            for (frame, payload) in frames.iter().zip(&payloads) {
                prop_assert_eq!(&frame[4..], payload.as_slice());
            }
        }
    }
}
