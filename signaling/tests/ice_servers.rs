//! The TURN relays announced to WHIP/WHEP clients: `Link` headers on the
//! `201` and on an `OPTIONS` probe with a valid token, each client's own
//! credentials, and the secret they are made with.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::{OFFER, PAGES, RecordingMedia};
use reqwest::StatusCode;
use samsyn_signaling::ice_servers::{IceServerSettings, SecretError, TurnSecret};
use samsyn_signaling::{
    AppState, Claims, Grant, Role, RoomId, SignalingSettings, TokenAuthority, router,
    turn_credentials, unix_now,
};
use tempfile::TempDir;
use url::Url;

const ROOM: &str = "ward7abc23";
const OTHER_ROOM: &str = "ward9xyz45";
const COTURN: &str = "turn:coturn.hospital.example:3478?transport=udp";
const TTL: Duration = Duration::from_secs(600);

/// A gateway on plain HTTP whose public URL is `https://gw.example:8443/`,
/// announcing the built-in relay and [`COTURN`] unless `adjust` says otherwise.
struct Gateway {
    base: String,
    http: reqwest::Client,
    state: Arc<AppState>,
    secret: TurnSecret,
    _data_dir: TempDir,
}

impl Gateway {
    async fn start(adjust: impl FnOnce(&mut SignalingSettings)) -> Self {
        Self::start_with_secret(adjust, true).await
    }

    async fn start_with_secret(adjust: impl FnOnce(&mut SignalingSettings), secret: bool) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let public = Url::parse("https://gw.example:8443/").unwrap();
        let mut settings = SignalingSettings::new(public, data_dir.path());
        settings.ice_servers = IceServerSettings {
            builtin_relay: true,
            external_urls: vec![COTURN.to_owned()],
            credential_ttl: TTL,
        };
        adjust(&mut settings);
        let tokens = TokenAuthority::load_or_create(data_dir.path()).unwrap();
        let turn_secret = TurnSecret::load_or_create(data_dir.path(), None).unwrap();
        let media = Arc::new(RecordingMedia::default());
        let mut state = AppState::new(media, tokens, settings, PAGES).unwrap();
        if secret {
            state = state.with_turn_secret(turn_secret.clone());
        }
        let state = Arc::new(state);
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            http: reqwest::Client::new(),
            state,
            secret: turn_secret,
            _data_dir: data_dir,
        }
    }

    /// A token for `room` (opened for an hour if need be) in `role`,
    /// expiring after `lifetime`, with its claims.
    fn token(&self, room: &str, role: Role, lifetime: Duration) -> (String, Claims) {
        let id = RoomId::parse(room).unwrap();
        if self.state.rooms.get(&id).unwrap().is_none() {
            self.state
                .rooms
                .create_with_id(id, "", Duration::from_secs(3600))
                .unwrap();
        }
        let token = self.state.tokens.issue(Grant {
            room: Some(room),
            role,
            expires_at: unix_now() + lifetime.as_secs(),
            name: None,
        });
        let claims = self
            .state
            .tokens
            .verify(
                &token,
                Some(room),
                &[Role::Publisher, Role::Specialist, Role::Observer],
            )
            .unwrap();
        (token, claims)
    }

    async fn offer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(OFFER)
            .send()
            .await
            .unwrap()
    }

    async fn probe(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

/// One `Link: <uri>; rel="ice-server"; …` header, taken apart.
#[derive(Debug, PartialEq)]
struct IceLink {
    uri: String,
    username: String,
    credential: String,
}

fn ice_links(response: &reqwest::Response) -> Vec<IceLink> {
    response
        .headers()
        .get_all("link")
        .iter()
        .map(|value| parse_link(value.to_str().unwrap()))
        .collect()
}

fn parse_link(value: &str) -> IceLink {
    let mut parts = value.split("; ");
    let uri = parts.next().unwrap();
    let uri = uri.strip_prefix('<').unwrap().strip_suffix('>').unwrap();
    let mut params = std::collections::HashMap::new();
    for param in parts {
        let (name, quoted) = param.split_once('=').unwrap();
        let unquoted = quoted.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
        params.insert(name.to_owned(), unquoted.to_owned());
    }
    assert_eq!(params["rel"], "ice-server", "{value}");
    assert_eq!(params["credential-type"], "password", "{value}");
    IceLink {
        uri: uri.to_owned(),
        username: params["username"].clone(),
        credential: params["credential"].clone(),
    }
}

fn uris(links: &[IceLink]) -> Vec<&str> {
    links.iter().map(|link| link.uri.as_str()).collect()
}

/// Every link carries one credential that the relays accept for this
/// token's client, expiring with the TTL or the token, whichever is first.
fn assert_credentials(gw: &Gateway, links: &[IceLink], claims: &Claims, now: u64) {
    assert!(!links.is_empty());
    for link in links {
        assert_eq!(link.username, links[0].username, "one credential for all");
        assert_eq!(
            link.credential, links[0].credential,
            "one credential for all"
        );
        assert_eq!(
            link.credential,
            turn_credentials::password(gw.secret.as_bytes(), &link.username)
        );
    }
    let (expiry, token_id) = links[0].username.split_once(':').unwrap();
    assert_eq!(token_id, claims.jti);
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        expiry <= claims.exp,
        "{expiry} after the token's {}",
        claims.exp
    );
    assert!(
        expiry <= unix_now() + TTL.as_secs(),
        "{expiry} beyond the TTL"
    );
    assert!(
        expiry >= (now + TTL.as_secs()).min(claims.exp),
        "{expiry} sooner than needed"
    );
}

