//! The daemon's life: start the camera, publish over WHIP, stay connected
//! through network drops and gateway restarts, and end the session cleanly
//! when told to stop.
//!
//! The camera and the encoder start once and keep running; only the WHIP
//! session (webrtcbin) is replaced when the connection is lost:
//!
//! - **Lost**: nothing has come back from the gateway for
//!   [`SILENCE_LIMIT`] (no RTCP at all: the gateway's transport-wide
//!   feedback normally arrives many times a second), or webrtcbin reports
//!   the connection failed.
//! - **Address gone**: an address the session may run on was removed (the
//!   laptop moved to another network; [`crate::network_watch`] hears it from
//!   the kernel) and the gateway has gone quiet for `ADDRESS_SILENCE`: the
//!   session cannot come back, so a new one is made at once, without the
//!   recovery below or a pause. A removed address the session does not use
//!   (the gateway still talks) changes nothing.
//! - **Recover**: the session is kept while the daemon asks the gateway
//!   (`PATCH` with unchanged ICE credentials) whether it still has it. When
//!   the path comes back by itself (a Wi-Fi hiccup, a blackout), media simply
//!   resumes on the same session and a keyframe is sent at once.
//! - **New session**: when the gateway has forgotten the session (404: it
//!   restarted), or answers but media does not get through (the laptop
//!   changed networks), a new WHIP session is made at once. webrtcbin in
//!   GStreamer 1.22 cannot restart ICE (its offers have no `ice-restart`
//!   option), so a new session stands in for an ICE restart over `PATCH`;
//!   it costs one DTLS handshake more.
//!
//! Retries back off with jitter ([`Backoff`]), except that a new address
//! appearing wakes the next try at once; every try is logged as the nurse
//! should read it: "reconnecting, 3rd try: gateway unreachable (…)".

use std::net::IpAddr;
use std::time::{Duration, Instant};

use samsyn_config::{CaptureConfig, ConfigError, Microphone};
use tokio::sync::watch;
use url::Url;

use crate::audio::{TestSound, VoiceInput};
use crate::congestion::{BitrateLimits, EncoderBudget};
use crate::consultation::still::StillSource;
use crate::consultation::{self, ConsultationOptions};
use crate::gateway_tls::{GatewayTrust, TrustError};
use crate::latency::controller::{self, ControllerOptions, LatencyController, LatencyHandle};
use crate::latency::{endpoint, status};
use crate::network_watch::{AddressChange, AddressWatch};
use crate::publish::{self, OpenError, Opened};
use crate::rate_control::{self, RateSettings, SharedRoundTrip, retransmission_window};
use crate::reconnect::{Backoff, ordinal, unchanged_ice_fragment};
use crate::settings::VideoSettings;
use crate::talkback::{self, LinkOptions, PlayoutOptions, Speaker, Talkback};
use crate::webrtc::{PublishError, Publisher, PublisherEvent, PublisherOptions, SessionEvent, ice};
use crate::whip::{self, SessionKind, WhipClient, WhipError};

/// No RTCP from the gateway for this long: the connection is lost.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(2);
/// A new session must connect (ICE and DTLS) within this.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// The gateway answers but no media gets through for this long: the path
/// changed under the session, so make a new one.
const STALE_PATH_LIMIT: Duration = Duration::from_secs(3);
/// An address the session may run on went away and nothing has come from
/// the gateway for this long: the session went with the address. The
/// gateway's feedback comes about every 100 ms, so this is several missed
/// reports, yet short beside [`SILENCE_LIMIT`].
const ADDRESS_SILENCE: Duration = Duration::from_millis(400);
/// How long after an address went away a short silence counts as its
/// doing; later, [`SILENCE_LIMIT`] decides as usual.
const ADDRESS_WATCH: Duration = SILENCE_LIMIT;
/// How often a connected session is checked for silence, and (shorter)
/// while an address has just gone away.
const WATCH_TICK: Duration = Duration::from_millis(250);
const ADDRESS_WATCH_TICK: Duration = Duration::from_millis(50);
/// How long ending the session may take when stopping.
const DELETE_LIMIT: Duration = Duration::from_secs(3);
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

