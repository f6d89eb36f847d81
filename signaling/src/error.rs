//! Every error the HTTP surface returns, and how it is rendered.
//!
//! The body is always `{"error": "<code>", "message": "<text>"}` with
//! `Content-Type: application/json`: the code is for programs (the viewer
//! page, the capture daemon, scripts), the message is for the person who has
//! to fix it, so it says what to do.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::media::MediaError;
use crate::rooms::{LabelError, RoomIdError};
use crate::sdp::SdpShapeError;
use crate::tokens::{AuthError, Role};

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// An error answered to an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    BadRoom(#[from] RoomIdError),
    /// The body's `Content-Type` is not the one the endpoint takes.
    #[error("expected Content-Type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    /// The body is larger than `limits.max_sdp_bytes`.
    #[error("body larger than {limit} bytes")]
    SdpTooLarge { limit: usize },
    #[error(transparent)]
    MalformedSdp(#[from] SdpShapeError),
    /// The body could not be read (the client went away mid-request).
    #[error("the request body could not be read")]
    UnreadableBody,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request timed out")]
    Timeout(Duration),
    /// Too many requests from one client address.
    #[error("rate limit reached")]
    RateLimited { retry_after: Duration },
    /// The token has this many WebRTC sessions connecting already
    /// ([`crate::participants::MAX_PENDING_SESSIONS_PER_TOKEN`]).
    #[error("{limit} sessions of this token are still connecting")]
    TooManyPendingSessions { limit: usize },
    /// Photos fill the gateway's photo memory (`limits.max_photo_memory_bytes`).
    #[error("the photo memory of {budget} bytes is full")]
    PhotoMemoryFull { budget: usize },
    /// A WHIP offer for a room whose camera is another device's.
    #[error("another camera is publishing in this room")]
    CameraInUse,
    /// `limits.max_rooms` rooms are open.
    #[error("{open} rooms are open")]
    TooManyRooms { open: usize },
    /// A room label that may not be used.
    #[error(transparent)]
    BadLabel(#[from] LabelError),
    /// A JSON body that is not what the endpoint takes.
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// The data directory could not be read or written (details are logged).
    #[error("storage failed")]
    Storage,
    /// A handler panicked (details are logged).
    #[error("internal error")]
    Internal,
    /// A photo larger than `limits.max_photo_bytes`.
    #[error("photo larger than {limit} bytes")]
    PhotoTooLarge { limit: usize },
    /// An upload that is not a JPEG picture.
    #[error("not a JPEG photo: {0}")]
    NotAJpeg(#[from] crate::photos::JpegError),
    /// A photo id that the room does not hold (any more).
    #[error("no such photo")]
    UnknownPhoto,
    /// A plain request to the room events address, which takes WebSockets.
    #[error("WebSocket upgrade required")]
    WebSocketRequired,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(AuthError::WrongRoom | AuthError::WrongRole { .. }) => {
                StatusCode::FORBIDDEN
            }
            ApiError::Auth(AuthError::RoomEnded) => StatusCode::GONE,
            ApiError::Auth(AuthError::UnknownRoom) => StatusCode::NOT_FOUND,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::Media(media) => match media {
                MediaError::BadOffer(_) | MediaError::BadFragment(_) => StatusCode::BAD_REQUEST,
                MediaError::CodecMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
                MediaError::NoPublisher
                | MediaError::TooManyViewers(_)
                | MediaError::ObserverPlacesTaken(_)
                | MediaError::TalkbackTaken(_) => StatusCode::CONFLICT,
                MediaError::TooManyConnectionTests(_) => StatusCode::TOO_MANY_REQUESTS,
                MediaError::UnknownSession => StatusCode::NOT_FOUND,
                MediaError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::BadRoom(_)
            | ApiError::MalformedSdp(_)
            | ApiError::UnreadableBody
            | ApiError::BadLabel(_)
            | ApiError::BadRequestBody(_) => StatusCode::BAD_REQUEST,
            ApiError::RateLimited { .. } | ApiError::TooManyPendingSessions { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::PhotoMemoryFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::CameraInUse | ApiError::TooManyRooms { .. } => StatusCode::CONFLICT,
            ApiError::Storage | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::SdpTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::WebSocketRequired => StatusCode::UPGRADE_REQUIRED,
            ApiError::PhotoTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotAJpeg(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownPhoto => StatusCode::NOT_FOUND,
        }
    }

    /// The machine-readable code, stable across releases.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Auth(auth) => match auth {
                AuthError::Missing => "missing_token",
                AuthError::Invalid => "invalid_token",
                AuthError::Expired => "token_expired",
                AuthError::WrongRoom => "wrong_room",
                AuthError::WrongRole { .. } => "wrong_role",
                AuthError::RoomEnded => "room_ended",
                AuthError::UnknownRoom => "unknown_room",
            },
            ApiError::Media(media) => match media {
                MediaError::BadOffer(_) => "bad_offer",
                MediaError::CodecMismatch(_) => "codec_mismatch",
                MediaError::NoPublisher => "no_publisher",
                MediaError::TooManyViewers(_) | MediaError::ObserverPlacesTaken(_) => "room_full",
                MediaError::TalkbackTaken(_) => "talkback_in_use",
                MediaError::TooManyConnectionTests(_) => "too_many_connection_tests",
                MediaError::UnknownSession => "unknown_session",
                MediaError::BadFragment(_) => "bad_ice_fragment",
                MediaError::Unavailable(_) => "media_unavailable",
            },
            ApiError::BadRoom(_) => "bad_room",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::SdpTooLarge { .. } => "sdp_too_large",
            ApiError::MalformedSdp(_) => "malformed_sdp",
            ApiError::UnreadableBody => "unreadable_body",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooManyPendingSessions { .. } => "too_many_pending_sessions",
            ApiError::PhotoMemoryFull { .. } => "photo_memory_full",
            ApiError::CameraInUse => "camera_in_use",
            ApiError::TooManyRooms { .. } => "too_many_rooms",
            ApiError::BadLabel(_) => "bad_label",
            ApiError::BadRequestBody(_) => "bad_request_body",
            ApiError::Storage => "storage_error",
            ApiError::Internal => "internal_error",
            ApiError::WebSocketRequired => "websocket_required",
            ApiError::PhotoTooLarge { .. } => "photo_too_large",
            ApiError::NotAJpeg(_) => "not_a_jpeg",
            ApiError::UnknownPhoto => "unknown_photo",
        }
    }

    /// The text for a person: what went wrong and what to do about it.
    pub fn message(&self) -> String {
        match self {
            ApiError::Auth(auth) => auth_message(auth),
            ApiError::Media(media) => media_message(media),
            ApiError::BadRoom(err) => format!("{err}; check that the link was copied whole"),
            ApiError::UnsupportedMediaType { expected } => {
                format!("send the body with Content-Type: {expected}")
            }
            ApiError::SdpTooLarge { limit } => format!(
                "the body is larger than the {limit} bytes allowed; offer fewer codecs, \
                 or raise limits.max_sdp_bytes in the gateway's configuration"
            ),
            ApiError::MalformedSdp(err) => format!(
                "the body is not an SDP offer: {err}; send the offer's SDP text as the body"
            ),
            ApiError::UnreadableBody => {
                "the request body could not be read; send the request again".to_owned()
            }
            ApiError::NotFound => {
                "there is nothing at this address; check the link or the endpoint URL".to_owned()
            }
            ApiError::MethodNotAllowed => {
                "this address does not take that method; the Allow header lists those it takes"
                    .to_owned()
            }
            ApiError::Timeout(limit) => format!(
                "the request took longer than {} s; check the network and try again",
                limit.as_secs_f32()
            ),
            ApiError::RateLimited { retry_after } => format!(
                "too many requests from this address; wait {} s (Retry-After) and try again",
                retry_after.as_secs().max(1)
            ),
            ApiError::TooManyPendingSessions { limit } => format!(
                "this link has {limit} video sessions that are still connecting; wait until \
                 they connect or give up (about half a minute), or end them with DELETE, \
                 then try again"
            ),
            ApiError::PhotoMemoryFull { budget } => format!(
                "the gateway holds {budget} bytes of photos, all its photo memory; photos are \
                 freed when their rooms end, so end finished rooms, or ask IT to raise \
                 limits.max_photo_memory_bytes"
            ),
            ApiError::CameraInUse => "another camera is already publishing in this room; \
                 stop it first, or have the hospital end the room and make a new one"
                .to_owned(),
            ApiError::TooManyRooms { open } => format!(
                "{open} rooms are open, the most this gateway allows; end rooms that are \
                 finished (DELETE /api/rooms/{{room}}) or raise limits.max_rooms"
            ),
            ApiError::BadLabel(err) => format!(
                "{err}; use a short label that names the visit, not the patient \
                 (e.g. \"Home visit, district north\")"
            ),
            ApiError::BadRequestBody(why) => {
                format!("the body is not what this endpoint takes: {why}")
            }
            ApiError::Storage => "the gateway could not read or write its data directory; \
                 tell the hospital's IT (the gateway's log says which file)"
                .to_owned(),
            ApiError::Internal => "the gateway failed while handling this request; try again, \
                 and tell the hospital's IT if it happens again"
                .to_owned(),
            ApiError::PhotoTooLarge { limit } => format!(
                "the photo is larger than the {limit} bytes allowed; send it with a lower JPEG \
                 quality, or raise limits.max_photo_bytes in the gateway's configuration"
            ),
            ApiError::NotAJpeg(err) => format!(
                "the body is not a JPEG photo ({err}); send the JPEG file's bytes with \
                 Content-Type: image/jpeg"
            ),
            ApiError::UnknownPhoto => "this room holds no such photo (photos are kept only \
                 while the room is open); take a new one"
                .to_owned(),
            ApiError::WebSocketRequired => "this address takes the room events WebSocket only; \
                 connect with a WebSocket client (the page and the capture daemon do)"
                .to_owned(),
        }
    }
}

