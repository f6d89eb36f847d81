//! Reading SDP offers and answers: parsed once by `rtc`'s own SDP parser
//! (`rtc::sdp`, the rtc-sdp crate), so the gateway reads a description the
//! way the peer connection will, and read here into typed facts: each media
//! section's kind, mid, direction, codecs, SSRCs, header extensions and ICE
//! transport.
//!
//! Everything the gateway and the bench want to know about an SDP comes from
//! here; nobody else looks at `m=` or `a=` lines. The one exception is a
//! trickle-ICE fragment (RFC 8840), which is not a session description (no
//! `v=`, `o=`, `s=`, `t=`) and which no SDP parser takes: [`IceFragment`]
//! reads its few lines.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc::sdp::SessionDescription;
use rtc::sdp::description::common::Attribute;
use rtc::sdp::description::media::MediaDescription;
pub use rtc::sdp::direction::Direction;
pub use rtc::sdp::util::Codec;
use rtc::shared::error::Error as RtcError;

use super::MediaKind;

/// Why a text is not a session description the gateway can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("it is empty")]
    Empty,
    #[error(
        "a line starting `{0}` is unknown or out of place (RFC 8866 fixes the order: v=, o=, \
         s=, optional i= u= e= p= c= b=, t=, session a= lines, then each m= section)"
    )]
    MisplacedLine(String),
    #[error("a line has a value that cannot be read: {0}")]
    BadValue(String),
    #[error("it has no `t=` (timing) line")]
    NoTiming,
    #[error("{0}")]
    Unreadable(String),
}

impl SdpError {
    fn from_rtc(err: RtcError) -> Self {
        match err {
            RtcError::SdpInvalidSyntax(line) => Self::MisplacedLine(line),
            RtcError::SdpInvalidValue(value) => Self::BadValue(format!("`{value}`")),
            RtcError::SdpEmptyTimeDescription => Self::NoTiming,
            // Numbers that do not parse (ports, session ids, ...) and UTF-8
            // errors come through as the standard library's errors.
            RtcError::ParseInt(err) => Self::BadValue(format!("a number: {err}")),
            other => Self::Unreadable(other.to_string()),
        }
    }
}

/// A parsed offer or answer.
#[derive(Debug, Clone)]
pub struct Sdp {
    description: SessionDescription,
}

