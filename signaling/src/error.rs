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
use crate::rooms::RoomIdError;
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
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(AuthError::WrongRoom | AuthError::WrongRole { .. }) => {
                StatusCode::FORBIDDEN
            }
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::Media(media) => match media {
                MediaError::BadOffer(_) | MediaError::BadFragment(_) => StatusCode::BAD_REQUEST,
                MediaError::CodecMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
                MediaError::NoPublisher => StatusCode::CONFLICT,
                MediaError::UnknownSession => StatusCode::NOT_FOUND,
                MediaError::TooManyViewers(_) | MediaError::Unavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            },
            ApiError::BadRoom(_) | ApiError::MalformedSdp(_) | ApiError::UnreadableBody => {
                StatusCode::BAD_REQUEST
            }
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::SdpTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
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
            },
            ApiError::Media(media) => match media {
                MediaError::BadOffer(_) => "bad_offer",
                MediaError::CodecMismatch(_) => "codec_mismatch",
                MediaError::NoPublisher => "no_publisher",
                MediaError::TooManyViewers(_) => "room_full",
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
        AuthError::WrongRole {
            presented: Role::Viewer,
            required: Role::Publisher,
        } => "this is a viewer token; the camera needs the publisher token".to_owned(),
        AuthError::WrongRole {
            presented: Role::Publisher,
            required: Role::Viewer,
        } => "this is the camera's publisher token; watching needs the viewer token \
              (the one in the specialists' link)"
            .to_owned(),
        AuthError::WrongRole {
            presented,
            required,
        } => format!("this is a {presented} token; this needs the {required} token"),
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
        response
    }
}
