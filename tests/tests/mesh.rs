//! The mesh end to end: a real weft-discovery and three real weftd, each in its own network
//! namespace on a private bridge, with the userspace WireGuard data plane carrying real packets.
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use weft_e2e::{
    Cluster, DiscoveryService, Lab, Node, in_ns, ok, privileged, tools_present, wait_until,
    yaml_docs,
};
use yaml_serde::Value;

fn get(cluster: &Cluster, node: &Node, ty: &str) -> Vec<Value> {
    let out = cluster.weftctl(&["-n", &node.addr(), "get", ty, "-o", "yaml"]);
    if !out.status.success() {
        return Vec::new();
    }
    yaml_docs(&String::from_utf8_lossy(&out.stdout))
}

/// Peer public key → (state, rx, tx) on `node`.
fn statuses(cluster: &Cluster, node: &Node) -> BTreeMap<String, (String, u64, u64)> {
    get(cluster, node, "kubespanpeerstatuses")
        .into_iter()
        .map(|d| {
            (
                d["metadata"]["id"].as_str().unwrap_or_default().to_owned(),
                (
                    d["spec"]["state"].as_str().unwrap_or_default().to_owned(),
                    d["spec"]["receiveBytes"].as_u64().unwrap_or(0),
                    d["spec"]["transmitBytes"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

fn identity(cluster: &Cluster, node: &Node) -> (String, String) {
    let d = wait_until("the KubeSpan identity", || {
        get(cluster, node, "kubespanidentities").into_iter().next()
    });
    let address = d["spec"]["address"].as_str().expect("address");
    (
        d["spec"]["publicKey"]
            .as_str()
            .expect("publicKey")
            .to_owned(),
        address.trim_end_matches("/128").to_owned(),
    )
}

fn node_with_discovery(
    cluster: &Cluster,
    lab: &mut Lab,
    name: &str,
    i: u8,
    discovery: &str,
) -> Node {
    let mut n = cluster.node(name, true);
    let mut cfg: Value =
        yaml_serde::from_str(&fs::read_to_string(&n.config).expect("read")).expect("yaml");
    cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] = Value::from(discovery);
    cfg["machine"]["network"]["hostname"] = Value::from(name);
    fs::write(&n.config, yaml_serde::to_string(&cfg).expect("yaml")).expect("write");
    lab.place(&mut n, i);
    n
}

#[test]
#[ignore = "needs root"]
fn three_node_mesh_carries_traffic_and_tracks_peers() {
    if !privileged("three_node_mesh_carries_traffic_and_tracks_peers") {
        return;
    }
    if !tools_present(
        "three_node_mesh_carries_traffic_and_tracks_peers",
        &[("ping", "iputils-ping"), ("wg", "wireguard-tools")],
    ) {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut nodes: Vec<Node> = (0..3u8)
        .map(|i| node_with_discovery(&cluster, &mut lab, &format!("m{}", i + 1), i, &disco.url()))
        .collect();
    let started = Instant::now();
    for n in &mut nodes {
        n.start(&cluster);
    }
    let ids: Vec<(String, String)> = nodes.iter().map(|n| identity(&cluster, n)).collect();

    // Every node sees both others up.
    for n in &nodes {
        wait_until(
            &format!("{}: both peers up ({})", n.name, n.log_text()),
            || {
                let s = statuses(&cluster, n);
                (s.len() == 2 && s.values().all(|(state, _, _)| state == "up")).then_some(())
            },
        );
    }
    eprintln!(
        "mesh up {:.1}s after the first start",
        started.elapsed().as_secs_f64()
    );

    // ping -6 between every pair of KubeSpan addresses.
    for (i, n) in nodes.iter().enumerate() {
        for (j, (_, ula)) in ids.iter().enumerate() {
            if i != j {
                let out = in_ns(
                    n.netns.as_deref().expect("ns"),
                    &["ping", "-6", "-c", "2", "-W", "3", ula],
                );
                assert!(out.success, "{} → {ula}: {}", n.name, out.stdout);
            }
        }
    }
    // Counters grow.
    let before = statuses(&cluster, &nodes[0]);
    let ns0 = nodes[0].netns.clone().expect("ns");
    assert!(in_ns(&ns0, &["ping", "-6", "-c", "3", "-i", "0.2", &ids[1].1]).success);
    let after = wait_until("counters to grow", || {
        let s = statuses(&cluster, &nodes[0]);
        let (_, rx0, tx0) = before[&ids[1].0];
        let (_, rx1, tx1) = s[&ids[1].0];
        (rx1 > rx0 && tx1 > tx0).then_some(s)
    });
    assert!(
        after.values().all(|(_, rx, tx)| *rx > 0 && *tx > 0),
        "{after:?}"
    );

    // `wg show` lists the two peers.
    let out = in_ns(&ns0, &["wg", "show", &lab.link_name(0)]);
    let text = out.stdout.as_str();
    assert!(out.success, "wg show: {}", out.stderr);
    assert_eq!(text.matches("\npeer: ").count(), 2, "{text}");
    for (key, _) in &ids[1..] {
        assert!(text.contains(key.as_str()), "{text}");
    }

    // A peer-spec change (n3 announces an extra endpoint) is applied without dropping traffic
    // between n1 and n2.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &ns0, "ping", "-6", "-c", "40", "-i", "0.1", "-W", "2", &ids[1].1,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping");
    let mut cfg: Value =
        yaml_serde::from_str(&fs::read_to_string(&nodes[2].config).expect("read")).expect("yaml");
    let subnet = lab
        .gateway
        .rsplit_once('.')
        .map(|(net, _)| net)
        .expect("an IPv4 gateway");
    let extra = format!("{subnet}.99:51999");
    cfg["machine"]["network"]["kubespan"]["extraAnnouncedEndpoints"] =
        Value::from(vec![Value::from(extra.clone())]);
    let changed = cluster.dir.path().join("m3-extra.yaml");
    fs::write(&changed, yaml_serde::to_string(&cfg).expect("yaml")).expect("write");
    ok(
        &cluster.weftctl(&[
            "-n",
            &nodes[2].addr(),
            "apply-config",
            "--file",
            changed.to_str().expect("utf8"),
        ]),
        "apply-config",
    );
    wait_until("n1's spec for n3 to carry the new endpoint", || {
        get(&cluster, &nodes[0], "kubespanpeerspecs")
            .into_iter()
            .any(|d| {
                d["metadata"]["id"].as_str() == Some(ids[2].0.as_str())
                    && format!("{:?}", d["spec"]["endpoints"]).contains(&extra)
            })
            .then_some(())
    });
    let out = ping.wait_with_output().expect("ping");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" 0% packet loss"),
        "traffic to n2 kept flowing: {summary}"
    );

    // kill -9 n3: the others call it down; started again: same key and address, up again.
    nodes[2].kill();
    let killed = Instant::now();
    for n in &nodes[..2] {
        wait_until(&format!("{} to see m3 down", n.name), || {
            (statuses(&cluster, n).get(&ids[2].0).map(|s| s.0.as_str()) == Some("down"))
                .then_some(())
        });
    }
    eprintln!(
        "m3 seen down {:.1}s after kill -9",
        killed.elapsed().as_secs_f64()
    );
    nodes[2].start(&cluster);
    assert_eq!(
        identity(&cluster, &nodes[2]),
        ids[2],
        "same public key and address after restart"
    );
    for n in &nodes[..2] {
        wait_until(&format!("{} to see m3 up again", n.name), || {
            (statuses(&cluster, n).get(&ids[2].0).map(|s| s.0.as_str()) == Some("up")).then_some(())
        });
    }
}

/// `weftctl cluster create` builds a working mesh and prints every node's peers up;
/// `weftctl cluster destroy` removes every namespace, link, process and file.
#[test]
#[ignore = "needs root"]
fn cluster_create_and_destroy() {
    if !privileged("cluster_create_and_destroy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("clusters");
    let cfg = dir.path().join("weftconfig");
    let name = format!("e2e{}", std::process::id() % 100_000);
    let weftctl = |args: &[&str]| {
        Command::new(weft_e2e::bin("weftctl"))
            .args(args)
            .env("WEFTCONFIG", &cfg)
            .stdin(Stdio::null())
            .output()
            .expect("weftctl")
    };
    let state_arg = state.to_str().expect("utf8");
    let out = weftctl(&[
        "cluster",
        "create",
        "--name",
        &name,
        "--workers",
        "2",
        "--cidr",
        "10.202.77.0/24",
        "--state",
        state_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Destroy whatever happens next, so a failure leaves nothing behind.
    let destroy = || weftctl(&["cluster", "destroy", "--name", &name, "--state", state_arg]);
    if !out.status.success() {
        let _ = destroy();
        panic!("cluster create failed: {stderr}\n{stdout}");
    }
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("KubeSpanPeerStatus"))
        .collect();
    let ups = rows
        .iter()
        .filter(|l| l.split_whitespace().nth(7) == Some("up"))
        .count();
    let listed = weftctl(&["get", "members"]);
    let destroyed = destroy();
    assert_eq!(rows.len(), 6, "{stdout}");
    assert_eq!(ups, 6, "{stdout}");
    assert!(
        stderr.contains(&format!("merged context \"{name}\"")),
        "{stderr}"
    );
    // stdout is the table alone; progress (a line per step without a terminal) and the closing
    // hint are on stderr.
    assert!(
        stdout
            .lines()
            .all(|l| l.is_empty() || l.starts_with("NODE") || l.contains("KubeSpanPeerStatus")),
        "{stdout}"
    );
    for step in [
        "cluster create: creating the switch namespace",
        "cluster create: starting the discovery service",
        "cluster create: writing configs, starting weftd on 3 nodes",
        "is up: `weftctl --context",
    ] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
    assert!(
        listed.status.success(),
        "the merged context works: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).lines().count(),
        1 + 9
    );

    assert!(
        destroyed.status.success(),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    let namespaces = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    assert!(!String::from_utf8_lossy(&namespaces.stdout).contains(&format!("weft-{name}-")));
    assert!(!state.join(&name).exists());
    let again = destroy();
    assert_eq!(again.status.code(), Some(1), "nothing left to destroy");
}
