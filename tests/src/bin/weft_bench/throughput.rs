//! `weft-bench throughput`: four paths side by side, each between network namespaces of one
//! [`Lab`] (every namespace a veth into the lab's bridge): (a) the plain link, (c) Debian's
//! wireguard-go (2022, no offloads) and (d) the modern wireguard-go (0.0.20250522, with the Linux
//! TUN and UDP offloads; `../shared/reference/wireguard-go/`), both configured with `wg`, and (b)
//! Weft: real weftd and a weft-discovery, traffic to the hub node's KubeSpan address. Cases: one
//! TCP stream, four TCP streams, UDP datagrams at the tunnel MTU, and three peers sending to one
//! node at once. Every tunnel carries IPv6 inside IPv4 UDP with MTU 1420 and a preshared key.
//! Alongside each figure: the CPU time of the tunnel processes (and CPU per Gbit/s) and of iperf3;
//! at the end weftd's RSS on the hub, which has [`RSS_PEERS`] peers.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use weft_api::config::client::Context;
use weft_api::resources::{KUBESPAN_IDENTITY_TYPE, KUBESPAN_PEER_STATUS_TYPE};
use weft_e2e::{Cluster, DiscoveryService, Lab, Node};

use super::common::{
    BenchResult, Guarded, admin_context, check_running, connect, count_up, cpu_ticks, fail, in_ns,
    lab_node, list_kubespan, reaped_children_ticks, require_binaries, require_root, require_tools,
    run, run_status, thread_ticks, ticks_per_second, wait_for,
};
use super::common::{SocketReaper, cores_busy, cpus, machine_jiffies, warn_if_busy};

/// Target: Weft at least this many times the modern wireguard-go, in every case.
const TARGET_RATIO: f64 = 1.0;
/// The first iperf3 port inside the namespaces (one server per sender: 5201, 5202, 5203).
const IPERF_PORT: u16 = 5201;
/// wireguard-go's listen port (weftd uses 51820).
const WGO_PORT: &str = "51821";
/// wireguard-go's tunnel addresses: `fd77:77::<i+1>` for node `i` (the hub is node 0).
const WGO_PREFIX: &str = "fd77:77::";
/// MTU of every tunnel.
const MTU: &str = "1420";
/// UDP payload that fills the tunnel MTU with IPv6 inside: 1420 − 40 (IPv6) − 8 (UDP).
const UDP_PAYLOAD: &str = "1372";
/// Senders in the "3 peers → 1 node" case; the other cases use the first.
const SENDERS: usize = 3;
/// weftd's RSS is read on the hub with this many peers (so the Weft cluster has one node more).
const RSS_PEERS: usize = 10;
/// Where the weftd nodes and the other paths' hosts sit in the lab.
const WEFT_FIRST: u8 = 0;
const HOST_FIRST: u8 = 20;
/// The modern wireguard-go: this environment variable, else the copy in the shared reference
/// directory beside the repository (as CI lays it out).
const MODERN_WGO_ENV: &str = "WEFT_BENCH_MODERN_WIREGUARD_GO";
const MODERN_WGO_DEFAULT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/wireguard-go/wireguard-go"
);
/// Bound of the setup waits (daemons up, peers up, handshake).
const SETUP_LIMIT: Duration = Duration::from_secs(90);

/// `throughput` flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub seconds: u32,
}

/// One traffic pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    OneStream,
    FourStreams,
    UdpMtu,
    ThreePeers,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::OneStream,
        Case::FourStreams,
        Case::UdpMtu,
        Case::ThreePeers,
    ];

    fn label(self) -> &'static str {
        match self {
            Case::OneStream => "1 TCP stream",
            Case::FourStreams => "4 TCP streams",
            Case::UdpMtu => "UDP at the MTU",
            Case::ThreePeers => "3 peers -> 1 node",
        }
    }

    fn senders(self) -> usize {
        if self == Case::ThreePeers { SENDERS } else { 1 }
    }

    /// iperf3 client flags of the case.
    fn args(self) -> Vec<&'static str> {
        match self {
            Case::OneStream | Case::ThreePeers => vec!["-P", "1"],
            Case::FourStreams => vec!["-P", "4"],
            // -b 0: as fast as it can; the receiver's figure is what arrived.
            Case::UdpMtu => vec!["-u", "-b", "0", "-l", UDP_PAYLOAD],
        }
    }
}

