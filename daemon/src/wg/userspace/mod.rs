//! The embedded userspace WireGuard backend: gotatun's device on a TUN interface.
//!
//! # What `apply` does
//! ```text
//! first apply      TUN `<name>` (MTU) ─► address <ULA>/64 nodad, MTU, up ─► UAPI socket
//!                  ─► gotatun device (key, port, fwmark) built and listening ─► peers ─► capture
//! every apply      key/port changes ─► MTU, address, up (idempotent) ─► peer diff ─► capture diff
//! ```
//! - The interface is configured before the device is built (the TUN must exist to be
//!   configured). The MTU gotatun pads to comes from a watch `tun::open` returns, which every
//!   apply sets from the config (`device::reconfigure`).
//! - The device listens as soon as it exists, even with no peers: gotatun 0.10.2 binds its UDP
//!   socket only when built with peers or reconfigured, and a peer's handshake sent to a node that
//!   does not listen yet is retried only after the 5 s rekey timeout.
//! - Peers are diffed against what the device has (`peers::plan_peers`, §5.1 semantics): missing ones
//!   added, changed ones modified in place (gotatun's `modify_peer` keeps the session, so a new
//!   allowed IP or keepalive does not interrupt traffic), extra ones removed. A desired peer with no
//!   endpoint does not differ from a device peer with any endpoint: the device keeps the endpoint
//!   it roamed to.
//! - The traffic capture (`DeviceConfig::capture`) is handed to `crate::capture` with this
//!   interface: it diffs what is applied against what the manager wants and applies the rest.
//!   Without a capture, only the peers' addresses inside the node's own ULA /64 are reachable (the
//!   connected route of the address).
//! - The standard UAPI socket is served (`uapi`) so `wg show <name>` works.
//!
//! Modules: `thread` (the bridge to the data-plane thread), `device` (create, reconfigure,
//! teardown), `peers` (the pure peer plan), `uapi` (the UAPI socket), `stun` (STUN and punches on
//! the shared socket).
//!
//! Links, addresses and routes go through netlink (the `link` module, crate `rtnetlink`).
//!
//! # Threads and namespaces
//! The device, its sockets, the netlink connection and a change poller all run on the data
//! plane's own tokio runtime, driven by a dedicated thread created by [`UserspaceDataPlane::new`]
//! (`thread`); the trait's methods hand work to it and await the result from any runtime. Its
//! workers (one on machines of up to two cores, else two; `WEFT_DATAPLANE_THREADS` to change:
//! see `thread::worker_threads`)
//! are the data plane's alone, so the daemon's own runtime never competes with packet
//! processing. A side effect tests rely on: the runtime's threads are started from the thread
//! that called `new` and inherit its network namespace, and TUN, UDP and netlink sockets are all
//! created on them — so a backend made on a thread that entered a namespace lives entirely in
//! that namespace.
//!
//! # Peer state
//! [`DataPlane::peers`] reads gotatun's peer statistics. gotatun reports the handshake as "time
//! since", so the absolute time is derived and kept stable (`stable_handshake`); it also
//! forgets the handshake when the session expires, where a kernel device keeps the last time —
//! we keep it too, so statuses read the same on both. A poller compares every
//! [`CHANGE_POLL_INTERVAL`], and right after each handshake message the socket receives (so a new
//! peer is `up` as soon as its handshake completes, not at the next tick), and raises
//! [`DataPlane::changes`] when any peer's handshake, endpoint or counters moved.
//!
//! # Offloads
//! The TUN is opened with TSO/USO and checksum offload, read in super-packets that are split here
//! and written with GRO coalescing (`tun`); the UDP socket sends with GSO and receives with GRO
//! (`shared_socket`). Each is probed when the device is created; what the kernel refuses is
//! logged once and turned off. `UserspaceOptions::offload` (the environment variable
//! `WEFT_DATAPLANE_OFFLOAD=off`) turns them all off.

mod device;
mod peers;
mod stun;
mod thread;
mod tun;
mod uapi;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gotatun::device::Device;
use tokio::sync::{Mutex, watch};

