//! The embedded userspace WireGuard backend: gotatun's device on a TUN interface.
//!
//! # What `apply` does
//! ```text
//! first apply      TUN `<name>` (MTU) ─► address <ULA>/64 nodad, MTU, up ─► UAPI socket
//!                  ─► gotatun device (key, port, fwmark) built and listening ─► peers ─► routes
//! every apply      key/port changes ─► MTU, address, up (idempotent) ─► peer diff ─► route diff
//! ```
//! - The interface is configured before the device is built (the TUN must exist to be configured,
//!   and gotatun reads its MTU once, then polls it every 3 s).
//! - The device listens as soon as it exists, even with no peers: gotatun 0.10.2 binds its UDP
//!   socket only when built with peers or reconfigured, and a peer's handshake sent to a node that
//!   does not listen yet is retried only after the 5 s rekey timeout.
//! - Peers are diffed against what the device has (`plan_peers`, §5.1 semantics): missing ones
//!   added, changed ones modified in place (gotatun's `modify_peer` keeps the session, so a new
//!   allowed IP or keepalive does not interrupt traffic), extra ones removed. A desired peer with no
//!   endpoint does not differ from a device peer with any endpoint: the device keeps the endpoint
//!   it roamed to.
//! - Every peer's allowed IPs are routed through the interface (`replace`), except prefixes inside
//!   the node's own ULA /64, which the connected route of the address already covers
//!   (`plan_routes`); the routes of prefixes no longer wanted are deleted. They go to the main
//!   table, or with [`Routing::Policy`] to a table of their own behind an fwmark rule, which is
//!   what keeps a peer's endpoint inside its allowed IPs from looping (see [`Routing`]).
//! - The standard UAPI socket (`/var/run/wireguard/<name>.sock`, 0600) is served so `wg show
//!   <name>` works. We bind it ourselves rather than through gotatun's `default_unix_socket`,
//!   whose accept loop can never be stopped: `remove` must close and unlink it.
//!
//! Links, addresses and routes go through netlink (the `link` module, crate `rtnetlink`).
//!
//! # Threads and namespaces
//! The device, its sockets, the netlink connection and a change poller all run on one dedicated
//! thread with a current-thread tokio runtime, created by [`UserspaceDataPlane::new`]; the trait's
//! methods hand work to it and await the result from any runtime. One thread because it was the
//! fastest data path on these 2-core machines (gotatun at one worker moved ~1.1 Gbit/s, more
//! threads only contended), and because the daemon's own runtime then never competes with packet
//! processing. A side effect tests rely on: the thread inherits the network namespace of the thread
//! that called `new`, and TUN, UDP and netlink sockets are all created on it — so a backend made
//! on a thread that entered a namespace lives entirely in that namespace.
//!
//! # Peer state
//! [`DataPlane::peers`] reads gotatun's peer statistics. gotatun reports the handshake as "time
//! since", so the absolute time is derived and kept stable (`stable_handshake`); it also
//! forgets the handshake when the session expires, where a kernel device keeps the last time —
//! we keep it too, so statuses read the same on both. A poller compares every
//! [`CHANGE_POLL_INTERVAL`] and raises [`DataPlane::changes`] when any peer's handshake, endpoint
//! or counters moved.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gotatun::device::uapi::{UapiClient, UapiServer};
use gotatun::device::{Device, DeviceBuilder, Peer};
use gotatun::tun::tun_async_device::TunDevice;
use gotatun::udp::socket::UdpSocketFactory;
use gotatun::x25519::{PublicKey, StaticSecret};
use ipnet::{IpNet, Ipv6Net};
use ipnetwork::IpNetwork;
use tokio::sync::{Mutex, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weft_api::stun;

use super::link::{MAIN_TABLE, Netlink, Rule};
use super::probe::Prober;
use super::shared_socket::{Answer, SharedUdpFactory, SocketSlot, send_from};
use super::{
    Capture, DataPlane, DataPlaneError, DeviceConfig, Key, PeerConfig, PeerState, base64_key, nft,
};

/// How often the poller compares peer states to raise [`DataPlane::changes`]: fast enough that a
/// status follows a handshake within a fraction of a second, cheap (one read lock per tick).
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Where `wg` looks for userspace devices' sockets (compiled into wireguard-tools).
pub const UAPI_DIR: &str = "/var/run/wireguard";

/// A UAPI client that connects and then sends nothing is dropped after this long, so a stuck
/// client cannot keep a thread forever.
const UAPI_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// After the device is stopped, how long the kernel gets to delete the TUN link (it does when the
/// last file descriptor closes) before we delete it ourselves.
const LINK_GONE_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bound for the teardown that dropping the backend runs (and waits for).
const DROP_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A derived handshake time that moved by less than this is the same handshake (see
/// [`stable_handshake`]). A new handshake with the same peer cannot come sooner than the 5 s
/// rekey timeout, so 1 s never hides one.
const HANDSHAKE_JITTER: Duration = Duration::from_secs(1);

/// The smallest MTU accepted: IPv6's minimum, since the interface carries the IPv6 ULA (Talos
/// rejects KubeSpan MTUs below it too).
const MIN_MTU: u32 = 1280;

/// `SO_RCVBUF` of the tunnel's UDP socket. Linux's default (208 KiB) overflows at about a
/// gigabit (measured: tens of thousands of drops per 10 s iperf3 run, TCP retransmits over the
/// tunnel); 4 MiB absorbed every burst measured here. The kernel caps it at `rmem_max` for
/// unprivileged processes.
pub const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// The device with Weft's transports: the shared UDP socket (see `shared_socket`) and a TUN.
type Transports = (SharedUdpFactory, TunDevice, TunDevice);

/// Longest interface name Linux accepts (IFNAMSIZ − 1).
const MAX_NAME_LEN: usize = 15;

/// Choices that are not part of [`DeviceConfig`]: how this backend fits the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserspaceOptions {
    /// Where the allowed-IP routes go. Default: [`Routing::Main`].
    pub routing: Routing,
    /// Directory for the UAPI socket; `None` serves none. Default: [`UAPI_DIR`], where `wg` looks.
    pub uapi_dir: Option<PathBuf>,
    /// See [`CHANGE_POLL_INTERVAL`] (the default).
    pub poll_interval: Duration,
}

impl Default for UserspaceOptions {
    fn default() -> Self {
        UserspaceOptions {
            routing: Routing::Main,
            uapi_dir: Some(PathBuf::from(UAPI_DIR)),
            poll_interval: CHANGE_POLL_INTERVAL,
        }
    }
}

/// Where the peers' allowed IPs are routed through the interface.
///
/// The catch either way: a peer's endpoint inside its allowed IPs (KubeSpan advertises node
/// addresses, which are also the endpoints). A plain route would send the tunnel's own encrypted
/// packets into the tunnel — a loop that kills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Routes in the main table. A prefix that contains a peer's endpoint (configured, or the
    /// one the device reports at apply time) is not routed, with a warning: its traffic takes the
    /// underlay unencrypted rather than looping. Use [`Routing::Policy`] to encrypt it too.
    Main,
    /// wg-quick's scheme: routes in their own table, the tunnel's UDP socket marked, and a rule
    /// `not fwmark <mark>/<mask> lookup <table>` (IPv4 and IPv6) so that everything except the
    /// tunnel's own packets consults the table. Every allowed IP is routed, endpoints included.
    Policy(PolicyRouting),
}

