//! Issuing and checking tokens.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;

use super::claims::{Claims, Role};
use super::key_store::{self, KeyError};
use crate::clock::unix_now;

/// Why a request's token does not admit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token was sent")]
    Missing,
    /// Not a token of this gateway: garbage, tampered, wrong algorithm.
    #[error("the token is not valid")]
    Invalid,
    /// A genuine token past its expiry.
    #[error("the token has expired")]
    Expired,
    /// A genuine token for another room.
    #[error("the token is for another room")]
    WrongRoom,
    /// A genuine token for this room, but for another role.
    #[error("the token is a {presented} token; this needs a {required} token")]
    WrongRole { presented: Role, required: Role },
}

/// Issues and verifies the tokens of one gateway.
pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    key_path: PathBuf,
}

impl TokenAuthority {
    /// Loads the signing key from `<data_dir>/keys/token-signing.pk8`,
    /// generating it on first use.
    pub fn load_or_create(data_dir: impl AsRef<Path>) -> Result<Self, KeyError> {
        let key = key_store::load_or_create(data_dir.as_ref())?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        // Issuer and verifier are the same gateway with the same clock.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);

        Ok(Self {
            encoding: EncodingKey::from_ed_der(&key.pkcs8),
            decoding: DecodingKey::from_ed_der(&key.public_key),
            validation,
            key_path: key.path,
        })
    }

    /// Where the signing key is kept.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Issues a token for `room` and `role`, valid for `ttl` from now.
    pub fn issue(&self, room: &str, role: Role, ttl: Duration, name: Option<&str>) -> String {
        self.issue_at(unix_now(), room, role, ttl, name)
    }

    /// Issues a token as if the time were `now` (seconds since the epoch), so
    /// that several tokens of one invite share one expiry.
    pub(crate) fn issue_at(
        &self,
        now: u64,
        room: &str,
        role: Role,
        ttl: Duration,
        name: Option<&str>,
    ) -> String {
        let claims = Claims {
            room: room.to_owned(),
            role,
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
            jti: random_token_id(),
            name: name.map(str::to_owned),
        };
        // Signing can only fail on a key ring cannot parse or claims serde
        // cannot serialise; the key was parsed when it was loaded and the
        // claims are plain strings and numbers.
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)
            .expect("signing with a validated Ed25519 key does not fail")
    }

    /// Checks that `token` is ours, unexpired, and admits `required_role` to
    /// `room`.
    pub fn verify(
        &self,
        token: &str,
        room: &str,
        required_role: Role,
    ) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        if claims.room != room {
            return Err(AuthError::WrongRoom);
        }
        if claims.role != required_role {
            return Err(AuthError::WrongRole {
                presented: claims.role,
                required: required_role,
            });
        }
        Ok(claims)
    }
}

impl fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// 128 random bits, URL-safe.
fn random_token_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
