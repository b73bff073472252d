//! Affiliates on the wire: [`AffiliateSpec`] ⇄ `sidero.discovery.client.Affiliate` (the plaintext
//! of the encrypted data) and endpoints ⇄ `client.Endpoint`, and the whole affiliate sealed for or
//! opened from the service.
//!
//! Everything a peer publishes is untrusted: a member of the cluster (anyone with the secret) may
//! be buggy or hostile. Decoding therefore checks every field — addresses are 4 or 16 bytes, prefix
//! lengths in range, the public key a real WireGuard key, strings bounded and limited to a safe
//! character set (they end up in resource ids, logs and terminals) — and refuses the whole
//! affiliate on the first problem. The caller logs and skips that one peer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use prost::Message as _;

use super::crypto::{Cipher, CryptoError, MAX_DATA_LEN};
use crate::proto::discovery::{client, server};
use crate::resources::cluster::{AffiliateSpec, ControlPlane, KubeSpanAffiliateSpec, MachineType};
use crate::resources::kubespan::key::{self, KEY_BASE64_LEN, KeyError};

/// Longest node id (the discovery service's affiliate id limit).
pub const MAX_NODE_ID_LEN: usize = 256;
/// Longest hostname (a DNS name).
pub const MAX_HOSTNAME_LEN: usize = crate::config::validate::MAX_HOSTNAME_LEN;
/// Longest node name (a Kubernetes node name is a DNS subdomain).
pub const MAX_NODENAME_LEN: usize = 253;
/// Longest operating system string (`Talos (v1.13.9)`, `Weft (v0.1.0)`).
pub const MAX_OPERATING_SYSTEM_LEN: usize = 128;
/// Most entries in one address list (addresses, additional addresses, excluded networks). The
/// 2048-byte data limit already allows no more than ~340 IPv4 addresses; this bounds a blob from a
/// service that does not enforce it.
pub const MAX_ADDRESSES: usize = 256;
/// Most endpoints per affiliate (the discovery service's limit).
pub const MAX_ENDPOINTS: usize = 64;

/// Characters allowed in hostnames and node names, besides ASCII letters and digits.
const NAME_EXTRA_CHARS: &str = "-._";
/// Characters allowed in node ids, besides ASCII letters and digits (Talos ids are base62).
const NODE_ID_EXTRA_CHARS: &str = "-_";

/// Why an affiliate could not be encoded or decoded. Messages never echo a peer's strings, which
/// may be arbitrary bytes; only checked values (ids, numbers) appear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AffiliateError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("not a valid protobuf message")]
    Protobuf,
    #[error("nodeId is empty")]
    EmptyNodeId,
    #[error("{field}: {len} bytes, the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: only ASCII letters, digits and {allowed:?} are allowed")]
    Charset {
        field: &'static str,
        allowed: &'static str,
    },
    #[error("operatingSystem: only printable ASCII is allowed")]
    OperatingSystemCharset,
    #[error("{field}: {len} entries, the limit is {max}")]
    TooMany {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: a {len}-byte address, expected 4 or 16")]
    AddressLength { field: &'static str, len: usize },
    #[error("{field}: prefix length {bits} exceeds {max}")]
    PrefixBits {
        field: &'static str,
        bits: u32,
        max: u8,
    },
    #[error("endpoint port {0} is not 1-65535")]
    EndpointPort(u32),
    #[error("controlPlane.port {0} is not 1-65535")]
    ApiServerPort(u32),
    #[error("kubespan.publicKey: {0}")]
    PublicKey(KeyError),
    #[error("kubespan.publicKey: {0} characters, a WireGuard key has {KEY_BASE64_LEN}")]
    PublicKeyLength(usize),
    #[error("the data names node {data:?} but the service lists it as {listed:?}")]
    IdMismatch { data: String, listed: String },
}

/// An affiliate sealed for the service: the encrypted data and each encrypted endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAffiliate {
    pub data: Vec<u8>,
    pub endpoints: Vec<Vec<u8>>,
}

