//! From measured figures to a plain-words verdict: which picture quality the
//! line carries, and whether a consultation will work on it.

use serde::Serialize;

use crate::report::{Level, Verdict};

/// A quality the capture daemon can send, with the media bitrate it needs
/// (H.264 constrained baseline from x264 or a hardware encoder, a wound
/// held still in front of the camera, some headroom for keyframes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Profile {
    #[serde(rename = "none")]
    Nothing,
    #[serde(rename = "audio only")]
    AudioOnly,
    #[serde(rename = "360p")]
    P360,
    #[serde(rename = "540p30")]
    P540,
    #[serde(rename = "720p30")]
    P720,
    #[serde(rename = "1080p30")]
    P1080,
}

impl Profile {
    /// Best first.
    pub const ALL: [Profile; 6] = [
        Self::P1080,
        Self::P720,
        Self::P540,
        Self::P360,
        Self::AudioOnly,
        Self::Nothing,
    ];

    /// The least sustained media bitrate, kbit/s, this profile needs.
    pub fn needs_kbps(self) -> u32 {
        match self {
            Self::P1080 => 4000,
            Self::P720 => 2000,
            Self::P540 => 1200,
            Self::P360 => 500,
            Self::AudioOnly => 64,
            Self::Nothing => 0,
        }
    }

    /// The best profile `kbps` carries.
    pub fn for_kbps(kbps: u32) -> Self {
        Self::ALL
            .into_iter()
            .find(|p| kbps >= p.needs_kbps())
            .unwrap_or(Self::Nothing)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::P1080 => "1080p30",
            Self::P720 => "720p30",
            Self::P540 => "540p30",
            Self::P360 => "360p",
            Self::AudioOnly => "audio only",
            Self::Nothing => "none",
        }
    }

    /// The capture daemon's flags for it.
    pub fn capture_flags(self) -> Option<&'static str> {
        match self {
            Self::P1080 => Some("--width 1920 --height 1080 --fps 30 --bitrate-kbps 4000"),
            Self::P720 => Some("--width 1280 --height 720 --fps 30 --bitrate-kbps 2000"),
            Self::P540 => Some("--width 960 --height 540 --fps 30 --bitrate-kbps 1200"),
            Self::P360 => Some("--width 640 --height 360 --fps 15 --bitrate-kbps 500"),
            Self::AudioOnly | Self::Nothing => None,
        }
    }

    fn in_words(self) -> &'static str {
        match self {
            Self::P1080 => "full HD video (1080p, 30 frames a second)",
            Self::P720 => "HD video (720p, 30 frames a second)",
            Self::P540 => "reduced-quality video (540p)",
            Self::P360 => "low-quality video (360p): enough to follow, not for wound details",
            Self::AudioOnly => "sound only, no video",
            Self::Nothing => "nothing",
        }
    }
}

/// Round trips above these make talking through a treatment awkward / hard.
pub const RTT_MARGINAL_MS: f64 = 150.0;
pub const RTT_UNUSABLE_MS: f64 = 400.0;

/// The verdict for a line that connected.
pub fn judge(rtt_ms: f64, max_sustainable_kbps: u32) -> (Profile, Verdict) {
    let profile = Profile::for_kbps(max_sustainable_kbps);
    let mut level = match profile {
        Profile::P1080 | Profile::P720 => Level::Good,
        Profile::P540 | Profile::P360 => Level::Marginal,
        Profile::AudioOnly | Profile::Nothing => Level::Unusable,
    };
    let mut advice = Vec::new();
    if rtt_ms > RTT_UNUSABLE_MS {
        level = Level::Unusable;
        advice.push(format!(
            "The connection is very slow to answer ({rtt_ms:.0} ms round trip): the specialist \
             would see and hear everything late. Try another network."
        ));
    } else if rtt_ms > RTT_MARGINAL_MS {
        level = level.max(Level::Marginal);
        advice.push(format!(
            "The connection answers slowly ({rtt_ms:.0} ms round trip): expect a small delay \
             when talking."
        ));
    }
    let headline = match level {
        Level::Good => format!("This connection can carry {}.", profile.in_words()),
        Level::Marginal => format!("The consultation will work, with {}.", profile.in_words()),
        Level::Unusable if profile >= Profile::P360 => {
            "This connection is too slow to answer for a live consultation.".to_owned()
        }
        Level::Unusable => format!(
            "This connection is too slow for video: it carries {}.",
            profile.in_words()
        ),
    };
    if level != Level::Good {
        advice.push(
            "Move closer to the Wi-Fi router, or use a cable or another network (4G), and \
             test again."
                .into(),
        );
        advice.push(
            "Pause other things that use the network here (video calls, updates, streaming)."
                .into(),
        );
    }
    if level == Level::Unusable {
        advice.push("If it stays like this, call IT and send them this report.".into());
    }
    (
        profile,
        Verdict {
            level,
            headline,
            advice,
        },
    )
}

/// The verdict when no media got through at all.
pub fn blocked(media_port_hint: &str) -> Verdict {
    Verdict {
        level: Level::Unusable,
        headline: "The video cannot reach the hospital from this network.".into(),
        advice: vec![
            "Try another network (another Wi-Fi, or 4G) and test again.".into(),
            format!(
                "IT: this network must allow outgoing UDP to the gateway's media port \
                 ({media_port_hint}); the web page itself was reachable."
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_follow_the_bitrate() {
        assert_eq!(Profile::for_kbps(8000), Profile::P1080);
        assert_eq!(Profile::for_kbps(2600), Profile::P720);
        assert_eq!(Profile::for_kbps(1999), Profile::P540);
        assert_eq!(Profile::for_kbps(900), Profile::P360);
        assert_eq!(Profile::for_kbps(100), Profile::AudioOnly);
        assert_eq!(Profile::for_kbps(10), Profile::Nothing);
    }

    #[test]
    fn the_slower_of_bitrate_and_round_trip_decides() {
        assert_eq!(judge(20.0, 3000).1.level, Level::Good);
        assert_eq!(judge(20.0, 1500).1.level, Level::Marginal);
        assert_eq!(judge(200.0, 8000).1.level, Level::Marginal);
        assert_eq!(judge(500.0, 8000).1.level, Level::Unusable);
        let (profile, verdict) = judge(20.0, 100);
        assert_eq!(profile, Profile::AudioOnly);
        assert_eq!(verdict.level, Level::Unusable);
        assert!(
            verdict.headline.contains("sound only"),
            "{}",
            verdict.headline
        );
    }

    #[test]
    fn profiles_serialise_as_their_names() {
        for p in Profile::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
    }
}
