//! WHIP (RFC 9725) and WHEP client: one HTTP exchange to start a session,
//! one `DELETE` to end it.
//!
//! The same client serves publishing (`POST {gateway}/whip/{room}`) and
//! viewing (`POST {gateway}/whep/{room}`); [`SessionKind`] only changes the
//! path and the wording of errors. Every error says what to do about it.
//! Before a session, `OPTIONS` on the same URL asks for the gateway's TURN
//! relays ([`WhipClient::ice_servers`]), read from `Link` headers by
//! [`parse_link_header`].

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::gateway_tls::{GatewayTrust, TrustError};

mod ice_servers;
pub use ice_servers::{IceServer, parse_link_header};

/// Whether the session publishes (WHIP) or views (WHEP): the gateway's own
/// notion, so client and server cannot disagree on what kinds there are.
pub use samsyn_signaling::media::SessionKind;

/// The URL path segment of `kind`: `whip` or `whep`.
pub fn path_segment(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Publish => "whip",
        SessionKind::View => "whep",
    }
}

/// The role a token needs for `kind`, as errors name it.
fn token_role(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Publish => "publisher",
        SessionKind::View => "specialist or observer",
    }
}

/// The endpoint URL `{gateway}/whip/{room}` (or `/whep/`), keeping any path
/// prefix of the gateway URL and escaping the room name.
pub fn endpoint_url(gateway: &Url, kind: SessionKind, room: &str) -> Result<Url, WhipError> {
    let mut url = gateway.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| WhipError::BadUrl {
            url: gateway.to_string(),
            why: "it cannot have a path (use http://host:port or https://host)".into(),
        })?
        .pop_if_empty()
        .push(path_segment(kind))
        .push(room);
    Ok(url)
}

/// A WHIP/WHEP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// Connection refused, DNS failure, TLS failure or timeout.
    #[error(
        "gateway unreachable at {url}: {cause}; check --gateway and that samsyn-gateway is running"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The underlying cause.
        cause: String,
    },
    /// The gateway's certificate was not accepted.
    #[error(
        "the certificate of the gateway at {url} was not accepted: {cause}. A gateway with a \
         self-signed certificate is trusted with --pin-sha256 <the fingerprint it prints>, one \
         with the hospital's own CA with --ca-file <ca.pem>"
    )]
    Certificate {
        /// The URL tried.
        url: String,
        /// What the TLS layer said.
        cause: String,
    },
    /// 401 or 403.
    #[error(
        "the gateway refused the token for room {room} (wrong or expired); ask for a new {role} token"
    )]
    TokenRefused {
        /// The room.
        room: String,
        /// `publisher`, or `specialist or observer`.
        role: &'static str,
        /// 401 or 403.
        status: u16,
        /// The gateway's machine code (`invalid_token`, `token_expired`,
        /// `wrong_room`, …), when it gave one.
        code: Option<String>,
    },
    /// 404: the room does not exist.
    #[error(
        "room {room} is unknown to the gateway at {url}; check --room, or create the room \
         with `samsyn-gateway room create`"
    )]
    RoomUnknown {
        /// The room.
        room: String,
        /// The URL tried.
        url: String,
        /// The gateway's machine code (`unknown_room`), when it gave one.
        code: Option<String>,
    },
    /// The hospital has ended the consultation (410): its links no longer
    /// work, and no retry will change that.
    #[error(
        "the consultation in room {room} has ended: the hospital closed it and its links no \
         longer work; ask the hospital for a new link if it should go on"
    )]
    RoomEnded {
        /// The room.
        room: String,
        /// The gateway's machine code (`room_ended`), when it gave one.
        code: Option<String>,
    },
    /// Any other 4xx/5xx; carries the gateway's own explanation.
    #[error("the gateway at {url} answered {status}: {detail}")]
    Rejected {
        /// The URL tried.
        url: String,
        /// The HTTP status.
        status: u16,
        /// `message (error)` from the gateway's JSON body, or the body itself.
        detail: String,
        /// The gateway's machine code, when it gave one.
        code: Option<String>,
    },
    /// A success status but not a WHIP answer.
    #[error(
        "the server at {url} did not answer as a WHIP/WHEP endpoint: {why}; check --gateway \
         points at samsyn-gateway"
    )]
    NotWhip {
        /// The URL tried.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The session resource is gone: the gateway restarted, or ended it.
    #[error("the gateway no longer knows session {url}")]
    SessionGone {
        /// The session URL.
        url: String,
    },
    /// The gateway URL cannot be used.
    #[error("gateway URL {url} cannot be used: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        why: String,
    },
}

