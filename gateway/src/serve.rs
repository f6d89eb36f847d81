//! `samsyn-gateway serve`: HTTP(S) signaling plus the media node.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use samsyn_config::GatewayConfig;
use samsyn_signaling::server::{ServeOptions, serve as serve_http};
use samsyn_signaling::tls::{CertificateSource, ServerTls, watch};
use samsyn_signaling::{AppState, PageAssets};
use tokio::sync::mpsc;

use crate::media::addresses::media_addresses;
use crate::media::node::RelaySetup;
use crate::media::{MediaNode, MediaNodeConfig, SfuSettings};
use crate::relay::{self, RelaySettings};
use crate::setup;

/// The specialist's page and the nurse's, compiled in: no files to deploy
/// beside the binary.
pub const PAGE: PageAssets = PageAssets {
    viewer_html: include_str!("../web/viewer.html"),
    viewer_js: include_str!("../web/viewer.js"),
    viewer_css: include_str!("../web/viewer.css"),
    consultation_js: include_str!("../web/consultation.js"),
    consultation_css: include_str!("../web/consultation.css"),
    talkback_js: include_str!("../web/talkback.js"),
    viewer_strings_js: include_str!("../web/i18n/viewer.js"),
    lang_js: include_str!("../web/i18n/lang.js"),
    nurse_html: include_str!("../web/nurse.html"),
    nurse_js: include_str!("../web/nurse.js"),
    nurse_css: include_str!("../web/nurse.css"),
    nurse_strings_js: include_str!("../web/i18n/nurse.js"),
};

/// How often rooms that expired or were ended from the command line are
/// checked for sessions to end.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the gateway until Ctrl-C or SIGTERM.
pub fn run(config: GatewayConfig) -> anyhow::Result<()> {
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    setup::data_dir(&config)?;
    let tokens = setup::token_authority(&config)?;
    let tls = setup::tls_identity(&config)?;
    if let Some(tls) = &tls {
        announce_tls(tls);
    }
    let turn_secret = setup::turn_secret(&config)?;
    let relay = match (&turn_secret, config.turn_builtin_enabled()) {
        (Some(secret), true) => Some(RelaySetup {
            settings: RelaySettings {
                max_connections: config.limits.max_relay_connections,
                max_allocations: config.limits.max_relay_allocations,
                max_allocations_per_client_ip: config.limits.max_relay_allocations_per_ip,
                ..RelaySettings::default()
            },
            credentials: relay::credentials::shared_secret(
                secret.as_bytes().to_vec(),
                relay::credentials::system_unix_now,
            ),
        }),
        _ => None,
    };
    let (events, media_events) = mpsc::unbounded_channel();
    let media = MediaNode::start(
        MediaNodeConfig {
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
                viewer_floor_bps: u64::from(config.sfu.viewer_floor_kbps) * 1000,
            },
            relay,
            external_relay_ips: external_relay_ips(&config.turn.urls).await,
        },
        events,
    )?;
    let media_addrs: Vec<String> = media
        .local_addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let turn = media.turn_handoff();
    let media_pulse = media.clone();
    let connection_tests = crate::http::connection_test_routes(media.clone());
    let metrics = crate::http::metrics_routes(&media);
    keep_certificate_current(tls.as_ref(), media.metrics().clone());
    let settings = setup::signaling_settings(&config, tls.as_ref());
    let mut state = AppState::new(Arc::new(media), tokens, settings, PAGE).with_context(|| {
        format!(
            "cannot open the data directory {}",
            config.data_dir.display()
        )
    })?;
    if let Some(secret) = turn_secret {
        state = state.with_turn_secret(secret);
    }
    let state = Arc::new(state);
    tokio::spawn(state.clone().watch_media(media_events));
    tokio::spawn(state.clone().keep_house(HOUSEKEEPING_INTERVAL));

    let listener = std::net::TcpListener::bind(config.listen).with_context(|| {
        format!(
            "cannot listen on {listen}; if another program holds the port (`ss -ltnp \
             'sport = :{port}'` names it), stop it, or set listen (--listen) to another \
             address",
            listen = config.listen,
            port = config.listen.port()
        )
    })?;
    tracing::info!(
        http = %listener.local_addr()?,
        tls = tls.is_some(),
        turn_relay = turn.is_some(),
        external_relays = config.turn.urls.len(),
        media = %media_addrs.join(", "),
        public_url = %config.public_base_url(),
        "samsyn-gateway ready"
    );
    crate::service::ready(&format!(
        "serving on {}; media on UDP {}",
        listener.local_addr()?,
        media_addrs.join(", ")
    ));
    crate::service::spawn_watchdog(move || media_pulse.loop_silence());
    let options = ServeOptions {
        tls,
        header_timeout: Duration::from_secs(config.limits.header_timeout_secs),
        turn,
    };
    let closing = state.clone();
    let shutdown = async move {
        shutdown_signal().await;
        crate::service::stopping();
        // Room events sockets would otherwise hold the shutdown for its grace.
        closing.events.close_all();
        // The media plane reports a room's bytes only when its last session
        // ends: ask it for the rooms still in use before logging them.
        closing.finish_consultations().await;
    };
    serve_http(
        listener,
        samsyn_signaling::router_with(state, connection_tests, metrics),
        options,
        shutdown,
    )
    .await
    .context("the HTTP server failed")?;
    tracing::info!("samsyn-gateway stopped");
    Ok(())
}

