//! Advertised networks end to end (`machine.network.kubespan.advertisedNetworks`, Weft's source of
//! the affiliate's `additionalAddresses`): two real weftd in namespaces of a lab bridge, a real
//! weft-discovery, and behind each node a "pod" namespace on a network the node advertises.
//!
//! - Each node routes the other's advertised network into the tunnel: it is in the peer's allowed
//!   IPs and in the nftables set of captured destinations.
//! - Pod to pod across the nodes: this is *forwarded* traffic, captured by `kubespan_prerouting`
//!   on the way out of each node. Pings arrive and nothing of the pods' traffic crosses the
//!   underlay in clear (only WireGuard UDP between the nodes).
//! - A pod's SYN (MSS 1460 on its 1500-byte link) reaches the other node's tunnel link clamped to
//!   1368, and so does the answering SYN-ACK (Weft clamps forwarded SYNs; Talos only the node's
//!   own), and a transfer in 1400-byte writes completes, every byte counted.
//! - The network withdrawn live (`apply-config`): the other node stops routing it (allowed IPs and
//!   nftables set), and a pod's ping no longer goes anywhere, in clear or not.
//! - A node's *own* traffic to a peer's network its main table has no route for (the lab has no
//!   default route) goes through the tunnel by the capture's fallback rule: B pings pod A, and
//!   answers pod A's ping to B's pod-link address.
//!
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::time::Duration;

use weft_e2e::{
    Capture, Cluster, DiscoveryService, Lab, Node, in_ns, privileged, tools_present, wait_until,
};
use yaml_serde::Value;

const TEST: &str = "pods_behind_nodes_reach_each_other_through_the_tunnel";
const WG_PORT: u16 = 51820;
/// The network behind node A, then B (first three octets of a /24).
const POD_NET_A: &str = "10.244.1";
const POD_NET_B: &str = "10.244.2";
/// A transfer making no progress for this long has stalled.
const STALL: Duration = Duration::from_secs(30);
/// 1400-byte writes: 2.8 MB in all.
const CHUNKS: usize = 2000;
const CHUNK_LEN: usize = 1400;
/// MSS of SYNs into the tunnel at MTU 1420 (IPv4: 1420 − 52).
const CLAMPED_MSS: u16 = 1368;
/// Most packets one capture keeps (the transfer is about 2 × CHUNKS packets).
const CAPTURE_LIMIT: usize = 20_000;
/// What a pod on a 1500-byte link offers (1500 − 40).
const POD_MSS: u16 = 1460;

fn ping(ns: &str, to: &str, count: &str) -> bool {
    in_ns(ns, &["ping", "-c", count, "-i", "0.2", "-W", "1", to]).success
}

fn peer_status(cluster: &Cluster, node: &Node, key: &str) -> Option<Value> {
    cluster
        .get(node, "kubespanpeerstatuses")
        .into_iter()
        .find(|d| d["metadata"]["id"].as_str() == Some(key))
        .map(|d| d["spec"].clone())
}

