//! A real gateway HTTP server on 127.0.0.1 with a recording media plane.
//!
//! `RecordingMedia` stands in for the SFU at the `MediaPlane` boundary only:
//! it records calls and returns canned answers, chosen by room or session
//! name so each refusal of the media plane can be provoked.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use samsyn_signaling::media::{
    LinkReport, Listener, MediaError, MediaFuture, MediaPlane, MediaStalled, SessionAnswer,
    SessionId, SessionKind,
};
use samsyn_signaling::server::{ServeOptions, serve};
use samsyn_signaling::tls::ServerTls;
use samsyn_signaling::{
    AppState, Grant, PageAssets, Role, RoomId, RoomRecord, SignalingSettings, TokenAuthority,
    router, unix_now,
};
use tempfile::TempDir;
use url::Url;

mod socket;
#[allow(unused_imports)] // only the binaries that open room events sockets use it
pub use socket::Socket;

pub const OFFER: &str = "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n\
    a=mid:0\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n";
pub const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    m=video 50000 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\n";
pub const TRICKLE: &str = "a=mid:0\r\na=candidate:1 1 udp 2130706431 10.0.0.2 5000 typ host\r\n";
pub const RESTART: &str = "a=ice-ufrag:newu\r\na=ice-pwd:newpasswordnewpassword\r\na=mid:0\r\n";
pub const RESTART_ANSWER: &str = "a=ice-ufrag:gwuf\r\na=ice-pwd:gatewaypasswordgatewaypw\r\n";

pub const PAGES: PageAssets = PageAssets {
    viewer_html: "<!doctype html><title>viewer</title><script src=\"/r/assets/viewer.js\"></script>",
    viewer_js: "console.log('viewer');",
    viewer_css: "body { margin: 0 }",
    consultation_js: "console.log('consultation');",
    consultation_css: ".consultation { margin: 0 }",
    talkback_js: "console.log('talkback');",
    viewer_strings_js: "window.samsynStrings = {};",
    lang_js: "console.log('lang');",
    nurse_html: "<!doctype html><title>nurse</title><script src=\"assets/nurse.js\"></script>",
    nurse_js: "console.log('nurse');",
    nurse_css: "body { font-size: 26px }",
    nurse_strings_js: "window.samsynStrings = { nb: {} };",
};

/// Rooms and sessions that make the media plane refuse.
pub const ROOM_WITHOUT_CAMERA: &str = "empty";
pub const FULL_ROOM: &str = "full";
pub const H265_ONLY_ROOM: &str = "codec";
pub const SLOW_ROOM: &str = "slow";
pub const ENDED_SESSION: &str = "gone";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Publish {
        room: String,
        offer: String,
    },
    View {
        room: String,
        listener: Listener,
        offer: String,
    },
    Patch {
        room: String,
        session: String,
        fragment: String,
    },
    End {
        room: String,
        session: String,
    },
    EndRoom {
        room: String,
    },
}

#[derive(Default)]
pub struct RecordingMedia {
    calls: Mutex<Vec<Call>>,
    /// Viewing sessions answered so far: `view-1`, `view-2`, …
    views: std::sync::atomic::AtomicUsize,
    /// What `health` reports as wrong, once a test stalls the media plane.
    stalled: Mutex<Option<String>>,
}

impl RecordingMedia {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    /// From now on the media plane reports itself stalled, saying `why`.
    pub fn stall(&self, why: &str) {
        *self.stalled.lock().unwrap() = Some(why.to_owned());
    }
}

