//! The relay driven as a TURN client drives it: requests built with
//! `rtc::stun` and `rtc::turn::proto` the way rtc-turn's client builds them,
//! time passed in.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use rtc::crypto::RTCCryptoProvider;
use rtc::crypto::providers::RingProvider;
use rtc::stun::attributes::{ATTR_EVEN_PORT, ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM};
use rtc::stun::error_code::ErrorCodeAttribute;
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    BINDING_REQUEST, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE,
    Getter, METHOD_CHANNEL_BIND, METHOD_DATA, Message, MessageType, Setter, TransactionId,
};
use rtc::stun::textattrs::TextAttribute;
use rtc::stun::xoraddr::XorMappedAddress;
use rtc::turn::proto::chandata::ChannelData;
use rtc::turn::proto::channum::ChannelNumber;
use rtc::turn::proto::data::Data;
use rtc::turn::proto::lifetime::Lifetime;
use rtc::turn::proto::peeraddr::PeerAddress;
use rtc::turn::proto::relayaddr::RelayedAddress;
use rtc::turn::proto::reqfamily::{REQUESTED_FAMILY_IPV4, REQUESTED_FAMILY_IPV6};
use rtc::turn::proto::reqtrans::RequestedTransport;
use rtc::turn::proto::{
    PROTO_TCP, PROTO_UDP, Protocol, allocate_request, create_permission_request, refresh_request,
    send_indication,
};
use samsyn_signaling::turn_credentials::{self, TurnCredential};

use super::framing::channel_data_frame;
use super::*;

const SECRET: &[u8] = b"a secret of the gateway";
const NOW_UNIX: u64 = 1_700_000_000;
const REALM: &str = "samsyn";
const GATEWAY_IP: &str = "10.213.0.1";
/// Our media address: the SFU's socket.
const MEDIA: &str = "10.213.0.1:7000";
const NURSE: &str = "10.213.0.7:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn settings() -> RelaySettings {
    RelaySettings {
        realm: REALM.into(),
        allowed_peers: vec![ip(GATEWAY_IP)],
        relayed_ips: vec![ip(GATEWAY_IP)],
        relayed_ports: 50000..=50009,
        ..RelaySettings::default()
    }
}

fn server_with(settings: RelaySettings) -> RelayServer {
    RelayServer::new(
        settings,
        credentials::shared_secret(SECRET.to_vec(), || NOW_UNIX),
    )
}

fn server() -> RelayServer {
    server_with(settings())
}

fn credential() -> TurnCredential {
    turn_credentials::mint(SECRET, NOW_UNIX + 3600, "token-1")
}

fn crypto() -> RingProvider {
    RingProvider::new()
}

/// A TURN client's view: the credential it was given and the nonce it last saw.
struct Client {
    conn: ConnId,
    username: String,
    password: String,
    nonce: String,
}

impl Client {
    fn key(&self) -> Vec<u8> {
        MessageIntegrity::long_term_integrity_key(
            self.username.clone(),
            REALM.into(),
            self.password.clone(),
            crypto().crypto(),
        )
        .unwrap()
    }

    /// A request signed with the long-term credential, as rtc-turn's client signs it.
    fn signed(&self, typ: MessageType, attributes: Vec<Box<dyn Setter>>) -> Vec<u8> {
        let provider = crypto();
        let integrity = MessageIntegrity::new_long_term_integrity_with_provider(
            self.username.clone(),
            REALM.into(),
            self.password.clone(),
            provider.crypto(),
        )
        .unwrap();
        let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(TransactionId::new()), Box::new(typ)];
        setters.extend(attributes);
        setters.push(Box::new(TextAttribute::new(
            rtc::stun::attributes::ATTR_USERNAME,
            self.username.clone(),
        )));
        setters.push(Box::new(TextAttribute::new(ATTR_REALM, REALM.into())));
        setters.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
        setters.push(Box::new(integrity));
        setters.push(Box::new(FINGERPRINT));
        let mut message = Message::new();
        message.build(&setters).unwrap();
        message.raw
    }
}

fn unsigned(typ: MessageType, attributes: Vec<Box<dyn Setter>>) -> Vec<u8> {
    let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(TransactionId::new()), Box::new(typ)];
    setters.extend(attributes);
    setters.push(Box::new(FINGERPRINT));
    let mut message = Message::new();
    message.build(&setters).unwrap();
    message.raw
}

fn udp() -> Box<dyn Setter> {
    Box::new(RequestedTransport {
        protocol: PROTO_UDP,
    })
}

fn peer(addr: SocketAddr) -> Box<dyn Setter> {
    Box::new(PeerAddress {
        ip: addr.ip(),
        port: addr.port(),
    })
}

