//! Configuration of `samsyn-capture`: where to publish, which video source,
//! what to encode, and which interfaces ICE may use.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConfigError, Problem};
use crate::log::LogConfig;
use crate::rules::{Checks, quoted};

/// Everything `samsyn-capture` reads from file, environment and flags.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Base URL of the gateway (`https://wound.example.org`); required to run.
    pub gateway: Option<Url>,
    /// Room to publish into.
    pub room: Option<String>,
    /// Publisher token for that room.
    pub token: Option<String>,
    /// Video source: `test`, `v4l2`, `v4l2:<device path>` or `file:<path>`;
    /// see [`SourceSpec`].
    pub source: String,
    /// Largest frame width to capture and send, in pixels.
    pub width: u32,
    /// Largest frame height to capture and send, in pixels.
    pub height: u32,
    /// Highest frame rate to capture and send.
    pub fps: u32,
    /// Video codec sent to the gateway.
    pub codec: VideoCodec,
    /// Send the nurse's microphone too.
    pub audio: bool,
    /// What is sent as the nurse's voice when `audio` is on.
    pub microphone: Microphone,
    /// Join the room's events: show who is in the consultation and the chat
    /// on standard output, send lines typed on standard input as chat.
    pub consultation: bool,
    /// How a V4L2 camera takes still photos: `largest` switches it to its
    /// largest picture for each photo (the stream shows its last picture,
    /// frozen, for about a second meanwhile); `stream` takes the streaming
    /// mode's frame, for cameras that misbehave when switched.
    pub photo_mode: PhotoMode,
    /// Highest video bitrate in kbit/s; congestion control moves the encoder
    /// between `min_bitrate_kbps` and this, as the line allows.
    pub bitrate_kbps: u32,
    /// Lowest video bitrate in kbit/s congestion control goes down to; below
    /// it the picture is not worth sending.
    pub min_bitrate_kbps: u32,
    /// x264's speed preset when x264 encodes (slower: better picture per
    /// bit, more CPU); the quality ladder switches to `ultrafast` when the
    /// latency budget is not held. Other encoders ignore it.
    pub x264_preset: X264Preset,
    /// ICE settings.
    pub ice: IceConfig,
    /// The latency budget and how it is held.
    pub latency: LatencyConfig,
    /// The nurse's view of the stream: status line and local status endpoint.
    pub status: StatusConfig,
    /// How the gateway's HTTPS certificate is checked.
    pub tls: ClientTlsConfig,
    /// The specialists' voices in the nurse's headset.
    pub talkback: TalkbackConfig,
    /// How the log is written.
    pub log: LogConfig,
}

/// Talk-back (`[talkback]`): the specialists' voices, mixed, played on the
/// nurse's headset or speaker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TalkbackConfig {
    /// Receive and play the specialists' voices.
    pub enabled: bool,
    /// Where to play them: `auto` (the system's default output), `none`
    /// (nowhere: a laptop without a sound card, tests), or a PulseAudio
    /// sink name.
    pub speaker: String,
    /// Playback volume in percent of the received level, 0 to 400; the
    /// nurse changes it while running with `/volume`, `/louder`, `/softer`.
    pub volume_percent: u32,
}

/// The loudest talk-back volume, in percent.
pub const MAX_TALKBACK_VOLUME_PERCENT: u32 = 400;

impl Default for TalkbackConfig {
    fn default() -> Self {
        TalkbackConfig {
            enabled: true,
            speaker: "auto".to_owned(),
            volume_percent: 100,
        }
    }
}

/// x264's speed presets, fastest first.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum X264Preset {
    /// The fastest: what the quality ladder steps down to.
    Ultrafast,
    /// The default: 720p30 in a few milliseconds per frame on a laptop core.
    #[default]
    Superfast,
    /// Better picture per bit, about twice the CPU of `superfast`.
    Veryfast,
    /// Slower again.
    Faster,
    /// Slower again.
    Fast,
    /// x264's own default: far too slow for live 720p on a laptop.
    Medium,
    /// Slower again.
    Slow,
    /// Slower again.
    Slower,
    /// The slowest that makes sense.
    Veryslow,
}

