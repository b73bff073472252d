//! weftd — the Weft node daemon.
//!
//! - [`adapters`]: pure logic on specs (affiliate merge, peer specs, IP sets), table-tested.
//! - [`args`]: the command line (clap types).
//! - [`app`]: the daemon's life — config, state directory, identities, engine, API, signals.
//! - [`runtime`]: the resource runtime Weft's controllers run on — the versioned, watchable
//!   in-memory state store, the controller engine, and the test helpers controller tests use.
//! - [`resources`]: the resource specs weftd defines for itself (node addresses, discovery
//!   statuses, the resolved KubeSpan config, …); the shared ones are in `weft_api::resources`.
//! - [`controllers`]: the controllers (KubeSpan config and identity, …), one file each. An area's
//!   controllers import only the runtime, `resources`, adapters and the OS/data-plane modules,
//!   never another area's internals.
//! - [`config_store`]: the running machine config, persisted and published; `apply-config` lands here.
//! - [`logs`]: the recent log lines kept in memory for `weftctl logs` (a tracing writer, a ring).
//! - [`server`]: the node API (resource and machine services) over mutual TLS.
//! - [`metrics`]: Prometheus metrics (`machine.metrics.listenAddress`): peers, discovery, data
//!   plane, reconcile errors, the process.
//! - [`discovery`]: the discovery service client: one task per configured service, merged.
//! - [`os`]: what weftd reads from the OS outside the data plane (links, addresses).
//! - [`wg`]: the WireGuard data plane: the backend trait and its backends.
//! - `test_support` (tests only): fixtures the controller tests of every area share.
//! - [`capture`]: KubeSpan's traffic capture (nftables, routing table and rules), shared by every
//!   backend: a pure diff of desired against applied, and its application.

pub mod adapters;
pub mod app;
pub mod args;
pub mod capture;
pub mod config_store;
pub mod controllers;
pub mod discovery;
pub mod logs;
pub mod metrics;
pub mod os;
pub mod resources;
pub mod runtime;
pub mod server;
#[cfg(test)]
pub(crate) mod test_support;
pub mod wg;
