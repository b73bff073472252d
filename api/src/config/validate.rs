//! Parsing and validation of machine configs. Validation reports every problem at once, each naming
//! its YAML path, the bad value (never a secret's) and what was expected, e.g.
//! `machine.network.kubespan.mtu: 1000 is below the minimum 1280`. A valid config resolves to
//! [`Settings`]: defaults applied, values parsed, what the daemon runs on.

use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use url::Url;

use super::filter::{IpFilter, parse_net};
use super::nesting;
use super::schema::{self, MachineConfig};
use super::walk::{self, quote};
use super::*;
use crate::pki::{self, CertAndKey};

/// One validation problem: where (a YAML path such as `machine.network.kubespan.mtu`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: &str, message: impl Into<String>) -> Problem {
        Problem {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a config (or secrets bundle) could not be used. `source` names where the text came from: a
/// file path, `<stdin>`, or a config patch.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    #[error("{}: {size} bytes exceed the limit of {MAX_CONFIG_FILE_BYTES} bytes for a {what}", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        what: &'static str,
    },
    #[error("{}: not UTF-8 text, expected a YAML {what}", path.display())]
    NotUtf8 { path: PathBuf, what: &'static str },
    #[error(
        "{source_name}:{line}:{column}: YAML nested more than {MAX_CONFIG_DEPTH} levels deep{} (the limit for a config), refused before parsing",
        nesting_place(at, *in_flow)
    )]
    TooDeep {
        source_name: String,
        line: usize,
        column: usize,
        /// The block path to the place (`machine.network`), empty at the top.
        at: String,
        in_flow: bool,
    },
    #[error("{source_name}:{line}:{column}: YAML syntax error: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", render_invalid(source_name, what, problems))]
    Invalid {
        source_name: String,
        what: &'static str,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The validation problems, if this is a validation error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn nesting_place(at: &str, in_flow: bool) -> String {
    match (at.is_empty(), in_flow) {
        (true, false) => String::new(),
        (true, true) => " in a flow collection".to_owned(),
        (false, false) => format!(" under {at}"),
        (false, true) => format!(" under {at}, in a flow collection"),
    }
}

fn render_invalid(source: &str, what: &str, problems: &[Problem]) -> String {
    let noun = if problems.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    let mut out = format!("{source}: invalid {what}, {} {noun}:", problems.len());
    for p in problems {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    out
}

/// Machine type (`machine.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    ControlPlane,
    Worker,
}

impl MachineType {
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::ControlPlane => "controlplane",
            MachineType::Worker => "worker",
        }
    }
}

/// Data-plane backend (`machine.network.kubespan.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Kernel WireGuard when the module is there, the embedded userspace one otherwise.
    Auto,
    Userspace,
    Kernel,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Userspace => "userspace",
            Backend::Kernel => "kernel",
        }
    }
}

/// The decoded cluster secret: the AES-256 key for discovery data and the WireGuard PSK.
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret([u8; CLUSTER_SECRET_LEN]);

impl ClusterSecret {
    pub fn bytes(&self) -> &[u8; CLUSTER_SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// A valid config: the document as written, and what it resolves to.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub config: MachineConfig,
    pub settings: Settings,
}

/// A config with defaults applied and values parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub machine_type: MachineType,
    /// `machine.network.hostname`, when set (otherwise the OS hostname is used).
    pub hostname: Option<String>,
    pub ca: CertAndKey,
    pub api_listen: SocketAddr,
    /// `machine.metrics.listenAddress`: weftd's Prometheus endpoint; `None` (the default) is off.
    pub metrics_listen: Option<SocketAddr>,
    pub state_dir: PathBuf,
    /// `machine.certSANs`: extra names of the node-API serving certificate.
    pub cert_sans: Vec<CertSan>,
    pub kubespan: KubeSpanSettings,
    pub cluster: ClusterSettings,
}

