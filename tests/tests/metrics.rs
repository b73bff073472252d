//! weftd's Prometheus metrics from real processes:
//!
//! - `metrics_move_on_a_real_mesh` (privileged): a 3-node `cluster create` lab (which turns the
//!   metrics on for every node); node 1's scrape shows both peers up, its byte counters for node 2
//!   and its interface's packet counters grow by at least what a ping flood through the tunnel
//!   carried, and node 3's state gauge goes from 1 (up) to 2 (down) once node 3 is killed.
//! - `exposition_parses_and_the_dashboard_queries_exported_metrics`: one weftd on loopback with
//!   `machine.metrics.listenAddress`; the whole scrape parses with a Prometheus text-format parser
//!   (the `prometheus-parse` crate) and holds together (every sample in a declared family, no
//!   series twice), and every query of `dist/grafana/weft-mesh.json` names only families weftd
//!   exports.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use weft_e2e::local_cluster::LocalCluster;
use weft_e2e::{Cluster, edit_config, free_port, in_ns, ok, privileged, wait_until};

/// weftd's metrics port in `cluster create` labs (cli/src/commands/cluster.rs).
const LAB_METRICS_PORT: u16 = 9120;
/// Pings sent through the tunnel, and their payload: at least this many bytes each way.
const PINGS: u32 = 50;
const PING_SIZE: u32 = 1000;

/// `GET /metrics` from `addr`; the body. Bounded: the connection and every read time out.
fn scrape(addr: &str) -> Option<String> {
    let sock = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: weft\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The value of the sample whose line starts with `series` (name and labels, exactly).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The value of `metric` for the peer labelled `label`.
fn peer_value(text: &str, metric: &str, label: &str) -> Option<f64> {
    let needle = format!(",label=\"{label}\"}} ");
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find_map(|l| l.split_once(&needle).map(|(_, v)| v))
        .and_then(|v| v.parse().ok())
}

#[test]
#[ignore = "needs root"]
fn metrics_move_on_a_real_mesh() {
    if !privileged("metrics_move_on_a_real_mesh") {
        return;
    }
    let mut lab = LocalCluster::create("mt-scrape", "10.71.0", 3, &[]);
    let at = format!("{}:{LAB_METRICS_PORT}", lab.addr(1));
    let (two, three) = (lab.hostname(2), lab.hostname(3));
    let before = wait_until("node 1's metrics to show both peers up", || {
        let text = scrape(&at)?;
        (value(&text, "weft_peers{state=\"up\"}") == Some(2.0)).then_some(text)
    });
    assert_eq!(peer_value(&before, "weft_peer_state", &three), Some(1.0));
    assert_eq!(peer_value(&before, "weft_peer_up", &two), Some(1.0));
    let age = peer_value(&before, "weft_peer_last_handshake_age_seconds", &two)
        .expect("a handshake age for node 2");
    assert!(age >= 0.0, "{age}");
    let rx0 = peer_value(&before, "weft_peer_receive_bytes_total", &two).expect("rx");
    let tx0 = peer_value(&before, "weft_peer_transmit_bytes_total", &two).expect("tx");
    let packets0 = value(&before, "weft_dataplane_transmit_packets_total").expect("packets");
    assert_eq!(
        value(&before, "weft_dataplane_interface_present"),
        Some(1.0)
    );
    // The discovery service: one session, this node's affiliate published, the other nodes'
    // affiliates received through the watch.
    let service = |text: &str, metric: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(metric)?.strip_prefix("{service=\""))
            .and_then(|rest| rest.split_once("} ")?.1.parse().ok())
    };
    assert_eq!(service(&before, "weft_discovery_connected"), Some(1.0));
    assert!(service(&before, "weft_discovery_sessions_total") >= Some(1.0));
    assert!(service(&before, "weft_discovery_updates_total") >= Some(1.0));
    assert!(service(&before, "weft_discovery_watch_messages_total") >= Some(1.0));
    // The offloads the interface runs with (this kernel takes TSO on a TUN, so it is on).
    assert_eq!(
        value(
            &before,
            "weft_dataplane_offload_enabled{offload=\"tun_tso\"}"
        ),
        Some(1.0),
        "{before}"
    );
    for offload in ["tun_uso", "udp_gso"] {
        let series = format!("weft_dataplane_offload_enabled{{offload=\"{offload}\"}}");
        assert!(
            matches!(value(&before, &series), Some(v) if v == 0.0 || v == 1.0),
            "{series}: {before}"
        );
    }

    // Traffic through the tunnel: node 1 pings node 2's KubeSpan address.
    let ids = ok(
        &lab.weftctl(&[
            "-n",
            &lab.addr(2),
            "get",
            "kubespanidentities",
            "-o",
            "yaml",
        ]),
        "get kubespanidentities",
    );
    let address = ids
        .lines()
        .find_map(|l| l.trim().strip_prefix("address: "))
        .and_then(|a| a.split('/').next())
        .expect("node 2's KubeSpan address")
        .to_owned();
    let (count, size) = (PINGS.to_string(), PING_SIZE.to_string());
    let ping = in_ns(
        &lab.netns(1),
        &[
            "ping", "-q", "-c", &count, "-i", "0.01", "-W", "2", "-s", &size, &address,
        ],
    );
    assert!(
        ping.success,
        "ping through the tunnel: {}{}",
        ping.stdout, ping.stderr
    );
    let carried = f64::from(PINGS * PING_SIZE);
    let after = wait_until("the counters to count the pings", || {
        let text = scrape(&at)?;
        let rx = peer_value(&text, "weft_peer_receive_bytes_total", &two)?;
        let tx = peer_value(&text, "weft_peer_transmit_bytes_total", &two)?;
        (rx - rx0 >= carried && tx - tx0 >= carried).then_some(text)
    });
    let packets = value(&after, "weft_dataplane_transmit_packets_total").expect("packets");
    assert!(
        packets - packets0 >= f64::from(PINGS),
        "interface packets {packets0} -> {packets}"
    );

    // A killed peer: its state gauge leaves 1 (up) for 2 (down).
    lab.kill(3);
    wait_until("node 3's state gauge on node 1 to turn 2 (down)", || {
        let text = scrape(&at)?;
        (peer_value(&text, "weft_peer_state", &three) == Some(2.0)
            && peer_value(&text, "weft_peer_up", &three) == Some(0.0)
            && value(&text, "weft_peers{state=\"down\"}") == Some(1.0))
        .then_some(())
    });
    // The other peer is untouched.
    let text = scrape(&at).expect("scrape");
    assert_eq!(peer_value(&text, "weft_peer_state", &two), Some(1.0));
}

