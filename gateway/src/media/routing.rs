//! Which peer connection a datagram on the shared UDP port belongs to.
//!
//! Every peer of every room shares one port. A STUN binding request names its
//! recipient in USERNAME (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2), so it
//! routes by our ICE ufrag; all other traffic (DTLS, SRTP, SRTCP, later STUN)
//! routes by the sender's address, which the router learns from those
//! requests.
//!
//! An address is learned only from a request whose MESSAGE-INTEGRITY checks
//! with the peer's ICE password (RFC 8445 §7.3): the ufrag travels in clear
//! text, so anyone on the path could otherwise point a session at an address
//! of their choosing and have its DTLS answer there, or divert another peer's
//! packets. A request that fails the check is dropped and counted, never
//! passed on. Learned addresses are bounded per peer and forgotten when they
//! fall silent, so nothing an outsider sends makes the table grow.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc::crypto::RTCCryptoProvider;
use rtc::crypto::providers::RingProvider;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::Message;

const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const STUN_HEADER_LEN: usize = 20;
const STUN_ATTR_USERNAME: u16 = 0x0006;
/// Binding request (RFC 8489 §5): method 0x001, class request.
const STUN_BINDING_REQUEST: [u8; 2] = [0x00, 0x01];

/// Addresses one peer may be reached at once: a host, a reflexive and a
/// relayed path, and the new ones while a network changes, with room to spare.
pub const MAX_ADDRESSES_PER_PEER: usize = 8;
/// A learned address silent this long is forgotten. ICE consent (RFC 7675)
/// lapses after 30 s without a check, so no live path is ever this quiet.
pub const ADDRESS_IDLE: Duration = Duration::from_secs(30);

static CRYPTO: RingProvider = RingProvider::new();

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<K> {
    /// To this peer.
    Peer(K),
    /// A check naming one of our peers, without that peer's password: dropped.
    Unauthenticated,
    /// From an address no verified check has taught us: dropped.
    Unknown,
}

/// A peer's ICE credentials, as the checks it receives must use them.
#[derive(Debug)]
struct Credentials<K> {
    peer: K,
    pwd: String,
}

/// An address a verified check came from.
#[derive(Debug, Clone, Copy)]
struct Learned<K> {
    peer: K,
    last_seen: Instant,
}

/// Maps ICE ufrags and learned remote addresses to peers of type `K`.
#[derive(Debug)]
pub struct DatagramRouter<K> {
    by_ufrag: HashMap<String, Credentials<K>>,
    by_addr: HashMap<SocketAddr, Learned<K>>,
}

