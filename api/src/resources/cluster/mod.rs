//! Cluster discovery resources (namespace `cluster`).
//!
//! - [`identity`]: the node id (this node's affiliate id) and its file.
//! - [`base62`]: the node id's encoding (Go's `github.com/jxskiss/base62`).
//! - [`affiliate`]: a node of the cluster as the registries report it, merged.
//! - [`member`]: an affiliate that is a Kubernetes node.
//! - [`discovery_status`]: what a node knows of each discovery service (`weftctl health` reads it).

pub mod affiliate;
pub mod base62;
pub mod discovery_status;
pub mod identity;
pub mod member;

pub use affiliate::{AffiliateSpec, ControlPlane, KubeSpanAffiliateSpec, MachineType};
pub use discovery_status::DiscoveryServiceStatusSpec;
pub use identity::IdentitySpec;
pub use member::MemberSpec;