/// A process whose CPU time is followed during an iperf3 run.
#[derive(Debug, Clone)]
struct Watched {
    label: String,
    pid: u32,
    /// Also break it down per thread name.
    threads: bool,
}

/// The tunnel processes of a path, hub first: `<name> (hub)`, `<name> (sender i)`.
fn watched(name: &str, pids: impl Iterator<Item = u32>, threads: bool) -> Vec<Watched> {
    pids.enumerate()
        .map(|(i, pid)| Watched {
            label: if i == 0 {
                format!("{name} (hub)")
            } else {
                format!("{name} (sender {i})")
            },
            pid,
            threads,
        })
        .collect()
}

/// One path: a hub namespace that receives, the senders, and the tunnel processes to watch.
#[derive(Debug)]
struct Route {
    label: &'static str,
    hub_ns: String,
    hub_addr: String,
    senders: Vec<String>,
    /// The tunnel's processes: hub first, then the senders (empty for the plain link).
    watched: Vec<Watched>,
}

/// One iperf3 run (one or more clients at once).
#[derive(Debug)]
struct Measured {
    mbps: f64,
    wall: f64,
    /// (label, CPU seconds) of iperf3's two ends and every watched process.
    cpu: Vec<(String, f64)>,
    /// CPU seconds of the tunnel processes alone.
    tunnel_cpu: f64,
    /// (label, CPU seconds) of the busy threads of watched processes (a share of `cpu`).
    threads: Vec<(String, f64)>,
    /// Cores busy on average on the whole machine during the run (kernel threads, softirq work
    /// and any other process included).
    machine: f64,
    counters: Counters,
}

/// Kernel counters of the run (`/proc/net/snmp` of the namespaces).
#[derive(Debug, Default)]
struct Counters {
    /// TCP segments the clients sent, and how many of them were retransmissions.
    segments: u64,
    retransmitted: u64,
    /// UDP datagrams dropped for a full socket receive buffer: senders' side, hub side.
    udp_rcvbuf_drops: [u64; 2],
}

