//! The consultation from the nurse's side: the daemon joins the room
//! events with its publisher token, shows who is in the consultation and
//! the chat on standard output, and sends each line typed on standard
//! input as a chat message.
//!
//! The message set is the gateway's ([`samsyn_signaling::events`]).
//! Names and chat texts go to standard output only, never to the log; a
//! daemon whose output is redirected to a file keeps them there, so run it
//! with `--no-consultation` where that must not happen.
//!
//! When a specialist asks for a photo, the daemon takes a still at the
//! source's largest size ([`still`]) and sends it to the gateway, which
//! passes it on to the specialists.
//!
//! The socket reconnects by itself (1, 2, 4, 8, then every 10 s) while the
//! video goes on; a refused token or an ended room stops it for good.

mod connection;
mod console;
mod roster;
pub mod screen_view;
pub mod still;

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use samsyn_signaling::events::{ClientMessage, QualityReport, ServerMessage};
use tokio::sync::{mpsc, watch};
use url::Url;

pub use connection::{EventsError, GatewayEvents, events_url};
pub use console::Console;

use crate::gateway_tls::GatewayTrust;
use crate::latency::report::LatencyReport;
use crate::screen::ScreenFeed;
use crate::talkback::{Command, Playout, commands};
use screen_view::RoomView;
use still::StillSource;

/// Where the consultation's socket goes and how it authenticates.
#[derive(Debug, Clone)]
pub struct ConsultationOptions {
    pub gateway: Url,
    pub room: String,
    pub token: String,
    pub trust: GatewayTrust,
    /// Where photos come from.
    pub stills: StillSource,
    /// The latency controller's report (frame rate, bitrate), passed on to
    /// the room as the camera's quality every [`QUALITY_INTERVAL`].
    pub report: Option<watch::Receiver<LatencyReport>>,
    /// The talk-back playout, whose volume typed commands change.
    pub talkback: Option<Arc<Playout>>,
    /// The nurse screen, shown the room beside the terminal.
    pub screen: Option<ScreenFeed>,
}

/// How often the camera tells the room how its stream does.
pub const QUALITY_INTERVAL: Duration = Duration::from_secs(5);

/// What taking and sending a photo needs.
struct PhotoTaker {
    stills: StillSource,
    http: reqwest::Client,
    url: Url,
    token: String,
    screen: Option<ScreenFeed>,
}

impl PhotoTaker {
    /// Takes a still and sends it; tells the nurse how it went.
    async fn take_and_send(self: Arc<Self>) {
        let stills = self.stills.clone();
        let taken = tokio::task::spawn_blocking(move || still::take(&stills))
            .await
            .unwrap_or_else(|e| Err(still::StillError::Pipeline(e.to_string())));
        let (sent, line) = match taken {
            Ok(photo) => {
                let (width, height, bytes) = (photo.width, photo.height, photo.jpeg.len());
                match still::upload(&self.http, &self.url, &self.token, photo).await {
                    Ok(()) => (
                        true,
                        format!("photo sent ({width}x{height}, {} kB)", bytes.div_ceil(1024)),
                    ),
                    Err(err) => (false, format!("photo not sent: {err}")),
                }
            }
            Err(err) => (false, format!("photo not taken: {err}")),
        };
        if let Some(screen) = &self.screen {
            screen.update(|view| screen_view::photo_done(view, sent));
        }
        tracing::info!("{line}");
        console::print(&[line]);
    }
}

/// Told once on the terminal when talk-back is on.
const COMMANDS_HINT: &str =
    "talk-back: type /louder, /softer, /volume 150 or /help; any other line is sent as chat";

