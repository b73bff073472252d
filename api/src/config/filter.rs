//! Endpoint filters (`machine.network.kubespan.filters.endpoints`), with Talos's semantics
//! (siderolabs/net `FilterIPs`): entries apply in order; `CIDR` (or a bare IP) appends the matching
//! addresses not yet selected, `!CIDR` removes matching ones selected so far. The result starts
//! empty, so a list of only negations selects nothing.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// One filter entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFilter {
    Include(IpNet),
    Exclude(IpNet),
}

impl FromStr for IpFilter {
    type Err = ();

    /// Parses `CIDR`, `IP`, `!CIDR` or `!IP` (a bare IP is its host prefix).
    fn from_str(s: &str) -> Result<Self, ()> {
        let (negated, rest) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let net = parse_net(rest.trim()).ok_or(())?;
        Ok(if negated {
            IpFilter::Exclude(net)
        } else {
            IpFilter::Include(net)
        })
    }
}

impl fmt::Display for IpFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpFilter::Include(n) => write!(f, "{n}"),
            IpFilter::Exclude(n) => write!(f, "!{n}"),
        }
    }
}

/// Parses a CIDR or a bare IP (as its host prefix).
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Applies `filters` to `ips` in order (see the module doc).
pub fn filter_ips(filters: &[IpFilter], ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for filter in filters {
        match filter {
            IpFilter::Include(net) => {
                for ip in ips {
                    if net.contains(ip) && !out.contains(ip) {
                        out.push(*ip);
                    }
                }
            }
            IpFilter::Exclude(net) => out.retain(|ip| !net.contains(ip)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(list: &[&str]) -> Vec<IpFilter> {
        list.iter().map(|s| s.parse().expect("filter")).collect()
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn table() {
        let input = ips(&["192.168.1.5", "10.0.0.1", "2001:db8::1", "172.16.0.1"]);
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["!10.0.0.0/8"], &[]),
            (&["0.0.0.0/0"], &["192.168.1.5", "10.0.0.1", "172.16.0.1"]),
            (
                &["0.0.0.0/0", "!192.168.0.0/16", "::/0"],
                &["10.0.0.1", "172.16.0.1", "2001:db8::1"],
            ),
            (&["::/0", "10.0.0.1"], &["2001:db8::1", "10.0.0.1"]),
            (
                &["10.0.0.0/8", "0.0.0.0/0"],
                &["10.0.0.1", "192.168.1.5", "172.16.0.1"],
            ),
        ];
        for (f, want) in cases {
            assert_eq!(filter_ips(&filters(f), &input), ips(want), "filters {f:?}");
        }
    }

    #[test]
    fn parse() {
        assert_eq!(
            "!192.168.0.0/16".parse::<IpFilter>(),
            Ok(IpFilter::Exclude("192.168.0.0/16".parse().expect("net")))
        );
        assert_eq!(
            "10.0.0.1".parse::<IpFilter>(),
            Ok(IpFilter::Include("10.0.0.1/32".parse().expect("net")))
        );
        assert!("10.0.0.0/33".parse::<IpFilter>().is_err());
        assert!("!".parse::<IpFilter>().is_err());
    }
}
