//! The generator behind `weftctl gen config`: from a secrets bundle and a few flags, the
//! `controlplane.yaml` and `worker.yaml` machine configs and the `weftconfig` client config.
//! Machine configs are a pure function of the inputs (deterministic for a given bundle); the client
//! config holds a freshly issued certificate, so it differs on every run.

use url::Url;
use yaml_serde::Value;

use super::client::{ClientConfig, Context};
use super::schema::{
    Cluster, ControlPlane, Discovery, KubeSpan, KubernetesRegistry, Machine, MachineConfig,
    Network, Registries, ServiceRegistry,
};
use super::secrets::SecretsBundle;
use super::validate::{self, ConfigError, MachineType, Problem, parse_discovery_endpoint};
use super::walk::quote;
use super::{DEFAULT_KUBERNETES_API_PORT, VERSION_V1ALPHA1};
use crate::pki::{self, PkiError, Role};

/// Common name of the client certificate in a generated `weftconfig`.
pub const ADMIN_CLIENT_NAME: &str = "admin";

/// Inputs of `gen config` besides the secrets bundle.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub cluster_name: String,
    /// The cluster endpoint as the user wrote it; checked by [`check_options`].
    pub endpoint: String,
    pub with_kubespan: bool,
    pub with_cluster_discovery: bool,
    /// Discovery service URLs: the first is the service registry's endpoint, the rest extra ones.
    pub discovery_endpoints: Vec<String>,
}

/// Checks the options; every problem names the flag or argument.
pub fn check_options(opts: &GenerateOptions) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(msg) = parse_cluster_endpoint(&opts.endpoint) {
        problems.push(Problem::new("<endpoint>", msg));
    }
    if let Some(msg) = validate::cluster_name_problem(&opts.cluster_name) {
        problems.push(Problem::new("<cluster-name>", msg));
    }
    if opts.with_kubespan && !opts.with_cluster_discovery {
        problems.push(Problem::new(
            "--with-kubespan",
            "KubeSpan requires cluster discovery; drop --with-cluster-discovery=false",
        ));
    }
    for url in &opts.discovery_endpoints {
        if let Err(msg) = parse_discovery_endpoint(url) {
            problems.push(Problem::new("--discovery-endpoint", msg));
        }
    }
    problems
}