fn auth_message(auth: &AuthError) -> String {
    match auth {
        AuthError::Missing => {
            "this needs a token: send Authorization: Bearer <token> from the room's link".to_owned()
        }
        AuthError::Invalid => "the token is not one this gateway issued, or it was cut short; \
                               copy the room's link or token again, whole"
            .to_owned(),
        AuthError::Expired => "the token has expired; ask the hospital for a new link".to_owned(),
        AuthError::WrongRoom => {
            "the token belongs to another room; use the link made for this room".to_owned()
        }
        AuthError::RoomEnded => "this consultation has ended and its links no longer work; \
             ask the hospital for a new link if it should go on"
            .to_owned(),
        AuthError::UnknownRoom => "this gateway has no such room (it may have expired); \
             ask the hospital for a new link"
            .to_owned(),
        AuthError::WrongRole { presented, allowed } => wrong_role_message(*presented, allowed),
    }
}

fn wrong_role_message(presented: Role, allowed: &[Role]) -> String {
    if allowed == [Role::Publisher] {
        format!(
            "this is a {presented} token; publishing the camera needs the room's publisher token"
        )
    } else if allowed == [Role::Admin] {
        "managing rooms needs an admin token (samsyn-gateway token create --role admin)".to_owned()
    } else if presented == Role::Publisher {
        "this is the camera's publisher token; watching needs a specialist or observer token \
         (the one in the room's link)"
            .to_owned()
    } else if presented == Role::Admin {
        "admin tokens manage rooms but do not join them; open the room's link instead".to_owned()
    } else {
        let allowed: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        format!(
            "this is a {presented} token; this needs a {} token",
            allowed.join(" or ")
        )
    }
}

