//! weft-e2e — the end-to-end harness: finds the workspace's real binaries and runs them the way a
//! user does — `weftctl` commands, `weftd` processes on loopback with their own ports and state
//! directories. Every process a test starts is killed when its handle drops, also when the test
//! fails; waits are conditions with deadlines, never fixed sleeps.

pub mod flood;
pub mod local_cluster;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Deadline for a daemon to come up or a condition to hold. Generous: it only bounds how long a
/// failing test takes; the timing promises themselves are tested with paused time in unit tests.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// Pause between two checks of a condition.
const POLL: Duration = Duration::from_millis(50);

/// Path of a workspace binary (`weftctl`, `weftd`, …) in `target/<profile>/`: next to this
/// executable, or next to its `deps/` directory for a test executable. `cargo test --workspace`
/// (the README's test command) builds them before any test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let mut dir = exe.parent().expect("executable directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo test --workspace` or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// Runs `weftctl args` in `dir`, with no terminal.
pub fn weftctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("weftctl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("WEFTCONFIG")
        .output()
        .expect("run weftctl")
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf8 stdout")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`] naming `what`.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// A port nobody listens on right now (bound then released; fine for loopback tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A test cluster: secrets, the admin client config, and a directory for node files.
#[derive(Debug)]
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub secrets: PathBuf,
    pub weftconfig: PathBuf,
}

impl Cluster {
    /// New secrets and an admin `weftconfig`.
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        ok(&weftctl(dir.path(), &["gen", "secrets"]), "gen secrets");
        ok(
            &weftctl(
                dir.path(),
                &[
                    "gen",
                    "config",
                    "e2e",
                    "https://127.0.0.1:6443",
                    "--with-secrets",
                    "secrets.yaml",
                    "-t",
                    "weftconfig",
                ],
            ),
            "gen config weftconfig",
        );
        Cluster {
            secrets: dir.path().join("secrets.yaml"),
            weftconfig: dir.path().join("weftconfig"),
            dir,
        }
    }

    /// Writes a node's machine config (KubeSpan on or off, its own API port and state directory,
    /// discovery pointed at a local address so nothing leaves the machine) and returns the node.
    pub fn node(&self, name: &str, kubespan: bool) -> Node {
        let port = free_port();
        let state_dir = self.dir.path().join(format!("{name}-state"));
        let config = self.dir.path().join(format!("{name}.yaml"));
        let patch = format!(
            "{{machine: {{api: {{listenAddress: '127.0.0.1:{port}'}}, stateDir: '{}'}}}}",
            state_dir.display()
        );
        let mut args = vec![
            "gen",
            "config",
            "e2e",
            "https://127.0.0.1:6443",
            "--with-secrets",
            "secrets.yaml",
            "--discovery-endpoint",
            "http://127.0.0.1:9",
            "-t",
            "controlplane",
            "-o",
            config.to_str().expect("utf8"),
            "--config-patch",
            &patch,
        ];
        if kubespan {
            args.push("--with-kubespan");
        }
        ok(&weftctl(self.dir.path(), &args), "gen config node");
        Node {
            name: name.to_owned(),
            port,
            config,
            state_dir,
            log: self.dir.path().join(format!("{name}.log")),
            api: format!("127.0.0.1:{port}"),
            netns: None,
            child: None,
        }
    }

    /// Runs weftctl with this cluster's client config.
    pub fn weftctl(&self, args: &[&str]) -> Output {
        Command::new(bin("weftctl"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("WEFTCONFIG", &self.weftconfig)
            .output()
            .expect("run weftctl")
    }

    /// A KubeSpan node ([`Cluster::node`]) that announces itself to the discovery service at
    /// `discovery` (a URL) under the hostname `name`. Not placed anywhere yet.
    pub fn node_with_discovery(&self, name: &str, discovery: &str) -> Node {
        let node = self.node(name, true);
        edit_config(&node, |cfg| {
            cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] = discovery.into();
            cfg["machine"]["network"]["hostname"] = name.into();
        });
        node
    }

    /// `weftctl get <resource_type> -o yaml` on `node`, parsed; empty when the call fails (the
    /// node not answering yet is for the caller's [`wait_until`] to handle).
    pub fn get(&self, node: &Node, resource_type: &str) -> Vec<yaml_serde::Value> {
        let out = self.weftctl(&["-n", &node.addr(), "get", resource_type, "-o", "yaml"]);
        if !out.status.success() {
            return Vec::new();
        }
        yaml_docs(&String::from_utf8_lossy(&out.stdout))
    }

    /// `node`'s KubeSpan public key, once it has one.
    pub fn kubespan_public_key(&self, node: &Node) -> String {
        wait_until(&format!("{}'s KubeSpan identity", node.name), || {
            self.get(node, "kubespanidentities")
                .into_iter()
                .next()
                .and_then(|d| d["spec"]["publicKey"].as_str().map(str::to_owned))
        })
    }

    /// Edits `node`'s config file with `edit` and applies it to the running node
    /// (`weftctl apply-config`), panicking if the node refuses it.
    pub fn apply_config(&self, node: &Node, edit: impl FnOnce(&mut yaml_serde::Value)) {
        edit_config(node, edit);
        let file = node.config.to_str().expect("utf8 path");
        let out = self.weftctl(&["-n", &node.addr(), "apply-config", "--file", file]);
        ok(&out, "apply-config");
    }
}

