//! `weftctl cluster create|destroy`: a local mesh of real nodes on one machine, as root.
//!
//! Layout (names from the cluster name; addresses from `--cidr`, default 10.5.0.0/24):
//! ```text
//!   root namespace            switch namespace (weft-<name>-sw)        node namespaces
//!   wft<hash>  10.5.0.1  ───  up0 ─┐                                 weft-<name>-1: eth0 10.5.0.2
//!   weft-discovery :3000           br0 ── n1 ───────────────────────── weftd (kubespan1)
//!   weftctl                        │  └── n2 ───────────────────────── weft-<name>-2: eth0 10.5.0.3
//!                                  └───── n3 …                           weftd (kubespan2)
//! ```
//! The host side carries the first address so weftctl and the embedded discovery service reach
//! the nodes; each node has its own MAC (so its own KubeSpan address) and its own WireGuard link,
//! whose name must be unique on the host because the UAPI socket directory
//! (`/var/run/wireguard/<link>.sock`) is shared by every namespace: `kubespan<i>` in the default
//! cluster (what users type after `wg show`), `ks<tag><i>` in any other (see [`wg_link`]), so two
//! labs side by side never take each other's sockets.
//!
//! Every step is recorded in `<state>/<name>/cluster.yaml` (written atomically) *before* the thing
//! it names is created, so `cluster destroy` can remove all of it after a crash. Processes run in
//! their own session (`setsid`) so closing the terminal does not stop them; their logs are beside
//! the state file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use weft_api::config::client::{ClientConfig, Context};
use weft_api::config::generate::{self, GenerateOptions};
use weft_api::config::secrets::SecretsBundle;
use weft_api::config::validate::MachineType;
use weft_api::fsutil;
use weft_api::pki::{self, Role};
use weft_api::proto::resource::ListRequest;
use weft_api::proto::resource::resource_service_client::ResourceServiceClient;
use weft_api::proto::{definition_from_proto, resource_from_proto};
use weft_api::resource::Resource;
use weft_api::resources::{KUBESPAN_PEER_STATUS_TYPE, NAMESPACE_KUBESPAN};

use crate::args::{ClusterCreateArgs, ClusterDestroyArgs, GlobalArgs};
use crate::client::{self, Target};
use crate::commands::health;
use crate::output;

pub mod chaos;

/// Port of the embedded discovery service on the host side.
const DISCOVERY_PORT: u16 = 3000;
/// Port of its metrics endpoint.
const DISCOVERY_METRICS_PORT: u16 = 2122;
/// weftd's metrics port on every node (`machine.metrics.listenAddress`); off outside clusters
/// `cluster create` makes.
pub const METRICS_PORT: u16 = 9120;
/// How long a process gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long each `ip` command may take.
const IP_TIMEOUT_SECS: &str = "10";
/// Name of the state file.
const STATE_FILE: &str = "cluster.yaml";

/// What exists of a cluster; written before each thing is created.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterState {
    name: String,
    cidr: String,
    switch_ns: String,
    root_link: String,
    node_namespaces: Vec<String>,
    /// Process ids by role (`discovery`, `node-1`, …).
    pids: BTreeMap<String, u32>,
    /// Network impairments of the nodes' links (`--with-network-*`, `cluster chaos`).
    #[serde(default, skip_serializing_if = "chaos::Chaos::is_empty")]
    chaos: chaos::Chaos,
}

impl ClusterState {
    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let text = yaml_serde::to_string(self).context("encoding the cluster state")?;
        fsutil::write_atomic(
            &dir.join(STATE_FILE),
            text.as_bytes(),
            fsutil::SECRET_FILE_MODE,
        )
        .with_context(|| format!("writing {}", dir.join(STATE_FILE).display()))
    }

    fn load(dir: &Path) -> anyhow::Result<ClusterState> {
        let path = dir.join(STATE_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        yaml_serde::from_str(&text)
            .with_context(|| format!("{} is not a cluster state file", path.display()))
    }
}

