//! Command line of `samsyn-capture`: flags, logging, exit codes.

use std::process::ExitCode;

use clap::Parser;
use samsyn_config::CaptureArgs;

/// Publish a live camera to a samsyn gateway over WHIP.
///
/// Captures video (a USB head camera, a test pattern or a looped file),
/// encodes it for low latency (hardware H.264 where it works, x264 otherwise),
/// and sends it with WebRTC to `<gateway>/whip/<room>`, authenticated with
/// the room's publisher token. Ctrl-C ends the session cleanly.
///
/// Settings come from a TOML file (--config), then SAMSYN_* environment
/// variables, then these flags. Logs go to stderr; set SAMSYN_LOG or RUST_LOG
/// (e.g. SAMSYN_LOG=debug) for more detail.
#[derive(Debug, Parser)]
#[command(
    name = "samsyn-capture",
    version,
    after_help = "Examples:\n  \
        samsyn-capture --gateway http://127.0.0.1:8080 --room ward7 --token <publisher token> --source test\n  \
        samsyn-capture --gateway https://wound.example.org --room ward7 --token <token> --source v4l2:/dev/video0 --width 1280 --height 720 --fps 30\n  \
        samsyn-capture --gateway http://10.213.0.1:8080 --room r1 --token <token> --source file:demo.mp4 --no-audio --ice-address 10.213.0.2"
)]
pub struct Cli {
    /// Configuration layers (file, environment, flags).
    #[command(flatten)]
    pub config: CaptureArgs,

    /// Print the merged configuration as TOML and exit
    #[arg(long)]
    pub print_config: bool,
}

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;

/// Parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    if cli.print_config {
        return match cli.config.load_unvalidated() {
            Ok(config) => {
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("samsyn-capture: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }

    let config = match cli.config.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("samsyn-capture: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("samsyn-capture: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::run::run(&config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samsyn-capture: {e}");
            match e {
                crate::run::RunError::Config(_) | crate::run::RunError::Missing(_) => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Logs to stderr at info, or as SAMSYN_LOG / RUST_LOG say.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SAMSYN_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::latency::status::LogWriter)
        .try_init();
}