/// Publishes as configured until Ctrl-C or SIGTERM, reconnecting as needed,
/// then deletes the WHIP session and stops the pipeline.
pub async fn run(config: &CaptureConfig) -> Result<(), RunError> {
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
            status: Some(latency.status.clone()),
            talkback: volume.clone(),
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
        result = uplink.keep_connected(&mut publisher) => result,
    };

    for task in [consultation, commands].into_iter().flatten() {
        task.abort();
    }
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
        publisher.encoder_control().cloned(),
        Instant::now(),
    );
    controller.watch_capture_time(publisher.capture_time_writer().clone());
    controller.wait_for_publishing(publisher.publishing());
    let latency = controller::spawn(controller, publisher.frame_timer().subscribe());
    let status = match talkback {
        Some(talkback) => talkback::status::merged(latency.status.clone(), talkback),
        None => latency.status.clone(),
    };
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

/// The WHIP side of the connection: which session the gateway has for us.
struct Uplink {
    client: WhipClient,
    url: Url,
    /// The round trip the bitrate loop measured (sizes the RTX history).
    round_trip: SharedRoundTrip,
    backoff: Backoff,
    /// The current WHIP session and the ICE fragment that checks it.
    session: Option<(whip::Session, String)>,
    /// Whether a session has connected since the daemon started.
    was_connected: bool,
    /// How many WHIP sessions have connected: talk-back opens its session
    /// beside each new one.
    connected_sessions: watch::Sender<u64>,
    /// The laptop's addresses appearing and going away.
    addresses: AddressWatch,
    /// The addresses ICE is pinned to (none: any).
    pinned: Vec<IpAddr>,
}

/// How a connected session was lost.
enum PathLost {
    /// The gateway went quiet, or webrtcbin gave up: maybe the path comes
    /// back, so try to keep the session.
    Silent(String),
    /// An address the session may run on went away at `at`, and the
    /// gateway went quiet with it: only a new session can help.
    AddressGone { address: IpAddr, at: Instant },
}

/// Why connecting failed.
enum Lost {
    /// Something failed on the way; try again after a pause.
    Retry(String),
    /// Trying again cannot help: the token or the room was refused (the
    /// consultation has ended, or the invitation is wrong).
    Fatal(RunError),
}

impl Uplink {
    fn new(client: WhipClient, url: Url, round_trip: SharedRoundTrip, pinned: &[IpAddr]) -> Self {
        Self {
            client,
            url,
            round_trip,
            backoff: Backoff::default(),
            session: None,
            was_connected: false,
            connected_sessions: watch::channel(0).0,
            addresses: AddressWatch::start(),
            pinned: pinned.to_vec(),
        }
    }

    /// Follows how many WHIP sessions have connected.
    fn connected_sessions(&self) -> watch::Receiver<u64> {
        self.connected_sessions.subscribe()
    }

    /// Connects and stays connected until the hospital ends the
    /// consultation (`Ok`), or an error retrying cannot fix (token refused,
    /// camera pipeline failed). A link to a consultation that had ended
    /// before the daemon ever connected is such an error.
    async fn keep_connected(&mut self, publisher: &mut Publisher) -> Result<(), RunError> {
        match self.stay_connected(publisher).await {
            Err(RunError::Whip(WhipError::RoomEnded { room })) if self.was_connected => {
                self.forget_session();
                tracing::info!(room, "the hospital has ended this consultation; stopping");
                Ok(())
            }
            outcome => outcome,
        }
    }