impl Sdp {
    /// Parses `text` (CRLF or LF line endings).
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        if text.trim().is_empty() {
            return Err(SdpError::Empty);
        }
        let description = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
            .map_err(SdpError::from_rtc)?;
        Ok(Self { description })
    }

    /// The description as SDP text again (CRLF line endings).
    pub fn to_text(&self) -> String {
        self.description.marshal()
    }

    /// Every media section, in order.
    pub fn sections(&self) -> impl Iterator<Item = Section<'_>> {
        self.description
            .media_descriptions
            .iter()
            .enumerate()
            .map(|(index, media)| Section { index, media })
    }

    /// The media sections of `kind`, in order.
    pub fn sections_of(&self, kind: MediaKind) -> impl Iterator<Item = Section<'_>> {
        self.sections()
            .filter(move |section| section.kind() == Some(kind))
    }

    /// The first media section of `kind`: the camera's video, say.
    pub fn first_section(&self, kind: MediaKind) -> Option<Section<'_>> {
        self.sections_of(kind).next()
    }

    /// The mids of the first `a=group:BUNDLE` (empty without one).
    pub fn bundle_group(&self) -> Vec<&str> {
        self.description
            .attributes
            .iter()
            .filter(|a| a.key == "group")
            .filter_map(|a| a.value.as_deref()?.strip_prefix("BUNDLE"))
            .map(|mids| mids.split_whitespace().collect())
            .next()
            .unwrap_or_default()
    }

    /// Whether the description is from an ICE-lite agent.
    pub fn is_ice_lite(&self) -> bool {
        self.description.has_attribute("ice-lite")
    }

    /// The first `a=ice-ufrag`, at session level or in any section.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.first_value("ice-ufrag")
    }

    /// The first `a=ice-pwd`, at session level or in any section.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.first_value("ice-pwd")
    }

    /// Whether any `a=setup` (session or section) is `passive`: the offerer
    /// insists on being the DTLS server.
    pub fn insists_on_dtls_server(&self) -> bool {
        self.all_attributes()
            .any(|a| a.key == "setup" && a.value.as_deref().map(str::trim) == Some("passive"))
    }

    /// The ICE part of the description as a trickle-ICE fragment (RFC
    /// 8840): `a=ice-lite`, the first credentials, and each section's
    /// `m=` line, mid and candidates, in the description's order.
    pub fn ice_fragment(&self) -> String {
        let mut fragment = String::new();
        let (mut ufrag_written, mut pwd_written) = (false, false);
        let mut take = |attribute: &Attribute, fragment: &mut String| {
            let keep = match attribute.key.as_str() {
                "ice-lite" | "mid" | "candidate" | "end-of-candidates" => true,
                "ice-ufrag" => !std::mem::replace(&mut ufrag_written, true),
                "ice-pwd" => !std::mem::replace(&mut pwd_written, true),
                _ => false,
            };
            if keep {
                fragment.push_str(&format!("a={attribute}\r\n"));
            }
        };
        for attribute in &self.description.attributes {
            take(attribute, &mut fragment);
        }
        for media in &self.description.media_descriptions {
            fragment.push_str(&format!("m={}\r\n", media.media_name));
            for attribute in &media.attributes {
                take(attribute, &mut fragment);
            }
        }
        fragment
    }

    /// The description with every `a=ice-ufrag` and `a=ice-pwd` (session
    /// and sections) set to `ufrag` and `pwd`: the same session under new
    /// ICE credentials.
    pub fn with_ice_credentials(mut self, ufrag: &str, pwd: &str) -> Self {
        let description = &mut self.description;
        let sections = description.media_descriptions.iter_mut();
        for attributes in
            std::iter::once(&mut description.attributes).chain(sections.map(|m| &mut m.attributes))
        {
            for attribute in attributes.iter_mut() {
                match attribute.key.as_str() {
                    "ice-ufrag" => attribute.value = Some(ufrag.to_owned()),
                    "ice-pwd" => attribute.value = Some(pwd.to_owned()),
                    _ => {}
                }
            }
        }
        self
    }

    /// Drops every `a=candidate` (session or section) for which `keep` is false.
    pub(super) fn retain_candidates(&mut self, keep: impl Fn(&Candidate<'_>) -> bool) {
        let description = &mut self.description;
        let sections = description.media_descriptions.iter_mut();
        for attributes in
            std::iter::once(&mut description.attributes).chain(sections.map(|m| &mut m.attributes))
        {
            attributes.retain(|a| {
                a.key != "candidate"
                    || Candidate::parse(a.value.as_deref().unwrap_or_default())
                        .is_none_or(|candidate| keep(&candidate))
            });
        }
    }

    /// Puts section `index` on the ICE transport given by `credentials`
    /// (its `ice-ufrag`/`ice-pwd` attributes): its own credentials,
    /// candidates and end-of-candidates go, `credentials` are appended.
    pub(super) fn move_section_to_transport(&mut self, index: usize, credentials: &[Attribute]) {
        let Some(media) = self.description.media_descriptions.get_mut(index) else {
            return;
        };
        media.attributes.retain(|a| {
            !matches!(
                a.key.as_str(),
                "ice-ufrag" | "ice-pwd" | "candidate" | "end-of-candidates"
            )
        });
        media.attributes.extend(credentials.iter().cloned());
    }

    fn first_value(&self, key: &str) -> Option<&str> {
        self.all_attributes()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_deref())
    }

    fn all_attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.description.attributes.iter().chain(
            self.description
                .media_descriptions
                .iter()
                .flat_map(|m| m.attributes.iter()),
        )
    }
}

/// One media section (`m=` and its attributes).
#[derive(Debug, Clone, Copy)]
pub struct Section<'a> {
    index: usize,
    media: &'a MediaDescription,
}

/// A header extension a section maps to an ID (`a=extmap`, RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionMap {
    pub id: u16,
    pub uri: String,
}

impl<'a> Section<'a> {
    /// Its position among the description's sections.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Audio or video; `None` for anything else (`application`, ...).
    pub fn kind(&self) -> Option<MediaKind> {
        MediaKind::from_media(&self.media.media_name.media)
    }

