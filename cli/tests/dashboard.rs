//! `weftctl dashboard` where it cannot draw: with stdout not a terminal it prints one line on
//! stderr and exits 1, before reading the client config or asking any node; a too short
//! `--update-interval` is a usage error. (The live view itself is tested in a real terminal, in
//! `tmux`, against a real lab: tests/tests/dashboard.rs.)

mod common;

use common::*;

#[test]
fn without_a_terminal_it_says_so_in_one_line_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(weftctl_bin())
        .args(["-n", "192.0.2.1", "dashboard"])
        .env("WEFTCONFIG", dir.path().join("no-such-config"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: weftctl dashboard draws on a terminal, and stdout is not one (for a one-off grid: `weftctl health --matrix`)\n"
    );
}

#[test]
fn too_short_an_interval_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = weftctl(dir.path(), &["dashboard", "--update-interval", "10ms"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("10ms is shorter than 250ms"),
        "{}",
        stderr(&out)
    );
}