impl MediaPlane for RecordingMedia {
    fn publish<'a>(
        &'a self,
        room: &'a RoomId,
        offer_sdp: String,
    ) -> MediaFuture<'a, SessionAnswer> {
        Box::pin(async move {
            self.record(Call::Publish {
                room: room.to_string(),
                offer: offer_sdp,
            });
            if room.as_str() == SLOW_ROOM {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok(SessionAnswer {
                session: SessionId("pub-1".into()),
                sdp: ANSWER.into(),
            })
        })
    }

    fn view<'a>(
        &'a self,
        room: &'a RoomId,
        listener: Listener,
        offer_sdp: String,
    ) -> MediaFuture<'a, SessionAnswer> {
        Box::pin(async move {
            self.record(Call::View {
                room: room.to_string(),
                listener,
                offer: offer_sdp,
            });
            match room.as_str() {
                ROOM_WITHOUT_CAMERA => Err(MediaError::NoPublisher),
                FULL_ROOM => Err(MediaError::TooManyViewers(2)),
                H265_ONLY_ROOM => Err(MediaError::CodecMismatch("the camera sends H.265".into())),
                _ => {
                    let n = self
                        .views
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        + 1;
                    Ok(SessionAnswer {
                        session: SessionId(format!("view-{n}")),
                        sdp: ANSWER.into(),
                    })
                }
            }
        })
    }

    fn patch<'a>(
        &'a self,
        room: &'a RoomId,
        _kind: SessionKind,
        session: &'a SessionId,
        sdpfrag: String,
    ) -> MediaFuture<'a, Option<String>> {
        Box::pin(async move {
            let restart = sdpfrag.contains("a=ice-ufrag:");
            self.record(Call::Patch {
                room: room.to_string(),
                session: session.0.clone(),
                fragment: sdpfrag,
            });
            if session.0 == ENDED_SESSION {
                return Err(MediaError::UnknownSession);
            }
            Ok(restart.then(|| RESTART_ANSWER.to_owned()))
        })
    }

    fn end<'a>(
        &'a self,
        room: &'a RoomId,
        _kind: SessionKind,
        session: &'a SessionId,
    ) -> MediaFuture<'a, ()> {
        Box::pin(async move {
            self.record(Call::End {
                room: room.to_string(),
                session: session.0.clone(),
            });
            if session.0 == ENDED_SESSION {
                return Err(MediaError::UnknownSession);
            }
            Ok(())
        })
    }

    fn link_report<'a>(
        &'a self,
        _room: &'a RoomId,
        session: &'a SessionId,
    ) -> MediaFuture<'a, LinkReport> {
        Box::pin(async move {
            if session.0 != "view-1" {
                return Err(MediaError::UnknownSession);
            }
            Ok(LinkReport {
                estimate_kbps: Some(420),
                stream_kbps: Some(900),
                loss_percent: Some(1.5),
                weak: true,
                limits_room: true,
            })
        })
    }

    fn end_room<'a>(&'a self, room: &'a RoomId) -> MediaFuture<'a, ()> {
        Box::pin(async move {
            self.record(Call::EndRoom {
                room: room.to_string(),
            });
            Ok(())
        })
    }

    fn health(&self) -> Result<(), MediaStalled> {
        match self.stalled.lock().unwrap().clone() {
            Some(why) => Err(MediaStalled(why)),
            None => Ok(()),
        }
    }
}

