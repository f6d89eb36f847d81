//! Short-lived TURN credentials: the TURN REST API scheme, as coturn's
//! `use-auth-secret` / `static-auth-secret` checks them.
//!
//! The username is `<unix expiry>:<token id>` and the password is
//! `base64(HMAC-SHA1(secret, username))`. A relay that knows the secret
//! checks a credential without asking anyone: it recomputes the password and
//! refuses a username whose expiry has passed. Each WHIP/WHEP client gets its
//! own pair, expiring with its token at the latest, so a credential copied
//! out of one consultation is worth little and nothing of it is a secret that
//! lasts.
//!
//! HMAC-SHA1 is what the scheme and coturn fix; it is used here as a MAC
//! keyed with a 256-bit secret, where SHA-1's collision weakness does not
//! apply.

use base64::Engine;
use ring::hmac;

/// A username and password for one client's use of the relays.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredential {
    /// `<unix expiry>:<token id>`.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))`.
    pub password: String,
    /// When the relays stop accepting it (Unix seconds).
    pub expires_unix: u64,
}

impl std::fmt::Debug for TurnCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log, even through a debug print.
        f.debug_struct("TurnCredential")
            .field("expires_unix", &self.expires_unix)
            .finish_non_exhaustive()
    }
}

/// Mints the credential of the client whose token has id `token_id`, valid
/// until `expires_unix`.
pub fn mint(secret: &[u8], expires_unix: u64, token_id: &str) -> TurnCredential {
    // A ':' in the id would make the username ambiguous to parse; token ids
    // are URL-safe, but a credential must never depend on that.
    let id: String = token_id.chars().filter(|c| *c != ':').collect();
    let username = format!("{expires_unix}:{id}");
    TurnCredential {
        password: password(secret, &username),
        username,
        expires_unix,
    }
}

/// The password that goes with `username` under `secret`.
pub fn password(secret: &[u8], username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The expiry a username carries, if it is of the scheme's form.
pub fn expiry_of(username: &str) -> Option<u64> {
    let (expiry, _id) = username.split_once(':')?;
    expiry.parse().ok()
}

/// The password for `username` if it is of the scheme's form and has not
/// expired at `now_unix`: what a relay checks before it computes the
/// long-term key.
pub fn password_if_current(secret: &[u8], username: &str, now_unix: u64) -> Option<String> {
    let expiry = expiry_of(username)?;
    (expiry > now_unix).then(|| password(secret, username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_scheme_coturn_checks() {
        // Computed independently:
        // printf '%s' '1700000000:abc' | openssl dgst -sha1 -hmac 'north' -binary | base64
        assert_eq!(
            password(b"north", "1700000000:abc"),
            "g5HTmCBrPDhYXFpM/1dHUtfE+c4="
        );
    }

    #[test]
    fn a_minted_credential_checks_until_it_expires() {
        let credential = mint(b"secret", 1_000, "token-1");
        assert_eq!(credential.username, "1000:token-1");
        assert_eq!(
            password_if_current(b"secret", &credential.username, 999),
            Some(credential.password.clone())
        );
        assert_eq!(
            password_if_current(b"secret", &credential.username, 1_000),
            None
        );
        assert_ne!(
            password(b"other", &credential.username),
            credential.password
        );
    }

    #[test]
    fn usernames_out_of_form_have_no_expiry() {
        assert_eq!(expiry_of("alice"), None);
        assert_eq!(expiry_of("soon:x"), None);
        assert_eq!(expiry_of("12:x"), Some(12));
        assert_eq!(mint(b"s", 5, "a:b").username, "5:ab");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let credential = mint(b"secret", 1_000, "t");
        let printed = format!("{credential:?}");
        assert!(!printed.contains(&credential.password));
        assert!(!printed.contains("t\""));
    }
}
