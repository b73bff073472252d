//! Validation tests. The table is every bad input `weftctl validate` explains, each with the exact
//! problems it reports — the YAML path (or file), the bad value and what was expected — checked
//! here in-process; the CLI's own tests keep only the exit codes and how an error is rendered.

use std::sync::OnceLock;

use super::*;
use crate::config::generate::{self, GenerateOptions};
use crate::config::secrets::SecretsBundle;

/// How the table's messages name the config.
const SOURCE: &str = "config.yaml";

/// Secrets for the base config, generated once for the whole module (key generation is slow).
fn bundle() -> &'static SecretsBundle {
    static BUNDLE: OnceLock<SecretsBundle> = OnceLock::new();
    BUNDLE.get_or_init(|| SecretsBundle::generate().expect("secrets"))
}

/// A valid controlplane config with KubeSpan and discovery on (what `gen config` writes), as text
/// with `patch` merged in (mappings key by key, `null` deletes).
fn patched(patch: &str) -> String {
    let opts = GenerateOptions {
        cluster_name: "demo".into(),
        endpoint: "https://10.5.0.2:6443".into(),
        with_kubespan: true,
        with_cluster_discovery: true,
        discovery_endpoints: Vec::new(),
    };
    let config = generate::machine_config(&opts, bundle(), MachineType::ControlPlane);
    let mut value = yaml_serde::to_value(config).expect("to value");
    generate::merge(
        &mut value,
        yaml_serde::from_str(patch).expect("patch parses"),
    );
    yaml_serde::to_string(&value).expect("serialize")
}

/// The error `text` gets, as weftctl's message body (no `error: ` prefix).
fn error_of(text: &str) -> ConfigError {
    match parse_machine_config(text, SOURCE) {
        Ok(_) => panic!("valid, expected an error:\n{text}"),
        Err(e) => e,
    }
}

