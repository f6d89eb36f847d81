//! [`RelayServer`]: the TURN state machine, time passed in, no I/O.
//!
//! The caller owns the TCP/TLS connections: it reports them opening and
//! closing, feeds whole frames from [`super::framing::FrameReader`], hands
//! over what the SFU sends to a relayed address, and carries out the
//! [`RelayOutput`]s in order (a `Close` comes after the frames that precede
//! it, which should be written first).
//!
//! Authentication is the long-term credential mechanism (RFC 8489 §9.2) with
//! one nonce per connection. A username's password is asked for when the
//! allocation is created; later requests on the allocation must carry the
//! same username and are checked against the key fixed then, so a
//! consultation does not lose its relay when its credential's expiry passes
//! (the allocation's own lifetime and the connection bound it instead).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rtc::crypto::RTCCryptoProvider;
use rtc::crypto::providers::RingProvider;
use rtc::stun::attributes::{
    ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_REQUESTED_ADDRESS_FAMILY, ATTR_USERNAME,
};
use rtc::stun::error_code::{
    CODE_ADDR_FAMILY_NOT_SUPPORTED, CODE_ALLOC_MISMATCH, CODE_ALLOC_QUOTA_REACHED,
    CODE_BAD_REQUEST, CODE_FORBIDDEN, CODE_INSUFFICIENT_CAPACITY, CODE_PEER_ADDR_FAMILY_MISMATCH,
    CODE_STALE_NONCE, CODE_UNAUTHORIZED, CODE_UNSUPPORTED_TRANS_PROTO, CODE_WRONG_CREDENTIALS,
    ErrorCode,
};
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    CLASS_INDICATION, CLASS_REQUEST, Getter, METHOD_ALLOCATE, METHOD_BINDING, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_REFRESH, METHOD_SEND, Message, Setter,
};
use rtc::stun::textattrs::TextAttribute;
use rtc::stun::xoraddr::XorMappedAddress;
use rtc::turn::proto::PROTO_UDP;
use rtc::turn::proto::chandata::ChannelData;
use rtc::turn::proto::channum::ChannelNumber;
use rtc::turn::proto::data::Data;
use rtc::turn::proto::lifetime::Lifetime;
use rtc::turn::proto::peeraddr::PeerAddress;
use rtc::turn::proto::relayaddr::RelayedAddress;
use rtc::turn::proto::reqfamily::{REQUESTED_FAMILY_IPV6, RequestedAddressFamily};
use rtc::turn::proto::reqtrans::RequestedTransport;
use tracing::debug;

use super::allocation::Allocation;
use super::credentials::CredentialLookup;
use super::framing::{CHANNEL_NUMBERS, FirstBytes, MAX_DATAGRAM, channel_data_frame, classify};
use super::messages::{self, Signer};
use super::ports::VirtualPorts;
use super::stats::RelayStats;

/// How the relay is set up; see [`RelaySettings::default`] for the limits.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The REALM of the long-term credentials (part of the key).
    pub realm: String,
    /// The only peer IPs permissions may name: the gateway's media addresses
    /// (and public addresses it announces). Anything else is 403.
    pub allowed_peers: Vec<IpAddr>,
    /// The IPs relayed addresses are given on, at most one per family used.
    pub relayed_ips: Vec<IpAddr>,
    /// Virtual ports for relayed addresses; they must not collide with
    /// addresses the SFU sees from real clients on the same IPs.
    pub relayed_ports: RangeInclusive<u16>,
    /// Open connections at most; more are closed on arrival.
    pub max_connections: usize,
    /// Open connections at most per client IP, so that one address cannot
    /// take every connection.
    pub max_connections_per_client_ip: usize,
    /// Live allocations at most.
    pub max_allocations: usize,
    /// Live allocations at most per client IP.
    pub max_allocations_per_client_ip: usize,
    /// Lifetime of an allocation when the client asks for none or less.
    pub default_lifetime: Duration,
    /// Longest lifetime granted by one Allocate or Refresh.
    pub max_lifetime: Duration,
    /// How long a connection may stay without an allocation.
    pub auth_timeout: Duration,
    /// How long a nonce stays valid before a request gets 438.
    pub nonce_lifetime: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            realm: "samsyn".into(),
            allowed_peers: Vec::new(),
            relayed_ips: Vec::new(),
            // Above Linux's ephemeral range (32768–60999): a process on the
            // gateway's own host sending UDP from its media IP never uses
            // these ports unless it binds them, so a datagram from one of
            // them is a spoof of a relayed address and is dropped.
            relayed_ports: 61000..=65535,
            max_connections: 1024,
            max_connections_per_client_ip: 32,
            max_allocations: 256,
            max_allocations_per_client_ip: 16,
            // RFC 8656 §7.2: ten minutes by default, an hour at most is common.
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            auth_timeout: Duration::from_secs(10),
            nonce_lifetime: Duration::from_secs(600),
        }
    }
}

