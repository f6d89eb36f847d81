//! Invites: the tokens of a room and the links that carry them.

use serde::Serialize;
use url::Url;

use super::{RoomId, RoomRecord};
use crate::clock::rfc3339_utc;
use crate::settings::SignalingSettings;
use crate::tokens::{Grant, Role, TokenAuthority};

/// Everything needed to start a consultation; printed by
/// `samsyn-gateway room create --json` and answered by `POST /api/rooms`.
#[derive(Clone, Serialize)]
pub struct RoomInvite {
    pub room: RoomId,
    /// The room's display label (no patient data); may be empty.
    pub label: String,
    /// For the nurse's capture daemon (`--token`).
    pub publisher_token: String,
    /// A specialist token (view, and later talk back and take stills); also
    /// inside `viewer_link`.
    pub viewer_token: String,
    /// A view-only token for a relative or a student; inside `observer_link`.
    pub observer_token: String,
    /// Where the capture daemon publishes.
    pub whip_url: String,
    /// Where any WHEP player watches.
    pub whep_url: String,
    /// The specialists' page, the token in its fragment so it never reaches
    /// a server log or a `Referer`.
    pub viewer_link: String,
    /// The same page with the observer token.
    pub observer_link: String,
    /// For the nurse: `https://<gateway>/n/{room}#token=<publisher
    /// token>[&pin=<sha256>]`. A laptop with samsyn hands it to
    /// `samsyn-capture join`; in a browser, `/n/{room}` offers to open it
    /// in samsyn. The pin (the self-signed certificate's SHA-256, lowercase
    /// hex without colons) and the token ride in the fragment, so neither
    /// reaches a server or a log.
    pub nurse_link: String,
    /// When the room and its tokens expire, RFC 3339 UTC.
    pub expires_at: String,
    /// SHA-256 fingerprint of the gateway's self-signed certificate, for
    /// the capture daemon's `--pin-sha256`; absent with a CA-issued one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_pin_sha256: Option<String>,
}

// The tokens are credentials; a stray `{:?}` must not print them.
impl std::fmt::Debug for RoomInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomInvite")
            .field("room", &self.room)
            .field("whip_url", &self.whip_url)
            .field("whep_url", &self.whep_url)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One more person's way into an open room: `samsyn-gateway token create`
/// and `POST /api/rooms/{room}/tokens`.
#[derive(Clone, Serialize)]
pub struct ParticipantInvite {
    pub room: RoomId,
    pub role: Role,
    pub token: String,
    /// The page with the token in its fragment (for the viewing roles), or
    /// the WHIP URL (for a publisher).
    pub link: String,
    /// For a publisher: the nurse's one link (`samsyn-capture join`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nurse_link: Option<String>,
    pub expires_at: String,
}

impl std::fmt::Debug for ParticipantInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantInvite")
            .field("room", &self.room)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The invite for a room just created: a publisher, a specialist and an
/// observer token, each valid until the room expires.
pub fn invite_for(
    authority: &TokenAuthority,
    settings: &SignalingSettings,
    record: &RoomRecord,
) -> RoomInvite {
    let links = Links::new(&settings.public_base_url);
    let room = record.room.as_str();
    let token = |role, name| {
        authority.issue_at(
            record.created_at,
            Grant {
                room: Some(room),
                role,
                expires_at: record.expires_at,
                name,
            },
        )
    };
    let publisher_token = token(Role::Publisher, Some("camera"));
    let viewer_token = token(Role::Specialist, None);
    let observer_token = token(Role::Observer, None);
    RoomInvite {
        room: record.room.clone(),
        label: record.label.clone(),
        whip_url: links.endpoint("whip", room),
        whep_url: links.endpoint("whep", room),
        viewer_link: links.page(room, &viewer_token),
        observer_link: links.page(room, &observer_token),
        nurse_link: links.nurse(room, &publisher_token, settings.tls_pin_sha256.as_deref()),
        expires_at: rfc3339_utc(record.expires_at),
        tls_pin_sha256: settings.tls_pin_sha256.clone(),
        publisher_token,
        viewer_token,
        observer_token,
    }
}