fn paths_and_messages(err: &ConfigError) -> Vec<String> {
    err.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn the_base_config_is_valid() {
    let valid = parse_machine_config(&patched("{}"), SOURCE).expect("valid");
    assert!(valid.settings.warnings().is_empty());
}

/// Each row: what it is about, a patch of the base config, every problem it must report.
#[test]
fn bad_inputs_table() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "wrong type: boolean",
            "machine: {network: {kubespan: {enabled: 'yes'}}}",
            &["machine.network.kubespan.enabled: expected a boolean (true or false), got \"yes\""],
        ),
        (
            "wrong type: integer",
            "machine: {network: {kubespan: {mtu: big}}}",
            &["machine.network.kubespan.mtu: expected a non-negative integer, got \"big\""],
        ),
        (
            "wrong type: list",
            "machine: {network: {kubespan: {filters: {endpoints: 0.0.0.0/0}}}}",
            &[
                "machine.network.kubespan.filters.endpoints: expected a list of strings, got \"0.0.0.0/0\"",
            ],
        ),
        (
            "wrong type: mapping",
            "cluster: {discovery: [true]}",
            &["cluster.discovery: expected a mapping, got a list"],
        ),
        (
            "bad base64 secret",
            "cluster: {secret: 'not base64!'}",
            &[
                "cluster.secret: is not standard base64 (Invalid symbol 32, offset 3.); expected 32 random bytes in base64, as `openssl rand -base64 32` prints",
            ],
        ),
        (
            "short secret",
            "cluster: {secret: AAECAwQFBgcICQoLDA0ODw==}",
            &[
                "cluster.secret: decodes to 16 bytes, expected exactly 32 (`openssl rand -base64 32`)",
            ],
        ),
        (
            "secret of the wrong type is not echoed",
            "cluster: {secret: [s3cr3t-value]}",
            &["cluster.secret: expected a string, got a list"],
        ),
        (
            "MTU below the minimum",
            "machine: {network: {kubespan: {mtu: 1000}}}",
            &["machine.network.kubespan.mtu: 1000 is below the minimum 1280"],
        ),
        (
            "MTU above the maximum",
            "machine: {network: {kubespan: {mtu: 70000}}}",
            &["machine.network.kubespan.mtu: 70000 is above the maximum 65455"],
        ),
        (
            "reserved routing table and priority past the main rule",
            "machine: {network: {kubespan: {routing: {table: 254, rulePriority: 32766}}}}",
            &[
                "machine.network.kubespan.routing.table: 254 is a reserved routing table (0, 253, 254, 255), expected e.g. 180",
                "machine.network.kubespan.routing.rulePriority: 32766 is outside 1 to 32765 (the main table's rule is at 32766)",
            ],
        ),
        (
            "marks outside the mask, equal marks, bad nftables table",
            "machine: {network: {kubespan: {routing: {markMask: 0x60, tunnelMark: 0x80, forceMark: 0x40, nftablesTable: 'my table'}}}}",
            &[
                "machine.network.kubespan.routing.tunnelMark: 0x80 has bits outside markMask 0x60",
                "machine.network.kubespan.routing.nftablesTable: \"my table\" is not an nftables table name, expected a letter then up to 31 letters, digits or '_'",
            ],
        ),
        (
            "force mark equal to the tunnel mark",
            "machine: {network: {kubespan: {routing: {tunnelMark: 32, forceMark: 32}}}}",
            &[
                "machine.network.kubespan.routing.forceMark: 0x20 equals tunnelMark, expected a different mark",
            ],
        ),
        (
            "certSANs entries that are neither IPs nor DNS names",
            "machine: {certSANs: ['203.0.113.7', 'bad name', 'node-1.example.com', '-x']}",
            &[
                "machine.certSANs[1]: \"bad name\" is neither an IP address nor a DNS name, expected e.g. \"203.0.113.7\" or \"node-1.example.com\"",
                "machine.certSANs[3]: \"-x\" is neither an IP address nor a DNS name, expected e.g. \"203.0.113.7\" or \"node-1.example.com\"",
            ],
        ),
        (
            "certSANs is a list",
            "machine: {certSANs: 203.0.113.7}",
            &["machine.certSANs: expected a list of strings, got \"203.0.113.7\""],
        ),
        (
            "advertisedNetworks that are not routable networks",
            "machine: {network: {kubespan: {advertisedNetworks: ['10.244.1.0/24', 'pods', '10.244.2.1/24', '0.0.0.0/0', '::/0', '127.0.0.0/8', 'fe80::/64', 'ff02::/16', '10.244.1.0/24', '10.9.9.9']}}}",
            &[
                "machine.network.kubespan.advertisedNetworks[1]: \"pods\" is not a CIDR or IP, expected a network such as \"10.244.1.0/24\" or \"fd00:10:244:1::/64\"",
                "machine.network.kubespan.advertisedNetworks[2]: \"10.244.2.1/24\" has host bits set, did you mean \"10.244.2.0/24\"?",
                "machine.network.kubespan.advertisedNetworks[3]: \"0.0.0.0/0\" is the default route, which would send all of every peer's traffic to this node; expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[4]: \"::/0\" is the default route, which would send all of every peer's traffic to this node; expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[5]: \"127.0.0.0/8\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[6]: \"fe80::/64\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
                "machine.network.kubespan.advertisedNetworks[7]: \"ff02::/16\" is loopback, link-local, multicast or unspecified space, expected a network behind this node",
            ],
        ),
        (
            "advertisedNetworks is a list",
            "machine: {network: {kubespan: {advertisedNetworks: 10.244.1.0/24}}}",
            &[
                "machine.network.kubespan.advertisedNetworks: expected a list of strings, got \"10.244.1.0/24\"",
            ],
        ),
        (
            "natTraversal is a boolean",
            "machine: {network: {kubespan: {natTraversal: sometimes}}}",
            &[
                "machine.network.kubespan.natTraversal: expected a boolean (true or false), got \"sometimes\"",
            ],
        ),
        (
            "bad CIDR filter",
            "machine: {network: {kubespan: {filters: {endpoints: ['0.0.0.0/0', '!10.0.0.0/33']}}}}",
            &[
                "machine.network.kubespan.filters.endpoints[1]: \"!10.0.0.0/33\" is not a CIDR or IP with optional '!', expected e.g. \"0.0.0.0/0\", \"!192.168.0.0/16\" or \"::/0\"",
            ],
        ),
        (
            "bad excluded network",
            "machine: {network: {kubespan: {filters: {excludeAdvertisedNetworks: [pods]}}}}",
            &[
                "machine.network.kubespan.filters.excludeAdvertisedNetworks[0]: \"pods\" is not a CIDR or IP, expected e.g. \"10.244.0.0/16\"",
            ],
        ),
        (
            "unknown key with a suggestion",
            "machine: {network: {kubespan: {mut: 1500}}}",
            &["machine.network.kubespan.mut: unknown key, did you mean \"mtu\"?"],
        ),
        (
            "unknown key without a close match",
            "debug: true",
            &["debug: unknown key, expected one of: version, machine, cluster"],
        ),
        (
            "discovery endpoint that is not a URL",
            "cluster: {discovery: {registries: {service: {endpoint: discovery.example.com}}}}",
            &[
                "cluster.discovery.registries.service.endpoint: \"discovery.example.com\" is not a URL (relative URL without a base), expected e.g. \"https://discovery.example.com/\"",
            ],
        ),
        (
            "discovery endpoint with a bad scheme",
            "cluster: {discovery: {registries: {service: {extraEndpoints: ['ftp://d.example.com/']}}}}",
            &[
                "cluster.discovery.registries.service.extraEndpoints[0]: \"ftp://d.example.com/\" has scheme \"ftp\", expected https, http (plaintext) or grpc",
            ],
        ),
        (
            "KubeSpan without discovery",
            "cluster: {discovery: {enabled: false}}",
            &[
                "machine.network.kubespan.enabled: KubeSpan requires cluster discovery with the service registry: set cluster.discovery.enabled: true and leave cluster.discovery.registries.service.disabled unset or false",
            ],
        ),
        (
            "missing cluster id",
            "cluster: {id: null}",
            &[
                "cluster.id: missing, required when discovery or KubeSpan is enabled (`weftctl gen secrets` makes one)",
            ],
        ),
        (
            "several problems at once",
            "version: v1alpha2\nmachine: {type: master, stateDir: var/lib/weft, api: {listenAddress: ':50000'}, network: {kubespan: {listenPort: 70000, backend: tap}}}",
            &[
                "version: \"v1alpha2\" is not supported, expected \"v1alpha1\"",
                "machine.type: \"master\" is not a machine type, expected controlplane or worker",
                "machine.api.listenAddress: \":50000\" is not an address:port, expected e.g. \"[::]:50000\" or \"0.0.0.0:50000\"",
                "machine.stateDir: \"var/lib/weft\" is not an absolute path, expected e.g. \"/var/lib/weft\"",
                "machine.network.kubespan.listenPort: 70000 is not a UDP port, expected 1 to 65535",
                "machine.network.kubespan.backend: \"tap\" is not a data-plane backend, expected auto, userspace or kernel",
            ],
        ),
        (
            "version that is not a string, next to the other problems",
            "version: 7\nmachine: {type: master}",
            &[
                "version: 7 is not supported, expected \"v1alpha1\"",
                "machine.type: \"master\" is not a machine type, expected controlplane or worker",
            ],
        ),
        (
            "missing version, next to the other problems",
            "version: null\nmachine: {network: {kubespan: {mtu: 1000}}}",
            &[
                "version: missing, expected \"v1alpha1\"",
                "machine.network.kubespan.mtu: 1000 is below the minimum 1280",
            ],
        ),
        (
            "bad hostname",
            "machine: {network: {hostname: 'node_1.example'}}",
            &[
                "machine.network.hostname: \"node_1.example\" is not a hostname, expected DNS labels of letters, digits and '-' (at most 253 characters)",
            ],
        ),
        (
            "CA key that does not belong to the certificate",
            "machine: {ca: {key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1DNENBUUF3QlFZREsyVndCQ0lFSUlXT0FMMnBIYkhTV3g1UmFKUmcxUnF2V3JzMmZPRzlNbWZqdVJrVTBvV2QKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo=}}",
            &["machine.ca: key: does not belong to the certificate in crt"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, patch, want) in cases {
        let err = error_of(&patched(patch));
        let got = paths_and_messages(&err);
        if got != *want {
            failures.push(format!("{name}:\n  want: {want:?}\n  got:  {got:?}"));
        }
        // The whole message: a header counting the problems, one line each.
        let noun = if want.len() == 1 {
            "problem"
        } else {
            "problems"
        };
        let header = format!("{SOURCE}: invalid machine config, {} {noun}:", want.len());
        assert!(err.to_string().starts_with(&header), "{name}: {err}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Text that never becomes a config tree: each row's whole message.
#[test]
fn unparsable_text_is_refused_with_place_and_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "nesting deeper than the limit, refused before parsing",
            "version: v1alpha1\nmachine:\n  network: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
            "config.yaml:3:42: YAML nested more than 32 levels deep under machine.network, in a flow collection (the limit for a config), refused before parsing",
        ),
        (
            "YAML syntax error with line and column",
            "version: v1alpha1\nmachine:\n  type: worker\n   ca: x\n",
            "config.yaml:4:6: YAML syntax error: mapping values are not allowed in this context",
        ),
        (
            "empty file",
            "",
            "config.yaml: invalid machine config, 1 problem:\n  - empty document, expected a machine config",
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(error_of(text).to_string(), *want, "{name}");
    }
}

/// Files that cannot be read as a config: missing, a directory, too large, not UTF-8.
#[test]
fn unreadable_files_are_named_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(SOURCE);
    let shown = path.display().to_string();
    let error = |path: &Path| match load_machine_config(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        error(&path),
        format!("cannot read {shown}: No such file or directory (os error 2)")
    );
    std::fs::create_dir(&path).expect("mkdir");
    assert_eq!(
        error(&path),
        format!("cannot read {shown}: Is a directory (os error 21)")
    );
    std::fs::remove_dir(&path).expect("rmdir");
    std::fs::write(&path, b"version: \xff\xfe\n").expect("write");
    assert_eq!(
        error(&path),
        format!("{shown}: not UTF-8 text, expected a YAML machine config")
    );
    std::fs::write(&path, vec![b'#'; 2 * 1024 * 1024]).expect("write");
    assert_eq!(
        error(&path),
        format!("{shown}: 2097152 bytes exceed the limit of 1048576 bytes for a machine config")
    );
}