/// `node`'s allowed IPs for the peer with `key`.
fn allowed_ips(cluster: &Cluster, node: &Node, key: &str) -> Vec<String> {
    cluster
        .get(node, "kubespanpeerspecs")
        .into_iter()
        .find(|d| d["metadata"]["id"].as_str() == Some(key))
        .and_then(|d| {
            d["spec"]["allowedIPs"].as_sequence().map(|ips| {
                ips.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The IPv4 destinations namespace `ns` captures for the tunnel, as nft prints them.
fn captured_v4(ns: &str) -> String {
    let out = in_ns(
        ns,
        &[
            "nft",
            "list",
            "set",
            "inet",
            "weft",
            "kubespan_targets_ipv4",
        ],
    );
    assert!(out.success, "nft list set: {}", out.stderr);
    out.stdout
}

/// Configures `node` to advertise `net` and keep the pod link's address out of its endpoints.
fn advertise(node: &Node, net: &str, lab_net: &str) {
    weft_e2e::edit_config(node, |cfg| {
        let ks = &mut cfg["machine"]["network"]["kubespan"];
        ks["advertisedNetworks"] = vec![net].into();
        ks["filters"]["endpoints"] = vec![lab_net].into();
    });
}

#[test]
#[ignore = "needs root"]
fn pods_behind_nodes_reach_each_other_through_the_tunnel() {
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
    let mut a = cluster.node_with_discovery("pods-a", &disco.url());
    let mut b = cluster.node_with_discovery("pods-b", &disco.url());
    lab.place(&mut a, 0);
    lab.place(&mut b, 1);
    let (pod_a_ns, pod_a) = lab.add_pod_network(0, POD_NET_A);
    let (pod_b_ns, pod_b) = lab.add_pod_network(1, POD_NET_B);
    let lab_net = format!("{}/24", lab.gateway);
    let (net_a, net_b) = (format!("{POD_NET_A}.0/24"), format!("{POD_NET_B}.0/24"));
    advertise(&a, &net_a, &lab_net);
    advertise(&b, &net_b, &lab_net);
    a.start(&cluster);
    b.start(&cluster);
    let (a_ns, b_ns) = (a.netns.clone().expect("ns"), b.netns.clone().expect("ns"));
    let b_addr = lab.public_addr(1);
    let (a_key, b_key) = (
        cluster.kubespan_public_key(&a),
        cluster.kubespan_public_key(&b),
    );

    // 1. Each node routes the other's network to it: allowed IPs, then the nftables set.
    wait_until("A and B see each other up", || {
        let up = |node: &Node, key: &str| {
            peer_status(&cluster, node, key).is_some_and(|s| s["state"].as_str() == Some("up"))
        };
        (up(&a, &b_key) && up(&b, &a_key)).then_some(())
    });
    for (node, key, net) in [(&a, &b_key, &net_b), (&b, &a_key, &net_a)] {
        wait_until(
            &format!("{} to allow {net} from its peer", node.name),
            || allowed_ips(&cluster, node, key).contains(net).then_some(()),
        );
    }
    for (ns, net) in [(&a_ns, &net_b), (&b_ns, &net_a)] {
        wait_until(&format!("{net} captured in {ns}"), || {
            captured_v4(ns).contains(net.as_str()).then_some(())
        });
    }

    // 2. Pod to pod: forwarded by both nodes, encrypted on the underlay.
    let in_clear = Capture::start(
        Some(&a_ns),
        "eth0",
        "net 10.244.0.0/16",
        100,
        Duration::from_secs(60),
    );
    let between_nodes = Capture::start(
        Some(&a_ns),
        "eth0",
        &format!("host {b_addr}"),
        CAPTURE_LIMIT,
        Duration::from_secs(60),
    );
    assert!(ping(&pod_a_ns, &pod_b, "5"), "pod A pings pod B");
    assert!(ping(&pod_b_ns, &pod_a, "5"), "pod B pings pod A");

    // 3. TCP between the pods: SYN and SYN-ACK clamped in the tunnel; every byte arrives.
    let tunnel = Capture::start(
        Some(&b_ns),
        &lab.link_name(1),
        "tcp[tcpflags] & tcp-syn != 0",
        10,
        Duration::from_secs(60),
    );
    let pod_side = Capture::start(
        Some(&pod_a_ns),
        "eth0",
        "tcp[tcpflags] & tcp-syn != 0",
        10,
        Duration::from_secs(60),
    );
    let received = weft_e2e::tcp_transfer(&pod_a_ns, &pod_b_ns, &pod_b, CHUNKS, CHUNK_LEN, STALL);
    assert_eq!(received, (CHUNKS * CHUNK_LEN) as u64, "every byte arrived");
    tunnel.wait_for("pod A's SYN in B's tunnel link", |p| p.is_from(&pod_a));
    tunnel.wait_for("pod B's SYN-ACK in B's tunnel link", |p| p.is_from(&pod_b));
    pod_side.wait_for("pod A's SYN on its own link", |p| p.is_from(&pod_a));
    for syn in tunnel.stop() {
        assert_eq!(
            syn.mss(),
            Some(CLAMPED_MSS),
            "MSS clamped to MTU 1420 − 52 in the tunnel: {}",
            syn.line
        );
    }
    // What was clamped: the pod itself offered more.
    for syn in pod_side.stop().iter().filter(|p| p.is_from(&pod_a)) {
        assert_eq!(syn.mss(), Some(POD_MSS), "pod A's own SYN: {}", syn.line);
    }

    let leaked = in_clear.stop();
    assert!(
        leaked.is_empty(),
        "pod traffic crossed the underlay in clear: {leaked:?}"
    );
    let packets = between_nodes.stop();
    // Counted in bytes, not packets: with UDP GSO one captured datagram on the veth carries many
    // WireGuard messages.
    let carried: u64 = packets.iter().filter_map(|p| p.length()).sum();
    assert!(
        carried > (CHUNKS * CHUNK_LEN / 2) as u64,
        "the pods' traffic crossed the underlay ({carried} bytes in {} packets)",
        packets.len()
    );
    for p in &packets {
        assert!(
            p.line.contains("UDP") && p.sport == Some(WG_PORT) && p.dport == Some(WG_PORT),
            "only WireGuard UDP between A and B on the underlay, got: {}",
            p.line
        );
    }

    // 4. B withdraws its network live: A stops routing it, and pod A's ping goes nowhere.
    cluster.apply_config(&b, |cfg| {
        cfg["machine"]["network"]["kubespan"]["advertisedNetworks"] = Vec::<String>::new().into();
    });
    wait_until("A to stop allowing B's network", || {
        (!allowed_ips(&cluster, &a, &b_key).contains(&net_b)).then_some(())
    });
    wait_until("A to stop capturing B's network", || {
        (!captured_v4(&a_ns).contains(net_b.as_str())).then_some(())
    });
    let underlay = Capture::start(
        Some(&a_ns),
        "eth0",
        "net 10.244.0.0/16",
        100,
        Duration::from_secs(30),
    );
    assert!(
        !ping(&pod_a_ns, &pod_b, "2"),
        "pod B is unreachable once B no longer advertises its network"
    );
    let leaked = underlay.stop();
    assert!(leaked.is_empty(), "sent in clear: {leaked:?}");
    // B's own link to its pod (10.244.2.1) is one of B's addresses: still routed to B, encrypted,
    // and B answers it itself — its own traffic to A's network, which its main table has no route
    // for (the lab has no default route): the capture's fallback rule routes it.
    assert!(
        ping(&pod_a_ns, &format!("{POD_NET_B}.1"), "2"),
        "pod A reaches B's address on B's pod link; A allows {:?} from B",
        allowed_ips(&cluster, &a, &b_key)
    );
    // And B's own traffic to A's pod, the same way.
    assert!(ping(&b_ns, &pod_a, "2"), "B pings pod A");
}
