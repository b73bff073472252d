//! The typed machine config, v1alpha1. Leaves are `Option`s so a config round-trips exactly as the
//! user wrote it; defaults are applied when resolving ([`super::validate::Settings`]).
//!
//! Layout (Talos v1alpha1 "legacy" form, Weft's additions marked +):
//! ```yaml
//! version: v1alpha1
//! machine:
//!     type: controlplane | worker
//!     ca: {crt, key}                 # + node-API CA, base64 PEM (Talos: machine.ca)
//!     api: {listenAddress}           # + default [::]:50000
//!     certSANs: [203.0.113.7, node-1.example.com]   # extra names of the node-API certificate
//!     stateDir: /var/lib/weft        # +
//!     network:
//!         hostname: node-1           # default: the OS hostname
//!         kubespan:
//!             enabled, advertiseKubernetesNetworks, allowDownPeerBypass, harvestExtraEndpoints, mtu,
//!             filters: {endpoints, excludeAdvertisedNetworks},
//!             listenPort, backend, extraAnnouncedEndpoints, interface, advertisedNetworks   # +
//! cluster:
//!     id, secret, controlPlane: {endpoint}, clusterName,
//!     discovery: {enabled, registries: {kubernetes: {disabled}, service: {disabled, endpoint, extraEndpoints+}}}
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::walk::{Key, Kind};
use crate::pki::CertAndKey;

/// A whole machine config document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineConfig {
    /// Empty when missing (reported by validation, next to the document's other problems).
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub machine: Machine,
    #[serde(default)]
    pub cluster: Cluster,
}

/// `machine`: what is specific to this node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertAndKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// Extra IP addresses and DNS names of the node-API serving certificate, as Talos's
    /// `machine.certSANs`: e.g. the public address of the NAT router a node sits behind.
    #[serde(rename = "certSANs", default, skip_serializing_if = "Option::is_none")]
    pub cert_sans: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// weftd's Prometheus endpoint (Weft; off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// `machine.metrics`: where weftd serves Prometheus metrics (`GET /metrics`, plain HTTP).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<String>,
}

/// `machine.api`: the node API server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Api {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<String>,
}

/// `machine.network`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// The node's hostname as published to peers (default: the OS hostname), as in Talos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubespan: Option<KubeSpan>,
}

/// `machine.network.kubespan`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSpan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_kubernetes_networks: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_down_peer_bypass: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harvest_extra_endpoints: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<KubeSpanFilters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_announced_endpoints: Option<Vec<String>>,
    /// Weft: networks behind this node (pods, a LAN, VMs) that peers route to it through the
    /// tunnel — published as the affiliate's `additionalAddresses`, which Talos fills from the
    /// Kubernetes pod CIDRs (`advertiseKubernetesNetworks`); Weft has no Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised_networks: Option<Vec<String>>,
    /// WireGuard link name (default `kubespan`); nodes sharing a host need distinct names, since
    /// the UAPI socket directory is shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Weft: learn this node's public WireGuard endpoint from the discovery service (STUN) and
    /// punch through NAT to peers that are not up (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_traversal: Option<bool>,
    /// Weft: the routing table, rule priority, firewall marks and nftables table that capture
    /// traffic for the tunnel (defaults: Talos's values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<KubeSpanRouting>,
}

/// `machine.network.kubespan.routing` (Weft).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSpanRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_priority: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_mark: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_mark: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_mask: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_table: Option<String>,
}

/// `machine.network.kubespan.filters`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSpanFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_advertised_networks: Option<Vec<String>>,
}

/// `cluster`: what every node of the cluster shares. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("control_plane", &self.control_plane)
            .field("cluster_name", &self.cluster_name)
            .field("discovery", &self.discovery)
            .finish()
    }
}

/// `cluster.controlPlane`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlane {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// `cluster.discovery`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registries: Option<Registries>,
}

