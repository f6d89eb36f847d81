//! `GET /events/{room}`: the room events WebSocket of one participant.
//!
//! The protocol is documented in [`crate::events`]. This module admits the
//! socket (the token arrives in the first message), then relays: the
//! room's events out, the participant's chat and requests in, each checked
//! against the sender's role and budget. A refused message is answered on
//! the same socket and changes nothing else.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{client_address, open_room, refused};
use super::extract::RoomPath;
use super::state::AppState;
use crate::audit::AuditEvent;
use crate::clock::{unix_millis, unix_now};
use crate::error::ApiError;
use crate::events::policy::{self, MessageBudget, Refusal};
use crate::events::{
    ClientMessage, Envelope, MAX_SOCKETS_PER_TOKEN, RoomEvents, Seat, ServerMessage, decode_client,
};
use crate::rooms::RoomId;
use crate::tokens::Claims;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/events/{room}", get(upgrade))
}

async fn upgrade(
    State(state): State<Arc<AppState>>,
    RoomPath(room): RoomPath,
    ClientAddress(client): ClientAddress,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|_| ApiError::WebSocketRequired)?;
    Ok(ws
        .max_message_size(policy::MAX_FRAME_BYTES)
        .max_frame_size(policy::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(state, room, client, socket)))
}

/// The client's address, for the audit trail's refusals.
struct ClientAddress(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(&parts.extensions)))
    }
}

/// One participant's socket, from `hello` to close.
async fn run(state: Arc<AppState>, room: RoomId, client: Option<IpAddr>, mut socket: WebSocket) {
    let claims = match admit(&state, &room, client, &mut socket).await {
        Ok(claims) => claims,
        Err(refusal) => {
            send_error(&mut socket, &refusal).await;
            close(&mut socket, close_code::POLICY, "not admitted").await;
            return;
        }
    };
    let Ok((subscription, seat)) = state.events.connect(&room, &claims) else {
        let full = Refusal {
            code: "room_full",
            message: "the room has no place left for another events connection; \
                      close pages of this room that are not in use and try again"
                .to_owned(),
        };
        send_error(&mut socket, &full).await;
        close(&mut socket, close_code::AGAIN, "room full").await;
        return;
    };
    tracing::info!(%room, role = %claims.role, token_id = %claims.jti, "events socket joined");
    // In the audit trail: an events socket reads the chat, video or not.
    state.audit.record(AuditEvent::EventsJoined {
        room: room.to_string(),
        role: claims.role.to_string(),
        name: claims.name.clone(),
        token_id: claims.jti.clone(),
        address: client,
    });
    let joined_at = unix_now();
    relay(&state, &room, &claims, subscription, &seat, &mut socket).await;
    tracing::info!(%room, role = %claims.role, token_id = %claims.jti, "events socket left");
    // Recorded before the room hears of it, so the trail is never behind.
    state.audit.record(AuditEvent::EventsLeft {
        room: room.to_string(),
        role: claims.role.to_string(),
        token_id: claims.jti.clone(),
        seconds: unix_now().saturating_sub(joined_at),
    });
    state.events.disconnect(&room, &claims.jti, &seat);
}

/// Waits for `hello` and checks its token, the room and the role.
async fn admit(
    state: &AppState,
    room: &RoomId,
    client: Option<IpAddr>,
    socket: &mut WebSocket,
) -> Result<Claims, Refusal> {
    let hello_timeout = Refusal {
        code: "hello_timeout",
        message: format!(
            "no hello within {} s; send {{\"v\": 1, \"type\": \"hello\", \"token\": \"…\"}} first",
            policy::HELLO_TIMEOUT.as_secs()
        ),
    };
    let token = tokio::time::timeout(policy::HELLO_TIMEOUT, read_hello(socket))
        .await
        .map_err(|_| hello_timeout)??;
    let admitted = state
        .tokens
        .verify(&token, Some(room.as_str()), policy::SOCKET_ROLES)
        .map_err(ApiError::from)
        .and_then(|claims| open_room(state, room).map(|_| claims));
    admitted.map_err(|err| {
        let err = refused(state, Some(room), client, err);
        Refusal {
            code: err.code(),
            message: err.message(),
        }
    })
}

async fn read_hello(socket: &mut WebSocket) -> Result<String, Refusal> {
    loop {
        let text = match socket.recv().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Binary(_))) => return Err(policy::not_text()),
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                return Err(Refusal {
                    code: "closed",
                    message: "the socket closed before hello".to_owned(),
                });
            }
        };
        return match decode_client(&text) {
            Ok(ClientMessage::Hello { token }) => Ok(token),
            Ok(other) => Err(Refusal {
                code: "hello_expected",
                message: format!(
                    "the first message must be hello with the room's token, not {}",
                    other.kind()
                ),
            }),
            Err(err) => Err(Refusal {
                code: err.code(),
                message: err.message(),
            }),
        };
    }
}