    /// The media as the `m=` line names it: "video", "application", ...
    pub fn media(&self) -> &'a str {
        &self.media.media_name.media
    }

    /// Port 0: turned off (or `bundle-only`, riding on the group's transport).
    pub fn is_rejected(&self) -> bool {
        self.media.media_name.port.value == 0
    }

    pub fn mid(&self) -> Option<&'a str> {
        self.value("mid")
    }

    /// `sendrecv`, `sendonly`, `recvonly`, `inactive`, or `Unspecified`
    /// when the section does not say (which means `sendrecv`).
    pub fn direction(&self) -> Direction {
        self.media
            .attributes
            .iter()
            .map(|a| Direction::new(&a.key))
            .find(|d| *d != Direction::Unspecified)
            .unwrap_or(Direction::Unspecified)
    }

    /// The payload types of the `m=` line, in order of preference.
    pub fn payload_types(&self) -> Vec<u8> {
        self.media
            .media_name
            .formats
            .iter()
            .filter_map(|pt| pt.parse().ok())
            .collect()
    }

    /// Its codecs (`a=rtpmap`, `a=fmtp`, `a=rtcp-fb` by payload type), in
    /// the `m=` line's order of preference. A static payload type without
    /// `a=rtpmap` has an empty name.
    pub fn codecs(&self) -> Vec<Codec> {
        let mut by_payload_type = self.media.codecs();
        self.payload_types()
            .into_iter()
            .filter_map(|pt| by_payload_type.remove(&pt))
            .collect()
    }

    /// The first codec named `name` ("H264", "opus"; any case).
    pub fn codec_named(&self, name: &str) -> Option<Codec> {
        self.codecs()
            .into_iter()
            .find(|codec| codec.name.eq_ignore_ascii_case(name))
    }

    /// Whether it offers `mime_type` ("video/VP8"): the kind must be this
    /// section's and the codec name one of its `a=rtpmap`s.
    pub fn offers(&self, mime_type: &str) -> bool {
        let Some((kind, name)) = mime_type.split_once('/') else {
            return false;
        };
        kind.eq_ignore_ascii_case(self.media()) && self.codec_named(name).is_some()
    }

    /// The `a=fmtp` parameters of payload type `pt`, if it has any.
    pub fn fmtp(&self, pt: u8) -> Option<String> {
        self.media
            .codecs()
            .remove(&pt)
            .map(|codec| codec.fmtp)
            .filter(|fmtp| !fmtp.is_empty())
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

    /// Its header extensions (`a=extmap`); lines that do not read as one
    /// are left out.
    pub fn extension_maps(&self) -> Vec<ExtensionMap> {
        self.media
            .attributes
            .iter()
            .filter(|a| a.key == "extmap")
            .filter_map(|a| {
                let line = format!("{a}");
                let map = rtc::sdp::extmap::ExtMap::unmarshal(&mut Cursor::new(line)).ok()?;
                Some(ExtensionMap {
                    id: map.value,
                    uri: map.uri?.to_string(),
                })
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
        self.value("ice-ufrag")
    }

    pub fn ice_pwd(&self) -> Option<&'a str> {
        self.value("ice-pwd")
    }

    /// Its `a=ice-ufrag` and `a=ice-pwd` attributes, in order: what puts it
    /// on its ICE transport.
    pub fn credentials(&self) -> Vec<Attribute> {
        self.media
            .attributes
            .iter()
            .filter(|a| a.key == "ice-ufrag" || a.key == "ice-pwd")
            .cloned()
            .collect()
    }

    /// Its ICE candidates (`a=candidate`) that read as one.
    pub fn candidates(&self) -> impl Iterator<Item = Candidate<'a>> + use<'a> {
        self.values("candidate").filter_map(Candidate::parse)
    }

    fn value(&self, key: &str) -> Option<&'a str> {
        self.media.attribute(key).flatten()
    }

    fn values(&self, key: &'a str) -> impl Iterator<Item = &'a str> + use<'a> {
        self.media
            .attributes
            .iter()
            .filter(move |a| a.key == key)
            .filter_map(|a| a.value.as_deref())
    }
}

