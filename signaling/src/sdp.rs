//! A quick look at a body that claims to be SDP, before the media plane parses
//! it for real: it turns an obviously wrong body into a clear 400 instead of
//! a parser's complaint from deep inside the media plane.

/// The kind of a media section (`m=audio`, `m=video`): the one enum for
/// it, shared by the gateway's and the capture daemon's SDP readers and
/// everything after them. Other kinds (`application`, ...) have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    /// The kind an `m=` line names ("audio", "video").
    pub fn from_media(media: &str) -> Option<Self> {
        match media {
            "audio" => Some(Self::Audio),
            "video" => Some(Self::Video),
            _ => None,
        }
    }

    /// The name an `m=` line gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a body is not an SDP offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SdpShapeError {
    #[error("it is not UTF-8 text")]
    NotUtf8,
    #[error("its first line is not `v=0`")]
    NoVersionLine,
    #[error("it has no `m=` media line")]
    NoMediaLine,
}

/// Checks the outline of an SDP session description (RFC 8866): UTF-8, the
/// first line `v=0`, at least one media section.
pub fn check_offer(body: &[u8]) -> Result<&str, SdpShapeError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpShapeError::NotUtf8)?;
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    if lines.next() != Some("v=0") {
        return Err(SdpShapeError::NoVersionLine);
    }
    if !lines.any(|line| line.starts_with("m=")) {
        return Err(SdpShapeError::NoMediaLine);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::{MediaKind, SdpShapeError, check_offer};

    #[test]
    fn accepts_a_minimal_offer_with_crlf() {
        let sdp =
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
        assert_eq!(check_offer(sdp.as_bytes()), Ok(sdp));
    }

    #[test]
    fn refuses_what_is_not_an_offer() {
        assert_eq!(check_offer(b"\xff\xfe"), Err(SdpShapeError::NotUtf8));
        assert_eq!(check_offer(b"hello"), Err(SdpShapeError::NoVersionLine));
        assert_eq!(check_offer(b""), Err(SdpShapeError::NoVersionLine));
        assert_eq!(
            check_offer(b"v=0\r\ns=-\r\n"),
            Err(SdpShapeError::NoMediaLine)
        );
    }

    #[test]
    fn media_kinds_read_and_print_as_m_lines_name_them() {
        assert_eq!(MediaKind::from_media("video"), Some(MediaKind::Video));
        assert_eq!(MediaKind::from_media("audio"), Some(MediaKind::Audio));
        assert_eq!(MediaKind::from_media("application"), None);
        assert_eq!(
            MediaKind::from_media("Video"),
            None,
            "RFC 8866 names are lower case"
        );
        assert_eq!(MediaKind::Audio.to_string(), "audio");
    }
}
