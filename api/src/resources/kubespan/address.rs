//! The KubeSpan ULA subnet and address, exactly as Talos computes them (`ULAPrefix`, `wgEUI64`), so
//! a node keeps the same KubeSpan address whether Talos or Weft runs it.
//!
//! ```text
//! h = SHA-256(cluster id as text)      (the base64 string itself, not its decoded bytes)
//! byte:  0    1..7        7        8..16
//!        fd   h[17..23]   purpose  EUI-64 of the first physical MAC (zero in the subnet)
//! ```

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

/// ULA purpose byte for an unknown purpose.
pub const ULA_PURPOSE_UNKNOWN: u8 = 0x00;
/// ULA purpose byte of Talos's bootstrap addresses.
pub const ULA_PURPOSE_BOOTSTRAP: u8 = 0x01;
/// ULA purpose byte of KubeSpan.
pub const ULA_PURPOSE_KUBESPAN: u8 = 0x02;
/// ULA purpose byte of SideroLink (its addresses are never advertised as KubeSpan endpoints).
pub const ULA_PURPOSE_SIDEROLINK: u8 = 0x03;
/// ULA purpose byte of virtual SideroLink.
pub const ULA_PURPOSE_VIRTUAL_SIDEROLINK: u8 = 0x04;

/// The cluster's /64 ULA prefix for `purpose`: `fd`, five bytes of the cluster id's hash, the
/// purpose byte, then zeros.
pub fn ula_prefix(cluster_id: &str, purpose: u8) -> Ipv6Net {
    let hash = Sha256::digest(cluster_id.as_bytes());
    let mut bytes = [0u8; 16];
    // Only the first eight bytes survive the /64 mask: h[16..24] with bytes 0 and 7 replaced.
    bytes[..8].copy_from_slice(&hash[16..24]);
    bytes[0] = 0xfd;
    bytes[7] = purpose;
    Ipv6Net::new_assert(Ipv6Addr::from(bytes), 64)
}

/// The node's KubeSpan subnet (/64) and address (/128): the cluster's KubeSpan ULA prefix plus the
/// modified EUI-64 interface id of `mac` (universal/local bit flipped, `ff:fe` in the middle).
pub fn kubespan_address(cluster_id: &str, mac: [u8; 6]) -> (Ipv6Net, Ipv6Net) {
    let subnet = ula_prefix(cluster_id, ULA_PURPOSE_KUBESPAN);
    let mut bytes = subnet.network().octets();
    bytes[8..].copy_from_slice(&[
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]);
    (subnet, Ipv6Net::new_assert(Ipv6Addr::from(bytes), 128))
}

/// Whether `addr` is a ULA of `purpose` (any cluster): `fd` first, the purpose byte eighth. Used to
/// keep SideroLink and KubeSpan addresses out of the advertised endpoints.
pub fn is_ula(addr: Ipv6Addr, purpose: u8) -> bool {
    let b = addr.octets();
    b[0] == 0xfd && b[7] == purpose
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Talos's test vectors (`ula_test.go`, kubespan `identity_test.go`).
    const CLUSTER_ID: &str = "8XuV9TZHW08DOk3bVxQjH9ih_TBKjnh-j44tsCLSBzo=";

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("valid prefix")
    }

    #[test]
    fn talos_vector_first_mac() {
        let (subnet, address) = kubespan_address(CLUSTER_ID, [0x2e, 0x1a, 0xb6, 0x53, 0x81, 0x69]);
        assert_eq!(subnet, net("fd7f:175a:b97c:5602::/64"));
        assert_eq!(address, net("fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/128"));
    }

    #[test]
    fn talos_vector_second_mac() {
        let (subnet, address) = kubespan_address(CLUSTER_ID, [0xea, 0x71, 0x1b, 0xb2, 0xcc, 0xee]);
        assert_eq!(subnet, net("fd7f:175a:b97c:5602::/64"));
        assert_eq!(address, net("fd7f:175a:b97c:5602:e871:1bff:feb2:ccee/128"));
        assert_eq!(
            address.to_string(),
            "fd7f:175a:b97c:5602:e871:1bff:feb2:ccee/128"
        );
    }

    #[test]
    fn purpose_byte_and_ula_check() {
        let siderolink = ula_prefix(CLUSTER_ID, ULA_PURPOSE_SIDEROLINK);
        assert_eq!(siderolink, net("fd7f:175a:b97c:5603::/64"));
        assert!(is_ula(siderolink.network(), ULA_PURPOSE_SIDEROLINK));
        assert!(!is_ula(siderolink.network(), ULA_PURPOSE_KUBESPAN));
        assert!(!is_ula(
            "fe80::1".parse().expect("addr"),
            ULA_PURPOSE_UNKNOWN
        ));
        assert_eq!(
            ula_prefix(CLUSTER_ID, ULA_PURPOSE_BOOTSTRAP),
            net("fd7f:175a:b97c:5601::/64")
        );
        assert_ne!(
            ula_prefix("another", ULA_PURPOSE_VIRTUAL_SIDEROLINK)
                .network()
                .octets()[1..7],
            siderolink.network().octets()[1..7]
        );
    }
}
