//! Still photos over real HTTP and the room events socket: the camera
//! uploads, specialists are told and fetch; every other role, an oversized
//! or a non-JPEG upload is refused with the JSON error; an ended room keeps
//! no photo.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use samsyn_signaling::{Role, RoomId};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const ROOM: &str = "ward7abc23";
const LIMIT: usize = 512 * 1024;

/// A real JPEG picture of `width`x`height` with `padding` bytes of comment
/// after its start marker (to reach a size without a large picture).
fn jpeg(width: u16, height: u16, padding: usize) -> Vec<u8> {
    let picture = jpeg_picture(width, height);
    let mut bytes = vec![0xFF, 0xD8];
    let mut rest = padding;
    while rest > 0 {
        let chunk = rest.min(60_000);
        bytes.extend([0xFF, 0xFE]);
        bytes.extend(u16::try_from(chunk + 2).unwrap().to_be_bytes());
        bytes.extend(std::iter::repeat_n(b'x', chunk));
        rest -= chunk;
    }
    bytes.extend(&picture[2..]);
    bytes
}

async fn upload(gw: &TestGateway, token: &str, body: Vec<u8>) -> reqwest::Response {
    gw.http
        .post(gw.url(&format!("/api/rooms/{ROOM}/photos")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .header("samsyn-captured-at", "1764460800123")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn fetch(gw: &TestGateway, token: &str, url: &str) -> reqwest::Response {
    gw.http
        .get(gw.url(url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn join(gw: &TestGateway, token: &str) -> Ws {
    let url = gw
        .url(&format!("/events/{ROOM}"))
        .replace("http://", "ws://");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(
        json!({"v": 1, "type": "hello", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_of(&mut ws, "welcome").await["type"], "welcome");
    ws
}

/// The next message of `kind`, skipping participant updates.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
            assert!(
                ["participant", "left"].contains(&value["type"].as_str().unwrap()),
                "expected {kind}, got {value}"
            );
        }
    }
}

#[tokio::test]
async fn the_cameras_photo_reaches_the_specialists_only() {
    let gw = TestGateway::start_with(|s| s.max_photo_bytes = LIMIT).await;
    let camera = gw.token(ROOM, Role::Publisher);
    let specialist = gw.token(ROOM, Role::Specialist);
    let observer = gw.token(ROOM, Role::Observer);
    let mut specialist_socket = join(&gw, &specialist).await;
    let mut observer_socket = join(&gw, &observer).await;

    let body = jpeg(2560, 1440, 1000);
    let response = upload(&gw, &camera, body.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["width"], 2560);
    assert_eq!(created["height"], 1440);
    assert_eq!(created["bytes"], body.len());
    assert_eq!(created["captured_at_ms"], 1_764_460_800_123u64);

    let ready = next_of(&mut specialist_socket, "photo_ready").await;
    assert_eq!(ready["photo"], created);
    let url = created["url"].as_str().unwrap();
    let photo = fetch(&gw, &specialist, url).await;
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(photo.headers()["cache-control"], "no-store");
    assert_eq!(photo.bytes().await.unwrap().to_vec(), body);

    // The observer is not told, and may not fetch it.
    let chat = gw.token(ROOM, Role::Publisher);
    let mut nurse_socket = join(&gw, &chat).await;
    nurse_socket
        .send(Message::text(
            json!({"v": 1, "type": "chat", "text": "after the photo"}).to_string(),
        ))
        .await
        .unwrap();
    let next = next_of(&mut observer_socket, "chat").await;
    assert_eq!(next["text"], "after the photo", "no photo_ready before it");
    assert_error(
        fetch(&gw, &observer, url).await,
        StatusCode::FORBIDDEN,
        "wrong_role",
    )
    .await;
    assert_error(
        fetch(
            &gw,
            &specialist,
            &format!("/api/rooms/{ROOM}/photos/nosuchphoto"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "unknown_photo",
    )
    .await;
}

#[tokio::test]
async fn uploads_from_another_role_too_large_or_not_jpeg_are_refused() {
    let gw = TestGateway::start_with(|s| s.max_photo_bytes = LIMIT).await;
    let camera = gw.token(ROOM, Role::Publisher);
    for role in [Role::Specialist, Role::Observer] {
        let response = upload(&gw, &gw.token(ROOM, role), jpeg(64, 48, 0)).await;
        assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
    }

    let response = upload(&gw, &camera, jpeg(4000, 3000, LIMIT)).await;
    let message = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large").await;
    assert!(
        message.contains(&LIMIT.to_string()) && message.contains("limits.max_photo_bytes"),
        "{message}"
    );

    let response = upload(&gw, &camera, b"\x89PNG\r\n\x1a\n....".to_vec()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "not_a_jpeg").await;
    assert!(message.contains("image/jpeg"), "{message}");

    let response = gw
        .http
        .post(gw.url(&format!("/api/rooms/{ROOM}/photos")))
        .bearer_auth(&camera)
        .header("content-type", "image/png")
        .body(jpeg(64, 48, 0))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // None of it was kept; a good photo still goes through.
    assert!(gw.state.photos.rooms().is_empty());
    assert_eq!(
        upload(&gw, &camera, jpeg(64, 48, 0)).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_ended_room_keeps_no_photo() {
    let gw = TestGateway::start().await;
    let camera = gw.token(ROOM, Role::Publisher);
    let specialist = gw.token(ROOM, Role::Specialist);
    let created: Value = upload(&gw, &camera, jpeg(640, 480, 0))
        .await
        .json()
        .await
        .unwrap();
    let room = RoomId::parse(ROOM).unwrap();
    assert!(gw.state.photos.rooms().contains(&room));

    let ended = gw.end_room_via_api(ROOM).await;
    assert!(ended.status().is_success());
    assert!(
        gw.state.photos.rooms().is_empty(),
        "photos dropped with the room"
    );
    assert_error(
        fetch(&gw, &specialist, created["url"].as_str().unwrap()).await,
        StatusCode::GONE,
        "room_ended",
    )
    .await;
}
