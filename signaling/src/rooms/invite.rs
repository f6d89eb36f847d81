//! The invite for a new room: the two tokens and the URLs that carry them.

use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::RoomId;
use crate::clock::{rfc3339_utc, unix_now};
use crate::settings::SignalingSettings;
use crate::tokens::{Role, TokenAuthority};

/// Everything needed to start a visit; printed by
/// `samsyn-gateway room create --json`.
#[derive(Clone, Serialize)]
pub struct RoomInvite {
    pub room: RoomId,
    /// For the nurse's capture daemon (`--token`).
    pub publisher_token: String,
    /// For the specialists; also inside `viewer_link`.
    pub viewer_token: String,
    /// Where the capture daemon publishes.
    pub whip_url: String,
    /// Where any WHEP player watches.
    pub whep_url: String,
    /// The page for the specialists, the viewer token in its fragment so it
    /// never reaches a server log or a `Referer`.
    pub viewer_link: String,
    /// When both tokens expire, RFC 3339 UTC.
    pub expires_at: String,
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

/// Opens a new room: a fresh id, a publisher and a viewer token valid for
/// `ttl`, and the URLs under `settings.public_base_url`.
pub fn create_room(
    authority: &TokenAuthority,
    settings: &SignalingSettings,
    ttl: Duration,
) -> RoomInvite {
    let room = RoomId::generate();
    let now = unix_now();
    let publisher_token = authority.issue_at(now, room.as_str(), Role::Publisher, ttl, None);
    let viewer_token = authority.issue_at(now, room.as_str(), Role::Viewer, ttl, None);

    let base = base_without_trailing_slash(&settings.public_base_url);
    RoomInvite {
        whip_url: format!("{base}/whip/{room}"),
        whep_url: format!("{base}/whep/{room}"),
        viewer_link: format!("{base}/r/{room}#token={viewer_token}"),
        expires_at: rfc3339_utc(now.saturating_add(ttl.as_secs())),
        room,
        publisher_token,
        viewer_token,
    }
}

/// The base URL as a prefix for paths: a gateway behind a reverse proxy may
/// live under a path (`https://host/samsyn/`), so only the query, fragment
/// and trailing slash are dropped.
fn base_without_trailing_slash(url: &Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    base.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::base_without_trailing_slash;
    use url::Url;

    #[test]
    fn base_keeps_its_path_but_not_the_slash() {
        let base = |s: &str| base_without_trailing_slash(&Url::parse(s).unwrap());
        assert_eq!(base("https://gw.example:8443"), "https://gw.example:8443");
        assert_eq!(base("https://host/samsyn/"), "https://host/samsyn");
        assert_eq!(
            base("http://127.0.0.1:8080/?x=1#y"),
            "http://127.0.0.1:8080"
        );
    }
}
