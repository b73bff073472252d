//! Two `weftctl cluster create` labs on one host never break each other: each has its own host
//! link, namespaces, WireGuard links and UAPI sockets; a third whose `--cidr` overlaps one of them
//! is refused before it creates anything, naming the cluster it collides with; destroying one lab
//! leaves the other healthy (its peers up, `wg show` on its links working) and its context current.
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use weft_e2e::privileged;

/// Where userspace WireGuard devices put their UAPI sockets (`wg` looks there).
const UAPI_DIR: &str = "/var/run/wireguard";

/// The UAPI sockets on the host now.
fn sockets() -> BTreeSet<String> {
    fs::read_dir(UAPI_DIR)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sock"))
                .collect()
        })
        .unwrap_or_default()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `KubeSpanPeerStatus` rows of a `get kubespanpeerstatuses` table, and how many are `up`.
fn peer_rows(table: &str) -> (usize, usize) {
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("KubeSpanPeerStatus"))
        .collect();
    let up = rows
        .iter()
        .filter(|l| l.split_whitespace().nth(7) == Some("up"))
        .count();
    (rows.len(), up)
}

/// The namespaces of the host whose names start with `prefix`.
fn namespaces_of(prefix: &str) -> Vec<String> {
    weft_lab::netns::list()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn two_labs_side_by_side_and_destroying_one_keeps_the_other() {
    if !privileged("two_labs_side_by_side_and_destroying_one_keeps_the_other") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("clusters");
    let state_arg = state.to_str().expect("utf8").to_owned();
    let cfg = dir.path().join("weftconfig");
    let weftctl = |args: &[&str]| -> Output {
        Command::new(weft_e2e::bin("weftctl"))
            .args(args)
            .env("WEFTCONFIG", &cfg)
            .env_remove("TALOSCONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("weftctl")
    };
    let id = std::process::id() % 100_000;
    let (a, b, c) = (
        format!("laba{id}"),
        format!("labb{id}"),
        format!("labc{id}"),
    );
    let create = |name: &str, cidr: &str| {
        weftctl(&[
            "cluster",
            "create",
            "--name",
            name,
            "--workers",
            "1",
            "--cidr",
            cidr,
            "--state",
            &state_arg,
        ])
    };
    let destroy =
        |name: &str| weftctl(&["cluster", "destroy", "--name", name, "--state", &state_arg]);
    // Whatever fails below, nothing is left behind.
    struct Cleanup<'a>(Box<dyn Fn() + 'a>);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _cleanup = Cleanup(Box::new(|| {
        for name in [&a, &b, &c] {
            let _ = destroy(name);
        }
    }));

    let before = sockets();
    let first = create(&a, "10.202.81.0/24");
    assert!(
        first.status.success(),
        "cluster {a}: {}\n{}",
        text(&first.stderr),
        text(&first.stdout)
    );
    let a_sockets: BTreeSet<String> = sockets().difference(&before).cloned().collect();
    assert_eq!(
        a_sockets.len(),
        2,
        "one UAPI socket per node of {a}: {a_sockets:?}"
    );
    assert_eq!(
        peer_rows(&text(&first.stdout)),
        (2, 2),
        "{}",
        text(&first.stdout)
    );

    // Overlapping the first lab's network: refused, naming it, with nothing created.
    let overlapping = create(&c, "10.202.81.128/25");
    let why = text(&overlapping.stderr);
    assert_eq!(overlapping.status.code(), Some(1), "{why}");
    assert!(why.contains(&format!("cluster \"{a}\"")), "{why}");
    assert!(why.contains("nothing was created"), "{why}");
    assert!(namespaces_of(&format!("weft-{c}-")).is_empty());
    assert!(!state.join(&c).exists(), "no state for a refused cluster");

    // The same name again: refused too (its host-global names exist).
    let same = create(&a, "10.202.83.0/24");
    assert_eq!(same.status.code(), Some(1), "{}", text(&same.stderr));

    let second = create(&b, "10.202.82.0/24");
    assert!(
        second.status.success(),
        "cluster {b}: {}\n{}",
        text(&second.stderr),
        text(&second.stdout)
    );
    assert_eq!(
        peer_rows(&text(&second.stdout)),
        (2, 2),
        "{}",
        text(&second.stdout)
    );
    let b_sockets: BTreeSet<String> = sockets()
        .difference(&before)
        .filter(|s| !a_sockets.contains(*s))
        .cloned()
        .collect();
    assert_eq!(b_sockets.len(), 2, "{b}'s own UAPI sockets: {b_sockets:?}");

    // Both healthy at once, each through its own context.
    for name in [&a, &b] {
        let got = weftctl(&["--context", name, "get", "kubespanpeerstatuses"]);
        assert!(got.status.success(), "{name}: {}", text(&got.stderr));
        assert_eq!(
            peer_rows(&text(&got.stdout)),
            (2, 2),
            "{name}: {}",
            text(&got.stdout)
        );
    }

    let gone = destroy(&b);
    assert!(gone.status.success(), "{}", text(&gone.stderr));
    assert!(namespaces_of(&format!("weft-{b}-")).is_empty());
    for socket in &b_sockets {
        assert!(!Path::new(UAPI_DIR).join(socket).exists(), "{socket} kept");
    }

    // The first lab is untouched: its sockets answer `wg show`, its peers are up, and its context
    // is current again (the second's was removed with it).
    for socket in &a_sockets {
        let link = socket.trim_end_matches(".sock");
        let wg = Command::new("wg")
            .args(["show", link])
            .output()
            .expect("wg show");
        assert!(
            wg.status.success() && text(&wg.stdout).contains("peer:"),
            "wg show {link}: {}{}",
            text(&wg.stdout),
            text(&wg.stderr)
        );
    }
    let got = weftctl(&["get", "kubespanpeerstatuses"]);
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert_eq!(
        peer_rows(&text(&got.stdout)),
        (2, 2),
        "{}",
        text(&got.stdout)
    );
    let contexts = weftctl(&["config", "contexts"]);
    let listed = text(&contexts.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with('*') && l.contains(a.as_str())),
        "{a} current: {listed}"
    );
    assert!(
        !listed.contains(b.as_str()),
        "{b}'s context removed: {listed}"
    );

    let gone = destroy(&a);
    assert!(gone.status.success(), "{}", text(&gone.stderr));
    for socket in &a_sockets {
        assert!(!Path::new(UAPI_DIR).join(socket).exists(), "{socket} kept");
    }
}
