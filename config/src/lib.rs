//! The one typed configuration of samsyn's binaries.
//!
//! Every setting comes from four layers, each overriding the one before:
//!
//! 1. built-in defaults ([`GatewayConfig::default`], [`CaptureConfig::default`]);
//! 2. a TOML file, named by `--config` or `SAMSYN_CONFIG` (a named file that
//!    is missing is an error); with neither, the default files that exist:
//!    `/etc/samsyn/gateway.toml` for the gateway, `/etc/samsyn/capture.toml`
//!    then `~/.config/samsyn/capture.toml` for the capture daemon (see
//!    [`discovery`]);
//! 3. environment variables `SAMSYN_<KEY>`, nested keys joined by `__`
//!    (`SAMSYN_MEDIA__UDP_PORT=50001`, `SAMSYN_ICE__LOCAL_ADDRESSES=[10.0.0.1]`);
//!    variables that name no key (`SAMSYN_LOG`, the log filter, and
//!    `SAMSYN_CONFIG`) are ignored;
//! 4. command-line flags ([`GatewayArgs`], [`CaptureArgs`]).
//!
//! Unknown keys in the file are errors (a typo must not silently fall back to
//! a default), and after merging every value is range-checked. Errors name the
//! key, the value, what is allowed and which layer set it:
//!
//! ```text
//! invalid configuration: media.udp_port = 0: must be a port number 1-65535 … (from environment variable SAMSYN_MEDIA__UDP_PORT)
//! ```
//!
//! ```no_run
//! use clap::Parser;
//! use samsyn_config::GatewayArgs;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     config: GatewayArgs,
//!     /// Print the merged configuration and exit
//!     #[arg(long)]
//!     print_config: bool,
//! }
//!
//! let cli = Cli::parse();
//! let config = cli.config.load().unwrap_or_else(|error| {
//!     eprintln!("{error}");
//!     std::process::exit(2);
//! });
//! if cli.print_config {
//!     let files = cli.config.files_to_read().unwrap_or_default();
//!     print!("{}{}", samsyn_config::discovery::files_read_comment(&files), config.to_toml());
//! }
//! ```

// No unsafe code here, and none may come in (forbid cannot be re-allowed).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// A library hands text to its caller; the binaries decide where it goes.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod capture;
mod chosen_by;
pub mod discovery;
mod error;
mod gateway;
mod help;
mod layers;
mod log;
mod print;
mod report;
mod rules;
mod turn;

pub use args::{CaptureArgs, GatewayArgs};
pub use capture::{
    CaptureConfig, ClientTlsConfig, IceConfig, LatencyConfig, MAX_TALKBACK_VOLUME_PERCENT,
    Microphone, PhotoMode, SOURCE_FORMS, SourceSpec, StatusConfig, TalkbackConfig, VideoCodec,
    X264Preset, parse_sha256_fingerprint,
};
pub use discovery::{ConfigDirs, ConfigFile, SYSTEM_CONFIG_DIR, SYSTEM_CONFIG_DIR_ENV};
pub use error::{ConfigError, Problem};
pub use gateway::{
    AuditConfig, GatewayConfig, HttpConfig, LimitsConfig, MediaConfig, SfuConfig, TlsConfig,
    TokenConfig,
};
pub use layers::{
    CONFIG_FILE_ENV, ENV_NESTING, ENV_PREFIX, Layered, files_to_read, load, load_unvalidated,
};
pub use log::{
    Escaping, EscapingWriter, LOG_FILTER_ENV, LogConfig, LogFormat, escape_event,
    escape_json_event, is_bidi_control,
};
pub use turn::TurnConfig;
