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
//! the nodes; each node has its own MAC (so its own KubeSpan address) and its own WireGuard link.
//! Everything global to the host — namespaces, the host link, WireGuard link and UAPI socket
//! names — is named per cluster ([`weft_lab::names::ClusterNames`]), so labs side by side never
//! take each other's.
//!
//! `create` refuses, before it creates anything, a `--cidr` that overlaps another cluster's or
//! any address or route of the host, and names that already exist on the host (a cluster of the
//! same name under another state directory). Every step is then recorded in
//! `<state>/<name>/cluster.yaml` (written atomically) *before* the thing it names is created, so
//! `cluster destroy` removes all of it after a crash — and only that. The client context it merges
//! is recorded too: `destroy` removes it and makes the previous one current again. Processes run
//! in their own session (`setsid`) so closing the terminal does not stop them; their logs are
//! beside the state file.

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
use weft_lab::names::ClusterNames;
use weft_lab::prereq::{is_root, on_path};
use weft_lab::{host, link, neighbors, netns};

use crate::args::{ClusterCreateArgs, ClusterDestroyArgs, GlobalArgs};
use crate::client::{self, Target};
use crate::commands::health;
use crate::output;

pub mod chaos;

/// Where WireGuard UAPI sockets live: one directory for every namespace of the host.
const UAPI_DIR: &str = "/var/run/wireguard";

/// Port of the embedded discovery service on the host side.
const DISCOVERY_PORT: u16 = 3000;
/// Port of its metrics endpoint.
const DISCOVERY_METRICS_PORT: u16 = 2122;
/// weftd's metrics port on every node (`machine.metrics.listenAddress`); off outside clusters
/// `cluster create` makes.
pub const METRICS_PORT: u16 = 9120;
/// How long a process gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
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
    /// The context merged into the client config, and where: `destroy` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<MergedContext>,
}

/// What `create` merged into a client config, so `destroy` can take it out again.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergedContext {
    /// The client config file.
    weftconfig: PathBuf,
    /// The context's name there (`<name>`, or `<name>-1`… when the name was taken).
    name: String,
    /// The context that was current before, made current again by `destroy`.
    #[serde(default)]
    previous: String,
    /// The cluster CA the context trusts (a public certificate): `destroy` removes the context
    /// only while it is still this cluster's.
    ca: String,
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

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        bail!("--name: {name:?} is not a cluster name, expected 1 to 32 letters, digits or '-'");
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
    check_host_is_free(
        &args.name,
        cidr,
        usize::from(nodes),
        &state_root(args.state.as_deref()),
    )?;
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
    let names = ClusterNames(&args.name);
    let prefix = cidr.prefix_len();
    let gateway = hosts[0];
    let mut state = ClusterState {
        name: args.name.clone(),
        cidr: cidr.to_string(),
        switch_ns: names.switch_ns(),
        root_link: names.host_link(),
        ..ClusterState::default()
    };

    // The switch: a namespace with a bridge, and a link to the host.
    step("creating the switch namespace, its bridge and the host link");
    state.save(dir)?;
    netns::add(&state.switch_ns)?;
    let sw = state.switch_ns.clone();
    link::bridge(Some(&sw), "br0")?;
    link::veth((None, &state.root_link), (Some(&sw), "up0"))?;
    link::attach(Some(&sw), "up0", "br0")?;
    link::address(None, &state.root_link, &format!("{gateway}/{prefix}"))?;

    // The nodes' namespaces and links.
    step(format!(
        "creating {} node namespaces and links",
        hosts.len() - 1
    ));
    for (i, host) in hosts.iter().enumerate().skip(1) {
        let ns = names.node_ns(i);
        state.node_namespaces.push(ns.clone());
        state.save(dir)?;
        netns::add(&ns)?;
        let port = format!("n{i}");
        link::veth((Some(&sw), &port), (Some(&ns), "eth0"))?;
        link::attach(Some(&sw), &port, "br0")?;
        link::address(Some(&ns), "eth0", &format!("{host}/{prefix}"))?;
    }
    let lab_nodes: Vec<(String, Ipv4Addr)> = state
        .node_namespaces
        .iter()
        .cloned()
        .zip(hosts.iter().skip(1).copied())
        .collect();
    neighbors::pin(&state.root_link, gateway, &lab_nodes)?;
    chaos::create(&mut state, dir, &chaos::from_create_flags(&args.chaos)?)?;

    // The discovery service.
    step("starting the discovery service");
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
    step(format!(
        "writing configs, starting weftd on {} nodes",
        hosts.len() - 1
    ));
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
            names.hostname(i),
            names.wg_link(i),
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
    let previous = config.context.clone();
    let renames = config.merge(ClientConfig {
        context: args.name.clone(),
        contexts: [(args.name.clone(), ctx.clone())].into(),
    });
    let context_name = renames
        .first()
        .map(|(_, to)| to.clone())
        .unwrap_or(args.name.clone());
    // Recorded before the merge is written, so a crash in between still gets it removed.
    state.context = Some(MergedContext {
        weftconfig: std::path::absolute(&path).unwrap_or_else(|_| path.clone()),
        name: context_name.clone(),
        previous,
        ca: ctx.ca.clone(),
    });
    state.save(dir)?;
    config
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
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
    // The hint is for people: stderr, so stdout stays the table alone.
    eprintln!(
        "\ncluster {:?} is up: `weftctl --context {context_name} get kubespanpeerstatuses`, `ip netns exec {} wg show {}`",
        args.name,
        state.node_namespaces[0],
        names.wg_link(1)
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
    eprintln!("weftd metrics (Prometheus): {}", metrics.join(" "));
    Ok(())
}

