//! Privileged tests of the userspace data plane: two network namespaces joined by a veth pair, the
//! backend running inside each, configured with the other as its peer — real TUN devices, real
//! WireGuard over UDP, real routes.
//!
//! The namespaces, the veth pair and every command come from the lab every Weft test shares
//! (`weft-lab`). How a backend gets into a namespace: a short-lived thread enters it (`setns`,
//! `weft_lab::netns::with_ns`) and constructs the backend there; the backend's data-plane thread inherits the namespace and creates every socket
//! and the TUN device on it (see `weftd::wg::userspace`). The test itself stays in the host
//! namespace and drives both backends through the `DataPlane` trait; `ip`, `ping` and `wg` run
//! under `ip netns exec`/`ip -n`, so traffic never leaves the test's namespaces.
//!
//! Needs root, `/dev/net/tun`, `ip` (iproute2), `ping` (iputils-ping), `wg` (wireguard-tools) and
//! `nft` (nftables).
//! When something is missing the tests fail under `CI=true` and are skipped (with the reason)
//! otherwise. Names carry the process id, so parallel tests and concurrent runs do not collide,
//! and leftovers of dead runs are deleted first; everything a test creates is removed on drop,
//! also when it fails. Every wait has a deadline and every command a timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use gotatun::x25519::{PublicKey, StaticSecret};
use ipnet::IpNet;
use weft_api::config::validate::RoutingSettings;
use weft_lab::{LabError, Output, link, netns, prereq};
use weftd::wg::userspace::{UAPI_DIR, UserspaceDataPlane, UserspaceOptions};
use weftd::wg::{Capture, DataPlane, DeviceConfig, Key, PeerConfig, PeerState, base64_key};

/// Generous for a handshake between two namespaces on a loaded 2-core CI machine (it takes
/// milliseconds when nothing is wrong).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// For conditions that follow quickly from something already seen (a ping, a counter).
const SHORT_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// Namespace names: `wdp-<pid>-<test>-<a|b>`.
const NS_PREFIX: &str = "wdp-";
const PORT: u16 = 51820;
const PSK: Key = [42; 32];

/// Distinguishes the tests of one run (they run in parallel, in one process).
static NEXT_TEST: AtomicU32 = AtomicU32::new(1);

// ---------------------------------------------------------------------------------------------
// Prerequisites and namespaces (the shared lab, `weft-lab`)
// ---------------------------------------------------------------------------------------------

/// `true` when the tests can run; otherwise fails under `CI=true`, or explains the skip
/// ([`prereq::ready`]). The tests are `#[ignore = "needs root"]` so that a plain `cargo test`
/// shows them as ignored, not passed; `-- --include-ignored` runs them.
fn prerequisites() -> bool {
    let mut missing = prereq::missing(
        "network namespaces, TUN devices",
        &[
            ("ip", "iproute2"),
            ("ping", "iputils-ping"),
            ("wg", "wireguard-tools"),
            ("nft", "nftables"),
        ],
    );
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun".to_owned());
    }
    prereq::ready("data-plane tests", &missing)
}

