//! The root namespace's IPv4 addresses and routes, and which of them a new lab's network would
//! overlap. A lab's CIDR lands on a host link (its gateway address) and in the host's routing
//! table; one that overlaps an existing address or route would shadow it or be shadowed — a
//! second `10.5.0.1/24` beside another cluster's takes that cluster's discovery address ("Address
//! already in use") and half its routes. Default routes overlap everything and are left out.

use std::fmt;

use ipnet::Ipv4Net;

use crate::cmd::{self, LabError};

/// One IPv4 network the host already uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetwork {
    pub net: Ipv4Net,
    /// Where it comes from, as a person reads it: `address 10.5.0.1/24 on wft1a2b3c`, or
    /// `route "10.5.0.0/24 dev wft1a2b3c proto kernel …"`.
    pub origin: String,
    /// The link it is on, when known.
    pub link: Option<String>,
}

impl fmt::Display for HostNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

/// Every IPv4 address and route (all tables) of the root namespace.
pub fn networks() -> Result<Vec<HostNetwork>, LabError> {
    let mut all = parse_addresses(&cmd::ip(&["-o", "-4", "addr", "show"])?);
    all.extend(parse_routes(&cmd::ip(&[
        "-4", "route", "show", "table", "all",
    ])?));
    Ok(all)
}

/// Whether `a` and `b` share an address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first of `host` that `net` overlaps.
pub fn first_overlap(net: Ipv4Net, host: &[HostNetwork]) -> Option<&HostNetwork> {
    host.iter().find(|h| overlaps(net, h.net))
}

/// Parses `ip -o -4 addr show`: `2: eth0    inet 192.0.2.2/24 brd … scope global eth0\ …`.
pub fn parse_addresses(text: &str) -> Vec<HostNetwork> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let link = words.nth(1)?.split('@').next()?.to_owned();
            if words.next()? != "inet" {
                return None;
            }
            let address = words.next()?;
            let net: Ipv4Net = address.parse().ok()?;
            Some(HostNetwork {
                net,
                origin: format!("address {address} on {link}"),
                link: Some(link),
            })
        })
        .collect()
}

/// Route types that name no destination of their own: broadcast and multicast entries sit
/// inside a link's network already.
const SKIPPED_ROUTE_TYPES: [&str; 2] = ["broadcast", "multicast"];
/// Route types `ip` prints before the destination.
const ROUTE_TYPES: [&str; 9] = [
    "unicast",
    "local",
    "anycast",
    "unreachable",
    "blackhole",
    "prohibit",
    "throw",
    "nat",
    "broadcast",
];

/// Parses `ip -4 route show table all`; default routes are left out (see the module doc).
pub fn parse_routes(text: &str) -> Vec<HostNetwork> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().peekable();
            let first = *words.peek()?;
            if SKIPPED_ROUTE_TYPES.contains(&first) {
                return None;
            }
            if ROUTE_TYPES.contains(&first) {
                words.next();
            }
            let destination = words.next()?;
            let net: Ipv4Net = if destination.contains('/') {
                destination.parse().ok()?
            } else {
                Ipv4Net::new(destination.parse().ok()?, 32).ok()?
            };
            if net.prefix_len() == 0 {
                return None;
            }
            let mut link = None;
            while let Some(word) = words.next() {
                if word == "dev" {
                    link = words.next().map(str::to_owned);
                }
            }
            Some(HostNetwork {
                net,
                origin: format!("route {:?}", line.trim()),
                link,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESSES: &str = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
7: wft6c7e3f@if2    inet 10.5.0.1/24 scope global wft6c7e3f\\       valid_lft forever preferred_lft forever
";

    const ROUTES: &str = "\
default via 192.0.2.1 dev eth0
10.9.0.0/16 via 192.0.2.7 dev eth0 table 180
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
blackhole 172.16.0.0/12
local 192.0.2.2 dev eth0 table local proto kernel scope host src 192.0.2.2
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2
default dev kubespan table 180
";

    #[test]
    fn addresses_parse_with_their_links() {
        let found = parse_addresses(ADDRESSES);
        assert_eq!(found.len(), 3);
        assert_eq!(found[2].net, "10.5.0.1/24".parse::<Ipv4Net>().unwrap());
        assert_eq!(found[2].link.as_deref(), Some("wft6c7e3f"));
        assert_eq!(found[2].to_string(), "address 10.5.0.1/24 on wft6c7e3f");
    }

    #[test]
    fn routes_parse_without_defaults_or_broadcasts() {
        let found: Vec<String> = parse_routes(ROUTES)
            .iter()
            .map(|h| h.net.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "10.9.0.0/16",
                "192.0.2.0/24",
                "172.16.0.0/12",
                "192.0.2.2/32"
            ]
        );
        assert_eq!(parse_routes(ROUTES)[0].link.as_deref(), Some("eth0"));
    }

    /// Each row: a new lab's CIDR, and what it must be refused for (`None`: nothing).
    #[test]
    fn overlaps_are_found_either_way_round() {
        let mut host = parse_addresses(ADDRESSES);
        host.extend(parse_routes(ROUTES));
        for (cidr, conflict) in [
            ("10.5.0.0/24", Some("address 10.5.0.1/24 on wft6c7e3f")),
            ("10.5.0.128/25", Some("address 10.5.0.1/24 on wft6c7e3f")),
            ("10.0.0.0/8", Some("address 10.5.0.1/24 on wft6c7e3f")),
            ("10.6.0.0/24", None),
            (
                "10.9.200.0/24",
                Some("route \"10.9.0.0/16 via 192.0.2.7 dev eth0 table 180\""),
            ),
            ("172.20.0.0/24", Some("route \"blackhole 172.16.0.0/12\"")),
            ("192.0.2.0/30", Some("address 192.0.2.2/24 on eth0")),
            ("127.0.5.0/24", Some("address 127.0.0.1/8 on lo")),
            ("198.51.100.0/24", None),
        ] {
            let net: Ipv4Net = cidr.parse().unwrap();
            let found = first_overlap(net, &host).map(ToString::to_string);
            assert_eq!(found.as_deref(), conflict, "{cidr}");
        }
    }
}
