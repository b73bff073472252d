//! What weftd reads from the operating system outside the data plane.
//!
//! - [`links`]: network links, for the KubeSpan address's hardware part.
//! - [`addresses`]: the node's addresses, and which of them are routed.

pub mod addresses;
pub mod links;