#[test]
fn the_secret_never_appears_in_messages() {
    // Every problem at once, around the real secret.
    let err = error_of(&patched(
        "machine: {network: {kubespan: {mtu: 1}}}\ncluster: {sekret: x}",
    ))
    .to_string();
    assert!(!err.contains(&bundle().cluster.secret), "{err}");
    assert!(!err.contains(&bundle().certs.os.key), "{err}");
}

#[test]
fn list_limits_are_enforced() {
    let networks: Vec<String> = (0..33).map(|i| format!("'10.{i}.0.0/16'")).collect();
    let sans: Vec<String> = (0..65).map(|i| format!("'10.0.0.{i}'")).collect();
    for (patch, want) in [
        (
            format!(
                "machine: {{network: {{kubespan: {{advertisedNetworks: [{}]}}}}}}",
                networks.join(", ")
            ),
            "machine.network.kubespan.advertisedNetworks: 33 entries, expected at most 32",
        ),
        (
            format!("machine: {{certSANs: [{}]}}", sans.join(", ")),
            "machine.certSANs: 65 entries, expected at most 64",
        ),
    ] {
        assert_eq!(paths_and_messages(&error_of(&patched(&patch))), [want]);
    }
}

/// What Weft accepts but does not do is valid, with a warning naming the key and what to use.
#[test]
fn kubernetes_only_settings_are_valid_with_a_warning() {
    let valid = parse_machine_config(
        &patched(
            "machine: {network: {kubespan: {advertiseKubernetesNetworks: true, advertisedNetworks: ['10.244.1.0/24', 'fd00:10:244:1::/64']}}}\ncluster: {discovery: {registries: {kubernetes: {disabled: false}}}}",
        ),
        SOURCE,
    )
    .expect("valid");
    let warnings: Vec<String> = valid
        .settings
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "cluster.discovery.registries.kubernetes is enabled, but Weft has no Kubernetes registry; only the service registry is used",
            "machine.network.kubespan.advertiseKubernetesNetworks is true, but Weft has no Kubernetes to read pod CIDRs from; list the networks in machine.network.kubespan.advertisedNetworks",
        ]
    );
}

