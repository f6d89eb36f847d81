//! The gateway's own HTTP routes, mounted beside signaling's
//! ([`samsyn_signaling::router_with`]): they need the media node itself, not
//! the media trait signaling sees.
//!
//! - `GET /metrics`: Prometheus text format (see [`crate::metrics`]).
//! - `POST /probe/{room}`: a connection test (`samsyn-bench connect`), with
//!   the room's publisher token and an SDP offer, like WHIP; `201` with the
//!   answer and `Location: /probe/{room}/{session}`. Its media is measured
//!   and dropped, never forwarded, so it cannot disturb a consultation.
//! - `GET /probe/{room}/{session}`: what the test's packets did on the way
//!   ([`ProbeReport`](crate::media::probe::ProbeReport) as JSON).
//! - `DELETE /probe/{room}/{session}`: ends the test.
//!
//! Only the token that started a test reads or ends it (another publisher
//! token of the room gets `404 unknown_session`), and each room has its own
//! few test slots ([`MAX_CONNECTION_TESTS_PER_ROOM`](crate::media::admission::MAX_CONNECTION_TESTS_PER_ROOM)).

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use samsyn_signaling::http::extractors::{Access, RoomAccess, SdpOffer, SessionPath};
use samsyn_signaling::{ApiError, AppState, Role};

use crate::media::MediaNode;

/// Connection tests take the room's publisher token: whoever may send the
/// camera may test the line it will use.
pub struct ConnectionTestRole;

impl Access for ConnectionTestRole {
    const ROLES: &'static [Role] = &[Role::Publisher];
}

/// `GET /metrics`: open, like `/healthz` (it names no room, session or
/// person); the network in front of the gateway decides who may scrape.
pub fn metrics_routes(media: &MediaNode) -> Router<Arc<AppState>> {
    let metrics = media.metrics().clone();
    Router::new().route(
        "/metrics",
        get(move || {
            let body = metrics.encode();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                    )],
                    body,
                )
            }
        }),
    )
}

/// The connection-test routes: token-checked, so rate-limited with
/// WHIP/WHEP by [`samsyn_signaling::router_with`].
pub fn connection_test_routes(media: MediaNode) -> Router<Arc<AppState>> {
    let (start, report, end) = (media.clone(), media.clone(), media);
    Router::new()
        .route(
            "/probe/{room}",
            post(
                move |auth: RoomAccess<ConnectionTestRole>, SdpOffer(offer): SdpOffer| async move {
                    let room = &auth.room;
                    let answer = start
                        .start_connection_test(room, &auth.claims.jti, offer)
                        .await?;
                    tracing::info!(
                        room = room.as_str(),
                        session = %answer.session,
                        token_id = %auth.claims.jti,
                        "connection test started"
                    );
                    created(format!("/probe/{room}/{}", answer.session), answer.sdp)
                },
            ),
        )
        .route(
            "/probe/{room}/{session}",
            get(
                move |auth: RoomAccess<ConnectionTestRole>, SessionPath(session): SessionPath| async move {
                    let report = report
                        .connection_test_report(&auth.room, &auth.claims.jti, &session)
                        .await?;
                    Ok::<_, ApiError>(axum::Json(report))
                },
            )
            .delete(
                move |auth: RoomAccess<ConnectionTestRole>, SessionPath(session): SessionPath| async move {
                    end.end_connection_test(&auth.room, &auth.claims.jti, &session)
                        .await?;
                    tracing::info!(room = auth.room.as_str(), %session, "connection test ended");
                    Ok::<_, ApiError>(StatusCode::OK)
                },
            ),
        )
}

/// `201 Created` with the SDP answer and the session's `Location`.
fn created(location: String, sdp: String) -> Result<Response, ApiError> {
    // Room and session ids are URL-safe, so this is a valid header value.
    let location = HeaderValue::try_from(location).map_err(|_| {
        ApiError::Media(samsyn_signaling::media::MediaError::Unavailable(
            "internal session id error".into(),
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            ),
            (header::LOCATION, location),
        ],
        sdp,
    )
        .into_response())
}
