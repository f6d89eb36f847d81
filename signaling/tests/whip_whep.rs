//! WHIP and WHEP over real HTTP: admission, body checks, media-plane calls
//! and the mapping of every refusal.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use samsyn_signaling::Role;

const ROOM: &str = "ward7abc23";

#[tokio::test]
async fn whip_offer_creates_a_session() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);

    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "application/sdp");
    assert_eq!(
        response.headers()["location"],
        format!("/whip/{ROOM}/pub-1")
    );
    assert_eq!(response.text().await.unwrap(), ANSWER);
    assert_eq!(
        gw.media.calls(),
        [Call::Publish {
            room: ROOM.into(),
            offer: OFFER.into()
        }]
    );
}

#[tokio::test]
async fn whep_offer_creates_a_session() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Viewer);

    let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "application/sdp");
    assert_eq!(
        response.headers()["location"],
        format!("/whep/{ROOM}/view-1")
    );
    assert_eq!(response.text().await.unwrap(), ANSWER);
    assert_eq!(
        gw.media.calls(),
        [Call::View {
            room: ROOM.into(),
            offer: OFFER.into()
        }]
    );
}

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
async fn viewer_token_on_whip_is_403_wrong_role() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Viewer);

    let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;

    let message = assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
    assert!(
        message.contains("the camera needs the publisher token"),
        "{message}"
    );
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn publisher_token_on_whep_is_403_wrong_role() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);

    let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;

    assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn token_of_another_room_is_403_wrong_room() {
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
async fn bad_room_id_is_400_bad_room() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    for path in [
        "/whip/Ward7",
        "/whip/a%20b",
        "/whep/..%2Fetc",
        &format!("/whip/{}", "a".repeat(65)),
    ] {
        let response = gw.offer(path, &token, OFFER).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_room").await;
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let url = gw.url(&format!("/whip/{ROOM}"));

    let as_json = gw
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json");
    let untyped = gw.http.post(&url).bearer_auth(&token);
    for request in [as_json, untyped] {
        let response = request.body(OFFER).send().await.unwrap();
        let message = assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert!(message.contains("application/sdp"), "{message}");
    }

    // Parameters and case do not matter.
    let response = gw
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "Application/SDP; charset=utf-8")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_sdp_is_400() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let bodies: [&[u8]; 4] = [
        b"",
        b"hello",
        b"v=0\r\ns=-\r\nt=0 0\r\n",
        b"v=0\r\nm=video \xff\r\n",
    ];
    for body in bodies {
        let response = gw
            .offer(&format!("/whip/{ROOM}"), &token, body.to_vec())
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "malformed_sdp").await;
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn oversized_offer_is_413_with_json() {
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
async fn media_plane_refusals_map_to_their_codes() {
    let gw = TestGateway::start().await;
    let cases = [
        (ROOM_WITHOUT_CAMERA, StatusCode::CONFLICT, "no_publisher"),
        (FULL_ROOM, StatusCode::SERVICE_UNAVAILABLE, "room_full"),
        (
            H265_ONLY_ROOM,
            StatusCode::UNPROCESSABLE_ENTITY,
            "codec_mismatch",
        ),
    ];
    for (room, status, code) in cases {
        let token = gw.token(room, Role::Viewer);
        let response = gw.offer(&format!("/whep/{room}"), &token, OFFER).await;
        let message = assert_error(response, status, code).await;
        if code == "no_publisher" {
            assert!(message.contains("retries by itself"), "{message}");
        }
    }
}

#[tokio::test]
async fn slow_request_times_out_with_408_json() {
    let gw = TestGateway::start_with(|settings| {
        settings.request_timeout = Duration::from_millis(300);
    })
    .await;
    let token = gw.token(SLOW_ROOM, Role::Publisher);

    let response = gw.offer(&format!("/whip/{SLOW_ROOM}"), &token, OFFER).await;

    assert_error(response, StatusCode::REQUEST_TIMEOUT, "request_timeout").await;
}

#[tokio::test]
async fn patch_trickles_with_204_and_restarts_with_200() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Publisher);
    let session_url = gw.url(&format!("/whip/{ROOM}/pub-1"));
    let patch = |body: &'static str| {
        gw.http
            .patch(&session_url)
            .bearer_auth(&token)
            .header("content-type", "application/trickle-ice-sdpfrag")
            .body(body)
            .send()
    };

    let trickle = patch(TRICKLE).await.unwrap();
    assert_eq!(trickle.status(), StatusCode::NO_CONTENT);
    assert!(trickle.text().await.unwrap().is_empty());

    let restart = patch(RESTART).await.unwrap();
    assert_eq!(restart.status(), StatusCode::OK);
    assert_eq!(
        restart.headers()["content-type"],
        "application/trickle-ice-sdpfrag"
    );
    assert_eq!(restart.text().await.unwrap(), RESTART_ANSWER);

    assert_eq!(
        gw.media.calls(),
        [
            Call::Patch {
                room: ROOM.into(),
                session: "pub-1".into(),
                fragment: TRICKLE.into()
            },
            Call::Patch {
                room: ROOM.into(),
                session: "pub-1".into(),
                fragment: RESTART.into()
            },
        ]
    );
}

