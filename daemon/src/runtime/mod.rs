//! The resource runtime: where resources live and what drives the controllers that write them.
//!
//! - [`state`]: the versioned, watchable in-memory store, with ownership and the registry of
//!   resource definitions.
//! - [`engine`]: the controller engine — the [`Controller`] trait, the per-controller run loop
//!   (input changes, ticker, backoff) and the [`ReconcileContext`] that guards outputs.
//! - `testing` (tests only): helpers for controller tests (`assert_resource` and friends). Built
//!   under `cfg(test)` so they do not ship in weftd; no other crate uses them.
//!
//! Controllers read and write through typed access: `ctx.get::<S>(id)`, `ctx.list::<S>()`,
//! `ctx.apply_outputs::<S>(…)`, with the type string and namespace taken from the spec's
//! `TypedSpec` impl, as COSI's `safe` package does.

pub mod engine;
pub mod state;
#[cfg(test)]
pub mod testing;

pub use engine::{Controller, Engine, EngineError, ReconcileContext};
pub use state::{Event, Kind, State, StateError, Watch};
