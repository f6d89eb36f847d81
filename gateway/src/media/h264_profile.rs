//! Can a viewer decode the camera's H.264 profile?
//!
//! Forwarding never transcodes, so a viewer must decode exactly what the
//! camera sends. webrtc-rs accepts any H.264 when no fmtp matches exactly;
//! this check keeps a viewer that only offered a narrower profile from
//! getting a stream it cannot decode, and says so.

/// The profile part of `profile-level-id` (RFC 6184): profile_idc and the
/// constraint flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Profile {
    pub profile_idc: u8,
    pub constraints: u8,
}

const BASELINE: u8 = 0x42;
const MAIN: u8 = 0x4d;
const HIGH: u8 = 0x64;
/// constraint_set1_flag: the stream obeys Main profile's constraints too,
/// which on Baseline makes it Constrained Baseline.
const CONSTRAINT_SET1: u8 = 0x40;

impl H264Profile {
    /// The profile named in an fmtp line, if it has a valid `profile-level-id`.
    pub fn from_fmtp(fmtp: &str) -> Option<Self> {
        let value = fmtp.split(';').find_map(|param| {
            let (key, value) = param.trim().split_once('=')?;
            key.eq_ignore_ascii_case("profile-level-id")
                .then_some(value)
        })?;
        if value.len() != 6 {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(value.get(i..i + 2)?, 16).ok();
        Some(Self {
            profile_idc: byte(0)?,
            constraints: byte(2)?,
        })
    }

    fn is_constrained_baseline(self) -> bool {
        self.profile_idc == BASELINE && self.constraints & CONSTRAINT_SET1 != 0
    }

    /// True when a decoder for `decoder` decodes streams of `self`.
    pub fn decodable_by(self, decoder: H264Profile) -> bool {
        // Constrained Baseline is a subset of every profile WebRTC offers.
        if self.is_constrained_baseline() {
            return true;
        }
        match self.profile_idc {
            BASELINE => decoder.profile_idc == BASELINE,
            MAIN => matches!(decoder.profile_idc, MAIN | HIGH),
            other => decoder.profile_idc == other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(fmtp: &str) -> H264Profile {
        H264Profile::from_fmtp(fmtp).unwrap()
    }

    #[test]
    fn reads_profile_level_id() {
        let p = profile("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
        assert_eq!(
            p,
            H264Profile {
                profile_idc: 0x42,
                constraints: 0xe0
            }
        );
        assert_eq!(H264Profile::from_fmtp("packetization-mode=1"), None);
        assert_eq!(H264Profile::from_fmtp("profile-level-id=zz"), None);
    }

    #[test]
    fn constrained_baseline_from_x264_plays_everywhere() {
        // x264 announces 42c0xx: constrained baseline with constraint_set0 too.
        let camera = profile("packetization-mode=1;profile-level-id=42c01e");
        for viewer in ["42e01f", "42001f", "4d001f", "640c1f"] {
            assert!(
                camera.decodable_by(profile(&format!("profile-level-id={viewer}"))),
                "{viewer}"
            );
        }
    }

    #[test]
    fn higher_profiles_need_a_decoder_for_them() {
        let high = profile("profile-level-id=640c1f");
        assert!(!high.decodable_by(profile("profile-level-id=42e01f")));
        assert!(high.decodable_by(profile("profile-level-id=640032")));
        let main = profile("profile-level-id=4d001f");
        assert!(main.decodable_by(profile("profile-level-id=640c1f")));
        assert!(!main.decodable_by(profile("profile-level-id=42e01f")));
    }
}
