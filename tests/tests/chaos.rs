//! Network chaos in the lab, end to end: `weftctl cluster create --with-network-*` and
//! `weftctl cluster chaos` on a real two-node cluster, checked with ping between the namespaces.
//!
//! - the netem flags are refused up front where the kernel has no sch_netem (and every chaos flag
//!   without `--with-network-chaos`), and nothing is created;
//! - `--with-network-packet-loss`/`--with-network-bandwidth` put the nft table and the tbf qdiscs
//!   in place at create;
//! - `--partition 1,2` drops everything between the two nodes while both still reach the host;
//!   repeating it changes nothing; `--heal` restores it;
//! - `--loss 100` on a node cuts it off; `--clear` restores it and leaves no table behind;
//! - `--bandwidth` shapes both ends of the node's link.
//!
//! The cluster is destroyed at the end, also when the test fails. Pings go only to the cluster's
//! own addresses, three echoes each.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use weft_e2e::{bin, in_ns, ok, privileged, stderr, tools_present};

/// A `weftctl cluster create` cluster, destroyed on drop.
struct LabCluster {
    name: String,
    state: tempfile::TempDir,
    destroyed: bool,
}

impl LabCluster {
    fn new() -> LabCluster {
        LabCluster {
            name: format!("chaos{}", std::process::id() % 100_000),
            state: tempfile::tempdir().expect("tempdir"),
            destroyed: false,
        }
    }

    fn state_dir(&self) -> &Path {
        self.state.path()
    }

    fn weftconfig(&self) -> PathBuf {
        self.state.path().join("weftconfig")
    }

    /// Runs `weftctl cluster <sub> --name N --state S extra…` with the cluster's client config.
    fn weftctl(&self, sub: &str, extra: &[&str]) -> Output {
        let state = self.state_dir().to_str().expect("utf8").to_owned();
        let weftconfig = self.weftconfig();
        let mut args = vec![
            "--weftconfig",
            weftconfig.to_str().expect("utf8"),
            "cluster",
            sub,
            "--name",
            &self.name,
            "--state",
            &state,
        ];
        args.extend(extra);
        Command::new("timeout")
            .arg("300")
            .arg(bin("weftctl"))
            .args(&args)
            .stdin(Stdio::null())
            .env_remove("WEFTCONFIG")
            .output()
            .expect("run weftctl")
    }

    fn chaos(&self, extra: &[&str]) -> String {
        ok(
            &self.weftctl("chaos", extra),
            &format!("cluster chaos {extra:?}"),
        )
    }

    fn ns(&self, i: usize) -> String {
        format!("weft-{}-{i}", self.name)
    }

    fn switch_ns(&self) -> String {
        format!("weft-{}-sw", self.name)
    }

