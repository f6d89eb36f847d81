//! A TURN client over TCP, just enough to ask a relay (the gateway's own, or
//! coturn) for an allocation and permissions with long-term credentials
//! (RFC 8656); requests built with `rtc::stun` as rtc-turn's client builds
//! them. And the relays a gateway announces to a WHIP/WHEP client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rtc::crypto::RTCCryptoProvider;
use rtc::crypto::providers::RingProvider;
use rtc::stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
use rtc::stun::error_code::ErrorCodeAttribute;
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_SUCCESS_RESPONSE, Getter, Message, MessageType, Setter,
    TransactionId,
};
use rtc::stun::textattrs::TextAttribute;
use rtc::turn::proto::peeraddr::PeerAddress;
use rtc::turn::proto::relayaddr::RelayedAddress;
use rtc::turn::proto::reqtrans::RequestedTransport;
use rtc::turn::proto::{PROTO_UDP, allocate_request, create_permission_request};
use samsyn_capture::whip::parse_link_header;
use samsyn_signaling::turn_credentials::{self, TurnCredential};

/// One TCP connection to a relay, past its first challenge.
pub struct TurnClient {
    stream: TcpStream,
    realm: String,
    nonce: String,
}

impl TurnClient {
    /// Connects to `relay` and takes the challenge (401 with REALM and
    /// NONCE) that every first Allocate gets; the relay must answer in
    /// `realm`.
    pub fn connect(relay: (&str, u16), realm: &str) -> Self {
        let stream = TcpStream::connect(relay).expect("the relay accepts TCP");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut client = Self {
            stream,
            realm: realm.to_owned(),
            nonce: String::new(),
        };
        let challenge = client.exchange(&build(allocate_request(), vec![udp()]));
        assert_eq!(error_code(&challenge), Some(401), "{challenge}");
        assert_eq!(
            text(&challenge, ATTR_REALM),
            realm,
            "the relay answers in its configured realm"
        );
        client.nonce = text(&challenge, ATTR_NONCE);
        client
    }

    /// Sends one request and reads its response.
    fn exchange(&mut self, request: &[u8]) -> Message {
        self.stream
            .write_all(request)
            .expect("the relay takes a request");
        let mut header = [0u8; 20];
        self.stream
            .read_exact(&mut header)
            .expect("the relay answers a request");
        let length = u16::from_be_bytes([header[2], header[3]]) as usize;
        let mut raw = header.to_vec();
        raw.resize(20 + length, 0);
        self.stream
            .read_exact(&mut raw[20..])
            .expect("the relay's answer is complete");
        let mut message = Message::new();
        message.raw = raw;
        message.decode().expect("the relay answers in STUN");
        message
    }

    /// Sends `typ` signed with `credential`, again with a fresh nonce if the
    /// relay says the nonce is stale (438); the response.
    fn signed_exchange(
        &mut self,
        credential: &TurnCredential,
        typ: MessageType,
        attributes: impl Fn() -> Vec<Box<dyn Setter>>,
    ) -> Message {
        let provider = RingProvider::new();
        let mut response = Message::new();
        for _ in 0..2 {
            let integrity = MessageIntegrity::new_long_term_integrity_with_provider(
                credential.username.clone(),
                self.realm.clone(),
                credential.password.clone(),
                provider.crypto(),
            )
            .unwrap();
            let mut setters: Vec<Box<dyn Setter + '_>> = attributes();
            setters.push(Box::new(TextAttribute::new(
                ATTR_USERNAME,
                credential.username.clone(),
            )));
            setters.push(Box::new(TextAttribute::new(ATTR_REALM, self.realm.clone())));
            setters.push(Box::new(TextAttribute::new(ATTR_NONCE, self.nonce.clone())));
            setters.push(Box::new(integrity));
            response = self.exchange(&build(typ, setters));
            if error_code(&response) != Some(438) {
                break;
            }
            self.nonce = text(&response, ATTR_NONCE);
        }
        response
    }

    /// An allocation for `credential`: its relayed address, or the error code.
    pub fn allocate(&mut self, credential: &TurnCredential) -> Result<SocketAddr, u16> {
        let response = self.signed_exchange(credential, allocate_request(), || vec![udp()]);
        if let Some(code) = error_code(&response) {
            return Err(code);
        }
        assert_eq!(response.typ.class, CLASS_SUCCESS_RESPONSE, "{response}");
        let mut relayed = RelayedAddress::default();
        relayed
            .get_from(&response)
            .expect("an allocation has a relayed address");
        Ok(SocketAddr::new(relayed.ip, relayed.port))
    }

    /// A permission for `peer` on the allocation; the error code if refused.
    pub fn permit(&mut self, credential: &TurnCredential, peer: SocketAddr) -> Result<(), u16> {
        let response = self.signed_exchange(credential, create_permission_request(), || {
            vec![Box::new(PeerAddress {
                ip: peer.ip(),
                port: peer.port(),
            })]
        });
        match error_code(&response) {
            Some(code) => Err(code),
            None => {
                assert_eq!(response.typ.class, CLASS_SUCCESS_RESPONSE, "{response}");
                Ok(())
            }
        }
    }
}

/// A request of type `typ` with `attributes` and a FINGERPRINT.
fn build<'a>(typ: MessageType, attributes: Vec<Box<dyn Setter + 'a>>) -> Vec<u8> {
    let mut setters: Vec<Box<dyn Setter + 'a>> =
        vec![Box::new(TransactionId::new()), Box::new(typ)];
    setters.extend(attributes);
    setters.push(Box::new(FINGERPRINT));
    let mut message = Message::new();
    message.build(&setters).expect("a well-formed request");
    message.raw
}

fn udp() -> Box<dyn Setter> {
    Box::new(RequestedTransport {
        protocol: PROTO_UDP,
    })
}

fn error_code(message: &Message) -> Option<u16> {
    (message.typ.class == CLASS_ERROR_RESPONSE).then(|| {
        let mut code = ErrorCodeAttribute::default();
        code.get_from(message)
            .expect("an error response has a code");
        code.code.0
    })
}

fn text(message: &Message, attribute: rtc::stun::attributes::AttrType) -> String {
    TextAttribute::get_from_as(message, attribute)
        .unwrap_or_else(|err| panic!("{message} lacks {attribute}: {err}"))
        .text
}

/// The relays `OPTIONS <session URL>` announces to the holder of `token`:
/// each URL with the credential that goes with it.
pub async fn announced_relays(
    client: &reqwest::Client,
    session_url: &str,
    token: &str,
) -> Vec<(String, TurnCredential)> {
    let response = client
        .request(reqwest::Method::OPTIONS, session_url)
        .bearer_auth(token)
        .send()
        .await
        .expect("OPTIONS answers");
    assert_eq!(response.status(), 204);
    response
        .headers()
        .get_all(reqwest::header::LINK)
        .iter()
        .flat_map(|value| parse_link_header(value.to_str().expect("an ASCII Link header")))
        .map(|server| {
            let username = server.username.clone().expect("a TURN username");
            let password = server.credential.clone().expect("a TURN credential");
            let expires_unix =
                turn_credentials::expiry_of(&username).expect("a TURN REST API username");
            let credential = TurnCredential {
                username,
                password,
                expires_unix,
            };
            (server.url.clone(), credential)
        })
        .collect()
}
