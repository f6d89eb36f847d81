//! Command-line flags of the binaries, as clap `Args` to `#[command(flatten)]`.
//!
//! Flags only ever override: an absent flag leaves the file or environment
//! value in place. The environment forms (`SAMSYN_…`) are read by the
//! environment layer, not by clap, so the order stays defaults < file <
//! environment < flags.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Serialize;
use url::Url;

use crate::capture::{CaptureConfig, Microphone, PhotoMode, VideoCodec, X264Preset};
use crate::discovery::ConfigFile;
use crate::error::ConfigError;
use crate::gateway::GatewayConfig;
use crate::layers::{files_to_read, load, load_unvalidated};
use crate::log::LogFormat;

/// Flags of `samsyn-gateway`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct GatewayArgs {
    /// `--config`; see its help text.
    #[arg(
        long,
        value_name = "FILE",
        help = "TOML config file to read instead of /etc/samsyn/gateway.toml (env SAMSYN_CONFIG); without either, /etc/samsyn/gateway.toml is read if it exists"
    )]
    pub config: Option<PathBuf>,

    /// `--log-format`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help = "How the log on stderr is written: text, or json (one object per line, for a log collector) [default: text] (env SAMSYN_LOG__FORMAT)"
    )]
    pub log_format: Option<LogFormat>,

    /// `--listen`; see its help text.
    #[arg(
        long,
        value_name = "IP:PORT",
        help = "Address and port of the HTTP listener [default: 127.0.0.1:8080] (env SAMSYN_LISTEN)"
    )]
    pub listen: Option<SocketAddr>,

    /// `--data-dir`; see its help text.
    #[arg(
        long,
        value_name = "DIR",
        help = "Directory for rooms, keys, the certificate and the audit trail [default: samsyn-data] (env SAMSYN_DATA_DIR)"
    )]
    pub data_dir: Option<PathBuf>,

    /// `--public-url`; see its help text.
    #[arg(
        long,
        value_name = "URL",
        help = "URL the gateway is reached at, used in links; default http://<listen> (env SAMSYN_PUBLIC_URL)"
    )]
    pub public_url: Option<Url>,

    /// `--display-name`; see its help text.
    #[arg(
        long,
        value_name = "NAME",
        help = "The gateway's name shown on the viewer page, e.g. \"Wound clinic, St. Olav\"; default the public URL's host (env SAMSYN_DISPLAY_NAME)"
    )]
    pub display_name: Option<String>,

    /// `--tls`; see its help text.
    #[arg(
        long,
        help = "Serve HTTPS; without --tls-cert/--tls-key a self-signed certificate is made and kept in the data directory (env SAMSYN_TLS__ENABLED=true)"
    )]
    pub tls: bool,

    /// `--tls-cert`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = "Certificate chain for HTTPS, PEM; implies --tls (env SAMSYN_TLS__CERT_FILE)"
    )]
    pub tls_cert: Option<PathBuf>,

    /// `--tls-key`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = "Private key of that certificate, PEM; implies --tls (env SAMSYN_TLS__KEY_FILE)"
    )]
    pub tls_key: Option<PathBuf>,

    /// `--media-udp-port`; see its help text.
    #[arg(
        long,
        value_name = "PORT",
        help = "The one UDP port for all WebRTC media [default: 50000] (env SAMSYN_MEDIA__UDP_PORT)"
    )]
    pub media_udp_port: Option<u16>,

    /// `--media-address`; see its help text.
    #[arg(
        long = "media-address",
        value_name = "IP",
        help = "Local address to gather media candidates on; repeat for several; default all (env SAMSYN_MEDIA__ADDRESSES=[a,b])"
    )]
    pub media_addresses: Vec<IpAddr>,

    /// `--media-public-address`; see its help text.
    #[arg(
        long = "media-public-address",
        value_name = "IP",
        help = "Address to announce to peers instead of the local one (1:1 NAT); repeat for several (env SAMSYN_MEDIA__PUBLIC_ADDRESSES=[a,b])"
    )]
    pub media_public_addresses: Vec<IpAddr>,

    /// `--turn-builtin`; see its help text.
    #[arg(
        long,
        value_name = "true|false",
        help = "Also serve TURN (RFC 8656) on the HTTPS port, over TLS and plain TCP, for clients whose UDP cannot reach the media port [default: true with TLS] (env SAMSYN_TURN__BUILTIN)"
    )]
    pub turn_builtin: Option<bool>,

    /// `--turn-url`; see its help text.
    #[arg(
        long = "turn-url",
        value_name = "URI",
        help = "An external TURN relay to announce, e.g. turns:turn.hospital.example:443?transport=tcp; repeat for several; needs turn.secret_file (env SAMSYN_TURN__URLS=[a,b])"
    )]
    pub turn_urls: Vec<String>,

    /// `--pli-throttle-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = "Minimum time between keyframe requests sent to the publisher [default: 500] (env SAMSYN_SFU__PLI_THROTTLE_MS)"
    )]
    pub pli_throttle_ms: Option<u64>,
}

