//! `GET /healthz`: the process is up, serving HTTP, and its media plane is
//! moving packets. `503` with the JSON error body when the media plane has
//! stopped or stalled, so a load balancer or systemd takes the gateway out
//! instead of sending people to a gateway that shows no picture.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::state::AppState;

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// The contract's error body: `{"error": …, "message": …}`.
#[derive(Serialize)]
struct Unhealthy {
    error: &'static str,
    message: String,
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.media.health() {
        Ok(()) => Json(Health { status: "ok" }).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Unhealthy {
                error: "media_stalled",
                message: format!(
                    "{why}; restart samsyn-gateway (systemctl restart samsyn-gateway) and \
                     report the log lines before this"
                ),
            }),
        )
            .into_response(),
    }
}
