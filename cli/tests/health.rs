//! `weftctl health` without a node to talk to: usage errors exit 2, an unreachable node exits 1
//! with an error naming it, and `-o json` still prints the verdict.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// A client config whose context points at `127.0.0.1:1`, where nothing listens.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = fixture_secrets();
    let out = weftctl(
        dir.path(),
        &[
            "gen",
            "config",
            "hc",
            "https://127.0.0.1:6443",
            "--with-secrets",
            secrets.to_str().expect("utf8"),
            "-t",
            "weftconfig",
            "-o",
            "weftconfig",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cfg = dir.path().join("weftconfig");
    (dir, cfg)
}

fn health(dir: &std::path::Path, cfg: &std::path::Path, args: &[&str]) -> Output {
    Command::new(weftctl_bin())
        .args(["--timeout", "2s", "-n", "127.0.0.1:1"])
        .args(args)
        .current_dir(dir)
        .env("WEFTCONFIG", cfg)
        .stdin(Stdio::null())
        .output()
        .expect("weftctl")
}

#[test]
fn unreachable_node_fails_naming_it() {
    let (dir, cfg) = setup();
    let out = health(dir.path(), &cfg, &["health"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NODE", "CHECK", "RESULT", "MESSAGE"]
    );
    assert!(
        lines[1].starts_with("127.0.0.1:1   api         FAIL     "),
        "{text}"
    );
    for (line, check) in lines[2..5].iter().zip(["identity", "discovery", "peers"]) {
        assert!(
            line.starts_with(&format!("127.0.0.1:1   {check:<12}skip ")),
            "{line:?} in {text}"
        );
    }
    assert_eq!(
        lines[5],
        "not healthy: 0 of 1 nodes healthy, 0 of 4 checks passed, 1 failed, 3 skipped"
    );
    assert_eq!(
        stderr(&out),
        "error: not healthy: 127.0.0.1:1 (api)\n",
        "the error names the node and the failing check"
    );
}

#[test]
fn json_verdict_and_matrix() {
    let (dir, cfg) = setup();
    let out = health(dir.path(), &cfg, &["health", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for needle in [
        "\"healthy\": false",
        "\"node\": \"127.0.0.1:1\"",
        "\"check\": \"api\"",
        "\"status\": \"fail\"",
        "\"status\": \"skip\"",
        "\"publicKey\": null",
        "\"skipped\": 3",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // The JSON parses as YAML (a superset), the shape scripts read.
    let v: yaml_serde::Value = yaml_serde::from_str(&text).expect("json");
    assert_eq!(v["nodes"][0]["checks"][0]["check"].as_str(), Some("api"));
    assert_eq!(v["summary"]["checks"].as_u64(), Some(4));

    let out = health(dir.path(), &cfg, &["health", "--matrix", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: yaml_serde::Value = yaml_serde::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["allUp"].as_bool(), Some(false));
    assert_eq!(v["nodes"][0]["node"].as_str(), Some("127.0.0.1:1"));
    assert!(v["nodes"][0]["error"].as_str().is_some());
    assert_eq!(v["cells"].as_sequence().map(Vec::len), Some(0));
    assert!(stderr(&out).starts_with("error: not every node sees every peer up:"));

    let out = health(dir.path(), &cfg, &["health", "--matrix"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("+-"),
        "plain ASCII borders when piped: {text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour when piped: {text}");
    assert!(text.contains("? 127.0.0.1:1: "), "{text}");
}

#[test]
fn usage_errors() {
    let (dir, cfg) = setup();
    for args in [
        &["health", "-o", "yaml"][..],
        &["health", "--matrix", "--wait-timeout", "1s"],
        &["health", "--wait-timeout", "soon"],
    ] {
        let out = health(dir.path(), &cfg, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// `--wait-timeout` re-checks until the limit, printing plain progress lines without a terminal,
/// then fails as a single check does.
#[test]
fn wait_times_out() {
    let (dir, cfg) = setup();
    let started = std::time::Instant::now();
    let out = health(dir.path(), &cfg, &["health", "--wait-timeout", "1500ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
    let err = stderr(&out);
    assert!(
        err.starts_with("waiting: 0 of 4 checks passed (127.0.0.1:1 api: "),
        "{err}"
    );
    assert!(
        err.ends_with("error: not healthy after 1.5s: 127.0.0.1:1 (api)\n"),
        "{err}"
    );
}
