//! `samsyn-gateway`: the hospital-side binary.

// The system calls live in the library, each allowed where it is made.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use samsyn_config::GatewayArgs;
use samsyn_signaling::Role;

#[derive(Parser)]
#[command(
    name = "samsyn-gateway",
    version,
    about = "samsyn's hospital gateway: consultation rooms, WHIP/WHEP signaling over TLS, and an \
             SFU that fans the nurse's camera out to every specialist over one UDP port",
    after_help = "Start with `samsyn-gateway room create` to get the links for a consultation, \
                  then `samsyn-gateway serve`. Every command takes the same configuration \
                  (--config, --data-dir, --public-url, …): give them the same data directory."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: HTTP(S) signaling, the rooms API, the viewer page and the media port
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
    /// Issue a token: an admin token for the rooms API, or one more participant's
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Show the audit trail: rooms created and ended, who joined and left, refused requests
    Audit {
        #[command(flatten)]
        config: GatewayArgs,
        /// Only this room's events, and a summary of who was there
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
        /// One JSON object per event instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Report the consultations (start, end, duration, participants by role, bytes, quality;
    /// no personal data) for the statistics, from the consultation log in the audit directory
    Report {
        #[command(flatten)]
        config: GatewayArgs,
        /// Only this room's consultations
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
        /// Only consultations that started on or after this date (2026-11-30) or UTC time
        /// (2026-11-30T08:00:00Z)
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "csv")]
        format: samsyn_gateway::report::ReportFormat,
    },
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Create a room and print its links and tokens
    Create {
        #[command(flatten)]
        config: GatewayArgs,
        /// A label the participants see, e.g. "Home visit, district north"; never patient data
        #[arg(long, default_value = "")]
        label: String,
        /// How long the room stays open [default: tokens.ttl_hours, 12]
        #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u64).range(1..=720))]
        ttl_hours: Option<u64>,
        /// Print one JSON object (room, label, publisher_token, viewer_token, observer_token,
        /// whip_url, whep_url, viewer_link, observer_link, nurse_link, expires_at, tls_pin_sha256)
        #[arg(long)]
        json: bool,
    },
    /// End a room: its links stop working and everyone in it is disconnected
    End {
        #[command(flatten)]
        config: GatewayArgs,
        /// The room to end
        room: String,
    },
    /// List the open rooms
    List {
        #[command(flatten)]
        config: GatewayArgs,
        /// One JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token and print it (a link for the viewing roles)
    Create {
        #[command(flatten)]
        config: GatewayArgs,
        /// What the token allows
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// The room, for every role but admin
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
        /// The holder's name, shown to the others and kept in the audit trail
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Lifetime of an admin token (room tokens last as long as their room)
        #[arg(long, value_name = "HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
        ttl_hours: u64,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
}

/// `--role`: the roles a token can carry, by the names tokens use
/// ([`Role::as_str`]). Parsed here rather than derived on [`Role`], so
/// signaling needs no command-line library.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    let values = Role::ALL.map(|role| PossibleValue::new(role.as_str()).help(role_help(role)));
    // The possible values admit only names `Role::parse` knows.
    PossibleValuesParser::new(values).try_map(|name| Role::parse(&name).ok_or("not a role"))
}

/// One line of `--help` per role.
fn role_help(role: Role) -> &'static str {
    match role {
        Role::Publisher => "The nurse's capture device (WHIP)",
        Role::Specialist => "A specialist or GP: watches (WHEP)",
        Role::Observer => "A relative or a student: watches only",
        Role::Admin => "Creates, lists and ends rooms over the API",
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            print_config,
        } => load(&config, print_config).and_then(|config| match config {
            Some(config) => {
                // The format is part of the configuration, so the log starts
                // after it is loaded; until then errors go to stderr as text.
                samsyn_gateway::logging::install(config.log.format);
                samsyn_gateway::serve::run(config)
            }
            None => Ok(()),
        }),
        Command::Room { command } => match command {
            RoomCommand::Create {
                config,
                label,
                ttl_hours,
                json,
            } => admin_config(&config)
                .and_then(|config| samsyn_gateway::rooms::create(&config, &label, ttl_hours, json)),
            RoomCommand::End { config, room } => {
                admin_config(&config).and_then(|config| samsyn_gateway::rooms::end(&config, &room))
            }
            RoomCommand::List { config, json } => {
                admin_config(&config).and_then(|config| samsyn_gateway::rooms::list(&config, json))
            }
        },
        Command::Token {
            command:
                TokenCommand::Create {
                    config,
                    role,
                    room,
                    name,
                    ttl_hours,
                    json,
                },
        } => admin_config(&config).and_then(|config| {
            samsyn_gateway::rooms::create_token(
                &config,
                role,
                room.as_deref(),
                name.as_deref(),
                ttl_hours,
                json,
            )
        }),
        Command::Audit { config, room, json } => admin_config(&config)
            .and_then(|config| samsyn_gateway::audit::show(&config, room.as_deref(), json)),
        Command::Report {
            config,
            room,
            since,
            format,
        } => admin_config(&config).and_then(|config| {
            samsyn_gateway::report::show(&config, room.as_deref(), since.as_deref(), format)
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

/// The merged configuration for an administrator's command, which goes on
/// as the data directory's owner when started as root (see
/// [`samsyn_gateway::data_owner`]).
fn admin_config(args: &GatewayArgs) -> anyhow::Result<samsyn_config::GatewayConfig> {
    let config = args.load()?;
    samsyn_gateway::data_owner::act_as_owner_of(&config.data_dir)?;
    Ok(config)
}

/// The merged configuration, or `None` once it has been printed.
fn load(
    args: &GatewayArgs,
    print_config: bool,
) -> anyhow::Result<Option<samsyn_config::GatewayConfig>> {
    if print_config {
        let config = args.load_unvalidated()?;
        let files = samsyn_config::discovery::files_read_comment(&args.files_to_read()?);
        print!("{files}{}", config.to_toml());
        if let Err(err) = config.validate() {
            eprintln!("{err}");
        }
        return Ok(None);
    }
    Ok(Some(args.load()?))
}
