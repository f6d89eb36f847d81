//! What `serve` and the offline commands (`room`, `token`) open alike from
//! the configuration: the data directory, the token authority, the TLS
//! identity, the relays' secret and the settings signaling runs with.

use anyhow::Context;
use samsyn_config::GatewayConfig;
use samsyn_signaling::ice_servers::TurnSecret;
use samsyn_signaling::tls::ServerTls;
use samsyn_signaling::{RoomRegistry, SignalingSettings, TokenAuthority};

/// Creates the data directory (0700: everything in it is private) if need
/// be, and refuses one that belongs to another user.
pub fn data_dir(config: &GatewayConfig) -> anyhow::Result<()> {
    samsyn_signaling::private_files::create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}; choose another with --data-dir",
            config.data_dir.display()
        )
    })?;
    crate::data_owner::check_owned_by_self(&config.data_dir)
}

/// The token signing key: `tokens.signing_key_file`, or the one in the data
/// directory (made on first use).
pub fn token_authority(config: &GatewayConfig) -> anyhow::Result<TokenAuthority> {
    match &config.tokens.signing_key_file {
        Some(path) => TokenAuthority::load(path).with_context(|| {
            format!(
                "cannot use the signing key {} (tokens.signing_key_file)",
                path.display()
            )
        }),
        None => TokenAuthority::load_or_create(&config.data_dir).with_context(|| {
            format!(
                "cannot use the signing key in {}; check the directory exists and is writable, \
                 or set --data-dir",
                config.data_dir.display()
            )
        }),
    }
}

/// The room registry of the data directory.
pub fn room_registry(config: &GatewayConfig) -> anyhow::Result<RoomRegistry> {
    RoomRegistry::open(&config.data_dir, config.limits.max_rooms)
        .with_context(|| format!("cannot open the rooms in {}", config.data_dir.display()))
}

/// The TLS identity when TLS is on: the configured files, or the
/// self-signed certificate of the data directory (made on first use, for
/// the names links will use).
pub fn tls_identity(config: &GatewayConfig) -> anyhow::Result<Option<ServerTls>> {
    if !config.tls.enabled {
        return Ok(None);
    }
    let files = config
        .tls
        .cert_file
        .as_deref()
        .zip(config.tls.key_file.as_deref());
    let tls = ServerTls::load_or_create(&config.data_dir, files, &certificate_names(config))
        .with_context(|| match files {
            Some(_) => "cannot set up TLS from tls.cert_file and tls.key_file; put the \
                        certificate chain and its key there (PEM, readable by the gateway's \
                        user), or correct the paths"
                .to_owned(),
            None => format!(
                "cannot set up TLS with a self-signed certificate in {}",
                config.data_dir.join("tls").display()
            ),
        })?;
    Ok(Some(tls))
}

/// The secret the TURN relays check credentials with, when there is a
/// relay to announce: the built-in one is on or `turn.urls` names external
/// ones. `turn.secret_file` (coturn's `static-auth-secret`), or the one in
/// the data directory (made on first use).
pub fn turn_secret(config: &GatewayConfig) -> anyhow::Result<Option<TurnSecret>> {
    if !config.turn_builtin_enabled() && config.turn.urls.is_empty() {
        return Ok(None);
    }
    let secret = TurnSecret::load_or_create(&config.data_dir, config.turn.secret_file.as_deref())
        .context("cannot set up the secret the TURN relays check credentials with")?;
    Ok(Some(secret))
}

/// Signaling's settings, with the fingerprint to pin when the certificate
/// is self-signed.
pub fn signaling_settings(config: &GatewayConfig, tls: Option<&ServerTls>) -> SignalingSettings {
    let mut settings = SignalingSettings::from(config);
    settings.tls_pin_sha256 = tls
        .filter(|tls| tls.is_self_signed())
        .map(|tls| tls.fingerprint.to_string());
    settings
}

/// The names a self-signed certificate is made for: the public URL's host,
/// the listen address when it is a specific one, and loopback.
fn certificate_names(config: &GatewayConfig) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(host) = config.public_base_url().host_str() {
        // IPv6 hosts come bracketed in URLs.
        names.push(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
    }
    let listen = config.listen.ip();
    if !listen.is_unspecified() {
        names.push(listen.to_string());
    }
    for loopback in ["localhost", "127.0.0.1"] {
        names.push(loopback.to_owned());
    }
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_turn_secret_only_when_a_relay_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = GatewayConfig {
            data_dir: dir.path().to_owned(),
            ..GatewayConfig::default()
        };
        assert!(turn_secret(&config).unwrap().is_none(), "no TLS, no relays");
        assert!(!dir.path().join("turn").exists());

        config.tls.enabled = true;
        let made = turn_secret(&config)
            .unwrap()
            .expect("built-in relay on with TLS");
        let again = turn_secret(&config).unwrap().unwrap();
        assert_eq!(made, again, "made once, then reused");

        config.turn.builtin = Some(false);
        assert!(turn_secret(&config).unwrap().is_none());

        // External relays take coturn's secret from the configured file.
        let file = dir.path().join("coturn-secret");
        std::fs::write(&file, "north\n").unwrap();
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o600)).unwrap();
        config.turn.urls = vec!["turn:coturn.example".into()];
        config.turn.secret_file = Some(file);
        let external = turn_secret(&config).unwrap().unwrap();
        assert_eq!(external.as_bytes(), b"north");
    }
}
