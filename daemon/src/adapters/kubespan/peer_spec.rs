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

use std::collections::BTreeSet;

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
    /// The earlier affiliate that keeps them.
    pub earlier: String,
}

/// The result: peers (id = public key) in node-id order, and what was skipped or cut on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSpecs {
    pub peers: Vec<(String, PeerSpec)>,
    pub skipped: Vec<(String, Skip)>,
    pub overlaps: Vec<Overlap>,
}

/// Computes peer specs for the node `local_node_id` with public key `local_public_key` from the
/// merged `affiliates` (any order).
pub fn peer_specs(
    local_node_id: &str,
    local_public_key: &str,
    affiliates: &[AffiliateSpec],
) -> PeerSpecs {
    let mut sorted: Vec<&AffiliateSpec> = affiliates.iter().collect();
    sorted.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    let mut out = PeerSpecs::default();
    // (node id, public key, claimed set) of accepted peers, in order.
    let mut accepted: Vec<(&str, &str, IpSet)> = Vec::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
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
            let node_id = accepted
                .iter()
                .find(|(_, key, _)| *key == ks.public_key)
                .map(|(id, _, _)| (*id).to_owned())
                .unwrap_or_default();
            Some(Skip::DuplicatePublicKey { node_id })
        } else {
            None
        };
        if let Some(skip) = skip {
            out.skipped.push((affiliate.node_id.clone(), skip));
            continue;
        }

        let mut set = IpSet::new();
        for net in &ks.additional_addresses {
            set.add_net(*net);
        }
        for ip in &affiliate.addresses {
            set.add_ip(*ip);
        }
        for net in &ks.exclude_advertised_networks {
            set.remove_net(*net);
        }
        if let Some(address) = ks.address {
            set.add_ip(address);
        }
        for (earlier, _, claimed) in &accepted {
            if set.overlaps(claimed) {
                set.remove_set(claimed);
                out.overlaps.push(Overlap {
                    node_id: affiliate.node_id.clone(),
                    earlier: (*earlier).to_owned(),
                });
            }
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
        keys.insert(&ks.public_key);
        accepted.push((&affiliate.node_id, &ks.public_key, set));
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
            let got = peer_specs(LOCAL, LOCAL_KEY, &case.affiliates);
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
        let got = peer_specs(LOCAL, LOCAL_KEY, std::slice::from_ref(&a));
        let (id, peer) = &got.peers[0];
        assert_eq!(id, &key(1));
        assert_eq!(peer.address, Some("fd00::1".parse::<IpAddr>().expect("ip")));
        let want: Vec<SocketAddr> = eps.iter().map(|s| s.parse().expect("ep")).collect();
        assert_eq!(peer.endpoints, want);
        assert_eq!(peer.label, "a");
    }
}
