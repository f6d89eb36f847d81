//! Reading SDP offers and answers: parsed by GStreamer's own SDP parser
//! (`gstreamer_sdp::SDPMessage`, what webrtcbin reads and writes), and read
//! here into typed facts: each media section's kind, mid, direction,
//! codecs, SSRCs, header extensions and ICE transport.
//!
//! Everything the capture daemon wants to know about an SDP comes from
//! here; nobody else looks at `m=` or `a=` lines.

use gstreamer_sdp as gst_sdp;
use samsyn_signaling::sdp::MediaKind;

/// Why a text is not a session description the daemon can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("it is empty")]
    Empty,
    #[error("it is not valid SDP")]
    NotSdp,
    #[error("its first line is not `v=0`")]
    NoVersionLine,
    #[error("it has no media section")]
    NoMediaSection,
    #[error("GStreamer, whose parser reads it, cannot start: {0}")]
    NoGStreamer(String),
}

/// The direction a media section gives (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// One codec of a media section: its `a=rtpmap` and `a=fmtp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub payload_type: u8,
    /// The encoding name: "H264", "opus", "rtx".
    pub name: String,
    pub clock_rate: u32,
    /// The channel count of audio, empty otherwise.
    pub encoding_parameters: String,
    /// The `a=fmtp` parameters, empty without one.
    pub fmtp: String,
}

/// A header extension a section maps to an ID (`a=extmap`, RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionMap {
    pub id: u16,
    pub uri: String,
}

/// A parsed offer or answer.
#[derive(Debug, Clone)]
pub struct Sdp {
    message: gst_sdp::SDPMessage,
}

impl Sdp {
    /// Parses `text` as a session description with at least one media section.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        if text.trim().is_empty() {
            return Err(SdpError::Empty);
        }
        // gstreamer-sdp refuses (panics) before GStreamer is initialised;
        // initialising again is a cheap no-op.
        gstreamer::init().map_err(|e| SdpError::NoGStreamer(e.to_string()))?;
        let message =
            gst_sdp::SDPMessage::parse_buffer(text.as_bytes()).map_err(|_| SdpError::NotSdp)?;
        // GStreamer's parser skips what it does not know rather than
        // refusing: text that is not SDP at all comes back without a version.
        if message.version() != Some("0") {
            return Err(SdpError::NoVersionLine);
        }
        Self::from_message(message)
    }

    /// A description webrtcbin made or was given.
    pub fn from_message(message: gst_sdp::SDPMessage) -> Result<Self, SdpError> {
        if message.medias_len() == 0 {
            return Err(SdpError::NoMediaSection);
        }
        Ok(Self { message })
    }

    /// The GStreamer message, for webrtcbin.
    pub fn into_message(self) -> gst_sdp::SDPMessage {
        self.message
    }

    /// Every media section, in order.
    pub fn sections(&self) -> impl Iterator<Item = Section<'_>> {
        self.message.medias().map(|media| Section { media })
    }

    /// The first media section of `kind`: the camera's video, say.
    pub fn first_section(&self, kind: MediaKind) -> Option<Section<'_>> {
        self.sections().find(|section| section.kind() == Some(kind))
    }

    /// The first `a=ice-ufrag`, at session level or in any section.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.first_value("ice-ufrag")
    }

    /// The first `a=ice-pwd`, at session level or in any section.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.first_value("ice-pwd")
    }

    /// The first `a=mid`.
    pub fn first_mid(&self) -> Option<&str> {
        self.sections().find_map(|section| section.mid())
    }

    /// Whether any section carries an ICE candidate.
    pub fn has_candidates(&self) -> bool {
        self.sections()
            .any(|section| section.media.attribute_val("candidate").is_some())
    }

    /// The ICE credentials as a trickle-ICE fragment (RFC 8840) that
    /// changes nothing; with the first mid, when there is one.
    pub fn unchanged_ice_fragment(&self) -> Option<String> {
        let (ufrag, pwd) = (self.ice_ufrag()?, self.ice_pwd()?);
        let mut fragment = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n");
        if let Some(mid) = self.first_mid() {
            fragment.push_str(&format!("a=mid:{mid}\r\n"));
        }
        Some(fragment)
    }

    fn first_value(&self, key: &str) -> Option<&str> {
        self.message
            .attribute_val(key)
            .or_else(|| self.sections().find_map(|s| s.media.attribute_val(key)))
    }
}

