//! The `[turn]` section and the relay limits: defaults, file, environment,
//! flags, and the messages for values that cannot be used.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use std::path::PathBuf;

use common::{Layers, check_rules, gateway_flags, jailed, validation_text};
use figment::Jail;
use samsyn_config::{GatewayArgs, GatewayConfig, TurnConfig};

const EXTERNAL: &str = "turns:turn.hospital.example:443?transport=tcp";

#[test]
fn defaults_announce_the_builtin_relay_only_with_tls() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let config = jailed(GatewayArgs::default().load())?;
        assert_eq!(config.turn, TurnConfig::default());
        assert_eq!(config.turn.builtin, None);
        assert!(config.turn.urls.is_empty());
        assert_eq!(config.turn.secret_file, None);
        assert_eq!(config.turn.credential_ttl_secs, 3600);
        assert_eq!(config.limits.max_relay_connections, 1024);
        assert_eq!(config.limits.max_relay_allocations, 256);
        assert_eq!(config.limits.max_relay_allocations_per_ip, 16);
        assert!(!config.turn_builtin_enabled(), "plain HTTP on loopback");

        let config = jailed(gateway_flags(&["--tls"]).load())?;
        assert!(config.turn_builtin_enabled(), "on by default with TLS");
        let config = jailed(gateway_flags(&["--tls", "--turn-builtin", "false"]).load())?;
        assert!(!config.turn_builtin_enabled(), "turned off explicitly");
        let config = jailed(gateway_flags(&["--turn-builtin", "true"]).load())?;
        assert!(
            config.turn_builtin_enabled(),
            "on without TLS: TURN over plain TCP"
        );
        Ok(())
    });
}

#[test]
fn the_file_sets_every_turn_key() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "gateway.toml",
            &format!(
                "[turn]\nbuiltin = false\nurls = [\"{EXTERNAL}\", \"turn:10.0.0.9:3478\"]\n\
                 secret_file = \"/etc/samsyn/turn-secret\"\ncredential_ttl_secs = 900\n\
                 [limits]\nmax_relay_connections = 64\nmax_relay_allocations = 32\n\
                 max_relay_allocations_per_ip = 2\n"
            ),
        )?;
        let config = jailed(gateway_flags(&["--config", "gateway.toml"]).load())?;
        assert_eq!(
            config.turn,
            TurnConfig {
                builtin: Some(false),
                urls: vec![EXTERNAL.into(), "turn:10.0.0.9:3478".into()],
                secret_file: Some(PathBuf::from("/etc/samsyn/turn-secret")),
                credential_ttl_secs: 900,
            }
        );
        assert_eq!(config.limits.max_relay_connections, 64);
        assert_eq!(config.limits.max_relay_allocations, 32);
        assert_eq!(config.limits.max_relay_allocations_per_ip, 2);
        Ok(())
    });
}

#[test]
fn the_environment_sets_builtin_urls_and_secret_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_TURN__BUILTIN", "true");
        jail.set_env(
            "SAMSYN_TURN__URLS",
            // An IPv6 host's brackets need the element quoted inside the list.
            format!("[{EXTERNAL}, \"turn:[2001:db8::3]:3478?transport=udp\"]"),
        );
        jail.set_env("SAMSYN_TURN__SECRET_FILE", "/etc/samsyn/turn-secret");
        jail.set_env("SAMSYN_TURN__CREDENTIAL_TTL_SECS", "120");
        let config = jailed(GatewayArgs::default().load())?;
        assert_eq!(config.turn.builtin, Some(true));
        assert_eq!(
            config.turn.urls,
            vec![
                EXTERNAL.to_owned(),
                "turn:[2001:db8::3]:3478?transport=udp".to_owned()
            ]
        );
        assert_eq!(
            config.turn.secret_file,
            Some(PathBuf::from("/etc/samsyn/turn-secret"))
        );
        assert_eq!(config.turn.credential_ttl_secs, 120);

        // One relay needs no brackets.
        jail.set_env("SAMSYN_TURN__URLS", EXTERNAL);
        let config = jailed(GatewayArgs::default().load())?;
        assert_eq!(config.turn.urls, vec![EXTERNAL.to_owned()]);
        Ok(())
    });
}

