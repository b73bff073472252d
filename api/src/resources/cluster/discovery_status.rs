//! `DiscoveryServiceStatuses.cluster.weft.dev` (ns `cluster`, id = the service endpoint URL): what
//! weftd knows of each configured discovery service. Written by weftd, read by `weftctl health`;
//! every field defaults, so a client reads the statuses of a weftd with fewer or more fields.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::resources::fields::empty_as_none;
use crate::resources::{DISCOVERY_SERVICE_STATUS_TYPE, NAMESPACE_CLUSTER, TypedSpec};

/// One discovery service as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DiscoveryServiceStatusSpec {
    /// The endpoint as configured.
    pub endpoint: String,
    /// A watch on the cluster is open.
    pub connected: bool,
    /// This node's address as the service sees it (its Hello reply).
    #[serde(rename = "publicIP", with = "empty_as_none", default)]
    pub public_ip: Option<IpAddr>,
    /// Other nodes discovered through this service.
    pub affiliates: usize,
    /// This node's affiliate was stored by the service (as far as weftd knows).
    pub announced: bool,
    /// After a leave request: the service confirmed this node's affiliate is deleted.
    pub left: bool,
    /// The last failure talking to the service; empty after a success.
    #[serde(default)]
    pub last_error: String,
    /// Weft: sessions opened (a watch established) since weftd started.
    pub sessions: u64,
    /// Weft: publishing calls the service accepted (affiliate updates and deletes, endpoints).
    pub updates: u64,
    /// Weft: watch messages received and applied (snapshots and pushes).
    pub watch_messages: u64,
}

impl TypedSpec for DiscoveryServiceStatusSpec {
    const TYPE: &'static str = DISCOVERY_SERVICE_STATUS_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_yaml() {
        let spec = DiscoveryServiceStatusSpec {
            endpoint: "http://127.0.0.1:3000/".into(),
            connected: true,
            public_ip: Some("203.0.113.7".parse().expect("ip")),
            affiliates: 2,
            announced: true,
            left: false,
            last_error: String::new(),
            sessions: 1,
            updates: 3,
            watch_messages: 4,
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "endpoint: http://127.0.0.1:3000/\nconnected: true\npublicIP: 203.0.113.7\naffiliates: 2\nannounced: true\nleft: false\nlastError: ''\nsessions: 1\nupdates: 3\nwatchMessages: 4\n"
        );
        assert_eq!(
            yaml_serde::from_str::<DiscoveryServiceStatusSpec>(&yaml).expect("parse"),
            spec
        );
        // What a client needs, from a node that sends only that.
        let partial: DiscoveryServiceStatusSpec =
            yaml_serde::from_str("endpoint: http://x/\nconnected: true\n").expect("parse");
        assert!(partial.connected && partial.last_error.is_empty());
    }
}