/// One media section (`m=` and its attributes).
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    media: &'a gst_sdp::SDPMediaRef,
}

impl<'a> Section<'a> {
    /// Audio or video; `None` for anything else (`application`, ...).
    pub fn kind(&self) -> Option<MediaKind> {
        MediaKind::from_media(self.media.media()?)
    }

    pub fn mid(&self) -> Option<&'a str> {
        self.media.attribute_val("mid")
    }

    /// Port 0: turned off.
    pub fn is_rejected(&self) -> bool {
        self.media.port() == 0
    }

    /// The direction the section gives, `None` when it gives none (which
    /// means `sendrecv`).
    pub fn direction(&self) -> Option<Direction> {
        self.media.attributes().find_map(|a| match a.key() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }

    /// The payload types of the `m=` line, in order of preference.
    pub fn payload_types(&self) -> Vec<u8> {
        self.media
            .formats()
            .filter_map(|pt| pt.parse().ok())
            .collect()
    }

    /// Its codecs with an `a=rtpmap`, in the `m=` line's order of preference.
    pub fn codecs(&self) -> Vec<Codec> {
        let rtpmaps: Vec<Codec> = self.values("rtpmap").filter_map(read_rtpmap).collect();
        self.payload_types()
            .into_iter()
            .filter_map(|pt| rtpmaps.iter().find(|c| c.payload_type == pt).cloned())
            .map(|mut codec| {
                codec.fmtp = self.fmtp(codec.payload_type).unwrap_or_default().to_owned();
                codec
            })
            .collect()
    }

    /// The `a=fmtp` parameters of payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&'a str> {
        self.values("fmtp").find_map(|value| {
            let (format, parameters) = value.split_once(' ')?;
            (format.parse::<u8>().ok()? == pt).then(|| parameters.trim())
        })
    }

    /// The SSRCs it announces (`a=ssrc`), in order, each once.
    pub fn ssrcs(&self) -> Vec<u32> {
        let mut ssrcs = Vec::new();
        for value in self.values("ssrc") {
            let Some(Ok(ssrc)) = value.split_whitespace().next().map(str::parse::<u32>) else {
                continue;
            };
            if !ssrcs.contains(&ssrc) {
                ssrcs.push(ssrc);
            }
        }
        ssrcs
    }

    /// Its header extensions (`a=extmap:<id>[/<direction>] <uri> ...`);
    /// lines that do not read as one are left out.
    pub fn extension_maps(&self) -> Vec<ExtensionMap> {
        self.values("extmap")
            .filter_map(|value| {
                let mut fields = value.split_whitespace();
                let id = fields.next()?.split('/').next()?.parse().ok()?;
                let uri = fields.next()?.to_owned();
                Some(ExtensionMap { id, uri })
            })
            .collect()
    }

    /// The ID it gives the header extension `uri`.
    pub fn extension_id(&self, uri: &str) -> Option<u16> {
        self.extension_maps()
            .into_iter()
            .find(|map| map.uri == uri)
            .map(|map| map.id)
    }

    pub fn ice_ufrag(&self) -> Option<&'a str> {
        self.media.attribute_val("ice-ufrag")
    }

    /// How many `a=candidate` it carries.
    pub fn candidate_count(&self) -> usize {
        self.values("candidate").count()
    }

    fn values(&self, key: &'a str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.media
            .attributes()
            .filter(move |a| a.key() == key)
            .filter_map(|a| a.value())
    }
}

