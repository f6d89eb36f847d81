//! `samsyn-bench`: checks and measurements of a samsyn deployment.

mod child;
mod latency;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "samsyn-bench",
    version,
    about = "Checks and measurements of a samsyn gateway, for hospital IT and for us",
    long_about = "Checks and measurements of a samsyn gateway, for hospital IT and for us.\n\n\
        Available now: `health`, which asks a gateway whether it is up and how long it \
        takes to answer; `latency`, which runs a gateway, a test camera and a decoding \
        viewer on this machine and measures encode-path and glass-to-glass latency.\n\n\
        Planned (not in this build): connection tests from a ward's network (can WebRTC \
        reach the gateway's media port?) and load (many viewers per room).",
    after_help = "Benchmarks of the gateway itself run from the source tree:\n  \
        cargo bench -p samsyn-bench --bench forward       SFU core: one packet to 1/10/50 viewers, \
        keyframe detection, routing\n  \
        cargo bench -p samsyn-bench --bench gateway_cpu   the real gateway process: CPU per \
        delivered packet with 1 and 10 viewers (root; `cargo build --release --bins` first)\n\
        Results and how they were measured: benches/RESULTS.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ask a gateway's /healthz and print its answer with the time it took
    Health {
        /// The gateway's base URL, e.g. https://wound.example.org or http://127.0.0.1:8080
        #[arg(long, env = "SAMSYN_GATEWAY")]
        gateway: String,
        /// Give up after this many seconds
        #[arg(long, default_value_t = 5.0)]
        timeout_secs: f64,
    },
    /// Run gateway, test camera and a decoding viewer on this machine (127.0.0.1)
    /// and report encode-path and glass-to-glass latency (p50/p95/p99/max)
    Latency(latency::LatencyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Health {
            gateway,
            timeout_secs,
        } => health(&gateway, Duration::from_secs_f64(timeout_secs.max(0.001))),
        Command::Latency(args) => latency::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("samsyn-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// GET `<gateway>/healthz` on a fresh connection; prints status, body and time.
fn health(gateway: &str, timeout: Duration) -> anyhow::Result<()> {
    use anyhow::Context;
    let url = format!("{}/healthz", gateway.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("cannot build the HTTP client")?;
    runtime.block_on(async {
        let started = Instant::now();
        let response = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("no answer from {url}"))?;
        let headers_after = started.elapsed();
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("{url} answered {status} but the body did not arrive"))?;
        let total = started.elapsed();
        println!(
            "{url}: {status} in {:.1} ms (headers after {:.1} ms, new connection)",
            total.as_secs_f64() * 1e3,
            headers_after.as_secs_f64() * 1e3
        );
        println!("{}", body.trim_end());
        if !status.is_success() {
            anyhow::bail!("the gateway is not healthy ({status})");
        }
        Ok(())
    })
}