/// Rewrites `node`'s config file through `edit`.
pub fn edit_config(node: &Node, edit: impl FnOnce(&mut yaml_serde::Value)) {
    let text = fs::read_to_string(&node.config).expect("read node config");
    let mut cfg: yaml_serde::Value = yaml_serde::from_str(&text).expect("node config");
    edit(&mut cfg);
    fs::write(&node.config, yaml_serde::to_string(&cfg).expect("yaml")).expect("write node config");
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new()
    }
}

/// One weftd process on loopback. Killed on drop.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    /// The API address weftctl dials (`127.0.0.1:<port>`, or the node's lab address).
    pub api: String,
    /// Network namespace the daemon runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    /// Where the node's API is, what `-n` takes.
    pub fn addr(&self) -> String {
        self.api.clone()
    }

    /// Starts weftd with `extra` arguments; does not wait for it to be ready.
    pub fn spawn(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = fs::File::create(&self.log).expect("log file");
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("weftd"));
                c
            }
            None => Command::new(bin("weftd")),
        };
        let child = command
            .arg("--config")
            .arg(&self.config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weftd");
        self.child = Some(child);
    }

    /// Starts weftd and waits until its API answers `cluster` clients.
    pub fn start(&mut self, cluster: &Cluster) {
        self.spawn(&[]);
        let addr = self.addr();
        wait_until(
            &format!("{} to serve its API (log: {})", self.name, self.log_text()),
            || {
                if let Some(status) = self.try_exit() {
                    panic!("{} exited with {status}: {}", self.name, self.log_text());
                }
                cluster
                    .weftctl(&["-n", &addr, "get", "identities"])
                    .status
                    .success()
                    .then_some(())
            },
        );
    }

    /// The exit status, if the process has ended.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the process to end by itself and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let status = wait_until(&format!("{} to exit", self.name), || self.try_exit());
        self.child = None;
        status
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.wait_exit()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    /// Stops the daemon the way an operator does (SIGTERM, up to [`STOP_GRACE`]), so it removes
    /// what it set up in the host — its UAPI socket, nftables table and routing rules, which a
    /// node outside any lab namespace puts in the root namespace — and only then kill -9s it.
    /// Tests that want a crash call [`Node::kill`] themselves.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(POLL);
            }
        }
        self.kill();
    }
}

