//! Issuing and checking tokens.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;

use super::claims::{Claims, Role};
use super::key_store::{self, KeyError, KeyMaterial};
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
    /// A genuine token for this room, but in a role this endpoint does not take.
    #[error(
        "the token is a {presented} token; this needs one of {}",
        roles(allowed)
    )]
    WrongRole {
        presented: Role,
        allowed: &'static [Role],
    },
    /// A genuine token for a room that was ended: its consultation is over.
    #[error("the room has been ended")]
    RoomEnded,
    /// A genuine token for a room this gateway does not know (never
    /// created here, or its record is gone after it expired).
    #[error("the room is unknown to this gateway")]
    UnknownRoom,
}

fn roles(allowed: &[Role]) -> String {
    allowed
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a new token is for.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The room; `None` for admin tokens.
    pub room: Option<&'a str>,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// The holder's display name, shown to the others and kept in the audit
    /// trail.
    pub name: Option<&'a str>,
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
        Ok(Self::from_key(key_store::load_or_create(
            data_dir.as_ref(),
        )?))
    }

    /// Uses the signing key in `path` (an Ed25519 PKCS#8 key, DER or PEM),
    /// kept by the hospital elsewhere than the data directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Ok(Self::from_key(key_store::load(path.as_ref())?))
    }

    fn from_key(key: KeyMaterial) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Issuer and verifier are the same gateway with the same clock.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_ed_der(&key.pkcs8),
            decoding: DecodingKey::from_ed_der(&key.public_key),
            validation,
            key_path: key.path,
        }
    }

    /// Where the signing key is kept.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Issues a token as `grant` says, with a fresh unique id.
    pub fn issue(&self, grant: Grant<'_>) -> String {
        self.issue_at(unix_now(), grant)
    }

    /// Issues a token as if the time were `now` (seconds since the epoch).
    pub(crate) fn issue_at(&self, now: u64, grant: Grant<'_>) -> String {
        let claims = Claims {
            room: grant.room.map(str::to_owned),
            role: grant.role,
            exp: grant.expires_at,
            iat: now,
            jti: random_token_id(),
            name: grant.name.map(str::to_owned),
        };
        // Signing can only fail on a key ring cannot parse or claims serde
        // cannot serialise; the key was parsed when it was loaded and the
        // claims are plain strings and numbers.
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)
            .expect("signing with a validated Ed25519 key does not fail")
    }

    /// Checks that `token` is ours and unexpired, that its role is one of
    /// `allowed`, and, for a room's endpoint (`room` given), that it is that
    /// room's token. Admin tokens hold no room and pass the room check
    /// wherever `allowed` takes admins. Whether the room is still open is
    /// for the caller to check: tokens are self-contained, rooms are not.
    pub fn verify(
        &self,
        token: &str,
        room: Option<&str>,
        allowed: &'static [Role],
    ) -> Result<Claims, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        // A token must be either room-scoped with a room or an admin token
        // without one; anything else was not made by `issue`.
        if claims.role.is_room_scoped() != claims.room.is_some() {
            return Err(AuthError::Invalid);
        }
        if let (Some(wanted), Some(held)) = (room, claims.room.as_deref())
            && wanted != held
        {
            return Err(AuthError::WrongRoom);
        }
        if !allowed.contains(&claims.role) {
            return Err(AuthError::WrongRole {
                presented: claims.role,
                allowed,
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