/// One line per step of `cluster create` on stderr, so progress shows without a terminal too
/// (stdout is the peer-status table alone).
fn step(what: impl std::fmt::Display) {
    eprintln!("cluster create: {what}");
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
        netns::delete(ns);
    }
    if !state.root_link.is_empty() {
        link::delete(None, &state.root_link);
    }
    if !state.switch_ns.is_empty() {
        netns::delete(&state.switch_ns);
    }
    // Leftover WireGuard UAPI sockets of killed daemons: the links its node configs name, so
    // only this cluster's — another lab's live sockets are not ours to remove.
    for i in 1..=state.node_namespaces.len() {
        if let Some(link) = node_wg_link(&dir, i) {
            let _ = fs::remove_file(Path::new(UAPI_DIR).join(format!("{link}.sock")));
        }
    }
    if let Some(merged) = &state.context {
        forget_merged_context(merged)?;
    }
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    eprintln!("destroyed cluster {:?}", args.name);
    Ok(())
}

/// The WireGuard link node `i`'s config names (`machine.network.kubespan.interface`), if its
/// config is there to say.
fn node_wg_link(dir: &Path, i: usize) -> Option<String> {
    let text = fs::read_to_string(dir.join(format!("node-{i}.yaml"))).ok()?;
    let config: yaml_serde::Value = yaml_serde::from_str(&text).ok()?;
    config["machine"]["network"]["kubespan"]["interface"]
        .as_str()
        .map(str::to_owned)
}

/// Takes the context `merged` out of its client config (see [`forget_context`]); a config that
/// is gone or no longer has it is left as it is.
fn forget_merged_context(merged: &MergedContext) -> anyhow::Result<()> {
    let path = &merged.weftconfig;
    if !path.exists() {
        return Ok(());
    }
    let mut config = ClientConfig::load_or_default(path)?;
    if forget_context(&mut config, merged) {
        config
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "removed context {:?} from {}{}",
            merged.name,
            path.display(),
            if config.context.is_empty() {
                String::new()
            } else {
                format!("; current context: {:?}", config.context)
            }
        );
    }
    Ok(())
}