/// How long a dropped node gets to stop cleanly before kill -9.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One `weft-discovery` process on loopback with its own ports and snapshot file. Killed on drop.
#[derive(Debug)]
pub struct DiscoveryService {
    /// Address the gRPC and metrics listeners bind (127.0.0.1 unless [`DiscoveryService::on`]).
    pub host: String,
    /// gRPC port.
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// The snapshot file (`--snapshot-path`).
    pub snapshot: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl DiscoveryService {
    /// A service whose files live in `dir`, run with `extra` arguments; not started yet.
    pub fn new(dir: &Path, name: &str, extra: &[&str]) -> DiscoveryService {
        DiscoveryService {
            host: "127.0.0.1".to_owned(),
            port: free_port(),
            metrics_port: free_port(),
            snapshot: dir.join(format!("{name}.binpb")),
            log: dir.join(format!("{name}.log")),
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
        }
    }

    /// Starts the process (appending to its log) and waits until its gRPC port accepts
    /// connections; panics with the log if it exits first.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "weft-discovery already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(bin("weft-discovery"))
            .arg("--listen")
            .arg(format!("{}:{}", self.host, self.port))
            .arg("--metrics-listen")
            .arg(format!("{}:{}", self.host, self.metrics_port))
            .arg("--snapshot-path")
            .arg(&self.snapshot)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weft-discovery");
        self.child = Some(child);
        let addr = format!("{}:{}", self.host, self.port);
        wait_until("weft-discovery to listen", || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("weft-discovery exited with {status}: {}", self.log_text());
            }
            std::net::TcpStream::connect(&addr).ok().map(|_| ())
        });
    }

    /// `http://<host>:<port>`, for a plaintext gRPC client.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Binds to `host` instead of 127.0.0.1 (e.g. a lab's bridge address).
    pub fn on(mut self, host: &str) -> DiscoveryService {
        self.host = host.to_owned();
        self
    }

    /// SIGTERM, then waits for the process to exit and returns its status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        wait_until("weft-discovery to exit", || child.try_wait().ok().flatten())
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the service logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DiscoveryService {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether privileged tests (root, `ip`, network namespaces) can run here. When they cannot: under
/// `CI=true` this panics — CI is root and must run them — otherwise it prints why and returns false.
/// Tests that call it are `#[ignore = "needs root"]`, so a plain `cargo test` shows them as ignored
/// instead of passing them; `-- --include-ignored` (the README's command, CI's) runs them.
pub fn privileged(test: &str) -> bool {
    let missing = privileged_missing();
    match missing {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: cannot run under CI: {why}")
        }
        Some(why) => {
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

fn privileged_missing() -> Option<String> {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next().map(str::to_owned));
    if uid.as_deref() != Some("0") {
        return Some("needs root (network namespaces, veth, bridges)".to_owned());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("needs `ip` (iproute2)".to_owned()),
    }
}

/// Runs `ip args`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("timeout")
        .arg("10")
        .arg("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
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
    tag: String,
    namespaces: Vec<String>,
    /// Indices handed out so far (hosts and sites).
    indices: Vec<u8>,
    /// API relays of nodes placed behind NAT; stopped before the namespaces go.
    relays: Vec<ApiRelay>,
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
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
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
        let host_if = self.bridge_port(i);
        let addr = self.public_addr(i);
        self.add_netns(&ns);
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["link", "set", &host_if, "master", &self.bridge, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
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
    fn adopt(&self, node: &Node, i: u8) {
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
    fn claim(&mut self, i: u8) {
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
    /// its loopback up and records it for deletion on drop.
    fn add_netns(&mut self, ns: &str) {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    /// Permanent ARP entries between the hosts `indices` and the gateway, as `weftctl cluster
    /// create` installs them: the kernel's ARP table is one for all namespaces and refuses new
    /// entries past `gc_thresh3` (1024), which a mesh of 32 nodes reaches; permanent entries are
    /// not counted.
    pub fn pin_neighbors(&self, indices: &[u8]) {
        let mac = |ns: Option<&str>, link: &str| -> String {
            let mut command = Command::new("ip");
            if let Some(ns) = ns {
                command.args(["-n", ns]);
            }
            let out = command
                .args(["-br", "link", "show", "dev", link])
                .output()
                .expect("ip link show");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .nth(2)
                .expect("a MAC address")
                .to_owned()
        };
        let batch = |ns: Option<&str>, lines: &str| {
            use std::io::Write as _;
            let mut command = Command::new("ip");
            if let Some(ns) = ns {
                command.args(["-n", ns]);
            }
            let mut child = command
                .args(["-batch", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .expect("ip -batch");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(lines.as_bytes())
                .expect("write ip -batch");
            assert!(
                child.wait().expect("ip -batch").success(),
                "ip -batch {ns:?}"
            );
        };
        let hosts: Vec<(String, String)> = indices
            .iter()
            .map(|i| (self.public_addr(*i), mac(Some(&self.netns(*i)), "eth0")))
            .collect();
        let gateway_mac = mac(None, &self.bridge);
        let root: String = hosts
            .iter()
            .map(|(addr, m)| {
                format!(
                    "neigh replace {addr} lladdr {m} dev {} nud permanent\n",
                    self.bridge
                )
            })
            .collect();
        batch(None, &root);
        for (k, i) in indices.iter().enumerate() {
            let mut lines = format!(
                "neigh replace {} lladdr {gateway_mac} dev eth0 nud permanent\n",
                self.gateway
            );
            for (j, (addr, m)) in hosts.iter().enumerate() {
                if j != k {
                    lines.push_str(&format!(
                        "neigh replace {addr} lladdr {m} dev eth0 nud permanent\n"
                    ));
                }
            }
            batch(Some(&self.netns(*i)), &lines);
        }
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
        ip(&[
            "-n", &node_ns, "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns",
            &pod_ns,
        ]);
        let node_addr = format!("{prefix}.1");
        let pod_addr = format!("{prefix}.2");
        for (ns, link, addr) in [(&node_ns, "pod0", &node_addr), (&pod_ns, "eth0", &pod_addr)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", link]);
            ip(&["-n", ns, "link", "set", link, "up"]);
        }
        ip(&["-n", &pod_ns, "route", "add", "default", "via", &node_addr]);
        with_ns(&node_ns, || fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
            .expect("enable IPv4 forwarding in the node");
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
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for &i in &self.indices {
            // A daemon killed with -9 cannot remove its UAPI socket (the directory is shared).
            let link = self.link_name(i);
            let _ = fs::remove_file(format!("/var/run/wireguard/{link}.sock"));
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// Parses `weftctl get -o yaml` output: documents separated by `---`.
pub fn yaml_docs(text: &str) -> Vec<yaml_serde::Value> {
    text.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).expect("weftctl printed valid YAML"))
        .collect()
}

/// Runs `args` in network namespace `ns`, bounded to 20 s.
pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["20", "ip", "netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ip netns exec")
}

/// Whether every `(tool, Debian package)` is on PATH. A missing one fails the test under
/// `CI=true` (CI installs them) and otherwise skips it with the reason, like [`privileged`].
pub fn tools_present(test: &str, tools: &[(&str, &str)]) -> bool {
    for (tool, package) in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: {tool} is missing (apt-get install -y {package})"
            );
            eprintln!("skipping {test}: {tool} is missing (apt-get install -y {package})");
            return false;
        }
    }
    true
}

/// How a site's router translates what its node sends to the internet (the lab bridge). Either
/// way the mapping of a UDP flow depends only on its source (endpoint-independent), while inbound
/// filtering depends on address and port: a datagram from the internet gets in only as a reply on
/// a flow the node opened (conntrack), or to the API port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Plain masquerade: Linux keeps the source port whenever it is free, so the node's WireGuard
    /// port is also its public port and guessing `<public IP>:51820` works.
    PortPreserving,
    /// UDP from source port `from` (the node's WireGuard port) leaves with the fixed public port
    /// `to`; everything else is masqueraded as above. A cone NAT that does not preserve ports:
    /// `<public IP>:<from>` (Talos KubeSpan's guess) is dead, only an observed endpoint works.
    MapUdpPort { from: u16, to: u16 },
}

/// One site of [`Lab::add_site`]: a NAT router on the bridge and a node namespace on its LAN.
#[derive(Debug, Clone)]
pub struct Site {
    /// The node's namespace ([`Lab::netns`]): `eth0` = [`Site::private`]/24, default route via
    /// the router.
    pub ns: String,
    /// The router's namespace ([`Lab::router_ns`]): `wan0` on the bridge, `lan0` toward the node.
    pub router_ns: String,
    /// The router's address on the bridge, the site's only public address ([`Lab::public_addr`]).
    pub public: String,
    /// The node's LAN address `192.168.<i>.2`: reachable from its router only.
    pub private: String,
}

/// The nftables ruleset of a site router: masquerade out of `wan0` (after `nat`'s own rule), and
/// a stateful firewall that lets in from the internet only replies, plus what a DNAT rule added to
/// `prerouting` forwards ([`Lab::forward_tcp`]). Unsolicited datagrams are dropped in `input`,
/// before conntrack confirms them: a confirmed entry for `peer → <public>:<port>` would clash with
/// the node's later flow to that peer, which masquerade would then move to another public port
/// (or drop, with `MapUdpPort`'s single port), breaking the very hole punching the NAT tests
/// exercise. (Checked: with `policy accept` here, natlab.rs sees a random public port.)
fn router_rules(nat: Nat) -> String {
    let map = match nat {
        Nat::PortPreserving => String::new(),
        Nat::MapUdpPort { from, to } => {
            format!("oifname \"wan0\" udp sport {from} masquerade to :{to}\n")
        }
    };
    format!(
        "table ip weft_site {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {map}oifname \"wan0\" masquerade
  }}
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname {{ \"lo\", \"lan0\" }} accept
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname \"lan0\" oifname \"wan0\" accept
    iifname \"wan0\" oifname \"lan0\" ct status dnat accept
  }}
}}
"
    )
}

/// Loads an nftables `script` (`nft -f -`) in namespace `ns`, panicking with nft's error.
pub fn nft(ns: &str, script: &str) {
    use std::io::Write as _;
    let mut child = Command::new("timeout")
        .args(["10", "ip", "netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("nft stdin")
        .write_all(script.as_bytes())
        .expect("write the nft script");
    let out = child.wait_with_output().expect("nft");
    assert!(
        out.status.success(),
        "nft in {ns}: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    /// Adds site `i`: router namespace [`Lab::router_ns`] with `wan0` = [`Lab::public_addr`]/24 on
    /// the bridge and `lan0` = `192.168.<i>.1/24`, IPv4 forwarding and `nat`; node namespace
    /// [`Lab::netns`] with `eth0` = `192.168.<i>.2/24` and a default route via the router. The
    /// router has no default route — the bridge's /24 is the whole internet — and nothing routes
    /// to a site's LAN from outside, so another site's private address is undeliverable and
    /// nothing reaches the machine's real network. IPv4 only: the router does not forward IPv6.
    pub fn add_site(&mut self, i: u8, nat: Nat) -> Site {
        self.claim(i);
        let router = self.router_ns(i);
        let ns = self.netns(i);
        let port = self.bridge_port(i);
        let public = self.public_addr(i);
        let lan = format!("192.168.{i}");
        self.add_netns(&router);
        self.add_netns(&ns);
        let _ = Command::new("ip").args(["link", "del", &port]).output();
        ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "wan0", "netns", &router,
        ]);
        ip(&["link", "set", &port, "master", &self.bridge, "up"]);
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            &format!("{public}/24"),
            "dev",
            "wan0",
        ]);
        ip(&["-n", &router, "link", "set", "wan0", "up"]);
        ip(&[
            "-n", &router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ]);
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            &format!("{lan}.1/24"),
            "dev",
            "lan0",
        ]);
        ip(&["-n", &router, "link", "set", "lan0", "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{lan}.2/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &format!("{lan}.1"),
        ]);
        // A thread in the namespace sees that namespace's /proc/sys/net.
        with_ns(&router, || fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
            .expect("enable IPv4 forwarding in the router");
        nft(&router, &router_rules(nat));
        Site {
            ns,
            router_ns: router,
            public,
            private: self.private_addr(i),
        }
    }

    /// Forwards TCP `port` arriving at site `i`'s public address to its node (a port forward, as a
    /// home router's): the one way in from the internet besides replies.
    pub fn forward_tcp(&self, i: u8, port: u16) {
        nft(
            &self.router_ns(i),
            &format!(
                "add rule ip weft_site prerouting iifname \"wan0\" tcp dport {port} dnat to {}\n",
                self.private_addr(i)
            ),
        );
    }

    /// Puts `node` behind a NAT router at site `i` ([`Lab::add_site`]): config rewritten as for
    /// [`Lab::place`], its API port forwarded from the public address, and `node.api` set to a
    /// relay at `localhost:<port>` in the root namespace that dials `<public address>:<api port>`.
    /// The relay is needed because weftd's serving certificate names the node's own addresses and
    /// `localhost`, not its router's (unless `machine.certSANs` names it), so weftctl refuses the
    /// router address; `localhost` verifies, and the bytes still cross the router's port forward.
    pub fn place_behind_nat(&mut self, node: &mut Node, i: u8, nat: Nat) -> Site {
        let site = self.add_site(i, nat);
        self.forward_tcp(i, node.port);
        self.adopt(node, i);
        let target = format!("{}:{}", site.public, node.port)
            .parse()
            .expect("socket address");
        let relay = ApiRelay::start(target);
        node.api = format!("localhost:{}", relay.port);
        node.netns = Some(site.ns.clone());
        self.relays.push(relay);
        site
    }

    /// The namespace of site `i`'s router.
    pub fn router_ns(&self, i: u8) -> String {
        format!("wft{}r{i}", self.tag)
    }

    /// The LAN address of site `i`'s node, `192.168.<i>.2`: each site has its own private subnet.
    pub fn private_addr(&self, i: u8) -> String {
        format!("192.168.{i}.2")
    }
}

