//! One open page's WebSocket: the view and the self-view out, the page's
//! commands in. The protocol is described in [`super::server`].
//!
//! Each page follows its own `watch` receivers, so a slow page only falls
//! behind by skipping values it had no time for; the daemon never waits
//! for it. A page that stops reading for [`SEND_TIMEOUT`] is let go.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};

use super::view::{ScreenCommand, ScreenLink, ScreenView};

/// The fewest milliseconds between two self-view frames to one page: at
/// most five a second, enough to aim a head camera by.
pub(super) const SELF_VIEW_INTERVAL: Duration = Duration::from_millis(200);

/// The largest message a page may send: commands are a few dozen bytes.
pub(super) const MAX_COMMAND_BYTES: usize = 4096;

/// How long a page may take to accept one message before it is closed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a command may wait for room in the daemon's queue before the
/// page is told the daemon is busy.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// What the screen sends as text frames.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage<'a> {
    /// The whole view, after connecting and after every change.
    View { view: &'a ScreenView },
    /// A message from the page was not acted on.
    Error {
        error: &'static str,
        message: String,
    },
}

/// Why the session ended early, for the debug log.
#[derive(Debug)]
enum Ended {
    PageClosed,
    PageTooSlow,
    DaemonGone,
    ScreenStopping,
}

/// Runs one page's session until the page leaves, the daemon's feed ends
/// or the screen stops.
pub(super) async fn run(mut socket: WebSocket, link: ScreenLink, stop: watch::Receiver<bool>) {
    let ended = relay(&mut socket, link, stop).await;
    tracing::debug!(?ended, "nurse screen page left");
    let (code, reason) = match ended {
        Ended::PageClosed | Ended::PageTooSlow => return,
        Ended::DaemonGone => (close_code::AWAY, "the daemon stopped"),
        Ended::ScreenStopping => (close_code::AWAY, "the screen stopped"),
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = timeout(Duration::from_secs(1), socket.send(close)).await;
}

async fn relay(socket: &mut WebSocket, link: ScreenLink, mut stop: watch::Receiver<bool>) -> Ended {
    let ScreenLink {
        mut view,
        mut self_view,
        commands,
    } = link;
    // Everything there is, at once: a page that (re)connects shows it all.
    let first_view = view.borrow_and_update().clone();
    if let Err(ended) = send(socket, view_message(&first_view)).await {
        return ended;
    }
    let first_frame = self_view.borrow_and_update().clone();
    let mut next_frame_at = Instant::now();
    if let Some(frame) = first_frame {
        if let Err(ended) = send(socket, Message::Binary(frame.as_slice().to_vec().into())).await {
            return ended;
        }
        next_frame_at = Instant::now() + SELF_VIEW_INTERVAL;
    }
    loop {
        tokio::select! {
            biased;
            () = stopping(&mut stop) => return Ended::ScreenStopping,
            incoming = socket.recv() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => forward(&commands, &text).await,
                    Some(Ok(Message::Binary(_))) => Some(ToPage::Error {
                        error: "binary_not_accepted",
                        message: "commands are JSON text frames, e.g. {\"type\":\"check\"}".to_owned(),
                    }),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ended::PageClosed,
                };
                if let Some(reply) = reply
                    && let Err(ended) = send(socket, text_message(&reply)).await
                {
                    return ended;
                }
            }
            changed = view.changed() => {
                if changed.is_err() {
                    return Ended::DaemonGone;
                }
                let current = view.borrow_and_update().clone();
                if let Err(ended) = send(socket, view_message(&current)).await {
                    return ended;
                }
            }
            changed = next_self_view(&mut self_view, next_frame_at) => {
                if changed.is_err() {
                    return Ended::DaemonGone;
                }
                let frame = self_view.borrow_and_update().clone();
                if let Some(frame) = frame {
                    let bytes = frame.as_slice().to_vec();
                    if let Err(ended) = send(socket, Message::Binary(bytes.into())).await {
                        return ended;
                    }
                    next_frame_at = Instant::now() + SELF_VIEW_INTERVAL;
                }
            }
        }
    }
}

/// Waits until the screen stops (or its server is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Waits until a new self-view frame may go to this page and there is one.
async fn next_self_view(
    self_view: &mut watch::Receiver<Option<super::view::SelfViewFrame>>,
    not_before: Instant,
) -> Result<(), watch::error::RecvError> {
    sleep_until(not_before).await;
    self_view.changed().await
}

/// Passes a page's command on to the daemon; what to answer if it was not.
async fn forward<'a>(commands: &mpsc::Sender<ScreenCommand>, text: &str) -> Option<ToPage<'a>> {
    let command = match serde_json::from_str::<ScreenCommand>(text) {
        Ok(command) => command,
        Err(err) => {
            return Some(ToPage::Error {
                error: "bad_command",
                message: format!(
                    "not a screen command ({err}); send e.g. {{\"type\":\"microphone\",\"muted\":true}}"
                ),
            });
        }
    };
    tracing::debug!(?command, "nurse screen command");
    match timeout(COMMAND_TIMEOUT, commands.send(command)).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(ToPage::Error {
            error: "daemon_gone",
            message: "the daemon no longer takes commands".to_owned(),
        }),
        Err(_) => Some(ToPage::Error {
            error: "busy",
            message: "the daemon is busy; press again in a moment".to_owned(),
        }),
    }
}

fn view_message(view: &ScreenView) -> Message {
    text_message(&ToPage::View { view })
}

fn text_message(message: &ToPage<'_>) -> Message {
    let json = serde_json::to_string(message).expect("screen messages serialise");
    Message::Text(json.into())
}

async fn send(socket: &mut WebSocket, message: Message) -> Result<(), Ended> {
    match timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Ended::PageClosed),
        Err(_) => Err(Ended::PageTooSlow),
    }
}
