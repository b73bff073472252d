//! The few STUN (RFC 8489) messages Weft uses, built and parsed without I/O.
//!
//! A node behind NAT sends a Binding Request *from its WireGuard UDP socket* to the discovery
//! service, whose reflector answers with the source address it saw (XOR-MAPPED-ADDRESS): the
//! socket's public, server-reflexive endpoint, which the node then publishes. Binding Indications
//! (no answer expected) are the hole-punching packets nodes send each other. Because these share
//! the WireGuard socket, [`is_stun`] tells the two protocols apart on the receive path.
//!
//! Hand-written rather than a crate: Weft needs three message types and two address attributes
//! (~200 lines), while `stun_codec` and `stun-rs` each bring 7–17 required dependencies (HMAC, MD5,
//! CRC, codec frameworks) for authentication and TURN/ICE attributes Weft never uses.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |0 0|     STUN Message Type     |         Message Length        |   length: attributes only
//! |                         Magic Cookie                          |   0x2112A442
//! |                 Transaction ID (96 bits)                      |
//! | attributes: type (16) | length (16) | value, padded to 4 bytes | …
//! ```
//!
//! Not implemented, on purpose: MESSAGE-INTEGRITY and FINGERPRINT are skipped unverified (the
//! reflector is unauthenticated by design: it only echoes what the network already shows), and
//! requests are never answered with error responses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The fixed value in bytes 4..8 of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Largest message we build or accept (RFC 8489's safe UDP size).
pub const MAX_MESSAGE_LEN: usize = 548;
/// The 96-bit id that pairs a response with its request.
pub type TransactionId = [u8; 12];

/// Header size: type, length, magic cookie, transaction id.
const HEADER_LEN: usize = 20;
/// Attribute header size: type and length.
const ATTRIBUTE_HEADER_LEN: usize = 4;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_INDICATION: u16 = 0x0011;
const BINDING_SUCCESS: u16 = 0x0101;

const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// RFC 5780's PADDING: bytes whose only purpose is to make the message larger (accepted).
const ATTR_PADDING: u16 = 0x0026;
/// SOFTWARE (comprehension-optional): what Weft pads its requests with, since every reflector
/// skips it, where PADDING is comprehension-required and refused by those that do not know it.
const ATTR_SOFTWARE: u16 = 0x8022;
/// The SOFTWARE value of Weft's requests, padded with spaces to fill [`BINDING_REQUEST_LEN`].
const SOFTWARE: &[u8] = b"weft";
/// Attribute types below this must be understood (RFC 8489 §14); from it on they may be skipped.
const COMPREHENSION_OPTIONAL: u16 = 0x8000;
/// Comprehension-required attributes a Binding message may carry that we skip rather than refuse:
/// RFC 3489's address attributes (older servers still send SOURCE-/CHANGED-ADDRESS), USERNAME,
/// the integrity and error attributes, REALM, NONCE, the RFC 8489 password attributes, ICE's
/// PRIORITY and USE-CANDIDATE, and RFC 5780's PADDING (which Weft's requests carry). Any other
/// type below 0x8000 makes the message unparsable, as RFC 8489 §6.3 asks.
const SKIPPABLE_REQUIRED: [u16; 18] = [
    0x0002,
    0x0003,
    0x0004,
    0x0005,
    0x0006,
    0x0008,
    0x0009,
    0x000A,
    0x0014,
    0x0015,
    0x001C,
    0x001D,
    0x001E,
    0x0024,
    0x0025,
    ATTR_MAPPED_ADDRESS,
    ATTR_XOR_MAPPED_ADDRESS,
    ATTR_PADDING,
];

const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;
/// Address attribute value sizes: reserved byte, family, port, then 4 or 16 address bytes.
const ADDRESS_V4_LEN: usize = 8;
const ADDRESS_V6_LEN: usize = 20;