/// How long a relayed API connection may sit idle before the relay drops it, so no relay thread
/// outlives its peer's namespace for long.
const RELAY_IDLE: Duration = Duration::from_secs(300);

/// A TCP relay from `127.0.0.1:<port>` in the root namespace to a NATed node's public API address
/// (see [`Lab::place_behind_nat`]): one thread accepting, two copying per connection. Stops
/// accepting on drop; open connections end when either side closes or after [`RELAY_IDLE`].
#[derive(Debug)]
struct ApiRelay {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl ApiRelay {
    fn start(target: std::net::SocketAddr) -> ApiRelay {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the API relay");
        let port = listener.local_addr().expect("relay address").port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let accept = std::thread::spawn({
            let stop = std::sync::Arc::clone(&stop);
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    // Not reachable (yet): dropping the client fails this weftctl call; callers
                    // poll with wait_until.
                    if let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5))
                    {
                        relay(client, server);
                    }
                }
            }
        });
        ApiRelay {
            port,
            stop,
            accept: Some(accept),
        }
    }
}

/// Copies bytes both ways between `a` and `b`, each direction on its own thread, passing on a
/// half-close so TLS shutdown and EOF behave as on a direct connection.
fn relay(a: std::net::TcpStream, b: std::net::TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a, b2), (b, a2)] {
        let _ = from.set_read_timeout(Some(RELAY_IDLE));
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

impl Drop for ApiRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees `stop`.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Runs `f` on a thread that has joined network namespace `ns` and returns what it returns.
/// Sockets `f` opens belong to `ns` and stay there: the caller can use them from any thread.
pub fn with_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
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

/// A running `tcpdump -n -t -l` on one interface, printing to a file. It stops by itself after
/// a packet count or a time limit (`timeout -s INT`), and is killed on drop.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    out: tempfile::NamedTempFile,
    err: tempfile::NamedTempFile,
    what: String,
}

