//! The cluster-side resource types weftd defines for itself: the node's addresses, the discovery
//! services' status, a leave request and external peers.
//!
//! - `NodeAddresses.net.weft.dev` (Talos's `NodeAddresses.net.talos.dev`): ns `network`, id
//!   `routed` — this node's routed addresses; ns `cluster`, id `service` — this node's public
//!   address as the discovery services see it (Talos keeps that one as an AddressStatus).
//! - `DiscoveryServiceStatuses.cluster.weft.dev`: its spec is in
//!   `weft_api::resources::cluster::discovery_status` (`weftctl health` reads it); its definition
//!   is registered with these.
//! - `LeaveRequests.cluster.weft.dev`: id `local` — present once `weftctl leave` asked this node to
//!   withdraw from the discovery services; it stops announcing itself until weftd restarts.
//! - `ExternalPeers.cluster.weft.dev`: id = the peer's name — a plain WireGuard device (no weftd)
//!   this node publishes as a member (`weftctl external-peer add`), persisted in the state
//!   directory. The affiliate published for it lives in ns `cluster-external`, id
//!   `external-<name>` (see `external_peer`).

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use weft_api::resources::fields::{empty_as_none, rfc3339};
use weft_api::resources::{NAMESPACE_CLUSTER, TypedSpec};

/// Namespace of network resources.
pub const NAMESPACE_NETWORK: &str = "network";
/// `NodeAddresses.net.weft.dev`.
pub const NODE_ADDRESS_TYPE: &str = "NodeAddresses.net.weft.dev";
/// Id of the routed node addresses (ns `network`).
pub const ROUTED_ID: &str = "routed";
/// Id of the public address the discovery services report (ns `cluster`).
pub const DISCOVERED_ID: &str = "service";
/// `LeaveRequests.cluster.weft.dev`.
pub const LEAVE_REQUEST_TYPE: &str = "LeaveRequests.cluster.weft.dev";
/// `ExternalPeers.cluster.weft.dev`.
pub const EXTERNAL_PEER_TYPE: &str = "ExternalPeers.cluster.weft.dev";
/// Namespace of the affiliates this node publishes on behalf of external peers (kept apart from
/// ns `cluster`, where the merged affiliates — these among them, once discovered — live).
pub const NAMESPACE_CLUSTER_EXTERNAL: &str = "cluster-external";

/// Addresses of this node, sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeAddressSpec {
    #[serde(default)]
    pub addresses: Vec<IpNet>,
}

impl TypedSpec for NodeAddressSpec {
    const TYPE: &'static str = NODE_ADDRESS_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_NETWORK;
}

/// A request to leave the cluster's discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaveRequestSpec {
    #[serde(with = "rfc3339")]
    pub requested: OffsetDateTime,
}

impl TypedSpec for LeaveRequestSpec {
    const TYPE: &'static str = LEAVE_REQUEST_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}

/// A WireGuard device that runs no weftd, published by this node as a member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalPeerSpec {
    /// Its WireGuard public key.
    pub public_key: String,
    /// Where it listens; `""` when it calls in (then peers learn its endpoint from its handshake).
    #[serde(with = "empty_as_none", default)]
    pub endpoint: Option<SocketAddr>,
    /// What is routed to it: its tunnel address and the networks behind it.
    #[serde(default)]
    pub addresses: Vec<IpNet>,
}

impl TypedSpec for ExternalPeerSpec {
    const TYPE: &'static str = EXTERNAL_PEER_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}