/// Identifies one TCP or TLS connection of the caller's.
pub type ConnId = u64;

/// How a client reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayTransport {
    Tcp,
    Tls,
}

/// What the relay wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayOutput {
    /// Write `frame` to the connection.
    ToClient {
        conn: ConnId,
        frame: Bytes,
        /// A relayed RTP packet: the caller may drop it when the connection
        /// cannot keep up. Everything else (STUN responses, and relayed
        /// RTCP, DTLS and STUN, which carry the feedback and handshakes that
        /// repair a loss) must be delivered.
        droppable: bool,
    },
    /// Hand `payload` to the SFU as a datagram from `relayed` to our media
    /// address `peer` (the local address it arrived on).
    ToSfu {
        relayed: SocketAddr,
        peer: SocketAddr,
        payload: Bytes,
    },
    /// Close the connection; the relay has already forgotten it.
    Close { conn: ConnId },
}

struct Connection {
    client: SocketAddr,
    transport: RelayTransport,
    nonce: String,
    nonce_expires: Instant,
    allocation: Option<Allocation>,
    /// When the connection is closed if it still holds no allocation.
    idle_deadline: Option<Instant>,
}

/// A request that passed authentication: who sent it and the key that signs
/// the answer.
struct Authenticated {
    username: String,
    key: Vec<u8>,
}

/// The TURN relay's state: connections, allocations, permissions, channels.
pub struct RelayServer {
    settings: RelaySettings,
    credentials: CredentialLookup,
    crypto: RingProvider,
    connections: HashMap<ConnId, Connection>,
    by_relayed: HashMap<SocketAddr, ConnId>,
    ports: VirtualPorts,
    outputs: VecDeque<RelayOutput>,
    stats: RelayStats,
}

impl RelayServer {
    /// A relay with `settings`, asking `credentials` for passwords.
    pub fn new(settings: RelaySettings, credentials: CredentialLookup) -> Self {
        Self {
            ports: VirtualPorts::new(settings.relayed_ports.clone()),
            settings,
            credentials,
            crypto: RingProvider::new(),
            connections: HashMap::new(),
            by_relayed: HashMap::new(),
            outputs: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    /// A connection from `client` was accepted and classified as TURN.
    pub fn connection_opened(
        &mut self,
        now: Instant,
        conn: ConnId,
        client: SocketAddr,
        transport: RelayTransport,
    ) {
        self.connection_closed(conn);
        let from_client_ip = self
            .connections
            .values()
            .filter(|open| open.client.ip() == client.ip())
            .count();
        if self.connections.len() >= self.settings.max_connections
            || from_client_ip >= self.settings.max_connections_per_client_ip
        {
            debug!(conn, "TURN connection refused: too many connections");
            self.stats.refused_quota += 1;
            self.outputs.push_back(RelayOutput::Close { conn });
            return;
        }
        let connection = Connection {
            client,
            transport,
            nonce: new_nonce(),
            nonce_expires: now + self.settings.nonce_lifetime,
            allocation: None,
            idle_deadline: Some(now + self.settings.auth_timeout),
        };
        self.connections.insert(conn, connection);
    }

    /// The connection is gone; its allocation, if any, is freed.
    pub fn connection_closed(&mut self, conn: ConnId) {
        if let Some(mut connection) = self.connections.remove(&conn) {
            self.free_allocation(&mut connection);
        }
    }

    /// One whole frame from the connection (see [`super::framing::FrameReader`]).
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: &[u8]) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        self.stats.frames_from_clients += 1;
        match classify(frame) {
            FirstBytes::Stun => self.handle_stun(now, conn, frame),
            FirstBytes::ChannelData => self.handle_channel_data(now, conn, frame),
            FirstBytes::Tls | FirstBytes::Other | FirstBytes::NeedMore => {
                self.close_malformed(conn, "neither STUN nor ChannelData")
            }
        }
    }