impl WhipError {
    /// The HTTP status the gateway answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            WhipError::TokenRefused { status, .. } | WhipError::Rejected { status, .. } => {
                Some(*status)
            }
            WhipError::RoomUnknown { .. } | WhipError::SessionGone { .. } => Some(404),
            WhipError::RoomEnded { .. } => Some(410),
            _ => None,
        }
    }

    /// Whether trying again cannot help: the token, the room or the
    /// gateway's certificate was refused, or the configuration is wrong.
    /// Anything else (unreachable, 5xx, a vanished session) may heal.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            WhipError::TokenRefused { .. }
                // Trusting another certificate is a decision for the person
                // who set the daemon up, never something to retry into.
                | WhipError::Certificate { .. }
                | WhipError::RoomUnknown { .. }
                | WhipError::RoomEnded { .. }
                | WhipError::NotWhip { .. }
                | WhipError::BadUrl { .. }
        )
    }

    /// The gateway's machine error code (`token_expired`, `room_ended`,
    /// `invalid_token`, `wrong_room`, `unknown_room`, …) from the JSON body
    /// of its refusal, for a screen to pick its wording by; `None` when the
    /// gateway gave none or never answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            WhipError::TokenRefused { code, .. }
            | WhipError::RoomUnknown { code, .. }
            | WhipError::RoomEnded { code, .. }
            | WhipError::Rejected { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// A short account for the nurse's terminal: what is wrong, not the URL.
    pub fn short(&self) -> String {
        match self {
            WhipError::Unreachable { cause, .. } => format!("gateway unreachable ({cause})"),
            WhipError::Rejected { status, detail, .. } => {
                format!("the gateway answered {status}: {detail}")
            }
            WhipError::SessionGone { .. } => {
                "the gateway no longer knows this session (it restarted?)".into()
            }
            other => other.to_string(),
        }
    }
}

/// An established WHIP/WHEP session.
#[derive(Clone)]
pub struct Session {
    /// Where to `PATCH` and `DELETE` the session (absolute).
    pub location: Url,
    /// The gateway's SDP answer.
    pub answer: String,
    /// The `ETag` of the session, if given (needed for ICE restarts).
    pub etag: Option<String>,
    /// ICE servers announced with `Link: <…>; rel="ice-server"`.
    pub ice_servers: Vec<IceServer>,
}

impl std::fmt::Debug for Session {
    // The SDP is left out: it is long, and belongs in debug logs only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("location", &self.location.as_str())
            .field("etag", &self.etag)
            .field("ice_servers", &self.ice_servers.len())
            .finish_non_exhaustive()
    }
}

/// HTTP timeouts: a gateway that does not answer within these is treated as
/// unreachable rather than leaving the nurse waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A session check while reconnecting must not hang on a dead path: a new
/// check soon is worth more than a late answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Asking for the relays is worth a short wait only: without them the
/// session still works wherever UDP passes.
const OPTIONS_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts offers and deletes sessions with one bearer token.
#[derive(Clone)]
pub struct WhipClient {
    http: reqwest::Client,
    token: String,
    kind: SessionKind,
}

impl std::fmt::Debug for WhipClient {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipClient")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl WhipClient {
    /// A client for `kind` sessions authenticated with `token`, trusting
    /// the system's CA roots.
    pub fn new(kind: SessionKind, token: impl Into<String>) -> Self {
        Self::with_trust(kind, token, &GatewayTrust::SystemRoots)
            .expect("a client with the system's roots always builds")
    }

