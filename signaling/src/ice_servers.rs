//! The TURN relays each WHIP/WHEP client is told about, with its own
//! short-lived credentials, as `Link: <turn:…>; rel="ice-server"` headers
//! (RFC 9725 §4.6), and the secret those credentials are made with.
//!
//! Every relay, the gateway's built-in one and external ones such as coturn,
//! checks credentials with the same secret (the TURN REST API scheme of
//! [`turn_credentials`]), so one credential serves all the announced URIs.
//!
//! The secret is text, as coturn's `static-auth-secret` is: the HMAC key is
//! the file's UTF-8 bytes without surrounding whitespace. A secret the
//! gateway makes itself is 32 random bytes written as 64 hex digits, so the
//! same file can be handed to a coturn next to the gateway unchanged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use ring::rand::{SecureRandom, SystemRandom};
use url::Url;

use crate::private_files::{self, PathError};
use crate::turn_credentials::{self, TurnCredential};

/// Directory under the data directory that holds the generated secret.
pub const SECRET_DIR: &str = "turn";
/// File name of the generated secret.
pub const SECRET_FILE: &str = "secret";

/// Which relays clients are told about, independent of how that was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServerSettings {
    /// The gateway's listener also speaks TURN: announce it on the public
    /// URL's host and port.
    pub builtin_relay: bool,
    /// External relays, as RFC 7065 URIs, announced as given.
    pub external_urls: Vec<String>,
    /// How long a client's credentials stay valid (never beyond its token).
    pub credential_ttl: Duration,
}

impl IceServerSettings {
    /// The relay URIs to announce, in order of preference: the built-in
    /// relay over TLS (only when the public URL is https), over plain TCP,
    /// then the external relays as given.
    ///
    /// The built-in relay listens where the HTTPS listener does, so its
    /// URIs take the public URL's host and port (443 when the URL names
    /// none). That assumes the public URL reaches the gateway's listener
    /// itself, not an HTTP-only reverse proxy in front of it.
    pub fn relay_uris(&self, public_base_url: &Url) -> Vec<String> {
        let mut uris = Vec::new();
        if self.builtin_relay
            && let (Some(host), Some(port)) = (
                public_base_url.host_str(),
                public_base_url.port_or_known_default(),
            )
        {
            // `host_str` keeps an IPv6 host in brackets, as a TURN URI needs it.
            if public_base_url.scheme() == "https" {
                uris.push(format!("turns:{host}:{port}?transport=tcp"));
            }
            uris.push(format!("turn:{host}:{port}?transport=tcp"));
        }
        uris.extend(self.external_urls.iter().cloned());
        uris
    }
}

/// The secret the relays check credentials with. It never appears in a log:
/// `{:?}` prints `TurnSecret(..)`.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnSecret(Arc<[u8]>);

impl fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnSecret(..)")
    }
}

/// Why the relay secret could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(
        "the TURN secret file {path} is readable by others (mode {mode:o}); anyone who can \
         read it can make relay credentials. Run `chmod 600 {path}`",
        path = path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "the TURN secret file {path} is empty; put coturn's static-auth-secret in it \
         (one line of text), or unset turn.secret_file to have the gateway make its own",
        path = path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "the TURN secret file {path} is not text; it must hold coturn's static-auth-secret \
         as one line, e.g. made with `openssl rand -hex 32`",
        path = path.display()
    )]
    NotText { path: PathBuf },
    #[error("the system random generator failed while making the TURN secret")]
    Generate,
}

impl TurnSecret {
    /// A secret of these bytes, e.g. one another component already holds.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into())
    }

    /// The HMAC key credentials are made and checked with.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret of `secret_file` when one is configured (coturn's
    /// `static-auth-secret`), otherwise the one in
    /// `<data_dir>/turn/secret`, made on first use.
    pub fn load_or_create(
        data_dir: &Path,
        secret_file: Option<&Path>,
    ) -> Result<Self, SecretError> {
        if let Some(path) = secret_file {
            return Self::load(path);
        }
        let dir = data_dir.join(SECRET_DIR);
        private_files::create_private_dir(&dir)?;
        let path = dir.join(SECRET_FILE);
        match Self::load(&path) {
            Err(SecretError::Io(err)) if err.is_not_found() => {}
            loaded => return loaded,
        }
        let mut random = [0u8; 32];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| SecretError::Generate)?;
        let text: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        match private_files::create_new_private(&path, format!("{text}\n").as_bytes()) {
            Ok(()) => Ok(Self::from_bytes(text)),
            // Another process (`room create` next to `serve`) made it first;
            // use that one so both hand out credentials the relay accepts.
            Err(err) if err.already_exists() => Self::load(&path),
            Err(err) => Err(err.into()),
        }
    }

    /// The secret in `path`: text, surrounding whitespace left out, in a
    /// file only the gateway's user may read.
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        let (bytes, mode) = private_files::read_with_mode(path)?;
        if private_files::readable_by_others(mode) {
            return Err(SecretError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::NotText {
            path: path.to_owned(),
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self::from_bytes(text.as_bytes()))
    }
}