impl Capture {
    /// Starts capturing on `iface` in `ns` (`None`: the root namespace) what BPF `filter` matches
    /// (`""`: everything), for at most `max_packets` packets and `limit`, and returns once tcpdump
    /// listens. Classify by protocol in `filter` (`udp and dst port 51820`), not from the text:
    /// tcpdump's text names well-known ports' protocols (`domain`, …) instead of `UDP`.
    pub fn start(
        ns: Option<&str>,
        iface: &str,
        filter: &str,
        max_packets: usize,
        limit: Duration,
    ) -> Capture {
        let out = tempfile::NamedTempFile::new().expect("capture file");
        let err = tempfile::NamedTempFile::new().expect("capture log");
        let mut command = Command::new("timeout");
        command.args(["-s", "INT", &format!("{:.1}", limit.as_secs_f64())]);
        if let Some(ns) = ns {
            command.args(["ip", "netns", "exec", ns]);
        }
        // -s: headers (with TCP options) fit in 256 bytes; -l and --immediate-mode: a line per
        // packet as it comes, not per filled buffer block.
        command.args([
            "tcpdump",
            "-n",
            "-t",
            "-l",
            "--immediate-mode",
            "-s",
            "256",
            "-i",
            iface,
        ]);
        command.args(["-c", &max_packets.to_string()]);
        if !filter.is_empty() {
            command.arg(filter);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out.reopen().expect("capture file"))
            .stderr(err.reopen().expect("capture log"))
            .spawn()
            .expect("spawn tcpdump");
        let mut capture = Capture {
            child,
            out,
            err,
            what: format!("tcpdump -i {iface} {filter:?} in {ns:?}"),
        };
        let what = format!("{} to listen", capture.what);
        wait_until(&what, || {
            let log = fs::read_to_string(capture.err.path()).unwrap_or_default();
            if log.contains("listening on") {
                return Some(());
            }
            if let Ok(Some(status)) = capture.child.try_wait() {
                panic!("{} exited with {status}: {log}", capture.what);
            }
            None
        });
        capture
    }