#[test]
fn a_version_that_is_not_a_string_is_unsupported_and_hides_nothing() {
    let table: &[(&str, &str)] = &[
        (
            "version: 7\n",
            "version: 7 is not supported, expected \"v1alpha1\"",
        ),
        (
            "version: true\n",
            "version: true is not supported, expected \"v1alpha1\"",
        ),
        (
            "version: [1]\n",
            "version: a list is not supported, expected \"v1alpha1\"",
        ),
        (
            "version: v2\n",
            "version: \"v2\" is not supported, expected \"v1alpha1\"",
        ),
        ("cluster: {}\n", "version: missing, expected \"v1alpha1\""),
    ];
    for (head, want) in table {
        let text = format!("{head}machine: {{type: master}}\n");
        let err = parse_machine_config(&text, "c.yaml").expect_err("invalid");
        let got = paths_and_messages(&err);
        assert_eq!(
            got.first().map(String::as_str),
            Some(*want),
            "{head}: {err}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("machine.type: \"master\"")),
            "{head}: the other problems are still reported: {got:?}"
        );
    }
}

#[test]
fn deep_nesting_is_refused_before_parsing_naming_source_place_and_limit() {
    let text = format!(
        "version: v1alpha1\ncluster:\n  id: {}\n",
        "[".repeat(200_000)
    );
    let start = std::time::Instant::now();
    let err = parse_machine_config(&text, "applied config").expect_err("too deep");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        matches!(err, ConfigError::TooDeep { line: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "applied config:3:{}: YAML nested more than {MAX_CONFIG_DEPTH} levels deep under cluster.id, in a flow collection (the limit for a config), refused before parsing",
            "  id: ".len() + (MAX_CONFIG_DEPTH - 1)
        )
    );
}
