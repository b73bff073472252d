//! The machine config's field documentation, and the commented form of a generated config that
//! `weftctl gen config --with-docs --with-examples` writes, in talosctl's style: a map's
//! description on a comment line above it, a scalar's at the end of its line, and the optional
//! keys a config leaves out as commented examples (`# # what it is` then `# key: value`) at the
//! end of the map they belong in. Uncommenting an example gives a valid config (tested).
//!
//! Weft differs from talosctl on purpose: both flags default to false (talosctl: true), so
//! generated configs stay short unless asked; the descriptions are Weft's own.

use super::walk::{Key, Kind};

/// One documented key of the machine config, by its dotted path.
#[derive(Debug, Clone, Copy)]
pub struct FieldDoc {
    pub path: &'static str,
    pub doc: &'static str,
    /// A valid example for an optional key, as YAML lines starting with the key itself.
    pub example: Option<&'static str>,
}

const fn field(path: &'static str, doc: &'static str) -> FieldDoc {
    FieldDoc {
        path,
        doc,
        example: None,
    }
}

const fn example(path: &'static str, doc: &'static str, example: &'static str) -> FieldDoc {
    FieldDoc {
        path,
        doc,
        example: Some(example),
    }
}

/// Every key of the machine config (a test keeps this in step with the validator's key tree).
pub const FIELD_DOCS: &[FieldDoc] = &[
    field("version", "The schema of this document: v1alpha1."),
    field(
        "machine",
        "This machine: its role, node API, identity and KubeSpan.",
    ),
    field(
        "machine.type",
        "The role of the machine: controlplane or worker.",
    ),
    field(
        "machine.ca",
        "The node-API certificate authority (Talos: machine.ca), base64 PEM; the key is a secret.",
    ),
    field("machine.ca.crt", "The CA certificate, base64 PEM."),
    field(
        "machine.ca.key",
        "The CA's private key, base64 PEM (secret).",
    ),
    example(
        "machine.api",
        "The node API (gRPC over mutual TLS) that weftctl talks to.",
        "api:\n    listenAddress: '[::]:50000'",
    ),
    field(
        "machine.api.listenAddress",
        "Where the node API listens; default [::]:50000.",
    ),
    example(
        "machine.stateDir",
        "Where weftd keeps the node's identities; default /var/lib/weft.",
        "stateDir: /var/lib/weft",
    ),
    example(
        "machine.metrics",
        "Prometheus metrics of weftd (off unless set).",
        "metrics:\n    listenAddress: 0.0.0.0:9120",
    ),
    field(
        "machine.metrics.listenAddress",
        "Where /metrics is served, ip:port.",
    ),
    example(
        "machine.certSANs",
        "Extra names of the node-API certificate, e.g. the public address of a NAT in front.",
        "certSANs:\n    - 203.0.113.7\n    - node-1.example.com",
    ),
    example(
        "machine.network",
        "The machine's network: host name and KubeSpan.",
        "network:\n    kubespan:\n        enabled: true",
    ),
    example(
        "machine.network.hostname",
        "The host name published to peers; default: the OS host name.",
        "hostname: node-1",
    ),
    field(
        "machine.network.kubespan",
        "KubeSpan: the full-mesh WireGuard network between the cluster's nodes.",
    ),
    field(
        "machine.network.kubespan.enabled",
        "Whether this node joins the mesh.",
    ),
    example(
        "machine.network.kubespan.advertiseKubernetesNetworks",
        "Accepted for Talos configs; Weft runs no Kubernetes (see advertisedNetworks).",
        "advertiseKubernetesNetworks: false",
    ),
    example(
        "machine.network.kubespan.allowDownPeerBypass",
        "Send traffic to a peer that is down in clear instead of dropping it; default false.",
        "allowDownPeerBypass: false",
    ),
    example(
        "machine.network.kubespan.harvestExtraEndpoints",
        "Publish the endpoints peers see this node at to the discovery service; default false.",
        "harvestExtraEndpoints: false",
    ),
    example(
        "machine.network.kubespan.mtu",
        "The WireGuard link's MTU, 1280 to 65455; default 1420.",
        "mtu: 1420",
    ),
    example(
        "machine.network.kubespan.filters",
        "Which endpoints and networks of peers are used.",
        "filters:\n    endpoints:\n        - 0.0.0.0/0\n        - '!192.168.0.0/16'\n        - ::/0",
    ),
    field(
        "machine.network.kubespan.filters.endpoints",
        "Peer endpoints tried: CIDRs, a leading ! excludes; default all.",
    ),
    field(
        "machine.network.kubespan.filters.excludeAdvertisedNetworks",
        "Networks of peers not routed through the mesh.",
    ),
    example(
        "machine.network.kubespan.listenPort",
        "The WireGuard UDP port; default 51820.",
        "listenPort: 51820",
    ),
    example(
        "machine.network.kubespan.backend",
        "The WireGuard implementation: auto, userspace or kernel; default auto.",
        "backend: auto",
    ),
    example(
        "machine.network.kubespan.extraAnnouncedEndpoints",
        "Extra ip:port endpoints announced to peers, e.g. a port forwarded on a NAT.",
        "extraAnnouncedEndpoints:\n    - 203.0.113.7:51820",
    ),
    example(
        "machine.network.kubespan.advertisedNetworks",
        "Networks behind this node that peers route to it.",
        "advertisedNetworks:\n    - 10.244.1.0/24",
    ),
    example(
        "machine.network.kubespan.interface",
        "The WireGuard link's name; nodes sharing a host need distinct ones; default kubespan.",
        "interface: kubespan",
    ),
    example(
        "machine.network.kubespan.natTraversal",
        "Learn this node's public endpoint by STUN and punch holes through NATs; default true.",
        "natTraversal: true",
    ),
    example(
        "machine.network.kubespan.routing",
        "The traffic capture: routing table, rule and marks (Talos's values by default).",
        "routing:\n    table: 180\n    rulePriority: 32500",
    ),
    field(
        "machine.network.kubespan.routing.table",
        "The routing table of peer routes; default 180.",
    ),
    field(
        "machine.network.kubespan.routing.rulePriority",
        "The priority of the rule that looks it up; default 32500.",
    ),
    field(
        "machine.network.kubespan.routing.tunnelMark",
        "The mark on the tunnel's own UDP; default 0x20.",
    ),
    field(
        "machine.network.kubespan.routing.forceMark",
        "The mark on traffic sent into the tunnel; default 0x40.",
    ),
    field(
        "machine.network.kubespan.routing.markMask",
        "The bits of the packet mark Weft owns; default 0x60.",
    ),
    field(
        "machine.network.kubespan.routing.nftablesTable",
        "The nftables table (family inet) weftd owns whole; default weft.",
    ),
    field("cluster", "The cluster this machine belongs to."),
    field(
        "cluster.id",
        "The cluster's id, base64 of 32 bytes; it names the cluster at the discovery service.",
    ),
    field(
        "cluster.secret",
        "The cluster's secret, base64 of 32 bytes (secret): it encrypts what is published.",
    ),
    field(
        "cluster.controlPlane",
        "Where the cluster's control plane is.",
    ),
    field(
        "cluster.controlPlane.endpoint",
        "The control plane's URL, as given to gen config.",
    ),
    field("cluster.clusterName", "The cluster's name."),
    field("cluster.discovery", "How nodes find each other."),
    field("cluster.discovery.enabled", "Whether discovery runs."),
    field(
        "cluster.discovery.registries",
        "Where affiliates are published.",
    ),
    field(
        "cluster.discovery.registries.kubernetes",
        "The Kubernetes registry: always disabled in Weft.",
    ),
    field(
        "cluster.discovery.registries.kubernetes.disabled",
        "Whether the Kubernetes registry is off.",
    ),
    example(
        "cluster.discovery.registries.service",
        "The discovery service registry.",
        "service:\n    endpoint: https://discovery.talos.dev/",
    ),
    field(
        "cluster.discovery.registries.service.disabled",
        "Whether the discovery service is off.",
    ),
    field(
        "cluster.discovery.registries.service.endpoint",
        "The discovery service's URL; default https://discovery.talos.dev/.",
    ),
    field(
        "cluster.discovery.registries.service.extraEndpoints",
        "More discovery services, published to and merged.",
    ),
];

