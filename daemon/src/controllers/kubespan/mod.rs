//! KubeSpan controllers.
//!
//! - [`config`]: the resolved KubeSpan settings from the machine config.
//! - [`identity`]: the WireGuard keys and KubeSpan address.
//! - [`peer_spec`]: the WireGuard peers, from the merged affiliates.

pub mod config;
pub mod identity;
pub mod peer_spec;