#[tokio::test]
async fn a_viewer_reads_its_own_link_report() {
    let gw = TestGateway::start().await;
    let viewer = gw.token(ROOM, Role::Viewer);
    let publisher = gw.token(ROOM, Role::Publisher);
    let get = |path: String, token: Option<String>| {
        let mut request = gw.http.get(gw.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let ok = get(format!("/whep/{ROOM}/view-1/link"), Some(viewer.clone()))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.headers().get("cache-control").unwrap(),
        "no-store",
        "a link report is always fresh"
    );
    let report: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(
        report,
        serde_json::json!({
            "estimate_kbps": 420,
            "stream_kbps": 900,
            "loss_percent": 1.5,
            "weak": true,
            "limits_room": true,
        })
    );

    let anonymous = get(format!("/whep/{ROOM}/view-1/link"), None)
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let camera = get(format!("/whep/{ROOM}/view-1/link"), Some(publisher))
        .await
        .unwrap();
    assert_error(camera, StatusCode::FORBIDDEN, "wrong_role").await;
    let gone = get(format!("/whep/{ROOM}/{ENDED_SESSION}/link"), Some(viewer))
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_refusals() {
    let gw = TestGateway::start().await;
    let publisher = gw.token(ROOM, Role::Publisher);
    let viewer = gw.token(ROOM, Role::Viewer);

    let wrong_type = gw
        .http
        .patch(gw.url(&format!("/whip/{ROOM}/pub-1")))
        .bearer_auth(&publisher)
        .header("content-type", "application/sdp")
        .body(TRICKLE)
        .send()
        .await
        .unwrap();
    let message = assert_error(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(
        message.contains("application/trickle-ice-sdpfrag"),
        "{message}"
    );

    let viewer_on_whip = gw
        .http
        .patch(gw.url(&format!("/whip/{ROOM}/pub-1")))
        .bearer_auth(&viewer)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body(TRICKLE)
        .send()
        .await
        .unwrap();
    assert_error(viewer_on_whip, StatusCode::FORBIDDEN, "wrong_role").await;

    let ended = gw
        .http
        .patch(gw.url(&format!("/whep/{ROOM}/{ENDED_SESSION}")))
        .bearer_auth(&viewer)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body(TRICKLE)
        .send()
        .await
        .unwrap();
    assert_error(ended, StatusCode::NOT_FOUND, "unknown_session").await;

    let no_token = gw
        .http
        .patch(gw.url(&format!("/whep/{ROOM}/view-1")))
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body(TRICKLE)
        .send()
        .await
        .unwrap();
    assert_error(no_token, StatusCode::UNAUTHORIZED, "missing_token").await;

    assert_eq!(
        gw.media.calls().len(),
        1,
        "only the ended session reached media"
    );
}

#[tokio::test]
async fn delete_ends_the_session() {
    let gw = TestGateway::start().await;
    let viewer = gw.token(ROOM, Role::Viewer);

    let response = gw
        .http
        .delete(gw.url(&format!("/whep/{ROOM}/view-1")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let again = gw
        .http
        .delete(gw.url(&format!("/whep/{ROOM}/{ENDED_SESSION}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "unknown_session").await;

    let unaddressable = gw
        .http
        .delete(gw.url(&format!("/whep/{ROOM}/a%2Fb")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_error(unaddressable, StatusCode::NOT_FOUND, "unknown_session").await;

    let garbage = gw
        .http
        .delete(gw.url(&format!("/whep/{ROOM}/view-1")))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_error(garbage, StatusCode::UNAUTHORIZED, "invalid_token").await;

    assert_eq!(
        gw.media.calls(),
        [
            Call::End {
                room: ROOM.into(),
                session: "view-1".into()
            },
            Call::End {
                room: ROOM.into(),
                session: ENDED_SESSION.into()
            },
        ]
    );
}

#[tokio::test]
async fn options_probe_advertises_sdp() {
    let gw = TestGateway::start().await;
    for prefix in ["whip", "whep"] {
        let response = gw
            .http
            .request(
                reqwest::Method::OPTIONS,
                gw.url(&format!("/{prefix}/{ROOM}")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()["accept-post"], "application/sdp");
    }
}
