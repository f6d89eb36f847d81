//! `to_toml()` (behind `--print-config`) loads back to the same configuration.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::{capture_flags, gateway_flags, jailed};
use figment::Jail;
use samsyn_config::{
    AuditConfig, CaptureConfig, ClientTlsConfig, GatewayConfig, HttpConfig, LimitsConfig,
    MediaConfig, SfuConfig, TlsConfig, TokenConfig, TurnConfig, VideoCodec,
};

#[test]
fn gateway_print_round_trips() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let config = GatewayConfig {
            listen: "[::]:8443".parse().unwrap(),
            data_dir: "/var/lib/samsyn".into(),
            public_url: Some("https://wound.example.org/samsyn/".parse().unwrap()),
            display_name: Some("Wound clinic, St. Olav".into()),
            tls: TlsConfig {
                enabled: true,
                cert_file: Some("/etc/samsyn/cert.pem".into()),
                key_file: Some("/etc/samsyn/key.pem".into()),
            },
            http: HttpConfig {
                cors_origins: vec!["https://journal.hospital.example".parse().unwrap()],
            },
            media: MediaConfig {
                udp_port: 3478,
                addresses: vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()],
                public_addresses: vec!["192.0.2.10".parse().unwrap()],
            },
            turn: TurnConfig {
                builtin: Some(false),
                urls: vec!["turns:turn.example.org:443?transport=tcp".into()],
                secret_file: Some("/etc/samsyn/turn-secret".into()),
                credential_ttl_secs: 600,
            },
            sfu: SfuConfig {
                pli_throttle_ms: 1000,
                ..SfuConfig::default()
            },
            limits: LimitsConfig {
                max_viewers_per_room: 4,
                max_relay_allocations_per_ip: 4,
                ..LimitsConfig::default()
            },
            tokens: TokenConfig {
                ttl_hours: 24,
                signing_key_file: Some("/etc/samsyn/signing.pem".into()),
            },
            audit: AuditConfig {
                max_files: 3,
                ..AuditConfig::default()
            },
            log: samsyn_config::LogConfig {
                format: samsyn_config::LogFormat::Json,
            },
        };

        let printed = config.to_toml();
        jail.create_file("printed.toml", &printed)?;
        let loaded = jailed(gateway_flags(&["--config", "printed.toml"]).load())?;
        assert_eq!(loaded, config, "printed:\n{printed}");

        // Defaults print and load back too (no public_url key at all).
        let printed = GatewayConfig::default().to_toml();
        assert!(!printed.contains("public_url"), "{printed}");
        jail.create_file("defaults.toml", &printed)?;
        let loaded = jailed(gateway_flags(&["--config", "defaults.toml"]).load())?;
        assert_eq!(loaded, GatewayConfig::default());
        Ok(())
    });
}

#[test]
fn capture_print_round_trips() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let config = CaptureConfig {
            gateway: Some("http://127.0.0.1:8080".parse().unwrap()),
            room: Some("0042".into()),
            token: Some("eyJhbGciOiJIUzI1NiJ9.e30.abc".into()),
            source: "v4l2:/dev/video2".into(),
            width: 1920,
            height: 1080,
            fps: 25,
            codec: VideoCodec::Vp8,
            audio: false,
            microphone: samsyn_config::Microphone::TestTone,
            consultation: false,
            photo_mode: samsyn_config::PhotoMode::Stream,
            bitrate_kbps: 4000,
            min_bitrate_kbps: 500,
            x264_preset: samsyn_config::X264Preset::Veryfast,
            ice: samsyn_config::IceConfig {
                local_addresses: vec!["127.0.0.1".parse().unwrap()],
            },
            latency: samsyn_config::LatencyConfig {
                encode_budget_ms: Some(40),
                glass_to_glass_target_ms: 200,
                ladder: false,
            },
            status: samsyn_config::StatusConfig {
                endpoint: false,
                port: 9999,
                log_interval_secs: 30,
            },
            tls: ClientTlsConfig::default(),
            talkback: samsyn_config::TalkbackConfig {
                enabled: false,
                speaker: "none".into(),
                volume_percent: 250,
            },
            log: samsyn_config::LogConfig {
                format: samsyn_config::LogFormat::Json,
            },
        };
        let printed = config.to_toml();
        assert!(printed.contains("codec = \"vp8\""), "{printed}");
        jail.create_file("printed.toml", &printed)?;
        let loaded = jailed(capture_flags(&["--config", "printed.toml"]).load())?;
        assert_eq!(loaded, config, "printed:\n{printed}");
        Ok(())
    });
}

#[test]
fn printed_config_shows_the_merged_result() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "fps = 15\n")?;
        jail.set_env("SAMSYN_WIDTH", "640");
        let config = jailed(
            capture_flags(&["--config", "capture.toml", "--height", "480"]).load_unvalidated(),
        )?;
        let printed = config.to_toml();
        assert!(printed.contains("fps = 15"), "{printed}");
        assert!(printed.contains("width = 640"), "{printed}");
        assert!(printed.contains("height = 480"), "{printed}");
        Ok(())
    });
}