impl fmt::Display for X264Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            X264Preset::Ultrafast => "ultrafast",
            X264Preset::Superfast => "superfast",
            X264Preset::Veryfast => "veryfast",
            X264Preset::Faster => "faster",
            X264Preset::Fast => "fast",
            X264Preset::Medium => "medium",
            X264Preset::Slow => "slow",
            X264Preset::Slower => "slower",
            X264Preset::Veryslow => "veryslow",
        })
    }
}

/// The latency budget of the capture daemon (`[latency]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Most time a frame may spend from its capture timestamp until its last
    /// RTP packet is handed to WebRTC, in ms. Unset: one frame interval
    /// (33 ms at 30 fps), see [`CaptureConfig::encode_budget_ms`].
    pub encode_budget_ms: Option<u32>,
    /// The end-to-end goal, camera to the specialist's screen, in ms. Shown
    /// next to measured figures; the encode budget must fit inside it.
    pub glass_to_glass_target_ms: u32,
    /// Step the picture down (faster preset, lower frame rate, lower
    /// resolution) when the encode budget is not held, and back up when it is.
    pub ladder: bool,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            encode_budget_ms: None,
            glass_to_glass_target_ms: 150,
            ladder: true,
        }
    }
}

/// The status line and the local status endpoint (`[status]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// Serve the status as JSON on `http://127.0.0.1:<port>/status`.
    pub endpoint: bool,
    /// Port of the status endpoint (on 127.0.0.1 only).
    pub port: u16,
    /// When stderr is not a terminal, log the status line this often, in seconds.
    pub log_interval_secs: u32,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            endpoint: true,
            port: 9740,
            log_interval_secs: 10,
        }
    }
}

/// How the capture daemon checks the gateway's certificate.
///
/// Verification is never off: with neither key set the system's trusted
/// roots are used; a CA file replaces them (a hospital's own CA); a pinned
/// fingerprint accepts exactly one certificate (a gateway's self-signed one,
/// as `samsyn-gateway` prints it) whatever names it carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint of the gateway's certificate, hex (colons allowed).
    pub pin_sha256: Option<String>,
}

/// Parses a SHA-256 certificate fingerprint: 64 hex digits, optionally in
/// colon-separated pairs (`AB:CD:…`, as browsers and OpenSSL show it).
pub fn parse_sha256_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.trim().chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

/// What the daemon sends as the nurse's voice.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Microphone {
    /// The system's default microphone, if one works (video goes alone otherwise).
    #[default]
    Auto,
    /// A 440 Hz tone at speaking loudness in phrases (1.5 s on, 2.5 s off),
    /// no microphone needed (tests, demos).
    TestTone,
    /// Digital silence, no microphone needed (tests).
    TestSilence,
}

/// Video codec of the published stream.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 (constrained baseline): every browser decodes it, often in hardware.
    #[default]
    H264,
    /// VP8: the fallback where no H.264 encoder is available.
    Vp8,
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Vp8 => "vp8",
        })
    }
}

/// How a V4L2 camera takes still photos (`photo_mode`).
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum PhotoMode {
    /// Switch the camera to its largest picture for the photo, then back.
    #[default]
    Largest,
    /// Take the streaming mode's frame; never switch the camera.
    Stream,
}

impl fmt::Display for PhotoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhotoMode::Largest => "largest",
            PhotoMode::Stream => "stream",
        })
    }
}