fn drain(server: &mut RelayServer) -> Vec<RelayOutput> {
    std::iter::from_fn(|| server.poll_output()).collect()
}

fn decode(frame: &[u8]) -> Message {
    let mut message = Message::new();
    message.raw = frame.to_vec();
    message.decode().unwrap();
    message
}

/// The one STUN response the last call produced for `conn`.
fn response(server: &mut RelayServer, conn: ConnId) -> Message {
    let outputs = drain(server);
    match outputs.as_slice() {
        [
            RelayOutput::ToClient {
                conn: to,
                frame,
                droppable: false,
            },
        ] if *to == conn => decode(frame),
        other => panic!("expected one response, got {other:?}"),
    }
}

fn error_code(message: &Message) -> u16 {
    assert_eq!(message.typ.class, CLASS_ERROR_RESPONSE, "{message}");
    let mut code = ErrorCodeAttribute::default();
    code.get_from(message).unwrap();
    code.code.0
}

fn assert_success(message: &Message) {
    assert_eq!(message.typ.class, CLASS_SUCCESS_RESPONSE, "{message}");
}

fn assert_signed(message: &mut Message, key: &[u8]) {
    MessageIntegrity::check(message, key, crypto().crypto()).expect("signed with the key");
}

fn nonce_of(message: &Message) -> String {
    TextAttribute::get_from_as(message, ATTR_NONCE)
        .unwrap()
        .text
}

/// Opens a connection and lets the server challenge it, as every client's
/// first Allocate does.
fn open(
    server: &mut RelayServer,
    now: Instant,
    conn: ConnId,
    credential: &TurnCredential,
) -> Client {
    open_from(server, now, conn, addr(NURSE), credential)
}

fn open_from(
    server: &mut RelayServer,
    now: Instant,
    conn: ConnId,
    from: SocketAddr,
    credential: &TurnCredential,
) -> Client {
    server.connection_opened(now, conn, from, RelayTransport::Tcp);
    server.handle_frame(now, conn, &unsigned(allocate_request(), vec![udp()]));
    let challenge = response(server, conn);
    Client {
        conn,
        username: credential.username.clone(),
        password: credential.password.clone(),
        nonce: nonce_of(&challenge),
    }
}

/// A connection with an allocation; returns the client and its relayed address.
fn allocated(server: &mut RelayServer, now: Instant, conn: ConnId) -> (Client, SocketAddr) {
    let client = open(server, now, conn, &credential());
    server.handle_frame(now, conn, &client.signed(allocate_request(), vec![udp()]));
    let reply = response(server, conn);
    assert_success(&reply);
    let mut relayed = RelayedAddress::default();
    relayed.get_from(&reply).unwrap();
    (client, SocketAddr::new(relayed.ip, relayed.port))
}

fn permit(server: &mut RelayServer, now: Instant, client: &Client, peer_addr: SocketAddr) {
    server.handle_frame(
        now,
        client.conn,
        &client.signed(create_permission_request(), vec![peer(peer_addr)]),
    );
    assert_success(&response(server, client.conn));
}

fn channel_bind(
    server: &mut RelayServer,
    now: Instant,
    client: &Client,
    channel: u16,
    peer_addr: SocketAddr,
) -> Message {
    server.handle_frame(
        now,
        client.conn,
        &client.signed(
            MessageType::new(METHOD_CHANNEL_BIND, CLASS_REQUEST),
            vec![Box::new(ChannelNumber(channel)), peer(peer_addr)],
        ),
    );
    response(server, client.conn)
}

/// A Send indication (indications carry no credentials).
fn send(peer_addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
    unsigned(
        send_indication(),
        vec![peer(peer_addr), Box::new(Data(payload.to_vec()))],
    )
}

#[test]
fn the_relay_can_move_to_the_media_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<RelayServer>();
    assert_send::<RelayOutput>();
}

#[test]
fn binding_requests_learn_the_mapped_address_without_credentials() {
    let mut server = server();
    let now = Instant::now();
    server.connection_opened(now, 1, addr(NURSE), RelayTransport::Tls);
    server.handle_frame(now, 1, &unsigned(BINDING_REQUEST, Vec::new()));
    let reply = response(&mut server, 1);
    assert_success(&reply);
    let mut mapped = XorMappedAddress::default();
    mapped.get_from(&reply).unwrap();
    assert_eq!(SocketAddr::new(mapped.ip, mapped.port), addr(NURSE));
}

