//! ManagerController: KubeSpanConfig, KubeSpanIdentity and KubeSpanPeerSpecs → the WireGuard
//! interface (through a [`DataPlane`]) and `KubeSpanPeerStatuses.kubespan.weft.dev` (id = the peer's
//! public key). Talos's `kubespan.ManagerController`: the interface, its peers, and the traffic
//! capture (nftables marks, routing table and rule, MSS clamp; see [`routed_set`] and
//! `crate::capture`, which diffs and applies it on the backend's interface). Weft adds NAT hole
//! punching towards peers that are not up ([`punch_targets`], every [`PUNCH_INTERVAL`]).
//!
//! Each run:
//!
//! ```text
//!  KubeSpan off, or no identity ─► statuses destroyed, interface removed (once)
//!  otherwise ─► read the device's peers ─► per peer spec: evaluate (adapters::kubespan::
//!               peer_status: state, endpoint choice) ─► DeviceConfig ─► apply if it differs from
//!               the last one applied (or the device lost peers) ─► write statuses, destroy the
//!               statuses of peers without a spec ─► punch (natTraversal)
//! ```
//!
//! The capture routes R through the tunnel: every peer's allowed IPs with `forceRouting` (the
//! default, `allowDownPeerBypass: false`: a down peer's traffic is dropped in the tunnel, never
//! sent in clear), only the up peers' with `allowDownPeerBypass: true`. A peer going up or down
//! then changes R, and so the config applied.
//!
//! When it runs: on any input change; whenever the data plane raises [`DataPlane::changes`] (a
//! handshake, a roamed endpoint, moving counters — so a status follows within the backend's poll
//! interval, 250 ms for the userspace one); and every [`TICK_INTERVAL`] for the verdicts time
//! alone brings (a peer gone quiet, an endpoint tried long enough). The rules and their timeline
//! are in [`crate::adapters::kubespan::peer_status`].
//!
//! The device gets: the link name from the config (`kubespan` by default), the identity's private
//! key, the config's listen port and MTU, the identity's address with the subnet's /64, and per
//! peer (sorted by public key) the cluster secret as preshared key, a 25 s persistent keepalive,
//! the spec's allowed IPs and the endpoint the state machine chose (or none, keeping a roamed
//! one). Data-plane failures are returned, so the engine retries with backoff; no message carries
//! a key or the secret.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow};
use ipnet::{IpNet, Ipv6Net};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use weft_api::config::validate::RoutingSettings;
use weft_api::resources::kubespan::key::decode_key;
use weft_api::resources::kubespan::{
    IdentitySpec, PeerSpec, PeerState as StatusState, PeerStatusSpec,
};
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::adapters::kubespan::peer_status::{
    PERSISTENT_KEEPALIVE, PROBE_INTERVAL, Tracked, evaluate, prefer_heard,
};
use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;
use crate::wg::{Capture, DataPlane, DeviceConfig, Key, PeerConfig, PeerState};

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.ManagerController";

/// The link name when the config leaves it empty (Talos's).
pub const DEFAULT_INTERFACE: &str = "kubespan";

/// How often peers that are not up are punched towards (NAT traversal): well inside the 30 s a
/// Linux NAT keeps an unanswered UDP mapping, and a few tries per endpoint-cycling period.
pub const PUNCH_INTERVAL: Duration = Duration::from_secs(2);

/// Most punches per round: 1024 peers × 64 endpoints could otherwise mean 65k datagrams.
pub const MAX_PUNCH_TARGETS: usize = 256;

/// Most liveness probes per round: the discovery service's limit of affiliates per cluster.
pub const MAX_PROBE_TARGETS: usize = 1024;

/// A probe round is due this much before [`PROBE_INTERVAL`] is over: runs come on a 1 s tick
/// (and on changes), so a round due at exactly 2 s could slip to 3 s; with this slack rounds go
/// out every 1.5–2 s.
pub const PROBE_EARLY: Duration = Duration::from_millis(500);

/// How often to re-evaluate peers when nothing happens: verdicts that only time brings (a peer
/// quiet too long, an endpoint tried long enough) come at most this late. Talos uses 30 s; a
/// 1 s tick costs one read of the device's peers and, unless something changed, no writes.
pub const TICK_INTERVAL: Duration = Duration::from_secs(1);

/// The wall clock the manager reads: the device reports handshakes as wall-clock times. Tests
/// substitute one that follows tokio's (pausable) clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// See the module doc.
pub struct ManagerController<D: DataPlane> {
    data_plane: Arc<D>,
    clock: Box<dyn Clock>,
    /// Per peer (public key, base64): the status and what the state machine remembers.
    peers: BTreeMap<String, Tracked>,
    /// The config last applied successfully; `None` before the first, after a failure and after
    /// the interface was removed — so the next run applies again.
    applied: Option<DeviceConfig>,
    /// The interface is known to be gone (removed, and nothing applied since), so a disabled
    /// KubeSpan does not call `remove` on every tick. False at start: a first run with KubeSpan
    /// off removes whatever a previous weftd may have left.
    removed: bool,
    /// Peer spec ids that are not valid keys, already warned about.
    invalid: BTreeSet<String>,
    /// When the last punch round went out (tokio's clock, so tests can pause it).
    last_punch: Option<Instant>,
    /// When the last liveness-probe round went out (tokio's clock).
    last_probe: Option<Instant>,
}

impl<D: DataPlane> std::fmt::Debug for ManagerController<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerController")
            .field("peers", &self.peers.len())
            .field("applied", &self.applied)
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

impl<D: DataPlane> ManagerController<D> {
    /// A manager driving `data_plane`, on the system clock.
    pub fn new(data_plane: Arc<D>) -> ManagerController<D> {
        ManagerController::with_clock(data_plane, Box::new(SystemClock))
    }