/// Metric family names a PromQL expression names: the identifiers left once label matchers,
/// ranges and grouping clauses are dropped, that are not function calls.
fn names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    // Drop label matchers and ranges: `{…}` and `[…]`.
    let mut clean = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            c if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    // Drop grouping clauses, `by (label, …)` and `without (…)`: label names, not metrics.
    for clause in ["by", "without"] {
        while let Some(at) = clean.find(&format!("{clause} (")) {
            let end = clean[at..].find(')').map_or(clean.len(), |e| at + e + 1);
            clean.replace_range(at..end, " ");
        }
    }
    let bytes: Vec<char> = clean.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let next = bytes[i..].iter().find(|c| !c.is_whitespace());
            let is_call = next == Some(&'(');
            if !is_call {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn exposition_parses_and_the_dashboard_queries_exported_metrics() {
    let cluster = Cluster::new();
    let mut node = cluster.node("m1", false);
    let port = free_port();
    edit_config(&node, |cfg| {
        cfg["machine"]["metrics"] =
            yaml_serde::from_str(&format!("{{listenAddress: '127.0.0.1:{port}'}}")).expect("yaml");
    });
    node.start(&cluster);
    let text = wait_until("weftd to serve /metrics", || {
        scrape(&format!("127.0.0.1:{port}"))
    });

    // The crate parses every line.
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    assert!(!scrape.samples.is_empty(), "{text}");

    // Every family is declared once, with HELP and TYPE, before its samples; no series twice.
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} declared twice"
            );
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("HELP name");
            assert!(helps.insert(name.to_owned()), "{name}: HELP twice");
        } else {
            let name = line.split(['{', ' ']).next().expect("a sample name");
            let family = types
                .keys()
                .find(|f| *f == name)
                .unwrap_or_else(|| panic!("{line:?}: sample before or without its TYPE"));
            if types[family] == "counter" {
                assert!(name.ends_with("_total"), "counter {name} lacks _total");
            }
            let (key, _) = line.rsplit_once(' ').expect("a value");
            assert!(series.insert(key.to_owned()), "{key} twice");
        }
    }
    assert_eq!(
        helps,
        types.keys().cloned().collect::<BTreeSet<_>>(),
        "HELP and TYPE families differ"
    );
    for family in [
        "weft_peers",
        "weft_peer_state",
        "weft_peer_receive_bytes_total",
        "weft_discovery_connected",
        "weft_dataplane_interface_present",
        "weft_controller_reconcile_errors_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(types.contains_key(family), "{family} missing:\n{text}");
    }
    // The process figures are real.
    let rss = scrape
        .samples
        .iter()
        .find(|s| s.metric == "process_resident_memory_bytes")
        .expect("rss");
    assert!(
        matches!(rss.value, prometheus_parse::Value::Gauge(v) if v > 1_000_000.0),
        "{:?}",
        rss.value
    );

    // The dashboard asks only for what weftd exports.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/grafana/weft-mesh.json");
    let dashboard: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("json");
    let panels = dashboard["panels"].as_sequence().expect("panels");
    let mut queries = 0;
    for panel in panels {
        for target in panel["targets"].as_sequence().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names = names_in(expr);
            assert!(!names.is_empty(), "{expr:?} names no metric");
            for name in names {
                assert!(
                    types.contains_key(&name),
                    "panel {:?}: {expr:?} names {name}, which weftd does not export",
                    panel["title"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries >= 10, "{queries} queries");
    node.stop();
}
