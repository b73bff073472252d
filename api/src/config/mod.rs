//! The machine config and everything around it.
//!
//! - [`schema`]: the typed v1alpha1 document (Talos's "legacy" layout: `machine.network.kubespan`,
//!   `cluster.{id,secret,discovery}`) plus Weft's keys (`machine.ca`, `machine.api`,
//!   `machine.stateDir`, `kubespan.listenPort`, `kubespan.backend`, …), and the key tree that the
//!   validator walks.
//! - [`validate`]: parse + validate, reporting every problem at once with its YAML path, and the
//!   resolved settings ([`validate::Settings`]) that the daemon runs on.
//! - [`secrets`]: the secrets bundle (`weftctl gen secrets`).
//! - [`client`]: the client config (`weftconfig`).
//! - [`generate`]: `weftctl gen config`.
//! - [`filter`]: endpoint filters (`filters.endpoints`, Talos's `FilterIPs` semantics).
//! - [`nesting`]: the linear pre-scan that bounds YAML nesting before parsing.

pub mod client;
pub mod docs;
pub mod filter;
pub mod generate;
pub mod nesting;
pub mod schema;
pub mod secrets;
pub mod validate;
mod walk;

pub use schema::MachineConfig;
pub use validate::{ConfigError, Problem, Settings};

/// The only config version.
pub const VERSION_V1ALPHA1: &str = "v1alpha1";
/// Default KubeSpan (WireGuard link) MTU.
pub const DEFAULT_MTU: u32 = 1420;
/// Smallest MTU accepted: IPv6's minimum link MTU.
pub const MIN_MTU: u32 = 1280;
/// Largest MTU accepted: the largest IPv6 packet (65535) minus WireGuard's outer overhead over IPv6
/// (40 IPv6 + 8 UDP + 32 WireGuard header and tag), so an encrypted packet still fits.
pub const MAX_MTU: u32 = 65535 - 80;
/// Default WireGuard listen port.
pub const DEFAULT_WIREGUARD_PORT: u16 = 51820;
/// Default WireGuard link name.
pub const DEFAULT_INTERFACE: &str = "kubespan";
/// KubeSpan's routing table for captured traffic (Talos's).
pub const DEFAULT_ROUTING_TABLE: u32 = 180;
/// Priority of the rule sending marked traffic to [`DEFAULT_ROUTING_TABLE`] (Talos's): before the
/// main table's rule at 32766.
pub const DEFAULT_RULE_PRIORITY: u32 = 32500;
/// Firewall mark on the tunnel's own (encrypted) UDP packets (Talos's).
pub const DEFAULT_TUNNEL_MARK: u32 = 0x20;
/// Firewall mark on traffic the rules send through the tunnel (Talos's).
pub const DEFAULT_FORCE_MARK: u32 = 0x40;
/// The bits of the firewall mark KubeSpan owns (Talos's).
pub const DEFAULT_MARK_MASK: u32 = 0x60;
/// Weft's nftables table (family `inet`), owned whole by weftd.
pub const DEFAULT_NFTABLES_TABLE: &str = "weft";
/// Longest nftables table name accepted.
pub const MAX_NFTABLES_TABLE_LEN: usize = 32;
/// Default node API port.
pub const DEFAULT_API_PORT: u16 = 50000;
/// Default node API listen address (all addresses, both families).
pub const DEFAULT_API_LISTEN: &str = "[::]:50000";
/// Default state directory of weftd.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/weft";
/// Default discovery service endpoint (Sidero's public one, as in Talos).
pub const DEFAULT_DISCOVERY_ENDPOINT: &str = "https://discovery.talos.dev/";
/// Size of the decoded cluster secret (AES-256 key, WireGuard PSK).
pub const CLUSTER_SECRET_LEN: usize = 32;
/// Size of a generated cluster id before base64.
pub const CLUSTER_ID_LEN: usize = 32;
/// Longest cluster id the discovery service accepts.
pub const MAX_CLUSTER_ID_LEN: usize = 256;
/// Largest machine config or secrets file read; real ones are a few KiB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of containers (block or flow) accepted in any config text, checked before
/// parsing: the parser's time grows with the square of the depth. A machine config nests 6 deep.
pub const MAX_CONFIG_DEPTH: usize = 32;
/// Most entries accepted in any list of the config (filters, endpoints).
pub const MAX_LIST_ENTRIES: usize = 256;
/// Default Kubernetes API port, used when suggesting a fixed endpoint URL.
pub const DEFAULT_KUBERNETES_API_PORT: u16 = 6443;
