//! Discovery end to end: one real weft-discovery and three real weftd (no data plane yet). Each
//! node ends with exactly the two others as peer specs, with the right allowed IPs and endpoints; a
//! node that leaves disappears everywhere; restarting weft-discovery (SIGTERM, start again) loses no
//! affiliate and the nodes carry on.
//!
//! Each weftd runs in its own network namespace on a private bridge, so each has its own MAC
//! (hence its own KubeSpan address) and its own node address: on bare loopback every node would
//! derive the same address from the host's first link and §3's overlap rule would leave later
//! peers with nothing. The service listens on the bridge; weftctl reaches the nodes across it.

use std::collections::BTreeMap;
use std::fs;

use weft_api::proto::discovery::server::ListRequest;
use weft_api::proto::discovery::server::cluster_client::ClusterClient;
use weft_e2e::{Cluster, DiscoveryService, Lab, Node, ok, privileged, wait_until, yaml_docs};
use yaml_serde::Value;

/// A node whose config points at `discovery`, with its own hostname and WireGuard port.
fn node(cluster: &Cluster, name: &str, discovery: &str, wg_port: u16) -> Node {
    let node = cluster.node(name, true);
    let mut cfg: Value =
        yaml_serde::from_str(&fs::read_to_string(&node.config).expect("read")).expect("yaml");
    cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] = Value::from(discovery);
    cfg["machine"]["network"]["hostname"] = Value::from(name);
    cfg["machine"]["network"]["kubespan"]["listenPort"] = Value::from(wg_port);
    fs::write(&node.config, yaml_serde::to_string(&cfg).expect("yaml")).expect("write");
    node
}

fn get(cluster: &Cluster, node: &Node, ty: &str) -> Vec<Value> {
    yaml_docs(&ok(
        &cluster.weftctl(&["-n", &node.addr(), "get", ty, "-o", "yaml"]),
        "get",
    ))
}

/// What a node is, as the others should see it.
#[derive(Debug, Clone)]
struct Seen {
    hostname: String,
    node_id: String,
    public_key: String,
    ula: String,
    address: String,
    endpoints: Vec<String>,
}

fn describe(cluster: &Cluster, node: &Node) -> Seen {
    let identity = &get(cluster, node, "identities")[0];
    let ks = wait_until("the KubeSpan identity", || {
        get(cluster, node, "kubespanidentities").into_iter().next()
    });
    let node_id = identity["spec"]["nodeId"]
        .as_str()
        .expect("nodeId")
        .to_owned();
    let affiliate = wait_until("the local affiliate", || {
        get(cluster, node, "affiliates")
            .into_iter()
            .find(|a| a["metadata"]["id"].as_str() == Some(node_id.as_str()))
    });
    let strings = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Seen {
        hostname: node.name.clone(),
        node_id,
        public_key: ks["spec"]["publicKey"]
            .as_str()
            .expect("publicKey")
            .to_owned(),
        ula: ks["spec"]["address"].as_str().expect("address").to_owned(),
        address: node.addr().split(':').next().unwrap_or_default().to_owned(),
        endpoints: strings(&affiliate["spec"]["kubespan"]["endpoints"]),
    }
}

/// The peer specs of `node`: public key → (label, allowed IPs, endpoints).
fn peer_specs(
    cluster: &Cluster,
    node: &Node,
) -> BTreeMap<String, (String, Vec<String>, Vec<String>)> {
    get(cluster, node, "kubespanpeerspecs")
        .into_iter()
        .map(|d| {
            let list = |k: &str| -> Vec<String> {
                d["spec"][k]
                    .as_sequence()
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            (
                d["metadata"]["id"].as_str().expect("id").to_owned(),
                (
                    d["spec"]["label"].as_str().unwrap_or_default().to_owned(),
                    list("allowedIPs"),
                    list("endpoints"),
                ),
            )
        })
        .collect()
}

fn list_ids(url: &str, cluster_id: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut client = ClusterClient::connect(url.to_owned())
            .await
            .expect("connect");
        let reply = client
            .list(ListRequest {
                cluster_id: cluster_id.to_owned(),
            })
            .await
            .expect("list")
            .into_inner();
        let mut ids: Vec<String> = reply.affiliates.into_iter().map(|a| a.id).collect();
        ids.sort();
        ids
    })
}

