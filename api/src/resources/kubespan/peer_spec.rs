//! KubeSpan peer spec (`KubeSpanPeerSpecs.kubespan.weft.dev`), id = the peer's WireGuard public
//! key: a peer WireGuard should have, built from a merged affiliate.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::resources::fields::empty_as_none;
use crate::resources::{KUBESPAN_PEER_SPEC_TYPE, NAMESPACE_KUBESPAN, TypedSpec};

/// A desired WireGuard peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSpec {
    /// The peer's KubeSpan address; renders `""` for a peer without one (an external WireGuard
    /// device that routes only its announced networks).
    #[serde(with = "empty_as_none", default)]
    pub address: Option<IpAddr>,
    /// What is routed to the peer: the minimal sorted prefix cover of its addresses, after
    /// exclusions and overlap resolution.
    #[serde(rename = "allowedIPs", default)]
    pub allowed_ips: Vec<IpNet>,
    /// Endpoints to try, in the affiliate's order.
    #[serde(default)]
    pub endpoints: Vec<SocketAddr>,
    /// The affiliate's Kubernetes node name (the LABEL column).
    #[serde(default)]
    pub label: String,
}

impl TypedSpec for PeerSpec {
    const TYPE: &'static str = KUBESPAN_PEER_SPEC_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_KUBESPAN;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_as_talos() {
        let spec = PeerSpec {
            address: Some(
                "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169"
                    .parse()
                    .expect("ip"),
            ),
            allowed_ips: vec![
                "10.244.1.0/24".parse().expect("net"),
                "172.20.0.3/32".parse().expect("net"),
            ],
            endpoints: vec![
                "172.20.0.3:51820".parse().expect("ep"),
                "[2001:db8::3]:51820".parse().expect("ep"),
            ],
            label: "talos-default-controlplane-2".to_owned(),
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "address: fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169\nallowedIPs:\n- 10.244.1.0/24\n- 172.20.0.3/32\nendpoints:\n- 172.20.0.3:51820\n- '[2001:db8::3]:51820'\nlabel: talos-default-controlplane-2\n"
        );
        assert_eq!(
            yaml_serde::from_str::<PeerSpec>(&yaml).expect("parse"),
            spec
        );
        let external = PeerSpec {
            address: None,
            ..spec
        };
        let yaml = yaml_serde::to_string(&external).expect("yaml");
        assert!(yaml.starts_with("address: ''\n"), "{yaml}");
        assert_eq!(
            yaml_serde::from_str::<PeerSpec>(&yaml).expect("parse"),
            external
        );
    }
}
