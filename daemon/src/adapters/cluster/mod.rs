//! Cluster discovery adapters.
//!
//! - [`merge`]: one affiliate per node from the registries' raw affiliates.

pub mod merge;
