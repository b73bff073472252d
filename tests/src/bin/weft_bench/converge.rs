//! `weft-bench converge`: how long a fresh mesh of N nodes takes from starting the daemons until
//! every node reports every peer `up`, what the daemons cost, and whether the mesh stays `up`.
//!
//! Each run builds everything anew — secrets and configs, a [`Lab`] (a bridge and one network
//! namespace per node, `10.201.<n>.<10+i>`: up to [`MAX_NODES`] fit), a real `weft-discovery` on
//! the bridge — then starts N real `weftd` at once and follows every node's
//! `KubeSpanPeerStatuses` as a `Watch` stream over the node API (one task and one mTLS connection
//! per node; a node whose API does not answer yet is asked again every 50 ms). Watching, not
//! polling: at 50 nodes a 50 ms poll would be 1,000 lists a second competing with the daemons for
//! two cores, and a poll can miss a status that leaves `up` and comes back between two polls.
//!
//! ```text
//! start daemons ── every API answered ── every node sees N-1 peers up ──── hold (--hold) ────┤
//!   clock 0        (reference: the floor)  converged: RSS, CPU since start   falls from `up`,
//!                                                                            CPU, RSS at the end
//! ```
//!
//! The reference measured in the same run is the floor: the moment every node's API has answered.
//! Everything is removed when the run ends, also on error (the harness types' `Drop`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use weft_api::config::client::Context;
use weft_api::proto::resource::{EventType, WatchRequest};
use weft_api::proto::resource_from_proto;
use weft_api::resources::{KUBESPAN_PEER_STATUS_TYPE, NAMESPACE_KUBESPAN};
use weft_e2e::{Cluster, DiscoveryService, Lab, Node};

use super::common::SocketReaper;
use super::common::{
    BenchResult, admin_context, alive, check_running, connect, cpu_ticks, fail, lab_node, median,
    require_binaries, require_root, require_tools, ticks_per_second, warn_if_busy,
};

/// Most nodes a run may have: the lab's addresses `10.201.<n>.<10+i>` stop at `.254`, and one
/// machine's CPU and memory long before that.
pub const MAX_NODES: u8 = 100;
/// How often a node whose API does not answer yet is asked again.
const RETRY: Duration = Duration::from_millis(50);
/// Bound of one connection attempt.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the loop checks that every daemon still runs.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

/// Bound of one run until convergence, from the daemons' start: generous, and more for more
/// nodes (the run gives up after it, it is not a target).
fn run_limit(n: u8) -> Duration {
    Duration::from_secs(60 + 2 * u64::from(n))
}

/// The issue's target for convergence at this size: (seconds, the promise).
fn target(n: u8) -> Option<(f64, &'static str)> {
    match n {
        0..=10 => Some((2.0, "10 nodes all up <= 2 s")),
        11..=32 => Some((3.0, "32 nodes all up <= 3 s")),
        33..=50 => Some((10.0, "50 nodes all up <= 10 s")),
        _ => None,
    }
}

/// `converge` flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub nodes: u8,
    pub runs: usize,
    /// How long to keep watching once converged.
    pub hold: Duration,
}

/// What one node's watch delivered.
#[derive(Debug)]
enum Seen {
    /// The watch is established: the node's API answered.
    Answered,
    /// A peer status was created or updated (`Some(state)`) or destroyed (`None`).
    Status { peer: String, state: Option<String> },
    /// The stream ended; the node is asked again.
    Lost,
}

/// One thing one node's watch delivered, stamped when it arrived.
#[derive(Debug)]
struct Report {
    node: usize,
    at: Instant,
    seen: Seen,
}

/// What the daemons cost at one moment: per node, `VmRSS` (KiB) and utime + stime (ticks).
#[derive(Debug, Clone)]
struct Usage {
    rss_kib: Vec<Option<u64>>,
    cpu_ticks: Vec<Option<u64>>,
}

impl Usage {
    fn sample(pids: &[u32]) -> Usage {
        Usage {
            rss_kib: pids.iter().map(|p| crate::rss_kib(*p)).collect(),
            cpu_ticks: pids.iter().map(|p| cpu_ticks(*p)).collect(),
        }
    }

    fn rss_mib(&self) -> Vec<f64> {
        self.rss_kib
            .iter()
            .flatten()
            .map(|k| *k as f64 / 1024.0)
            .collect()
    }

