//! The data plane: one trait for "make the WireGuard interface look like this; tell me each peer's
//! endpoint, last handshake, rx and tx". Backends live beside it; only they touch the OS.
//!
//! - `userspace`: the embedded userspace WireGuard (gotatun) on a TUN device — the default, and
//!   what tests use; it serves the standard UAPI socket so `wg show <name>` works.
//! - `fake`: in memory, for controller tests (built under `cfg(test)` only: it does not ship).
//! - A kernel (netlink) backend fits the same trait; it is not built because these machines have no
//!   WireGuard module to test it against.
//!
//! Besides the interface, the backend hands KubeSpan's traffic capture ([`Capture`], computed by
//! the manager) to `crate::capture`, which diffs and applies it on the backend's link, and lends
//! NAT traversal its UDP socket (`shared_socket`: STUN probes, hole punches and the punches peers
//! send).

#[cfg(test)]
pub mod fake;
pub(crate) mod link;
pub mod offload;
mod probe;
mod shared_socket;
pub mod userspace;

use std::fmt;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use ipnet::{IpNet, Ipv6Net};

pub use crate::capture::Capture;

/// How recent a punch must be for [`DataPlane::heard_from`]: a few punch intervals.
pub const HEARD_WINDOW: Duration = Duration::from_secs(10);

/// A WireGuard key (private, public or preshared), raw bytes.
pub type Key = [u8; 32];

/// What the interface should look like.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Link name (`kubespan`).
    pub name: String,
    pub private_key: Key,
    pub listen_port: u16,
    pub mtu: u32,
    /// The node's KubeSpan address with the cluster's prefix length (`<ULA>/64`).
    pub address: Ipv6Net,
    /// Peers, sorted by public key.
    pub peers: Vec<PeerConfig>,
    /// KubeSpan's traffic capture; `None`: only the peers' allowed IPs are routed (the backend's
    /// own routing option decides how).
    pub capture: Option<Capture>,
}

impl fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("name", &self.name)
            .field("private_key", &"<redacted>")
            .field("listen_port", &self.listen_port)
            .field("mtu", &self.mtu)
            .field("address", &self.address)
            .field("peers", &self.peers)
            .field("capture", &self.capture)
            .finish()
    }
}

/// One peer as configured.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: Key,
    /// The cluster secret (Talos uses it as every peer's PSK).
    pub preshared_key: Option<Key>,
    /// `None`: keep whatever endpoint the device has (roamed, or none — passive peer).
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<Duration>,
    /// Replace-allowed-IPs semantics; routes through the interface follow them.
    pub allowed_ips: Vec<IpNet>,
}

impl fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("public_key", &base64_key(&self.public_key))
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

