//! What a token says: which room, which role, until when.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the holder of a token may do in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The nurse's camera: may publish over WHIP.
    Publisher,
    /// A specialist's browser: may watch over WHEP.
    Viewer,
}

impl Role {
    /// The name used in tokens and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
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
    /// The room the token admits to.
    pub room: String,
    /// What the holder may do there.
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Unique token id, so a later revocation list can name one token.
    pub jti: String,
    /// Who the token was made for, as shown to other participants.
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