#[test]
fn the_first_allocate_is_challenged_with_realm_and_nonce() {
    let mut server = server();
    let now = Instant::now();
    server.connection_opened(now, 1, addr(NURSE), RelayTransport::Tcp);
    server.handle_frame(now, 1, &unsigned(allocate_request(), vec![udp()]));
    let challenge = response(&mut server, 1);
    assert_eq!(error_code(&challenge), 401);
    assert_eq!(
        TextAttribute::get_from_as(&challenge, ATTR_REALM)
            .unwrap()
            .text,
        REALM
    );
    assert_eq!(nonce_of(&challenge).len(), 32);
    assert!(!challenge.contains(ATTR_MESSAGE_INTEGRITY));
    assert_eq!(
        server.stats().refused_credentials,
        0,
        "a challenge is no refusal"
    );
}

#[test]
fn a_good_allocate_gets_a_virtual_relayed_address_of_the_gateway() {
    let mut server = server();
    let now = Instant::now();
    let client = open(&mut server, now, 1, &credential());
    server.handle_frame(
        now,
        1,
        &client.signed(
            allocate_request(),
            vec![udp(), Box::new(Lifetime(Duration::from_secs(1200)))],
        ),
    );
    let mut reply = response(&mut server, 1);
    assert_success(&reply);
    assert_signed(&mut reply, &client.key());
    FINGERPRINT.check(&reply).unwrap();

    let mut relayed = RelayedAddress::default();
    relayed.get_from(&reply).unwrap();
    let relayed = SocketAddr::new(relayed.ip, relayed.port);
    assert_eq!(relayed.ip(), ip(GATEWAY_IP));
    assert!((50000..=50009).contains(&relayed.port()));
    let mut mapped = XorMappedAddress::default();
    mapped.get_from(&reply).unwrap();
    assert_eq!(SocketAddr::new(mapped.ip, mapped.port), addr(NURSE));
    let mut lifetime = Lifetime::default();
    lifetime.get_from(&reply).unwrap();
    assert_eq!(lifetime.0, Duration::from_secs(1200));

    assert!(server.is_relayed_address(relayed));
    assert_eq!(server.relayed_transport(relayed), Some(RelayTransport::Tcp));
    assert_eq!(server.stats().allocations, 1);
    assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(1200)));
}

#[test]
fn a_wrong_password_is_refused_with_401_and_counted() {
    let mut server = server();
    let now = Instant::now();
    let mut wrong = credential();
    wrong.password = turn_credentials::password(b"another secret", &wrong.username);
    let client = open(&mut server, now, 1, &wrong);
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![udp()]));
    let reply = response(&mut server, 1);
    assert_eq!(error_code(&reply), 401);
    assert!(reply.contains(ATTR_NONCE), "a new attempt is possible");
    assert_eq!(server.stats().refused_credentials, 1);
    assert_eq!(server.stats().allocations, 0);
}

#[test]
fn an_expired_username_is_refused_with_401() {
    let mut server = server();
    let now = Instant::now();
    let expired = turn_credentials::mint(SECRET, NOW_UNIX, "token-1");
    let client = open(&mut server, now, 1, &expired);
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![udp()]));
    assert_eq!(error_code(&response(&mut server, 1)), 401);
    assert_eq!(server.stats().refused_credentials, 1);
}

#[test]
fn a_stale_or_foreign_nonce_gets_438_and_a_fresh_one() {
    let mut server = server();
    let t0 = Instant::now();
    let mut client = open(&mut server, t0, 1, &credential());
    let first_nonce = client.nonce.clone();

    client.nonce = "not ours".into();
    server.handle_frame(t0, 1, &client.signed(allocate_request(), vec![udp()]));
    let reply = response(&mut server, 1);
    assert_eq!(error_code(&reply), 438);
    assert_eq!(
        nonce_of(&reply),
        first_nonce,
        "the current nonce is still valid"
    );

    client.nonce = first_nonce.clone();
    let later = t0 + settings().nonce_lifetime;
    server.handle_frame(later, 1, &client.signed(allocate_request(), vec![udp()]));
    let reply = response(&mut server, 1);
    assert_eq!(error_code(&reply), 438);
    let fresh = nonce_of(&reply);
    assert_ne!(fresh, first_nonce);

    client.nonce = fresh;
    server.handle_frame(later, 1, &client.signed(allocate_request(), vec![udp()]));
    assert_success(&response(&mut server, 1));
}

#[test]
fn a_second_allocate_on_a_connection_is_437() {
    let mut server = server();
    let now = Instant::now();
    let (client, _) = allocated(&mut server, now, 1);
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![udp()]));
    let mut reply = response(&mut server, 1);
    assert_eq!(error_code(&reply), 437);
    assert_signed(&mut reply, &client.key());
    assert_eq!(server.stats().allocations, 1);
}

