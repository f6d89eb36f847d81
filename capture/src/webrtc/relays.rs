//! Hands the ICE servers the gateway announced (RFC 7064/7065 URIs with
//! their credentials) to webrtcbin, in the form webrtcbin reads.
//!
//! webrtcbin wants `turn://user:pass@host:port?transport=tcp`. GStreamer
//! 1.22 (`gst-libs/gst/webrtc/nice/nice.c`) parses that with
//! `gst_uri_from_string_escaped`, which leaves the user info escaped, then
//! splits it at the first `:` and unescapes each side. So the user name
//! (`<expiry>:<id>` in TURN REST credentials) and the password (base64,
//! with `/`, `+` and `=`) are percent-encoded here, every byte but the
//! unreserved ones.
//!
//! `turns:` relays are left out: webrtcbin passes them to libnice as
//! `NICE_RELAY_TYPE_TURN_TLS`, and libnice (0.1.21, Debian 12) wraps a relay
//! connection in TLS only in its Google and MSOC compatibility modes, and
//! then only in a fixed "pseudo-SSL" handshake; in the RFC 5245 mode
//! webrtcbin uses it opens plain TCP to the TLS port
//! (`agent_create_tcp_turn_socket` in `agent/agent.c`), which a TLS relay
//! never answers. The gateway serves plain-TCP TURN on the same port as
//! `turn:…?transport=tcp`, which is used instead: the media inside stays
//! DTLS-SRTP encrypted end to end, and TURN's long-term credential
//! mechanism never sends the password itself.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::negotiate::GATHER_TIMEOUT;
use crate::whip::IceServer;

/// How long to wait for ICE gathering when relays are given: a relay
/// candidate takes a TCP connection and two round trips to the relay (the
/// 401 challenge, then the allocation), and without it an offer from a
/// network that blocks UDP cannot connect.
pub const RELAY_GATHER_TIMEOUT: Duration = Duration::from_secs(4);

/// What kind of ICE server an announced URI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `stun:`: finds the public address, relays nothing.
    Stun,
    /// `turn:` over UDP.
    TurnUdp,
    /// `turn:…?transport=tcp`.
    TurnTcp,
    /// `turns:` (TLS, or DTLS with `transport=udp`).
    TurnTls,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Stun => "STUN",
            Kind::TurnUdp => "TURN over UDP",
            Kind::TurnTcp => "TURN over TCP",
            Kind::TurnTls => "TURN over TLS",
        }
    }
}

/// An ICE server URI (RFC 7064 `stun:`, RFC 7065 `turn:`/`turns:`), taken
/// apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUri {
    /// What it is.
    pub kind: Kind,
    /// The host as written, an IPv6 address in brackets.
    pub host: String,
    /// The port (the scheme's default when none is written).
    pub port: u16,
}

impl ServerUri {
    /// [`ServerUri::from_str`] with the error as text, as the bench's
    /// relay code takes it.
    pub fn parse(uri: &str) -> Result<Self, String> {
        uri.parse().map_err(|e: UriError| e.to_string())
    }
}

/// Why an ICE server URI does not parse. The texts never hold
/// credentials: the URI has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:`.
    #[error("it has no scheme")]
    NoScheme,
    /// A query other than `?transport=…`.
    #[error("its query is not ?transport=udp or ?transport=tcp")]
    Query,
    /// `stun:` with a transport.
    #[error("a stun: URI takes no transport")]
    StunTransport,
    /// A transport other than UDP or TCP.
    #[error("transport {0} is neither udp nor tcp")]
    Transport(String),
    /// A scheme other than `stun`, `turn`, `turns`.
    #[error("scheme {0} is not stun, turn or turns")]
    Scheme(String),
    /// `[v6` without `]`.
    #[error("its IPv6 address has no closing ]")]
    UnclosedIpv6,
    /// Brackets around something that is not an IPv6 address.
    #[error("[{0}] is not an IPv6 address")]
    NotIpv6(String),
    /// Something other than `:port` after `[v6]`.
    #[error("something follows its IPv6 address")]
    AfterIpv6,
    /// A host with characters a host name or address cannot have.
    #[error("{0:?} is not a host name or address")]
    Host(String),
    /// A port that is not 1 to 65535.
    #[error("{0:?} is not a port")]
    Port(String),
}

impl FromStr for ServerUri {
    type Err = UriError;

    /// Parses `scheme:host[:port][?transport=udp|tcp]`; the error says
    /// what is wrong.
    fn from_str(uri: &str) -> Result<Self, UriError> {
        let (scheme, rest) = uri.split_once(':').ok_or(UriError::NoScheme)?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, query) = match rest.split_once('?') {
            Some((authority, query)) => (authority, Some(query)),
            None => (rest, None),
        };
        let transport = match query.map(|q| q.split_once('=')) {
            None => None,
            Some(Some((key, value))) if key.eq_ignore_ascii_case("transport") => {
                Some(value.to_ascii_lowercase())
            }
            Some(_) => return Err(UriError::Query),
        };
        let kind = match (scheme.as_str(), transport.as_deref()) {
            ("stun", None) => Kind::Stun,
            ("stun", Some(_)) => return Err(UriError::StunTransport),
            ("turn", None | Some("udp")) => Kind::TurnUdp,
            ("turn", Some("tcp")) => Kind::TurnTcp,
            ("turns", None | Some("udp" | "tcp")) => Kind::TurnTls,
            ("turn" | "turns", Some(other)) => {
                return Err(UriError::Transport(other.to_owned()));
            }
            _ => return Err(UriError::Scheme(scheme)),
        };
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            Some(port) => port,
            None if kind == Kind::TurnTls => 5349,
            None => 3478,
        };
        Ok(Self { kind, host, port })
    }
}