impl Settings {
    /// What a valid config asks for that Weft does not do: `weftctl validate` prints these and
    /// weftd logs them at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.cluster.discovery.kubernetes_registry_requested {
            out.push("cluster.discovery.registries.kubernetes is enabled, but Weft has no Kubernetes registry; only the service registry is used".to_owned());
        }
        if self.kubespan.advertise_kubernetes_networks {
            out.push("machine.network.kubespan.advertiseKubernetesNetworks is true, but Weft has no Kubernetes to read pod CIDRs from; list the networks in machine.network.kubespan.advertisedNetworks".to_owned());
        }
        out
    }
}

/// One extra subject alternative name of the node-API serving certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSan {
    Ip(IpAddr),
    Dns(String),
}

/// Most `machine.certSANs` entries.
pub const MAX_CERT_SANS: usize = 64;

/// Most `machine.network.kubespan.advertisedNetworks` entries: they travel in the affiliate,
/// which a discovery service keeps only up to 2048 encrypted bytes (an IPv6 prefix takes ~22).
pub const MAX_ADVERTISED_NETWORKS: usize = 32;

/// Resolved `machine.network.kubespan`.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSpanSettings {
    pub enabled: bool,
    pub advertise_kubernetes_networks: bool,
    pub allow_down_peer_bypass: bool,
    pub harvest_extra_endpoints: bool,
    pub mtu: u32,
    pub listen_port: u16,
    pub backend: Backend,
    pub endpoint_filters: Vec<IpFilter>,
    pub exclude_advertised_networks: Vec<IpNet>,
    pub extra_announced_endpoints: Vec<SocketAddr>,
    /// Weft: networks behind this node that peers route to it (the affiliate's
    /// `additionalAddresses`), at most [`MAX_ADVERTISED_NETWORKS`], without duplicates.
    pub advertised_networks: Vec<IpNet>,
    /// WireGuard link name.
    pub interface: String,
    /// Weft: STUN-learned public endpoint and hole punching.
    pub nat_traversal: bool,
    /// Weft: how traffic is captured for the tunnel.
    pub routing: RoutingSettings,
}

/// Resolved `machine.network.kubespan.routing`: where captured traffic goes and how it is marked
/// (KubeSpan §5; Talos's values by default). Serializable: weftd carries it in its KubeSpan
/// config resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingSettings {
    pub table: u32,
    pub rule_priority: u32,
    pub tunnel_mark: u32,
    pub force_mark: u32,
    pub mark_mask: u32,
    pub nftables_table: String,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            table: DEFAULT_ROUTING_TABLE,
            rule_priority: DEFAULT_RULE_PRIORITY,
            tunnel_mark: DEFAULT_TUNNEL_MARK,
            force_mark: DEFAULT_FORCE_MARK,
            mark_mask: DEFAULT_MARK_MASK,
            nftables_table: DEFAULT_NFTABLES_TABLE.to_owned(),
        }
    }
}

/// Resolved `cluster`.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub name: Option<String>,
    pub control_plane_endpoint: Option<Url>,
    pub id: Option<String>,
    pub secret: Option<ClusterSecret>,
    pub discovery: DiscoverySettings,
}

/// Resolved `cluster.discovery`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverySettings {
    pub enabled: bool,
    /// The service registry is on (discovery enabled and the registry not disabled).
    pub service_registry: bool,
    /// The config asks for the Kubernetes registry, which Weft does not have (weftd warns).
    pub kubernetes_registry_requested: bool,
    /// `registries.service.endpoint` (default Sidero's) followed by `extraEndpoints`.
    pub service_endpoints: Vec<Url>,
}

/// Reads a file of at most [`MAX_CONFIG_FILE_BYTES`] as UTF-8 text.
pub fn read_text_file(path: &Path, what: &'static str) -> Result<String, ConfigError> {
    let read_err = |err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size,
            what,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
        path: path.to_path_buf(),
        what,
    })
}

