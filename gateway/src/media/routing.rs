//! Which peer connection a datagram on the shared UDP port belongs to.
//!
//! Every peer of every room shares one port. A STUN binding request names its
//! recipient in USERNAME (`<our ufrag>:<their ufrag>`, RFC 8445 §7.2.2), so it
//! routes by our ICE ufrag and teaches the router the sender's address; all
//! other traffic (DTLS, SRTP, SRTCP, later STUN) routes by that address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;

const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const STUN_HEADER_LEN: usize = 20;
const STUN_ATTR_USERNAME: u16 = 0x0006;

/// Maps ICE ufrags and learned remote addresses to peers of type `K`.
#[derive(Debug)]
pub struct DatagramRouter<K> {
    by_ufrag: HashMap<String, K>,
    by_addr: HashMap<SocketAddr, K>,
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
    /// Datagrams whose STUN USERNAME starts with `ufrag` go to `peer`.
    pub fn add_ufrag(&mut self, ufrag: &str, peer: K) {
        self.by_ufrag.insert(ufrag.to_owned(), peer);
    }

    /// Forgets everything that routes to `peer`.
    pub fn remove_peer(&mut self, peer: K) {
        self.by_ufrag.retain(|_, k| *k != peer);
        self.by_addr.retain(|_, k| *k != peer);
    }

    /// The peer for a datagram from `from`, learning `from` when the datagram
    /// is a STUN request naming one of our ufrags.
    pub fn route(&mut self, from: SocketAddr, datagram: &[u8]) -> Option<K> {
        if let Some(ufrag) = stun_recipient_ufrag(datagram)
            && let Some(&peer) = self.by_ufrag.get(ufrag)
        {
            self.by_addr.insert(from, peer);
            return Some(peer);
        }
        self.by_addr.get(&from).copied()
    }

    /// How many remote addresses are currently known (for metrics and tests).
    pub fn known_addresses(&self) -> usize {
        self.by_addr.len()
    }
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

    fn stun_binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, so USERNAME is not the first one.
        attrs.extend_from_slice(&0x0024u16.to_be_bytes());
        attrs.extend_from_slice(&4u16.to_be_bytes());
        attrs.extend_from_slice(&[0, 0, 0, 1]);
        attrs.extend_from_slice(&STUN_ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&STUN_MAGIC_COOKIE);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_recipient_ufrag() {
        let msg = stun_binding_request("gwFrag:browserFrag");
        assert_eq!(stun_recipient_ufrag(&msg), Some("gwFrag"));
    }

    #[test]
    fn non_stun_and_truncated_datagrams_have_no_ufrag() {
        // DTLS record (content type 22) and RTP (version 2).
        assert_eq!(stun_recipient_ufrag(&[22; 40]), None);
        assert_eq!(stun_recipient_ufrag(&[0x80; 40]), None);
        let mut msg = stun_binding_request("gwFrag:x");
        msg.truncate(30);
        assert_eq!(stun_recipient_ufrag(&msg), None);
        assert_eq!(stun_recipient_ufrag(&[]), None);
    }

    #[test]
    fn routes_by_ufrag_then_by_learned_address() {
        let mut router = DatagramRouter::default();
        router.add_ufrag("pubFrag", 1u32);
        router.add_ufrag("viewFrag", 2u32);
        let browser = addr("10.213.0.2:50123");
        let camera = addr("10.213.0.3:40000");

        // Media before any STUN check is unroutable.
        assert_eq!(router.route(browser, &[0x80; 40]), None);

        assert_eq!(
            router.route(camera, &stun_binding_request("pubFrag:c")),
            Some(1)
        );
        assert_eq!(
            router.route(browser, &stun_binding_request("viewFrag:b")),
            Some(2)
        );
        assert_eq!(router.route(browser, &[0x80; 40]), Some(2));
        assert_eq!(router.route(camera, &[22; 40]), Some(1));

        // An unknown ufrag does not steal a learned address.
        assert_eq!(
            router.route(camera, &stun_binding_request("other:c")),
            Some(1)
        );
    }

    #[test]
    fn a_peer_moving_to_a_new_address_is_followed() {
        let mut router = DatagramRouter::default();
        router.add_ufrag("viewFrag", 7u32);
        let wifi = addr("10.213.0.2:5000");
        let lte = addr("10.213.0.9:6000");
        router.route(wifi, &stun_binding_request("viewFrag:b"));
        assert_eq!(router.route(lte, &[0x80; 12]), None);
        router.route(lte, &stun_binding_request("viewFrag:b"));
        assert_eq!(router.route(lte, &[0x80; 12]), Some(7));
    }

    #[test]
    fn removing_a_peer_forgets_its_ufrag_and_addresses() {
        let mut router = DatagramRouter::default();
        router.add_ufrag("viewFrag", 7u32);
        let browser = addr("10.213.0.2:5000");
        router.route(browser, &stun_binding_request("viewFrag:b"));
        router.remove_peer(7);
        assert_eq!(router.route(browser, &[0x80; 12]), None);
        assert_eq!(
            router.route(browser, &stun_binding_request("viewFrag:b")),
            None
        );
        assert_eq!(router.known_addresses(), 0);
    }
}
