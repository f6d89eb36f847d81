//! WHIP (RFC 9725) and WHEP: the same four requests on two prefixes.
//!
//! `POST /{prefix}/{room}` offers, `PATCH …/{session}` trickles ICE or
//! restarts it, `DELETE …/{session}` ends, `OPTIONS /{prefix}/{room}` answers
//! the probes some clients send first. The `201` of an offer, and a probe
//! with a valid token, announce the TURN relays with the client's own
//! credentials (`Link: <turn:…>; rel="ice-server"`, see [`ice_servers`]).
//!
//! WHEP also carries talk-back: a specialist's page sends its microphone in
//! its viewing session, and the nurse's daemon hears the speakers through a
//! WHEP session made with its publisher token (see [`Listener`]).
//!
//! A room has one camera. A second publisher is refused with 409 unless it
//! presents the same publisher token as the camera in the room: that is
//! the camera reconnecting, and its new session replaces the old one.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use governor::clock::{Clock, DefaultClock};

use super::auth::{Access, RoomAccess, client_address};
use super::extract::{
    APPLICATION_SDP, IceFragment, RoomPath, SdpOffer, SessionPath, TRICKLE_ICE_SDPFRAG,
    is_url_safe_session_id,
};
use super::state::AppState;
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::ice_servers;
use crate::media::{EndReason, Listener, MediaError, SessionId, SessionKind};
use crate::participants::{MAX_PENDING_SESSIONS_PER_TOKEN, Participant};
use crate::tokens::{Claims, Role};

/// One of the two session endpoints.
pub(crate) trait Endpoint: Access {
    const PREFIX: &'static str;
    const KIND: SessionKind;
}

/// The nurse's camera publishes here.
pub(crate) struct Whip;
/// Specialists and observers watch here; the camera listens to talk-back here.
pub(crate) struct Whep;

impl Access for Whip {
    const ROLES: &'static [Role] = &[Role::Publisher];
}
impl Endpoint for Whip {
    const PREFIX: &'static str = "/whip";
    const KIND: SessionKind = SessionKind::Publish;
}

impl Access for Whep {
    const ROLES: &'static [Role] = &[Role::Specialist, Role::Observer, Role::Publisher];
}

/// What a WHEP session of `role` receives and may send.
fn listener(role: Role) -> Listener {
    match role {
        Role::Specialist => Listener::Specialist,
        Role::Publisher => Listener::Camera,
        // Admin tokens never reach WHEP (Access::ROLES).
        Role::Observer | Role::Admin => Listener::Observer,
    }
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
    auth: RoomAccess<Whep>,
    SessionPath(session): SessionPath,
) -> Result<Response, ApiError> {
    own_session(&state, &auth, &session)?;
    let report = state.media.link_report(&auth.room, &session).await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(report),
    )
        .into_response())
}

/// The token-checked routes (rate limited by the caller) and the `OPTIONS`
/// probe (not: without a token it checks nothing and costs nothing, and it
/// limits the requests that bring one itself, see [`probe`]).
pub(crate) fn routes<E: Endpoint>() -> (Router<Arc<AppState>>, Router<Arc<AppState>>) {
    let checked = Router::new()
        .route(&format!("{}/{{room}}", E::PREFIX), post(offer::<E>))
        .route(
            &format!("{}/{{room}}/{{session}}", E::PREFIX),
            patch(update::<E>).delete(end::<E>),
        );
    let probe = Router::new().route(
        &format!("{}/{{room}}", E::PREFIX),
        axum::routing::options(probe::<E>),
    );
    (checked, probe)
}

async fn offer<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: RoomAccess<E>,
    SdpOffer(sdp): SdpOffer,
) -> Result<SessionCreated, ApiError> {
    let room = &auth.room;
    // Held until the new camera is recorded, so no other can slip in between.
    let camera_claim = match E::KIND {
        SessionKind::Publish => Some(
            state
                .participants
                .claim_camera(&auth.room, &auth.claims.jti)
                .map_err(|_| ApiError::CameraInUse)?,
        ),
        SessionKind::View => None,
    };
    // Held until the session is recorded, where it counts as connecting.
    let pending_claim = state
        .participants
        .claim_pending(&auth.claims.jti, E::KIND)
        .map_err(|_| ApiError::TooManyPendingSessions {
            limit: MAX_PENDING_SESSIONS_PER_TOKEN,
        })?;
    let answer = match E::KIND {
        SessionKind::Publish => state.media.publish(room, sdp).await?,
        SessionKind::View => {
            let listener = listener(auth.claims.role);
            state.media.view(room, listener, sdp).await?
        }
    };
    if let Some(previous) = camera_claim.as_ref().and_then(|c| c.replaces.as_ref()) {
        state.session_ended(previous, EndReason::Replaced);
    }
    if !is_url_safe_session_id(&answer.session.0) {
        // The session could never be addressed by PATCH or DELETE.
        state.media.end(room, E::KIND, &answer.session).await.ok();
        tracing::error!(
            room = room.as_str(),
            "media plane returned a session id that is not URL-safe"
        );
        return Err(MediaError::Unavailable("internal session id error".to_owned()).into());
    }
    join(&state, &auth, answer.session.clone(), E::KIND);
    drop(pending_claim);
    drop(camera_claim);
    Ok(SessionCreated {
        location: format!("{}/{room}/{}", E::PREFIX, answer.session),
        sdp: answer.sdp,
        links: ice_server_links(&state, &auth.claims),
    })
}

