//! WHIP and WHEP over real HTTP: admission, body checks, media-plane calls
//! and the mapping of every refusal.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use samsyn_signaling::Role;
use samsyn_signaling::media::Listener;

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
    let token = gw.token(ROOM, Role::Specialist);

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
            listener: Listener::Specialist,
            offer: OFFER.into()
        }]
    );
}

#[tokio::test]
async fn viewer_tokens_on_whip_are_403_wrong_role() {
    let gw = TestGateway::start().await;
    for role in [Role::Specialist, Role::Observer] {
        let token = gw.token(ROOM, role);
        let response = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;
        let message = assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
        assert!(
            message.contains("needs the room's publisher token"),
            "{message}"
        );
    }
    assert!(gw.media.calls().is_empty());
}

#[tokio::test]
async fn whep_tells_the_media_plane_who_listens() {
    let gw = TestGateway::start().await;
    for (role, listener) in [
        (Role::Specialist, Listener::Specialist),
        (Role::Observer, Listener::Observer),
        // The camera's own WHEP session: talk-back for the nurse's headset.
        (Role::Publisher, Listener::Camera),
    ] {
        let token = gw.token(ROOM, role);
        let response = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{role}");
        assert_eq!(
            gw.media.calls().last(),
            Some(&Call::View {
                room: ROOM.into(),
                listener,
                offer: OFFER.into()
            })
        );
    }
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
async fn media_plane_refusals_map_to_their_codes() {
    let gw = TestGateway::start().await;
    let cases = [
        (ROOM_WITHOUT_CAMERA, StatusCode::CONFLICT, "no_publisher"),
        (FULL_ROOM, StatusCode::CONFLICT, "room_full"),
        (
            H265_ONLY_ROOM,
            StatusCode::UNPROCESSABLE_ENTITY,
            "codec_mismatch",
        ),
    ];
    for (room, status, code) in cases {
        let token = gw.token(room, Role::Specialist);
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
    let created = gw.offer(&format!("/whip/{ROOM}"), &token, OFFER).await;
    assert_eq!(created.status(), StatusCode::CREATED);
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
        gw.media.calls()[1..],
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
    let viewer = gw.token(ROOM, Role::Specialist);
    let publisher = gw.token(ROOM, Role::Publisher);
    let created = gw.offer(&format!("/whep/{ROOM}"), &viewer, OFFER).await;
    assert_eq!(created.status(), StatusCode::CREATED);
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
    // The camera may hold a WHEP session (talk-back), but not this one.
    assert_error(camera, StatusCode::NOT_FOUND, "unknown_session").await;
    // A colleague's token does not read someone else's link.
    let colleague = gw.token(ROOM, Role::Specialist);
    let other = get(format!("/whep/{ROOM}/view-1/link"), Some(colleague))
        .await
        .unwrap();
    assert_error(other, StatusCode::NOT_FOUND, "unknown_session").await;
    let gone = get(format!("/whep/{ROOM}/{ENDED_SESSION}/link"), Some(viewer))
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_refusals() {
    let gw = TestGateway::start().await;
    let publisher = gw.token(ROOM, Role::Publisher);
    let viewer = gw.token(ROOM, Role::Specialist);
    let created = gw.offer(&format!("/whip/{ROOM}"), &publisher, OFFER).await;
    assert_eq!(created.status(), StatusCode::CREATED);

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

    // The camera's own session with the camera's token is the only one
    // that could reach media; nothing above did.
    assert_eq!(gw.media.calls().len(), 1, "{:?}", gw.media.calls());
}

#[tokio::test]
async fn delete_ends_the_session() {
    let gw = TestGateway::start().await;
    let viewer = gw.token(ROOM, Role::Specialist);
    let created = gw.offer(&format!("/whep/{ROOM}"), &viewer, OFFER).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let delete = |path: String, token: String| {
        let request = gw.http.delete(gw.url(&path)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };

    // Another specialist's token for the same room cannot end it.
    let colleague = gw.token(ROOM, Role::Specialist);
    let response = delete(format!("/whep/{ROOM}/view-1"), colleague).await;
    assert_error(response, StatusCode::NOT_FOUND, "unknown_session").await;

    let response = delete(format!("/whep/{ROOM}/view-1"), viewer.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);

    for gone in ["view-1", ENDED_SESSION, "a%2Fb"] {
        let again = delete(format!("/whep/{ROOM}/{gone}"), viewer.clone()).await;
        assert_error(again, StatusCode::NOT_FOUND, "unknown_session").await;
    }

    let garbage = delete(format!("/whep/{ROOM}/view-1"), "garbage".into()).await;
    assert_error(garbage, StatusCode::UNAUTHORIZED, "invalid_token").await;

    assert_eq!(
        gw.media.calls()[1..],
        [Call::End {
            room: ROOM.into(),
            session: "view-1".into()
        }]
    );
}

#[tokio::test]
async fn one_camera_per_room_but_the_same_camera_may_reconnect() {
    let gw = TestGateway::start().await;
    let camera = gw.token(ROOM, Role::Publisher);
    let first = gw.offer(&format!("/whip/{ROOM}"), &camera, OFFER).await;
    assert_eq!(first.status(), StatusCode::CREATED);

    // A second device with a publisher token of its own is refused.
    let other_device = gw.token(ROOM, Role::Publisher);
    let response = gw
        .offer(&format!("/whip/{ROOM}"), &other_device, OFFER)
        .await;
    let message = assert_error(response, StatusCode::CONFLICT, "camera_in_use").await;
    assert!(message.contains("another camera"), "{message}");

    // The same token again is the camera reconnecting: it replaces itself.
    let again = gw.offer(&format!("/whip/{ROOM}"), &camera, OFFER).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let publishes = gw
        .media
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Publish { .. }))
        .count();
    assert_eq!(publishes, 2, "the refused camera never reached media");

    // Once the camera has left, another device may publish.
    let left = gw
        .http
        .delete(gw.url(&format!("/whip/{ROOM}/pub-1")))
        .bearer_auth(&camera)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), StatusCode::OK);
    let response = gw
        .offer(&format!("/whip/{ROOM}"), &other_device, OFFER)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn observers_watch_but_cannot_publish() {
    let gw = TestGateway::start().await;
    let observer = gw.token(ROOM, Role::Observer);
    let response = gw.offer(&format!("/whep/{ROOM}"), &observer, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = gw.offer(&format!("/whip/{ROOM}"), &observer, OFFER).await;
    let message = assert_error(response, StatusCode::FORBIDDEN, "wrong_role").await;
    assert!(message.contains("publisher token"), "{message}");
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