/// Parses YAML text into a tree, mapping syntax errors to line and column. Text nested deeper than
/// [`MAX_CONFIG_DEPTH`] is refused before the parser sees it ([`super::nesting`]).
pub(crate) fn parse_yaml(text: &str, source: &str) -> Result<yaml_serde::Value, ConfigError> {
    nesting::check_depth(text, MAX_CONFIG_DEPTH).map_err(|deep| ConfigError::TooDeep {
        source_name: source.to_owned(),
        line: deep.line,
        column: deep.column,
        at: deep.path,
        in_flow: deep.in_flow,
    })?;
    yaml_serde::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let full = e.to_string();
        // The library appends " at line L column C"; the location is already in front.
        let message = match full.find(" at line ") {
            Some(i) => full[..i].to_owned(),
            None => full,
        };
        ConfigError::Syntax {
            source_name: source.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// Structurally checks a YAML document against a key tree and deserializes what is left.
pub(crate) fn parse_document<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &str,
    keys: &'static [walk::Key],
    what: &'static str,
    problems: &mut Vec<Problem>,
) -> Result<T, ConfigError> {
    parse_document_with(text, source, keys, what, problems, |_, _| {})
}

/// [`parse_document`] with a first look at the tree (`before`) ahead of the structural walk.
fn parse_document_with<T: serde::de::DeserializeOwned>(
    text: &str,
    source: &str,
    keys: &'static [walk::Key],
    what: &'static str,
    problems: &mut Vec<Problem>,
    before: impl FnOnce(&mut yaml_serde::Value, &mut Vec<Problem>),
) -> Result<T, ConfigError> {
    let mut value = parse_yaml(text, source)?;
    if value.is_null() {
        return Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            what,
            problems: vec![Problem::new(
                "",
                format!("empty document, expected a {what}"),
            )],
        });
    }
    before(&mut value, problems);
    walk::walk_map(&mut value, keys, "", problems);
    yaml_serde::from_value(value).map_err(|e| {
        // What the walk found stays reported next to what the typed pass could not take.
        let mut all = std::mem::take(problems);
        all.push(Problem::new("", e.to_string()));
        ConfigError::Invalid {
            source_name: source.to_owned(),
            what,
            problems: all,
        }
    })
}

/// `version` that is not a string (`version: 7`) is an unsupported version, reported as such and
/// taken out so the rest of the document is still checked.
fn take_bad_version(value: &mut yaml_serde::Value, problems: &mut Vec<Problem>) {
    let Some(map) = value.as_mapping_mut() else {
        return;
    };
    let key = yaml_serde::Value::from("version");
    if let Some(v) = map.get(&key)
        && !v.is_string()
        && !v.is_null()
    {
        problems.push(Problem::new(
            "version",
            format!(
                "{} is not supported, expected {VERSION_V1ALPHA1:?}",
                walk::describe(v)
            ),
        ));
        map.remove(&key);
    }
}

/// Parses and validates a machine config. `source` names the text's origin in messages.
pub fn parse_machine_config(text: &str, source: &str) -> Result<ValidConfig, ConfigError> {
    check_machine_config(text, source, "machine config")
}

/// Structural and semantic checks together, so every problem is reported at once; `what` names the
/// document in messages.
pub(crate) fn check_machine_config(
    text: &str,
    source: &str,
    what: &'static str,
) -> Result<ValidConfig, ConfigError> {
    let mut problems = Vec::new();
    let config: MachineConfig = parse_document_with(
        text,
        source,
        schema::MACHINE_CONFIG_KEYS,
        what,
        &mut problems,
        take_bad_version,
    )?;
    let settings = resolve(&config, &mut problems);
    match settings {
        Some(settings) if problems.is_empty() => Ok(ValidConfig { config, settings }),
        _ => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            what,
            problems,
        }),
    }
}

/// Validates an already-typed machine config (e.g. one just generated or patched).
pub fn validate(config: &MachineConfig, source: &str) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    match resolve(config, &mut problems) {
        Some(settings) if problems.is_empty() => Ok(settings),
        _ => Err(ConfigError::Invalid {
            source_name: source.to_owned(),
            what: "machine config",
            problems,
        }),
    }
}

/// Reads, parses and validates the machine config at `path`.
pub fn load_machine_config(path: &Path) -> Result<ValidConfig, ConfigError> {
    let text = read_text_file(path, "machine config")?;
    parse_machine_config(&text, &path.display().to_string())
}

