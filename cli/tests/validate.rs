//! `weftctl validate`: a table of bad inputs, each checked for its exact message — which names the
//! YAML path (or file), the bad value and what was expected — and exit code 1. Secrets never appear
//! in messages.

mod common;

use std::fs;
use std::path::Path;

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

#[test]
fn bad_inputs_table() {
    use Input::*;
    let cases: Vec<(&str, Input, String)> = vec![
        (
            "wrong type: boolean",
            Patch("machine: {network: {kubespan: {enabled: 'yes'}}}"),
            problems(&["machine.network.kubespan.enabled: expected a boolean (true or false), got \"yes\""]),
        ),
        (
            "wrong type: integer",
            Patch("machine: {network: {kubespan: {mtu: big}}}"),
            problems(&["machine.network.kubespan.mtu: expected a non-negative integer, got \"big\""]),
        ),
        (
            "wrong type: list",
            Patch("machine: {network: {kubespan: {filters: {endpoints: 0.0.0.0/0}}}}"),
            problems(&["machine.network.kubespan.filters.endpoints: expected a list of strings, got \"0.0.0.0/0\""]),
        ),
        (
            "wrong type: mapping",
            Patch("cluster: {discovery: [true]}"),
            problems(&["cluster.discovery: expected a mapping, got a list"]),
        ),
        (
            "bad base64 secret",
            Patch("cluster: {secret: 'not base64!'}"),
            problems(&["cluster.secret: is not standard base64 (Invalid symbol 32, offset 3.); expected 32 random bytes in base64, as `openssl rand -base64 32` prints"]),
        ),
        (
            "short secret",
            Patch("cluster: {secret: AAECAwQFBgcICQoLDA0ODw==}"),
            problems(&["cluster.secret: decodes to 16 bytes, expected exactly 32 (`openssl rand -base64 32`)"]),
        ),
        (
            "secret of the wrong type is not echoed",
            Patch("cluster: {secret: [s3cr3t-value]}"),
            problems(&["cluster.secret: expected a string, got a list"]),
        ),
        (
            "MTU below the minimum",
            Patch("machine: {network: {kubespan: {mtu: 1000}}}"),
            problems(&["machine.network.kubespan.mtu: 1000 is below the minimum 1280"]),
        ),
        (
            "MTU above the maximum",
            Patch("machine: {network: {kubespan: {mtu: 70000}}}"),
            problems(&["machine.network.kubespan.mtu: 70000 is above the maximum 65455"]),
        ),
        (
            "reserved routing table and priority past the main rule",
            Patch("machine: {network: {kubespan: {routing: {table: 254, rulePriority: 32766}}}}"),
            problems(&[
                "machine.network.kubespan.routing.table: 254 is a reserved routing table (0, 253, 254, 255), expected e.g. 180",
                "machine.network.kubespan.routing.rulePriority: 32766 is outside 1 to 32765 (the main table's rule is at 32766)",
            ]),
        ),
        (
            "marks outside the mask, equal marks, bad nftables table",
            Patch("machine: {network: {kubespan: {routing: {markMask: 0x60, tunnelMark: 0x80, forceMark: 0x40, nftablesTable: 'my table'}}}}"),
            problems(&[
                "machine.network.kubespan.routing.tunnelMark: 0x80 has bits outside markMask 0x60",
                "machine.network.kubespan.routing.nftablesTable: \"my table\" is not an nftables table name, expected a letter then up to 31 letters, digits or '_'",
            ]),
        ),
        (
            "force mark equal to the tunnel mark",
            Patch("machine: {network: {kubespan: {routing: {tunnelMark: 32, forceMark: 32}}}}"),
            problems(&["machine.network.kubespan.routing.forceMark: 0x20 equals tunnelMark, expected a different mark"]),
        ),
        (
            "certSANs entries that are neither IPs nor DNS names",
            Patch("machine: {certSANs: ['203.0.113.7', 'bad name', 'node-1.example.com', '-x']}"),
            problems(&[
                "machine.certSANs[1]: \"bad name\" is neither an IP address nor a DNS name, expected e.g. \"203.0.113.7\" or \"node-1.example.com\"",
                "machine.certSANs[3]: \"-x\" is neither an IP address nor a DNS name, expected e.g. \"203.0.113.7\" or \"node-1.example.com\"",
            ]),
        ),
        (
            "certSANs is a list",
            Patch("machine: {certSANs: 203.0.113.7}"),
            problems(&["machine.certSANs: expected a list of strings, got \"203.0.113.7\""]),
        ),
        (
            "advertisedNetworks that are not routable networks",
            Patch("machine: {network: {kubespan: {advertisedNetworks: ['10.244.1.0/24', 'pods', '10.244.2.1/24', '0.0.0.0/0', '::/0', '127.0.0.0/8', 'fe80::/64', 'ff02::/16', '10.244.1.0/24', '10.9.9.9']}}}"),
            problems(&[
                "machine.network.kubespan.advertisedNetworks[1]: \"pods\" is not a CIDR or IP, expected a network such as \"10.244.1.0/24\" or \"fd00:10:244:1::/64\"",
                "machine.network.kubespan.advertisedNetworks[2]: \"10.244.2.1/24\" has host bits set, did you mean \"10.244.2.0/24\"?",
                "machine.network.kubespan.advertisedNetworks[3]: \"0.0.0.0/0\" is the default route, which would send all of every peer's traffic to this node; expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[4]: \"::/0\" is the default route, which would send all of every peer's traffic to this node; expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[5]: \"127.0.0.0/8\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[6]: \"fe80::/64\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[7]: \"ff02::/16\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
            ]),
        ),
        (
            "advertisedNetworks is a list",
            Patch("machine: {network: {kubespan: {advertisedNetworks: 10.244.1.0/24}}}"),
            problems(&["machine.network.kubespan.advertisedNetworks: expected a list of strings, got \"10.244.1.0/24\""]),
        ),
        (
            "natTraversal is a boolean",
            Patch("machine: {network: {kubespan: {natTraversal: sometimes}}}"),
            problems(&["machine.network.kubespan.natTraversal: expected a boolean (true or false), got \"sometimes\""]),
        ),
        (
            "bad CIDR filter",
            Patch("machine: {network: {kubespan: {filters: {endpoints: ['0.0.0.0/0', '!10.0.0.0/33']}}}}"),
            problems(&["machine.network.kubespan.filters.endpoints[1]: \"!10.0.0.0/33\" is not a CIDR or IP with optional '!', expected e.g. \"0.0.0.0/0\", \"!192.168.0.0/16\" or \"::/0\""]),
        ),
        (
            "bad excluded network",
            Patch("machine: {network: {kubespan: {filters: {excludeAdvertisedNetworks: [pods]}}}}"),
            problems(&["machine.network.kubespan.filters.excludeAdvertisedNetworks[0]: \"pods\" is not a CIDR or IP, expected e.g. \"10.244.0.0/16\""]),
        ),
        (
            "unknown key with a suggestion",
            Patch("machine: {network: {kubespan: {mut: 1500}}}"),
            problems(&["machine.network.kubespan.mut: unknown key, did you mean \"mtu\"?"]),
        ),
        (
            "unknown key without a close match",
            Patch("debug: true"),
            problems(&["debug: unknown key, expected one of: version, machine, cluster"]),
        ),
        (
            "discovery endpoint that is not a URL",
            Patch("cluster: {discovery: {registries: {service: {endpoint: discovery.example.com}}}}"),
            problems(&["cluster.discovery.registries.service.endpoint: \"discovery.example.com\" is not a URL (relative URL without a base), expected e.g. \"https://discovery.example.com/\""]),
        ),
        (
            "discovery endpoint with a bad scheme",
            Patch("cluster: {discovery: {registries: {service: {extraEndpoints: ['ftp://d.example.com/']}}}}"),
            problems(&["cluster.discovery.registries.service.extraEndpoints[0]: \"ftp://d.example.com/\" has scheme \"ftp\", expected https, http (plaintext) or grpc"]),
        ),
        (
            "KubeSpan without discovery",
            Patch("cluster: {discovery: {enabled: false}}"),
            problems(&["machine.network.kubespan.enabled: KubeSpan requires cluster discovery with the service registry: set cluster.discovery.enabled: true and leave cluster.discovery.registries.service.disabled unset or false"]),
        ),
        (
            "missing cluster id",
            Patch("cluster: {id: null}"),
            problems(&["cluster.id: missing, required when discovery or KubeSpan is enabled (`weftctl gen secrets` makes one)"]),
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
            "version that is not a string, next to the other problems",
            Patch("version: 7\nmachine: {type: master}"),
            problems(&[
                "version: 7 is not supported, expected \"v1alpha1\"",
                "machine.type: \"master\" is not a machine type, expected controlplane or worker",
            ]),
        ),
        (
            "missing version, next to the other problems",
            Patch("version: null\nmachine: {network: {kubespan: {mtu: 1000}}}"),
            problems(&[
                "version: missing, expected \"v1alpha1\"",
                "machine.network.kubespan.mtu: 1000 is below the minimum 1280",
            ]),
        ),
        (
            "nesting deeper than the limit, refused before parsing",
            Raw(b"version: v1alpha1\nmachine:\n  network: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"),
            "error: config.yaml:3:42: YAML nested more than 32 levels deep under machine.network, in a flow collection (the limit for a config), refused before parsing\n".to_owned(),
        ),
        (
            "bad hostname",
            Patch("machine: {network: {hostname: 'node_1.example'}}"),
            problems(&["machine.network.hostname: \"node_1.example\" is not a hostname, expected DNS labels of letters, digits and '-' (at most 253 characters)"]),
        ),
        (
            "CA key that does not belong to the certificate",
            Patch("machine: {ca: {key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1DNENBUUF3QlFZREsyVndCQ0lFSUlXT0FMMnBIYkhTV3g1UmFKUmcxUnF2V3JzMmZPRzlNbWZqdVJrVTBvV2QKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo=}}"),
            problems(&["machine.ca: key: does not belong to the certificate in crt"]),
        ),
        (
            "YAML syntax error with line and column",
            Raw(b"version: v1alpha1\nmachine:\n  type: worker\n   ca: x\n"),
            "error: config.yaml:4:6: YAML syntax error: mapping values are not allowed in this context\n".to_owned(),
        ),
        (
            "empty file",
            Raw(b""),
            problems(&["empty document, expected a machine config"]),
        ),
        (
            "not UTF-8",
            Raw(b"version: \xff\xfe\n"),
            "error: config.yaml: not UTF-8 text, expected a YAML machine config\n".to_owned(),
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
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (name, input, want) in cases {
        let got = validate_err(input);
        if got != want {
            failures.push(format!("{name}:\n  want: {want:?}\n  got:  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    fs::write(&path, vec![b'#'; 2 * 1024 * 1024]).expect("write");
    let out = weftctl(dir.path(), &["validate", "--config", "config.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: config.yaml: 2097152 bytes exceed the limit of 1048576 bytes for a machine config\n"
    );
}

#[test]
fn the_secret_never_appears_in_messages() {
    let bundle = SecretsBundle::load(&fixture_secrets()).expect("fixture");
    // Every problem at once, around the real secret.
    let err = validate_err(Input::Patch(
        "machine: {network: {kubespan: {mtu: 1}}}\ncluster: {sekret: x}",
    ));
    assert!(!err.contains(&bundle.cluster.secret));
    assert!(!err.contains(&bundle.certs.os.key));
    assert!(Path::new(&fixture_secrets()).exists());
}

#[test]
fn too_many_advertised_networks_are_refused() {
    let entries: Vec<String> = (0..33).map(|i| format!("'10.{i}.0.0/16'")).collect();
    let patch = format!(
        "machine: {{network: {{kubespan: {{advertisedNetworks: [{}]}}}}}}",
        entries.join(", ")
    );
    let patch: &'static str = Box::leak(patch.into_boxed_str());
    assert_eq!(
        validate_err(Input::Patch(patch)),
        problems(&["machine.network.kubespan.advertisedNetworks: 33 entries, expected at most 32"])
    );
}

/// What Weft accepts but does not do is valid, with a warning naming the key and what to use.
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

#[test]
fn too_many_cert_sans_are_refused() {
    let entries: Vec<String> = (0..65).map(|i| format!("'10.0.0.{i}'")).collect();
    let patch = format!("machine: {{certSANs: [{}]}}", entries.join(", "));
    let patch: &'static str = Box::leak(patch.into_boxed_str());
    assert_eq!(
        validate_err(Input::Patch(patch)),
        problems(&["machine.certSANs: 65 entries, expected at most 64"])
    );
}
