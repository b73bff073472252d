//! weftd's Prometheus metrics (`machine.metrics.listenAddress`, off by default): what `weftctl
//! health` and `get kubespanpeerstatuses` show, for a fleet's monitoring.
//!
//! - [`render`]: the whole text exposition from a [`Snapshot`] — pure, table-tested.
//! - [`os`]: the only part that reads the OS: the WireGuard interface's counters (sysfs) and the
//!   process's own figures (procfs).
//! - [`events`]: a tracing layer counting controller reconcile errors as the engine logs them, so
//!   the engine (being refactored elsewhere) needs no metrics hook.
//!
//! The resource store is read in one place, [`Metrics::snapshot`], through the generic store API
//! of today (`State::list` + `typed_spec`): the typed `ctx.get::<S>()` access replaces those lines.
//!
//! Series are bounded: peers past [`MAX_PEER_SERIES`] (public keys and labels come from peers)
//! get no series of their own and are counted in `weft_peers_unlisted`; discovery services and
//! controllers are ours (from the config and the code).

pub mod events;
pub mod os;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use weft_api::prometheus::escape_label;
use weft_api::resources::TypedSpec;
use weft_api::resources::kubespan::peer_status::{PeerState, PeerStatusSpec};

use crate::runtime::state::{Kind, State};
use crate::wg::{OffloadReport, Offloads};
use weft_api::resources::cluster::DiscoveryServiceStatusSpec;

/// Most peers given series of their own (each peer has 7 series; a 1024-node mesh is far past
/// what KubeSpan meshes run). Past it, peers are counted in `weft_peers_unlisted`.
pub const MAX_PEER_SERIES: usize = 1024;
/// Longest peer label kept in a series; longer labels are cut (labels are peer-chosen hostnames).
pub const MAX_LABEL_LEN: usize = 128;

/// What one scrape shows; gathered by [`Metrics::snapshot`], rendered by [`render`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Peer statuses by public key.
    pub peers: BTreeMap<String, PeerStatusSpec>,
    /// Endpoint changes Weft made, by peer public key, since weftd started.
    pub endpoint_changes: BTreeMap<String, u64>,
    pub discovery: Vec<DiscoveryServiceStatusSpec>,
    /// The WireGuard interface's counters; `None` while it does not exist.
    pub interface: Option<os::InterfaceCounters>,
    /// The offloads the data plane runs the interface with.
    pub offloads: Offloads,
    pub process: os::ProcessFigures,
    /// Reconcile errors by controller.
    pub reconcile_errors: BTreeMap<String, u64>,
    pub now: OffsetDateTime,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            peers: BTreeMap::new(),
            endpoint_changes: BTreeMap::new(),
            discovery: Vec::new(),
            interface: None,
            offloads: Offloads::default(),
            process: os::ProcessFigures::default(),
            reconcile_errors: BTreeMap::new(),
            now: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// Keeps a label value printable and bounded: control characters become `?`, long values are cut.