/// Deletes namespaces and UAPI sockets left by runs whose process is gone (a killed test cannot
/// clean up after itself). Live processes' names are left alone: they may be running right now.
fn delete_leftovers() {
    let dead = |pid: &str| !pid.is_empty() && !Path::new("/proc").join(pid).exists();
    for name in netns::list() {
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        if dead(rest.split('-').next().unwrap_or_default()) {
            netns::delete(&name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(UAPI_DIR) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Interface names: `wd<pid>x<test><a|b>`.
            let Some(rest) = name.strip_prefix("wd") else {
                continue;
            };
            if name.ends_with(".sock")
                && rest.contains('x')
                && dead(rest.split('x').next().unwrap_or_default())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A lab namespace ([`netns::Namespace`], deleted on drop with the veth end inside it), with
/// `ip` steps that must succeed.
struct Namespace(netns::Namespace);

impl Namespace {
    fn create(name: String) -> Namespace {
        Namespace(netns::Namespace::create(name).unwrap_or_else(|e| panic!("{e}")))
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    /// Runs a command inside the namespace.
    fn exec(&self, program: &str, args: &[&str]) -> Result<Output, LabError> {
        self.0.exec(program, args)
    }

    /// `ip -n <this> args…`, which must succeed; its stdout.
    fn ip(&self, args: &[&str]) -> String {
        self.0.ip(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates the backend inside this namespace (see the module doc).
    fn data_plane(&self, options: UserspaceOptions) -> UserspaceDataPlane {
        self.enter(|| UserspaceDataPlane::new(options).expect("start the backend"))
    }

    /// Runs `f` inside this namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.0.enter(f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `f` inside this namespace on a thread of its own and returns at once, so the two ends
    /// of a transfer run side by side.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let name = self.name().to_owned();
        std::thread::spawn(move || netns::with_ns(&name, f).unwrap_or_else(|e| panic!("{e}")))
    }
}

/// One node: a namespace, a veth end with an underlay address, and the backend.
struct Node {
    // Declared first: dropped (interface torn down) before the namespace is deleted.
    plane: UserspaceDataPlane,
    ns: Namespace,
    interface: String,
    secret: Key,
    public_key: Key,
    underlay: IpAddr,
    /// The node's KubeSpan address (`/64`).
    ula: ipnet::Ipv6Net,
}

impl Drop for Node {
    fn drop(&mut self) {
        // The backend's own drop unlinks the socket; this covers a backend that never got there.
        let _ = std::fs::remove_file(Path::new(UAPI_DIR).join(format!("{}.sock", self.interface)));
    }
}

impl Node {
    fn endpoint(&self) -> SocketAddr {
        SocketAddr::new(self.underlay, PORT)
    }

    /// This node as a peer of another: its ULA /128 plus `extra` prefixes.
    fn as_peer(&self, endpoint: Option<SocketAddr>, extra: &[&str]) -> PeerConfig {
        let mut allowed_ips = vec![IpNet::V6(
            ipnet::Ipv6Net::new(self.ula.addr(), 128).expect("/128"),
        )];
        allowed_ips.extend(extra.iter().map(|s| s.parse::<IpNet>().expect("prefix")));
        PeerConfig {
            public_key: self.public_key,
            preshared_key: Some(PSK),
            endpoint,
            persistent_keepalive: Some(Duration::from_secs(25)),
            allowed_ips,
        }
    }

    fn config(&self, peers: Vec<PeerConfig>) -> DeviceConfig {
        DeviceConfig {
            name: self.interface.clone(),
            private_key: self.secret,
            listen_port: PORT,
            mtu: 1420,
            address: self.ula,
            peers,
            capture: None,
        }
    }

    async fn apply(&self, peers: Vec<PeerConfig>) {
        self.apply_with(peers, None).await;
    }

    async fn apply_with(&self, peers: Vec<PeerConfig>, capture: Option<Capture>) {
        let config = DeviceConfig {
            capture,
            ..self.config(peers)
        };
        if let Err(e) = self.plane.apply(&config).await {
            panic!("{}: apply: {e}", self.interface);
        }
    }

    async fn peer(&self, public_key: &Key) -> Option<PeerState> {
        let peers = self.plane.peers().await.expect("peers");
        peers.into_iter().find(|p| p.public_key == *public_key)
    }

    fn ping(&self, to: &Node) -> bool {
        let target = to.ula.addr().to_string();
        self.ns
            .exec("ping", &["-6", "-c", "1", "-W", "1", &target])
            .is_ok_and(|o| o.success)
    }

    fn wg_show(&self) -> String {
        match self.ns.exec("wg", &["show", &self.interface]) {
            Ok(out) if out.success => out.stdout,
            Ok(out) => panic!("wg show {}: {}", self.interface, out.stderr),
            Err(e) => panic!("{e}"),
        }
    }

    /// The route of `prefix` in the capture's table (180), where the routed set goes.
    fn route(&self, prefix: &str) -> String {
        let family = if prefix.contains(':') { "-6" } else { "-4" };
        self.ns
            .ip(&[family, "route", "show", "table", "180", prefix])
    }
}

/// Two nodes joined by a veth pair.
struct Pair {
    a: Node,
    b: Node,
    /// Per-test number, used in names and addresses.
    n: u32,
}

impl Pair {
    fn new() -> Pair {
        Pair::with(UserspaceOptions::default())
    }

    fn with(options: UserspaceOptions) -> Pair {
        delete_leftovers();
        let n = NEXT_TEST.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let ns_a = Namespace::create(format!("{NS_PREFIX}{pid}-{n}-a"));
        let ns_b = Namespace::create(format!("{NS_PREFIX}{pid}-{n}-b"));
        // Both ends are created directly inside the namespaces: no name is ever taken in the host.
        link::veth((Some(ns_a.name()), "veth-a"), (Some(ns_b.name()), "veth-b"))
            .unwrap_or_else(|e| panic!("{e}"));
        let node = |ns: Namespace, side: char, host: u8| {
            let underlay = IpAddr::V4(Ipv4Addr::new(10, 77, n as u8, host));
            let veth = format!("veth-{side}");
            ns.ip(&["addr", "add", &format!("{underlay}/24"), "dev", &veth]);
            ns.ip(&["link", "set", &veth, "up"]);
            let secret = [host + 10; 32];
            let public_key = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
            Node {
                plane: ns.data_plane(options.clone()),
                ns,
                interface: format!("wd{pid}x{n}{side}"),
                secret,
                public_key,
                underlay,
                ula: format!("fd77:0:{n:x}::{host}/64").parse().expect("ULA"),
            }
        };
        Pair {
            a: node(ns_a, 'a', 1),
            b: node(ns_b, 'b', 2),
            n,
        }
    }

    /// Configures both nodes as each other's peer — `b` passive (no endpoint for `a`, it learns
    /// it from `a`'s handshake) — and waits for the handshake. `b` first: it must listen before
    /// `a` initiates.
    async fn connect(&self, extra_a: &[&str], extra_b: &[&str]) {
        self.b.apply(vec![self.a.as_peer(None, extra_a)]).await;
        self.a
            .apply(vec![self.b.as_peer(Some(self.b.endpoint()), extra_b)])
            .await;
        wait_for("a handshake with b", HANDSHAKE_TIMEOUT, async || {
            self.a
                .peer(&self.b.public_key)
                .await
                .and_then(|p| p.last_handshake)
        })
        .await;
    }
}

/// Polls `check` until it returns `Some`, or panics naming `what` at the deadline.
async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn uapi_socket(interface: &str) -> PathBuf {
    Path::new(UAPI_DIR).join(format!("{interface}.sock"))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Handshake, traffic both ways, counters, `wg show`, change signals, the passive side learning
/// the endpoint and keeping it when re-applied without one, and no route for the own ULA /64.
#[tokio::test]
#[ignore = "needs root"]
async fn two_nodes_handshake_and_carry_traffic() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    let mut changes = a.plane.changes();
    changes.borrow_and_update();
    pair.connect(&[], &[]).await;
    tokio::time::timeout(SHORT_TIMEOUT, changes.changed())
        .await
        .expect("changes() raised after the handshake")
        .expect("backend alive");

    // b was configured without an endpoint and learned a's from the handshake.
    let learned = wait_for("b to learn a's endpoint", SHORT_TIMEOUT, async || {
        b.peer(&a.public_key).await.and_then(|p| p.endpoint)
    })
    .await;
    assert_eq!(learned, a.endpoint());

    let before = a.peer(&b.public_key).await.expect("b is a peer of a");
    wait_for("a to ping b over the tunnel", SHORT_TIMEOUT, async || {
        a.ping(b).then_some(())
    })
    .await;
    wait_for("b to ping a over the tunnel", SHORT_TIMEOUT, async || {
        b.ping(a).then_some(())
    })
    .await;
    let after = wait_for("a's counters to grow", SHORT_TIMEOUT, async || {
        let now = a.peer(&b.public_key).await?;
        (now.rx_bytes > before.rx_bytes && now.tx_bytes > before.tx_bytes).then_some(now)
    })
    .await;
    assert!(after.last_handshake.is_some());

    // `wg` reads the same state over the UAPI socket.
    let shown = a.wg_show();
    for expected in [
        format!("interface: {}", a.interface),
        format!("listening port: {PORT}"),
        format!("peer: {}", base64_key(&b.public_key)),
        "preshared key: (hidden)".to_owned(),
        format!("endpoint: {}", b.endpoint()),
        format!("allowed ips: {}/128", b.ula.addr()),
        "latest handshake:".to_owned(),
        "persistent keepalive: every 25 seconds".to_owned(),
    ] {
        assert!(
            shown.contains(&expected),
            "`wg show` lacks {expected:?}:\n{shown}"
        );
    }

    // Re-applying b's config (still no endpoint for a) keeps the learned endpoint (§5.1).
    b.apply(vec![a.as_peer(None, &[])]).await;
    assert_eq!(
        b.peer(&a.public_key).await.and_then(|p| p.endpoint),
        Some(a.endpoint())
    );

    // The peer's ULA /128 is reached through the connected /64, not a route of its own.
    let routes = a.ns.ip(&["-6", "route", "show", "dev", &a.interface]);
    assert!(
        routes.contains(&format!("fd77:0:{:x}::/64", pair.n)),
        "connected route missing:\n{routes}"
    );
    assert!(
        !routes.contains(&b.ula.addr().to_string()),
        "unexpected host route:\n{routes}"
    );
}

/// Changing a peer's allowed IPs (and the routed set with them) modifies the peer in place: the
/// route appears in the capture's table, the handshake and the
/// counters carry on (a re-created peer would start from zero and handshake again).
#[tokio::test]
#[ignore = "needs root"]
async fn updating_allowed_ips_keeps_the_session() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    pair.connect(&[], &[]).await;
    wait_for("a to ping b", SHORT_TIMEOUT, async || {
        a.ping(b).then_some(())
    })
    .await;
    let before = a.peer(&b.public_key).await.expect("peer");
    let handshake = before.last_handshake.expect("handshake");
    // Let the handshake age past the backend's jitter tolerance, so a new handshake would show as
    // a different time (a condition with a deadline, not a sleep standing in for an assertion).
    wait_for("the handshake to be 2 s old", SHORT_TIMEOUT, async || {
        (SystemTime::now()
            .duration_since(handshake)
            .is_ok_and(|age| age >= Duration::from_secs(2)))
        .then_some(())
    })
    .await;

    let extra = format!("10.99.{}.0/24", pair.n);
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[extra.as_str()])],
        Some(capture(&[&extra])),
    )
    .await;
    let route = a.route(&extra);
    assert!(
        route.contains(&format!("dev {}", a.interface)),
        "no route for {extra}: {route:?}"
    );
    assert!(a.wg_show().contains(&extra), "allowed IPs not updated");

    wait_for("a to ping b after the update", SHORT_TIMEOUT, async || {
        a.ping(b).then_some(())
    })
    .await;
    let after = a.peer(&b.public_key).await.expect("peer");
    assert_eq!(
        after.last_handshake,
        Some(handshake),
        "a new handshake happened"
    );
    assert!(
        after.rx_bytes > before.rx_bytes && after.tx_bytes > before.tx_bytes,
        "counters restarted: {before:?} → {after:?}"
    );
}

/// Removing a peer (and its prefix from the routed set) removes its route and its `wg` entry; `remove()` deletes the interface and the
/// UAPI socket, and is idempotent.
#[tokio::test]
#[ignore = "needs root"]
async fn removing_a_peer_removes_its_route_and_remove_cleans_up() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    let extra = format!("10.98.{}.0/24", pair.n);
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[extra.as_str()])],
        Some(capture(&[&extra])),
    )
    .await;
    assert!(a.route(&extra).contains(&a.interface), "route missing");
    assert!(a.wg_show().contains(&base64_key(&b.public_key)));

    a.apply(Vec::new()).await;
    assert_eq!(a.route(&extra).trim(), "", "route kept after its peer left");
    assert!(!a.wg_show().contains("peer:"), "peer kept");
    assert!(a.plane.peers().await.expect("peers").is_empty());

    let socket = uapi_socket(&a.interface);
    assert!(socket.exists());
    a.plane.remove().await.expect("remove");
    let link =
        a.ns.exec("ip", &["link", "show", &a.interface])
            .expect("ip");
    assert!(!link.success, "interface still there: {}", link.stdout);
    assert!(!socket.exists(), "UAPI socket still there");
    a.plane.remove().await.expect("remove again");
    assert!(a.plane.peers().await.expect("peers").is_empty());

    // And it comes back on the next apply.
    a.apply(Vec::new()).await;
    assert!(socket.exists());
}