    /// The packets printed so far.
    pub fn packets(&self) -> Vec<Packet> {
        fs::read_to_string(self.out.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(Packet::parse)
            .collect()
    }

    /// Waits (up to [`DEADLINE`]) until a packet matching `matches` has been printed, and returns
    /// it. Wait for what must be on the wire before [`Capture::stop`]: tcpdump prints packets
    /// asynchronously and drops what it has not printed yet when stopped.
    pub fn wait_for(&self, what: &str, matches: impl Fn(&Packet) -> bool) -> Packet {
        wait_until(&format!("{what} (on {})", self.what), || {
            self.packets().into_iter().find(|p| matches(p))
        })
    }

    /// Stops tcpdump (SIGINT) unless it already ended, and returns every packet it printed.
    pub fn stop(mut self) -> Vec<Packet> {
        assert!(self.end(), "{} did not stop", self.what);
        self.packets()
    }

    /// Sends SIGINT to `timeout`, which passes it on to tcpdump, and waits up to 10 s for both to
    /// exit; then kills `timeout`. Killing `timeout` first would orphan tcpdump, still holding
    /// its namespace (and veths) alive with no time limit. Whether it exited in time.
    fn end(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return true;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end();
    }
}

/// One line of `tcpdump -n -t`, with the addresses of IP packets picked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The whole line, e.g. `IP 10.201.100.11.51820 > 10.201.100.12.40001: UDP, length 148`.
    pub line: String,
    /// Source address, for an `IP`/`IP6` line.
    pub src: Option<std::net::IpAddr>,
    /// Source port, for protocols with ports.
    pub sport: Option<u16>,
    /// Destination address, for an `IP`/`IP6` line.
    pub dst: Option<std::net::IpAddr>,
    /// Destination port, for protocols with ports.
    pub dport: Option<u16>,
}