/// The size of every Binding Request Weft sends: as large as the largest answer to it (a Binding
/// Success with an IPv6 XOR-MAPPED-ADDRESS, 44 bytes). weft-discovery's reflector answers only
/// requests at least as large as its answer, so a forged source address never makes it send more
/// bytes than it received: it is no traffic amplifier.
pub const BINDING_REQUEST_LEN: usize = HEADER_LEN + ATTRIBUTE_HEADER_LEN + ADDRESS_V6_LEN;
const _: () = assert!(BINDING_REQUEST_LEN.is_multiple_of(4));

/// A Binding Request padded to [`BINDING_REQUEST_LEN`] with a SOFTWARE attribute ("weft" and
/// spaces), which every STUN server skips.
pub fn binding_request(txid: TransactionId) -> Vec<u8> {
    const VALUE_LEN: usize = BINDING_REQUEST_LEN - HEADER_LEN - ATTRIBUTE_HEADER_LEN;
    let mut padding = Vec::with_capacity(BINDING_REQUEST_LEN - HEADER_LEN);
    padding.extend_from_slice(&ATTR_SOFTWARE.to_be_bytes());
    padding.extend_from_slice(&(VALUE_LEN as u16).to_be_bytes());
    padding.extend_from_slice(SOFTWARE);
    padding.resize(BINDING_REQUEST_LEN - HEADER_LEN, b' ');
    message(BINDING_REQUEST, txid, &padding)
}

/// A Binding Indication (no attributes): a NAT hole-punching packet that asks for no answer.
pub fn binding_indication(txid: TransactionId) -> Vec<u8> {
    message(BINDING_INDICATION, txid, &[])
}

/// A Binding Success Response carrying `mapped` as XOR-MAPPED-ADDRESS (32 bytes for IPv4, 44 for
/// IPv6). An IPv4-mapped IPv6 address (a v4 client seen on a dual-stack socket) is encoded as IPv4.
pub fn binding_success(txid: TransactionId, mapped: SocketAddr) -> Vec<u8> {
    let mask = xor_mask(&txid);
    let port = (mapped.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes();
    let mut value = Vec::with_capacity(ADDRESS_V6_LEN);
    match mapped.ip().to_canonical() {
        IpAddr::V4(ip) => {
            value.extend_from_slice(&[0, FAMILY_IPV4, port[0], port[1]]);
            value.extend(ip.octets().iter().zip(mask).map(|(b, m)| b ^ m));
        }
        IpAddr::V6(ip) => {
            value.extend_from_slice(&[0, FAMILY_IPV6, port[0], port[1]]);
            value.extend(ip.octets().iter().zip(mask).map(|(b, m)| b ^ m));
        }
    }
    let mut attribute = Vec::with_capacity(ATTRIBUTE_HEADER_LEN + value.len());
    attribute.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
    // At most 20: always fits, and already a multiple of 4, so no padding.
    attribute.extend_from_slice(&(value.len() as u16).to_be_bytes());
    attribute.extend_from_slice(&value);
    message(BINDING_SUCCESS, txid, &attribute)
}

/// Header plus `attributes` (already padded; at most a few dozen bytes here).
fn message(message_type: u16, txid: TransactionId, attributes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + attributes.len());
    out.extend_from_slice(&message_type.to_be_bytes());
    out.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&txid);
    out.extend_from_slice(attributes);
    out
}

