//! Where the relay learns a username's password.
//!
//! The relay only asks "what is this username's password, if it may use the
//! relay now?"; [`shared_secret`] answers that for the TURN REST API scheme
//! the gateway mints its credentials with
//! ([`samsyn_signaling::turn_credentials`]), with the clock passed in so
//! tests decide what "now" is.

use samsyn_signaling::turn_credentials;

/// Username → password, `None` when the username is unknown or expired.
pub type CredentialLookup = Box<dyn Fn(&str) -> Option<String> + Send>;

/// Passwords derived from `secret` for usernames whose expiry (Unix seconds)
/// is still ahead of `unix_now()`.
pub fn shared_secret(
    secret: Vec<u8>,
    unix_now: impl Fn() -> u64 + Send + 'static,
) -> CredentialLookup {
    Box::new(move |username| turn_credentials::password_if_current(&secret, username, unix_now()))
}

/// The system clock in Unix seconds, for [`shared_secret`] in production.
pub fn system_unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_current_usernames_of_the_scheme() {
        let lookup = shared_secret(b"secret".to_vec(), || 1_000);
        let current = turn_credentials::mint(b"secret", 1_001, "tok");
        assert_eq!(lookup(&current.username), Some(current.password));
        let expired = turn_credentials::mint(b"secret", 1_000, "tok");
        assert_eq!(lookup(&expired.username), None);
        assert_eq!(lookup("no expiry"), None);
    }
}