impl Packet {
    /// Parses one line; fields it cannot find stay `None` (ARP, link-layer lines).
    pub fn parse(line: &str) -> Packet {
        // `1.2.3.4.51820`, `fd00::1.5201`, or a bare address (ICMP).
        fn endpoint(s: &str) -> (Option<std::net::IpAddr>, Option<u16>) {
            if let Ok(ip) = s.parse() {
                return (Some(ip), None);
            }
            match s.rsplit_once('.') {
                Some((ip, port)) => match (ip.parse(), port.parse()) {
                    (Ok(ip), Ok(port)) => (Some(ip), Some(port)),
                    _ => (None, None),
                },
                None => (None, None),
            }
        }
        // Split at " > " first: a source such as `::` would end in the ": " that ends `dst`.
        let addresses = line
            .strip_prefix("IP ")
            .or_else(|| line.strip_prefix("IP6 "))
            .and_then(|rest| rest.split_once(" > "))
            .and_then(|(src, rest)| Some((src, rest.split_once(": ")?.0)));
        let ((src, sport), (dst, dport)) = match addresses {
            Some((src, dst)) => (endpoint(src), endpoint(dst)),
            None => ((None, None), (None, None)),
        };
        Packet {
            line: line.to_owned(),
            src,
            sport,
            dst,
            dport,
        }
    }

