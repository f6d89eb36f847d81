//! Serving the router: plain HTTP on loopback, HTTPS (rustls) anywhere, and
//! on the same port TURN for the relay when one is given (see [`demux`]).
//!
//! Both go through the same server, so the header timeout (which also
//! closes idle connections), the TLS handshake timeout, graceful shutdown
//! and the client's address (for rate limits and the audit trail) are the
//! same whichever is used.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::tls::ServerTls;

mod demux;

use demux::Demux;
pub use demux::{ByteStream, Protocol, TurnHandoff, TurnStream};

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How the listener behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// TLS identity; `None` serves plain HTTP (configuration allows that on
    /// loopback only).
    pub tls: Option<ServerTls>,
    /// Time a client has to send a request's headers; hyper also applies it
    /// to an idle keep-alive connection waiting for its next request.
    pub header_timeout: Duration,
    /// Where connections that speak TURN go; `None` serves HTTP only.
    pub turn: Option<Arc<dyn TurnHandoff>>,
}

impl std::fmt::Debug for dyn TurnHandoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnHandoff")
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests
/// in flight finish for a few seconds.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let handle = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    server
        .http_builder()
        .http1()
        .header_read_timeout(options.header_timeout);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    // A client has as long to send the bytes that tell TURN from HTTP as it
    // has to send a request's headers.
    let wait = options.header_timeout;
    match (options.tls, options.turn) {
        (Some(tls), None) => {
            let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls.config))
                .handshake_timeout(TLS_HANDSHAKE_TIMEOUT);
            server.acceptor(acceptor).serve(service).await
        }
        (Some(tls), Some(turn)) => {
            let plain = Demux::new(DefaultAcceptor, turn.clone(), false, wait);
            let tls = RustlsAcceptor::new(RustlsConfig::from_config(tls.config))
                .handshake_timeout(TLS_HANDSHAKE_TIMEOUT)
                .acceptor(plain);
            server
                .acceptor(Demux::new(tls, turn, true, wait))
                .serve(service)
                .await
        }
        (None, Some(turn)) => {
            let plain = Demux::new(DefaultAcceptor, turn, false, wait);
            server.acceptor(plain).serve(service).await
        }
        (None, None) => server.serve(service).await,
    }
}