/// Removes `merged`'s context from `config` while it is still the cluster's (same CA), and when
/// it was the current one makes the previous current again (if that still exists; else none).
/// Whether `config` changed.
fn forget_context(config: &mut ClientConfig, merged: &MergedContext) -> bool {
    if config
        .contexts
        .get(&merged.name)
        .is_none_or(|ctx| ctx.ca != merged.ca)
    {
        return false;
    }
    config.contexts.remove(&merged.name);
    if config.context == merged.name {
        config.context = if config.contexts.contains_key(&merged.previous) {
            merged.previous.clone()
        } else {
            String::new()
        };
    }
    true
}

/// Refuses, before anything is created, a cluster that would collide on this host: a `cidr`
/// overlapping another cluster's under `state_root` or any address or route of the host, or a
/// namespace, link or UAPI socket of its own names that exists already.
fn check_host_is_free(
    name: &str,
    cidr: Ipv4Net,
    nodes: usize,
    state_root: &Path,
) -> anyhow::Result<()> {
    let names = ClusterNames(name);
    let taken = names
        .host_global(nodes)
        .into_iter()
        .find(|n| netns::exists(n) || weft_lab::cmd::link_exists(None, n));
    let socket = (1..=nodes)
        .map(|i| Path::new(UAPI_DIR).join(format!("{}.sock", names.wg_link(i))))
        .find(|p| p.exists());
    if let Some(thing) = taken.or(socket.map(|p| p.display().to_string())) {
        bail!(
            "{thing} already exists on this host: a cluster named {name:?} under another state directory, or a leftover of one; nothing was created (pick another --name, or destroy that cluster)"
        );
    }
    let others = other_clusters(state_root, name);
    let host = host::networks().context("reading the host's addresses and routes")?;
    if let Some(conflict) = cidr_conflict(cidr, &others, &host) {
        bail!("--cidr: {cidr} overlaps {conflict}; nothing was created (pick another --cidr)");
    }
    Ok(())
}

/// The clusters recorded under `state_root` other than `name`: (name, CIDR).
fn other_clusters(state_root: &Path, name: &str) -> Vec<(String, Ipv4Net)> {
    let Ok(entries) = fs::read_dir(state_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != name)
        .filter_map(|e| ClusterState::load(&e.path()).ok())
        .filter_map(|state| Some((state.name.clone(), state.cidr.parse().ok()?)))
        .collect()
}

