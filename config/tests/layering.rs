//! Precedence of the layers: defaults < file < environment < flags.
//!
//! Every test runs in a `figment::Jail`: it serializes environment changes
//! between tests, runs in a fresh directory, and restores the environment.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use common::{capture_flags, error_text, gateway_flags, jailed};
use figment::Jail;
use samsyn_config::{
    CaptureArgs, CaptureConfig, ConfigError, GatewayArgs, GatewayConfig, Microphone, VideoCodec,
    X264Preset, load,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn defaults_without_file_env_or_flags() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let gateway = jailed(GatewayArgs::default().load())?;
        assert_eq!(gateway, GatewayConfig::default());
        assert_eq!(
            gateway.listen,
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(gateway.data_dir, PathBuf::from("samsyn-data"));
        assert_eq!(gateway.public_url, None);
        assert_eq!(gateway.media.udp_port, 50000);
        assert!(gateway.media.addresses.is_empty());
        assert!(gateway.media.public_addresses.is_empty());
        assert_eq!(gateway.sfu.pli_throttle_ms, 500);
        assert_eq!(gateway.sfu.retransmit_buffer_packets, 512);
        assert_eq!(gateway.limits.max_sdp_bytes, 65536);
        assert_eq!(gateway.limits.max_viewers_per_room, 50);
        assert_eq!(gateway.tokens.ttl_hours, 12);

        let capture = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!(capture, CaptureConfig::default());
        assert_eq!(capture.source, "test");
        assert_eq!(
            (capture.width, capture.height, capture.fps),
            (1280, 720, 30)
        );
        assert_eq!(capture.codec, VideoCodec::H264);
        assert!(capture.audio);
        assert_eq!(capture.bitrate_kbps, 2500);
        assert!(capture.ice.local_addresses.is_empty());
        assert_eq!(capture.x264_preset, X264Preset::Superfast);
        assert_eq!(capture.latency.encode_budget_ms, None);
        assert!((capture.encode_budget_ms() - 1000.0 / 30.0).abs() < 1e-9);
        assert_eq!(capture.latency.glass_to_glass_target_ms, 150);
        assert!(capture.latency.ladder);
        assert!(capture.status.endpoint);
        assert_eq!(capture.status.port, 9740);
        assert_eq!(capture.status.log_interval_secs, 10);
        Ok(())
    });
}

#[test]
fn latency_and_status_settings_come_from_file_env_and_flags() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "capture.toml",
            "x264_preset = \"veryfast\"\n[latency]\nencode_budget_ms = 25\nladder = false\n\
             [status]\nport = 9000\nlog_interval_secs = 5\n",
        )?;
        jail.set_env("SAMSYN_LATENCY__GLASS_TO_GLASS_TARGET_MS", "120");
        jail.set_env("SAMSYN_STATUS__PORT", "9100");
        let config = jailed(
            capture_flags(&[
                "--config",
                "capture.toml",
                "--gateway",
                "http://127.0.0.1:8080",
                "--encode-budget-ms",
                "20",
                "--no-status-endpoint",
            ])
            .load(),
        )?;
        assert_eq!(config.x264_preset, X264Preset::Veryfast);
        assert_eq!(config.latency.encode_budget_ms, Some(20), "flag beats file");
        assert_eq!(config.encode_budget_ms(), 20.0);
        assert_eq!(config.latency.glass_to_glass_target_ms, 120, "environment");
        assert!(!config.latency.ladder, "file");
        assert!(!config.status.endpoint, "flag");
        assert_eq!(config.status.port, 9100, "environment beats file");
        assert_eq!(config.status.log_interval_secs, 5);
        Ok(())
    });
}

#[test]
fn file_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "gateway.toml",
            r#"
            listen = "0.0.0.0:9000"
            public_url = "https://wound.example.org"

            [tls]
            enabled = true

            [media]
            udp_port = 50001
            addresses = ["10.0.0.5"]

            [sfu]
            pli_throttle_ms = 800
            "#,
        )?;
        let flags = gateway_flags(&["--config", "gateway.toml"]);
        let config = jailed(flags.load())?;
        assert_eq!(config.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(config.media.udp_port, 50001);
        assert_eq!(config.media.addresses, vec![ip("10.0.0.5")]);
        assert_eq!(config.sfu.pli_throttle_ms, 800);
        assert_eq!(
            config.public_base_url().as_str(),
            "https://wound.example.org/"
        );
        // Untouched keys keep their defaults, also inside a table the file names.
        assert_eq!(config.sfu.retransmit_buffer_packets, 512);
        assert_eq!(config.data_dir, PathBuf::from("samsyn-data"));
        assert_eq!(config.limits, GatewayConfig::default().limits);
        Ok(())
    });
}

