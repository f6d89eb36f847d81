//! The WHIP/WHEP client against a canned HTTP server: status codes become
//! errors that say what to do, a 201 becomes a session, and the relays an
//! `OPTIONS` announces reach the session's webrtcbin.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{canned_http, response};
use gstreamer::prelude::*;
use samsyn_capture::audio::VoiceInput;
use samsyn_capture::publish;
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;
use samsyn_capture::webrtc::{Publisher, PublisherOptions};
use samsyn_capture::whip::{SessionKind, WhipClient, WhipError, endpoint_url};
use url::Url;

const OFFER: &str = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
const ANSWER: &str = "v=0\r\no=- 2 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

/// What the client makes of the gateway answering a POST of an offer to
/// `room`'s endpoint with `status` and a JSON error `body`; and that URL.
async fn refused(kind: SessionKind, room: &str, status: &str, body: &str) -> (WhipError, Url) {
    let (base, _requests) = canned_http(vec![response(
        status,
        &[("content-type", "application/json")],
        body,
    )])
    .await;
    let url = endpoint_url(&base, kind, room).unwrap();
    let err = WhipClient::new(kind, "tok")
        .post_offer(&url, OFFER)
        .await
        .unwrap_err();
    (err, url)
}

#[tokio::test]
async fn unauthorized_names_the_room_and_the_fix() {
    let (err, _) = refused(
        SessionKind::Publish,
        "ward7",
        "401 Unauthorized",
        r#"{"error":"bad_token","message":"token expired"}"#,
    )
    .await;
    assert!(
        matches!(err, WhipError::TokenRefused { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the gateway refused the token for room ward7 (wrong or expired); ask for a new publisher token"
    );
}

#[tokio::test]
async fn forbidden_viewer_asks_for_a_viewing_token() {
    let (err, _) = refused(
        SessionKind::View,
        "ward7",
        "403 Forbidden",
        r#"{"error":"forbidden","message":"no"}"#,
    )
    .await;
    assert!(
        err.to_string()
            .ends_with("ask for a new specialist or observer token"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_room() {
    let (err, _) = refused(
        SessionKind::Publish,
        "ward9",
        "404 Not Found",
        r#"{"error":"room_not_found","message":"no such room"}"#,
    )
    .await;
    let text = err.to_string();
    assert!(
        text.starts_with("room ward9 is unknown to the gateway"),
        "{text}"
    );
    assert!(text.contains("--room"), "{text}");
}

#[tokio::test]
async fn an_ended_consultation_is_final_and_says_what_to_do() {
    let (err, _) = refused(
        SessionKind::Publish,
        "ward7",
        "410 Gone",
        r#"{"error":"room_ended","message":"this consultation has ended"}"#,
    )
    .await;
    assert!(matches!(err, WhipError::RoomEnded { .. }), "{err:?}");
    assert!(
        err.is_permanent(),
        "no retry brings an ended consultation back"
    );
    assert_eq!(err.status(), Some(410));
    assert_eq!(
        err.to_string(),
        "the consultation in room ward7 has ended: the hospital closed it and its links no \
         longer work; ask the hospital for a new link if it should go on"
    );
}

#[tokio::test]
async fn other_errors_show_the_gateways_explanation() {
    let (err, url) = refused(
        SessionKind::Publish,
        "ward7",
        "409 Conflict",
        r#"{"error":"publisher_present","message":"the room already has a publisher"}"#,
    )
    .await;
    assert_eq!(err.status(), Some(409));
    assert_eq!(
        err.to_string(),
        format!(
            "the gateway at {url} answered 409: the room already has a publisher (publisher_present)"
        )
    );
}

#[tokio::test]
async fn unreachable_gateway() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let err = WhipClient::new(SessionKind::Publish, "tok")
        .post_offer(&url, OFFER)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("gateway unreachable at {url}: ")),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("refused"),
        "the cause is given: {text}"
    );
    assert!(
        text.ends_with("check --gateway and that samsyn-gateway is running"),
        "{text}"
    );
}

#[tokio::test]
async fn created_session_and_delete() {
    let (base, mut requests) = canned_http(vec![
        response(
            "201 Created",
            &[
                ("content-type", "application/sdp"),
                ("location", "../session/abc123"),
                ("etag", "\"v1\""),
                ("link", "<stun:stun.example.net:3478>; rel=\"ice-server\""),
            ],
            ANSWER,
        ),
        response("204 No Content", &[], ""),
    ])
    .await;
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let client = WhipClient::new(SessionKind::Publish, "secret-token");
    let session = client
        .post_offer(&url, OFFER)
        .await
        .expect("session is created");

    assert_eq!(session.answer, ANSWER);
    assert_eq!(session.location.as_str(), format!("{base}session/abc123"));
    assert_eq!(session.etag.as_deref(), Some("\"v1\""));
    assert_eq!(session.ice_servers[0].url, "stun:stun.example.net:3478");
    assert!(
        !format!("{session:?}").contains("v=0"),
        "no SDP in Debug output"
    );
    assert!(
        !format!("{client:?}").contains("secret-token"),
        "no token in Debug output"
    );

    let post = requests.recv().await.unwrap();
    assert!(
        post.head.starts_with("POST /whip/ward7 HTTP/1.1"),
        "{}",
        post.head
    );
    assert_eq!(post.header("content-type"), Some("application/sdp"));
    assert_eq!(post.header("authorization"), Some("Bearer secret-token"));
    assert_eq!(post.body, OFFER);

    client.delete(&session).await.expect("session is deleted");
    let delete = requests.recv().await.unwrap();
    assert!(
        delete.head.starts_with("DELETE /session/abc123 HTTP/1.1"),
        "{}",
        delete.head
    );
    assert_eq!(delete.header("authorization"), Some("Bearer secret-token"));
}

#[tokio::test]
async fn success_without_location_is_not_whip() {
    let (base, _requests) = canned_http(vec![response(
        "201 Created",
        &[("content-type", "application/sdp")],
        ANSWER,
    )])
    .await;
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let err = WhipClient::new(SessionKind::Publish, "tok")
        .post_offer(&url, OFFER)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no Location header"), "{err}");
}

/// A publisher of a small test picture, ICE pinned to loopback.
fn test_publisher() -> Publisher {
    common::init();
    Publisher::build(&PublisherOptions {
        source: SourceSpec::Test,
        video: VideoSettings {
            width: 320,
            height: 240,
            fps: 15,
            codec: VideoCodec::H264,
            bitrate_kbps: 300,
            x264_preset: Default::default(),
        },
        photo_mode: Default::default(),
        audio: VoiceInput::Off,
        echo_reference: None,
        ice_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    })
    .expect("the test publisher builds")
}

/// A stand-in relay: records where each TCP connection comes from and
/// its first bytes (a TURN request), and never answers.
async fn silent_relay() -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut first = vec![0u8; 64];
                let n = stream.read(&mut first).await.unwrap_or(0);
                first.truncate(n);
                let _ = tx.send((peer, first));
                // Keep the connection open, silent, until the test ends.
                let _ = stream.read(&mut [0u8; 64]).await;
            });
        }
    });
    (port, rx)
}

