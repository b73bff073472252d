//! weftd end to end: real daemons on loopback, driven with the real weftctl — identity
//! persistence, corrupt and interrupted identity files, mutual TLS and roles, several nodes with one
//! down, and a config applied live.

use std::fs;
use std::time::{Duration, Instant};

use weft_api::config::client::{ClientConfig, Context};
use weft_api::config::secrets::SecretsBundle;
use weft_api::resources::kubespan::address::{ULA_PURPOSE_KUBESPAN, ula_prefix};
use weft_api::resources::kubespan::identity::{IDENTITY_FILE_NAME, IdentityFile};
use weft_e2e::{Cluster, ok, stderr, wait_until, yaml_docs};
use yaml_serde::Value;

fn spec_str(doc: &Value, key: &str) -> String {
    doc["spec"][key].as_str().unwrap_or_default().to_owned()
}

#[test]
fn identity_is_created_on_the_node_and_survives_restarts() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    node.start(&cluster);
    let addr = node.addr();
    let get = || {
        let out = cluster.weftctl(&["-n", &addr, "get", "kubespanidentities", "-o", "yaml"]);
        yaml_docs(&ok(&out, "get kubespanidentities"))
    };
    let first = wait_until("the KubeSpan identity", || get().into_iter().next());
    assert_eq!(first["node"].as_str(), Some(addr.as_str()));
    assert_eq!(first["metadata"]["id"].as_str(), Some("local"));
    assert_eq!(first["metadata"]["namespace"].as_str(), Some("kubespan"));
    let public_key = spec_str(&first, "publicKey");
    let address = spec_str(&first, "address");
    // The key pair is the one in the node's file; the address is in the cluster's KubeSpan /64.
    let file =
        IdentityFile::load(&node.state_dir.join("kubespan-identity.yaml")).expect("identity file");
    assert_eq!(file.public_key, public_key);
    assert_eq!(spec_str(&first, "privateKey"), file.private_key);
    let bundle = SecretsBundle::load(&cluster.secrets).expect("secrets");
    let subnet = ula_prefix(&bundle.cluster.id, ULA_PURPOSE_KUBESPAN);
    assert_eq!(spec_str(&first, "subnet"), subnet.to_string());
    let addr: ipnet::Ipv6Net = address.parse().expect("address is a prefix");
    assert_eq!(addr.prefix_len(), 128);
    assert!(subnet.contains(&addr.addr()), "{address} in {subnet}");

    assert!(
        node.stop().success(),
        "clean exit on SIGTERM: {}",
        node.log_text()
    );
    node.start(&cluster);
    let again = wait_until("the identity after restart", || get().into_iter().next());
    assert_eq!(spec_str(&again, "publicKey"), public_key);
    assert_eq!(spec_str(&again, "address"), address);
}

#[test]
fn corrupt_identity_file_stops_the_daemon_and_is_left_alone() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    fs::create_dir_all(&node.state_dir).expect("state dir");
    let file = node.state_dir.join("kubespan-identity.yaml");
    let garbage = b"privateKey: [this is not a key\n";
    fs::write(&file, garbage).expect("write");
    node.spawn(&[]);
    let status = node.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", node.log_text());
    let log = node.log_text();
    assert!(
        log.contains(&file.display().to_string()),
        "names the file: {log}"
    );
    assert_eq!(fs::read(&file).expect("read"), garbage, "untouched");

    // --reset-identity replaces it on purpose.
    node.spawn(&["--reset-identity"]);
    wait_until("the daemon to serve with a new identity", || {
        IdentityFile::load(&file).ok()
    });
    node.kill();
}