/// Refused configurations leave nothing behind. The UAPI directory is shared by all namespaces:
/// a second device with a name already served is refused instead of stealing the first one's
/// socket. A device whose port is taken fails to listen, and its half-made TUN and socket go.
#[tokio::test]
#[ignore = "needs root"]
async fn refused_devices_leave_nothing_behind() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    a.apply(Vec::new()).await;

    let mut clash = b.config(Vec::new());
    clash.name = a.interface.clone();
    let err = b.plane.apply(&clash).await.expect_err("name in use");
    assert!(
        err.to_string().contains("another process serves it"),
        "{err}"
    );
    assert!(uapi_socket(&a.interface).exists());
    assert!(
        a.wg_show().contains(&a.interface),
        "a no longer answers `wg`"
    );

    // A second backend in a's namespace, on a's port.
    let second = a.ns.data_plane(UserspaceOptions::default());
    let mut taken = a.config(Vec::new());
    taken.name = format!("{}z", a.interface);
    let err = second.apply(&taken).await.expect_err("port in use");
    assert!(
        err.to_string()
            .contains(&format!("listening on UDP port {PORT}")),
        "{err}"
    );
    let link = a.ns.exec("ip", &["link", "show", &taken.name]).expect("ip");
    assert!(!link.success, "half-made interface kept: {}", link.stdout);
    assert!(!uapi_socket(&taken.name).exists(), "half-made socket kept");
    assert!(second.peers().await.expect("peers").is_empty());
}