/// ICE settings of the capture daemon.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IceConfig {
    /// Interface addresses ICE may gather candidates on; empty means let the
    /// ICE agent choose. Needed for 127.0.0.1, which the agent otherwise skips.
    pub local_addresses: Vec<IpAddr>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            gateway: None,
            room: None,
            token: None,
            source: "test".to_owned(),
            width: 1280,
            height: 720,
            fps: 30,
            codec: VideoCodec::H264,
            audio: true,
            microphone: Microphone::Auto,
            consultation: true,
            photo_mode: PhotoMode::default(),
            bitrate_kbps: 2500,
            min_bitrate_kbps: 300,
            x264_preset: X264Preset::default(),
            ice: IceConfig::default(),
            latency: LatencyConfig::default(),
            status: StatusConfig::default(),
            tls: ClientTlsConfig::default(),
            talkback: TalkbackConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The `source` setting, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `test`: a generated test pattern (and tone), no camera needed.
    Test,
    /// `v4l2`: the first capture camera found; `v4l2:<path>`: that device node,
    /// e.g. `/dev/video2` or a stable `/dev/v4l/by-id/…` link.
    V4l2(Option<PathBuf>),
    /// `file:<path>`: a recorded video file, played in real time.
    File(PathBuf),
}

/// What `source` may look like, for error messages and help text.
pub const SOURCE_FORMS: &str = "test, v4l2, v4l2:/dev/videoN, file:<path>";

impl SourceSpec {
    /// Parses a `source` value; the error says which forms are allowed.
    pub fn parse(source: &str) -> Result<SourceSpec, ConfigError> {
        let invalid = |why: &str| {
            ConfigError::Invalid(vec![Problem::new(
                "source",
                quoted(source),
                format!("{why}; allowed forms: {SOURCE_FORMS}"),
            )])
        };
        match source.split_once(':') {
            None if source == "test" => Ok(SourceSpec::Test),
            None if source == "v4l2" => Ok(SourceSpec::V4l2(None)),
            None => Err(invalid("unknown source")),
            Some(("v4l2", path)) if path.starts_with('/') => {
                Ok(SourceSpec::V4l2(Some(PathBuf::from(path))))
            }
            Some(("v4l2", _)) => Err(invalid("a V4L2 device must be an absolute path")),
            Some(("file", "")) => Err(invalid("file: needs a path after the colon")),
            Some(("file", path)) => Ok(SourceSpec::File(PathBuf::from(path))),
            Some(_) => Err(invalid("unknown source")),
        }
    }
}

impl CaptureConfig {
    /// The parsed `source`.
    pub fn source_spec(&self) -> Result<SourceSpec, ConfigError> {
        SourceSpec::parse(&self.source)
    }

    /// The encode budget in force: `latency.encode_budget_ms`, or one frame
    /// interval at `fps` when it is unset.
    pub fn encode_budget_ms(&self) -> f64 {
        match self.latency.encode_budget_ms {
            Some(ms) => f64::from(ms),
            None => 1000.0 / f64::from(self.fps.max(1)),
        }
    }

