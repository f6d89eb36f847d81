//! One participant's room events socket, for the tests that talk to
//! `/events/{room}`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestGateway;

/// One participant's socket.
pub struct Socket {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    pub async fn open(gw: &TestGateway, room: &str) -> Self {
        let url = gw
            .url(&format!("/events/{room}"))
            .replace("http://", "ws://");
        let (ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        Self { ws }
    }

    /// Opens a socket and joins with `token`; returns it and its welcome.
    pub async fn join(gw: &TestGateway, room: &str, token: &str) -> (Self, Value) {
        let mut socket = Self::open(gw, room).await;
        socket
            .send(json!({"v": 1, "type": "hello", "token": token}))
            .await;
        let welcome = socket.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        (socket, welcome)
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn chat(&mut self, text: &str) {
        self.send(json!({"v": 1, "type": "chat", "text": text}))
            .await;
    }

    /// The next message; fails after five seconds or on close.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("the socket is open")
                .unwrap();
            match frame {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(value["v"], 1, "every message is version 1: {value}");
                    return value;
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message of `kind`, skipping participant updates.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let message = self.next().await;
            if message["type"] == kind {
                return message;
            }
            assert!(
                ["participant", "left"].contains(&message["type"].as_str().unwrap()),
                "expected {kind}, got {message}"
            );
        }
    }

    /// Expects an error with `code`; returns its message.
    pub async fn refused(&mut self, code: &str) -> String {
        let message = self.next_of("error").await;
        assert_eq!(message["error"], code, "{message}");
        assert!(message.get("seq").is_none(), "errors are not room events");
        message["message"].as_str().unwrap().to_owned()
    }

    /// Expects the server to close the socket with `code`.
    pub async fn closed_with(&mut self, code: CloseCode) {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("closed within 5 s");
            match frame {
                Some(Ok(Message::Close(Some(close)))) => {
                    assert_eq!(close.code, code);
                    return;
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    assert!(
                        ["participant", "left", "error", "room_ended"]
                            .contains(&value["type"].as_str().unwrap()),
                        "before close: {value}"
                    );
                }
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Nothing arrives for a moment.
    pub async fn quiet(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(300), self.ws.next()).await;
        assert!(next.is_err(), "unexpected {next:?}");
    }
}