/// The parameters of [`Routing::Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRouting {
    pub table: u32,
    /// Priority of the rules; below the main table's 32766 so they are consulted first.
    pub priority: u32,
    /// `SO_MARK` on the tunnel's UDP packets.
    pub fwmark: u32,
    /// Bits of the mark the rules compare.
    pub mask: u32,
}

impl PolicyRouting {
    /// Talos's values: table 180, priority 32500, mark 0x20 under mask 0x60 — compatible with
    /// Talos's nftables rules, which leave `mark & 0x60 == 0x20` alone and mark traffic for the
    /// tunnel `0x40`.
    pub const KUBESPAN: PolicyRouting = PolicyRouting {
        table: 180,
        priority: 32500,
        fwmark: 0x20,
        mask: 0x60,
    };

    fn rule(&self) -> Rule {
        Rule {
            table: self.table,
            priority: self.priority,
            fwmark: self.fwmark,
            mask: self.mask,
            invert: true,
            suppress_prefix_length: None,
        }
    }
}

impl Routing {
    fn table(&self) -> u32 {
        match self {
            Routing::Main => MAIN_TABLE,
            Routing::Policy(p) => p.table,
        }
    }
}

/// The userspace backend. See the module doc.
///
/// Dropping it tears the interface down (as [`DataPlane::remove`] does) and waits for that, at
/// most a few seconds; call `remove` first to see errors.
pub struct UserspaceDataPlane {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
    /// The capture applied (with the MTU it was rendered for); `None` when off.
    capture: Option<(Capture, u32)>,
    /// The mark on the tunnel's UDP socket.
    fwmark: Option<u32>,
    /// Of the configured private key: compared instead of keeping a copy of the secret.
    public_key: Key,
    listen_port: u16,
    /// Routes installed through the interface.
    routes: BTreeSet<IpNet>,
    uapi: Option<Uapi>,
    /// The interface's address (of the last apply): where liveness probes come from.
    address: std::net::Ipv6Addr,
    /// The liveness-probe socket, opened on the first probe (see `probe`).
    prober: Option<Prober>,
}

/// The UAPI socket we serve.
struct Uapi {
    path: PathBuf,
    accept: JoinHandle<()>,
}

impl Uapi {
    /// Stops accepting and unlinks the socket. Connections already open finish on their own.
    fn close(self) {
        self.accept.abort();
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the UAPI socket")
            }
        }
    }
}

fn failure(what: impl Into<String>, reason: impl fmt::Display) -> DataPlaneError {
    DataPlaneError {
        what: what.into(),
        reason: reason.to_string(),
    }
}

impl UserspaceDataPlane {
    /// Starts the data-plane thread (no interface yet: the first `apply` creates it). The thread,
    /// and so everything the backend creates, lives in the calling thread's network namespace.
    pub fn new(options: UserspaceOptions) -> Result<UserspaceDataPlane, DataPlaneError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failure("starting the data-plane runtime", e))?;
        let handle = runtime.handle().clone();
        let (slot, answers) = SocketSlot::new();
        let shared = Arc::new(Shared {
            options,
            state: Mutex::default(),
            changes: watch::Sender::new(()),
            slot,
            answers: Mutex::new(answers),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("weft-wg".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let poller = tokio::spawn(poll_changes(Arc::clone(&thread_shared)));
                    // A dropped sender means the same as a stop.
                    let _ = stopped.await;
                    poller.abort();
                    match tokio::time::timeout(DROP_TEARDOWN_TIMEOUT, thread_shared.remove()).await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "tearing down the interface"),
                        Err(_) => tracing::warn!("tearing down the interface timed out"),
                    }
                });
                // The runtime is dropped here, on its own thread, outside any async context.
            })
            .map_err(|e| failure("starting the data-plane thread", e))?;
        Ok(UserspaceDataPlane {
            shared,
            runtime: handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `work` on the data-plane thread and returns its result.
    async fn on_thread<T: Send + 'static>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, DataPlaneError>> + Send + 'static,
    ) -> Result<T, DataPlaneError> {
        match self.runtime.spawn(work).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(failure(what, "the data-plane thread panicked")),
            Err(_) => Err(failure(what, "the data-plane thread has stopped")),
        }
    }
}

impl Drop for UserspaceDataPlane {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Wait (bounded) for the teardown so the interface and socket are gone when drop returns;
        // the thread needs nothing from the caller's runtime, so blocking here cannot deadlock.
        if let Some(thread) = self.thread.take() {
            let deadline =
                std::time::Instant::now() + DROP_TEARDOWN_TIMEOUT + Duration::from_secs(1);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

impl DataPlane for UserspaceDataPlane {
    async fn apply(&self, config: &DeviceConfig) -> Result<(), DataPlaneError> {
        validate(config)?;
        let shared = Arc::clone(&self.shared);
        let config = config.clone();
        let what = format!("configuring {}", config.name);
        self.on_thread(&what, async move { shared.apply(&config).await })
            .await
    }

    async fn peers(&self) -> Result<Vec<PeerState>, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.on_thread(
            "reading peers",
            async move { Ok(shared.read_peers().await) },
        )
        .await
    }

    fn changes(&self) -> watch::Receiver<()> {
        self.shared.changes.subscribe()
    }

    async fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.on_thread("asking a STUN server", async move {
            shared.reflexive_endpoint(server, timeout).await
        })
        .await
    }

    async fn remove_capture(&self, capture: &Capture) -> Result<(), DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        let capture = capture.clone();
        self.on_thread("removing a leftover traffic capture", async move {
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
        self.on_thread("punching through NAT", async move {
            shared.punch(&targets).await
        })
        .await
    }

    async fn probe(&self, targets: &[std::net::Ipv6Addr]) -> Result<usize, DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        let targets = targets.to_vec();
        self.on_thread("sending liveness probes", async move {
            shared.probe(&targets).await
        })
        .await
    }