/// The magic cookie then the transaction id: what XOR-MAPPED-ADDRESS's address bytes are xored
/// with (an IPv4 address uses the first four bytes, the cookie).
fn xor_mask(txid: &TransactionId) -> [u8; 16] {
    let mut mask = [0; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(txid);
    mask
}

/// Cheap demultiplexing test used on the WireGuard socket's receive path: first two bits zero,
/// magic cookie at bytes 4..8, length field == len-20 and a multiple of 4, len <= MAX_MESSAGE_LEN.
///
/// Never true for a WireGuard message: those start with their type (1..=4) and three zero bytes,
/// so the length field reads 0, which would need a 20-byte packet — and the smallest WireGuard
/// message (an empty transport packet) is 32 bytes. This holds even when a random sender or
/// receiver index in bytes 4..8 happens to equal the magic cookie.
pub fn is_stun(packet: &[u8]) -> bool {
    let Some(header) = packet.first_chunk::<HEADER_LEN>() else {
        return false;
    };
    let declared = usize::from(u16::from_be_bytes([header[2], header[3]]));
    packet.len() <= MAX_MESSAGE_LEN
        && header[0] & 0xC0 == 0
        && header[4..8] == MAGIC_COOKIE.to_be_bytes()
        && declared == packet.len() - HEADER_LEN
        && declared % 4 == 0
}

/// A parsed STUN message: the ones Weft acts on, or any other well-formed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    BindingRequest {
        txid: TransactionId,
    },
    BindingIndication {
        txid: TransactionId,
    },
    /// `mapped` from XOR-MAPPED-ADDRESS, falling back to MAPPED-ADDRESS.
    BindingSuccess {
        txid: TransactionId,
        mapped: SocketAddr,
    },
    /// A well-formed STUN message of another type/class (ignored by callers).
    Other {
        message_type: u16,
        txid: TransactionId,
    },
}

/// Why a datagram is not a STUN message we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    #[error("{0} bytes is shorter than the 20-byte STUN header")]
    TooShort(usize),
    #[error("{0} bytes is longer than the {MAX_MESSAGE_LEN} bytes accepted")]
    TooLong(usize),
    #[error("the first two bits are not zero: not a STUN message")]
    NotStun,
    #[error("magic cookie is {0:#010x}, not {MAGIC_COOKIE:#010x}")]
    BadCookie(u32),
    #[error("the header gives {declared} bytes of attributes but {actual} follow it")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("the attributes' length {0} is not a multiple of 4")]
    UnalignedLength(usize),
    #[error("attribute {attribute:#06x} at byte {offset} runs past the end of the message")]
    TruncatedAttribute { attribute: u16, offset: usize },
    #[error("unknown comprehension-required attribute {0:#06x}")]
    UnknownRequiredAttribute(u16),
    #[error("address family {0:#04x} is neither IPv4 (1) nor IPv6 (2)")]
    BadAddressFamily(u8),
    #[error("address attribute {attribute:#06x} has {len} bytes, its family needs {expected}")]
    BadAddressLength {
        attribute: u16,
        len: usize,
        expected: usize,
    },
    #[error("binding success response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS")]
    MissingMappedAddress,
}