#[test]
fn allocate_wants_udp_and_a_family_we_relay() {
    let mut server = server();
    let now = Instant::now();
    let client = open(&mut server, now, 1, &credential());

    server.handle_frame(now, 1, &client.signed(allocate_request(), Vec::new()));
    assert_eq!(error_code(&response(&mut server, 1)), 400);

    let tcp: Box<dyn Setter> = Box::new(RequestedTransport {
        protocol: PROTO_TCP,
    });
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![tcp]));
    assert_eq!(error_code(&response(&mut server, 1)), 442);

    let ipv6: Box<dyn Setter> = Box::new(REQUESTED_FAMILY_IPV6);
    server.handle_frame(
        now,
        1,
        &client.signed(allocate_request(), vec![udp(), ipv6]),
    );
    assert_eq!(error_code(&response(&mut server, 1)), 440);

    let other = Box::new(RequestedTransport {
        protocol: Protocol(99),
    });
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![other]));
    assert_eq!(error_code(&response(&mut server, 1)), 442);
    assert_eq!(server.stats().allocations, 0);
}

#[test]
fn an_ipv6_only_gateway_relays_on_ipv6_when_no_family_is_asked_for() {
    let gateway = ip("fd00:213::1");
    let mut server = server_with(RelaySettings {
        allowed_peers: vec![gateway],
        relayed_ips: vec![gateway],
        ..settings()
    });
    let now = Instant::now();
    let client = open(&mut server, now, 1, &credential());
    server.handle_frame(now, 1, &client.signed(allocate_request(), vec![udp()]));
    let reply = response(&mut server, 1);
    assert_success(&reply);
    let mut relayed = RelayedAddress::default();
    relayed.get_from(&reply).unwrap();
    assert_eq!(relayed.ip, gateway);

    // Asked for IPv4 outright, it still says it has none.
    let ipv4: Box<dyn Setter> = Box::new(REQUESTED_FAMILY_IPV4);
    let other = open(&mut server, now, 2, &credential());
    server.handle_frame(now, 2, &other.signed(allocate_request(), vec![udp(), ipv4]));
    assert_eq!(error_code(&response(&mut server, 2)), 440);
}

#[test]
fn unknown_required_attributes_get_420() {
    let mut server = server();
    let now = Instant::now();
    let client = open(&mut server, now, 1, &credential());
    struct EvenPort;
    impl Setter for EvenPort {
        fn add_to(&self, m: &mut Message) -> rtc::shared::error::Result<()> {
            m.add(ATTR_EVEN_PORT, &[0x80]);
            Ok(())
        }
    }
    server.handle_frame(
        now,
        1,
        &client.signed(allocate_request(), vec![udp(), Box::new(EvenPort)]),
    );
    assert_eq!(error_code(&response(&mut server, 1)), 420);
}

#[test]
fn refresh_extends_and_lifetime_zero_deletes_freeing_the_port() {
    let mut server = server();
    let t0 = Instant::now();
    let (client, relayed) = allocated(&mut server, t0, 1);

    let t1 = t0 + Duration::from_secs(500);
    server.handle_frame(t1, 1, &client.signed(refresh_request(), Vec::new()));
    let mut reply = response(&mut server, 1);
    assert_success(&reply);
    assert_signed(&mut reply, &client.key());
    assert_eq!(server.poll_timeout(), Some(t1 + Duration::from_secs(600)));

    let zero: Box<dyn Setter> = Box::new(Lifetime(Duration::ZERO));
    server.handle_frame(t1, 1, &client.signed(refresh_request(), vec![zero]));
    let reply = response(&mut server, 1);
    assert_success(&reply);
    let mut lifetime = Lifetime::default();
    lifetime.get_from(&reply).unwrap();
    assert_eq!(lifetime.0, Duration::ZERO);
    assert!(!server.is_relayed_address(relayed));
    assert_eq!(server.stats().allocations, 0);

    // The deleted allocation's username and key no longer apply: a Refresh
    // needs an allocation (437 after a fresh authentication).
    server.handle_frame(t1, 1, &client.signed(refresh_request(), Vec::new()));
    assert_eq!(error_code(&response(&mut server, 1)), 437);
}

#[test]
fn requests_on_an_allocation_must_use_its_username() {
    let mut server = server();
    let now = Instant::now();
    let (client, _) = allocated(&mut server, now, 1);
    let other = turn_credentials::mint(SECRET, NOW_UNIX + 3600, "token-2");
    let intruder = Client {
        conn: 1,
        username: other.username,
        password: other.password,
        nonce: client.nonce.clone(),
    };
    server.handle_frame(now, 1, &intruder.signed(refresh_request(), Vec::new()));
    assert_eq!(error_code(&response(&mut server, 1)), 441);
}