impl GatewayArgs {
    /// Loads and validates the gateway configuration with these flags on top.
    pub fn load(&self) -> Result<GatewayConfig, ConfigError> {
        load(self.config.as_deref(), &self.overlay())
    }

    /// Loads without range checks, for `--print-config` of an unfinished setup.
    pub fn load_unvalidated(&self) -> Result<GatewayConfig, ConfigError> {
        load_unvalidated(self.config.as_deref(), &self.overlay())
    }

    /// The config files [`GatewayArgs::load`] reads, for `--print-config`.
    pub fn files_to_read(&self) -> Result<Vec<ConfigFile>, ConfigError> {
        files_to_read::<GatewayConfig>(self.config.as_deref())
    }

    fn overlay(&self) -> GatewayOverlay<'_> {
        GatewayOverlay {
            listen: self.listen,
            data_dir: self.data_dir.as_deref(),
            public_url: self.public_url.as_ref(),
            display_name: self.display_name.as_deref(),
            tls: TlsOverlay {
                // Only the positive is a flag; a certificate implies it.
                enabled: (self.tls || self.tls_cert.is_some() || self.tls_key.is_some())
                    .then_some(true),
                cert_file: self.tls_cert.as_deref(),
                key_file: self.tls_key.as_deref(),
            },
            media: MediaOverlay {
                udp_port: self.media_udp_port,
                addresses: &self.media_addresses,
                public_addresses: &self.media_public_addresses,
            },
            turn: TurnOverlay {
                builtin: self.turn_builtin,
                urls: &self.turn_urls,
            },
            sfu: SfuOverlay {
                pli_throttle_ms: self.pli_throttle_ms,
            },
            log: LogOverlay {
                format: self.log_format,
            },
        }
    }
}