    /// The SFU sends `payload` from our media address `from` to `to`. True
    /// when `to` is one of our relayed addresses, whatever becomes of the
    /// datagram: it goes to the client as ChannelData when a channel to
    /// `from` is bound, as a Data indication when only a permission exists,
    /// and is dropped without a permission.
    pub fn send_to_client(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> bool {
        let Some(&conn) = self.by_relayed.get(&to) else {
            return false;
        };
        let Some(allocation) = self
            .connections
            .get(&conn)
            .and_then(|connection| connection.allocation.as_ref())
        else {
            return false;
        };
        if allocation.is_expired(now)
            || !allocation.is_permitted(now, from.ip())
            || payload.len() > MAX_DATAGRAM
        {
            self.stats.dropped_datagrams += 1;
            return true;
        }
        let frame = match allocation.channel_of(now, from) {
            Some(channel) => channel_data_frame(channel, payload),
            None => match messages::data_indication(from, payload) {
                Ok(frame) => frame,
                Err(err) => {
                    debug!(conn, %err, "cannot encode a Data indication");
                    self.stats.dropped_datagrams += 1;
                    return true;
                }
            },
        };
        self.stats.datagrams_to_clients += 1;
        self.push_to_client(conn, frame, is_rtp(payload));
        true
    }

    /// Whether `addr` is the relayed address of a live allocation.
    pub fn is_relayed_address(&self, addr: SocketAddr) -> bool {
        self.by_relayed.contains_key(&addr)
    }

    /// The relayed address of the allocation on connection `conn`.
    pub fn relayed_address_of(&self, conn: ConnId) -> Option<SocketAddr> {
        self.connections
            .get(&conn)?
            .allocation
            .as_ref()
            .map(Allocation::relayed)
    }

    /// How the client behind relayed address `addr` reaches the relay.
    pub fn relayed_transport(&self, addr: SocketAddr) -> Option<RelayTransport> {
        let conn = self.by_relayed.get(&addr)?;
        self.connections
            .get(conn)
            .map(|connection| connection.transport)
    }

    /// When [`RelayServer::handle_timeout`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .flat_map(|connection| {
                let allocation = connection
                    .allocation
                    .as_ref()
                    .map(Allocation::next_deadline);
                [connection.idle_deadline, allocation]
            })
            .flatten()
            .min()
    }

    /// Expires what is due at `now`: connections that never allocated,
    /// allocations not refreshed (their connection is closed), permissions
    /// and channel bindings.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut to_close = Vec::new();
        for (&conn, connection) in &mut self.connections {
            match &mut connection.allocation {
                Some(allocation) if allocation.is_expired(now) => {
                    debug!(conn, "TURN allocation expired");
                    self.stats.expired_allocations += 1;
                    to_close.push(conn);
                }
                Some(allocation) => allocation.sweep(now),
                None if connection
                    .idle_deadline
                    .is_some_and(|deadline| deadline <= now) =>
                {
                    debug!(conn, "TURN connection closed: no allocation in time");
                    self.stats.closed_unauthenticated += 1;
                    to_close.push(conn);
                }
                None => {}
            }
        }
        to_close.sort_unstable();
        for conn in to_close {
            self.close(conn);
        }
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<RelayOutput> {
        self.outputs.pop_front()
    }

    /// Current state and counters.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            connections: self.connections.len(),
            allocations: self.by_relayed.len(),
            ..self.stats.clone()
        }
    }

    fn handle_stun(&mut self, now: Instant, conn: ConnId, frame: &[u8]) {
        let mut request = Message::new();
        request.raw = frame.to_vec();
        if let Err(err) = request.decode() {
            debug!(conn, %err, "undecodable STUN message");
            self.close_malformed(conn, "undecodable STUN message");
            return;
        }
        if !messages::fingerprint_matches(&request) {
            self.close_malformed(conn, "FINGERPRINT mismatch");
            return;
        }
        let (method, class) = (request.typ.method, request.typ.class);
        if class == CLASS_REQUEST {
            match method {
                METHOD_BINDING => self.binding(conn, &request),
                METHOD_ALLOCATE => self.allocate(now, conn, &mut request),
                METHOD_REFRESH => self.refresh(now, conn, &mut request),
                METHOD_CREATE_PERMISSION => self.create_permission(now, conn, &mut request),
                METHOD_CHANNEL_BIND => self.channel_bind(now, conn, &mut request),
                _ => self.reply_error(conn, &request, CODE_BAD_REQUEST, None),
            }
        } else if class == CLASS_INDICATION && method == METHOD_SEND {
            self.send_indication(now, conn, &request);
        }
        // Other indications and any responses are not for a server: ignored.
    }

    fn binding(&mut self, conn: ConnId, request: &Message) {
        let Some(client) = self.connections.get(&conn).map(|c| c.client) else {
            return;
        };
        let mapped = XorMappedAddress {
            ip: client.ip(),
            port: client.port(),
        };
        let reply = messages::success(request, vec![Box::new(mapped)], None);
        self.send_reply(conn, reply);
    }

    fn allocate(&mut self, now: Instant, conn: ConnId, request: &mut Message) {
        let Some(auth) = self.authenticate(now, conn, request) else {
            return;
        };
        let Some(connection) = self.connections.get(&conn) else {
            return;
        };
        let client = connection.client;
        if connection.allocation.is_some() {
            // One allocation per connection (its 5-tuple), RFC 8656 §7.2.
            return self.reply_error(conn, request, CODE_ALLOC_MISMATCH, Some(&auth.key));
        }
        if self.refuse_unknown_attributes(conn, request, &auth) {
            return;
        }
        if let Err(code) = requested_transport_refusal(request) {
            return self.reply_error(conn, request, code, Some(&auth.key));
        }
        let relayed_ip = match self.relayed_ip_for(request) {
            Ok(ip) => ip,
            Err(code) => return self.reply_error(conn, request, code, Some(&auth.key)),
        };
        if let Err(code) = self.check_quota(client.ip()) {
            self.stats.refused_quota += 1;
            return self.reply_error(conn, request, code, Some(&auth.key));
        }
        let Some(relayed) = self.ports.take(relayed_ip) else {
            debug!(conn, "TURN allocation refused: no virtual port left");
            self.stats.refused_quota += 1;
            return self.reply_error(conn, request, CODE_INSUFFICIENT_CAPACITY, Some(&auth.key));
        };
        let lifetime = self.granted_lifetime(request);
        let allocation = Allocation::new(relayed, auth.username, auth.key, now + lifetime);
        let reply = messages::success(
            request,
            vec![
                Box::new(RelayedAddress {
                    ip: relayed.ip(),
                    port: relayed.port(),
                }),
                Box::new(Lifetime(lifetime)),
                Box::new(XorMappedAddress {
                    ip: client.ip(),
                    port: client.port(),
                }),
            ],
            Some(self.signer(allocation.key())),
        );
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.allocation = Some(allocation);
            connection.idle_deadline = None;
            self.by_relayed.insert(relayed, conn);
            debug!(conn, "TURN allocation created");
        }
        self.send_reply(conn, reply);
    }

    fn refresh(&mut self, now: Instant, conn: ConnId, request: &mut Message) {
        let Some((auth, relayed)) = self.on_allocation(now, conn, request) else {
            return;
        };
        if request.contains(ATTR_REQUESTED_ADDRESS_FAMILY) {
            let mut family = RequestedAddressFamily::default();
            let matches = family.get_from(request).is_ok()
                && (family == REQUESTED_FAMILY_IPV6) == relayed.is_ipv6();
            if !matches {
                let code = CODE_PEER_ADDR_FAMILY_MISMATCH;
                return self.reply_error(conn, request, code, Some(&auth.key));
            }
        }
        let mut requested = Lifetime::default();
        let deleting = requested.get_from(request).is_ok() && requested.0.is_zero();
        let lifetime = if deleting {
            Duration::ZERO
        } else {
            self.granted_lifetime(request)
        };
        if let Some(connection) = self.connections.get_mut(&conn) {
            if deleting {
                self.ports.release(relayed);
                self.by_relayed.remove(&relayed);
                connection.allocation = None;
                connection.idle_deadline = Some(now + self.settings.auth_timeout);
                debug!(conn, "TURN allocation deleted by the client");
            } else if let Some(allocation) = &mut connection.allocation {
                allocation.refresh(now, lifetime);
            }
        }
        let reply = messages::success(
            request,
            vec![Box::new(Lifetime(lifetime))],
            Some(self.signer(&auth.key)),
        );
        self.send_reply(conn, reply);
    }

    fn create_permission(&mut self, now: Instant, conn: ConnId, request: &mut Message) {
        let Some((auth, relayed)) = self.on_allocation(now, conn, request) else {
            return;
        };
        let peers = match messages::peer_addresses(request) {
            Ok(peers) if !peers.is_empty() => peers,
            _ => return self.reply_error(conn, request, CODE_BAD_REQUEST, Some(&auth.key)),
        };
        // All or nothing (RFC 8656 §10.2): check every peer before installing any.
        for peer in &peers {
            if let Err(code) = self.check_peer(conn, relayed, *peer) {
                return self.reply_error(conn, request, code, Some(&auth.key));
            }
        }
        if let Some(allocation) = self.allocation_of_mut(conn) {
            for peer in &peers {
                allocation.permit(now, peer.ip());
            }
        }
        let reply = messages::success(request, Vec::new(), Some(self.signer(&auth.key)));
        self.send_reply(conn, reply);
    }

    fn channel_bind(&mut self, now: Instant, conn: ConnId, request: &mut Message) {
        let Some((auth, relayed)) = self.on_allocation(now, conn, request) else {
            return;
        };
        let mut channel = ChannelNumber::default();
        let peers = messages::peer_addresses(request).unwrap_or_default();
        let (Ok(()), Some(&peer)) = (channel.get_from(request), peers.first()) else {
            return self.reply_error(conn, request, CODE_BAD_REQUEST, Some(&auth.key));
        };
        if !CHANNEL_NUMBERS.contains(&channel.0) {
            return self.reply_error(conn, request, CODE_BAD_REQUEST, Some(&auth.key));
        }
        if let Err(code) = self.check_peer(conn, relayed, peer) {
            return self.reply_error(conn, request, code, Some(&auth.key));
        }
        let bound = match self.allocation_of_mut(conn) {
            Some(allocation) => allocation.bind_channel(now, channel.0, peer),
            None => return,
        };
        if let Err(conflict) = bound {
            debug!(conn, %conflict, "TURN ChannelBind refused");
            return self.reply_error(conn, request, CODE_BAD_REQUEST, Some(&auth.key));
        }
        let reply = messages::success(request, Vec::new(), Some(self.signer(&auth.key)));
        self.send_reply(conn, reply);
    }

    fn send_indication(&mut self, now: Instant, conn: ConnId, indication: &Message) {
        let Some(allocation) = self.allocation_of(conn) else {
            self.stats.dropped_datagrams += 1;
            return;
        };
        let relayed = allocation.relayed();
        let mut peer = PeerAddress::default();
        let mut data = Data::default();
        // Indications get no answer: anything wrong drops the datagram (RFC 8656 §11.3).
        let readable = messages::unknown_required_attributes(indication).is_empty()
            && peer.get_from(indication).is_ok()
            && data.get_from(indication).is_ok();
        let peer = SocketAddr::new(peer.ip, peer.port);
        if !readable || !self.may_relay(allocation, now, peer) || data.0.len() > MAX_DATAGRAM {
            self.stats.dropped_datagrams += 1;
            return;
        }
        self.push_to_sfu(relayed, peer, Bytes::from(data.0));
    }

    fn handle_channel_data(&mut self, now: Instant, conn: ConnId, frame: &[u8]) {
        let mut message = ChannelData {
            raw: frame.to_vec(),
            ..ChannelData::default()
        };
        if message.decode().is_err() || !CHANNEL_NUMBERS.contains(&message.number.0) {
            self.close_malformed(conn, "malformed ChannelData");
            return;
        }
        let Some(allocation) = self.allocation_of(conn) else {
            self.stats.dropped_datagrams += 1;
            return;
        };
        let relayed = allocation.relayed();
        let peer = allocation.channel_peer(now, message.number.0);
        match peer {
            Some(peer) if self.may_relay(allocation, now, peer) => {
                self.push_to_sfu(relayed, peer, Bytes::from(message.data));
            }
            _ => self.stats.dropped_datagrams += 1,
        }
    }

    /// The long-term credential check of RFC 8489 §9.2.4. Answers the
    /// request itself when it fails; on success returns the key to sign with.
    /// The checks every request on an existing allocation passes first:
    /// its credentials, an allocation on this connection, no attribute it
    /// must understand and does not. Answers the refusal itself; `None` then.
    fn on_allocation(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: &mut Message,
    ) -> Option<(Authenticated, SocketAddr)> {
        let auth = self.authenticate(now, conn, request)?;
        let Some(relayed) = self.allocation_of(conn).map(Allocation::relayed) else {
            self.reply_error(conn, request, CODE_ALLOC_MISMATCH, Some(&auth.key));
            return None;
        };
        if self.refuse_unknown_attributes(conn, request, &auth) {
            return None;
        }
        Some((auth, relayed))
    }

    fn authenticate(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: &mut Message,
    ) -> Option<Authenticated> {
        let connection = self.connections.get_mut(&conn)?;
        if connection.nonce_expires <= now {
            connection.nonce = new_nonce();
            connection.nonce_expires = now + self.settings.nonce_lifetime;
        }
        if !request.contains(ATTR_MESSAGE_INTEGRITY) {
            // The usual first Allocate: challenge it.
            self.reply_challenge(conn, request, CODE_UNAUTHORIZED);
            return None;
        }
        let fields = (
            TextAttribute::get_from_as(request, ATTR_USERNAME),
            TextAttribute::get_from_as(request, ATTR_REALM),
            TextAttribute::get_from_as(request, ATTR_NONCE),
        );
        let (Ok(username), Ok(_realm), Ok(nonce)) = fields else {
            self.reply_error(conn, request, CODE_BAD_REQUEST, None);
            return None;
        };
        let connection = self.connections.get(&conn)?;
        if nonce.text != connection.nonce {
            self.reply_challenge(conn, request, CODE_STALE_NONCE);
            return None;
        }
        let key = match &connection.allocation {
            Some(allocation) if allocation.username() != username.text => {
                // RFC 8656 §5: every request on an allocation uses the
                // username that created it.
                self.stats.refused_credentials += 1;
                self.reply_error(conn, request, CODE_WRONG_CREDENTIALS, None);
                return None;
            }
            Some(allocation) => allocation.key().to_vec(),
            None => {
                let Some(key) = self.long_term_key(&username.text) else {
                    debug!(conn, "TURN request refused: unknown or expired username");
                    self.stats.refused_credentials += 1;
                    self.reply_challenge(conn, request, CODE_UNAUTHORIZED);
                    return None;
                };
                key
            }
        };
        if MessageIntegrity::check(request, &key, self.crypto.crypto()).is_err() {
            debug!(conn, "TURN request refused: MESSAGE-INTEGRITY mismatch");
            self.stats.refused_credentials += 1;
            self.reply_challenge(conn, request, CODE_UNAUTHORIZED);
            return None;
        }
        Some(Authenticated {
            username: username.text,
            key,
        })
    }

    /// MD5(username:realm:password) for a username the lookup knows.
    fn long_term_key(&self, username: &str) -> Option<Vec<u8>> {
        let password = (self.credentials)(username)?;
        MessageIntegrity::long_term_integrity_key(
            username.to_owned(),
            self.settings.realm.clone(),
            password,
            self.crypto.crypto(),
        )
        .ok()
    }

    /// Answers 420 (signed) to a request carrying comprehension-required
    /// attributes the relay does not understand; true when it did.
    fn refuse_unknown_attributes(
        &mut self,
        conn: ConnId,
        request: &Message,
        auth: &Authenticated,
    ) -> bool {
        let unknown = messages::unknown_required_attributes(request);
        if unknown.is_empty() {
            return false;
        }
        let reply =
            messages::unknown_attributes_error(request, unknown, Some(self.signer(&auth.key)));
        self.send_reply(conn, reply);
        true
    }

    /// The relayed IP of the family the Allocate asks for (IPv4 unless it
    /// says otherwise, RFC 8656 §7.2).
    /// The IP an allocation relays on: of the family the request asks
    /// for; without REQUESTED-ADDRESS-FAMILY, IPv4 (RFC 8656 §7.2), or IPv6
    /// when the gateway has no IPv4 media address. Clients (libnice,
    /// Chromium) never ask for a family, and on an IPv6-only gateway the
    /// standard's default would refuse them all; the relayed address only
    /// ever reaches the gateway itself, so its family is the gateway's.
    fn relayed_ip_for(&self, request: &Message) -> Result<IpAddr, ErrorCode> {
        let ips = &self.settings.relayed_ips;
        if request.contains(ATTR_REQUESTED_ADDRESS_FAMILY) {
            let mut family = RequestedAddressFamily::default();
            family
                .get_from(request)
                .map_err(|_| CODE_ADDR_FAMILY_NOT_SUPPORTED)?;
            let wants_ipv6 = family == REQUESTED_FAMILY_IPV6;
            return ips
                .iter()
                .copied()
                .find(|ip| ip.is_ipv6() == wants_ipv6)
                .ok_or(CODE_ADDR_FAMILY_NOT_SUPPORTED);
        }
        ips.iter()
            .copied()
            .find(IpAddr::is_ipv4)
            .or_else(|| ips.first().copied())
            .ok_or(CODE_ADDR_FAMILY_NOT_SUPPORTED)
    }

    fn check_quota(&self, client_ip: IpAddr) -> Result<(), ErrorCode> {
        if self.by_relayed.len() >= self.settings.max_allocations {
            debug!("TURN allocation refused: the relay is full");
            return Err(CODE_INSUFFICIENT_CAPACITY);
        }
        let from_this_ip = self
            .connections
            .values()
            .filter(|c| c.allocation.is_some() && c.client.ip() == client_ip)
            .count();
        if from_this_ip >= self.settings.max_allocations_per_client_ip {
            debug!("TURN allocation refused: quota per client IP reached");
            return Err(CODE_ALLOC_QUOTA_REACHED);
        }
        Ok(())
    }

    /// A peer for CreatePermission or ChannelBind: same family as the
    /// relayed address, and one of the gateway's own media addresses.
    fn check_peer(
        &mut self,
        conn: ConnId,
        relayed: SocketAddr,
        peer: SocketAddr,
    ) -> Result<(), ErrorCode> {
        if peer.is_ipv6() != relayed.is_ipv6() {
            return Err(CODE_PEER_ADDR_FAMILY_MISMATCH);
        }
        if !self.settings.allowed_peers.contains(&peer.ip()) {
            debug!(conn, "TURN permission refused: the peer is not the gateway");
            self.stats.refused_forbidden_peer += 1;
            return Err(CODE_FORBIDDEN);
        }
        Ok(())
    }

    /// Whether a datagram between the allocation and `peer` may pass. The
    /// allowed-peer check is repeated although only allowed peers get
    /// permissions: this is the line that keeps the relay from being open.
    fn may_relay(&self, allocation: &Allocation, now: Instant, peer: SocketAddr) -> bool {
        self.settings.allowed_peers.contains(&peer.ip()) && allocation.is_permitted(now, peer.ip())
    }

    fn granted_lifetime(&self, request: &Message) -> Duration {
        let mut requested = Lifetime::default();
        let settings = &self.settings;
        match requested.get_from(request) {
            // RFC 8656 §7.2: min(requested, max), but never below the default.
            Ok(()) => requested
                .0
                .min(settings.max_lifetime)
                .max(settings.default_lifetime),
            Err(_) => settings.default_lifetime,
        }
    }

    fn allocation_of(&self, conn: ConnId) -> Option<&Allocation> {
        self.connections.get(&conn)?.allocation.as_ref()
    }

    fn allocation_of_mut(&mut self, conn: ConnId) -> Option<&mut Allocation> {
        self.connections.get_mut(&conn)?.allocation.as_mut()
    }

    fn signer<'a>(&'a self, key: &'a [u8]) -> Signer<'a> {
        Signer {
            crypto: self.crypto.crypto(),
            key,
        }
    }

    /// 401 or 438 with REALM and the connection's NONCE, unsigned.
    fn reply_challenge(&mut self, conn: ConnId, request: &Message, code: ErrorCode) {
        let Some(connection) = self.connections.get(&conn) else {
            return;
        };
        let attributes: Vec<Box<dyn Setter>> = vec![
            Box::new(TextAttribute::new(ATTR_REALM, self.settings.realm.clone())),
            Box::new(TextAttribute::new(ATTR_NONCE, connection.nonce.clone())),
        ];
        let reply = messages::error(request, code, attributes, None);
        self.send_reply(conn, reply);
    }

    fn reply_error(
        &mut self,
        conn: ConnId,
        request: &Message,
        code: ErrorCode,
        key: Option<&[u8]>,
    ) {
        let reply = messages::error(request, code, Vec::new(), key.map(|key| self.signer(key)));
        self.send_reply(conn, reply);
    }

    fn send_reply(&mut self, conn: ConnId, reply: rtc::shared::error::Result<Bytes>) {
        match reply {
            Ok(frame) => self.push_to_client(conn, frame, false),
            Err(err) => debug!(conn, %err, "cannot encode a TURN response"),
        }
    }

    fn push_to_client(&mut self, conn: ConnId, frame: Bytes, droppable: bool) {
        self.stats.frames_to_clients += 1;
        self.outputs.push_back(RelayOutput::ToClient {
            conn,
            frame,
            droppable,
        });
    }

    fn push_to_sfu(&mut self, relayed: SocketAddr, peer: SocketAddr, payload: Bytes) {
        self.stats.datagrams_to_sfu += 1;
        self.outputs.push_back(RelayOutput::ToSfu {
            relayed,
            peer,
            payload,
        });
    }

    fn close_malformed(&mut self, conn: ConnId, what: &'static str) {
        debug!(conn, what, "TURN connection closed: malformed input");
        self.stats.closed_malformed += 1;
        self.close(conn);
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(mut connection) = self.connections.remove(&conn) {
            self.free_allocation(&mut connection);
            self.outputs.push_back(RelayOutput::Close { conn });
        }
    }

    fn free_allocation(&mut self, connection: &mut Connection) {
        if let Some(allocation) = connection.allocation.take() {
            self.ports.release(allocation.relayed());
            self.by_relayed.remove(&allocation.relayed());
        }
    }
}

/// A fresh nonce: 128 random bits in hex.
fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// REQUESTED-TRANSPORT must be present (400) and name UDP (442).
fn requested_transport_refusal(request: &Message) -> Result<(), ErrorCode> {
    let mut transport = RequestedTransport::default();
    transport.get_from(request).map_err(|_| CODE_BAD_REQUEST)?;
    if transport.protocol != PROTO_UDP {
        return Err(CODE_UNSUPPORTED_TRANS_PROTO);
    }
    Ok(())
}

/// Whether a datagram is RTP rather than RTCP, DTLS or STUN: its first byte
/// is 128–191 (RFC 7983 §7) and its second is not one of RTCP's packet types
/// 192–223 (RFC 5761 §4).
pub fn is_rtp(datagram: &[u8]) -> bool {
    match datagram {
        [first, second, ..] => (128..=191).contains(first) && !(192..=223).contains(second),
        _ => false,
    }
}