/// Collects problems while resolving; `missing` stays quiet for paths already reported.
struct Checker<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Checker<'_> {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn missing(&mut self, path: &str, message: impl Into<String>) {
        if !self.problems.iter().any(|p| p.path == path) {
            self.push(path, message);
        }
    }

    fn list<T>(
        &mut self,
        path: &str,
        items: Option<&Vec<String>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, item) in items.into_iter().flatten().enumerate() {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(msg) => self.push(&format!("{path}[{i}]"), msg),
            }
        }
        out
    }
}

/// Checks a cluster id: 1..=256 printable, non-space ASCII characters (the discovery service's limit).
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty, expected 32 random bytes in base64 (`weftctl gen secrets`)".into());
    }
    if id.len() > MAX_CLUSTER_ID_LEN {
        return Err(format!(
            "is {} characters long, the limit is {MAX_CLUSTER_ID_LEN}",
            id.len()
        ));
    }
    if !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "{} contains spaces or non-ASCII characters, expected base64 text",
            quote(id)
        ));
    }
    Ok(())
}

/// Decodes a cluster secret; the message never contains the secret.
pub fn decode_cluster_secret(secret: &str) -> Result<ClusterSecret, String> {
    let bytes = STANDARD.decode(secret.trim()).map_err(|e| {
        format!(
            "is not standard base64 ({e}); expected {CLUSTER_SECRET_LEN} random bytes in base64, as `openssl rand -base64 32` prints"
        )
    })?;
    let array: [u8; CLUSTER_SECRET_LEN] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "decodes to {} bytes, expected exactly {CLUSTER_SECRET_LEN} (`openssl rand -base64 32`)",
            bytes.len()
        )
    })?;
    Ok(ClusterSecret(array))
}

/// Parses a discovery service endpoint URL (`https://`, `http://` for plaintext, or `grpc://`).
pub fn parse_discovery_endpoint(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!(
            "{} is not a URL ({e}), expected e.g. \"https://discovery.example.com/\"",
            quote(s)
        )
    })?;
    if !matches!(url.scheme(), "https" | "http" | "grpc") {
        return Err(format!(
            "{} has scheme {:?}, expected https, http (plaintext) or grpc",
            quote(s),
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{} has no host", quote(s)));
    }
    Ok(url)
}

/// Linux's limit on link names (IFNAMSIZ - 1).
pub const MAX_LINK_NAME_LEN: usize = 15;

fn is_link_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LINK_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Longest hostname (DNS name) accepted.
pub const MAX_HOSTNAME_LEN: usize = 253;

/// Checks a hostname: DNS labels of letters, digits and '-', separated by dots.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if name.len() <= MAX_HOSTNAME_LEN && labels_ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a hostname, expected DNS labels of letters, digits and '-' (at most {MAX_HOSTNAME_LEN} characters)",
            quote(name)
        ))
    }
}

fn check_cluster_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a cluster name, expected 1 to 63 letters, digits, '-', '_' or '.'",
            quote(name)
        ))
    }
}

