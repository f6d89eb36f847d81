//! The STUN messages the relay reads and writes, on top of `rtc::stun` and
//! `rtc::turn::proto`: responses (signed or not), Data indications, and the
//! attribute readings that need more than one attribute getter.

use std::net::SocketAddr;

use bytes::Bytes;
use rtc::crypto::RTCCrypto;
use rtc::shared::error::Result;
use rtc::stun::attributes::{
    ATTR_CHANNEL_NUMBER, ATTR_DATA, ATTR_DONT_FRAGMENT, ATTR_FINGERPRINT, ATTR_LIFETIME,
    ATTR_MESSAGE_INTEGRITY, ATTR_NONCE, ATTR_REALM, ATTR_REQUESTED_ADDRESS_FAMILY,
    ATTR_REQUESTED_TRANSPORT, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS, AttrType,
};
use rtc::stun::error_code::{ErrorCode, ErrorCodeAttribute};
use rtc::stun::fingerprint::FINGERPRINT;
use rtc::stun::integrity::MessageIntegrity;
use rtc::stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_SUCCESS_RESPONSE, Getter, METHOD_DATA, Message,
    MessageClass, MessageType, Setter, TransactionId,
};
use rtc::stun::uattrs::UnknownAttributes;
use rtc::turn::proto::data::Data;
use rtc::turn::proto::peeraddr::PeerAddress;

/// Attributes in the comprehension-required range (below 0x8000) that the
/// relay understands in TURN requests and indications. Anything else there
/// is answered with 420 (RFC 8489 §14); EVEN-PORT and RESERVATION-TOKEN are
/// deliberately absent: there is nothing to reserve on a virtual port.
const UNDERSTOOD: [AttrType; 11] = [
    ATTR_USERNAME,
    ATTR_MESSAGE_INTEGRITY,
    ATTR_REALM,
    ATTR_NONCE,
    ATTR_CHANNEL_NUMBER,
    ATTR_LIFETIME,
    ATTR_XOR_PEER_ADDRESS,
    ATTR_DATA,
    ATTR_REQUESTED_ADDRESS_FAMILY,
    ATTR_REQUESTED_TRANSPORT,
    // Nothing relayed here is ever fragmented, so DONT-FRAGMENT is honoured.
    ATTR_DONT_FRAGMENT,
];

/// The comprehension-required attributes of `message` the relay does not know.
pub fn unknown_required_attributes(message: &Message) -> Vec<AttrType> {
    let mut unknown: Vec<AttrType> = message
        .attributes
        .0
        .iter()
        .map(|attribute| attribute.typ)
        .filter(|typ| typ.required() && !UNDERSTOOD.contains(typ))
        .collect();
    unknown.dedup();
    unknown
}

/// Every XOR-PEER-ADDRESS of `message` (CreatePermission may carry several).
pub fn peer_addresses(message: &Message) -> Result<Vec<SocketAddr>> {
    let mut peers = Vec::new();
    for attribute in &message.attributes.0 {
        if attribute.typ != ATTR_XOR_PEER_ADDRESS {
            continue;
        }
        // rtc-turn's getter reads the first instance of an attribute, so
        // each one is read from a message holding it alone (the transaction
        // id is part of the XOR mask for IPv6).
        let mut single = Message::new();
        single.transaction_id = message.transaction_id;
        single.add(ATTR_XOR_PEER_ADDRESS, &attribute.value);
        let mut peer = PeerAddress::default();
        peer.get_from(&single)?;
        peers.push(SocketAddr::new(peer.ip, peer.port));
    }
    Ok(peers)
}

/// The reason phrase sent with `code` (RFC 8489 §14.8, RFC 8656 §18).
pub fn reason_phrase(code: ErrorCode) -> &'static str {
    match code.0 {
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        508 => "Insufficient Capacity",
        _ => "Server Error",
    }
}

/// What signs a response: the crypto provider and the long-term key.
pub struct Signer<'a> {
    pub crypto: &'a dyn RTCCrypto,
    pub key: &'a [u8],
}

/// A success response to `request` carrying `attributes`, signed when
/// `signer` is given, always with FINGERPRINT.
pub fn success(
    request: &Message,
    attributes: Vec<Box<dyn Setter + '_>>,
    signer: Option<Signer<'_>>,
) -> Result<Bytes> {
    response(request, CLASS_SUCCESS_RESPONSE, attributes, signer)
}