#[test]
fn an_allocation_outlives_its_credential() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let unix_now = Arc::new(AtomicU64::new(NOW_UNIX));
    let clock = unix_now.clone();
    let lookup = credentials::shared_secret(SECRET.to_vec(), move || clock.load(Ordering::Relaxed));
    let mut server = RelayServer::new(settings(), lookup);
    let now = Instant::now();
    let (client, relayed) = allocated(&mut server, now, 1);

    unix_now.store(NOW_UNIX + 7200, Ordering::Relaxed);
    server.handle_frame(now, 1, &client.signed(refresh_request(), Vec::new()));
    assert_success(&response(&mut server, 1));
    assert!(server.is_relayed_address(relayed));

    // A new allocation with the expired credential is refused.
    let late = open(&mut server, now, 2, &credential());
    server.handle_frame(now, 2, &late.signed(allocate_request(), vec![udp()]));
    assert_eq!(error_code(&response(&mut server, 2)), 401);
}

#[test]
fn permissions_only_for_the_gateway_and_all_or_nothing() {
    let mut server = server();
    let now = Instant::now();
    let (client, relayed) = allocated(&mut server, now, 1);

    let outside = addr("10.213.0.99:7000");
    server.handle_frame(
        now,
        1,
        &client.signed(create_permission_request(), vec![peer(outside)]),
    );
    let mut reply = response(&mut server, 1);
    assert_eq!(error_code(&reply), 403);
    assert_signed(&mut reply, &client.key());

    server.handle_frame(
        now,
        1,
        &client.signed(
            create_permission_request(),
            vec![peer(addr(MEDIA)), peer(addr("192.0.2.1:7000"))],
        ),
    );
    assert_eq!(error_code(&response(&mut server, 1)), 403);
    assert_eq!(server.stats().refused_forbidden_peer, 2);
    assert!(server.send_to_client(now, addr(MEDIA), relayed, b"x"));
    assert!(drain(&mut server).is_empty(), "no permission was installed");

    let ipv6 = addr("[fd00::1]:7000");
    server.handle_frame(
        now,
        1,
        &client.signed(create_permission_request(), vec![peer(ipv6)]),
    );
    assert_eq!(error_code(&response(&mut server, 1)), 443);

    server.handle_frame(
        now,
        1,
        &client.signed(create_permission_request(), Vec::new()),
    );
    assert_eq!(error_code(&response(&mut server, 1)), 400);

    permit(&mut server, now, &client, addr(MEDIA));
}

#[test]
fn send_indications_and_channel_data_reach_the_sfu_only_with_permission() {
    let mut server = server();
    let now = Instant::now();
    let (client, relayed) = allocated(&mut server, now, 1);
    let media = addr(MEDIA);

    server.handle_frame(now, 1, &send(media, b"early"));
    assert!(drain(&mut server).is_empty(), "no permission yet");

    permit(&mut server, now, &client, media);
    server.handle_frame(now, 1, &send(media, b"stun check"));
    assert_eq!(
        drain(&mut server),
        vec![RelayOutput::ToSfu {
            relayed,
            peer: media,
            payload: Bytes::from_static(b"stun check"),
        }]
    );

    server.handle_frame(now, 1, &channel_data_frame(0x4001, b"srtp")[..8]);
    assert!(drain(&mut server).is_empty(), "no channel bound yet");

    assert_success(&channel_bind(&mut server, now, &client, 0x4001, media));
    let frame = channel_data_frame(0x4001, b"srtp");
    server.handle_frame(now, 1, &frame[..8]);
    assert_eq!(
        drain(&mut server),
        vec![RelayOutput::ToSfu {
            relayed,
            peer: media,
            payload: Bytes::from_static(b"srtp"),
        }]
    );
    assert_eq!(server.stats().datagrams_to_sfu, 2);
    assert_eq!(server.stats().dropped_datagrams, 2);
}

