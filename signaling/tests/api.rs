//! The rooms API: admins create, list and end rooms and hand out tokens;
//! participants read their own room's facts.

mod common;

use common::*;
use reqwest::StatusCode;
use samsyn_signaling::audit::{AuditEvent, read_trail};
use samsyn_signaling::{Role, TokenAuthority};

async fn list(gw: &TestGateway) -> serde_json::Value {
    gw.http
        .get(gw.url("/api/rooms"))
        .bearer_auth(gw.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn create(gw: &TestGateway, body: Option<serde_json::Value>) -> reqwest::Response {
    let request = gw
        .http
        .post(gw.url("/api/rooms"))
        .bearer_auth(gw.admin_token());
    match body {
        Some(json) => request.json(&json),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn admins_create_list_and_end_rooms() {
    let gw = TestGateway::start().await;
    let response = create(
        &gw,
        Some(serde_json::json!({"label": "Home visit, north", "ttl_hours": 2})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let invite: serde_json::Value = response.json().await.unwrap();
    let room = invite["room"].as_str().unwrap().to_owned();
    for key in [
        "publisher_token",
        "viewer_token",
        "observer_token",
        "whip_url",
        "whep_url",
        "viewer_link",
        "observer_link",
        "nurse_link",
        "expires_at",
    ] {
        assert!(invite[key].is_string(), "{key} missing from {invite}");
    }
    assert_eq!(invite["label"], "Home visit, north");
    assert_eq!(invite["whep_url"], gw.url(&format!("/whep/{room}")));
    assert_eq!(
        invite["nurse_link"],
        format!(
            "{}#token={}",
            gw.url(&format!("/n/{room}")),
            invite["publisher_token"].as_str().unwrap()
        )
    );

    // Without a body the room gets the configured lifetime and no label.
    let plain: serde_json::Value = create(&gw, None).await.json().await.unwrap();
    assert_eq!(plain["label"], "");

    // The camera joins; the list shows it and the labels.
    let camera = invite["publisher_token"].as_str().unwrap();
    let joined = gw.offer(&format!("/whip/{room}"), camera, OFFER).await;
    assert_eq!(joined.status(), StatusCode::CREATED);
    let specialist = invite["viewer_token"].as_str().unwrap();
    let watching = gw.offer(&format!("/whep/{room}"), specialist, OFFER).await;
    assert_eq!(watching.status(), StatusCode::CREATED);

    let listed = list(&gw).await;
    let rooms = listed["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 2, "{listed}");
    let ours = rooms.iter().find(|r| r["room"] == room.as_str()).unwrap();
    assert_eq!(ours["label"], "Home visit, north");
    assert_eq!(ours["camera"], true);
    assert_eq!(ours["specialists"], 1);
    assert_eq!(ours["observers"], 0);

    let ended = gw.end_room_via_api(&room).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let listed = list(&gw).await;
    assert_eq!(listed["rooms"].as_array().unwrap().len(), 1, "{listed}");

    // The trail says who came and went, with the names the tokens carry.
    let trail = read_trail(gw.data_dir.path(), |_, _| panic!("bad line")).unwrap();
    let events: Vec<&AuditEvent> = trail
        .iter()
        .map(|r| &r.event)
        .filter(|e| e.room() == Some(room.as_str()))
        .collect();
    assert!(
        matches!(events[0], AuditEvent::RoomCreated { .. }),
        "{events:?}"
    );
    assert!(
        matches!(events[1], AuditEvent::Joined { role, name, .. } if role == "publisher" && name.as_deref() == Some("camera")),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(AuditEvent::Left { reason, .. }) if reason == "room ended"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuditEvent::RoomEnded { .. }))
    );
}

#[tokio::test]
async fn participants_read_their_room_and_the_gateway_name() {
    let gw = TestGateway::start_with(|s| s.display_name = "Wound clinic, St. Olav".into()).await;
    let invite: serde_json::Value = create(&gw, Some(serde_json::json!({"label": "Ward 4"})))
        .await
        .json()
        .await
        .unwrap();
    let room = invite["room"].as_str().unwrap();
    for (token, role) in [
        ("viewer_token", "specialist"),
        ("observer_token", "observer"),
        ("publisher_token", "publisher"),
    ] {
        let info: serde_json::Value = gw
            .http
            .get(gw.url(&format!("/api/rooms/{room}")))
            .bearer_auth(invite[token].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["label"], "Ward 4");
        assert_eq!(info["gateway"], "Wound clinic, St. Olav");
        assert_eq!(info["role"], role);
        assert_eq!(info["camera_connected"], false);
        assert_eq!(info["expires_at"], invite["expires_at"]);
    }
    // Another room's token learns nothing about this one.
    let stranger = gw.token("otherroom1", Role::Specialist);
    let response = gw
        .http
        .get(gw.url(&format!("/api/rooms/{room}")))
        .bearer_auth(stranger)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "wrong_room").await;
}

#[tokio::test]
async fn admins_hand_out_named_tokens() {
    let gw = TestGateway::start().await;
    let record = gw.room("ward7abc23");
    let response = gw
        .http
        .post(gw.url(&format!("/api/rooms/{}/tokens", record.room)))
        .bearer_auth(gw.admin_token())
        .json(&serde_json::json!({"role": "observer", "name": "Kari (daughter)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let invite: serde_json::Value = response.json().await.unwrap();
    let token = invite["token"].as_str().unwrap();
    assert_eq!(invite["role"], "observer");
    assert_eq!(
        invite["link"],
        gw.url(&format!("/r/{}#token={token}", record.room))
    );
    let claims = gw
        .state
        .tokens
        .verify(token, Some(record.room.as_str()), &[Role::Observer])
        .unwrap();
    assert_eq!(claims.name.as_deref(), Some("Kari (daughter)"));
    assert_eq!(claims.exp, record.expires_at);
    assert!(invite.get("nurse_link").is_none(), "{invite}");

    // A second camera gets the nurse's one link beside the WHIP URL.
    let camera: serde_json::Value = gw
        .http
        .post(gw.url(&format!("/api/rooms/{}/tokens", record.room)))
        .bearer_auth(gw.admin_token())
        .json(&serde_json::json!({"role": "publisher", "name": "second camera"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = camera["token"].as_str().unwrap();
    assert_eq!(camera["link"], gw.url(&format!("/whip/{}", record.room)));
    assert_eq!(
        camera["nurse_link"],
        gw.url(&format!("/n/{}#token={token}", record.room))
    );

    for (body, code) in [
        (serde_json::json!({"role": "admin"}), "bad_request_body"),
        (serde_json::json!({"role": "viewer"}), "bad_request_body"),
        (
            serde_json::json!({"role": "observer", "name": "a\nb"}),
            "bad_request_body",
        ),
    ] {
        let response = gw
            .http
            .post(gw.url(&format!("/api/rooms/{}/tokens", record.room)))
            .bearer_auth(gw.admin_token())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn room_requests_are_checked() {
    let gw = TestGateway::start_with(|s| s.max_rooms = 2).await;
    let label = create(
        &gw,
        Some(serde_json::json!({"label": "Kari Nordmann 01017012345"})),
    )
    .await;
    let message = assert_error(label, StatusCode::BAD_REQUEST, "bad_label").await;
    assert!(message.contains("patient"), "{message}");
    let ttl = create(&gw, Some(serde_json::json!({"ttl_hours": 100000}))).await;
    assert_error(ttl, StatusCode::BAD_REQUEST, "bad_request_body").await;
    let unknown = create(&gw, Some(serde_json::json!({"room_name": "x"}))).await;
    assert_error(unknown, StatusCode::BAD_REQUEST, "bad_request_body").await;

    assert_eq!(create(&gw, None).await.status(), StatusCode::CREATED);
    assert_eq!(create(&gw, None).await.status(), StatusCode::CREATED);
    let full = create(&gw, None).await;
    let message = assert_error(full, StatusCode::CONFLICT, "too_many_rooms").await;
    assert!(message.contains("limits.max_rooms"), "{message}");

    let unknown_room = gw
        .http
        .delete(gw.url("/api/rooms/nosuchroom"))
        .bearer_auth(gw.admin_token())
        .send()
        .await
        .unwrap();
    assert_error(unknown_room, StatusCode::NOT_FOUND, "unknown_room").await;

    // An admin token of another gateway is nobody's.
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = TokenAuthority::load_or_create(elsewhere.path())
        .unwrap()
        .issue(samsyn_signaling::Grant {
            room: None,
            role: Role::Admin,
            expires_at: samsyn_signaling::unix_now() + 60,
            name: None,
        });
    let response = gw
        .http
        .get(gw.url("/api/rooms"))
        .bearer_auth(foreign)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
