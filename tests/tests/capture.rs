//! KubeSpan's traffic capture end to end (reference §5): two real weftd in namespaces of a lab
//! bridge, a real weft-discovery, and tcpdump on the underlay and on the tunnel.
//!
//! - With force routing (the default), traffic from A to B's *node address* — which is also B's
//!   WireGuard endpoint — crosses the underlay only as WireGuard UDP, and arrives.
//! - A TCP SYN into the tunnel carries the clamped MSS (1368 at MTU 1420), and a transfer in
//!   1400-byte writes completes, every byte counted.
//! - With B down, A's traffic to B is dropped in the tunnel, never sent in clear; with
//!   `allowDownPeerBypass: true` (applied live) it goes direct.
//! - KubeSpan disabled live, or weftd stopped: every rule, route, chain and the link are gone.
//!
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::time::Duration;

use weft_e2e::{
    Capture, Cluster, DiscoveryService, Lab, Node, in_ns, privileged, tools_present, wait_until,
};

const TEST: &str = "capture_routes_node_traffic_through_the_tunnel";
const WG_PORT: u16 = 51820;
/// A transfer making no progress for this long has stalled.
const STALL: Duration = Duration::from_secs(30);
/// 1400-byte writes: 8.4 MB in all.
const CHUNKS: usize = 6000;
const CHUNK_LEN: usize = 1400;

fn ping(from: &Node, to: &str, count: &str) -> bool {
    in_ns(
        from.netns.as_deref().expect("ns"),
        &["ping", "-c", count, "-i", "0.2", "-W", "1", to],
    )
    .success
}

fn state_of(cluster: &Cluster, node: &Node, peer_key: &str) -> Option<String> {
    cluster
        .get(node, "kubespanpeerstatuses")
        .into_iter()
        .find(|d| d["metadata"]["id"].as_str() == Some(peer_key))
        .and_then(|d| d["spec"]["state"].as_str().map(str::to_owned))
}