/// `cluster.discovery.registries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registries {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesRegistry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRegistry>,
}

/// `cluster.discovery.registries.kubernetes`. Weft has no Kubernetes registry; see the README.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesRegistry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `cluster.discovery.registries.service`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRegistry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_endpoints: Option<Vec<String>>,
}

// The key tree the validator walks. It mirrors the structs above; a unit test keeps them in step.
const CERT_AND_KEY: &[Key] = &[Key::new("crt", Kind::Str), Key::secret("key", Kind::Str)];
const API: &[Key] = &[Key::new("listenAddress", Kind::Str)];
const METRICS: &[Key] = &[Key::new("listenAddress", Kind::Str)];
const FILTERS: &[Key] = &[
    Key::new("endpoints", Kind::StrList),
    Key::new("excludeAdvertisedNetworks", Kind::StrList),
];
const KUBESPAN: &[Key] = &[
    Key::new("enabled", Kind::Bool),
    Key::new("advertiseKubernetesNetworks", Kind::Bool),
    Key::new("allowDownPeerBypass", Kind::Bool),
    Key::new("harvestExtraEndpoints", Kind::Bool),
    Key::new("mtu", Kind::UInt),
    Key::new("filters", Kind::Map(FILTERS)),
    Key::new("listenPort", Kind::UInt),
    Key::new("backend", Kind::Str),
    Key::new("extraAnnouncedEndpoints", Kind::StrList),
    Key::new("advertisedNetworks", Kind::StrList),
    Key::new("interface", Kind::Str),
    Key::new("natTraversal", Kind::Bool),
    Key::new("routing", Kind::Map(ROUTING)),
];
const ROUTING: &[Key] = &[
    Key::new("table", Kind::UInt),
    Key::new("rulePriority", Kind::UInt),
    Key::new("tunnelMark", Kind::UInt),
    Key::new("forceMark", Kind::UInt),
    Key::new("markMask", Kind::UInt),
    Key::new("nftablesTable", Kind::Str),
];
const NETWORK: &[Key] = &[
    Key::new("hostname", Kind::Str),
    Key::new("kubespan", Kind::Map(KUBESPAN)),
];
const MACHINE: &[Key] = &[
    Key::new("type", Kind::Str),
    Key::new("ca", Kind::Map(CERT_AND_KEY)),
    Key::new("api", Kind::Map(API)),
    Key::new("stateDir", Kind::Str),
    Key::new("metrics", Kind::Map(METRICS)),
    Key::new("certSANs", Kind::StrList),
    Key::new("network", Kind::Map(NETWORK)),
];
const CONTROL_PLANE: &[Key] = &[Key::new("endpoint", Kind::Str)];
const KUBERNETES_REGISTRY: &[Key] = &[Key::new("disabled", Kind::Bool)];
const SERVICE_REGISTRY: &[Key] = &[
    Key::new("disabled", Kind::Bool),
    Key::new("endpoint", Kind::Str),
    Key::new("extraEndpoints", Kind::StrList),
];
const REGISTRIES: &[Key] = &[
    Key::new("kubernetes", Kind::Map(KUBERNETES_REGISTRY)),
    Key::new("service", Kind::Map(SERVICE_REGISTRY)),
];
const DISCOVERY: &[Key] = &[
    Key::new("enabled", Kind::Bool),
    Key::new("registries", Kind::Map(REGISTRIES)),
];
const CLUSTER: &[Key] = &[
    Key::new("id", Kind::Str),
    Key::secret("secret", Kind::Str),
    Key::new("controlPlane", Kind::Map(CONTROL_PLANE)),
    Key::new("clusterName", Kind::Str),
    Key::new("discovery", Kind::Map(DISCOVERY)),
];
/// The keys of a machine config document.
pub(crate) const MACHINE_CONFIG_KEYS: &[Key] = &[
    Key::new("version", Kind::Str),
    Key::new("machine", Kind::Map(MACHINE)),
    Key::new("cluster", Kind::Map(CLUSTER)),
];

