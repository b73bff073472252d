//! weft-discovery — the discovery service, wire-compatible with Sidero's
//! `sidero.discovery.server.Cluster` v1alpha1: nodes publish encrypted affiliate data and watch
//! their cluster's; the service stores only ciphertext, expires it, and snapshots it to disk.
//!
//! - [`state`]: clusters, affiliates, endpoints, expirations and watchers — pure, clock passed in.
//! - [`limits`]: every limit as a named constant, and request validation.
//! - [`ratelimit`]: the per-client-IP token bucket.
//! - [`server`]: the thin gRPC handlers (client IP, rate limit, owner tokens, status codes).
//! - [`conn`]: client connections before gRPC — accept loop, caps, timeouts, the reply budget.
//! - [`stun`]: the STUN Binding reflector on UDP, which tells a node its public endpoint.
//! - [`snapshot`]: the on-disk snapshot in Sidero's format.
//! - [`metrics`]: Prometheus metrics and their `/metrics` endpoint.
//! - [`args`]: the command line; [`app`]: the service's life (start, tickers, shutdown).

pub mod app;
pub mod args;
pub mod conn;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod stun;
