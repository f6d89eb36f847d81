//! The daemon's life: start the camera, publish over WHIP, and end the
//! session cleanly when told to stop.
//!
//! The camera and the encoder start once and keep running; staying
//! connected through network drops and gateway restarts is the
//! [`crate::uplink`]'s job. [`run_with`] lets the program that runs the
//! daemon follow the uplink's state and stop it ([`RunHooks`]): the
//! nurse's screen does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use samsyn_config::{CaptureConfig, ConfigError, Microphone};
use tokio::sync::watch;
use url::Url;

use crate::audio::{TestSound, VoiceInput};
use crate::check::LineTarget;
use crate::congestion::{BitrateLimits, EncoderBudget};
use crate::consultation::still::StillSource;
use crate::consultation::{self, ConsultationOptions};
use crate::gateway_tls::{GatewayTrust, TrustError};
use crate::latency::controller::{
    self, ControllerOptions, EncoderControl, LatencyController, LatencyHandle,
};
use crate::latency::report::LatencyReport;
use crate::rate_control::{self, RateSettings, SharedRoundTrip};
use crate::screen::ScreenFeed;
use crate::settings::VideoSettings;
use crate::source::CameraState;
use crate::status;
use crate::talkback::{self, LinkOptions, Playout, PlayoutOptions, Speaker, Talkback};
use crate::uplink::driver::DELETE_LIMIT;
use crate::uplink::{LinkState, Uplink, UplinkError, UplinkStop};
use crate::webrtc::{PublishError, Publisher, PublisherOptions, ice};
use crate::whip::{self, SessionKind, WhipClient, WhipError};

/// The microphone's Opus stream with its packet headers, bit/s.
const AUDIO_BPS: u64 = 45_000;

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
    /// The WHIP exchange failed in a way retrying cannot fix.
    #[error(transparent)]
    Whip(#[from] WhipError),
    /// The certificate settings cannot be used.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

impl From<UplinkError> for RunError {
    fn from(error: UplinkError) -> Self {
        match error {
            UplinkError::Whip(e) => RunError::Whip(e),
            UplinkError::Publish(e) => RunError::Publish(e),
        }
    }
}

/// Called once the uplink exists with its state and a handle that stops
/// it (the nurse's screen shows the one and ends the visit with the other).
pub type OnUplink = Box<dyn FnOnce(watch::Receiver<LinkState>, UplinkStop) + Send>;

/// What the nurse screen's controls act on, from the running daemon.
pub struct ScreenParts {
    /// The publishing pipeline (its microphone and its encoder input).
    pub pipeline: gstreamer::Pipeline,
    /// Whether the daemon sends her voice.
    pub has_voice: bool,
    /// The specialists' voices in her headset, when talk-back is on.
    pub playout: Option<Arc<Playout>>,
    /// Ends the visit.
    pub stop: UplinkStop,
    /// The latency controller's report, for the quality in words.
    pub report: watch::Receiver<LatencyReport>,
    /// Whether the camera delivers pictures.
    pub camera: Option<watch::Receiver<CameraState>>,
    /// What the check button checks: the daemon's settings and the line to
    /// its gateway.
    pub check: (CaptureConfig, LineTarget),
}

/// Starts answering the nurse screen's controls once the daemon's parts
/// exist; what it returns keeps them running until the daemon drops it.
/// A hook, so the daemon does not depend on the program that shows the
/// screen.
pub type StartScreen = Box<dyn FnOnce(ScreenParts) -> Box<dyn Send> + Send>;

/// What the program running the daemon wants to hear of it.
#[derive(Default)]
pub struct RunHooks {
    /// See [`OnUplink`].
    pub on_uplink: Option<OnUplink>,
    /// The nurse screen: shown the room and the stream, its controls
    /// started by [`StartScreen`].
    pub screen: Option<(ScreenFeed, StartScreen)>,
}

impl std::fmt::Debug for RunHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHooks")
            .field("on_uplink", &self.on_uplink.is_some())
            .field("screen", &self.screen.is_some())
            .finish()
    }
}

/// Publishes as configured until Ctrl-C or SIGTERM, reconnecting as needed,
/// then deletes the WHIP session and stops the pipeline.
pub async fn run(config: &CaptureConfig) -> Result<(), RunError> {
    run_with(config, RunHooks::default()).await
}

