//! Affiliate (`Affiliates.cluster.weft.dev`), id = the affiliate's node id: a node that shares the
//! cluster id and secret, as the registries (discovery service, legacy Kubernetes annotations)
//! report it. Raw per-registry copies live in namespace `cluster-raw` with ids `service/<nodeId>`
//! and `k8s/<nodeId>`; the merged one in `cluster`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::validate;
use crate::resources::fields::empty_as_none;
use crate::resources::{AFFILIATE_TYPE, NAMESPACE_CLUSTER, TypedSpec};

/// The role of a machine, as Talos names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineType {
    /// Not reported (a merge keeps the other registry's value over this one).
    #[default]
    Unknown,
    /// Talos's bootstrap control plane (older clusters); Weft never produces it.
    Init,
    #[serde(rename = "controlplane")]
    ControlPlane,
    Worker,
}

impl MachineType {
    /// The type as Talos prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Unknown => "unknown",
            MachineType::Init => "init",
            MachineType::ControlPlane => "controlplane",
            MachineType::Worker => "worker",
        }
    }
}

impl fmt::Display for MachineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<validate::MachineType> for MachineType {
    fn from(t: validate::MachineType) -> MachineType {
        match t {
            validate::MachineType::ControlPlane => MachineType::ControlPlane,
            validate::MachineType::Worker => MachineType::Worker,
        }
    }
}

/// A cluster node as advertised.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffiliateSpec {
    /// The node id (also the resource id in namespace `cluster`).
    pub node_id: String,
    /// The node's routed addresses.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// The node's FQDN.
    #[serde(default)]
    pub hostname: String,
    /// The Kubernetes node name; empty when not known (then there is no member).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nodename: String,
    /// `"<name> (<version>)"`, e.g. `Talos (v1.9.0)` or `Weft (v0.1.0)`.
    #[serde(default)]
    pub operating_system: String,
    #[serde(default)]
    pub machine_type: MachineType,
    /// KubeSpan data; omitted when the node runs without KubeSpan.
    #[serde(default, skip_serializing_if = "KubeSpanAffiliateSpec::is_empty")]
    pub kubespan: KubeSpanAffiliateSpec,
    /// Set only for control-plane nodes with an API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
}

/// The KubeSpan part of an affiliate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSpanAffiliateSpec {
    /// WireGuard public key (the peer id).
    #[serde(default)]
    pub public_key: String,
    /// KubeSpan ULA (a bare address); renders `""` when unset.
    #[serde(with = "empty_as_none", default)]
    pub address: Option<IpAddr>,
    /// Extra networks routed to the node (pod CIDRs, with `advertiseKubernetesNetworks`).
    #[serde(default)]
    pub additional_addresses: Vec<IpNet>,
    /// WireGuard endpoints, in the order to try them.
    #[serde(default)]
    pub endpoints: Vec<SocketAddr>,
    /// Networks peers must not route to this node.
    #[serde(default)]
    pub exclude_advertised_networks: Vec<IpNet>,
}

impl KubeSpanAffiliateSpec {
    /// Whether nothing is set (Go's zero value, which Talos omits from YAML).
    pub fn is_empty(&self) -> bool {
        *self == KubeSpanAffiliateSpec::default()
    }
}

/// Control-plane data of an affiliate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPlane {
    /// The API server's local port.
    #[serde(rename = "port")]
    pub api_server_port: u16,
}

impl TypedSpec for AffiliateSpec {
    const TYPE: &'static str = AFFILIATE_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_affiliate_yaml() {
        let spec = AffiliateSpec {
            node_id: "2VfX3nu67ZtZPl57IdJrU87BMjVWkSBJiL9ulP9TCnF".to_owned(),
            addresses: vec!["172.20.0.2".parse().expect("ip")],
            hostname: "cp-1.example.org".to_owned(),
            nodename: "cp-1".to_owned(),
            operating_system: "Weft (v0.1.0)".to_owned(),
            machine_type: MachineType::ControlPlane,
            kubespan: KubeSpanAffiliateSpec {
                public_key: "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=".to_owned(),
                address: Some(
                    "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169"
                        .parse()
                        .expect("ip"),
                ),
                additional_addresses: vec!["10.244.0.0/24".parse().expect("net")],
                endpoints: vec!["172.20.0.2:51820".parse().expect("ep")],
                exclude_advertised_networks: vec![],
            },
            control_plane: Some(ControlPlane {
                api_server_port: 6443,
            }),
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "nodeId: 2VfX3nu67ZtZPl57IdJrU87BMjVWkSBJiL9ulP9TCnF\naddresses:\n- 172.20.0.2\nhostname: cp-1.example.org\nnodename: cp-1\noperatingSystem: Weft (v0.1.0)\nmachineType: controlplane\nkubespan:\n  publicKey: Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=\n  address: fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169\n  additionalAddresses:\n  - 10.244.0.0/24\n  endpoints:\n  - 172.20.0.2:51820\n  excludeAdvertisedNetworks: []\ncontrolPlane:\n  port: 6443\n"
        );
        assert_eq!(
            yaml_serde::from_str::<AffiliateSpec>(&yaml).expect("parse"),
            spec
        );
    }

    #[test]
    fn omitempty_fields_are_omitted() {
        let spec = AffiliateSpec {
            node_id: "id".to_owned(),
            machine_type: MachineType::Worker,
            ..AffiliateSpec::default()
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "nodeId: id\naddresses: []\nhostname: ''\noperatingSystem: ''\nmachineType: worker\n"
        );
        assert_eq!(
            yaml_serde::from_str::<AffiliateSpec>(&yaml).expect("parse"),
            spec
        );
    }

    #[test]
    fn machine_types() {
        for (t, s) in [
            (MachineType::Unknown, "unknown"),
            (MachineType::Init, "init"),
            (MachineType::ControlPlane, "controlplane"),
            (MachineType::Worker, "worker"),
        ] {
            assert_eq!(t.to_string(), s);
            assert_eq!(yaml_serde::to_string(&t).expect("yaml"), format!("{s}\n"));
            assert_eq!(yaml_serde::from_str::<MachineType>(s).expect("parse"), t);
        }
        assert_eq!(
            MachineType::from(validate::MachineType::ControlPlane),
            MachineType::ControlPlane
        );
    }
}
