//! A private network for one test ([`Lab`]) built on `weft-lab`: a bridge in the root namespace,
//! a namespace per node joined to it by a veth pair, pods behind nodes; and running things inside
//! a lab's namespaces (commands, sockets, a TCP transfer).

use std::fs;
use std::time::Duration;

use weft_lab::{LabError, Output, link, neighbors, netns, prereq};

use crate::node::Node;
use crate::relay::ApiRelay;

/// Whether privileged tests (root, `ip`, network namespaces) can run here
/// ([`weft_lab::prereq::ready`]: under `CI=true` a missing one fails the test, elsewhere it is
/// skipped with the reason).
pub fn privileged(test: &str) -> bool {
    let missing = prereq::missing("network namespaces, veth, bridges", &[("ip", "iproute2")]);
    prereq::ready(test, &missing)
}

/// Whether every `(tool, Debian package)` is on PATH, as [`privileged`] judges it.
pub fn tools_present(test: &str, tools: &[(&str, &str)]) -> bool {
    prereq::ready(test, &prereq::missing_tools(tools))
}

/// The value of a lab step, or a panic naming the step and why it failed (its whole error chain).
pub(crate) fn must<T>(step: &str, result: Result<T, LabError>) -> T {
    result.unwrap_or_else(|e| {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            why.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        panic!("{step}: {why}")
    })
}

/// A private network for one test: a bridge in the root namespace (`10.201.<n>.1/24`) and, per
/// node, a network namespace joined to it by a veth pair (`10.201.<n>.<10+i>/24`, its own MAC, so
/// its own KubeSpan address). Everything is deleted on drop, also when the test fails.
///
/// For NAT tests the bridge is the whole internet: the root namespace's services (weft-discovery
/// on [`Lab::gateway`]) and the hosts of [`Lab::add_host`]/[`Lab::place`] are public hosts on it,
/// and [`Lab::add_site`]/[`Lab::place_behind_nat`] put a node on a private LAN behind a NAT router
/// whose one public address is on the bridge. Index `i` names one host or site of the lab: its
/// public address `10.201.<n>.<10+i>`, its node's namespace [`Lab::netns`] and WireGuard link
/// [`Lab::link_name`], so hosts and sites share one index space.
#[derive(Debug)]
pub struct Lab {
    pub bridge: String,
    /// The bridge's address: what services in the root namespace bind for the lab.
    pub gateway: String,
    subnet: u8,
    pub(crate) tag: String,
    namespaces: Vec<netns::Namespace>,
    /// Indices handed out so far (hosts and sites).
    indices: Vec<u8>,
    /// API relays of nodes placed behind NAT; stopped before the namespaces go.
    pub(crate) relays: Vec<ApiRelay>,
}

impl Lab {
    /// A new lab with no nodes yet.
    pub fn new() -> Lab {
        use std::sync::atomic::{AtomicU8, Ordering};
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let subnet = 100 + n;
        let bridge = format!("wftb{tag}");
        let gateway = format!("10.201.{subnet}.1");
        // Leftovers of an earlier run that reused this pid.
        link::delete(None, &bridge);
        must("the lab bridge", link::bridge(None, &bridge));
        must(
            "the lab gateway",
            link::address(None, &bridge, &format!("{gateway}/24")),
        );
        Lab {
            bridge,
            gateway,
            subnet,
            tag,
            namespaces: Vec::new(),
            indices: Vec::new(),
            relays: Vec::new(),
        }
    }

    /// Adds node `i`'s namespace and link; returns (namespace, address).
    pub fn add_host(&mut self, i: u8) -> (String, String) {
        self.claim(i);
        let ns = self.netns(i);
        let addr = self.public_addr(i);
        self.add_netns(&ns);
        self.join_bridge(i, &ns, "eth0");
        must(
            "a host's address",
            link::address(Some(&ns), "eth0", &format!("{addr}/24")),
        );
        (ns, addr)
    }

    /// Puts `node` into a new namespace of this lab: its API on the lab address, and its WireGuard
    /// link named uniquely (the UAPI socket directory is shared by every namespace, so two nodes of
    /// one host cannot both have a `kubespan` link).
    pub fn place(&mut self, node: &mut Node, i: u8) {
        let (ns, addr) = self.add_host(i);
        self.adopt(node, i);
        node.api = format!("{addr}:{}", node.port);
        node.netns = Some(ns);
    }