    /// Checks every value against its allowed range; lists all problems found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut checks = Checks::default();
        match &self.gateway {
            None => checks.unset(
                "gateway",
                "not set; pass --gateway <gateway base URL> or set SAMSYN_GATEWAY \
                 (or put gateway = \"https://…\" in the config file)",
            ),
            Some(url) => {
                checks.http_url("gateway", url);
                self.validate_tls(&mut checks, url);
            }
        }
        if let Some(room) = &self.room {
            checks.require(
                !room.is_empty()
                    && !room.contains(['/', '?', '#'])
                    && !room.contains(char::is_whitespace),
                "room",
                quoted(room),
                "must be a room name as printed by `samsyn-gateway room create`: \
                 not empty, no spaces, no '/', '?' or '#'",
            );
        }
        if let Some(token) = &self.token {
            // The token travels in an `Authorization: Bearer` header.
            checks.require(
                !token.is_empty() && !token.contains(char::is_whitespace),
                "token",
                quoted(token),
                "must be the publisher token as printed by `samsyn-gateway room create`: \
                 not empty, no spaces",
            );
        }
        if let Err(ConfigError::Invalid(problems)) = self.source_spec() {
            for problem in problems {
                checks.require(
                    false,
                    &problem.key,
                    problem.value.unwrap_or_default(),
                    problem.message,
                );
            }
        }
        checks.even_in_range("width", self.width, 16..=7680);
        checks.even_in_range("height", self.height, 16..=7680);
        checks.in_range("fps", self.fps, 1..=120, "");
        checks.in_range("bitrate_kbps", self.bitrate_kbps, 100..=50_000, " kbit/s");
        checks.in_range(
            "min_bitrate_kbps",
            self.min_bitrate_kbps,
            100..=50_000,
            " kbit/s",
        );
        // Only once bitrate_kbps itself is usable: one mistake, one message.
        checks.require(
            !(100..=50_000).contains(&self.bitrate_kbps)
                || self.min_bitrate_kbps <= self.bitrate_kbps,
            "min_bitrate_kbps",
            self.min_bitrate_kbps,
            format!(
                "must not exceed bitrate_kbps ({}); lower min_bitrate_kbps or raise bitrate_kbps",
                self.bitrate_kbps
            ),
        );
        for address in &self.ice.local_addresses {
            checks.require(
                !address.is_unspecified(),
                "ice.local_addresses",
                address,
                "must be an address of a local interface, e.g. 127.0.0.1 or 10.0.0.5, \
                 not the wildcard",
            );
        }
        if let Some(budget) = self.latency.encode_budget_ms {
            checks.in_range("latency.encode_budget_ms", budget, 1..=1000, " ms");
            checks.require(
                budget < self.latency.glass_to_glass_target_ms,
                "latency.encode_budget_ms",
                budget,
                format!(
                    "must be below latency.glass_to_glass_target_ms ({} ms): encoding is \
                     only one part of the way from camera to screen",
                    self.latency.glass_to_glass_target_ms
                ),
            );
        }
        checks.in_range(
            "latency.glass_to_glass_target_ms",
            self.latency.glass_to_glass_target_ms,
            10..=10_000,
            " ms",
        );
        checks.require(
            self.status.port != 0,
            "status.port",
            self.status.port,
            "must be a port number 1-65535; to turn the endpoint off set status.endpoint = false",
        );
        checks.in_range(
            "status.log_interval_secs",
            self.status.log_interval_secs,
            1..=3600,
            " s",
        );
        checks.require(
            self.talkback.volume_percent <= MAX_TALKBACK_VOLUME_PERCENT,
            "talkback.volume_percent",
            self.talkback.volume_percent,
            format!(
                "must be a percentage from 0 to {MAX_TALKBACK_VOLUME_PERCENT} (100 plays the \
                 specialists as they are received); pass e.g. --talkback-volume 150"
            ),
        );
        checks.require(
            !self.talkback.speaker.trim().is_empty(),
            "talkback.speaker",
            quoted(&self.talkback.speaker),
            "must be auto, none, or the name of an audio output (see `pactl list short sinks`); \
             pass e.g. --speaker auto",
        );
        checks.finish()
    }

    /// The configuration as TOML, e.g. for `--print-config`; it loads back to `self`.
    pub fn to_toml(&self) -> String {
        crate::print::to_toml(self)
    }

    /// Plain HTTP only to a loopback gateway (the token would travel in the
    /// clear), and the TLS settings only where TLS is used.
    fn validate_tls(&self, checks: &mut Checks, gateway: &Url) {
        let loopback = match gateway.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let plain = gateway.scheme() == "http";
        checks.require(
            !plain || loopback,
            "gateway",
            quoted(gateway.as_str()),
            "is plain http:// to another machine, which would send the publisher token \
             unencrypted; use the gateway's https:// URL",
        );
        if let Some(pin) = &self.tls.pin_sha256 {
            checks.require(
                parse_sha256_fingerprint(pin).is_some(),
                "tls.pin_sha256",
                quoted(pin),
                "must be the SHA-256 fingerprint of the gateway's certificate: 64 hex digits, \
                 colons allowed, as `samsyn-gateway` prints it",
            );
        }
        for (key, set) in [
            ("tls.pin_sha256", self.tls.pin_sha256.is_some()),
            ("tls.ca_file", self.tls.ca_file.is_some()),
        ] {
            checks.require(
                !(set && plain),
                key,
                quoted(gateway.as_str()),
                "is only used with an https:// gateway; the gateway URL is plain http://",
            );
        }
    }
}