pub use self::device::{UDP_RECV_BUFFER, UDP_SEND_BUFFER};
use self::peers::{canonical, stable_handshake};
use self::thread::{Bridge, DROP_TEARDOWN_TIMEOUT};
pub use self::thread::{THREADS_ENV, worker_threads};
pub use self::tun::{OFFLOAD_ENV, TX_QUEUE_LEN};
pub use self::uapi::UAPI_DIR;
use self::uapi::Uapi;
use super::link::Netlink;
use super::probe::Prober;
use super::shared_socket::{Answer, SharedUdpFactory, SocketSlot};
use super::{Capture, DataPlane, DataPlaneError, DeviceConfig, Key, PeerState};
use crate::capture::{self, Applied};

/// How often the poller compares peer states to raise [`DataPlane::changes`]: fast enough that a
/// status follows a handshake within a fraction of a second, cheap (one read lock per tick).
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// After a handshake message arrived, how long the poller waits before it reads the peers: gotatun
/// processes the message on this thread right after, in well under this.
const HANDSHAKE_SETTLE: Duration = Duration::from_millis(5);

/// The device with Weft's transports: the shared UDP socket (see `shared_socket`) and the TUN
/// halves with offloads (see `tun`).
type Transports = (SharedUdpFactory, tun::TunSend, tun::TunRecv);

/// Choices that are not part of [`DeviceConfig`]: how this backend fits the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserspaceOptions {
    /// Directory for the UAPI socket; `None` serves none. Default: [`UAPI_DIR`], where `wg` looks.
    pub uapi_dir: Option<PathBuf>,
    /// See [`CHANGE_POLL_INTERVAL`] (the default).
    pub poll_interval: Duration,
    /// TUN offloads (TSO/USO, checksum, GRO on write) and UDP GSO, each used where the kernel
    /// accepts it. Default: on, unless the environment variable `WEFT_DATAPLANE_OFFLOAD` is `off`.
    pub offload: bool,
}

impl Default for UserspaceOptions {
    fn default() -> Self {
        UserspaceOptions {
            uapi_dir: Some(PathBuf::from(UAPI_DIR)),
            poll_interval: CHANGE_POLL_INTERVAL,
            offload: tun::offload_wanted(),
        }
    }
}

/// The userspace backend. See the module doc.
///
/// Dropping it tears the interface down (as [`DataPlane::remove`] does) and waits for that, at
/// most a few seconds; call `remove` first to see errors.
pub struct UserspaceDataPlane {
    shared: Arc<Shared>,
    /// Dropping it stops the thread, after the teardown.
    thread: Bridge,
}

impl fmt::Debug for UserspaceDataPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserspaceDataPlane")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// What the caller side and the data-plane thread share.
struct Shared {
    options: UserspaceOptions,
    /// One lock for the whole device: applies, reads and teardown never interleave.
    state: Mutex<State>,
    changes: watch::Sender<()>,
    /// The tunnel's UDP socket, for STUN probes and punches.
    slot: Arc<SocketSlot>,
    /// STUN answers from the socket; one prober at a time.
    answers: Mutex<tokio::sync::mpsc::Receiver<Answer>>,
    /// The running interface's offloads, for metrics.
    offloads: super::OffloadReport,
}

#[derive(Default)]
struct State {
    /// Opened on first use, on the data-plane thread (so in its namespace).
    netlink: Option<Netlink>,
    running: Option<Running>,
    /// The handshake time last reported per peer, see [`stable_handshake`].
    handshakes: HashMap<Key, SystemTime>,
}

/// A live interface and what `apply` set up on it.
struct Running {
    name: String,
    index: u32,
    device: Device<Transports>,
    /// The capture on the host, as far as we know.
    capture: Applied,
    /// The mark on the tunnel's UDP socket.
    fwmark: Option<u32>,
    /// Of the configured private key: compared instead of keeping a copy of the secret.
    public_key: Key,
    listen_port: u16,
    uapi: Option<Uapi>,
    /// The interface's address (of the last apply): where liveness probes come from.
    address: std::net::Ipv6Addr,
    /// The liveness-probe socket, opened on the first probe (see `probe`).
    prober: Option<Prober>,
    /// The MTU gotatun pads to; follows the link's.
    mtu: watch::Sender<u16>,
    /// What the kernel accepted when the interface was created.
    offloads: super::Offloads,
}

