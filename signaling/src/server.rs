//! Serving the router: plain HTTP on loopback, HTTPS (rustls) anywhere.
//!
//! Both go through the same server, so the header timeout (which also
//! closes idle connections), the TLS handshake timeout, graceful shutdown
//! and the client's address (for rate limits and the audit trail) are the
//! same whichever is used.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::tls::ServerTls;

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
    match options.tls {
        Some(tls) => {
            let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(tls.config))
                .handshake_timeout(TLS_HANDSHAKE_TIMEOUT);
            server.acceptor(acceptor).serve(service).await
        }
        None => server.serve(service).await,
    }
}