/// Parses the cluster endpoint argument: an `https://` URL with an explicit port. The error
/// suggests the fixed URL.
pub fn parse_cluster_endpoint(s: &str) -> Result<Url, String> {
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, s),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = split_host_port(authority);
    let fixed = || {
        format!(
            "https://{}:{}",
            if host.is_empty() { "<host>" } else { host },
            port.unwrap_or(DEFAULT_KUBERNETES_API_PORT)
        )
    };
    if scheme != Some("https") || host.is_empty() || port.is_none() {
        return Err(format!(
            "{} is not an https:// URL with a host and port, did you mean {:?}?",
            quote(s),
            fixed()
        ));
    }
    Url::parse(s).map_err(|e| {
        format!(
            "{} is not a valid URL ({e}), did you mean {:?}?",
            quote(s),
            fixed()
        )
    })
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`; the port is `None` when absent or not a number.
fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

/// The machine config of one machine type. Deterministic for given inputs.
pub fn machine_config(
    opts: &GenerateOptions,
    secrets: &SecretsBundle,
    machine_type: MachineType,
) -> MachineConfig {
    let mut endpoints = opts.discovery_endpoints.iter().cloned();
    let service_endpoint = endpoints.next();
    let extra: Vec<String> = endpoints.collect();
    MachineConfig {
        version: VERSION_V1ALPHA1.to_owned(),
        machine: Machine {
            machine_type: Some(machine_type.as_str().to_owned()),
            ca: Some(secrets.certs.os.clone()),
            api: None,
            state_dir: None,
            cert_sans: None,
            network: opts.with_kubespan.then(|| Network {
                hostname: None,
                kubespan: Some(KubeSpan {
                    enabled: Some(true),
                    ..KubeSpan::default()
                }),
            }),
            metrics: None,
        },
        cluster: Cluster {
            id: Some(secrets.cluster.id.clone()),
            secret: Some(secrets.cluster.secret.clone()),
            control_plane: Some(ControlPlane {
                endpoint: Some(opts.endpoint.clone()),
            }),
            cluster_name: Some(opts.cluster_name.clone()),
            discovery: Some(Discovery {
                enabled: Some(opts.with_cluster_discovery),
                registries: Some(Registries {
                    // Talos >= 1.2 writes the Kubernetes registry as disabled; Weft has none.
                    kubernetes: Some(KubernetesRegistry {
                        disabled: Some(true),
                    }),
                    service: Some(ServiceRegistry {
                        disabled: None,
                        endpoint: service_endpoint,
                        extra_endpoints: (!extra.is_empty()).then_some(extra),
                    }),
                }),
            }),
        },
    }
}

/// The client config: one context named after the cluster, an `os:admin` certificate.
pub fn client_config(
    opts: &GenerateOptions,
    secrets: &SecretsBundle,
) -> Result<ClientConfig, PkiError> {
    let ca = &secrets.certs.os;
    let client = pki::issue_client_cert(
        ca,
        ADMIN_CLIENT_NAME,
        &[Role::Admin],
        pki::CLIENT_CERT_VALIDITY,
    )?;
    let host = parse_cluster_endpoint(&opts.endpoint)
        .ok()
        .and_then(|url| {
            url.host_str()
                .map(|h| h.trim_matches(['[', ']']).to_owned())
        })
        .unwrap_or_default();
    let mut config = ClientConfig {
        context: opts.cluster_name.clone(),
        ..ClientConfig::default()
    };
    config.contexts.insert(
        opts.cluster_name.clone(),
        Context {
            endpoints: vec![host],
            nodes: Vec::new(),
            ca: ca.crt.clone(),
            crt: client.crt,
            key: client.key,
        },
    );
    Ok(config)
}

/// Applies a strategic-merge patch (YAML mapping) to `config`: mappings merge key by key, any other
/// value replaces, `null` deletes the key. The result is checked like a config read from a file,
/// with `source` (e.g. `config patch @patch.yaml`) naming the patch in messages.
pub fn apply_patch(
    config: &MachineConfig,
    patch_text: &str,
    source: &str,
) -> Result<MachineConfig, ConfigError> {
    let patch = validate::parse_yaml(patch_text, source)?;
    let invalid = |msg: &str| ConfigError::Invalid {
        source_name: source.to_owned(),
        what: "config patch",
        problems: vec![Problem::new("", msg)],
    };
    match &patch {
        Value::Mapping(_) => {}
        Value::Sequence(_) => {
            return Err(invalid(
                "JSON patches (RFC 6902 operation lists) are not supported, expected a YAML mapping to merge",
            ));
        }
        Value::Null => return Err(invalid("empty patch, expected a YAML mapping to merge")),
        _ => return Err(invalid("expected a YAML mapping to merge")),
    }
    let mut base = yaml_serde::to_value(config).map_err(|e| invalid(&e.to_string()))?;
    merge(&mut base, patch);
    let text = yaml_serde::to_string(&base).map_err(|e| invalid(&e.to_string()))?;
    validate::check_machine_config(&text, source, "machine config after the patch")
        .map(|valid| valid.config)
}

pub(crate) fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Mapping(base), Value::Mapping(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    base.remove(&k);
                } else if let Some(existing) = base.get_mut(&k) {
                    merge(existing, v);
                } else {
                    base.insert(k, v);
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_suggestions() {
        let cases = [
            ("10.0.0.1", "https://10.0.0.1:6443"),
            ("10.0.0.1:443", "https://10.0.0.1:443"),
            ("http://cp.example.com:6443", "https://cp.example.com:6443"),
            ("https://cp.example.com", "https://cp.example.com:6443"),
            ("https://[fd00::1]", "https://fd00::1:6443"),
        ];
        for (input, fixed) in cases {
            let err = parse_cluster_endpoint(input).expect_err(input);
            assert!(
                err.ends_with(&format!("did you mean {fixed:?}?")),
                "{input}: {err}"
            );
        }
        for ok in [
            "https://10.0.0.1:6443",
            "https://cp.example.com:443/",
            "https://[fd00::1]:6443",
        ] {
            parse_cluster_endpoint(ok).expect(ok);
        }
    }

    #[test]
    fn merge_semantics() {
        let mut base: Value = yaml_serde::from_str("a: {b: 1, c: [1, 2]}\nd: 4\n").expect("base");
        let patch: Value =
            yaml_serde::from_str("a: {b: 2, c: [3]}\nd: null\ne: 5\n").expect("patch");
        merge(&mut base, patch);
        let want: Value = yaml_serde::from_str("a: {b: 2, c: [3]}\ne: 5\n").expect("want");
        assert_eq!(base, want);
    }
}