#[test]
#[ignore = "needs root"]
fn three_nodes_find_each_other_through_weft_discovery() {
    if !privileged("three_nodes_find_each_other_through_weft_discovery") {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut n = node(&cluster, name, &disco.url(), 51821 + i as u16);
            lab.place(&mut n, i as u8);
            n
        })
        .collect();
    for n in &mut nodes {
        n.start(&cluster);
    }
    let seen: Vec<Seen> = nodes.iter().map(|n| describe(&cluster, n)).collect();
    for (i, s) in seen.iter().enumerate() {
        // Its lab address (also the public IP the service saw) at its WireGuard port.
        assert_eq!(
            s.endpoints,
            [format!("{}:{}", s.address, 51821 + i)],
            "{s:?}"
        );
    }
    let mut ulas: Vec<&String> = seen.iter().map(|s| &s.ula).collect();
    ulas.dedup();
    assert_eq!(ulas.len(), 3, "distinct KubeSpan addresses: {ulas:?}");

    // Each node: exactly the two others, labelled, with their endpoints; allowed IPs = the peer's
    // node address and its KubeSpan address (minimal cover, IPv4 first).
    for (i, n) in nodes.iter().enumerate() {
        let specs = wait_until(&format!("{} to see both peers", n.name), || {
            let specs = peer_specs(&cluster, n);
            (specs.len() == 2).then_some(specs)
        });
        let mut others: Vec<&Seen> = seen
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s)
            .collect();
        others.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        let keys: Vec<&String> = specs.keys().collect();
        let mut want: Vec<&String> = others.iter().map(|s| &s.public_key).collect();
        want.sort();
        assert_eq!(keys, want, "{}: peers are the two others", n.name);
        for other in &others {
            let (label, allowed, endpoints) = &specs[&other.public_key];
            assert_eq!(label, &other.hostname);
            assert_eq!(endpoints, &other.endpoints);
            assert_eq!(
                allowed,
                &vec![format!("{}/32", other.address), other.ula.clone()],
                "{}",
                n.name
            );
        }
    }

    let bundle = weft_api::config::secrets::SecretsBundle::load(&cluster.secrets).expect("secrets");
    let mut all_ids: Vec<String> = seen.iter().map(|s| s.node_id.clone()).collect();
    all_ids.sort();
    assert_eq!(list_ids(&disco.url(), &bundle.cluster.id), all_ids);

    // n3 leaves: it disappears everywhere.
    ok(
        &cluster.weftctl(&["-n", &nodes[2].addr(), "leave"]),
        "leave",
    );
    for n in &nodes[..2] {
        wait_until(&format!("{} to forget n3", n.name), || {
            let specs = peer_specs(&cluster, n);
            (specs.len() == 1 && !specs.contains_key(&seen[2].public_key)).then_some(())
        });
    }
    let mut remaining: Vec<String> = seen[..2].iter().map(|s| s.node_id.clone()).collect();
    remaining.sort();
    wait_until("the service to drop n3", || {
        (list_ids(&disco.url(), &bundle.cluster.id) == remaining).then_some(())
    });
    nodes[2].kill();

    // Restart the service: nothing is lost, and the nodes carry on (a change still propagates).
    assert!(disco.stop().success(), "clean stop: {}", disco.log_text());
    disco.start();
    assert_eq!(list_ids(&disco.url(), &bundle.cluster.id), remaining);
    let mut cfg: Value =
        yaml_serde::from_str(&fs::read_to_string(&nodes[0].config).expect("read")).expect("yaml");
    cfg["machine"]["network"]["hostname"] = Value::from("n1-renamed");
    let renamed = cluster.dir.path().join("n1-renamed.yaml");
    fs::write(&renamed, yaml_serde::to_string(&cfg).expect("yaml")).expect("write");
    ok(
        &cluster.weftctl(&[
            "-n",
            &nodes[0].addr(),
            "apply-config",
            "--file",
            renamed.to_str().expect("utf8"),
        ]),
        "apply-config",
    );
    wait_until(
        "n2 to see n1's new name through the restarted service",
        || {
            let specs = peer_specs(&cluster, &nodes[1]);
            (specs.get(&seen[0].public_key).map(|s| s.0.as_str()) == Some("n1-renamed"))
                .then_some(())
        },
    );
}
