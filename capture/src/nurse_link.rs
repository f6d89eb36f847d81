//! The nurse link: the one thing the hospital sends the nurse.
//!
//! `https://<gateway>/n/<room>#token=<publisher token>[&pin=<sha256>]`, or
//! the same with the scheme `samsyn:` (what the gateway's `/n/` page hands
//! to the desktop, which starts `samsyn-capture join`). The fragment never
//! reaches a server; here it gives the token and, for a gateway with a
//! self-signed certificate, the certificate's fingerprint.
//!
//! Everything is checked before any connection: the shape, the token's
//! room and expiry (read from the token without verifying it: only the
//! gateway can, and it does; this only turns a dead link into a plain
//! sentence before the camera starts), and that the link's gateway is the
//! one IT configured, when IT configured one. A link that names another
//! gateway is refused: the daemon never sends video where IT did not say.

use std::time::{SystemTime, UNIX_EPOCH};

use samsyn_config::parse_sha256_fingerprint;
use samsyn_signaling::Claims;
use url::Url;

/// What a nurse link carries.
#[derive(Clone, PartialEq, Eq)]
pub struct NurseLink {
    /// The gateway's base URL (`https://host[:port][/base]`).
    pub gateway: Url,
    pub room: String,
    /// The room's publisher token.
    pub token: String,
    /// The gateway certificate's SHA-256 fingerprint, hex, when the link
    /// carries one.
    pub pin_sha256: Option<String>,
}

// The token is a credential: keep it out of any `{:?}`.
impl std::fmt::Debug for NurseLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NurseLink")
            .field("gateway", &self.gateway.as_str())
            .field("room", &self.room)
            .field("pinned", &self.pin_sha256.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a nurse link cannot be used. Each message says what to do; the
/// nurse screen words the same cases in Norwegian by [`LinkError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "this is not a samsyn link (it should look like https://<hospital>/n/<room>#token=…); \
         open the link from the hospital's message again, or ask the hospital to send it again"
    )]
    NotANurseLink,
    #[error(
        "the link is incomplete: its end (after '#token=') is missing or cut off; open the \
         whole link from the hospital's message, or ask the hospital to send it again"
    )]
    Incomplete,
    #[error(
        "the link's certificate fingerprint is damaged; open the whole link from the \
         hospital's message, or ask the hospital to send it again"
    )]
    BadPin,
    #[error(
        "the link is for another consultation than its address says; ask the hospital to send \
         a new link"
    )]
    WrongRoom,
    #[error(
        "the link has expired (it was valid until {expired_at}); ask the hospital for a new link"
    )]
    Expired { expired_at: String },
    #[error(
        "the link is not a camera link (it is for watching); ask the hospital for the nurse's link"
    )]
    NotForTheCamera,
    #[error(
        "the link is for the gateway {link}, but this laptop is set up for {configured}; \
         ask the hospital to check the link, or IT to check /etc/samsyn/capture.toml"
    )]
    OtherGateway { link: String, configured: String },
}

impl LinkError {
    /// A machine code for the nurse screen's words.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::NotANurseLink | LinkError::Incomplete | LinkError::BadPin => {
                "malformed_link"
            }
            LinkError::WrongRoom => "wrong_room",
            LinkError::Expired { .. } => "token_expired",
            LinkError::NotForTheCamera => "wrong_role",
            LinkError::OtherGateway { .. } => "other_gateway",
        }
    }
}

impl NurseLink {
    /// Reads a link as the nurse got it (surrounding spaces and quotes, as a
    /// mail program may add, are ignored).
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.trim().trim_matches(['"', '\'', '<', '>']);
        let mut url = Url::parse(text).map_err(|_| LinkError::NotANurseLink)?;
        match url.scheme() {
            "https" | "http" => {}
            // The desktop hands `samsyn://host/…`; the gateway speaks https.
            "samsyn" => {
                url = Url::parse(&format!("https{}", &text["samsyn".len()..]))
                    .map_err(|_| LinkError::NotANurseLink)?;
            }
            _ => return Err(LinkError::NotANurseLink),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(LinkError::NotANurseLink);
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let [base @ .., "n", room] = segments.as_slice() else {
            return Err(LinkError::NotANurseLink);
        };
        if !is_room_id(room) {
            return Err(LinkError::NotANurseLink);
        }
        let (mut token, mut pin) = (None, None);
        for (key, value) in url::form_urlencoded::parse(url.fragment().unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "token" if !value.is_empty() => token = Some(value.into_owned()),
                "pin" => pin = Some(value.into_owned()),
                _ => {}
            }
        }
        let token = token.ok_or(LinkError::Incomplete)?;
        if token.split('.').count() != 3 {
            return Err(LinkError::Incomplete);
        }
        if let Some(pin) = &pin
            && parse_sha256_fingerprint(pin).is_none()
        {
            return Err(LinkError::BadPin);
        }
        let mut gateway = url.clone();
        gateway.set_fragment(None);
        gateway.set_query(None);
        gateway.set_path(&base.join("/"));
        Ok(NurseLink {
            gateway,
            room: (*room).to_owned(),
            token,
            pin_sha256: pin,
        })
    }

    /// Checks what can be checked without the gateway: the token is a
    /// publisher's, for this room, and not expired at `now`.
    pub fn check_token(&self, now: SystemTime) -> Result<(), LinkError> {
        let claims = Claims::read_unverified(&self.token).ok_or(LinkError::Incomplete)?;
        if claims.room.as_deref() != Some(self.room.as_str()) {
            return Err(LinkError::WrongRoom);
        }
        if claims.role != samsyn_signaling::Role::Publisher {
            return Err(LinkError::NotForTheCamera);
        }
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if claims.exp <= now_secs {
            return Err(LinkError::Expired {
                expired_at: samsyn_signaling::rfc3339_utc(claims.exp),
            });
        }
        Ok(())
    }

    /// Checks the link's gateway against the one IT configured, if any:
    /// same scheme, host and port, and the configured path's prefix.
    pub fn check_gateway(&self, configured: Option<&Url>) -> Result<(), LinkError> {
        let Some(configured) = configured else {
            return Ok(());
        };
        let same_origin = configured.origin() == self.gateway.origin();
        let same_base =
            configured.path().trim_end_matches('/') == self.gateway.path().trim_end_matches('/');
        if same_origin && same_base {
            Ok(())
        } else {
            Err(LinkError::OtherGateway {
                link: self.gateway.as_str().trim_end_matches('/').to_owned(),
                configured: configured.as_str().trim_end_matches('/').to_owned(),
            })
        }
    }
}

