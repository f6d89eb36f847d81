//! Does this RTP packet start a picture a decoder can begin on?
//!
//! The keyframe gate holds a new viewer back until such a packet comes, so
//! nobody starts on a smeared picture. Only the payload header is read.

/// The video codecs the gate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Vp8,
}

impl VideoCodec {
    /// The codec for an SDP/RTP MIME type such as `video/H264`.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let name = mime.rsplit('/').next().unwrap_or(mime);
        if name.eq_ignore_ascii_case("h264") {
            Some(Self::H264)
        } else if name.eq_ignore_ascii_case("vp8") {
            Some(Self::Vp8)
        } else {
            None
        }
    }

    /// True when `payload` is the first packet a decoder can start on.
    pub fn starts_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Self::H264 => h264_starts_keyframe(payload),
            Self::Vp8 => vp8_starts_keyframe(payload),
        }
    }
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

/// An H.264 access unit a decoder can start on begins with an SPS (encoders
/// put SPS and PPS right before each IDR when asked to) or, without one, with
/// the first fragment of an IDR slice (RFC 6184 single NAL, STAP-A, FU-A).
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        H264_IDR | H264_SPS => true,
        H264_STAP_A => stap_a_nal_types(&payload[1..]).any(|t| t == H264_SPS || t == H264_IDR),
        H264_FU_A => {
            let Some(&fu_header) = payload.get(1) else {
                return false;
            };
            let start = fu_header & 0x80 != 0;
            start && fu_header & 0x1f == H264_IDR
        }
        _ => false,
    }
}

/// The NAL unit types inside a STAP-A aggregate: 16-bit size, then the unit.
fn stap_a_nal_types(mut rest: &[u8]) -> impl Iterator<Item = u8> + '_ {
    std::iter::from_fn(move || {
        if rest.len() < 3 {
            return None;
        }
        let size = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let nal_type = rest[2] & 0x1f;
        rest = rest.get(2 + size..).unwrap_or(&[]);
        Some(nal_type)
    })
}

/// VP8 (RFC 7741): the payload descriptor, then on the first packet of a frame
/// (S=1, partition 0) the frame header whose lowest bit is 0 on a key frame.
fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&descriptor) = payload.first() else {
        return false;
    };
    let extended = descriptor & 0x80 != 0;
    let start_of_partition = descriptor & 0x10 != 0;
    let partition_id = descriptor & 0x0f;
    if !start_of_partition || partition_id != 0 {
        return false;
    }
    let mut offset = 1;
    if extended {
        let Some(&ext) = payload.get(1) else {
            return false;
        };
        offset += 1;
        if ext & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&pid) = payload.get(offset) else {
                return false;
            };
            offset += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            offset += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            offset += 1; // TID / KEYIDX
        }
    }
    payload.get(offset).is_some_and(|header| header & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_single_nal_units() {
        assert!(VideoCodec::H264.starts_keyframe(&[0x65, 0x88])); // IDR
        assert!(VideoCodec::H264.starts_keyframe(&[0x67, 0x42])); // SPS
        assert!(!VideoCodec::H264.starts_keyframe(&[0x41, 0x9a])); // non-IDR slice
        assert!(!VideoCodec::H264.starts_keyframe(&[0x68, 0xce])); // PPS alone
        assert!(!VideoCodec::H264.starts_keyframe(&[]));
    }

    #[test]
    fn h264_stap_a_with_sps_pps() {
        // STAP-A: [SPS size 2][SPS][PPS size 2][PPS]
        let stap = [0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce];
        assert!(VideoCodec::H264.starts_keyframe(&stap));
        let stap_no_key = [0x78, 0x00, 0x02, 0x41, 0x00, 0x00, 0x02, 0x06, 0x05];
        assert!(!VideoCodec::H264.starts_keyframe(&stap_no_key));
        // A truncated aggregate is not a keyframe and does not panic.
        assert!(!VideoCodec::H264.starts_keyframe(&[0x78, 0x00]));
        assert!(!VideoCodec::H264.starts_keyframe(&[0x78, 0xff, 0xff, 0x41]));
    }

    #[test]
    fn h264_fu_a_only_first_fragment_of_idr() {
        assert!(VideoCodec::H264.starts_keyframe(&[0x7c, 0x85, 0x00])); // start, IDR
        assert!(!VideoCodec::H264.starts_keyframe(&[0x7c, 0x05, 0x00])); // middle, IDR
        assert!(!VideoCodec::H264.starts_keyframe(&[0x7c, 0x81, 0x00])); // start, non-IDR
        assert!(!VideoCodec::H264.starts_keyframe(&[0x7c]));
    }

    #[test]
    fn vp8_key_and_delta_frames() {
        // S=1, PID=0, no extension; frame header P bit 0 → key frame.
        assert!(VideoCodec::Vp8.starts_keyframe(&[0x10, 0x00]));
        assert!(!VideoCodec::Vp8.starts_keyframe(&[0x10, 0x01]));
        // Not the start of partition 0.
        assert!(!VideoCodec::Vp8.starts_keyframe(&[0x00, 0x00]));
        // Extended with 15-bit PictureID.
        assert!(VideoCodec::Vp8.starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!VideoCodec::Vp8.starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x01]));
        assert!(!VideoCodec::Vp8.starts_keyframe(&[0x90, 0x80]));
    }

    #[test]
    fn codec_from_mime() {
        assert_eq!(VideoCodec::from_mime("video/H264"), Some(VideoCodec::H264));
        assert_eq!(VideoCodec::from_mime("video/vp8"), Some(VideoCodec::Vp8));
        assert_eq!(VideoCodec::from_mime("audio/opus"), None);
    }
}
