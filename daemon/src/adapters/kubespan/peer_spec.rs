//! KubeSpan peer specs from merged affiliates (Talos's `kubespan/peer_spec.go`, §3 of the
//! reference), as a pure function.
//!
//! For each affiliate in sorted node-id order:
//!
//! 1. skip this node, affiliates without a public key, those with neither a KubeSpan address nor
//!    additional networks (nothing of theirs goes through the tunnel), and (Weft's addition) a
//!    public key already taken — by this node or an earlier affiliate — since it is the peer id;
//! 2. its addresses = additional addresses ∪ addresses (hosts) − excluded networks, then ∪ its
//!    KubeSpan address if any (so the ULA survives any exclusion). An external WireGuard device
//!    (`weftctl external-peer`) may have no address in the KubeSpan subnet: its announced
//!    networks, as additional addresses, are what is routed to it;
//! 3. subtract what earlier peers already claimed (first come wins, each overlap reported; a peer
//!    left with nothing is still a peer — its endpoints may still work once the overlap goes);
//! 4. allowed IPs = the minimal sorted prefix cover; endpoints as the affiliate lists them; label =
//!    node name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use weft_api::config::validate::{advertised_network_problem, is_routable};
use weft_api::resources::cluster::AffiliateSpec;
use weft_api::resources::kubespan::PeerSpec;

use crate::adapters::ipset::IpSet;

/// Why an affiliate has no peer spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// This node.
    Own,
    /// No KubeSpan public key: the node runs without KubeSpan.
    NoPublicKey,
    /// A public key but neither a KubeSpan address nor additional networks: nothing to route to.
    NoAddress,
    /// This node's public key.
    OwnPublicKey,
    /// The public key of an earlier affiliate (`node_id`).
    DuplicatePublicKey { node_id: String },
}

/// Two peers claimed the same addresses; the later one lost them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The affiliate whose addresses were cut.
    pub node_id: String,
    /// The affiliate that keeps them: one whose own (node or KubeSpan) addresses they are, or
    /// an earlier one by node id.
    pub earlier: String,
}

/// The result: peers (id = public key) in node-id order, and what was skipped or cut on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSpecs {
    pub peers: Vec<(String, PeerSpec)>,
    pub skipped: Vec<(String, Skip)>,
    pub overlaps: Vec<Overlap>,
    pub refused: Vec<Refused>,
}

/// An address or network an affiliate announced that no receiver takes (Weft): what senders are
/// forbidden to advertise (`weft_api::config::validate::advertised_network_problem`), or an
/// address of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub node_id: String,
    pub net: IpNet,
    pub why: &'static str,
}

