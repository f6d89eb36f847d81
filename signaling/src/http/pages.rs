//! The specialists' viewer page: `GET /r/{room}` and its assets (the
//! viewer's script and style, the consultation panel's, and its texts in
//! each language); and the nurse's page, `GET /n/{room}`, what a browser
//! shows for the nurse's link (open it in samsyn), with its assets.
//!
//! The pages take their token from the URL fragment, which browsers never
//! send, so the pages themselves need no authorisation; the WHEP request
//! the viewer page makes does. The nurse's page makes no request at all.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use tower_http::set_header::SetResponseHeaderLayer;

use super::extract::RoomPath;
use super::state::{AppState, PageAssets};

/// Scripts, styles and fetches only from the gateway itself; stills taken
/// from the video are shown and saved as `blob:`/`data:` images. Media
/// streams are attached with `srcObject`, which CSP does not govern.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' blob: data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/r/{room}", get(viewer_page))
        .route("/r/assets/viewer.js", asset(|p| (JAVASCRIPT, p.viewer_js)))
        .route("/r/assets/viewer.css", asset(|p| (CSS, p.viewer_css)))
        .route(
            "/r/assets/consultation.js",
            asset(|p| (JAVASCRIPT, p.consultation_js)),
        )
        .route(
            "/r/assets/consultation.css",
            asset(|p| (CSS, p.consultation_css)),
        )
        .route(
            "/r/assets/talkback.js",
            asset(|p| (JAVASCRIPT, p.talkback_js)),
        )
        .route(
            "/r/assets/i18n/viewer.js",
            asset(|p| (JAVASCRIPT, p.viewer_strings_js)),
        )
        .route("/r/assets/i18n/lang.js", asset(|p| (JAVASCRIPT, p.lang_js)))
        .route("/n/{room}", get(nurse_page))
        .route("/n/assets/nurse.js", asset(|p| (JAVASCRIPT, p.nurse_js)))
        .route("/n/assets/nurse.css", asset(|p| (CSS, p.nurse_css)))
        .route(
            "/n/assets/i18n/nurse.js",
            asset(|p| (JAVASCRIPT, p.nurse_strings_js)),
        )
        .route("/n/assets/i18n/lang.js", asset(|p| (JAVASCRIPT, p.lang_js)))
        // The page is small and carries no secret, but a cached copy would
        // outlive a fix; and no address of it may leak through a Referer.
        .layer(header_layer(header::CACHE_CONTROL, "no-store"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

async fn viewer_page(
    State(state): State<Arc<AppState>>,
    RoomPath(_room): RoomPath,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        state.pages.viewer_html,
    )
}

/// The nurse's page: the same for every room, like the viewer page; the
/// room id is checked so a mistyped link says so.
async fn nurse_page(
    State(state): State<Arc<AppState>>,
    RoomPath(_room): RoomPath,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        state.pages.nurse_html,
    )
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A `GET` route answering one of the page's files: `pick` says which, with
/// its content type.
fn asset(pick: fn(&PageAssets) -> (&'static str, &'static str)) -> MethodRouter<Arc<AppState>> {
    get(move |State(state): State<Arc<AppState>>| async move {
        let (content_type, body) = pick(&state.pages);
        ([(header::CONTENT_TYPE, content_type)], body)
    })
}