    /// CPU seconds per node since `earlier` (since the process started when `None`).
    fn cpu_secs(&self, earlier: Option<&Usage>, tps: f64) -> Vec<f64> {
        self.cpu_ticks
            .iter()
            .enumerate()
            .filter_map(|(i, now)| {
                let before = match earlier {
                    Some(e) => e.cpu_ticks.get(i).copied().flatten()?,
                    None => 0,
                };
                Some(now.as_ref()?.saturating_sub(before) as f64 / tps)
            })
            .collect()
    }
}

/// Timings and costs of one run, times in seconds from the start of the first daemon.
#[derive(Debug)]
struct RunResult {
    /// Every node's API has answered once (the floor).
    api_all: f64,
    /// Every node reports every peer up.
    converged: f64,
    /// Per node: when it first reported every peer up.
    node_up: Vec<f64>,
    /// The daemons once converged.
    at_converged: Usage,
    /// What the hold saw.
    hold: Hold,
}

/// What the hold after convergence saw.
#[derive(Debug)]
struct Hold {
    secs: f64,
    /// Every change from `up` to anything else (or destroyed).
    falls: usize,
    /// The distinct (node, peer) statuses that left `up` at least once.
    statuses_fell: usize,
    /// Status events received during the hold (the watches were live).
    events: usize,
    /// Watches that ended and were established again (a change in the gap is not seen).
    reconnects: usize,
    /// The daemons at the end of the hold.
    at_end: Usage,
}

/// min / median / max of `values`, `unit` after them.
fn spread(values: &[f64], digits: usize, unit: &str) -> String {
    if values.is_empty() {
        return "?".to_owned();
    }
    format!(
        "{:.digits$} / {:.digits$} / {:.digits$} {unit}",
        values.iter().copied().fold(f64::INFINITY, f64::min),
        median(values),
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    )
}

