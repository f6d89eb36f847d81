//! `samsyn-gateway serve`: HTTP signaling plus the media node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use samsyn_config::GatewayConfig;
use samsyn_signaling::{AppState, PageAssets, SignalingSettings, TokenAuthority, router_with};
use tracing_subscriber::EnvFilter;

use crate::media::addresses::media_addresses;
use crate::media::{MediaNode, MediaNodeConfig, SfuSettings};

/// The specialist's page, compiled in: no files to deploy beside the binary.
pub const PAGE: PageAssets = PageAssets {
    viewer_html: include_str!("../web/viewer.html"),
    viewer_js: include_str!("../web/viewer.js"),
    viewer_css: include_str!("../web/viewer.css"),
};

/// Runs the gateway until Ctrl-C or SIGTERM.
pub fn run(config: GatewayConfig) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}; choose another with --data-dir",
            config.data_dir.display()
        )
    })?;
    let tokens = TokenAuthority::load_or_create(&config.data_dir).with_context(|| {
        format!(
            "cannot load the signing key in {}",
            config.data_dir.display()
        )
    })?;
    let media = MediaNode::start(MediaNodeConfig {
        addresses: media_addresses(&config.media.addresses, config.listen.ip()),
        public_addresses: config.media.public_addresses.clone(),
        udp_port: config.media.udp_port,
        sfu: SfuSettings {
            keyframe_request_interval: Duration::from_millis(config.sfu.pli_throttle_ms),
            max_viewers_per_room: config.limits.max_viewers_per_room,
            connect_timeout: Duration::from_secs(30),
            // Validated as a power of two in 16..=32768.
            retransmit_buffer_packets: u16::try_from(config.sfu.retransmit_buffer_packets)
                .unwrap_or(u16::MAX / 2 + 1),
        },
    })?;
    let media_addrs: Vec<String> = media
        .local_addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let gateway_routes = crate::http::routes(media.clone());
    let state = Arc::new(AppState::new(
        Arc::new(media),
        tokens,
        SignalingSettings::from(&config),
        PAGE,
    ));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; choose another address with --listen",
                config.listen
            )
        })?;
    let local: SocketAddr = listener.local_addr()?;
    tracing::info!(
        http = %local,
        media = %media_addrs.join(", "),
        public_url = %config.public_base_url(),
        "samsyn-gateway ready"
    );
    axum::serve(listener, router_with(state, gateway_routes))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    tracing::info!("samsyn-gateway stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// Info for samsyn itself; the WebRTC stack's own chatter only when it warns.
/// DTLS warns about every TLS extension a browser offers that it skips.
const DEFAULT_LOG_FILTER: &str = "warn,rtc_dtls=error,samsyn_gateway=info,samsyn_signaling=info";

fn init_logging() {
    let filter = EnvFilter::try_from_env("SAMSYN_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
