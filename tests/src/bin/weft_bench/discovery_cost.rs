//! `weft-bench discovery-cost`: what learning NAT-punched endpoints costs the discovery service —
//! Weft's NAT traversal (each node asks STUN for its own public endpoint and publishes it in its
//! own affiliate) against KubeSpan's harvesting (`harvestExtraEndpoints`: every node reports
//! where it sees every peer), the reference, measured in the same run.
//!
//! For each mesh size and each mode: a fresh cluster, a [`Lab`] with one namespace per node, a
//! real weft-discovery on the bridge and N real weftd; the run waits until every node sees every
//! peer `up`, lets the mesh settle, and reads the service's counters: affiliate updates accepted,
//! messages fanned out to watchers, STUN requests. Both modes converge the same way (the nodes are
//! all reachable); what differs is what each node tells the service about what it learned.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use weft_e2e::{Cluster, DiscoveryService, Lab, Node, edit_config};

use super::common::{
    BenchResult, SocketReaper, check_running, fail, lab_node, require_binaries, require_root,
    require_tools, warn_if_busy,
};

/// Bound for a mesh to come up.
const UP_LIMIT: Duration = Duration::from_secs(90);
/// How often the nodes are asked.
const POLL: Duration = Duration::from_millis(300);

/// `discovery-cost` flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub sizes: Vec<u8>,
    /// After every node sees every peer up: time for STUN answers and harvested endpoints to land.
    pub settle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    NatTraversal,
    Harvest,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::NatTraversal => "Weft natTraversal",
            Mode::Harvest => "reference: KubeSpan harvestExtraEndpoints",
        }
    }
}

/// The service's counters after one run.
#[derive(Debug, Clone, Copy)]
struct Counters {
    updates: u64,
    watch_messages: u64,
    stun: u64,
}

pub fn run(opts: &Options) -> BenchResult<()> {
    require_root()?;
    require_tools(&[("ip", "iproute2"), ("timeout", "coreutils")])?;
    require_binaries(&["weftd", "weft-discovery", "weftctl"])?;
    println!(
        "discovery-cost: N weftd + 1 weft-discovery on a bridge; counters read {} s after every node sees every peer up",
        opts.settle.as_secs()
    );
    println!(
        "{:<44} {:>3} {:>9} {:>10} {:>11} {:>10} {:>6}",
        "mode", "N", "updates", "per node", "watch msgs", "per node", "STUN"
    );
    let mut rows: Vec<(Mode, u8, Counters)> = Vec::new();
    for &n in &opts.sizes {
        for mode in [Mode::NatTraversal, Mode::Harvest] {
            let c = one_run(n, mode, opts.settle)?;
            let per = |v: u64| v as f64 / f64::from(n);
            println!(
                "{:<44} {n:>3} {:>9} {:>10.1} {:>11} {:>10.1} {:>6}",
                mode.label(),
                c.updates,
                per(c.updates),
                c.watch_messages,
                per(c.watch_messages),
                c.stun
            );
            rows.push((mode, n, c));
        }
    }
    // Growth of the per-node cost from the smallest to the largest mesh.
    if let (Some(&small), Some(&large)) = (opts.sizes.first(), opts.sizes.last())
        && small != large
    {
        for mode in [Mode::NatTraversal, Mode::Harvest] {
            let per_node = |size: u8| {
                rows.iter()
                    .find(|(m, n, _)| *m == mode && *n == size)
                    .map(|(_, n, c)| c.updates as f64 / f64::from(*n))
                    .unwrap_or(0.0)
            };
            let (a, b) = (per_node(small), per_node(large));
            println!(
                "{}: updates per node {a:.1} at N={small}, {b:.1} at N={large} (x{:.2} for x{:.2} nodes)",
                mode.label(),
                b / a.max(f64::MIN_POSITIVE),
                f64::from(large) / f64::from(small)
            );
        }
    }
    println!(
        "(every update is also sent to every watching node: watch messages ~ updates x N; both modes refresh their updates every 15 min)"
    );
    Ok(())
}

fn one_run(n: u8, mode: Mode, settle: Duration) -> BenchResult<Counters> {
    // Dropped in reverse: daemons, discovery, leftover sockets, lab, files.
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let _reaper = SocketReaper::new((0..n).map(|i| lab.netns(i)).collect());
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut nodes: Vec<Node> = Vec::new();
    warn_if_busy();
    for i in 0..n {
        let node = lab_node(&cluster, &mut lab, &format!("d{}", i + 1), i, &disco.url())?;
        edit_config(&node, |cfg| {
            let ks = &mut cfg["machine"]["network"]["kubespan"];
            ks["natTraversal"] = (mode == Mode::NatTraversal).into();
            ks["harvestExtraEndpoints"] = (mode == Mode::Harvest).into();
        });
        nodes.push(node);
    }
    for node in &mut nodes {
        node.spawn(&[]);
    }
    let want = usize::from(n) - 1;
    let deadline = Instant::now() + UP_LIMIT;
    loop {
        let up = nodes.iter().all(|node| {
            let statuses = cluster.get(node, "kubespanpeerstatuses");
            statuses.len() == want
                && statuses
                    .iter()
                    .all(|d| d["spec"]["state"].as_str() == Some("up"))
        });
        if up {
            break;
        }
        for node in &mut nodes {
            check_running(node)?;
        }
        if Instant::now() >= deadline {
            return fail(format!(
                "{}: not every peer up {} s after the start ({n} nodes)",
                mode.label(),
                UP_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(POLL);
    }
    std::thread::sleep(settle);
    let text = metrics(&disco)?;
    let value = |name: &str| -> BenchResult<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .map_or_else(|| fail(format!("no {name} in the service's metrics")), Ok)
    };
    Ok(Counters {
        updates: value("discovery_server_affiliate_updates_total")?,
        watch_messages: value("discovery_server_watch_messages_total")?,
        stun: value("discovery_stun_requests_total")?,
    })
}

/// `GET /metrics` from the service.
fn metrics(disco: &DiscoveryService) -> BenchResult<String> {
    let mut s = std::net::TcpStream::connect((disco.host.as_str(), disco.metrics_port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
