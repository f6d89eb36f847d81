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
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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

/// Sends a WHIP request whose headers say `Content-Length: content_length`
/// with a plain blocking socket, as simple clients do: the headers, then
/// `body_bytes` of body, only then reading. Returns what was read back and
/// how the writing ended.
fn write_then_read(
    base: &str,
    token: &str,
    content_length: u64,
    body_bytes: u64,
) -> (Vec<u8>, std::io::Result<()>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /whip/{ROOM} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {content_length}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0u64;
    let wrote = loop {
        if written >= body_bytes {
            break Ok(());
        }
        let n = chunk
            .len()
            .min(usize::try_from(body_bytes - written).unwrap());
        if let Err(err) = stream.write_all(&chunk[..n]) {
            break Err(err);
        }
        written += n as u64;
    };
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    (response, wrote)
}

#[tokio::test]
async fn a_4_mib_offer_gets_its_413_even_when_the_client_writes_before_it_reads() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let base = gw.base.clone();
    const BODY: u64 = 4 * 1024 * 1024;
    let (response, wrote) =
        tokio::task::spawn_blocking(move || write_then_read(&base, &token, BODY, BODY))
            .await
            .unwrap();
    let response = String::from_utf8_lossy(&response);
    wrote.unwrap_or_else(|err| panic!("the whole body could be sent, not {err}; got {response}"));
    assert!(response.starts_with("HTTP/1.1 413 "), "{response}");
    assert!(
        response.contains("application/json") && response.contains(r#""error":"sdp_too_large""#),
        "{response}"
    );
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn an_endless_body_is_read_away_only_for_a_bounded_while() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let base = gw.base.clone();
    // Claims a gibibyte and keeps sending it: the gateway answers, reads a
    // bounded amount for a bounded time, then closes the connection.
    const GIB: u64 = 1024 * 1024 * 1024;
    let started = std::time::Instant::now();
    let (response, wrote) =
        tokio::task::spawn_blocking(move || write_then_read(&base, &token, GIB, GIB))
            .await
            .unwrap();
    let took = started.elapsed();
    assert!(wrote.is_err(), "the gateway read the whole gibibyte");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // What it answered before closing, if the reset left it readable.
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 413 "),
        "{response}"
    );
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

    let ended = gw.end_room_via_api(ROOM).await;
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
    // A specialist each: one token's unconnected sessions have a cap of their own.
    for _ in 0..3 {
        let token = gw.token(ROOM, Role::Specialist);
        let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let token = gw.token(ROOM, Role::Specialist);
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

// Security review, issue 18: what one genuine link can do to everyone else.

/// The room events with a room-wide rate limit out of the way: these rows
/// are about what one token can do, not one address.
async fn gateway_for_many_requests() -> TestGateway {
    TestGateway::start_with(|settings| {
        settings.rate_limit.burst = 10_000;
        settings.rate_limit.per_minute = 10_000;
    })
    .await
}

#[tokio::test]
async fn one_link_cannot_take_a_rooms_events_sockets() {
    use samsyn_signaling::events::{
        MAX_SOCKETS_PER_ROOM, MAX_SOCKETS_PER_TOKEN, SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS,
    };
    let gw = gateway_for_many_requests().await;
    let observer = gw.token(ROOM, Role::Observer);
    // One link opening socket after socket holds two: each new one takes
    // the place of its oldest, which is told and closed.
    let (mut first, _) = Socket::join(&gw, ROOM, &observer).await;
    let mut open = Vec::new();
    for _ in 0..6 {
        open.push(Socket::join(&gw, ROOM, &observer).await.0);
    }
    let message = first.refused("replaced").await;
    assert!(message.contains("reload"), "{message}");
    first.closed_with(CloseCode::Policy).await;
    let room = samsyn_signaling::RoomId::parse(ROOM).unwrap();
    let sockets_of_the_link: u32 = gw
        .state
        .events
        .participants(&room)
        .iter()
        .map(|p| p.sockets)
        .sum();
    assert_eq!(sockets_of_the_link as usize, MAX_SOCKETS_PER_TOKEN);

    // Many observer links fill only the observers' part of the room.
    let observer_places = (MAX_SOCKETS_PER_ROOM - SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS) as usize;
    let mut observers = Vec::new();
    while observers.len() + MAX_SOCKETS_PER_TOKEN < observer_places {
        observers.push(
            Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Observer))
                .await
                .0,
        );
    }
    let mut one_too_many = Socket::open(&gw, ROOM).await;
    one_too_many
        .send(serde_json::json!({"v": 1, "type": "hello", "token": gw.token(ROOM, Role::Observer)}))
        .await;
    one_too_many.refused("room_full").await;
    // The specialist and the nurse's daemon still get in, and so does
    // another room.
    Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Publisher)).await;
    Socket::join(&gw, "otherroom1", &gw.token("otherroom1", Role::Observer)).await;
}

