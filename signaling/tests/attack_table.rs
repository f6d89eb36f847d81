//! The attack table: one test per way of trying to get in or wear the
//! gateway down, each over real HTTP against the real router, each checking
//! the status, the JSON error code, and that nothing reached the media plane.
//!
//! The same table runs against the whole gateway with a live stream in
//! another room in `gateway/tests/bad_input.rs`, which checks that stream
//! keeps playing throughout.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use reqwest::StatusCode;
use samsyn_signaling::{Role, unix_now};

const ROOM: &str = "ward7abc23";

#[tokio::test]
async fn no_token_is_401_missing_token() {
    let gw = TestGateway::start().await;
    for request in [
        gw.http.post(gw.url(&format!("/whip/{ROOM}"))),
        // A scheme other than Bearer carries no token either.
        gw.http
            .post(gw.url(&format!("/whep/{ROOM}")))
            .basic_auth("nurse", Some("pw")),
    ] {
        let response = request
            .header("content-type", "application/sdp")
            .body(OFFER)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let message = assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
        assert!(message.contains("Authorization: Bearer"), "{message}");
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn garbage_token_is_401_invalid_token() {
    let gw = TestGateway::start().await;
    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"] {
        let response = gw.offer(&format!("/whip/{ROOM}"), garbage, OFFER).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn right_token_for_another_room_is_403_wrong_room() {
    let gw = TestGateway::start().await;
    let token = gw.token("otherroom1", Role::Publisher);

    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;

    assert_error(response, StatusCode::FORBIDDEN, "wrong_room").await;
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn expired_token_is_401_token_expired() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let an_hour_ago = unix_now() - 3600;
    let expired = sign_with_key_file(
        gw.data_dir.path(),
        &serde_json::json!({
            "room": ROOM, "role": "publisher", "iat": an_hour_ago - 60,
            "exp": an_hour_ago, "jti": "expired-1",
        }),
    );

    let response = gw.offer(&format!("/whip/{ROOM}"), &expired, OFFER).await;
    let message = assert_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    assert!(message.contains("new link"), "{message}");

    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn oversized_sdp_is_413_sdp_too_large() {
    let gw = TestGateway::start_with(|settings| settings.max_sdp_bytes = 2048).await;
    let token = gw.token(ROOM, Role::Publisher);
    let padding = "a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(64);
    let big = format!("{OFFER}{padding}");
    assert!(big.len() > 2048);

    let response = gw.offer(&format!("/whip/{ROOM}"), &token, big).await;

    let message = assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "sdp_too_large").await;
    assert!(
        message.contains("2048") && message.contains("limits.max_sdp_bytes"),
        "{message}"
    );
    assert!(gw.media.calls().is_empty());

    // The limit refuses the one request, nothing else.
    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn tampered_signature_is_401_invalid_token() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[7] ^= 0x20;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));

    let response = gw.offer(&format!("/whip/{ROOM}"), &tampered, OFFER).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn alg_none_is_401_invalid_token() {
    let gw = TestGateway::start().await;
    gw.room(ROOM);
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = b64(serde_json::json!({"alg": "none", "typ": "JWT"}));
    let claims = b64(serde_json::json!({
        "room": ROOM, "role": "publisher", "iat": unix_now(), "exp": unix_now() + 600,
        "jti": "forged",
    }));
    for unsigned in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        let response = gw.offer(&format!("/whip/{ROOM}"), &unsigned, OFFER).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn observer_token_on_whip_is_403_wrong_role() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Observer);
    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;
    let message = assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
    assert!(message.contains("publisher token"), "{message}");
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn specialist_token_on_the_admin_api_is_403_wrong_role() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Specialist);
    let attempts = [
        gw.http.post(gw.url("/api/rooms")),
        gw.http.get(gw.url("/api/rooms")),
        gw.http.delete(gw.url(&format!("/api/rooms/{ROOM}"))),
        gw.http.post(gw.url(&format!("/api/rooms/{ROOM}/tokens"))),
    ];
    for attempt in attempts {
        let response = attempt.bearer_auth(&token).send().await.unwrap();
        let message = assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
        assert!(message.contains("admin token"), "{message}");
    }
    // The room is still open.
    let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn token_reuse_after_the_room_ended_is_410_room_ended() {
    let gw = TestGateway::start().await;
    let specialist = gw.token(ROOM, Role::Specialist);
    let camera = gw.token(ROOM, Role::Publisher);
    let watching = gw.offer(&format!("/whep/{ROOM}"), &specialist, OFFER).await;
    assert_eq!(watching.status(), StatusCode::CREATED);

    let ended = gw
        .http
        .delete(gw.url(&format!("/api/rooms/{ROOM}")))
        .bearer_auth(gw.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert!(
        gw.media
            .calls()
            .contains(&Call::EndRoom { room: ROOM.into() }),
        "everyone was disconnected: {:?}",
        gw.media.calls()
    );

    let calls_before = gw.media.calls().len();
    for (path, token) in [("whep", &specialist), ("whip", &camera)] {
        let response = gw.offer(&format!("/{path}/{ROOM}"), token, OFFER).await;
        let message = assert_error(response, StatusCode::GONE, "room_ended").await;
        assert!(message.contains("ended"), "{message}");
    }
    let info = gw
        .http
        .get(gw.url(&format!("/api/rooms/{ROOM}")))
        .bearer_auth(&specialist)
        .send()
        .await
        .unwrap();
    assert_error(info, StatusCode::GONE, "room_ended").await;
    assert_eq!(gw.media.calls().len(), calls_before);
}

#[tokio::test]
async fn path_traversal_on_static_routes_is_404() {
    let gw = TestGateway::start().await;
    // Sent as written: the client must not normalise the dots away.
    for path in [
        "/r/assets/../../../etc/passwd",
        "/r/assets/..%2F..%2F..%2Fetc%2Fpasswd",
        "/r/assets/%2e%2e/%2e%2e/etc/passwd",
        "/r/assets/viewer.js/../../keys/token-signing.pk8",
        "/r/assets/%2e%2e%2fkeys%2ftoken-signing.pk8",
        "/r/..%2f..%2fkeys",
        "/keys/token-signing.pk8",
        "/r/assets/....//....//etc/passwd",
    ] {
        let (status, body) = raw_get(&gw.base, path).await;
        assert!(
            status == 404 || status == 400,
            "{path}: status {status}, body {body}"
        );
        assert!(!body.contains("root:"), "{path} leaked a file: {body}");
        assert!(
            body.contains("\"not_found\"") || body.contains("\"bad_room\""),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn too_many_viewers_is_409_room_full() {
    let gw = TestGateway::start().await;
    let token = gw.token(FULL_ROOM, Role::Specialist);
    let response = gw.offer(&format!("/whep/{FULL_ROOM}"), &token, OFFER).await;
    let message = assert_error(response, StatusCode::CONFLICT, "room_full").await;
    assert!(message.contains("limits.max_viewers_per_room"), "{message}");
}

#[tokio::test]
async fn too_many_requests_from_one_address_is_429_and_others_go_on() {
    let gw = TestGateway::start_with(|settings| {
        settings.rate_limit.burst = 3;
        settings.rate_limit.per_minute = 6;
    })
    .await;
    let token = gw.token(ROOM, Role::Specialist);
    for _ in 0..3 {
        let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let message = assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(message.contains("Retry-After"), "{message}");
    // Garbage tokens count too: the limit is what stops guessing.
    let response = gw.offer(&format!("/whep/{ROOM}"), "garbage", OFFER).await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Another client address is not held back, and neither is the page.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let response = other
        .post(gw.url(&format!("/whep/{ROOM}")))
        .bearer_auth(&token)
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let page = gw
        .http
        .get(gw.url(&format!("/r/{ROOM}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = TestGateway::start_with(|_| {}).await;
    let addr = gw.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Half a request line, then nothing: a slowloris client.
    stream.write_all(b"POST /whip/ward7abc23 HT").await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the connection was still open after 30 s without headers"
    );
}

/// GET `path` exactly as written, without any client-side normalisation;
/// returns the status and body.
async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}