/// A token for one more participant of an open room, named `name`.
pub fn invite_participant(
    authority: &TokenAuthority,
    settings: &SignalingSettings,
    record: &RoomRecord,
    role: Role,
    name: Option<&str>,
) -> ParticipantInvite {
    let links = Links::new(&settings.public_base_url);
    let room = record.room.as_str();
    let token = authority.issue(Grant {
        room: Some(room),
        role,
        expires_at: record.expires_at,
        name,
    });
    let link = match role {
        Role::Publisher => links.endpoint("whip", room),
        _ => links.page(room, &token),
    };
    let nurse_link = (role == Role::Publisher)
        .then(|| links.nurse(room, &token, settings.tls_pin_sha256.as_deref()));
    ParticipantInvite {
        room: record.room.clone(),
        role,
        token,
        link,
        nurse_link,
        expires_at: rfc3339_utc(record.expires_at),
    }
}

/// The gateway's URLs under its public base.
struct Links {
    base: String,
}

impl Links {
    /// A gateway behind a reverse proxy may live under a path
    /// (`https://host/samsyn/`), so only the query, fragment and trailing
    /// slash are dropped.
    fn new(url: &Url) -> Self {
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
        }
    }

    fn endpoint(&self, prefix: &str, room: &str) -> String {
        format!("{}/{prefix}/{room}", self.base)
    }

    fn page(&self, room: &str, token: &str) -> String {
        format!("{}/r/{room}#token={token}", self.base)
    }

    /// The nurse's link: the publisher token and, for a self-signed
    /// certificate, its fingerprint as lowercase hex without colons (the
    /// form that needs no escaping in a URL).
    fn nurse(&self, room: &str, token: &str, pin: Option<&str>) -> String {
        let pin = pin
            .map(|pin| {
                let hex: String = pin
                    .chars()
                    .filter(|c| *c != ':')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                format!("&pin={hex}")
            })
            .unwrap_or_default();
        format!("{}/n/{room}#token={token}{pin}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::Links;
    use url::Url;

    #[test]
    fn base_keeps_its_path_but_not_the_slash() {
        let base = |s: &str| Links::new(&Url::parse(s).unwrap()).base;
        assert_eq!(base("https://gw.example:8443"), "https://gw.example:8443");
        assert_eq!(base("https://host/samsyn/"), "https://host/samsyn");
        assert_eq!(
            base("http://127.0.0.1:8080/?x=1#y"),
            "http://127.0.0.1:8080"
        );
    }

    const PIN: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:\
                       AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    fn links(base: &str) -> Links {
        Links::new(&Url::parse(base).unwrap())
    }

    #[test]
    fn the_nurse_link_carries_the_publisher_token_in_its_fragment() {
        assert_eq!(
            links("https://gw.example:8443").nurse("ward7abc23", "pub.tok-en_1", None),
            "https://gw.example:8443/n/ward7abc23#token=pub.tok-en_1"
        );
    }

    #[test]
    fn the_nurse_link_pins_a_self_signed_certificate_in_lowercase_hex() {
        let link = links("https://10.0.0.5:8443/").nurse("ward7abc23", "t0k", Some(PIN));
        let hex = "abcdef0123456789".repeat(4);
        assert_eq!(
            link,
            format!("https://10.0.0.5:8443/n/ward7abc23#token=t0k&pin={hex}")
        );
        let pin = link.split_once("&pin=").unwrap().1;
        assert_eq!(pin.len(), 64);
        assert!(
            pin.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn the_nurse_link_keeps_the_base_path_of_a_reverse_proxy() {
        assert_eq!(
            links("https://hospital.example/samsyn/?x=1").nurse("ward7abc23", "t0k", Some(PIN)),
            format!(
                "https://hospital.example/samsyn/n/ward7abc23#token=t0k&pin={}",
                "abcdef0123456789".repeat(4)
            )
        );
        assert_eq!(
            links("https://hospital.example/samsyn").nurse("ward7abc23", "t0k", None),
            "https://hospital.example/samsyn/n/ward7abc23#token=t0k"
        );
    }
}