/// The keys of a secrets bundle.
pub(crate) const SECRETS_KEYS: &[Key] = &[
    Key::new(
        "cluster",
        Kind::Map(&[Key::new("id", Kind::Str), Key::secret("secret", Kind::Str)]),
    ),
    Key::new(
        "certs",
        Kind::Map(&[Key::new("os", Kind::Map(CERT_AND_KEY))]),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> MachineConfig {
        let list = Some(vec!["x".to_owned()]);
        MachineConfig {
            version: "v1alpha1".into(),
            machine: Machine {
                machine_type: Some("worker".into()),
                ca: Some(CertAndKey {
                    crt: "c".into(),
                    key: "k".into(),
                }),
                api: Some(Api {
                    listen_address: Some("a".into()),
                }),
                state_dir: Some("/s".into()),
                cert_sans: list.clone(),
                metrics: Some(Metrics {
                    listen_address: Some("m".into()),
                }),
                network: Some(Network {
                    hostname: Some("h".into()),
                    kubespan: Some(KubeSpan {
                        enabled: Some(true),
                        advertise_kubernetes_networks: Some(true),
                        allow_down_peer_bypass: Some(true),
                        harvest_extra_endpoints: Some(true),
                        mtu: Some(1),
                        filters: Some(KubeSpanFilters {
                            endpoints: list.clone(),
                            exclude_advertised_networks: list.clone(),
                        }),
                        listen_port: Some(1),
                        backend: Some("auto".into()),
                        extra_announced_endpoints: list.clone(),
                        advertised_networks: list.clone(),
                        interface: Some("kubespan".into()),
                        nat_traversal: Some(true),
                        routing: Some(KubeSpanRouting {
                            table: Some(1),
                            rule_priority: Some(1),
                            tunnel_mark: Some(1),
                            force_mark: Some(1),
                            mark_mask: Some(1),
                            nftables_table: Some("t".into()),
                        }),
                    }),
                }),
            },
            cluster: Cluster {
                id: Some("i".into()),
                secret: Some("s".into()),
                control_plane: Some(ControlPlane {
                    endpoint: Some("e".into()),
                }),
                cluster_name: Some("n".into()),
                discovery: Some(Discovery {
                    enabled: Some(true),
                    registries: Some(Registries {
                        kubernetes: Some(KubernetesRegistry {
                            disabled: Some(true),
                        }),
                        service: Some(ServiceRegistry {
                            disabled: Some(false),
                            endpoint: Some("e".into()),
                            extra_endpoints: list,
                        }),
                    }),
                }),
            },
        }
    }

    fn paths(value: &yaml_serde::Value, prefix: &str, out: &mut Vec<String>) {
        if let yaml_serde::Value::Mapping(m) = value {
            for (k, v) in m {
                let p = format!("{prefix}.{}", k.as_str().expect("string key"));
                out.push(p.clone());
                paths(v, &p, out);
            }
        }
    }

    fn key_paths(keys: &[Key], prefix: &str, out: &mut Vec<String>) {
        for key in keys {
            let p = format!("{prefix}.{}", key.name);
            out.push(p.clone());
            if let Kind::Map(inner) = key.kind {
                key_paths(inner, &p, out);
            }
        }
    }

    /// The key tree and the structs describe the same document.
    #[test]
    fn key_tree_matches_structs() {
        let value = yaml_serde::to_value(full()).expect("to value");
        let mut from_structs = Vec::new();
        paths(&value, "", &mut from_structs);
        let mut from_keys = Vec::new();
        key_paths(MACHINE_CONFIG_KEYS, "", &mut from_keys);
        from_structs.sort();
        from_keys.sort();
        assert_eq!(from_structs, from_keys);
    }

    #[test]
    fn debug_redacts_secret() {
        let text = format!("{:?}", full());
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("secret: Some(\"s\")"));
    }
}