#[test]
fn the_sfu_answers_as_data_indications_then_as_channel_data() {
    let mut server = server();
    let now = Instant::now();
    let (client, relayed) = allocated(&mut server, now, 1);
    let media = addr(MEDIA);

    assert!(!server.send_to_client(now, media, addr("10.213.0.1:1"), b"x"));
    assert!(server.send_to_client(now, media, relayed, b"no permission"));
    assert!(drain(&mut server).is_empty());

    permit(&mut server, now, &client, media);
    assert!(server.send_to_client(now, media, relayed, b"check"));
    let outputs = drain(&mut server);
    let [
        RelayOutput::ToClient {
            conn: 1,
            frame,
            droppable: false,
        },
    ] = outputs.as_slice()
    else {
        panic!("expected a Data indication of a STUN check, not droppable, got {outputs:?}");
    };
    let indication = decode(frame);
    assert_eq!(
        indication.typ,
        MessageType::new(METHOD_DATA, CLASS_INDICATION)
    );
    let mut from = PeerAddress::default();
    from.get_from(&indication).unwrap();
    assert_eq!(SocketAddr::new(from.ip, from.port), media);
    let mut data = Data::default();
    data.get_from(&indication).unwrap();
    assert_eq!(data.0, b"check");

    assert_success(&channel_bind(&mut server, now, &client, 0x4abc, media));
    // An RTP packet (version 2, payload type 96) may be dropped by a
    // connection that cannot keep up; an RTCP one (type 200) may not.
    let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0];
    let rtcp = [0x80, 200, 0, 6];
    assert!(server.send_to_client(now, media, relayed, &rtcp));
    assert!(matches!(
        drain(&mut server).as_slice(),
        [RelayOutput::ToClient {
            droppable: false,
            ..
        }]
    ));
    assert!(server.send_to_client(now, media, relayed, &rtp));
    let outputs = drain(&mut server);
    let [
        RelayOutput::ToClient {
            frame,
            droppable: true,
            ..
        },
    ] = outputs.as_slice()
    else {
        panic!("expected ChannelData, got {outputs:?}");
    };
    assert_eq!(frame.len() % 4, 0, "padded for a stream");
    let mut channel_data = ChannelData {
        raw: frame.to_vec(),
        ..ChannelData::default()
    };
    channel_data.decode().unwrap();
    assert_eq!(channel_data.number.0, 0x4abc);
    assert_eq!(channel_data.data, rtp);
}

#[test]
fn channel_bind_follows_rfc_8656() {
    let mut server = server();
    let now = Instant::now();
    let (client, _) = allocated(&mut server, now, 1);
    let media = addr(MEDIA);
    let other_port = addr("10.213.0.1:7001");

    let mut reply = channel_bind(&mut server, now, &client, 0x4000, media);
    assert_success(&reply);
    assert_signed(&mut reply, &client.key());
    assert_success(&channel_bind(&mut server, now, &client, 0x4000, media));
    assert_eq!(
        error_code(&channel_bind(&mut server, now, &client, 0x4000, other_port)),
        400
    );
    assert_eq!(
        error_code(&channel_bind(&mut server, now, &client, 0x4001, media)),
        400
    );
    assert_eq!(
        error_code(&channel_bind(&mut server, now, &client, 0x5000, other_port)),
        400
    );
    assert_eq!(
        error_code(&channel_bind(&mut server, now, &client, 0x3FFF, other_port)),
        400
    );
    assert_eq!(
        error_code(&channel_bind(
            &mut server,
            now,
            &client,
            0x4002,
            addr("8.8.8.8:53")
        )),
        403
    );
    assert_success(&channel_bind(&mut server, now, &client, 0x4FFF, other_port));
}

#[test]
fn permissions_channels_and_allocations_expire_with_time() {
    let mut server = server();
    let t0 = Instant::now();
    let (client, relayed) = allocated(&mut server, t0, 1);
    let media = addr(MEDIA);
    permit(&mut server, t0, &client, media);
    assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(300)));

    let t300 = t0 + Duration::from_secs(300);
    server.handle_timeout(t300);
    assert!(drain(&mut server).is_empty());
    server.handle_frame(t300, 1, &send(media, b"late"));
    assert!(server.send_to_client(t300, media, relayed, b"late"));
    assert!(drain(&mut server).is_empty(), "the permission expired");
    assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(600)));

    let t600 = t0 + Duration::from_secs(600);
    server.handle_timeout(t600);
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 1 }]);
    assert!(!server.is_relayed_address(relayed));
    assert_eq!(server.stats().expired_allocations, 1);
    assert_eq!(server.stats().connections, 0);
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn a_channel_binding_keeps_its_permission_only_while_refreshed() {
    let mut server = server();
    let t0 = Instant::now();
    let (client, relayed) = allocated(&mut server, t0, 1);
    let media = addr(MEDIA);
    assert_success(&channel_bind(&mut server, t0, &client, 0x4000, media));

    // Refresh the allocation, but not the binding's permission.
    let t400 = t0 + Duration::from_secs(400);
    server.handle_frame(t400, 1, &client.signed(refresh_request(), Vec::new()));
    assert_success(&response(&mut server, 1));
    server.handle_timeout(t400);
    assert!(server.send_to_client(t400, media, relayed, b"x"));
    assert!(
        drain(&mut server).is_empty(),
        "the permission lapsed at 300 s"
    );

    permit(&mut server, t400, &client, media);
    assert!(server.send_to_client(t400, media, relayed, b"x"));
    assert_eq!(drain(&mut server).len(), 1);
}