/// The credential of the client whose token has id `token_id` and expires
/// at `token_expires_unix`: valid for `ttl` from `now_unix`, but never
/// longer than the token, so ending access ends relaying soon after.
pub fn credential_for(
    secret: &TurnSecret,
    ttl: Duration,
    token_id: &str,
    token_expires_unix: u64,
    now_unix: u64,
) -> TurnCredential {
    let expires = now_unix
        .saturating_add(ttl.as_secs())
        .min(token_expires_unix);
    turn_credentials::mint(secret.as_bytes(), expires, token_id)
}

/// One `Link` header value per URI, all with `credential` (RFC 9725 §4.6,
/// RFC 8288 link parameters as quoted strings).
///
/// A URI that cannot go into a header is left out with a warning naming
/// only the URI; configured URIs are checked at startup, so that means a
/// settings value built some other way.
pub fn link_values(uris: &[String], credential: &TurnCredential) -> Vec<HeaderValue> {
    let username = quoted_string(&credential.username);
    let password = quoted_string(&credential.password);
    uris.iter()
        .filter_map(|uri| {
            let link = format!(
                "<{uri}>; rel=\"ice-server\"; username={username}; credential={password}; \
                 credential-type=\"password\""
            );
            match HeaderValue::try_from(link) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(uri, "TURN URI cannot go into a Link header; not announced");
                    None
                }
            }
        })
        .collect()
}

/// `text` as an RFC 9110 quoted-string.
fn quoted_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(builtin_relay: bool, external: &[&str]) -> IceServerSettings {
        IceServerSettings {
            builtin_relay,
            external_urls: external.iter().map(|uri| (*uri).to_owned()).collect(),
            credential_ttl: Duration::from_secs(3600),
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_builtin_relay_is_announced_on_the_public_host_and_port() {
        let builtin = settings(true, &[]);
        assert_eq!(
            builtin.relay_uris(&url("https://gw.example/samsyn/")),
            [
                "turns:gw.example:443?transport=tcp",
                "turn:gw.example:443?transport=tcp"
            ]
        );
        assert_eq!(
            builtin.relay_uris(&url("https://[2001:db8::1]:8443/")),
            [
                "turns:[2001:db8::1]:8443?transport=tcp",
                "turn:[2001:db8::1]:8443?transport=tcp"
            ]
        );
        // No TLS on the listener: TURN over plain TCP only.
        assert_eq!(
            builtin.relay_uris(&url("http://127.0.0.1:8080/")),
            ["turn:127.0.0.1:8080?transport=tcp"]
        );
    }

    #[test]
    fn external_relays_follow_as_given() {
        let both = settings(true, &["turn:coturn.example:3478?transport=udp"]);
        assert_eq!(
            both.relay_uris(&url("http://127.0.0.1:8080/")),
            [
                "turn:127.0.0.1:8080?transport=tcp",
                "turn:coturn.example:3478?transport=udp"
            ]
        );
        let external = settings(false, &["turns:coturn.example"]);
        assert_eq!(
            external.relay_uris(&url("https://gw.example/")),
            ["turns:coturn.example"]
        );
        assert!(
            settings(false, &[])
                .relay_uris(&url("https://gw.example/"))
                .is_empty()
        );
    }

    #[test]
    fn credentials_end_with_the_ttl_or_the_token_whichever_is_first() {
        let secret = TurnSecret::from_bytes("north");
        let ttl = Duration::from_secs(600);
        let early = credential_for(&secret, ttl, "tok", 10_000, 1_000);
        assert_eq!(early.expires_unix, 1_600);
        assert_eq!(early.username, "1600:tok");
        let late = credential_for(&secret, ttl, "tok", 1_100, 1_000);
        assert_eq!(late.expires_unix, 1_100);
        assert_eq!(
            late.password,
            turn_credentials::password(b"north", &late.username)
        );
    }

    #[test]
    fn links_carry_the_credential_as_quoted_parameters() {
        let credential = TurnCredential {
            username: "1700000000:a\"b".into(),
            password: "pw==".into(),
            expires_unix: 1_700_000_000,
        };
        let links = link_values(
            &[
                "turn:gw.example:443?transport=tcp".to_owned(),
                "bad\n".to_owned(),
            ],
            &credential,
        );
        assert_eq!(
            links,
            ["<turn:gw.example:443?transport=tcp>; rel=\"ice-server\"; \
                 username=\"1700000000:a\\\"b\"; credential=\"pw==\"; \
                 credential-type=\"password\""]
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let printed = format!("{:?}", TurnSecret::from_bytes("north"));
        assert_eq!(printed, "TurnSecret(..)");
    }
}