/// The room's events out, the participant's messages in, until either
/// side closes, the room ends, the token expires or a newer socket of the
/// same token takes the seat.
async fn relay(
    state: &AppState,
    room: &RoomId,
    claims: &Claims,
    mut subscription: crate::events::Subscription,
    seat: &Seat,
    socket: &mut WebSocket,
) {
    if socket
        .send(Message::Text(subscription.welcome.clone()))
        .await
        .is_err()
    {
        return;
    }
    let budget = MessageBudget::default();
    let token_expiry = tokio::time::sleep(until_unix(claims.exp));
    tokio::pin!(token_expiry);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let refusal = match incoming {
                    Some(Ok(Message::Text(text))) => budget
                        .take()
                        .and_then(|()| receive(state, room, claims, &text))
                        .err(),
                    Some(Ok(Message::Binary(_))) => {
                        Some(budget.take().err().unwrap_or_else(policy::not_text))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                };
                if let Some(refusal) = refusal {
                    tracing::debug!(%room, token_id = %claims.jti, code = refusal.code, "event refused");
                    if !send_error(socket, &refusal).await {
                        return;
                    }
                }
            }
            event = subscription.events.recv() => match event {
                Ok(event) if !event.is_for(claims.role) => {}
                Ok(event) => {
                    if socket.send(Message::Text(event.json)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(%room, token_id = %claims.jti, missed, "events socket fell behind");
                    let Some(fresh) = state.events.resubscribe(room, &claims.jti) else {
                        return;
                    };
                    subscription = fresh;
                    let notice = Refusal {
                        code: "missed_events",
                        message: format!("{missed} events were missed; a fresh welcome follows"),
                    };
                    if !send_error(socket, &notice).await
                        || socket.send(Message::Text(subscription.welcome.clone())).await.is_err()
                    {
                        return;
                    }
                }
                // The room ended (`room_ended` went before) or the gateway stops.
                Err(RecvError::Closed) => {
                    close(socket, close_code::AWAY, "closed by the gateway").await;
                    return;
                }
            },
            () = seat.replaced.notified() => {
                let replaced = Refusal {
                    code: "replaced",
                    message: format!(
                        "this link has {MAX_SOCKETS_PER_TOKEN} newer event connections open \
                         (other tabs or devices); this one was closed. Use one of those, \
                         or reload this page to take its place"
                    ),
                };
                send_error(socket, &replaced).await;
                close(socket, close_code::POLICY, "replaced by a newer connection").await;
                return;
            }
            () = &mut token_expiry => {
                let expired = ApiError::from(crate::tokens::AuthError::Expired);
                send_error(socket, &Refusal { code: expired.code(), message: expired.message() }).await;
                close(socket, close_code::POLICY, "token expired").await;
                return;
            }
        }
    }
}

/// Checks and acts on one text message from the participant.
fn receive(state: &AppState, room: &RoomId, claims: &Claims, text: &str) -> Result<(), Refusal> {
    if text.len() > policy::MAX_MESSAGE_BYTES {
        return Err(policy::too_large(text.len()));
    }
    let message = decode_client(text).map_err(|err| Refusal {
        code: err.code(),
        message: err.message(),
    })?;
    policy::check(claims.role, &message)?;
    let from = RoomEvents::sender(claims);
    match message {
        ClientMessage::Chat { text } => state.events.publish(
            room,
            ServerMessage::Chat {
                from,
                text,
                sent_at_ms: unix_millis(),
            },
        ),
        ClientMessage::PhotoRequest {} => {
            tracing::info!(%room, token_id = %claims.jti, "photo requested");
            state
                .events
                .publish(room, ServerMessage::PhotoRequested { by: from });
        }
        // Taken only from a participant with a video session, and stored as
        // that participant's own: a report is about the sender's connection.
        ClientMessage::Quality(report) => {
            state
                .events
                .set_quality(room, &claims.jti, report)
                .map_err(|_| policy::no_media_session())?;
            state.consultations.quality(room, &report);
        }
        // `policy::check` refuses a second hello.
        ClientMessage::Hello { .. } => {}
    }
    Ok(())
}

/// Sends an `error`; false if the socket is gone.
async fn send_error(socket: &mut WebSocket, refusal: &Refusal) -> bool {
    let json = Envelope::new(ServerMessage::error(refusal.code, refusal.message.clone())).to_json();
    socket
        .send(Message::Text(Utf8Bytes::from(json)))
        .await
        .is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The time from now until `unix_secs` (zero if it has passed).
fn until_unix(unix_secs: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(unix_secs).saturating_sub(now)
}
