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