    async fn stay_connected(&mut self, publisher: &mut Publisher) -> Result<(), RunError> {
        let mut attempt: u32 = 0;
        let mut outage_started: Option<Instant> = None;
        loop {
            match self.connect(publisher).await {
                Ok(()) => {
                    self.connected_sessions.send_modify(|n| *n += 1);
                    match outage_started.take() {
                        None => tracing::info!("connected to the gateway; the video is live"),
                        Some(since) => tracing::info!(
                            "reconnected to the gateway after {:.1} s ({} {}); the video is live again",
                            since.elapsed().as_secs_f64(),
                            attempt + 1,
                            if attempt == 0 { "try" } else { "tries" },
                        ),
                    }
                    attempt = 0;
                }
                Err(Lost::Fatal(error)) => return Err(error),
                Err(Lost::Retry(why)) => {
                    attempt += 1;
                    let since = *outage_started.get_or_insert_with(Instant::now);
                    let delay = self.backoff.delay(attempt, since.elapsed(), rand::random());
                    tracing::warn!(
                        "reconnecting, {} try in {:.1} s: {why}",
                        ordinal(attempt + 1),
                        delay.as_secs_f64()
                    );
                    if let Some(address) =
                        pause(publisher, delay, &mut self.addresses, &self.pinned).await?
                    {
                        tracing::info!(
                            "the laptop has a new network address ({address}); trying again now"
                        );
                    }
                    continue;
                }
            }

            // Connected: watch until the path is lost, then try to keep the
            // session, or replace it.
            loop {
                let why = match watch(
                    publisher,
                    &self.round_trip,
                    &mut self.addresses,
                    &self.pinned,
                )
                .await?
                {
                    PathLost::Silent(why) => why,
                    PathLost::AddressGone { address, at } => {
                        tracing::warn!(
                            "the laptop's network address changed ({address} is gone and the \
                             gateway went quiet); starting a new session"
                        );
                        outage_started = Some(at);
                        break;
                    }
                };
                let since = Instant::now();
                tracing::warn!("connection to the gateway lost: {why}; reconnecting");
                match self.recover(publisher, since).await? {
                    None => {
                        tracing::info!(
                            "the connection to the gateway came back after {:.1} s; the video is live again",
                            since.elapsed().as_secs_f64()
                        );
                        publisher.request_keyframe();
                    }
                    Some(why) => {
                        tracing::warn!("starting a new session: {why}");
                        outage_started = Some(since);
                        break;
                    }
                }
            }
        }
    }

    /// Opens a new session (replacing any old one) and waits until it is
    /// connected.
    async fn connect(&mut self, publisher: &mut Publisher) -> Result<(), Lost> {
        self.forget_session();
        let Opened { session, offer } =
            match publish::open_session(&self.client, &self.url, publisher).await {
                Ok(opened) => opened,
                Err(e @ OpenError::Prepare(_)) => return Err(Lost::Retry(e.to_string())),
                Err(OpenError::Whip(e)) if e.is_permanent() => {
                    return Err(Lost::Fatal(e.into()));
                }
                // Until the first connection the whole message, with its fix
                // (check --gateway): the URL may simply be wrong.
                Err(OpenError::Whip(e)) if !self.was_connected => {
                    return Err(Lost::Retry(e.to_string()));
                }
                Err(OpenError::Whip(e)) => return Err(Lost::Retry(e.short())),
            };
        let check = unchanged_ice_fragment(&offer).unwrap_or_default();
        self.session = Some((session.clone(), check));
        if let Err(e) = publisher.accept_answer(&session.answer).await {
            return Err(Lost::Retry(format!(
                "the gateway's answer was not usable: {e}"
            )));
        }
        let connected = tokio::time::timeout(CONNECT_LIMIT, async {
            match publisher.next_event().await {
                Some(PublisherEvent::Session(SessionEvent::Connected)) => Ok(()),
                Some(PublisherEvent::Session(SessionEvent::Failed(why))) => {
                    Err(Lost::Retry(why.to_owned()))
                }
                Some(PublisherEvent::Session(SessionEvent::Error(e))) => {
                    Err(Lost::Retry(e.to_string()))
                }
                Some(PublisherEvent::Capture(e)) => {
                    Err(Lost::Fatal(PublishError::Pipeline(e).into()))
                }
                None => Err(Lost::Retry("the pipeline stopped".into())),
            }
        })
        .await;
        match connected {
            Ok(Ok(())) => {
                self.was_connected = true;
                Ok(())
            }
            Ok(Err(lost)) => Err(lost),
            Err(_) => Err(Lost::Retry(format!(
                "no media connection within {} s (UDP to the gateway blocked?)",
                CONNECT_LIMIT.as_secs()
            ))),
        }
    }

