//! Member (`Members.cluster.weft.dev`), id = the Kubernetes node name: an affiliate that has a node
//! name, i.e. a node of the Kubernetes cluster (`weftctl get members` ≈ `kubectl get nodes`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::affiliate::{AffiliateSpec, ControlPlane, MachineType};
use crate::resources::{MEMBER_TYPE, NAMESPACE_CLUSTER, TypedSpec};

/// A cluster member.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSpec {
    pub node_id: String,
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub machine_type: MachineType,
    #[serde(default)]
    pub operating_system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
}

impl MemberSpec {
    /// The member for `affiliate`, with its resource id (the node name); `None` when the affiliate
    /// has no node name.
    pub fn from_affiliate(affiliate: &AffiliateSpec) -> Option<(String, MemberSpec)> {
        if affiliate.nodename.is_empty() {
            return None;
        }
        Some((
            affiliate.nodename.clone(),
            MemberSpec {
                node_id: affiliate.node_id.clone(),
                addresses: affiliate.addresses.clone(),
                hostname: affiliate.hostname.clone(),
                machine_type: affiliate.machine_type,
                operating_system: affiliate.operating_system.clone(),
                control_plane: affiliate.control_plane,
            },
        ))
    }
}

impl TypedSpec for MemberSpec {
    const TYPE: &'static str = MEMBER_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_affiliate_and_yaml() {
        let mut affiliate = AffiliateSpec {
            node_id: "n1".to_owned(),
            addresses: vec!["172.20.0.3".parse().expect("ip")],
            hostname: "worker-1".to_owned(),
            operating_system: "Weft (v0.1.0)".to_owned(),
            machine_type: MachineType::Worker,
            ..AffiliateSpec::default()
        };
        assert_eq!(MemberSpec::from_affiliate(&affiliate), None);
        affiliate.nodename = "worker-1".to_owned();
        let (id, member) = MemberSpec::from_affiliate(&affiliate).expect("member");
        assert_eq!(id, "worker-1");
        let yaml = yaml_serde::to_string(&member).expect("yaml");
        assert_eq!(
            yaml,
            "nodeId: n1\naddresses:\n- 172.20.0.3\nhostname: worker-1\nmachineType: worker\noperatingSystem: Weft (v0.1.0)\n"
        );
        assert_eq!(
            yaml_serde::from_str::<MemberSpec>(&yaml).expect("parse"),
            member
        );
    }
}
