//! `samsyn-capture join <nurse link>`: the nurse's way in. One link from
//! the hospital starts everything: it gives the gateway, the room, the
//! token and (for a self-signed gateway) the certificate's fingerprint;
//! every other setting comes from the configuration IT installed
//! (`/etc/samsyn/capture.toml`, then the nurse's own
//! `~/.config/samsyn/capture.toml`), the environment and flags, as for the
//! daemon. The nurse screen ([`crate::screen`]) opens in her browser and
//! shows the consultation; the terminal, if there is one, says the same.
//!
//! Outcomes: the hospital ends the consultation (exit 0, "Konsultasjonen
//! er avsluttet"), she ends the visit on her screen (exit 0), or the link
//! cannot be used: malformed, expired, for an ended room, for another
//! gateway, or refused by the gateway (exit 1, a plain sentence on the
//! screen and in the terminal).

pub mod browser;
pub mod controls;
pub mod desktop;

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use samsyn_config::{CaptureConfig, ConfigError};

use crate::check::LineTarget;
use crate::gateway_tls::{GatewayTrust, TrustError};
use crate::nurse_link::{LinkError, NurseLink};
use crate::run::{self, RunError, RunHooks};
use crate::screen::view::LinkView;
use crate::screen::{ScreenFeed, server};
use crate::uplink::LinkState;
use crate::whip::WhipError;

/// How long the screen stays up after the end when a browser was opened
/// for it (it may still be loading when a link fails at once) …
const LINGER_WITH_BROWSER: Duration = Duration::from_secs(15);
/// … and otherwise, for a screen that is already open to get the news.
const LINGER: Duration = Duration::from_secs(3);