    /// A client that verifies the gateway's certificate as `trust` says.
    pub fn with_trust(
        kind: SessionKind,
        token: impl Into<String>,
        trust: &GatewayTrust,
    ) -> Result<Self, TrustError> {
        Ok(Self {
            http: trust.http_client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)?,
            token: token.into(),
            kind,
        })
    }

    /// What kind of session this client makes.
    pub fn kind(&self) -> SessionKind {
        self.kind
    }

    /// The ICE servers (TURN relays, STUN) the endpoint `url` announces to
    /// this client: `OPTIONS` with the bearer token, RFC 9725 §4.6. A
    /// gateway without relays answers 204 or 405 without `Link` headers;
    /// that, and any failure, gives an empty list: the session then goes
    /// on without relays. Ask again for every new session, as the
    /// credentials are short-lived.
    pub async fn ice_servers(&self, url: &Url) -> Vec<IceServer> {
        let response = match self
            .http
            .request(reqwest::Method::OPTIONS, url.clone())
            .timeout(OPTIONS_TIMEOUT)
            .bearer_auth(&self.token)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(
                    %url,
                    cause = error_cause(&e),
                    "OPTIONS failed; going on without relays"
                );
                return Vec::new();
            }
        };
        let status = response.status();
        if !status.is_success() {
            tracing::debug!(%url, %status, "OPTIONS refused; going on without relays");
            return Vec::new();
        }
        response
            .headers()
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_link_header)
            .collect()
    }

    /// Posts `offer` (SDP) to `url` and returns the session with the answer.
    pub async fn post_offer(&self, url: &Url, offer: &str) -> Result<Session, WhipError> {
        tracing::debug!(%url, "posting SDP offer");
        let response = self
            .http
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/sdp")
            .header(header::ACCEPT, "application/sdp")
            .bearer_auth(&self.token)
            .body(offer.to_owned())
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;

        let status = response.status();
        // Relative Locations resolve against the URL that answered (the
        // request URL, or where a redirect led).
        let base = response.url().clone();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(|e| unreachable(url, &e))?;
        if !status.is_success() {
            return Err(self.status_error(url, status, &body));
        }
        if status != StatusCode::CREATED {
            tracing::debug!(%status, "gateway answered the offer with a success status other than 201");
        }
        let session = parse_created(url, &base, &headers, body)?;
        tracing::info!(location = %session.location, "{} session created", path_segment(self.kind).to_uppercase());
        Ok(session)
    }

    /// Ends the session. A session the gateway no longer knows counts as
    /// ended.
    pub async fn delete(&self, session: &Session) -> Result<(), WhipError> {
        let url = &session.location;
        let response = self
            .http
            .delete(url.clone())
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            tracing::info!(location = %url, "session ended");
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.status_error(url, status, &body))
    }

    /// Asks whether the gateway still has `session`, with a trickle-ICE
    /// `PATCH` that changes nothing (the current ICE credentials, no
    /// candidates). `Ok` when it does; [`WhipError::SessionGone`] when it
    /// answers 404.
    pub async fn check(&self, session: &Session, ice_fragment: &str) -> Result<(), WhipError> {
        let url = &session.location;
        let mut request = self
            .http
            .patch(url.clone())
            .timeout(CHECK_TIMEOUT)
            .header(header::CONTENT_TYPE, "application/trickle-ice-sdpfrag")
            .bearer_auth(&self.token)
            .body(ice_fragment.to_owned());
        if let Some(etag) = &session.etag {
            request = request.header(header::IF_MATCH, etag);
        }
        let response = request.send().await.map_err(|e| unreachable(url, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::NOT_FOUND {
            return Err(WhipError::SessionGone {
                url: url.to_string(),
            });
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.status_error(url, status, &body))
    }

    fn status_error(&self, url: &Url, status: StatusCode, body: &str) -> WhipError {
        let room = room_of(url);
        let (code, message) = parse_error_body(body);
        tracing::debug!(%status, error = code.as_deref().unwrap_or(""), message = message.as_deref().unwrap_or(""), "gateway refused the request");
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => WhipError::TokenRefused {
                room,
                role: token_role(self.kind),
                status: status.as_u16(),
                code,
            },
            StatusCode::NOT_FOUND => WhipError::RoomUnknown {
                room,
                url: url.to_string(),
                code,
            },
            StatusCode::GONE => WhipError::RoomEnded { room, code },
            _ => WhipError::Rejected {
                url: url.to_string(),
                status: status.as_u16(),
                detail: describe_rejection(status, code.clone(), message, body),
                code,
            },
        }
    }
}

fn parse_created(
    url: &Url,
    base: &Url,
    headers: &HeaderMap,
    body: String,
) -> Result<Session, WhipError> {
    let not_whip = |why: &str| WhipError::NotWhip {
        url: url.to_string(),
        why: why.to_owned(),
    };
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| not_whip("the answer has no Location header"))?;
    let location = base
        .join(location)
        .map_err(|_| not_whip("the Location header is not a URL"))?;
    if let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !content_type
            .to_ascii_lowercase()
            .starts_with("application/sdp")
    {
        return Err(not_whip(&format!(
            "the answer is {content_type}, not application/sdp"
        )));
    }
    if !body.trim_start().starts_with("v=0") {
        return Err(not_whip("the answer body is not an SDP"));
    }
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ice_servers = headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_link_header)
        .collect();
    Ok(Session {
        location,
        answer: body,
        etag,
        ice_servers,
    })
}

