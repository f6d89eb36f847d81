//! `samsyn-gateway`: the hospital-side binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use samsyn_config::GatewayArgs;

#[derive(Parser)]
#[command(
    name = "samsyn-gateway",
    version,
    about = "samsyn's hospital gateway: rooms, WHIP/WHEP signaling, and an SFU that fans the \
             nurse's camera out to every specialist over one UDP port",
    after_help = "Start with `samsyn-gateway room create --json` to get the links for a \
                  consultation, then `samsyn-gateway serve`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: HTTP signaling, the viewer page and the media port
    Serve {
        #[command(flatten)]
        config: GatewayArgs,
        /// Print the merged configuration (file, environment, flags) and exit
        #[arg(long)]
        print_config: bool,
    },
    /// Manage consultation rooms (works whether or not `serve` is running)
    Room {
        #[command(subcommand)]
        command: RoomCommand,
    },
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Create a room and print its links and tokens
    Create {
        #[command(flatten)]
        config: GatewayArgs,
        /// Print one JSON object (room, publisher_token, viewer_token, whip_url,
        /// whep_url, viewer_link, expires_at) instead of text
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            print_config,
        } => load(&config, print_config).and_then(|config| match config {
            Some(config) => samsyn_gateway::serve::run(config),
            None => Ok(()),
        }),
        Command::Room {
            command: RoomCommand::Create { config, json },
        } => load(&config, false).and_then(|config| match config {
            Some(config) => samsyn_gateway::rooms::create(&config, json),
            None => Ok(()),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("samsyn-gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The merged configuration, or `None` once it has been printed.
fn load(
    args: &GatewayArgs,
    print_config: bool,
) -> anyhow::Result<Option<samsyn_config::GatewayConfig>> {
    if print_config {
        let config = args.load_unvalidated()?;
        print!("{}", config.to_toml());
        if let Err(err) = config.validate() {
            eprintln!("{err}");
        }
        return Ok(None);
    }
    Ok(Some(args.load()?))
}
