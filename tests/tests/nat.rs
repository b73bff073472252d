//! NAT traversal end to end: real weftd behind NAT routers (nftables masquerade inside their own
//! namespaces), a real weft-discovery on the "internet" (the lab bridge) answering gRPC and STUN.
//!
//! - Two nodes, each behind its own NAT that maps the WireGuard port to another public port (a
//!   cone NAT that does not keep ports): KubeSpan's `<public IP>:51820` leads nowhere, and the
//!   sites' private addresses are unreachable from each other. They reach `up` through the
//!   STUN-observed endpoints and hole punching, and ping each other.
//! - A node behind NAT and a node with a public address reach `up` and ping each other; the NATed
//!   node's `filters.endpoints`, `extraAnnouncedEndpoints` and `excludeAdvertisedNetworks` shape
//!   what the other node configures for it.
//! - A node that harvests (`harvestExtraEndpoints`) publishes where it sees a NATed peer, and a
//!   third node learns it through the service.
//!
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use weft_e2e::{
    Cluster, DiscoveryService, Lab, Nat, Node, in_ns, privileged, tools_present, wait_until,
};
use yaml_serde::Value;

const WG_PORT: u16 = 51820;
/// An extra endpoint the NATed node announces (TEST-NET-2: never reached, only listed).
const EXTRA: &str = "198.51.100.9:51820";

fn prerequisites(test: &str) -> bool {
    privileged(test) && tools_present(test, &[("ping", "iputils-ping"), ("nft", "nftables")])
}

/// This node's KubeSpan public key and address.
fn identity(cluster: &Cluster, node: &Node) -> (String, String) {
    wait_until(&format!("{}'s KubeSpan identity", node.name), || {
        let d = cluster.get(node, "kubespanidentities").into_iter().next()?;
        Some((
            d["spec"]["publicKey"].as_str()?.to_owned(),
            d["spec"]["address"]
                .as_str()?
                .trim_end_matches("/128")
                .to_owned(),
        ))
    })
}

/// `node`'s status of the peer with `key`, once it is `up`.
fn wait_up(cluster: &Cluster, node: &Node, key: &str) -> Value {
    wait_until(
        &format!("{} to see its peer up ({})", node.name, node.log_text()),
        || {
            cluster
                .get(node, "kubespanpeerstatuses")
                .into_iter()
                .find(|d| {
                    d["metadata"]["id"].as_str() == Some(key)
                        && d["spec"]["state"].as_str() == Some("up")
                })
                .map(|d| d["spec"].clone())
        },
    )
}

/// `node`'s NAT status once STUN answered.
fn nat_status(cluster: &Cluster, node: &Node) -> Value {
    wait_until(&format!("{}'s public endpoint by STUN", node.name), || {
        cluster
            .get(node, "kubespannatstatus")
            .into_iter()
            .next()
            .map(|d| d["spec"].clone())
            .filter(|s| s["publicEndpoint"].as_str().is_some_and(|e| !e.is_empty()))
    })
}

fn ping6(from: &Node, to: &str) {
    wait_until(&format!("{} to ping {to}", from.name), || {
        in_ns(
            from.netns.as_deref().expect("ns"),
            &["ping", "-6", "-c", "1", "-W", "1", to],
        )
        .success
        .then_some(())
    });
}