pub fn run(opts: Options) -> BenchResult<()> {
    require_root()?;
    require_tools(&[("ip", "iproute2"), ("timeout", "coreutils")])?;
    require_binaries(&["weftd", "weft-discovery", "weftctl"])?;
    let n = opts.nodes;
    let hold = opts.hold;
    println!(
        "converge: {n} weftd + 1 weft-discovery, one network namespace per node on a bridge, {} runs, hold {} s",
        opts.runs,
        hold.as_secs()
    );
    println!(
        "clock from starting the daemons; every node's KubeSpanPeerStatuses followed as a watch stream"
    );
    let tps = ticks_per_second();
    let mut results = Vec::new();
    for run in 1..=opts.runs {
        let r = one_run(n, hold)?;
        let (first, last) = (
            r.node_up.iter().copied().fold(f64::INFINITY, f64::min),
            r.node_up.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "run {run}: reference (every API answered) {:.3} s   every node sees {} peers up {:.3} s   (first node all up {first:.3} s, last {last:.3} s)",
            r.api_all,
            n - 1,
            r.converged
        );
        println!(
            "       once converged, per node (min / median / max): weftd RSS {}   CPU since start {}",
            spread(&r.at_converged.rss_mib(), 1, "MiB"),
            spread(&r.at_converged.cpu_secs(None, tps), 2, "s")
        );
        let h = &r.hold;
        let hold_cpu = h.at_end.cpu_secs(Some(&r.at_converged), tps);
        let hold_pct: Vec<f64> = hold_cpu
            .iter()
            .map(|s| s / h.secs.max(f64::EPSILON) * 100.0)
            .collect();
        println!(
            "       hold {:.0} s: {} of {} statuses left up ({} falls; {} events, {} watch re-connects)   CPU over the hold {} ({})   RSS at the end {}",
            h.secs,
            h.statuses_fell,
            usize::from(n) * usize::from(n - 1),
            h.falls,
            h.events,
            h.reconnects,
            spread(&hold_cpu, 2, "s"),
            spread(&hold_pct, 2, "% of a core"),
            spread(&h.at_end.rss_mib(), 1, "MiB")
        );
        results.push(r);
    }
    let converged: Vec<f64> = results.iter().map(|r| r.converged).collect();
    let floor: Vec<f64> = results.iter().map(|r| r.api_all).collect();
    let rss: Vec<f64> = results
        .iter()
        .flat_map(|r| r.at_converged.rss_mib())
        .collect();
    let cpu: Vec<f64> = results
        .iter()
        .flat_map(|r| r.at_converged.cpu_secs(None, tps))
        .collect();
    let hold_cpu: Vec<f64> = results
        .iter()
        .flat_map(|r| r.hold.at_end.cpu_secs(Some(&r.at_converged), tps))
        .collect();
    let hold_rss: Vec<f64> = results
        .iter()
        .flat_map(|r| r.hold.at_end.rss_mib())
        .collect();
    let fell: usize = results.iter().map(|r| r.hold.statuses_fell).sum();
    let falls: usize = results.iter().map(|r| r.hold.falls).sum();
    let reconnects: usize = results.iter().map(|r| r.hold.reconnects).sum();
    let (m_conv, m_floor) = (median(&converged), median(&floor));
    println!(
        "median of {} runs: reference (every API answered) {m_floor:.3} s   all peers up {m_conv:.3} s   (mesh work beyond the floor: {:.3} s)",
        results.len(),
        m_conv - m_floor
    );
    println!(
        "weftd per node once converged, over every node of every run (min / median / max): RSS {}   CPU since start {}",
        spread(&rss, 1, "MiB"),
        spread(&cpu, 2, "s")
    );
    println!(
        "weftd per node over the {} s hold: CPU {}   RSS at the end {}",
        hold.as_secs(),
        spread(&hold_cpu, 2, "s"),
        spread(&hold_rss, 1, "MiB")
    );
    match target(n) {
        Some((secs, promise)) => {
            let verdict = if m_conv <= secs { "meets" } else { "misses" };
            println!("target: {promise} ({n} measured): {verdict} ({m_conv:.3} s)");
        }
        None => println!(
            "target: none for {n} nodes (10 nodes <= 2 s, 32 nodes <= 3 s, 50 nodes <= 10 s)"
        ),
    }
    let verdict = if fell == 0 { "meets" } else { "misses" };
    println!(
        "target: every status still up through the {} s hold (0 left up): {verdict} ({fell} left up, {falls} falls over {} runs{})",
        hold.as_secs(),
        results.len(),
        if reconnects > 0 {
            format!("; {reconnects} watch re-connects, a change in such a gap is not seen")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn one_run(n: u8, hold: Duration) -> BenchResult<RunResult> {
    // Declared in this order so they drop in reverse: daemons, discovery, leftover sockets, lab,
    // files.
    let cluster = Cluster::new();
    let ctx = admin_context(&cluster)?;
    let mut lab = Lab::new();
    let _reaper = SocketReaper::new((0..n).map(|i| lab.netns(i)).collect());
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut nodes: Vec<Node> = Vec::new();
    warn_if_busy();
    for i in 0..n {
        nodes.push(lab_node(
            &cluster,
            &mut lab,
            &format!("c{}", u16::from(i) + 1),
            i,
            &disco.url(),
        )?);
    }
    // As `cluster create` does: past 32 nodes the shared ARP table would overflow.
    lab.pin_neighbors(&(0..n).collect::<Vec<u8>>());
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();

    let start = Instant::now();
    for node in &mut nodes {
        node.spawn(&[]);
    }
    let pids: Vec<u32> = nodes.iter().map(|n| n.pid().unwrap_or(0)).collect();
    // The runtime (and so every connection to the nodes) ends before the daemons do: a node's
    // socket left waiting for our side to close would keep its namespace alive after deletion.
    let watched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|rt| {
            rt.block_on(watch(
                &addrs,
                &ctx,
                &pids,
                start,
                usize::from(n) - 1,
                run_limit(n),
                hold,
            ))
        });
    match watched {
        Ok(r) => Ok(r),
        Err(e) => {
            for node in &mut nodes {
                check_running(node)?;
            }
            Err(e)
        }
    }
}

/// Follows every node until all report `want` peers up, then for `hold` more; returns what it
/// saw, times in seconds from `start`.
async fn watch(
    addrs: &[String],
    ctx: &Context,
    pids: &[u32],
    start: Instant,
    want: usize,
    limit: Duration,
    hold: Duration,
) -> BenchResult<RunResult> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Dropping the set at return aborts the watchers.
    let mut watchers = JoinSet::new();
    for (i, addr) in addrs.iter().enumerate() {
        watchers.spawn(watch_node(i, addr.clone(), ctx.clone(), tx.clone()));
    }
    drop(tx);
    let n = addrs.len();
    let mut answered: Vec<Option<Instant>> = vec![None; n];
    let mut states: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); n];
    let mut first_up: Vec<Option<Instant>> = vec![None; n];
    let secs = |t: Instant| t.duration_since(start).as_secs_f64();
    let all_up = |s: &BTreeMap<String, String>| s.len() == want && s.values().all(|v| v == "up");
    // Once converged: when, the daemons then, and what the hold sees.
    let mut converged: Option<(Instant, Usage)> = None;
    let mut fell: BTreeSet<(usize, String)> = BTreeSet::new();
    let (mut falls, mut events, mut reconnects) = (0, 0, 0);
    let mut end = start + limit;
    let mut alive_tick = tokio::time::interval(ALIVE_CHECK);
    loop {
        let report = tokio::select! {
            r = rx.recv() => r,
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(end)) => None,
            _ = alive_tick.tick() => {
                if let Some(i) = pids.iter().position(|p| !alive(*p)) {
                    return fail(format!("weftd of c{} exited", i + 1));
                }
                continue;
            }
        };
        let Some(r) = report else {
            if let Some((at, usage)) = converged {
                return Ok(RunResult {
                    api_all: answered
                        .iter()
                        .flatten()
                        .map(|t| secs(*t))
                        .fold(0.0, f64::max),
                    converged: secs(at),
                    node_up: first_up.iter().flatten().map(|t| secs(*t)).collect(),
                    at_converged: usage,
                    hold: Hold {
                        secs: Instant::now().duration_since(at).as_secs_f64(),
                        falls,
                        statuses_fell: fell.len(),
                        events,
                        reconnects,
                        at_end: Usage::sample(pids),
                    },
                });
            }
            let seen: Vec<String> = states
                .iter()
                .enumerate()
                .map(|(i, s)| match answered[i] {
                    Some(_) => format!(
                        "c{}: {}/{} up",
                        i + 1,
                        s.values().filter(|v| *v == "up").count(),
                        s.len()
                    ),
                    None => format!("c{}: API never answered", i + 1),
                })
                .collect();
            return fail(format!(
                "not every peer was up {}s after the start ({want} wanted per node): {}",
                limit.as_secs(),
                seen.join(", ")
            ));
        };
        match r.seen {
            Seen::Answered => {
                if answered[r.node].is_some() && converged.is_some() {
                    reconnects += 1;
                }
                answered[r.node].get_or_insert(r.at);
                if converged.is_none() {
                    // A new watch starts with the whole current set.
                    states[r.node].clear();
                }
            }
            Seen::Lost => {}
            Seen::Status { peer, state } => {
                let before = states[r.node].get(&peer).cloned();
                let now_up = state.as_deref() == Some("up");
                match state {
                    Some(s) => states[r.node].insert(peer.clone(), s),
                    None => states[r.node].remove(&peer),
                };
                if converged.is_some() {
                    events += 1;
                    if before.as_deref() == Some("up") && !now_up {
                        falls += 1;
                        fell.insert((r.node, peer));
                    }
                    continue;
                }
                if all_up(&states[r.node]) {
                    first_up[r.node].get_or_insert(r.at);
                }
                if states.iter().all(&all_up) {
                    converged = Some((r.at, Usage::sample(pids)));
                    end = r.at + hold;
                }
            }
        }
    }
}