#[test]
fn allocations_are_limited_per_client_ip_and_in_total() {
    let mut server = server_with(RelaySettings {
        max_allocations: 3,
        max_allocations_per_client_ip: 2,
        ..settings()
    });
    let now = Instant::now();
    allocated(&mut server, now, 1);
    allocated(&mut server, now, 2);
    let third = open(&mut server, now, 3, &credential());
    server.handle_frame(now, 3, &third.signed(allocate_request(), vec![udp()]));
    assert_eq!(error_code(&response(&mut server, 3)), 486);

    // Another client IP still gets one, up to the total.
    let other = open_from(&mut server, now, 4, addr("10.213.0.8:40000"), &credential());
    server.handle_frame(now, 4, &other.signed(allocate_request(), vec![udp()]));
    assert_success(&response(&mut server, 4));

    let fifth = open_from(&mut server, now, 5, addr("10.213.0.9:40000"), &credential());
    server.handle_frame(now, 5, &fifth.signed(allocate_request(), vec![udp()]));
    assert_eq!(error_code(&response(&mut server, 5)), 508);
    assert_eq!(server.stats().refused_quota, 2);
}

#[test]
fn connections_are_limited() {
    let mut server = server_with(RelaySettings {
        max_connections: 1,
        ..settings()
    });
    let now = Instant::now();
    server.connection_opened(now, 1, addr(NURSE), RelayTransport::Tcp);
    server.connection_opened(now, 2, addr(NURSE), RelayTransport::Tcp);
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 2 }]);
    assert_eq!(server.stats().connections, 1);
}

#[test]
fn one_address_cannot_take_every_connection() {
    let mut server = server_with(RelaySettings {
        max_connections_per_client_ip: 2,
        ..settings()
    });
    let now = Instant::now();
    server.connection_opened(now, 1, addr("10.213.0.8:40001"), RelayTransport::Tcp);
    server.connection_opened(now, 2, addr("10.213.0.8:40002"), RelayTransport::Tls);
    server.connection_opened(now, 3, addr("10.213.0.8:40003"), RelayTransport::Tcp);
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 3 }]);
    server.connection_opened(now, 4, addr(NURSE), RelayTransport::Tcp);
    assert!(
        drain(&mut server).is_empty(),
        "another address still gets in"
    );
    assert_eq!(server.stats().connections, 3);
    assert_eq!(server.stats().refused_quota, 1);
}

#[test]
fn a_connection_without_allocation_is_closed_after_the_auth_timeout() {
    let mut server = server();
    let t0 = Instant::now();
    open(&mut server, t0, 1, &credential());
    let (_, _) = allocated(&mut server, t0, 2);
    assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    server.handle_timeout(t0 + Duration::from_secs(9));
    assert!(drain(&mut server).is_empty());
    server.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 1 }]);
    assert_eq!(server.stats().closed_unauthenticated, 1);
    assert_eq!(server.stats().connections, 1, "the allocated one stays");

    // Frames for a closed connection are ignored.
    server.handle_frame(t0, 1, &unsigned(BINDING_REQUEST, Vec::new()));
    assert!(drain(&mut server).is_empty());
}

#[test]
fn connection_closed_frees_the_virtual_port() {
    let mut server = server_with(RelaySettings {
        relayed_ports: 50000..=50000,
        ..settings()
    });
    let now = Instant::now();
    let (_, relayed) = allocated(&mut server, now, 1);
    let second = open_from(&mut server, now, 2, addr("10.213.0.8:1"), &credential());
    server.handle_frame(now, 2, &second.signed(allocate_request(), vec![udp()]));
    assert_eq!(error_code(&response(&mut server, 2)), 508, "no port left");

    server.connection_closed(1);
    assert!(
        drain(&mut server).is_empty(),
        "the caller closed it already"
    );
    assert!(!server.is_relayed_address(relayed));
    server.handle_frame(now, 2, &second.signed(allocate_request(), vec![udp()]));
    let reply = response(&mut server, 2);
    assert_success(&reply);
    let mut again = RelayedAddress::default();
    again.get_from(&reply).unwrap();
    assert_eq!(SocketAddr::new(again.ip, again.port), relayed);
}