impl<K: Copy + Eq + Hash> Default for DatagramRouter<K> {
    fn default() -> Self {
        Self {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> DatagramRouter<K> {
    /// Checks whose USERNAME starts with `ufrag` and are signed with `pwd`
    /// go to `peer`.
    pub fn add_ufrag(&mut self, ufrag: &str, pwd: &str, peer: K) {
        self.by_ufrag.insert(
            ufrag.to_owned(),
            Credentials {
                peer,
                pwd: pwd.to_owned(),
            },
        );
    }

    /// Forgets everything that routes to `peer`.
    pub fn remove_peer(&mut self, peer: K) {
        self.by_ufrag.retain(|_, c| c.peer != peer);
        self.by_addr.retain(|_, l| l.peer != peer);
    }

    /// The route of a datagram from `from` at `now`, learning `from` when
    /// the datagram is a binding request signed with a peer's password.
    pub fn route(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Route<K> {
        if let Some(ufrag) = stun_recipient_ufrag(datagram)
            && let Some(credentials) = self.by_ufrag.get(ufrag)
        {
            let peer = credentials.peer;
            if !is_binding_request(datagram) || !signed_with(datagram, &credentials.pwd) {
                return Route::Unauthenticated;
            }
            self.learn(now, from, peer);
            return Route::Peer(peer);
        }
        match self.by_addr.get_mut(&from) {
            Some(learned) => {
                learned.last_seen = now;
                Route::Peer(learned.peer)
            }
            None => Route::Unknown,
        }
    }

    /// Forgets addresses that have been silent for [`ADDRESS_IDLE`].
    pub fn forget_silent(&mut self, now: Instant) {
        self.by_addr
            .retain(|_, learned| now.saturating_duration_since(learned.last_seen) < ADDRESS_IDLE);
    }

    /// The peer a verified check from `addr` was for, if it is still known.
    pub fn peer_at(&self, addr: SocketAddr) -> Option<K> {
        self.by_addr.get(&addr).map(|learned| learned.peer)
    }

    /// Each peer's most recently heard address: where its media comes from.
    pub fn latest_addresses(&self) -> HashMap<K, SocketAddr> {
        let mut latest: HashMap<K, (Instant, SocketAddr)> = HashMap::new();
        for (addr, learned) in &self.by_addr {
            let entry = latest
                .entry(learned.peer)
                .or_insert((learned.last_seen, *addr));
            if learned.last_seen > entry.0 {
                *entry = (learned.last_seen, *addr);
            }
        }
        latest
            .into_iter()
            .map(|(peer, (_, addr))| (peer, addr))
            .collect()
    }

    /// `peer`'s most recently heard address.
    pub fn latest_address_of(&self, peer: K) -> Option<SocketAddr> {
        self.by_addr
            .iter()
            .filter(|(_, learned)| learned.peer == peer)
            .max_by_key(|(_, learned)| learned.last_seen)
            .map(|(addr, _)| *addr)
    }

    /// How many remote addresses are currently known (for metrics and tests).
    pub fn known_addresses(&self) -> usize {
        self.by_addr.len()
    }

    fn learn(&mut self, now: Instant, from: SocketAddr, peer: K) {
        let learned = Learned {
            peer,
            last_seen: now,
        };
        if self.by_addr.insert(from, learned).is_some() {
            return;
        }
        // A new address: keep the peer's most recent ones only.
        let mut addresses: Vec<(SocketAddr, Instant)> = self
            .by_addr
            .iter()
            .filter(|(_, l)| l.peer == peer)
            .map(|(addr, l)| (*addr, l.last_seen))
            .collect();
        if addresses.len() > MAX_ADDRESSES_PER_PEER {
            addresses.sort_by_key(|(_, seen)| *seen);
            let excess = addresses.len() - MAX_ADDRESSES_PER_PEER;
            for (addr, _) in addresses.into_iter().take(excess) {
                self.by_addr.remove(&addr);
            }
        }
    }
}

fn is_binding_request(datagram: &[u8]) -> bool {
    datagram.get(..2) == Some(&STUN_BINDING_REQUEST[..])
}

/// True when the STUN message's MESSAGE-INTEGRITY checks with the short-term
/// key `pwd` (RFC 8489 §14.5), as the ICE agent itself would check it.
fn signed_with(datagram: &[u8], pwd: &str) -> bool {
    let mut message = Message {
        raw: datagram.to_vec(),
        ..Message::default()
    };
    message.decode().is_ok()
        && MessageIntegrity::check(&mut message, pwd.as_bytes(), CRYPTO.crypto()).is_ok()
}

/// Our ufrag from a STUN message's USERNAME, if the datagram is STUN and has one.
pub fn stun_recipient_ufrag(datagram: &[u8]) -> Option<&str> {
    // STUN: first two bits zero, the magic cookie, a length that fits.
    if datagram.len() < STUN_HEADER_LEN
        || datagram[0] & 0xc0 != 0
        || datagram[4..8] != STUN_MAGIC_COOKIE
    {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(STUN_HEADER_LEN..STUN_HEADER_LEN + body_len)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let attr_type = u16::from_be_bytes([rest[0], rest[1]]);
        let attr_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let value = rest.get(4..4 + attr_len)?;
        if attr_type == STUN_ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        // Attributes are padded to a multiple of four bytes.
        let padded = (attr_len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::attributes::ATTR_USERNAME;
    use rtc::stun::fingerprint::FINGERPRINT;
    use rtc::stun::message::{BINDING_REQUEST, BINDING_SUCCESS, TransactionId};
    use rtc::stun::textattrs::Username;

    const PUB_PWD: &str = "publisherpasswordpublisher";
    const VIEW_PWD: &str = "viewerpasswordviewerpasswd";

    /// A binding request as a client's ICE agent sends it, signed with `pwd`.
    fn check(username: &str, pwd: &str) -> Vec<u8> {
        let mut msg = Message::new();
        msg.build(&[
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, username.to_owned())),
            Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
                pwd.to_owned(),
                CRYPTO.crypto(),
            )),
            Box::new(FINGERPRINT),
        ])
        .unwrap();
        msg.raw
    }

    /// The same request with no MESSAGE-INTEGRITY at all.
    fn unsigned_check(username: &str) -> Vec<u8> {
        let mut msg = Message::new();
        msg.build(&[
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(Username::new(ATTR_USERNAME, username.to_owned())),
        ])
        .unwrap();
        msg.raw
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn router() -> DatagramRouter<u32> {
        let mut router = DatagramRouter::default();
        router.add_ufrag("pubFrag", PUB_PWD, 1);
        router.add_ufrag("viewFrag", VIEW_PWD, 2);
        router
    }

    #[test]
    fn reads_the_recipient_ufrag() {
        let msg = check("gwFrag:browserFrag", PUB_PWD);
        assert_eq!(stun_recipient_ufrag(&msg), Some("gwFrag"));
    }

    #[test]
    fn non_stun_and_truncated_datagrams_have_no_ufrag() {
        // DTLS record (content type 22) and RTP (version 2).
        assert_eq!(stun_recipient_ufrag(&[22; 40]), None);
        assert_eq!(stun_recipient_ufrag(&[0x80; 40]), None);
        let mut msg = check("gwFrag:x", PUB_PWD);
        msg.truncate(30);
        assert_eq!(stun_recipient_ufrag(&msg), None);
        assert_eq!(stun_recipient_ufrag(&[]), None);
    }

    #[test]
    fn routes_by_signed_check_then_by_learned_address() {
        let mut router = router();
        let now = Instant::now();
        let browser = addr("10.213.0.2:50123");
        let camera = addr("10.213.0.3:40000");

        // Media before any STUN check is unroutable.
        assert_eq!(router.route(now, browser, &[0x80; 40]), Route::Unknown);

        assert_eq!(
            router.route(now, camera, &check("pubFrag:c", PUB_PWD)),
            Route::Peer(1)
        );
        assert_eq!(
            router.route(now, browser, &check("viewFrag:b", VIEW_PWD)),
            Route::Peer(2)
        );
        assert_eq!(router.route(now, browser, &[0x80; 40]), Route::Peer(2));
        assert_eq!(router.route(now, camera, &[22; 40]), Route::Peer(1));

        // An unknown ufrag does not steal a learned address.
        assert_eq!(
            router.route(now, camera, &check("other:c", PUB_PWD)),
            Route::Peer(1)
        );
    }

    #[test]
    fn a_check_without_the_password_teaches_nothing() {
        let mut router = router();
        let now = Instant::now();
        let camera = addr("10.213.0.3:40000");
        let attacker = addr("10.213.0.66:40001");
        router.route(now, camera, &check("pubFrag:c", PUB_PWD));

        // Unsigned, signed with another password, or a response: refused.
        for forged in [
            unsigned_check("pubFrag:c"),
            check("pubFrag:c", VIEW_PWD),
            check("pubFrag:c", "guessedpasswordguessedpass"),
        ] {
            assert_eq!(router.route(now, attacker, &forged), Route::Unauthenticated);
            // The camera's own address cannot be taken over either.
            assert_eq!(router.route(now, camera, &forged), Route::Unauthenticated);
        }
        let mut response = Message::new();
        response
            .build(&[
                Box::new(BINDING_SUCCESS),
                Box::new(TransactionId::new()),
                Box::new(Username::new(ATTR_USERNAME, "pubFrag:c".to_owned())),
                Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
                    PUB_PWD.to_owned(),
                    CRYPTO.crypto(),
                )),
            ])
            .unwrap();
        assert_eq!(
            router.route(now, attacker, &response.raw),
            Route::Unauthenticated
        );

        // So what the attacker sends next (a DTLS ClientHello) reaches no one,
        // and the camera's packets still reach the camera's session.
        assert_eq!(router.route(now, attacker, &[22; 60]), Route::Unknown);
        assert_eq!(router.route(now, camera, &[0x80; 40]), Route::Peer(1));
        assert_eq!(router.known_addresses(), 1);
    }

    #[test]
    fn a_peer_moving_to_a_new_address_is_followed() {
        let mut router = router();
        let now = Instant::now();
        let wifi = addr("10.213.0.2:5000");
        let lte = addr("10.213.0.9:6000");
        router.route(now, wifi, &check("viewFrag:b", VIEW_PWD));
        assert_eq!(router.route(now, lte, &[0x80; 12]), Route::Unknown);
        router.route(now, lte, &check("viewFrag:b", VIEW_PWD));
        assert_eq!(router.route(now, lte, &[0x80; 12]), Route::Peer(2));
    }

    #[test]
    fn learned_addresses_are_bounded_per_peer_and_forgotten_when_silent() {
        let mut router = router();
        let start = Instant::now();
        for port in 0..20u16 {
            let at = start + Duration::from_millis(u64::from(port));
            let from = SocketAddr::new("10.213.0.2".parse().unwrap(), 5000 + port);
            router.route(at, from, &check("viewFrag:b", VIEW_PWD));
        }
        assert_eq!(router.known_addresses(), MAX_ADDRESSES_PER_PEER);
        // The most recent ones are kept.
        let newest = addr("10.213.0.2:5019");
        let oldest = addr("10.213.0.2:5000");
        assert_eq!(router.route(start, oldest, &[0x80; 12]), Route::Unknown);
        let later = start + Duration::from_secs(20);
        assert_eq!(router.route(later, newest, &[0x80; 12]), Route::Peer(2));

        // Silence makes the table forget; traffic keeps an address.
        router.forget_silent(start + ADDRESS_IDLE + Duration::from_secs(1));
        assert_eq!(router.known_addresses(), 1);
        router.forget_silent(later + ADDRESS_IDLE);
        assert_eq!(router.known_addresses(), 0);
    }

    #[test]
    fn removing_a_peer_forgets_its_ufrag_and_addresses() {
        let mut router = router();
        let now = Instant::now();
        let browser = addr("10.213.0.2:5000");
        router.route(now, browser, &check("viewFrag:b", VIEW_PWD));
        router.remove_peer(2);
        assert_eq!(router.route(now, browser, &[0x80; 12]), Route::Unknown);
        assert_eq!(
            router.route(now, browser, &check("viewFrag:b", VIEW_PWD)),
            Route::Unknown
        );
        assert_eq!(router.known_addresses(), 0);
    }
}