    async fn remove(&self) -> Result<(), DataPlaneError> {
        let shared = Arc::clone(&self.shared);
        self.on_thread(
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
            return Err(failure("netlink", "no connection"));
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
                    teardown(netlink, old, &self.options.routing).await?;
                }
            }
        }
        if state.running.is_none() {
            state.running = Some(create(netlink, &self.options, &self.slot, config).await?);
        }
        let Some(running) = state.running.as_mut() else {
            return Err(failure(format!("configuring {}", config.name), "no device"));
        };
        reconfigure(
            netlink,
            &self.options,
            running,
            config,
            &mut state.handshakes,
        )
        .await
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
        if state.netlink.is_none() {
            state.netlink = Some(Netlink::connect()?);
        }
        let Some(netlink) = state.netlink.as_ref() else {
            return Err(failure("netlink", "no connection"));
        };
        self.slot.clear();
        teardown(netlink, running, &self.options.routing).await
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
            return Err(failure("netlink", "no connection"));
        };
        // The routes in its table went with the link; the rule and the nftables table did not.
        let mut first_error = nft::remove(&capture.nftables_table).await.err();
        for rule in [capture_rule(capture), fallback_rule(capture)] {
            if let Err(e) = netlink.delete_rule(&rule).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, DataPlaneError> {
        let what = format!("asking the STUN server {server} for this node's public endpoint");
        let socket = self
            .slot
            .socket()
            .ok_or_else(|| failure(&what, "the WireGuard socket is not open yet"))?;
        let mut answers = self.answers.lock().await;
        // Answers to earlier probes that timed out are of no use now.
        while answers.try_recv().is_ok() {}
        let txid: stun::TransactionId = rand::random();
        send_from(&socket, &stun::binding_request(txid), server)
            .await
            .map_err(|e| failure(&what, e))?;
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, answers.recv()).await {
                Ok(Some((id, mapped, _from))) if id == txid => return Ok(mapped),
                Ok(Some(_)) => continue,
                Ok(None) => return Err(failure(&what, "the socket is gone")),
                Err(_) => return Err(failure(&what, format!("no answer within {timeout:?}"))),
            }
        }
    }

    /// Probes from the running interface's address, opening (or, after the interface or its
    /// address changed, reopening) the probe socket on this thread, so in its namespace.
    async fn probe(&self, targets: &[std::net::Ipv6Addr]) -> Result<usize, DataPlaneError> {
        let mut guard = self.state.lock().await;
        let Some(running) = guard.running.as_mut() else {
            return Err(failure(
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
                failure(
                    format!("opening the liveness-probe socket on {}", running.name),
                    e,
                )
            })?;
            running.prober = Some(prober);
        }
        Ok(running.prober.as_mut().map_or(0, |p| p.send(targets)))
    }

    async fn punch(&self, targets: &[SocketAddr]) -> Result<usize, DataPlaneError> {
        let socket = self.slot.socket().ok_or_else(|| {
            failure(
                "punching through NAT",
                "the WireGuard socket is not open yet",
            )
        })?;
        let mut sent = 0;
        for target in targets {
            let txid: stun::TransactionId = rand::random();
            match send_from(&socket, &stun::binding_indication(txid), *target).await {
                Ok(()) => sent += 1,
                // Unreachable from here (another site's private address): expected, not news.
                Err(e) => tracing::trace!(%target, error = %e, "punch not sent"),
            }
        }
        Ok(sent)
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
        ticker.tick().await;
        let now = shared.read_peers().await;
        if now != last {
            last = now;
            shared.changes.send_replace(());
        }
    }
}

/// Rejects what cannot become a device, before anything is touched.
fn validate(config: &DeviceConfig) -> Result<(), DataPlaneError> {
    let what = || format!("configuring {:?}", config.name);
    let name = &config.name;
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(failure(
            what(),
            format!("not a valid interface name (1–{MAX_NAME_LEN} bytes, no '/' or spaces)"),
        ));
    }
    if config.mtu < MIN_MTU || config.mtu > u32::from(u16::MAX) {
        return Err(failure(
            what(),
            format!("MTU {} is outside {MIN_MTU}–{}", config.mtu, u16::MAX),
        ));
    }
    let mut seen = BTreeSet::new();
    for peer in &config.peers {
        if !seen.insert(peer.public_key) {
            return Err(failure(
                what(),
                format!("peer {} is listed twice", base64_key(&peer.public_key)),
            ));
        }
    }
    Ok(())
}

/// Creates the interface and the device, listening, with no peers yet.
async fn create(
    netlink: &Netlink,
    options: &UserspaceOptions,
    slot: &Arc<SocketSlot>,
    config: &DeviceConfig,
) -> Result<Running, DataPlaneError> {
    let name = config.name.as_str();
    let what = |step: &str| format!("creating {name}: {step}");
    if netlink.link_index(name).await?.is_some() {
        return Err(failure(
            what("TUN device"),
            "a link with this name already exists (not one of ours)",
        ));
    }
    // Check the socket before creating anything: a live one means another device of that name.
    let uapi_path = match &options.uapi_dir {
        Some(dir) => Some(prepare_uapi_path(dir, name)?),
        None => None,
    };

    let mut tun_config = gotatun::tun::tun::Configuration::default();
    // validate() bounded the MTU to u16.
    let mtu = u16::try_from(config.mtu).map_err(|_| failure(what("MTU"), "too large"))?;
    tun_config.tun_name(name).mtu(mtu);
    let tun = gotatun::tun::tun::create_as_async(&tun_config)
        .map_err(|e| failure(what("TUN device"), e))?;
    // From here on, dropping `tun` (on any error) closes it and the kernel deletes the link.
    let tun = TunDevice::from_tun_device(tun).map_err(|e| failure(what("TUN device"), e))?;
    let index = netlink
        .link_index(name)
        .await?
        .ok_or_else(|| failure(what("TUN device"), "created but not found over netlink"))?;
    netlink.set_address(name, index, config.address).await?;
    netlink.set_mtu_up(name, index, config.mtu).await?;

    let secret = StaticSecret::from(config.private_key);
    let public_key = PublicKey::from(&secret).to_bytes();
    let udp = UdpSocketFactory {
        recv_buffer_size: Some(UDP_RECV_BUFFER),
        send_buffer_size: None,
    };
    let builder = DeviceBuilder::new()
        .with_udp(SharedUdpFactory::new(udp, Arc::clone(slot)))
        .with_ip(tun)
        .with_private_key(secret)
        .with_listen_port(config.listen_port);
    let fwmark = socket_mark(options, config);
    let builder = match fwmark {
        Some(mark) => builder.with_fwmark(mark),
        None => builder,
    };
    let (builder, uapi) = match uapi_path {
        Some(path) => {
            let (client, server) = UapiServer::new();
            let listener = bind_uapi(&path)?;
            let accept = tokio::spawn(serve_uapi(listener, client));
            (builder.with_uapi(server), Some(Uapi { path, accept }))
        }
        None => (builder, None),
    };
    // gotatun binds nothing when built without peers, so this cannot fail on the port.
    let device = match builder.build().await {
        Ok(device) => device,
        Err(e) => {
            if let Some(uapi) = uapi {
                uapi.close();
            }
            return Err(failure(what("WireGuard device"), e));
        }
    };
    // Listen now, peers or not (see the module doc). `clear_peers` on an empty device is the only
    // public call that makes gotatun (re)bind its socket without changing the config.
    let listening = device
        .write(async |d| {
            d.clear_peers();
        })
        .await;
    if let Err(e) = listening {
        if let Some(uapi) = uapi {
            uapi.close();
        }
        // Wait for the half-made link to go, so a retry does not find it in the way.
        if let Err(cleanup) = discard(netlink, name, index, device).await {
            tracing::warn!(interface = name, error = %cleanup, "cleaning up a failed interface");
        }
        return Err(failure(
            what(&format!("listening on UDP port {}", config.listen_port)),
            e,
        ));
    }
    tracing::info!(
        interface = name,
        listen_port = config.listen_port,
        mtu = config.mtu,
        address = %config.address,
        public_key = %base64_key(&public_key),
        "created the WireGuard interface (userspace)"
    );
    Ok(Running {
        name: name.to_owned(),
        index,
        device,
        public_key,
        listen_port: config.listen_port,
        routes: BTreeSet::new(),
        uapi,
        capture: None,
        fwmark,
        address: config.address.addr(),
        prober: None,
    })
}

