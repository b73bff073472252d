//! `weftctl health` against real nodes: a real weft-discovery and two real weftd, each in its own
//! network namespace on a private bridge, with the userspace WireGuard data plane.
//!
//! - `health --wait-timeout` waits until the mesh is healthy and exits 0 with every check passed;
//! - `health --matrix -o json` shows each node seeing the other `up`, with a handshake and an
//!   endpoint, and no asymmetry;
//! - an os:reader client passes the identity check through the node's affiliate and says why;
//! - after `kill -9` of one node, `health` exits 1 naming that node's failed `api` check, and the
//!   surviving node's `peers` check fails once it sees its peer down.
//!
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::process::{Command, Output, Stdio};

use weft_e2e::{Cluster, DiscoveryService, Lab, Node, bin, ok, privileged, stderr, wait_until};
use yaml_serde::Value;

fn node(cluster: &Cluster, lab: &mut Lab, name: &str, i: u8, discovery: &str) -> Node {
    let mut n = cluster.node_with_discovery(name, discovery);
    lab.place(&mut n, i);
    n
}

/// Parses weftctl's JSON (YAML is a superset).
fn json(out: &Output) -> Value {
    yaml_serde::from_str(&String::from_utf8_lossy(&out.stdout)).expect("weftctl printed JSON")
}

/// (check, status) of every check of `node` in a `health -o json` report.
fn checks(report: &Value, node: &str) -> Vec<(String, String)> {
    let nodes = report["nodes"].as_sequence().expect("nodes");
    let n = nodes
        .iter()
        .find(|n| n["node"].as_str() == Some(node))
        .unwrap_or_else(|| panic!("{node} in {report:?}"));
    n["checks"]
        .as_sequence()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().expect("check").to_owned(),
                c["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn health_and_matrix_on_a_real_mesh() {
    if !privileged("health_and_matrix_on_a_real_mesh") {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut a = node(&cluster, &mut lab, "h1", 0, &disco.url());
    let mut b = node(&cluster, &mut lab, "h2", 1, &disco.url());
    a.start(&cluster);
    b.start(&cluster);
    let both = format!("{},{}", a.addr(), b.addr());

    // Healthy: waited for by health itself, as `cluster create` does.
    let out = cluster.weftctl(&["-n", &both, "health", "--wait-timeout", "60s"]);
    let text = ok(&out, "health --wait-timeout 60s");
    assert!(
        text.ends_with("healthy: 2 of 2 nodes healthy, 8 of 8 checks passed\n"),
        "{text}"
    );
    let out = cluster.weftctl(&["-n", &both, "health", "-o", "json"]);
    let report = json(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["healthy"].as_bool(), Some(true));
    let all_pass = pairs(&[
        ("api", "pass"),
        ("identity", "pass"),
        ("discovery", "pass"),
        ("peers", "pass"),
    ]);
    for n in [&a, &b] {
        assert_eq!(checks(&report, &n.addr()), all_pass, "{}", n.name);
    }

    // The matrix: each sees the other up, through the other's lab address.
    let out = cluster.weftctl(&["-n", &both, "health", "--matrix", "-o", "json"]);
    let m = json(&out);
    assert!(out.status.success(), "{}: {m:?}", stderr(&out));
    assert_eq!(m["allUp"].as_bool(), Some(true));
    assert_eq!(m["asymmetric"].as_sequence().map(Vec::len), Some(0));
    let cells = m["cells"].as_sequence().expect("cells");
    assert_eq!(cells.len(), 2, "{m:?}");
    for (from, to, to_lab) in [(&a, &b, lab.public_addr(1)), (&b, &a, lab.public_addr(0))] {
        let cell = cells
            .iter()
            .find(|c| c["from"].as_str() == Some(&from.addr()))
            .expect("cell");
        assert_eq!(cell["to"].as_str(), Some(to.addr().as_str()));
        assert_eq!(cell["state"].as_str(), Some("up"));
        assert_eq!(cell["asymmetric"].as_bool(), Some(false));
        assert!(cell["handshakeAgeSeconds"].as_u64().is_some(), "{cell:?}");
        let endpoint = cell["endpoint"].as_str().expect("endpoint");
        assert!(endpoint.starts_with(&format!("{to_lab}:")), "{endpoint}");
    }
    let keys: Vec<&str> = m["nodes"]
        .as_sequence()
        .expect("nodes")
        .iter()
        .map(|n| n["keySource"].as_str().expect("keySource"))
        .collect();
    assert_eq!(keys, ["identity", "identity"]);

    // A reader may not read KubeSpanIdentities: the affiliate vouches for it, and says so.
    let reader = cluster.dir.path().join("reader");
    ok(
        &cluster.weftctl(&[
            "-n",
            &a.addr(),
            "config",
            "new",
            reader.to_str().expect("utf8"),
            "--roles",
            "os:reader",
        ]),
        "config new --roles os:reader",
    );
    let out = Command::new(bin("weftctl"))
        .args(["-n", &both, "health"])
        .env("WEFTCONFIG", &reader)
        .stdin(Stdio::null())
        .output()
        .expect("weftctl");
    let text = ok(&out, "health as os:reader");
    assert!(
        text.contains("(from the node's affiliate: KubeSpanIdentities is sensitive and this client is not os:admin)"),
        "{text}"
    );

    // kill -9 one node: its API fails at once, and the other sees it down (its affiliate stays
    // with the service until its TTL, so it stays a peer).
    b.kill();
    let out = cluster.weftctl(&["-n", &both, "health"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let api_line = text
        .lines()
        .find(|l| l.starts_with(&b.addr()) && l.contains(" api "))
        .unwrap_or_else(|| panic!("no api line for {} in {text}", b.addr()));
    assert!(api_line.contains("FAIL"), "{api_line}");
    let err = stderr(&out);
    assert!(
        err.starts_with("error: not healthy: ") && err.contains(&format!("{} (api)", b.addr())),
        "{err}"
    );
    let report = wait_until(&format!("{} to see {} down", a.name, b.name), || {
        let out = cluster.weftctl(&["-n", &a.addr(), "health", "-o", "json"]);
        let report = json(&out);
        (out.status.code() == Some(1)).then_some(report)
    });
    assert_eq!(
        checks(&report, &a.addr()),
        pairs(&[
            ("api", "pass"),
            ("identity", "pass"),
            ("discovery", "pass"),
            ("peers", "fail"),
        ])
    );
    let peers = &report["nodes"][0]["checks"][3];
    let detail = peers["details"][0].as_str().expect("a detail");
    assert!(
        detail.starts_with("h2 (") && detail.ends_with("): down"),
        "{detail}"
    );
}