/// KubeSpan's capture with Talos's values, routing `routed`.
fn capture(routed: &[&str]) -> Capture {
    let routed = routed.iter().map(|n| n.parse().expect("net")).collect();
    Capture::new(&RoutingSettings::default(), routed)
}

/// Traffic to a routed address (the peer's underlay address, which is also its endpoint) is
/// marked by nftables, routed through table 180 into the tunnel and arrives encrypted; the
/// table, rule, default routes (with the MTU) and nftables table are there while the capture is,
/// and gone after the capture is dropped from the config and after `remove`.
#[tokio::test]
#[ignore = "needs root"]
async fn capture_marks_routed_traffic_into_the_tunnel_and_is_removed_cleanly() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    let a_host = format!("{}/32", a.underlay);
    let b_host = format!("{}/32", b.underlay);
    b.apply_with(vec![a.as_peer(None, &[&a_host])], Some(capture(&[&a_host])))
        .await;
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[&b_host])],
        Some(capture(&[&b_host])),
    )
    .await;

    let tables =
        a.ns.exec("nft", &["list", "table", "inet", "weft"])
            .expect("nft");
    assert!(tables.success, "nft list: {}", tables.stderr);
    assert!(
        tables.stdout.contains(&b.underlay.to_string()),
        "{}",
        tables.stdout
    );
    assert!(
        tables.stdout.contains("maxseg size set 1368"),
        "{}",
        tables.stdout
    );
    for family in ["-4", "-6"] {
        let rules = a.ns.ip(&[family, "rule", "show"]);
        assert!(
            rules.contains("32500:\tfrom all fwmark 0x40/0x60 lookup 180"),
            "{family} rules: {rules}"
        );
        // The fallback for the node's own packets the main table cannot route (Weft).
        assert!(
            rules.contains(
                "32768:\tnot from all fwmark 0x20/0x60 lookup 180 suppress_prefixlength 0"
            ),
            "{family} rules: {rules}"
        );
        let routes = a.ns.ip(&[family, "route", "show", "table", "180"]);
        assert!(
            routes.contains(&format!("default dev {}", a.interface)) && routes.contains("mtu 1420"),
            "{family} table 180: {routes}"
        );
    }
    // Table 180 also routes each prefix of the routed set, for the fallback rule.
    let routes = a.ns.ip(&["route", "show", "table", "180"]);
    assert!(
        routes.contains(&format!(
            "{} dev {} proto static scope link metric 1 mtu 1420",
            b.underlay, a.interface
        )),
        "table 180: {routes}"
    );
    // Per-peer routes are not used in the main table with the capture: the mark decides.
    let main = a.ns.ip(&["route", "show", &b_host]);
    assert!(
        main.trim().is_empty(),
        "main table route for {b_host}: {main}"
    );

    ping_underlay_through_tunnel(a, b).await;

    // A prefix leaving the routed set leaves table 180; one joining it gets its route.
    let other = "192.0.2.0/24";
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[&b_host, other])],
        Some(capture(&[other])),
    )
    .await;
    let routes = a.ns.ip(&["route", "show", "table", "180"]);
    assert!(
        routes.contains(&format!("{other} dev {}", a.interface)),
        "table 180: {routes}"
    );
    assert!(
        !routes.contains(&b.underlay.to_string()),
        "table 180: {routes}"
    );
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[&b_host])],
        Some(capture(&[&b_host])),
    )
    .await;

    // Dropping the capture from the config removes it; the tunnel stays.
    a.apply_with(vec![b.as_peer(Some(b.endpoint()), &[&b_host])], None)
        .await;
    assert_no_capture(&a.ns, &a.interface);
    // The tunnel survives the capture.
    wait_ping(a, b).await;

    // And `remove` takes everything.
    a.apply_with(
        vec![b.as_peer(Some(b.endpoint()), &[&b_host])],
        Some(capture(&[&b_host])),
    )
    .await;
    assert!(
        a.ns.exec("nft", &["list", "table", "inet", "weft"])
            .expect("nft")
            .success
    );
    a.plane.remove().await.expect("remove");
    assert_no_capture(&a.ns, &a.interface);
    b.plane.remove().await.expect("remove");
    assert_no_capture(&b.ns, &b.interface);
}

