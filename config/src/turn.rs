//! The `[turn]` section of the gateway: which TURN relays WHIP/WHEP clients
//! are told about (the gateway's built-in one, external ones such as
//! coturn), and the shape a relay's URI must have (RFC 7065).

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// TURN relays for clients whose UDP cannot reach the media port.
///
/// Every relay, built in or external, checks the same short-lived
/// credentials (the TURN REST API scheme, coturn's `use-auth-secret`), so
/// they all share one secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// The relay built into the gateway's HTTPS listener (TURN over TLS and
    /// over plain TCP on the same port). Unset: on when TLS is on.
    pub builtin: Option<bool>,
    /// External relays announced to clients, as RFC 7065 URIs
    /// (`turns:turn.hospital.example:443?transport=tcp`).
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret` in a file (mode 0600); required with
    /// `urls`. Unset without external relays: a secret made on first start
    /// in `<data_dir>/turn/secret`.
    pub secret_file: Option<PathBuf>,
    /// How long a client's relay credentials stay valid, in seconds; never
    /// longer than the client's token.
    pub credential_ttl_secs: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            builtin: None,
            urls: Vec::new(),
            secret_file: None,
            credential_ttl_secs: 3600,
        }
    }
}

/// What a relay URI must look like, for error messages.
pub(crate) const TURN_URI_FORM: &str = "must be a TURN URI as in RFC 7065: \
    turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=udp|tcp], IPv6 \
    hosts in brackets, no // after the scheme (e.g. turns:turn.hospital.example:443?transport=tcp)";

/// True for an RFC 7065 URI: `turn:` or `turns:`, a host (IPv6 in
/// brackets), an optional port and an optional `?transport=udp|tcp`.
///
/// Stricter than the grammar where browsers are: only the transports they
/// know, and host names of letters, digits, `-`, `.` and `_`, so a URI can
/// also go into a `Link` header unchanged.
pub(crate) fn is_turn_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    if !matches!(scheme, "turn" | "turns") {
        return false;
    }
    let (authority, query) = match rest.split_once('?') {
        Some((authority, query)) => (authority, Some(query)),
        None => (rest, None),
    };
    if !matches!(query, None | Some("transport=udp" | "transport=tcp")) {
        return false;
    }
    let (host_ok, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (address.parse::<Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let name_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        (name_ok, port)
    };
    let port_ok = port.is_none_or(|port| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|port| port != 0)
    });
    host_ok && port_ok
}

/// Takes a list, or a single URI as a list of one: `SAMSYN_TURN__URLS=turn:a`
/// reads the same as `SAMSYN_TURN__URLS=[turn:a]`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a TURN URI or a list of them")
        }

        fn visit_str<E: de::Error>(self, uri: &str) -> Result<Vec<String>, E> {
            Ok(vec![uri.to_owned()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut uris = Vec::new();
            while let Some(uri) = seq.next_element()? {
                uris.push(uri);
            }
            Ok(uris)
        }
    }

    deserializer.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::is_turn_uri;

    #[test]
    fn turn_uris_of_rfc_7065_are_accepted() {
        for uri in [
            "turn:turn.example",
            "turns:turn.example",
            "turn:turn.example:3478",
            "turn:turn.example:3478?transport=udp",
            "turns:turn.example:443?transport=tcp",
            "turn:192.0.2.1:3478",
            "turn:[2001:db8::1]:3478?transport=tcp",
            "turns:[::1]",
            "turn:relay_1.hospital-north.example",
        ] {
            assert!(is_turn_uri(uri), "{uri}");
        }
    }

    #[test]
    fn other_uris_are_refused() {
        for uri in [
            "",
            "turn:",
            "stun:stun.example:3478",
            "TURN:turn.example",
            "turn://turn.example:3478",
            "https://turn.example",
            "turn:turn.example:",
            "turn:turn.example:0",
            "turn:turn.example:65536",
            "turn:turn.example:34a8",
            "turn:turn.example?transport=sctp",
            "turn:turn.example?transport=",
            "turn:turn.example:3478?transport=udp&x=1",
            "turn:2001:db8::1:3478",
            "turn:[2001:db8::1:3478",
            "turn:[not-an-address]:3478",
            "turn:[::1]3478",
            "turn:user@turn.example",
            "turn:turn.example/path",
            "turn:turn.example:3478\"; rel=\"x",
        ] {
            assert!(!is_turn_uri(uri), "{uri}");
        }
    }
}