/// kill -9 at random moments of a first start: the identity file is absent or complete, never torn,
/// and the next start on what the kill left serves that identity (or creates one). As `e2e.rs`'s
/// `kill_during_write_never_leaves_a_partial_file`, the kills are spread over the time a first start
/// takes to write the file here, and the test fails unless some landed before the write and some
/// after it — otherwise it would prove nothing.
#[test]
fn kill_during_identity_creation_never_leaves_a_partial_file() {
    const ROUNDS: u32 = 24;
    let cluster = Cluster::new();
    let identity = |node: &weft_e2e::Node| node.state_dir.join(IDENTITY_FILE_NAME);
    // Temporary files of an atomic write are `.<name>.<pid>.<nonce>.tmp` (weft_api::fsutil); a
    // kill -9 between creating one and removing it leaves it behind, which must stop nothing.
    let temp_prefix = format!(".{IDENTITY_FILE_NAME}.");
    let leftovers = |node: &weft_e2e::Node| -> usize {
        fs::read_dir(&node.state_dir)
            .into_iter()
            .flatten()
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&temp_prefix) && name.ends_with(".tmp"))
            .count()
    };

    // How long a first start takes to write the identity here.
    let mut probe = cluster.node("probe", true);
    let started = Instant::now();
    probe.spawn(&[]);
    while !identity(&probe).exists() {
        assert!(
            started.elapsed() < weft_e2e::DEADLINE,
            "no identity file: {}",
            probe.log_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let write_time = started.elapsed();
    probe.kill();

    let mut written = 0;
    let mut interrupted = 0;
    for round in 0..ROUNDS {
        let mut node = cluster.node(&format!("k{round}"), true);
        node.spawn(&[]);
        // Kills from 0 to 1.5 times the write time.
        std::thread::sleep(write_time.mul_f64(1.5 * f64::from(round) / f64::from(ROUNDS)));
        node.kill();
        let file = identity(&node);
        let before = file
            .exists()
            .then(|| IdentityFile::load(&file).expect("a complete identity file"));
        written += u32::from(before.is_some());
        interrupted += leftovers(&node);
        // The next start takes over what the kill left: the same key pair when the file was
        // complete, a new one when there was none.
        node.spawn(&[]);
        let after = wait_until("the identity after the kill", || {
            IdentityFile::load(&file).ok()
        });
        if let Some(before) = before {
            assert_eq!(after.public_key, before.public_key, "round {round}");
        }
        node.kill();
    }
    eprintln!(
        "{written} of {ROUNDS} first starts wrote the identity ({write_time:?}), \
         {interrupted} temporary files left by kills mid-write"
    );
    // Both outcomes happened: some kills landed before the write, some after it.
    assert!(written > 0, "no first start ever wrote its identity");
    assert!(
        written < ROUNDS,
        "no kill ever landed before the identity was written"
    );
}

fn context_of(path: &std::path::Path) -> (String, Context) {
    let cfg = ClientConfig::load_or_default(path).expect("client config");
    let ctx = cfg.contexts[&cfg.context].clone();
    (cfg.context, ctx)
}

fn write_context(path: &std::path::Path, name: &str, ctx: Context) {
    ClientConfig {
        context: name.to_owned(),
        contexts: [(name.to_owned(), ctx)].into(),
    }
    .save(path)
    .expect("save client config");
}

#[test]
fn mutual_tls_and_roles() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    node.start(&cluster);
    let n = node.addr();
    let dir = cluster.dir.path();

    // os:reader, issued by the node (`config new`): statuses yes, identities no.
    let out = cluster.weftctl(&[
        "-n",
        &n,
        "config",
        "new",
        "reader.yaml",
        "--roles",
        "os:reader",
    ]);
    ok(&out, "config new");
    let reader = dir.join("reader.yaml");
    let run_as = |cfg: &std::path::Path, args: &[&str]| {
        std::process::Command::new(weft_e2e::bin("weftctl"))
            .args(args)
            .env("WEFTCONFIG", cfg)
            .output()
            .expect("weftctl")
    };
    let out = run_as(&reader, &["-n", &n, "get", "kubespanpeerstatuses"]);
    assert_eq!(
        ok(&out, "reader lists peer statuses"),
        "NODE   NAMESPACE   TYPE   ID   VERSION   LABEL   ENDPOINT   STATE   RX   TX\n"
    );
    let out = run_as(&reader, &["-n", &n, "get", "kubespanidentities"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("KubeSpanIdentities.kubespan.weft.dev is sensitive: reading it needs the os:admin role; this client has os:reader"),
        "{}",
        stderr(&out)
    );
    let out = run_as(
        &reader,
        &["-n", &n, "config", "new", "x.yaml", "--roles", "os:admin"],
    );
    assert!(
        stderr(&out).contains("issuing client certificates needs the os:admin role"),
        "{}",
        stderr(&out)
    );

    let (name, admin) = context_of(&cluster.weftconfig);

    // A client certificate from another CA (the client still trusts the right CA).
    let other = Cluster::new();
    let (_, foreign) = context_of(&other.weftconfig);
    let foreign_cfg = dir.join("foreign.yaml");
    write_context(
        &foreign_cfg,
        &name,
        Context {
            crt: foreign.crt,
            key: foreign.key,
            ..admin.clone()
        },
    );
    let out = run_as(&foreign_cfg, &["-n", &n, "get", "identities"]);
    assert_eq!(out.status.code(), Some(1), "refused");
    // How a TLS 1.3 refusal surfaces on the client varies with timing (an alert, a closed or reset
    // connection); what matters is that nothing is served.
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains(&format!("error: {n}: ")),
        "{}",
        stderr(&out)
    );

    // An expired certificate from the right CA.
    let bundle = SecretsBundle::load(&cluster.secrets).expect("secrets");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "os:admin");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "expired");
    let now = time::OffsetDateTime::now_utc();
    let expired = weft_api::pki::issue_between(
        &bundle.certs.os,
        params,
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    )
    .expect("expired cert");
    let expired_cfg = dir.join("expired.yaml");
    write_context(
        &expired_cfg,
        &name,
        Context {
            crt: expired.crt,
            key: expired.key,
            ..admin.clone()
        },
    );
    let out = run_as(&expired_cfg, &["-n", &n, "get", "identities"]);
    assert_eq!(out.status.code(), Some(1), "refused");
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains(&format!("error: {n}: ")),
        "{}",
        stderr(&out)
    );

    // No client certificate at all.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ca = weft_api::pki::decode_pem("ca", &admin.ca).expect("ca");
    let result: Result<(), String> = rt.block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name("127.0.0.1");
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{n}"))
            .map_err(|e| e.to_string())?
            .tls_config(tls)
            .map_err(|e| e.to_string())?
            .connect_lazy();
        weft_api::proto::resource::resource_service_client::ResourceServiceClient::new(channel)
            .definitions(weft_api::proto::resource::DefinitionsRequest {})
            .await
            .map(|_| ())
            .map_err(|s| s.to_string())
    });
    assert!(result.is_err(), "a client without a certificate is refused");

    // The admin reads everything.
    ok(
        &cluster.weftctl(&["-n", &n, "get", "kubespanidentities"]),
        "admin reads identities",
    );
}