/// Follows one node's peer statuses, reporting into `tx` until nobody listens; connects again
/// every [`RETRY`] while the node's API does not answer or after its stream ended.
async fn watch_node(node: usize, addr: String, ctx: Context, tx: mpsc::UnboundedSender<Report>) {
    let send = |seen: Seen| {
        tx.send(Report {
            node,
            at: Instant::now(),
            seen,
        })
        .is_ok()
    };
    loop {
        let Ok(mut client) = connect(&addr, &ctx, CALL_TIMEOUT).await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let request = WatchRequest {
            namespace: NAMESPACE_KUBESPAN.to_owned(),
            r#type: KUBESPAN_PEER_STATUS_TYPE.to_owned(),
            id: None,
        };
        let Ok(stream) = client.watch(request).await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        if !send(Seen::Answered) {
            return;
        }
        let mut stream = stream.into_inner();
        while let Ok(Some(event)) = stream.message().await {
            let kind = EventType::try_from(event.event).unwrap_or(EventType::Unspecified);
            let Some(resource) = event.resource.and_then(|r| resource_from_proto(r).ok()) else {
                continue;
            };
            let state = match kind {
                EventType::Created | EventType::Updated => Some(
                    resource.spec["state"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                EventType::Destroyed => None,
                EventType::Bootstrapped | EventType::Unspecified => continue,
            };
            let seen = Seen::Status {
                peer: resource.metadata.id,
                state,
            };
            if !send(seen) {
                return;
            }
        }
        if !send(Seen::Lost) {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}
