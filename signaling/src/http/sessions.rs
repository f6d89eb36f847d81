//! WHIP (RFC 9725) and WHEP: the same four requests on two prefixes.
//!
//! `POST /{prefix}/{room}` offers, `PATCH …/{session}` trickles ICE or
//! restarts it, `DELETE …/{session}` ends, `OPTIONS /{prefix}/{room}` answers
//! the probes some clients send first.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};

use super::auth::{Authorized, RequiredRole};
use super::extract::{
    APPLICATION_SDP, IceFragment, RoomPath, SdpOffer, SessionPath, TRICKLE_ICE_SDPFRAG,
    is_url_safe_session_id,
};
use super::state::AppState;
use crate::error::ApiError;
use crate::media::{MediaError, SessionKind};
use crate::tokens::Role;

/// One of the two session endpoints.
pub(crate) trait Endpoint: RequiredRole {
    const PREFIX: &'static str;
    const KIND: SessionKind;
}

/// The nurse's camera publishes here.
pub(crate) struct Whip;
/// Specialists watch here.
pub(crate) struct Whep;

impl RequiredRole for Whip {
    const ROLE: Role = Role::Publisher;
}
impl Endpoint for Whip {
    const PREFIX: &'static str = "/whip";
    const KIND: SessionKind = SessionKind::Publish;
}

impl RequiredRole for Whep {
    const ROLE: Role = Role::Viewer;
}
impl Endpoint for Whep {
    const PREFIX: &'static str = "/whep";
    const KIND: SessionKind = SessionKind::View;
}

/// `GET /whep/{room}/{session}/link`: how the viewer's own link is doing
/// (JSON [`LinkReport`](crate::media::LinkReport)), for the page to say
/// when the viewer's network is the problem.
pub(crate) fn link_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        &format!("{}/{{room}}/{{session}}/link", Whep::PREFIX),
        axum::routing::get(link),
    )
}

async fn link(
    State(state): State<Arc<AppState>>,
    auth: Authorized<Whep>,
    SessionPath(session): SessionPath,
) -> Result<Response, ApiError> {
    let report = state
        .media
        .link_report(auth.room.as_str(), &session)
        .await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(report),
    )
        .into_response())
}

pub(crate) fn routes<E: Endpoint>() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            &format!("{}/{{room}}", E::PREFIX),
            post(offer::<E>).options(probe),
        )
        .route(
            &format!("{}/{{room}}/{{session}}", E::PREFIX),
            patch(update::<E>).delete(end::<E>),
        )
}

async fn offer<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: Authorized<E>,
    SdpOffer(sdp): SdpOffer,
) -> Result<SessionCreated, ApiError> {
    let room = auth.room.as_str();
    let answer = match E::KIND {
        SessionKind::Publish => state.media.publish(room, sdp).await?,
        SessionKind::View => state.media.view(room, sdp).await?,
    };
    if !is_url_safe_session_id(&answer.session.0) {
        // The session could never be addressed by PATCH or DELETE.
        state.media.end(room, E::KIND, &answer.session).await.ok();
        tracing::error!(
            room,
            "media plane returned a session id that is not URL-safe"
        );
        return Err(MediaError::Unavailable("internal session id error".to_owned()).into());
    }
    tracing::info!(
        room,
        session = %answer.session,
        kind = ?E::KIND,
        token_id = %auth.claims.jti,
        "session started"
    );
    Ok(SessionCreated {
        location: format!("{}/{room}/{}", E::PREFIX, answer.session),
        sdp: answer.sdp,
    })
}

async fn update<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: Authorized<E>,
    SessionPath(session): SessionPath,
    IceFragment(fragment): IceFragment,
) -> Result<Response, ApiError> {
    let restarted = state
        .media
        .patch(auth.room.as_str(), E::KIND, &session, fragment)
        .await?;
    Ok(match restarted {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(answer) => ([(header::CONTENT_TYPE, TRICKLE_ICE_SDPFRAG)], answer).into_response(),
    })
}

async fn end<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: Authorized<E>,
    SessionPath(session): SessionPath,
) -> Result<StatusCode, ApiError> {
    let room = auth.room.as_str();
    state.media.end(room, E::KIND, &session).await?;
    tracing::info!(room, %session, kind = ?E::KIND, "session ended");
    Ok(StatusCode::OK)
}

/// Answers the `OPTIONS` some WHIP/WHEP clients send before their offer.
async fn probe(RoomPath(_room): RoomPath) -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (ACCEPT_POST, HeaderValue::from_static(APPLICATION_SDP)),
            (header::ALLOW, HeaderValue::from_static("OPTIONS, POST")),
        ],
    )
}

const ACCEPT_POST: HeaderName = HeaderName::from_static("accept-post");

/// `201 Created` with the SDP answer and the session's `Location`.
struct SessionCreated {
    location: String,
    sdp: String,
}

impl IntoResponse for SessionCreated {
    fn into_response(self) -> Response {
        // Room ids and session ids are both checked to be URL-safe, so the
        // location is a valid header value.
        let Ok(location) = HeaderValue::try_from(self.location) else {
            return ApiError::Media(MediaError::Unavailable(
                "internal session id error".to_owned(),
            ))
            .into_response();
        };
        (
            StatusCode::CREATED,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(APPLICATION_SDP),
                ),
                (header::LOCATION, location),
            ],
            self.sdp,
        )
            .into_response()
    }
}