/// What `cidr` overlaps, as a person reads it: another cluster's network first (by name), then
/// the host's addresses and routes — those on a cluster's host link named as that cluster's.
fn cidr_conflict(
    cidr: Ipv4Net,
    others: &[(String, Ipv4Net)],
    host: &[host::HostNetwork],
) -> Option<String> {
    if let Some((other, net)) = others.iter().find(|(_, net)| host::overlaps(cidr, *net)) {
        return Some(format!("cluster {other:?} ({net})"));
    }
    let conflict = host::first_overlap(cidr, host)?;
    let owner = others
        .iter()
        .find(|(other, _)| conflict.link.as_deref() == Some(&ClusterNames(other).host_link()));
    Some(match owner {
        Some((other, _)) => format!("the host's {conflict} (cluster {other:?})"),
        None => format!("the host's {conflict}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    fn context(ca: &str) -> Context {
        Context {
            ca: ca.into(),
            ..Context::default()
        }
    }

    /// Contexts (name, CA) and the current one before; the contexts left, the current one and
    /// whether anything changed after.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static [&'static str],
        &'static str,
        bool,
    );

    /// Each row: the config's contexts and current one before `destroy`; what remains and is
    /// current after.
    #[test]
    fn destroy_forgets_its_context_and_restores_the_previous() {
        let merged = MergedContext {
            weftconfig: PathBuf::from("/x/weftconfig"),
            name: "lab-b".into(),
            previous: "lab-a".into(),
            ca: "CA-B".into(),
        };
        let cases: [Case; 5] = [
            // Current: back to the previous one.
            (
                &[("lab-a", "CA-A"), ("lab-b", "CA-B")],
                "lab-b",
                &["lab-a"],
                "lab-a",
                true,
            ),
            // Someone switched contexts since: their choice stays.
            (
                &[("lab-a", "CA-A"), ("lab-b", "CA-B"), ("c", "CA-C")],
                "c",
                &["c", "lab-a"],
                "c",
                true,
            ),
            // The previous one is gone: no current context rather than a dead one.
            (&[("lab-b", "CA-B")], "lab-b", &[], "", true),
            // Replaced by another cluster's context of the same name: not ours to remove.
            (
                &[("lab-a", "CA-A"), ("lab-b", "CA-X")],
                "lab-b",
                &["lab-a", "lab-b"],
                "lab-b",
                false,
            ),
            // Removed already.
            (&[("lab-a", "CA-A")], "lab-a", &["lab-a"], "lab-a", false),
        ];
        for (contexts, current, remaining, now_current, changed) in cases {
            let mut config = ClientConfig {
                context: current.into(),
                contexts: contexts
                    .iter()
                    .map(|(n, ca)| ((*n).to_owned(), context(ca)))
                    .collect(),
            };
            assert_eq!(
                forget_context(&mut config, &merged),
                changed,
                "{contexts:?}"
            );
            let left: Vec<&str> = config.contexts.keys().map(String::as_str).collect();
            assert_eq!(left, remaining, "{contexts:?}");
            assert_eq!(config.context, now_current, "{contexts:?}");
        }
    }

    /// Each row: a new cluster's CIDR and what it is refused for (`None`: accepted).
    #[test]
    fn cidr_conflicts_name_the_cluster_or_the_host_network() {
        let others = vec![
            ("lab-a".to_owned(), "10.5.0.0/24".parse().expect("net")),
            ("lab-b".to_owned(), "10.7.0.0/24".parse().expect("net")),
        ];
        let mut host = host::parse_addresses(&format!(
            "2: eth0    inet 192.0.2.2/24 scope global eth0\\\n9: {}@if3    inet 10.7.0.1/24 scope global\\\n",
            ClusterNames("lab-b").host_link()
        ));
        host.extend(host::parse_routes("10.50.0.0/16 via 192.0.2.1 dev eth0\n"));
        for (cidr, conflict) in [
            ("10.5.0.0/24", Some("cluster \"lab-a\" (10.5.0.0/24)")),
            ("10.5.0.64/26", Some("cluster \"lab-a\" (10.5.0.0/24)")),
            ("10.0.0.0/8", Some("cluster \"lab-a\" (10.5.0.0/24)")),
            ("10.6.0.0/24", None),
            (
                "192.0.2.128/25",
                Some("the host's address 192.0.2.2/24 on eth0"),
            ),
            (
                "10.50.3.0/24",
                Some("the host's route \"10.50.0.0/16 via 192.0.2.1 dev eth0\""),
            ),
        ] {
            let found = cidr_conflict(cidr.parse().expect("net"), &others, &host);
            assert_eq!(found.as_deref(), conflict, "{cidr}");
        }
        // A cluster under another state directory: known only by its host link's address.
        let found = cidr_conflict("10.7.0.0/25".parse().expect("net"), &others[..1], &host);
        assert_eq!(
            found.as_deref(),
            Some(
                format!(
                    "the host's address 10.7.0.1/24 on {}",
                    ClusterNames("lab-b").host_link()
                )
                .as_str()
            )
        );
        let found =
            cidr_conflict("10.7.0.0/25".parse().expect("net"), &[], &host).expect("a conflict");
        assert!(
            found.starts_with("the host's address 10.7.0.1/24"),
            "{found}"
        );
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
