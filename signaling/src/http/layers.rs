//! The layers around every route: request timeout and request tracing.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::LatencyUnit;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::error::ApiError;

/// Wraps `routes` in the timeout and, outermost, the trace layer, so the
/// trace sees the status the client gets.
pub(crate) fn around<S>(routes: Router<S>, request_timeout: Duration) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(move |response: Response| {
            json_timeout(response, request_timeout)
        }))
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
