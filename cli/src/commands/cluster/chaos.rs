//! Network chaos in the local mesh: `cluster create --with-network-*` (talosctl's flags) and
//! `cluster chaos`, which changes the impairments of a running cluster.
//!
//! Every impairment is on a node's underlay link, in both directions, and inside the lab only:
//! ```text
//!   switch namespace                      node namespace weft-<name>-<i>
//!   br0 ── n<i> ══════ veth ══════ eth0 ── table inet weftlab: prerouting  iifname eth0 … drop
//!          └ tc root qdisc                  │                   postrouting oifname eth0 … drop
//!            (the node's ingress)           └ tc root qdisc (the node's egress)
//! ```
//! - loss and partitions: nftables, one table `inet weftlab` per node namespace (weftd owns
//!   `inet weft` there; this one is the lab's), replaced whole in one `nft -f` transaction, so a
//!   change is atomic and repeating it changes nothing. Loss is `numgen random mod 10000 < N`:
//!   each packet, each direction, independently, in steps of [`LOSS_RESOLUTION_PERCENT`].
//! - bandwidth: a `tbf` root qdisc on both ends of the node's veth pair (a qdisc shapes only
//!   what a device sends, so the switch's port `n<i>` shapes what the node receives).
//! - latency, jitter, reorder, corrupt: `netem`, where the kernel has it (sch_netem); refused up
//!   front, before anything is created, where it does not. Never a silent no-op.
//!
//! The pure part (limits, parsing, the state of a cluster's impairments, the nft ruleset and the
//! qdisc a node gets) comes first and is table-tested at the bottom; the part that runs `nft`
//! and `tc` is [`apply_node`] and below.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use weft_lab::cmd;
use weft_lab::prereq::{is_root, on_path};

use super::{ClusterState, STATE_FILE, check_name, state_root};
use crate::args::{ClusterChaosArgs, NetworkChaosArgs};

/// The nftables table the lab owns in every node namespace (family `inet`); never weftd's.
pub const NFT_TABLE: &str = "weftlab";
/// A node's underlay link inside its namespace.
const UNDERLAY: &str = "eth0";
/// Loss is drawn from `numgen random mod LOSS_MODULUS`: steps of 0.01 %.
const LOSS_MODULUS: u32 = 10_000;
/// The finest loss that can be asked for, in percent.
pub const LOSS_RESOLUTION_PERCENT: f64 = 100.0 / LOSS_MODULUS as f64;
/// Most loss, in percent: everything.
pub const MAX_LOSS_PERCENT: f64 = 100.0;
/// Lowest bandwidth limit in kbit/s (0 means none): below it a full frame waits for seconds.
pub const MIN_BANDWIDTH_KBPS: u32 = 8;
/// Highest bandwidth limit in kbit/s (10 Gbit/s): above it a veth is the limit anyway.
pub const MAX_BANDWIDTH_KBPS: u32 = 10_000_000;
/// Longest latency or jitter netem is asked for.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// tbf's bucket: at least this many bytes (four full Ethernet frames, so one always fits) …
const TBF_MIN_BURST_BYTES: u64 = 4 * 1514;
/// … or the traffic of this many milliseconds at the rate, whichever is larger.
const TBF_BURST_MS: u64 = 10;
/// How long a packet may queue in tbf before it is dropped.
const TBF_LATENCY: &str = "100ms";
/// The root qdiscs the lab puts on links; any other one is left alone.
const OUR_QDISCS: [&str; 2] = ["tbf", "netem"];

// ---------------------------------------------------------------------------------------------
// Parsing and limits (the clap value parsers).

/// `--with-network-packet-*`: a fraction from 0 to 1, as talosctl takes them (0.2 = 20 %).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "{s:?} is not a fraction from 0 to 1 (as in talosctl: 0.2 = 20 %)"
        )),
    }
}

/// `cluster chaos --loss`: percent from 0 to 100, in steps of [`LOSS_RESOLUTION_PERCENT`].
pub fn parse_loss_percent(s: &str) -> Result<f64, String> {
    let pct = s.trim().trim_end_matches('%').parse::<f64>();
    match pct {
        Ok(p) if p.is_finite() && (0.0..=MAX_LOSS_PERCENT).contains(&p) => {
            if p > 0.0 && loss_threshold(p) == 0 {
                Err(format!(
                    "{s:?} is below the finest loss, {LOSS_RESOLUTION_PERCENT} %"
                ))
            } else {
                Ok(p)
            }
        }
        _ => Err(format!(
            "{s:?} is not a percentage from 0 to {MAX_LOSS_PERCENT} (e.g. 30 for 30 %)"
        )),
    }
}

/// `--bandwidth`/`--with-network-bandwidth`: kbit/s, 0 (no limit) or from
/// [`MIN_BANDWIDTH_KBPS`] to [`MAX_BANDWIDTH_KBPS`].
pub fn parse_bandwidth(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(k) if k == 0 || (MIN_BANDWIDTH_KBPS..=MAX_BANDWIDTH_KBPS).contains(&k) => Ok(k),
        _ => Err(format!(
            "{s:?} is not a bandwidth in kbit/s from {MIN_BANDWIDTH_KBPS} to {MAX_BANDWIDTH_KBPS} (0: no limit)"
        )),
    }
}