impl Measured {
    fn shares(&self, rows: &[(String, f64)]) -> String {
        rows.iter()
            .map(|(label, s)| format!("{label} {:.0}%", 100.0 * s / self.wall))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn print(&self, what: &str) {
        println!(
            "{what:<40} {:>9.0} Mbit/s   CPU (% of one core): {}",
            self.mbps,
            self.shares(&self.cpu)
        );
        if !self.threads.is_empty() {
            println!("{:<57}by thread: {}", "", self.shares(&self.threads));
        }
        println!(
            "{:<57}cores busy: these processes {:.2}, whole machine {:.2} of {}",
            "",
            self.cores_busy(),
            self.machine,
            cpus()
        );
        let c = &self.counters;
        println!(
            "{:<57}TCP segments retransmitted: {} of {} ({:.1}%); UDP receive-buffer drops: sender side {}, receiver side {}",
            "",
            c.retransmitted,
            c.segments,
            100.0 * c.retransmitted as f64 / c.segments.max(1) as f64,
            c.udp_rcvbuf_drops[0],
            c.udp_rcvbuf_drops[1]
        );
    }

    /// Cores busy on average during the run.
    fn cores_busy(&self) -> f64 {
        self.cpu.iter().map(|(_, s)| s).sum::<f64>() / self.wall
    }

    /// Tunnel CPU in % of one core per Gbit/s carried (lower is better); `None` without a tunnel.
    fn cpu_per_gbit(&self) -> Option<f64> {
        (self.tunnel_cpu > 0.0 && self.mbps > 0.0)
            .then(|| 100.0 * self.tunnel_cpu / self.wall / (self.mbps / 1000.0))
    }
}

pub fn run_bench(opts: Options) -> BenchResult<()> {
    require_root()?;
    require_tools(&[
        ("ip", "iproute2"),
        ("ss", "iproute2"),
        ("timeout", "coreutils"),
        ("getconf", "libc-bin"),
        ("iperf3", "iperf3"),
        ("wg", "wireguard-tools"),
        ("wireguard-go", "wireguard-go"),
        ("ping", "iputils-ping"),
    ])?;
    require_binaries(&["weftd", "weft-discovery", "weftctl"])?;
    let modern = std::env::var(MODERN_WGO_ENV).unwrap_or_else(|_| MODERN_WGO_DEFAULT.to_owned());
    if !std::path::Path::new(&modern).is_file() {
        return fail(format!(
            "the modern wireguard-go is not at {modern} (set {MODERN_WGO_ENV} to its path)"
        ));
    }
    let cpus = cpus();
    println!(
        "throughput: iperf3, {} s per cell, between network namespaces (each a veth into one bridge); {cpus} CPUs shared by every end",
        opts.seconds
    );

    // Declared in this order so they drop in reverse: daemons, discovery, leftover sockets, lab,
    // files.
    let cluster = Cluster::new();
    let ctx = admin_context(&cluster)?;
    let mut lab = Lab::new();
    let weft_count = RSS_PEERS + 1;
    let mut namespaces: Vec<String> = (0..weft_count as u8)
        .map(|i| lab.netns(WEFT_FIRST + i))
        .collect();
    namespaces.extend((0..=SENDERS as u8).map(|i| lab.netns(HOST_FIRST + i)));
    let _reaper = SocketReaper::new(namespaces);
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    let mut nodes = Vec::new();
    for i in 0..weft_count as u8 {
        nodes.push(lab_node(
            &cluster,
            &mut lab,
            &format!("t{i}"),
            WEFT_FIRST + i,
            &disco.url(),
        )?);
    }
    let hosts: Vec<(String, String)> = (0..=SENDERS as u8)
        .map(|i| lab.add_host(HOST_FIRST + i))
        .collect();
    let host_ns: Vec<&str> = hosts.iter().map(|(ns, _)| ns.as_str()).collect();
    let host_addr: Vec<&str> = hosts.iter().map(|(_, a)| a.as_str()).collect();
    let dir = cluster.dir.path();
    // results[path][case]
    let mut results: Vec<(&'static str, Vec<Measured>)> = Vec::new();

    // (a) The plain link.
    let plain = Route {
        label: "(a) plain veth, no tunnel",
        hub_ns: host_ns[0].to_owned(),
        hub_addr: host_addr[0].to_owned(),
        senders: host_ns[1..].iter().map(|s| (*s).to_owned()).collect(),
        watched: Vec::new(),
    };
    results.push((plain.label, measure_path(dir, &plain, opts.seconds)?));

    // (c), (d) The references: wireguard-go between the same namespaces, one build after the other.
    for (label, binary, tag) in [
        ("(c) Debian wireguard-go (2022)", "wireguard-go", 'd'),
        ("(d) modern wireguard-go (2025)", modern.as_str(), 'm'),
    ] {
        let wgo = WireguardGo::up(dir, binary, tag, &host_ns, &host_addr)?;
        let path = Route {
            label,
            hub_ns: host_ns[0].to_owned(),
            hub_addr: format!("{WGO_PREFIX}1"),
            senders: host_ns[1..].iter().map(|s| (*s).to_owned()).collect(),
            watched: wgo.watched(),
        };
        results.push((label, measure_path(dir, &path, opts.seconds)?));
        // wireguard-go stops here.
    }

    // (b) Weft: node 0 is the hub, nodes 1..=3 send, the rest only make the hub's peer count.
    disco.start();
    for node in &mut nodes {
        node.spawn(&[]);
    }
    let hub_ula = weft_up(&ctx, &mut nodes)?;
    for node in &nodes[1..=SENDERS] {
        let ns = node.netns.clone().unwrap_or_default();
        wait_for(
            "a ping through Weft's tunnel",
            SETUP_LIMIT,
            Duration::from_millis(100),
            || Ok(ping_ok(&ns, &hub_ula)?.then_some(())),
        )?;
    }
    let weft = Route {
        label: "(b) Weft (weftd, gotatun)",
        hub_ns: lab.netns(WEFT_FIRST),
        hub_addr: hub_ula,
        senders: (1..=SENDERS as u8)
            .map(|i| lab.netns(WEFT_FIRST + i))
            .collect(),
        watched: watched(
            "weftd",
            nodes[..=SENDERS].iter().map(|n| n.pid().unwrap_or(0)),
            true,
        ),
    };
    let measured = measure_path(dir, &weft, opts.seconds);
    // A daemon that died explains a failed run best.
    for node in &mut nodes {
        check_running(node)?;
    }
    results.push((weft.label, measured?));
    let hub_rss = nodes[0].pid().and_then(crate::rss_kib);

    summary(&results, hub_rss);
    println!("perf hardware counters: {}", perf_status());
    let weft = &results[3].1;
    let reference = &results[2].1;
    if Case::ALL
        .iter()
        .enumerate()
        .any(|(i, _)| weft[i].mbps < TARGET_RATIO * results[2].1[i].mbps)
    {
        explain(&weft[0], &reference[0], cpus);
    }
    Ok(())
}

/// Runs every case over `path`, printing each run as it ends.
fn measure_path(dir: &std::path::Path, path: &Route, seconds: u32) -> BenchResult<Vec<Measured>> {
    let servers = IperfServers::start(dir, &path.hub_ns, SENDERS)?;
    let mut out = Vec::new();
    for case in Case::ALL {
        let watched: Vec<Watched> = match case {
            Case::ThreePeers => path.watched.clone(),
            _ => path.watched.iter().take(2).cloned().collect(),
        };
        let m = iperf(dir, path, &servers, case, seconds, &watched)?;
        m.print(&format!("{} | {}", path.label, case.label()));
        out.push(m);
    }
    Ok(out)
}

/// The side-by-side table: Mbit/s per case and path, the tunnels' CPU per Gbit/s, and the ratios.
fn summary(results: &[(&'static str, Vec<Measured>)], hub_rss: Option<u64>) {
    println!();
    print!("{:<34}", "Mbit/s (tunnel CPU % of a core per Gbit/s)");
    for case in Case::ALL {
        print!(" | {:>22}", case.label());
    }
    println!();
    for (label, row) in results {
        print!("{label:<34}");
        for m in row {
            let cell = match m.cpu_per_gbit() {
                Some(c) => format!("{:.0} ({c:.0}%)", m.mbps),
                None => format!("{:.0}", m.mbps),
            };
            print!(" | {cell:>22}");
        }
        println!();
    }
    let ratio_row = |name: &str, of: usize| {
        print!("{name:<34}");
        for (i, _) in Case::ALL.iter().enumerate() {
            let r = results[3].1[i].mbps / results[of].1[i].mbps.max(1.0);
            print!(" | {:>22}", format!("{r:.2}x"));
        }
        println!();
    };
    ratio_row("Weft / Debian wireguard-go", 1);
    ratio_row("Weft / modern wireguard-go", 2);
    ratio_row("Weft / plain veth", 0);
    let met = Case::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| results[3].1[*i].mbps >= TARGET_RATIO * results[2].1[*i].mbps)
        .count();
    println!(
        "target Weft >= {TARGET_RATIO:.1}x modern wireguard-go in every case: met in {met} of {}",
        Case::ALL.len()
    );
    match hub_rss {
        Some(kib) => println!(
            "weftd RSS on the hub with {RSS_PEERS} peers after the runs: {:.1} MiB (target <= 64 MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("weftd RSS on the hub: unknown (the process is gone)"),
    }
}

/// What the figures say about why Weft is below target (one stream, against the modern
/// wireguard-go).
fn explain(weft: &Measured, reference: &Measured, cpus: usize) {
    let pct =
        |m: &Measured| 100.0 * m.counters.retransmitted as f64 / m.counters.segments.max(1) as f64;
    println!("below target; what limits Weft in this run:");
    let drops = weft.counters.udp_rcvbuf_drops.iter().sum::<u64>();
    if drops > 0 {
        println!(
            "- loss inside the tunnel: {drops} UDP datagrams dropped at a full socket receive buffer, {:.1}% of TCP segments retransmitted, and TCP backs off at each loss (modern wireguard-go: {} drops, {:.1}% retransmitted)",
            pct(weft),
            reference.counters.udp_rcvbuf_drops.iter().sum::<u64>(),
            pct(reference)
        );
    }
    let rows = if weft.threads.is_empty() {
        &weft.cpu
    } else {
        &weft.threads
    };
    let busiest = rows
        .iter()
        .filter(|(label, _)| label.starts_with("weftd"))
        .map(|(label, s)| (label.as_str(), 100.0 * s / weft.wall))
        .fold(("weftd", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    println!(
        "- CPU: {} at {:.0}% of one core; the Weft path kept {:.2} of {cpus} cores busy (wireguard-go's {:.2}); a data-plane thread near 100% is CPU-bound",
        busiest.0,
        busiest.1,
        weft.cores_busy(),
        reference.cores_busy()
    );
    println!(
        "- where the CPU goes: the weftd log line 'created the WireGuard interface' says which offloads are on; profile the busiest thread (`perf record -e cpu-clock -g -p PID`, or /proc/PID/task/*/stat user vs system)"
    );
}

/// Whether one ping from `ns` to `addr` is answered within a second.
fn ping_ok(ns: &str, addr: &str) -> BenchResult<bool> {
    let out = run_status(
        "ip",
        &["netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr],
    )?;
    Ok(out.success)
}

/// Waits until every weftd sees every other one up; returns the first node's (the hub's)
/// KubeSpan address.
///
/// The runtime, and with it every API connection, ends before this returns: a node's socket left
/// waiting for our side to close would keep its namespace alive after the lab deletes it.
fn weft_up(ctx: &Context, nodes: &mut [Node]) -> BenchResult<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();
    let peers = nodes.len() - 1;
    wait_for(
        "every weftd to see every peer up",
        SETUP_LIMIT,
        Duration::from_millis(200),
        || {
            for node in nodes.iter_mut() {
                check_running(node)?;
            }
            let all = rt.block_on(async {
                for addr in &addrs {
                    let Ok(mut c) = connect(addr, ctx, Duration::from_secs(2)).await else {
                        return false;
                    };
                    let up = list_kubespan(&mut c, KUBESPAN_PEER_STATUS_TYPE)
                        .await
                        .is_ok_and(|s| count_up(&s) == (peers, peers));
                    if !up {
                        return false;
                    }
                }
                true
            });
            Ok(all.then_some(()))
        },
    )?;
    let ids = rt.block_on(async {
        let mut c = connect(&addrs[0], ctx, Duration::from_secs(2)).await?;
        list_kubespan(&mut c, KUBESPAN_IDENTITY_TYPE).await
    })?;
    match ids
        .first()
        .and_then(|r| r.spec["address"].as_str())
        .map(|a| a.trim_end_matches("/128").to_owned())
    {
        Some(a) => Ok(a),
        None => fail("the hub node has no KubeSpan address"),
    }
}

/// iperf3 servers in the hub's namespace, one port per sender (a server takes one test at a time).
#[derive(Debug)]
struct IperfServers {
    servers: Vec<Guarded>,
}

impl IperfServers {
    fn start(dir: &Path, ns: &str, count: usize) -> BenchResult<IperfServers> {
        let mut servers = Vec::new();
        for i in 0..count {
            let port = (IPERF_PORT + i as u16).to_string();
            let log = dir.join(format!("iperf3-server-{port}.log"));
            let mut server = Guarded::spawn(
                "iperf3 server",
                Command::new("ip").args(["netns", "exec", ns, "iperf3", "-s", "-p", &port]),
                &log,
            )?;
            wait_for(
                "the iperf3 server to listen",
                Duration::from_secs(10),
                Duration::from_millis(20),
                || {
                    if let Some(status) = server.try_exit() {
                        return fail(format!(
                            "the iperf3 server exited with {status}: {}",
                            fs::read_to_string(&log).unwrap_or_default()
                        ));
                    }
                    let sport = format!(":{port}");
                    let listening = in_ns(ns, &["ss", "-Hltn", "sport", "=", &sport])?;
                    Ok((!listening.trim().is_empty()).then_some(()))
                },
            )?;
            servers.push(server);
        }
        Ok(IperfServers { servers })
    }

    fn cpu_ticks(&self) -> u64 {
        self.servers
            .iter()
            .map(|s| cpu_ticks(s.pid()).unwrap_or(0))
            .sum()
    }
}

/// Runs `case` over `route` (its clients at once, each against its own server) and follows the CPU
/// time of both ends and of `watched`.
fn iperf(
    dir: &Path,
    route: &Route,
    servers: &IperfServers,
    case: Case,
    seconds: u32,
    watched: &[Watched],
) -> BenchResult<Measured> {
    warn_if_busy();
    let tick = ticks_per_second();
    let senders = &route.senders[..case.senders()];
    // (process ticks, ticks per thread name)
    let sample = |w: &Watched| {
        let threads = if w.threads {
            thread_ticks(w.pid)
        } else {
            Vec::new()
        };
        (cpu_ticks(w.pid).unwrap_or(0), threads)
    };
    let snmp_all = || -> BenchResult<Vec<Vec<(String, u64)>>> {
        let mut all = vec![snmp(&route.hub_ns)?];
        for ns in senders {
            all.push(snmp(ns)?);
        }
        Ok(all)
    };
    let before: Vec<(u64, Vec<(String, u64)>)> = watched.iter().map(sample).collect();
    let server_before = servers.cpu_ticks();
    let snmp_before = snmp_all()?;
    let children_before = reaped_children_ticks();
    let machine_before = machine_jiffies();
    let start = Instant::now();
    let mut clients = Vec::new();
    for (i, ns) in senders.iter().enumerate() {
        let log = dir.join(format!("iperf3-client-{i}.log"));
        let port = (IPERF_PORT + i as u16).to_string();
        let secs = seconds.to_string();
        let mut args = vec![
            "netns",
            "exec",
            ns,
            "iperf3",
            "-c",
            &route.hub_addr,
            "-p",
            &port,
            "-t",
            &secs,
            "-f",
            "m",
            "--connect-timeout",
            "5000",
        ];
        args.extend(case.args());
        let client = Guarded::spawn("iperf3 client", Command::new("ip").args(&args), &log)?;
        clients.push((client, log));
    }
    let mut statuses = Vec::new();
    for (client, _) in &mut clients {
        statuses.push(client.wait(Duration::from_secs(u64::from(seconds) + 30))?);
    }
    let wall = start.elapsed().as_secs_f64();
    let machine = cores_busy(machine_before, machine_jiffies(), cpus());
    let client_ticks = reaped_children_ticks().saturating_sub(children_before);
    let server_ticks = servers.cpu_ticks().saturating_sub(server_before);
    let after: Vec<(u64, Vec<(String, u64)>)> = watched.iter().map(sample).collect();
    let snmp_after = snmp_all()?;
    let delta = |side: usize, key: &str| {
        let get = |m: &[(String, u64)]| m.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v);
        get(&snmp_after[side]).saturating_sub(get(&snmp_before[side]))
    };
    let senders_sum = |key: &str| (1..snmp_after.len()).map(|i| delta(i, key)).sum::<u64>();
    let counters = Counters {
        segments: senders_sum("Tcp.OutSegs"),
        retransmitted: senders_sum("Tcp.RetransSegs"),
        udp_rcvbuf_drops: [
            senders_sum("Udp.RcvbufErrors"),
            delta(0, "Udp.RcvbufErrors"),
        ],
    };
    let mut mbps = 0.0;
    for ((_, log), status) in clients.iter().zip(&statuses) {
        let output = fs::read_to_string(log).unwrap_or_default();
        if !status.success() {
            return fail(format!(
                "iperf3 to {} failed ({status}):\n{output}",
                route.hub_addr
            ));
        }
        let Some(m) = receiver_mbps(&output) else {
            return fail(format!("no receiver figure in iperf3's output:\n{output}"));
        };
        mbps += m;
    }

    let secs = |t: u64| t as f64 / tick;
    let mut cpu = vec![
        ("iperf3 clients".to_owned(), secs(client_ticks)),
        ("iperf3 servers".to_owned(), secs(server_ticks)),
    ];
    let mut tunnel_cpu = 0.0;
    let mut threads = Vec::new();
    for ((w, b), a) in watched.iter().zip(&before).zip(&after) {
        let used = secs(a.0.saturating_sub(b.0));
        tunnel_cpu += used;
        cpu.push((w.label.clone(), used));
        let mut busy: Vec<(String, f64)> =
            a.1.iter()
                .map(|(name, t_after)| {
                    let t_before = b.1.iter().find(|(n, _)| n == name).map_or(0, |(_, t)| *t);
                    (
                        format!("{} {name}", w.label),
                        secs(t_after.saturating_sub(t_before)),
                    )
                })
                // Idle threads are noise.
                .filter(|(_, used)| used / wall >= 0.02)
                .collect();
        busy.sort_by(|x, y| y.1.total_cmp(&x.1));
        threads.extend(busy);
    }
    Ok(Measured {
        mbps,
        wall,
        cpu,
        tunnel_cpu,
        threads,
        machine,
        counters,
    })
}

/// The counters of `/proc/net/snmp` in namespace `ns`, as (`Proto.Name`, value).
fn snmp(ns: &str) -> BenchResult<Vec<(String, u64)>> {
    Ok(parse_snmp(&in_ns(ns, &["cat", "/proc/net/snmp"])?))
}

/// `/proc/net/snmp` holds pairs of lines: `Proto: names…` then `Proto: values…`.
fn parse_snmp(text: &str) -> Vec<(String, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut counters = Vec::new();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((proto, names)), Some((_, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = value.parse() {
                counters.push((format!("{proto}.{name}"), v));
            }
        }
    }
    counters
}

/// The receiver's bitrate from iperf3's `-f m` summary.
fn receiver_mbps(output: &str) -> Option<f64> {
    let line = output.lines().rev().find(|l| l.contains("receiver"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let unit = words.iter().position(|w| *w == "Mbits/sec")?;
    words.get(unit.checked_sub(1)?)?.parse().ok()
}

/// Whether `perf` can count instructions here.
fn perf_status() -> String {
    match run_status("perf", &["stat", "-e", "instructions", "true"]) {
        Err(_) => "perf is not installed".to_owned(),
        Ok(out) => {
            let text = &out.stderr;
            if !out.success {
                "perf stat failed".to_owned()
            } else if text.contains("not supported") || text.contains("not counted") {
                "unavailable (`perf stat -e instructions true`: <not supported>, a VM without a PMU)"
                    .to_owned()
            } else {
                "available".to_owned()
            }
        }
    }
}

/// wireguard-go devices, one per namespace: node 0 (the hub) peered with every other node, each
/// other node with the hub, over the lab link.
#[derive(Debug)]
struct WireguardGo {
    procs: Vec<Guarded>,
}

impl WireguardGo {
    /// Starts `binary` in every namespace of `ns` (`endpoints` their lab addresses); `tag` keeps
    /// the interface names of two builds apart.
    fn up(
        dir: &Path,
        binary: &str,
        tag: char,
        ns: &[&str],
        endpoints: &[&str],
    ) -> BenchResult<WireguardGo> {
        let pid = std::process::id() % 100_000;
        let names: Vec<String> = (0..ns.len()).map(|i| format!("wgo{pid}{tag}{i}")).collect();
        let mut keys = Vec::new();
        for name in &names {
            let private = run("wg", &["genkey"])?.trim().to_owned();
            let public = wg_pubkey(&private)?;
            let file = dir.join(format!("{name}.key"));
            write_secret(&file, &private)?;
            keys.push((file, public));
        }
        let psk = dir.join(format!("wgo{tag}.psk"));
        write_secret(&psk, run("wg", &["genpsk"])?.trim())?;

        let mut procs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let socket = Path::new("/var/run/wireguard").join(format!("{name}.sock"));
            let _ = fs::remove_file(&socket);
            let guard = Guarded::spawn(
                "wireguard-go",
                Command::new("ip")
                    .args(["netns", "exec", ns[i], binary, "-f", name])
                    .env("WG_PROCESS_FOREGROUND", "1"),
                &dir.join(format!("{name}.log")),
            )?
            .leaves(socket.clone());
            procs.push(guard);
            wait_for(
                "wireguard-go's UAPI socket",
                Duration::from_secs(10),
                Duration::from_millis(20),
                || Ok(socket.exists().then_some(())),
            )?;
        }
        for i in 0..names.len() {
            let others: Vec<usize> = if i == 0 {
                (1..names.len()).collect()
            } else {
                vec![0]
            };
            let mut args = vec![
                "wg".to_owned(),
                "set".to_owned(),
                names[i].clone(),
                "private-key".to_owned(),
                path_str(&keys[i].0)?.to_owned(),
                "listen-port".to_owned(),
                WGO_PORT.to_owned(),
            ];
            for other in others {
                args.extend([
                    "peer".to_owned(),
                    keys[other].1.clone(),
                    "preshared-key".to_owned(),
                    path_str(&psk)?.to_owned(),
                    "endpoint".to_owned(),
                    format!("{}:{WGO_PORT}", endpoints[other]),
                    "allowed-ips".to_owned(),
                    format!("{WGO_PREFIX}{}/128", other + 1),
                    "persistent-keepalive".to_owned(),
                    "25".to_owned(),
                ]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            in_ns(ns[i], &args)?;
            let addr = format!("{WGO_PREFIX}{}/64", i + 1);
            run(
                "ip",
                &["-n", ns[i], "addr", "add", &addr, "dev", &names[i], "nodad"],
            )?;
            run(
                "ip",
                &["-n", ns[i], "link", "set", &names[i], "mtu", MTU, "up"],
            )?;
        }
        let hub = format!("{WGO_PREFIX}1");
        for sender in &ns[1..] {
            wait_for(
                "a ping through wireguard-go",
                Duration::from_secs(20),
                Duration::from_millis(100),
                || Ok(ping_ok(sender, &hub)?.then_some(())),
            )?;
        }
        Ok(WireguardGo { procs })
    }

    fn watched(&self) -> Vec<Watched> {
        watched("wireguard-go", self.procs.iter().map(Guarded::pid), false)
    }
}

fn path_str(path: &Path) -> BenchResult<&str> {
    match path.to_str() {
        Some(s) => Ok(s),
        None => fail(format!("{} is not UTF-8", path.display())),
    }
}

/// `wg pubkey` of `private`.
fn wg_pubkey(private: &str) -> BenchResult<String> {
    use std::io::Write as _;
    let mut child = Command::new("timeout")
        .args(["10", "wg", "pubkey"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(private.as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return fail(format!(
            "wg pubkey: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Writes a key file readable by root only.
fn write_secret(path: &Path, text: &str) -> BenchResult<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::receiver_mbps;

    #[test]
    fn parses_the_receiver_line() {
        let out = "[  5]   0.00-10.00  sec  1.31 GBytes  1122 Mbits/sec    0             sender\n\
                   [  5]   0.00-10.04  sec  1.31 GBytes  1118 Mbits/sec                  receiver\n";
        assert_eq!(receiver_mbps(out), Some(1118.0));
        assert_eq!(receiver_mbps("nothing"), None);
    }

    #[test]
    fn parses_snmp() {
        let text = "Tcp: RtoAlgorithm OutSegs RetransSegs\nTcp: 1 100 7\nUdp: InDatagrams RcvbufErrors\nUdp: 5 2\n";
        let c = super::parse_snmp(text);
        assert!(c.contains(&("Tcp.RetransSegs".to_owned(), 7)));
        assert!(c.contains(&("Udp.RcvbufErrors".to_owned(), 2)));
    }
}
