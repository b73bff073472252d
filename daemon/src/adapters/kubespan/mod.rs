//! KubeSpan adapters.
//!
//! - [`peer_spec`]: peer specs (allowed IPs, endpoints) from merged affiliates.

pub mod peer_spec;
