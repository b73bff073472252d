//! Sets of IP addresses with union, difference and overlap, and their minimal CIDR cover — what
//! peer specs need to turn "these addresses, minus those networks, minus what another peer
//! claimed" into WireGuard allowed IPs (Go's `netipx.IPSet` in Talos).
//!
//! Each family is a sorted list of disjoint, non-adjacent inclusive ranges of integers (IPv4 in
//! the low 32 bits of a `u128`). Inclusive ends avoid overflow at the top of the address space
//! (`::/0` ends at `u128::MAX`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const V4_BITS: u8 = 32;
const V6_BITS: u8 = 128;

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Ranges,
    v6: Ranges,
}

/// Sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ranges(Vec<(u128, u128)>);

impl Ranges {
    fn add(&mut self, lo: u128, hi: u128) {
        self.0.push((lo, hi));
        self.0.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                // Overlapping or adjacent (`a` right after the last end): extend.
                Some((_, end)) if end.checked_add(1).is_none_or(|next| a <= next) => {
                    *end = (*end).max(b);
                }
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }

    fn remove(&mut self, lo: u128, hi: u128) {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(a, b) in &self.0 {
            if b < lo || a > hi {
                out.push((a, b));
                continue;
            }
            if a < lo {
                out.push((a, lo - 1));
            }
            if b > hi {
                out.push((hi + 1, b));
            }
        }
        self.0 = out;
    }

    fn overlaps(&self, other: &Ranges) -> bool {
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a, b)), Some(&(c, d))) = (self.0.get(i), other.0.get(j)) {
            if b < c {
                i += 1;
            } else if d < a {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }

    /// The minimal prefix cover, as (network, prefix length), in address order: each range is cut
    /// greedily into the largest aligned blocks that fit, which is minimal for disjoint ranges.
    fn prefixes(&self, width: u8) -> Vec<(u128, u8)> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.0 {
            let mut start = lo;
            loop {
                // The largest block aligned at `start`, shrunk until it ends within the range.
                let mut bits = if start == 0 {
                    u32::from(width)
                } else {
                    start.trailing_zeros().min(u32::from(width))
                };
                while bits > 0 && start + block_span(bits) > hi {
                    bits -= 1;
                }
                let end = start + block_span(bits);
                out.push((start, width - bits as u8));
                if end >= hi {
                    break;
                }
                start = end + 1;
            }
        }
        out
    }
}

