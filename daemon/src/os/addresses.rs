//! This node's addresses, read from the OS (`getifaddrs`), behind [`AddressSource`] so controller
//! tests inject their own.
//!
//! "Routed" addresses, as Talos's NodeAddressController computes them: addresses of links that are
//! operationally up (carrier), global scope only — not loopback, multicast, link-local or
//! unspecified — and not SideroLink ULAs (a management overlay, never a KubeSpan endpoint); sorted
//! and deduplicated. Private ranges (10/8, ULAs) are global scope and stay.

use std::net::IpAddr;

use ipnet::IpNet;
use weft_api::resources::kubespan::address::{ULA_PURPOSE_SIDEROLINK, is_ula};

/// One address on one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub link: String,
    /// The address with its prefix length.
    pub address: IpNet,
    /// The link is operationally up (has carrier).
    pub up: bool,
}

/// Where addresses come from.
pub trait AddressSource: Send + Sync + 'static {
    /// Every address of every link.
    fn addresses(&self) -> anyhow::Result<Vec<InterfaceAddress>>;
}

/// The OS, through `getifaddrs`. Inside a network namespace it sees the namespace's links.
#[derive(Debug, Default)]
pub struct OsAddresses;

impl AddressSource for OsAddresses {
    fn addresses(&self) -> anyhow::Result<Vec<InterfaceAddress>> {
        let interfaces = if_addrs::get_if_addrs()?;
        Ok(interfaces
            .into_iter()
            .filter_map(|i| {
                let (ip, len) = match &i.addr {
                    if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), a.prefixlen),
                    if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), a.prefixlen),
                };
                Some(InterfaceAddress {
                    up: i.is_oper_up(),
                    link: i.name,
                    address: IpNet::new(ip, len).ok()?,
                })
            })
            .collect())
    }
}

/// Whether `ip` has global scope: not loopback, multicast, link-local or unspecified.
pub fn is_global(ip: IpAddr) -> bool {
    if ip.is_loopback() || ip.is_multicast() || ip.is_unspecified() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unicast_link_local() && v6.to_ipv4_mapped().is_none(),
    }
}

/// The routed addresses among `all` (see the module doc), sorted and deduplicated.
pub fn routed(all: &[InterfaceAddress]) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = all
        .iter()
        .filter(|a| a.up && is_global(a.address.addr()))
        .filter(|a| match a.address.addr() {
            IpAddr::V6(v6) => !is_ula(v6, ULA_PURPOSE_SIDEROLINK),
            IpAddr::V4(_) => true,
        })
        .map(|a| a.address)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(link: &str, address: &str, up: bool) -> InterfaceAddress {
        InterfaceAddress {
            link: link.to_owned(),
            address: address.parse().expect("net"),
            up,
        }
    }

    #[test]
    fn routed_keeps_global_addresses_of_up_links() {
        let all = [
            addr("lo", "127.0.0.1/8", true),
            addr("lo", "::1/128", true),
            addr("eth0", "172.20.0.2/24", true),
            addr("eth0", "fe80::1/64", true),
            addr("eth0", "2001:db8::2/64", true),
            addr("eth0", "169.254.1.1/16", true),
            addr("eth1", "10.0.0.2/8", false),
            addr(
                "kubespan",
                "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/64",
                true,
            ),
            addr("siderolink", "fd7f:175a:b97c:5603::1/64", true),
            addr("eth2", "192.168.1.5/24", true),
            addr("eth3", "172.20.0.2/24", true),
        ];
        let got: Vec<String> = routed(&all).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "172.20.0.2/24",
                "192.168.1.5/24",
                "2001:db8::2/64",
                "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/64",
            ]
        );
    }

    #[test]
    fn scopes() {
        for (ip, global) in [
            ("10.0.0.1", true),
            ("203.0.113.1", true),
            ("127.0.0.1", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("169.254.0.1", false),
            ("255.255.255.255", false),
            ("fd00::1", true),
            ("2001:db8::1", true),
            ("::1", false),
            ("::", false),
            ("ff02::1", false),
            ("fe80::1", false),
            ("::ffff:10.0.0.1", false),
        ] {
            assert_eq!(is_global(ip.parse().expect("ip")), global, "{ip}");
        }
    }

    #[test]
    fn the_os_answers() {
        // Whatever this machine has, reading it works and loopback is never routed.
        let all = OsAddresses.addresses().expect("getifaddrs");
        assert!(routed(&all).iter().all(|n| !n.addr().is_loopback()));
    }
}