/// An error response to `request` with `code` and its reason phrase, then
/// `attributes`, signed when `signer` is given.
pub fn error(
    request: &Message,
    code: ErrorCode,
    attributes: Vec<Box<dyn Setter + '_>>,
    signer: Option<Signer<'_>>,
) -> Result<Bytes> {
    let mut all: Vec<Box<dyn Setter + '_>> = vec![Box::new(ErrorCodeAttribute {
        code,
        reason: reason_phrase(code).as_bytes().to_vec(),
    })];
    all.extend(attributes);
    response(request, CLASS_ERROR_RESPONSE, all, signer)
}

/// The 420 answer listing what was not understood.
pub fn unknown_attributes_error(
    request: &Message,
    unknown: Vec<AttrType>,
    signer: Option<Signer<'_>>,
) -> Result<Bytes> {
    error(
        request,
        rtc::stun::error_code::CODE_UNKNOWN_ATTRIBUTE,
        vec![Box::new(UnknownAttributes(unknown))],
        signer,
    )
}

fn response(
    request: &Message,
    class: MessageClass,
    attributes: Vec<Box<dyn Setter + '_>>,
    signer: Option<Signer<'_>>,
) -> Result<Bytes> {
    let mut setters: Vec<Box<dyn Setter + '_>> = vec![
        Box::new(request.transaction_id),
        Box::new(MessageType::new(request.typ.method, class)),
    ];
    setters.extend(attributes);
    if let Some(signer) = signer {
        setters.push(Box::new(MessageIntegrity::new_raw_integrity_with_provider(
            signer.key,
            signer.crypto,
        )));
    }
    setters.push(Box::new(FINGERPRINT));
    let mut message = Message::new();
    message.build(&setters)?;
    Ok(Bytes::from(message.raw))
}

/// A Data indication carrying `payload` from `peer` (RFC 8656 §11.4).
pub fn data_indication(peer: SocketAddr, payload: &[u8]) -> Result<Bytes> {
    let mut message = Message::new();
    message.build(&[
        Box::new(TransactionId::new()),
        Box::new(MessageType::new(METHOD_DATA, CLASS_INDICATION)),
        Box::new(PeerAddress {
            ip: peer.ip(),
            port: peer.port(),
        }),
        Box::new(Data(payload.to_vec())),
    ])?;
    Ok(Bytes::from(message.raw))
}

/// Whether FINGERPRINT, when present, matches (a mismatch means the frame
/// is not the STUN message it looks like).
pub fn fingerprint_matches(message: &Message) -> bool {
    !message.contains(ATTR_FINGERPRINT) || FINGERPRINT.check(message).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::attributes::ATTR_SOFTWARE;
    use rtc::stun::message::BINDING_REQUEST;
    use rtc::turn::proto::create_permission_request;

    #[test]
    fn reads_every_peer_address_including_ipv6() {
        let a: SocketAddr = "10.213.0.1:5000".parse().unwrap();
        let b: SocketAddr = "[fd00::1]:6000".parse().unwrap();
        let mut message = Message::new();
        message
            .build(&[
                Box::new(TransactionId::new()),
                Box::new(create_permission_request()),
                Box::new(PeerAddress {
                    ip: a.ip(),
                    port: a.port(),
                }),
                Box::new(PeerAddress {
                    ip: b.ip(),
                    port: b.port(),
                }),
            ])
            .unwrap();
        let mut decoded = Message::new();
        decoded.raw = message.raw.clone();
        decoded.decode().unwrap();
        assert_eq!(peer_addresses(&decoded).unwrap(), vec![a, b]);
    }

    #[test]
    fn finds_unknown_required_attributes_only() {
        let mut message = Message::new();
        message
            .build(&[Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)])
            .unwrap();
        message.add(rtc::stun::attributes::ATTR_EVEN_PORT, &[0x80, 0, 0, 0]);
        message.add(ATTR_SOFTWARE, b"x");
        message.add(ATTR_DONT_FRAGMENT, &[]);
        assert_eq!(
            unknown_required_attributes(&message),
            vec![rtc::stun::attributes::ATTR_EVEN_PORT]
        );
    }
}