/// No nftables table, no rule to table 180 and no route through `iface` in it, in `ns`.
fn assert_no_capture(ns: &Namespace, iface: &str) {
    let nft = ns
        .exec("nft", &["list", "table", "inet", "weft"])
        .expect("nft");
    assert!(
        !nft.success,
        "the nftables table is still there: {}",
        nft.stdout
    );
    for family in ["-4", "-6"] {
        let rules = ns.ip(&[family, "rule", "show"]);
        assert!(
            !rules.contains("lookup 180"),
            "{family} rules kept: {rules}"
        );
        let routes = ns
            .exec("ip", &[family, "route", "show", "table", "180"])
            .expect("ip");
        assert!(
            !routes.stdout.contains(iface),
            "{family} table 180 kept: {}",
            routes.stdout
        );
    }
}

/// What a killed weftd leaves behind (its nftables table and its two rules; the routes went with
/// the link) is removed by `remove_capture`, and calling it again is fine.
#[tokio::test]
#[ignore = "needs root"]
async fn a_leftover_capture_is_removed() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let a = &pair.a;
    let made =
        a.ns.exec("nft", &["add", "table", "inet", "weft"])
            .expect("nft");
    assert!(made.success, "{}", made.stderr);
    for family in ["-4", "-6"] {
        a.ns.ip(&[
            family,
            "rule",
            "add",
            "fwmark",
            "0x40/0x60",
            "lookup",
            "180",
            "priority",
            "32500",
        ]);
        a.ns.ip(&[
            family,
            "rule",
            "add",
            "not",
            "fwmark",
            "0x20/0x60",
            "lookup",
            "180",
            "suppress_prefixlength",
            "0",
            "priority",
            "32768",
        ]);
    }
    for _ in 0..2 {
        a.plane
            .remove_capture(&capture(&[]))
            .await
            .expect("remove the leftover");
        assert_no_capture(&a.ns, &a.interface);
    }
}

/// Pings `b`'s underlay address from `a` until it answers, and checks that the pings crossed the
/// tunnel: the peer's counters grow, after a handshake.
async fn ping_underlay_through_tunnel(a: &Node, b: &Node) {
    let before = a
        .peer(&b.public_key)
        .await
        .map(|p| (p.rx_bytes, p.tx_bytes))
        .unwrap_or_default();
    let target = b.underlay.to_string();
    wait_for(
        "a to ping b's underlay address",
        HANDSHAKE_TIMEOUT,
        async || {
            a.ns.exec("ping", &["-c", "1", "-W", "1", &target])
                .is_ok_and(|o| o.success)
                .then_some(())
        },
    )
    .await;
    wait_for(
        "the ping in the tunnel's counters",
        SHORT_TIMEOUT,
        async || {
            let now = a.peer(&b.public_key).await?;
            let (rx, tx) = before;
            (now.rx_bytes > rx && now.tx_bytes > tx && now.last_handshake.is_some()).then_some(())
        },
    )
    .await;
}

