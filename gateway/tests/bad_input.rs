//! Bad requests get the right refusal, and none of them disturbs a room that
//! is streaming: the real gateway, the real capture daemon publishing in
//! room A with a WHEP viewer decoding it, while room B (and room A, with the
//! wrong credentials) is sent every kind of wrong request over HTTP: the
//! attack table of the security model (each row also has a test of its own
//! in `signaling/tests/attack_table.rs`, which also tries path traversal on
//! the same router), request-shape mistakes, connection tests reached with
//! another publisher token or beyond a room's slots, and a flood from one
//! address.
//! In a private network namespace; needs root.

#[allow(dead_code)] // Only a client's offer is taken from the in-memory harness.
#[path = "support/loopback.rs"]
mod loopback;
mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode, header};
use samsyn_gateway::media::admission::MAX_CONNECTION_TESTS_PER_ROOM;
use support::netns::{self, GATEWAY_IP};
use support::{Capture, Gateway, runtime, start_viewer};

const SDP: &str = "application/sdp";
const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// Passes the gateway's shape check (first line `v=0`, an `m=` line) and
/// nothing more.
const SHAPED_OFFER: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
/// Shaped like SDP, but no usable offer: no port, no protocol, no ICE, no DTLS.
const BOGUS_OFFER: &str = "v=0\r\nm=video bogus\r\n";

/// The same token with one character of its signature changed. The middle
/// one: the last character of a base64url signature carries padding bits a
/// decoder may ignore.
fn tamper_signature(token: &str) -> String {
    let (signed, signature) = token
        .rsplit_once('.')
        .expect("a token has a signature part");
    let mut signature = signature.as_bytes().to_vec();
    let i = signature.len() / 2;
    signature[i] = if signature[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{signed}.{}", String::from_utf8(signature).unwrap());
    assert_ne!(tampered, token);
    tampered
}

/// An unsigned token (`alg: none`) claiming to be a publisher of `room`.
fn unsigned_token(room: &str) -> String {
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let now = now_secs();
    format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(serde_json::json!({
            "room": room, "role": "publisher", "iat": now, "exp": now + 600, "jti": "forged"
        }))
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A real WebRTC offer of a camera-like client, as `samsyn-bench connect`
/// sends for a connection test (nothing answers its ICE checks here).
fn connection_test_offer(port: u16) -> String {
    let now = Instant::now();
    loopback::Client::camera(&format!("10.213.0.50:{port}"), now).offer(now)
}

/// An SDP-shaped body of `size` bytes.
fn oversized_offer(size: usize) -> String {
    let mut body = String::from(SHAPED_OFFER);
    while body.len() < size {
        body.push_str("a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
    }
    body
}

/// One HTTP request to the gateway.
struct Request<'a> {
    method: Method,
    path: String,
    token: Option<&'a str>,
    content_type: Option<&'a str>,
    body: Option<String>,
}

impl<'a> Request<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            content_type: None,
            body: None,
        }
    }

    fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    fn body(mut self, content_type: &'a str, body: impl Into<String>) -> Self {
        self.content_type = Some(content_type);
        self.body = Some(body.into());
        self
    }

    /// An SDP offer that passes the shape check.
    fn offer(self) -> Self {
        self.body(SDP, SHAPED_OFFER)
    }
}

struct Client {
    http: reqwest::Client,
    base_url: String,
    cases: usize,
}

impl Client {
    async fn send(&self, request: Request<'_>) -> reqwest::Response {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self.http.request(request.method.clone(), &url);
        if let Some(token) = request.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(content_type) = request.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        builder
            .send()
            .await
            .unwrap_or_else(|err| panic!("{} {} got no answer: {err}", request.method, url))
    }

    /// Sends `request` and checks the refusal: `status`, JSON content type,
    /// `{"error": code, "message": <non-empty>}`, and for 401 the
    /// `WWW-Authenticate: Bearer` challenge.
    async fn refused(&mut self, case: &str, request: Request<'_>, status: StatusCode, code: &str) {
        self.cases += 1;
        let response = self.send(request).await;
        let got_status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned());
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned());
        let text = response.text().await.expect("the body can be read");
        println!("{case}: {got_status} {text}");
        assert_eq!(got_status, status, "{case}: status (body {text})");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{case}: Content-Type of the error body"
        );
        let body: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{case}: the body is not JSON ({err}): {text}"));
        assert_eq!(body["error"], code, "{case}: error code in {text}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            !message.trim().is_empty(),
            "{case}: the message must say what to do: {text}"
        );
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                challenge.as_deref(),
                Some("Bearer"),
                "{case}: a 401 names the scheme to retry with"
            );
        }
    }
}