#[test]
fn flags_override_the_environment() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_TURN__BUILTIN", "true");
        jail.set_env("SAMSYN_TURN__URLS", "[turn:env.example]");
        jail.set_env("SAMSYN_TURN__SECRET_FILE", "/etc/samsyn/turn-secret");
        let flags = gateway_flags(&[
            "--turn-builtin",
            "false",
            "--turn-url",
            EXTERNAL,
            "--turn-url",
            "turn:turn.hospital.example:3478?transport=udp",
        ]);
        let config = jailed(flags.load())?;
        assert_eq!(config.turn.builtin, Some(false));
        // A repeated flag replaces the whole list, it does not append.
        assert_eq!(
            config.turn.urls,
            vec![
                EXTERNAL.to_owned(),
                "turn:turn.hospital.example:3478?transport=udp".to_owned()
            ]
        );

        // Without the flags the environment's values stay.
        let config = jailed(GatewayArgs::default().load())?;
        assert_eq!(config.turn.builtin, Some(true));
        assert_eq!(config.turn.urls, vec!["turn:env.example".to_owned()]);
        Ok(())
    });
}

#[test]
fn turn_builtin_takes_only_true_or_false() {
    use clap::Parser;
    let parsed = common::GatewayCli::try_parse_from(["samsyn-gateway", "--turn-builtin", "maybe"]);
    let text = parsed.unwrap_err().to_string();
    assert!(text.contains("--turn-builtin"), "{text}");
}

#[test]
fn external_relays_need_the_secret_file() {
    let mut config = GatewayConfig::default();
    config.turn.urls = vec![EXTERNAL.into()];
    let text = validation_text(&config);
    assert!(
        text.starts_with("invalid configuration: turn.secret_file: not set, but turn.urls is")
            && text.contains("static-auth-secret")
            && text.contains("mode 0600")
            && text.contains("SAMSYN_TURN__SECRET_FILE"),
        "{text}"
    );
    config.turn.secret_file = Some("/etc/samsyn/turn-secret".into());
    config.validate().unwrap();
}

#[test]
fn a_bad_relay_uri_is_named_with_the_form_and_its_layer() {
    let with_secret = Layers::gateway().env("SAMSYN_TURN__SECRET_FILE", "/etc/samsyn/turn-secret");
    with_secret
        .clone()
        .flags(&["--turn-url", "turn://turn.example:3478"])
        .says(&[
            "turn.urls = \"turn://turn.example:3478\": must be a TURN URI as in RFC 7065",
            "no // after the scheme",
            "command-line flags",
        ]);
    with_secret
        .env("SAMSYN_TURN__URLS", "[stun:stun.example:3478]")
        .says(&[
            "turn.urls = \"stun:stun.example:3478\"",
            "SAMSYN_TURN__URLS",
        ]);
}

#[test]
fn value_rules() {
    check_rules(
        &GatewayConfig::default(),
        vec![
            (
                |c| c.turn.credential_ttl_secs = 59,
                "turn.credential_ttl_secs = 59: must be 60..=86400 s",
            ),
            (
                |c| c.turn.credential_ttl_secs = 86_401,
                "turn.credential_ttl_secs = 86401: must be 60..=86400 s",
            ),
            (
                |c| c.turn.secret_file = Some("".into()),
                "turn.secret_file = \"\": must name the file holding coturn's static-auth-secret",
            ),
            (
                |c| c.limits.max_relay_connections = 0,
                "limits.max_relay_connections = 0: must be at least 1",
            ),
            (
                |c| c.limits.max_relay_allocations = 0,
                "limits.max_relay_allocations = 0: must be at least 1",
            ),
            (
                |c| c.limits.max_relay_allocations_per_ip = 0,
                "limits.max_relay_allocations_per_ip = 0: must be at least 1",
            ),
        ],
    );

    // The edges are accepted, and the built-in relay needs no TLS.
    let mut config = GatewayConfig::default();
    config.turn.builtin = Some(true);
    config.turn.credential_ttl_secs = 60;
    config.limits.max_relay_allocations_per_ip = 1;
    config.validate().unwrap();
    config.turn.credential_ttl_secs = 86_400;
    config.validate().unwrap();
}

#[test]
fn an_unknown_turn_key_is_refused() {
    Layers::gateway()
        .file("gateway.toml", "[turn]\nsecret = \"north\"\n")
        .unvalidated()
        .says(&["turn.secret"]);
}
