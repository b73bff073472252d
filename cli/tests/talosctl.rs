//! talosctl habits carried over (issue 16), against the real binary with no node or with a local
//! socket standing in for one: `--talosconfig`/`TALOSCONFIG`, `gen config -t talosconfig` and
//! `--additional-sans`, the `config` verbs talosctl has, `validate --mode/--strict`, the
//! apply-config modes weftd cannot honour, `get -i`, `version --client`, `gte` → `get`, `-e`
//! ignored with nodes, and the connect timeout bounding a TLS handshake that never finishes.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use weft_api::config::client::ClientConfig;

/// weftctl in `dir` with `env` set and `WEFTCONFIG`/`TALOSCONFIG` cleared unless given.
fn run_env(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(weftctl_bin());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("WEFTCONFIG")
        .env_remove("TALOSCONFIG")
        .env("HOME", dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run weftctl")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", stderr(out));
    stdout(out)
}

/// A client config written by `gen config -t talosconfig` (talosctl's name for it) into `dir`.
fn talosconfig(dir: &Path, name: &str) -> std::path::PathBuf {
    let secrets = fixture_secrets();
    let out = weftctl(
        dir,
        &[
            "gen",
            "config",
            name,
            "https://10.5.0.2:6443",
            "--with-secrets",
            secrets.to_str().expect("utf8"),
            "-t",
            "talosconfig",
            "-o",
            name,
        ],
    );
    ok(&out, "gen config -t talosconfig");
    dir.join(name)
}

#[test]
fn talosconfig_flag_and_env_select_the_client_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = talosconfig(d, "lab");
    let flag = run_env(d, &[], &["--talosconfig", "lab", "config", "contexts"]);
    assert!(
        ok(&flag, "--talosconfig").contains("lab"),
        "{}",
        stdout(&flag)
    );
    let env = run_env(d, &[("TALOSCONFIG", &cfg)], &["config", "info"]);
    let info = ok(&env, "TALOSCONFIG");
    assert!(info.starts_with("Current context:     lab\n"), "{info}");
    assert!(info.contains("Roles:               os:admin\n"), "{info}");
    assert!(info.contains("Certificate expires: "), "{info}");
    // WEFTCONFIG wins over TALOSCONFIG.
    let other = talosconfig(d, "other");
    let both = run_env(
        d,
        &[("TALOSCONFIG", &cfg), ("WEFTCONFIG", &other)],
        &["config", "info"],
    );
    assert!(ok(&both, "both").starts_with("Current context:     other\n"));
}

