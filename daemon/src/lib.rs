//! weftd — the Weft node daemon.
//!
//! - [`adapters`]: pure logic on specs (affiliate merge, peer specs, IP sets), table-tested.
//! - [`args`]: the command line (clap types).
//! - [`app`]: the daemon's life — config, state directory, identities, engine, API, signals.
//! - [`runtime`]: the resource runtime Weft's controllers run on — the versioned, watchable
//!   in-memory state store, the controller engine, and the test helpers controller tests use.
//! - [`controllers`]: the controllers (KubeSpan config and identity, …), one file each.
//! - [`config_store`]: the running machine config, persisted and published; `apply-config` lands here.
//! - [`server`]: the node API (resource and machine services) over mutual TLS.
//! - [`discovery`]: the discovery service client: one task per configured service, merged.
//! - [`os`]: what weftd reads from the OS outside the data plane (links, addresses).
//! - [`wg`]: the WireGuard data plane: the backend trait and its backends.
//! - [`capture`]: KubeSpan's traffic capture (nftables, routing table and rules), shared by every
//!   backend: a pure diff of desired against applied, and its application.

pub mod adapters;
pub mod app;
pub mod args;
pub mod capture;
pub mod config_store;
pub mod controllers;
pub mod discovery;
pub mod os;
pub mod runtime;
pub mod server;
pub mod wg;
