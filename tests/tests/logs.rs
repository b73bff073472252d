//! `weftctl logs` against two real weftd on loopback (mutual TLS, the real node API, no root):
//!
//! - a line weftd logs at start (`node API listening`) is in its log; `--tail 1` is one line;
//! - with two nodes, every line carries its node's prefix, and both nodes' lines are there;
//! - `-f --tail 1` on both nodes sees the line an action causes on one of them (`config new` logs `issued a
//!   client certificate`), prefixed with that node, and only from that node;
//! - stopping a node ends its followers' streams: weftd exits 0 at once, `logs -f` ends with 0;
//! - an os:reader client is refused (PermissionDenied, exit 1, the message naming the role);
//! - `--tail` over what weftd keeps is a usage error (exit 2) naming the bound.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use weft_e2e::{Cluster, bin, ok, stderr, wait_until};

/// `weftctl logs -f` running in the background, its stdout lines collected; killed on drop.
struct Follower {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Follower {
    fn start(cluster: &Cluster, nodes: &str) -> Follower {
        let mut child = Command::new(bin("weftctl"))
            .args(["-n", nodes, "logs", "-f", "--tail", "1"])
            .env("WEFTCONFIG", &cluster.weftconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("weftctl logs -f");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Follower { child, lines }
    }

    /// The exit code once weftctl has ended.
    fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logs_tail_follow_and_roles() {
    let cluster = Cluster::new();
    let mut a = cluster.node("la", false);
    let mut b = cluster.node("lb", false);
    a.start(&cluster);
    b.start(&cluster);
    let (na, nb) = (a.addr(), b.addr());
    let both = format!("{na},{nb}");

    // A line weftd logs at start, without a prefix for one node.
    let text = ok(&cluster.weftctl(&["-n", &na, "logs"]), "logs");
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO ") && l.contains("node API listening")),
        "{text}"
    );
    assert!(!text.contains(&format!("{na}: ")), "{text}");
    let one = ok(
        &cluster.weftctl(&["-n", &na, "logs", "--tail", "1"]),
        "--tail 1",
    );
    assert_eq!(one.lines().count(), 1, "{one}");
    assert_eq!(one.lines().next(), text.lines().last(), "the newest line");

    // Two nodes: every line prefixed, both present.
    let text = ok(
        &cluster.weftctl(&["-n", &both, "logs", "--tail", "3"]),
        "logs 2 nodes",
    );
    let (pa, pb) = (format!("{na}: "), format!("{nb}: "));
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.lines()
            .all(|l| l.starts_with(&pa) || l.starts_with(&pb)),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with(&pa)).count(), 3);

    // Following both: a certificate issued on a shows up, from a only.
    let follower = Follower::start(&cluster, &both);
    // Each node's last line arrives once its stream is open, which is when it follows (the tail
    // and the subscription are taken together): from then on no line can be missed.
    // (At least: under load a node may still be logging its start, so more lines can follow.)
    wait_until("the follower to print each node's last line", || {
        let lines = follower.lines();
        let from = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
        (from(&pa) && from(&pb)).then_some(())
    });
    let issued = "issued a client certificate";
    let out = cluster.weftctl(&[
        "-n",
        &na,
        "config",
        "new",
        "reader.yaml",
        "--roles",
        "os:reader",
    ]);
    ok(&out, "config new (reader)");
    let lines = wait_until("the follower to see the certificate issued on a", || {
        let lines = follower.lines();
        lines.iter().any(|l| l.contains(issued)).then_some(lines)
    });
    let hits: Vec<&String> = lines.iter().filter(|l| l.contains(issued)).collect();
    assert_eq!(hits.len(), 1, "{lines:?}");
    assert!(hits[0].starts_with(&pa), "{}", hits[0]);
    drop(follower);

    // An os:reader client may not read the log.
    let reader = cluster.dir.path().join("reader.yaml");
    let out = Command::new(bin("weftctl"))
        .args(["-n", &na, "logs"])
        .env("WEFTCONFIG", &reader)
        .stdin(Stdio::null())
        .output()
        .expect("weftctl");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out)
            .contains("reading the node log needs the os:admin role; this client has os:reader"),
        "{}",
        stderr(&out)
    );

    // weftd stopping ends its followers' streams: it exits cleanly and at once (a stream held
    // open would make it wait out its shutdown grace and exit 1), and `logs -f` ends with 0.
    let mut follower = Follower::start(&cluster, &nb);
    wait_until("the follower of b to print b's last line", || {
        (!follower.lines().is_empty()).then_some(())
    });
    let status = b.stop();
    assert!(
        status.success(),
        "weftd b stopped with {status}: {}",
        b.log_text()
    );
    assert!(
        !b.log_text().contains("did not stop in time"),
        "{}",
        b.log_text()
    );
    let code = wait_until("logs -f to end with b", || follower.exited());
    assert_eq!(code, Some(0));

    // --tail is bounded by what weftd keeps.
    let out = cluster.weftctl(&["-n", &na, "logs", "--tail", "5000"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5000 is more than the 2000 lines weftd keeps"),
        "{}",
        stderr(&out)
    );
}
