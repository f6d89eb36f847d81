//! The extractor that admits a request to a room in the endpoint's role.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::extract::{BearerToken, RoomPath};
use super::state::AppState;
use crate::error::ApiError;
use crate::rooms::RoomId;
use crate::tokens::{Claims, Role};

/// The role an endpoint requires.
pub trait RequiredRole: Send + Sync + 'static {
    const ROLE: Role;
}

/// A request whose bearer token admits it to the `{room}` of its path in
/// `R::ROLE`. Checks, in order: room id, presence of a token, the token.
pub struct Authorized<R> {
    pub room: RoomId,
    pub claims: Claims,
    role: PhantomData<R>,
}

impl<R: RequiredRole> FromRequestParts<Arc<AppState>> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let RoomPath(room) = RoomPath::from_request_parts(parts, state).await?;
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        let claims = state.tokens.verify(&token, room.as_str(), R::ROLE)?;
        Ok(Self {
            room,
            claims,
            role: PhantomData,
        })
    }
}
