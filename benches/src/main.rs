//! `samsyn-bench`: checks and measurements of a samsyn deployment. A thin
//! dispatcher: each subcommand lives in its own module of the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use samsyn_bench::{connect, health, latency, load};

#[derive(Parser)]
#[command(
    name = "samsyn-bench",
    version,
    about = "Checks and measurements of a samsyn gateway, for nurses' laptops and hospital IT",
    long_about = "Checks and measurements of a samsyn gateway, for nurses' laptops and hospital IT.\n\n\
        connect  tests the line from this computer to the gateway over the video's own path \
        (WebRTC): straight over UDP and through each relay the gateway announces; says which \
        path a consultation will take and which picture quality it carries\n\
        load     sizes a gateway: many rooms and viewers (over UDP, or through its built-in \
        relay: --path relay-tcp), with its CPU, memory and what viewers got\n\
        latency  runs a gateway, a test camera and a decoding viewer on this machine and \
        measures encode-path and glass-to-glass latency\n\
        health   asks whether a gateway is up",
    after_help = "Exit codes of connect: 0 good, 1 marginal, 2 unusable, 3 the test could not run.\n\n\
        Benchmarks of the gateway itself run from the source tree:\n  \
        cargo bench -p samsyn-bench --bench forward       SFU core: one packet to 1/10/50 viewers, \
        keyframe detection, routing, token checks\n  \
        cargo bench -p samsyn-bench --bench gateway_cpu   the real gateway process: CPU per \
        delivered packet (root; `cargo build --release --bins` first)\n\
        Results and how they were measured: benches/RESULTS.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test the line to the gateway before a consultation (run it on the nurse's laptop)
    Connect(connect::ConnectArgs),
    /// Size a gateway: rooms with cameras and many viewers, with its CPU, memory and what viewers got
    Load(load::LoadArgs),
    /// Run gateway, test camera and a decoding viewer on this machine (127.0.0.1)
    /// and report encode-path and glass-to-glass latency (p50/p95/p99/max)
    Latency(latency::LatencyArgs),
    /// Ask a gateway's /healthz and print its answer with the time it took
    Health(health::HealthArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // Help and version are not errors; a wrong command line means
            // nothing was tested.
            return if err.use_stderr() {
                ExitCode::from(connect::EXIT_NOT_RUN)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Connect(args) => connect::run(args),
        Command::Load(args) => load::run(args),
        Command::Latency(args) => latency::run(&args).map(|()| 0),
        Command::Health(args) => health::run(args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("samsyn-bench: {err:#}");
            ExitCode::from(connect::EXIT_NOT_RUN)
        }
    }
}