fn doc_of(path: &str) -> Option<&'static FieldDoc> {
    FIELD_DOCS.iter().find(|f| f.path == path)
}

/// A map being read: its path, the indent of its key (`None` for the document itself, which no
/// line closes), and the child keys seen in it.
struct Open {
    path: String,
    indent: Option<usize>,
    seen: Vec<String>,
}

/// The examples for the optional children of `map` that it left out, commented, at `indent`.
fn examples_for(map: &Open, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let prefix = if map.path.is_empty() {
        String::new()
    } else {
        format!("{}.", map.path)
    };
    for f in FIELD_DOCS {
        let Some(child) = f.path.strip_prefix(&prefix) else {
            continue;
        };
        let Some(text) = f.example.filter(|_| !child.contains('.')) else {
            continue;
        };
        if map.seen.iter().any(|k| k == child) {
            continue;
        }
        out.push_str(&format!("{pad}# # {}\n", f.doc));
        for line in text.lines() {
            out.push_str(&format!("{pad}# {line}\n"));
        }
    }
}

/// Closes the maps whose key is indented at `indent` or deeper (all of them for `None`), writing
/// their examples if asked.
fn close(stack: &mut Vec<Open>, indent: Option<usize>, examples: bool, out: &mut String) {
    while let Some(top) = stack.last() {
        if let (Some(line), Some(map)) = (indent, top.indent) {
            if map < line {
                break;
            }
        } else if indent.is_some() {
            break; // the document itself
        }
        let map = stack.pop().expect("non-empty");
        if examples {
            examples_for(&map, map.indent.map_or(0, |i| i + 4), out);
        }
    }
}