#[test]
fn config_verbs_as_talosctl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = d.join("config");
    let env = [("WEFTCONFIG", cfg.as_path())];
    for name in ["alpha", "beta"] {
        talosconfig(d, name);
        ok(&run_env(d, &env, &["config", "merge", name]), "merge");
    }
    let load = || {
        ClientConfig::parse(&std::fs::read_to_string(&cfg).expect("read"), "config").expect("parse")
    };
    assert_eq!(load().context, "beta");

    ok(
        &run_env(d, &env, &["config", "context", "alpha"]),
        "context",
    );
    assert_eq!(load().context, "alpha");
    ok(
        &run_env(d, &env, &["config", "node", "10.5.0.2", "10.5.0.3"]),
        "node",
    );
    ok(
        &run_env(d, &env, &["config", "endpoints", "10.5.0.2,10.5.0.4"]),
        "endpoints",
    );
    let alpha = load().contexts["alpha"].clone();
    assert_eq!(alpha.nodes, ["10.5.0.2", "10.5.0.3"]);
    assert_eq!(alpha.endpoints, ["10.5.0.2", "10.5.0.4"]);
    let bad = run_env(d, &env, &["config", "node", "10.5.0.2:http"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("not a port"), "{}", stderr(&bad));

    // add: from PEM files; a taken name is refused.
    let ctx = &load().contexts["beta"];
    let pem = |b64: &str| weft_api::pki::decode_pem("test", b64).expect("pem");
    std::fs::write(d.join("ca.crt"), pem(&ctx.ca)).expect("write");
    std::fs::write(d.join("admin.crt"), pem(&ctx.crt)).expect("write");
    std::fs::write(d.join("admin.key"), pem(&ctx.key)).expect("write");
    let add = |name: &str, key: &str| {
        run_env(
            d,
            &env,
            &[
                "config",
                "add",
                name,
                "--ca",
                "ca.crt",
                "--crt",
                "admin.crt",
                "--key",
                key,
            ],
        )
    };
    ok(&add("gamma", "admin.key"), "add");
    let gamma = load().contexts["gamma"].clone();
    assert_eq!(
        (&gamma.ca, &gamma.crt, &gamma.key),
        (&ctx.ca, &ctx.crt, &ctx.key)
    );
    assert!(gamma.endpoints.is_empty() && gamma.nodes.is_empty());
    let taken = add("gamma", "admin.key");
    assert!(
        stderr(&taken).contains("\"gamma\" is already in"),
        "{}",
        stderr(&taken)
    );
    let missing = add("delta", "nope.key");
    assert!(
        stderr(&missing).contains("nope.key"),
        "{}",
        stderr(&missing)
    );

    // remove: the current one too, which leaves none current and says so.
    let removed = run_env(d, &env, &["config", "remove", "alpha", "gamma"]);
    ok(&removed, "remove");
    assert!(stderr(&removed).contains("removed the current context \"alpha\""));
    let config = load();
    assert_eq!(config.contexts.keys().collect::<Vec<_>>(), ["beta"]);
    assert_eq!(config.context, "");
    let gone = run_env(d, &env, &["config", "remove", "alpha"]);
    assert!(
        stderr(&gone).contains("context \"alpha\" is not in"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn gen_config_talosctl_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = fixture_secrets();
    let gen_worker = |extra: &[&str]| {
        let mut args = vec![
            "gen",
            "config",
            "c",
            "https://10.5.0.2:6443",
            "--with-secrets",
            secrets.to_str().expect("utf8"),
            "-t",
            "worker",
            "-o",
            "-",
        ];
        args.extend_from_slice(extra);
        weftctl(dir.path(), &args)
    };
    let out = gen_worker(&[
        "--additional-sans",
        "node.example.com,192.0.2.7",
        "--with-docs=false",
        "--with-examples",
    ]);
    let text = ok(&out, "gen config");
    let yaml: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
    assert_eq!(
        yaml["machine"]["certSANs"],
        yaml_serde::from_str::<yaml_serde::Value>("[node.example.com, 192.0.2.7]").expect("y")
    );
    assert_eq!(stderr(&out), "");
    // Examples of what the config leaves out, commented; no descriptions (--with-docs=false).
    assert!(
        text.contains("    # # Where weftd keeps the node's identities; default /var/lib/weft.\n    # stateDir: /var/lib/weft\n"),
        "{text}"
    );
    assert!(!text.contains("type: worker #"), "{text}");

    // --with-docs: each field described; the config is unchanged but for comments, and valid.
    let documented = ok(&gen_worker(&["--with-docs"]), "gen config --with-docs");
    assert!(
        documented
            .contains("    type: worker # The role of the machine: controlplane or worker.\n"),
        "{documented}"
    );
    let plain = ok(&gen_worker(&[]), "gen config");
    assert!(!plain.contains('#'), "no comments by default: {plain}");
    assert_eq!(
        yaml_serde::from_str::<yaml_serde::Value>(&documented).expect("yaml"),
        yaml_serde::from_str::<yaml_serde::Value>(&plain).expect("yaml")
    );
    let file = dir.path().join("documented.yaml");
    std::fs::write(&file, &documented).expect("write");
    ok(
        &weftctl(
            dir.path(),
            &["validate", "--config", file.to_str().expect("utf8")],
        ),
        "validate the documented config",
    );
}

#[test]
fn accepted_refused_and_suggested() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secrets = fixture_secrets();
    let generated = weftctl(
        d,
        &[
            "gen",
            "config",
            "c",
            "https://10.5.0.2:6443",
            "--with-secrets",
            secrets.to_str().expect("utf8"),
            "-t",
            "worker",
            "-o",
            "worker.yaml",
        ],
    );
    ok(&generated, "gen config");
    let validate = weftctl(
        d,
        &[
            "validate",
            "--config",
            "worker.yaml",
            "--mode",
            "metal",
            "--strict",
        ],
    );
    assert_eq!(stdout(&validate), "worker.yaml is valid\n");
    assert_eq!(
        stderr(&validate),
        "--mode metal ignored: Weft's machine config does not depend on the platform\n"
    );
    let bad_mode = weftctl(d, &["validate", "--config", "worker.yaml", "--mode", "vm"]);
    assert_eq!(bad_mode.status.code(), Some(2));

    for (mode, says) in [
        ("staged", "--mode staged is not supported"),
        ("try", "--mode try is not supported"),
    ] {
        let out = weftctl(
            d,
            &[
                "-n",
                "10.5.0.2",
                "apply-config",
                "-f",
                "worker.yaml",
                "--mode",
                mode,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{mode}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    let insecure = weftctl(d, &["-n", "10.5.0.2", "get", "-i", "members"]);
    assert_eq!(insecure.status.code(), Some(1));
    assert!(stderr(&insecure).contains("-i/--insecure is talosctl's maintenance mode"));

    let client = weftctl(d, &["version", "--client"]);
    let text = ok(&client, "version --client");
    assert!(
        text.starts_with("Client:\n\tTag:         v") && !text.contains("Server"),
        "{text}"
    );

    let typo = weftctl(d, &["gte", "members"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr(&typo).contains("a similar subcommand exists: 'get'"),
        "{}",
        stderr(&typo)
    );
}

/// A server that accepts TCP and never answers the TLS handshake: weftctl gives up after
/// `--timeout`, naming it and the node, instead of hanging. Also: `-e` with nodes is ignored with
/// a warning saying why.
#[test]
fn a_handshake_that_never_finishes_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = talosconfig(d, "lab");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let node = listener.local_addr().expect("addr").to_string();
    // Accepted connections are held open, silent, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let mut child = Command::new(weftctl_bin())
        .args(["--weftconfig", cfg.to_str().expect("utf8")])
        .args([
            "-n",
            &node,
            "-e",
            "10.9.9.9",
            "--timeout",
            "1s",
            "get",
            "members",
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Bounded by the test's own patience, so the old (hanging) code fails here, not forever.
    let mut waited = 0;
    while child.try_wait().expect("wait").is_none() {
        assert!(
            waited < 600,
            "weftctl still waiting on a silent TLS server after 60s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("-e/--endpoints 10.9.9.9 ignored: -n is given, and weftctl has no API proxy"),
        "{err}"
    );
    assert!(
        err.contains(&format!("error: {node}: no answer within 1s (--timeout)")),
        "{err}"
    );
}
