//! Still photos: the camera uploads, the room's specialists fetch.
//!
//! - `POST /api/rooms/{room}/photos` with the publisher token,
//!   `Content-Type: image/jpeg`, the JPEG as the body (at most
//!   `limits.max_photo_bytes`, else `413 photo_too_large`), and optionally
//!   `Samsyn-Captured-At: <ms since the Unix epoch>`. The JPEG must decode
//!   (else `400 not_a_jpeg`) and fit in the gateway's photo memory (else
//!   `507 photo_memory_full`). Answers `201` with the photo's JSON
//!   ([`PhotoView`]) and tells the specialists (`photo_ready`).
//! - `GET /api/rooms/{room}/photos/{photo}` with a specialist's token: the
//!   JPEG, never cached, with `X-Content-Type-Options: nosniff` and a
//!   `Content-Security-Policy` that lets it be nothing but a picture.
//!
//! Photos live in memory only ([`crate::photos`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::auth::{Access, RoomAccess};
use super::state::AppState;
use crate::clock::unix_millis;
use crate::error::ApiError;
use crate::events::{PhotoView, ServerMessage};
use crate::photos::{Photo, new_photo_id};
use crate::tokens::Role;

const IMAGE_JPEG: &str = "image/jpeg";
/// Opened on its own, a photo may load nothing, run nothing and be framed
/// by nobody.
const PHOTO_CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";
/// The camera's capture time of the photo, ms since the Unix epoch.
const CAPTURED_AT: &str = "samsyn-captured-at";

/// The camera uploads.
struct Camera;
impl Access for Camera {
    const ROLES: &'static [Role] = &[Role::Publisher];
}

/// Specialists fetch.
struct Specialists;
impl Access for Specialists {
    const ROLES: &'static [Role] = &[Role::Specialist];
}

/// The photo routes; uploads may be `max_photo_bytes` long.
pub(crate) fn routes(max_photo_bytes: usize) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/rooms/{room}/photos",
            post(upload).route_layer(DefaultBodyLimit::max(max_photo_bytes)),
        )
        .route("/api/rooms/{room}/photos/{photo}", get(fetch))
}

/// The body of an upload: a JPEG within the limit.
struct JpegBody(Bytes);

impl FromRequest<Arc<AppState>> for JpegBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let is_jpeg = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(IMAGE_JPEG));
        if !is_jpeg {
            return Err(ApiError::UnsupportedMediaType {
                expected: IMAGE_JPEG,
            });
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PhotoTooLarge {
                    limit: state.settings.max_photo_bytes,
                }
            } else {
                ApiError::UnreadableBody
            }
        })?;
        Ok(Self(body))
    }
}

async fn upload(
    State(state): State<Arc<AppState>>,
    auth: RoomAccess<Camera>,
    headers: axum::http::HeaderMap,
    JpegBody(jpeg): JpegBody,
) -> Result<Response, ApiError> {
    let (width, height) = state.photos.check_upload(jpeg.clone()).await?;
    let captured_at_ms = headers
        .get(CAPTURED_AT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(unix_millis);
    let photo = state
        .photos
        .add(
            &auth.room,
            Photo {
                id: new_photo_id(),
                jpeg,
                width,
                height,
                captured_at_ms,
            },
        )
        .map_err(|full| {
            tracing::warn!(
                room = %auth.room,
                budget = full.budget,
                "photo refused: the gateway's photo memory is full"
            );
            ApiError::PhotoMemoryFull {
                budget: full.budget,
            }
        })?;
    let view = PhotoView {
        url: format!("/api/rooms/{}/photos/{}", auth.room, photo.id),
        id: photo.id.clone(),
        width,
        height,
        bytes: photo.jpeg.len() as u64,
        captured_at_ms,
    };
    tracing::info!(
        room = %auth.room,
        photo = %photo.id,
        width,
        height,
        bytes = photo.jpeg.len(),
        "photo received"
    );
    state.events.publish_to(
        &auth.room,
        Role::Specialist,
        ServerMessage::PhotoReady {
            photo: view.clone(),
        },
    );
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

async fn fetch(
    State(state): State<Arc<AppState>>,
    auth: RoomAccess<Specialists>,
    Path((_room, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let photo = state
        .photos
        .get(&auth.room, &id)
        .ok_or(ApiError::UnknownPhoto)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(IMAGE_JPEG)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // A browser must never take a photo for a page or a script,
            // whatever its bytes look like.
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PHOTO_CSP),
            ),
        ],
        photo.jpeg.clone(),
    )
        .into_response())
}
