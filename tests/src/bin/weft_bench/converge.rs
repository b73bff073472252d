//! `weft-bench converge`: how long a fresh mesh of N nodes takes from starting the daemons until
//! every node reports every peer `up`.
//!
//! Each run builds everything anew — secrets and configs, a [`Lab`] (a bridge and one network
//! namespace per node), a real `weft-discovery` on the bridge — then starts N real `weftd` at once
//! and polls every node's `KubeSpanPeerStatuses` over the node API every 50 ms (one task and one
//! warm mTLS connection per node). The clock starts just before the first daemon is started. The
//! reference measured in the same run is the floor: the moment every node's API has answered.
//! Everything is removed when the run ends, also on error (the harness types' `Drop`).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use weft_api::config::client::Context;
use weft_api::resources::KUBESPAN_PEER_STATUS_TYPE;
use weft_e2e::{Cluster, DiscoveryService, Lab, Node};

use super::common::SocketReaper;
use super::common::{
    BenchResult, admin_context, alive, check_running, connect, count_up, fail, lab_node,
    list_kubespan, median, require_binaries, require_root, require_tools, warn_if_busy,
};

/// How often each node is asked.
const POLL: Duration = Duration::from_millis(50);
/// Bound of one run, from the daemons' start.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Bound of one connection attempt or call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Target for 10 nodes.
const TARGET_SECS: f64 = 2.0;

/// `converge` flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub nodes: u8,
    pub runs: usize,
}

/// What one poll of one node saw.
#[derive(Debug)]
struct Report {
    node: usize,
    at: Instant,
    /// (peers, peers up), or `None` when the API did not answer.
    counts: Option<(usize, usize)>,
}

/// Timings of one run, in seconds from the start of the first daemon.
#[derive(Debug)]
struct RunResult {
    /// Every node's API has answered once (the floor).
    api_all: f64,
    /// Every node reports every peer up.
    converged: f64,
    /// Per node: when it first reported every peer up.
    node_up: Vec<f64>,
    /// weftd resident memory per node once converged (KiB).
    rss_kib: Vec<Option<u64>>,
}

pub fn run(opts: Options) -> BenchResult<()> {
    require_root()?;
    require_tools(&[("ip", "iproute2"), ("timeout", "coreutils")])?;
    require_binaries(&["weftd", "weft-discovery", "weftctl"])?;
    let n = opts.nodes;
    println!(
        "converge: {n} weftd + 1 weft-discovery, one network namespace per node on a bridge, {} runs",
        opts.runs
    );
    println!(
        "clock from starting the daemons; every node's KubeSpanPeerStatuses polled every {} ms",
        POLL.as_millis()
    );
    let mut results = Vec::new();
    for run in 1..=opts.runs {
        let r = one_run(n)?;
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
        let rss: Vec<String> = r
            .rss_kib
            .iter()
            .map(|k| k.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)))
            .collect();
        println!(
            "       weftd RSS per node once converged (MiB): {}",
            rss.join(" ")
        );
        results.push(r);
    }
    let converged: Vec<f64> = results.iter().map(|r| r.converged).collect();
    let floor: Vec<f64> = results.iter().map(|r| r.api_all).collect();
    let rss: Vec<f64> = results
        .iter()
        .flat_map(|r| r.rss_kib.iter().flatten().map(|k| *k as f64 / 1024.0))
        .collect();
    let (m_conv, m_floor) = (median(&converged), median(&floor));
    println!(
        "median of {} runs: reference (every API answered) {m_floor:.3} s   all peers up {m_conv:.3} s   (mesh work beyond the floor: {:.3} s)",
        results.len(),
        m_conv - m_floor
    );
    println!(
        "weftd RSS over every node of every run: median {:.1} MiB, max {:.1} MiB",
        median(&rss),
        rss.iter().copied().fold(0.0, f64::max)
    );
    let verdict = if m_conv <= TARGET_SECS {
        "meets"
    } else {
        "misses"
    };
    println!(
        "target: all peers up <= {TARGET_SECS:.1} s for 10 nodes ({n} measured): {verdict} ({m_conv:.3} s)"
    );
    Ok(())
}

