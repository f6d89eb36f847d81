//! The HTTP surface: WHIP, WHEP, the rooms API, room events, the viewer
//! page, health.
//!
//! [`router`] composes one small router per concern and wraps them in the
//! shared layers (body limit, rate limit on token-checked routes, timeout,
//! HSTS, CORS, tracing). Handlers are thin: typed extractors do the
//! checking (room id, token and role, open room, content type, size, SDP
//! outline), the media plane does the work, [`ApiError`](crate::ApiError)
//! renders every refusal.

mod api;
mod auth;
mod events_socket;
mod extract;
mod fallback;
mod health;
mod layers;
mod linger;
mod pages;
mod photos;
mod rate_limit;
mod sessions;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use api::check_display_name;
pub use state::{AppState, PageAssets, StateError};

/// What a route added by the composing binary ([`router_with`]) can use to
/// admit its requests the way signaling's own routes do.
pub mod extractors {
    pub use super::auth::{Access, RoomAccess};
    pub use super::extract::{SdpOffer, SessionPath};
}

/// The gateway's HTTP routes, ready to serve with [`crate::server::serve`]
/// (which records the client address the rate limit and audit trail use).
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new(), Router::new())
}

/// [`router`] plus routes of the composing binary (the gateway's connection
/// tests and metrics): `token_checked` ones inside the per-client rate
/// limit with WHIP/WHEP, `open` ones beside health; all inside the same
/// layers and fallbacks.
pub fn router_with(
    state: Arc<AppState>,
    token_checked: Router<Arc<AppState>>,
    open: Router<Arc<AppState>>,
) -> Router {
    let extra = token_checked;
    let (whip, whip_probe) = sessions::routes::<sessions::Whip>();
    let (whep, whep_probe) = sessions::routes::<sessions::Whep>();
    let token_checked = Router::new()
        .merge(whip)
        .merge(whep)
        .merge(sessions::link_routes())
        .merge(api::routes())
        .merge(events_socket::routes())
        .merge(photos::routes(state.settings.max_photo_bytes))
        .merge(extra)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_client,
        ));
    let routes = Router::new()
        .merge(token_checked)
        .merge(whip_probe)
        .merge(whep_probe)
        .merge(pages::routes())
        .merge(health::routes())
        .merge(open)
        // Applies to the routes registered above, so it must come after them.
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .fallback(fallback::not_found)
        // Every body this surface takes is an SDP offer, an ICE fragment or
        // a small JSON object.
        .layer(DefaultBodyLimit::max(state.settings.max_sdp_bytes));
    layers::around(routes, &state.settings).with_state(state)
}