#[tokio::test]
async fn one_link_cannot_hold_viewer_places_with_offers_that_never_connect() {
    use samsyn_signaling::participants::MAX_PENDING_SESSIONS_PER_TOKEN;
    let gw = gateway_for_many_requests().await;
    let observer = gw.token(ROOM, Role::Observer);
    for _ in 0..MAX_PENDING_SESSIONS_PER_TOKEN {
        let response = gw.offer(&format!("/whep/{ROOM}"), &observer, OFFER).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let calls = gw.media.calls().len();
    let response = gw.offer(&format!("/whep/{ROOM}"), &observer, OFFER).await;
    let message = assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_pending_sessions",
    )
    .await;
    assert!(message.contains("still connecting"), "{message}");
    assert_eq!(
        gw.media.calls().len(),
        calls,
        "the media plane never saw it"
    );

    // A specialist of the room, and another room, are not held back.
    let specialist = gw.token(ROOM, Role::Specialist);
    let response = gw.offer(&format!("/whep/{ROOM}"), &specialist, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let elsewhere = gw.token("otherroom1", Role::Observer);
    let response = gw.offer("/whep/otherroom1", &elsewhere, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn ending_a_room_from_the_command_line_disconnects_chat_only_sockets() {
    let gw = TestGateway::start().await;
    // Nobody in either room has video: sockets only.
    let (mut chatting, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    let (mut elsewhere, _) =
        Socket::join(&gw, "otherroom1", &gw.token("otherroom1", Role::Specialist)).await;
    // `samsyn-gateway room end` writes the registry; the server notices.
    let room = samsyn_signaling::RoomId::parse(ROOM).unwrap();
    gw.state.rooms.end(&room).unwrap();
    tokio::spawn(gw.state.clone().keep_house(Duration::from_millis(50)));

    chatting.next_of("room_ended").await;
    chatting.closed_with(CloseCode::Away).await;
    elsewhere.chat("still here").await;
    assert_eq!(elsewhere.next_of("chat").await["text"], "still here");
}

#[tokio::test]
async fn quality_reports_without_a_video_session_are_refused() {
    let gw = TestGateway::start().await;
    let (mut observer, welcome) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Observer)).await;
    let (mut specialist, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    observer.next_of("participant").await;

    observer
        .send(serde_json::json!({"v": 1, "type": "quality", "loss_percent": 100.0}))
        .await;
    let message = observer.refused("no_media_session").await;
    assert!(message.contains("video"), "{message}");
    specialist.quiet().await;
    let room = samsyn_signaling::RoomId::parse(ROOM).unwrap();
    let participants = gw.state.events.participants(&room);
    let me = welcome["you"].as_str().unwrap();
    let entry = participants.iter().find(|p| p.id == me).unwrap();
    assert_eq!(entry.quality, None, "the room shows no made-up connection");
}

#[tokio::test]
async fn chat_that_would_take_over_a_terminal_is_refused() {
    let gw = TestGateway::start().await;
    let (mut specialist, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    let (mut nurse, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Publisher)).await;
    specialist.next_of("participant").await;
    for hostile in [
        "\u{1b}[2J\u{1b}[Hthe room has ended",
        "ok\r\nchat: the camera (publisher): fake line",
        "nul\0byte",
        "\u{202E}txet desrever",
        "bell\u{7}",
    ] {
        specialist.chat(hostile).await;
        let message = specialist.refused("bad_chat_text").await;
        assert!(message.contains("one line"), "{message}");
    }
    nurse.quiet().await;
    specialist.chat("Turn the foot a little, please").await;
    assert_eq!(
        nurse.next_of("chat").await["text"],
        "Turn the foot a little, please"
    );
}

#[tokio::test]
async fn labels_and_names_with_direction_or_invisible_characters_are_refused() {
    let gw = TestGateway::start().await;
    let admin = gw.admin_token();
    let create = |body: serde_json::Value| {
        gw.http
            .post(gw.url("/api/rooms"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    for label in [
        "Ward 4 \u{202E}tisiv emoH",
        "Home\u{200B}visit",
        "a\u{2066}b",
    ] {
        let response = create(serde_json::json!({"label": label})).await.unwrap();
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_label").await;
        assert!(message.contains("U+"), "{message}");
    }
    // What is kept is in NFC.
    let response = create(serde_json::json!({"label": "A\u{030A}s, home visit"}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let room: serde_json::Value = response.json().await.unwrap();
    let record = gw
        .state
        .rooms
        .get(&samsyn_signaling::RoomId::parse(room["room"].as_str().unwrap()).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.label, "\u{00C5}s, home visit");

    gw.room(ROOM);
    for name in [
        "Dr.\u{200B}Berg",
        "Dr. \u{202E}greB",
        "Dr.\u{FEFF}",
        "Dr.\nBerg",
    ] {
        let response = gw
            .http
            .post(gw.url(&format!("/api/rooms/{ROOM}/tokens")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"role": "specialist", "name": name}))
            .send()
            .await
            .unwrap();
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_request_body").await;
        assert!(message.contains("the name"), "{message}");
    }
}

#[tokio::test]
async fn a_photo_that_does_not_decode_is_refused_and_photos_are_served_inert() {
    let gw = TestGateway::start().await;
    let camera = gw.token(ROOM, Role::Publisher);
    let upload = |body: Vec<u8>| {
        gw.http
            .post(gw.url(&format!("/api/rooms/{ROOM}/photos")))
            .bearer_auth(&camera)
            .header("content-type", "image/jpeg")
            .body(body)
            .send()
    };
    // A real frame header, then a page instead of the picture.
    let mut polyglot = jpeg_picture(64, 48);
    let scan = polyglot.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    polyglot.truncate(scan);
    polyglot.extend(b"<html><body><script>alert(document.cookie)</script></body></html>");
    let response = upload(polyglot).await.unwrap();
    let message = assert_error(response, StatusCode::BAD_REQUEST, "not_a_jpeg").await;
    assert!(message.contains("decode"), "{message}");
    assert!(gw.state.photos.rooms().is_empty(), "nothing was kept");

    let response = upload(jpeg_picture(64, 48)).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = response.json().await.unwrap();
    let photo = gw
        .http
        .get(gw.url(created["url"].as_str().unwrap()))
        .bearer_auth(gw.token(ROOM, Role::Specialist))
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()["x-content-type-options"], "nosniff");
    let csp = photo.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn photos_beyond_the_gateways_photo_memory_are_refused_with_507() {
    let picture = jpeg_picture(64, 48);
    let budget = picture.len() * 3;
    let gw = TestGateway::start_with(|settings| settings.max_photo_memory_bytes = budget).await;
    let upload = |room: &'static str| {
        let token = gw.token(room, Role::Publisher);
        gw.http
            .post(gw.url(&format!("/api/rooms/{room}/photos")))
            .bearer_auth(token)
            .header("content-type", "image/jpeg")
            .body(picture.clone())
            .send()
    };
    for _ in 0..3 {
        assert_eq!(upload(ROOM).await.unwrap().status(), StatusCode::CREATED);
    }
    let response = upload("otherroom1").await.unwrap();
    let message = assert_error(
        response,
        StatusCode::INSUFFICIENT_STORAGE,
        "photo_memory_full",
    )
    .await;
    assert!(
        message.contains("limits.max_photo_memory_bytes") && message.contains("end finished rooms"),
        "{message}"
    );
    // Ending the room frees its photos' memory for the others.
    let response = gw.end_room_via_api(ROOM).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        upload("otherroom1").await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn one_token_cannot_roll_the_audit_trail_over() {
    use samsyn_signaling::audit::{AuditEvent, LINES_PER_MINUTE, read_trail};
    let gw = gateway_for_many_requests().await;
    let observer = gw.token(ROOM, Role::Observer);
    for _ in 0..40 {
        let (socket, _) = Socket::join(&gw, ROOM, &observer).await;
        drop(socket);
    }
    // The closes reach the server a moment later; each is in the trail
    // before the room hears of it.
    let room = samsyn_signaling::RoomId::parse(ROOM).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gw.state.events.participants(&room).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the sockets closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let specialist = gw.token(ROOM, Role::Specialist);
    Socket::join(&gw, ROOM, &specialist).await;

    let trail =
        |gw: &TestGateway| read_trail(gw.data_dir.path(), |_, _| panic!("bad line")).unwrap();
    let lines_of = |records: &[samsyn_signaling::audit::AuditRecord], kinds: &[&str]| {
        records
            .iter()
            .filter(|r| kinds.contains(&r.event.kind()))
            .count()
    };
    let records = trail(&gw);
    assert_eq!(
        lines_of(&records, &["events_joined", "events_left"]),
        LINES_PER_MINUTE as usize + 1,
        "the link's first lines, then the specialist's join"
    );
    // When its minute is over, one line counts the rest.
    gw.state.audit.write_summaries(unix_now() + 61);
    let records = trail(&gw);
    let summaries: Vec<&AuditEvent> = records
        .iter()
        .map(|r| &r.event)
        .filter(|e| e.kind() == "summarized")
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let AuditEvent::Summarized { counts, role, .. } = summaries[0] else {
        unreachable!()
    };
    assert_eq!(role.as_deref(), Some("observer"));
    assert_eq!(
        counts.values().sum::<u32>() as usize + LINES_PER_MINUTE as usize,
        80,
        "every join and leave is accounted for: {counts:?}"
    );
}
