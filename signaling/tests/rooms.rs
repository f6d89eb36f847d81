//! Room invites: the JSON `room create --json` prints, and its URLs.

mod common;

use std::time::Duration;

use samsyn_signaling::{Role, RoomId, SignalingSettings, TokenAuthority, create_room};
use url::Url;

fn setup(base: &str) -> (tempfile::TempDir, TokenAuthority, SignalingSettings) {
    let dir = tempfile::tempdir().unwrap();
    let authority = TokenAuthority::load_or_create(dir.path()).unwrap();
    let settings = SignalingSettings::new(Url::parse(base).unwrap(), dir.path());
    (dir, authority, settings)
}

#[test]
fn invite_json_has_the_contract_fields_and_url_shapes() {
    let (_dir, authority, settings) = setup("https://video.hospital.example:8443");
    let invite = create_room(&authority, &settings, Duration::from_secs(7200));
    let json = serde_json::to_value(&invite).unwrap();

    let room = json["room"].as_str().unwrap();
    assert_eq!(room.len(), RoomId::GENERATED_LEN);
    assert!(
        room.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
        "{room}"
    );
    let viewer_token = json["viewer_token"].as_str().unwrap();
    let publisher_token = json["publisher_token"].as_str().unwrap();
    let base = "https://video.hospital.example:8443";
    assert_eq!(json["whip_url"], format!("{base}/whip/{room}"));
    assert_eq!(json["whep_url"], format!("{base}/whep/{room}"));
    assert_eq!(
        json["viewer_link"],
        format!("{base}/r/{room}#token={viewer_token}")
    );

    assert!(
        authority
            .verify(publisher_token, room, Role::Publisher)
            .is_ok()
    );
    let viewer = authority.verify(viewer_token, room, Role::Viewer).unwrap();
    assert_eq!(viewer.exp - viewer.iat, 7200);

    let expires_at = json["expires_at"].as_str().unwrap();
    assert_eq!(
        expires_at.len(),
        "2026-01-01T00:00:00Z".len(),
        "{expires_at}"
    );
    assert!(
        expires_at.ends_with('Z') && expires_at.as_bytes()[10] == b'T',
        "{expires_at}"
    );
}

#[test]
fn invite_urls_keep_a_base_path() {
    let (_dir, authority, settings) = setup("https://hospital.example/samsyn/");
    let invite = create_room(&authority, &settings, Duration::from_secs(60));
    assert_eq!(
        invite.whip_url,
        format!("https://hospital.example/samsyn/whip/{}", invite.room)
    );
    assert!(invite.viewer_link.starts_with(&format!(
        "https://hospital.example/samsyn/r/{}#token=",
        invite.room
    )));
}

#[test]
fn rooms_differ_and_debug_hides_tokens() {
    let (_dir, authority, settings) = setup("http://127.0.0.1:8080/");
    let a = create_room(&authority, &settings, Duration::from_secs(60));
    let b = create_room(&authority, &settings, Duration::from_secs(60));
    assert_ne!(a.room, b.room);
    assert!(!format!("{a:?}").contains(&a.viewer_token));
    assert!(!format!("{a:?}").contains(&a.publisher_token));
}

#[tokio::test]
async fn invite_admits_its_camera_and_viewer_over_http() {
    let gw = common::TestGateway::start().await;
    let invite = create_room(
        &gw.state.tokens,
        &gw.state.settings,
        Duration::from_secs(60),
    );
    assert!(invite.whip_url.starts_with(&gw.base));

    let camera = gw
        .http
        .post(&invite.whip_url)
        .bearer_auth(&invite.publisher_token)
        .header("content-type", "application/sdp")
        .body(common::OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(camera.status(), reqwest::StatusCode::CREATED);

    let (page, token) = invite.viewer_link.split_once("#token=").unwrap();
    assert_eq!(token, invite.viewer_token);
    assert_eq!(
        gw.http.get(page).send().await.unwrap().status(),
        reqwest::StatusCode::OK
    );
    let viewer = gw
        .http
        .post(&invite.whep_url)
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(common::OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), reqwest::StatusCode::CREATED);
}
