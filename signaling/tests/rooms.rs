//! Room invites: the JSON `room create --json` prints, and its URLs.

mod common;

use std::time::Duration;

use samsyn_signaling::rooms::{RoomInvite, invite_for};
use samsyn_signaling::{Role, RoomId, RoomRegistry, SignalingSettings, TokenAuthority};
use url::Url;

struct Setup {
    _dir: tempfile::TempDir,
    authority: TokenAuthority,
    settings: SignalingSettings,
    registry: RoomRegistry,
}

fn setup(base: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let authority = TokenAuthority::load_or_create(dir.path()).unwrap();
    let settings = SignalingSettings::new(Url::parse(base).unwrap(), dir.path());
    let registry = RoomRegistry::open(dir.path(), 10).unwrap();
    Setup {
        _dir: dir,
        authority,
        settings,
        registry,
    }
}

/// Creates a room and its invite, as `room create` does.
fn create_room(setup: &Setup, label: &str, ttl: Duration) -> RoomInvite {
    let record = setup.registry.create(label, ttl).unwrap();
    invite_for(&setup.authority, &setup.settings, &record)
}

#[test]
fn invite_json_has_the_contract_fields_and_url_shapes() {
    let setup = setup("https://video.hospital.example:8443");
    let invite = create_room(
        &setup,
        "Home visit, district north",
        Duration::from_secs(7200),
    );
    let authority = &setup.authority;
    let json = serde_json::to_value(&invite).unwrap();

    let room = json["room"].as_str().unwrap();
    assert_eq!(room.len(), RoomId::GENERATED_LEN);
    assert!(
        room.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
        "{room}"
    );
    assert_eq!(json["label"], "Home visit, district north");
    let viewer_token = json["viewer_token"].as_str().unwrap();
    let observer_token = json["observer_token"].as_str().unwrap();
    let publisher_token = json["publisher_token"].as_str().unwrap();
    let base = "https://video.hospital.example:8443";
    assert_eq!(json["whip_url"], format!("{base}/whip/{room}"));
    assert_eq!(json["whep_url"], format!("{base}/whep/{room}"));
    assert_eq!(
        json["viewer_link"],
        format!("{base}/r/{room}#token={viewer_token}")
    );
    assert_eq!(
        json["observer_link"],
        format!("{base}/r/{room}#token={observer_token}")
    );
    // The nurse's link: the camera's token in the fragment, for
    // `samsyn-capture join` or the page at /n/{room}.
    assert_eq!(
        json["nurse_link"],
        format!("{base}/n/{room}#token={publisher_token}")
    );
    // TLS on with a CA-issued certificate: nothing to pin.
    assert!(json.get("tls_pin_sha256").is_none(), "{json}");

    let camera = authority
        .verify(publisher_token, Some(room), &[Role::Publisher])
        .unwrap();
    assert_eq!(camera.name.as_deref(), Some("camera"));
    let viewer = authority
        .verify(viewer_token, Some(room), &[Role::Specialist])
        .unwrap();
    assert_eq!(viewer.exp - viewer.iat, 7200);
    assert!(
        authority
            .verify(observer_token, Some(room), &[Role::Observer])
            .is_ok()
    );

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
    let setup = setup("https://hospital.example/samsyn/");
    let invite = create_room(&setup, "", Duration::from_secs(60));
    assert_eq!(
        invite.whip_url,
        format!("https://hospital.example/samsyn/whip/{}", invite.room)
    );
    assert!(invite.viewer_link.starts_with(&format!(
        "https://hospital.example/samsyn/r/{}#token=",
        invite.room
    )));
    assert_eq!(
        invite.nurse_link,
        format!(
            "https://hospital.example/samsyn/n/{}#token={}",
            invite.room, invite.publisher_token
        )
    );
}

#[test]
fn the_nurse_link_pins_a_self_signed_certificate() {
    let mut setup = setup("https://10.20.0.5:8443");
    let pin = ["0A"; 32].join(":");
    setup.settings.tls_pin_sha256 = Some(pin.clone());
    let invite = create_room(&setup, "", Duration::from_secs(60));
    let json = serde_json::to_value(&invite).unwrap();
    // The daemon's --pin-sha256 form stays as it was; the link carries the
    // same fingerprint in lowercase hex without colons.
    assert_eq!(json["tls_pin_sha256"], pin);
    assert_eq!(
        json["nurse_link"],
        format!(
            "https://10.20.0.5:8443/n/{}#token={}&pin={}",
            invite.room,
            invite.publisher_token,
            "0a".repeat(32)
        )
    );
    assert!(!format!("{invite:?}").contains(&invite.nurse_link));
}

#[test]
fn rooms_differ_and_debug_hides_tokens() {
    let setup = setup("http://127.0.0.1:8080/");
    let a = create_room(&setup, "", Duration::from_secs(60));
    let b = create_room(&setup, "", Duration::from_secs(60));
    assert_ne!(a.room, b.room);
    assert!(!format!("{a:?}").contains(&a.viewer_token));
    assert!(!format!("{a:?}").contains(&a.publisher_token));
    assert!(!format!("{a:?}").contains(&a.nurse_link));
}

#[tokio::test]
async fn invite_admits_its_camera_and_viewer_over_http() {
    let gw = common::TestGateway::start().await;
    let record = gw.state.rooms.create("", Duration::from_secs(60)).unwrap();
    let invite = invite_for(&gw.state.tokens, &gw.state.settings, &record);
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

    // The nurse's page answers at the nurse's link (without its fragment,
    // which a browser never sends).
    let (nurse_page, fragment) = invite.nurse_link.split_once('#').unwrap();
    assert_eq!(fragment, format!("token={}", invite.publisher_token));
    assert_eq!(
        gw.http.get(nurse_page).send().await.unwrap().status(),
        reqwest::StatusCode::OK
    );

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