/// The last offset of a block of 2^bits addresses (2^bits − 1), without overflowing at 128.
fn block_span(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn v4_range(net: Ipv4Net) -> (u128, u128) {
    (
        u128::from(u32::from(net.network())),
        u128::from(u32::from(net.broadcast())),
    )
}

fn v6_range(net: Ipv6Net) -> (u128, u128) {
    (u128::from(net.network()), u128::from(net.broadcast()))
}

impl IpSet {
    /// The empty set.
    pub fn new() -> IpSet {
        IpSet::default()
    }

    /// Adds a network (host bits ignored).
    pub fn add_net(&mut self, net: IpNet) {
        match net {
            IpNet::V4(n) => {
                let (lo, hi) = v4_range(n);
                self.v4.add(lo, hi);
            }
            IpNet::V6(n) => {
                let (lo, hi) = v6_range(n);
                self.v6.add(lo, hi);
            }
        }
    }

    /// Adds one address.
    pub fn add_ip(&mut self, ip: IpAddr) {
        self.add_net(IpNet::from(ip));
    }

    /// Removes a network.
    pub fn remove_net(&mut self, net: IpNet) {
        match net {
            IpNet::V4(n) => {
                let (lo, hi) = v4_range(n);
                self.v4.remove(lo, hi);
            }
            IpNet::V6(n) => {
                let (lo, hi) = v6_range(n);
                self.v6.remove(lo, hi);
            }
        }
    }

    /// Adds every address of `other`.
    pub fn add_set(&mut self, other: &IpSet) {
        for &(lo, hi) in &other.v4.0 {
            self.v4.add(lo, hi);
        }
        for &(lo, hi) in &other.v6.0 {
            self.v6.add(lo, hi);
        }
    }

    /// Removes every address of `other`.
    pub fn remove_set(&mut self, other: &IpSet) {
        for &(lo, hi) in &other.v4.0 {
            self.v4.remove(lo, hi);
        }
        for &(lo, hi) in &other.v6.0 {
            self.v6.remove(lo, hi);
        }
    }

    /// Whether the two sets share an address.
    pub fn overlaps(&self, other: &IpSet) -> bool {
        self.v4.overlaps(&other.v4) || self.v6.overlaps(&other.v6)
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.0.is_empty() && self.v6.0.is_empty()
    }

    /// The minimal list of prefixes covering exactly this set, IPv4 first, each family in address
    /// order.
    pub fn prefixes(&self) -> Vec<IpNet> {
        let v4 = self.v4.prefixes(V4_BITS).into_iter().map(|(n, len)| {
            // The network came from a u32, so it fits; the fallback is unreachable.
            let addr = Ipv4Addr::from(u32::try_from(n).unwrap_or_default());
            IpNet::V4(Ipv4Net::new_assert(addr, len))
        });
        let v6 = self
            .v6
            .prefixes(V6_BITS)
            .into_iter()
            .map(|(n, len)| IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(n), len)));
        v4.chain(v6).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    fn set(add: &[&str], remove: &[&str]) -> IpSet {
        let mut s = IpSet::new();
        for n in nets(add) {
            s.add_net(n);
        }
        for n in nets(remove) {
            s.remove_net(n);
        }
        s
    }

    #[test]
    fn cover_table() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&[], &[], &[]),
            (&["10.0.0.1/32"], &[], &["10.0.0.1/32"]),
            // Host bits are ignored.
            (&["10.0.0.77/24"], &[], &["10.0.0.0/24"]),
            // Adjacent halves merge into their parent.
            (&["10.0.0.0/25", "10.0.0.128/25"], &[], &["10.0.0.0/24"]),
            // Four hosts, unaligned: .1, .2-.3, .4.
            (
                &["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32"],
                &[],
                &["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/32"],
            ),
            // A hole in the middle of a /24.
            (
                &["10.0.0.0/24"],
                &["10.0.0.128/32"],
                &[
                    "10.0.0.0/25",
                    "10.0.0.129/32",
                    "10.0.0.130/31",
                    "10.0.0.132/30",
                    "10.0.0.136/29",
                    "10.0.0.144/28",
                    "10.0.0.160/27",
                    "10.0.0.192/26",
                ],
            ),
            // Contained networks disappear into the larger one.
            (&["10.0.0.0/8", "10.1.2.3/32"], &[], &["10.0.0.0/8"]),
            // Everything, both families, and both ends of each space.
            (&["0.0.0.0/0", "::/0"], &[], &["0.0.0.0/0", "::/0"]),
            (
                &["::/0"],
                &["::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"],
                &[
                    "::1/128", "::2/127", "::4/126", // the low end, …
                ],
            ),
            // Removing everything leaves nothing.
            (&["10.0.0.0/24", "fd00::/64"], &["0.0.0.0/0", "::/0"], &[]),
            // IPv4 sorts before IPv6; each family in address order.
            (
                &[
                    "fd00::1/128",
                    "192.168.1.1/32",
                    "10.0.0.1/32",
                    "2001:db8::/32",
                ],
                &[],
                &[
                    "10.0.0.1/32",
                    "192.168.1.1/32",
                    "2001:db8::/32",
                    "fd00::1/128",
                ],
            ),
        ];
        for (add, remove, want) in cases {
            let got = set(add, remove).prefixes();
            if add == &["::/0"] {
                // Only the start of this long list is spelled out; check it and its length (one
                // prefix per bit length on each side, minus the two lost hosts: 127 + 127).
                assert_eq!(&got[..3], nets(want).as_slice());
                assert_eq!(got.len(), 254);
                assert_eq!(
                    got.last().expect("some").to_string(),
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"
                );
                continue;
            }
            assert_eq!(got, nets(want), "add {add:?} remove {remove:?}");
        }
    }

    /// The cover holds exactly the set's addresses: checked by brute force over a small space.
    #[test]
    fn cover_is_exact_over_a_small_space() {
        let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
        // Pseudo-random adds and removes of /26../32 blocks in 10.0.0.0/24.
        let mut seed: u32 = 12345;
        for _ in 0..50 {
            let mut s = IpSet::new();
            let mut truth = [false; 256];
            for step in 0..12 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let len = 26 + (seed >> 16) % 7;
                let size = 1u32 << (32 - len);
                let start = ((seed >> 8) % 256) / size * size;
                let net = IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::from(base + start), len as u8));
                let add = step % 3 != 2;
                if add {
                    s.add_net(net);
                } else {
                    s.remove_net(net);
                }
                for t in &mut truth[start as usize..(start + size) as usize] {
                    *t = add;
                }
            }
            let cover = s.prefixes();
            for (i, want) in truth.iter().enumerate() {
                let ip = IpAddr::V4(Ipv4Addr::from(base + i as u32));
                let covered = cover.iter().filter(|n| n.contains(&ip)).count();
                assert_eq!(covered, usize::from(*want), "{ip} in {cover:?}");
            }
            // Minimal: no two prefixes could merge into their parent.
            for w in cover.windows(2) {
                if let (IpNet::V4(a), IpNet::V4(b)) = (w[0], w[1]) {
                    let merged = a.prefix_len() == b.prefix_len()
                        && a.supernet().is_some_and(|p| Some(p) == b.supernet());
                    assert!(!merged, "{a} and {b} should be one prefix");
                }
            }
        }
    }

    #[test]
    fn overlaps_and_set_difference() {
        let a = set(&["10.0.0.0/24", "fd00::1/128"], &[]);
        let b = set(&["10.0.0.128/25"], &[]);
        let c = set(&["10.0.1.0/24", "fd00::2/128"], &[]);
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(!IpSet::new().overlaps(&a));
        let mut d = a.clone();
        d.remove_set(&b);
        assert_eq!(d.prefixes(), nets(&["10.0.0.0/25", "fd00::1/128"]));
        d.remove_set(&a);
        assert!(d.is_empty());
        // Families never overlap each other.
        assert!(!set(&["0.0.0.0/0"], &[]).overlaps(&set(&["::/0"], &[])));
    }
}
