//! What weftd reads from the operating system outside the data plane.
//!
//! - [`links`]: network links, for the KubeSpan address's hardware part.
//! - [`addresses`]: the node's addresses, and which of them are routed.
//! - [`rlimit`]: the open-file limit, raised at start.

pub mod addresses;
pub mod links;
pub mod rlimit;
