//! Requests per client address on the token-checked endpoints.
//!
//! A burst is allowed (a page starting up makes a few requests at once),
//! then a steady rate per minute; beyond it the answer is 429 with
//! `Retry-After`. This bounds how fast anyone can guess tokens or flood the
//! media plane with offers, and one client cannot starve the others.
//! Addresses are those of the TCP peer: behind a reverse proxy, every
//! client shares the proxy's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use super::auth::client_address;
use super::state::AppState;
use crate::error::ApiError;

pub(crate) async fn per_client(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(client) = client_address(request.extensions())
        && let Err(not_until) = state.limiter.check_key(&client)
    {
        let retry_after = not_until.wait_time_from(DefaultClock::default().now());
        tracing::debug!(%client, "rate limited");
        return ApiError::RateLimited { retry_after }.into_response();
    }
    next.run(request).await
}