/// `--partition I,J`: two different node indices.
pub fn parse_pair(s: &str) -> Result<(usize, usize), String> {
    let parsed = s.split_once(',').and_then(|(a, b)| {
        Some((
            a.trim().parse::<usize>().ok()?,
            b.trim().parse::<usize>().ok()?,
        ))
    });
    match parsed {
        Some((a, b)) if a >= 1 && b >= 1 && a != b => Ok((a.min(b), a.max(b))),
        _ => Err(format!(
            "{s:?} is not two different node indices like 1,2 (as in the namespaces weft-<name>-<i>)"
        )),
    }
}

/// The `numgen random mod LOSS_MODULUS < threshold` of a loss in percent.
fn loss_threshold(percent: f64) -> u32 {
    // Float to int: the value is within 0..=LOSS_MODULUS for a percentage from 0 to 100.
    ((percent / 100.0 * f64::from(LOSS_MODULUS)).round() as u32).min(LOSS_MODULUS)
}

// ---------------------------------------------------------------------------------------------
// What a cluster's links suffer: recorded in its state file.

/// Impairments of one node's underlay link, each in both directions; zero means none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkImpairment {
    /// Random loss, percent of packets, each direction independently.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub loss_percent: f64,
    /// Bandwidth limit in kbit/s, each direction.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub bandwidth_kbps: u32,
    /// Added latency in microseconds (netem).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub latency_us: u64,
    /// Jitter of the latency in microseconds (netem).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub jitter_us: u64,
    /// Reordered packets, percent (netem).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub reorder_percent: f64,
    /// Corrupted packets, percent (netem).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub corrupt_percent: f64,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

impl LinkImpairment {
    /// Whether the link is left as it is.
    pub fn is_empty(&self) -> bool {
        *self == LinkImpairment::default()
    }

    /// The flags of what needs the kernel's netem (sch_netem), in talosctl's names.
    pub fn netem_flags(&self) -> Vec<&'static str> {
        [
            (self.latency_us > 0, "--with-network-latency"),
            (self.jitter_us > 0, "--with-network-jitter"),
            (self.reorder_percent > 0.0, "--with-network-packet-reorder"),
            (self.corrupt_percent > 0.0, "--with-network-packet-corrupt"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect()
    }
}

/// A cluster's impairments, as its state file records them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chaos {
    /// By node index (1 for weft-<name>-1); nodes without impairments are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<usize, LinkImpairment>,
    /// Pairs of node indices (smaller first) that drop everything between them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub partitions: BTreeSet<(usize, usize)>,
}

impl Chaos {
    /// Whether nothing is impaired.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.partitions.is_empty()
    }

    /// Node `i`'s link impairments.
    pub fn link(&self, i: usize) -> LinkImpairment {
        self.nodes.get(&i).cloned().unwrap_or_default()
    }

    /// The nodes `i` is partitioned from.
    pub fn partners(&self, i: usize) -> Vec<usize> {
        self.partitions
            .iter()
            .filter_map(|&(a, b)| {
                if a == i {
                    Some(b)
                } else if b == i {
                    Some(a)
                } else {
                    None
                }
            })
            .collect()
    }

    fn edit(&mut self, i: usize, f: impl FnOnce(&mut LinkImpairment)) {
        let link = self.nodes.entry(i).or_default();
        f(link);
        if link.is_empty() {
            self.nodes.remove(&i);
        }
    }
}

/// One `cluster chaos` invocation, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The node `loss`, `bandwidth` and `clear` apply to; every node when `None`.
    pub node: Option<usize>,
    pub loss_percent: Option<f64>,
    pub bandwidth_kbps: Option<u32>,
    pub partition: Vec<(usize, usize)>,
    pub heal: Vec<(usize, usize)>,
    pub clear: bool,
}

impl Request {
    fn from_args(args: &ClusterChaosArgs) -> Request {
        Request {
            node: args.node.map(usize::from),
            loss_percent: args.loss,
            bandwidth_kbps: args.bandwidth,
            partition: args.partition.clone(),
            heal: args.heal.clone(),
            clear: args.clear,
        }
    }
}

