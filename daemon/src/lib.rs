//! weftd — the Weft node daemon.
//!
//! - [`app`]: the daemon's life — config, state directory, identities, engine, API, signals.
//! - [`runtime`]: the resource runtime Weft's controllers run on — the versioned, watchable
//!   in-memory state store, the controller engine, and the test helpers controller tests use.
//! - [`controllers`]: the controllers (KubeSpan config and identity, …), one file each.
//! - [`config_store`]: the running machine config, persisted and published; `apply-config` lands here.
//! - [`server`]: the node API (resource and machine services) over mutual TLS.
//! - [`os`]: what weftd reads from the OS outside the data plane (links).

pub mod app;
pub mod config_store;
pub mod controllers;
pub mod os;
pub mod runtime;
pub mod server;