/// Flags of `samsyn-capture`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct CaptureArgs {
    /// `--config`; see its help text.
    #[arg(
        long,
        value_name = "FILE",
        help = "TOML config file to read instead of the default ones (env SAMSYN_CONFIG); without either, /etc/samsyn/capture.toml and then ~/.config/samsyn/capture.toml are read where they exist"
    )]
    pub config: Option<PathBuf>,

    /// `--log-format`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help = "How the log on stderr is written: text, or json (one object per line) [default: text] (env SAMSYN_LOG__FORMAT)"
    )]
    pub log_format: Option<LogFormat>,

    /// `--gateway`; see its help text.
    #[arg(
        long,
        value_name = "URL",
        help = "Base URL of the samsyn gateway, e.g. https://wound.example.org (env SAMSYN_GATEWAY)"
    )]
    pub gateway: Option<Url>,

    /// `--room`; see its help text.
    #[arg(
        long,
        value_name = "ROOM",
        help = "Room to publish into (env SAMSYN_ROOM)"
    )]
    pub room: Option<String>,

    /// `--token`; see its help text.
    #[arg(
        long,
        value_name = "TOKEN",
        help = "Publisher token of that room (env SAMSYN_TOKEN)"
    )]
    pub token: Option<String>,

    /// `--source`; see its help text.
    #[arg(
        long,
        value_name = "SOURCE",
        help = "Video source: test | v4l2 | v4l2:/dev/videoN | file:<path> [default: test] (env SAMSYN_SOURCE)"
    )]
    pub source: Option<String>,

    /// `--width`; see its help text.
    #[arg(
        long,
        value_name = "PIXELS",
        help = "Largest frame width in pixels [default: 1280] (env SAMSYN_WIDTH)"
    )]
    pub width: Option<u32>,

    /// `--height`; see its help text.
    #[arg(
        long,
        value_name = "PIXELS",
        help = "Largest frame height in pixels [default: 720] (env SAMSYN_HEIGHT)"
    )]
    pub height: Option<u32>,

    /// `--fps`; see its help text.
    #[arg(
        long,
        value_name = "FPS",
        help = "Highest frame rate [default: 30] (env SAMSYN_FPS)"
    )]
    pub fps: Option<u32>,

    /// `--codec`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "CODEC",
        help = "Video codec to send [default: h264] (env SAMSYN_CODEC)"
    )]
    pub codec: Option<VideoCodec>,

    /// `--no-audio`; see its help text.
    #[arg(long, help = "Send video only, no microphone (env SAMSYN_AUDIO=false)")]
    pub no_audio: bool,

    /// `--microphone`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "MICROPHONE",
        help = "What to send as the nurse's voice: auto (the default microphone), or instead of one test-tone (a tone in 1.5 s phrases) or test-silence [default: auto] (env SAMSYN_MICROPHONE)"
    )]
    pub microphone: Option<Microphone>,

    /// `--no-consultation`; see its help text.
    #[arg(
        long,
        help = "Do not join the room's events (participants and chat on stdout, chat from stdin) (env SAMSYN_CONSULTATION=false)"
    )]
    pub no_consultation: bool,

    /// `--photo-mode`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        help = "How a V4L2 camera takes photos: largest = switch to its largest picture for each photo (the stream shows the last picture, frozen, for about a second); stream = the streaming picture, for cameras that misbehave when switched [default: largest] (env SAMSYN_PHOTO_MODE)"
    )]
    pub photo_mode: Option<PhotoMode>,

    /// `--bitrate-kbps`; see its help text.
    #[arg(
        long,
        value_name = "KBPS",
        help = "Highest video bitrate in kbit/s; congestion control stays at or under it [default: 2500] (env SAMSYN_BITRATE_KBPS)"
    )]
    pub bitrate_kbps: Option<u32>,

    /// `--min-bitrate-kbps`; see its help text.
    #[arg(
        long,
        value_name = "KBPS",
        help = "Lowest video bitrate congestion control may go down to, in kbit/s [default: 300] (env SAMSYN_MIN_BITRATE_KBPS)"
    )]
    pub min_bitrate_kbps: Option<u32>,

    /// `--ca-file`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = "Trust the gateway's certificate if a CA in this PEM file signed it, instead of the system's CAs (env SAMSYN_TLS__CA_FILE)"
    )]
    pub ca_file: Option<PathBuf>,

    /// `--pin-sha256`; see its help text.
    #[arg(
        long,
        value_name = "FINGERPRINT",
        help = "Trust exactly the gateway certificate with this SHA-256 fingerprint (as samsyn-gateway prints it) (env SAMSYN_TLS__PIN_SHA256)"
    )]
    pub pin_sha256: Option<String>,

    /// `--ice-address`; see its help text.
    #[arg(
        long = "ice-address",
        value_name = "IP",
        help = "Interface address ICE may use; repeat for several; needed for 127.0.0.1 (env SAMSYN_ICE__LOCAL_ADDRESSES=[a,b])"
    )]
    pub ice_addresses: Vec<IpAddr>,

    /// `--x264-preset`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "PRESET",
        help = "x264's speed preset when x264 encodes [default: superfast] (env SAMSYN_X264_PRESET)"
    )]
    pub x264_preset: Option<X264Preset>,

    /// `--encode-budget-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = "Most time from capture to RTP packet per frame; default one frame interval (env SAMSYN_LATENCY__ENCODE_BUDGET_MS)"
    )]
    pub encode_budget_ms: Option<u32>,

    /// `--glass-to-glass-target-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = "End-to-end latency goal, camera to screen [default: 150] (env SAMSYN_LATENCY__GLASS_TO_GLASS_TARGET_MS)"
    )]
    pub glass_to_glass_target_ms: Option<u32>,

    /// `--no-ladder`; see its help text.
    #[arg(
        long,
        help = "Never step the picture down to hold the encode budget (env SAMSYN_LATENCY__LADDER=false)"
    )]
    pub no_ladder: bool,

    /// `--status-port`; see its help text.
    #[arg(
        long,
        value_name = "PORT",
        help = "Port of the JSON status endpoint on 127.0.0.1 [default: 9740] (env SAMSYN_STATUS__PORT)"
    )]
    pub status_port: Option<u16>,

    /// `--no-status-endpoint`; see its help text.
    #[arg(
        long,
        help = "Do not serve the status endpoint (env SAMSYN_STATUS__ENDPOINT=false)"
    )]
    pub no_status_endpoint: bool,

    // talkback: begin
    /// `--no-talkback`; see its help text.
    #[arg(
        long,
        help = "Do not play the specialists' voices (env SAMSYN_TALKBACK__ENABLED=false)"
    )]
    pub no_talkback: bool,

    /// `--speaker`; see its help text.
    #[arg(
        long,
        value_name = "OUTPUT",
        help = "Where the specialists' voices play: auto | none | <PulseAudio sink name> [default: auto] (env SAMSYN_TALKBACK__SPEAKER)"
    )]
    pub speaker: Option<String>,

    /// `--talkback-volume`; see its help text.
    #[arg(
        long,
        value_name = "PERCENT",
        help = "Volume of the specialists' voices, 0-400 percent [default: 100]; change it while running with /volume, /louder, /softer (env SAMSYN_TALKBACK__VOLUME_PERCENT)"
    )]
    pub talkback_volume: Option<u32>,
    // talkback: end
}