/// Codes after which joining again cannot help.
const FINAL_REFUSALS: &[&str] = &[
    "invalid_token",
    "token_expired",
    "wrong_room",
    "wrong_role",
    "room_ended",
    "unknown_room",
];
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs the consultation console until the room ends or the token is
/// refused; spawn it and abort it when the daemon stops.
pub async fn run(options: ConsultationOptions) {
    let url = match events_url(&options.gateway, &options.room) {
        Ok(url) => url,
        Err(err) => {
            tracing::warn!("no consultation events: {err}");
            return;
        }
    };
    let photos = match (
        still::upload_url(&options.gateway, &options.room),
        options
            .trust
            .http_client(Duration::from_secs(10), Duration::from_secs(60)),
    ) {
        (Some(url), Ok(http)) => Some(Arc::new(PhotoTaker {
            stills: options.stills.clone(),
            http,
            url,
            token: options.token.clone(),
            screen: options.screen.clone(),
        })),
        (_, Err(err)) => {
            tracing::warn!("photos cannot be sent: {err}");
            None
        }
        (None, _) => None,
    };
    let mut typed = typed_lines();
    if options.talkback.is_some() {
        console::print(&[COMMANDS_HINT.to_owned()]);
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        match GatewayEvents::join(&url, &options.token, &options.trust).await {
            Ok((mut events, welcome)) => {
                tracing::info!("joined the consultation's events");
                backoff = Duration::from_secs(1);
                let mut console = Console::default();
                console::print(&console.apply(&welcome));
                let mut room = options.screen.as_ref().map(|screen| {
                    let mut room = RoomView::default();
                    screen.update(|view| room.apply(&welcome, view));
                    (room, screen)
                });
                let sides = Sides {
                    typed: &mut typed,
                    photos: photos.as_ref(),
                    report: options.report.as_ref(),
                    talkback: options.talkback.as_deref(),
                    screen: room.as_mut().map(|(room, screen)| (room, *screen)),
                };
                if follow(&mut events, &mut console, sides).await == Followed::RoomEnded {
                    return;
                }
                tracing::warn!("the consultation's events connection was lost; joining again");
            }
            Err(EventsError::Refused { code, message })
                if FINAL_REFUSALS.contains(&code.as_str()) =>
            {
                tracing::warn!("the gateway refused the consultation's events ({code}): {message}");
                return;
            }
            Err(err) => {
                tracing::warn!("{err}; trying again in {} s", backoff.as_secs());
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Followed {
    RoomEnded,
    Lost,
}

/// What the socket's loop serves besides the room's events.
struct Sides<'a> {
    typed: &'a mut Option<mpsc::Receiver<String>>,
    photos: Option<&'a Arc<PhotoTaker>>,
    report: Option<&'a watch::Receiver<LatencyReport>>,
    talkback: Option<&'a Playout>,
    screen: Option<(&'a mut RoomView, &'a ScreenFeed)>,
}

/// Shows the room's events, sends typed lines, takes photos and reports
/// the stream's quality, until the socket ends.
async fn follow(events: &mut GatewayEvents, console: &mut Console, sides: Sides<'_>) -> Followed {
    let Sides {
        typed,
        photos,
        report: stream,
        talkback,
        mut screen,
    } = sides;
    let mut quality_due = tokio::time::interval(QUALITY_INTERVAL);
    loop {
        tokio::select! {
            _ = quality_due.tick(), if stream.is_some() => {
                let Some(report) = stream.map(|s| camera_quality(&s.borrow())) else {
                    continue;
                };
                // Nothing sent yet (the session is still starting): the
                // gateway would refuse a report about no media.
                if report.fps.is_none() && report.bitrate_kbps.is_none() {
                    continue;
                }
                if let Err(err) = events.send(ClientMessage::Quality(report)).await {
                    tracing::warn!("{err}");
                    return Followed::Lost;
                }
            },
            message = events.next() => match message {
                Some(Ok(envelope)) => {
                    console::print(&console.apply(&envelope.body));
                    if let Some((room, feed)) = screen.as_mut() {
                        feed.update(|view| room.apply(&envelope.body, view));
                    }
                    match envelope.body {
                        ServerMessage::RoomEnded {} => return Followed::RoomEnded,
                        ServerMessage::PhotoRequested { .. } => {
                            if let Some(photos) = photos {
                                // Off the socket's loop: the room goes on meanwhile.
                                tokio::spawn(photos.clone().take_and_send());
                            }
                        }
                        _ => {}
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!("{err}");
                    return Followed::Lost;
                }
                None => return Followed::Lost,
            },
            line = next_line(typed) => match line {
                Some(text) => {
                    if let Some(command) = Command::parse(&text) {
                        console::print(&match command {
                            Ok(command) => commands::run(command, talkback),
                            Err(why) => vec![why.to_string()],
                        });
                        continue;
                    }
                    if let Err(err) = events.send(ClientMessage::Chat { text }).await {
                        tracing::warn!("{err}");
                        return Followed::Lost;
                    }
                }
                // Standard input ended (no terminal): keep showing the room.
                None => *typed = None,
            },
        }
    }
}

/// The camera's side of its quality: what it manages to send.
fn camera_quality(stream: &LatencyReport) -> QualityReport {
    let positive = |v: f64| (v.is_finite() && v > 0.0).then_some(v);
    QualityReport {
        fps: positive(stream.video.fps).map(|fps| (fps * 10.0).round() / 10.0),
        bitrate_kbps: positive(stream.video.bitrate_kbps).map(|kbps| kbps.round() as u32),
        ..QualityReport::default()
    }
}

/// Takes the talk-back commands typed on standard input when the
/// consultation console is off; other lines are answered with a hint.
pub async fn commands_only(talkback: Arc<Playout>) {
    let Some(mut typed) = typed_lines() else {
        return;
    };
    console::print(&[COMMANDS_HINT.to_owned()]);
    while let Some(line) = typed.recv().await {
        console::print(&match Command::parse(&line) {
            Some(Ok(command)) => commands::run(command, Some(&talkback)),
            Some(Err(why)) => vec![why.to_string()],
            None => vec![
                "chat is off (--no-consultation); type /help for the talk-back commands".to_owned(),
            ],
        });
    }
}

async fn next_line(typed: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match typed {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}

/// `<gateway base URL>/<segments…>`, under the base's own path (a gateway
/// behind a reverse proxy may live below `/samsyn/`).
fn gateway_path(gateway: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = gateway.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

/// Non-empty lines typed on standard input, until it ends. Read on a
/// thread of its own: reading a terminal blocks.
fn typed_lines() -> Option<mpsc::Receiver<String>> {
    let (sender, receiver) = mpsc::channel(16);
    let reader = std::thread::Builder::new()
        .name("chat-input".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                let line = line.trim().to_owned();
                if !line.is_empty() && sender.blocking_send(line).is_err() {
                    return;
                }
            }
        });
    reader.ok().map(|_| receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_gateway_url() {
        let events = |base: &str| {
            events_url(&base.parse().unwrap(), "r1")
                .unwrap()
                .to_string()
        };
        let photos = |base: &str| {
            still::upload_url(&base.parse().unwrap(), "r1")
                .unwrap()
                .to_string()
        };
        assert_eq!(
            events("https://gw.example:8443"),
            "wss://gw.example:8443/events/r1"
        );
        assert_eq!(
            events("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/events/r1"
        );
        assert_eq!(
            events("https://gw.example/samsyn/"),
            "wss://gw.example/samsyn/events/r1"
        );
        assert_eq!(
            photos("https://gw.example/samsyn"),
            "https://gw.example/samsyn/api/rooms/r1/photos"
        );
    }
}
