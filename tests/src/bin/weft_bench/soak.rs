//! `weft-bench soak`: how peer liveness behaves on a real mesh over a long idle run, and what it
//! costs.
//!
//! A `weftctl cluster create` lab ([`LocalCluster`]: its own name, CIDR, state directory and client
//! config) of N nodes; every node's peer statuses followed as watch events
//! (`weftctl get kubespanpeerstatuses -w`, [`StatusWatch`]); optionally `cluster chaos --loss` on
//! every node, kept for the whole run. Then, in order:
//!
//! ```text
//!  idle soak (--minutes)        kill -9 node N     restart N          partition 1,2      heal
//! ├─ flips, bytes, CPU, RSS ──┤├─ first `down` ──┤├─ first `up` ────┤├─ first `down` ──┤├─ `up` ─┤
//!                               on every other     after N's API        on 1 and on 2
//!                               node               answers
//! ```
//!
//! Liveness traffic is what the data plane counts between two peers while nothing else uses the
//! tunnels: the probes, their answers, WireGuard handshakes and keepalives. It is read from the
//! peer statuses' `receiveBytes`/`transmitBytes` at both ends of the soak (a snapshot is enough
//! for a difference; every verdict about states comes from the watch events). The two directions
//! are not counted alike: gotatun adds whole WireGuard messages when it sends (the UDP payload on
//! the wire) and the decrypted packet when it receives (a keepalive adds 0). weftd's RSS is
//! `VmRSS`, its CPU time utime + stime from `/proc/<pid>/stat`, for the pids `cluster create`
//! records in `<state>/<name>/cluster.yaml`. Nothing here has a time bound: waits give up only
//! after generous limits, and a wait that gave up is printed as such, not failed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_e2e::local_cluster::{LocalCluster, StatusWatch};
use weft_e2e::yaml_docs;

use super::common::{
    BenchResult, cpu_ticks, fail, median, require_binaries, require_root, require_tools,
    ticks_per_second, warn_if_busy,
};

/// A `down` not seen this long after the kill or the partition is reported as never seen.
const DOWN_GIVE_UP: Duration = Duration::from_secs(180);
/// An `up` not seen this long after the restart or the heal is reported as never seen.
const UP_GIVE_UP: Duration = Duration::from_secs(120);
/// How long the restarted node's API may take to answer before the run fails.
const API_GIVE_UP: Duration = Duration::from_secs(60);
/// After both ends of the partition saw it, it is held this much longer, so a false `down`
/// elsewhere has the time to show.
const PARTITION_SETTLE: Duration = Duration::from_secs(20);
/// A new watch that delivered nothing this long is started again.
const FIRST_EVENT: Duration = Duration::from_secs(5);
/// How many times the counters of a node are asked for before the run fails.
const COUNTER_ATTEMPTS: u32 = 10;
/// How long the mesh may take to be all `up` again before the partition (after the restart).
const RECOVER_GIVE_UP: Duration = Duration::from_secs(120);

/// `soak` flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub minutes: u32,
    pub nodes: u8,
    /// Random loss on every node's link, each direction, in percent (0: none).
    pub loss: u32,
}

/// (label, receiveBytes, transmitBytes) per peer id, as one node reports it.
type Counters = BTreeMap<String, (String, u64, u64)>;