#[tokio::test]
async fn whip_201_announces_the_relays_with_the_clients_credentials() {
    let gw = Gateway::start(|_| {}).await;
    let (token, claims) = gw.token(ROOM, Role::Publisher, Duration::from_secs(3600));
    let now = unix_now();

    let response = gw.offer(&format!("/whip/{ROOM}"), &token).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let links = ice_links(&response);
    assert_eq!(
        uris(&links),
        [
            "turns:gw.example:8443?transport=tcp",
            "turn:gw.example:8443?transport=tcp",
            COTURN
        ]
    );
    assert_credentials(&gw, &links, &claims, now);
    // The token outlives the TTL: the TTL decides.
    let expiry: u64 = links[0]
        .username
        .split_once(':')
        .unwrap()
        .0
        .parse()
        .unwrap();
    assert!(expiry < claims.exp);
}

#[tokio::test]
async fn whep_201_credentials_end_with_a_token_that_ends_sooner() {
    let gw = Gateway::start(|_| {}).await;
    let (token, claims) = gw.token(ROOM, Role::Specialist, Duration::from_secs(120));
    let now = unix_now();

    let response = gw.offer(&format!("/whep/{ROOM}"), &token).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let links = ice_links(&response);
    assert_eq!(uris(&links).len(), 3);
    assert_credentials(&gw, &links, &claims, now);
    assert_eq!(
        links[0].username,
        format!("{}:{}", claims.exp, claims.jti),
        "the token's expiry"
    );
}

#[tokio::test]
async fn a_plain_http_public_url_announces_turn_over_tcp_only() {
    let gw = Gateway::start(|settings| {
        settings.public_base_url = Url::parse("http://127.0.0.1:8080/").unwrap();
        settings.ice_servers.external_urls.clear();
    })
    .await;
    let (token, _) = gw.token(ROOM, Role::Publisher, Duration::from_secs(3600));

    let response = gw.offer(&format!("/whip/{ROOM}"), &token).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        uris(&ice_links(&response)),
        ["turn:127.0.0.1:8080?transport=tcp"]
    );
}

#[tokio::test]
async fn options_with_a_valid_token_announces_the_relays() {
    let gw = Gateway::start(|_| {}).await;
    for (prefix, role) in [("whip", Role::Publisher), ("whep", Role::Observer)] {
        let (token, claims) = gw.token(ROOM, role, Duration::from_secs(3600));
        let now = unix_now();

        let response = gw.probe(&format!("/{prefix}/{ROOM}"), Some(&token)).await;

        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{prefix}");
        assert_eq!(response.headers()["accept-post"], "application/sdp");
        let links = ice_links(&response);
        assert_eq!(uris(&links).len(), 3, "{prefix}");
        assert_credentials(&gw, &links, &claims, now);
    }
}