/// What [`open_affiliate`] found: the affiliate, and how many of its endpoint blobs were skipped
/// because they did not decrypt to a valid endpoint (the service keeps endpoints of any origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedAffiliate {
    pub spec: AffiliateSpec,
    pub skipped_endpoints: usize,
    /// The node said it is leaving (Weft's `weft_leaving`, see [`seal_leaving`]).
    pub leaving: bool,
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// A 4- or 16-byte binary address.
pub fn ip_from_bytes(field: &'static str, bytes: &[u8]) -> Result<IpAddr, AffiliateError> {
    if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::V4(Ipv4Addr::from(b)));
    }
    if let Ok(b) = <[u8; 16]>::try_from(bytes) {
        return Ok(IpAddr::V6(Ipv6Addr::from(b)));
    }
    Err(AffiliateError::AddressLength {
        field,
        len: bytes.len(),
    })
}

fn prefix_to_proto(net: &IpNet) -> client::IpPrefix {
    client::IpPrefix {
        ip: ip_bytes(net.addr()),
        bits: u32::from(net.prefix_len()),
    }
}

fn prefix_from_proto(field: &'static str, p: &client::IpPrefix) -> Result<IpNet, AffiliateError> {
    let ip = ip_from_bytes(field, &p.ip)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits =
        u8::try_from(p.bits)
            .ok()
            .filter(|b| *b <= max)
            .ok_or(AffiliateError::PrefixBits {
                field,
                bits: p.bits,
                max,
            })?;
    IpNet::new(ip, bits).map_err(|_| AffiliateError::PrefixBits {
        field,
        bits: p.bits,
        max,
    })
}

/// An endpoint as its protobuf.
pub fn endpoint_to_proto(endpoint: SocketAddr) -> client::Endpoint {
    client::Endpoint {
        ip: ip_bytes(endpoint.ip()),
        port: u32::from(endpoint.port()),
    }
}

