//! Cluster discovery controllers: from the OS and the config to this node's affiliate, from the
//! discovery services to the other nodes' affiliates, merged, and to members.
//!
//! ```text
//! NodeAddressController ──► NodeAddresses network/routed ─┐
//! DiscoveryServiceController ─► NodeAddresses cluster/service (public IP)
//!                          │                              ▼
//!                          │        LocalAffiliateController ─► Affiliate cluster/<own id>
//!                          │                                        │ (announced)
//!                          └─► Affiliates cluster-raw/service/<id> ◄┘
//!                                  │ AffiliateMergeController
//!                                  ▼
//!                              Affiliates cluster/<id> ─► MemberController ─► Members
//!                                  └─► kubespan::PeerSpecController ─► KubeSpanPeerSpecs
//!
//! ExternalPeers cluster/<name> ─► ExternalPeerController ─► Affiliates cluster-external/…
//!                                   (persisted first)          └─► DiscoveryServiceController
//! ```
//!
//! - [`node_address`], [`local_affiliate`], [`discovery_service`], [`affiliate_merge`],
//!   [`member`]: one controller each.
//! - [`external_peer`]: WireGuard devices without weftd that this node publishes as members
//!   (`weftctl external-peer`): their validation, file, affiliates, and controller.

pub mod affiliate_merge;
pub mod discovery_service;
pub mod external_peer;
pub mod local_affiliate;
pub mod member;
pub mod node_address;

use weft_api::resources::LOCAL_ID;
use weft_api::resources::cluster::IdentitySpec as NodeIdentity;

use crate::runtime::engine::ReconcileContext;

/// This node's id, once its identity resource exists.
pub(crate) fn node_id(ctx: &ReconcileContext) -> anyhow::Result<Option<String>> {
    Ok(ctx.get::<NodeIdentity>(LOCAL_ID)?.map(|i| i.node_id))
}
