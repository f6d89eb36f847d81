//! The plain values signaling needs, independent of how they were configured.

use std::path::PathBuf;
use std::time::Duration;

use samsyn_config::GatewayConfig;
use url::Url;

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
    /// How long the tokens of a new room stay valid.
    pub token_ttl: Duration,
    /// Longest time one HTTP request may take, body and media plane included.
    pub request_timeout: Duration,
}

impl SignalingSettings {
    /// Browser offers are 4–12 KiB; 64 KiB leaves room for many codecs and
    /// candidates while keeping a flood of offers cheap to refuse.
    pub const DEFAULT_MAX_SDP_BYTES: usize = 64 * 1024;
    /// Tokens are handed out for one visit, not kept.
    pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
    /// ICE-lite answers come back in milliseconds; 15 s only catches a stuck
    /// client or media plane.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

    /// Settings with the defaults above.
    pub fn new(public_base_url: Url, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            public_base_url,
            data_dir: data_dir.into(),
            max_sdp_bytes: Self::DEFAULT_MAX_SDP_BYTES,
            token_ttl: Self::DEFAULT_TOKEN_TTL,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl From<&GatewayConfig> for SignalingSettings {
    fn from(config: &GatewayConfig) -> Self {
        Self {
            public_base_url: config.public_base_url(),
            data_dir: config.data_dir.clone(),
            max_sdp_bytes: config.limits.max_sdp_bytes,
            token_ttl: Duration::from_secs(config.tokens.ttl_hours.saturating_mul(3600)),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
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
    }
}
