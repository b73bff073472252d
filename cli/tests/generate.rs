//! `weftctl gen secrets` and `gen config`, run as a user would: file modes, determinism (the exact
//! YAML is pinned), round trips through `validate`, the client config, overwrite refusal, output
//! modes and config patches.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::*;
use weft_api::config::client::ClientConfig;
use weft_api::config::secrets::SecretsBundle;
use weft_api::pki::{self, Role};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn gen_fixture_config(dir: &Path, extra: &[&str]) -> std::process::Output {
    let secrets = fixture_secrets();
    let mut args = vec![
        "gen",
        "config",
        "demo",
        "https://10.5.0.2:6443",
        "--with-kubespan",
        "--with-secrets",
        secrets.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    weftctl(dir, &args)
}

#[test]
fn gen_config_with_secrets_is_deterministic_and_pinned() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let out = gen_fixture_config(a.path(), &["-o", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "Created out/controlplane.yaml\nCreated out/worker.yaml\nCreated out/weftconfig\n"
    );
    assert!(
        gen_fixture_config(b.path(), &["-o", "out"])
            .status
            .success()
    );
    for name in ["controlplane.yaml", "worker.yaml"] {
        let first = fs::read_to_string(a.path().join("out").join(name)).expect("read");
        let second = fs::read_to_string(b.path().join("out").join(name)).expect("read");
        assert_eq!(first, second, "{name} differs between runs");
        insta::assert_snapshot!(name, first);
    }
    for name in ["controlplane.yaml", "worker.yaml", "weftconfig"] {
        assert_eq!(mode(&a.path().join("out").join(name)), 0o600, "{name}");
    }
}

#[test]
fn generated_configs_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(gen_fixture_config(dir.path(), &[]).status.success());
    for name in ["controlplane.yaml", "worker.yaml"] {
        let out = weftctl(dir.path(), &["validate", "--config", name]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{name} is valid\n"));
        let valid =
            weft_api::config::validate::load_machine_config(&dir.path().join(name)).expect("load");
        assert!(valid.settings.kubespan.enabled);
        assert!(valid.settings.cluster.discovery.service_registry);
        assert_eq!(
            valid.settings.cluster.discovery.service_endpoints[0].as_str(),
            "https://discovery.talos.dev/"
        );
    }
}

#[test]
fn client_config_carries_an_admin_cert_from_the_cluster_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        gen_fixture_config(dir.path(), &["-t", "weftconfig"])
            .status
            .success()
    );
    let text = fs::read_to_string(dir.path().join("weftconfig")).expect("read");
    let config: ClientConfig = yaml_serde::from_str(&text).expect("parse weftconfig");
    assert_eq!(config.context, "demo");
    let ctx = &config.contexts["demo"];
    assert_eq!(ctx.endpoints, ["10.5.0.2"]);
    let bundle = SecretsBundle::load(&fixture_secrets()).expect("fixture");
    assert_eq!(ctx.ca, bundle.certs.os.crt);
    let info = pki::cert_info(&ctx.crt).expect("client cert");
    assert_eq!(info.roles(), [Role::Admin]);
    assert_eq!(info.issuer, pki::cert_info(&ctx.ca).expect("ca").subject);
    pki::check_pair(&pki::CertAndKey {
        crt: ctx.crt.clone(),
        key: ctx.key.clone(),
    })
    .expect("key matches certificate");
    assert!(!dir.path().join("controlplane.yaml").exists());
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("worker.yaml"), "keep me").expect("write");
    let out = gen_fixture_config(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: file \"worker.yaml\" already exists, use --force to overwrite\n"
    );
    // Nothing was written, not even the files that did not exist.
    assert_eq!(
        fs::read_to_string(dir.path().join("worker.yaml")).expect("read"),
        "keep me"
    );
    assert!(!dir.path().join("controlplane.yaml").exists());
    let out = gen_fixture_config(dir.path(), &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(
        fs::read_to_string(dir.path().join("worker.yaml")).expect("read"),
        "keep me"
    );
}

#[test]
fn output_to_stdout_and_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gen_fixture_config(dir.path(), &["-o", "-", "-t", "worker"]);
    assert!(out.status.success());
    let on_file = {
        let out = gen_fixture_config(dir.path(), &["-o", "w.yaml", "-t", "worker"]);
        assert_eq!(stderr(&out), "Created w.yaml\n");
        fs::read_to_string(dir.path().join("w.yaml")).expect("read")
    };
    assert_eq!(stdout(&out), on_file);
    assert!(on_file.contains("    type: worker\n"));
    let out = gen_fixture_config(dir.path(), &["-o", "-"]);
    assert_eq!(
        stderr(&out),
        "error: -o - (stdout) needs exactly one output type, e.g. -t controlplane\n"
    );
}

#[test]
fn config_patches_apply_and_bad_ones_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("patch.yaml"),
        "machine:\n  network:\n    kubespan:\n      mtu: 1380\n",
    )
    .expect("write patch");
    let out = gen_fixture_config(
        dir.path(),
        &[
            "--config-patch",
            "@patch.yaml",
            "--config-patch-worker",
            "{machine: {stateDir: /srv/weft}}",
            "-o",
            "-",
            "-t",
            "worker",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("            mtu: 1380\n"), "{text}");
    assert!(text.contains("    stateDir: /srv/weft\n"), "{text}");

    let out = gen_fixture_config(
        dir.path(),
        &[
            "--config-patch",
            "{machine: {network: {kubespan: {mtu: 1000, mut: 1}}}}",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: config patch (inline): invalid machine config after the patch, 2 problems:\n  \
         - machine.network.kubespan.mut: unknown key, did you mean \"mtu\"?\n  \
         - machine.network.kubespan.mtu: 1000 is below the minimum 1280\n"
    );
    assert!(fs::read_dir(dir.path()).expect("ls").all(|e| {
        let name = e.expect("entry").file_name();
        name == "patch.yaml"
    }));
}

#[test]
fn discovery_endpoints_and_disabled_discovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gen_fixture_config(
        dir.path(),
        &[
            "--discovery-endpoint",
            "http://10.0.0.9:3000",
            "--discovery-endpoint",
            "https://disco.example.com/",
            "-o",
            "-",
            "-t",
            "controlplane",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(
        "            service:\n                endpoint: http://10.0.0.9:3000\n                extraEndpoints:\n                - https://disco.example.com/\n"
    ));

    let out = gen_fixture_config(
        dir.path(),
        &["--with-cluster-discovery=false", "-o", "-", "-t", "worker"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(
        "--with-kubespan: KubeSpan requires cluster discovery; drop --with-cluster-discovery=false"
    ));
}

#[test]
fn gen_secrets_writes_a_private_valid_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = weftctl(dir.path(), &["gen", "secrets"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "Created secrets.yaml\n");
    let path = dir.path().join("secrets.yaml");
    assert_eq!(mode(&path), 0o600);
    let first = SecretsBundle::load(&path).expect("valid bundle");
    let out = weftctl(dir.path(), &["gen", "secrets"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(SecretsBundle::load(&path).expect("unchanged"), first);
    let out = weftctl(dir.path(), &["gen", "secrets", "-f"]);
    assert!(out.status.success());
    assert_ne!(
        SecretsBundle::load(&path).expect("new"),
        first,
        "new secrets"
    );
    // Secrets never reach the terminal.
    assert!(!stdout(&out).contains(&first.cluster.secret));
}