    /// Keeps the session while the path is down, asking the gateway now and
    /// then whether it still has it. `None` when media flows again on the
    /// same session; `Some(why)` when a new session is needed.
    async fn recover(
        &mut self,
        publisher: &mut Publisher,
        since: Instant,
    ) -> Result<Option<String>, RunError> {
        let mut attempt: u32 = 0;
        let mut answering_since: Option<Instant> = None;
        loop {
            if heard_recently(publisher) {
                return Ok(None);
            }
            let Some((session, fragment)) = self.session.clone() else {
                return Ok(Some("no session to keep".into()));
            };
            attempt += 1;
            let reason = match self.client.check(&session, &fragment).await {
                Ok(()) => {
                    let answering = *answering_since.get_or_insert_with(Instant::now);
                    if answering.elapsed() >= STALE_PATH_LIMIT {
                        return Ok(Some(
                            "the gateway answers but media does not get through \
                             (the network changed?)"
                                .into(),
                        ));
                    }
                    "the gateway answers; waiting for media to get through".to_owned()
                }
                Err(WhipError::SessionGone { .. }) => {
                    return Ok(Some(
                        "the gateway no longer knows this session (it restarted?)".into(),
                    ));
                }
                Err(e) if e.is_permanent() => return Err(e.into()),
                Err(e) => {
                    answering_since = None;
                    e.short()
                }
            };
            if heard_recently(publisher) {
                return Ok(None);
            }
            let delay = self.backoff.delay(attempt, since.elapsed(), rand::random());
            tracing::warn!("reconnecting, {} try: {reason}", ordinal(attempt));
            // Wake early if media comes back by itself.
            let deadline = Instant::now() + delay;
            while Instant::now() < deadline {
                if heard_recently(publisher) {
                    return Ok(None);
                }
                let tick = tokio::time::sleep(Duration::from_millis(100));
                tokio::select! {
                    event = publisher.next_event() => match event {
                        Some(PublisherEvent::Capture(e)) => {
                            return Err(PublishError::Pipeline(e).into());
                        }
                        Some(PublisherEvent::Session(SessionEvent::Failed(why))) => {
                            return Ok(Some(why.to_owned()));
                        }
                        _ => {}
                    },
                    change = self.addresses.next() => match change {
                        // The session is silent already: if its address
                        // went, it cannot come back.
                        AddressChange::Removed(address) if change.concerns(&self.pinned) => {
                            return Ok(Some(format!(
                                "the laptop's network address changed ({address} is gone)"
                            )));
                        }
                        AddressChange::Added(_) if change.concerns(&self.pinned) => break,
                        _ => {}
                    },
                    () = tick => {}
                }
            }
        }
    }

    /// Forgets the current WHIP session, deleting it in the background (best
    /// effort: the gateway replaces it anyway when the new one arrives).
    fn forget_session(&mut self) {
        if let Some((session, _)) = self.session.take() {
            let client = self.client.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(DELETE_LIMIT, client.delete(&session)).await;
            });
        }
    }

    /// Ends the current WHIP session, if any (when stopping).
    async fn end(&mut self) {
        if let Some((session, _)) = self.session.take() {
            match tokio::time::timeout(DELETE_LIMIT, self.client.delete(&session)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    "could not end the WHIP session; the gateway will time it out"
                ),
                Err(_) => tracing::warn!(
                    "the gateway did not answer the end of the session; it will time it out"
                ),
            }
        }
    }
}

/// Watches a connected session until the path is lost; returns how. Keeps
/// the session's retransmission history sized to the round trip meanwhile.
async fn watch(
    publisher: &mut Publisher,
    round_trip: &SharedRoundTrip,
    addresses: &mut AddressWatch,
    pinned: &[IpAddr],
) -> Result<PathLost, RunError> {
    let mut last_sizing: Option<Instant> = None;
    // An address the session may run on that went away, and when.
    let mut removed: Option<(IpAddr, Instant)> = None;
    loop {
        if last_sizing.is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
            && let Some(session) = publisher.session()
        {
            let rtt = *round_trip.lock().unwrap_or_else(|e| e.into_inner());
            session.set_retransmission_window(retransmission_window(rtt));
            last_sizing = Some(Instant::now());
        }
        let tick = tokio::time::sleep(if removed.is_some() {
            ADDRESS_WATCH_TICK
        } else {
            WATCH_TICK
        });
        tokio::select! {
            event = publisher.next_event() => match event {
                Some(PublisherEvent::Capture(e)) => return Err(PublishError::Pipeline(e).into()),
                Some(PublisherEvent::Session(SessionEvent::Failed(why))) => {
                    return Ok(PathLost::Silent(why.to_owned()));
                }
                Some(PublisherEvent::Session(SessionEvent::Error(e))) => {
                    return Ok(PathLost::Silent(e.to_string()));
                }
                Some(PublisherEvent::Session(SessionEvent::Connected)) => {}
                None => return Ok(PathLost::Silent("the pipeline stopped".into())),
            },
            change = addresses.next() => {
                if let AddressChange::Removed(address) = change
                    && change.concerns(pinned)
                {
                    tracing::info!(
                        "the laptop's network address {address} went away; checking that the \
                         video still gets through"
                    );
                    removed = Some((address, Instant::now()));
                }
            }
            () = tick => {
                let silent = publisher
                    .session()
                    .and_then(|s| s.silent_for(Instant::now()));
                if let Some((address, at)) = removed {
                    match after_removal(silent, at.elapsed()) {
                        AfterRemoval::Gone => return Ok(PathLost::AddressGone { address, at }),
                        AfterRemoval::Kept => {
                            if silent.is_some_and(|s| s < ADDRESS_SILENCE) {
                                tracing::info!(
                                    "the video still gets through; the session did not use \
                                     {address}"
                                );
                            }
                            removed = None;
                        }
                        AfterRemoval::Wait => {}
                    }
                }
                if let Some(silent) = silent
                    && silent >= SILENCE_LIMIT
                {
                    return Ok(PathLost::Silent(format!(
                        "nothing heard from the gateway for {:.1} s",
                        silent.as_secs_f64()
                    )));
                }
            }
        }
    }
}

