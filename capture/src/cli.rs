//! Command line of `samsyn-capture`: flags, subcommands, logging, exit
//! codes.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use samsyn_config::{CaptureArgs, CaptureConfig, ConfigError, LogFormat};

use crate::join;

/// Publish a live camera to a samsyn gateway over WHIP.
///
/// Captures video (a USB head camera, a test pattern or a looped file),
/// encodes it for low latency (hardware H.264 where it works, x264 otherwise),
/// and sends it with WebRTC to `<gateway>/whip/<room>`, authenticated with
/// the room's publisher token. Ctrl-C ends the session cleanly.
///
/// A nurse does not type any of this: the hospital's link starts
/// `samsyn-capture join <link>`, which opens her screen.
///
/// Settings come from /etc/samsyn/capture.toml and then
/// ~/.config/samsyn/capture.toml where they exist (or only the file --config
/// names), then SAMSYN_* environment variables, then these flags. Logs go to
/// stderr, as text or JSON (--log-format); set SAMSYN_LOG or RUST_LOG (e.g.
/// SAMSYN_LOG=debug) for more detail.
#[derive(Debug, Parser)]
#[command(
    name = "samsyn-capture",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  \
        samsyn-capture join 'https://wound.example.org/n/ward7#token=…'\n  \
        samsyn-capture check 'https://wound.example.org/n/ward7#token=…'\n  \
        samsyn-capture --gateway http://127.0.0.1:8080 --room ward7 --token <publisher token> --source test\n  \
        samsyn-capture --gateway https://wound.example.org --room ward7 --token <token> --source v4l2:/dev/video0 --width 1280 --height 720 --fps 30\n  \
        samsyn-capture --gateway http://10.213.0.1:8080 --room r1 --token <token> --source file:demo.mp4 --no-audio --ice-address 10.213.0.2"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Configuration layers (file, environment, flags).
    #[command(flatten)]
    pub config: CaptureArgs,

    /// Print the merged configuration as TOML and exit
    #[arg(long)]
    pub print_config: bool,
}

/// What else the program does besides publishing with flags.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a consultation from the hospital's link and open the nurse screen
    ///
    /// Takes the gateway, the room, the token and the certificate's
    /// fingerprint from the link (https://<gateway>/n/<room>#token=…, or the
    /// samsyn://… form the desktop hands over); everything else from
    /// /etc/samsyn/capture.toml and ~/.config/samsyn/capture.toml (or
    /// --config), the environment and flags.
    /// Prints `nurse screen: <url>` and opens it in the browser. Exit code
    /// 0 when the consultation or the visit ended, 1 when the link cannot be
    /// used, 2 when the configuration cannot be used.
    Join(JoinArgs),
    /// Check the camera, the microphone, the headset and the line (about 25 s)
    ///
    /// With a nurse link, the line is measured to that gateway the way
    /// `samsyn-bench connect` does. Exit code 0 good, 1 weak, 2 unusable, 3
    /// when the check could not run.
    Check(CheckArgs),
    /// Make samsyn:// links open `samsyn-capture join` for this user
    ///
    /// Writes ~/.local/share/applications/samsyn-capture.desktop and sets it
    /// as the handler of samsyn:// links in ~/.config/mimeapps.list. The
    /// Debian package installs the same entry for every user.
    InstallDesktop,
}

/// `samsyn-capture join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The link from the hospital; `-` reads it from standard input (it
    /// holds a token, which every user of the laptop could read in the
    /// process list)
    #[arg(value_name = "NURSE_LINK")]
    pub link: String,
    /// Do not open the browser; only print the screen's address
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    pub config: CaptureArgs,
}

/// `samsyn-capture check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The link from the hospital (optional: without it the line is not measured)
    #[arg(value_name = "NURSE_LINK")]
    pub link: Option<String>,
    /// Print one JSON object instead of the text report
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: CaptureArgs,
}

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;

/// Parses the command line, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Each command loads the configuration before logging starts: the log
    // format is part of it. Errors before that go to stderr as text.

    match cli.command {
        Some(Command::Join(args)) => {
            let Some(link) = link_argument(args.link) else {
                eprintln!("samsyn-capture: no link on standard input; give it as `join '<link>'`");
                return ExitCode::FAILURE;
            };
            let config = args.config.load_unvalidated();
            init_logging(log_format(&config));
            return block_on(join::join(&link, config, !args.no_browser));
        }
        Some(Command::Check(args)) => return check(args),
        Some(Command::InstallDesktop) => return install_desktop(),
        None => {}
    }

    if cli.print_config {
        let loaded = cli.config.files_to_read().and_then(|files| {
            let config = cli.config.load_unvalidated()?;
            Ok((files, config))
        });
        return match loaded {
            Ok((files, config)) => {
                let files = samsyn_config::discovery::files_read_comment(&files);
                print!("{files}{}", config.to_toml());
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
    init_logging(config.log.format);

    block_on(async {
        match crate::run::run(&config).await {
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
    })
}

/// Runs a command's future on the daemon's runtime (two worker threads:
/// the media work runs on GStreamer's own threads).
fn block_on(command: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("samsyn-capture: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The link as given, or the first line of standard input for `-`.
fn link_argument(given: String) -> Option<String> {
    if given != "-" {
        return Some(given);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    let line = line.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// The configured log format, or text when the configuration cannot be
/// used (the command reports why).
fn log_format(config: &Result<CaptureConfig, ConfigError>) -> LogFormat {
    config
        .as_ref()
        .map(|config| config.log.format)
        .unwrap_or_default()
}

fn check(args: CheckArgs) -> ExitCode {
    let config = args.config.load_unvalidated();
    init_logging(log_format(&config));
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("samsyn-capture: {e}");
            return ExitCode::from(crate::check::CheckLevel::NotRun.exit_code());
        }
    };
    let line = match args
        .link
        .as_deref()
        .map(|link| join::line_target(&config, link))
    {
        None => None,
        Some(Ok(target)) => Some(target),
        Some(Err(e)) => {
            eprintln!("samsyn-capture: {e}");
            return ExitCode::from(crate::check::CheckLevel::NotRun.exit_code());
        }
    };
    crate::check::check_command(config, line, args.json)
}

fn install_desktop() -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("samsyn-capture: cannot tell where this program is installed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match join::desktop::install(&program) {
        Ok(installed) => {
            println!("installed {}", installed.entry.display());
            println!(
                "samsyn:// links now open `{} join` (set in {})",
                program.display(),
                installed.associations.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("samsyn-capture: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at info, or as SAMSYN_LOG / RUST_LOG say, as text or as
/// one JSON object per line (`log.format`; the fields are those of the
/// gateway's JSON log, see docs/it-guide.md, "Logs"). Every event is one
/// line, escaped as the gateway's is ([`samsyn_config::EscapingWriter`]):
/// a participant's name or a chat line from the room events cannot forge a
/// line of its own or move the terminal's cursor.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(samsyn_config::LOG_FILTER_ENV)
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let escaping = format.escaping();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours are escape sequences too: the escaping would show them.
        .with_ansi(false)
        .with_writer(move || {
            samsyn_config::EscapingWriter::new(crate::status::LogWriter, escaping)
        });
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