#[test]
#[ignore = "needs root"]
fn capture_routes_node_traffic_through_the_tunnel() {
    if !privileged(TEST)
        || !tools_present(
            TEST,
            &[
                ("ping", "iputils-ping"),
                ("nft", "nftables"),
                ("tcpdump", "tcpdump"),
            ],
        )
    {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut a = cluster.node_with_discovery("cap-a", &disco.url());
    let mut b = cluster.node_with_discovery("cap-b", &disco.url());
    lab.place(&mut a, 0);
    lab.place(&mut b, 1);
    a.start(&cluster);
    b.start(&cluster);
    let (a_ns, b_ns) = (a.netns.clone().expect("ns"), b.netns.clone().expect("ns"));
    let (a_addr, b_addr) = (lab.public_addr(0), lab.public_addr(1));
    let b_key = cluster.kubespan_public_key(&b);
    let a_key = cluster.kubespan_public_key(&a);
    wait_until("A and B see each other up", || {
        (state_of(&cluster, &a, &b_key).as_deref() == Some("up")
            && state_of(&cluster, &b, &a_key).as_deref() == Some("up"))
        .then_some(())
    });

    // 1. Force routing: a ping to B's node address is encrypted on the underlay, and arrives.
    let underlay = Capture::start(
        Some(&a_ns),
        "eth0",
        &format!("host {b_addr}"),
        1000,
        Duration::from_secs(30),
    );
    assert!(ping(&a, &b_addr, "5"), "A pings B's node address");
    let packets = underlay.stop();
    assert!(!packets.is_empty(), "the ping crossed the underlay");
    for p in &packets {
        assert!(
            p.line.contains("UDP") && p.sport == Some(WG_PORT) && p.dport == Some(WG_PORT),
            "only WireGuard UDP between A and B on the underlay, got: {}",
            p.line
        );
    }

    // 2. MSS clamp on SYNs inside the tunnel; a transfer in 1400-byte writes over MTU 1420.
    let tunnel = Capture::start(
        Some(&b_ns),
        &lab.link_name(1),
        "tcp[tcpflags] & tcp-syn != 0",
        10,
        Duration::from_secs(40),
    );
    let received = weft_e2e::tcp_transfer(&a_ns, &b_ns, &b_addr, CHUNKS, CHUNK_LEN, STALL);
    assert_eq!(received, (CHUNKS * CHUNK_LEN) as u64, "every byte arrived");
    tunnel.wait_for("A's SYN in the tunnel", |p| p.is_from(&a_addr));
    let syns = tunnel.stop();
    let from_a: Vec<_> = syns.iter().filter(|p| p.is_from(&a_addr)).collect();
    for syn in from_a {
        assert_eq!(
            syn.mss(),
            Some(1368),
            "MSS clamped to MTU 1420 − 52: {}",
            syn.line
        );
    }

    // 3. B down: A's traffic to B is dropped in the tunnel, never sent in clear.
    b.stop();
    // weftd stopping takes everything it set up with it.
    assert_no_capture(&b_ns);
    wait_until("A sees B down", || {
        (state_of(&cluster, &a, &b_key).as_deref() == Some("down")).then_some(())
    });
    let underlay = Capture::start(
        Some(&a_ns),
        "eth0",
        &format!("host {b_addr}"),
        1000,
        Duration::from_secs(30),
    );
    assert!(
        !ping(&a, &b_addr, "3"),
        "with force routing a down peer is unreachable"
    );
    for p in underlay.stop() {
        assert!(
            !p.line.contains("ICMP echo"),
            "ping sent in clear while B is down: {}",
            p.line
        );
        if p.is_from(&a_addr) {
            assert_eq!(
                p.dport,
                Some(WG_PORT),
                "A sends B only WireGuard: {}",
                p.line
            );
        }
    }

    // allowDownPeerBypass, applied live: traffic to the down peer goes direct.
    cluster.apply_config(&a, |cfg| {
        cfg["machine"]["network"]["kubespan"]["allowDownPeerBypass"] = true.into();
    });
    let underlay = Capture::start(
        Some(&a_ns),
        "eth0",
        &format!("icmp and host {b_addr}"),
        100,
        Duration::from_secs(30),
    );
    wait_until("A pings the down peer B directly", || {
        ping(&a, &b_addr, "1").then_some(())
    });
    let packets = underlay.stop();
    assert!(
        packets.iter().any(|p| p.line.contains("ICMP echo request")),
        "the ping went out in clear: {packets:?}"
    );

    // 4. KubeSpan disabled live: everything weftd set up is gone.
    let link = lab.link_name(0);
    cluster.apply_config(&a, |cfg| {
        cfg["machine"]["network"]["kubespan"]["enabled"] = false.into();
    });
    wait_until("A's KubeSpan link to go", || {
        (!in_ns(&a_ns, &["ip", "link", "show", &link]).success).then_some(())
    });
    assert_no_capture(&a_ns);
    assert!(ping(&a, &b_addr, "1"), "plain routing again");
}

/// No trace of the capture in namespace `ns`: no nftables table or chain, no rule to table 180,
/// no route in it.
fn assert_no_capture(ns: &str) {
    let nft = in_ns(ns, &["nft", "list", "table", "inet", "weft"]);
    assert!(!nft.success, "nftables table kept: {}", nft.stdout);
    let ruleset = in_ns(ns, &["nft", "list", "ruleset"]);
    let ruleset = ruleset.stdout.as_str();
    assert!(!ruleset.contains("kubespan"), "chains kept: {ruleset}");
    for family in ["-4", "-6"] {
        let rules = in_ns(ns, &["ip", family, "rule", "show"]);
        let rules = rules.stdout.as_str();
        assert!(!rules.contains("lookup 180"), "{family} rule kept: {rules}");
        let routes = in_ns(ns, &["ip", family, "route", "show", "table", "180"]);
        let routes = routes.stdout.as_str();
        assert!(
            routes.trim().is_empty(),
            "{family} table 180 kept: {routes}"
        );
    }
}