/// The fields of an ICE candidate (`candidate:` attribute value, RFC 8839
/// §5.1) that the gateway and the bench use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// "udp" or "tcp" (any case).
    pub transport: &'a str,
    /// An IP address, or a `.local` name (mDNS).
    pub address: &'a str,
    pub port: u16,
    /// "host", "srflx", "prflx", "relay".
    pub typ: &'a str,
}

impl<'a> Candidate<'a> {
    /// Reads `value`, with or without its `candidate:` prefix.
    pub fn parse(value: &'a str) -> Option<Self> {
        let value = value.trim();
        let value = value.strip_prefix("candidate:").unwrap_or(value);
        let fields: Vec<&str> = value.split_whitespace().collect();
        let [
            _foundation,
            _component,
            transport,
            _priority,
            address,
            port,
            "typ",
            typ,
            ..,
        ] = fields[..]
        else {
            return None;
        };
        Some(Self {
            transport,
            address,
            port: port.parse().ok()?,
            typ,
        })
    }

    /// A browser's host address hidden behind an mDNS name.
    pub fn is_mdns(&self) -> bool {
        self.address.ends_with(".local")
    }

    /// Where to send UDP to, for a UDP candidate with an IP address.
    pub fn udp_address(&self) -> Option<SocketAddr> {
        if !self.transport.eq_ignore_ascii_case("udp") {
            return None;
        }
        let ip: IpAddr = self.address.parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }
}

/// A trickle-ICE fragment (`application/trickle-ice-sdpfrag`, RFC 8840)
/// as a WHIP/WHEP `PATCH` carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceFragment<'a> {
    pub ufrag: Option<&'a str>,
    pub pwd: Option<&'a str>,
    /// Each `a=candidate` value, with its `candidate:` prefix (what the ICE
    /// agent takes).
    pub candidates: Vec<&'a str>,
}