impl ServerUri {
    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// The `host:port` part of webrtcbin's URI.
    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// `host[:port]`, `[v6]` or `[v6]:port`, checked: a host of unreserved
/// characters only, a port from 1 to 65535.
fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UriError> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or(UriError::UnclosedIpv6)?;
        address
            .parse::<Ipv6Addr>()
            .map_err(|_| UriError::NotIpv6(address.to_owned()))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UriError::AfterIpv6)?),
        };
        (format!("[{address}]"), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
        if !host_ok {
            return Err(UriError::Host(host.to_owned()));
        }
        (host.to_owned(), port)
    };
    let port = match port {
        None => None,
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UriError::Port(port.to_owned()))?,
        ),
    };
    Ok((host, port))
}

/// Percent-encodes every byte of `s` but the unreserved characters of
/// RFC 3986, so nothing in a user name or password can end the user info
/// (`:`, `@`, `/`, `?`, `#`) or be unescaped wrongly (`%`, `+`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// webrtcbin's `turn://user:pass@host:port?transport=…` for a TURN server.
pub fn webrtcbin_turn_uri(server: &ServerUri, username: &str, credential: &str) -> String {
    let (scheme, transport) = match server.kind {
        Kind::TurnTls => ("turns", "tcp"),
        Kind::TurnTcp => ("turn", "tcp"),
        Kind::TurnUdp | Kind::Stun => ("turn", "udp"),
    };
    format!(
        "{scheme}://{}:{}@{}?transport={transport}",
        percent_encode(username),
        percent_encode(credential),
        server.authority()
    )
}

/// webrtcbin's `stun://host:port` for a STUN server.
pub fn webrtcbin_stun_uri(server: &ServerUri) -> String {
    format!("stun://{}", server.authority())
}

/// One server as webrtcbin will get it.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    server: ServerUri,
    /// webrtcbin's URI; holds the credentials, so it is never logged.
    uri: String,
}

/// The ICE servers for one session, ready for webrtcbin: at most one STUN
/// server (webrtcbin takes one) and the TURN relays in the order announced.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Relays {
    stun: Option<Entry>,
    turn: Vec<Entry>,
    /// What was announced but is not given to webrtcbin, and why.
    left_out: Vec<(Kind, &'static str)>,
}

impl std::fmt::Debug for Relays {
    // The URIs hold credentials: only kinds and hosts are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |e: &Entry| format!("{} {}", e.server.kind.describe(), e.server.authority());
        f.debug_struct("Relays")
            .field("stun", &self.stun.as_ref().map(show))
            .field("turn", &self.turn.iter().map(show).collect::<Vec<_>>())
            .field("left_out", &self.left_out)
            .finish()
    }
}

impl Relays {
    /// Converts what the gateway announced; what webrtcbin cannot use is
    /// left out (see [`Relays::summary`]).
    pub fn from_announced(servers: &[IceServer]) -> Self {
        let mut relays = Relays::default();
        let mut seen = HashSet::new();
        for announced in servers {
            let server = match announced.url.parse::<ServerUri>() {
                Ok(server) => server,
                Err(why) => {
                    tracing::debug!(url = %announced.url, %why, "ignoring an announced ICE server");
                    continue;
                }
            };
            let kind = server.kind;
            if kind == Kind::TurnTls {
                relays.left_out.push((
                    kind,
                    "GStreamer's ICE agent (libnice) cannot reach a relay over TLS",
                ));
                continue;
            }
            let uri = if kind == Kind::Stun {
                webrtcbin_stun_uri(&server)
            } else {
                let credentials = announced
                    .username
                    .as_deref()
                    .zip(announced.credential.as_deref())
                    .filter(|(user, pass)| !user.is_empty() && !pass.is_empty());
                let Some((username, credential)) = credentials else {
                    relays
                        .left_out
                        .push((kind, "announced without username and credential"));
                    continue;
                };
                // libnice reads them as C strings.
                if username.contains('\0') || credential.contains('\0') {
                    relays.left_out.push((kind, "its credentials hold a NUL"));
                    continue;
                }
                webrtcbin_turn_uri(&server, username, credential)
            };
            // webrtcbin keys its relays by URI; the same one twice would
            // only be tried twice.
            if !seen.insert(uri.clone()) {
                continue;
            }
            let entry = Entry { server, uri };
            match kind {
                Kind::Stun if relays.stun.is_some() => {
                    relays
                        .left_out
                        .push((kind, "webrtcbin takes one STUN server"));
                }
                Kind::Stun => relays.stun = Some(entry),
                _ => relays.turn.push(entry),
            }
        }
        relays
    }