#[tokio::test]
async fn options_without_a_valid_token_is_204_without_links() {
    let gw = Gateway::start(|_| {}).await;
    let (other_room, _) = gw.token(OTHER_ROOM, Role::Publisher, Duration::from_secs(3600));
    let (viewer, _) = gw.token(ROOM, Role::Specialist, Duration::from_secs(3600));
    let path = format!("/whip/{ROOM}");

    let cases = [
        ("no token", None),
        ("another room's token", Some(other_room.as_str())),
        ("a viewer's token on WHIP", Some(viewer.as_str())),
        ("a forged token", Some("eyJhbGciOiJFZERTQSJ9.e30.c2ln")),
    ];
    for (case, token) in cases {
        let response = gw.probe(&path, token).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{case}");
        assert!(ice_links(&response).is_empty(), "{case}");
        assert!(response.text().await.unwrap().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn nothing_is_announced_without_relays_or_without_the_secret() {
    let no_relays = Gateway::start(|settings| {
        settings.ice_servers.builtin_relay = false;
        settings.ice_servers.external_urls.clear();
    })
    .await;
    let no_secret = Gateway::start_with_secret(|_| {}, false).await;
    for gw in [no_relays, no_secret] {
        let (token, _) = gw.token(ROOM, Role::Publisher, Duration::from_secs(3600));
        let probe = gw.probe(&format!("/whip/{ROOM}"), Some(&token)).await;
        assert_eq!(probe.status(), StatusCode::NO_CONTENT);
        assert!(probe.headers().get("link").is_none());
        let created = gw.offer(&format!("/whip/{ROOM}"), &token).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert!(created.headers().get("link").is_none());
    }
}

#[tokio::test]
async fn probes_with_a_token_count_against_the_rate_limit() {
    let gw = Gateway::start(|settings| {
        settings.rate_limit.burst = 2;
        settings.rate_limit.per_minute = 1;
    })
    .await;
    let (token, _) = gw.token(ROOM, Role::Publisher, Duration::from_secs(3600));
    let path = format!("/whip/{ROOM}");
    for _ in 0..2 {
        let response = gw.probe(&path, Some("not-a-token")).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let response = gw.probe(&path, Some(&token)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Probes without a token (and CORS preflights) still cost nothing.
    let response = gw.probe(&path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[test]
fn the_secret_is_made_once_and_reused() {
    let data_dir = tempfile::tempdir().unwrap();
    let first = TurnSecret::load_or_create(data_dir.path(), None).unwrap();
    let again = TurnSecret::load_or_create(data_dir.path(), None).unwrap();
    assert_eq!(first, again);
    assert_eq!(first.as_bytes().len(), 64, "32 random bytes in hex");
    assert!(first.as_bytes().iter().all(u8::is_ascii_hexdigit));

    let dir = data_dir.path().join("turn");
    let file = dir.join("secret");
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&dir) & 0o777, 0o700);
    assert_eq!(mode(&file) & 0o777, 0o600);
    // The file holds the secret as text, as coturn's static-auth-secret.
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.trim().as_bytes(), first.as_bytes());

    let other_dir = tempfile::tempdir().unwrap();
    let other = TurnSecret::load_or_create(other_dir.path(), None).unwrap();
    assert_ne!(first, other, "each gateway makes its own");
}

#[test]
fn a_configured_secret_file_is_coturns_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turn-secret");
    write_with_mode(&path, "  north-wing-secret \n", 0o600);
    let secret = TurnSecret::load_or_create(dir.path(), Some(&path)).unwrap();
    assert_eq!(secret.as_bytes(), b"north-wing-secret");
    // Nothing is made in the data directory when a file is configured.
    assert!(!dir.path().join("turn").exists());
    assert_eq!(format!("{secret:?}"), "TurnSecret(..)");
}

#[test]
fn a_secret_file_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turn-secret");
    write_with_mode(&path, "north\n", 0o644);
    let error = TurnSecret::load_or_create(dir.path(), Some(&path)).unwrap_err();
    assert!(
        matches!(error, SecretError::Permissions { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("chmod 600 {}", path.display())),
        "{text}"
    );

    // The generated one is checked the same way.
    let generated = dir.path().join("turn/secret");
    TurnSecret::load_or_create(dir.path(), None).unwrap();
    std::fs::set_permissions(&generated, std::fs::Permissions::from_mode(0o640)).unwrap();
    let text = TurnSecret::load_or_create(dir.path(), None)
        .unwrap_err()
        .to_string();
    assert!(text.contains("chmod 600"), "{text}");
}

#[test]
fn an_empty_or_missing_secret_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turn-secret");
    write_with_mode(&path, " \n", 0o600);
    let text = TurnSecret::load_or_create(dir.path(), Some(&path))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("empty"),
        "{text}"
    );

    let missing = dir.path().join("no-such-secret");
    let text = TurnSecret::load_or_create(dir.path(), Some(&missing))
        .unwrap_err()
        .to_string();
    assert!(text.contains(&missing.display().to_string()), "{text}");
}

fn write_with_mode(path: &std::path::Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
