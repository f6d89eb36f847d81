//! The WHIP/WHEP client against a canned HTTP server: status codes become
//! errors that say what to do, and a 201 becomes a session.

mod common;

use common::{canned_http, response};
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