fn resolve(config: &MachineConfig, problems: &mut Vec<Problem>) -> Option<Settings> {
    let mut c = Checker { problems };

    if config.version.is_empty() {
        c.missing("version", format!("missing, expected {VERSION_V1ALPHA1:?}"));
    } else if config.version != VERSION_V1ALPHA1 {
        c.push(
            "version",
            format!(
                "{} is not supported, expected {VERSION_V1ALPHA1:?}",
                quote(&config.version)
            ),
        );
    }

    let machine = &config.machine;
    let machine_type = match machine.machine_type.as_deref() {
        None | Some("worker") => MachineType::Worker,
        Some("controlplane") => MachineType::ControlPlane,
        Some(other) => {
            c.push(
                "machine.type",
                format!(
                    "{} is not a machine type, expected controlplane or worker",
                    quote(other)
                ),
            );
            MachineType::Worker
        }
    };

    let ca = match &machine.ca {
        None => {
            c.missing(
                "machine.ca",
                "missing, expected the node API certificate authority {crt, key} (base64 PEM) from `weftctl gen secrets`",
            );
            None
        }
        Some(ca) => {
            if let Err(msg) = pki::check_pair(ca) {
                c.push("machine.ca", msg);
            }
            Some(ca.clone())
        }
    };

    let api_listen = match machine
        .api
        .as_ref()
        .and_then(|a| a.listen_address.as_deref())
    {
        None => DEFAULT_API_LISTEN.parse().ok(),
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                c.push(
                    "machine.api.listenAddress",
                    format!("{} is not an address:port, expected e.g. \"[::]:{DEFAULT_API_PORT}\" or \"0.0.0.0:{DEFAULT_API_PORT}\"", quote(s)),
                );
                None
            }
        },
    };

    let metrics_listen = match machine
        .metrics
        .as_ref()
        .and_then(|m| m.listen_address.as_deref())
    {
        None => None,
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                c.push(
                    "machine.metrics.listenAddress",
                    format!("{} is not an address:port, expected e.g. \"127.0.0.1:9120\" or \"[::]:9120\"", quote(s)),
                );
                None
            }
        },
    };

    let state_dir = PathBuf::from(machine.state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR));
    if !state_dir.is_absolute() {
        c.push(
            "machine.stateDir",
            format!(
                "{} is not an absolute path, expected e.g. {DEFAULT_STATE_DIR:?}",
                quote(&state_dir.display().to_string())
            ),
        );
    }

    let cert_sans = resolve_cert_sans(machine.cert_sans.as_deref().unwrap_or_default(), &mut c);

    let hostname = machine.network.as_ref().and_then(|n| n.hostname.clone());
    if let Some(h) = &hostname
        && let Err(msg) = check_hostname(h)
    {
        c.push("machine.network.hostname", msg);
    }

    let kubespan = resolve_kubespan(
        machine
            .network
            .as_ref()
            .and_then(|n| n.kubespan.as_ref())
            .cloned()
            .unwrap_or_default(),
        &mut c,
    );
    let cluster = resolve_cluster(&config.cluster, kubespan.enabled, &mut c);

    // A malformed discovery section was reported already; its consequence would only be noise.
    let discovery_reported = c
        .problems
        .iter()
        .any(|p| p.path.starts_with("cluster.discovery"));
    if kubespan.enabled && !cluster.discovery.service_registry && !discovery_reported {
        c.push(
            "machine.network.kubespan.enabled",
            "KubeSpan requires cluster discovery with the service registry: set cluster.discovery.enabled: true and leave cluster.discovery.registries.service.disabled unset or false",
        );
    }

    Some(Settings {
        machine_type,
        hostname,
        ca: ca?,
        api_listen: api_listen?,
        metrics_listen,
        state_dir,
        cert_sans,
        kubespan,
        cluster,
    })
}

