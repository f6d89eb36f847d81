//! Command-line flags of the binaries, as clap `Args` to `#[command(flatten)]`.
//!
//! Flags only ever override: an absent flag leaves the file or environment
//! value in place. So each flag is an `Option` (or a switch, or a list that
//! may be empty) with no clap default, and the overlay built from them
//! leaves out what was not given. The environment forms (`SAMSYN_…`) are
//! read by the environment layer, not by clap, so the order stays defaults <
//! file < environment < flags.
//!
//! The help texts name each flag's variable and default without typing
//! them: [`crate::help`] derives both from the key the flag sets. A test
//! below checks that each flag's help names the variable of a key the flag
//! really sets.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Serialize;
use url::Url;

use crate::capture::{
    CaptureConfig, MAX_TALKBACK_VOLUME_PERCENT, Microphone, PhotoMode, SOURCE_FORMS, VideoCodec,
    X264Preset,
};
use crate::discovery::ConfigFile;
use crate::error::ConfigError;
use crate::gateway::GatewayConfig;
use crate::help;
use crate::layers::{files_to_read, load, load_unvalidated};
use crate::log::LogFormat;

/// Flags of `samsyn-gateway`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct GatewayArgs {
    /// `--config`; see its help text.
    #[arg(long, value_name = "FILE", help = help::config_file::<GatewayConfig>())]
    pub config: Option<PathBuf>,

    /// `--log-format`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help = help::gateway("log.format").says(
            "How the log on stderr is written: text, or json (one object per line, for a log \
             collector)"
        )
    )]
    pub log_format: Option<LogFormat>,

    /// `--listen`; see its help text.
    #[arg(
        long,
        value_name = "IP:PORT",
        help = help::gateway("listen").says("Address and port of the HTTP listener")
    )]
    pub listen: Option<SocketAddr>,

    /// `--data-dir`; see its help text.
    #[arg(
        long,
        value_name = "DIR",
        help = help::gateway("data_dir")
            .says("Directory for rooms, keys, the certificate and the audit trail")
    )]
    pub data_dir: Option<PathBuf>,

    /// `--public-url`; see its help text.
    #[arg(
        long,
        value_name = "URL",
        help = help::gateway("public_url")
            .unset_means("http://<listen>")
            .says("URL the gateway is reached at, used in links")
    )]
    pub public_url: Option<Url>,

    /// `--display-name`; see its help text.
    #[arg(
        long,
        value_name = "NAME",
        help = help::gateway("display_name")
            .unset_means("the public URL's host")
            .says("The gateway's name shown on the viewer page, e.g. \"Wound clinic, St. Olav\"")
    )]
    pub display_name: Option<String>,

    /// `--tls`; see its help text.
    #[arg(
        long,
        help = help::gateway("tls.enabled").sets("true").says(
            "Serve HTTPS; without --tls-cert/--tls-key a self-signed certificate is made and \
             kept in the data directory"
        )
    )]
    pub tls: bool,

    /// `--tls-cert`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = help::gateway("tls.cert_file")
            .says("Certificate chain for HTTPS, PEM; implies --tls")
    )]
    pub tls_cert: Option<PathBuf>,

    /// `--tls-key`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = help::gateway("tls.key_file")
            .says("Private key of that certificate, PEM; implies --tls")
    )]
    pub tls_key: Option<PathBuf>,

    /// `--media-udp-port`; see its help text.
    #[arg(
        long,
        value_name = "PORT",
        help = help::gateway("media.udp_port").says("The one UDP port for all WebRTC media")
    )]
    pub media_udp_port: Option<u16>,

    /// `--media-address`; see its help text.
    #[arg(
        long = "media-address",
        value_name = "IP",
        help = help::gateway("media.addresses")
            .list()
            .unset_means("all")
            .says("Local address to gather media candidates on; repeat for several")
    )]
    pub media_addresses: Vec<IpAddr>,

    /// `--media-public-address`; see its help text.
    #[arg(
        long = "media-public-address",
        value_name = "IP",
        help = help::gateway("media.public_addresses")
            .list()
            .unset_means("the local addresses")
            .says(
                "Address to announce to peers instead of the local one (1:1 NAT); repeat for \
                 several"
            )
    )]
    pub media_public_addresses: Vec<IpAddr>,

    /// `--turn-builtin`; see its help text.
    #[arg(
        long,
        value_name = "true|false",
        help = help::gateway("turn.builtin").unset_means("true with TLS").says(
            "Also serve TURN (RFC 8656) on the HTTPS port, over TLS and plain TCP, for clients \
             whose UDP cannot reach the media port"
        )
    )]
    pub turn_builtin: Option<bool>,

    /// `--turn-url`; see its help text.
    #[arg(
        long = "turn-url",
        value_name = "URI",
        help = help::gateway("turn.urls").list().says(
            "An external TURN relay to announce, e.g. \
             turns:turn.hospital.example:443?transport=tcp; repeat for several; needs \
             turn.secret_file"
        )
    )]
    pub turn_urls: Vec<String>,

    /// `--pli-throttle-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = help::gateway("sfu.pli_throttle_ms")
            .says("Minimum time between keyframe requests sent to the publisher")
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
    #[arg(long, value_name = "FILE", help = help::config_file::<CaptureConfig>())]
    pub config: Option<PathBuf>,

    /// `--log-format`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        help = help::capture("log.format")
            .says("How the log on stderr is written: text, or json (one object per line)")
    )]
    pub log_format: Option<LogFormat>,

    /// `--gateway`; see its help text.
    #[arg(
        long,
        value_name = "URL",
        help = help::capture("gateway")
            .says("Base URL of the samsyn gateway, e.g. https://wound.example.org")
    )]
    pub gateway: Option<Url>,

    /// `--room`; see its help text.
    #[arg(
        long,
        value_name = "ROOM",
        help = help::capture("room").says("Room to publish into")
    )]
    pub room: Option<String>,

    /// `--token`; see its help text.
    #[arg(
        long,
        value_name = "TOKEN",
        help = help::capture("token").says("Publisher token of that room")
    )]
    pub token: Option<String>,

    /// `--source`; see its help text.
    #[arg(
        long,
        value_name = "SOURCE",
        help = help::capture("source").says(&format!("Video source: {SOURCE_FORMS}"))
    )]
    pub source: Option<String>,

    /// `--width`; see its help text.
    #[arg(
        long,
        value_name = "PIXELS",
        help = help::capture("width").says("Largest frame width in pixels")
    )]
    pub width: Option<u32>,

    /// `--height`; see its help text.
    #[arg(
        long,
        value_name = "PIXELS",
        help = help::capture("height").says("Largest frame height in pixels")
    )]
    pub height: Option<u32>,

    /// `--fps`; see its help text.
    #[arg(
        long,
        value_name = "FPS",
        help = help::capture("fps").says("Highest frame rate")
    )]
    pub fps: Option<u32>,

    /// `--codec`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "CODEC",
        help = help::capture("codec").says("Video codec to send")
    )]
    pub codec: Option<VideoCodec>,

    /// `--no-audio`; see its help text.
    #[arg(
        long,
        help = help::capture("audio").sets("false").says("Send video only, no microphone")
    )]
    pub no_audio: bool,

    /// `--microphone`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "MICROPHONE",
        help = help::capture("microphone").says(
            "What to send as the nurse's voice: auto (the default microphone), or instead of \
             one test-tone (a tone in 1.5 s phrases) or test-silence"
        )
    )]
    pub microphone: Option<Microphone>,

    /// `--no-consultation`; see its help text.
    #[arg(
        long,
        help = help::capture("consultation").sets("false").says(
            "Do not join the room's events (participants and chat on stdout, chat from stdin)"
        )
    )]
    pub no_consultation: bool,

    /// `--photo-mode`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        help = help::capture("photo_mode").says(
            "How a V4L2 camera takes photos: largest = switch to its largest picture for each \
             photo (the stream shows the last picture, frozen, for about a second); stream = \
             the streaming picture, for cameras that misbehave when switched"
        )
    )]
    pub photo_mode: Option<PhotoMode>,

    /// `--bitrate-kbps`; see its help text.
    #[arg(
        long,
        value_name = "KBPS",
        help = help::capture("bitrate_kbps").says(
            "Highest video bitrate in kbit/s; congestion control stays at or under it"
        )
    )]
    pub bitrate_kbps: Option<u32>,

    /// `--min-bitrate-kbps`; see its help text.
    #[arg(
        long,
        value_name = "KBPS",
        help = help::capture("min_bitrate_kbps")
            .says("Lowest video bitrate congestion control may go down to, in kbit/s")
    )]
    pub min_bitrate_kbps: Option<u32>,

    /// `--ca-file`; see its help text.
    #[arg(
        long,
        value_name = "PEM",
        help = help::capture("tls.ca_file").says(
            "Trust the gateway's certificate if a CA in this PEM file signed it, instead of \
             the system's CAs"
        )
    )]
    pub ca_file: Option<PathBuf>,

    /// `--pin-sha256`; see its help text.
    #[arg(
        long,
        value_name = "FINGERPRINT",
        help = help::capture("tls.pin_sha256").says(
            "Trust exactly the gateway certificate with this SHA-256 fingerprint (as \
             samsyn-gateway prints it)"
        )
    )]
    pub pin_sha256: Option<String>,

    /// `--ice-address`; see its help text.
    #[arg(
        long = "ice-address",
        value_name = "IP",
        help = help::capture("ice.local_addresses").list().says(
            "Interface address ICE may use; repeat for several; needed for 127.0.0.1"
        )
    )]
    pub ice_addresses: Vec<IpAddr>,

    /// `--x264-preset`; see its help text.
    #[arg(
        long,
        value_enum,
        value_name = "PRESET",
        help = help::capture("x264_preset").says("x264's speed preset when x264 encodes")
    )]
    pub x264_preset: Option<X264Preset>,

    /// `--encode-budget-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = help::capture("latency.encode_budget_ms")
            .unset_means("one frame interval")
            .says("Most time from capture to RTP packet per frame")
    )]
    pub encode_budget_ms: Option<u32>,

    /// `--glass-to-glass-target-ms`; see its help text.
    #[arg(
        long,
        value_name = "MS",
        help = help::capture("latency.glass_to_glass_target_ms")
            .says("End-to-end latency goal, camera to screen")
    )]
    pub glass_to_glass_target_ms: Option<u32>,

    /// `--no-ladder`; see its help text.
    #[arg(
        long,
        help = help::capture("latency.ladder")
            .sets("false")
            .says("Never step the picture down to hold the encode budget")
    )]
    pub no_ladder: bool,

    /// `--status-port`; see its help text.
    #[arg(
        long,
        value_name = "PORT",
        help = help::capture("status.port").says("Port of the JSON status endpoint on 127.0.0.1")
    )]
    pub status_port: Option<u16>,

    /// `--no-status-endpoint`; see its help text.
    #[arg(
        long,
        help = help::capture("status.endpoint")
            .sets("false")
            .says("Do not serve the status endpoint")
    )]
    pub no_status_endpoint: bool,

    /// `--no-talkback`; see its help text.
    #[arg(
        long,
        help = help::capture("talkback.enabled")
            .sets("false")
            .says("Do not play the specialists' voices")
    )]
    pub no_talkback: bool,

    /// `--speaker`; see its help text.
    #[arg(
        long,
        value_name = "OUTPUT",
        help = help::capture("talkback.speaker").says(
            "Where the specialists' voices play: auto | none | <PulseAudio sink name>"
        )
    )]
    pub speaker: Option<String>,

    /// `--talkback-volume`; see its help text.
    #[arg(
        long,
        value_name = "PERCENT",
        help = help::capture("talkback.volume_percent").says(&format!(
            "Volume of the specialists' voices, 0-{MAX_TALKBACK_VOLUME_PERCENT} percent; change \
             it while running with /volume, /louder, /softer"
        ))
    )]
    pub talkback_volume: Option<u32>,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{ArgAction, Args, Command, FromArgMatches};
    use serde_json::Value;

    use super::*;
    use crate::layers::env_var;

    /// A value each flag accepts, chosen by what the flag takes.
    fn sample(arg: &clap::Arg) -> Option<String> {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            return None;
        }
        if let Some(value) = arg.get_possible_values().first() {
            return Some(value.get_name().to_owned());
        }
        let name = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(ToString::to_string)
            .unwrap_or_default();
        Some(
            match name.as_str() {
                "IP:PORT" => "10.0.0.1:9000",
                "IP" => "10.0.0.1",
                "URL" => "https://wound.example.org/",
                "PORT" | "MS" | "PIXELS" | "FPS" | "KBPS" | "PERCENT" => "100",
                _ => "sample",
            }
            .to_owned(),
        )
    }

    /// The variables of the keys set in a serialized overlay.
    fn variables_set(value: &Value, path: &mut Vec<String>, set: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    path.push(key.clone());
                    variables_set(inner, path, set);
                    path.pop();
                }
            }
            _ => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                set.insert(env_var(&path));
            }
        }
    }

    /// The variable a help text names, as `[env: NAME]` or `[env: NAME=…]`.
    fn named_variable(help: &str) -> &str {
        let after = help
            .split_once("[env: ")
            .unwrap_or_else(|| panic!("help without [env: …]: {help:?}"))
            .1;
        after.split([']', '=']).next().unwrap_or_default()
    }

    /// Gives every flag on its own and checks that the key whose variable
    /// its help names is one the flag sets.
    fn check_flags<A: Args + FromArgMatches>(overlay: impl Fn(&A) -> Value) {
        let command = A::augment_args(Command::new("samsyn").no_binary_name(true));
        for arg in command.get_arguments() {
            let long = arg.get_long().expect("every flag has a long name");
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let named = named_variable(&help);
            if long == "config" {
                assert_eq!(named, crate::discovery::CONFIG_FILE_ENV);
                continue;
            }
            let argv: Vec<String> = std::iter::once(format!("--{long}"))
                .chain(sample(arg))
                .collect();
            let matches = command
                .clone()
                .try_get_matches_from(&argv)
                .unwrap_or_else(|error| panic!("{argv:?}: {error}"));
            let args = A::from_arg_matches(&matches).expect("parsed flags convert");
            let mut set = BTreeSet::new();
            variables_set(&overlay(&args), &mut Vec::new(), &mut set);
            assert!(
                set.contains(named),
                "--{long}: its help names {named}, but the flag sets {set:?}"
            );
        }
    }

    #[test]
    fn gateway_flags_help_names_the_variable_of_the_key_they_set() {
        check_flags(|args: &GatewayArgs| serde_json::to_value(args.overlay()).unwrap());
    }

    #[test]
    fn capture_flags_help_names_the_variable_of_the_key_they_set() {
        check_flags(|args: &CaptureArgs| serde_json::to_value(args.overlay()).unwrap());
    }
}