fn unreachable(url: &Url, error: &reqwest::Error) -> WhipError {
    let cause = error_cause(error);
    // rustls says "invalid peer certificate: …"; our pin check says it too.
    if cause.contains("certificate") {
        return WhipError::Certificate {
            url: url.to_string(),
            cause,
        };
    }
    WhipError::Unreachable {
        url: url.to_string(),
        cause,
    }
}

/// The innermost causes of a reqwest error ("tcp connect error: Connection
/// refused (os error 111)"), without reqwest's own wrapper text, which only
/// repeats the URL.
fn error_cause(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        // hyper's "client error (Connect)" only restates the error kind.
        if !text.starts_with("client error (") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    if error.is_timeout() {
        parts.push("timed out".into());
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// The room of an endpoint (`…/whip/{room}`) or of a session in it
/// (`…/whip/{room}/{session}`).
fn room_of(url: &Url) -> String {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|segments| segments.collect())
        .unwrap_or_default();
    segments
        .iter()
        .position(|segment| matches!(*segment, "whip" | "whep"))
        .and_then(|index| segments.get(index + 1))
        .or(segments.last())
        .map(|room| percent_decode(room))
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `{"error": "<code>", "message": "<text>"}` → (code, message).
fn parse_error_body(body: &str) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, None);
    };
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    (field("error"), field("message"))
}

fn describe_rejection(
    status: StatusCode,
    code: Option<String>,
    message: Option<String>,
    body: &str,
) -> String {
    match (message, code) {
        (Some(message), Some(code)) => format!("{message} ({code})"),
        (Some(message), None) => message,
        (None, Some(code)) => code,
        (None, None) => {
            let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            if body.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation given")
                    .to_owned()
            } else {
                // A proxy's HTML error page can be long; the start says enough.
                body.chars().take(200).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_prefix_and_escapes_room() {
        let base = Url::parse("https://gw.example.org/samsyn/").unwrap();
        let url = endpoint_url(&base, SessionKind::Publish, "ward 7").unwrap();
        assert_eq!(url.as_str(), "https://gw.example.org/samsyn/whip/ward%207");
        assert_eq!(room_of(&url), "ward 7");
        let base = Url::parse("http://127.0.0.1:8080").unwrap();
        let url = endpoint_url(&base, SessionKind::View, "r1").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/whep/r1");
    }

    #[test]
    fn a_sessions_room_is_the_segment_after_whip_or_whep() {
        let session = Url::parse("https://gw.example.org/samsyn/whip/ward%207/s3ss10n").unwrap();
        assert_eq!(room_of(&session), "ward 7");
        let session = Url::parse("http://127.0.0.1:8080/whep/r1/abc").unwrap();
        assert_eq!(room_of(&session), "r1");
    }

    #[test]
    fn error_body_is_described() {
        let (code, message) =
            parse_error_body(r#"{"error":"room_full","message":"the room has 10 viewers"}"#);
        assert_eq!(
            describe_rejection(StatusCode::CONFLICT, code, message, ""),
            "the room has 10 viewers (room_full)"
        );
        assert_eq!(
            describe_rejection(StatusCode::BAD_GATEWAY, None, None, ""),
            "Bad Gateway"
        );
    }

    #[test]
    fn a_refusal_keeps_the_gateways_machine_code() {
        let client = WhipClient::new(SessionKind::Publish, "token");
        let url = Url::parse("https://gw.example.org/whip/ward7").unwrap();
        let expired = client.status_error(
            &url,
            StatusCode::UNAUTHORIZED,
            r#"{"error":"token_expired","message":"the link has expired"}"#,
        );
        assert_eq!(expired.code(), Some("token_expired"));
        let ended = client.status_error(&url, StatusCode::GONE, r#"{"error":"room_ended"}"#);
        assert_eq!(ended.code(), Some("room_ended"));
        // Another WHIP server's bare refusal has no code.
        let bare = client.status_error(&url, StatusCode::FORBIDDEN, "forbidden");
        assert_eq!(bare.code(), None);
    }
}