/// The impairments after `req` on a cluster of `nodes` nodes, and the nodes whose links must be
/// (re)applied: every node the request names, so repeating a command also repairs its nodes.
pub fn plan(
    chaos: &Chaos,
    req: &Request,
    nodes: usize,
) -> anyhow::Result<(Chaos, BTreeSet<usize>)> {
    let check = |flag: &str, i: usize| -> anyhow::Result<()> {
        if !(1..=nodes).contains(&i) {
            bail!("{flag}: the cluster has nodes 1 to {nodes}, not {i}");
        }
        Ok(())
    };
    if let Some(i) = req.node {
        check("--node", i)?;
    }
    for &(a, b) in &req.partition {
        check("--partition", a)?;
        check("--partition", b)?;
    }
    for &(a, b) in &req.heal {
        check("--heal", a)?;
        check("--heal", b)?;
    }
    let mut next = chaos.clone();
    let mut touched = BTreeSet::new();
    let selected: Vec<usize> = match req.node {
        Some(i) => vec![i],
        None => (1..=nodes).collect(),
    };
    if req.clear {
        for &i in &selected {
            next.nodes.remove(&i);
            touched.insert(i);
            touched.extend(next.partners(i));
            next.partitions.retain(|&(a, b)| a != i && b != i);
        }
    }
    if let Some(loss) = req.loss_percent {
        for &i in &selected {
            next.edit(i, |l| l.loss_percent = loss);
            touched.insert(i);
        }
    }
    if let Some(kbps) = req.bandwidth_kbps {
        for &i in &selected {
            next.edit(i, |l| l.bandwidth_kbps = kbps);
            touched.insert(i);
        }
    }
    for &(a, b) in &req.heal {
        next.partitions.remove(&(a.min(b), a.max(b)));
        touched.extend([a, b]);
    }
    for &(a, b) in &req.partition {
        next.partitions.insert((a.min(b), a.max(b)));
        touched.extend([a, b]);
    }
    if touched.is_empty() {
        bail!("nothing to change: give --loss, --bandwidth, --partition, --heal or --clear");
    }
    Ok((next, touched))
}

/// The impairments `cluster create` puts on every node's link, from talosctl's flags: refused
/// without `--with-network-chaos` (as talosctl does), and where a value needs another flag.
pub fn from_create_flags(f: &NetworkChaosArgs) -> anyhow::Result<LinkImpairment> {
    let micros =
        |d: Option<Duration>| d.map_or(0, |d| d.as_micros().min(u128::from(u64::MAX)) as u64);
    let link = LinkImpairment {
        loss_percent: f.with_network_packet_loss.unwrap_or(0.0) * 100.0,
        bandwidth_kbps: f.with_network_bandwidth.unwrap_or(0),
        latency_us: micros(f.with_network_latency),
        jitter_us: micros(f.with_network_jitter),
        reorder_percent: f.with_network_packet_reorder.unwrap_or(0.0) * 100.0,
        corrupt_percent: f.with_network_packet_corrupt.unwrap_or(0.0) * 100.0,
    };
    let given: Vec<&str> = [
        (link.loss_percent > 0.0, "--with-network-packet-loss"),
        (link.bandwidth_kbps > 0, "--with-network-bandwidth"),
        (link.latency_us > 0, "--with-network-latency"),
        (link.jitter_us > 0, "--with-network-jitter"),
        (link.reorder_percent > 0.0, "--with-network-packet-reorder"),
        (link.corrupt_percent > 0.0, "--with-network-packet-corrupt"),
    ]
    .into_iter()
    .filter_map(|(on, flag)| on.then_some(flag))
    .collect();
    if !f.with_network_chaos {
        if let Some(flag) = given.first() {
            bail!(
                "{flag}: network chaos flags can only be used with --with-network-chaos (as in talosctl)"
            );
        }
        return Ok(LinkImpairment::default());
    }
    if link.loss_percent > 0.0 && loss_threshold(link.loss_percent) == 0 {
        bail!(
            "--with-network-packet-loss: {} is below the finest loss, {} ({LOSS_RESOLUTION_PERCENT} %)",
            link.loss_percent / 100.0,
            LOSS_RESOLUTION_PERCENT / 100.0
        );
    }
    for (flag, us) in [
        ("--with-network-latency", link.latency_us),
        ("--with-network-jitter", link.jitter_us),
    ] {
        if us > MAX_DELAY.as_micros() as u64 {
            bail!("{flag}: at most {}s", MAX_DELAY.as_secs());
        }
    }
    // netem only jitters and reorders packets it delays: without a latency these are no-ops.
    for (on, flag) in [
        (link.jitter_us > 0, "--with-network-jitter"),
        (link.reorder_percent > 0.0, "--with-network-packet-reorder"),
    ] {
        if on && link.latency_us == 0 {
            bail!(
                "{flag}: needs --with-network-latency (netem jitters and reorders only delayed packets)"
            );
        }
    }
    Ok(link)
}

// ---------------------------------------------------------------------------------------------
// Rendering: what a node's namespace and links get.

