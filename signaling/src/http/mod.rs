//! The HTTP surface: WHIP, WHEP, the viewer page, health.
//!
//! [`router`] composes one small router per concern and wraps them in the
//! shared layers (body limit, timeout, tracing). Handlers are thin: typed
//! extractors do the checking (room id, token, content type, size, SDP
//! outline), the media plane does the work, [`ApiError`](crate::ApiError)
//! renders every refusal.

mod auth;
mod extract;
mod fallback;
mod health;
mod layers;
mod pages;
mod sessions;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use state::{AppState, PageAssets};

/// What a route added by the composing binary ([`router_with`]) can use to
/// check its requests the way signaling's own routes do.
pub mod extractors {
    pub use super::auth::{Authorized, RequiredRole};
    pub use super::extract::{SdpOffer, SessionPath};
}

/// The gateway's HTTP routes, ready to serve.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new())
}

/// [`router`] plus `extra` routes of the composing binary (the gateway's
/// metrics and connection tests), inside the same layers and fallbacks.
pub fn router_with(state: Arc<AppState>, extra: Router<Arc<AppState>>) -> Router {
    let routes = Router::new()
        .merge(extra)
        .merge(sessions::routes::<sessions::Whip>())
        .merge(sessions::routes::<sessions::Whep>())
        .merge(pages::routes())
        .merge(health::routes())
        // Applies to the routes registered above, so it must come after them.
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .fallback(fallback::not_found)
        // Every body this surface takes is an SDP offer or an ICE fragment.
        .layer(DefaultBodyLimit::max(state.settings.max_sdp_bytes));
    layers::around(routes, state.settings.request_timeout).with_state(state)
}
