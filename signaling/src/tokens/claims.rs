//! What a token says: which room, which role, until when, for whom.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the holder of a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The nurse's capture device: publishes the room's one camera over WHIP.
    Publisher,
    /// A wound specialist or GP: watches over WHEP (and, later, talks back
    /// and asks for stills).
    Specialist,
    /// A relative or a student: watches over WHEP, nothing more.
    Observer,
    /// The people who run the gateway: create, list and end rooms. Admin
    /// tokens belong to no room and cannot watch one.
    Admin,
}

impl Role {
    /// Every role, for help texts and parsing.
    pub const ALL: [Role; 4] = [
        Role::Publisher,
        Role::Specialist,
        Role::Observer,
        Role::Admin,
    ];

    /// The name used in tokens, audit records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Specialist => "specialist",
            Role::Observer => "observer",
            Role::Admin => "admin",
        }
    }

    /// Parses the name [`Role::as_str`] gives.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// True for the roles that belong to one room (all but admin).
    pub fn is_room_scoped(self) -> bool {
        self != Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of a samsyn token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room the token admits to; `None` only for admin tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// What the holder may do there.
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Unique token id: names the token in logs and the audit trail, and is
    /// the identity of a publisher (the same camera reconnecting presents it
    /// again).
    pub jti: String,
    /// Who the token was made for, as shown to other participants and kept
    /// in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Claims {
    /// The claims a token carries, read without checking its signature:
    /// for clients that hold a token and want to know which room it names
    /// (the gateway checks the signature when the token is used). `None`
    /// when `token` is not a JWT with samsyn claims.
    pub fn read_unverified(token: &str) -> Option<Claims> {
        use base64::Engine as _;
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

// Display names are personal data: keep them out of any `{:?}` that might
// end up in a log.
impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("room", &self.room)
            .field("role", &self.role)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("jti", &self.jti)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn claims_are_read_from_the_payload_without_the_signature() {
        let payload = URL_SAFE_NO_PAD
            .encode(r#"{"room":"k3v9x2m4qa","role":"publisher","exp":9,"iat":1,"jti":"t1"}"#);
        let claims = Claims::read_unverified(&format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2ln"))
            .expect("claims");
        assert_eq!(claims.room.as_deref(), Some("k3v9x2m4qa"));
        assert_eq!(claims.role, Role::Publisher);
        for not_a_token in [
            "",
            "abc",
            "a.!!!.c",
            &format!("a.{}.c", URL_SAFE_NO_PAD.encode("[]")),
        ] {
            assert!(
                Claims::read_unverified(not_a_token).is_none(),
                "{not_a_token}"
            );
        }
    }
}