/// A room id as the gateway makes and accepts them.
fn is_room_id(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::time::Duration;

    use super::*;

    fn token(room: &str, role: &str, exp: u64) -> String {
        let claims = serde_json::json!({
            "room": room, "role": role, "exp": exp, "iat": 1, "jti": "t1"
        });
        format!(
            "eyJhbGciOiJFZERTQSJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn reads_gateway_room_token_and_pin() {
        let t = token("ward7", "publisher", 2000);
        let link = NurseLink::parse(&format!(
            "https://gw.example:8443/n/ward7#token={t}&pin={PIN}"
        ))
        .unwrap();
        assert_eq!(link.gateway.as_str(), "https://gw.example:8443/");
        assert_eq!(link.room, "ward7");
        assert_eq!(link.token, t);
        assert_eq!(link.pin_sha256.as_deref(), Some(PIN));
        assert_eq!(link.check_token(at(1000)), Ok(()));
    }

    #[test]
    fn the_desktop_form_and_a_base_path_map_back_to_https() {
        let t = token("r1", "publisher", 2000);
        let link = NurseLink::parse(&format!("samsyn://host/samsyn/n/r1#token={t}")).unwrap();
        assert_eq!(link.gateway.as_str(), "https://host/samsyn");
        assert_eq!(link.pin_sha256, None);
        // Quotes and angle brackets a mail program adds.
        let quoted = NurseLink::parse(&format!(" <https://host/n/r1#token={t}> ")).unwrap();
        assert_eq!(quoted.gateway.as_str(), "https://host/");
    }

    #[test]
    fn broken_links_say_what_is_wrong() {
        let t = token("r1", "publisher", 2000);
        let parse = |s: &str| NurseLink::parse(s).unwrap_err();
        assert_eq!(parse("not a link"), LinkError::NotANurseLink);
        assert_eq!(
            parse("ftp://host/n/r1#token=a.b.c"),
            LinkError::NotANurseLink
        );
        assert_eq!(
            parse(&format!("https://host/r/r1#token={t}")),
            LinkError::NotANurseLink
        );
        assert_eq!(parse("https://host/n/r1"), LinkError::Incomplete);
        assert_eq!(parse("https://host/n/r1#token="), LinkError::Incomplete);
        assert_eq!(
            parse("https://host/n/r1#token=eyJhbGci"),
            LinkError::Incomplete
        );
        assert_eq!(
            parse(&format!("https://host/n/r1#token={t}&pin=abc")),
            LinkError::BadPin
        );
        assert_eq!(
            parse(&format!("https://host/n/r%2F1#token={t}")),
            LinkError::NotANurseLink
        );
        assert_eq!(LinkError::Incomplete.code(), "malformed_link");
    }

    #[test]
    fn the_token_must_be_the_rooms_camera_token_and_current() {
        let link = |room_in_token: &str, role: &str, exp: u64| NurseLink {
            gateway: Url::parse("https://host/").unwrap(),
            room: "r1".into(),
            token: token(room_in_token, role, exp),
            pin_sha256: None,
        };
        assert_eq!(
            link("r2", "publisher", 2000).check_token(at(1000)),
            Err(LinkError::WrongRoom)
        );
        assert_eq!(
            link("r1", "specialist", 2000).check_token(at(1000)),
            Err(LinkError::NotForTheCamera)
        );
        let expired = link("r1", "publisher", 2000)
            .check_token(at(2000))
            .unwrap_err();
        assert_eq!(expired.code(), "token_expired");
        assert!(
            expired.to_string().contains("1970-01-01T00:33:20Z"),
            "{expired}"
        );
        let garbage = NurseLink {
            token: "a.b.c".into(),
            ..link("r1", "publisher", 2000)
        };
        assert_eq!(garbage.check_token(at(1)), Err(LinkError::Incomplete));
    }

    #[test]
    fn a_configured_gateway_refuses_links_to_any_other() {
        let t = token("r1", "publisher", 2000);
        let link = NurseLink::parse(&format!("https://wound.example/n/r1#token={t}")).unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(link.check_gateway(None), Ok(()));
        assert_eq!(
            link.check_gateway(Some(&url("https://wound.example"))),
            Ok(())
        );
        assert_eq!(
            link.check_gateway(Some(&url("https://wound.example:443/"))),
            Ok(())
        );
        let other = link
            .check_gateway(Some(&url("https://evil.example")))
            .unwrap_err();
        assert_eq!(other.code(), "other_gateway");
        assert!(
            other.to_string().contains("https://evil.example"),
            "{other}"
        );
        assert!(
            link.check_gateway(Some(&url("http://wound.example")))
                .is_err()
        );
        assert!(
            link.check_gateway(Some(&url("https://wound.example/samsyn")))
                .is_err()
        );
    }
}