/// `machine.certSANs`: each an IP address or a DNS name, at most [`MAX_CERT_SANS`].
fn resolve_cert_sans(entries: &[String], c: &mut Checker<'_>) -> Vec<CertSan> {
    const P: &str = "machine.certSANs";
    if entries.len() > MAX_CERT_SANS {
        c.push(
            P,
            format!(
                "{} entries, expected at most {MAX_CERT_SANS}",
                entries.len()
            ),
        );
        return Vec::new();
    }
    let mut sans = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let san = if let Ok(ip) = entry.parse::<IpAddr>() {
            CertSan::Ip(ip)
        } else if check_hostname(entry).is_ok() {
            CertSan::Dns(entry.to_ascii_lowercase())
        } else {
            c.push(
                &format!("{P}[{i}]"),
                format!(
                    "{} is neither an IP address nor a DNS name, expected e.g. \"203.0.113.7\" or \"node-1.example.com\"",
                    quote(entry)
                ),
            );
            continue;
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    sans
}

fn resolve_kubespan(ks: schema::KubeSpan, c: &mut Checker<'_>) -> KubeSpanSettings {
    const P: &str = "machine.network.kubespan";
    let mtu = match ks.mtu {
        None => DEFAULT_MTU,
        Some(m) if m < u64::from(MIN_MTU) => {
            c.push(
                &format!("{P}.mtu"),
                format!("{m} is below the minimum {MIN_MTU}"),
            );
            DEFAULT_MTU
        }
        Some(m) if m > u64::from(MAX_MTU) => {
            c.push(
                &format!("{P}.mtu"),
                format!("{m} is above the maximum {MAX_MTU}"),
            );
            DEFAULT_MTU
        }
        Some(m) => m as u32,
    };
    let listen_port = match ks.listen_port {
        None => DEFAULT_WIREGUARD_PORT,
        Some(p) => match u16::try_from(p) {
            Ok(p) if p > 0 => p,
            _ => {
                c.push(
                    &format!("{P}.listenPort"),
                    format!("{p} is not a UDP port, expected 1 to 65535"),
                );
                DEFAULT_WIREGUARD_PORT
            }
        },
    };
    let backend = match ks.backend.as_deref() {
        None | Some("auto") => Backend::Auto,
        Some("userspace") => Backend::Userspace,
        Some("kernel") => Backend::Kernel,
        Some(other) => {
            c.push(
                &format!("{P}.backend"),
                format!(
                    "{} is not a data-plane backend, expected auto, userspace or kernel",
                    quote(other)
                ),
            );
            Backend::Auto
        }
    };
    let filters = ks.filters.unwrap_or_default();
    let endpoint_filters = c.list(
        &format!("{P}.filters.endpoints"),
        filters.endpoints.as_ref(),
        |s| {
            s.parse::<IpFilter>().map_err(|()| {
                format!(
                    "{} is not a CIDR or IP with optional '!', expected e.g. \"0.0.0.0/0\", \"!192.168.0.0/16\" or \"::/0\"",
                    quote(s)
                )
            })
        },
    );
    let exclude_advertised_networks = c.list(
        &format!("{P}.filters.excludeAdvertisedNetworks"),
        filters.exclude_advertised_networks.as_ref(),
        |s| {
            parse_net(s).ok_or_else(|| {
                format!(
                    "{} is not a CIDR or IP, expected e.g. \"10.244.0.0/16\"",
                    quote(s)
                )
            })
        },
    );
    let extra_announced_endpoints = c.list(
        &format!("{P}.extraAnnouncedEndpoints"),
        ks.extra_announced_endpoints.as_ref(),
        |s| {
            s.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "{} is not an IP:port endpoint, expected e.g. \"203.0.113.7:51820\" or \"[2001:db8::7]:51820\"",
                    quote(s)
                )
            })
        },
    );
    let advertised_networks =
        resolve_advertised_networks(ks.advertised_networks.as_deref().unwrap_or_default(), c);
    let interface = ks
        .interface
        .clone()
        .unwrap_or_else(|| DEFAULT_INTERFACE.to_owned());
    if !is_link_name(&interface) {
        c.push(
            &format!("{P}.interface"),
            format!(
                "{} is not a link name, expected 1 to 15 letters, digits, '-', '_' or '.'",
                quote(&interface)
            ),
        );
    }
    let routing = resolve_routing(ks.routing.unwrap_or_default(), c);
    KubeSpanSettings {
        nat_traversal: ks.nat_traversal.unwrap_or(true),
        routing,
        interface,
        enabled: ks.enabled.unwrap_or(false),
        advertise_kubernetes_networks: ks.advertise_kubernetes_networks.unwrap_or(false),
        allow_down_peer_bypass: ks.allow_down_peer_bypass.unwrap_or(false),
        harvest_extra_endpoints: ks.harvest_extra_endpoints.unwrap_or(false),
        mtu,
        listen_port,
        backend,
        endpoint_filters,
        exclude_advertised_networks,
        extra_announced_endpoints,
        advertised_networks,
    }
}

/// `machine.network.kubespan.advertisedNetworks`: each a network in CIDR form (a bare IP is a
/// host route) with no host bits set, that can be routed — not the default route, which would
/// pull every peer's traffic (its discovery and API connections too) into this node, nor
/// loopback, link-local or multicast space.
fn resolve_advertised_networks(entries: &[String], c: &mut Checker<'_>) -> Vec<IpNet> {
    const P: &str = "machine.network.kubespan.advertisedNetworks";
    if entries.len() > MAX_ADVERTISED_NETWORKS {
        c.push(
            P,
            format!(
                "{} entries, expected at most {MAX_ADVERTISED_NETWORKS}",
                entries.len()
            ),
        );
        return Vec::new();
    }
    let mut nets: Vec<IpNet> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("{P}[{i}]");
        let Some(net) = parse_net(entry) else {
            c.push(
                &path,
                format!(
                    "{} is not a CIDR or IP, expected a network such as \"10.244.1.0/24\" or \"fd00:10:244:1::/64\"",
                    quote(entry)
                ),
            );
            continue;
        };
        let problem = if net.trunc() != net {
            Some(format!(
                "has host bits set, did you mean \"{}\"?",
                net.trunc()
            ))
        } else {
            advertised_network_problem(&net).map(|why| match why {
                DEFAULT_ROUTE => format!("is {why}, which would send all of every peer's traffic to this node; expected a network behind this node"),
                _ => format!("is {why} space, expected a network behind this node"),
            })
        };
        match problem {
            Some(why) => c.push(&path, format!("{} {why}", quote(entry))),
            None if !nets.contains(&net) => nets.push(net),
            None => {}
        }
    }
    nets
}