/// Waits until `a` pings `b`'s KubeSpan address.
async fn wait_ping(a: &Node, b: &Node) {
    let what = format!("{} to ping {}'s ULA", a.interface, b.interface);
    wait_for(&what, SHORT_TIMEOUT, async || a.ping(b).then_some(())).await;
}

/// The STUN probe and the punches leave from the WireGuard socket itself (source port 51820),
/// the answer comes back through it without disturbing WireGuard, the mapped address is what the
/// server saw, and a punch received is noted with its source.
#[tokio::test]
#[ignore = "needs root"]
async fn stun_probes_and_punches_use_the_wireguard_socket() {
    if !prerequisites() {
        return;
    }
    let pair = Pair::new();
    let (a, b) = (&pair.a, &pair.b);
    pair.connect(&[], &[]).await;

    // A STUN server in b's namespace (a test double of weft-discovery's reflector).
    let bind = SocketAddr::new(b.underlay, 3478);
    let server =
        b.ns.enter(|| std::net::UdpSocket::bind(bind).expect("bind the STUN server"));
    server
        .set_read_timeout(Some(SHORT_TIMEOUT))
        .expect("timeout");
    let seen = std::thread::spawn(move || {
        let mut buf = [0u8; 600];
        let mut seen = Vec::new();
        // One request (answered) and one indication.
        for _ in 0..2 {
            let Ok((n, from)) = server.recv_from(&mut buf) else {
                break;
            };
            let message = weft_api::stun::parse(&buf[..n]).expect("a STUN message");
            if let weft_api::stun::Message::BindingRequest { txid } = &message {
                let answer = weft_api::stun::binding_success(*txid, from);
                server.send_to(&answer, from).expect("answer");
            }
            seen.push((message, from));
        }
        seen
    });

    let mapped = a
        .plane
        .reflexive_endpoint(bind, SHORT_TIMEOUT)
        .await
        .expect("a STUN answer");
    assert_eq!(mapped, a.endpoint(), "the server saw the WireGuard socket");
    let sent = a.plane.punch(&[bind]).await.expect("punch");
    assert_eq!(sent, 1);
    let seen = seen.join().expect("server thread");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(matches!(
        seen[0].0,
        weft_api::stun::Message::BindingRequest { .. }
    ));
    assert!(matches!(
        seen[1].0,
        weft_api::stun::Message::BindingIndication { .. }
    ));
    for (_, from) in &seen {
        assert_eq!(*from, a.endpoint(), "sent from the WireGuard port");
    }
    // A punch from b is noted by a, with the address it came from (b's WireGuard socket).
    assert_eq!(b.plane.punch(&[a.endpoint()]).await.expect("punch"), 1);
    wait_for("a to hear b's punch", SHORT_TIMEOUT, async || {
        let heard = a.plane.heard_from().await.expect("heard");
        heard.contains(&b.endpoint()).then_some(())
    })
    .await;

    // WireGuard on the same socket is undisturbed.
    wait_ping(a, b).await;
    wait_ping(b, a).await;
}

// ---------------------------------------------------------------------------------------------
// Offloads: the same traffic through the offload path and the plain one
// ---------------------------------------------------------------------------------------------

/// Bytes of each TCP transfer: enough for TSO super-packets and GRO batches to form.
const TCP_BYTES: usize = 8 << 20;
/// The transfer's content: byte `i` of the stream. Not periodic at any segment size, so a segment
/// lost, repeated or put out of place changes what arrives.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i / 1021) ^ (i >> 16)) as u8
}
/// The tunnel MTU of `Node::config`.
const TUNNEL_MTU: usize = 1420;
/// Sends of one UDP datagram before the size counts as lost.
const UDP_ATTEMPTS: usize = 5;
/// How long a UDP echo may take before the datagram is sent again.
const UDP_WAIT: Duration = Duration::from_millis(500);

