//! Extractors that turn a request into checked values or an [`ApiError`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::state::AppState;
use crate::error::ApiError;
use crate::media::{MediaError, SessionId};
use crate::rooms::RoomId;
use crate::sdp;
use crate::tokens::AuthError;

pub(crate) const APPLICATION_SDP: &str = "application/sdp";
pub(crate) const TRICKLE_ICE_SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// The `{room}` of the path, validated.
pub(crate) struct RoomPath(pub RoomId);

impl<S: Send + Sync> FromRequestParts<S> for RoomPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_param(parts, state, "room").await?;
        Ok(Self(RoomId::parse(&raw)?))
    }
}

/// The `{session}` of the path.
///
/// The media plane's ids are opaque but end up in `Location`, so they are
/// URL-safe (RFC 3986 unreserved characters). Anything else cannot name a
/// session.
pub struct SessionPath(pub SessionId);

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = path_param(parts, state, "session").await?;
        if is_url_safe_session_id(&raw) {
            Ok(Self(SessionId(raw)))
        } else {
            Err(MediaError::UnknownSession.into())
        }
    }
}

pub(crate) fn is_url_safe_session_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, ApiError> {
    // A route without the parameter would be a wiring mistake; a parameter
    // that does not decode is a bad address. Both are nothing to be found.
    let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NotFound)?;
    params.remove(name).ok_or(ApiError::NotFound)
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(AuthError::Missing)?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Missing)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Missing.into());
        }
        Ok(Self(token.to_owned()))
    }
}

/// A WHIP/WHEP offer: `application/sdp`, within the size limit, shaped like SDP.
pub struct SdpOffer(pub String);

impl FromRequest<Arc<AppState>> for SdpOffer {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let body = typed_body(req, state, APPLICATION_SDP).await?;
        Ok(Self(sdp::check_offer(&body)?.to_owned()))
    }
}

/// A trickle-ICE or ICE-restart body (RFC 8840).
pub(crate) struct IceFragment(pub String);

impl FromRequest<Arc<AppState>> for IceFragment {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let body = typed_body(req, state, TRICKLE_ICE_SDPFRAG).await?;
        let text = String::from_utf8(body.into())
            .map_err(|_| MediaError::BadFragment("the fragment is not UTF-8 text".to_owned()))?;
        Ok(Self(text))
    }
}

/// Checks the `Content-Type`, then reads the body within the router's
/// [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit).
async fn typed_body(
    req: Request,
    state: &Arc<AppState>,
    expected: &'static str,
) -> Result<Bytes, ApiError> {
    if !has_media_type(&req, expected) {
        return Err(ApiError::UnsupportedMediaType { expected });
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::SdpTooLarge {
                limit: state.settings.max_sdp_bytes,
            }
        } else {
            ApiError::UnreadableBody
        }
    })
}

/// Compares the media type, ignoring case and parameters (`; charset=…`).
fn has_media_type(req: &Request, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(expected))
}