    /// Rewrites `node`'s config for namespace `i`: API on every address of the namespace, and the
    /// WireGuard link named [`Lab::link_name`].
    pub(crate) fn adopt(&self, node: &Node, i: u8) {
        let text = fs::read_to_string(&node.config).expect("read node config");
        let mut cfg: yaml_serde::Value = yaml_serde::from_str(&text).expect("node config");
        cfg["machine"]["api"]["listenAddress"] = format!("0.0.0.0:{}", node.port).into();
        if cfg["machine"]["network"]["kubespan"].is_mapping() {
            cfg["machine"]["network"]["kubespan"]["interface"] = self.link_name(i).into();
        }
        let text = yaml_serde::to_string(&cfg).expect("yaml");
        fs::write(&node.config, text).expect("write node config");
    }

    /// Records index `i` as taken; panics if a host or site already has it, or if `10+i` is not a
    /// host address of the /24.
    pub(crate) fn claim(&mut self, i: u8) {
        assert!(
            i <= 244,
            "lab index {i}: 10.201.<n>.<10+i> must stay below .255"
        );
        assert!(
            !self.indices.contains(&i),
            "lab index {i} is already a host or site of this lab"
        );
        self.indices.push(i);
    }

    /// Creates namespace `ns` (removing a leftover of an earlier run that reused this pid), brings
    /// its loopback up and keeps it until the lab drops.
    pub(crate) fn add_netns(&mut self, ns: &str) {
        self.namespaces
            .push(must("a lab namespace", netns::Namespace::create(ns)));
    }

    /// Permanent ARP entries between the hosts `indices` and the gateway, as `weftctl cluster
    /// create` installs them: the kernel's ARP table is one for all namespaces and refuses new
    /// entries past `gc_thresh3` (1024), which a mesh of 32 nodes reaches; permanent entries are
    /// not counted.
    pub fn pin_neighbors(&self, indices: &[u8]) {
        let gateway = self
            .gateway
            .parse()
            .expect("the gateway is an IPv4 address");
        let hosts: Vec<(String, std::net::Ipv4Addr)> = indices
            .iter()
            .map(|&i| {
                let addr = self.public_addr(i).parse().expect("an IPv4 address");
                (self.netns(i), addr)
            })
            .collect();
        must(
            "permanent neighbours",
            neighbors::pin(&self.bridge, gateway, &hosts),
        );
    }

    /// Joins link `name` of namespace `ns` to the bridge as index `i`'s port (a leftover port of
    /// an earlier run that reused this pid is deleted first).
    pub(crate) fn join_bridge(&self, i: u8, ns: &str, name: &str) {
        let port = self.bridge_port(i);
        link::delete(None, &port);
        must("a bridge link", link::veth((None, &port), (Some(ns), name)));
        must("a bridge port", link::attach(None, &port, &self.bridge));
    }

    /// The root-namespace end of index `i`'s veth, a port of the bridge.
    fn bridge_port(&self, i: u8) -> String {
        format!("wft{}h{i}", self.tag)
    }
}

impl Lab {
    /// Puts a "pod" behind node `i` (a host's or a site's node, placed already): namespace
    /// [`Lab::pod_ns`] joined to the node's namespace by a veth, `pod0` = `<prefix>.1/24` in the
    /// node and `eth0` = `<prefix>.2/24` (MTU 1500, default route via the node) in the pod, and
    /// IPv4 forwarding on in the node — a network behind the node, for `advertisedNetworks`.
    /// `prefix` is the first three octets, e.g. `"10.244.1"`. Returns the pod's namespace and
    /// address.
    pub fn add_pod_network(&mut self, i: u8, prefix: &str) -> (String, String) {
        let node_ns = self.netns(i);
        let pod_ns = self.pod_ns(i);
        self.add_netns(&pod_ns);
        must(
            "a pod link",
            link::veth((Some(&node_ns), "pod0"), (Some(&pod_ns), "eth0")),
        );
        let node_addr = format!("{prefix}.1");
        let pod_addr = format!("{prefix}.2");
        for (ns, name, addr) in [(&node_ns, "pod0", &node_addr), (&pod_ns, "eth0", &pod_addr)] {
            must(
                "a pod network address",
                link::address(Some(ns), name, &format!("{addr}/24")),
            );
        }
        must(
            "the pod's default route",
            link::default_route(&pod_ns, &node_addr),
        );
        must(
            "IPv4 forwarding in the node",
            link::enable_ipv4_forwarding(&node_ns),
        );
        (pod_ns, pod_addr)
    }