#[test]
fn samsyn_config_names_the_file_when_no_flag_does() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("from-env.toml", "fps = 15\ncodec = \"vp8\"\n")?;
        jail.create_file("from-flag.toml", "fps = 24\n")?;
        jail.set_env("SAMSYN_CONFIG", "from-env.toml");

        let config = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!(config.fps, 15);
        assert_eq!(config.codec, VideoCodec::Vp8);

        // --config wins over SAMSYN_CONFIG.
        let config = jailed(capture_flags(&["--config", "from-flag.toml"]).load_unvalidated())?;
        assert_eq!(config.fps, 24);
        assert_eq!(config.codec, VideoCodec::H264);
        Ok(())
    });
}

#[test]
fn a_named_file_that_is_missing_is_an_error() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let result = gateway_flags(&["--config", "nope.toml"]).load();
        assert!(matches!(
            result,
            Err(ConfigError::FileNotFound {
                named_by: "--config",
                ..
            })
        ));
        let text = error_text(result);
        assert!(
            text.contains("nope.toml") && text.contains("does not exist"),
            "{text}"
        );

        jail.set_env("SAMSYN_CONFIG", "/no/such/samsyn.toml");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("/no/such/samsyn.toml"), "{text}");
        assert!(text.contains("SAMSYN_CONFIG"), "{text}");
        Ok(())
    });
}

#[test]
fn environment_overrides_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "gateway.toml",
            "data_dir = \"/srv/file\"\n[media]\nudp_port = 50001\n",
        )?;
        jail.set_env("SAMSYN_CONFIG", "gateway.toml");
        jail.set_env("SAMSYN_MEDIA__UDP_PORT", "50002");
        jail.set_env("SAMSYN_LISTEN", "127.0.0.1:9100");
        jail.set_env(
            "SAMSYN_PUBLIC_URL",
            "https://specialists.example.org/samsyn/",
        );
        jail.set_env("SAMSYN_MEDIA__PUBLIC_ADDRESSES", "[192.0.2.7, 2001:db8::7]");
        // Other SAMSYN_ variables of the binaries must not be taken as keys.
        jail.set_env("SAMSYN_LOG", "debug");
        jail.set_env("SAMSYN_SOMETHING__ELSE", "1");

        let config = jailed(GatewayArgs::default().load())?;
        assert_eq!(config.media.udp_port, 50002);
        assert_eq!(config.data_dir, PathBuf::from("/srv/file"));
        assert_eq!(
            config.listen,
            "127.0.0.1:9100".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            config.public_base_url().as_str(),
            "https://specialists.example.org/samsyn/"
        );
        assert_eq!(
            config.media.public_addresses,
            vec![ip("192.0.2.7"), ip("2001:db8::7")]
        );
        Ok(())
    });
}

#[test]
fn capture_environment_keys() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_GATEWAY", "https://wound.example.org");
        // A room and token of digits stay text, leading zeros and all.
        jail.set_env("SAMSYN_ROOM", "0042");
        jail.set_env("SAMSYN_TOKEN", "12345");
        jail.set_env("SAMSYN_SOURCE", "v4l2:/dev/video2");
        jail.set_env("SAMSYN_AUDIO", "false");
        jail.set_env("SAMSYN_FPS", "25");
        jail.set_env("SAMSYN_ICE__LOCAL_ADDRESSES", "[10.0.0.1]");

        let config = jailed(CaptureArgs::default().load())?;
        assert_eq!(
            config.gateway.unwrap().as_str(),
            "https://wound.example.org/"
        );
        assert_eq!(config.room.as_deref(), Some("0042"));
        assert_eq!(config.token.as_deref(), Some("12345"));
        assert_eq!(config.source, "v4l2:/dev/video2");
        assert!(!config.audio);
        assert_eq!(config.fps, 25);
        assert_eq!(config.ice.local_addresses, vec![ip("10.0.0.1")]);
        Ok(())
    });
}

#[test]
fn flags_override_environment() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("gateway.toml", "[sfu]\npli_throttle_ms = 700\n")?;
        jail.set_env("SAMSYN_MEDIA__UDP_PORT", "50002");
        jail.set_env("SAMSYN_MEDIA__ADDRESSES", "[10.0.0.1, 10.0.0.2]");
        jail.set_env("SAMSYN_DATA_DIR", "/srv/env");

        let flags = gateway_flags(&[
            "--config",
            "gateway.toml",
            "--media-udp-port",
            "50003",
            "--media-address",
            "10.0.0.9",
            "--listen",
            "[::1]:8443",
            "--pli-throttle-ms",
            "250",
        ]);
        let config = jailed(flags.load())?;
        assert_eq!(config.media.udp_port, 50003);
        // A repeated flag replaces the whole list, it does not append.
        assert_eq!(config.media.addresses, vec![ip("10.0.0.9")]);
        assert_eq!(config.listen, "[::1]:8443".parse::<SocketAddr>().unwrap());
        assert_eq!(config.sfu.pli_throttle_ms, 250);
        // Flags not given leave the environment's value.
        assert_eq!(config.data_dir, PathBuf::from("/srv/env"));
        assert_eq!(config.public_base_url().as_str(), "http://[::1]:8443/");
        Ok(())
    });
}