/// What the session's silence says about an address that went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterRemoval {
    /// The gateway went quiet: the session ran on that address.
    Gone,
    /// The gateway kept talking: the session runs on another address.
    Kept,
    /// Too early to tell.
    Wait,
}

/// Judges an address removal `since` ago by how long the session has heard
/// nothing from the gateway (`None`: nothing yet at all). A session whose
/// address went away hears nothing from then on (the kernel no longer
/// delivers to it); a removal it survives is common (IPv6 temporary
/// addresses expire and go, a second interface loses its lease).
fn after_removal(silent: Option<Duration>, since: Duration) -> AfterRemoval {
    match silent {
        Some(silent) if silent >= ADDRESS_SILENCE && since < ADDRESS_WATCH => AfterRemoval::Gone,
        _ if since >= ADDRESS_WATCH => AfterRemoval::Kept,
        _ => AfterRemoval::Wait,
    }
}

/// Whether the current session heard from the gateway in the last second.
fn heard_recently(publisher: &Publisher) -> bool {
    publisher
        .session()
        .and_then(|s| s.silent_for(Instant::now()))
        .is_some_and(|silent| silent < Duration::from_secs(1))
}

/// Waits `delay`, but fails at once if the camera pipeline does, and ends
/// early when an address that can carry the session appears (returned):
/// the laptop joined a network, so the next try may well work.
async fn pause(
    publisher: &mut Publisher,
    delay: Duration,
    addresses: &mut AddressWatch,
    pinned: &[IpAddr],
) -> Result<Option<IpAddr>, RunError> {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(None),
            event = publisher.next_event() => {
                if let Some(PublisherEvent::Capture(e)) = event {
                    return Err(PublishError::Pipeline(e).into());
                }
            }
            change = addresses.next() => {
                if let AddressChange::Added(address) = change
                    && change.concerns(pinned)
                {
                    return Ok(Some(address));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_quiet_gateway_after_a_removal_means_the_session_went_with_it() {
        assert_eq!(after_removal(Some(400 * MS), 400 * MS), AfterRemoval::Gone);
        // Quiet since before the removal: the removal explains it.
        assert_eq!(after_removal(Some(1500 * MS), 50 * MS), AfterRemoval::Gone);
    }

    #[test]
    fn a_gateway_still_talking_means_another_address_carries_the_session() {
        assert_eq!(after_removal(Some(80 * MS), 300 * MS), AfterRemoval::Wait);
        assert_eq!(
            after_removal(Some(80 * MS), ADDRESS_WATCH),
            AfterRemoval::Kept
        );
    }

    #[test]
    fn late_silence_is_left_to_the_usual_limit() {
        // Quiet only after the watch ended: SILENCE_LIMIT decides.
        assert_eq!(
            after_removal(Some(500 * MS), ADDRESS_WATCH),
            AfterRemoval::Kept
        );
        // A session that never heard anything is not judged by a removal.
        assert_eq!(after_removal(None, 100 * MS), AfterRemoval::Wait);
        assert_eq!(after_removal(None, ADDRESS_WATCH), AfterRemoval::Kept);
    }
}
