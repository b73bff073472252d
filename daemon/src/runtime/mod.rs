//! The resource runtime: where resources live and what drives the controllers that write them.
//!
//! - [`state`]: the versioned, watchable in-memory store, with ownership and the registry of
//!   resource definitions.
//! - [`engine`]: the controller engine — the [`Controller`] trait, the per-controller run loop
//!   (input changes, ticker, backoff) and the [`ReconcileContext`] that guards outputs.
//! - [`testing`]: helpers for controller tests (`assert_resource` and friends); plain code, not
//!   behind a feature, so tests in any crate can use them without feature plumbing.

pub mod engine;
pub mod state;
pub mod testing;

pub use engine::{Controller, Engine, EngineError, ReconcileContext};
pub use state::{Event, Kind, State, StateError, Watch};
