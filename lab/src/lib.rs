//! weft-lab — the network-namespace lab every local Weft mesh is built from: `weftctl cluster
//! create` (a cluster that outlives the command), weftd's data-plane tests and the end-to-end
//! harness (labs that live as long as a test). One crate because its consumers differ — the cli
//! and the daemon's tests must not depend on each other — and because it is the one OS surface
//! they share.
//!
//! - [`cmd`]: bounded `ip`/`nft`/any command, output captured, failures naming the command.
//! - [`netns`]: network namespaces (create, delete, a guard deleted on drop, run code inside one).
//! - [`link`]: bridges, veth pairs, addresses, routes, forwarding.
//! - [`neighbors`]: permanent ARP entries for a whole lab (the shared ARP table's limit).
//! - [`host`]: the root namespace's IPv4 addresses and routes, and overlap checks against them.
//! - [`names`]: names of a local cluster's host-global things (namespaces, links), unique per
//!   cluster so two labs side by side never take each other's.
//! - [`prereq`]: root and tools on `PATH`.

pub mod cmd;
pub mod host;
pub mod link;
pub mod names;
pub mod neighbors;
pub mod netns;
pub mod prereq;

pub use cmd::{LabError, Output};