const DEFAULT_ROUTE: &str = "the default route";

/// Why a network may not be advertised by a node (`advertisedNetworks`), or accepted from a peer
/// (`additionalAddresses`): one rule for both sides. `None`: it may.
pub fn advertised_network_problem(net: &IpNet) -> Option<&'static str> {
    if net.prefix_len() == 0 {
        return Some(DEFAULT_ROUTE);
    }
    // Covering such space counts too: 0.0.0.0/1 and 128.0.0.0/1 together are the default route.
    let special = SPECIAL_SPACE.iter().filter_map(|s| s.parse::<IpNet>().ok());
    for space in special {
        if space.contains(net) || net.contains(&space) {
            return Some("loopback, link-local, multicast or unspecified");
        }
    }
    None
}

/// Space no node may advertise nor receive: "this network", loopback, link-local, multicast,
/// broadcast; IPv6 unspecified, loopback, link-local, multicast.
const SPECIAL_SPACE: [&str; 9] = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
];

/// Whether `ip` is an address a network behind a node can have.
pub fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_link_local() || v4.is_multicast() || v4.is_unspecified())
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
                || v6.is_unspecified())
        }
    }
}

/// Routing tables the kernel reserves: unspec, default, main, local.
const RESERVED_TABLES: [u32; 4] = [0, 253, 254, 255];
/// Highest rule priority accepted: the main table's rule is at 32766.
const MAX_RULE_PRIORITY: u32 = 32765;

fn resolve_routing(r: schema::KubeSpanRouting, c: &mut Checker<'_>) -> RoutingSettings {
    const P: &str = "machine.network.kubespan.routing";
    let defaults = RoutingSettings::default();
    let mut uint =
        |key: &str, value: Option<u64>, default: u32, check: &dyn Fn(u32) -> Option<String>| {
            let Some(v) = value else { return default };
            let problem = match u32::try_from(v) {
                Ok(v) => match check(v) {
                    None => return v,
                    Some(p) => p,
                },
                Err(_) => format!("{v} does not fit 32 bits"),
            };
            c.push(&format!("{P}.{key}"), problem);
            default
        };
    let table = uint("table", r.table, defaults.table, &|t| {
        RESERVED_TABLES.contains(&t).then(|| {
            format!("{t} is a reserved routing table (0, 253, 254, 255), expected e.g. {DEFAULT_ROUTING_TABLE}")
        })
    });
    let rule_priority =
        uint(
            "rulePriority",
            r.rule_priority,
            defaults.rule_priority,
            &|p| {
                (p == 0 || p > MAX_RULE_PRIORITY).then(|| {
            format!("{p} is outside 1 to {MAX_RULE_PRIORITY} (the main table's rule is at 32766)")
        })
            },
        );
    let mark_mask = uint("markMask", r.mark_mask, defaults.mark_mask, &|m| {
        (m == 0).then(|| "0 leaves no bits for the marks, expected e.g. 0x60 (96)".to_owned())
    });
    let mark = |m: u32| -> Option<String> {
        if m == 0 {
            Some("0 is no mark, expected a non-zero value inside markMask".to_owned())
        } else if m & !mark_mask != 0 {
            Some(format!("{m:#x} has bits outside markMask {mark_mask:#x}"))
        } else {
            None
        }
    };
    let tunnel_mark = uint("tunnelMark", r.tunnel_mark, defaults.tunnel_mark, &|m| {
        mark(m)
    });
    let force_mark = uint("forceMark", r.force_mark, defaults.force_mark, &|m| {
        mark(m).or_else(|| {
            (m == tunnel_mark)
                .then(|| format!("{m:#x} equals tunnelMark, expected a different mark"))
        })
    });
    let nftables_table = match r.nftables_table {
        None => defaults.nftables_table,
        Some(name) if is_nft_name(&name) => name,
        Some(name) => {
            c.push(
                &format!("{P}.nftablesTable"),
                format!(
                    "{} is not an nftables table name, expected a letter then up to {} letters, digits or '_'",
                    quote(&name),
                    MAX_NFTABLES_TABLE_LEN - 1
                ),
            );
            defaults.nftables_table
        }
    };
    RoutingSettings {
        table,
        rule_priority,
        tunnel_mark,
        force_mark,
        mark_mask,
        nftables_table,
    }
}