/// `yaml` (a machine config as weftctl writes it: block style, 4-space indent) with the
/// descriptions of its keys (`docs`) and commented examples of the optional keys it leaves out
/// (`examples`). Lines it does not recognise pass through unchanged.
pub fn annotate(yaml: &str, docs: bool, examples: bool) -> String {
    let mut out = String::with_capacity(yaml.len() * 3);
    let mut stack = vec![Open {
        path: String::new(),
        indent: None,
        seen: Vec::new(),
    }];
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let key = line
            .trim_start()
            .split_once(':')
            .filter(|(k, rest)| {
                !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric())
                    && (rest.is_empty() || rest.starts_with(' '))
            })
            .map(|(k, rest)| (k.to_owned(), rest.trim().is_empty()));
        let Some((key, opens_block)) = key else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        close(&mut stack, Some(indent), examples, &mut out);
        let parent = stack
            .last_mut()
            .expect("the document is never closed by a line");
        parent.seen.push(key.clone());
        let path = if parent.path.is_empty() {
            key
        } else {
            format!("{}.{key}", parent.path)
        };
        match (docs.then(|| doc_of(&path)).flatten(), opens_block) {
            (Some(d), true) => {
                out.push_str(&format!("{}# {}\n{line}\n", " ".repeat(indent), d.doc))
            }
            (Some(d), false) => out.push_str(&format!("{line} # {}\n", d.doc)),
            (None, _) => {
                out.push_str(line);
                out.push('\n');
            }
        }
        if opens_block {
            stack.push(Open {
                path,
                indent: Some(indent),
                seen: Vec::new(),
            });
        }
    }
    close(&mut stack, None, examples, &mut out);
    out
}