/// `<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
fn read_rtpmap(value: &str) -> Option<Codec> {
    let (pt, encoding) = value.trim().split_once(' ')?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    let clock_rate = parts.next()?.parse().ok()?;
    Some(Codec {
        payload_type: pt.parse().ok()?,
        name,
        clock_rate,
        encoding_parameters: parts.next().unwrap_or_default().to_owned(),
        fmtp: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What samsyn-capture's webrtcbin (GStreamer 1.22) offers over WHIP:
    /// H.264 and Opus, send-only, BUNDLE, one host candidate.
    const WEBRTCBIN_OFFER: &str = "v=0\r\n\
        o=- 4207471075591268587 0 IN IP4 0.0.0.0\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=ice-options:trickle\r\n\
        a=group:BUNDLE video0 audio1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=setup:actpass\r\n\
        a=ice-ufrag:yIm6RUnxHKoSO1VsbTvE0l3b1KMBN4C+\r\n\
        a=ice-pwd:moNLHtJ7H36oqbcDsBywEz5aqxzb6DQk\r\n\
        a=rtcp-mux\r\n\
        a=rtcp-rsize\r\n\
        a=sendonly\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=rtcp-fb:96 nack\r\n\
        a=rtcp-fb:96 nack pli\r\n\
        a=rtcp-fb:96 transport-cc\r\n\
        a=extmap:1 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
        a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=42c00d;level-asymmetry-allowed=1\r\n\
        a=rtpmap:97 rtx/90000\r\n\
        a=fmtp:97 apt=96\r\n\
        a=ssrc-group:FID 56045409 1011148070\r\n\
        a=ssrc:56045409 msid:user3179322320@host-5010ed12 webrtctransceiver0\r\n\
        a=ssrc:56045409 cname:user3179322320@host-5010ed12\r\n\
        a=ssrc:1011148070 cname:user3179322320@host-5010ed12\r\n\
        a=mid:video0\r\n\
        a=fingerprint:sha-256 B6:2A:1C:5D:5B:2A:62:5E:54:8A:68:9C:A7:C8:0E:01:C6:BE:62:F7:CB:15:FE:A0:6A:F9:03:F8:B8:31:3B:FF\r\n\
        a=rtcp-mux-only\r\n\
        a=candidate:1 1 UDP 2015364095 127.0.0.1 36117 typ host\r\n\
        m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=setup:actpass\r\n\
        a=ice-ufrag:yIm6RUnxHKoSO1VsbTvE0l3b1KMBN4C+\r\n\
        a=ice-pwd:moNLHtJ7H36oqbcDsBywEz5aqxzb6DQk\r\n\
        a=bundle-only\r\n\
        a=sendonly\r\n\
        a=rtpmap:111 OPUS/48000/2\r\n\
        a=fmtp:111 minptime=10;useinbandfec=1\r\n\
        a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
        a=ssrc:2541135937 cname:user3179322320@host-5010ed12\r\n\
        a=mid:audio1\r\n";

    /// The gateway's answer (rtc 0.21, ICE-lite) to that offer.
    const GATEWAY_ANSWER: &str = "v=0\r\n\
        o=- 6254981385862123112 2 IN IP4 0.0.0.0\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=ice-lite\r\n\
        a=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5F:96:A8:E5:2C:D8:A4:04:23:C0:86:C4:A7:F9:66:2E:62:8E\r\n\
        a=group:BUNDLE video0 audio1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=setup:passive\r\n\
        a=mid:video0\r\n\
        a=ice-ufrag:QmGbVmIcKNPqwrzY\r\n\
        a=ice-pwd:hVrNpjcTcKbTnqWzRCyMOvtSoEPJdwoH\r\n\
        a=rtcp-mux\r\n\
        a=rtcp-rsize\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=42c00d;level-asymmetry-allowed=1\r\n\
        a=rtcp-fb:96 nack\r\n\
        a=rtcp-fb:96 nack pli\r\n\
        a=rtpmap:97 rtx/90000\r\n\
        a=fmtp:97 apt=96\r\n\
        a=extmap:1 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
        a=extmap:3/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n\
        a=recvonly\r\n\
        a=candidate:1 1 udp 2130706431 10.213.0.1 50000 typ host\r\n\
        a=end-of-candidates\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=setup:passive\r\n\
        a=mid:audio1\r\n\
        a=ice-ufrag:QmGbVmIcKNPqwrzY\r\n\
        a=ice-pwd:hVrNpjcTcKbTnqWzRCyMOvtSoEPJdwoH\r\n\
        a=rtpmap:111 opus/48000/2\r\n\
        a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n\
        a=recvonly\r\n";

    #[test]
    fn the_publishers_offer_reads_as_sendonly_video_and_audio() {
        let sdp = Sdp::parse(WEBRTCBIN_OFFER).unwrap();
        let kinds: Vec<_> = sdp.sections().map(|s| s.kind()).collect();
        assert_eq!(kinds, [Some(MediaKind::Video), Some(MediaKind::Audio)]);
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.mid(), Some("video0"));
        assert_eq!(video.direction(), Some(Direction::SendOnly));
        assert_eq!(video.payload_types(), [96, 97]);
        let codecs = video.codecs();
        assert_eq!(codecs[0].name, "H264");
        assert_eq!(codecs[0].clock_rate, 90_000);
        assert!(codecs[0].fmtp.contains("profile-level-id=42c00d"));
        assert_eq!(
            (codecs[1].name.as_str(), codecs[1].fmtp.as_str()),
            ("rtx", "apt=96")
        );
        assert_eq!(video.ssrcs(), [56_045_409, 1_011_148_070]);
        assert_eq!(video.candidate_count(), 1);
        assert!(sdp.has_candidates());
        let audio = sdp.first_section(MediaKind::Audio).unwrap();
        assert!(
            audio.is_rejected(),
            "bundle-only rides on the video's transport"
        );
        let opus = &audio.codecs()[0];
        assert_eq!(
            (
                opus.name.as_str(),
                opus.clock_rate,
                opus.encoding_parameters.as_str()
            ),
            ("OPUS", 48_000, "2")
        );
        assert_eq!(sdp.ice_ufrag(), Some("yIm6RUnxHKoSO1VsbTvE0l3b1KMBN4C+"));
    }

    #[test]
    fn extension_ids_are_read_per_section_with_or_without_direction() {
        let answer = Sdp::parse(GATEWAY_ANSWER).unwrap();
        let video = answer.first_section(MediaKind::Video).unwrap();
        let abs_capture_time = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time";
        assert_eq!(video.extension_id(abs_capture_time), Some(3));
        let audio = answer.first_section(MediaKind::Audio).unwrap();
        assert_eq!(audio.extension_id(abs_capture_time), Some(5));
        assert_eq!(video.direction(), Some(Direction::RecvOnly));
        assert_eq!(answer.ice_pwd(), Some("hVrNpjcTcKbTnqWzRCyMOvtSoEPJdwoH"));
    }

    #[test]
    fn the_unchanged_fragment_carries_the_credentials_and_first_mid() {
        let offer = Sdp::parse(WEBRTCBIN_OFFER).unwrap();
        assert_eq!(
            offer.unchanged_ice_fragment().unwrap(),
            "a=ice-ufrag:yIm6RUnxHKoSO1VsbTvE0l3b1KMBN4C+\r\n\
             a=ice-pwd:moNLHtJ7H36oqbcDsBywEz5aqxzb6DQk\r\na=mid:video0\r\n"
        );
        let session_level = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            a=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
        assert_eq!(
            Sdp::parse(session_level)
                .unwrap()
                .unchanged_ice_fragment()
                .unwrap(),
            "a=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\n"
        );
    }

    #[test]
    fn malformed_sdp_is_a_typed_error_that_says_what_is_wrong() {
        assert_eq!(Sdp::parse("").unwrap_err(), SdpError::Empty);
        assert_eq!(Sdp::parse("\r\n").unwrap_err(), SdpError::Empty);
        assert_eq!(
            Sdp::parse("<html>502 Bad Gateway</html>").unwrap_err(),
            SdpError::NoVersionLine
        );
        assert_eq!(
            Sdp::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n").unwrap_err(),
            SdpError::NoMediaSection
        );
        assert_eq!(
            SdpError::NoMediaSection.to_string(),
            "it has no media section"
        );
    }

    #[test]
    fn attributes_that_do_not_read_are_left_out_not_fatal() {
        let odd = WEBRTCBIN_OFFER
            .replace("a=ssrc:56045409 cname", "a=ssrc:notanumber cname")
            .replace("a=rtpmap:97 rtx/90000", "a=rtpmap:97")
            .replace("a=extmap:3 http", "a=extmap:x http");
        let sdp = Sdp::parse(&odd).unwrap();
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.ssrcs(), [56_045_409, 1_011_148_070]);
        assert_eq!(video.codecs().len(), 1);
        assert_eq!(video.extension_maps().len(), 1);
    }
}