/// The addresses of the external relays' hosts, so that media arriving from
/// them counts as relayed in the metrics. A name that does not resolve now
/// only makes those sessions count as UDP, so it is said and not fatal.
async fn external_relay_ips(urls: &[String]) -> Vec<std::net::IpAddr> {
    let mut ips = Vec::new();
    for url in urls {
        let Some(host_port) = turn_host_port(url) else {
            continue;
        };
        match tokio::net::lookup_host(&host_port).await {
            Ok(addrs) => ips.extend(addrs.map(|addr| addr.ip())),
            Err(err) => tracing::warn!(
                relay = %host_port,
                "cannot resolve the external relay ({err}); its sessions count as UDP in \
                 the metrics until the gateway restarts"
            ),
        }
    }
    ips
}

/// `host:port` of a `turn:`/`turns:` URI (RFC 7065), with the scheme's
/// default port when it names none.
fn turn_host_port(uri: &str) -> Option<String> {
    let (default_port, rest) = match uri.split_once(':')? {
        ("turn", rest) => (3478, rest),
        ("turns", rest) => (5349, rest),
        _ => return None,
    };
    let authority = rest.split('?').next()?;
    let has_port = match authority.rfind(']') {
        // [v6] or [v6]:port
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    })
}

/// Says which certificate is served, and what clients must pin.
fn announce_tls(tls: &ServerTls) {
    match &tls.source {
        CertificateSource::Files { cert } => {
            tracing::info!(certificate = %cert.display(), sha256 = %tls.fingerprint, "TLS on");
        }
        CertificateSource::SelfSigned { cert, created } => {
            tracing::info!(
                certificate = %cert.display(),
                new = created,
                "TLS on with a self-signed certificate; capture daemons pin it with \
                 --pin-sha256 {}",
                tls.fingerprint
            );
        }
    }
    if !tls.uncovered_names.is_empty() {
        tracing::warn!(
            "the certificate is not valid for {}: browsers will warn on links with that name. \
             Give a certificate that covers it (--tls-cert/--tls-key), or move the data \
             directory's tls/ folder away to have a new self-signed one made (its fingerprint \
             changes: update the capture daemons' --pin-sha256)",
            tls.uncovered_names.join(", ")
        );
    }
}

/// Serves a renewed certificate from its files on SIGHUP or when they
/// change (see [`watch`]), and keeps its expiry in the metrics.
fn keep_certificate_current(tls: Option<&ServerTls>, metrics: Arc<crate::metrics::GatewayMetrics>) {
    if let Some(tls) = tls {
        metrics.set_tls_certificate_expiry(tls.served.current().not_after_unix);
    }
    tokio::spawn(watch::reload_certificate_on_change(
        tls.cloned(),
        move |pair| metrics.set_tls_certificate_expiry(pair.not_after_unix),
    ));
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

#[cfg(test)]
mod tests {
    use super::turn_host_port;

    #[test]
    fn relay_hosts_come_with_their_ports() {
        assert_eq!(
            turn_host_port("turn:relay.example:443?transport=tcp").as_deref(),
            Some("relay.example:443")
        );
        assert_eq!(
            turn_host_port("turns:relay.example").as_deref(),
            Some("relay.example:5349")
        );
        assert_eq!(
            turn_host_port("turn:[fd00::1]?transport=udp").as_deref(),
            Some("[fd00::1]:3478")
        );
        assert_eq!(
            turn_host_port("turn:[fd00::1]:3479").as_deref(),
            Some("[fd00::1]:3479")
        );
        assert_eq!(turn_host_port("stun:relay.example"), None);
    }
}
