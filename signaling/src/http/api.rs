//! The rooms API, for the people who run the gateway (admin tokens) and,
//! for one room's own facts, for its participants.
//!
//! - `POST /api/rooms` `{"label"?, "ttl_hours"?}` → 201, the invite (as
//!   `samsyn-gateway room create --json` prints it)
//! - `GET /api/rooms` → the open rooms with who is in them
//! - `GET /api/rooms/{room}` → label, gateway name, expiry, the caller's role
//!   (any token of the room, or admin): what the viewer page shows
//! - `DELETE /api/rooms/{room}` → 204; everyone is disconnected and the
//!   room's tokens stop working
//! - `POST /api/rooms/{room}/tokens` `{"role", "name"?}` → 201, a token and
//!   link for one more participant

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::{AdminAccess, Admins, Anyone, RoomAccess};
use super::state::AppState;
use crate::audit::AuditEvent;
use crate::clock::rfc3339_utc;
use crate::error::ApiError;
use crate::participants::RoomCounts;
use crate::rooms::{RegistryError, invite_for, invite_participant};
use crate::text;
use crate::tokens::Role;

/// Longest room a request may ask for: a month, as the configuration allows.
const MAX_TTL_HOURS: u64 = 720;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/rooms", post(create_room).get(list_rooms))
        .route("/api/rooms/{room}", get(room_info).delete(end_room))
        .route("/api/rooms/{room}/tokens", post(create_token))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoom {
    #[serde(default)]
    label: String,
    ttl_hours: Option<u64>,
}

async fn create_room(
    State(state): State<Arc<AppState>>,
    admin: AdminAccess,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: NewRoom = optional_json(&body)?;
    let ttl = match request.ttl_hours {
        None => state.settings.token_ttl,
        Some(hours @ 1..=MAX_TTL_HOURS) => Duration::from_secs(hours * 3600),
        Some(hours) => {
            return Err(ApiError::BadRequestBody(format!(
                "ttl_hours = {hours}; use 1 to {MAX_TTL_HOURS} hours"
            )));
        }
    };
    let record = state
        .rooms
        .create(&request.label, ttl)
        .map_err(|err| match err {
            RegistryError::TooManyRooms { open } => ApiError::TooManyRooms { open },
            RegistryError::BadLabel(label) => ApiError::BadLabel(label),
            other => storage(other),
        })?;
    tracing::info!(room = %record.room, token_id = %admin.claims.jti, "room created over the API");
    state.audit.record(AuditEvent::RoomCreated {
        room: record.room.to_string(),
        label: record.label.clone(),
        expires_at: rfc3339_utc(record.expires_at),
        by: format!("api (token {})", admin.claims.jti),
    });
    let invite = invite_for(&state.tokens, &state.settings, &record);
    Ok((StatusCode::CREATED, no_store(), Json(invite)).into_response())
}

/// One open room in the list.
#[derive(Debug, Serialize)]
struct RoomSummary {
    room: String,
    label: String,
    created_at: String,
    expires_at: String,
    #[serde(flatten)]
    counts: RoomCounts,
}

async fn list_rooms(
    State(state): State<Arc<AppState>>,
    _admin: AdminAccess,
) -> Result<Response, ApiError> {
    let rooms = state.rooms.list_open().map_err(storage)?;
    let rooms: Vec<RoomSummary> = rooms
        .into_iter()
        .map(|record| RoomSummary {
            counts: state.participants.counts(&record.room),
            room: record.room.to_string(),
            label: record.label,
            created_at: rfc3339_utc(record.created_at),
            expires_at: rfc3339_utc(record.expires_at),
        })
        .collect();
    Ok((no_store(), Json(serde_json::json!({ "rooms": rooms }))).into_response())
}

/// What a participant may know of their room.
#[derive(Debug, Serialize)]
struct RoomInfo {
    room: String,
    label: String,
    /// The gateway's name, so people can see the link led to the right place.
    gateway: String,
    expires_at: String,
    /// The caller's role, and name if their token carries one.
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    camera_connected: bool,
}

async fn room_info(State(state): State<Arc<AppState>>, access: RoomAccess<Anyone>) -> Response {
    let info = RoomInfo {
        camera_connected: state.participants.counts(&access.room).camera_connected,
        room: access.room.to_string(),
        label: access.record.label,
        gateway: state.settings.display_name.clone(),
        expires_at: rfc3339_utc(access.record.expires_at),
        role: access.claims.role,
        name: access.claims.name,
    };
    (no_store(), Json(info)).into_response()
}

async fn end_room(
    State(state): State<Arc<AppState>>,
    access: RoomAccess<Admins>,
) -> Result<StatusCode, ApiError> {
    state.rooms.end(&access.room).map_err(storage)?;
    tracing::info!(room = %access.room, token_id = %access.claims.jti, "room ended over the API");
    state.audit.record(AuditEvent::RoomEnded {
        room: access.room.to_string(),
        by: format!("api (token {})", access.claims.jti),
    });
    state.close_room(&access.room).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: Role,
    name: Option<String>,
}

async fn create_token(
    State(state): State<Arc<AppState>>,
    access: RoomAccess<Admins>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: NewToken = required_json(&body)?;
    if request.role == Role::Admin {
        return Err(ApiError::BadRequestBody(
            "role must be publisher, specialist or observer; admin tokens belong to no room"
                .to_owned(),
        ));
    }
    let name = request
        .name
        .as_deref()
        .map(check_display_name)
        .transpose()?;
    let invite = invite_participant(
        &state.tokens,
        &state.settings,
        &access.record,
        request.role,
        name.as_deref(),
    );
    Ok((StatusCode::CREATED, no_store(), Json(invite)).into_response())
}

/// Display names are shown to the other participants: short plain text
/// ([`text::Field::Name`]). Returns the name as it goes into the token (NFC).
pub fn check_display_name(name: &str) -> Result<String, ApiError> {
    text::check(text::Field::Name, name).map_err(|err| {
        ApiError::BadRequestBody(format!(
            "the name {err}; a name is 1-{} characters of plain text",
            text::MAX_NAME_CHARS
        ))
    })
}

/// Answers that carry tokens must not be kept by caches.
fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_json(body)
}

fn required_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::BadRequestBody(err.to_string()))
}

fn storage(err: RegistryError) -> ApiError {
    tracing::error!("room registry: {err}");
    ApiError::Storage
}
