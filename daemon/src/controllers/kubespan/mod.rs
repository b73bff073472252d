//! KubeSpan controllers.
//!
//! - [`config`]: the resolved KubeSpan settings from the machine config.
//! - [`identity`]: the WireGuard keys and KubeSpan address.
//! - [`peer_spec`]: the WireGuard peers, from the merged affiliates.
//! - [`manager`]: the WireGuard interface (through a data plane) and the peer statuses.
//! - [`endpoint`]: endpoints harvested from peers that are up (`harvestExtraEndpoints`).
//! - [`nat`]: this node's public WireGuard endpoint, by STUN (Weft's NAT traversal).

pub mod config;
pub mod endpoint;
pub mod identity;
pub mod manager;
pub mod nat;
pub mod peer_spec;