    /// Whether nothing was announced.
    pub fn is_empty(&self) -> bool {
        self.stun.is_none() && self.turn.is_empty() && self.left_out.is_empty()
    }

    /// How many TURN relays webrtcbin gets.
    pub fn relay_count(&self) -> usize {
        self.turn.len()
    }

    /// What webrtcbin gets and what was left out, for the log, with no
    /// hosts or credentials: `2 (TURN over TCP, STUN)`, `2 (TURN over TCP;
    /// left out: TURN over TLS, as …)`.
    pub fn summary(&self) -> String {
        let used: Vec<Kind> = self
            .turn
            .iter()
            .chain(&self.stun)
            .map(|e| e.server.kind)
            .collect();
        let total = used.len() + self.left_out.len();
        let mut text = format!("{total} ({}", counted(&used));
        if !self.left_out.is_empty() {
            let left: Vec<String> = self
                .left_out
                .iter()
                .map(|(kind, why)| format!("{}, as {why}", kind.describe()))
                .collect();
            if !used.is_empty() {
                text.push_str("; ");
            }
            text.push_str("left out: ");
            text.push_str(&left.join("; "));
        }
        text.push(')');
        text
    }

    /// How long ICE gathering may take with these servers.
    pub fn gather_timeout(&self) -> Duration {
        if self.turn.is_empty() {
            GATHER_TIMEOUT
        } else {
            RELAY_GATHER_TIMEOUT
        }
    }

    /// Gives the servers to `webrtcbin`; must be called before it has any
    /// stream (its ICE agent reads `stun-server` and `turn-server` when a
    /// stream is added). The first relay goes to `turn-server`, the rest
    /// to `add-turn-server`. Relays ICE cannot reach from the `pinned`
    /// addresses are reported.
    pub fn apply(&self, webrtcbin: &gst::Element, pinned: &[IpAddr]) {
        if let Some(stun) = &self.stun {
            webrtcbin.set_property("stun-server", &stun.uri);
        }
        let mut relays = self.turn.iter();
        if let Some(first) = relays.next() {
            webrtcbin.set_property("turn-server", &first.uri);
            // webrtcbin keeps the old value when it rejects a URI.
            if webrtcbin
                .property::<Option<String>>("turn-server")
                .is_none()
            {
                refused(first);
            }
        }
        for relay in relays {
            if !webrtcbin.emit_by_name::<bool>("add-turn-server", &[&relay.uri]) {
                refused(relay);
            }
        }
        for relay in &self.turn {
            if let Some(ip) = relay.server.ip()
                && let Some(problem) = pinning_problem(pinned, ip)
            {
                tracing::warn!(
                    "the {} relay at {ip} cannot be used: {problem}",
                    relay.server.kind.describe()
                );
            }
        }
    }
}

fn refused(relay: &Entry) {
    tracing::warn!(
        "webrtcbin refused the {} relay at {}; the session goes on without it",
        relay.server.kind.describe(),
        relay.server.authority()
    );
}

/// "TURN over TCP", "2 TURN over TCP, STUN": each kind once, in order.
fn counted(kinds: &[Kind]) -> String {
    let mut order: Vec<Kind> = Vec::new();
    for kind in kinds {
        if !order.contains(kind) {
            order.push(*kind);
        }
    }
    order
        .iter()
        .map(|kind| match kinds.iter().filter(|k| *k == kind).count() {
            1 => kind.describe().to_owned(),
            n => format!("{n} {}", kind.describe()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why ICE pinned to `pinned` cannot reach a relay at `relay`, if it
/// cannot. libnice connects to a relay from each host candidate of the
/// relay's IP family (the socket bound to that local address), and from
/// none on a link-local address (`agent/agent.c`); pinning to no address
/// (empty) lets it use every interface.
pub fn pinning_problem(pinned: &[IpAddr], relay: IpAddr) -> Option<String> {
    if pinned.is_empty() {
        return None;
    }
    let family = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let same_family: Vec<&IpAddr> = pinned
        .iter()
        .filter(|a| a.is_ipv4() == relay.is_ipv4())
        .collect();
    if same_family.is_empty() {
        return Some(format!(
            "ICE is pinned (--ice-address) to no {} address; add one of this machine's",
            family(&relay)
        ));
    }
    let usable: Vec<&IpAddr> = same_family
        .into_iter()
        .filter(|a| !is_link_local(a))
        .collect();
    if usable.is_empty() {
        return Some(
            "ICE is pinned (--ice-address) to link-local addresses only, from which no relay \
             is reached; add a routable address of this machine"
                .into(),
        );
    }
    if !relay.is_loopback() && usable.iter().all(|a| a.is_loopback()) {
        return Some(
            "ICE is pinned to loopback (the gateway is on this machine); pass --ice-address \
             with an address of this machine to reach it"
                .into(),
        );
    }
    None
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests;
