//! Error messages: each names the key, the value, what is allowed and the
//! layer that set it.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::{Layers, check_rules};
use samsyn_config::{CaptureConfig, GatewayConfig};

fn capture_with_gateway() -> CaptureConfig {
    CaptureConfig {
        gateway: Some("https://wound.example.org".parse().unwrap()),
        ..CaptureConfig::default()
    }
}

#[test]
fn unknown_key_in_file_is_named_with_a_hint() {
    Layers::gateway()
        .file("gateway.toml", "[media]\nudp_prot = 50001\n")
        .says(&[
            "media.udp_prot",
            "unknown key",
            "did you mean `udp_port`",
            "gateway.toml",
        ]);
}

#[test]
fn unknown_top_level_key_in_file_is_named() {
    Layers::capture()
        .file("capture.toml", "framerate = 30\n")
        .unvalidated()
        .says(&["framerate", "the top level accepts", "capture.toml"]);
}

#[test]
fn unknown_nested_key_in_environment_names_the_variable() {
    Layers::gateway()
        .env("SAMSYN_MEDIA__UDP_PROT", "50001")
        .says(&["media.udp_prot", "SAMSYN_MEDIA__UDP_PROT"]);
}

#[test]
fn range_error_from_environment_names_key_value_rule_and_variable() {
    let text = Layers::gateway().env("SAMSYN_MEDIA__UDP_PORT", "0").error();
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
}

#[test]
fn range_error_from_flag_and_file_name_their_layer() {
    let error = Layers::capture()
        .file("capture.toml", "bitrate_kbps = 99\n")
        .flags(&["--gateway", "https://wound.example.org", "--fps", "500"])
        .load()
        .unwrap_err();
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
}

#[test]
fn type_error_from_environment_names_key_value_and_variable() {
    Layers::gateway()
        .env("SAMSYN_MEDIA__UDP_PORT", "fifty")
        .says(&[
            "media.udp_port = \"fifty\"",
            "expected u16",
            "SAMSYN_MEDIA__UDP_PORT",
        ]);
}

#[test]
fn type_error_in_file_names_key_and_file() {
    Layers::capture()
        .file("capture.toml", "width = \"wide\"\n")
        .unvalidated()
        .says(&["width = \"wide\"", "capture.toml"]);
}

#[test]
fn unparsable_address_names_key_and_variable() {
    Layers::gateway().env("SAMSYN_LISTEN", "localhost").says(&[
        "listen = \"localhost\"",
        "environment variable SAMSYN_LISTEN",
    ]);
}

#[test]
fn unknown_codec_lists_the_allowed_ones() {
    Layers::capture()
        .file("capture.toml", "codec = \"h265\"\n")
        .unvalidated()
        .says(&["codec = \"h265\"", "h264, vp8"]);
}

#[test]
fn toml_syntax_error_names_the_file() {
    Layers::gateway()
        .file("gateway.toml", "[media\nudp_port = 1\n")
        .says(&["gateway.toml"]);
}

#[test]
fn capture_value_rules() {
    check_rules(
        &capture_with_gateway(),
        vec![
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
        ],
    );
}

#[test]
fn gateway_value_rules() {
    check_rules(
        &GatewayConfig::default(),
        vec![
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
        ],
    );
}

#[test]
fn latency_budget_from_the_environment_is_named_with_its_variable() {
    Layers::capture()
        .env("SAMSYN_LATENCY__ENCODE_BUDGET_MS", "5000")
        .flags(&["--gateway", "http://127.0.0.1:8080"])
        .says(&[
            "latency.encode_budget_ms = 5000: must be 1..=1000 ms",
            "SAMSYN_LATENCY__ENCODE_BUDGET_MS",
        ]);
}

#[test]
fn unknown_x264_preset_lists_the_allowed_ones() {
    Layers::capture()
        .file("capture.toml", "x264_preset = \"warp\"\n")
        .unvalidated()
        .says(&["x264_preset", "ultrafast", "veryslow"]);
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
    let on_every_address = Layers::gateway()
        .env("SAMSYN_LISTEN", "0.0.0.0:8080")
        .env("SAMSYN_PUBLIC_URL", "https://wound.example.org");
    on_every_address.says(&[
        "listen = 0.0.0.0:8080",
        "--tls",
        "--tls-cert",
        "environment variable SAMSYN_LISTEN",
    ]);

    // --tls-cert alone turns TLS on, and then asks for the key.
    let text = on_every_address.flags(&["--tls-cert", "cert.pem"]).error();
    assert!(!text.contains("plain HTTP"), "{text}");
    assert!(text.contains("tls.key_file: not set"), "{text}");
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
    assert_eq!(
        Layers::capture().error(),
        "invalid configuration: gateway: not set; pass --gateway <gateway base URL> or set \
         SAMSYN_GATEWAY (or put gateway = \"https://…\" in the config file)"
    );
}