fn state_root(state: Option<&Path>) -> PathBuf {
    state.map(Path::to_path_buf).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".weft").join("clusters")
    })
}

/// A short, stable tag of the cluster name for link names (15-character limit).
fn tag(name: &str) -> String {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")[..6].to_owned()
}

/// The cluster name `--name` defaults to.
const DEFAULT_CLUSTER: &str = "weft-default";

/// The WireGuard link (and UAPI socket) name of node `i` of `cluster`: unique on the host (see the
/// module doc), at most 11 characters (Linux allows 15).
fn wg_link(cluster: &str, i: usize) -> String {
    if cluster == DEFAULT_CLUSTER {
        format!("kubespan{i}")
    } else {
        format!("ks{}{i}", tag(cluster))
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        bail!("--name: {name:?} is not a cluster name, expected 1 to 32 letters, digits or '-'");
    }
    Ok(())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether an executable `name` is in one of `$PATH`'s directories.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The MAC address of `link` (in namespace `ns`, or the root one).
fn link_mac(ns: Option<&str>, link: &str) -> anyhow::Result<String> {
    let mut command = Command::new("timeout");
    command.arg(IP_TIMEOUT_SECS).arg("ip");
    if let Some(ns) = ns {
        command.args(["-n", ns]);
    }
    let out = command
        .args(["-br", "link", "show", "dev", link])
        .stdin(Stdio::null())
        .output()
        .context("running ip")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .filter(|mac| mac.len() == 17 && out.status.success())
        .map(str::to_owned)
        .with_context(|| format!("reading the MAC address of {link}"))
}

/// Runs `ip -batch -` (in namespace `ns`, or the root one) with `commands`, one per line.
fn ip_batch(ns: Option<&str>, commands: &str) -> anyhow::Result<()> {
    let mut command = Command::new("timeout");
    command.arg(IP_TIMEOUT_SECS).arg("ip");
    if let Some(ns) = ns {
        command.args(["-n", ns]);
    }
    let mut child = command
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ip -batch")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .context("writing to ip -batch")?;
    }
    let out = child.wait_with_output().context("running ip -batch")?;
    if !out.status.success() {
        bail!(
            "ip -batch in {}: {}",
            ns.unwrap_or("the root namespace"),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Static (permanent) ARP entries for the whole lab: in each node's namespace every other node and
/// the host side; on the host side every node. Why: the kernel's ARP table is one for all network
/// namespaces, and its garbage collector refuses new entries past `gc_thresh3` (1024 by default)
/// — a full mesh of n nodes needs n² of them, so at 32 nodes some sends failed with ENOBUFS
/// ("neighbor table overflow") and those peers came up only minutes later. Permanent entries are
/// exempt from that count (Linux ≥ 4.20), and the lab's addresses never change.
/// `nodes`: (address, MAC) of node 1…n; returns (namespace index or `None` for the host side,
/// `ip -batch` commands).
fn static_neighbors(
    gateway: (Ipv4Addr, &str),
    root_link: &str,
    nodes: &[(Ipv4Addr, String)],
) -> Vec<(Option<usize>, String)> {
    let mut out = Vec::with_capacity(nodes.len() + 1);
    let mut host = String::new();
    for (addr, mac) in nodes {
        host.push_str(&format!(
            "neigh replace {addr} lladdr {mac} dev {root_link} nud permanent\n"
        ));
    }
    out.push((None, host));
    for (i, _) in nodes.iter().enumerate() {
        let mut lines = format!(
            "neigh replace {} lladdr {} dev eth0 nud permanent\n",
            gateway.0, gateway.1
        );
        for (j, (addr, mac)) in nodes.iter().enumerate() {
            if j != i {
                lines.push_str(&format!(
                    "neigh replace {addr} lladdr {mac} dev eth0 nud permanent\n"
                ));
            }
        }
        out.push((Some(i), lines));
    }
    out
}

/// Runs `ip args` with a timeout.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("timeout")
        .arg(IP_TIMEOUT_SECS)
        .arg("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A workspace binary next to weftctl, else on PATH.
fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let candidate = dir.join(name);
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join(name);
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!(
        "{name} is not next to weftctl nor on PATH: build the workspace (`cargo build --release`)"
    )
}

/// Starts `program args` in its own session with its output in `log`; returns the pid.
fn spawn(log: &Path, program: &Path, args: &[String], netns: Option<&str>) -> anyhow::Result<u32> {
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = Command::new("setsid");
    if let Some(ns) = netns {
        command.args(["ip", "netns", "exec", ns]);
    }
    let child = command
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    Ok(child.id())
}

/// Whether `pid` is still the process we started (its command line names `program`).
fn is_ours(pid: u32, program: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(program))
        .unwrap_or(false)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
fn stop(pid: u32, program: &str) {
    if !is_ours(pid, program) {
        return;
    }
    signal(pid, "-TERM");
    let start = Instant::now();
    while is_ours(pid, program) && start.elapsed() < STOP_GRACE {
        std::thread::sleep(Duration::from_millis(50));
    }
    if is_ours(pid, program) {
        signal(pid, "-KILL");
    }
}

/// A node's host name, as `talosctl cluster create` names them.
fn hostname(cluster: &str, i: usize) -> String {
    if i == 1 {
        format!("{cluster}-controlplane-1")
    } else {
        format!("{cluster}-worker-{}", i - 1)
    }
}

/// Most nodes a local cluster may have (addresses, links and CPU of one machine).
pub const MAX_NODES: usize = 32;

/// The number of nodes: the global `--nodes N` when given (one number), else 1 + `--workers`.
fn node_count(global: &GlobalArgs, args: &ClusterCreateArgs) -> anyhow::Result<u8> {
    match global.nodes.as_slice() {
        [] => Ok(1 + args.workers),
        [one] => match one.parse::<u8>() {
            Ok(n) if (1..=MAX_NODES).contains(&usize::from(n)) => Ok(n),
            _ => bail!("--nodes: {one:?} is not a number of nodes from 1 to {MAX_NODES}"),
        },
        _ => bail!(
            "--nodes: cluster create takes one number (the total number of nodes), not a list"
        ),
    }
}

pub async fn create(global: &GlobalArgs, args: &ClusterCreateArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let nodes = node_count(global, args)?;
    let impairment = chaos::from_create_flags(&args.chaos)?;
    if !is_root() {
        bail!(
            "weftctl cluster create needs root: it creates network namespaces, veth links and a bridge (run it with sudo)"
        );
    }
    if !Path::new("/dev/net/tun").exists() {
        bail!(
            "/dev/net/tun is missing: the userspace WireGuard data plane needs the TUN device (modprobe tun)"
        );
    }
    for (tool, package, why) in [
        ("ip", "iproute2", "to create the namespaces and links"),
        ("nft", "nftables", "for weftd's KubeSpan traffic capture"),
    ] {
        if !on_path(tool) {
            bail!("`{tool}` is missing: it is needed {why} (apt-get install {package})");
        }
    }
    chaos::check_kernel(&impairment)?;
    let cidr: Ipv4Net = args.cidr.parse().with_context(|| {
        format!(
            "--cidr: {:?} is not an IPv4 network like 10.5.0.0/24",
            args.cidr
        )
    })?;
    let hosts: Vec<Ipv4Addr> = cidr.hosts().take(usize::from(nodes) + 1).collect();
    if hosts.len() < usize::from(nodes) + 1 {
        bail!(
            "--cidr: {cidr} has room for {} nodes, not {}",
            hosts.len().saturating_sub(1),
            nodes
        );
    }
    let weftd = find_binary("weftd")?;
    let discovery_bin = match args.discovery.as_str() {
        "embedded" => Some(find_binary("weft-discovery")?),
        url => {
            weft_api::config::validate::parse_discovery_endpoint(url)
                .map_err(|e| anyhow::anyhow!("--discovery: {e}"))?;
            None
        }
    };
    let dir = state_root(args.state.as_deref()).join(&args.name);
    if dir.join(STATE_FILE).exists() {
        bail!(
            "cluster {:?} exists ({}); remove it first with `weftctl cluster destroy --name {}`",
            args.name,
            dir.display(),
            args.name
        );
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let result = build(
        global,
        args,
        &dir,
        cidr,
        &hosts,
        &weftd,
        discovery_bin.as_deref(),
    )
    .await;
    if let Err(err) = &result {
        eprintln!(
            "the cluster is left as it is for inspection (logs in {}); remove it with `weftctl cluster destroy --name {}`",
            dir.display(),
            args.name
        );
        return Err(anyhow::anyhow!("{err:#}"));
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn build(
    global: &GlobalArgs,
    args: &ClusterCreateArgs,
    dir: &Path,
    cidr: Ipv4Net,
    hosts: &[Ipv4Addr],
    weftd: &Path,
    discovery_bin: Option<&Path>,
) -> anyhow::Result<()> {
    let t = tag(&args.name);
    let prefix = cidr.prefix_len();
    let gateway = hosts[0];
    let mut state = ClusterState {
        name: args.name.clone(),
        cidr: cidr.to_string(),
        switch_ns: format!("weft-{}-sw", args.name),
        root_link: format!("wft{t}"),
        ..ClusterState::default()
    };

    // The switch: a namespace with a bridge, and a link to the host.
    state.save(dir)?;
    ip(&["netns", "add", &state.switch_ns])?;
    let sw = state.switch_ns.clone();
    ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &sw, "link", "set", "br0", "up"])?;
    ip(&[
        "link",
        "add",
        &state.root_link,
        "type",
        "veth",
        "peer",
        "name",
        "up0",
        "netns",
        &sw,
    ])?;
    ip(&["-n", &sw, "link", "set", "up0", "master", "br0", "up"])?;
    ip(&[
        "addr",
        "add",
        &format!("{gateway}/{prefix}"),
        "dev",
        &state.root_link,
    ])?;
    ip(&["link", "set", &state.root_link, "up"])?;

    // The nodes' namespaces and links.
    for (i, host) in hosts.iter().enumerate().skip(1) {
        let ns = format!("weft-{}-{i}", args.name);
        state.node_namespaces.push(ns.clone());
        state.save(dir)?;
        ip(&["netns", "add", &ns])?;
        let port = format!("n{i}");
        ip(&[
            "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{host}/{prefix}"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
    }
    let gateway_mac = link_mac(None, &state.root_link)?;
    let mut node_macs = Vec::with_capacity(state.node_namespaces.len());
    for (ns, host) in state.node_namespaces.iter().zip(hosts.iter().skip(1)) {
        node_macs.push((*host, link_mac(Some(ns), "eth0")?));
    }
    for (ns, commands) in static_neighbors((gateway, &gateway_mac), &state.root_link, &node_macs) {
        let ns = ns.map(|i| state.node_namespaces[i].as_str());
        ip_batch(ns, &commands)?;
    }
    chaos::create(&mut state, dir, &chaos::from_create_flags(&args.chaos)?)?;

    // The discovery service.
    let discovery_url = match discovery_bin {
        Some(bin) => {
            let listen = format!("{gateway}:{DISCOVERY_PORT}");
            let args_d = vec![
                "--listen".to_owned(),
                listen.clone(),
                "--metrics-listen".to_owned(),
                format!("{gateway}:{DISCOVERY_METRICS_PORT}"),
                "--snapshot-path".to_owned(),
                dir.join("discovery.binpb").display().to_string(),
            ];
            let pid = spawn(&dir.join("discovery.log"), bin, &args_d, None)?;
            state.pids.insert("discovery".to_owned(), pid);
            state.save(dir)?;
            wait_for(
                &format!("weft-discovery to listen on {listen}"),
                Duration::from_secs(20),
                || std::net::TcpStream::connect(&listen).is_ok(),
            )?;
            format!("http://{listen}")
        }
        None => args.discovery.clone(),
    };

    // Configs and daemons.
    let secrets = SecretsBundle::generate().context("generating secrets")?;
    let opts = GenerateOptions {
        cluster_name: args.name.clone(),
        endpoint: format!("https://{}:6443", hosts[1]),
        with_kubespan: true,
        with_cluster_discovery: true,
        discovery_endpoints: vec![discovery_url],
    };
    let secrets_path = dir.join("secrets.yaml");
    fsutil::write_atomic(
        &secrets_path,
        secrets.to_yaml().as_bytes(),
        fsutil::SECRET_FILE_MODE,
    )?;
    let mut targets = Vec::new();
    for (i, host) in hosts.iter().enumerate().skip(1) {
        let machine_type = if i == 1 {
            MachineType::ControlPlane
        } else {
            MachineType::Worker
        };
        let base = generate::machine_config(&opts, &secrets, machine_type);
        let patch = format!(
            "{{machine: {{api: {{listenAddress: '0.0.0.0:50000'}}, metrics: {{listenAddress: '0.0.0.0:{METRICS_PORT}'}}, stateDir: '{}', network: {{hostname: '{}', kubespan: {{interface: '{}'}}}}}}}}",
            dir.join(format!("node-{i}")).display(),
            hostname(&args.name, i),
            wg_link(&args.name, i),
        );
        let config = generate::apply_patch(&base, &patch, "cluster create")?;
        let path = dir.join(format!("node-{i}.yaml"));
        let text = weft_api::yaml::to_string(&config).context("rendering a node config")?;
        fsutil::write_atomic(&path, text.as_bytes(), fsutil::SECRET_FILE_MODE)?;
        let pid = spawn(
            &dir.join(format!("node-{i}.log")),
            weftd,
            &["--config".to_owned(), path.display().to_string()],
            Some(&state.node_namespaces[i - 1]),
        )?;
        state.pids.insert(format!("node-{i}"), pid);
        state.save(dir)?;
        targets.push(Target::parse(&host.to_string())?);
    }

    // The client context, merged into the client config.
    let client_cert = pki::issue_client_cert(
        &secrets.certs.os,
        "admin",
        &[Role::Admin],
        pki::CLIENT_CERT_VALIDITY,
    )?;
    let ctx = Context {
        endpoints: targets.iter().map(|t| t.name.clone()).collect(),
        nodes: targets.iter().map(|t| t.name.clone()).collect(),
        ca: secrets.certs.os.crt.clone(),
        crt: client_cert.crt,
        key: client_cert.key,
    };
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    let renames = config.merge(ClientConfig {
        context: args.name.clone(),
        contexts: [(args.name.clone(), ctx.clone())].into(),
    });
    config
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    let context_name = renames
        .first()
        .map(|(_, to)| to.clone())
        .unwrap_or(args.name.clone());
    eprintln!("merged context {context_name:?} into {}", path.display());

    // Wait until the mesh is healthy, through the same checks as `weftctl health`; a process of
    // the cluster that exits ends the wait at once.
    let report = health::wait(&targets, &ctx, global.timeout, args.wait_timeout, || {
        for (pid_name, pid) in &state.pids {
            let program = if pid_name == "discovery" {
                "weft-discovery"
            } else {
                "weftd"
            };
            if !is_ours(*pid, program) {
                bail!(
                    "{pid_name} exited; its log: {}",
                    dir.join(format!("{pid_name}.log")).display()
                );
            }
        }
        Ok(())
    })
    .await?;
    print_statuses(&peer_statuses(&targets, &ctx, global.timeout).await)?;
    if !report.healthy {
        print!("\n{}", health::render_report(&report));
        bail!(
            "the mesh was not healthy after {}s: {}",
            args.wait_timeout.as_secs(),
            report.failing()
        );
    }
    println!(
        "\ncluster {:?} is up: `weftctl --context {context_name} get kubespanpeerstatuses`, `ip netns exec {} wg show {}`",
        args.name,
        state.node_namespaces[0],
        wg_link(&args.name, 1)
    );
    let metrics: Vec<String> = hosts
        .iter()
        .skip(1)
        .map(|h| {
            format!(
                "http://{}/metrics",
                std::net::SocketAddr::new((*h).into(), METRICS_PORT)
            )
        })
        .collect();
    println!("weftd metrics (Prometheus): {}", metrics.join(" "));
    Ok(())
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > limit {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

type NodeStatuses = Vec<(String, anyhow::Result<Vec<Resource>>)>;

/// Every node's peer statuses (errors kept per node: a node still starting has none yet).
async fn peer_statuses(targets: &[Target], ctx: &Context, timeout: Duration) -> NodeStatuses {
    let calls = targets.iter().map(|target| async move {
        let result = async {
            let channel = client::channel(target, ctx, timeout)?;
            let reply = ResourceServiceClient::new(channel)
                .list(ListRequest {
                    namespace: NAMESPACE_KUBESPAN.to_owned(),
                    r#type: KUBESPAN_PEER_STATUS_TYPE.to_owned(),
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))?;
            reply
                .into_inner()
                .resources
                .into_iter()
                .map(|r| resource_from_proto(r).map_err(anyhow::Error::from))
                .collect::<anyhow::Result<Vec<_>>>()
        }
        .await;
        (target.name.clone(), result)
    });
    futures::future::join_all(calls).await
}

/// Prints every node's peer statuses as one table (`weftctl get kubespanpeerstatuses`).
fn print_statuses(statuses: &NodeStatuses) -> anyhow::Result<()> {
    let definition = weft_api::resources::definitions()
        .into_iter()
        .find(|d| d.resource_type == KUBESPAN_PEER_STATUS_TYPE)
        .map(|d| definition_from_proto(weft_api::proto::definition_to_proto(&d)))
        .context("the peer status definition")?;
    let stdout = std::io::stdout();
    let mut writer = output::Writer::new("table", stdout.lock())?;
    writer.write_header(&definition, false)?;
    for (node, result) in statuses {
        match result {
            Ok(resources) => {
                for r in resources {
                    writer.write_resource(node, r, None)?;
                }
            }
            Err(err) => eprintln!("error: {node}: {err:#}"),
        }
    }
    writer.flush()?;
    std::io::stdout().flush()?;
    Ok(())
}

/// Removes everything a cluster's state file records, in reverse, ignoring what is already gone.
pub fn destroy(args: &ClusterDestroyArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    if !is_root() {
        bail!(
            "weftctl cluster destroy needs root: it deletes network namespaces and links (run it with sudo)"
        );
    }
    let dir = state_root(args.state.as_deref()).join(&args.name);
    if !dir.join(STATE_FILE).exists() {
        bail!(
            "no cluster {:?} ({} has no {STATE_FILE})",
            args.name,
            dir.display()
        );
    }
    let state = ClusterState::load(&dir)?;
    for (name, pid) in state.pids.iter().rev() {
        let program = if name == "discovery" {
            "weft-discovery"
        } else {
            "weftd"
        };
        stop(*pid, program);
    }
    for ns in state.node_namespaces.iter().rev() {
        let _ = ip(&["netns", "del", ns]);
    }
    if !state.root_link.is_empty() {
        let _ = ip(&["link", "del", &state.root_link]);
    }
    if !state.switch_ns.is_empty() {
        let _ = ip(&["netns", "del", &state.switch_ns]);
    }
    // Leftover WireGuard UAPI sockets of killed daemons.
    // Only this cluster's names: another lab's live sockets are not ours to remove.
    for i in 1..=state.node_namespaces.len() {
        let _ = fs::remove_file(format!(
            "/var/run/wireguard/{}.sock",
            wg_link(&args.name, i)
        ));
    }
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    eprintln!("destroyed cluster {:?}", args.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_neighbors_cover_every_pair_once() {
        let nodes: Vec<(Ipv4Addr, String)> = (2..=4u8)
            .map(|i| (Ipv4Addr::new(10, 5, 0, i), format!("02:00:00:00:00:0{i}")))
            .collect();
        let gw = Ipv4Addr::new(10, 5, 0, 1);
        let plan = static_neighbors((gw, "02:00:00:00:00:01"), "wftabc", &nodes);
        assert_eq!(plan.len(), 4, "the host side and each node");
        assert_eq!(plan[0].0, None);
        assert_eq!(plan[0].1.lines().count(), 3);
        assert!(
            plan[0].1.contains(
                "neigh replace 10.5.0.3 lladdr 02:00:00:00:00:03 dev wftabc nud permanent"
            )
        );
        for (i, (ns, lines)) in plan[1..].iter().enumerate() {
            assert_eq!(*ns, Some(i));
            // The gateway and the two others, never itself.
            assert_eq!(lines.lines().count(), 3, "{lines}");
            assert!(lines.contains("neigh replace 10.5.0.1 lladdr 02:00:00:00:00:01 dev eth0"));
            assert!(!lines.contains(&format!("{} ", nodes[i].0)), "{lines}");
        }
    }

    #[test]
    fn wg_links_are_unique_per_cluster_and_short() {
        assert_eq!(wg_link("weft-default", 1), "kubespan1");
        let other = wg_link("lab-b", 12);
        assert!(other.starts_with("ks") && other.ends_with("12"), "{other}");
        assert_ne!(wg_link("lab-a", 1), wg_link("lab-b", 1));
        assert!(wg_link(&"x".repeat(32), 255).len() <= 15);
    }

    #[test]
    fn tags_are_short_and_stable() {
        assert_eq!(tag("weft-default").len(), 6);
        assert_eq!(tag("weft-default"), tag("weft-default"));
        assert_ne!(tag("a"), tag("b"));
        assert!(format!("wft{}", tag("x")).len() <= 15);
    }

    /// The number of nodes from `--workers` or the global `--nodes N`; `--workers 0` is a
    /// cluster of one (no peers), which `health` judges healthy.
    #[test]
    fn node_counts() {
        use clap::Parser as _;

        use crate::args::{Cli, ClusterCommand, Command};

        let count = |argv: &[&str]| {
            let cli = Cli::try_parse_from(["weftctl"].iter().chain(argv)).expect("parses");
            let Command::Cluster(c) = &cli.command else {
                panic!("not cluster")
            };
            let ClusterCommand::Create(args) = &c.command else {
                panic!("not create")
            };
            node_count(&cli.global, args).map_err(|e| e.to_string())
        };
        assert_eq!(count(&["cluster", "create"]), Ok(3));
        assert_eq!(count(&["cluster", "create", "--workers", "0"]), Ok(1));
        assert_eq!(count(&["cluster", "create", "--workers", "31"]), Ok(32));
        assert_eq!(count(&["--nodes", "1", "cluster", "create"]), Ok(1));
        assert_eq!(count(&["--nodes", "32", "cluster", "create"]), Ok(32));
        for bad in ["0", "33", "x"] {
            assert!(
                count(&["--nodes", bad, "cluster", "create"]).is_err(),
                "{bad}"
            );
        }
        assert!(count(&["--nodes", "1,2", "cluster", "create"]).is_err());
        assert!(Cli::try_parse_from(["weftctl", "cluster", "create", "--workers", "32"]).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("weft-default").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert_eq!(hostname("demo", 1), "demo-controlplane-1");
        assert_eq!(hostname("demo", 3), "demo-worker-2");
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = ClusterState {
            name: "x".into(),
            ..ClusterState::default()
        };
        state.pids.insert("node-1".into(), 42);
        state.save(dir.path()).expect("save");
        let back = ClusterState::load(dir.path()).expect("load");
        assert_eq!(back.pids["node-1"], 42);
    }
}
