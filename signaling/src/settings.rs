//! The plain values signaling needs, independent of how they were configured.

use std::path::PathBuf;
use std::time::Duration;

use samsyn_config::GatewayConfig;
use url::Url;

use crate::audit::Rotation;
use crate::ice_servers::IceServerSettings;

/// Settings of the signaling layer.
///
/// Kept apart from the gateway's configuration type so that signaling can be
/// built and tested with nothing but these values.
#[derive(Debug, Clone)]
pub struct SignalingSettings {
    /// Base of every link handed out (`whip_url`, `viewer_link`, …), as the
    /// outside world reaches the gateway.
    pub public_base_url: Url,
    /// Where the token signing key is kept (`keys/token-signing.pk8`).
    pub data_dir: PathBuf,
    /// Largest SDP offer or ICE fragment accepted, in bytes.
    pub max_sdp_bytes: usize,
    /// Largest still photo accepted, in bytes; photos a room keeps.
    pub max_photo_bytes: usize,
    pub max_photos_per_room: usize,
    /// Bytes all rooms' photos may take together.
    pub max_photo_memory_bytes: usize,
    /// How long the tokens of a new room stay valid.
    pub token_ttl: Duration,
    /// Longest time one HTTP request may take, body and media plane included.
    pub request_timeout: Duration,
    /// The gateway's name as shown on the viewer page.
    pub display_name: String,
    /// Rooms that may be open at once.
    pub max_rooms: usize,
    /// Per client address, on token-checked endpoints.
    pub rate_limit: RateLimit,
    /// Web origins allowed to call the gateway from a browser.
    pub cors_origins: Vec<String>,
    /// The listener speaks TLS: answers carry HSTS.
    pub tls: bool,
    /// The self-signed certificate's fingerprint, handed out in invites for
    /// clients to pin; `None` with a CA-issued certificate or without TLS.
    pub tls_pin_sha256: Option<String>,
    /// The audit trail; `None` keeps none (and no consultation log).
    pub audit: Option<Rotation>,
    /// How long a room stays empty before its consultation counts as over
    /// (the consultation log); a camera or a viewer that comes back sooner
    /// continues it.
    pub consultation_idle: Duration,
    /// The TURN relays announced to WHIP/WHEP clients.
    pub ice_servers: IceServerSettings,
}

/// The default of [`SignalingSettings::consultation_idle`]: long enough to
/// ride out a reconnect or a short break, short enough for the statistics.
pub const CONSULTATION_IDLE: Duration = Duration::from_secs(300);

/// Requests per client address: `burst` at once, then `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

impl SignalingSettings {
    /// Settings with the gateway's defaults for everything but the URL and
    /// the data directory.
    pub fn new(public_base_url: Url, data_dir: impl Into<PathBuf>) -> Self {
        let mut config = GatewayConfig {
            public_url: Some(public_base_url),
            data_dir: data_dir.into(),
            ..GatewayConfig::default()
        };
        config.tls.enabled = config
            .public_url
            .as_ref()
            .is_some_and(|url| url.scheme() == "https");
        Self::from(&config)
    }
}

impl From<&GatewayConfig> for SignalingSettings {
    fn from(config: &GatewayConfig) -> Self {
        let limits = &config.limits;
        Self {
            public_base_url: config.public_base_url(),
            data_dir: config.data_dir.clone(),
            max_sdp_bytes: limits.max_sdp_bytes,
            max_photo_bytes: limits.max_photo_bytes,
            max_photos_per_room: limits.max_photos_per_room,
            max_photo_memory_bytes: limits.max_photo_memory_bytes,
            token_ttl: Duration::from_secs(config.tokens.ttl_hours.saturating_mul(3600)),
            request_timeout: Duration::from_secs(limits.request_timeout_secs),
            display_name: config.display_name(),
            max_rooms: limits.max_rooms,
            rate_limit: RateLimit {
                per_minute: limits.requests_per_minute,
                burst: limits.request_burst,
            },
            cors_origins: config
                .http
                .cors_origins
                .iter()
                .map(|origin| origin.origin().ascii_serialization())
                .collect(),
            tls: config.tls.enabled,
            tls_pin_sha256: None,
            audit: config.audit.enabled.then_some(Rotation {
                max_file_bytes: config.audit.max_file_bytes,
                max_files: config.audit.max_files,
            }),
            consultation_idle: CONSULTATION_IDLE,
            ice_servers: IceServerSettings {
                builtin_relay: config.turn_builtin_enabled(),
                external_urls: config.turn.urls.clone(),
                credential_ttl: Duration::from_secs(config.turn.credential_ttl_secs),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use samsyn_config::GatewayConfig;

    use super::SignalingSettings;

    #[test]
    fn takes_the_gateway_configuration() {
        let mut config = GatewayConfig::default();
        config.tokens.ttl_hours = 3;
        config.limits.max_sdp_bytes = 1000;
        let settings = SignalingSettings::from(&config);
        assert_eq!(settings.public_base_url, config.public_base_url());
        assert_eq!(settings.data_dir, config.data_dir);
        assert_eq!(settings.max_sdp_bytes, 1000);
        assert_eq!(settings.token_ttl.as_secs(), 3 * 3600);
        assert!(
            !settings.ice_servers.builtin_relay,
            "no TLS, no built-in relay"
        );
        assert!(settings.ice_servers.external_urls.is_empty());
        assert_eq!(settings.ice_servers.credential_ttl.as_secs(), 3600);
    }

    #[test]
    fn takes_the_relays() {
        let mut config = GatewayConfig::default();
        config.tls.enabled = true;
        config.turn.urls = vec!["turn:coturn.example".into()];
        config.turn.credential_ttl_secs = 120;
        let settings = SignalingSettings::from(&config);
        assert!(settings.ice_servers.builtin_relay, "on by default with TLS");
        assert_eq!(settings.ice_servers.external_urls, ["turn:coturn.example"]);
        assert_eq!(settings.ice_servers.credential_ttl.as_secs(), 120);

        config.turn.builtin = Some(false);
        assert!(!SignalingSettings::from(&config).ice_servers.builtin_relay);
    }
}
