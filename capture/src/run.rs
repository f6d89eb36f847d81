//! The daemon's life: build the pipeline, publish over WHIP, stream until
//! told to stop, then end the session cleanly.

use std::time::{Duration, Instant};

use samsyn_config::{CaptureConfig, ConfigError};
use url::Url;

use crate::consultation::still::StillSource;
use crate::consultation::{self, ConsultationOptions};
use crate::gateway_tls::{GatewayTrust, TrustError};
use crate::latency::controller::{self, ControllerOptions, LatencyController, LatencyHandle};
use crate::latency::{endpoint, status};
use crate::settings::VideoSettings;
use crate::webrtc::{PublishError, Publisher, PublisherOptions, ice};
use crate::whip::{self, SessionKind, WhipClient, WhipError};

/// Publishing stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is incomplete or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A required setting is missing.
    #[error("{0} is not set; pass --{0} (or set SAMSYN_{upper})", upper = .0.to_uppercase())]
    Missing(&'static str),
    /// GStreamer could not start.
    #[error(
        "GStreamer could not be initialised: {0}; install libgstreamer1.0-0 and \
         gstreamer1.0-plugins-base"
    )]
    Gstreamer(String),
    /// The media pipeline failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The WHIP exchange failed.
    #[error(transparent)]
    Whip(#[from] WhipError),
    /// The certificate settings cannot be used.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Publishes as configured until Ctrl-C or SIGTERM, then deletes the WHIP
/// session and stops the pipeline.
pub async fn run(config: &CaptureConfig) -> Result<(), RunError> {
    gstreamer::init().map_err(|e| RunError::Gstreamer(e.to_string()))?;
    let gateway = config
        .gateway
        .as_ref()
        .ok_or(RunError::Missing("gateway"))?;
    let room = config.room.as_deref().ok_or(RunError::Missing("room"))?;
    let token = config.token.as_deref().ok_or(RunError::Missing("token"))?;
    let whip_url = whip::endpoint_url(gateway, SessionKind::Publish, room)?;
    let options = publisher_options(config, gateway)?;

    tracing::info!(
        source = %config.source,
        video = format!(
            "{}x{}@{} {} {} kbit/s",
            options.video.width, options.video.height, options.video.fps,
            options.video.codec, options.video.bitrate_kbps
        ),
        ice = ?options.ice_addresses,
        url = %whip_url,
        "publishing"
    );

    let trust = GatewayTrust::from_config(&config.tls)?;
    let client = WhipClient::with_trust(SessionKind::Publish, token, &trust)?;
    let mut publisher = Publisher::build(&options)?;
    // Kept for the session; the bitrate controller constrains the ladder through it.
    let latency = watch_latency(config, &options, &publisher).await;

    let session = tokio::select! {
        started = start(&mut publisher, &client, &whip_url) => started?,
        () = shutdown_signal() => {
            tracing::info!("stopping before the session was established");
            publisher.stop();
            return Ok(());
        }
    };

    let consultation = config.consultation.then(|| {
        tokio::spawn(consultation::run(ConsultationOptions {
            gateway: gateway.clone(),
            room: room.to_owned(),
            token: token.to_owned(),
            trust: trust.clone(),
            stills: StillSource::for_source(&options.source),
            status: Some(latency.status.clone()),
        }))
    });

    let outcome = tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("stopping");
            Ok(())
        }
        event = publisher.next_event() => match event {
            Some(event) => Err(RunError::Publish(PublishError::Pipeline(event))),
            None => Ok(()),
        },
    };

    if let Some(consultation) = consultation {
        consultation.abort();
    }
    if let Err(e) = client.delete(&session).await {
        tracing::warn!(error = %e, "could not end the WHIP session; the gateway will time it out");
    }
    publisher.stop();
    outcome
}

/// Starts measuring the encode path, the quality ladder, the status line
/// and (if configured) the status endpoint.
async fn watch_latency(
    config: &CaptureConfig,
    options: &PublisherOptions,
    publisher: &Publisher,
) -> LatencyHandle {
    let budget = Duration::from_secs_f64(config.encode_budget_ms() / 1e3);
    let mut controller = LatencyController::new(
        ControllerOptions {
            budget,
            glass_to_glass_target_ms: config.latency.glass_to_glass_target_ms,
            ladder: config.latency.ladder,
            video: options.video,
        },
        publisher.encoder_control().cloned(),
        Instant::now(),
    );
    controller.watch_capture_time(publisher.capture_time_writer().clone());
    controller.wait_for_publishing(publisher.publishing());
    let latency = controller::spawn(controller, publisher.frame_timer().subscribe());
    let status = latency.status.clone();
    tracing::info!(
        budget_ms = format!("{:.1}", budget.as_secs_f64() * 1e3),
        glass_to_glass_target_ms = config.latency.glass_to_glass_target_ms,
        ladder = config.latency.ladder,
        "latency budget"
    );
    if config.status.endpoint {
        match endpoint::serve(config.status.port, status.clone()).await {
            Ok(address) => tracing::info!("status endpoint: http://{address}/status"),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    tokio::spawn(status::show(
        status,
        Duration::from_secs(u64::from(config.status.log_interval_secs)),
    ));
    latency
}

/// The media options the configuration asks for, with ICE pinned by the
/// usual rule.
pub fn publisher_options(
    config: &CaptureConfig,
    gateway: &Url,
) -> Result<PublisherOptions, RunError> {
    Ok(PublisherOptions {
        source: config.source_spec()?,
        video: VideoSettings::from_config(config),
        audio: config.audio,
        ice_addresses: ice::pinned_addresses(&config.ice.local_addresses, gateway),
    })
}

async fn start(
    publisher: &mut Publisher,
    client: &WhipClient,
    url: &Url,
) -> Result<whip::Session, RunError> {
    let offer = publisher.start_and_offer().await?;
    let session = client.post_offer(url, &offer).await?;
    if let Err(e) = publisher.accept_answer(&session.answer).await {
        // Do not leave a half-made session occupying the room.
        let _ = client.delete(&session).await;
        return Err(e.into());
    }
    Ok(session)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
