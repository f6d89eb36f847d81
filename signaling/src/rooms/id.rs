//! Room ids: random, short, URL-safe, and free of patient data.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The id of a room, as it appears in `/whip/{room}`, `/whep/{room}` and
/// `/r/{room}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

/// A path segment that cannot be a room id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("room ids are 1 to {max} lowercase letters, digits, '-' or '_'", max = RoomId::MAX_LEN)]
pub struct RoomIdError;

impl RoomId {
    /// Longest room id accepted in a path.
    pub const MAX_LEN: usize = 64;
    /// Length of generated ids: 10 base32 characters, 50 random bits, enough
    /// that ids are not guessed and still short to read out on the phone.
    pub const GENERATED_LEN: usize = 10;
    const ALPHABET: &'static [u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// A fresh random id.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let id = (0..Self::GENERATED_LEN)
            .map(|_| char::from(Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())]))
            .collect();
        Self(id)
    }

    /// Accepts `1..=64` of `[a-z0-9_-]`; wider than what [`RoomId::generate`]
    /// makes, so that rooms named by a later admin API fit too.
    pub fn parse(s: &str) -> Result<Self, RoomIdError> {
        let valid_len = (1..=Self::MAX_LEN).contains(&s.len());
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid_len && valid_chars {
            Ok(Self(s.to_owned()))
        } else {
            Err(RoomIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomId {
    type Error = RoomIdError;

    fn try_from(s: String) -> Result<Self, RoomIdError> {
        Self::parse(&s)
    }
}

impl From<RoomId> for String {
    fn from(room: RoomId) -> String {
        room.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::RoomId;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = RoomId::generate();
        let b = RoomId::generate();
        assert_eq!(a.as_str().len(), RoomId::GENERATED_LEN);
        assert_eq!(RoomId::parse(a.as_str()), Ok(a.clone()));
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_what_does_not_belong_in_a_path() {
        for bad in ["", "Room", "a/b", "a b", "ä", "..", "x?y", &"a".repeat(65)] {
            assert!(RoomId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["a", "ward-7_b", &"a".repeat(64)] {
            assert!(RoomId::parse(good).is_ok(), "{good:?} was refused");
        }
    }
}
