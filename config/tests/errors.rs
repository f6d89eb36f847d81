//! Error messages: each names the key, the value, what is allowed and the
//! layer that set it.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::{capture_flags, error_text, gateway_flags};
use figment::Jail;
use samsyn_config::{CaptureArgs, CaptureConfig, ConfigError, GatewayArgs, GatewayConfig};

/// A change that breaks one rule, and the start of the message expected for it.
type Case<T> = (fn(&mut T), &'static str);

fn capture_with_gateway() -> CaptureConfig {
    CaptureConfig {
        gateway: Some("https://wound.example.org".parse().unwrap()),
        ..CaptureConfig::default()
    }
}

fn validation_text(result: Result<(), ConfigError>) -> String {
    error_text(result.map(|()| "valid"))
}

#[test]
fn unknown_key_in_file_is_named_with_a_hint() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("gateway.toml", "[media]\nudp_prot = 50001\n")?;
        let text = error_text(gateway_flags(&["--config", "gateway.toml"]).load());
        assert!(text.contains("media.udp_prot"), "{text}");
        assert!(text.contains("unknown key"), "{text}");
        assert!(text.contains("did you mean `udp_port`"), "{text}");
        assert!(text.contains("gateway.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn unknown_top_level_key_in_file_is_named() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "framerate = 30\n")?;
        let text = error_text(capture_flags(&["--config", "capture.toml"]).load_unvalidated());
        assert!(text.contains("framerate"), "{text}");
        assert!(text.contains("the top level accepts"), "{text}");
        assert!(text.contains("capture.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn unknown_nested_key_in_environment_names_the_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_MEDIA__UDP_PROT", "50001");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("media.udp_prot"), "{text}");
        assert!(text.contains("SAMSYN_MEDIA__UDP_PROT"), "{text}");
        Ok(())
    });
}

#[test]
fn range_error_from_environment_names_key_value_rule_and_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_MEDIA__UDP_PORT", "0");
        let text = error_text(GatewayArgs::default().load());
        assert!(
            text.starts_with(
                "invalid configuration: media.udp_port = 0: must be a port number 1-65535"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("(from environment variable SAMSYN_MEDIA__UDP_PORT)"),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn range_error_from_flag_and_file_name_their_layer() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "bitrate_kbps = 99\n")?;
        let flags = capture_flags(&[
            "--config",
            "capture.toml",
            "--gateway",
            "https://wound.example.org",
            "--fps",
            "500",
        ]);
        let error = flags.load().unwrap_err();
        let text = error.to_string();
        // Both problems are reported at once, one per line.
        assert_eq!(error.problems().len(), 2, "{text}");
        assert!(
            text.contains(
                "invalid configuration: fps = 500: must be 1..=120 (from command-line flags)"
            ),
            "{text}"
        );
        assert!(
            text.contains("bitrate_kbps = 99: must be 100..=50000 kbit/s"),
            "{text}"
        );
        assert!(text.contains("capture.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn type_error_from_environment_names_key_value_and_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_MEDIA__UDP_PORT", "fifty");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("media.udp_port = \"fifty\""), "{text}");
        assert!(text.contains("expected u16"), "{text}");
        assert!(text.contains("SAMSYN_MEDIA__UDP_PORT"), "{text}");
        Ok(())
    });
}

#[test]
fn type_error_in_file_names_key_and_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "width = \"wide\"\n")?;
        let text = error_text(capture_flags(&["--config", "capture.toml"]).load_unvalidated());
        assert!(text.contains("width = \"wide\""), "{text}");
        assert!(text.contains("capture.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn unparsable_address_names_key_and_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_LISTEN", "localhost");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("listen = \"localhost\""), "{text}");
        assert!(
            text.contains("environment variable SAMSYN_LISTEN"),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn unknown_codec_lists_the_allowed_ones() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "codec = \"h265\"\n")?;
        let text = error_text(capture_flags(&["--config", "capture.toml"]).load_unvalidated());
        assert!(text.contains("codec = \"h265\""), "{text}");
        assert!(text.contains("h264, vp8"), "{text}");
        Ok(())
    });
}