/// Sends [`TCP_BYTES`] of the pattern from `from` to `to` at `addr` (inside the tunnel); the
/// receiver checks every byte. Returns what arrived, or the first difference.
fn tcp_transfer(
    from: &Namespace,
    to: &Namespace,
    addr: IpAddr,
    port: u16,
) -> Result<usize, String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = to.spawn(move || -> Result<usize, String> {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind((addr, port)).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let _ = ready_tx.send(());
        let deadline = std::time::Instant::now() + HANDSHAKE_TIMEOUT;
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return Err("no connection".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(SHORT_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0usize;
        loop {
            let n = stream
                .read(&mut buf)
                .map_err(|e| format!("after {total} bytes: {e}"))?;
            if n == 0 {
                return Ok(total);
            }
            if let Some(bad) = (0..n).find(|&j| buf[j] != pattern(total + j)) {
                return Err(format!("byte {} differs", total + bad));
            }
            total += n;
        }
    });
    ready_rx
        .recv_timeout(SHORT_TIMEOUT)
        .map_err(|_| "the receiver did not listen".to_owned())?;
    let client = from.spawn(move || -> Result<(), String> {
        use std::io::Write as _;
        let mut stream =
            std::net::TcpStream::connect_timeout(&SocketAddr::new(addr, port), SHORT_TIMEOUT)
                .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_write_timeout(Some(SHORT_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let data: Vec<u8> = (0..TCP_BYTES).map(pattern).collect();
        // Uneven writes, so segment boundaries fall everywhere.
        for chunk in data.chunks(65_521) {
            stream.write_all(chunk).map_err(|e| format!("write: {e}"))?;
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())
    });
    client.join().map_err(|_| "client panicked")??;
    server.join().map_err(|_| "server panicked")?
}

/// A UDP echo in `to` at `addr`; from `from`, every payload size in `sizes` goes out and must come
/// back intact (resent up to [`UDP_ATTEMPTS`] times). Returns the sizes that never did.
fn udp_every_size(
    from: &Namespace,
    to: &Namespace,
    addr: IpAddr,
    port: u16,
    sizes: std::ops::RangeInclusive<usize>,
) -> Vec<usize> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let echo = to.spawn(move || {
        let socket = std::net::UdpSocket::bind((addr, port)).expect("bind the echo");
        socket
            .set_read_timeout(Some(SHORT_TIMEOUT))
            .expect("timeout");
        let _ = ready_tx.send(());
        let mut buf = vec![0u8; 65_536];
        // Ends on the empty datagram that closes the run, or when nothing comes for a while.
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = socket.send_to(&buf[..n], peer);
        }
    });
    ready_rx
        .recv_timeout(SHORT_TIMEOUT)
        .expect("the echo listens");
    let client = from.spawn(move || {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(
            if addr.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            },
            0,
        ))
        .expect("bind");
        socket.set_read_timeout(Some(UDP_WAIT)).expect("timeout");
        let target = SocketAddr::new(addr, port);
        let mut lost = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for size in sizes {
            let payload: Vec<u8> = (0..size).map(|i| pattern(i + size)).collect();
            let came_back = (0..UDP_ATTEMPTS).any(|_| {
                if socket.send_to(&payload, target).is_err() {
                    return false;
                }
                // Skip late echoes of earlier sizes.
                while let Ok(n) = socket.recv(&mut buf) {
                    if buf[..n] == payload[..] {
                        return true;
                    }
                }
                false
            });
            if !came_back {
                lost.push(size);
            }
        }
        let _ = socket.send_to(&[], target);
        lost
    });
    let lost = client.join().expect("client thread");
    echo.join().expect("echo thread");
    lost
}

/// One UDP GSO send (`UDP_SEGMENT`) of `count` segments of `segment` bytes from `from`: with
/// offloads the TUN takes it whole (USO) and the data plane splits it. Returns the segments that
/// arrived at `to` intact (by index), after up to [`UDP_ATTEMPTS`] sends.
fn udp_gso_burst(from: &Namespace, to: &Namespace, addr: IpAddr, port: u16) -> usize {
    const COUNT: usize = 20;
    const SEGMENT: usize = 1000;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = to.spawn(move || {
        let socket = std::net::UdpSocket::bind((addr, port)).expect("bind");
        socket.set_read_timeout(Some(UDP_WAIT)).expect("timeout");
        let _ = ready_tx.send(());
        let mut seen = std::collections::BTreeSet::new();
        let mut buf = vec![0u8; 65_536];
        let mut quiet = 0;
        while seen.len() < COUNT && quiet < UDP_ATTEMPTS * 2 {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let index = usize::from(buf[0]);
                    let intact = n == SEGMENT
                        && index < COUNT
                        && (1..n).all(|i| buf[i] == pattern(index * SEGMENT + i));
                    if intact {
                        seen.insert(index);
                    }
                }
                Err(_) => quiet += 1,
            }
        }
        seen.len()
    });
    ready_rx
        .recv_timeout(SHORT_TIMEOUT)
        .expect("the receiver listens");
    let sender = from.spawn(move || {
        use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};
        use std::os::fd::AsRawFd as _;
        let socket = std::net::UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).expect("bind");
        let mut data = vec![0u8; COUNT * SEGMENT];
        for (index, segment) in data.chunks_mut(SEGMENT).enumerate() {
            segment[0] = index as u8;
            for (i, byte) in segment.iter_mut().enumerate().skip(1) {
                *byte = pattern(index * SEGMENT + i);
            }
        }
        let target = SockaddrStorage::from(SocketAddr::new(addr, port));
        let size = SEGMENT as u16;
        for _ in 0..UDP_ATTEMPTS {
            sendmsg(
                socket.as_raw_fd(),
                &[std::io::IoSlice::new(&data)],
                &[ControlMessage::UdpGsoSegments(&size)],
                MsgFlags::empty(),
                Some(&target),
            )
            .expect("a UDP GSO send");
            std::thread::sleep(UDP_WAIT);
        }
    });
    sender.join().expect("sender thread");
    receiver.join().expect("receiver thread")
}

/// `wg show <interface> transfer`: (received, sent) bytes of its one peer.
fn wg_transfer(node: &Node) -> (u64, u64) {
    let out = node
        .ns
        .exec("wg", &["show", &node.interface, "transfer"])
        .expect("wg show transfer");
    assert!(out.success, "wg show transfer: {}", out.stderr);
    let fields: Vec<&str> = out.stdout.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    (number(1), number(2))
}

