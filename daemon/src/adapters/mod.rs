//! Pure logic on specs, with no I/O and no state store: what controllers compute, kept apart so it
//! can be tested table by table.
//!
//! - [`ipset`]: IP address sets (union, difference, overlap) and their minimal CIDR cover.
//! - [`cluster`]: merging affiliates reported by several registries.
//! - [`kubespan`]: KubeSpan peer specs from merged affiliates.

pub mod cluster;
pub mod ipset;
pub mod kubespan;