    /// A manager reading time from `clock`.
    pub fn with_clock(data_plane: Arc<D>, clock: Box<dyn Clock>) -> ManagerController<D> {
        ManagerController {
            data_plane,
            clock,
            peers: BTreeMap::new(),
            applied: None,
            removed: false,
            invalid: BTreeSet::new(),
            last_punch: None,
            last_probe: None,
        }
    }

    /// KubeSpan is off or has no identity: no statuses, no interface.
    /// `routing`: the capture settings in the config, if any — with no device of ours running
    /// (the first run after a start), a capture they describe can only be a leftover of a weftd
    /// that was killed, and is removed too.
    async fn shut_down(
        &mut self,
        ctx: &ReconcileContext,
        routing: Option<&RoutingSettings>,
    ) -> anyhow::Result<()> {
        self.peers.clear();
        ctx.apply_outputs(None::<(String, PeerStatusSpec)>)?;
        if !self.removed {
            let had_device = self.applied.take().is_some();
            self.data_plane
                .remove()
                .await
                .context("KubeSpan data plane: removing the interface")?;
            if let Some(routing) = routing {
                self.data_plane
                    .remove_capture(&Capture::new(routing, Vec::new()))
                    .await
                    .context("KubeSpan data plane: removing a leftover traffic capture")?;
            }
            self.removed = true;
            if had_device {
                tracing::info!("KubeSpan is off: removed its interface");
            }
        }
        Ok(())
    }

    /// Punches towards the peers that are not up, once per [`PUNCH_INTERVAL`]. Failures only
    /// delay traversal, so they are logged, not returned.
    async fn punch(&mut self, evaluated: &[(Vec<IpNet>, Vec<SocketAddr>, StatusState)]) {
        let now = Instant::now();
        if self
            .last_punch
            .is_some_and(|last| now.duration_since(last) < PUNCH_INTERVAL)
        {
            return;
        }
        let targets = punch_targets(
            evaluated
                .iter()
                .map(|(_, endpoints, state)| (endpoints.as_slice(), *state)),
        );
        if targets.is_empty() {
            return;
        }
        self.last_punch = Some(now);
        match self.data_plane.punch(&targets).await {
            Ok(sent) => tracing::trace!(sent, "punched towards peers that are not up"),
            Err(e) => tracing::debug!(error = %e, "punching through NAT"),
        }
    }

    /// Sends a liveness probe to every peer once per [`PROBE_INTERVAL`] (see
    /// `adapters::kubespan::peer_status` for why). Failures are logged, not returned: a missed
    /// round costs one interval of evidence, which the silence timeout allows for.
    async fn probe(&mut self, targets: &[Ipv6Addr]) {
        let now = Instant::now();
        if self
            .last_probe
            .is_some_and(|last| now.duration_since(last) + PROBE_EARLY < PROBE_INTERVAL)
        {
            return;
        }
        self.last_probe = Some(now);
        if targets.is_empty() {
            return;
        }
        match self.data_plane.probe(targets).await {
            Ok(sent) => tracing::trace!(sent, "sent liveness probes"),
            Err(e) => tracing::debug!(error = %e, "sending liveness probes"),
        }
    }

    /// The peer specs whose ids are valid keys, with the keys decoded. Invalid ids are skipped
    /// (one bad affiliate must not take the mesh down) with one warning each.
    fn peer_specs(
        &mut self,
        ctx: &ReconcileContext,
    ) -> anyhow::Result<Vec<(String, Key, PeerSpec)>> {
        let mut specs = Vec::new();
        let mut invalid = BTreeSet::new();
        for r in ctx.list::<PeerSpec>()? {
            let id = r.metadata.id;
            match decode_key(&id) {
                Ok(key) => specs.push((id, key, r.spec)),
                Err(e) => {
                    if !self.invalid.contains(&id) {
                        tracing::warn!(peer = %id, error = %e, "ignoring a peer spec that is not usable");
                    }
                    invalid.insert(id);
                }
            }
        }
        self.invalid = invalid;
        Ok(specs)
    }
}

/// The destinations captured for the tunnel (reference §5.2's R): the allowed IPs of every peer
/// (`force_routing`, the default: a down peer's traffic is dropped, never sent in clear) or of the
/// peers that are up (`allowDownPeerBypass`), minus what lies inside the cluster's KubeSpan
/// subnet (the connected route of the interface's address already takes it there). Sorted,
/// overlaps merged.
pub fn routed_set<'a>(
    peers: impl IntoIterator<Item = (&'a [IpNet], StatusState)>,
    force_routing: bool,
    kubespan_subnet: &Ipv6Net,
) -> Vec<IpNet> {
    let subnet = IpNet::V6(*kubespan_subnet);
    let nets: Vec<IpNet> = peers
        .into_iter()
        .filter(|(_, state)| force_routing || *state == StatusState::Up)
        .flat_map(|(nets, _)| nets.iter().copied())
        .filter(|n| !subnet.contains(n))
        .collect();
    IpNet::aggregate(&nets)
}

/// Which of the peers' endpoints to punch towards: every endpoint of every peer that is not up,
/// in order, at most [`MAX_PUNCH_TARGETS`] — a peer that is up needs no hole, and keepalives keep
/// its mapping open.
pub fn punch_targets<'a>(
    peers: impl IntoIterator<Item = (&'a [SocketAddr], StatusState)>,
) -> Vec<SocketAddr> {
    let mut targets = Vec::new();
    for (endpoints, state) in peers {
        if state == StatusState::Up {
            continue;
        }
        for endpoint in endpoints {
            if targets.len() == MAX_PUNCH_TARGETS {
                return targets;
            }
            if !targets.contains(endpoint) {
                targets.push(*endpoint);
            }
        }
    }
    targets
}