    /// The namespace of the pod behind node `i` ([`Lab::add_pod_network`]).
    pub fn pod_ns(&self, i: u8) -> String {
        format!("wft{}p{i}", self.tag)
    }
}

impl Lab {
    /// The WireGuard link name of node `i` in this lab.
    pub fn link_name(&self, i: u8) -> String {
        format!("wg{}k{i}", self.tag)
    }

    /// The namespace of node `i` (a host's, or the node's behind a site's router).
    pub fn netns(&self, i: u8) -> String {
        format!("wft{}n{i}", self.tag)
    }

    /// Index `i`'s address on the bridge: a host's own, or a site router's public address.
    pub fn public_addr(&self, i: u8) -> String {
        format!("10.201.{}.{}", self.subnet, 10 + u16::from(i))
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.relays.clear();
        // Deleting a namespace deletes its veths, and with them their peers (bridge ports, LANs).
        self.namespaces.clear();
        for &i in &self.indices {
            // A daemon killed with -9 cannot remove its UAPI socket (the directory is shared).
            let link = self.link_name(i);
            let _ = fs::remove_file(format!("/var/run/wireguard/{link}.sock"));
        }
        link::delete(None, &self.bridge);
    }
}

/// How long a command inside a lab namespace ([`in_ns`]) may take: a few pings with their waits.
const IN_NS_LIMIT: Duration = Duration::from_secs(20);

/// Runs `args` in network namespace `ns`, bounded by [`IN_NS_LIMIT`]; a command that runs past
/// it counts as failed (its `stderr` says so). Panics only when the command cannot be started.
pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    let (program, rest) = args.split_first().expect("a command");
    match weft_lab::cmd::in_ns(ns, program, rest, IN_NS_LIMIT) {
        Ok(out) => out,
        Err(e @ LabError::TimedOut { .. }) => Output {
            success: false,
            stdout: String::new(),
            stderr: e.to_string(),
        },
        Err(e) => must(&format!("running {args:?} in {ns}"), Err(e)),
    }
}

/// Runs `f` on a thread that has joined network namespace `ns` and returns what it returns
/// ([`netns::with_ns`]); panics when the namespace cannot be entered.
pub fn with_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    must(&format!("entering {ns}"), netns::with_ns(ns, f))
}

/// Sends `chunks` writes of `chunk_len` bytes over one TCP connection from namespace `from` to a
/// listener on `server` (an address of namespace `to`, port 0: any) and returns how many bytes
/// the listener read before the end of the stream. Panics when the connection cannot be made or
/// the transfer makes no progress for `stall`.
pub fn tcp_transfer(
    from: &str,
    to: &str,
    server: &str,
    chunks: usize,
    chunk_len: usize,
    stall: Duration,
) -> u64 {
    use std::io::Write as _;
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = with_ns(to, || TcpListener::bind((server, 0)))
        .unwrap_or_else(|e| panic!("listen on {server} in {to}: {e}"));
    let server_addr = listener.local_addr().expect("address");
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(stall)).expect("timeout");
        std::io::copy(&mut stream, &mut std::io::sink())
    });
    let mut client = with_ns(from, || TcpStream::connect_timeout(&server_addr, stall))
        .unwrap_or_else(|e| panic!("connect from {from} to {server_addr}: {e}"));
    client.set_write_timeout(Some(stall)).expect("timeout");
    let chunk = vec![0x5a_u8; chunk_len];
    for _ in 0..chunks {
        client.write_all(&chunk).expect("the transfer stalled");
    }
    client.shutdown(Shutdown::Write).expect("shutdown");
    receiver
        .join()
        .expect("receiver thread")
        .expect("the transfer stalled")
}
