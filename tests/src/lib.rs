//! weft-e2e — the end-to-end harness: finds the workspace's real binaries and runs them the way a
//! user does — `weftctl` commands, `weftd` processes on loopback or in network namespaces with
//! their own ports and state directories, `weft-discovery`. Every process, namespace and link a
//! test starts is removed when its handle drops, also when the test fails; waits are conditions
//! with deadlines, never fixed sleeps.
//!
//! - [`process`]: the binaries, `weftctl`, [`wait_until`].
//! - [`node`]: a test cluster's secrets and client config, and its weftd processes.
//! - [`discovery`]: a weft-discovery process.
//! - [`lab`]: namespaces joined by a bridge (on `weft-lab`), commands and sockets inside them.
//! - [`nat`]: NAT routers in front of a lab's nodes.
//! - [`relay`]: the API relay to a node behind NAT.
//! - [`tcpdump`]: packet capture and its parsed lines.
//! - [`local_cluster`]: a `weftctl cluster create` mesh driven from a test.
//! - [`flood`]: connection floods for the hostile-client tests.

pub mod discovery;
pub mod flood;
pub mod lab;
pub mod local_cluster;
pub mod nat;
pub mod node;
pub mod process;
pub mod relay;
pub mod tcpdump;

pub use discovery::DiscoveryService;
pub use lab::{Lab, in_ns, privileged, tcp_transfer, tools_present, with_ns};
pub use nat::{Nat, Site};
pub use node::{Cluster, Node, edit_config};
pub use process::{DEADLINE, bin, free_port, ok, stderr, wait_until, weftctl, yaml_docs};
pub use tcpdump::{Capture, Packet};