#[test]
fn bad_requests_get_clear_refusals_and_the_live_room_keeps_streaming() {
    if !netns::isolate("bad_requests_get_clear_refusals_and_the_live_room_keeps_streaming") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    // One viewer per room, so "too many viewers" can be provoked beside the
    // one viewer of room A; a rate limit that the main client stays under
    // but a flood does not.
    let gateway = Gateway::start_with_env(
        GATEWAY_IP,
        &[
            ("SAMSYN_LIMITS__MAX_VIEWERS_PER_ROOM", "1"),
            ("SAMSYN_LIMITS__REQUESTS_PER_MINUTE", "600"),
            ("SAMSYN_LIMITS__REQUEST_BURST", "120"),
        ],
    );
    let a = gateway.create_room();
    let b = gateway.create_room();
    let ended = gateway.create_room();
    let admin = gateway.admin_token();
    assert_ne!(a.room, b.room);
    let _camera = Capture::test_source(&gateway, &a, 640, 360);

    runtime().block_on(async {
        let mut viewer = start_viewer(&a).await;
        let report = viewer
            .wait_frames(30, Duration::from_secs(10))
            .await
            .unwrap_or_else(|err| panic!("room A's viewer did not decode 30 frames: {err}"));
        let frames_before = report.frames;
        println!(
            "room A is live: {} frames of {}x{}",
            report.frames, report.width, report.height
        );

        let mut client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base_url: gateway.base_url.clone(),
            cases: 0,
        };
        let whip_b = format!("/whip/{}", b.room);
        let whep_b = format!("/whep/{}", b.room);
        let whip_a = format!("/whip/{}", a.room);
        let whep_a = format!("/whep/{}", a.room);
        let tampered = tamper_signature(&b.publisher_token);
        let started = Instant::now();

        // Who may do what.
        let c = &mut client;
        c.refused(
            "WHIP without Authorization",
            Request::post(&whip_b).offer(),
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
        c.refused(
            "WHIP with a garbage token",
            Request::post(&whip_b).token("garbage").offer(),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        c.refused(
            "WHIP with a tampered signature",
            Request::post(&whip_b).token(&tampered).offer(),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        c.refused(
            "WHIP to B with A's publisher token",
            Request::post(&whip_b).token(&a.publisher_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_room",
        )
        .await;
        c.refused(
            "WHIP with B's viewer token",
            Request::post(&whip_b).token(&b.viewer_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_role",
        )
        .await;
        // A publisher token on WHEP is the camera's talk-back, which needs
        // the camera to be there first.
        c.refused(
            "WHEP with B's publisher token before B's camera",
            Request::post(&whep_b).token(&b.publisher_token).offer(),
            StatusCode::CONFLICT,
            "no_publisher",
        )
        .await;
        let unsigned = unsigned_token(&b.room);
        c.refused(
            "WHIP with an unsigned token (alg: none)",
            Request::post(&whip_b).token(&unsigned).offer(),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        let an_hour_ago = now_secs() - 3600;
        let expired = gateway.sign(serde_json::json!({
                "room": b.room, "role": "publisher", "iat": an_hour_ago - 60,
                "exp": an_hour_ago, "jti": "expired",
        }));
        c.refused(
            "WHIP with an expired token",
            Request::post(&whip_b).token(&expired).offer(),
            StatusCode::UNAUTHORIZED,
            "token_expired",
        )
        .await;
        c.refused(
            "WHIP with B's observer token",
            Request::post(&whip_b).token(&b.observer_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_role",
        )
        .await;
        for (method, path) in [
            (Method::POST, "/api/rooms".to_owned()),
            (Method::GET, "/api/rooms".to_owned()),
            (Method::DELETE, format!("/api/rooms/{}", a.room)),
        ] {
            c.refused(
                &format!("{method} {path} with a specialist token"),
                Request::new(method.clone(), path).token(&a.viewer_token),
                StatusCode::FORBIDDEN,
                "wrong_role",
            )
            .await;
        }

        // A room ended by the hospital: its links stop working at once.
        let end = c
            .send(Request::new(Method::DELETE, format!("/api/rooms/{}", ended.room)).token(&admin))
            .await;
        assert_eq!(
            end.status(),
            StatusCode::NO_CONTENT,
            "DELETE /api/rooms/<room>"
        );
        c.refused(
            "WHEP to an ended room with its specialist token",
            Request::post(format!("/whep/{}", ended.room))
                .token(&ended.viewer_token)
                .offer(),
            StatusCode::GONE,
            "room_ended",
        )
        .await;
        c.refused(
            "WHIP to an ended room with its publisher token",
            Request::post(format!("/whip/{}", ended.room))
                .token(&ended.publisher_token)
                .offer(),
            StatusCode::GONE,
            "room_ended",
        )
        .await;

        // What the body may be.
        c.refused(
            "WHIP with Content-Type text/plain",
            Request::post(&whip_b)
                .token(&b.publisher_token)
                .body("text/plain", SHAPED_OFFER),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        c.refused(
            "WHIP with body \"hello\"",
            Request::post(&whip_b)
                .token(&b.publisher_token)
                .body(SDP, "hello"),
            StatusCode::BAD_REQUEST,
            "malformed_sdp",
        )
        .await;
        c.refused(
            "WHIP with a bogus m= line only",
            Request::post(&whip_b)
                .token(&b.publisher_token)
                .body(SDP, BOGUS_OFFER),
            StatusCode::BAD_REQUEST,
            "bad_offer",
        )
        .await;
        c.refused(
            "WHIP with a 200 KiB body",
            Request::post(&whip_b)
                .token(&b.publisher_token)
                .body(SDP, oversized_offer(200 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "sdp_too_large",
        )
        .await;

        // A room without a camera. The refused offers above left none behind.
        c.refused(
            "WHEP to B with no camera",
            Request::post(&whep_b).token(&b.viewer_token).offer(),
            StatusCode::CONFLICT,
            "no_publisher",
        )
        .await;

        // Sessions that do not exist.
        let candidate = "a=candidate:1 1 udp 2130706431 10.213.0.2 40000 typ host\r\n";
        for (prefix, token) in [(&whip_b, &b.publisher_token), (&whep_b, &b.viewer_token)] {
            c.refused(
                &format!("DELETE {prefix}/<unknown session>"),
                Request::new(Method::DELETE, format!("{prefix}/nosuchsession")).token(token),
                StatusCode::NOT_FOUND,
                "unknown_session",
            )
            .await;
            c.refused(
                &format!("PATCH {prefix}/<unknown session>"),
                Request::new(Method::PATCH, format!("{prefix}/nosuchsession"))
                    .token(token)
                    .body(SDPFRAG, candidate),
                StatusCode::NOT_FOUND,
                "unknown_session",
            )
            .await;
        }
        c.refused(
            "DELETE of a session id that cannot be one",
            Request::new(Method::DELETE, format!("{whip_b}/no!such")).token(&b.publisher_token),
            StatusCode::NOT_FOUND,
            "unknown_session",
        )
        .await;

        // Room ids that cannot be rooms; checked before the token.
        for path in ["/whip/..%2F..", "/whip/UPPER!", "/whep/UPPER!", "/r/UPPER!"] {
            let request = if path.starts_with("/r/") {
                Request::new(Method::GET, path)
            } else {
                Request::post(path).offer()
            };
            c.refused(path, request, StatusCode::BAD_REQUEST, "bad_room")
                .await;
        }

        let c = &mut client;

        // Room A, live, with the wrong credentials: nothing gets through.
        c.refused(
            "WHIP to live A with A's viewer token",
            Request::post(&whip_a).token(&a.viewer_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_role",
        )
        .await;
        c.refused(
            "WHIP to live A with B's publisher token",
            Request::post(&whip_a).token(&b.publisher_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_room",
        )
        .await;
        c.refused(
            "WHEP to live A with B's viewer token",
            Request::post(&whep_a).token(&b.viewer_token).offer(),
            StatusCode::FORBIDDEN,
            "wrong_room",
        )
        .await;
        c.refused(
            "WHEP to live A with a garbage token",
            Request::post(&whep_a).token("garbage").offer(),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        c.refused(
            "DELETE on live A without a token",
            Request::new(Method::DELETE, format!("{whip_a}/anysession")),
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
        c.refused(
            "DELETE on live A's WHIP with A's viewer token",
            Request::new(Method::DELETE, format!("{whip_a}/anysession")).token(&a.viewer_token),
            StatusCode::FORBIDDEN,
            "wrong_role",
        )
        .await;
        c.refused(
            "DELETE on live A's WHEP with B's viewer token",
            Request::new(Method::DELETE, format!("{whep_a}/anysession")).token(&b.viewer_token),
            StatusCode::FORBIDDEN,
            "wrong_room",
        )
        .await;
        // The right token with a broken offer must not replace the camera.
        c.refused(
            "WHIP to live A with its publisher token and a bogus offer",
            Request::post(&whip_a)
                .token(&a.publisher_token)
                .body(SDP, BOGUS_OFFER),
            StatusCode::BAD_REQUEST,
            "bad_offer",
        )
        .await;

        // Room A has its one viewer already.
        c.refused(
            "WHEP to live A beyond limits.max_viewers_per_room",
            Request::post(&whep_a).token(&a.viewer_token).offer(),
            StatusCode::CONFLICT,
            "room_full",
        )
        .await;
        // A second camera with a token of its own may not take A over.
        let second_camera = c
            .send(
                Request::new(Method::POST, format!("/api/rooms/{}/tokens", a.room))
                    .token(&admin)
                    .body("application/json", r#"{"role":"publisher"}"#),
            )
            .await;
        assert_eq!(second_camera.status(), StatusCode::CREATED);
        let second_camera: serde_json::Value = second_camera.json().await.unwrap();
        c.refused(
            "WHIP to live A from a second camera",
            Request::post(&whip_a)
                .token(second_camera["token"].as_str().unwrap())
                .offer(),
            StatusCode::CONFLICT,
            "camera_in_use",
        )
        .await;

        // Connection tests: only the token that started one reads or ends
        // it, and each room has its own few slots.
        let second_camera = second_camera["token"].as_str().unwrap();
        let probe_a = format!("/probe/{}", a.room);
        let mut tests = Vec::new();
        for n in 0..MAX_CONNECTION_TESTS_PER_ROOM {
            let started = c
                .send(
                    Request::post(&probe_a)
                        .token(&a.publisher_token)
                        .body(SDP, connection_test_offer(41000 + n as u16)),
                )
                .await;
            assert_eq!(
                started.status(),
                StatusCode::CREATED,
                "connection test {n} in A"
            );
            tests.push(
                started.headers()[header::LOCATION]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        c.refused(
            "GET the camera's connection test with A's second publisher token",
            Request::new(Method::GET, &tests[0]).token(second_camera),
            StatusCode::NOT_FOUND,
            "unknown_session",
        )
        .await;
        c.refused(
            "DELETE the camera's connection test with A's second publisher token",
            Request::new(Method::DELETE, &tests[0]).token(second_camera),
            StatusCode::NOT_FOUND,
            "unknown_session",
        )
        .await;
        c.refused(
            "a connection test beyond room A's slots",
            Request::post(&probe_a)
                .token(&a.publisher_token)
                .body(SDP, connection_test_offer(41100)),
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connection_tests",
        )
        .await;
        let in_b = c
            .send(
                Request::post(format!("/probe/{}", b.room))
                    .token(&b.publisher_token)
                    .body(SDP, connection_test_offer(41200)),
            )
            .await;
        assert_eq!(
            in_b.status(),
            StatusCode::CREATED,
            "room B tests its line while A's slots are taken"
        );
        let in_b = in_b.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let own = c
            .send(Request::new(Method::GET, &tests[0]).token(&a.publisher_token))
            .await;
        assert_eq!(
            own.status(),
            StatusCode::OK,
            "the camera reads its own test"
        );
        for (test, token) in tests
            .iter()
            .map(|t| (t, &a.publisher_token))
            .chain([(&in_b, &b.publisher_token)])
        {
            let ended = c
                .send(Request::new(Method::DELETE, test).token(token))
                .await;
            assert_eq!(ended.status(), StatusCode::OK, "DELETE {test}");
        }

        c.refused(
            "WHEP to B with no camera, after all of the above",
            Request::post(&whep_b).token(&b.viewer_token).offer(),
            StatusCode::CONFLICT,
            "no_publisher",
        )
        .await;

        // A flood of guesses from one other address is cut off with 429;
        // the main client's address is not.
        let flooder = reqwest::Client::builder()
            .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut limited_after = None;
        for attempt in 1..=200 {
            let response = flooder
                .post(format!("{}{whip_b}", gateway.base_url))
                .bearer_auth(format!("guess-{attempt}"))
                .header(header::CONTENT_TYPE, SDP)
                .body(SHAPED_OFFER)
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key(header::RETRY_AFTER));
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"], "rate_limited");
                limited_after = Some(attempt);
                break;
            }
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let limited_after = limited_after.expect("a flood of 200 guesses was never limited");
        println!("a flood from 127.0.0.3 was limited after {limited_after} requests");
        assert!(
            limited_after > 100,
            "the burst allowance was too small: {limited_after}"
        );
        client.cases += 1;
        let c = &mut client;
        c.refused(
            "WHEP to B with no camera, from the main client after the flood",
            Request::post(&whep_b).token(&b.viewer_token).offer(),
            StatusCode::CONFLICT,
            "no_publisher",
        )
        .await;
        let elapsed = started.elapsed();

        // Room A streamed on through all of it.
        let during = viewer.report().expect("frames were decoded").frames;
        let after = viewer
            .wait_frames(during + 30, Duration::from_secs(5))
            .await
            .unwrap_or_else(|err| panic!("room A stopped streaming after the bad requests: {err}"));
        println!(
            "{} refused requests in {} ms; room A's viewer: {frames_before} frames before, \
             {during} after them, then {} (waited for +30)",
            client.cases,
            elapsed.as_millis(),
            after.frames
        );

        let health = client.send(Request::new(Method::GET, "/healthz")).await;
        assert_eq!(health.status(), StatusCode::OK, "GET /healthz");

        viewer.stop().await.expect("WHEP DELETE succeeds");
    });
}