#[test]
#[ignore = "needs root"]
fn two_nodes_each_behind_its_own_nat_reach_up() {
    let test = "two_nodes_each_behind_its_own_nat_reach_up";
    if !prerequisites(test) {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut a = cluster.node_with_discovery("nat-a", &disco.url());
    let mut b = cluster.node_with_discovery("nat-b", &disco.url());
    let site_a = lab.place_behind_nat(
        &mut a,
        1,
        Nat::MapUdpPort {
            from: WG_PORT,
            to: 40001,
        },
    );
    let site_b = lab.place_behind_nat(
        &mut b,
        2,
        Nat::MapUdpPort {
            from: WG_PORT,
            to: 40002,
        },
    );
    let started = std::time::Instant::now();
    a.start(&cluster);
    b.start(&cluster);
    let (a_key, a_ula) = identity(&cluster, &a);
    let (b_key, b_ula) = identity(&cluster, &b);

    // Each learns the port its NAT really maps, which is not the WireGuard port.
    for (node, site, port) in [(&a, &site_a, 40001), (&b, &site_b, 40002)] {
        let nat = nat_status(&cluster, node);
        assert_eq!(
            nat["publicEndpoint"].as_str(),
            Some(format!("{}:{port}", site.public).as_str()),
            "{}: {nat:?}",
            node.name
        );
        assert_eq!(nat["behindNAT"].as_bool(), Some(true), "{nat:?}");
        assert_eq!(nat["portPreserved"].as_bool(), Some(false), "{nat:?}");
    }

    let a_sees_b = wait_up(&cluster, &a, &b_key);
    let b_sees_a = wait_up(&cluster, &b, &a_key);
    eprintln!(
        "both behind NAT: up {:.1}s after the start",
        started.elapsed().as_secs_f64()
    );
    // The tunnel runs between the observed public endpoints: nothing else could carry it.
    assert_eq!(
        a_sees_b["endpoint"].as_str(),
        Some(format!("{}:40002", site_b.public).as_str()),
        "{a_sees_b:?}"
    );
    assert_eq!(
        b_sees_a["endpoint"].as_str(),
        Some(format!("{}:40001", site_a.public).as_str()),
        "{b_sees_a:?}"
    );
    ping6(&a, &b_ula);
    ping6(&b, &a_ula);
}

#[test]
#[ignore = "needs root"]
fn a_node_behind_nat_and_a_public_node_reach_up() {
    let test = "a_node_behind_nat_and_a_public_node_reach_up";
    if !prerequisites(test) {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut behind = cluster.node_with_discovery("natted", &disco.url());
    let mut public = cluster.node_with_discovery("public", &disco.url());
    let site = lab.place_behind_nat(&mut behind, 1, Nat::PortPreserving);
    lab.place(&mut public, 2);
    // What the NATed node advertises: not its private address (useless outside its site), an
    // extra endpoint, and its LAN excluded from what peers route to it.
    weft_e2e::edit_config(&behind, |cfg| {
        let ks = &mut cfg["machine"]["network"]["kubespan"];
        ks["filters"]["endpoints"] = vec!["0.0.0.0/0", "!192.168.0.0/16"].into();
        ks["filters"]["excludeAdvertisedNetworks"] = vec!["192.168.1.0/24"].into();
        ks["extraAnnouncedEndpoints"] = vec![EXTRA].into();
    });
    behind.start(&cluster);
    public.start(&cluster);
    let (behind_key, behind_ula) = identity(&cluster, &behind);
    let (public_key, public_ula) = identity(&cluster, &public);

    let nat = nat_status(&cluster, &public);
    assert_eq!(nat["behindNAT"].as_bool(), Some(false), "{nat:?}");
    let nat = nat_status(&cluster, &behind);
    assert_eq!(nat["behindNAT"].as_bool(), Some(true), "{nat:?}");
    assert_eq!(nat["portPreserved"].as_bool(), Some(true), "{nat:?}");

    wait_up(&cluster, &behind, &public_key);
    wait_up(&cluster, &public, &behind_key);

    // The public node's view of the NATed one: endpoints = the STUN-observed one (here equal to
    // KubeSpan's `<public IP>:51820`, the NAT keeps the port) and the extra one (in the order the
    // service first received them: the public IP is known only after Hello); no private address;
    // the excluded LAN is not routed to it, its KubeSpan address is.
    let spec = wait_until("the public node's peer spec of the NATed one", || {
        cluster
            .get(&public, "kubespanpeerspecs")
            .into_iter()
            .find(|d| d["metadata"]["id"].as_str() == Some(behind_key.as_str()))
            .map(|d| d["spec"].clone())
            .filter(|s| s["endpoints"].as_sequence().is_some_and(|e| e.len() == 2))
    });
    let mut endpoints: Vec<&str> = spec["endpoints"]
        .as_sequence()
        .expect("endpoints")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    endpoints.sort_unstable();
    let observed = format!("{}:{WG_PORT}", site.public);
    let mut expected = [observed.as_str(), EXTRA];
    expected.sort_unstable();
    assert_eq!(endpoints, expected, "{spec:?}");
    let allowed: Vec<&str> = spec["allowedIPs"]
        .as_sequence()
        .expect("allowedIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, [format!("{behind_ula}/128").as_str()], "{spec:?}");
    ping6(&behind, &public_ula);
    ping6(&public, &behind_ula);
}

/// KubeSpan's harvesting, through the real service: a node behind a port-remapping NAT with NAT
/// traversal off advertises only `<public IP>:51820`, which leads nowhere. It reaches a public
/// node that harvests (`harvestExtraEndpoints`), which sees it at `<public IP>:40005` and publishes
/// that under the NATed node's id — so a third node, which never saw it there, lists it too.
#[test]
#[ignore = "needs root"]
fn harvested_endpoints_reach_the_other_nodes() {
    let test = "harvested_endpoints_reach_the_other_nodes";
    if !prerequisites(test) {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut behind = cluster.node_with_discovery("natted", &disco.url());
    let mut harvester = cluster.node_with_discovery("harvester", &disco.url());
    let mut third = cluster.node_with_discovery("third", &disco.url());
    let site = lab.place_behind_nat(
        &mut behind,
        1,
        Nat::MapUdpPort {
            from: WG_PORT,
            to: 40005,
        },
    );
    lab.place(&mut harvester, 2);
    lab.place(&mut third, 3);
    weft_e2e::edit_config(&behind, |cfg| {
        let ks = &mut cfg["machine"]["network"]["kubespan"];
        ks["natTraversal"] = false.into();
        ks["filters"]["endpoints"] = vec!["0.0.0.0/0", "!192.168.0.0/16"].into();
    });
    weft_e2e::edit_config(&harvester, |cfg| {
        cfg["machine"]["network"]["kubespan"]["harvestExtraEndpoints"] = true.into();
    });
    for node in [&mut behind, &mut harvester, &mut third] {
        node.start(&cluster);
    }
    let (behind_key, _) = identity(&cluster, &behind);
    let seen = format!("{}:40005", site.public);

    // The harvester sees the NATed node where its NAT really maps it (once WireGuard follows the
    // handshake's source: the first `up` status may still show the endpoint being tried), and
    // records that.
    wait_up(&cluster, &harvester, &behind_key);
    wait_until(
        "the harvester to see the NATed node at its mapped port",
        || {
            cluster
                .get(&harvester, "kubespanpeerstatuses")
                .into_iter()
                .find(|d| d["metadata"]["id"].as_str() == Some(behind_key.as_str()))
                .filter(|d| d["spec"]["endpoint"].as_str() == Some(seen.as_str()))
        },
    );
    let harvested = wait_until("the harvester's KubeSpanEndpoint", || {
        cluster
            .get(&harvester, "kubespanendpoints")
            .into_iter()
            .find(|d| d["metadata"]["id"].as_str() == Some(behind_key.as_str()))
            .map(|d| d["spec"].clone())
    });
    assert_eq!(
        harvested["endpoint"].as_str(),
        Some(seen.as_str()),
        "{harvested:?}"
    );

    // The third node learns it from the service, next to what the NATed node advertises.
    let spec = wait_until(
        "the third node's peer spec with the harvested endpoint",
        || {
            cluster
                .get(&third, "kubespanpeerspecs")
                .into_iter()
                .find(|d| d["metadata"]["id"].as_str() == Some(behind_key.as_str()))
                .map(|d| d["spec"].clone())
                .filter(|s| {
                    s["endpoints"]
                        .as_sequence()
                        .is_some_and(|e| e.iter().any(|v| v.as_str() == Some(seen.as_str())))
                })
        },
    );
    let mut endpoints: Vec<&str> = spec["endpoints"]
        .as_sequence()
        .expect("endpoints")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    endpoints.sort_unstable();
    let advertised = format!("{}:{WG_PORT}", site.public);
    let mut expected = [advertised.as_str(), seen.as_str()];
    expected.sort_unstable();
    assert_eq!(endpoints, expected, "{spec:?}");
}
