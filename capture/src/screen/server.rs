//! Serves the nurse screen on 127.0.0.1: the page and its WebSocket, at
//! an address only the daemon and her browser know.
//!
//! [`serve`] binds a free port on 127.0.0.1 and draws a random secret; the
//! screen lives at `http://127.0.0.1:<port>/<secret>/` ([`ScreenServer::url`]).
//! Every request passes the checks of the `gate` module first (loopback
//! peer, secret, `Host`, `Origin`); anything else gets an empty `403`.
//! The secret is never logged: the caller shows the URL to the nurse (or
//! opens her browser at it).
//!
//! # Routes, all under `/<secret>/`
//!
//! - `GET /<secret>/` (and `index.html`, `screen.js`, `screen.css`,
//!   `strings.js`): the page, built into the daemon.
//! - `GET /<secret>/ws`: the WebSocket.
//!
//! # The WebSocket protocol
//!
//! Screen to page:
//!
//! - text `{"type":"view","view":{…}}`: the whole [`ScreenView`] as JSON,
//!   once on connecting and again after every change (values the page was
//!   too slow to take are skipped, never queued);
//! - binary: one self-view frame, the JPEG bytes as they are, the newest
//!   on connecting and then at most five a second;
//! - text `{"type":"error","error":"<code>","message":"<English>"}`: a
//!   message from the page was not acted on (`bad_command`,
//!   `binary_not_accepted`, `busy`, `daemon_gone`);
//! - a close frame (1001) when the screen stops or the daemon's feed ends.
//!
//! Page to screen: text frames, each one [`ScreenCommand`] as JSON:
//! `{"type":"microphone","muted":true}`, `{"type":"louder"}`,
//! `{"type":"softer"}`, `{"type":"check"}`, `{"type":"end_visit"}`. Each
//! is passed on to the daemon's command receiver; anything else is
//! answered with an error and changes nothing. Several pages may be open
//! at once, each with its own socket.
//!
//! # Stopping
//!
//! [`ScreenServer::shutdown`] stops taking connections, closes every open
//! page's socket and waits (a few seconds at most) for the server to end.
//! Dropping the [`ScreenServer`] does the same without waiting: the
//! listening socket closes at once and the pages' sockets close right
//! after.
//!
//! [`ScreenView`]: super::view::ScreenView
//! [`ScreenCommand`]: super::view::ScreenCommand

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::assets::{self, Asset};
use super::gate::{self, ScreenGate};
use super::socket::{self, MAX_COMMAND_BYTES};
use super::view::ScreenLink;

/// How long [`ScreenServer::shutdown`] waits for open pages to let go.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the screen could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error(
        "cannot open the nurse screen on 127.0.0.1 ({0}); check that the loopback \
         interface (lo) is up"
    )]
    Bind(#[source] std::io::Error),
}

/// The running screen. Dropping it stops the server (see the module doc).
pub struct ScreenServer {
    /// `http://127.0.0.1:<port>/<secret>/`: the one address of the page.
    /// It holds the secret: show it to the nurse, never log it.
    pub url: Url,
    /// Where the server listens (the secret is not in it).
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ScreenServer {
    /// Stops taking connections, closes the open pages' sockets and waits
    /// for the server to end (at most a few seconds).
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

/// Leaves the secret out: a debug print of the server must not leak it.
impl std::fmt::Debug for ScreenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenServer")
            .field("local_addr", &self.local_addr)
            .field("stopped", &*self.stop.borrow())
            .finish_non_exhaustive()
    }
}

impl Drop for ScreenServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What the routes share.
struct Shared {
    link: ScreenLink,
    stop: watch::Receiver<bool>,
}

/// Serves the screen for `link` on a free port of 127.0.0.1, until the
/// returned [`ScreenServer`] is shut down or dropped.
pub async fn serve(link: ScreenLink) -> Result<ScreenServer, ScreenError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(ScreenError::Bind)?;
    let local_addr = listener.local_addr().map_err(ScreenError::Bind)?;
    let gate = Arc::new(ScreenGate::new(local_addr.port()));
    let url = Url::parse(&format!(
        "http://127.0.0.1:{}/{}/",
        gate.port(),
        gate.secret_segment()
    ))
    .expect("a loopback address and a base64url segment make a URL");
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        link,
        stop: stop_rx.clone(),
    });
    let app = router(shared, gate).into_make_service_with_connect_info::<SocketAddr>();
    let mut stopping = stop_rx;
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!("the nurse screen stopped: {err}");
        }
    });
    tracing::info!(
        port = local_addr.port(),
        "nurse screen listening on 127.0.0.1"
    );
    Ok(ScreenServer {
        url,
        local_addr,
        stop,
        task: Some(task),
    })
}

/// The routes, every one behind the gate (the fallback too, so an unknown
/// path without the secret is a `403`, not a `404`).
fn router(shared: Arc<Shared>, gate: Arc<ScreenGate>) -> Router {
    Router::new()
        .route("/{secret}", get(to_directory))
        .route("/{secret}/", get(page(assets::INDEX_HTML)))
        .route("/{secret}/index.html", get(page(assets::INDEX_HTML)))
        .route("/{secret}/screen.js", get(page(assets::SCREEN_JS)))
        .route("/{secret}/strings.js", get(page(assets::STRINGS_JS)))
        .route("/{secret}/screen.css", get(page(assets::SCREEN_CSS)))
        .route("/{secret}/ws", get(upgrade))
        .with_state(shared)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(gate, gate::guard))
}

/// A handler answering one of the page's files.
fn page(asset: Asset) -> impl Fn() -> std::future::Ready<Asset> + Clone + Send + 'static {
    move || std::future::ready(asset)
}

/// `/<secret>` without its slash: the page's relative links need it.
async fn to_directory(axum::extract::Path(secret): axum::extract::Path<String>) -> Response {
    // The gate has checked the segment: it is the secret, safe to echo.
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("{secret}/"))],
    )
        .into_response()
}

async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let link = shared.link.clone();
    let stop = shared.stop.clone();
    ws.max_message_size(MAX_COMMAND_BYTES)
        .max_frame_size(MAX_COMMAND_BYTES)
        .on_upgrade(move |socket| socket::run(socket, link, stop))
}