/// Computes peer specs for the node `local_node_id` with public key `local_public_key` from the
/// merged `affiliates` (any order).
///
/// Against insiders (who hold the cluster secret and can publish any affiliate), on top of
/// Talos's rules:
/// - what a sender may not advertise is refused here too (the default route, loopback,
///   link-local, multicast, unspecified), for networks and node addresses alike;
/// - this node's own addresses (KubeSpan, node addresses, advertised networks) are never a peer's;
/// - a node's own addresses (KubeSpan and node addresses) beat other affiliates' networks, however
///   ids sort: `0000evil` announcing `10.0.0.0/8` no longer takes `10.0.0.2` from the node that
///   has it. Two affiliates naming the same host address: the one proven to be there keeps it —
///   `verified` maps a peer's public key to the address its WireGuard traffic comes from while it
///   is `up`, which only the holder of its private key can achieve — else the first by node id
///   (as in Talos).
pub fn peer_specs(
    local_node_id: &str,
    local_public_key: &str,
    affiliates: &[AffiliateSpec],
    verified: &BTreeMap<String, IpAddr>,
) -> PeerSpecs {
    let mut sorted: Vec<&AffiliateSpec> = affiliates.iter().collect();
    sorted.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    let mut out = PeerSpecs::default();
    let mut keys: BTreeSet<&str> = BTreeSet::new();

    // This node's own addresses, whatever others claim.
    let mut reserved = IpSet::new();
    for local in sorted.iter().filter(|a| a.node_id == local_node_id) {
        for ip in &local.addresses {
            reserved.add_ip(*ip);
        }
        if let Some(address) = local.kubespan.address {
            reserved.add_ip(address);
        }
        for net in &local.kubespan.additional_addresses {
            reserved.add_net(*net);
        }
    }

    // Pass 1: which affiliates are peers, and what each announces (forbidden space refused).
    struct Candidate<'a> {
        affiliate: &'a AffiliateSpec,
        hosts: Vec<IpAddr>,
        nets: Vec<IpNet>,
    }
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for affiliate in sorted {
        let ks = &affiliate.kubespan;
        let skip = if affiliate.node_id == local_node_id {
            Some(Skip::Own)
        } else if ks.public_key.is_empty() {
            Some(Skip::NoPublicKey)
        } else if ks.address.is_none() && ks.additional_addresses.is_empty() {
            Some(Skip::NoAddress)
        } else if ks.public_key == local_public_key {
            Some(Skip::OwnPublicKey)
        } else if keys.contains(ks.public_key.as_str()) {
            let node_id = candidates
                .iter()
                .find(|c| c.affiliate.kubespan.public_key == ks.public_key)
                .map(|c| c.affiliate.node_id.clone())
                .unwrap_or_default();
            Some(Skip::DuplicatePublicKey { node_id })
        } else {
            None
        };
        if let Some(skip) = skip {
            out.skipped.push((affiliate.node_id.clone(), skip));
            continue;
        }
        keys.insert(&ks.public_key);
        let mut refuse = |net: IpNet, why: &'static str| {
            out.refused.push(Refused {
                node_id: affiliate.node_id.clone(),
                net,
                why,
            });
        };
        let mut hosts = Vec::new();
        for ip in affiliate.addresses.iter().chain(ks.address.iter()) {
            if is_routable(*ip) {
                hosts.push(*ip);
            } else {
                refuse(
                    IpNet::from(*ip),
                    "loopback, link-local, multicast or unspecified",
                );
            }
        }
        let mut nets = Vec::new();
        for net in &ks.additional_addresses {
            match advertised_network_problem(net) {
                None => nets.push(*net),
                Some(why) => refuse(*net, why),
            }
        }
        candidates.push(Candidate {
            affiliate,
            hosts,
            nets,
        });
    }

    // Who keeps each host address named by more than one peer.
    let mut owners: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for c in &candidates {
        let proven = verified.get(&c.affiliate.kubespan.public_key);
        for ip in &c.hosts {
            if proven == Some(ip) {
                owners.insert(*ip, &c.affiliate.node_id);
            } else {
                owners.entry(*ip).or_insert(&c.affiliate.node_id);
            }
        }
    }
    let owner = |ip: IpAddr| -> Option<&str> { owners.get(&ip).copied() };
    let mut all_hosts = IpSet::new();
    for c in &candidates {
        for ip in &c.hosts {
            all_hosts.add_ip(*ip);
        }
    }

    // Pass 2: each peer's set.
    let mut accepted: Vec<(&str, IpSet)> = Vec::new();
    for c in &candidates {
        let affiliate = c.affiliate;
        let ks = &affiliate.kubespan;
        // Networks first, minus every node's own addresses (theirs, not this one's to route).
        let mut set = IpSet::new();
        for net in &c.nets {
            set.add_net(*net);
        }
        // Whoever keeps a host address inside one of these networks takes it out of them.
        let mut lost_to: Vec<&str> = Vec::new();
        for ip in candidates.iter().flat_map(|o| o.hosts.iter()) {
            let mut one = IpSet::new();
            one.add_ip(*ip);
            if set.overlaps(&one)
                && let Some(keeper) = owner(*ip).filter(|k| *k != affiliate.node_id)
            {
                lost_to.push(keeper);
            }
        }
        set.remove_set(&all_hosts);
        let mut own_hosts = IpSet::new();
        for ip in &affiliate.addresses {
            if c.hosts.contains(ip) {
                own_hosts.add_ip(*ip);
            }
        }
        set.add_set(&own_hosts);
        for net in &ks.exclude_advertised_networks {
            set.remove_net(*net);
        }
        if let Some(address) = ks.address.filter(|a| c.hosts.contains(a)) {
            set.add_ip(address);
        }
        // Host addresses another peer keeps.
        for ip in &c.hosts {
            if let Some(other) = owner(*ip).filter(|o| *o != affiliate.node_id) {
                set.remove_net(IpNet::from(*ip));
                lost_to.push(other);
            }
        }
        if set.overlaps(&reserved) {
            set.remove_set(&reserved);
            out.refused.push(Refused {
                node_id: affiliate.node_id.clone(),
                net: IpNet::from(IpAddr::from([0u8, 0, 0, 0])),
                why: "addresses of this node",
            });
        }
        for (earlier, claimed) in &accepted {
            if set.overlaps(claimed) {
                set.remove_set(claimed);
                lost_to.push(earlier);
            }
        }
        lost_to.sort_unstable();
        lost_to.dedup();
        for other in lost_to {
            out.overlaps.push(Overlap {
                node_id: affiliate.node_id.clone(),
                earlier: other.to_owned(),
            });
        }
        out.peers.push((
            ks.public_key.clone(),
            PeerSpec {
                address: ks.address,
                allowed_ips: set.prefixes(),
                endpoints: ks.endpoints.clone(),
                label: affiliate.nodename.clone(),
            },
        ));
        accepted.push((&affiliate.node_id, set));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use ipnet::IpNet;
    use weft_api::resources::cluster::KubeSpanAffiliateSpec;

    use super::*;

    const LOCAL: &str = "local";
    const LOCAL_KEY: &str = "bG9jYWwtbG9jYWwtbG9jYWwtbG9jYWwtbG9jYWwtbG8=";

    fn key(n: u8) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    }

    /// An affiliate `id` with KubeSpan key `key(n)`, ULA `fd00::n`, node name `id`, and the given
    /// addresses, additional networks, exclusions and endpoints.
    fn aff(
        id: &str,
        n: u8,
        addrs: &[&str],
        extra: &[&str],
        exclude: &[&str],
        eps: &[&str],
    ) -> AffiliateSpec {
        AffiliateSpec {
            node_id: id.to_owned(),
            nodename: id.to_owned(),
            addresses: addrs.iter().map(|s| s.parse().expect("ip")).collect(),
            kubespan: KubeSpanAffiliateSpec {
                public_key: key(n),
                address: Some(format!("fd00::{n}").parse().expect("ip")),
                additional_addresses: extra.iter().map(|s| s.parse().expect("net")).collect(),
                endpoints: eps.iter().map(|s| s.parse().expect("ep")).collect(),
                exclude_advertised_networks: exclude
                    .iter()
                    .map(|s| s.parse().expect("net"))
                    .collect(),
            },
            ..AffiliateSpec::default()
        }
    }

    fn allowed(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    struct Case {
        name: &'static str,
        affiliates: Vec<AffiliateSpec>,
        /// (node name = label, allowed IPs) per peer, in order.
        want: Vec<(&'static str, Vec<IpNet>)>,
        skipped: Vec<(&'static str, Skip)>,
        overlaps: Vec<(&'static str, &'static str)>,
    }

    #[test]
    fn insiders_cannot_take_what_is_not_theirs() {
        // A real node b, this node (local, 10.0.0.9), and an insider sorting first.
        let local = aff(LOCAL, 9, &["10.0.0.9"], &["10.9.0.0/24"], &[], &[]);
        let b = aff("b", 2, &["10.0.0.2"], &[], &[], &["10.0.0.2:51820"]);
        let evil = aff(
            "0000evil",
            7,
            &["127.0.0.1", "169.254.1.1", "10.0.0.9", "10.0.0.2"],
            &[
                "0.0.0.0/0",
                "::/0",
                "0.0.0.0/1",
                "128.0.0.0/1",
                "224.0.0.0/8",
                "fe80::/64",
                "10.0.0.0/8",
            ],
            &[],
            &["10.0.0.7:51820"],
        );
        // b is up, its WireGuard traffic seen from 10.0.0.2: proven to be there.
        let verified = BTreeMap::from([(key(2), "10.0.0.2".parse().expect("ip"))]);
        let all = [local, b, evil];
        let got = peer_specs(LOCAL, LOCAL_KEY, &all, &verified);
        let allowed_of = |label: &str| -> Vec<IpNet> {
            got.peers
                .iter()
                .find(|(_, p)| p.label == label)
                .map(|(_, p)| p.allowed_ips.clone())
                .expect("peer")
        };
        // b keeps its node address; the insider gets neither b's nor this node's addresses, and
        // none of the forbidden space: what is left of 10.0.0.0/8 and its own ULA.
        assert_eq!(allowed_of("b"), allowed(&["10.0.0.2/32", "fd00::2/128"]));
        let e = allowed_of("0000evil");
        for taken in [
            "10.0.0.2",
            "10.0.0.9",
            "127.0.0.1",
            "169.254.1.1",
            "8.8.8.8",
            "10.9.0.1",
        ] {
            let ip: IpAddr = taken.parse().expect("ip");
            assert!(!e.iter().any(|n| n.contains(&ip)), "{taken} in {e:?}");
        }
        assert!(
            e.iter()
                .any(|n| n.contains(&"10.1.2.3".parse::<IpAddr>().expect("ip")))
        );
        assert!(e.contains(&"fd00::7/128".parse().expect("net")));
        // Each refusal named once, with why.
        let refused: Vec<String> = got
            .refused
            .iter()
            .map(|r| format!("{} {} {}", r.node_id, r.net, r.why))
            .collect();
        for want in [
            "0000evil 0.0.0.0/0 the default route",
            "0000evil ::/0 the default route",
            "0000evil 0.0.0.0/1 loopback, link-local, multicast or unspecified",
            "0000evil 128.0.0.0/1 loopback, link-local, multicast or unspecified",
            "0000evil 224.0.0.0/8 loopback, link-local, multicast or unspecified",
            "0000evil fe80::/64 loopback, link-local, multicast or unspecified",
            "0000evil 127.0.0.1/32 loopback, link-local, multicast or unspecified",
            "0000evil 169.254.1.1/32 loopback, link-local, multicast or unspecified",
        ] {
            assert!(
                refused.iter().any(|r| r == want),
                "{want} not in {refused:?}"
            );
        }
        assert!(
            got.refused
                .iter()
                .any(|r| r.node_id == "0000evil" && r.why == "addresses of this node")
        );

        // Before b is proven anywhere (not up yet), a host address both name goes to the first
        // by node id, as in Talos; everything else above holds regardless.
        let unproven = peer_specs(LOCAL, LOCAL_KEY, &all, &BTreeMap::new());
        let b_now = unproven
            .peers
            .iter()
            .find(|(_, p)| p.label == "b")
            .map(|(_, p)| p.allowed_ips.clone());
        assert_eq!(b_now, Some(allowed(&["fd00::2/128"])));
    }

    #[test]
    fn table() {
        let cases = vec![
            Case {
                name: "plain peers, sorted by node id",
                affiliates: vec![
                    aff("b", 2, &["10.0.0.2"], &[], &[], &["10.0.0.2:51820"]),
                    aff(
                        "a",
                        1,
                        &["10.0.0.1", "2001:db8::1"],
                        &[],
                        &[],
                        &["10.0.0.1:51820"],
                    ),
                ],
                want: vec![
                    (
                        "a",
                        allowed(&["10.0.0.1/32", "2001:db8::1/128", "fd00::1/128"]),
                    ),
                    ("b", allowed(&["10.0.0.2/32", "fd00::2/128"])),
                ],
                skipped: vec![],
                overlaps: vec![],
            },
            Case {
                name: "self, no key and no address are skipped",
                affiliates: vec![
                    aff(LOCAL, 9, &["10.0.0.9"], &[], &[], &[]),
                    {
                        let mut a = aff("nokey", 3, &["10.0.0.3"], &[], &[], &[]);
                        a.kubespan.public_key.clear();
                        a
                    },
                    {
                        let mut a = aff("noaddr", 4, &["10.0.0.4"], &[], &[], &[]);
                        a.kubespan.address = None;
                        a
                    },
                    aff("ok", 5, &["10.0.0.5"], &[], &[], &[]),
                ],
                want: vec![("ok", allowed(&["10.0.0.5/32", "fd00::5/128"]))],
                skipped: vec![
                    (LOCAL, Skip::Own),
                    ("noaddr", Skip::NoAddress),
                    ("nokey", Skip::NoPublicKey),
                ],
                overlaps: vec![],
            },
            Case {
                name: "an external device: no KubeSpan address, its announced networks routed",
                affiliates: vec![{
                    let mut x = aff(
                        "external-router",
                        6,
                        &[],
                        &["10.99.0.1/32", "192.168.50.0/24"],
                        &[],
                        &["198.51.100.6:51820"],
                    );
                    x.kubespan.address = None;
                    x
                }],
                want: vec![(
                    "external-router",
                    allowed(&["10.99.0.1/32", "192.168.50.0/24"]),
                )],
                skipped: vec![],
                overlaps: vec![],
            },
            Case {
                name: "additional networks, exclusions, and the ULA survives its exclusion",
                affiliates: vec![aff(
                    "a",
                    1,
                    &["10.0.0.1", "192.168.1.1", "fd00::1"],
                    &["10.244.0.0/24"],
                    &["192.168.0.0/16", "10.244.0.128/25", "fd00::/8"],
                    &[],
                )],
                want: vec![(
                    "a",
                    allowed(&["10.0.0.1/32", "10.244.0.0/25", "fd00::1/128"]),
                )],
                skipped: vec![],
                overlaps: vec![],
            },
            Case {
                name: "overlaps: first come keeps them, later ones lose only the overlap",
                affiliates: vec![
                    aff("a", 1, &["10.0.0.1", "10.0.0.100"], &[], &[], &[]),
                    aff("b", 2, &["10.0.0.2"], &["10.0.0.0/24"], &[], &[]),
                    aff("c", 3, &["10.0.0.100"], &[], &[], &[]),
                ],
                want: vec![
                    (
                        "a",
                        allowed(&["10.0.0.1/32", "10.0.0.100/32", "fd00::1/128"]),
                    ),
                    (
                        "b",
                        allowed(&[
                            "10.0.0.0/32",
                            "10.0.0.2/31",
                            "10.0.0.4/30",
                            "10.0.0.8/29",
                            "10.0.0.16/28",
                            "10.0.0.32/27",
                            "10.0.0.64/27",
                            "10.0.0.96/30",
                            "10.0.0.101/32",
                            "10.0.0.102/31",
                            "10.0.0.104/29",
                            "10.0.0.112/28",
                            "10.0.0.128/25",
                            "fd00::2/128",
                        ]),
                    ),
                    // Everything c has was claimed, except its ULA.
                    ("c", allowed(&["fd00::3/128"])),
                ],
                skipped: vec![],
                // c lost 10.0.0.100 to a; what was left (its ULA) no longer overlaps b.
                overlaps: vec![("b", "a"), ("c", "a")],
            },
            Case {
                name: "a peer left with nothing is still a peer",
                affiliates: vec![aff("a", 1, &["10.0.0.1"], &[], &[], &[]), {
                    // Same ULA as a (a misconfigured clone).
                    let mut b = aff("b", 2, &["10.0.0.1"], &[], &[], &["10.0.0.1:51821"]);
                    b.kubespan.address = Some("fd00::1".parse().expect("ip"));
                    b
                }],
                want: vec![
                    ("a", allowed(&["10.0.0.1/32", "fd00::1/128"])),
                    ("b", vec![]),
                ],
                skipped: vec![],
                overlaps: vec![("b", "a")],
            },
            Case {
                name: "public keys are peer ids: this node's and duplicates are refused",
                affiliates: vec![
                    aff("a", 1, &["10.0.0.1"], &[], &[], &[]),
                    aff("b", 1, &["10.0.0.2"], &[], &[], &[]),
                    {
                        let mut c = aff("c", 3, &["10.0.0.3"], &[], &[], &[]);
                        c.kubespan.public_key = LOCAL_KEY.to_owned();
                        c
                    },
                ],
                want: vec![("a", allowed(&["10.0.0.1/32", "fd00::1/128"]))],
                skipped: vec![
                    (
                        "b",
                        Skip::DuplicatePublicKey {
                            node_id: "a".into(),
                        },
                    ),
                    ("c", Skip::OwnPublicKey),
                ],
                overlaps: vec![],
            },
        ];
        for case in cases {
            let got = peer_specs(LOCAL, LOCAL_KEY, &case.affiliates, &BTreeMap::new());
            let summary: Vec<(String, Vec<IpNet>)> = got
                .peers
                .iter()
                .map(|(_, p)| (p.label.clone(), p.allowed_ips.clone()))
                .collect();
            let want: Vec<(String, Vec<IpNet>)> = case
                .want
                .iter()
                .map(|(l, a)| ((*l).to_owned(), a.clone()))
                .collect();
            assert_eq!(summary, want, "{}", case.name);
            let skipped: Vec<(String, Skip)> = case
                .skipped
                .iter()
                .map(|(id, s)| ((*id).to_owned(), s.clone()))
                .collect();
            assert_eq!(got.skipped, skipped, "{}", case.name);
            let overlaps: Vec<Overlap> = case
                .overlaps
                .iter()
                .map(|(n, e)| Overlap {
                    node_id: (*n).to_owned(),
                    earlier: (*e).to_owned(),
                })
                .collect();
            assert_eq!(got.overlaps, overlaps, "{}", case.name);
        }
    }

    #[test]
    fn ids_addresses_and_endpoints_in_affiliate_order() {
        // Endpoints are copied as the affiliate lists them — no receiver-side filtering, sorting
        // or dedup of families: the advertising node's filters already chose them.
        let eps = ["[2001:db8::1]:51820", "10.0.0.1:51820", "192.168.1.1:51821"];
        let a = aff("a", 1, &["10.0.0.1"], &[], &[], &eps);
        let got = peer_specs(LOCAL, LOCAL_KEY, std::slice::from_ref(&a), &BTreeMap::new());
        let (id, peer) = &got.peers[0];
        assert_eq!(id, &key(1));
        assert_eq!(peer.address, Some("fd00::1".parse::<IpAddr>().expect("ip")));
        let want: Vec<SocketAddr> = eps.iter().map(|s| s.parse().expect("ep")).collect();
        assert_eq!(peer.endpoints, want);
        assert_eq!(peer.label, "a");
    }
}