impl CaptureArgs {
    /// Loads and validates the capture configuration with these flags on top.
    pub fn load(&self) -> Result<CaptureConfig, ConfigError> {
        load(self.config.as_deref(), &self.overlay())
    }

    /// Loads without range checks, for `--print-config` before `--gateway` is known.
    pub fn load_unvalidated(&self) -> Result<CaptureConfig, ConfigError> {
        load_unvalidated(self.config.as_deref(), &self.overlay())
    }

    /// The config files [`CaptureArgs::load`] reads, for `--print-config`.
    pub fn files_to_read(&self) -> Result<Vec<ConfigFile>, ConfigError> {
        files_to_read::<CaptureConfig>(self.config.as_deref())
    }

    fn overlay(&self) -> CaptureOverlay<'_> {
        CaptureOverlay {
            gateway: self.gateway.as_ref(),
            room: self.room.as_deref(),
            token: self.token.as_deref(),
            source: self.source.as_deref(),
            width: self.width,
            height: self.height,
            fps: self.fps,
            codec: self.codec,
            // Only the negative is a flag; without it the file or environment decides.
            audio: self.no_audio.then_some(false),
            microphone: self.microphone,
            consultation: self.no_consultation.then_some(false),
            photo_mode: self.photo_mode,
            bitrate_kbps: self.bitrate_kbps,
            min_bitrate_kbps: self.min_bitrate_kbps,
            x264_preset: self.x264_preset,
            ice: IceOverlay {
                local_addresses: &self.ice_addresses,
            },
            latency: LatencyOverlay {
                encode_budget_ms: self.encode_budget_ms,
                glass_to_glass_target_ms: self.glass_to_glass_target_ms,
                ladder: self.no_ladder.then_some(false),
            },
            status: StatusOverlay {
                endpoint: self.no_status_endpoint.then_some(false),
                port: self.status_port,
            },
            tls: ClientTlsOverlay {
                ca_file: self.ca_file.as_deref(),
                pin_sha256: self.pin_sha256.as_deref(),
            },
            talkback: TalkbackOverlay {
                enabled: self.no_talkback.then_some(false),
                speaker: self.speaker.as_deref(),
                volume_percent: self.talkback_volume,
            },
            log: LogOverlay {
                format: self.log_format,
            },
        }
    }
}

// The overlays mirror the config structs with every field optional and
// skipped when unset, so they only override what was actually given.

#[derive(Serialize)]
struct GatewayOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<&'a Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    tls: TlsOverlay<'a>,
    media: MediaOverlay<'a>,
    turn: TurnOverlay<'a>,
    sfu: SfuOverlay,
    log: LogOverlay,
}

#[derive(Serialize)]
struct LogOverlay {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<LogFormat>,
}

#[derive(Serialize)]
struct TlsOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<&'a Path>,
}

#[derive(Serialize)]
struct MediaOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    udp_port: Option<u16>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    addresses: &'a [IpAddr],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    public_addresses: &'a [IpAddr],
}

#[derive(Serialize)]
struct TurnOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    builtin: Option<bool>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    urls: &'a [String],
}

#[derive(Serialize)]
struct SfuOverlay {
    #[serde(skip_serializing_if = "Option::is_none")]
    pli_throttle_ms: Option<u64>,
}

#[derive(Serialize)]
struct CaptureOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<&'a Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    codec: Option<VideoCodec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audio: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    microphone: Option<Microphone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consultation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photo_mode: Option<PhotoMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bitrate_kbps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_bitrate_kbps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x264_preset: Option<X264Preset>,
    ice: IceOverlay<'a>,
    latency: LatencyOverlay,
    status: StatusOverlay,
    tls: ClientTlsOverlay<'a>,
    talkback: TalkbackOverlay<'a>,
    log: LogOverlay,
}

#[derive(Serialize)]
struct TalkbackOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume_percent: Option<u32>,
}

#[derive(Serialize)]
struct LatencyOverlay {
    #[serde(skip_serializing_if = "Option::is_none")]
    encode_budget_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    glass_to_glass_target_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ladder: Option<bool>,
}

#[derive(Serialize)]
struct StatusOverlay {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct ClientTlsOverlay<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_sha256: Option<&'a str>,
}

#[derive(Serialize)]
struct IceOverlay<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    local_addresses: &'a [IpAddr],
}