/// Where to send a peer's liveness probe: its KubeSpan address, or for a peer without one (an
/// external peer) the first single IPv6 address among its allowed IPs — the probe comes from
/// this node's KubeSpan address, which only an IPv6 destination can answer through its tunnel.
/// `None`: nothing to probe; such a peer is judged by handshakes and its own traffic.
pub fn probe_target(spec: &PeerSpec) -> Option<Ipv6Addr> {
    if let Some(IpAddr::V6(address)) = spec.address {
        return Some(address);
    }
    spec.allowed_ips.iter().find_map(|net| match net {
        IpNet::V6(net) if net.prefix_len() == 128 => Some(net.addr()),
        _ => None,
    })
}

/// The probe targets of every peer, in order, without repeats, at most [`MAX_PROBE_TARGETS`].
pub fn probe_targets<'a>(specs: impl IntoIterator<Item = &'a PeerSpec>) -> Vec<Ipv6Addr> {
    let mut seen = BTreeSet::new();
    specs
        .into_iter()
        .filter_map(probe_target)
        .filter(|t| seen.insert(*t))
        .take(MAX_PROBE_TARGETS)
        .collect()
}

/// The interface for `config` and `identity` with `peers` (already sorted).
fn device_config(
    config: &KubeSpanConfigSpec,
    identity: &IdentitySpec,
    peers: Vec<PeerConfig>,
    capture: Capture,
) -> anyhow::Result<DeviceConfig> {
    let name = if config.interface.is_empty() {
        DEFAULT_INTERFACE
    } else {
        config.interface.as_str()
    };
    // KeyError never carries the key.
    let private_key =
        decode_key(&identity.private_key).context("the KubeSpan identity's private key")?;
    let address = Ipv6Net::new(identity.address.addr(), identity.subnet.prefix_len())
        .context("the KubeSpan address")?;
    Ok(DeviceConfig {
        name: name.to_owned(),
        private_key,
        listen_port: config.listen_port,
        mtu: config.mtu,
        address,
        peers,
        capture: Some(capture),
    })
}

/// The cluster secret as the peers' preshared key (as Talos uses it).
fn preshared_key(config: &KubeSpanConfigSpec) -> anyhow::Result<Key> {
    let secret = config
        .shared_secret
        .as_ref()
        .ok_or_else(|| anyhow!("the config has no cluster secret"))?;
    Ok(*secret.bytes())
}

/// A state change or endpoint pick, logged once the device has it.
struct Note {
    id: String,
    label: String,
    from: StatusState,
    to: StatusState,
    picked: Option<std::net::SocketAddr>,
}

impl Note {
    fn log(&self) {
        let (peer, label) = (&self.id, &self.label);
        if self.from != self.to {
            tracing::info!(%peer, %label, from = %self.from, to = %self.to, "KubeSpan peer {}", self.to);
        }
        if let Some(endpoint) = self.picked {
            tracing::debug!(%peer, %label, %endpoint, "trying endpoint");
        }
    }
}