fn clean(value: &str) -> String {
    let kept: String = value
        .chars()
        .take(MAX_LABEL_LEN)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    escape_label(&kept)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The text exposition of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096 + s.peers.len().min(MAX_PEER_SERIES) * 700);
    let listed: Vec<(&String, &PeerStatusSpec)> = s.peers.iter().take(MAX_PEER_SERIES).collect();
    let labels: Vec<String> = listed
        .iter()
        .map(|(key, p)| {
            format!(
                "public_key=\"{}\",label=\"{}\"",
                clean(key),
                clean(&p.label)
            )
        })
        .collect();

    family(&mut out, "weft_peers", "gauge", "KubeSpan peers by state.");
    for state in [PeerState::Up, PeerState::Down, PeerState::Unknown] {
        let n = s.peers.values().filter(|p| p.state == state).count();
        let _ = writeln!(out, "weft_peers{{state=\"{state}\"}} {n}");
    }
    family(
        &mut out,
        "weft_peers_unlisted",
        "gauge",
        "Peers past the series cap, without series of their own.",
    );
    let _ = writeln!(
        out,
        "weft_peers_unlisted {}",
        s.peers.len().saturating_sub(MAX_PEER_SERIES)
    );

    family(
        &mut out,
        "weft_peer_state",
        "gauge",
        "A peer's state: 0 unknown, 1 up, 2 down (Talos's values).",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        let _ = writeln!(out, "weft_peer_state{{{l}}} {}", p.state as i32);
    }
    family(
        &mut out,
        "weft_peer_up",
        "gauge",
        "1 when the peer is up, else 0.",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        let _ = writeln!(
            out,
            "weft_peer_up{{{l}}} {}",
            u8::from(p.state == PeerState::Up)
        );
    }
    family(
        &mut out,
        "weft_peer_last_handshake_age_seconds",
        "gauge",
        "Seconds since the last WireGuard handshake with the peer (no series before the first).",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        if p.last_handshake_time.year() > 1 {
            let age = (s.now - p.last_handshake_time).as_seconds_f64().max(0.0);
            let _ = writeln!(out, "weft_peer_last_handshake_age_seconds{{{l}}} {age:.3}");
        }
    }
    family(
        &mut out,
        "weft_peer_receive_bytes_total",
        "counter",
        "Bytes received from the peer, as WireGuard counts them.",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        let _ = writeln!(
            out,
            "weft_peer_receive_bytes_total{{{l}}} {}",
            p.receive_bytes
        );
    }
    family(
        &mut out,
        "weft_peer_transmit_bytes_total",
        "counter",
        "Bytes sent to the peer, as WireGuard counts them.",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        let _ = writeln!(
            out,
            "weft_peer_transmit_bytes_total{{{l}}} {}",
            p.transmit_bytes
        );
    }
    family(
        &mut out,
        "weft_peer_endpoint_changes_total",
        "counter",
        "Endpoints Weft set for the peer since weftd started.",
    );
    for ((key, _), l) in listed.iter().zip(&labels) {
        let n = s.endpoint_changes.get(*key).copied().unwrap_or(0);
        let _ = writeln!(out, "weft_peer_endpoint_changes_total{{{l}}} {n}");
    }
    family(
        &mut out,
        "weft_peer_endpoint_info",
        "gauge",
        "The endpoint WireGuard reports for the peer (value 1; no series without one).",
    );
    for ((_, p), l) in listed.iter().zip(&labels) {
        if let Some(endpoint) = p.endpoint {
            let _ = writeln!(
                out,
                "weft_peer_endpoint_info{{{l},endpoint=\"{}\"}} 1",
                clean(&endpoint.to_string())
            );
        }
    }

    let services: Vec<(String, &DiscoveryServiceStatusSpec)> = s
        .discovery
        .iter()
        .map(|d| (clean(&d.endpoint), d))
        .collect();
    let per_service = |out: &mut String,
                       name: &str,
                       help: &str,
                       v: &dyn Fn(&DiscoveryServiceStatusSpec) -> u64| {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(out, name, kind, help);
        for (service, d) in &services {
            let _ = writeln!(out, "{name}{{service=\"{service}\"}} {}", v(d));
        }
    };
    per_service(
        &mut out,
        "weft_discovery_connected",
        "1 while a watch on the discovery service is open.",
        &|d| u64::from(d.connected),
    );
    per_service(
        &mut out,
        "weft_discovery_announced",
        "1 while the service holds this node's affiliate (as far as weftd knows).",
        &|d| u64::from(d.announced),
    );
    per_service(
        &mut out,
        "weft_discovery_affiliates",
        "Other nodes discovered through the service.",
        &|d| d.affiliates as u64,
    );
    per_service(
        &mut out,
        "weft_discovery_sessions_total",
        "Sessions with the service (a watch established) since weftd started.",
        &|d| d.sessions,
    );
    per_service(
        &mut out,
        "weft_discovery_updates_total",
        "Publishing calls the service accepted: this node's affiliate, external peers', endpoints.",
        &|d| d.updates,
    );
    per_service(
        &mut out,
        "weft_discovery_watch_messages_total",
        "Watch messages received from the service and applied (snapshots and pushes).",
        &|d| d.watch_messages,
    );

    family(
        &mut out,
        "weft_dataplane_interface_present",
        "gauge",
        "1 while the WireGuard interface exists.",
    );
    let _ = writeln!(
        out,
        "weft_dataplane_interface_present {}",
        u8::from(s.interface.is_some())
    );
    // Families are declared even without the interface (dashboards find them); samples only with it.
    let i = s.interface.unwrap_or_default();
    {
        for (name, help, v) in [
            (
                "weft_dataplane_receive_packets_total",
                "Packets received on the WireGuard interface (decrypted, into the host).",
                i.rx_packets,
            ),
            (
                "weft_dataplane_transmit_packets_total",
                "Packets sent on the WireGuard interface (to be encrypted).",
                i.tx_packets,
            ),
            (
                "weft_dataplane_receive_bytes_total",
                "Bytes received on the WireGuard interface.",
                i.rx_bytes,
            ),
            (
                "weft_dataplane_transmit_bytes_total",
                "Bytes sent on the WireGuard interface.",
                i.tx_bytes,
            ),
            (
                "weft_dataplane_receive_drops_total",
                "Packets dropped on receive by the WireGuard interface.",
                i.rx_dropped,
            ),
            (
                "weft_dataplane_transmit_drops_total",
                "Packets dropped on send by the WireGuard interface.",
                i.tx_dropped,
            ),
        ] {
            family(&mut out, name, "counter", help);
            if s.interface.is_some() {
                let _ = writeln!(out, "{name} {v}");
            }
        }
    }
    family(
        &mut out,
        "weft_dataplane_offload_enabled",
        "gauge",
        "1 for each offload the WireGuard interface runs with: tun_tso (TUN checksum + TSO), tun_uso, udp_gso.",
    );
    if s.interface.is_some() {
        for (offload, on) in [
            ("tun_tso", s.offloads.tun_tcp),
            ("tun_uso", s.offloads.tun_udp),
            ("udp_gso", s.offloads.udp_gso),
        ] {
            let _ = writeln!(
                out,
                "weft_dataplane_offload_enabled{{offload=\"{offload}\"}} {}",
                u8::from(on)
            );
        }
    }

    family(
        &mut out,
        "weft_controller_reconcile_errors_total",
        "counter",
        "Failed reconciles by controller (each retried with backoff).",
    );
    for (controller, n) in &s.reconcile_errors {
        let _ = writeln!(
            out,
            "weft_controller_reconcile_errors_total{{controller=\"{}\"}} {n}",
            clean(controller)
        );
    }

    let p = &s.process;
    family(
        &mut out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    let _ = writeln!(out, "process_resident_memory_bytes {}", p.resident_bytes);
    family(
        &mut out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
    );
    let _ = writeln!(out, "process_open_fds {}", p.open_fds);
    family(
        &mut out,
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
    );
    let _ = writeln!(out, "process_max_fds {}", p.max_fds);
    family(
        &mut out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    let _ = writeln!(out, "process_cpu_seconds_total {:.2}", p.cpu_seconds);
    family(
        &mut out,
        "process_threads",
        "gauge",
        "Number of OS threads.",
    );
    let _ = writeln!(out, "process_threads {}", p.threads);
    out
}

/// The metrics side of weftd: the store it reads and the endpoint changes it has counted.
#[derive(Debug, Clone)]
pub struct Metrics {
    state: State,
    interface: String,
    offloads: OffloadReport,
    /// Per peer: the last `lastEndpointChange` seen and how many changes were counted.
    changes: Arc<Mutex<BTreeMap<String, (OffsetDateTime, u64)>>>,
}

impl Metrics {
    /// Metrics over `state`, reading the WireGuard interface `interface` and the data plane's
    /// `offloads`.
    pub fn new(state: State, interface: &str, offloads: OffloadReport) -> Metrics {
        Metrics {
            state,
            interface: interface.to_owned(),
            offloads,
            changes: Arc::default(),
        }
    }

    /// Reads the store (the one place it is read), the OS figures and the error counters.
    pub fn snapshot(&self) -> Snapshot {
        let peers: BTreeMap<String, PeerStatusSpec> =
            list::<PeerStatusSpec>(&self.state).into_iter().collect();
        self.count_changes(&peers);
        let endpoint_changes = self
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, (_, n))| (k.clone(), *n))
            .collect();
        let mut discovery: Vec<DiscoveryServiceStatusSpec> =
            list::<DiscoveryServiceStatusSpec>(&self.state)
                .into_iter()
                .map(|(_, d)| d)
                .collect();
        discovery.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Snapshot {
            peers,
            endpoint_changes,
            discovery,
            interface: os::interface_counters(&self.interface),
            offloads: self.offloads.get(),
            process: os::process_figures(),
            reconcile_errors: events::reconcile_errors(),
            now: OffsetDateTime::from(SystemTime::now()),
        }
    }

    /// Counts endpoint changes: each new `lastEndpointChange` of a peer is one. Called on every
    /// peer status change (see [`Metrics::follow`]) and at each scrape.
    fn count_changes(&self, peers: &BTreeMap<String, PeerStatusSpec>) {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        changes.retain(|k, _| peers.contains_key(k));
        for (key, p) in peers {
            if p.last_endpoint_change.year() <= 1 {
                continue;
            }
            let entry = changes
                .entry(key.clone())
                .or_insert((p.last_endpoint_change, 1));
            if entry.0 != p.last_endpoint_change {
                *entry = (p.last_endpoint_change, entry.1 + 1);
            }
        }
    }

    /// Follows peer status changes until `shutdown`, so endpoint changes between scrapes count.
    pub async fn follow(self, shutdown: CancellationToken) {
        let kind = Kind::new(PeerStatusSpec::NAMESPACE, PeerStatusSpec::TYPE);
        let Ok(mut changed) = self.state.subscribe_changes(&[kind]) else {
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = changed.changed() => if r.is_err() { return },
            }
            let peers = list::<PeerStatusSpec>(&self.state).into_iter().collect();
            self.count_changes(&peers);
        }
    }
}

/// Every resource of type `S` in its namespace, by id; specs that do not decode are skipped.
fn list<S: TypedSpec>(state: &State) -> Vec<(String, S)> {
    state
        .list(S::NAMESPACE, S::TYPE)
        .into_iter()
        .filter_map(|r| Some((r.metadata.id.clone(), r.decode::<S>().ok()?)))
        .collect()
}

/// Serves `/metrics` on `addr` until `shutdown`; returns once bound, so a bad address stops weftd.
pub async fn start(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener = weft_api::prometheus::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (machine.metrics.listenAddress)"))?;
    let local = listener.local_addr().unwrap_or(addr);
    tokio::spawn(metrics.clone().follow(shutdown.clone()));
    tokio::spawn(weft_api::prometheus::serve(
        listener,
        move || render(&metrics.snapshot()),
        shutdown,
    ));
    Ok(local)
}

#[cfg(test)]
mod tests;
