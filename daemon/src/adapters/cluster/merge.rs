//! Merging what several registries report about one node (Talos's `Affiliate.Merge`,
//! `affiliate_merge.go`).
//!
//! Raw affiliates are taken in sorted raw-id order and grouped by node id; the first of a group is
//! the base and the later ones are merged into it. Lists (addresses, additional addresses, excluded
//! networks, endpoints) are unioned keeping order; scalars are overwritten when the later value is
//! set (so `service/…` beats `k8s/…`, which sorts first); the operating system is never merged.

use std::collections::BTreeMap;

use weft_api::resources::cluster::{AffiliateSpec, MachineType};

fn union<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
    for item in from {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

fn overwrite(into: &mut String, from: &str) {
    if !from.is_empty() {
        from.clone_into(into);
    }
}

/// Merges `other` into `base` by the rules in the module doc.
pub fn merge_into(base: &mut AffiliateSpec, other: &AffiliateSpec) {
    union(&mut base.addresses, &other.addresses);
    overwrite(&mut base.hostname, &other.hostname);
    overwrite(&mut base.nodename, &other.nodename);
    if other.machine_type != MachineType::Unknown {
        base.machine_type = other.machine_type;
    }
    if other.control_plane.is_some() {
        base.control_plane = other.control_plane;
    }
    let (ks, oks) = (&mut base.kubespan, &other.kubespan);
    overwrite(&mut ks.public_key, &oks.public_key);
    if oks.address.is_some() {
        ks.address = oks.address;
    }
    union(&mut ks.additional_addresses, &oks.additional_addresses);
    union(&mut ks.endpoints, &oks.endpoints);
    union(
        &mut ks.exclude_advertised_networks,
        &oks.exclude_advertised_networks,
    );
}

/// Merges raw affiliates, given in sorted raw-id order, into one affiliate per node id.
pub fn merge_raw<'a>(
    raw: impl IntoIterator<Item = &'a AffiliateSpec>,
) -> BTreeMap<String, AffiliateSpec> {
    let mut merged: BTreeMap<String, AffiliateSpec> = BTreeMap::new();
    for spec in raw {
        match merged.get_mut(&spec.node_id) {
            Some(base) => merge_into(base, spec),
            None => {
                merged.insert(spec.node_id.clone(), spec.clone());
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use weft_api::resources::cluster::{ControlPlane, KubeSpanAffiliateSpec};

    use super::*;

    fn affiliate(node: &str, f: impl FnOnce(&mut AffiliateSpec)) -> AffiliateSpec {
        let mut a = AffiliateSpec {
            node_id: node.to_owned(),
            ..AffiliateSpec::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn lists_union_scalars_overwrite_os_stays() {
        let k8s = affiliate("n1", |a| {
            a.addresses = vec!["10.0.0.1".parse().expect("ip")];
            a.hostname = "old".into();
            a.nodename = "n1".into();
            a.operating_system = "Talos (v1.8.0)".into();
            a.machine_type = MachineType::ControlPlane;
            a.kubespan = KubeSpanAffiliateSpec {
                public_key: "k8s-key".into(),
                endpoints: vec!["10.0.0.1:51820".parse().expect("ep")],
                ..Default::default()
            };
            a.control_plane = Some(ControlPlane {
                api_server_port: 6443,
            });
        });
        let service = affiliate("n1", |a| {
            a.addresses = vec![
                "10.0.0.2".parse().expect("ip"),
                "10.0.0.1".parse().expect("ip"),
            ];
            a.hostname = "new".into();
            a.operating_system = "Talos (v1.9.0)".into();
            a.machine_type = MachineType::Unknown;
            a.kubespan = KubeSpanAffiliateSpec {
                public_key: "service-key".into(),
                address: Some("fd00::1".parse().expect("ip")),
                endpoints: vec![
                    "10.0.0.2:51820".parse().expect("ep"),
                    "10.0.0.1:51820".parse().expect("ep"),
                ],
                exclude_advertised_networks: vec!["192.168.0.0/16".parse().expect("net")],
                ..Default::default()
            };
        });
        let other = affiliate("n2", |a| a.hostname = "two".into());
        let merged = merge_raw([&k8s, &service, &other]);
        assert_eq!(merged.len(), 2);
        let m = &merged["n1"];
        assert_eq!(
            m.addresses,
            vec![
                "10.0.0.1".parse::<std::net::IpAddr>().expect("ip"),
                "10.0.0.2".parse().expect("ip")
            ]
        );
        assert_eq!(m.hostname, "new");
        assert_eq!(m.nodename, "n1", "an empty later value does not erase");
        assert_eq!(m.operating_system, "Talos (v1.8.0)", "never merged");
        assert_eq!(
            m.machine_type,
            MachineType::ControlPlane,
            "unknown does not win"
        );
        assert_eq!(m.control_plane.map(|c| c.api_server_port), Some(6443));
        assert_eq!(m.kubespan.public_key, "service-key");
        assert_eq!(m.kubespan.address, service.kubespan.address);
        assert_eq!(
            m.kubespan.endpoints,
            vec![
                "10.0.0.1:51820"
                    .parse::<std::net::SocketAddr>()
                    .expect("ep"),
                "10.0.0.2:51820".parse().expect("ep")
            ]
        );
        assert_eq!(
            m.kubespan.exclude_advertised_networks,
            service.kubespan.exclude_advertised_networks
        );
        assert_eq!(merged["n2"], other);
    }
}