#[test]
fn garbage_closes_the_connection() {
    let mut server = server();
    let now = Instant::now();
    server.connection_opened(now, 1, addr(NURSE), RelayTransport::Tcp);
    server.handle_frame(now, 1, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 1 }]);

    server.connection_opened(now, 2, addr(NURSE), RelayTransport::Tcp);
    let mut broken = unsigned(BINDING_REQUEST, Vec::new());
    broken[3] = 200; // a length the frame does not have
    server.handle_frame(now, 2, &broken);
    assert_eq!(drain(&mut server), vec![RelayOutput::Close { conn: 2 }]);
    assert_eq!(server.stats().closed_malformed, 2);
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..10),
    ) {
        let mut server = server();
        let now = Instant::now();
        let (_, relayed) = allocated(&mut server, now, 1);
        server.connection_opened(now, 2, addr(NURSE), RelayTransport::Tcp);
        for frame in &frames {
            server.handle_frame(now, 1, frame);
            server.handle_frame(now, 2, frame);
            server.send_to_client(now, addr(MEDIA), relayed, frame);
            drain(&mut server);
        }
        server.handle_timeout(now + Duration::from_secs(3600));
    }

    #[test]
    fn mutated_requests_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut server = server();
        let now = Instant::now();
        let (client, _) = allocated(&mut server, now, 1);
        let mut frame = match which {
            0 => client.signed(allocate_request(), vec![udp()]),
            1 => client.signed(create_permission_request(), vec![peer(addr(MEDIA))]),
            2 => client.signed(
                MessageType::new(METHOD_CHANNEL_BIND, CLASS_REQUEST),
                vec![Box::new(ChannelNumber(0x4000)), peer(addr(MEDIA))],
            ),
            _ => send(addr(MEDIA), b"payload"),
        };
        for (at, value) in flips {
            let len = frame.len();
            // Keep the header's type bits so the frame still reaches STUN handling.
            frame[4 + at % (len - 4)] ^= value;
        }
        server.handle_frame(now, 1, &frame);
        drain(&mut server);
    }
}

/// An attribute written as given, whatever its type and value.
struct RawAttribute(u16, Vec<u8>);

impl Setter for RawAttribute {
    fn add_to(&self, m: &mut Message) -> rtc::shared::error::Result<()> {
        m.add(rtc::stun::attributes::AttrType(self.0), &self.1);
        Ok(())
    }
}

/// Attribute types the relay reads, and a few it does not.
fn attribute_type() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0x0006u16), // USERNAME
        Just(0x0008),    // MESSAGE-INTEGRITY
        Just(0x000C),    // CHANNEL-NUMBER
        Just(0x000D),    // LIFETIME
        Just(0x0012),    // XOR-PEER-ADDRESS
        Just(0x0013),    // DATA
        Just(0x0014),    // REALM
        Just(0x0015),    // NONCE
        Just(0x0017),    // REQUESTED-ADDRESS-FAMILY
        Just(0x0019),    // REQUESTED-TRANSPORT
        Just(0x8028),    // FINGERPRINT
        any::<u16>(),
    ]
}

proptest! {
    /// Well-formed STUN framing around arbitrary attributes reaches every
    /// attribute reader and the integrity check.
    #[test]
    fn arbitrary_attributes_never_panic(
        // Binding, Allocate, Refresh, CreatePermission, ChannelBind requests,
        // a Send indication, or any type.
        raw_type in prop_oneof![
            Just(0x0001u16), Just(0x0003), Just(0x0004), Just(0x0008), Just(0x0009), Just(0x0016),
            any::<u16>(),
        ],
        attributes in proptest::collection::vec(
            (attribute_type(), proptest::collection::vec(any::<u8>(), 0..40)),
            0..8,
        ),
        sign in any::<bool>(),
    ) {
        let mut server = server();
        let now = Instant::now();
        let (client, _) = allocated(&mut server, now, 1);
        let mut typ = MessageType::default();
        typ.read_value(raw_type & 0x3FFF);
        let mut message = Message::new();
        message.build(&[Box::new(TransactionId::new()), Box::new(typ)]).unwrap();
        for (typ, value) in &attributes {
            message.add(rtc::stun::attributes::AttrType(*typ), value);
        }
        let frame = if sign {
            // A valid MESSAGE-INTEGRITY over the junk.
            // (rtc-stun refuses to sign after a FINGERPRINT.)
            let raw: Vec<Box<dyn Setter>> = attributes
                .iter()
                .filter(|(typ, _)| *typ != 0x8028)
                .map(|(typ, value)| Box::new(RawAttribute(*typ, value.clone())) as Box<dyn Setter>)
                .collect();
            client.signed(typ, raw)
        } else {
            message.raw
        };
        server.handle_frame(now, 1, &frame);
        drain(&mut server);
    }
}