impl<D: DataPlane> Controller for ManagerController<D> {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<KubeSpanConfigSpec>(),
            Kind::of::<IdentitySpec>(),
            Kind::of::<PeerSpec>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![PeerStatusSpec::TYPE.to_owned()]
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK_INTERVAL)
    }

    fn wake_signal(&self) -> Option<watch::Receiver<()>> {
        Some(self.data_plane.changes())
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        let identity = ctx.get::<IdentitySpec>(LOCAL_ID)?;
        let routing = config.as_ref().map(|c| c.routing.clone());
        let (Some(config), Some(identity)) = (config.filter(|c| c.enabled), identity) else {
            return self.shut_down(ctx, routing.as_ref()).await;
        };
        let psk = preshared_key(&config)?;
        let specs = self.peer_specs(ctx)?;
        let probes = probe_targets(specs.iter().map(|(_, _, spec)| spec));

        let reported: BTreeMap<Key, PeerState> = self
            .data_plane
            .peers()
            .await
            .context("KubeSpan data plane: reading the peers")?
            .into_iter()
            .map(|p| (p.public_key, p))
            .collect();
        let now = OffsetDateTime::from(self.clock.now());
        let heard = if config.nat_traversal {
            self.data_plane.heard_from().await.unwrap_or_default()
        } else {
            Vec::new()
        };

        let mut tracked = BTreeMap::new();
        let mut peers = Vec::with_capacity(specs.len());
        let mut notes = Vec::new();
        // Per peer: allowed IPs, endpoints and the state just evaluated.
        let mut evaluated: Vec<(Vec<IpNet>, Vec<SocketAddr>, StatusState)> =
            Vec::with_capacity(specs.len());
        for (id, key, spec) in specs {
            let previous = self
                .peers
                .get(&id)
                .cloned()
                .unwrap_or_else(|| Tracked::new(&spec.label));
            let eval = prefer_heard(
                evaluate(&previous, &spec.endpoints, reported.get(&key), now),
                &spec.endpoints,
                &heard,
                now,
            );
            let to = eval.tracked.status.state;
            if previous.status.state != to || eval.picked {
                notes.push(Note {
                    id: id.clone(),
                    label: spec.label.clone(),
                    from: previous.status.state,
                    to,
                    picked: eval.picked.then_some(eval.endpoint).flatten(),
                });
            }
            evaluated.push((spec.allowed_ips.clone(), spec.endpoints.clone(), to));
            peers.push(PeerConfig {
                public_key: key,
                preshared_key: Some(psk),
                endpoint: eval.endpoint,
                persistent_keepalive: Some(PERSISTENT_KEEPALIVE),
                allowed_ips: spec.allowed_ips,
            });
            tracked.insert(id, eval.tracked);
        }
        peers.sort_by_key(|p| p.public_key);
        let routed = routed_set(
            evaluated
                .iter()
                .map(|(nets, _, state)| (nets.as_slice(), *state)),
            config.force_routing,
            &identity.subnet,
        );
        let desired = device_config(
            &config,
            &identity,
            peers,
            Capture::new(&config.routing, routed),
        )?;

        // Re-apply only on a change — or when the device no longer has the peers last applied
        // (recreated, or edited behind our back).
        let in_sync = self.applied.as_ref() == Some(&desired)
            && desired
                .peers
                .iter()
                .map(|p| &p.public_key)
                .eq(reported.keys());
        if !in_sync {
            self.applied = None;
            self.data_plane
                .apply(&desired)
                .await
                .context("KubeSpan data plane")?;
            tracing::debug!(interface = %desired.name, peers = desired.peers.len(), "applied the KubeSpan interface");
            self.applied = Some(desired);
            self.removed = false;
        }
        // Committed only now: after a failed apply, the retry evaluates from the same memory.
        self.peers = tracked;
        self.probe(&probes).await;
        if config.nat_traversal {
            self.punch(&evaluated).await;
        }
        for note in &notes {
            note.log();
        }

        let statuses = self
            .peers
            .iter()
            .map(|(id, t)| (id.clone(), t.status.clone()));
        ctx.apply_outputs(statuses)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddr};

    use tokio::task::JoinHandle;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;
    use weft_api::config::validate::decode_cluster_secret;
    use weft_api::resource::Pointer;
    use weft_api::resources::NAMESPACE_CLUSTER;
    use weft_api::resources::kubespan::EndpointSpec;

    use super::*;
    use crate::adapters::kubespan::peer_status::{ENDPOINT_TRY_TIMEOUT, PEER_SILENCE_TIMEOUT};
    use crate::controllers::kubespan::endpoint::EndpointController;
    use crate::runtime::engine::{Engine, EngineError};
    use crate::runtime::state::State;
    use crate::runtime::testing::{assert_no_resource, assert_resource, wait_for_resource};
    use crate::test_support::{OWNER, affiliate, fresh_state, key, put, put_in, spec};
    use crate::wg::fake::FakeDataPlane;

    const SECRET: Key = [9; 32];
    const A: &str = "192.0.2.1:51820";
    const B: &str = "198.51.100.1:51820";
    const C: &str = "203.0.113.9:40000";

    fn ep(s: &str) -> SocketAddr {
        s.parse().expect("endpoint")
    }

    /// A wall clock that follows tokio's, so a paused test controls it.
    #[derive(Debug, Clone)]
    struct TokioClock {
        base: SystemTime,
        start: Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> SystemTime {
            self.base + self.start.elapsed()
        }
    }

    fn identity_ptr() -> Pointer {
        Pointer::to::<IdentitySpec>(LOCAL_ID)
    }

    fn status_ptr(n: u8) -> Pointer {
        Pointer::to::<PeerStatusSpec>(&key(n))
    }

    fn spec_ptr(n: u8) -> Pointer {
        Pointer::to::<PeerSpec>(&key(n))
    }

    fn set_config(state: &State, enabled: bool, harvest: bool) {
        use base64::Engine as _;
        let secret = base64::engine::general_purpose::STANDARD.encode(SECRET);
        let spec = KubeSpanConfigSpec {
            enabled,
            cluster_id: "cluster".into(),
            shared_secret: Some(decode_cluster_secret(&secret).expect("secret")),
            harvest_extra_endpoints: harvest,
            mtu: 1380,
            listen_port: 51821,
            interface: String::new(),
            ..KubeSpanConfigSpec::default()
        };
        put(state, KubeSpanConfigSpec::ID, &spec);
    }

    /// Creates the identity; returns its private key (base64) to check it never leaks.
    fn set_identity(state: &State) -> String {
        let (private_key, public_key) = weft_api::resources::kubespan::key::generate_key_pair();
        let spec = IdentitySpec {
            address: "fd00::ff/128".parse().expect("net"),
            subnet: "fd00::/64".parse().expect("net"),
            private_key: private_key.clone(),
            public_key,
        };
        put(state, LOCAL_ID, &spec);
        private_key
    }

    /// Peer `n`: key `[n; 32]`, address fd00::n, allowed IPs its ULA and 10.0.0.n.
    fn set_peer(state: &State, n: u8, endpoints: &[&str]) {
        let spec = PeerSpec {
            address: Some(format!("fd00::{n:x}").parse().expect("ip")),
            allowed_ips: vec![
                format!("10.0.0.{n}/32").parse().expect("net"),
                format!("fd00::{n:x}/128").parse().expect("net"),
            ],
            endpoints: endpoints.iter().map(|e| ep(e)).collect(),
            label: format!("node-{n}"),
        };
        put(state, &key(n), &spec);
    }

    fn set_affiliate(state: &State, node_id: &str, n: u8) {
        put_in(
            state,
            NAMESPACE_CLUSTER,
            node_id,
            &affiliate(node_id, n),
            OWNER,
        );
    }

    struct Harness {
        state: State,
        fake: FakeDataPlane,
        clock: TokioClock,
        private_key: String,
        shutdown: CancellationToken,
        engine: JoinHandle<Result<(), EngineError>>,
    }

    impl Harness {
        /// KubeSpan on, an identity, the manager and the endpoint controller running.
        fn start(harvest: bool) -> Harness {
            let state = fresh_state();
            set_config(&state, true, harvest);
            let private_key = set_identity(&state);
            let fake = FakeDataPlane::new();
            let clock = TokioClock {
                base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                start: Instant::now(),
            };
            let mut engine = Engine::new(state.clone());
            engine
                .add(ManagerController::with_clock(
                    Arc::new(fake.clone()),
                    Box::new(clock.clone()),
                ))
                .expect("add");
            engine.add(EndpointController).expect("add");
            let shutdown = CancellationToken::new();
            let engine = tokio::spawn(engine.run(shutdown.clone()));
            Harness {
                state,
                fake,
                clock,
                private_key,
                shutdown,
                engine,
            }
        }

        async fn stop(self) {
            self.shutdown.cancel();
            self.engine.await.expect("join").expect("engine");
        }

        async fn status(
            &self,
            n: u8,
            check: impl Fn(&PeerStatusSpec) -> anyhow::Result<()>,
        ) -> PeerStatusSpec {
            let r = assert_resource(&self.state, &status_ptr(n), |r| check(&r.decode()?)).await;
            r.decode().expect("status")
        }

        async fn state_is(&self, n: u8, want: StatusState) -> PeerStatusSpec {
            self.status(n, |s| {
                anyhow::ensure!(s.state == want, "state {}", s.state);
                Ok(())
            })
            .await
        }

        /// The remote side of peer `n` sends something: a keepalive, or a handshake from `from`.
        fn packet(&self, n: u8, handshake: bool, from: Option<&str>) {
            let now = self.clock.now();
            let known = self.fake.update_peer(&[n; 32], |p| {
                p.rx_bytes += if handshake { 92 } else { 32 };
                if handshake {
                    p.last_handshake = Some(now);
                }
                if let Some(from) = from {
                    p.endpoint = Some(ep(from));
                }
            });
            assert!(known, "peer {n} is configured");
        }

        fn configured_endpoint(&self, n: u8) -> Option<SocketAddr> {
            let config = self.fake.config().expect("applied");
            let peer = config.peers.iter().find(|p| p.public_key == [n; 32]);
            peer.expect("peer configured").endpoint
        }
    }

    #[tokio::test(start_paused = true)]
    async fn configures_the_device_from_the_specs() {
        let h = Harness::start(false);
        // Base64 order ("/v7+…" < "AQEB…") is not key order ([1; 32] < [0xfe; 32]).
        set_peer(&h.state, 0xfe, &[B]);
        set_peer(&h.state, 1, &[A, B]);
        h.state_is(1, StatusState::Unknown).await;
        let status = h.state_is(0xfe, StatusState::Unknown).await;
        assert_eq!(status.label, "node-254");
        assert_eq!(status.last_used_endpoint, Some(ep(B)));

        let config = h.fake.config().expect("applied");
        assert_eq!(config.name, DEFAULT_INTERFACE);
        assert_eq!(config.private_key, decode_key(&h.private_key).expect("key"));
        assert_eq!((config.listen_port, config.mtu), (51821, 1380));
        assert_eq!(config.address.to_string(), "fd00::ff/64");
        let keys: Vec<Key> = config.peers.iter().map(|p| p.public_key).collect();
        assert_eq!(keys, [[1; 32], [0xfe; 32]], "sorted by key");
        for p in &config.peers {
            assert_eq!(p.preshared_key, Some(SECRET));
            assert_eq!(p.persistent_keepalive, Some(Duration::from_secs(25)));
        }
        assert_eq!(
            config.peers[0].allowed_ips,
            [
                "10.0.0.1/32".parse().expect("net"),
                "fd00::1/128".parse().expect("net")
            ]
        );
        assert_eq!(config.peers[0].endpoint, Some(ep(A)), "the first endpoint");
        assert_eq!(config.peers[1].endpoint, Some(ep(B)));

        // Nothing changes: ticks re-evaluate, but the same config is not applied again.
        let applies = h.fake.applies();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(h.fake.applies(), applies);
        assert_eq!(
            h.state
                .get(&status_ptr(1))
                .expect("status")
                .metadata
                .version,
            1,
            "unchanged statuses are not rewritten"
        );
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_handshake_is_up_at_once_and_a_silent_peer_down_within_30s() {
        let h = Harness::start(false);
        set_peer(&h.state, 2, &[A, B]);
        h.state_is(2, StatusState::Unknown).await;

        // Event-driven: the handshake is seen without waiting for a tick.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = Instant::now();
        h.packet(2, true, None);
        let up = h.state_is(2, StatusState::Up).await;
        // Paused time stands still while tasks run: any wait for a tick would show here.
        assert_eq!(Instant::now() - seen, Duration::ZERO, "up at once");
        assert_eq!(up.receive_bytes, 92);
        assert_eq!(up.last_handshake_time, OffsetDateTime::from(h.clock.now()));

        // A minute of what the probes bring (a packet every probe interval), then silence.
        for _ in 0..30 {
            tokio::time::sleep(PROBE_INTERVAL).await;
            h.packet(2, false, None);
        }
        let last_packet = Instant::now();
        let down = wait_for_resource(&h.state, &status_ptr(2), Duration::from_secs(30), |r| {
            let s: PeerStatusSpec = r.decode()?;
            anyhow::ensure!(s.state == StatusState::Down, "state {}", s.state);
            Ok(())
        })
        .await
        .expect("down within 30 s of the last packet");
        let silent = Instant::now() - last_packet;
        assert!(
            silent > PEER_SILENCE_TIMEOUT && silent <= Duration::from_secs(30),
            "{silent:?}"
        );
        let down: PeerStatusSpec = down.decode().expect("status");

        // The next endpoint is set, and tried while the peer stays down.
        assert_eq!(down.last_used_endpoint, Some(ep(B)));
        assert_eq!(h.configured_endpoint(2), Some(ep(B)));
        assert_eq!(h.fake.peer(&[2; 32]).expect("peer").endpoint, Some(ep(B)));
        tokio::time::sleep(ENDPOINT_TRY_TIMEOUT - Duration::from_secs(2)).await;
        let s = h.state_is(2, StatusState::Down).await;
        assert_eq!(s.last_used_endpoint, Some(ep(B)));
        // Then the one after it, wrapping.
        let s = h
            .status(2, |s| {
                anyhow::ensure!(
                    s.last_used_endpoint == Some(ep(A)),
                    "on {:?}",
                    s.last_used_endpoint
                );
                Ok(())
            })
            .await;
        assert_eq!(s.state, StatusState::Down);
        assert_eq!(h.configured_endpoint(2), Some(ep(A)));

        // The peer calls back from elsewhere (NAT): up at once, and the roamed endpoint is kept.
        let called = Instant::now();
        h.packet(2, true, Some(C));
        let s = h.state_is(2, StatusState::Up).await;
        assert_eq!(Instant::now() - called, Duration::ZERO, "up at once");
        assert_eq!(
            (s.endpoint, s.last_used_endpoint),
            (Some(ep(C)), Some(ep(A)))
        );
        assert_resource(&h.state, &status_ptr(2), |_| {
            anyhow::ensure!(h.configured_endpoint(2).is_none(), "endpoint still set");
            Ok(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(h.fake.peer(&[2; 32]).expect("peer").endpoint, Some(ep(C)));
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_live_idle_peer_stays_up_for_minutes() {
        let h = Harness::start(false);
        set_peer(&h.state, 3, &[A, B]);
        h.state_is(3, StatusState::Unknown).await;
        h.packet(3, true, None);
        h.state_is(3, StatusState::Up).await;
        let applies = h.fake.applies();
        let (_, mut watch) = h.state.watch(&status_ptr(3)).expect("watch");

        // Ten minutes of an idle link, as the real device reports it: no keepalive moves the
        // counter; what moves it is the peer's probes and the answers to ours, one packet per
        // probe interval, 0.5 s late, with every sixth lost; a handshake every ~2 minutes
        // (probes are data, so the session is rekeyed as on a busy link).
        let interval = PROBE_INTERVAL + Duration::from_millis(500);
        let mut packets = 0;
        for i in 1..=240u32 {
            tokio::time::sleep(interval).await;
            if i % 6 != 0 {
                h.packet(3, i % 48 == 1, None);
                packets += 1;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;

        let mut updates = 0;
        while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, watch.next()).await {
            let s: PeerStatusSpec = event
                .expect("no overflow")
                .resource
                .decode()
                .expect("status");
            assert_eq!(s.state, StatusState::Up, "flapped: {s:?}");
            assert_eq!(s.last_used_endpoint, Some(ep(A)), "no endpoint change");
            updates += 1;
        }
        assert!(
            updates >= packets,
            "every packet updated the status ({updates} of {packets})"
        );
        assert_eq!(h.fake.applies(), applies, "no re-apply");
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn every_peer_is_probed_every_probe_interval_up_or_not() {
        let h = Harness::start(false);
        set_peer(&h.state, 4, &[A]);
        set_peer(&h.state, 5, &[B]);
        h.state_is(4, StatusState::Unknown).await;
        h.state_is(5, StatusState::Unknown).await;
        h.packet(4, true, None);
        h.state_is(4, StatusState::Up).await;

        let start = Instant::now();
        let rounds_before = h.fake.probes().len();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let rounds = h.fake.probes();
        let new_rounds = &rounds[rounds_before..];
        // One round per 1.5–2 s (PROBE_EARLY): 30 to 40 rounds in a minute (±1 at the edges).
        let expected = 60.0 / PROBE_INTERVAL.as_secs_f64();
        let n = new_rounds.len() as f64;
        assert!(
            n >= expected - 1.0 && n <= expected * 4.0 / 3.0 + 1.0,
            "{n} probe rounds in 60 s since {start:?}"
        );
        // Each round targets every peer's KubeSpan address, the up one and the unknown one.
        let both: Vec<Ipv6Addr> = vec![
            "fd00::4".parse().expect("ip"),
            "fd00::5".parse().expect("ip"),
        ];
        for round in new_rounds {
            assert_eq!(round, &both);
        }
        h.stop().await;
    }

    #[test]
    fn probe_targets_are_kubespan_addresses_or_a_single_ipv6_allowed_ip() {
        let spec = |address: Option<&str>, allowed: &[&str]| PeerSpec {
            address: address.map(|a| a.parse().expect("ip")),
            allowed_ips: nets(allowed),
            endpoints: Vec::new(),
            label: String::new(),
        };
        let ip = |s: &str| -> Ipv6Addr { s.parse().expect("ip") };
        let cases = [
            (spec(Some("fd00::1"), &["fd00::1/128"]), Some(ip("fd00::1"))),
            // An external peer: no KubeSpan address, a /128 among its allowed IPs.
            (
                spec(None, &["192.168.50.0/24", "fd00::99/128"]),
                Some(ip("fd00::99")),
            ),
            // Only networks or IPv4: nothing that could answer through its tunnel.
            (spec(None, &["192.168.50.0/24", "fd00:9::/64"]), None),
            (spec(Some("10.0.0.1"), &["10.0.0.1/32"]), None),
        ];
        for (spec, want) in &cases {
            assert_eq!(probe_target(spec), *want, "{spec:?}");
        }
        let specs = [
            spec(Some("fd00::1"), &[]),
            spec(None, &[]),
            spec(Some("fd00::1"), &[]),
            spec(Some("fd00::2"), &[]),
        ];
        assert_eq!(
            probe_targets(&specs),
            [ip("fd00::1"), ip("fd00::2")],
            "in order, no repeats, peers without a target skipped"
        );
        let many: Vec<PeerSpec> = (0..MAX_PROBE_TARGETS + 10)
            .map(|i| spec(Some(&format!("fd00::{i:x}")), &[]))
            .collect();
        assert_eq!(probe_targets(&many).len(), MAX_PROBE_TARGETS, "bounded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_spec_removes_the_peer_and_its_status() {
        let h = Harness::start(false);
        set_peer(&h.state, 4, &[A]);
        set_peer(&h.state, 5, &[B]);
        h.state_is(4, StatusState::Unknown).await;
        h.state_is(5, StatusState::Unknown).await;

        h.state.destroy(OWNER, &spec_ptr(4)).expect("destroy");
        assert_no_resource(&h.state, &status_ptr(4)).await;
        assert!(h.fake.peer(&[4; 32]).is_none());
        let config = h.fake.config().expect("applied");
        assert_eq!(config.peers.len(), 1);
        assert_eq!(config.peers[0].public_key, [5; 32]);
        assert!(h.state.get(&status_ptr(5)).is_some());
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn kubespan_off_or_no_identity_removes_the_device_and_statuses() {
        let h = Harness::start(false);
        set_peer(&h.state, 6, &[A]);
        h.state_is(6, StatusState::Unknown).await;
        assert_eq!(h.fake.removes(), 0);

        set_config(&h.state, false, false);
        assert_no_resource(&h.state, &status_ptr(6)).await;
        assert!(h.fake.config().is_none());
        assert_eq!(h.fake.removes(), 1);
        // Removed once, not on every tick; with it, any leftover capture of the config's routing.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(h.fake.removes(), 1);
        let leftovers = h.fake.captures_removed();
        assert_eq!(leftovers.len(), 1);
        assert_eq!(
            (leftovers[0].nftables_table.as_str(), leftovers[0].table),
            ("weft", 180)
        );

        // Back on: configured again.
        set_config(&h.state, true, false);
        h.state_is(6, StatusState::Unknown).await;
        assert!(h.fake.config().is_some());

        // The identity goes (KubeSpan being re-established): the same.
        h.state.destroy(OWNER, &identity_ptr()).expect("destroy");
        assert_no_resource(&h.state, &status_ptr(6)).await;
        assert!(h.fake.config().is_none());
        assert_eq!(h.fake.removes(), 2);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn data_plane_errors_are_returned_without_secrets() {
        let state = fresh_state();
        set_config(&state, true, false);
        let private_key = set_identity(&state);
        set_peer(&state, 7, &[A]);
        let fake = FakeDataPlane::new();
        let mut c = ManagerController::new(Arc::new(fake.clone()));
        fake.fail_applies(Some("no /dev/net/tun"));
        let mut ctx = ReconcileContext::new(&state, &c);
        let err = c.reconcile(&mut ctx).await.expect_err("apply fails");
        let text = format!("{err:#} {err:?} {c:?}");
        assert!(
            text.contains("KubeSpan data plane: configuring kubespan: no /dev/net/tun"),
            "{text}"
        );
        use base64::Engine as _;
        for secret in [
            private_key,
            base64::engine::general_purpose::STANDARD.encode(SECRET),
        ] {
            assert!(!text.contains(&secret), "a secret leaked: {text}");
        }
        assert!(state.get(&status_ptr(7)).is_none(), "nothing written");

        // The retry succeeds.
        fake.fail_applies(None);
        c.reconcile(&mut ctx).await.expect("reconcile");
        assert!(state.get(&status_ptr(7)).is_some());
        assert_eq!(fake.applies(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn harvests_endpoints_of_up_peers_when_asked() {
        let h = Harness::start(true);
        set_affiliate(&h.state, "n8", 8);
        set_peer(&h.state, 8, &[A]);
        set_peer(&h.state, 9, &[B]);
        h.state_is(8, StatusState::Unknown).await;
        h.state_is(9, StatusState::Unknown).await;
        let endpoint = |n: u8| Pointer::to::<EndpointSpec>(&key(n));

        // Peer 8 calls from behind a NAT; peer 9 is up too but belongs to no affiliate.
        h.packet(8, true, Some(C));
        h.packet(9, true, None);
        let r = assert_resource(&h.state, &endpoint(8), |_| Ok(())).await;
        let spec: EndpointSpec = r.decode().expect("spec");
        assert_eq!(spec.affiliate_id, "n8");
        assert_eq!(spec.endpoint, ep(C));
        assert_eq!(
            r.metadata.owner,
            crate::controllers::kubespan::endpoint::NAME
        );
        assert!(h.state.get(&endpoint(9)).is_none());

        // Harvesting off: gone.
        set_config(&h.state, true, false);
        assert_no_resource(&h.state, &endpoint(8)).await;
        // On again, then the peer goes down: gone too.
        set_config(&h.state, true, true);
        assert_resource(&h.state, &endpoint(8), |_| Ok(())).await;
        wait_for_resource(&h.state, &status_ptr(8), Duration::from_secs(40), |r| {
            let s: PeerStatusSpec = r.decode()?;
            anyhow::ensure!(s.state == StatusState::Down, "state {}", s.state);
            Ok(())
        })
        .await
        .expect("peer 8 goes down");
        assert_no_resource(&h.state, &endpoint(8)).await;
        h.stop().await;
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn routed_set_follows_force_routing_and_leaves_the_kubespan_subnet_alone() {
        let subnet: Ipv6Net = "fd00::/64".parse().expect("net");
        let up = nets(&["10.0.0.1/32", "fd00::1/128", "192.168.10.0/24"]);
        let down = nets(&["10.0.0.2/32", "fd00::2/128", "2001:db8::2/128"]);
        let unknown = nets(&["10.0.0.3/32", "192.168.10.128/25"]);
        let peers = || {
            [
                (up.as_slice(), StatusState::Up),
                (down.as_slice(), StatusState::Down),
                (unknown.as_slice(), StatusState::Unknown),
            ]
        };
        assert_eq!(
            routed_set(peers(), true, &subnet),
            nets(&[
                "10.0.0.1/32",
                "10.0.0.2/31",
                "192.168.10.0/24",
                "2001:db8::2/128"
            ]),
            "force routing: every peer, overlaps and neighbours merged, no ULA"
        );
        assert_eq!(
            routed_set(peers(), false, &subnet),
            nets(&["10.0.0.1/32", "192.168.10.0/24"]),
            "allowDownPeerBypass: only peers that are up"
        );
        assert!(routed_set([], true, &subnet).is_empty());
    }

    #[test]
    fn punch_targets_are_the_endpoints_of_peers_not_up_bounded() {
        let a = [ep(A), ep(B)];
        let b = [ep(B), ep(C)];
        let up = [ep("192.0.2.99:51820")];
        let targets = punch_targets([
            (a.as_slice(), StatusState::Unknown),
            (up.as_slice(), StatusState::Up),
            (b.as_slice(), StatusState::Down),
        ]);
        assert_eq!(
            targets,
            [ep(A), ep(B), ep(C)],
            "in order, once each, none of the up peer"
        );

        let many: Vec<SocketAddr> = (0..400u16)
            .map(|i| SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 51820)))
            .collect();
        assert_eq!(
            punch_targets([(many.as_slice(), StatusState::Unknown)]).len(),
            MAX_PUNCH_TARGETS
        );
    }

    fn edit_config(state: &State, edit: impl FnOnce(&mut KubeSpanConfigSpec)) {
        let mut config: KubeSpanConfigSpec = spec(state, KubeSpanConfigSpec::ID).expect("config");
        edit(&mut config);
        put(state, KubeSpanConfigSpec::ID, &config);
    }

    fn routed(h: &Harness) -> Vec<IpNet> {
        h.fake
            .config()
            .and_then(|c| c.capture)
            .map(|c| c.routed)
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn captures_every_peer_or_only_up_ones_and_punches_towards_the_rest() {
        let h = Harness::start(false);
        set_peer(&h.state, 1, &[A]);
        set_peer(&h.state, 2, &[B, C]);
        h.state_is(1, StatusState::Unknown).await;
        h.state_is(2, StatusState::Unknown).await;

        let capture = h.fake.config().and_then(|c| c.capture).expect("capture");
        assert_eq!(
            (
                capture.table,
                capture.rule_priority,
                capture.nftables_table.as_str()
            ),
            (180, 32500, "weft")
        );
        assert_eq!(
            (capture.tunnel_mark, capture.force_mark, capture.mark_mask),
            (0x20, 0x40, 0x60)
        );
        assert_eq!(
            capture.routed,
            nets(&["10.0.0.1/32", "10.0.0.2/32"]),
            "force routing (the default) captures peers before they are up"
        );
        tokio::time::sleep(PUNCH_INTERVAL * 2).await;
        let punches = h.fake.punches();
        for target in [ep(A), ep(B), ep(C)] {
            assert!(punches.contains(&target), "{target} punched: {punches:?}");
        }

        // allowDownPeerBypass: only peer 1, once it is up.
        edit_config(&h.state, |c| c.force_routing = false);
        h.packet(1, true, Some(A));
        h.state_is(1, StatusState::Up).await;
        tokio::time::sleep(TICK_INTERVAL * 2).await;
        assert_eq!(routed(&h), nets(&["10.0.0.1/32"]));
        let before = h.fake.punches().len();
        tokio::time::sleep(PUNCH_INTERVAL * 2).await;
        let later = h.fake.punches()[before..].to_vec();
        assert!(!later.is_empty(), "peer 2 is still punched");
        assert!(!later.contains(&ep(A)), "peer 1 is up: no punches for it");

        // NAT traversal off: no punches at all.
        edit_config(&h.state, |c| c.nat_traversal = false);
        tokio::time::sleep(TICK_INTERVAL * 2).await;
        let before = h.fake.punches().len();
        tokio::time::sleep(PUNCH_INTERVAL * 3).await;
        assert_eq!(h.fake.punches().len(), before);
        h.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_heard_punching_gets_that_endpoint_at_once() {
        let h = Harness::start(false);
        set_peer(&h.state, 1, &[A, B, C]);
        h.state_is(1, StatusState::Unknown).await;
        assert_eq!(h.configured_endpoint(1), Some(ep(A)));

        h.fake.set_heard(&[ep(C)]);
        tokio::time::sleep(TICK_INTERVAL * 2).await;
        assert_eq!(
            h.configured_endpoint(1),
            Some(ep(C)),
            "switched to the endpoint a punch came from, well before cycling would"
        );

        // With NAT traversal off, punches heard are ignored.
        edit_config(&h.state, |c| c.nat_traversal = false);
        set_peer(&h.state, 2, &[A, B]);
        h.fake.set_heard(&[ep(B)]);
        h.state_is(2, StatusState::Unknown).await;
        tokio::time::sleep(TICK_INTERVAL * 2).await;
        assert_eq!(h.configured_endpoint(2), Some(ep(A)));
        h.stop().await;
    }
}
