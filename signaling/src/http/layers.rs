//! The layers around every route: panics answered as errors, request
//! timeout, HSTS on TLS, CORS for configured origins, unread request bodies
//! drained before the connection closes, and request tracing.

use std::time::Duration;

use std::any::Any;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::error::ApiError;
use crate::settings::SignalingSettings;

/// Cross-origin access for the configured web origins only: a WHIP/WHEP
/// client or an admin tool on another hospital page. The gateway's own page
/// is same-origin and needs none of this.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
        ])
        .expose_headers([
            header::LOCATION,
            header::LINK,
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("accept-post"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Wraps `routes` in the layers; the trace layer is outermost, so the trace
/// sees the status the client gets.
pub(crate) fn around<S>(routes: Router<S>, settings: &SignalingSettings) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let request_timeout = settings.request_timeout;
    let mut routes = routes
        // A panic in a handler must not drop the connection without an
        // answer, nor take anything else down.
        .layer(CatchPanicLayer::custom(|_: Box<dyn Any + Send>| {
            tracing::error!("a request handler panicked");
            ApiError::Internal.into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(move |response: Response| {
            json_timeout(response, request_timeout)
        }));
    if settings.tls {
        // Browsers that once reached the gateway over HTTPS never try plain
        // HTTP again (where a network could read the tokens).
        routes = routes.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    if !settings.cors_origins.is_empty() {
        routes = routes.layer(cors(&settings.cors_origins));
    }
    routes
        // A body refused unread is read away after the answer (bounded), so
        // the client hears the answer instead of a reset.
        .layer(axum::middleware::map_request(
            super::linger::linger_on_unread_body,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                )
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}

/// The span names the route pattern (`/whip/{room}`), never the raw URI:
/// unmatched URIs can hold anything a client typed.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    tracing::info_span!("http", method = %request.method(), route)
}

/// The timeout layer answers with an empty 408; give it the JSON error body.
/// No handler answers 408 itself, so the status identifies the timeout.
async fn json_timeout(response: Response, limit: Duration) -> Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        ApiError::Timeout(limit).into_response()
    } else {
        response
    }
}