fn one_run(n: u8) -> BenchResult<RunResult> {
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
            &format!("c{}", i + 1),
            i,
            &disco.url(),
        )?);
    }
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
        .and_then(|rt| rt.block_on(watch(&addrs, &ctx, &pids, start, usize::from(n) - 1)));
    let (api_all, converged, node_up) = match watched {
        Ok(w) => w,
        Err(e) => {
            for node in &mut nodes {
                check_running(node)?;
            }
            return Err(e);
        }
    };
    let rss_kib = pids.iter().map(|p| crate::rss_kib(*p)).collect();
    Ok(RunResult {
        api_all,
        converged,
        node_up,
        rss_kib,
    })
}

/// Polls every node until all report `want` peers up; returns (every API answered, all up, per
/// node first all up), in seconds from `start`.
async fn watch(
    addrs: &[String],
    ctx: &Context,
    pids: &[u32],
    start: Instant,
    want: usize,
) -> BenchResult<(f64, f64, Vec<f64>)> {
    let deadline = start + RUN_LIMIT;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Dropping the set at return aborts the pollers.
    let mut pollers = JoinSet::new();
    for (i, addr) in addrs.iter().enumerate() {
        pollers.spawn(poll_node(
            i,
            addr.clone(),
            ctx.clone(),
            tx.clone(),
            deadline,
        ));
    }
    drop(tx);
    let n = addrs.len();
    let mut api: Vec<Option<Instant>> = vec![None; n];
    let mut first_up: Vec<Option<Instant>> = vec![None; n];
    let mut last: Vec<Option<(usize, usize)>> = vec![None; n];
    let secs = |t: Instant| t.duration_since(start).as_secs_f64();
    loop {
        let report =
            tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), rx.recv()).await;
        let Ok(Some(r)) = report else {
            let seen: Vec<String> = last
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    Some((peers, up)) => format!("c{}: {up}/{peers} up", i + 1),
                    None => format!("c{}: API never answered", i + 1),
                })
                .collect();
            return fail(format!(
                "not every peer was up {}s after the start ({want} wanted per node): {}",
                RUN_LIMIT.as_secs(),
                seen.join(", ")
            ));
        };
        if let Some(counts) = r.counts {
            api[r.node].get_or_insert(r.at);
            last[r.node] = Some(counts);
            if counts == (want, want) {
                first_up[r.node].get_or_insert(r.at);
            }
        }
        let all_up = last.iter().all(|c| *c == Some((want, want)));
        if all_up {
            let api_all = api.iter().flatten().map(|t| secs(*t)).fold(0.0, f64::max);
            let node_up = first_up.iter().flatten().map(|t| secs(*t)).collect();
            return Ok((api_all, secs(r.at), node_up));
        }
        if let Some(i) = pids.iter().position(|p| !alive(*p)) {
            return fail(format!("weftd of c{} exited", i + 1));
        }
    }
}

/// Asks one node for its peer statuses every [`POLL`] until `deadline` or until nobody listens.
async fn poll_node(
    node: usize,
    addr: String,
    ctx: Context,
    tx: mpsc::UnboundedSender<Report>,
    deadline: Instant,
) {
    let mut client = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < deadline {
        tick.tick().await;
        if client.is_none() {
            client = connect(&addr, &ctx, CALL_TIMEOUT).await.ok();
        }
        let counts = match client.as_mut() {
            Some(c) => match list_kubespan(c, KUBESPAN_PEER_STATUS_TYPE).await {
                Ok(statuses) => Some(count_up(&statuses)),
                Err(_) => {
                    client = None;
                    None
                }
            },
            None => None,
        };
        let report = Report {
            node,
            at: Instant::now(),
            counts,
        };
        if tx.send(report).is_err() {
            return;
        }
    }
}