/// Brings a running device in line with `config`.
async fn reconfigure(
    netlink: &Netlink,
    options: &UserspaceOptions,
    running: &mut Running,
    config: &DeviceConfig,
    handshakes: &mut HashMap<Key, SystemTime>,
) -> Result<(), DataPlaneError> {
    let name = running.name.clone();
    let what = |step: &str| format!("configuring {name}: {step}");

    let secret = StaticSecret::from(config.private_key);
    let public_key = PublicKey::from(&secret).to_bytes();
    if public_key != running.public_key {
        // Rebinds the socket and rekeys every peer; sessions start over, as they must.
        running
            .device
            .set_private_key(secret)
            .await
            .map_err(|e| failure(what("private key"), e))?;
        running.public_key = public_key;
        tracing::info!(interface = %name, public_key = %base64_key(&public_key), "changed the private key");
    }
    if config.listen_port != running.listen_port {
        running
            .device
            .set_listen_port(config.listen_port)
            .await
            .map_err(|e| failure(what(&format!("listen port {}", config.listen_port)), e))?;
        running.listen_port = config.listen_port;
    }
    // Idempotent, and they repair an interface someone changed or took down.
    netlink.set_mtu_up(&name, running.index, config.mtu).await?;
    netlink
        .set_address(&name, running.index, config.address)
        .await?;
    running.address = config.address.addr();

    let current: Vec<DevicePeer> = running
        .device
        .peers()
        .await
        .iter()
        .map(|p| DevicePeer {
            public_key: p.peer.public_key.to_bytes(),
            preshared_key: p.peer.preshared_key,
            endpoint: p.peer.endpoint,
            keepalive: p.peer.keepalive.filter(|&s| s > 0),
            allowed_ips: normalize(
                p.peer
                    .allowed_ips
                    .iter()
                    .filter_map(|n| IpNet::new(n.network(), n.prefix()).ok()),
            ),
        })
        .collect();
    let plan = plan_peers(&current, &config.peers);
    if !plan.is_empty() {
        let mut new_peers = Vec::with_capacity(plan.add.len());
        for peer in &plan.add {
            new_peers.push(to_gotatun(peer).map_err(|e| failure(what("peer"), e))?);
        }
        let mut updates = Vec::with_capacity(plan.update.len());
        for update in &plan.update {
            let allowed_ips = match &update.allowed_ips {
                Some(nets) => Some(to_ipnetworks(nets).map_err(|e| failure(what("peer"), e))?),
                None => None,
            };
            updates.push((update, allowed_ips));
        }
        running
            .device
            .write(async |d| {
                for key in &plan.remove {
                    d.remove_peer(&PublicKey::from(*key)).await;
                }
                for (update, allowed_ips) in updates {
                    d.modify_peer(&PublicKey::from(update.public_key), |m| {
                        if let Some(psk) = update.preshared_key {
                            m.set_preshared_key(psk);
                        }
                        if let Some(keepalive) = update.keepalive {
                            m.set_keepalive(keepalive);
                        }
                        if let Some(nets) = allowed_ips {
                            m.clear_allowed_ips();
                            m.add_allowed_ips(nets);
                        }
                        if let Some(endpoint) = update.endpoint {
                            m.set_endpoint(Some(endpoint));
                        }
                    })
                    .await;
                }
                for peer in new_peers {
                    d.add_peer(peer);
                }
            })
            .await
            .map_err(|e| failure(what("peers"), e))?;
        for key in &plan.remove {
            handshakes.remove(key);
        }
        tracing::debug!(
            interface = %name,
            added = ?plan.add.iter().map(|p| base64_key(&p.public_key)).collect::<Vec<_>>(),
            updated = ?plan.update.iter().map(|u| base64_key(&u.public_key)).collect::<Vec<_>>(),
            removed = ?plan.remove.iter().map(base64_key).collect::<Vec<_>>(),
            "reconfigured peers"
        );
    }

    // Peers first, so traffic the new routes send into the interface finds its peer.
    let mark = socket_mark(options, config);
    if mark != running.fwmark
        && let Some(mark) = mark
    {
        running
            .device
            .set_fwmark(mark)
            .await
            .map_err(|e| failure(what(&format!("socket mark {mark:#x}")), e))?;
        running.fwmark = Some(mark);
    }
    if let Some(capture) = &config.capture {
        // The capture's table routes everything marked; per-prefix routes would only compete.
        let stale: Vec<IpNet> = running.routes.iter().copied().collect();
        let table = options.routing.table();
        for net in stale {
            netlink
                .delete_route(&name, running.index, table, net)
                .await?;
            running.routes.remove(&net);
        }
        return apply_capture(netlink, running, capture, config.mtu).await;
    }
    if let Some((old, _)) = running.capture.take() {
        remove_capture(netlink, &name, running.index, &old).await?;
    }
    let table = options.routing.table();
    let avoid: Vec<SocketAddr> = match options.routing {
        Routing::Policy(policy) => {
            netlink.ensure_rules(&[policy.rule()]).await?;
            Vec::new()
        }
        // The endpoints the device has now (roamed ones included) and the ones just configured.
        Routing::Main => running
            .device
            .peers()
            .await
            .iter()
            .filter_map(|p| p.peer.endpoint)
            .chain(config.peers.iter().filter_map(|p| p.endpoint))
            .collect(),
    };
    let (desired, skipped) = plan_routes(&config.address, &config.peers, &avoid);
    for (net, endpoint) in skipped {
        tracing::warn!(
            interface = %name,
            prefix = %net,
            %endpoint,
            "not routing a prefix through the tunnel: it contains a peer's endpoint (policy routing would)"
        );
    }
    let stale: Vec<IpNet> = running.routes.difference(&desired).copied().collect();
    for net in stale {
        netlink
            .delete_route(&name, running.index, table, net)
            .await?;
        running.routes.remove(&net);
    }
    for net in &desired {
        netlink
            .replace_route(&name, running.index, table, *net)
            .await?;
        running.routes.insert(*net);
    }
    Ok(())
}

