//! `weftctl dashboard` in a real terminal against a real mesh: a 2-node `cluster create` lab, the
//! dashboard running in a tmux pane (a tmux server of this test's own, on a socket in the test's
//! directory, killed when the test ends), the pane read with `tmux capture-pane -p` until the grid
//! shows each node seeing the other `up`, each one's peer row with its rates, and both discovery
//! services connected; then `q` is typed and the dashboard must exit with status 0.
//!
//! Privileged (the lab): runs as root (CI); skipped with a reason otherwise, and fails under
//! `CI=true`, also when tmux is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use weft_e2e::local_cluster::LocalCluster;
use weft_e2e::{bin, privileged, tools_present, wait_until};

/// A tmux server of this test's own (`tmux -S <socket>`, the socket in the test's directory so
/// nothing is left in /tmp/tmux-0), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// The pane's text as the terminal shows it now; empty once the pane is gone.
    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "dash"]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The status the dashboard exited with, once `sh` has written it.
fn exit_status(file: &Path) -> Option<String> {
    std::fs::read_to_string(file)
        .ok()
        .filter(|s| s.ends_with('\n'))
        .map(|s| s.trim().to_owned())
}

#[test]
#[ignore = "needs root"]
fn dashboard_draws_the_grid_in_a_terminal_and_quits_on_q() {
    let test = "dashboard_draws_the_grid_in_a_terminal_and_quits_on_q";
    if !privileged(test) || !tools_present(test, &[("tmux", "tmux")]) {
        return;
    }
    let lab = LocalCluster::create("db-tmux", "10.75.0", 2, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let status: PathBuf = dir.path().join("status");
    // sh records the dashboard's exit status; the pane (and the session) end with it.
    let script = format!(
        "WEFTCONFIG='{}' '{}' --context {} dashboard --update-interval 1s; echo $? > '{}'",
        lab.weftconfig().display(),
        bin("weftctl").display(),
        lab.name,
        status.display()
    );
    let tmux = Tmux::new(dir.path());
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "160",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (one, two) = (lab.addr(1), lab.addr(2));
    wait_until(
        "the dashboard to show both nodes up, their peers' rates, discovery",
        || {
            if let Some(code) = exit_status(&status) {
                panic!("the dashboard exited early with status {code}");
            }
            let screen = tmux.capture();
            // A grid row: the node, the dot where it meets itself, and its peer up.
            let grid_row_up = |node: &str| {
                screen.lines().any(|l| {
                    l.starts_with(&format!("│{node} ")) && l.contains('·') && l.contains(" up ")
                })
            };
            let connected = screen
                .lines()
                .filter(|l| l.contains("connected") && !l.contains("disconnected"))
                .count();
            // A peer row: each node's view of the other, with rates (from the second refresh on).
            let peer_row = |from: &str, to: &str| {
                screen.lines().any(|l| {
                    l.starts_with(&format!("│{from} "))
                        && l.contains(&format!(" {to} "))
                        && l.contains("B/s")
                })
            };
            (screen.contains("Weft dashboard · 2 nodes · all up")
                && grid_row_up(&one)
                && grid_row_up(&two)
                && peer_row(&one, &two)
                && peer_row(&two, &one)
                && connected == 2)
                .then_some(())
        },
    );

    let out = tmux.run(&["send-keys", "-t", "dash", "q"]);
    assert!(out.status.success(), "send-keys");
    let code = wait_until("the dashboard to exit after q", || exit_status(&status));
    assert_eq!(code, "0", "the dashboard's exit status after q");
}