/// Records the new participant, in the log (no names) and the audit trail.
fn join<A>(state: &AppState, auth: &RoomAccess<A>, session: SessionId, kind: SessionKind) {
    tracing::info!(
        room = %auth.room,
        %session,
        role = %auth.claims.role,
        token_id = %auth.claims.jti,
        "session started"
    );
    state.audit.record(AuditEvent::Joined {
        room: auth.room.to_string(),
        session: session.to_string(),
        role: auth.claims.role.to_string(),
        name: auth.claims.name.clone(),
        token_id: auth.claims.jti.clone(),
        address: auth.client,
        talkback: kind == SessionKind::View && auth.claims.role == Role::Publisher,
    });
    let participant = Participant {
        session,
        room: auth.room.clone(),
        kind,
        role: auth.claims.role,
        name: auth.claims.name.clone(),
        token_id: auth.claims.jti.clone(),
        address: auth.client,
        joined_at: unix_now(),
        connected: false,
    };
    state.events.media_joined(&participant);
    state.consultations.session_joined(&participant, unix_now());
    state.participants.join(participant);
}

/// The session of the path, if it was started with the presented token: a
/// session id alone is not enough to touch someone else's session.
fn own_session<A>(
    state: &AppState,
    auth: &RoomAccess<A>,
    session: &SessionId,
) -> Result<(), ApiError> {
    match state.participants.get(session) {
        Some(p) if p.room == auth.room && p.token_id == auth.claims.jti => Ok(()),
        _ => Err(MediaError::UnknownSession.into()),
    }
}

async fn update<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: RoomAccess<E>,
    SessionPath(session): SessionPath,
    IceFragment(fragment): IceFragment,
) -> Result<Response, ApiError> {
    own_session(&state, &auth, &session)?;
    let restarted = state
        .media
        .patch(&auth.room, E::KIND, &session, fragment)
        .await?;
    Ok(match restarted {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(answer) => ([(header::CONTENT_TYPE, TRICKLE_ICE_SDPFRAG)], answer).into_response(),
    })
}

async fn end<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    auth: RoomAccess<E>,
    SessionPath(session): SessionPath,
) -> Result<StatusCode, ApiError> {
    own_session(&state, &auth, &session)?;
    state.media.end(&auth.room, E::KIND, &session).await?;
    state.session_ended(&session, EndReason::Closed);
    Ok(StatusCode::OK)
}

/// Answers the `OPTIONS` some WHIP/WHEP clients send before their offer
/// with `204`; with a valid token for this room and endpoint the answer
/// also announces the relays (RFC 9725 §4.6), so a client can gather relay
/// candidates before it offers.
///
/// No token, or one that does not admit, is not an error: CORS preflights
/// are `OPTIONS` too and never carry credentials, and a probe must not
/// fail a client that sends its token only with the offer.
async fn probe<E: Endpoint>(
    State(state): State<Arc<AppState>>,
    RoomPath(_room): RoomPath,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let mut response = (
        StatusCode::NO_CONTENT,
        [
            (ACCEPT_POST, HeaderValue::from_static(APPLICATION_SDP)),
            (header::ALLOW, HeaderValue::from_static("OPTIONS, POST")),
        ],
    )
        .into_response();
    let bearer = parts.headers.contains_key(header::AUTHORIZATION);
    if !bearer || relay_uris(&state).is_empty() {
        return Ok(response);
    }
    // The probe stays outside the per-client rate limit so that preflights
    // and bare probes cost nothing. A probe with a token costs a signature
    // check and a room lookup and can hand out relay credentials, so it
    // counts against the same limit as the offer it precedes: otherwise it
    // would be an unlimited way to guess tokens.
    within_rate_limit(&state, &parts)?;
    if let Some(auth) = RoomAccess::<E>::quietly(&mut parts, &state).await {
        for link in ice_server_links(&state, &auth.claims) {
            response.headers_mut().append(header::LINK, link);
        }
    }
    Ok(response)
}

/// Counts the request against its client's rate limit; `429` beyond it.
fn within_rate_limit(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    if let Some(client) = client_address(&parts.extensions)
        && let Err(not_until) = state.limiter.check_key(&client)
    {
        let retry_after = not_until.wait_time_from(DefaultClock::default().now());
        tracing::debug!(%client, "rate limited");
        return Err(ApiError::RateLimited { retry_after });
    }
    Ok(())
}

/// The relay URIs to announce; none without the secret to make
/// credentials with, since a relay without credentials is of no use.
fn relay_uris(state: &AppState) -> Vec<String> {
    match state.turn_secret {
        Some(_) => state
            .settings
            .ice_servers
            .relay_uris(&state.settings.public_base_url),
        None => Vec::new(),
    }
}

/// One `Link` header per relay, with one credential of the holder of
/// `claims` for them all. Credentials are never logged.
fn ice_server_links(state: &AppState, claims: &Claims) -> Vec<HeaderValue> {
    let uris = relay_uris(state);
    let Some(secret) = state.turn_secret.as_ref().filter(|_| !uris.is_empty()) else {
        return Vec::new();
    };
    let credential = ice_servers::credential_for(
        secret,
        state.settings.ice_servers.credential_ttl,
        &claims.jti,
        claims.exp,
        unix_now(),
    );
    ice_servers::link_values(&uris, &credential)
}

const ACCEPT_POST: HeaderName = HeaderName::from_static("accept-post");

/// `201 Created` with the SDP answer, the session's `Location` and the
/// relays' `Link`s.
struct SessionCreated {
    location: String,
    sdp: String,
    links: Vec<HeaderValue>,
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
        let mut response = (
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
            .into_response();
        for link in self.links {
            response.headers_mut().append(header::LINK, link);
        }
        response
    }
}
