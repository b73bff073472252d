//! External peers end to end: `weftctl external-peer add|remove` against real weftd.
//!
//! - On loopback (no data plane): flags checked by weftctl and again by the node, each message
//!   naming the flag; admin only; the peer persisted in the state directory across a restart,
//!   listed by `weftctl get externalpeers`, and removed.
//! - Privileged (a lab like `mesh.rs`): a weft-discovery, two weftd, and a third namespace running
//!   Debian's wireguard-go configured with `wg` as a plain WireGuard device. Published through one
//!   node, it becomes a peer of both, up, with `ping -6` working both ways between it and each
//!   node's KubeSpan address; removed, it disappears from both nodes' peer specs. Skipped with a
//!   reason without root or the tools (wireguard-go, wireguard-tools, iputils-ping); fails under
//!   `CI=true`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use weft_e2e::{
    Cluster, DiscoveryService, Lab, Node, in_ns, ok, privileged, stderr, tools_present, wait_until,
    yaml_docs,
};
use yaml_serde::Value;

/// A valid WireGuard public key (not any node's).
const KEY: &str = "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=";

/// `weftctl get TYPE -o yaml` on `node` (with extra arguments); empty if the call fails.
fn get(cluster: &Cluster, node: &Node, ty: &str, extra: &[&str]) -> Vec<Value> {
    let addr = node.addr();
    let mut args = vec!["-n", &addr, "get", ty, "-o", "yaml"];
    args.extend_from_slice(extra);
    let out = cluster.weftctl(&args);
    if !out.status.success() {
        return Vec::new();
    }
    yaml_docs(&String::from_utf8_lossy(&out.stdout))
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .filter_map(|d| d["metadata"]["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn external_peers_are_checked_persisted_and_removed() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", false);
    node.start(&cluster);
    let n = node.addr();
    let add = |extra: &[&str]| {
        let mut args = vec!["-n", n.as_str(), "external-peer", "add"];
        args.extend_from_slice(extra);
        cluster.weftctl(&args)
    };

    // Refused by weftctl: a usage error naming the flag, before any node is asked.
    for (args, flag) in [
        (
            vec!["router", "--public-key", "short", "--address", "10.99.0.1"],
            "--public-key",
        ),
        (
            vec![
                "router",
                "--public-key",
                KEY,
                "--endpoint",
                "192.0.2.7",
                "--address",
                "10.99.0.1",
            ],
            "--endpoint",
        ),
        (
            vec!["router", "--public-key", KEY, "--address", "10.99.0.1/24"],
            "--address",
        ),
        (
            vec!["Router", "--public-key", KEY, "--address", "10.99.0.1"],
            "<NAME>",
        ),
        (vec!["router", "--public-key", KEY], "--address"),
    ] {
        let out = add(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
    // Refused by the node: its limits, also naming the flag.
    let out = add(&["router", "--public-key", KEY, "--address", "0.0.0.0/0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--address 0.0.0.0/0: a default route"),
        "{}",
        stderr(&out)
    );
    let many: Vec<String> = (0..65).map(|i| format!("10.1.{i}.0/24")).collect();
    let out = add(&["router", "--public-key", KEY, "--address", &many.join(",")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--address: 65 given, at most 64"),
        "{}",
        stderr(&out)
    );

    // Added: listed, its affiliate ready to publish, and saved in the state directory.
    let out = add(&[
        "router",
        "--public-key",
        KEY,
        "--endpoint",
        "192.0.2.7:51820",
        "--address",
        "10.99.0.1,192.168.50.0/24",
    ]);
    assert_eq!(
        ok(&out, "external-peer add"),
        format!(
            "{n}: external peer router added, published as affiliate external-router (no KubeSpan address: routed by its addresses)\n"
        )
    );
    let listed = get(&cluster, &node, "externalpeers", &[]);
    assert_eq!(ids(&listed), ["router"]);
    assert_eq!(listed[0]["spec"]["publicKey"].as_str(), Some(KEY));
    assert_eq!(
        listed[0]["spec"]["endpoint"].as_str(),
        Some("192.0.2.7:51820")
    );
    let published = get(
        &cluster,
        &node,
        "affiliates",
        &["--namespace", "cluster-external"],
    );
    assert_eq!(ids(&published), ["external-router"]);
    assert_eq!(
        published[0]["spec"]["machineType"].as_str(),
        Some("unknown")
    );
    let file = node.state_dir.join("external-peers.yaml");
    let text = fs::read_to_string(&file).expect("saved");
    assert!(text.contains(KEY), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let table = ok(
        &cluster.weftctl(&["-n", &n, "get", "eps"]),
        "get eps (the alias)",
    );
    assert!(
        table.starts_with("NODE ") && table.contains("PUBLICKEY") && table.contains("router"),
        "{table}"
    );

    // Admins only.
    ok(
        &cluster.weftctl(&[
            "-n",
            &n,
            "config",
            "new",
            "reader.yaml",
            "--roles",
            "os:reader",
        ]),
        "config new",
    );
    let out = Command::new(weft_e2e::bin("weftctl"))
        .args(["-n", &n, "external-peer", "remove", "router"])
        .env("WEFTCONFIG", cluster.dir.path().join("reader.yaml"))
        .stdin(Stdio::null())
        .output()
        .expect("weftctl");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("os:admin"), "{}", stderr(&out));

    // Kept across a restart.
    assert!(node.stop().success(), "{}", node.log_text());
    node.start(&cluster);
    assert_eq!(ids(&get(&cluster, &node, "externalpeers", &[])), ["router"]);
    // Adding it again replaces it.
    let out = add(&["router", "--public-key", KEY, "--address", "10.99.0.2"]);
    assert!(
        ok(&out, "add again").contains("external peer router updated"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Removed: gone from the list, the published affiliates and the file.
    let out = cluster.weftctl(&["-n", &n, "external-peer", "remove", "router"]);
    assert!(
        ok(&out, "remove").contains("external peer router removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(get(&cluster, &node, "externalpeers", &[]).is_empty());
    assert!(
        get(
            &cluster,
            &node,
            "affiliates",
            &["--namespace", "cluster-external"]
        )
        .is_empty()
    );
    assert!(!fs::read_to_string(&file).expect("file").contains(KEY));
    let out = cluster.weftctl(&["-n", &n, "external-peer", "remove", "router"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no external peer \"router\""),
        "{}",
        stderr(&out)
    );
}

fn must(out: weft_lab::Output, what: &str) -> String {
    assert!(out.success, "{what}: {}{}", out.stdout, out.stderr);
    out.stdout.trim().to_owned()
}

/// `wg args…` fed `stdin` (a key generated or derived), trimmed.
fn wg_key(args: &[&str], stdin: Option<&str>) -> String {
    let out = weft_lab::cmd::check("wg", args, stdin).unwrap_or_else(|e| panic!("{e}"));
    out.trim().to_owned()
}

/// Debian's wireguard-go on interface `link` in namespace `ns`, run in the foreground so this
/// test owns the process: killed (and its UAPI socket removed) on drop.
#[derive(Debug)]
struct WireguardGo {
    link: String,
    child: Option<Child>,
    log: PathBuf,
}

impl WireguardGo {
    fn start(ns: &str, link: &str, log: &Path) -> WireguardGo {
        let socket = PathBuf::from(format!("/var/run/wireguard/{link}.sock"));
        let _ = fs::remove_file(&socket);
        let file = fs::File::create(log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "wireguard-go", link])
            .env("WG_PROCESS_FOREGROUND", "1")
            .env("LOG_LEVEL", "verbose")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn wireguard-go");
        let mut device = WireguardGo {
            link: link.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        };
        wait_until("wireguard-go to create its UAPI socket", || {
            if let Some(status) = device
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("wireguard-go exited with {status}: {}", device.log_text());
            }
            socket.exists().then_some(())
        });
        device
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WireguardGo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_file(format!("/var/run/wireguard/{}.sock", self.link));
    }
}

/// A node of the lab pointed at `discovery`, named `name`.
fn lab_node(cluster: &Cluster, lab: &mut Lab, name: &str, i: u8, discovery: &str) -> Node {
    let mut n = cluster.node(name, true);
    let mut cfg: Value =
        yaml_serde::from_str(&fs::read_to_string(&n.config).expect("read")).expect("yaml");
    cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] = Value::from(discovery);
    cfg["machine"]["network"]["hostname"] = Value::from(name);
    fs::write(&n.config, yaml_serde::to_string(&cfg).expect("yaml")).expect("write");
    lab.place(&mut n, i);
    n
}

/// (public key, KubeSpan address, KubeSpan subnet) of `node`.
fn identity(cluster: &Cluster, node: &Node) -> (String, String, ipnet::Ipv6Net) {
    let d = wait_until("the KubeSpan identity", || {
        get(cluster, node, "kubespanidentities", &[])
            .into_iter()
            .next()
    });
    let field = |k: &str| d["spec"][k].as_str().expect("identity field").to_owned();
    (
        field("publicKey"),
        field("address").trim_end_matches("/128").to_owned(),
        field("subnet").parse().expect("subnet"),
    )
}

/// The state of `node`'s peer `key`, if it has one.
fn peer_state(cluster: &Cluster, node: &Node, key: &str) -> Option<String> {
    get(cluster, node, "kubespanpeerstatuses", &[])
        .into_iter()
        .find(|d| d["metadata"]["id"].as_str() == Some(key))
        .map(|d| d["spec"]["state"].as_str().unwrap_or_default().to_owned())
}

fn has_peer_spec(cluster: &Cluster, node: &Node, key: &str) -> bool {
    ids(&get(cluster, node, "kubespanpeerspecs", &[])).contains(&key.to_owned())
}

#[test]
#[ignore = "needs root"]
fn a_wireguard_go_device_joins_the_mesh_as_an_external_peer() {
    const TEST: &str = "a_wireguard_go_device_joins_the_mesh_as_an_external_peer";
    if !privileged(TEST)
        || !tools_present(
            TEST,
            &[
                ("wireguard-go", "wireguard-go"),
                ("wg", "wireguard-tools"),
                ("ping", "iputils-ping"),
            ],
        )
    {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut nodes: Vec<Node> = (0..2u8)
        .map(|i| lab_node(&cluster, &mut lab, &format!("x{}", i + 1), i, &disco.url()))
        .collect();
    for n in &mut nodes {
        n.start(&cluster);
    }
    let ids_of: Vec<(String, String, ipnet::Ipv6Net)> =
        nodes.iter().map(|n| identity(&cluster, n)).collect();
    let subnet = ids_of[0].2;
    for n in &nodes {
        wait_until(
            &format!("{}: its peer up ({})", n.name, n.log_text()),
            || {
                let peers = get(&cluster, n, "kubespanpeerstatuses", &[]);
                (peers.len() == 1 && peers[0]["spec"]["state"].as_str() == Some("up")).then_some(())
            },
        );
    }

    // The external device: its own namespace on the lab bridge, wireguard-go configured by `wg`.
    let (ext_ns, ext_ip) = lab.add_host(2);
    let link = lab.link_name(2);
    let dir = cluster.dir.path();
    let device = WireguardGo::start(&ext_ns, &link, &dir.join("wireguard-go.log"));
    let private = wg_key(&["genkey"], None);
    let key_file = dir.join("ext.key");
    fs::write(&key_file, format!("{private}\n")).expect("write key");
    let public = wg_key(&["pubkey"], Some(&format!("{private}\n")));
    // KubeSpan uses the cluster secret as every peer's preshared key.
    let secrets: Value =
        yaml_serde::from_str(&fs::read_to_string(&cluster.secrets).expect("secrets"))
            .expect("yaml");
    let psk_file = dir.join("ext.psk");
    fs::write(
        &psk_file,
        format!(
            "{}\n",
            secrets["cluster"]["secret"].as_str().expect("secret")
        ),
    )
    .expect("write psk");
    let mut octets = subnet.network().octets();
    octets[15] = 0xee;
    let ext_ula = std::net::Ipv6Addr::from(octets).to_string();
    let (key_path, psk_path) = (
        key_file.to_str().expect("utf8").to_owned(),
        psk_file.to_str().expect("utf8").to_owned(),
    );
    let mut wg_set: Vec<String> = [
        "wg",
        "set",
        &link,
        "private-key",
        &key_path,
        "listen-port",
        "51820",
    ]
    .map(str::to_owned)
    .to_vec();
    for (n, (key, ula, _)) in nodes.iter().zip(&ids_of) {
        let node_ip = n
            .api
            .rsplit_once(':')
            .map(|(ip, _)| ip)
            .expect("lab address");
        wg_set.extend(
            [
                "peer",
                key,
                "preshared-key",
                &psk_path,
                "endpoint",
                &format!("{node_ip}:51820"),
                "allowed-ips",
                &format!("{ula}/128"),
                "persistent-keepalive",
                "25",
            ]
            .map(str::to_owned),
        );
    }
    let wg_set: Vec<&str> = wg_set.iter().map(String::as_str).collect();
    must(in_ns(&ext_ns, &wg_set), "wg set");
    must(
        in_ns(
            &ext_ns,
            &["ip", "addr", "add", &format!("{ext_ula}/64"), "dev", &link],
        ),
        "ip addr add",
    );
    must(
        in_ns(&ext_ns, &["ip", "link", "set", &link, "up"]),
        "ip link set up",
    );

    // Published through node 1 only.
    let out = cluster.weftctl(&[
        "-n",
        &nodes[0].addr(),
        "external-peer",
        "add",
        "ext",
        "--public-key",
        &public,
        "--endpoint",
        &format!("{ext_ip}:51820"),
        "--address",
        &ext_ula,
    ]);
    assert!(
        ok(&out, "external-peer add").contains(&format!("KubeSpan address {ext_ula}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in &nodes {
        wait_until(
            &format!(
                "{}: the external peer up (node log: {}; wireguard-go: {})",
                n.name,
                n.log_text(),
                device.log_text()
            ),
            || (peer_state(&cluster, n, &public).as_deref() == Some("up")).then_some(()),
        );
        let spec = get(&cluster, n, "kubespanpeerspecs", &[])
            .into_iter()
            .find(|d| d["metadata"]["id"].as_str() == Some(public.as_str()))
            .expect("peer spec");
        assert_eq!(spec["spec"]["label"].as_str(), Some("ext"));
        assert_eq!(spec["spec"]["address"].as_str(), Some(ext_ula.as_str()));
    }

    // ping -6 both ways between the device and each node's KubeSpan address.
    for (n, (_, ula, _)) in nodes.iter().zip(&ids_of) {
        let ns = n.netns.as_deref().expect("node namespace");
        for (from, to) in [(ns, ext_ula.as_str()), (ext_ns.as_str(), ula.as_str())] {
            let out = in_ns(from, &["ping", "-6", "-c", "2", "-W", "3", to]);
            assert!(out.success, "{from} → {to}: {}", out.stdout);
        }
    }

    // Removed: both nodes drop it.
    ok(
        &cluster.weftctl(&["-n", &nodes[0].addr(), "external-peer", "remove", "ext"]),
        "external-peer remove",
    );
    for n in &nodes {
        wait_until(&format!("{}: the external peer gone", n.name), || {
            (!has_peer_spec(&cluster, n, &public)).then_some(())
        });
    }
    drop(device);
}