impl<'a> IceFragment<'a> {
    /// Reads the lines of `text` that matter; others (`m=`, `a=mid`,
    /// `a=end-of-candidates`, unknown ones) are skipped, as RFC 8840 lets a
    /// receiver do.
    pub fn read(text: &'a str) -> Self {
        let mut fragment = Self::default();
        for line in text.lines() {
            let Some(attribute) = line.trim_end().strip_prefix("a=") else {
                continue;
            };
            if let Some(ufrag) = attribute.strip_prefix("ice-ufrag:") {
                fragment.ufrag.get_or_insert(ufrag);
            } else if let Some(pwd) = attribute.strip_prefix("ice-pwd:") {
                fragment.pwd.get_or_insert(pwd);
            } else if attribute.starts_with("candidate:") {
                fragment.candidates.push(attribute);
            }
        }
        fragment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBRTCBIN: &str = include_str!("../../../tests/data/offers/webrtcbin-whip.sdp");
    const CHROMIUM: &str = include_str!("../../../tests/data/offers/chromium-whep.sdp");
    const AIORTC: &str = include_str!("../../../tests/data/offers/aiortc-whep.sdp");

    /// Firefox 128's WHEP offer for the viewer page: recvonly audio and
    /// video, BUNDLE, session-level fingerprint, `a=extmap` with direction.
    const FIREFOX: &str = "v=0\r\n\
        o=mozilla...THIS_IS_SDPARTA-99.0 5179843384342937044 0 IN IP4 0.0.0.0\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=fingerprint:sha-256 5E:0A:7B:34:30:6E:E3:46:90:B9:24:0C:0F:22:5A:50:2C:8B:DB:9A:B5:7F:E5:1D:D8:8C:55:26:BB:9A:24:08\r\n\
        a=group:BUNDLE 0 1\r\n\
        a=ice-options:trickle\r\n\
        a=msid-semantic:WMS *\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=recvonly\r\n\
        a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
        a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n\
        a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
        a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n\
        a=fmtp:101 0-15\r\n\
        a=ice-pwd:2d8c3ab8bbd3b1ecc2eb7ad2f6da9bd1\r\n\
        a=ice-ufrag:e4e1a57b\r\n\
        a=mid:0\r\n\
        a=rtcp-mux\r\n\
        a=rtpmap:109 opus/48000/2\r\n\
        a=rtpmap:9 G722/8000/1\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=setup:actpass\r\n\
        a=ssrc:2541135937 cname:{1b5c4b1e-0d37-4b79-9d5b-5a31b0e5d0a6}\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=recvonly\r\n\
        a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
        a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
        a=extmap:5 urn:ietf:params:rtp-hdrext:toffset\r\n\
        a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n\
        a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
        a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\n\
        a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1\r\n\
        a=fmtp:120 max-fs=12288;max-fr=60\r\n\
        a=fmtp:124 apt=120\r\n\
        a=fmtp:121 max-fs=12288;max-fr=60\r\n\
        a=fmtp:125 apt=121\r\n\
        a=fmtp:127 apt=126\r\n\
        a=fmtp:98 apt=97\r\n\
        a=ice-pwd:2d8c3ab8bbd3b1ecc2eb7ad2f6da9bd1\r\n\
        a=ice-ufrag:e4e1a57b\r\n\
        a=mid:1\r\n\
        a=rtcp-fb:120 nack\r\n\
        a=rtcp-fb:120 nack pli\r\n\
        a=rtcp-fb:120 ccm fir\r\n\
        a=rtcp-fb:120 goog-remb\r\n\
        a=rtcp-fb:120 transport-cc\r\n\
        a=rtcp-fb:126 nack\r\n\
        a=rtcp-fb:126 nack pli\r\n\
        a=rtcp-mux\r\n\
        a=rtcp-rsize\r\n\
        a=rtpmap:120 VP8/90000\r\n\
        a=rtpmap:124 rtx/90000\r\n\
        a=rtpmap:121 VP9/90000\r\n\
        a=rtpmap:125 rtx/90000\r\n\
        a=rtpmap:126 H264/90000\r\n\
        a=rtpmap:127 rtx/90000\r\n\
        a=rtpmap:97 H264/90000\r\n\
        a=rtpmap:98 rtx/90000\r\n\
        a=setup:actpass\r\n\
        a=ssrc:3283446745 cname:{1b5c4b1e-0d37-4b79-9d5b-5a31b0e5d0a6}\r\n\
        a=candidate:0 1 UDP 2122252543 10.213.0.2 49817 typ host\r\n\
        a=candidate:1 1 TCP 2105524479 10.213.0.2 9 typ host tcptype active\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn a_webrtcbin_whip_offer_reads_as_one_sendonly_h264_section() {
        let sdp = Sdp::parse(WEBRTCBIN).unwrap();
        assert_eq!(sdp.sections().count(), 1);
        assert_eq!(sdp.bundle_group(), ["video0"]);
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.mid(), Some("video0"));
        assert_eq!(video.direction(), Direction::SendOnly);
        assert_eq!(video.payload_types(), [96, 97]);
        let codecs = video.codecs();
        assert_eq!(codecs[0].name, "H264");
        assert_eq!(codecs[0].clock_rate, 90_000);
        assert!(codecs[0].fmtp.contains("profile-level-id=42c00d"));
        assert_eq!(codecs[1].name, "rtx");
        assert_eq!(codecs[1].fmtp, "apt=96");
        assert_eq!(video.ssrcs(), [56_045_409, 1_011_148_070]);
        assert_eq!(
            sdp.ice_ufrag(),
            Some("yIm6RUnxHKoSO1VsbTvE0l3b1KMBN4C+"),
            "a `+` in a ufrag is kept"
        );
        assert_eq!(sdp.ice_pwd(), Some("moNLHtJ7H36oqbcDsBywEz5aqxzb6DQk"));
        assert!(!sdp.insists_on_dtls_server());
        let candidates: Vec<_> = video.candidates().collect();
        assert_eq!(candidates.len(), 1);
        assert_eq!(
            candidates[0].udp_address(),
            Some("127.0.0.1:36117".parse().unwrap())
        );
        assert!(sdp.first_section(MediaKind::Audio).is_none());
    }

