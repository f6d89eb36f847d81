//! The status endpoint: `GET http://127.0.0.1:<port>/status` answers the
//! daemon's [`Status`] as JSON. Loopback only: it is for the nurse's own
//! laptop (a support tool, the bench), never the network.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::sync::watch;

use super::state::Status;

/// The status endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve the status endpoint on 127.0.0.1:{port}: {cause}; choose another port with \
     --status-port (or status.port), or turn it off with --no-status-endpoint"
)]
pub struct EndpointError {
    /// The port asked for.
    pub port: u16,
    /// What the system said.
    pub cause: std::io::Error,
}

/// Binds 127.0.0.1:`port` and serves `status` until the runtime stops.
/// Returns the address it listens on.
pub async fn serve(
    port: u16,
    status: watch::Receiver<Status>,
) -> Result<SocketAddr, EndpointError> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|cause| EndpointError { port, cause })?;
    let address = listener
        .local_addr()
        .map_err(|cause| EndpointError { port, cause })?;
    let app = Router::new()
        .route("/status", get(current))
        .with_state(status);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the status endpoint stopped");
        }
    });
    Ok(address)
}

async fn current(State(status): State<watch::Receiver<Status>>) -> axum::Json<Status> {
    axum::Json(status.borrow().clone())
}

/// Reads the status of a daemon on this machine (for the bench and tests).
pub async fn fetch(http: &reqwest::Client, port: u16) -> reqwest::Result<Status> {
    http.get(format!("http://127.0.0.1:{port}/status"))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}
