//! A script written for talosctl runs unchanged against a real Weft mesh (issue 16): weftctl
//! installed under the name `talosctl`, `--talosconfig ./talosconfig`, `-n`, `get
//! kubespanpeerstatuses -o jsonpath='{.spec.state}'`, Talos's full type names and `version`'s
//! Server section; shell completion lists ids from the node. And a stale client config (another
//! cluster's CA) is named as such.
//!
//! A real weft-discovery and two real weftd, each in its own network namespace on a private
//! bridge, with the userspace WireGuard data plane. Privileged: runs as root (CI); fails under
//! `CI=true` when something is missing.

use std::process::{Command, Output, Stdio};

use weft_e2e::{Cluster, DiscoveryService, Lab, Node, bin, ok, privileged, stderr, wait_until};

fn node(cluster: &Cluster, lab: &mut Lab, name: &str, i: u8, discovery: &str) -> Node {
    let mut n = cluster.node_with_discovery(name, discovery);
    lab.place(&mut n, i);
    n
}

/// Runs `script` with `sh` in `dir`, a `talosctl` (weftctl under that name) first on PATH and no
/// Weft environment, as a talosctl user's shell would.
fn sh(dir: &std::path::Path, script: &str) -> Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("WEFTCONFIG")
        .env_remove("TALOSCONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

#[test]
#[ignore = "needs root"]
fn a_talosctl_script_runs_unchanged() {
    if !privileged("a_talosctl_script_runs_unchanged") {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut disco = DiscoveryService::new(cluster.dir.path(), "disco", &[]).on(&lab.gateway);
    disco.start();
    let mut a = node(&cluster, &mut lab, "t1", 0, &disco.url());
    let mut b = node(&cluster, &mut lab, "t2", 1, &disco.url());
    a.start(&cluster);
    b.start(&cluster);
    let both = format!("{},{}", a.addr(), b.addr());
    ok(
        &cluster.weftctl(&["-n", &both, "health", "--wait-timeout", "60s"]),
        "health --wait-timeout 60s",
    );

    // The talosctl user's setup: the binary under talosctl's name, the client config as
    // ./talosconfig.
    let user = tempfile::tempdir().expect("tempdir");
    let u = user.path();
    std::fs::create_dir(u.join("bin")).expect("bin dir");
    std::os::unix::fs::symlink(bin("weftctl"), u.join("bin/talosctl")).expect("symlink");
    std::fs::copy(&cluster.weftconfig, u.join("talosconfig")).expect("copy talosconfig");

    let node = a.addr();
    let script = format!(
        "talosctl --talosconfig ./talosconfig -n {node} get kubespanpeerstatuses -o jsonpath='{{.spec.state}}'"
    );
    // The peer comes up once a handshake is seen; the script's answer is `up`.
    let states = wait_until("t1 to see its peer up through the talosctl script", || {
        let out = sh(u, &script);
        assert!(out.status.success(), "{script}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (text == "up").then_some(text)
    });
    assert_eq!(states, "up");

    // Talos's full type names and TALOSCONFIG.
    let out = sh(
        u,
        &format!(
            "TALOSCONFIG=./talosconfig talosctl -n {node} get KubeSpanPeerStatuses.kubespan.talos.dev -o jsonpath='{{.spec.state}}'"
        ),
    );
    assert_eq!(ok(&out, "full type name").trim(), "up");

    // version: the client, then a Server section per node.
    let out = sh(
        u,
        &format!("talosctl --talosconfig ./talosconfig -n {both} version"),
    );
    let text = ok(&out, "version");
    assert!(text.starts_with("Client:\n\tTag:         v"), "{text}");
    for n in [&a, &b] {
        assert!(
            text.contains(&format!(
                "Server:\n\tNODE:        {}\n\tTag:         v",
                n.addr()
            )),
            "{text}"
        );
    }

    // Shell completion of ids asks the node: the committed bash script, as bash runs it.
    let mut want: Vec<String> = cluster
        .get(&a, "members")
        .iter()
        .filter_map(|d| d["metadata"]["id"].as_str().map(str::to_owned))
        .collect();
    want.sort();
    assert_eq!(want.len(), 2, "{want:?}");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions/weftctl.bash");
    let driver = format!(
        "source '{}'\nCOMP_WORDS=(weftctl -n {node} get members '')\nCOMP_CWORD=5\nCOMP_TYPE=9\n_clap_complete_weftctl weftctl '' members\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display()
    );
    let bins = bin("weftctl");
    let out = Command::new("bash")
        .args(["--norc", "-c", &driver])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bins.parent().expect("bin dir").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("WEFTCONFIG", &cluster.weftconfig)
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        // Flags are offered next to the ids for an empty word.
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .map(str::to_owned)
        .collect();
    got.sort();
    assert_eq!(got, want, "{}", stderr(&out));

    // Another cluster's client config: the node's certificate is not from its CA, and the
    // error says so, naming the context.
    let stale = Cluster::new();
    let out = Command::new(bin("weftctl"))
        .args(["--weftconfig", stale.weftconfig.to_str().expect("utf8")])
        .args(["-n", &node, "get", "members"])
        .stdin(Stdio::null())
        .output()
        .expect("weftctl");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the node's certificate is not from context \"e2e\"'s CA (")
            && err.contains("is the context stale?"),
        "{err}"
    );
}
