//! `samsyn-bench health`: is the gateway up, and how fast does it answer?

use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The gateway's base URL, e.g. https://wound.example.org or http://127.0.0.1:8080
    #[arg(long, env = "SAMSYN_GATEWAY")]
    gateway: String,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 5.0)]
    timeout_secs: f64,
    #[command(flatten)]
    trust: crate::signal::TrustArgs,
}

/// GET `<gateway>/healthz` on a fresh connection; prints status, body and time.
pub fn run(args: HealthArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs_f64(args.timeout_secs.max(0.001));
    let url = format!("{}/healthz", args.gateway.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = args
        .trust
        .trust()?
        .http_client(timeout, timeout)
        .context("cannot build the HTTP client")?;
    runtime.block_on(async {
        let started = Instant::now();
        let response = client.get(&url).send().await.with_context(|| {
            format!(
                "no answer from {url} (a gateway with a self-signed certificate is \
                     trusted with --pin-sha256 <its fingerprint>, one with the hospital's CA \
                     with --ca-file)"
            )
        })?;
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