    #[test]
    fn a_chromium_whep_offer_reads_as_bundled_recvonly_video_and_audio() {
        let sdp = Sdp::parse(CHROMIUM).unwrap();
        let kinds: Vec<_> = sdp.sections().map(|s| s.kind()).collect();
        assert_eq!(kinds, [Some(MediaKind::Video), Some(MediaKind::Audio)]);
        assert_eq!(sdp.bundle_group(), ["0", "1"]);
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.direction(), Direction::RecvOnly);
        assert!(video.offers("video/H264"));
        assert!(video.offers("video/vp8"), "any case");
        assert!(!video.offers("audio/opus"));
        let audio = sdp.first_section(MediaKind::Audio).unwrap();
        assert!(audio.offers("audio/opus"));
        let opus = audio.codec_named("opus").unwrap();
        assert_eq!(
            (opus.clock_rate, opus.encoding_parameters.as_str()),
            (48_000, "2")
        );
        assert!(
            video.candidates().all(|c| c.is_mdns()),
            "Chromium hides its host addresses"
        );
        assert!(video.candidates().all(|c| c.udp_address().is_none()));
    }

    #[test]
    fn an_aiortc_offer_has_one_set_of_credentials_per_section() {
        let sdp = Sdp::parse(AIORTC).unwrap();
        let ufrags: Vec<_> = sdp.sections().map(|s| s.ice_ufrag()).collect();
        assert_eq!(ufrags.len(), 2);
        assert_ne!(ufrags[0], ufrags[1]);
        assert_eq!(sdp.ice_ufrag(), ufrags[0], "the first one counts");
        assert_eq!(sdp.sections().nth(1).unwrap().credentials().len(), 2);
    }

    #[test]
    fn a_firefox_offer_reads_with_static_payload_types_and_extmap_directions() {
        let sdp = Sdp::parse(FIREFOX).unwrap();
        let audio = sdp.first_section(MediaKind::Audio).unwrap();
        assert_eq!(audio.payload_types(), [109, 9, 0, 8, 101]);
        assert_eq!(
            audio.extension_id("urn:ietf:params:rtp-hdrext:csrc-audio-level"),
            Some(2),
            "an ID with a direction"
        );
        assert_eq!(audio.ssrcs(), [2_541_135_937]);
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.mid(), Some("1"));
        let h264 = video.codec_named("h264").unwrap();
        assert_eq!(
            h264.payload_type, 126,
            "the first H.264 in preference order"
        );
        assert_eq!(video.fmtp(126).as_deref(), Some(h264.fmtp.as_str()));
        assert!(h264.rtcp_feedback.iter().any(|fb| fb == "nack pli"));
        assert_eq!(video.fmtp(42), None);
        let candidates: Vec<_> = video.candidates().collect();
        assert_eq!(
            candidates[0].udp_address(),
            Some("10.213.0.2:49817".parse().unwrap())
        );
        assert_eq!(candidates[1].transport, "TCP");
        assert_eq!(candidates[1].udp_address(), None);
    }

    #[test]
    fn the_fragment_of_an_answer_carries_credentials_once_and_candidates_per_section() {
        let answer = Sdp::parse(
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n\
             a=group:BUNDLE 0 1\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:abcd\r\n\
             a=ice-pwd:secretsecretsecretsecret\r\na=rtpmap:96 H264/90000\r\n\
             a=candidate:1 1 udp 2130706431 10.213.0.1 50000 typ host\r\na=end-of-candidates\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=ice-ufrag:abcd\r\n\
             a=ice-pwd:secretsecretsecretsecret\r\na=rtpmap:111 opus/48000/2\r\n",
        )
        .unwrap();
        assert_eq!(
            answer.ice_fragment(),
            "a=ice-lite\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:abcd\r\n\
             a=ice-pwd:secretsecretsecretsecret\r\n\
             a=candidate:1 1 udp 2130706431 10.213.0.1 50000 typ host\r\na=end-of-candidates\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n"
        );
    }

    #[test]
    fn new_credentials_replace_the_old_everywhere_and_nothing_else() {
        let before = Sdp::parse(AIORTC).unwrap();
        let after = before
            .clone()
            .with_ice_credentials("newfrag", "newpassword");
        assert!(after.sections().all(|s| s.ice_ufrag() == Some("newfrag")));
        assert!(after.sections().all(|s| s.ice_pwd() == Some("newpassword")));
        let codecs = |sdp: &Sdp| sdp.sections().map(|s| s.codecs()).collect::<Vec<_>>();
        assert_eq!(codecs(&before), codecs(&after));
        let text = after.to_text();
        assert!(Sdp::parse(&text).is_ok(), "{text}");
    }

    #[test]
    fn passive_setup_anywhere_is_seen() {
        let passive = WEBRTCBIN.replace("a=setup:actpass", "a=setup:passive");
        assert!(Sdp::parse(&passive).unwrap().insists_on_dtls_server());
    }

    #[test]
    fn malformed_sdp_is_a_typed_error_that_says_what_is_wrong() {
        assert_eq!(Sdp::parse("").unwrap_err(), SdpError::Empty);
        assert_eq!(Sdp::parse(" \r\n").unwrap_err(), SdpError::Empty);
        let no_version = WEBRTCBIN.replacen("v=0\r\n", "", 1);
        assert_eq!(
            Sdp::parse(&no_version).unwrap_err(),
            SdpError::MisplacedLine("o=".into())
        );
        let short_m_line = WEBRTCBIN.replace("m=video 9 UDP/TLS/RTP/SAVPF 96 97", "m=video 9");
        let err = Sdp::parse(&short_m_line).unwrap_err();
        assert!(err.to_string().contains("m=video 9"), "{err}");
        let bad_kind = WEBRTCBIN.replace("m=video 9", "m=telepathy 9");
        let err = Sdp::parse(&bad_kind).unwrap_err();
        assert_eq!(err, SdpError::BadValue("`telepathy`".into()));
        let bad_port = WEBRTCBIN.replace("m=video 9", "m=video 99999");
        let err = Sdp::parse(&bad_port).unwrap_err();
        assert!(matches!(err, SdpError::BadValue(_)), "{err:?}");
        let no_timing = WEBRTCBIN.replace("t=0 0\r\n", "");
        assert!(Sdp::parse(&no_timing).is_err());
        let garbage = "hello, this is not SDP";
        let err = Sdp::parse(garbage).unwrap_err();
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn attributes_that_do_not_read_are_left_out_not_fatal() {
        let odd = WEBRTCBIN
            .replace("a=ssrc:56045409 cname", "a=ssrc:notanumber cname")
            .replace(
                "a=mid:video0",
                "a=mid:video0\r\na=extmap:0 not a uri\r\na=extmap:x",
            )
            .replace(
                "a=candidate:1 1 UDP 2015364095 127.0.0.1 36117 typ host",
                "a=candidate:1 1 UDP 1 999.999.999.999 99999 typ host",
            );
        let sdp = Sdp::parse(&odd).unwrap();
        let video = sdp.first_section(MediaKind::Video).unwrap();
        assert_eq!(video.ssrcs(), [56_045_409, 1_011_148_070]);
        assert_eq!(video.extension_maps(), []);
        assert_eq!(video.candidates().count(), 0);
    }

    #[test]
    fn candidates_read_with_or_without_their_prefix() {
        let c = Candidate::parse("candidate:1 1 udp 2130706431 10.213.0.2 40000 typ host").unwrap();
        assert_eq!(c.udp_address(), Some("10.213.0.2:40000".parse().unwrap()));
        assert_eq!(
            Candidate::parse("1 1 udp 1 abcd.local 9 typ host").map(|c| c.is_mdns()),
            Some(true)
        );
        assert_eq!(Candidate::parse("candidate:x"), None);
        assert_eq!(Candidate::parse(""), None);
    }

    #[test]
    fn an_ice_fragment_gives_its_credentials_and_candidates() {
        let fragment = IceFragment::read(
            "a=ice-ufrag:newfrag\r\na=ice-pwd:newpw\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n\
             a=candidate:1 1 udp 2130706431 10.213.0.2 40000 typ host\r\na=end-of-candidates\r\n",
        );
        assert_eq!(fragment.ufrag, Some("newfrag"));
        assert_eq!(fragment.pwd, Some("newpw"));
        assert_eq!(
            fragment.candidates,
            ["candidate:1 1 udp 2130706431 10.213.0.2 40000 typ host"]
        );
        assert_eq!(IceFragment::read(""), IceFragment::default());
    }
}