pub struct TestGateway {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    pub media: Arc<RecordingMedia>,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    pub data_dir: TempDir,
    /// The TLS identity, when serving HTTPS.
    pub tls: Option<ServerTls>,
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut SignalingSettings)) -> Self {
        Self::start_serving(adjust, false).await
    }

    /// A gateway on HTTPS with a self-signed certificate made in its data
    /// directory (`tls`); `http` trusts exactly that certificate.
    pub async fn start_tls() -> Self {
        Self::start_serving(|_| {}, true).await
    }

    async fn start_serving(adjust: impl FnOnce(&mut SignalingSettings), tls: bool) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());

        let mut settings = SignalingSettings::new(Url::parse(&base).unwrap(), data_dir.path());
        adjust(&mut settings);
        let server_tls = tls.then(|| {
            let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
            ServerTls::load_or_create(data_dir.path(), None, &names).unwrap()
        });
        let http = match &server_tls {
            Some(server_tls) => {
                let pem = std::fs::read(data_dir.path().join("tls/cert.pem")).unwrap();
                assert_eq!(
                    server_tls.fingerprint,
                    samsyn_signaling::tls::Fingerprint::of(&pem_to_der(&pem)),
                    "the fingerprint is that of the certificate file"
                );
                reqwest::Client::builder()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                    .build()
                    .unwrap()
            }
            None => reqwest::Client::new(),
        };
        let media = Arc::new(RecordingMedia::default());
        let tokens = TokenAuthority::load_or_create(data_dir.path()).unwrap();
        let state = Arc::new(AppState::new(media.clone(), tokens, settings, PAGES).unwrap());
        let app = router(state.clone());
        let options = ServeOptions {
            tls: server_tls.clone(),
            header_timeout: Duration::from_secs(2),
            turn: None,
        };
        tokio::spawn(async move {
            serve(listener, app, options, std::future::pending())
                .await
                .unwrap()
        });

        Self {
            base,
            media,
            state,
            http,
            data_dir,
            tls: server_tls,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The record of `room`, creating the room (open for an hour) if it
    /// does not exist yet.
    pub fn room(&self, room: &str) -> RoomRecord {
        let id = RoomId::parse(room).unwrap();
        if let Some(record) = self.state.rooms.get(&id).unwrap() {
            return record;
        }
        self.state
            .rooms
            .create_with_id(id, "", Duration::from_secs(3600))
            .unwrap()
    }

    /// A token for `room` (created if need be) in `role`, valid as long as
    /// the room.
    pub fn token(&self, room: &str, role: Role) -> String {
        self.named_token(room, role, None)
    }

    /// Like [`TestGateway::token`], carrying a display name.
    pub fn named_token(&self, room: &str, role: Role, name: Option<&str>) -> String {
        let record = self.room(room);
        self.state.tokens.issue(Grant {
            room: Some(room),
            role,
            expires_at: record.expires_at,
            name,
        })
    }

    /// An admin token, valid for ten minutes.
    pub fn admin_token(&self) -> String {
        self.state.tokens.issue(Grant {
            room: None,
            role: Role::Admin,
            expires_at: unix_now() + 600,
            name: None,
        })
    }

    /// Ends `room` through the API (`DELETE /api/rooms/{room}`), as an
    /// admin; the response.
    pub async fn end_room_via_api(&self, room: &str) -> reqwest::Response {
        self.http
            .delete(self.url(&format!("/api/rooms/{room}")))
            .bearer_auth(self.admin_token())
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` as an SDP offer with `token`.
    pub async fn offer(
        &self,
        path: &str,
        token: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts the status, the JSON content type and the error code; returns the
/// message.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(
        response.status(),
        status,
        "status for expected error {code}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        content_type, "application/json",
        "content type of error {code}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "error code in {body}");
    let message = body["message"]
        .as_str()
        .expect("message is a string")
        .to_owned();
    assert!(!message.is_empty());
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "only error and message in {body}"
    );
    message
}

/// Signs arbitrary claims with the gateway's own key file, as only someone
/// holding the key could: for tokens `TokenAuthority::issue` never makes.
pub fn sign_with_key_file(data_dir: &Path, claims: &serde_json::Value) -> String {
    let pkcs8 = std::fs::read(data_dir.join("keys/token-signing.pk8")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(&pkcs8);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        claims,
        &key,
    )
    .unwrap()
}

/// A token signed by `authority` for `room` in `role`, valid for `ttl`.
pub fn issue(authority: &TokenAuthority, room: &str, role: Role, ttl: Duration) -> String {
    authority.issue(Grant {
        room: Some(room),
        role,
        expires_at: unix_now() + ttl.as_secs(),
        name: None,
    })
}

/// A real, decodable JPEG picture of `width`x`height` (flat grey).
pub fn jpeg_picture(width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let pixels = vec![128u8; usize::from(width) * usize::from(height)];
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Luma)
        .unwrap();
    out
}

/// The DER bytes of the first PEM block in `pem`.
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem).unwrap().to_vec()
}