/// An endpoint from its protobuf: a 4- or 16-byte address and a port in 1..=65535.
pub fn endpoint_from_proto(endpoint: &client::Endpoint) -> Result<SocketAddr, AffiliateError> {
    let ip = ip_from_bytes("endpoint", &endpoint.ip)?;
    let port = u16::try_from(endpoint.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(AffiliateError::EndpointPort(endpoint.port))?;
    Ok(SocketAddr::new(ip, port))
}

/// The plaintext protobuf of an affiliate. Endpoints are not part of it: they travel separately,
/// each encrypted on its own (see [`seal_affiliate`]).
pub fn affiliate_to_proto(spec: &AffiliateSpec) -> client::Affiliate {
    let ks = &spec.kubespan;
    client::Affiliate {
        node_id: spec.node_id.clone(),
        addresses: spec.addresses.iter().map(|ip| ip_bytes(*ip)).collect(),
        hostname: spec.hostname.clone(),
        nodename: spec.nodename.clone(),
        machine_type: spec.machine_type.as_str().to_owned(),
        operating_system: spec.operating_system.clone(),
        kubespan: (!ks.is_empty()).then(|| client::KubeSpan {
            public_key: ks.public_key.clone(),
            address: ks.address.map(ip_bytes).unwrap_or_default(),
            additional_addresses: ks
                .additional_addresses
                .iter()
                .map(prefix_to_proto)
                .collect(),
            exclude_advertised_networks: ks
                .exclude_advertised_networks
                .iter()
                .map(prefix_to_proto)
                .collect(),
        }),
        control_plane: spec.control_plane.map(|cp| client::ControlPlane {
            api_server_port: u32::from(cp.api_server_port),
        }),
        weft_leaving: false,
    }
}

/// Talos's machine type names; an empty one reads as worker (as Talos parses it) and an unknown
/// one as unknown, so a newer peer's new type is not a reason to drop it.
fn machine_type_from_proto(s: &str) -> MachineType {
    match s {
        "" | "worker" => MachineType::Worker,
        "controlplane" => MachineType::ControlPlane,
        "init" => MachineType::Init,
        _ => MachineType::Unknown,
    }
}

fn bounded<T>(field: &'static str, list: &[T], max: usize) -> Result<(), AffiliateError> {
    if list.len() > max {
        return Err(AffiliateError::TooMany {
            field,
            len: list.len(),
            max,
        });
    }
    Ok(())
}

/// An affiliate from its plaintext protobuf and its (already decrypted) endpoints, checked with
/// [`check_affiliate`]. Endpoints are kept only with a KubeSpan block (without one there is no
/// WireGuard to reach), deduplicated in order.
pub fn affiliate_from_proto(
    pb: client::Affiliate,
    endpoints: Vec<SocketAddr>,
) -> Result<AffiliateSpec, AffiliateError> {
    // Bound the lists before converting them, so a huge one costs nothing.
    bounded("addresses", &pb.addresses, MAX_ADDRESSES)?;
    bounded("kubespan.endpoints", &endpoints, MAX_ENDPOINTS)?;
    let addresses = pb
        .addresses
        .iter()
        .map(|b| ip_from_bytes("addresses", b))
        .collect::<Result<Vec<_>, _>>()?;
    let kubespan = match &pb.kubespan {
        None => KubeSpanAffiliateSpec::default(),
        Some(ks) => {
            bounded(
                "kubespan.additionalAddresses",
                &ks.additional_addresses,
                MAX_ADDRESSES,
            )?;
            bounded(
                "kubespan.excludeAdvertisedNetworks",
                &ks.exclude_advertised_networks,
                MAX_ADDRESSES,
            )?;
            let mut deduped: Vec<SocketAddr> = Vec::with_capacity(endpoints.len());
            for ep in endpoints {
                if !deduped.contains(&ep) {
                    deduped.push(ep);
                }
            }
            KubeSpanAffiliateSpec {
                public_key: ks.public_key.clone(),
                address: if ks.address.is_empty() {
                    None
                } else {
                    Some(ip_from_bytes("kubespan.address", &ks.address)?)
                },
                additional_addresses: ks
                    .additional_addresses
                    .iter()
                    .map(|p| prefix_from_proto("kubespan.additionalAddresses", p))
                    .collect::<Result<_, _>>()?,
                endpoints: deduped,
                exclude_advertised_networks: ks
                    .exclude_advertised_networks
                    .iter()
                    .map(|p| prefix_from_proto("kubespan.excludeAdvertisedNetworks", p))
                    .collect::<Result<_, _>>()?,
            }
        }
    };
    let control_plane = match pb.control_plane {
        None => None,
        Some(cp) => Some(ControlPlane {
            api_server_port: u16::try_from(cp.api_server_port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(AffiliateError::ApiServerPort(cp.api_server_port))?,
        }),
    };
    let spec = AffiliateSpec {
        node_id: pb.node_id,
        addresses,
        hostname: pb.hostname,
        nodename: pb.nodename,
        operating_system: pb.operating_system,
        machine_type: machine_type_from_proto(&pb.machine_type),
        kubespan,
        control_plane,
    };
    check_affiliate(&spec)?;
    Ok(spec)
}

fn check_name(
    field: &'static str,
    value: &str,
    max: usize,
    extra: &'static str,
) -> Result<(), AffiliateError> {
    if value.len() > max {
        return Err(AffiliateError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        return Err(AffiliateError::Charset {
            field,
            allowed: extra,
        });
    }
    Ok(())
}

/// Checks an affiliate's strings, list lengths and public key — what every received affiliate
/// must pass, and what weftd checks its own against before publishing it.
pub fn check_affiliate(spec: &AffiliateSpec) -> Result<(), AffiliateError> {
    if spec.node_id.is_empty() {
        return Err(AffiliateError::EmptyNodeId);
    }
    check_name(
        "nodeId",
        &spec.node_id,
        MAX_NODE_ID_LEN,
        NODE_ID_EXTRA_CHARS,
    )?;
    check_name(
        "hostname",
        &spec.hostname,
        MAX_HOSTNAME_LEN,
        NAME_EXTRA_CHARS,
    )?;
    check_name(
        "nodename",
        &spec.nodename,
        MAX_NODENAME_LEN,
        NAME_EXTRA_CHARS,
    )?;
    if spec.operating_system.len() > MAX_OPERATING_SYSTEM_LEN {
        return Err(AffiliateError::TooLong {
            field: "operatingSystem",
            len: spec.operating_system.len(),
            max: MAX_OPERATING_SYSTEM_LEN,
        });
    }
    if !spec
        .operating_system
        .chars()
        .all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(AffiliateError::OperatingSystemCharset);
    }
    bounded("addresses", &spec.addresses, MAX_ADDRESSES)?;
    let ks = &spec.kubespan;
    bounded(
        "kubespan.additionalAddresses",
        &ks.additional_addresses,
        MAX_ADDRESSES,
    )?;
    bounded(
        "kubespan.excludeAdvertisedNetworks",
        &ks.exclude_advertised_networks,
        MAX_ADDRESSES,
    )?;
    bounded("kubespan.endpoints", &ks.endpoints, MAX_ENDPOINTS)?;
    // An empty key means "no KubeSpan" (the peer is skipped); any other must be a real key.
    if !ks.public_key.is_empty() {
        if ks.public_key.len() != KEY_BASE64_LEN {
            return Err(AffiliateError::PublicKeyLength(ks.public_key.len()));
        }
        key::decode_key(&ks.public_key).map_err(AffiliateError::PublicKey)?;
    }
    Ok(())
}

/// Seals an affiliate for `AffiliateUpdate`: checks it, encrypts its protobuf and each of its
/// KubeSpan endpoints. Refuses data the service would refuse (over [`MAX_DATA_LEN`]).
pub fn seal_affiliate(
    cipher: &Cipher,
    spec: &AffiliateSpec,
) -> Result<SealedAffiliate, AffiliateError> {
    seal(cipher, spec, false)
}

/// Seals the last word of a node that leaves (`weftctl leave`): its affiliate marked
/// `weft_leaving`, which peers take as a verified departure — sealed with the cluster secret, it
/// cannot come from someone who only knows the cluster id — and drop the node at once, while a bare
/// delete (which anyone who knows the cluster id can send to a service that does not check owners)
/// only starts a grace period.
pub fn seal_leaving(
    cipher: &Cipher,
    spec: &AffiliateSpec,
) -> Result<SealedAffiliate, AffiliateError> {
    seal(cipher, spec, true)
}

fn seal(
    cipher: &Cipher,
    spec: &AffiliateSpec,
    leaving: bool,
) -> Result<SealedAffiliate, AffiliateError> {
    check_affiliate(spec)?;
    let mut pb = affiliate_to_proto(spec);
    pb.weft_leaving = leaving;
    let data = cipher.seal(&pb.encode_to_vec())?;
    if data.len() > MAX_DATA_LEN {
        return Err(CryptoError::DataTooLong {
            len: data.len(),
            max: MAX_DATA_LEN,
        }
        .into());
    }
    let endpoints = spec
        .kubespan
        .endpoints
        .iter()
        .map(|ep| cipher.seal_endpoint(*ep))
        .collect();
    Ok(SealedAffiliate { data, endpoints })
}

/// Opens an affiliate from the service. `Ok(None)` when it has no data yet (an affiliate the service
/// knows only from endpoints); an error when the data does not decrypt, does not decode, fails the
/// checks, or names another node than the service's id for it. Endpoint blobs that do not open are
/// skipped and counted, as Sidero's client does.
pub fn open_affiliate(
    cipher: &Cipher,
    affiliate: &server::Affiliate,
) -> Result<Option<OpenedAffiliate>, AffiliateError> {
    if affiliate.data.is_empty() {
        return Ok(None);
    }
    bounded("endpoints", &affiliate.endpoints, MAX_ENDPOINTS)?;
    let plain = cipher.open(&affiliate.data)?;
    let pb = client::Affiliate::decode(plain.as_slice()).map_err(|_| AffiliateError::Protobuf)?;
    let leaving = pb.weft_leaving;
    let mut endpoints = Vec::with_capacity(affiliate.endpoints.len());
    let mut skipped_endpoints = 0;
    for blob in &affiliate.endpoints {
        match cipher.open_endpoint(blob) {
            Ok(ep) => endpoints.push(ep),
            Err(_) => skipped_endpoints += 1,
        }
    }
    let spec = affiliate_from_proto(pb, endpoints)?;
    // A service (or a replaying attacker) could list one node's data under another id; both ids
    // are checked strings by now, so naming them is safe.
    if spec.node_id != affiliate.id {
        check_name(
            "affiliate id",
            &affiliate.id,
            MAX_NODE_ID_LEN,
            NODE_ID_EXTRA_CHARS,
        )?;
        return Err(AffiliateError::IdMismatch {
            data: spec.node_id,
            listed: affiliate.id.clone(),
        });
    }
    Ok(Some(OpenedAffiliate {
        spec,
        skipped_endpoints,
        leaving,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=";
    const NODE: &str = "2VfX3nu67ZtZPl57IdJrU87BMjVWkSBJiL9ulP9TCnF";

    fn cipher() -> Cipher {
        Cipher::from_key(&[7u8; 32])
    }

    fn full() -> AffiliateSpec {
        AffiliateSpec {
            node_id: NODE.to_owned(),
            addresses: vec![
                "172.20.0.2".parse().expect("ip"),
                "2001:db8::2".parse().expect("ip"),
            ],
            hostname: "cp-1.example.org".to_owned(),
            nodename: "cp-1".to_owned(),
            operating_system: "Weft (v0.1.0)".to_owned(),
            machine_type: MachineType::ControlPlane,
            kubespan: KubeSpanAffiliateSpec {
                public_key: KEY.to_owned(),
                address: Some(
                    "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169"
                        .parse()
                        .expect("ip"),
                ),
                additional_addresses: vec!["10.244.0.0/24".parse().expect("net")],
                endpoints: vec![
                    "172.20.0.2:51820".parse().expect("ep"),
                    "[2001:db8::2]:51820".parse().expect("ep"),
                ],
                exclude_advertised_networks: vec!["192.168.0.0/16".parse().expect("net")],
            },
            control_plane: Some(ControlPlane {
                api_server_port: 6443,
            }),
        }
    }

    fn sealed_to_server(id: &str, sealed: SealedAffiliate) -> server::Affiliate {
        server::Affiliate {
            id: id.to_owned(),
            data: sealed.data,
            endpoints: sealed.endpoints,
        }
    }

    #[test]
    fn proto_round_trip() {
        let spec = full();
        let pb = affiliate_to_proto(&spec);
        assert_eq!(pb.addresses[0], vec![172, 20, 0, 2]);
        assert_eq!(pb.addresses[1].len(), 16);
        assert_eq!(pb.machine_type, "controlplane");
        let ks = pb.kubespan.as_ref().expect("kubespan");
        assert_eq!(ks.address.len(), 16);
        assert_eq!(
            ks.additional_addresses[0],
            client::IpPrefix {
                ip: vec![10, 244, 0, 0],
                bits: 24
            }
        );
        let back = affiliate_from_proto(pb, spec.kubespan.endpoints.clone()).expect("valid");
        assert_eq!(back, spec);
    }

    #[test]
    fn sealed_round_trip_and_minimal_affiliate() {
        let c = cipher();
        let spec = full();
        let sealed = seal_affiliate(&c, &spec).expect("seal");
        assert_eq!(sealed.endpoints.len(), 2);
        assert_eq!(sealed.endpoints[0].len(), 16);
        assert_eq!(sealed.endpoints[1].len(), 32);
        let opened = open_affiliate(&c, &sealed_to_server(NODE, sealed))
            .expect("open")
            .expect("has data");
        assert_eq!(opened.spec, spec);
        assert_eq!(opened.skipped_endpoints, 0);
        assert!(!opened.leaving);

        // A leaving node's last word: the same affiliate, marked.
        let sealed = seal_leaving(&c, &spec).expect("seal");
        let opened = open_affiliate(&c, &sealed_to_server(NODE, sealed))
            .expect("open")
            .expect("has data");
        assert_eq!((opened.spec, opened.leaving), (spec.clone(), true));

        // No KubeSpan, no control plane: both stay absent.
        let minimal = AffiliateSpec {
            node_id: "n1".to_owned(),
            machine_type: MachineType::Worker,
            ..AffiliateSpec::default()
        };
        let pb = affiliate_to_proto(&minimal);
        assert!(pb.kubespan.is_none() && pb.control_plane.is_none());
        let sealed = seal_affiliate(&c, &minimal).expect("seal");
        let opened = open_affiliate(&c, &sealed_to_server("n1", sealed))
            .expect("open")
            .expect("data");
        assert_eq!(opened.spec, minimal);
    }

    #[test]
    fn empty_machine_type_reads_as_worker_and_unknown_ones_as_unknown() {
        for (text, want) in [
            ("", MachineType::Worker),
            ("worker", MachineType::Worker),
            ("init", MachineType::Init),
            ("controlplane", MachineType::ControlPlane),
            ("unknown", MachineType::Unknown),
            ("toaster", MachineType::Unknown),
        ] {
            let pb = client::Affiliate {
                node_id: "n".into(),
                machine_type: text.into(),
                ..Default::default()
            };
            let spec = affiliate_from_proto(pb, vec![]).expect("valid");
            assert_eq!(spec.machine_type, want, "{text:?}");
        }
    }

    #[test]
    fn empty_data_is_not_yet_known() {
        let affiliate = server::Affiliate {
            id: NODE.into(),
            data: vec![],
            endpoints: vec![vec![0; 16]],
        };
        assert_eq!(open_affiliate(&cipher(), &affiliate), Ok(None));
    }

    #[test]
    fn bad_endpoint_blobs_are_skipped_and_duplicates_dropped() {
        let c = cipher();
        let mut sealed = seal_affiliate(&c, &full()).expect("seal");
        sealed.endpoints.push(vec![1; 16]);
        sealed.endpoints.push(vec![1; 7]);
        sealed.endpoints.push(sealed.endpoints[0].clone());
        let opened = open_affiliate(&c, &sealed_to_server(NODE, sealed))
            .expect("open")
            .expect("data");
        assert_eq!(opened.spec.kubespan.endpoints, full().kubespan.endpoints);
        assert_eq!(opened.skipped_endpoints, 2);
    }

    /// Each kind of garbage, as a peer could send it, is refused with its own error.
    #[test]
    fn untrusted_fields_are_checked() {
        let base = || affiliate_to_proto(&full());
        let eps = || full().kubespan.endpoints;
        let ks = |f: &dyn Fn(&mut client::KubeSpan)| {
            let mut pb = base();
            f(pb.kubespan.as_mut().expect("ks"));
            pb
        };
        let mut cases: Vec<(client::Affiliate, AffiliateError)> = vec![
            (
                client::Affiliate {
                    node_id: String::new(),
                    ..base()
                },
                AffiliateError::EmptyNodeId,
            ),
            (
                client::Affiliate {
                    node_id: "../etc".into(),
                    ..base()
                },
                AffiliateError::Charset {
                    field: "nodeId",
                    allowed: NODE_ID_EXTRA_CHARS,
                },
            ),
            (
                client::Affiliate {
                    node_id: "a".repeat(MAX_NODE_ID_LEN + 1),
                    ..base()
                },
                AffiliateError::TooLong {
                    field: "nodeId",
                    len: MAX_NODE_ID_LEN + 1,
                    max: MAX_NODE_ID_LEN,
                },
            ),
            (
                client::Affiliate {
                    hostname: "evil\u{1b}[2Jhost".into(),
                    ..base()
                },
                AffiliateError::Charset {
                    field: "hostname",
                    allowed: NAME_EXTRA_CHARS,
                },
            ),
            (
                client::Affiliate {
                    hostname: "h".repeat(MAX_HOSTNAME_LEN + 1),
                    ..base()
                },
                AffiliateError::TooLong {
                    field: "hostname",
                    len: MAX_HOSTNAME_LEN + 1,
                    max: MAX_HOSTNAME_LEN,
                },
            ),
            (
                client::Affiliate {
                    nodename: "node name".into(),
                    ..base()
                },
                AffiliateError::Charset {
                    field: "nodename",
                    allowed: NAME_EXTRA_CHARS,
                },
            ),
            (
                client::Affiliate {
                    operating_system: "Talos\n(v1)".into(),
                    ..base()
                },
                AffiliateError::OperatingSystemCharset,
            ),
            (
                client::Affiliate {
                    operating_system: "x".repeat(MAX_OPERATING_SYSTEM_LEN + 1),
                    ..base()
                },
                AffiliateError::TooLong {
                    field: "operatingSystem",
                    len: MAX_OPERATING_SYSTEM_LEN + 1,
                    max: MAX_OPERATING_SYSTEM_LEN,
                },
            ),
            (
                client::Affiliate {
                    addresses: vec![vec![10, 0, 0]],
                    ..base()
                },
                AffiliateError::AddressLength {
                    field: "addresses",
                    len: 3,
                },
            ),
            (
                client::Affiliate {
                    addresses: vec![vec![10, 0, 0, 1]; MAX_ADDRESSES + 1],
                    ..base()
                },
                AffiliateError::TooMany {
                    field: "addresses",
                    len: MAX_ADDRESSES + 1,
                    max: MAX_ADDRESSES,
                },
            ),
            (
                client::Affiliate {
                    control_plane: Some(client::ControlPlane {
                        api_server_port: 70000,
                    }),
                    ..base()
                },
                AffiliateError::ApiServerPort(70000),
            ),
            (
                ks(&|k| k.address = vec![0xfd; 5]),
                AffiliateError::AddressLength {
                    field: "kubespan.address",
                    len: 5,
                },
            ),
            (
                ks(&|k| {
                    k.additional_addresses = vec![client::IpPrefix {
                        ip: vec![10, 0, 0, 0],
                        bits: 33,
                    }]
                }),
                AffiliateError::PrefixBits {
                    field: "kubespan.additionalAddresses",
                    bits: 33,
                    max: 32,
                },
            ),
            (
                ks(&|k| {
                    k.exclude_advertised_networks = vec![client::IpPrefix {
                        ip: vec![0; 16],
                        bits: u32::MAX,
                    }]
                }),
                AffiliateError::PrefixBits {
                    field: "kubespan.excludeAdvertisedNetworks",
                    bits: u32::MAX,
                    max: 128,
                },
            ),
            (
                ks(&|k| k.public_key = "short".into()),
                AffiliateError::PublicKeyLength(5),
            ),
            (
                ks(&|k| k.public_key = "!".repeat(KEY_BASE64_LEN)),
                AffiliateError::PublicKey(KeyError::NotBase64),
            ),
            (
                ks(&|k| k.public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
                AffiliateError::PublicKey(KeyError::AllZero),
            ),
        ];
        for (pb, want) in cases.drain(..) {
            assert_eq!(affiliate_from_proto(pb, eps()), Err(want.clone()), "{want}");
        }
        let too_many = vec!["10.0.0.1:1".parse().expect("ep"); MAX_ENDPOINTS + 1];
        assert_eq!(
            affiliate_from_proto(base(), too_many),
            Err(AffiliateError::TooMany {
                field: "kubespan.endpoints",
                len: MAX_ENDPOINTS + 1,
                max: MAX_ENDPOINTS
            })
        );
        // A KubeSpan block with an empty key is a peer without KubeSpan, not an error.
        let spec = affiliate_from_proto(ks(&|k| k.public_key.clear()), eps()).expect("valid");
        assert!(spec.kubespan.public_key.is_empty());
    }

    #[test]
    fn open_refuses_garbage_and_other_clusters() {
        let c = cipher();
        let sealed = seal_affiliate(&c, &full()).expect("seal");
        let listed = sealed_to_server(NODE, sealed.clone());
        // Another cluster's secret.
        assert_eq!(
            open_affiliate(&Cipher::from_key(&[8u8; 32]), &listed),
            Err(AffiliateError::Crypto(CryptoError::Decrypt))
        );
        // Shorter than a nonce.
        let short = server::Affiliate {
            data: vec![1, 2, 3],
            ..listed.clone()
        };
        assert_eq!(
            open_affiliate(&c, &short),
            Err(AffiliateError::Crypto(CryptoError::DataTooShort(3)))
        );
        // Authentic, but not an affiliate protobuf.
        let junk = server::Affiliate {
            data: c.seal(&[0xff; 40]).expect("seal"),
            ..listed.clone()
        };
        assert_eq!(open_affiliate(&c, &junk), Err(AffiliateError::Protobuf));
        // Replayed under another id.
        let replayed = server::Affiliate {
            id: "someoneElse".into(),
            ..listed
        };
        assert_eq!(
            open_affiliate(&c, &replayed),
            Err(AffiliateError::IdMismatch {
                data: NODE.into(),
                listed: "someoneElse".into()
            })
        );
    }

    #[test]
    fn seal_refuses_what_peers_would_refuse() {
        let c = cipher();
        let mut spec = full();
        spec.hostname = "bad host".into();
        assert!(matches!(
            seal_affiliate(&c, &spec),
            Err(AffiliateError::Charset {
                field: "hostname",
                ..
            })
        ));
        // Too much data for the service: 200 IPv6 addresses are ~3.6 KiB.
        let mut spec = full();
        spec.addresses = (0..200u16)
            .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)))
            .collect();
        assert!(matches!(
            seal_affiliate(&c, &spec),
            Err(AffiliateError::Crypto(CryptoError::DataTooLong { .. }))
        ));
    }
}
