//! Who may read or drive the nurse screen: only her own browser, on this
//! laptop, holding the address the daemon gave it.
//!
//! The screen listens on 127.0.0.1, which every user of the laptop and
//! every web page in her browser can reach. So each request, the
//! WebSocket upgrade included, must pass every check here before anything
//! else runs:
//!
//! - the peer is a loopback address;
//! - the first path segment is the screen's secret (compared in constant
//!   time): another user of the laptop cannot guess it;
//! - `Host` is `127.0.0.1:<port>` or `localhost:<port>`: a foreign page
//!   that rebinds its own name to 127.0.0.1 sends its own name;
//! - an `Origin`, when the browser sends one, is the screen's own
//!   (`http://127.0.0.1:<port>`, or the `localhost` spelling of it): a
//!   foreign page's script cannot open the WebSocket;
//! - `Sec-Fetch-Site`, when sent, is `same-origin` or `none` (typed or
//!   opened from outside the browser): a foreign page cannot embed it.
//!
//! A request that fails gets an empty `403` and nothing else happens.
//! Every answer carries headers that keep it out of caches, referrers and
//! frames, with a content security policy naming only the screen itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use ring::hmac;

/// How many random bytes the secret holds: 256 bits, beyond guessing.
const SECRET_BYTES: usize = 32;

/// The checks every request passes, and the headers every answer carries.
pub(super) struct ScreenGate {
    port: u16,
    secret: Secret,
    own_hosts: [String; 2],
    own_origins: [String; 2],
    content_security_policy: HeaderValue,
}

/// Why a request was turned away (logged at debug level, never with the
/// path, which may hold a near-miss of the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    NotLoopback,
    ForeignHost,
    ForeignOrigin,
    CrossSite,
    WrongSecret,
}

impl ScreenGate {
    /// A gate for a screen on `port`, with a fresh random secret.
    pub(super) fn new(port: u16) -> Self {
        let own_hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        let own_origins = own_hosts.clone().map(|host| format!("http://{host}"));
        // Scripts, styles and images only from the screen; self-view frames
        // are shown from blob: URLs; the one connection is its WebSocket.
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; \
             img-src 'self' blob: data:; connect-src 'self' ws://{} ws://{}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            own_hosts[0], own_hosts[1]
        );
        Self {
            port,
            secret: Secret::random(),
            own_hosts,
            own_origins,
            content_security_policy: HeaderValue::from_str(&policy)
                .expect("the policy is plain ASCII"),
        }
    }

    /// The secret as it appears in the screen's URL path.
    pub(super) fn secret_segment(&self) -> &str {
        &self.secret.encoded
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Whether a request from `peer` for `path` with `headers` may go on.
    pub(super) fn admit(
        &self,
        peer: SocketAddr,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        if !peer.ip().is_loopback() {
            return Err(Refusal::NotLoopback);
        }
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if !host.is_some_and(|host| self.own_hosts.iter().any(|own| own == host)) {
            return Err(Refusal::ForeignHost);
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            if !self.own_origins.iter().any(|own| own == origin) {
                return Err(Refusal::ForeignOrigin);
            }
        }
        if let Some(site) = headers.get(SEC_FETCH_SITE)
            && !matches!(site.as_bytes(), b"same-origin" | b"none")
        {
            return Err(Refusal::CrossSite);
        }
        let first_segment = path
            .strip_prefix('/')
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        if !self.secret.matches(first_segment) {
            return Err(Refusal::WrongSecret);
        }
        Ok(())
    }

    /// Adds the headers every answer of the screen carries.
    fn protect(&self, headers: &mut HeaderMap) {
        // The page shows live state: a cached copy would lie, and its
        // address holds the secret, which must not leak through a Referer.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            self.content_security_policy.clone(),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The middleware in front of every route: refuses with an empty `403`,
/// or lets the request through; protects every answer either way.
pub(super) async fn guard(
    State(gate): State<Arc<ScreenGate>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = match gate.admit(peer, request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::debug!(?refusal, %peer, "nurse screen refused a request");
            StatusCode::FORBIDDEN.into_response()
        }
    };
    gate.protect(response.headers_mut());
    response
}

/// The random path segment that only the daemon and her browser know.
struct Secret {
    encoded: String,
    /// Compares a candidate in constant time: the HMAC of the secret under
    /// a key drawn at start, checked with `ring`'s constant-time verify.
    key: hmac::Key,
    tag: hmac::Tag,
}

impl Secret {
    fn random() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = URL_SAFE_NO_PAD.encode(bytes);
        let mut key_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut key_bytes);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
        let tag = hmac::sign(&key, encoded.as_bytes());
        Self { encoded, key, tag }
    }

    fn matches(&self, candidate: &str) -> bool {
        hmac::verify(&self.key, candidate.as_bytes(), self.tag.as_ref()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn local_peer() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50_000)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn admits_its_own_page_and_refuses_each_failed_check() {
        let gate = ScreenGate::new(4000);
        let path = format!("/{}/ws", gate.secret_segment());
        let own = headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "http://127.0.0.1:4000"),
        ]);
        assert_eq!(gate.admit(local_peer(), &path, &own), Ok(()));
        let by_name = headers(&[("host", "localhost:4000")]);
        assert_eq!(gate.admit(local_peer(), &path, &by_name), Ok(()));

        let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 50_000);
        assert_eq!(gate.admit(remote, &path, &own), Err(Refusal::NotLoopback));
        let rebound = headers(&[("host", "evil.example:4000")]);
        assert_eq!(
            gate.admit(local_peer(), &path, &rebound),
            Err(Refusal::ForeignHost)
        );
        let other_port = headers(&[("host", "127.0.0.1:4001")]);
        assert_eq!(
            gate.admit(local_peer(), &path, &other_port),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            gate.admit(local_peer(), &path, &HeaderMap::new()),
            Err(Refusal::ForeignHost)
        );
        let foreign = headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "http://127.0.0.1:4001"),
        ]);
        assert_eq!(
            gate.admit(local_peer(), &path, &foreign),
            Err(Refusal::ForeignOrigin)
        );
        let null = headers(&[("host", "127.0.0.1:4000"), ("origin", "null")]);
        assert_eq!(
            gate.admit(local_peer(), &path, &null),
            Err(Refusal::ForeignOrigin)
        );
        let embedded = headers(&[("host", "127.0.0.1:4000"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            gate.admit(local_peer(), &path, &embedded),
            Err(Refusal::CrossSite)
        );

        let host = headers(&[("host", "127.0.0.1:4000")]);
        for wrong in [
            "/",
            "/ws",
            "//ws",
            "/nope/ws",
            &format!("/{}x/", gate.secret_segment()),
        ] {
            assert_eq!(
                gate.admit(local_peer(), wrong, &host),
                Err(Refusal::WrongSecret),
                "{wrong}"
            );
        }
    }

    #[test]
    fn each_gate_draws_its_own_secret() {
        let (a, b) = (ScreenGate::new(1), ScreenGate::new(1));
        assert_ne!(a.secret_segment(), b.secret_segment());
        assert_eq!(a.secret_segment().len(), 43, "32 bytes in base64url");
    }
}
