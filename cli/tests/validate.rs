//! `weftctl validate` as a process: exit codes and how problems, errors and warnings are rendered.
//! The table of bad inputs and their exact messages (the YAML path or file, the bad value, what
//! was expected; never a secret) is a unit test of weft-api (`config::validate::tests`), where a
//! case costs no process.

mod common;

use std::fs;

use common::*;
use weft_api::config::generate::{self, GenerateOptions};
use weft_api::config::secrets::SecretsBundle;
use weft_api::config::validate::MachineType;
use yaml_serde::Value;

/// A valid controlplane config from the fixture secrets, as a YAML tree.
fn base() -> Value {
    let bundle = SecretsBundle::load(&fixture_secrets()).expect("fixture");
    let opts = GenerateOptions {
        cluster_name: "demo".into(),
        endpoint: "https://10.5.0.2:6443".into(),
        with_kubespan: true,
        with_cluster_discovery: true,
        discovery_endpoints: Vec::new(),
    };
    yaml_serde::to_value(generate::machine_config(
        &opts,
        &bundle,
        MachineType::ControlPlane,
    ))
    .expect("to value")
}

/// Merges `patch` into `base` (mappings key by key, `null` deletes).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Mapping(b), Value::Mapping(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else if let Some(e) = b.get_mut(&k) {
                    merge(e, v);
                } else {
                    b.insert(k, v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn patched(patch: &str) -> String {
    let mut value = base();
    merge(
        &mut value,
        yaml_serde::from_str(patch).expect("patch parses"),
    );
    yaml_serde::to_string(&value).expect("serialize")
}

enum Input {
    /// The base config with this patch merged in.
    Patch(&'static str),
    /// This exact file content.
    Raw(&'static [u8]),
    /// No file at all.
    Missing,
    /// A directory where the file should be.
    Directory,
}

fn validate_err(input: Input) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    match input {
        Input::Patch(p) => fs::write(&path, patched(p)).expect("write"),
        Input::Raw(bytes) => fs::write(&path, bytes).expect("write"),
        Input::Missing => {}
        Input::Directory => fs::create_dir(&path).expect("mkdir"),
    }
    let out = weftctl(dir.path(), &["validate", "--config", "config.yaml"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
    stderr(&out)
}

fn problems(lines: &[&str]) -> String {
    let noun = if lines.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    let mut out = format!(
        "error: config.yaml: invalid machine config, {} {noun}:\n",
        lines.len()
    );
    for l in lines {
        out.push_str(&format!("  - {l}\n"));
    }
    out
}

#[test]
fn base_config_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("config.yaml"), patched("{}")).expect("write");
    let out = weftctl(dir.path(), &["validate", "--config", "config.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// How problems, parse errors and read errors are rendered, with exit code 1 and nothing on
/// stdout. The messages themselves are table-tested in weft-api (`config::validate::tests`).
#[test]
fn errors_are_rendered_with_exit_code_1() {
    use Input::*;
    let cases: Vec<(&str, Input, String)> = vec![
        (
            "one problem",
            Patch("machine: {network: {kubespan: {mtu: 1000}}}"),
            problems(&["machine.network.kubespan.mtu: 1000 is below the minimum 1280"]),
        ),
        (
            "several problems at once",
            Patch("version: v1alpha2\nmachine: {type: master, stateDir: var/lib/weft, api: {listenAddress: ':50000'}, network: {kubespan: {listenPort: 70000, backend: tap}}}"),
            problems(&[
                "version: \"v1alpha2\" is not supported, expected \"v1alpha1\"",
                "machine.type: \"master\" is not a machine type, expected controlplane or worker",
                "machine.api.listenAddress: \":50000\" is not an address:port, expected e.g. \"[::]:50000\" or \"0.0.0.0:50000\"",
                "machine.stateDir: \"var/lib/weft\" is not an absolute path, expected e.g. \"/var/lib/weft\"",
                "machine.network.kubespan.listenPort: 70000 is not a UDP port, expected 1 to 65535",
                "machine.network.kubespan.backend: \"tap\" is not a data-plane backend, expected auto, userspace or kernel",
            ]),
        ),
        (
            "YAML syntax error with line and column",
            Raw(b"version: v1alpha1\nmachine:\n  type: worker\n   ca: x\n"),
            "error: config.yaml:4:6: YAML syntax error: mapping values are not allowed in this context\n".to_owned(),
        ),
        (
            "missing file",
            Missing,
            "error: cannot read config.yaml: No such file or directory (os error 2)\n".to_owned(),
        ),
        (
            "unreadable file (a directory)",
            Directory,
            "error: cannot read config.yaml: Is a directory (os error 21)\n".to_owned(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, input, want) in cases {
        let got = validate_err(input);
        if got != want {
            failures.push(format!("{name}:\n  want: {want:?}\n  got:  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Warnings go to stderr, one `warning:` line each, and the config is still valid (exit 0).
#[test]
fn kubernetes_only_settings_are_valid_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = patched(
        "machine: {network: {kubespan: {advertiseKubernetesNetworks: true, advertisedNetworks: ['10.244.1.0/24', 'fd00:10:244:1::/64']}}}\ncluster: {discovery: {registries: {kubernetes: {disabled: false}}}}",
    );
    fs::write(dir.path().join("config.yaml"), config).expect("write");
    let out = weftctl(dir.path(), &["validate", "--config", "config.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "config.yaml is valid\n");
    assert_eq!(
        stderr(&out),
        "warning: cluster.discovery.registries.kubernetes is enabled, but Weft has no Kubernetes registry; only the service registry is used\n\
         warning: machine.network.kubespan.advertiseKubernetesNetworks is true, but Weft has no Kubernetes to read pod CIDRs from; list the networks in machine.network.kubespan.advertisedNetworks\n"
    );
}
