//! The HTTP side of the bench: where the gateway is, and offering to it
//! (WHIP, WHEP and the connection-test endpoint all take an SDP offer with a
//! bearer token and answer `201` with the SDP and a `Location`).

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{StatusCode, Url};
use samsyn_capture::gateway_tls::GatewayTrust;
use samsyn_config::ClientTlsConfig;
use samsyn_signaling::Claims;
use serde::Deserialize;

/// Path prefixes that carry the room as their next segment.
const ROOM_PREFIXES: &[&str] = &["whip", "whep", "r", "probe"];

/// A gateway and the room a test runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The gateway's base URL, ending in `/`.
    pub base: Url,
    pub room: String,
}

impl Target {
    /// From `--gateway` (a base URL, or any room URL the gateway printed: the
    /// WHIP or WHEP URL, the specialists' link), `--room` and `--token`.
    ///
    /// The room is `--room`, else the one in the URL, else the one the token
    /// names (its claims are read, not verified: the gateway verifies).
    /// When these name different rooms, that is an error that says which.
    pub fn parse(gateway: &str, room: Option<&str>, token: Option<&str>) -> anyhow::Result<Self> {
        let mut url = Url::parse(gateway).with_context(|| {
            format!("--gateway {gateway:?} is not a URL; give it like https://wound-gw.example.org")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--gateway must start with https:// (or http:// on a test network)");
        }
        url.set_fragment(None);
        url.set_query(None);
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let from_url = segments
            .iter()
            .position(|s| ROOM_PREFIXES.contains(&s.as_str()))
            .and_then(|i| Some((i, segments.get(i + 1)?.clone())));
        let (base_segments, url_room) = match &from_url {
            Some((i, room)) => (&segments[..*i], Some(room.clone())),
            None => (&segments[..], None),
        };
        let given = match (room, url_room) {
            (Some(flag), Some(in_url)) if flag != in_url => {
                bail!("--room {flag} and the room in --gateway ({in_url}) differ; give only one")
            }
            (Some(flag), _) => Some((flag.to_owned(), format!("--room {flag}"))),
            (None, Some(in_url)) => {
                let said = format!("the room in --gateway ({in_url})");
                Some((in_url, said))
            }
            (None, None) => None,
        };
        let token_room = token
            .and_then(Claims::read_unverified)
            .and_then(|claims| claims.room);
        let room = match (given, token_room) {
            (Some((room, said)), Some(named)) if room != named => bail!(
                "{said} is not the room the token is for ({named}); give that room's \
                 publisher token, or leave the room out to test the token's room"
            ),
            (Some((room, _)), _) => room,
            (None, Some(named)) => named,
            (None, None) => bail!(
                "which room? The token names none (give the room's publisher token), \
                 or give --room, or the room's WHIP URL as --gateway (https://…/whip/<room>)"
            ),
        };
        let mut base = url.clone();
        base.set_path(&format!(
            "{}/",
            base_segments
                .iter()
                .map(|s| format!("/{s}"))
                .collect::<String>()
        ));
        Ok(Self { base, room })
    }

    /// `<base><path>`.
    pub fn url(&self, path: &str) -> anyhow::Result<Url> {
        Ok(self.base.join(path.trim_start_matches('/'))?)
    }
}

/// A session the gateway accepted.
#[derive(Debug, Clone)]
pub struct Session {
    pub answer: String,
    /// Where to `GET` (connection tests) or `DELETE` it.
    pub location: Url,
}

/// Why an offer was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The gateway answered with an error (`{"error", "message"}`).
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: Url,
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl OfferError {
    /// The machine code of a refusal (`no_publisher`, `invalid_token`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            Self::Other(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

/// How the bench trusts the gateway's HTTPS certificate: the same choices
/// as the capture daemon, never none.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrustArgs {
    /// Trust the gateway's certificate if a CA in this PEM file signed it,
    /// instead of the system's CAs
    #[arg(long, value_name = "PEM", env = "SAMSYN_TLS__CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Trust exactly the gateway certificate with this SHA-256 fingerprint
    /// (a self-signed gateway's, as `samsyn-gateway room create` prints it)
    #[arg(long, value_name = "FINGERPRINT", env = "SAMSYN_TLS__PIN_SHA256")]
    pub pin_sha256: Option<String>,
}

impl TrustArgs {
    /// The trust these flags ask for.
    pub fn trust(&self) -> anyhow::Result<GatewayTrust> {
        Ok(GatewayTrust::from_config(&ClientTlsConfig {
            ca_file: self.ca_file.clone(),
            pin_sha256: self.pin_sha256.clone(),
        })?)
    }
}

/// An HTTP client for the bench: short timeouts, rustls, the gateway's
/// certificate checked as `trust` says.
pub fn http_client(trust: &TrustArgs) -> anyhow::Result<reqwest::Client> {
    trust
        .trust()?
        .http_client(Duration::from_secs(5), Duration::from_secs(10))
        .context("cannot build the HTTP client")
}

/// POSTs `offer` to `url` with `token`; `201` gives the session.
pub async fn post_offer(
    http: &reqwest::Client,
    url: &Url,
    token: &str,
    offer: String,
) -> Result<Session, OfferError> {
    let response = send_patiently(|| {
        http.post(url.clone())
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .body(offer.clone())
    })
    .await
    .with_context(|| format!("no answer from {url}; is the gateway address right and up?"))?;
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .with_context(|| format!("{url} answered {status} but the body did not arrive"))?;
    if status != StatusCode::CREATED {
        return Err(refusal(url, status, &body));
    }
    let location = location.with_context(|| format!("{url} answered 201 without a Location"))?;
    Ok(Session {
        answer: body,
        location: url.join(&location).context("the Location is not a URL")?,
    })
}

/// Ends a session (`DELETE`); a session that is already gone is fine.
pub async fn end_session(http: &reqwest::Client, session: &Session, token: &str) {
    let _ = send_patiently(|| http.delete(session.location.clone()).bearer_auth(token)).await;
}

/// How long a request waits out the gateway's rate limit, at most.
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(60);

/// Sends a request; while the gateway answers 429 (its per-address rate
/// limit: a load test makes many requests from one address), waits as its
/// `Retry-After` says and sends it again.
pub async fn send_patiently(
    request: impl Fn() -> reqwest::RequestBuilder,
) -> reqwest::Result<reqwest::Response> {
    let give_up = tokio::time::Instant::now() + RATE_LIMIT_PATIENCE;
    loop {
        let response = request().send().await?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS
            || tokio::time::Instant::now() >= give_up
        {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map_or(Duration::from_secs(1), Duration::from_secs)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        tokio::time::sleep(wait).await;
    }
}

/// The refusal in a gateway's error answer, with what to do about it.
pub fn refusal(url: &Url, status: StatusCode, body: &str) -> OfferError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            String::new(),
            format!(
                "not a samsyn gateway's answer ({}); check --gateway",
                body.chars().take(120).collect::<String>().trim()
            ),
        ),
    };
    OfferError::Refused {
        url: url.clone(),
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_comes_from_the_url_or_the_flag() {
        let t = Target::parse("https://gw.example.org/whip/k3v9x2m4qa", None, None).unwrap();
        assert_eq!(t.base.as_str(), "https://gw.example.org/");
        assert_eq!(t.room, "k3v9x2m4qa");
        let t = Target::parse("https://gw.example.org/r/abc#token=xyz", None, None).unwrap();
        assert_eq!(
            (t.base.as_str(), t.room.as_str()),
            ("https://gw.example.org/", "abc")
        );
        let t = Target::parse("http://127.0.0.1:8080", Some("abc"), None).unwrap();
        assert_eq!(
            t.url("/probe/abc").unwrap().as_str(),
            "http://127.0.0.1:8080/probe/abc"
        );
        // A gateway behind a path prefix keeps it.
        let t = Target::parse("https://h.example/samsyn/whep/abc", None, None).unwrap();
        assert_eq!(t.base.as_str(), "https://h.example/samsyn/");
    }

    #[test]
    fn unclear_targets_say_what_to_give() {
        let err = Target::parse("https://gw.example.org", None, None).unwrap_err();
        assert!(err.to_string().contains("--room"), "{err}");
        let err = Target::parse("https://gw.example.org/whip/a", Some("b"), None).unwrap_err();
        assert!(err.to_string().contains("differ"), "{err}");
        let err = Target::parse("gw.example.org", None, None).unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