/// Runs `join` to the end; the exit code is 0 when the consultation ended
/// or she ended the visit, 1 when the link could not be used, 2 when the
/// configuration cannot be used.
pub async fn join(
    link: &str,
    config: Result<CaptureConfig, ConfigError>,
    open_browser: bool,
) -> ExitCode {
    let (feed, screen_link, commands) = ScreenFeed::new();
    let screen = match server::serve(screen_link).await {
        Ok(screen) => screen,
        Err(e) => {
            eprintln!("samsyn-capture: the nurse screen cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The one line tools and tests read; stdout is hers, not a log.
    println!("nurse screen: {}", screen.url);
    let _ = std::io::stdout().flush();
    let browser_opened = open_browser
        && match browser::open(&screen.url) {
            Ok(browser) => {
                tracing::info!(browser, "nurse screen opened");
                true
            }
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        };
    let linger = if browser_opened {
        LINGER_WITH_BROWSER
    } else {
        LINGER
    };

    let config = match config {
        Ok(config) => config,
        Err(e) => {
            refuse(&feed, "setup", &e.to_string());
            eprintln!("samsyn-capture: {e}");
            tokio::time::sleep(linger).await;
            return ExitCode::from(2);
        }
    };
    let config = match with_link(config, link, SystemTime::now()) {
        Ok(config) => config,
        Err(e) => {
            refuse(&feed, e.code(), &e.to_string());
            eprintln!("samsyn-capture: {e}");
            tokio::time::sleep(linger).await;
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = config.validate() {
        refuse(&feed, "setup", &e.to_string());
        eprintln!("samsyn-capture: {e}");
        tokio::time::sleep(linger).await;
        return ExitCode::from(2);
    }
    // The uplink's state is shown until the daemon has ended; the end's
    // own words then stay.
    let following = Arc::new(Mutex::new(true));
    let follow = (feed.clone(), following.clone());
    let hooks = RunHooks {
        on_uplink: Some(Box::new(move |mut states, _stop| {
            tokio::spawn(async move {
                let (feed, following) = follow;
                loop {
                    let state = states.borrow_and_update().clone();
                    if !*following.lock().unwrap_or_else(|e| e.into_inner()) {
                        return;
                    }
                    feed.update(|view| view.link = link_view(&state));
                    if states.changed().await.is_err() {
                        return;
                    }
                }
            });
        })),
        screen: Some((
            feed.clone(),
            Box::new({
                let feed = feed.clone();
                move |parts| Box::new(controls::start(feed, commands, parts))
            }),
        )),
    };
    let outcome = run::run_with(&config, hooks).await;
    *following.lock().unwrap_or_else(|e| e.into_inner()) = false;
    let code = match outcome {
        Ok(()) => {
            feed.update(|view| {
                if view.link != LinkView::Ended {
                    view.link = LinkView::Stopped;
                }
            });
            if feed.current().link == LinkView::Ended {
                println!("Konsultasjonen er avsluttet / the consultation has ended");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = refusal_code(&e);
            refuse(&feed, code, &e.to_string());
            eprintln!("samsyn-capture: {e}");
            match e {
                RunError::Config(_) | RunError::Missing(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    };
    tokio::time::sleep(linger).await;
    drop(screen);
    code
}

/// The configuration with the link's gateway, room, token and pin, after
/// checking the link against what IT configured.
fn with_link(
    mut config: CaptureConfig,
    text: &str,
    now: SystemTime,
) -> Result<CaptureConfig, LinkError> {
    let link = NurseLink::parse(text)?;
    link.check_gateway(config.gateway.as_ref())?;
    link.check_token(now)?;
    if let Some(pin) = &link.pin_sha256 {
        match (&config.tls.ca_file, &config.tls.pin_sha256) {
            // IT's CA decides; a pin in a link does not weaken it.
            (Some(_), _) => {}
            (None, Some(configured)) if !same_fingerprint(configured, pin) => {
                return Err(LinkError::OtherGateway {
                    link: format!("{} (certificate {pin})", link.gateway),
                    configured: format!("certificate {configured}"),
                });
            }
            (None, _) => config.tls.pin_sha256 = Some(pin.clone()),
        }
    }
    tracing::info!(room = link.room, gateway = %link.gateway, "joining the consultation");
    config.gateway = Some(link.gateway);
    config.room = Some(link.room);
    config.token = Some(link.token);
    Ok(config)
}

/// The line a `check` with a nurse link measures: the link's gateway,
/// room and token, trusted as `join` would.
pub fn line_target(config: &CaptureConfig, link: &str) -> Result<LineTarget, LineTargetError> {
    let config = with_link(config.clone(), link, SystemTime::now())?;
    let trust = GatewayTrust::from_config(&config.tls)?;
    match (config.gateway, config.room, config.token) {
        (Some(gateway), Some(room), Some(token)) => Ok(LineTarget {
            gateway,
            room,
            token,
            trust,
        }),
        _ => Err(LineTargetError::Incomplete),
    }
}

/// Why a nurse link gives no line for the check to measure.
#[derive(Debug, thiserror::Error)]
pub enum LineTargetError {
    /// The link is not one this daemon takes.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The gateway's certificate cannot be trusted as configured.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The link lacks one of them.
    #[error("the link gives no gateway, room or token")]
    Incomplete,
}

fn same_fingerprint(a: &str, b: &str) -> bool {
    samsyn_config::parse_sha256_fingerprint(a) == samsyn_config::parse_sha256_fingerprint(b)
}

/// Shows a refusal on the screen.
fn refuse(feed: &ScreenFeed, problem: &str, message: &str) {
    feed.update(|view| {
        view.link = LinkView::Refused {
            problem: problem.to_owned(),
            message: message.to_owned(),
        }
    });
}

/// The uplink's state as the screen shows it.
fn link_view(state: &LinkState) -> LinkView {
    match state {
        LinkState::Connecting => LinkView::Connecting,
        LinkState::Live => LinkView::Live,
        LinkState::Reconnecting { attempt } => LinkView::Reconnecting { attempt: *attempt },
        LinkState::Ended => LinkView::Ended,
        LinkState::Refused { code, message } => LinkView::Refused {
            problem: code.clone(),
            message: message.clone(),
        },
        LinkState::Stopped => LinkView::Stopped,
    }
}

/// The screen's code for an error that ended the daemon.
fn refusal_code(error: &RunError) -> &'static str {
    match error {
        RunError::Whip(WhipError::Certificate { .. }) => "certificate_not_accepted",
        RunError::Whip(e) => e.code().map_or("gateway_error", static_code),
        RunError::Trust(_) => "certificate",
        RunError::Config(_) | RunError::Missing(_) => "setup",
        RunError::Publish(_) | RunError::Gstreamer(_) => "camera",
    }
}

/// The gateway's refusal codes the screen words; any other is
/// `gateway_error`.
fn static_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "token_expired",
        "room_ended",
        "unknown_room",
        "invalid_token",
        "wrong_room",
        "wrong_role",
    ];
    KNOWN
        .iter()
        .find(|known| **known == code)
        .copied()
        .unwrap_or("gateway_error")
}