/// One peer as the device reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    pub public_key: Key,
    /// Where the device currently sends to (set, or roamed to by an incoming handshake).
    pub endpoint: Option<SocketAddr>,
    /// `None` until the first handshake.
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// A data-plane error: what failed (`what`, never key material) and why, keeping the cause as the
/// error's source where there is one (as gotatun's `Error::Bind` does).
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The request cannot be carried out as asked: an invalid config, a name or socket another
    /// device holds, no interface yet.
    #[error("{what}: {reason}")]
    Refused { what: String, reason: String },
    /// An OS call failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink request was refused or failed; `reason` is the OS error for a refusal.
    #[error("{what}: {reason}")]
    Netlink {
        what: String,
        reason: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// The WireGuard device (gotatun) or its TUN refused.
    #[error("{what}: {source}")]
    Device {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Anything else: a timeout, a helper command that failed, the data-plane thread gone.
    #[error("{what}: {reason}")]
    Failed { what: String, reason: String },
}

impl DataPlaneError {
    /// A [`DataPlaneError::Refused`].
    pub fn refused(what: impl Into<String>, reason: impl fmt::Display) -> DataPlaneError {
        DataPlaneError::Refused {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// A [`DataPlaneError::Failed`].
    pub fn failed(what: impl Into<String>, reason: impl fmt::Display) -> DataPlaneError {
        DataPlaneError::Failed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// A [`DataPlaneError::Io`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> DataPlaneError {
        DataPlaneError::Io {
            what: what.into(),
            source,
        }
    }

    /// A [`DataPlaneError::Device`].
    pub fn device(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DataPlaneError {
        DataPlaneError::Device {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Which offloads the interface runs with (all off while there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    /// TUN: checksum offload and TSO (TCP super-packets in, coalesced TCP segments out).
    pub tun_tcp: bool,
    /// TUN: USO too (the same for UDP).
    pub tun_udp: bool,
    /// The tunnel's UDP socket sends with UDP GSO.
    pub udp_gso: bool,
}

/// A shared view of a backend's [`Offloads`]: the backend writes it when it creates or removes
/// the interface, metrics read it.
#[derive(Debug, Clone, Default)]
pub struct OffloadReport(std::sync::Arc<std::sync::Mutex<Offloads>>);

impl OffloadReport {
    pub fn get(&self) -> Offloads {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set(&self, offloads: Offloads) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = offloads;
    }
}

/// A WireGuard data plane.
pub trait DataPlane: Send + Sync + 'static {
    /// Makes the interface look like `config`: creates it if missing; sets key, port, MTU and the
    /// address; adds, updates in place (keeping sessions) and removes peers; routes each peer's
    /// allowed IPs through the interface. Idempotent.
    fn apply(
        &self,
        config: &DeviceConfig,
    ) -> impl Future<Output = Result<(), DataPlaneError>> + Send;

    /// Every configured peer's state; empty when the interface does not exist.
    fn peers(&self) -> impl Future<Output = Result<Vec<PeerState>, DataPlaneError>> + Send;

    /// A signal raised whenever a peer's handshake, endpoint or counters change, so statuses can
    /// follow events instead of a slow tick.
    fn changes(&self) -> tokio::sync::watch::Receiver<()>;

    /// Removes the interface and everything `apply` set up. Idempotent.
    fn remove(&self) -> impl Future<Output = Result<(), DataPlaneError>> + Send;

    /// Which offloads the interface runs with, kept current by the backend.
    fn offloads(&self) -> OffloadReport;

    /// Removes the nftables table and routing rule `capture` describes, if they exist — left by a
    /// process that was killed before it could clean up. Idempotent; does not touch a capture of
    /// a running interface.
    fn remove_capture(
        &self,
        capture: &Capture,
    ) -> impl Future<Output = Result<(), DataPlaneError>> + Send;

    /// Asks the STUN server at `server`, from the tunnel's own UDP socket, where that socket's
    /// packets come from as the server sees them (its server-reflexive endpoint): behind a NAT,
    /// the public address and port peers elsewhere must aim at. Fails when the interface does not
    /// exist or no answer comes within `timeout`.
    fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<SocketAddr, DataPlaneError>> + Send;

    /// Where hole-punching datagrams from peers came from within the last [`HEARD_WINDOW`]: each
    /// is an address whose packets reach this node, i.e. a working endpoint of the peer behind it.
    fn heard_from(&self) -> impl Future<Output = Result<Vec<SocketAddr>, DataPlaneError>> + Send;

    /// Sends one hole-punching datagram (a STUN Binding Indication) from the tunnel's UDP socket
    /// to each target, so that this node's NAT lets the targets' packets in. Returns how many
    /// were sent; a target that cannot be reached from here is skipped.
    fn punch(
        &self,
        targets: &[SocketAddr],
    ) -> impl Future<Output = Result<usize, DataPlaneError>> + Send;

    /// Sends one liveness probe (an ICMPv6 echo request from the interface's address) through
    /// the tunnel to each target, a peer's KubeSpan address: the peer's device counts it as
    /// received data and the peer answers it, so both sides hear each other on an idle link
    /// (see `probe` and `adapters::kubespan::peer_status`). Never leaves outside the tunnel.
    /// Returns how many were sent; fails when the interface does not exist.
    fn probe(
        &self,
        targets: &[Ipv6Addr],
    ) -> impl Future<Output = Result<usize, DataPlaneError>> + Send;
}

/// Standard base64 of a key, for logs and resources (public keys only).
pub fn base64_key(key: &Key) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key)
}
