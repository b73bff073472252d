//! Cluster discovery resources (namespace `cluster`).
//!
//! - [`identity`]: the node id (this node's affiliate id) and its file.
//! - [`base62`]: the node id's encoding (Go's `github.com/jxskiss/base62`).
//! - [`affiliate`]: a node of the cluster as the registries report it, merged.
//! - [`member`]: an affiliate that is a Kubernetes node.

pub mod affiliate;
pub mod base62;
pub mod identity;
pub mod member;

pub use affiliate::{AffiliateSpec, ControlPlane, KubeSpanAffiliateSpec, MachineType};
pub use identity::IdentitySpec;
pub use member::MemberSpec;