/// Parses one datagram. Every length is checked before it is used: any input gives a message or
/// an error, never a panic.
pub fn parse(packet: &[u8]) -> Result<Message, StunError> {
    let Some(header) = packet.first_chunk::<HEADER_LEN>() else {
        return Err(StunError::TooShort(packet.len()));
    };
    if packet.len() > MAX_MESSAGE_LEN {
        return Err(StunError::TooLong(packet.len()));
    }
    if header[0] & 0xC0 != 0 {
        return Err(StunError::NotStun);
    }
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if cookie != MAGIC_COOKIE {
        return Err(StunError::BadCookie(cookie));
    }
    let declared = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let body = &packet[HEADER_LEN..];
    if declared != body.len() {
        return Err(StunError::LengthMismatch {
            declared,
            actual: body.len(),
        });
    }
    if declared % 4 != 0 {
        return Err(StunError::UnalignedLength(declared));
    }
    let message_type = u16::from_be_bytes([header[0], header[1]]);
    let mut txid = TransactionId::default();
    txid.copy_from_slice(&header[8..HEADER_LEN]);

    let (mut xor_mapped, mut mapped) = (None, None);
    // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY are ignored (but still bounds-checked).
    let mut after_integrity = false;
    let mut offset = 0;
    while offset < body.len() {
        let Some(&[t0, t1, l0, l1]) = body[offset..].first_chunk::<ATTRIBUTE_HEADER_LEN>() else {
            // Unreachable while the body is a multiple of 4 long, but never trusted.
            return Err(StunError::TruncatedAttribute {
                attribute: 0,
                offset: HEADER_LEN + offset,
            });
        };
        let attribute = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let start = offset + ATTRIBUTE_HEADER_LEN;
        let padded = len.next_multiple_of(4);
        let Some(value) = body
            .get(start..start + len)
            .filter(|_| start + padded <= body.len())
        else {
            return Err(StunError::TruncatedAttribute {
                attribute,
                offset: HEADER_LEN + offset,
            });
        };
        offset = start + padded;
        if after_integrity {
            continue;
        }
        match attribute {
            // The first occurrence counts (RFC 8489 §14).
            ATTR_XOR_MAPPED_ADDRESS if xor_mapped.is_none() => {
                xor_mapped = Some(read_address(attribute, value, Some(&txid))?);
            }
            ATTR_MAPPED_ADDRESS if mapped.is_none() => {
                mapped = Some(read_address(attribute, value, None)?);
            }
            ATTR_MESSAGE_INTEGRITY | ATTR_MESSAGE_INTEGRITY_SHA256 => after_integrity = true,
            a if a < COMPREHENSION_OPTIONAL && !SKIPPABLE_REQUIRED.contains(&a) => {
                return Err(StunError::UnknownRequiredAttribute(a));
            }
            _ => {}
        }
    }

    Ok(match message_type {
        BINDING_REQUEST => Message::BindingRequest { txid },
        BINDING_INDICATION => Message::BindingIndication { txid },
        BINDING_SUCCESS => Message::BindingSuccess {
            txid,
            mapped: xor_mapped
                .or(mapped)
                .ok_or(StunError::MissingMappedAddress)?,
        },
        message_type => Message::Other { message_type, txid },
    })
}