/// Undoes percent-encoding (`%XX`).
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// webrtcbin's `turn-server` as (user, password, the rest): its getter
/// escapes the user info once more than it was given, and webrtcbin
/// splits the user info at the first ':' before unescaping each side.
fn turn_server_of(webrtcbin: &gstreamer::Element) -> Option<(String, String, String)> {
    let uri = unescape(&webrtcbin.property::<Option<String>>("turn-server")?);
    let (userinfo, rest) = uri.strip_prefix("turn://")?.split_once('@')?;
    let (user, pass) = userinfo.split_once(':')?;
    Some((unescape(user), unescape(pass), rest.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_of_options_reach_webrtcbin_before_the_offer_is_posted() {
    let (first_port, mut first_relay) = silent_relay().await;
    let (second_port, mut second_relay) = silent_relay().await;
    let (base, mut requests) = canned_http(vec![
        response(
            "204 No Content",
            &[
                // Two links comma-joined in one header, a third in another.
                (
                    "link",
                    &format!(
                        "<turns:127.0.0.1:{first_port}?transport=tcp>; rel=\"ice-server\"; \
                         username=\"1700000000:abc\"; credential=\"a/b+c==\"; \
                         credential-type=\"password\", \
                         <turn:127.0.0.1:{first_port}?transport=tcp>; rel=\"ice-server\"; \
                         username=\"1700000000:abc\"; credential=\"a/b+c==\"; \
                         credential-type=\"password\""
                    ),
                ),
                (
                    "link",
                    &format!(
                        "<turn:127.0.0.1:{second_port}?transport=tcp>; rel=\"ice-server\"; \
                         username=\"1700000000:def\"; credential=\"x,y\"; \
                         credential-type=\"password\""
                    ),
                ),
                ("link", "<stun:127.0.0.1:3478>; rel=\"ice-server\""),
            ],
            "",
        ),
        response(
            "201 Created",
            &[
                ("content-type", "application/sdp"),
                ("location", "/session/1"),
            ],
            ANSWER,
        ),
    ])
    .await;
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let client = WhipClient::new(SessionKind::Publish, "pub-token");
    let mut publisher = test_publisher();

    let opened = publish::open_session(&client, &url, &mut publisher)
        .await
        .expect("the session opens");

    let options = requests.recv().await.unwrap();
    assert!(
        options.head.starts_with("OPTIONS /whip/ward7 HTTP/1.1"),
        "OPTIONS comes first: {}",
        options.head
    );
    assert_eq!(options.header("authorization"), Some("Bearer pub-token"));
    let post = requests.recv().await.unwrap();
    assert!(post.head.starts_with("POST /whip/ward7 "), "{}", post.head);
    assert_eq!(post.body, opened.offer);

    let webrtcbin = publisher.webrtcbin().expect("the session has a webrtcbin");
    assert_eq!(
        turn_server_of(webrtcbin),
        Some((
            "1700000000:abc".into(),
            "a/b+c==".into(),
            format!("127.0.0.1:{first_port}?transport=tcp")
        )),
        "the first TURN relay (turns: left out) is webrtcbin's turn-server"
    );
    assert_eq!(
        webrtcbin
            .property::<Option<String>>("stun-server")
            .as_deref(),
        Some("stun://127.0.0.1:3478")
    );
    // Both relays, the second given with add-turn-server, are asked for an
    // allocation (a TURN Allocate request, method 0x003) from the pinned
    // address.
    for relay in [&mut first_relay, &mut second_relay] {
        let (peer, request) = tokio::time::timeout(Duration::from_secs(5), relay.recv())
            .await
            .ok()
            .flatten()
            .expect("ICE connected to the relay");
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(request.get(..2), Some(&[0x00, 0x03][..]), "{request:02x?}");
    }
    publisher.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_relays_still_publishes() {
    let (base, mut requests) = canned_http(vec![
        response("405 Method Not Allowed", &[("allow", "POST")], ""),
        response(
            "201 Created",
            &[
                ("content-type", "application/sdp"),
                ("location", "/session/1"),
            ],
            ANSWER,
        ),
    ])
    .await;
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let client = WhipClient::new(SessionKind::Publish, "pub-token");
    let mut publisher = test_publisher();

    let opened = publish::open_session(&client, &url, &mut publisher)
        .await
        .expect("a 405 on OPTIONS does not stop publishing");
    assert_eq!(opened.session.location.as_str(), format!("{base}session/1"));
    assert!(requests.recv().await.unwrap().head.starts_with("OPTIONS "));
    assert!(requests.recv().await.unwrap().head.starts_with("POST "));
    let webrtcbin = publisher.webrtcbin().unwrap();
    assert_eq!(webrtcbin.property::<Option<String>>("turn-server"), None);
    assert_eq!(webrtcbin.property::<Option<String>>("stun-server"), None);
    publisher.stop();
}

#[tokio::test]
async fn ice_servers_come_from_options_and_failures_give_none() {
    let (base, _requests) = canned_http(vec![response(
        "200 OK",
        &[(
            "link",
            "<turn:gw.example:443?transport=tcp>; rel=\"ice-server\"; username=\"u\"; \
             credential=\"p\", <https://gw.example/help>; rel=\"help\"",
        )],
        "",
    )])
    .await;
    let url = endpoint_url(&base, SessionKind::Publish, "ward7").unwrap();
    let client = WhipClient::new(SessionKind::Publish, "tok");
    let servers = client.ice_servers(&url).await;
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].url, "turn:gw.example:443?transport=tcp");
    assert_eq!(servers[0].credential.as_deref(), Some("p"));

    // Nothing listens there any more: no relays, no error.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gone = Url::parse(&format!("http://127.0.0.1:{port}/whip/ward7")).unwrap();
    assert!(client.ice_servers(&gone).await.is_empty());
}