#[test]
fn toml_syntax_error_names_the_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("gateway.toml", "[media\nudp_port = 1\n")?;
        let text = error_text(gateway_flags(&["--config", "gateway.toml"]).load());
        assert!(text.contains("gateway.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn capture_value_rules() {
    let cases: Vec<Case<CaptureConfig>> = vec![
        (|c| c.fps = 500, "fps = 500: must be 1..=120"),
        (|c| c.fps = 0, "fps = 0: must be 1..=120"),
        (
            |c| c.width = 641,
            "width = 641: must be an even number of pixels in 16..=7680",
        ),
        (
            |c| c.height = 8,
            "height = 8: must be an even number of pixels in 16..=7680",
        ),
        (|c| c.width = 7682, "width = 7682: must be an even number"),
        (
            |c| c.bitrate_kbps = 60_000,
            "bitrate_kbps = 60000: must be 100..=50000 kbit/s",
        ),
        (
            |c| c.min_bitrate_kbps = 3000,
            "min_bitrate_kbps = 3000: must not exceed bitrate_kbps (2500); lower min_bitrate_kbps",
        ),
        (
            |c| c.source = "webcam".into(),
            "source = \"webcam\": unknown source; allowed forms: test, v4l2, v4l2:/dev/videoN, file:<path>",
        ),
        (
            |c| c.source = "v4l2:video0".into(),
            "source = \"v4l2:video0\": a V4L2 device must be an absolute path",
        ),
        (
            |c| c.source = "file:".into(),
            "source = \"file:\": file: needs a path",
        ),
        (
            |c| c.gateway = Some("ftp://wound.example.org".parse().unwrap()),
            "gateway = \"ftp://wound.example.org/\": must be an http:// or https:// URL, not ftp://",
        ),
        (
            |c| c.room = Some("ward 7".into()),
            "room = \"ward 7\": must be a room name",
        ),
        (
            |c| c.token = Some(String::new()),
            "token = \"\": must be the publisher token",
        ),
        (
            |c| c.ice.local_addresses = vec!["0.0.0.0".parse().unwrap()],
            "ice.local_addresses = 0.0.0.0: must be an address of a local interface",
        ),
        (
            |c| c.latency.encode_budget_ms = Some(0),
            "latency.encode_budget_ms = 0: must be 1..=1000 ms",
        ),
        (
            |c| c.latency.encode_budget_ms = Some(200),
            "latency.encode_budget_ms = 200: must be below latency.glass_to_glass_target_ms (150 ms)",
        ),
        (
            |c| c.latency.glass_to_glass_target_ms = 5,
            "latency.glass_to_glass_target_ms = 5: must be 10..=10000 ms",
        ),
        (
            |c| c.status.port = 0,
            "status.port = 0: must be a port number 1-65535; to turn the endpoint off set status.endpoint = false",
        ),
        (
            |c| c.status.log_interval_secs = 0,
            "status.log_interval_secs = 0: must be 1..=3600 s",
        ),
        (
            |c| c.gateway = Some("http://10.213.0.1:8080".parse().unwrap()),
            "gateway = \"http://10.213.0.1:8080/\": is plain http:// to another machine, which \
             would send the publisher token unencrypted; use the gateway's https:// URL",
        ),
        (
            |c| c.tls.pin_sha256 = Some("AB:CD".into()),
            "tls.pin_sha256 = \"AB:CD\": must be the SHA-256 fingerprint",
        ),
        (
            |c| {
                c.gateway = Some("http://127.0.0.1:8080".parse().unwrap());
                c.tls.ca_file = Some("ca.pem".into());
            },
            "tls.ca_file = \"http://127.0.0.1:8080/\": is only used with an https:// gateway",
        ),
    ];
    for (break_it, expected) in cases {
        let mut config = capture_with_gateway();
        break_it(&mut config);
        let text = validation_text(config.validate());
        assert!(
            text.starts_with(&format!("invalid configuration: {expected}")),
            "expected {expected:?}, got {text:?}"
        );
    }
}

#[test]
fn gateway_value_rules() {
    let cases: Vec<Case<GatewayConfig>> = vec![
        (
            |c| c.media.udp_port = 0,
            "media.udp_port = 0: must be a port number 1-65535",
        ),
        (
            |c| c.sfu.pli_throttle_ms = 10,
            "sfu.pli_throttle_ms = 10: must be 50..=10000 ms",
        ),
        (
            |c| c.sfu.pli_throttle_ms = 10_001,
            "sfu.pli_throttle_ms = 10001: must be 50..=10000 ms",
        ),
        (
            |c| c.sfu.retransmit_buffer_packets = 1000,
            "sfu.retransmit_buffer_packets = 1000: must be a power of two",
        ),
        (
            |c| c.limits.max_sdp_bytes = 1023,
            "limits.max_sdp_bytes = 1023: must be 1024..=1048576 bytes",
        ),
        (
            |c| c.limits.max_sdp_bytes = 1_048_577,
            "limits.max_sdp_bytes = 1048577: must be 1024..=1048576 bytes",
        ),
        (
            |c| c.public_url = Some("ws://wound.example.org".parse().unwrap()),
            "public_url = \"ws://wound.example.org/\": must be an http:// or https:// URL, not ws://",
        ),
        (
            |c| c.limits.max_viewers_per_room = 0,
            "limits.max_viewers_per_room = 0: must be 1..=1000",
        ),
        (
            |c| c.tokens.ttl_hours = 0,
            "tokens.ttl_hours = 0: must be 1..=720 hours",
        ),
        (
            |c| c.sfu.retransmit_buffer_packets = 0,
            "sfu.retransmit_buffer_packets = 0: must be 16..=32768",
        ),
        (
            |c| c.data_dir = "".into(),
            "data_dir = \"\": must name a directory",
        ),
        (
            |c| c.media.addresses = vec!["::".parse().unwrap()],
            "media.addresses = ::: must be a concrete address",
        ),
        (
            |c| c.listen = "10.0.0.5:8443".parse().unwrap(),
            "listen = 10.0.0.5:8443: plain HTTP is only served on a loopback address",
        ),
        (
            |c| {
                c.listen = "0.0.0.0:8443".parse().unwrap();
                c.tls.enabled = true;
            },
            "listen = 0.0.0.0:8443: listens on every address, so links cannot be built from it; \
             set public_url",
        ),
        (
            |c| {
                c.tls.enabled = true;
                c.public_url = Some("http://wound.example.org".parse().unwrap());
            },
            "public_url = \"http://wound.example.org/\": must be an https:// URL when TLS is on",
        ),
        (
            |c| c.tls.cert_file = Some("cert.pem".into()),
            "tls.cert_file = \"cert.pem\": is set but TLS is off",
        ),
        (
            |c| {
                c.tls.enabled = true;
                c.tls.key_file = Some("key.pem".into());
            },
            "tls.cert_file: not set, but tls.key_file is; give both",
        ),
        (
            |c| c.display_name = Some("line\nbreak".into()),
            "display_name = \"line\\nbreak\": must be 1-80 characters of plain text",
        ),
        (
            |c| c.http.cors_origins = vec!["https://journal.example/app".parse().unwrap()],
            "http.cors_origins = \"https://journal.example/app\": must be a web origin",
        ),
        (
            |c| c.limits.requests_per_minute = 0,
            "limits.requests_per_minute = 0: must be 1..=100000",
        ),
        (
            |c| c.audit.max_files = 0,
            "audit.max_files = 0: must be 1..=1000 files",
        ),
    ];
    for (break_it, expected) in cases {
        let mut config = GatewayConfig::default();
        break_it(&mut config);
        let text = validation_text(config.validate());
        assert!(
            text.starts_with(&format!("invalid configuration: {expected}")),
            "expected {expected:?}, got {text:?}"
        );
    }
}

#[test]
fn latency_budget_from_the_environment_is_named_with_its_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_LATENCY__ENCODE_BUDGET_MS", "5000");
        let text = error_text(capture_flags(&["--gateway", "http://127.0.0.1:8080"]).load());
        assert!(
            text.contains("latency.encode_budget_ms = 5000: must be 1..=1000 ms")
                && text.contains("SAMSYN_LATENCY__ENCODE_BUDGET_MS"),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn unknown_x264_preset_lists_the_allowed_ones() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "x264_preset = \"warp\"\n")?;
        let text = error_text(capture_flags(&["--config", "capture.toml"]).load_unvalidated());
        assert!(
            text.contains("x264_preset") && text.contains("ultrafast") && text.contains("veryslow"),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn values_at_the_edges_are_accepted() {
    let mut capture = capture_with_gateway();
    capture.width = 7680;
    capture.height = 16;
    capture.fps = 120;
    capture.bitrate_kbps = 100;
    capture.min_bitrate_kbps = 100;
    capture.latency.encode_budget_ms = Some(149);
    capture.latency.glass_to_glass_target_ms = 150;
    capture.status.port = 65535;
    capture.status.log_interval_secs = 3600;
    capture.source = "v4l2:/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920-video-index0".into();
    capture.validate().unwrap();

    let mut gateway = GatewayConfig::default();
    gateway.media.udp_port = 65535;
    gateway.sfu.pli_throttle_ms = 50;
    gateway.limits.max_sdp_bytes = 1_048_576;
    gateway.public_url = Some("http://10.0.0.1:8080".parse().unwrap());
    gateway.validate().unwrap();

    // TLS on any address, with the hospital's certificate.
    let mut gateway = GatewayConfig {
        listen: "0.0.0.0:8443".parse().unwrap(),
        public_url: Some("https://wound.example.org".parse().unwrap()),
        ..GatewayConfig::default()
    };
    gateway.tls.enabled = true;
    gateway.tls.cert_file = Some("/etc/samsyn/cert.pem".into());
    gateway.tls.key_file = Some("/etc/samsyn/key.pem".into());
    gateway.validate().unwrap();

    // A pinned fingerprint in either form browsers and OpenSSL print.
    let pin = "AB:".repeat(31) + "AB";
    for form in [pin.clone(), pin.replace(':', "").to_lowercase()] {
        let mut capture = capture_with_gateway();
        capture.tls.pin_sha256 = Some(form.clone());
        capture.validate().unwrap();
        assert_eq!(
            samsyn_config::parse_sha256_fingerprint(&form),
            Some([0xab; 32])
        );
    }
}

#[test]
fn plain_http_off_loopback_names_the_flags_and_the_layer() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("SAMSYN_LISTEN", "0.0.0.0:8080");
        jail.set_env("SAMSYN_PUBLIC_URL", "https://wound.example.org");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("listen = 0.0.0.0:8080"), "{text}");
        assert!(text.contains("--tls"), "{text}");
        assert!(text.contains("--tls-cert"), "{text}");
        assert!(
            text.contains("environment variable SAMSYN_LISTEN"),
            "{text}"
        );

        // --tls-cert alone turns TLS on, and then asks for the key.
        let text = error_text(gateway_flags(&["--tls-cert", "cert.pem"]).load());
        assert!(!text.contains("plain HTTP"), "{text}");
        assert!(text.contains("tls.key_file: not set"), "{text}");
        Ok(())
    });
}

#[test]
fn source_forms_parse() {
    use samsyn_config::SourceSpec;
    use std::path::PathBuf;
    assert_eq!(SourceSpec::parse("test").unwrap(), SourceSpec::Test);
    assert_eq!(SourceSpec::parse("v4l2").unwrap(), SourceSpec::V4l2(None));
    assert_eq!(
        SourceSpec::parse("v4l2:/dev/video2").unwrap(),
        SourceSpec::V4l2(Some(PathBuf::from("/dev/video2")))
    );
    assert_eq!(
        SourceSpec::parse("file:recordings/wound.mkv").unwrap(),
        SourceSpec::File(PathBuf::from("recordings/wound.mkv"))
    );
    assert!(SourceSpec::parse("rtsp://camera").is_err());
}

#[test]
fn capture_args_without_gateway_fail_with_the_flag_and_variable_named() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let text = error_text(CaptureArgs::default().load());
        assert_eq!(
            text,
            "invalid configuration: gateway: not set; pass --gateway <gateway base URL> or set \
             SAMSYN_GATEWAY (or put gateway = \"https://…\" in the config file)"
        );
        Ok(())
    });
}