/// [`run`], telling `hooks` about the uplink; it also stops when the
/// uplink is stopped through its [`UplinkStop`].
pub async fn run_with(config: &CaptureConfig, hooks: RunHooks) -> Result<(), RunError> {
    gstreamer::init().map_err(|e| RunError::Gstreamer(e.to_string()))?;
    let gateway = config
        .gateway
        .as_ref()
        .ok_or(RunError::Missing("gateway"))?;
    let room = config.room.as_deref().ok_or(RunError::Missing("room"))?;
    let token = config.token.as_deref().ok_or(RunError::Missing("token"))?;
    let whip_url = whip::endpoint_url(gateway, SessionKind::Publish, room)?;
    let mut options = publisher_options(config, gateway)?;
    // The microphone's echo canceller hears what the playout plays.
    let talkback = start_talkback(config);
    options.echo_reference = talkback
        .as_ref()
        .map(|t| t.playout().echo_reference().to_owned());

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
    // The bitrate loop constrains the quality ladder through it.
    let latency = watch_latency(
        config,
        &options,
        &publisher,
        talkback.as_ref().map(Talkback::status),
    )
    .await;
    tokio::select! {
        started = publisher.start() => started?,
        () = shutdown_signal() => {
            tracing::info!("stopping before the camera started");
            publisher.stop();
            return Ok(());
        }
    }

    let round_trip = SharedRoundTrip::default();
    if let Some(feedback) = publisher.take_feedback() {
        rate_control::spawn(
            rate_settings(config, publisher.has_audio()),
            feedback,
            publisher.pipeline().clone(),
            round_trip.clone(),
            Some(latency.clone()),
        );
    }

    let mut uplink = Uplink::new(client, whip_url, round_trip, &options.ice_addresses);
    if let Some(on_uplink) = hooks.on_uplink {
        on_uplink(uplink.state(), uplink.stopper());
    }
    let talkback_link = match &talkback {
        Some(talkback) => Some(talkback.follow_uplink(
            LinkOptions {
                whep_url: whip::endpoint_url(gateway, SessionKind::View, room)?,
                client: WhipClient::with_trust(SessionKind::View, token, &trust)?,
                ice_addresses: options.ice_addresses.clone(),
            },
            uplink.connected_sessions(),
        )),
        None => None,
    };
    let volume = talkback.as_ref().map(|t| t.playout().clone());
    let screen = hooks.screen.map(|(feed, start)| {
        let controls = start(ScreenParts {
            pipeline: publisher.pipeline().clone(),
            has_voice: publisher.has_audio(),
            playout: volume.clone(),
            stop: uplink.stopper(),
            report: latency.report.clone(),
            camera: publisher.camera_state(),
            check: (
                config.clone(),
                LineTarget {
                    gateway: gateway.clone(),
                    room: room.to_owned(),
                    token: token.to_owned(),
                    trust: trust.clone(),
                },
            ),
        });
        (feed, controls)
    });

    let consultation = config.consultation.then(|| {
        tokio::spawn(consultation::run(ConsultationOptions {
            gateway: gateway.clone(),
            room: room.to_owned(),
            token: token.to_owned(),
            trust: trust.clone(),
            stills: StillSource::for_source(
                &options.source,
                publisher.full_size_frames(),
                publisher.camera_photos(),
            ),
            report: Some(latency.report.clone()),
            talkback: volume.clone(),
            screen: screen.as_ref().map(|(feed, _)| feed.clone()),
        }))
    });
    // Without the consultation console, standard input still takes the
    // talk-back commands.
    let commands = match (&consultation, volume) {
        (None, Some(volume)) => Some(tokio::spawn(consultation::commands_only(volume))),
        _ => None,
    };

    let outcome = tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("stopping");
            Ok(())
        }
        result = uplink.keep_connected(&mut publisher) => result.map_err(RunError::from),
    };

    for task in [consultation, commands].into_iter().flatten() {
        task.abort();
    }
    drop(screen);
    uplink.end().await;
    // Dropping the uplink tells talk-back to end its session too.
    drop(uplink);
    if let Some(link) = talkback_link {
        let _ = tokio::time::timeout(DELETE_LIMIT, link).await;
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
    talkback: Option<watch::Receiver<talkback::TalkbackStatus>>,
) -> LatencyHandle {
    let budget = Duration::from_secs_f64(config.encode_budget_ms() / 1e3);
    let mut controller = LatencyController::new(
        ControllerOptions {
            budget,
            glass_to_glass_target_ms: config.latency.glass_to_glass_target_ms,
            ladder: config.latency.ladder,
            video: options.video,
        },
        publisher
            .encoder_control()
            .map(|control| Box::new(control.clone()) as Box<dyn EncoderControl>),
        Instant::now(),
    );
    let capture_time = publisher.capture_time_writer().clone();
    controller.watch_capture_time(move || capture_time.is_enabled());
    controller.wait_for_publishing(publisher.publishing());
    let latency = controller::spawn(controller, publisher.frame_timer().subscribe());
    tracing::info!(
        budget_ms = format!("{:.1}", budget.as_secs_f64() * 1e3),
        glass_to_glass_target_ms = config.latency.glass_to_glass_target_ms,
        ladder = config.latency.ladder,
        "latency budget"
    );
    status::start(&config.status, latency.report.clone(), talkback).await;
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
        photo_mode: config.photo_mode,
        audio: voice_input(config),
        echo_reference: None,
        ice_addresses: ice::pinned_addresses(&config.ice.local_addresses, gateway),
    })
}

/// What the configuration asks to send as the nurse's voice.
fn voice_input(config: &CaptureConfig) -> VoiceInput {
    match (config.audio, config.microphone) {
        (false, _) => VoiceInput::Off,
        (true, Microphone::Auto) => VoiceInput::Microphone,
        (true, Microphone::TestTone) => VoiceInput::Test(TestSound::Tone),
        (true, Microphone::TestSilence) => VoiceInput::Test(TestSound::Silence),
    }
}

/// Starts the talk-back playout if it is on; a playout that cannot start
/// leaves the video going without it.
fn start_talkback(config: &CaptureConfig) -> Option<Talkback> {
    if !config.talkback.enabled {
        tracing::info!("talk-back off (--no-talkback or talkback.enabled = false)");
        return None;
    }
    let options = PlayoutOptions {
        speaker: Speaker::parse(&config.talkback.speaker),
        volume_percent: config.talkback.volume_percent,
    };
    match Talkback::start(&options) {
        Ok(talkback) => Some(talkback),
        Err(e) => {
            tracing::warn!(
                "talk-back unavailable: {e}; the video goes on without the specialists' voices"
            );
            None
        }
    }
}

/// What the bitrate loop needs from the configuration.
fn rate_settings(config: &CaptureConfig, audio: bool) -> RateSettings {
    RateSettings {
        limits: BitrateLimits::new(
            u64::from(config.min_bitrate_kbps) * 1000,
            u64::from(config.bitrate_kbps) * 1000,
        ),
        budget: EncoderBudget {
            audio_bps: if audio { AUDIO_BPS } else { 0 },
            ..EncoderBudget::default()
        },
    }
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