/// Reads a (XOR-)MAPPED-ADDRESS value; `xor` is the transaction id for XOR-MAPPED-ADDRESS. An
/// IPv4-mapped IPv6 address comes back as IPv4, as [`binding_success`] would have sent it.
fn read_address(
    attribute: u16,
    value: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, StunError> {
    let Some(&[_reserved, family, p0, p1]) = value.first_chunk::<4>() else {
        return Err(StunError::BadAddressLength {
            attribute,
            len: value.len(),
            expected: ADDRESS_V4_LEN,
        });
    };
    let expected = match family {
        FAMILY_IPV4 => ADDRESS_V4_LEN,
        FAMILY_IPV6 => ADDRESS_V6_LEN,
        other => return Err(StunError::BadAddressFamily(other)),
    };
    if value.len() != expected {
        return Err(StunError::BadAddressLength {
            attribute,
            len: value.len(),
            expected,
        });
    }
    let mask = xor.map_or([0; 16], xor_mask);
    let mut port = u16::from_be_bytes([p0, p1]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let mut octets = [0u8; 16];
    for ((out, byte), m) in octets.iter_mut().zip(&value[4..]).zip(mask) {
        *out = byte ^ m;
    }
    let ip = if family == FAMILY_IPV4 {
        IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from the hex dump of an RFC (whitespace-separated pairs).
    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex"))
            .collect()
    }

    /// RFC 5769's transaction id (all its samples share it).
    const RFC5769_TXID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    /// RFC 5769 §2.2 "Sample IPv4 Response": SOFTWARE, XOR-MAPPED-ADDRESS 192.0.2.1:32853,
    /// MESSAGE-INTEGRITY, FINGERPRINT.
    const RFC5769_IPV4_RESPONSE: &str = "
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96";

    /// RFC 5769 §2.3 "Sample IPv6 Response": XOR-MAPPED-ADDRESS
    /// [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    const RFC5769_IPV6_RESPONSE: &str = "
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn rfc5769_sample_responses() {
        let v4 = hex(RFC5769_IPV4_RESPONSE);
        assert!(is_stun(&v4));
        assert_eq!(
            parse(&v4),
            Ok(Message::BindingSuccess {
                txid: RFC5769_TXID,
                mapped: addr("192.0.2.1:32853"),
            })
        );
        let v6 = hex(RFC5769_IPV6_RESPONSE);
        assert!(is_stun(&v6));
        assert_eq!(
            parse(&v6),
            Ok(Message::BindingSuccess {
                txid: RFC5769_TXID,
                mapped: addr("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
            })
        );
        // What we build carries the RFC's XOR-MAPPED-ADDRESS bytes exactly.
        let ours = binding_success(RFC5769_TXID, addr("192.0.2.1:32853"));
        assert_eq!(&ours[20..], &v4[36..48]);
        let ours = binding_success(
            RFC5769_TXID,
            addr("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
        );
        assert_eq!(&ours[20..], &v6[36..60]);
    }

    #[test]
    fn round_trips() {
        let txid = *b"weft-txid-01";
        let request = binding_request(txid);
        assert_eq!(request.len(), BINDING_REQUEST_LEN);
        assert_eq!(BINDING_REQUEST_LEN, 44);
        assert!(is_stun(&request));
        assert_eq!(parse(&request), Ok(Message::BindingRequest { txid }));
        // Header, then SOFTWARE (0x8022, comprehension-optional: older reflectors skip it too)
        // with "weft" and spaces.
        assert_eq!(&request[..4], &[0x00, 0x01, 0x00, 24]);
        assert_eq!(&request[20..24], &[0x80, 0x22, 0x00, 20]);
        assert_eq!(&request[24..], b"weft                ");
        // A request padded with RFC 5780's PADDING is accepted too.
        let padded = build(BINDING_REQUEST, &[(ATTR_PADDING, &[0; 20])]);
        assert_eq!(
            parse(&padded),
            Ok(Message::BindingRequest { txid: [1; 12] })
        );
        assert_eq!(
            parse(&binding_indication(txid)),
            Ok(Message::BindingIndication { txid })
        );
        for mapped in [
            "203.0.113.7:51820",
            "0.0.0.0:1",
            "255.255.255.255:65535",
            "[2001:db8::1]:51820",
            "[::1]:0",
            "[fe80::1:2:3:4]:443",
        ] {
            let msg = binding_success(txid, addr(mapped));
            assert!(is_stun(&msg), "{mapped}");
            assert!(
                msg.len() <= BINDING_REQUEST_LEN,
                "{mapped}: {} bytes, more than the request",
                msg.len()
            );
            assert_eq!(
                parse(&msg),
                Ok(Message::BindingSuccess {
                    txid,
                    mapped: addr(mapped)
                }),
                "{mapped}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_encoded_as_ipv4() {
        let txid = [9; 12];
        let msg = binding_success(txid, addr("[::ffff:198.51.100.4]:3000"));
        assert_eq!(msg.len(), 32, "an IPv4 attribute");
        assert_eq!(msg[25], FAMILY_IPV4);
        assert_eq!(
            parse(&msg),
            Ok(Message::BindingSuccess {
                txid,
                mapped: addr("198.51.100.4:3000")
            })
        );
    }

    /// A message of `message_type` with these (type, value) attributes, padded with zeros.
    fn build(message_type: u16, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attributes {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        message(message_type, [1; 12], &body)
    }

    #[test]
    fn mapped_address_fallback_and_precedence() {
        // MAPPED-ADDRESS (not xored) 192.0.2.9:4000.
        let plain: &[u8] = &[0, 1, 0x0f, 0xa0, 192, 0, 2, 9];
        let msg = build(BINDING_SUCCESS, &[(ATTR_MAPPED_ADDRESS, plain)]);
        assert_eq!(
            parse(&msg),
            Ok(Message::BindingSuccess {
                txid: [1; 12],
                mapped: addr("192.0.2.9:4000")
            })
        );
        // XOR-MAPPED-ADDRESS wins wherever it is.
        let xored = binding_success([1; 12], addr("198.51.100.1:5"));
        let msg = build(
            BINDING_SUCCESS,
            &[
                (ATTR_MAPPED_ADDRESS, plain),
                (ATTR_XOR_MAPPED_ADDRESS, &xored[24..]),
            ],
        );
        let Ok(Message::BindingSuccess { mapped, .. }) = parse(&msg) else {
            panic!("{:?}", parse(&msg));
        };
        assert_eq!(mapped, addr("198.51.100.1:5"));
        assert_eq!(
            parse(&build(BINDING_SUCCESS, &[])),
            Err(StunError::MissingMappedAddress)
        );
    }

    #[test]
    fn attributes_skipped_or_refused() {
        // SOFTWARE (optional, odd length: padded), RFC 3489 SOURCE-ADDRESS (known, skipped).
        let msg = build(
            BINDING_REQUEST,
            &[(0x8022, b"weft"), (0x8022, b"odd"), (0x0004, &[0; 8])],
        );
        assert_eq!(parse(&msg), Ok(Message::BindingRequest { txid: [1; 12] }));
        assert_eq!(
            parse(&build(BINDING_REQUEST, &[(0x7777, b"")])),
            Err(StunError::UnknownRequiredAttribute(0x7777))
        );
        // After MESSAGE-INTEGRITY everything is ignored, even an unknown required attribute.
        let msg = build(
            BINDING_REQUEST,
            &[(ATTR_MESSAGE_INTEGRITY, &[0; 20]), (0x7777, b"")],
        );
        assert!(parse(&msg).is_ok());
        // Other Binding classes and other methods are well-formed but Other.
        assert_eq!(
            parse(&build(0x0111, &[])),
            Ok(Message::Other {
                message_type: 0x0111,
                txid: [1; 12]
            })
        );
    }

    #[test]
    fn malformed_messages_name_the_problem() {
        // A bare request: 20 bytes, no attributes.
        let good = build(BINDING_REQUEST, &[]);
        assert_eq!(parse(&good[..19]), Err(StunError::TooShort(19)));
        assert_eq!(parse(&[]), Err(StunError::TooShort(0)));
        let mut big = build(BINDING_REQUEST, &[(0x8022, &[0; 524])]);
        assert_eq!(big.len(), MAX_MESSAGE_LEN);
        assert!(parse(&big).is_ok() && is_stun(&big));
        big.extend_from_slice(&[0; 4]);
        big[3] += 4;
        assert_eq!(parse(&big), Err(StunError::TooLong(552)));
        assert!(!is_stun(&big));

        let mut bad = good.clone();
        bad[0] = 0x80;
        assert_eq!(parse(&bad), Err(StunError::NotStun));
        let mut bad = good.clone();
        bad[4] = 0;
        assert_eq!(parse(&bad), Err(StunError::BadCookie(0x0012_A442)));
        let mut bad = good.clone();
        bad.extend_from_slice(&[0; 4]);
        assert_eq!(
            parse(&bad),
            Err(StunError::LengthMismatch {
                declared: 0,
                actual: 4
            })
        );
        let mut bad = good.clone();
        bad.extend_from_slice(&[0; 2]);
        bad[3] = 2;
        assert_eq!(parse(&bad), Err(StunError::UnalignedLength(2)));

        // An attribute whose length runs past the end (also by its padding alone).
        let mut bad = build(BINDING_REQUEST, &[(0x8022, b"abcd")]);
        bad[23] = 5;
        assert_eq!(
            parse(&bad),
            Err(StunError::TruncatedAttribute {
                attribute: 0x8022,
                offset: 20
            })
        );
        let xored = binding_success([1; 12], addr("192.0.2.1:1"));
        assert_eq!(
            parse(&build(
                BINDING_SUCCESS,
                &[(ATTR_XOR_MAPPED_ADDRESS, &xored[24..31])]
            )),
            Err(StunError::BadAddressLength {
                attribute: ATTR_XOR_MAPPED_ADDRESS,
                len: 7,
                expected: 8
            })
        );
        assert_eq!(
            parse(&build(
                BINDING_SUCCESS,
                &[(ATTR_MAPPED_ADDRESS, &[0, 1, 0])]
            )),
            Err(StunError::BadAddressLength {
                attribute: ATTR_MAPPED_ADDRESS,
                len: 3,
                expected: 8
            })
        );
        assert_eq!(
            parse(&build(
                BINDING_SUCCESS,
                &[(ATTR_MAPPED_ADDRESS, &[0, 3, 0, 0])]
            )),
            Err(StunError::BadAddressFamily(3))
        );
    }

    /// WireGuard's four message types as they appear on the wire: type byte, three zero bytes,
    /// then (worst case for us) a sender/receiver index equal to the magic cookie.
    #[test]
    fn wireguard_messages_are_never_stun() {
        let wireguard = |message_type: u8, len: usize| {
            let mut m = vec![0x5a; len];
            m[..4].copy_from_slice(&[message_type, 0, 0, 0]);
            m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            m
        };
        let mut messages = vec![
            wireguard(1, 148), // handshake initiation
            wireguard(2, 92),  // handshake response
            wireguard(3, 64),  // cookie reply
        ];
        // Transport data: 16-byte header + padded payload + 16-byte tag; keepalive is 32.
        messages.extend(
            (32..=MAX_MESSAGE_LEN + 64)
                .step_by(16)
                .map(|n| wireguard(4, n)),
        );
        for m in &messages {
            assert!(!is_stun(m), "type {} len {}", m[0], m.len());
            assert!(parse(m).is_err(), "type {} len {}", m[0], m.len());
        }
    }

    /// A deterministic xorshift generator: reproducible "random" inputs without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Never a panic, whatever the input: every truncation and one-byte corruption of valid
    /// messages, and random bodies behind a valid header (so attribute parsing is exercised).
    #[test]
    fn any_input_parses_or_errs_without_panicking() {
        let check = |p: &[u8]| {
            if parse(p).is_ok() {
                assert!(is_stun(p), "parsed but not is_stun: {p:02x?}");
            }
        };
        let mut samples = vec![
            hex(RFC5769_IPV4_RESPONSE),
            hex(RFC5769_IPV6_RESPONSE),
            binding_request([3; 12]),
            binding_indication([3; 12]),
            binding_success([3; 12], addr("[2001:db8::7]:9")),
        ];
        samples.push(build(
            BINDING_SUCCESS,
            &[(
                ATTR_MAPPED_ADDRESS,
                &[0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )],
        ));
        for sample in &samples {
            for len in 0..=sample.len() {
                check(&sample[..len]);
            }
            for i in 0..sample.len() {
                for v in [0x00, 0x01, 0x02, 0x08, 0x14, 0x20, 0x7f, 0x80, 0xff] {
                    let mut m = sample.clone();
                    m[i] = v;
                    check(&m);
                }
            }
        }
        let mut rng = XorShift(0x5eed_5eed_5eed_5eed);
        for _ in 0..50_000 {
            let len = (rng.next() % (MAX_MESSAGE_LEN as u64 + 8)) as usize;
            let mut m: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            check(&m);
            if len >= HEADER_LEN {
                let len = (len - HEADER_LEN) & !3;
                m.truncate(HEADER_LEN + len);
                m[0] &= 0x01;
                m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                // Small attribute lengths and known types, so values are reached.
                let mut at = HEADER_LEN;
                while at + 4 <= m.len() {
                    let t = [0x0001, 0x0020, 0x8022, 0x0008, 0x0004][(rng.next() % 5) as usize];
                    m[at..at + 2].copy_from_slice(&u16::to_be_bytes(t));
                    m[at + 2] = 0;
                    m[at + 3] = (rng.next() % 24) as u8;
                    at += 4 + usize::from(m[at + 3]).next_multiple_of(4);
                }
                check(&m);
            }
        }
    }
}