/// The `nft -f` script that makes `inet weftlab` in a node namespace exactly what `link` and the
/// partitions from `blocked` ask for: one transaction, the table deleted (created first so the
/// delete cannot fail) and rebuilt, or just deleted when nothing is impaired.
pub fn nft_script(link: &LinkImpairment, blocked: &[Ipv4Addr]) -> String {
    let mut script = format!("table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n");
    let threshold = loss_threshold(link.loss_percent);
    if threshold == 0 && blocked.is_empty() {
        return script;
    }
    let set = |v: &[Ipv4Addr]| {
        let items: Vec<String> = v.iter().map(Ipv4Addr::to_string).collect();
        if items.len() == 1 {
            items[0].clone()
        } else {
            format!("{{ {} }}", items.join(", "))
        }
    };
    let loss_rule = if threshold >= LOSS_MODULUS {
        "drop".to_owned()
    } else {
        format!("numgen random mod {LOSS_MODULUS} < {threshold} drop")
    };
    script.push_str(&format!("table inet {NFT_TABLE} {{\n"));
    // prerouting at raw priority: before conntrack and before weftd's marks; postrouting last.
    for (chain, hook, priority, dir, addr) in [
        ("ingress", "prerouting", "raw", "iifname", "saddr"),
        ("egress", "postrouting", "srcnat + 10", "oifname", "daddr"),
    ] {
        script.push_str(&format!(
            "\tchain {chain} {{\n\t\ttype filter hook {hook} priority {priority}; policy accept;\n"
        ));
        if !blocked.is_empty() {
            script.push_str(&format!(
                "\t\t{dir} \"{UNDERLAY}\" ip {addr} {} drop\n",
                set(blocked)
            ));
        }
        if threshold > 0 {
            script.push_str(&format!("\t\t{dir} \"{UNDERLAY}\" {loss_rule}\n"));
        }
        script.push_str("\t}\n");
    }
    script.push_str("}\n");
    script
}

/// The root qdisc a link gets (`tc qdisc replace dev D root` + these), or `None` for the
/// device's default. netem when any of its features is asked for (its own `rate` then limits
/// the bandwidth), else tbf for a bandwidth limit.
pub fn root_qdisc(link: &LinkImpairment) -> Option<Vec<String>> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |v: &[&str]| args.extend(v.iter().map(|s| (*s).to_owned()));
    if !link.netem_flags().is_empty() {
        push(&["netem"]);
        if link.latency_us > 0 {
            push(&["delay", &format!("{}us", link.latency_us)]);
            if link.jitter_us > 0 {
                push(&[&format!("{}us", link.jitter_us)]);
            }
        }
        if link.reorder_percent > 0.0 {
            push(&["reorder", &format!("{}%", link.reorder_percent)]);
        }
        if link.corrupt_percent > 0.0 {
            push(&["corrupt", &format!("{}%", link.corrupt_percent)]);
        }
        if link.bandwidth_kbps > 0 {
            push(&["rate", &format!("{}kbit", link.bandwidth_kbps)]);
        }
        return Some(args);
    }
    if link.bandwidth_kbps == 0 {
        return None;
    }
    let bytes_per_sec = u64::from(link.bandwidth_kbps) * 1000 / 8;
    let burst = (bytes_per_sec * TBF_BURST_MS / 1000).max(TBF_MIN_BURST_BYTES);
    push(&[
        "tbf",
        "rate",
        &format!("{}kbit", link.bandwidth_kbps),
        "burst",
        &format!("{burst}b"),
        "latency",
        TBF_LATENCY,
    ]);
    Some(args)
}

/// Whether `tc qdisc show dev D root` shows a qdisc the lab put there.
fn is_lab_qdisc(show: &str) -> bool {
    show.split_whitespace()
        .nth(1)
        .is_some_and(|kind| OUR_QDISCS.contains(&kind))
}

/// One line about a node's impairments, for people.
pub fn describe(link: &LinkImpairment, partners: &[usize]) -> String {
    let mut parts = Vec::new();
    if link.loss_percent > 0.0 {
        parts.push(format!("loss {} %", link.loss_percent));
    }
    if link.bandwidth_kbps > 0 {
        parts.push(format!("bandwidth {} kbit/s", link.bandwidth_kbps));
    }
    if link.latency_us > 0 {
        parts.push(format!(
            "latency {}",
            humanize(Duration::from_micros(link.latency_us))
        ));
    }
    if link.jitter_us > 0 {
        parts.push(format!(
            "jitter {}",
            humanize(Duration::from_micros(link.jitter_us))
        ));
    }
    if link.reorder_percent > 0.0 {
        parts.push(format!("reorder {} %", link.reorder_percent));
    }
    if link.corrupt_percent > 0.0 {
        parts.push(format!("corrupt {} %", link.corrupt_percent));
    }
    if !partners.is_empty() {
        let list: Vec<String> = partners.iter().map(usize::to_string).collect();
        parts.push(format!("partitioned from {}", list.join(", ")));
    }
    if parts.is_empty() {
        "no impairment".to_owned()
    } else {
        parts.join(", ")
    }
}