/// Every key path of the validator's key tree (for the completeness test).
fn key_paths(keys: &[Key], prefix: &str, out: &mut Vec<String>) {
    for key in keys {
        let path = if prefix.is_empty() {
            key.name.to_owned()
        } else {
            format!("{prefix}.{}", key.name)
        };
        if let Kind::Map(children) = key.kind {
            key_paths(children, &path, out);
        }
        out.push(path);
    }
}

/// The key paths of a machine config document.
pub fn machine_config_paths() -> Vec<String> {
    let mut out = Vec::new();
    key_paths(super::schema::MACHINE_CONFIG_KEYS, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::generate::{self, GenerateOptions};
    use crate::config::secrets::SecretsBundle;
    use crate::config::validate::{MachineType, parse_machine_config};

    fn generated(machine_type: MachineType, kubespan: bool) -> String {
        let opts = GenerateOptions {
            cluster_name: "demo".into(),
            endpoint: "https://10.5.0.2:6443".into(),
            with_kubespan: kubespan,
            with_cluster_discovery: true,
            discovery_endpoints: Vec::new(),
        };
        let secrets = SecretsBundle::generate().expect("secrets");
        let config = generate::machine_config(&opts, &secrets, machine_type);
        crate::yaml::to_string(&config).expect("yaml")
    }

    /// Uncomments the examples (`# key…` lines, not the `# # doc` ones).
    fn uncomment_examples(text: &str) -> String {
        text.lines()
            .filter(|l| !l.trim_start().starts_with("# # "))
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                match l.trim_start().strip_prefix("# ") {
                    Some(rest) if !l.trim_start().starts_with("# #") => {
                        format!("{}{rest}", " ".repeat(indent))
                    }
                    _ => l.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_key_is_documented_and_every_doc_names_a_key() {
        let paths = machine_config_paths();
        for path in &paths {
            assert!(doc_of(path).is_some(), "{path} has no description");
        }
        for f in FIELD_DOCS {
            assert!(paths.iter().any(|p| p == f.path), "{} is no key", f.path);
        }
    }

    #[test]
    fn docs_are_comments_only() {
        for (ty, kubespan) in [
            (MachineType::ControlPlane, true),
            (MachineType::Worker, false),
        ] {
            let plain = generated(ty, kubespan);
            let annotated = annotate(&plain, true, true);
            let a: yaml_serde::Value = yaml_serde::from_str(&plain).expect("plain");
            let b: yaml_serde::Value = yaml_serde::from_str(&annotated).expect("annotated");
            assert_eq!(a, b, "{annotated}");
            assert_eq!(annotate(&plain, false, false), plain);
        }
    }

    #[test]
    fn maps_get_a_line_above_and_scalars_a_line_end_comment() {
        let text = annotate(&generated(MachineType::ControlPlane, true), true, false);
        assert!(
            text.contains("# This machine: its role, node API, identity and KubeSpan.\nmachine:\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "    type: controlplane # The role of the machine: controlplane or worker.\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("version: v1alpha1 # The schema of this document: v1alpha1.\n"),
            "{text}"
        );
        assert!(!text.contains("# # "), "no examples unless asked: {text}");
    }

    #[test]
    fn examples_sit_in_their_map_and_uncommented_they_validate() {
        for (ty, kubespan) in [
            (MachineType::ControlPlane, true),
            (MachineType::Worker, false),
        ] {
            let text = annotate(&generated(ty, kubespan), false, true);
            assert!(
                text.contains("    # # Extra names of the node-API certificate"),
                "{text}"
            );
            let open = uncomment_examples(&text);
            let valid =
                parse_machine_config(&open, "examples").unwrap_or_else(|e| panic!("{e}\n{open}"));
            assert_eq!(valid.settings.state_dir.to_str(), Some("/var/lib/weft"));
            if kubespan {
                assert!(open.contains("        advertisedNetworks:\n"), "{open}");
                assert_eq!(valid.settings.kubespan.mtu, 1420);
            } else {
                // No network map: its example is the whole map.
                assert!(open.contains("    network:\n        kubespan:\n"), "{open}");
            }
        }
    }
}