#[test]
fn several_nodes_with_one_down() {
    let cluster = Cluster::new();
    let mut a = cluster.node("a", true);
    let mut b = cluster.node("b", true);
    a.start(&cluster);
    b.start(&cluster);
    let down = format!("127.0.0.1:{}", weft_e2e::free_port());
    let nodes = format!("{},{},{}", a.addr(), down, b.addr());
    let out = cluster.weftctl(&["-n", &nodes, "get", "identities", "-o", "yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
    let printed: Vec<&str> = docs.iter().filter_map(|d| d["node"].as_str()).collect();
    assert_eq!(printed, [a.addr().as_str(), b.addr().as_str()]);
    let err = stderr(&out);
    assert!(err.contains(&format!("error: {down}: ")), "{err}");
    assert!(err.contains("1 of 3 nodes failed"), "{err}");
    // Each node has its own identity.
    assert_ne!(docs[0]["spec"]["nodeId"], docs[1]["spec"]["nodeId"]);
}

#[test]
fn apply_config_enables_kubespan_live() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", false);
    node.start(&cluster);
    let n = node.addr();
    let count = || {
        let out = cluster.weftctl(&["-n", &n, "get", "kubespanidentities", "-o", "yaml"]);
        yaml_docs(&ok(&out, "get")).len()
    };
    assert_eq!(count(), 0, "no identity while KubeSpan is off");
    assert!(!node.state_dir.join("kubespan-identity.yaml").exists());

    // The same node config with KubeSpan on.
    let enabled = cluster.node("a-enabled", true);
    let mut text: Value =
        yaml_serde::from_str(&fs::read_to_string(&enabled.config).expect("read")).expect("yaml");
    let own: Value =
        yaml_serde::from_str(&fs::read_to_string(&node.config).expect("read")).expect("yaml");
    text["machine"]["api"] = own["machine"]["api"].clone();
    text["machine"]["stateDir"] = own["machine"]["stateDir"].clone();
    let new_config = cluster.dir.path().join("apply.yaml");
    fs::write(&new_config, yaml_serde::to_string(&text).expect("yaml")).expect("write");

    let out = cluster.weftctl(&[
        "-n",
        &n,
        "apply-config",
        "--file",
        new_config.to_str().expect("utf8"),
    ]);
    assert_eq!(
        ok(&out, "apply-config"),
        format!("{n}: Applied configuration without a restart\n")
    );
    wait_until("the identity after apply-config", || {
        (count() == 1).then_some(())
    });
    assert!(node.state_dir.join("kubespan-identity.yaml").exists());
    assert!(node.try_exit().is_none(), "no restart");
    // Persisted atomically over the node's config file, still private.
    assert_eq!(
        fs::read(&node.config).expect("read"),
        fs::read(&new_config).expect("read")
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&node.config)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // A bad config is refused with its problems, and nothing changes.
    let bad = cluster.dir.path().join("bad.yaml");
    let mut broken = text.clone();
    broken["machine"]["network"]["kubespan"]["mtu"] = Value::from(1000);
    fs::write(&bad, yaml_serde::to_string(&broken).expect("yaml")).expect("write");
    let out = cluster.weftctl(&[
        "-n",
        &n,
        "apply-config",
        "--file",
        bad.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("machine.network.kubespan.mtu: 1000 is below the minimum 1280"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(&node.config).expect("read"),
        fs::read(&new_config).expect("read")
    );
}

/// `weftctl get -w` prints the current set, then events as they happen: the running machine
/// config first (`created`), then, after `apply-config`, its `updated` event.
#[test]
fn watch_prints_events_as_they_happen() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let cluster = Cluster::new();
    let mut node = cluster.node("w", false);
    node.start(&cluster);
    let n = node.addr();
    let mut watch = Command::new(weft_e2e::bin("weftctl"))
        .args(["-n", &n, "get", "machineconfigs", "-w", "-o", "yaml"])
        .env("WEFTCONFIG", &cluster.weftconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("weftctl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |want: &str| {
        let deadline = std::time::Instant::now() + weft_e2e::DEADLINE;
        while !seen.iter().any(|l| l == want) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("no {want:?}; saw {seen:?}"),
            }
        }
        seen.clone()
    };
    let initial = wait_for("event: created");
    assert_eq!(initial[0], format!("node: {n}"));

    // Enable KubeSpan on the node (same config with KubeSpan on, own port and state dir kept).
    let enabled = cluster.node("w-enabled", true);
    let mut text: Value =
        yaml_serde::from_str(&fs::read_to_string(&enabled.config).expect("read")).expect("yaml");
    let own: Value =
        yaml_serde::from_str(&fs::read_to_string(&node.config).expect("read")).expect("yaml");
    text["machine"]["api"] = own["machine"]["api"].clone();
    text["machine"]["stateDir"] = own["machine"]["stateDir"].clone();
    let new_config = cluster.dir.path().join("w-apply.yaml");
    fs::write(&new_config, yaml_serde::to_string(&text).expect("yaml")).expect("write");
    ok(
        &cluster.weftctl(&[
            "-n",
            &n,
            "apply-config",
            "--file",
            new_config.to_str().expect("utf8"),
        ]),
        "apply-config",
    );
    // The new config enables KubeSpan: `spec.machine.network.kubespan` appears only in the update.
    let all = wait_for("            kubespan:");
    // Stopping the node ends the watch: weftd exits 0 at once instead of waiting out its grace
    // for the stream, and weftctl's watch ends with it.
    let stopped = node.stop();
    let watch_status = watch.wait().expect("weftctl get -w");
    assert!(
        stopped.success(),
        "weftd with a watch attached stops cleanly: {}",
        node.log_text()
    );
    assert!(watch_status.code().is_some(), "the watch ended by itself");
    let updated = all
        .iter()
        .position(|l| l == "event: updated")
        .expect("an updated event");
    assert_eq!(all[updated - 1], format!("node: {n}"));
    assert_eq!(all[updated - 2], "---", "documents are separated");
    assert!(
        all[updated..].contains(&"    version: 2".to_owned()),
        "the update bumped the version"
    );
}

/// KubeSpan on, but no Ethernet link to derive the KubeSpan address from (a namespace with only
/// `lo`): weftd stops at once with the reason, instead of serving an empty mesh with the reason
/// only in its log.
#[test]
#[ignore = "needs root"]
fn kubespan_without_a_link_stops_with_the_reason() {
    if !weft_e2e::privileged("kubespan_without_a_link_stops_with_the_reason") {
        return;
    }
    // Only `lo`; deleted on drop, also when the test fails.
    let ns = weft_lab::netns::Namespace::create(format!("weft-nolink-{}", std::process::id()))
        .expect("a namespace");
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    node.netns = Some(ns.name().to_owned());
    node.spawn(&[]);
    let status = node.wait_exit();
    let log = node.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("no usable link for KubeSpan"), "{log}");
    assert!(
        log.contains("machine.network.kubespan.enabled"),
        "names the setting: {log}"
    );
}