/// Packets the kernel received on the node's TUN: one per write weftd made to it (a coalesced
/// super-packet counts once).
fn tun_writes(node: &Node) -> u64 {
    let path = format!("/sys/class/net/{}/statistics/rx_packets", node.interface);
    let out = node.ns.exec("cat", &[&path]).expect("cat rx_packets");
    assert!(out.success, "cat {path}: {}", out.stderr);
    out.stdout.trim().parse().expect("rx_packets is a number")
}

/// The offloads `ethtool -k` reports on `interface` (`feature: on` lines), when ethtool exists.
fn ethtool_features(node: &Node) -> Option<String> {
    let out = node.ns.exec("ethtool", &["-k", &node.interface]).ok()?;
    out.success.then_some(out.stdout)
}

/// TCP over IPv6 and IPv4 inside the tunnel counted byte for byte, UDP of every size from 1 to the
/// MTU (both families) intact, a UDP GSO burst split right, and the transfer in `wg show`'s
/// counters — through the offload path or the plain one.
async fn traffic_is_intact(offload: bool) {
    let pair = Pair::with(UserspaceOptions {
        offload,
        ..UserspaceOptions::default()
    });
    let (a, b) = (&pair.a, &pair.b);
    let (v4_a, v4_b) = (
        format!("10.99.{}.1", pair.n as u8),
        format!("10.99.{}.2", pair.n as u8),
    );
    pair.connect(&[&format!("{v4_a}/32")], &[&format!("{v4_b}/32")])
        .await;
    a.ns.ip(&["addr", "add", &format!("{v4_a}/24"), "dev", &a.interface]);
    b.ns.ip(&["addr", "add", &format!("{v4_b}/24"), "dev", &b.interface]);
    wait_ping(a, b).await;

    // The TUN says what it offloads (ethtool is optional outside CI).
    match ethtool_features(a) {
        Some(features) => {
            let tso = features.contains("tcp-segmentation-offload: on");
            assert_eq!(tso, offload, "ethtool -k {}:\n{features}", a.interface);
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("ethtool (package ethtool) is missing")
        }
        None => eprintln!("ethtool is missing: the TUN's offload flags are not checked"),
    }

    let (rx_before, _) = wg_transfer(b);
    let v6_b: IpAddr = b.ula.addr().into();
    let v4_b: IpAddr = v4_b.parse().expect("v4");
    for addr in [v6_b, v4_b] {
        let writes_before = tun_writes(b);
        let got = tcp_transfer(&a.ns, &b.ns, addr, 5001);
        assert_eq!(got, Ok(TCP_BYTES), "TCP to {addr} (offload {offload})");
        // The receiver's TUN writes: with GRO, decrypted segments of the flow are coalesced, so
        // far fewer writes than segments; without, at least one write per segment. (The TCP MSS
        // inside the tunnel is at most the MTU less the IP and TCP headers, so TCP_BYTES / that
        // is a floor.)
        let writes = tun_writes(b) - writes_before;
        let headers = if addr.is_ipv6() { 40 + 20 } else { 20 + 20 };
        let segments = (TCP_BYTES / (TUNNEL_MTU - headers)) as u64;
        eprintln!("TCP to {addr}: {writes} TUN writes for at least {segments} segments");
        if offload {
            assert!(
                writes * 3 < segments,
                "TCP to {addr}: {writes} TUN writes for at least {segments} segments: GRO did not coalesce"
            );
        } else {
            assert!(
                writes >= segments,
                "TCP to {addr}: {writes} TUN writes for at least {segments} segments on the plain path"
            );
        }
    }
    // And the other way, where the receiving side's TUN writes are the coalesced ones.
    let v6_a: IpAddr = a.ula.addr().into();
    assert_eq!(
        tcp_transfer(&b.ns, &a.ns, v6_a, 5002),
        Ok(TCP_BYTES),
        "TCP back to a"
    );
    // `wg show` counts what was decrypted: at least the two transfers' payload.
    let (rx_after, _) = wg_transfer(b);
    assert!(
        rx_after - rx_before >= 2 * TCP_BYTES as u64,
        "wg show transfer on {}: {rx_before} → {rx_after}",
        b.interface
    );

    // UDP of every size up to the MTU: IPv6 (40-byte header) and IPv4 (20) inside.
    let lost = udp_every_size(&a.ns, &b.ns, v6_b, 5003, 1..=TUNNEL_MTU - 48);
    assert!(lost.is_empty(), "UDP over IPv6, sizes lost: {lost:?}");
    let lost = udp_every_size(&a.ns, &b.ns, v4_b, 5004, 1..=TUNNEL_MTU - 28);
    assert!(lost.is_empty(), "UDP over IPv4, sizes lost: {lost:?}");

    assert_eq!(udp_gso_burst(&a.ns, &b.ns, v6_b, 5005), 20, "UDP GSO burst");
}

#[tokio::test]
#[ignore = "needs root"]
async fn the_offload_path_carries_traffic_intact() {
    if !prerequisites() {
        return;
    }
    traffic_is_intact(true).await;
}

#[tokio::test]
#[ignore = "needs root"]
async fn the_plain_path_carries_traffic_intact() {
    if !prerequisites() {
        return;
    }
    traffic_is_intact(false).await;
}