impl UserspaceDataPlane {
    /// Starts the data-plane thread (no interface yet: the first `apply` creates it). The thread,
    /// and so everything the backend creates, lives in the calling thread's network namespace.
    pub fn new(options: UserspaceOptions) -> Result<UserspaceDataPlane, DataPlaneError> {
        let (slot, answers) = SocketSlot::new();
        let shared = Arc::new(Shared {
            options,
            state: Mutex::default(),
            changes: watch::Sender::new(()),
            slot,
            answers: Mutex::new(answers),
            offloads: super::OffloadReport::default(),
        });
        let on_thread = Arc::clone(&shared);
        let thread = Bridge::start(move |stopped| async move {
            let poller = tokio::spawn(poll_changes(Arc::clone(&on_thread)));
            // A dropped sender means the same as a stop.
            let _ = stopped.await;
            poller.abort();
            match tokio::time::timeout(DROP_TEARDOWN_TIMEOUT, on_thread.remove()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "tearing down the interface"),
                Err(_) => tracing::warn!("tearing down the interface timed out"),
            }
        })?;
        Ok(UserspaceDataPlane { shared, thread })
    }
}

impl DataPlane for UserspaceDataPlane {
    async fn apply(&self, config: &DeviceConfig) -> Result<(), DataPlaneError> {
        device::validate(config)?;
        let shared = Arc::clone(&self.shared);
        let config = config.clone();
        let what = format!("configuring {}", config.name);
        self.thread
            .run(&what, async move { shared.apply(&config).await })
            .await
    }

    async fn peers(&self) -> Result<Vec<PeerState>, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.thread
            .run(
                "reading peers",
                async move { Ok(shared.read_peers().await) },
            )
            .await
    }

    fn changes(&self) -> watch::Receiver<()> {
        self.shared.changes.subscribe()
    }

    fn offloads(&self) -> super::OffloadReport {
        self.shared.offloads.clone()
    }

    async fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.thread
            .run("asking a STUN server", async move {
                shared.reflexive_endpoint(server, timeout).await
            })
            .await
    }

    async fn remove_capture(&self, capture: &Capture) -> Result<(), DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        let capture = capture.clone();
        self.thread
            .run("removing a leftover traffic capture", async move {
                shared.remove_leftover_capture(&capture).await
            })
            .await
    }

    async fn heard_from(&self) -> Result<Vec<SocketAddr>, DataPlaneError> {
        Ok(self.shared.slot.heard(super::HEARD_WINDOW))
    }

    async fn punch(&self, targets: &[SocketAddr]) -> Result<usize, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        let targets = targets.to_vec();
        self.thread
            .run("punching through NAT", async move {
                shared.punch(&targets).await
            })
            .await
    }

    async fn probe(&self, targets: &[std::net::Ipv6Addr]) -> Result<usize, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        let targets = targets.to_vec();
        self.thread
            .run("sending liveness probes", async move {
                shared.probe(&targets).await
            })
            .await
    }

    async fn remove(&self) -> Result<(), DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.thread
            .run(
                "removing the interface",
                async move { shared.remove().await },
            )
            .await
    }
}

impl Shared {
    async fn apply(&self, config: &DeviceConfig) -> Result<(), DataPlaneError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        if state.netlink.is_none() {
            state.netlink = Some(Netlink::connect()?);
        }
        let Some(netlink) = state.netlink.as_ref() else {
            return Err(DataPlaneError::failed("netlink", "no connection"));
        };