    /// Whether the packet's source address is `ip` (as text, e.g. `"10.244.1.2"`).
    pub fn is_from(&self, ip: &str) -> bool {
        self.src.is_some_and(|src| src.to_string() == ip)
    }

    /// TCP flags as tcpdump prints them (`S` for a SYN, `S.` for a SYN-ACK, `.` for an ACK).
    pub fn tcp_flags(&self) -> Option<&str> {
        let rest = self.line.split_once("Flags [")?.1;
        Some(rest.split_once(']')?.0)
    }

    /// The MSS option of a SYN or SYN-ACK.
    pub fn mss(&self) -> Option<u16> {
        let rest = self.line.split_once("options [")?.1;
        rest.split([',', ']'])
            .find_map(|option| option.strip_prefix("mss ")?.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lines_parse() {
        let udp = Packet::parse("IP 10.201.100.11.51820 > 10.201.100.12.40001: UDP, length 148");
        assert_eq!(udp.src, Some([10, 201, 100, 11].into()));
        assert_eq!((udp.sport, udp.dport), (Some(51820), Some(40001)));
        assert_eq!(udp.dst, Some([10, 201, 100, 12].into()));
        assert_eq!(udp.mss(), None);

        let syn = Packet::parse(
            "IP6 fd00::1.40000 > fd00::2.5201: Flags [S], seq 1, win 64800, \
             options [mss 1360,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
        );
        assert_eq!(syn.src, "fd00::1".parse().ok());
        assert_eq!((syn.sport, syn.dport), (Some(40000), Some(5201)));
        assert_eq!(syn.tcp_flags(), Some("S"));
        assert_eq!(syn.mss(), Some(1360));

        let icmp = Packet::parse(
            "IP 192.168.1.1 > 192.168.1.2: ICMP net 192.168.2.2 unreachable, length 92",
        );
        assert_eq!(icmp.src, Some([192, 168, 1, 1].into()));
        assert_eq!((icmp.sport, icmp.dport), (None, None));

        let nd =
            Packet::parse("IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2, length 28");
        assert_eq!(nd.src, "::".parse().ok());
        assert_eq!(nd.dst, "ff02::16".parse().ok());

        let arp = Packet::parse("ARP, Request who-has 10.9.0.2 tell 10.9.0.1, length 28");
        assert_eq!((arp.src, arp.dst, arp.tcp_flags()), (None, None, None));
    }

    #[test]
    fn router_rules_map_the_wireguard_port_before_the_general_masquerade() {
        let rules = router_rules(Nat::MapUdpPort {
            from: 51820,
            to: 40001,
        });
        let map = rules
            .find("udp sport 51820 masquerade to :40001")
            .expect("the mapping rule");
        let general = rules
            .find("oifname \"wan0\" masquerade")
            .expect("masquerade");
        assert!(map < general, "{rules}");
        assert!(!router_rules(Nat::PortPreserving).contains("sport"));
    }
}