/// The mark the tunnel's UDP socket carries: the capture's, or policy routing's.
fn socket_mark(options: &UserspaceOptions, config: &DeviceConfig) -> Option<u32> {
    match (&config.capture, options.routing) {
        (Some(capture), _) => Some(capture.tunnel_mark),
        (None, Routing::Policy(policy)) => Some(policy.fwmark),
        (None, Routing::Main) => None,
    }
}

/// The rule of a capture: packets marked for the tunnel look up its table.
fn capture_rule(capture: &Capture) -> Rule {
    Rule {
        table: capture.table,
        priority: capture.rule_priority,
        fwmark: capture.force_mark,
        mask: capture.mark_mask,
        invert: false,
        suppress_prefix_length: None,
    }
}

/// Priority of the capture's fallback rule: after the main table's rule (32766) and the default
/// table's (32767).
pub const FALLBACK_RULE_PRIORITY: u32 = 32768;

/// The capture's fallback rule (Weft; Talos has none), `not fwmark <tunnel>/<mask> lookup <table>
/// suppress_prefixlength 0` after the main table.
///
/// Why: nftables marks the node's own packets in the output hook, which runs only after the
/// kernel found a first route for them. A destination the main table has no route for — a peer's
/// advertised network on a node without a default route, or a peer's address only reachable
/// through the tunnel — fails there, with "network unreachable", before it can be marked (a pod's
/// forwarded packet is marked in prerouting, before any lookup, so it is not affected). With
/// this rule, such a lookup falls through to the capture table's per-prefix routes of the routed
/// set; its default routes are suppressed, so any other destination still fails at once instead
/// of vanishing into the tunnel, and the tunnel's own UDP is left out, so it cannot loop.
fn fallback_rule(capture: &Capture) -> Rule {
    Rule {
        table: capture.table,
        priority: FALLBACK_RULE_PRIORITY,
        fwmark: capture.tunnel_mark,
        mask: capture.mark_mask,
        invert: true,
        suppress_prefix_length: Some(0),
    }
}

/// Sets up (or updates) the capture: default routes with the MTU in its table, its rule, and the
/// nftables table — the latter rendered and applied only when something changed, the routes and
/// rule every time (cheap, and they repair what someone deleted).
async fn apply_capture(
    netlink: &Netlink,
    running: &mut Running,
    capture: &Capture,
    mtu: u32,
) -> Result<(), DataPlaneError> {
    let (name, index) = (running.name.clone(), running.index);
    if let Some((old, _)) = &running.capture {
        let moved = old.table != capture.table
            || capture_rule(old) != capture_rule(capture)
            || fallback_rule(old) != fallback_rule(capture)
            || old.nftables_table != capture.nftables_table;
        if moved {
            let old = old.clone();
            running.capture = None;
            remove_capture(netlink, &name, index, &old).await?;
        }
    }
    let wanted = (capture.clone(), mtu);
    let applied = running.capture.as_ref() == Some(&wanted);
    // Per-prefix routes no longer routed, and those to install: only the new ones when the
    // previous capture was applied in full with this MTU, else all (the table is the same: a move
    // removed the old capture above).
    let (stale, fresh): (Vec<IpNet>, Vec<IpNet>) = match &running.capture {
        Some((old, old_mtu)) if !applied => {
            let now: BTreeSet<&IpNet> = capture.routed.iter().collect();
            let before: BTreeSet<&IpNet> = old.routed.iter().collect();
            let stale = before.difference(&now).map(|n| **n).collect();
            let fresh = if *old_mtu == mtu {
                now.difference(&before).map(|n| **n).collect()
            } else {
                capture.routed.clone()
            };
            (stale, fresh)
        }
        _ => (Vec::new(), capture.routed.clone()),
    };
    if !applied {
        // Recorded before anything is installed, so that a teardown after a failure below removes
        // whatever got in; MTU 0 means "not applied yet", so the next apply installs it all again.
        running.capture = Some((capture.clone(), 0));
    }
    for v6 in [false, true] {
        netlink
            .replace_default_route(&name, index, capture.table, v6, mtu)
            .await?;
    }
    netlink
        .ensure_rules(&[capture_rule(capture), fallback_rule(capture)])
        .await?;
    if !applied {
        for net in stale {
            netlink
                .delete_route(&name, index, capture.table, net)
                .await?;
        }
        // For the fallback rule (see there); the default routes above serve marked packets.
        for net in fresh {
            netlink
                .replace_route_with_mtu(&name, index, capture.table, net, mtu)
                .await?;
        }
    }
    if !applied {
        nft::apply(capture, mtu).await?;
        tracing::debug!(
            interface = %name,
            table = %capture.nftables_table,
            routed = capture.routed.len(),
            "applied the traffic capture"
        );
        running.capture = Some(wanted);
    }
    Ok(())
}