        // Start over when the name changed, or when the link vanished under us (deleted by
        // someone else: gotatun's device is then dead).
        if let Some(running) = &state.running {
            let present = netlink.link_index(&running.name).await? == Some(running.index);
            if running.name != config.name || !present {
                if !present {
                    tracing::warn!(interface = %running.name, "the interface disappeared; recreating it");
                }
                if let Some(old) = state.running.take() {
                    state.handshakes.clear();
                    self.slot.clear();
                    self.offloads.set(super::Offloads::default());
                    device::teardown(netlink, old).await?;
                }
            }
        }
        if state.running.is_none() {
            let running = device::create(netlink, &self.options, &self.slot, config).await?;
            self.offloads.set(running.offloads);
            state.running = Some(running);
        }
        let Some(running) = state.running.as_mut() else {
            return Err(DataPlaneError::failed(
                format!("configuring {}", config.name),
                "no device",
            ));
        };
        device::reconfigure(netlink, running, config, &mut state.handshakes).await
    }

    async fn read_peers(&self) -> Vec<PeerState> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let Some(running) = &state.running else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut peers: Vec<PeerState> = running
            .device
            .peers()
            .await
            .into_iter()
            .map(|p| {
                let public_key = p.peer.public_key.to_bytes();
                let last_handshake = stable_handshake(
                    state.handshakes.get(&public_key).copied(),
                    now,
                    p.stats.last_handshake,
                );
                if let Some(t) = last_handshake {
                    state.handshakes.insert(public_key, t);
                }
                PeerState {
                    public_key,
                    endpoint: p.peer.endpoint.map(canonical),
                    last_handshake,
                    rx_bytes: p.stats.rx_bytes as u64,
                    tx_bytes: p.stats.tx_bytes as u64,
                }
            })
            .collect();
        peers.sort_by_key(|p| p.public_key);
        // Forget handshakes of peers the device no longer has (removed, e.g. over UAPI).
        state
            .handshakes
            .retain(|k, _| peers.binary_search_by_key(k, |p| p.public_key).is_ok());
        peers
    }

    async fn remove(&self) -> Result<(), DataPlaneError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let Some(running) = state.running.take() else {
            return Ok(());
        };
        state.handshakes.clear();
        self.offloads.set(super::Offloads::default());
        if state.netlink.is_none() {
            state.netlink = Some(Netlink::connect()?);
        }
        let Some(netlink) = state.netlink.as_ref() else {
            return Err(DataPlaneError::failed("netlink", "no connection"));
        };
        self.slot.clear();
        device::teardown(netlink, running).await
    }

    async fn remove_leftover_capture(&self, capture: &Capture) -> Result<(), DataPlaneError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        if state.running.is_some() {
            return Ok(());
        }
        if state.netlink.is_none() {
            state.netlink = Some(Netlink::connect()?);
        }
        let Some(netlink) = state.netlink.as_ref() else {
            return Err(DataPlaneError::failed("netlink", "no connection"));
        };
        capture::remove_leftover(netlink, capture).await
    }

    /// Probes from the running interface's address, opening (or, after the interface or its
    /// address changed, reopening) the probe socket on this thread, so in its namespace.
    async fn probe(&self, targets: &[std::net::Ipv6Addr]) -> Result<usize, DataPlaneError> {
        let mut guard = self.state.lock().await;
        let Some(running) = guard.running.as_mut() else {
            return Err(DataPlaneError::refused(
                "sending liveness probes",
                "the interface does not exist",
            ));
        };
        if !running
            .prober
            .as_ref()
            .is_some_and(|p| p.fits(&running.name, running.address))
        {
            running.prober = None;
            let prober = Prober::open(&running.name, running.address).map_err(|e| {
                DataPlaneError::io(
                    format!("opening the liveness-probe socket on {}", running.name),
                    e,
                )
            })?;
            running.prober = Some(prober);
        }
        Ok(running.prober.as_mut().map_or(0, |p| p.send(targets)))
    }
}

/// Raises `changes` whenever the peers' states differ from the previous tick.
async fn poll_changes(shared: Arc<Shared>) {
    // tokio's interval panics on zero; anything below a few ms would only burn CPU anyway.
    let period = shared.options.poll_interval.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Vec<PeerState> = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shared.slot.handshake_seen() => {
                // The message is handled by gotatun right after the receive path hands it over
                // (on this thread): look once it has been.
                tokio::time::sleep(HANDSHAKE_SETTLE).await;
            }
        }
        let now = shared.read_peers().await;
        if now != last {
            last = now;
            shared.changes.send_replace(());
        }
    }
}