/// min / median / max of some seconds; `None` where a wait gave up.
fn spread(values: &[Option<f64>], unit: &str) -> String {
    let seen: Vec<f64> = values.iter().flatten().copied().collect();
    let missed = values.len() - seen.len();
    let mut text = if seen.is_empty() {
        "never".to_owned()
    } else {
        format!(
            "{:.1} / {:.1} / {:.1} {unit}",
            seen.iter().copied().fold(f64::INFINITY, f64::min),
            median(&seen),
            seen.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    };
    if missed > 0 {
        text.push_str(&format!(" ({missed} of {} never)", values.len()));
    }
    text
}

/// Seconds from `from` to `to`, negative when `to` came first.
fn signed_secs(from: Instant, to: Instant) -> f64 {
    if to >= from {
        to.duration_since(from).as_secs_f64()
    } else {
        -from.duration_since(to).as_secs_f64()
    }
}

/// Node `i`'s peer counters, from `weftctl get kubespanpeerstatuses -o yaml`, and when they were
/// read. Asked up to [`COUNTER_ATTEMPTS`] times: with `--loss` the API's own connection crosses
/// the lossy link too and may time out.
fn counters(cluster: &LocalCluster, i: u8) -> BenchResult<(Instant, Counters)> {
    let mut attempt = 1;
    let out = loop {
        let out = cluster.weftctl(&[
            "-n",
            &cluster.addr(i),
            "get",
            "kubespanpeerstatuses",
            "-o",
            "yaml",
        ]);
        if out.status.success() {
            break out;
        }
        if attempt == COUNTER_ATTEMPTS {
            return fail(format!(
                "get kubespanpeerstatuses on node {i}, {attempt} attempts: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        attempt += 1;
        std::thread::sleep(Duration::from_secs(1));
    };
    let at = Instant::now();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = Counters::new();
    for doc in yaml_docs(&text) {
        let id = doc["metadata"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if id.is_empty() {
            continue;
        }
        let spec = &doc["spec"];
        map.insert(
            id,
            (
                spec["label"].as_str().unwrap_or_default().to_owned(),
                spec["receiveBytes"].as_u64().unwrap_or(0),
                spec["transmitBytes"].as_u64().unwrap_or(0),
            ),
        );
    }
    Ok((at, map))
}

/// The weftd pid `cluster create` recorded for node `i`.
fn recorded_pid(cluster: &LocalCluster, i: u8) -> BenchResult<u32> {
    let path = cluster.cluster_dir().join("cluster.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let state: yaml_serde::Value = yaml_serde::from_str(&text)?;
    match state["pids"][format!("node-{i}").as_str()].as_u64() {
        Some(pid) => Ok(u32::try_from(pid)?),
        None => fail(format!("{} records no pid for node-{i}", path.display())),
    }
}

/// A watch of node `i`'s peer statuses that has delivered an event: one that delivered none within
/// [`FIRST_EVENT`] is started again (with `--loss`, `weftctl` may fail to connect at all), for at
/// most [`API_GIVE_UP`]. A status that changes meanwhile is in the next watch's first batch.
fn watch_answering(cluster: &LocalCluster, i: u8) -> StatusWatch {
    let start = Instant::now();
    loop {
        let watch = cluster.watch(i);
        let asked = Instant::now();
        while asked.elapsed() < FIRST_EVENT {
            if !watch.events().is_empty() {
                return watch;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if start.elapsed() > API_GIVE_UP {
            println!(
                "  node {i}'s watch delivered nothing for {} s; keeping the last one",
                API_GIVE_UP.as_secs()
            );
            return watch;
        }
    }
}

/// The last state the watch reported for each label.
fn last_states(watch: &StatusWatch) -> BTreeMap<String, String> {
    let mut states = BTreeMap::new();
    for e in watch.events() {
        if e.kind == "destroyed" {
            states.remove(&e.label);
        } else {
            states.insert(e.label, e.state);
        }
    }
    states
}

/// Whether `watch` last reported every label in `labels` `up`.
fn sees_all_up(watch: &StatusWatch, labels: &[String]) -> bool {
    let states = last_states(watch);
    labels
        .iter()
        .all(|l| states.get(l).map(String::as_str) == Some("up"))
}

/// Falls from `up` any of `watches` saw at or after `since`, except those `skip(node, label)`
/// accepts: (observer, label, seconds after `since`, to).
fn falls_since(
    watches: &[(u8, StatusWatch)],
    since: Instant,
    until: Instant,
    skip: impl Fn(u8, &str) -> bool,
) -> Vec<(u8, String, f64, String)> {
    let mut all = Vec::new();
    for (i, w) in watches {
        for (label, at, to) in w.falls_from_up() {
            if at >= since && at <= until && !skip(*i, &label) {
                all.push((*i, label, at.duration_since(since).as_secs_f64(), to));
            }
        }
    }
    all
}

/// Prints what a list of falls holds, one line each.
fn print_falls(what: &str, falls: &[(u8, String, f64, String)]) {
    for (i, label, secs, to) in falls {
        println!("  {what}: node {i} saw {label} go {to} at +{secs:.1} s");
    }
}

pub fn run(opts: Options) -> BenchResult<()> {
    require_root()?;
    require_tools(&[
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("timeout", "coreutils"),
    ])?;
    require_binaries(&["weftd", "weft-discovery", "weftctl"])?;
    let n = opts.nodes;
    let pid = std::process::id();
    // Unique per run: the namespaces and links of a lab are named after it, and its CIDR must not
    // meet another lab's.
    let name = format!("soak{pid}");
    let prefix = format!("10.94.{}", pid % 256);
    println!(
        "soak: `weftctl cluster create --name {name} --cidr {prefix}.0/24 --nodes {n}`, every node's peer statuses watched as events"
    );
    warn_if_busy();
    let created = Instant::now();
    let mut cluster = LocalCluster::create(&name, &prefix, n, &[]);
    println!(
        "created in {:.1} s (every peer up); its files are in {} (if this is killed by a signal: `weftctl cluster destroy --name {name} --state {}`)",
        created.elapsed().as_secs_f64(),
        cluster.cluster_dir().display(),
        cluster
            .cluster_dir()
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    let mut watches: Vec<(u8, StatusWatch)> = (1..=n).map(|i| (i, cluster.watch(i))).collect();
    let hostnames: Vec<String> = (1..=n).map(|j| cluster.hostname(j)).collect();
    // The labels node `but` shows its peers under.
    let labels = |but: u8| -> Vec<String> {
        (1..=n)
            .filter(|j| *j != but)
            .map(|j| hostnames[usize::from(j - 1)].clone())
            .collect()
    };
    // Every watch has delivered its first batch (every peer, up) before anything is measured.
    let limit = Instant::now() + Duration::from_secs(30);
    for (i, w) in &watches {
        while !sees_all_up(w, &labels(*i)) {
            if Instant::now() > limit {
                return fail(format!(
                    "node {i}'s watch does not show every peer up: {:?}",
                    last_states(w)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if opts.loss > 0 {
        cluster.chaos(&["--loss", &opts.loss.to_string()]);
        println!(
            "{} % random loss on every node's link, each direction, for the whole run",
            opts.loss
        );
    }

    // The idle soak.
    let pids: Vec<u32> = (1..=n)
        .map(|i| recorded_pid(&cluster, i))
        .collect::<BenchResult<_>>()?;
    let before: Vec<(Instant, Counters)> = (1..=n)
        .map(|i| counters(&cluster, i))
        .collect::<BenchResult<_>>()?;
    let cpu_before: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let soak_start = Instant::now();
    println!(
        "idle soak: {} min, nothing but Weft's own traffic",
        opts.minutes
    );
    for minute in 1..=opts.minutes {
        let wake = soak_start + Duration::from_secs(u64::from(minute) * 60);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        let flips = falls_since(&watches, soak_start, Instant::now(), |_, _| false).len();
        println!("  {minute} min: {flips} up→down flips so far");
    }
    let after: Vec<(Instant, Counters)> = (1..=n)
        .map(|i| counters(&cluster, i))
        .collect::<BenchResult<_>>()?;
    let cpu_after: Vec<Option<u64>> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let rss: Vec<Option<u64>> = pids.iter().map(|p| crate::rss_kib(*p)).collect();
    let soak_end = Instant::now();
    let soak_secs = soak_end.duration_since(soak_start).as_secs_f64();
    let soak_minutes = soak_secs / 60.0;
    let flips = falls_since(&watches, soak_start, soak_end, |_, _| false);
    print_falls("flip", &flips);
    let events: usize = watches
        .iter()
        .map(|(_, w)| {
            w.events()
                .iter()
                .filter(|e| e.at >= soak_start && e.at <= soak_end)
                .count()
        })
        .sum();
    // The probes move the counters, so a live watch delivers updates all along; one that went
    // quiet (its connection lost) would hide flips.
    for (i, w) in &watches {
        let last = w.events().iter().map(|e| e.at).max();
        if last.is_none_or(|at| soak_end.duration_since(at) > Duration::from_secs(30)) {
            println!(
                "  warning: node {i}'s watch delivered nothing in the soak's last 30 s: its flips may be missing"
            );
        }
    }

    // Liveness traffic: per (node, peer), bytes per minute each way.
    let mut tx_rates = Vec::new();
    let mut rx_rates = Vec::new();
    let mut reset = 0;
    for ((t0, b), (t1, a)) in before.iter().zip(&after) {
        // Each node's own interval between its two readings.
        let minutes = t1.duration_since(*t0).as_secs_f64() / 60.0;
        for (id, (_, rx0, tx0)) in b {
            let Some((_, rx1, tx1)) = a.get(id) else {
                continue;
            };
            if rx1 < rx0 || tx1 < tx0 {
                reset += 1;
                continue;
            }
            rx_rates.push((rx1 - rx0) as f64 / minutes);
            tx_rates.push((tx1 - tx0) as f64 / minutes);
        }
    }
    if reset > 0 {
        println!("  {reset} counters went backwards during the soak (left out)");
    }
    let both: Vec<f64> = tx_rates.iter().zip(&rx_rates).map(|(t, r)| t + r).collect();
    let rate = |v: &[f64]| -> String {
        if v.is_empty() {
            return "?".to_owned();
        }
        format!(
            "{:.0} / {:.0} / {:.0} B",
            v.iter().copied().fold(f64::INFINITY, f64::min),
            median(v),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    };
    let tps = ticks_per_second();
    let cpu_secs: Vec<Option<f64>> = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => Some(a.saturating_sub(*b) as f64 / tps),
            _ => None,
        })
        .collect();
    let cpu_pct: Vec<Option<f64>> = cpu_secs
        .iter()
        .map(|s| s.map(|s| s / soak_secs * 100.0))
        .collect();
    let rss_mib: Vec<Option<f64>> = rss.iter().map(|k| k.map(|k| k as f64 / 1024.0)).collect();

    // kill -9 the last node: when does every other node see it `down`?
    let victim = n;
    let victim_label = cluster.hostname(victim);
    println!("kill -9 node {victim} ({victim_label})");
    let killed = Instant::now();
    cluster.kill(victim);
    let mut downs: Vec<(u8, Option<Instant>)> = Vec::new();
    for (i, w) in watches.iter().filter(|(i, _)| *i != victim) {
        let limit = (killed + DOWN_GIVE_UP).saturating_duration_since(Instant::now());
        let down = w.wait_for_state(&victim_label, "down", killed, limit);
        match down {
            Some(at) => println!(
                "  node {i} sees it down after {:.1} s",
                at.duration_since(killed).as_secs_f64()
            ),
            None => println!("  node {i}: not down within {} s", DOWN_GIVE_UP.as_secs()),
        }
        downs.push((*i, down));
    }
    let kill_detect: Vec<Option<f64>> = downs
        .iter()
        .map(|(_, d)| d.map(|at| at.duration_since(killed).as_secs_f64()))
        .collect();

    // Restart it: when is it `up` again everywhere, from the moment its API answers?
    cluster.restart(victim);
    let restarted = Instant::now();
    while !cluster.api_answers(victim) {
        if restarted.elapsed() > API_GIVE_UP {
            return fail(format!(
                "restarted node {victim} did not answer within {} s; its log:\n{}",
                API_GIVE_UP.as_secs(),
                cluster.log(victim)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = Instant::now();
    println!(
        "restarted node {victim}: its API answered {:.1} s after the start",
        answered.duration_since(restarted).as_secs_f64()
    );
    // The old watch of the victim ended with it; a new one shows what the restarted node sees.
    watches.retain(|(i, _)| *i != victim);
    watches.push((victim, watch_answering(&cluster, victim)));
    let mut recover: Vec<Option<f64>> = Vec::new();
    for ((i, w), (_, down)) in watches.iter().filter(|(i, _)| *i != victim).zip(&downs) {
        // The first `up` after its `down` (until then, the old `up` kept being updated).
        let Some(down) = down else {
            recover.push(None);
            continue;
        };
        let limit = (answered + UP_GIVE_UP).saturating_duration_since(Instant::now());
        let up = w.wait_for_state(&victim_label, "up", *down, limit);
        match up {
            Some(at) => println!(
                "  node {i} sees it up {:+.1} s after its API answered",
                signed_secs(answered, at)
            ),
            None => println!("  node {i}: not up within {} s", UP_GIVE_UP.as_secs()),
        }
        recover.push(up.map(|at| signed_secs(answered, at)));
    }
    let victim_watch = &watches.last().expect("the victim's watch").1;
    let mut sees: Vec<Option<f64>> = Vec::new();
    for label in labels(victim) {
        let limit = (answered + UP_GIVE_UP).saturating_duration_since(Instant::now());
        sees.push(
            victim_watch
                .wait_for_state(&label, "up", answered, limit)
                .map(|at| signed_secs(answered, at)),
        );
    }
    let sees_all = if sees.iter().all(Option::is_some) {
        format!(
            "{:.1} s",
            sees.iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
        )
    } else {
        format!("not within {} s", UP_GIVE_UP.as_secs())
    };
    println!("  node {victim} sees every peer up {sees_all} after its API answered");
    let kill_falls = falls_since(&watches, killed, Instant::now(), |_, label| {
        label == victim_label
    });
    print_falls("fall during the kill", &kill_falls);

    // Everything up again before the partition.
    let limit = Instant::now() + RECOVER_GIVE_UP;
    for (i, w) in &watches {
        while !sees_all_up(w, &labels(*i)) {
            if Instant::now() > limit {
                return fail(format!(
                    "node {i} does not see every peer up {} s after the restart: {:?}",
                    RECOVER_GIVE_UP.as_secs(),
                    last_states(w)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // Partition 1 ↔ 2 (both still reach the others).
    let (one, two) = (cluster.hostname(1), cluster.hostname(2));
    println!("partition nodes 1 and 2");
    let cut = Instant::now();
    cluster.chaos(&["--partition", "1,2"]);
    let watch_of = |i: u8| {
        &watches
            .iter()
            .find(|(j, _)| *j == i)
            .expect("a watch per node")
            .1
    };
    let pair = [(1u8, &two), (2u8, &one)];
    let mut cut_downs: Vec<(u8, &String, Option<Instant>)> = Vec::new();
    for (i, peer) in pair {
        let limit = (cut + DOWN_GIVE_UP).saturating_duration_since(Instant::now());
        let down = watch_of(i).wait_for_state(peer, "down", cut, limit);
        match down {
            Some(at) => println!(
                "  node {i} sees {peer} down after {:.1} s",
                at.duration_since(cut).as_secs_f64()
            ),
            None => println!(
                "  node {i}: {peer} not down within {} s",
                DOWN_GIVE_UP.as_secs()
            ),
        }
        cut_downs.push((i, peer, down));
    }
    std::thread::sleep(PARTITION_SETTLE);
    let in_pair = |i: u8, label: &str| (i == 1 && label == two) || (i == 2 && label == one);
    let cut_falls = falls_since(&watches, cut, Instant::now(), in_pair);
    print_falls("fall outside the pair", &cut_falls);
    let cut_detect: Vec<Option<f64>> = cut_downs
        .iter()
        .map(|(_, _, d)| d.map(|at| at.duration_since(cut).as_secs_f64()))
        .collect();
    println!("heal nodes 1 and 2");
    let healed = Instant::now();
    cluster.chaos(&["--heal", "1,2"]);
    let mut heal_up: Vec<Option<f64>> = Vec::new();
    for (i, peer, _) in &cut_downs {
        let limit = (healed + UP_GIVE_UP).saturating_duration_since(Instant::now());
        let up = watch_of(*i).wait_for_state(peer, "up", healed, limit);
        match up {
            Some(at) => println!(
                "  node {i} sees {peer} up after {:.1} s",
                at.duration_since(healed).as_secs_f64()
            ),
            None => println!(
                "  node {i}: {peer} not up within {} s",
                UP_GIVE_UP.as_secs()
            ),
        }
        heal_up.push(up.map(|at| at.duration_since(healed).as_secs_f64()));
    }

    let statuses = usize::from(n) * (usize::from(n) - 1);
    let loss = if opts.loss > 0 {
        format!(
            "{} % random loss per direction on every node's link",
            opts.loss
        )
    } else {
        "no impairment".to_owned()
    };
    let block = [
        format!(
            "| mesh | {n} nodes ({statuses} peer statuses, {} peers per node), {loss} |",
            n - 1
        ),
        format!("| idle soak | {soak_minutes:.1} min, {events} watch events |"),
        format!(
            "| **up→down flips during the soak** (want 0) | **{}** |",
            flips.len()
        ),
        format!(
            "| liveness traffic per peer per minute, sent (min / median / max over {} node→peer pairs) | {} |",
            tx_rates.len(),
            rate(&tx_rates)
        ),
        format!("| … received | {} |", rate(&rx_rates)),
        format!("| … both ways | {} |", rate(&both)),
        format!(
            "| weftd CPU time over the soak, per node (min / median / max) | {} ({}) |",
            spread(&cpu_secs, "s"),
            spread(&cpu_pct, "% of a core")
        ),
        format!(
            "| weftd RSS at the end of the soak, per node | {} |",
            spread(&rss_mib, "MiB")
        ),
        format!(
            "| kill -9 → `down`, over {} observers (min / median / max) | {} |",
            kill_detect.len(),
            spread(&kill_detect, "s")
        ),
        format!(
            "| restart: its API answers → `up` on the others | {} |",
            spread(&recover, "s")
        ),
        format!("| restart: its API answers → it sees every peer `up` | {sees_all} |"),
        format!(
            "| other peers falling during the kill (want 0) | {} |",
            kill_falls.len()
        ),
        format!(
            "| partition 1,2 → `down`, on both ends | {} |",
            spread(&cut_detect, "s")
        ),
        format!(
            "| peers outside the pair falling during the partition (want 0) | {} |",
            cut_falls.len()
        ),
        format!("| heal → `up`, on both ends | {} |", spread(&heal_up, "s")),
    ];
    println!();
    println!("---- for BENCHMARKS.md ----");
    println!(
        "`weft-bench soak --minutes {} --nodes {n}{}`:",
        opts.minutes,
        if opts.loss > 0 {
            format!(" --loss {}", opts.loss)
        } else {
            String::new()
        }
    );
    println!();
    println!("| what | measured |");
    println!("|---|---|");
    for line in block {
        println!("{line}");
    }
    println!();
    println!(
        "Sent is what gotatun counts going out: whole WireGuard messages (the UDP payload on the wire); received is what it counts coming in: the decrypted packets (a keepalive counts 0)."
    );
    println!("---- end ----");
    Ok(())
}
