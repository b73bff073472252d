//! weft-api — the vocabulary that `weftctl` and `weftd` share.
//!
//! - [`config`]: the machine-config schema (Talos v1alpha1 "legacy" layout plus Weft's own keys), its
//!   validation (every problem at once, each naming its YAML path), the secrets bundle, the client
//!   config (`weftconfig`) and the generator behind `weftctl gen config`.
//! - [`pki`]: the node-API certificate authority and the certificates it issues (roles in the
//!   certificate's Organization, as Talos does).
//! - [`discovery`]: the discovery service's client-side data: the cluster-secret encryption of
//!   affiliates and endpoints, and affiliates ⇄ their wire protobufs, checked (peers are untrusted).
//! - [`duration`]: Go-style durations for command lines (`10s`, `1m30s`, `8760h`).
//! - [`fsutil`]: crash-safe file writes (temp file, fsync, rename) with explicit modes.
//! - [`logs`]: the bounds of the node log the API serves (`weftctl logs`).
//! - [`prometheus`]: label escaping and the `/metrics` HTTP endpoint weft-discovery and weftd share.
//! - [`proto`]: the node API's gRPC types (resource and machine services) and conversions.
//! - [`resource`]: the resource model (metadata, definitions) that weftd serves and weftctl prints.
//! - [`resources`]: Weft's resource types (KubeSpan identity, peers, endpoints; cluster identity,
//!   affiliates, members), their definitions, and the identity files on the state directory.
//! - [`stun`]: the few STUN (RFC 8489) messages nodes use to learn their WireGuard socket's public
//!   endpoint from the discovery service and to punch NAT holes, and the test that tells them
//!   apart from WireGuard packets on the same socket.
//! - [`yaml`]: the YAML rendering shared by every file Weft writes (4-space indent, like talosctl).

pub mod config;
pub mod discovery;
pub mod duration;
pub mod fsutil;
pub mod logs;
pub mod pki;
pub mod prometheus;
pub mod proto;
pub mod resource;
pub mod resources;
pub mod stun;
pub mod yaml;