    fn namespaces_left(&self) -> Vec<String> {
        let prefix = format!("weft-{}-", self.name);
        weft_lab::netns::list()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    fn destroy(&mut self) {
        self.destroyed = true;
        ok(&self.weftctl("destroy", &[]), "cluster destroy");
        assert_eq!(self.namespaces_left(), Vec::<String>::new());
    }
}

impl Drop for LabCluster {
    fn drop(&mut self) {
        if !self.destroyed && self.state_dir().join(&self.name).exists() {
            let out = self.weftctl("destroy", &[]);
            if !out.status.success() {
                eprintln!("cluster destroy failed: {}", stderr(&out));
            }
        }
    }
}

/// Whether three echoes to `addr`, from namespace `ns` (the host when `None`), get any reply.
fn reaches(ns: Option<&str>, addr: &str) -> bool {
    let ping = ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", addr];
    match ns {
        Some(ns) => in_ns(ns, &ping).success,
        None => weft_lab::cmd::run_with(
            ping[0],
            &ping[1..],
            None,
            std::time::Duration::from_secs(20),
        )
        .is_ok_and(|out| out.success),
    }
}

/// The lab's nft table in `ns`, or `None` when there is none.
fn lab_table(ns: &str) -> Option<String> {
    let out = in_ns(ns, &["nft", "list", "table", "inet", "weftlab"]);
    out.success.then_some(out.stdout)
}

fn root_qdisc(ns: &str, dev: &str) -> String {
    let out = Command::new("tc")
        .args(["-n", ns, "qdisc", "show", "dev", dev, "root"])
        .output()
        .expect("tc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the kernel has sch_netem (the same probe weftctl makes).
fn kernel_has_netem() -> bool {
    Command::new("unshare")
        .args(["--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem"])
        .args(["delay", "1ms"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[ignore = "needs root"]
fn network_chaos_in_the_lab() {
    if !privileged("network_chaos_in_the_lab")
        || !tools_present(
            "network_chaos_in_the_lab",
            &[
                ("nft", "nftables"),
                ("ping", "iputils-ping"),
                ("tc", "iproute2"),
                ("unshare", "util-linux"),
            ],
        )
    {
        return;
    }
    let mut cluster = LabCluster::new();
    let subnet = std::process::id() % 250;
    let cidr = format!("10.78.{subnet}.0/24");
    let (host, addr1, addr2) = (
        format!("10.78.{subnet}.1"),
        format!("10.78.{subnet}.2"),
        format!("10.78.{subnet}.3"),
    );
    let create = |extra: &[&str]| {
        let mut args = vec!["--cidr", &cidr, "--workers", "1"];
        args.extend(extra);
        cluster.weftctl("create", &args)
    };

    // Refused up front, nothing created: a chaos flag without --with-network-chaos …
    let out = create(&["--with-network-latency", "10ms"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("can only be used with --with-network-chaos"),
        "{}",
        stderr(&out)
    );
    // … and netem's flags where the kernel has no netem.
    if kernel_has_netem() {
        eprintln!(
            "this kernel has sch_netem: the refusal of --with-network-latency is not checked"
        );
    } else {
        let out = create(&["--with-network-chaos", "--with-network-latency", "10ms"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("--with-network-latency") && err.contains("sch_netem"),
            "{err}"
        );
    }
    assert!(!cluster.state_dir().join(&cluster.name).exists());
    assert_eq!(cluster.namespaces_left(), Vec::<String>::new());

    // Loss and bandwidth at create: on every node's link, both ends.
    ok(
        &create(&[
            "--with-network-chaos",
            "--with-network-packet-loss",
            "0.01",
            "--with-network-bandwidth",
            "100000",
        ]),
        "cluster create with loss and bandwidth",
    );
    for i in [1, 2] {
        let table = lab_table(&cluster.ns(i)).expect("a weftlab table");
        assert_eq!(
            table.matches("numgen random mod 10000 < 100 drop").count(),
            2,
            "{table}"
        );
        for (ns, dev) in [
            (cluster.ns(i), "eth0".to_owned()),
            (cluster.switch_ns(), format!("n{i}")),
        ] {
            let qdisc = root_qdisc(&ns, &dev);
            assert!(
                qdisc.contains("tbf") && qdisc.contains("rate 100Mbit"),
                "{ns} {dev}: {qdisc}"
            );
        }
    }
    cluster.chaos(&["--clear"]);
    for i in [1, 2] {
        assert_eq!(lab_table(&cluster.ns(i)), None);
        assert!(!root_qdisc(&cluster.ns(i), "eth0").contains("tbf"));
    }
    assert!(reaches(Some(&cluster.ns(1)), &addr2));

    // A partition: 1 and 2 lose each other, both still reach the host and the host both.
    let printed = cluster.chaos(&["--partition", "1,2"]);
    assert!(printed.contains("partitioned from 2"), "{printed}");
    let rules = lab_table(&cluster.ns(1)).expect("table");
    cluster.chaos(&["--partition", "2,1"]);
    assert_eq!(
        lab_table(&cluster.ns(1)).expect("table"),
        rules,
        "idempotent"
    );
    assert!(!reaches(Some(&cluster.ns(1)), &addr2), "1 -> 2 partitioned");
    assert!(!reaches(Some(&cluster.ns(2)), &addr1), "2 -> 1 partitioned");
    assert!(reaches(Some(&cluster.ns(1)), &host), "1 -> host");
    assert!(reaches(Some(&cluster.ns(2)), &host), "2 -> host");
    assert!(reaches(None, &addr1), "host -> 1");
    assert!(reaches(None, &addr2), "host -> 2");
    cluster.chaos(&["--heal", "1,2"]);
    assert!(reaches(Some(&cluster.ns(1)), &addr2), "healed");

    // Loss 100 % on node 2: nothing reaches it; node 1 is untouched.
    cluster.chaos(&["--node", "2", "--loss", "100"]);
    assert!(!reaches(None, &addr2), "host -> 2 at 100 % loss");
    assert!(
        !reaches(Some(&cluster.ns(1)), &addr2),
        "1 -> 2 at 100 % loss"
    );
    assert!(reaches(None, &addr1), "host -> 1");
    cluster.chaos(&["--clear", "--node", "2"]);
    assert!(reaches(None, &addr2), "host -> 2 cleared");
    assert!(reaches(Some(&cluster.ns(1)), &addr2), "1 -> 2 cleared");
    assert_eq!(lab_table(&cluster.ns(2)), None);
    let state_file =
        std::fs::read_to_string(cluster.state_dir().join(&cluster.name).join("cluster.yaml"))
            .expect("state file");
    assert!(!state_file.contains("chaos:"), "{state_file}");

    // Bandwidth on one node: both ends of its link.
    cluster.chaos(&["--node", "1", "--bandwidth", "1000"]);
    assert!(root_qdisc(&cluster.ns(1), "eth0").contains("rate 1Mbit"));
    assert!(root_qdisc(&cluster.switch_ns(), "n1").contains("rate 1Mbit"));
    assert!(!root_qdisc(&cluster.ns(2), "eth0").contains("tbf"));
    cluster.chaos(&["--clear"]);
    assert!(!root_qdisc(&cluster.ns(1), "eth0").contains("tbf"));
    assert!(!root_qdisc(&cluster.switch_ns(), "n1").contains("tbf"));

    // A node the cluster does not have.
    let out = cluster.weftctl("chaos", &["--node", "3", "--loss", "1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--node: the cluster has nodes 1 to 2, not 3"),
        "{}",
        stderr(&out)
    );

    cluster.destroy();
}
