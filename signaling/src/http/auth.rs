//! The extractors that admit a request: a bearer token in an allowed role,
//! for the room of the path, while that room is open.
//!
//! Every refusal of a genuine token goes to the audit trail with the
//! client's address, so the people who answer for the gateway can see
//! attempts with real links, not only visits.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Extensions;
use axum::http::request::Parts;

use super::extract::{BearerToken, RoomPath};
use super::state::AppState;
use crate::audit::AuditEvent;
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::rooms::{RoomId, RoomRecord};
use crate::tokens::{AuthError, Claims, Role};

/// The roles an endpoint takes.
pub trait Access: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// The rooms API: admins only.
pub(crate) struct Admins;
impl Access for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Anyone with a token for the room, and admins: room information.
pub(crate) struct Anyone;
impl Access for Anyone {
    const ROLES: &'static [Role] = &[
        Role::Publisher,
        Role::Specialist,
        Role::Observer,
        Role::Admin,
    ];
}

/// A request admitted to the open `{room}` of its path in one of `A::ROLES`.
pub struct RoomAccess<A> {
    pub room: RoomId,
    pub record: RoomRecord,
    pub claims: Claims,
    pub client: Option<IpAddr>,
    access: PhantomData<A>,
}

impl<A: Access> FromRequestParts<Arc<AppState>> for RoomAccess<A> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let client = client_address(&parts.extensions);
        let RoomPath(room) = RoomPath::from_request_parts(parts, state).await?;
        let claims = admit(parts, state, Some(&room), A::ROLES).await?;
        let record =
            open_room(state, &room).map_err(|err| refused(state, Some(&room), client, err))?;
        Ok(Self {
            room,
            record,
            claims,
            client,
            access: PhantomData,
        })
    }
}

impl<A: Access> RoomAccess<A> {
    /// The access the request's token gives, checked as the extractor does,
    /// or `None` for any refusal, which is neither answered nor audited.
    ///
    /// For the routes that answer alike with or without access (the
    /// `OPTIONS` probe) and only add something for a valid token. Refusals
    /// are not audited there: nothing is refused, and the client's `POST`
    /// that follows is checked and audited in full.
    pub(crate) async fn quietly(parts: &mut Parts, state: &Arc<AppState>) -> Option<Self> {
        let client = client_address(&parts.extensions);
        let RoomPath(room) = RoomPath::from_request_parts(parts, state).await.ok()?;
        let claims = verify(parts, state, Some(&room), A::ROLES).await.ok()?;
        let record = open_room(state, &room).ok()?;
        Some(Self {
            room,
            record,
            claims,
            client,
            access: PhantomData,
        })
    }
}

/// A request with an admin token, for the routes without a room.
pub(crate) struct AdminAccess {
    pub claims: Claims,
}

impl FromRequestParts<Arc<AppState>> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let claims = admit(parts, state, None, Admins::ROLES).await?;
        Ok(Self { claims })
    }
}

/// The claims of the request's bearer token, if it admits `roles` (to
/// `room`, for a room's endpoint); refusals are audited.
async fn admit(
    parts: &mut Parts,
    state: &Arc<AppState>,
    room: Option<&RoomId>,
    roles: &'static [Role],
) -> Result<Claims, ApiError> {
    let client = client_address(&parts.extensions);
    verify(parts, state, room, roles)
        .await
        .map_err(|err| refused(state, room, client, err))
}

/// The claims of the request's bearer token, if it admits `roles` (to
/// `room`, for a room's endpoint); nothing is audited.
async fn verify(
    parts: &mut Parts,
    state: &Arc<AppState>,
    room: Option<&RoomId>,
    roles: &'static [Role],
) -> Result<Claims, ApiError> {
    let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
    Ok(state
        .tokens
        .verify(&token, room.map(RoomId::as_str), roles)?)
}

/// The room's record if the room is open; why not otherwise.
pub(crate) fn open_room(state: &AppState, room: &RoomId) -> Result<RoomRecord, ApiError> {
    let record = state
        .rooms
        .get(room)
        .map_err(|err| {
            tracing::error!(%room, "room registry: {err}");
            ApiError::Storage
        })?
        .ok_or(AuthError::UnknownRoom)?;
    if record.ended_at.is_some() {
        return Err(AuthError::RoomEnded.into());
    }
    if unix_now() >= record.expires_at {
        return Err(AuthError::Expired.into());
    }
    Ok(record)
}

/// Audits a refused token and hands the error on.
///
/// Only tokens this gateway signed are audited (expired, another room's, the
/// wrong role, an ended room): only holders of real links can cause those.
/// Missing and forged tokens are anyone's to send, so they would let a
/// stranger flood the trail and rotate real records out of it; they are
/// held back by the rate limit instead.
pub(crate) fn refused(
    state: &AppState,
    room: Option<&RoomId>,
    client: Option<IpAddr>,
    err: ApiError,
) -> ApiError {
    let genuine_token = matches!(
        err,
        ApiError::Auth(
            AuthError::Expired
                | AuthError::WrongRoom
                | AuthError::WrongRole { .. }
                | AuthError::RoomEnded
                | AuthError::UnknownRoom
        )
    );
    if genuine_token {
        state.audit.record(AuditEvent::Refused {
            room: room.map(ToString::to_string),
            code: err.code().to_owned(),
            address: client,
        });
    }
    err
}

/// The client's address, when the server recorded it.
pub(crate) fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}