/// What weftd puts into an nftables script as a table name, unquoted.
fn is_nft_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NFTABLES_TABLE_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn resolve_cluster(
    cluster: &schema::Cluster,
    kubespan_enabled: bool,
    c: &mut Checker<'_>,
) -> ClusterSettings {
    let discovery = cluster.discovery.clone().unwrap_or_default();
    let enabled = discovery.enabled.unwrap_or(false);
    let registries = discovery.registries.unwrap_or_default();
    let service = registries.service.unwrap_or_default();
    let kubernetes_registry_requested = enabled
        && !registries
            .kubernetes
            .and_then(|k| k.disabled)
            .unwrap_or(false);

    const S: &str = "cluster.discovery.registries.service";
    let mut service_endpoints = Vec::new();
    let primary = service
        .endpoint
        .as_deref()
        .unwrap_or(DEFAULT_DISCOVERY_ENDPOINT);
    match parse_discovery_endpoint(primary) {
        Ok(url) => service_endpoints.push(url),
        Err(msg) => c.push(&format!("{S}.endpoint"), msg),
    }
    service_endpoints.extend(c.list(
        &format!("{S}.extraEndpoints"),
        service.extra_endpoints.as_ref(),
        parse_discovery_endpoint,
    ));

    let needs_identity = enabled || kubespan_enabled;
    let id = cluster.id.clone();
    match &id {
        Some(id) => {
            if let Err(msg) = check_cluster_id(id) {
                c.push("cluster.id", msg);
            }
        }
        None if needs_identity => c.missing(
            "cluster.id",
            "missing, required when discovery or KubeSpan is enabled (`weftctl gen secrets` makes one)",
        ),
        None => {}
    }
    let secret = match &cluster.secret {
        Some(s) => match decode_cluster_secret(s) {
            Ok(secret) => Some(secret),
            Err(msg) => {
                c.push("cluster.secret", msg);
                None
            }
        },
        None => {
            if needs_identity {
                c.missing(
                    "cluster.secret",
                    "missing, required when discovery or KubeSpan is enabled (`weftctl gen secrets` makes one)",
                );
            }
            None
        }
    };
    let control_plane_endpoint = match cluster
        .control_plane
        .as_ref()
        .and_then(|cp| cp.endpoint.as_deref())
    {
        None => None,
        Some(s) => match super::generate::parse_cluster_endpoint(s) {
            Ok(url) => Some(url),
            Err(msg) => {
                c.push("cluster.controlPlane.endpoint", msg);
                None
            }
        },
    };
    if let Some(name) = &cluster.cluster_name
        && let Err(msg) = check_cluster_name(name)
    {
        c.push("cluster.clusterName", msg);
    }
    ClusterSettings {
        name: cluster.cluster_name.clone(),
        control_plane_endpoint,
        id,
        secret,
        discovery: DiscoverySettings {
            enabled,
            service_registry: enabled && !service.disabled.unwrap_or(false),
            kubernetes_registry_requested,
            service_endpoints,
        },
    }
}

/// Checks a cluster name (also used by the generator).
pub(crate) fn cluster_name_problem(name: &str) -> Option<String> {
    check_cluster_name(name).err()
}

#[cfg(test)]
mod tests;