/// Removes a capture: nftables first (nothing is marked for a table about to go), then the rule
/// and the routes. Keeps going past errors and returns the first.
async fn remove_capture(
    netlink: &Netlink,
    name: &str,
    index: u32,
    capture: &Capture,
) -> Result<(), DataPlaneError> {
    let mut first_error = nft::remove(&capture.nftables_table).await.err();
    for rule in [capture_rule(capture), fallback_rule(capture)] {
        if let Err(e) = netlink.delete_rule(&rule).await {
            first_error.get_or_insert(e);
        }
    }
    for net in &capture.routed {
        if let Err(e) = netlink.delete_route(name, index, capture.table, *net).await {
            first_error.get_or_insert(e);
        }
    }
    for v6 in [false, true] {
        if let Err(e) = netlink
            .delete_default_route(name, index, capture.table, v6)
            .await
        {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Undoes everything `create`/`reconfigure` did. Keeps going past errors and returns the first.
async fn teardown(
    netlink: &Netlink,
    running: Running,
    routing: &Routing,
) -> Result<(), DataPlaneError> {
    let table = routing.table();
    let Running {
        name,
        index,
        device,
        routes,
        uapi,
        capture,
        ..
    } = running;
    if let Some(uapi) = uapi {
        uapi.close();
    }
    let mut first_error = None;
    if let Some((capture, _)) = capture
        && let Err(e) = remove_capture(netlink, &name, index, &capture).await
    {
        first_error.get_or_insert(e);
    }
    for net in routes {
        if let Err(e) = netlink.delete_route(&name, index, table, net).await {
            first_error.get_or_insert(e);
        }
    }
    if let Routing::Policy(policy) = routing
        && let Err(e) = netlink.delete_rule(&policy.rule()).await
    {
        first_error.get_or_insert(e);
    }
    if let Err(e) = discard(netlink, &name, index, device).await {
        first_error.get_or_insert(e);
    }
    tracing::info!(interface = %name, "removed the WireGuard interface");
    first_error.map_or(Ok(()), Err)
}

/// Stops the device and makes sure its link is gone. Stopping releases the TUN; the kernel deletes
/// the link when its last file descriptor closes, which happens as gotatun's aborted tasks are
/// dropped — so wait for that, and delete the link ourselves if it lingers.
async fn discard(
    netlink: &Netlink,
    name: &str,
    index: u32,
    device: Device<Transports>,
) -> Result<(), DataPlaneError> {
    device.stop().await;
    let deadline = Instant::now() + LINK_GONE_TIMEOUT;
    if !netlink.wait_link_gone(name, index, deadline).await? {
        tracing::warn!(
            interface = name,
            "the TUN link outlived its device; deleting it"
        );
        netlink.delete_link(name, index).await?;
    }
    Ok(())
}

/// Creates the socket directory and makes sure `<dir>/<name>.sock` is free: absent, or stale
/// (nobody accepts on it). A live socket belongs to another device of that name — in this or
/// another network namespace, the directory is global — and is not taken over.
fn prepare_uapi_path(dir: &Path, name: &str) -> Result<PathBuf, DataPlaneError> {
    let path = dir.join(format!("{name}.sock"));
    let what = || format!("serving the UAPI socket {}", path.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| failure(what(), e))?;
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(failure(
            what(),
            "another process serves it (a WireGuard device of the same name)",
        ));
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failure(what(), e)),
    }
    Ok(path)
}

/// Binds the UAPI socket, readable and writable by root only (it hands out the private key).
fn bind_uapi(path: &Path) -> Result<tokio::net::UnixListener, DataPlaneError> {
    let what = || format!("serving the UAPI socket {}", path.display());
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| failure(what(), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| failure(what(), e))?;
    Ok(listener)
}

/// Accepts UAPI connections and hands each to gotatun's protocol handler (a thread per
/// connection, ended by the client closing or by [`UAPI_IO_TIMEOUT`]).
async fn serve_uapi(listener: tokio::net::UnixListener, client: UapiClient) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let stream = stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(UAPI_IO_TIMEOUT))?;
                    s.set_write_timeout(Some(UAPI_IO_TIMEOUT))?;
                    Ok(s)
                });
                match stream {
                    Ok(stream) => client.clone().wrap_read_write(stream),
                    Err(e) => tracing::warn!(error = %e, "UAPI connection"),
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a UAPI connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One peer as the device has it, reduced to what [`plan_peers`] compares.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DevicePeer {
    pub public_key: Key,
    pub preshared_key: Option<Key>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds; `None` when off.
    pub keepalive: Option<u16>,
    /// Sorted, truncated, deduplicated.
    pub allowed_ips: Vec<IpNet>,
}

impl fmt::Debug for DevicePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicePeer")
            .field("public_key", &base64_key(&self.public_key))
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("keepalive", &self.keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

/// The fields of one existing peer to change; `None` leaves a field as it is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PeerUpdate {
    pub public_key: Key,
    pub preshared_key: Option<Option<Key>>,
    pub keepalive: Option<Option<u16>>,
    pub allowed_ips: Option<Vec<IpNet>>,
    pub endpoint: Option<SocketAddr>,
}

impl fmt::Debug for PeerUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerUpdate")
            .field("public_key", &base64_key(&self.public_key))
            .field(
                "preshared_key",
                &self.preshared_key.map(|k| k.map(|_| "<redacted>")),
            )
            .field("keepalive", &self.keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What to do to the device's peers, each list sorted by public key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PeerPlan {
    pub add: Vec<PeerConfig>,
    pub update: Vec<PeerUpdate>,
    pub remove: Vec<Key>,
}

impl PeerPlan {
    fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// Diffs the device's peers against the desired ones (§5.1): add the missing, update the changed
/// fields of the rest in place, remove the extra. An endpoint is compared only when one is desired:
/// `None` means "keep what the device has" (roamed, or nothing for a passive peer).
pub(crate) fn plan_peers(current: &[DevicePeer], desired: &[PeerConfig]) -> PeerPlan {
    let current: BTreeMap<Key, &DevicePeer> = current.iter().map(|p| (p.public_key, p)).collect();
    let desired: BTreeMap<Key, &PeerConfig> = desired.iter().map(|p| (p.public_key, p)).collect();
    let mut plan = PeerPlan::default();
    for (key, want) in &desired {
        let Some(have) = current.get(key) else {
            plan.add.push((*want).clone());
            continue;
        };
        let keepalive = keepalive_secs(want.persistent_keepalive);
        let allowed_ips = normalize(want.allowed_ips.iter().copied());
        let endpoint = want.endpoint.map(canonical);
        let update = PeerUpdate {
            public_key: *key,
            preshared_key: (want.preshared_key != have.preshared_key).then_some(want.preshared_key),
            keepalive: (keepalive != have.keepalive).then_some(keepalive),
            allowed_ips: (allowed_ips != have.allowed_ips).then_some(allowed_ips),
            endpoint: endpoint.filter(|e| Some(*e) != have.endpoint.map(canonical)),
        };
        if update.preshared_key.is_some()
            || update.keepalive.is_some()
            || update.allowed_ips.is_some()
            || update.endpoint.is_some()
        {
            plan.update.push(update);
        }
    }
    plan.remove = current
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .copied()
        .collect();
    plan
}

/// The prefixes to route through the interface: every peer's allowed IPs, except those inside the
/// node's own ULA prefix (the address's connected route covers them) and those containing one of
/// the `avoid` endpoints (see [`Routing::Main`]), which are returned with the endpoint.
pub(crate) fn plan_routes(
    address: &Ipv6Net,
    peers: &[PeerConfig],
    avoid: &[SocketAddr],
) -> (BTreeSet<IpNet>, Vec<(IpNet, SocketAddr)>) {
    let own = IpNet::V6(address.trunc());
    let mut routes = BTreeSet::new();
    let mut skipped = BTreeMap::new();
    for net in peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter())
        .map(IpNet::trunc)
    {
        if own.contains(&net) {
            continue;
        }
        match avoid
            .iter()
            .map(|e| canonical(*e))
            .find(|e| net.contains(&e.ip()))
        {
            Some(endpoint) => {
                skipped.insert(net, endpoint);
            }
            None => {
                routes.insert(net);
            }
        }
    }
    (routes, skipped.into_iter().collect())
}

/// The handshake time to report, stable across reads. gotatun reports "time since the handshake",
/// so `now − since` moves by the read's latency each time; a time within [`HANDSHAKE_JITTER`] of
/// the one reported before is that same handshake and reported unchanged, so statuses do not
/// churn. When gotatun forgets the handshake (its session expired), the last known time stays, as
/// a kernel device reports it.
pub(crate) fn stable_handshake(
    previous: Option<SystemTime>,
    now: SystemTime,
    since: Option<Duration>,
) -> Option<SystemTime> {
    let Some(since) = since else {
        return previous;
    };
    let derived = now.checked_sub(since)?;
    match previous {
        Some(prev) => {
            let drift = derived
                .duration_since(prev)
                .or_else(|_| prev.duration_since(derived))
                .unwrap_or_default();
            if drift < HANDSHAKE_JITTER {
                Some(prev)
            } else {
                Some(derived)
            }
        }
        None => Some(derived),
    }
}

/// Persistent keepalive in whole seconds as WireGuard takes it; zero or unset is off, a fraction of
/// a second rounds up (so it never becomes "off"), more than `u16::MAX` seconds is capped.
pub(crate) fn keepalive_secs(keepalive: Option<Duration>) -> Option<u16> {
    let d = keepalive?;
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    (secs > 0).then(|| u16::try_from(secs).unwrap_or(u16::MAX))
}

/// Truncated (host bits cleared, as the kernel and WireGuard store them), sorted, deduplicated.
fn normalize(nets: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let set: BTreeSet<IpNet> = nets.into_iter().map(|n| n.trunc()).collect();
    set.into_iter().collect()
}

/// An IPv4-mapped IPv6 endpoint as plain IPv4, the form gotatun reports.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

fn to_ipnetworks(nets: &[IpNet]) -> Result<Vec<IpNetwork>, String> {
    nets.iter()
        .map(|n| {
            IpNetwork::new(n.addr(), n.prefix_len()).map_err(|e| format!("allowed IP {n}: {e}"))
        })
        .collect()
}

fn to_gotatun(config: &PeerConfig) -> Result<Peer, String> {
    let mut peer = Peer::new(PublicKey::from(config.public_key));
    peer.endpoint = config.endpoint;
    peer.preshared_key = config.preshared_key;
    peer.keepalive = keepalive_secs(config.persistent_keepalive);
    peer.allowed_ips = to_ipnetworks(&normalize(config.allowed_ips.iter().copied()))?;
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    fn want(key: u8, endpoint: Option<&str>, ips: &[&str]) -> PeerConfig {
        PeerConfig {
            public_key: [key; 32],
            preshared_key: Some([7; 32]),
            endpoint: endpoint.map(addr),
            persistent_keepalive: Some(Duration::from_secs(25)),
            allowed_ips: ips.iter().map(|s| net(s)).collect(),
        }
    }

    fn have(key: u8, endpoint: Option<&str>, ips: &[&str]) -> DevicePeer {
        DevicePeer {
            public_key: [key; 32],
            preshared_key: Some([7; 32]),
            endpoint: endpoint.map(addr),
            keepalive: Some(25),
            allowed_ips: normalize(ips.iter().map(|s| net(s))),
        }
    }

    #[test]
    fn identical_peers_need_nothing() {
        let plan = plan_peers(
            &[have(
                1,
                Some("192.0.2.1:51820"),
                &["fd00::1/128", "10.0.0.0/24"],
            )],
            // Desired allowed IPs in another order and with host bits: the same set.
            &[want(
                1,
                Some("192.0.2.1:51820"),
                &["10.0.0.7/24", "fd00::1/128"],
            )],
        );
        assert_eq!(plan, PeerPlan::default());
    }

    #[test]
    fn add_update_remove_sorted() {
        let plan = plan_peers(
            &[
                have(3, None, &["fd00::3/128"]),
                have(1, None, &["fd00::1/128"]),
                have(5, None, &[]),
            ],
            &[
                want(4, None, &["fd00::4/128"]),
                want(3, None, &["fd00::3/128", "10.3.0.0/16"]),
                want(2, Some("192.0.2.2:51820"), &[]),
            ],
        );
        let added: Vec<Key> = plan.add.iter().map(|p| p.public_key).collect();
        assert_eq!(added, vec![[2; 32], [4; 32]]);
        assert_eq!(
            plan.update,
            vec![PeerUpdate {
                public_key: [3; 32],
                preshared_key: None,
                keepalive: None,
                allowed_ips: Some(vec![net("10.3.0.0/16"), net("fd00::3/128")]),
                endpoint: None,
            }]
        );
        assert_eq!(plan.remove, vec![[1; 32], [5; 32]]);
    }

    #[test]
    fn no_desired_endpoint_keeps_any_device_endpoint() {
        // Roamed: the device learned 198.51.100.9 from an incoming handshake.
        let current = [have(1, Some("198.51.100.9:40000"), &["fd00::1/128"])];
        assert!(plan_peers(&current, &[want(1, None, &["fd00::1/128"])]).is_empty());
        // Passive: no endpoint anywhere.
        let current = [have(1, None, &["fd00::1/128"])];
        assert!(plan_peers(&current, &[want(1, None, &["fd00::1/128"])]).is_empty());
    }

    #[test]
    fn a_desired_endpoint_replaces_a_different_one() {
        let current = [
            have(1, Some("198.51.100.9:40000"), &[]),
            have(2, None, &[]),
            have(3, Some("192.0.2.3:51820"), &[]),
        ];
        let plan = plan_peers(
            &current,
            &[
                want(1, Some("192.0.2.1:51820"), &[]),
                want(2, Some("192.0.2.2:51820"), &[]),
                // The same endpoint written IPv4-mapped: not a change.
                want(3, Some("[::ffff:192.0.2.3]:51820"), &[]),
            ],
        );
        let endpoints: Vec<(Key, Option<SocketAddr>)> = plan
            .update
            .iter()
            .map(|u| (u.public_key, u.endpoint))
            .collect();
        assert_eq!(
            endpoints,
            vec![
                ([1; 32], Some(addr("192.0.2.1:51820"))),
                ([2; 32], Some(addr("192.0.2.2:51820"))),
            ]
        );
        assert!(
            plan.update
                .iter()
                .all(|u| u.allowed_ips.is_none() && u.keepalive.is_none())
        );
    }

    #[test]
    fn key_and_keepalive_changes_are_updates() {
        let mut changed = want(1, None, &[]);
        changed.preshared_key = None;
        changed.persistent_keepalive = None;
        let plan = plan_peers(&[have(1, None, &[])], &[changed]);
        assert_eq!(
            plan.update,
            vec![PeerUpdate {
                public_key: [1; 32],
                preshared_key: Some(None),
                keepalive: Some(None),
                allowed_ips: None,
                endpoint: None,
            }]
        );
    }

    #[test]
    fn routes_skip_the_own_ula_prefix() {
        let address: Ipv6Net = "fd7a:1:2:3::5/64".parse().expect("address");
        let peers = [
            want(
                1,
                None,
                &["fd7a:1:2:3::1/128", "10.1.0.0/16", "192.0.2.1/32"],
            ),
            // Overlapping peers: each prefix once. A wider ULA prefix is routed (the connected /64
            // does not cover it); host bits are cleared.
            want(
                2,
                None,
                &[
                    "fd7a:1:2:3::2/128",
                    "10.1.0.0/16",
                    "fd7a::/16",
                    "10.2.3.4/24",
                ],
            ),
        ];
        let (routes, skipped) = plan_routes(&address, &peers, &[]);
        assert_eq!(
            routes.into_iter().collect::<Vec<_>>(),
            vec![
                net("10.1.0.0/16"),
                net("10.2.3.0/24"),
                net("192.0.2.1/32"),
                net("fd7a::/16")
            ]
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn main_table_routes_never_cover_an_endpoint() {
        let address: Ipv6Net = "fd7a:1:2:3::5/64".parse().expect("address");
        let peers = [
            want(1, Some("192.0.2.1:51820"), &["192.0.2.1/32", "10.1.0.0/16"]),
            want(2, None, &["198.51.100.0/24", "2001:db8::/32"]),
        ];
        // Peer 2 roamed to 198.51.100.7 (IPv4-mapped, as a dual-stack socket may see it).
        let avoid = [addr("192.0.2.1:51820"), addr("[::ffff:198.51.100.7]:40000")];
        let (routes, skipped) = plan_routes(&address, &peers, &avoid);
        assert_eq!(
            routes.into_iter().collect::<Vec<_>>(),
            vec![net("10.1.0.0/16"), net("2001:db8::/32")]
        );
        assert_eq!(
            skipped,
            vec![
                (net("192.0.2.1/32"), addr("192.0.2.1:51820")),
                (net("198.51.100.0/24"), addr("198.51.100.7:40000")),
            ]
        );
    }

    #[test]
    fn keepalive_in_seconds() {
        assert_eq!(keepalive_secs(None), None);
        assert_eq!(keepalive_secs(Some(Duration::ZERO)), None);
        assert_eq!(keepalive_secs(Some(Duration::from_secs(25))), Some(25));
        assert_eq!(keepalive_secs(Some(Duration::from_millis(1500))), Some(2));
        assert_eq!(keepalive_secs(Some(Duration::from_millis(1))), Some(1));
        assert_eq!(
            keepalive_secs(Some(Duration::from_secs(1 << 20))),
            Some(u16::MAX)
        );
    }

    #[test]
    fn handshake_times_are_stable() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        // First report: now − since.
        let first = stable_handshake(None, t0, Some(Duration::from_secs(3)));
        assert_eq!(first, Some(t0 - Duration::from_secs(3)));
        // Read again 10.0004 s later, "since" measured with a little skew: the same handshake.
        let later = t0 + Duration::from_micros(10_000_400);
        assert_eq!(
            stable_handshake(first, later, Some(Duration::from_secs(13))),
            first
        );
        // A new handshake 2 s ago.
        assert_eq!(
            stable_handshake(first, later, Some(Duration::from_secs(2))),
            Some(later - Duration::from_secs(2))
        );
        // The session expired and gotatun forgot it: keep the last known time.
        assert_eq!(stable_handshake(first, later, None), first);
        assert_eq!(stable_handshake(None, later, None), None);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let config = DeviceConfig {
            name: "kubespan".into(),
            private_key: [1; 32],
            listen_port: 51820,
            mtu: 1420,
            address: "fd00::1/64".parse().expect("address"),
            peers: vec![want(2, None, &[])],
            capture: None,
        };
        assert!(validate(&config).is_ok());
        for name in ["", "a-name-that-is-too-long", "a/b", "a b", ".."] {
            let bad = DeviceConfig {
                name: name.into(),
                ..config.clone()
            };
            assert!(validate(&bad).is_err(), "{name:?}");
        }
        let bad = DeviceConfig {
            mtu: 1279,
            ..config.clone()
        };
        assert_eq!(
            validate(&bad).expect_err("mtu").to_string(),
            "configuring \"kubespan\": MTU 1279 is outside 1280–65535"
        );
        let bad = DeviceConfig {
            peers: vec![want(2, None, &[]), want(2, None, &[])],
            ..config.clone()
        };
        let err = validate(&bad).expect_err("duplicate").to_string();
        assert!(err.contains("is listed twice"), "{err}");
        // Errors name public keys only; the private key and PSK never appear.
        assert!(!err.contains(&base64_key(&[7; 32])) && !err.contains(&base64_key(&[1; 32])));
    }

    #[test]
    fn debug_output_redacts_preshared_keys() {
        let shown = format!("{:?}", have(1, None, &[]));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&base64_key(&[7; 32])), "{shown}");
    }
}
