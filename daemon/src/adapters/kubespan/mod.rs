//! KubeSpan adapters.
//!
//! - [`peer_spec`]: peer specs (allowed IPs, endpoints) from merged affiliates.
//! - [`peer_status`]: a peer's state (up/down/unknown) and endpoint choice from what WireGuard
//!   reports.

pub mod peer_spec;
pub mod peer_status;