fn media_message(media: &MediaError) -> String {
    match media {
        MediaError::BadOffer(_) => {
            format!("{media}; send a standard WebRTC offer (H.264 or VP8 video, Opus audio)")
        }
        MediaError::CodecMismatch(_) => format!(
            "{media}; use a browser or player that can receive the camera's codec (H.264 or VP8)"
        ),
        MediaError::NoPublisher => {
            "the nurse's camera is not connected yet; the page retries by itself".to_owned()
        }
        MediaError::TooManyViewers(_) => {
            format!("{media}; someone has to leave first, or raise limits.max_viewers_per_room")
        }
        MediaError::ObserverPlacesTaken(_) => {
            format!("{media}; an observer has to leave first, or raise limits.max_viewers_per_room")
        }
        MediaError::TalkbackTaken(_) => format!(
            "{media}; end the camera's old talk-back session (DELETE its Location) and try again"
        ),
        MediaError::TooManyConnectionTests(_) => {
            format!("{media}; end a finished test (DELETE its Location) or wait a minute")
        }
        MediaError::UnknownSession => {
            format!("{media}; start a new session with a POST to the room's WHIP or WHEP URL")
        }
        MediaError::BadFragment(_) => {
            format!("{media}; send an application/trickle-ice-sdpfrag body (RFC 8840)")
        }
        MediaError::Unavailable(_) => {
            format!("{media}; try again in a moment, and tell the hospital's IT if it persists")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        // Media details can quote the offer; they stay at debug level.
        if status.is_server_error() {
            tracing::warn!(error = code, "request failed");
        }
        tracing::debug!(error = code, detail = %self, "request refused");

        let body = ErrorBody {
            error: code.to_owned(),
            message: self.message(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell clients which scheme to retry with.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::SdpTooLarge { .. } | ApiError::PhotoTooLarge { .. } = self {
            // The rest of the body was never read: the connection cannot
            // carry another request, so say so rather than let a client
            // reuse it and find it closed.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let ApiError::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
        }
        response
    }
}