#[test]
fn capture_flags_override_environment() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_GATEWAY", "http://127.0.0.1:8080");
        jail.set_env("SAMSYN_WIDTH", "1920");
        jail.set_env("SAMSYN_CODEC", "vp8");
        jail.set_env("SAMSYN_ICE__LOCAL_ADDRESSES", "[10.0.0.1]");

        let flags = capture_flags(&[
            "--gateway",
            "https://10.213.0.1:8443",
            "--room",
            "ward-7",
            "--token",
            "tok",
            "--source",
            "file:/tmp/wound.mkv",
            "--width",
            "640",
            "--height",
            "480",
            "--fps",
            "15",
            "--codec",
            "h264",
            "--no-audio",
            "--no-consultation",
            "--bitrate-kbps",
            "800",
            "--ice-address",
            "10.213.0.2",
            "--ice-address",
            "127.0.0.1",
        ]);
        let config = jailed(flags.load())?;
        assert_eq!(config.gateway.unwrap().as_str(), "https://10.213.0.1:8443/");
        assert_eq!(config.room.as_deref(), Some("ward-7"));
        assert_eq!(config.token.as_deref(), Some("tok"));
        assert_eq!(config.source, "file:/tmp/wound.mkv");
        assert_eq!((config.width, config.height, config.fps), (640, 480, 15));
        assert_eq!(config.codec, VideoCodec::H264);
        assert!(!config.audio);
        assert!(!config.consultation);
        assert_eq!(config.bitrate_kbps, 800);
        assert_eq!(
            config.ice.local_addresses,
            vec![ip("10.213.0.2"), ip("127.0.0.1")]
        );
        Ok(())
    });
}

#[test]
fn without_no_audio_the_lower_layers_decide() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_AUDIO", "false");
        let config = jailed(capture_flags(&[]).load_unvalidated())?;
        assert!(!config.audio);
        Ok(())
    });
}

#[test]
fn the_consultation_is_joined_unless_turned_off() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        assert!(jailed(capture_flags(&[]).load_unvalidated())?.consultation);
        jail.set_env("SAMSYN_CONSULTATION", "false");
        assert!(!jailed(capture_flags(&[]).load_unvalidated())?.consultation);
        Ok(())
    });
}

#[test]
fn load_takes_any_serializable_flag_layer() {
    #[derive(serde::Serialize)]
    struct Flags {
        fps: u32,
    }
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_GATEWAY", "https://wound.example.org");
        jail.set_env("SAMSYN_FPS", "20");
        let config: CaptureConfig = jailed(load(None, &Flags { fps: 10 }))?;
        assert_eq!(config.fps, 10);
        Ok(())
    });
}

#[test]
fn public_base_url_derives_from_listen() {
    let mut config = GatewayConfig::default();
    assert_eq!(config.public_base_url().as_str(), "http://127.0.0.1:8080/");
    config.listen = "[::1]:9000".parse().unwrap();
    assert_eq!(config.public_base_url().as_str(), "http://[::1]:9000/");
    config.public_url = Some("https://wound.example.org".parse().unwrap());
    assert_eq!(
        config.public_base_url().as_str(),
        "https://wound.example.org/"
    );
}

#[test]
fn flag_definitions_are_consistent() {
    use clap::CommandFactory;
    common::GatewayCli::command().debug_assert();
    common::CaptureCli::command().debug_assert();
}

#[test]
fn the_microphone_comes_from_the_file_environment_or_flag() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let microphone = |args: &[&str]| -> figment::error::Result<Microphone> {
            Ok(jailed(capture_flags(args).load_unvalidated())?.microphone)
        };
        assert_eq!(microphone(&[])?, Microphone::Auto);
        jail.create_file("capture.toml", "microphone = \"test-silence\"\n")?;
        jail.set_env("SAMSYN_CONFIG", "capture.toml");
        assert_eq!(microphone(&[])?, Microphone::TestSilence);
        jail.set_env("SAMSYN_MICROPHONE", "test-tone");
        assert_eq!(microphone(&[])?, Microphone::TestTone);
        assert_eq!(microphone(&["--microphone", "auto"])?, Microphone::Auto);
        Ok(())
    });
}