fn humanize(d: Duration) -> String {
    if !d.subsec_micros().is_multiple_of(1000) {
        format!("{}us", d.as_micros())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Node `i`'s address: the cluster network's host `i` (the host side has the first one).
fn node_addr(cidr: Ipv4Net, i: usize) -> Option<Ipv4Addr> {
    cidr.hosts().nth(i)
}

// ---------------------------------------------------------------------------------------------
// The OS part.

/// Makes `dev`'s root qdisc in namespace `ns` what `link` asks for; leaves others' alone.
fn set_qdisc(ns: &str, dev: &str, link: &LinkImpairment) -> anyhow::Result<()> {
    match root_qdisc(link) {
        Some(qdisc) => {
            let mut args = vec!["-n", ns, "qdisc", "replace", "dev", dev, "root"];
            args.extend(qdisc.iter().map(String::as_str));
            cmd::check("tc", &args, None)?;
        }
        None => {
            let show = cmd::check("tc", &["-n", ns, "qdisc", "show", "dev", dev, "root"], None)?;
            if is_lab_qdisc(&show) {
                cmd::check("tc", &["-n", ns, "qdisc", "del", "dev", dev, "root"], None)?;
            }
        }
    }
    Ok(())
}

/// Applies node `i`'s recorded impairments: its nft table (one transaction) and both ends' qdiscs.
fn apply_node(state: &ClusterState, i: usize) -> anyhow::Result<()> {
    let cidr: Ipv4Net = state
        .cidr
        .parse()
        .with_context(|| format!("the state's cidr {:?}", state.cidr))?;
    let ns = state
        .node_namespaces
        .get(i - 1)
        .with_context(|| format!("node {i} is not in the state file"))?;
    let link = state.chaos.link(i);
    let blocked: Vec<Ipv4Addr> = state
        .chaos
        .partners(i)
        .into_iter()
        .filter_map(|j| node_addr(cidr, j))
        .collect();
    cmd::nft(ns, &nft_script(&link, &blocked))
        .with_context(|| format!("node {i}: nftables table inet {NFT_TABLE}"))?;
    set_qdisc(ns, UNDERLAY, &link).with_context(|| format!("node {i}: the qdisc of {UNDERLAY}"))?;
    set_qdisc(&state.switch_ns, &format!("n{i}"), &link)
        .with_context(|| format!("node {i}: the qdisc of its switch port n{i}"))?;
    Ok(())
}

/// Whether the kernel has queueing discipline `kind`: adds it to `lo` in a throwaway network
/// namespace (`unshare --net`), so nothing of the machine's is touched and nothing is left.
fn probe_qdisc(kind_args: &[&str]) -> anyhow::Result<()> {
    if !on_path("unshare") {
        bail!(
            "`unshare` is missing: it is needed to probe the kernel's tc support (apt-get install util-linux)"
        );
    }
    let mut args = vec!["--net", "tc", "qdisc", "add", "dev", "lo", "root"];
    args.extend(kind_args);
    Ok(cmd::check("unshare", &args, None).map(drop)?)
}

/// Refuses impairments this machine cannot apply, before anything exists: `tc` for any qdisc,
/// the kernel's tbf for bandwidth, its netem (sch_netem) for latency, jitter, reorder, corrupt.
pub fn check_kernel(link: &LinkImpairment) -> anyhow::Result<()> {
    if root_qdisc(link).is_none() {
        return Ok(());
    }
    if !on_path("tc") {
        bail!(
            "`tc` is missing: it is needed for the bandwidth and netem flags (apt-get install iproute2)"
        );
    }
    let netem = link.netem_flags();
    if !netem.is_empty() {
        probe_qdisc(&["netem", "delay", "1ms"]).map_err(|e| {
            anyhow::anyhow!(
                "{} need{} the kernel's netem queueing discipline (sch_netem, CONFIG_NET_SCH_NETEM), which this kernel lacks ({e:#}); nothing was created. Packet loss (--with-network-packet-loss) and bandwidth (--with-network-bandwidth) work without it",
                netem.join(", "),
                if netem.len() == 1 { "s" } else { "" },
            )
        })?;
    } else if link.bandwidth_kbps > 0 {
        probe_qdisc(&["tbf", "rate", "1mbit", "burst", "10kb", "latency", "10ms"]).map_err(
            |e| {
                anyhow::anyhow!(
                    "bandwidth limits need the kernel's token bucket filter (sch_tbf, CONFIG_NET_SCH_TBF), which this kernel lacks ({e:#})"
                )
            },
        )?;
    }
    Ok(())
}

/// `cluster create`: records `link` for every node, then applies it (before weftd starts, so
/// the nodes meet on the impaired network).
pub(super) fn create(
    state: &mut ClusterState,
    dir: &Path,
    link: &LinkImpairment,
) -> anyhow::Result<()> {
    if link.is_empty() {
        return Ok(());
    }
    for i in 1..=state.node_namespaces.len() {
        state.chaos.nodes.insert(i, link.clone());
    }
    state.save(dir)?;
    for i in 1..=state.node_namespaces.len() {
        apply_node(state, i)?;
    }
    eprintln!(
        "network chaos on every node's link: {}",
        describe(link, &[])
    );
    Ok(())
}

/// `weftctl cluster chaos`: records the new impairments, then applies them to the nodes named.
pub fn run_chaos(args: &ClusterChaosArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    if !is_root() {
        bail!(
            "weftctl cluster chaos needs root: it changes nftables and tc in the cluster's namespaces (run it with sudo)"
        );
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables"), ("tc", "iproute2")] {
        if !on_path(tool) {
            bail!("`{tool}` is missing (apt-get install {package})");
        }
    }
    let dir = state_root(args.state.as_deref()).join(&args.name);
    if !dir.join(STATE_FILE).exists() {
        bail!(
            "no cluster {:?} ({} has no {STATE_FILE}); create one with `weftctl cluster create --name {}`",
            args.name,
            dir.display(),
            args.name
        );
    }
    let mut state = ClusterState::load(&dir)?;
    let req = Request::from_args(args);
    let (next, touched) = plan(&state.chaos, &req, state.node_namespaces.len())?;
    if req.bandwidth_kbps.is_some_and(|k| k > 0) {
        check_kernel(&LinkImpairment {
            bandwidth_kbps: 1000,
            ..LinkImpairment::default()
        })?;
    }
    // Recorded first, as every step of the lab: a failure half-way leaves the intent on disk,
    // and the same command again (or --clear) finishes the job.
    state.chaos = next;
    state.save(&dir)?;
    for &i in &touched {
        apply_node(&state, i)?;
        println!(
            "node {i} ({}): {}",
            state.node_namespaces[i - 1],
            describe(&state.chaos.link(i), &state.chaos.partners(i))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss: f64, kbps: u32) -> LinkImpairment {
        LinkImpairment {
            loss_percent: loss,
            bandwidth_kbps: kbps,
            ..LinkImpairment::default()
        }
    }

    #[test]
    fn parsers() {
        let fractions = [
            ("0", Some(0.0)),
            ("0.2", Some(0.2)),
            ("1", Some(1.0)),
            ("1.5", None),
            ("-0.1", None),
            ("NaN", None),
            ("20%", None),
        ];
        for (text, want) in fractions {
            assert_eq!(parse_fraction(text).ok(), want, "{text}");
        }
        let percents = [
            ("30", Some(30.0)),
            ("30%", Some(30.0)),
            ("0", Some(0.0)),
            ("100", Some(100.0)),
            ("0.01", Some(0.01)),
            ("0.001", None),
            ("101", None),
            ("x", None),
        ];
        for (text, want) in percents {
            assert_eq!(parse_loss_percent(text).ok(), want, "{text}");
        }
        let bandwidths = [
            ("0", Some(0)),
            ("8", Some(8)),
            ("7", None),
            ("10000000", Some(10_000_000)),
            ("10000001", None),
            ("-1", None),
        ];
        for (text, want) in bandwidths {
            assert_eq!(parse_bandwidth(text).ok(), want, "{text}");
        }
        let pairs = [
            ("1,2", Some((1, 2))),
            ("3, 1", Some((1, 3))),
            ("1,1", None),
            ("0,2", None),
            ("1", None),
            ("a,b", None),
        ];
        for (text, want) in pairs {
            assert_eq!(parse_pair(text).ok(), want, "{text}");
        }
        assert!(parse_fraction("2").unwrap_err().contains("0.2 = 20 %"));
    }

    #[test]
    fn loss_thresholds() {
        for (pct, want) in [
            (0.0, 0),
            (0.01, 1),
            (20.0, 2000),
            (33.333, 3333),
            (99.999, 10_000),
            (100.0, 10_000),
        ] {
            assert_eq!(loss_threshold(pct), want, "{pct}");
        }
    }

    #[test]
    fn nft_scripts() {
        let a: Ipv4Addr = "10.77.0.3".parse().expect("addr");
        let b: Ipv4Addr = "10.77.0.4".parse().expect("addr");
        let reset = "table inet weftlab\ndelete table inet weftlab\n";
        let cases: Vec<(LinkImpairment, Vec<Ipv4Addr>, String)> = vec![
            (LinkImpairment::default(), vec![], reset.to_owned()),
            // Bandwidth alone is tc's business: no table.
            (link(0.0, 1000), vec![], reset.to_owned()),
            (
                link(20.0, 0),
                vec![],
                format!(
                    "{reset}table inet weftlab {{
\tchain ingress {{
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname \"eth0\" numgen random mod 10000 < 2000 drop
\t}}
\tchain egress {{
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\toifname \"eth0\" numgen random mod 10000 < 2000 drop
\t}}
}}
"
                ),
            ),
            (
                LinkImpairment::default(),
                vec![a],
                format!(
                    "{reset}table inet weftlab {{
\tchain ingress {{
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname \"eth0\" ip saddr 10.77.0.3 drop
\t}}
\tchain egress {{
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\toifname \"eth0\" ip daddr 10.77.0.3 drop
\t}}
}}
"
                ),
            ),
            (
                link(100.0, 0),
                vec![a, b],
                format!(
                    "{reset}table inet weftlab {{
\tchain ingress {{
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname \"eth0\" ip saddr {{ 10.77.0.3, 10.77.0.4 }} drop
\t\tiifname \"eth0\" drop
\t}}
\tchain egress {{
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\toifname \"eth0\" ip daddr {{ 10.77.0.3, 10.77.0.4 }} drop
\t\toifname \"eth0\" drop
\t}}
}}
"
                ),
            ),
        ];
        for (l, blocked, want) in cases {
            assert_eq!(nft_script(&l, &blocked), want, "{l:?} {blocked:?}");
        }
    }

    #[test]
    fn qdiscs() {
        let cases: Vec<(LinkImpairment, Option<&str>)> = vec![
            (LinkImpairment::default(), None),
            // Loss is nftables', not tc's.
            (link(30.0, 0), None),
            (
                link(0.0, 1000),
                Some("tbf rate 1000kbit burst 6056b latency 100ms"),
            ),
            (
                link(0.0, 100_000),
                Some("tbf rate 100000kbit burst 125000b latency 100ms"),
            ),
            (
                LinkImpairment {
                    latency_us: 10_000,
                    jitter_us: 2_000,
                    reorder_percent: 25.0,
                    corrupt_percent: 1.5,
                    bandwidth_kbps: 512,
                    ..LinkImpairment::default()
                },
                Some("netem delay 10000us 2000us reorder 25% corrupt 1.5% rate 512kbit"),
            ),
            (
                LinkImpairment {
                    corrupt_percent: 5.0,
                    ..LinkImpairment::default()
                },
                Some("netem corrupt 5%"),
            ),
        ];
        for (l, want) in cases {
            assert_eq!(
                root_qdisc(&l).map(|v| v.join(" ")).as_deref(),
                want,
                "{l:?}"
            );
        }
        assert!(is_lab_qdisc(
            "qdisc tbf 8003: root refcnt 3 rate 1Mbit burst 6056b lat 100ms\n"
        ));
        assert!(is_lab_qdisc(
            "qdisc netem 8001: root refcnt 2 limit 1000 delay 10ms\n"
        ));
        assert!(!is_lab_qdisc(""));
        assert!(!is_lab_qdisc("qdisc noqueue 0: root refcnt 2\n"));
        assert!(!is_lab_qdisc("qdisc fq_codel 0: root refcnt 2\n"));
    }

    #[test]
    fn plans() {
        let req = |f: fn(&mut Request)| {
            let mut r = Request::default();
            f(&mut r);
            r
        };
        let set = |v: &[usize]| v.iter().copied().collect::<BTreeSet<_>>();
        let mut partitioned = Chaos::default();
        partitioned.partitions.insert((1, 2));
        partitioned.partitions.insert((2, 3));
        partitioned.nodes.insert(2, link(30.0, 0));
        partitioned.nodes.insert(3, link(0.0, 500));

        // (before, request, after, touched)
        let cases: Vec<(Chaos, Request, Chaos, BTreeSet<usize>)> = vec![
            (
                Chaos::default(),
                req(|r| {
                    r.node = Some(2);
                    r.loss_percent = Some(30.0);
                }),
                Chaos {
                    nodes: [(2, link(30.0, 0))].into(),
                    ..Chaos::default()
                },
                set(&[2]),
            ),
            // Without --node: every node.
            (
                Chaos::default(),
                req(|r| r.loss_percent = Some(20.0)),
                Chaos {
                    nodes: [(1, link(20.0, 0)), (2, link(20.0, 0)), (3, link(20.0, 0))].into(),
                    ..Chaos::default()
                },
                set(&[1, 2, 3]),
            ),
            // Loss 0 removes the loss, and the node's entry with it.
            (
                Chaos {
                    nodes: [(2, link(30.0, 0))].into(),
                    ..Chaos::default()
                },
                req(|r| {
                    r.node = Some(2);
                    r.loss_percent = Some(0.0);
                }),
                Chaos::default(),
                set(&[2]),
            ),
            (
                Chaos::default(),
                req(|r| r.partition = vec![(1, 2)]),
                Chaos {
                    partitions: [(1, 2)].into(),
                    ..Chaos::default()
                },
                set(&[1, 2]),
            ),
            // Idempotent: the same partition again changes nothing but re-applies its nodes.
            (
                Chaos {
                    partitions: [(1, 2)].into(),
                    ..Chaos::default()
                },
                req(|r| r.partition = vec![(1, 2)]),
                Chaos {
                    partitions: [(1, 2)].into(),
                    ..Chaos::default()
                },
                set(&[1, 2]),
            ),
            (
                partitioned.clone(),
                req(|r| r.heal = vec![(1, 2)]),
                Chaos {
                    partitions: [(2, 3)].into(),
                    nodes: partitioned.nodes.clone(),
                },
                set(&[1, 2]),
            ),
            // --clear --node 2: its link and every partition it is in; its partners re-applied.
            (
                partitioned.clone(),
                req(|r| {
                    r.node = Some(2);
                    r.clear = true;
                }),
                Chaos {
                    nodes: [(3, link(0.0, 500))].into(),
                    ..Chaos::default()
                },
                set(&[1, 2, 3]),
            ),
            (
                partitioned.clone(),
                req(|r| r.clear = true),
                Chaos::default(),
                set(&[1, 2, 3]),
            ),
            // Bandwidth and loss together keep each other.
            (
                Chaos {
                    nodes: [(1, link(10.0, 0))].into(),
                    ..Chaos::default()
                },
                req(|r| {
                    r.node = Some(1);
                    r.bandwidth_kbps = Some(64);
                }),
                Chaos {
                    nodes: [(1, link(10.0, 64))].into(),
                    ..Chaos::default()
                },
                set(&[1]),
            ),
        ];
        for (before, request, after, touched) in cases {
            let (got, got_touched) = plan(&before, &request, 3).expect("plan");
            assert_eq!(got, after, "{request:?}");
            assert_eq!(got_touched, touched, "{request:?}");
        }

        for (request, message) in [
            (
                req(|r| {
                    r.node = Some(4);
                    r.loss_percent = Some(1.0);
                }),
                "--node: the cluster has nodes 1 to 3, not 4",
            ),
            (
                req(|r| r.partition = vec![(1, 5)]),
                "--partition: the cluster has nodes 1 to 3, not 5",
            ),
            (Request::default(), "nothing to change"),
        ] {
            let err = plan(&Chaos::default(), &request, 3).expect_err("refused");
            assert!(err.to_string().contains(message), "{err}");
        }
    }

    #[test]
    fn create_flags() {
        let flags = |f: fn(&mut NetworkChaosArgs)| {
            let mut a = NetworkChaosArgs::default();
            f(&mut a);
            from_create_flags(&a)
        };
        assert_eq!(flags(|_| {}).expect("none"), LinkImpairment::default());
        assert_eq!(
            flags(|a| a.with_network_chaos = true).expect("chaos alone"),
            LinkImpairment::default()
        );
        assert_eq!(
            flags(|a| {
                a.with_network_chaos = true;
                a.with_network_packet_loss = Some(0.2);
                a.with_network_bandwidth = Some(1000);
            })
            .expect("loss and bandwidth"),
            link(20.0, 1000)
        );
        // Zero is talosctl's default: not "given".
        assert!(
            flags(|a| a.with_network_packet_loss = Some(0.0)).is_ok(),
            "zero without --with-network-chaos"
        );
        for (f, message) in [
            (
                (|a: &mut NetworkChaosArgs| a.with_network_packet_loss = Some(0.2))
                    as fn(&mut NetworkChaosArgs),
                "--with-network-packet-loss: network chaos flags can only be used with --with-network-chaos",
            ),
            (
                |a| a.with_network_latency = Some(Duration::from_millis(10)),
                "--with-network-latency: network chaos flags can only be used with --with-network-chaos",
            ),
            (
                |a| {
                    a.with_network_chaos = true;
                    a.with_network_jitter = Some(Duration::from_millis(1));
                },
                "--with-network-jitter: needs --with-network-latency",
            ),
            (
                |a| {
                    a.with_network_chaos = true;
                    a.with_network_packet_reorder = Some(0.1);
                },
                "--with-network-packet-reorder: needs --with-network-latency",
            ),
            (
                |a| {
                    a.with_network_chaos = true;
                    a.with_network_packet_loss = Some(0.000_01);
                },
                "--with-network-packet-loss: 0.00001 is below the finest loss",
            ),
            (
                |a| {
                    a.with_network_chaos = true;
                    a.with_network_latency = Some(Duration::from_secs(61));
                },
                "--with-network-latency: at most 60s",
            ),
        ] {
            let err = flags(f).expect_err("refused");
            assert!(err.to_string().contains(message), "{err}");
        }
    }

    #[test]
    fn netem_flags_and_descriptions() {
        let l = LinkImpairment {
            latency_us: 10_000,
            corrupt_percent: 1.0,
            ..LinkImpairment::default()
        };
        assert_eq!(
            l.netem_flags(),
            ["--with-network-latency", "--with-network-packet-corrupt"]
        );
        assert!(link(50.0, 100).netem_flags().is_empty());
        assert_eq!(describe(&LinkImpairment::default(), &[]), "no impairment");
        assert_eq!(
            describe(&link(30.0, 1000), &[2, 3]),
            "loss 30 %, bandwidth 1000 kbit/s, partitioned from 2, 3"
        );
        assert_eq!(describe(&l, &[]), "latency 10ms, corrupt 1 %");
    }

    #[test]
    fn state_round_trips() {
        let mut chaos = Chaos::default();
        chaos.nodes.insert(2, link(20.0, 1000));
        chaos.partitions.insert((1, 3));
        let text = yaml_serde::to_string(&chaos).expect("yaml");
        assert!(text.contains("lossPercent: 20"), "{text}");
        let back: Chaos = yaml_serde::from_str(&text).expect("parse");
        assert_eq!(back, chaos);
        // An older state file without the field reads as no chaos.
        let none: Chaos = yaml_serde::from_str("{}").expect("parse");
        assert!(none.is_empty());
    }

    #[test]
    fn node_addresses() {
        let cidr: Ipv4Net = "10.77.0.0/24".parse().expect("net");
        assert_eq!(node_addr(cidr, 1), Some(Ipv4Addr::new(10, 77, 0, 2)));
        assert_eq!(node_addr(cidr, 2), Some(Ipv4Addr::new(10, 77, 0, 3)));
    }
}
