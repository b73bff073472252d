//! `KubeSpanNATStatuses.kubespan.weft.dev` (Weft; Talos has no such resource), id `local`: this
//! node's WireGuard socket as seen from outside, learned by STUN from the tunnel's own socket.
//! LocalAffiliateController advertises the public endpoint; `weftctl get kubespannatstatus` shows
//! whether the node is behind NAT and whether its NAT keeps the WireGuard port.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::resources::fields::empty_as_none;
use crate::resources::{KUBESPAN_NAT_STATUS_TYPE, NAMESPACE_KUBESPAN, TypedSpec};

/// What STUN told this node about its NAT.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatStatusSpec {
    /// The STUN server asked (the discovery service's address, over UDP), `host:port`.
    pub server: String,
    /// The WireGuard socket's public (server-reflexive) endpoint; `""` until one answer came.
    #[serde(with = "empty_as_none", default)]
    pub public_endpoint: Option<SocketAddr>,
    /// The public address is none of this node's own: a NAT is in the way.
    #[serde(rename = "behindNAT")]
    pub behind_nat: bool,
    /// The public port is the WireGuard listen port (what KubeSpan's guess `<public IP>:51820`
    /// needs); false when the NAT maps the port elsewhere.
    pub port_preserved: bool,
    /// The last failure; `""` after an answer.
    #[serde(default)]
    pub last_error: String,
}

impl TypedSpec for NatStatusSpec {
    const TYPE: &'static str = KUBESPAN_NAT_STATUS_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_KUBESPAN;
}
