//! External peers: plain WireGuard devices that run no weftd (a router, an appliance), which this
//! node publishes as members of the cluster so that every Weft node peers with them.
//!
//! ```text
//! weftctl external-peer add ─► machine API: validate ─► ExternalPeers cluster/<name>
//!                                                             │ ExternalPeerController
//!                          <state dir>/external-peers.yaml ◄──┤ 1. persist (atomically)
//!                                                             ▼ 2. then publish
//!                                       Affiliates cluster-external/external-<name>
//!                                                             │ DiscoveryServiceController
//!                                                             ▼
//!            every discovery service (encrypted like any affiliate, refreshed with its TTL)
//!                                                             │ every node's watch
//!                                                             ▼
//!                             Affiliates cluster/external-<name> ─► KubeSpanPeerSpecs, Members
//! ```
//!
//! - The machine API ([`add`], [`remove`]) validates what the admin typed ([`validate`]; every
//!   message names the weftctl flag), writes the `ExternalPeers` resource and waits, bounded by
//!   [`CONFIRM_TIMEOUT`], until the controller has persisted it and published its affiliate — so a
//!   reply of success means the peer survives a restart.
//! - [`ExternalPeerController::load`] reads the file when weftd starts (a file it cannot read or
//!   parse stops weftd with a message naming it, as the identity files do); the controller writes
//!   it whenever the set changes, then builds each peer's affiliate ([`external_affiliate`]): id
//!   `external-<name>` (stable, and never a node id: those are base62), host and node name = the
//!   name, machine type `unknown`, its public key and endpoint, its addresses as additional
//!   addresses (what peers route to it), and as KubeSpan address the first single address inside
//!   the cluster's KubeSpan /64, if any — the device may use any tunnel address.
//! - The discovery clients publish these affiliates next to this node's own, refresh them with the
//!   same TTL, and delete them (AffiliateDelete) when they are removed. Like this node's own
//!   affiliate, they expire with their TTL if weftd stops, and are published again when it is back.
//!   Several nodes may publish the same external peer (it then stays fresh while any of them
//!   runs); it must be removed from each.
//! - The device itself is configured by hand (`wg set`): its own key and listen port, an address
//!   routed to it here, and every Weft node as a peer — public key, endpoint, allowed IPs = the
//!   node's KubeSpan address, preshared key = the cluster secret (KubeSpan uses it for every peer).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};
use weft_api::fsutil;
use weft_api::resource::{EventKind, Pointer, Resource};
use weft_api::resources::cluster::{AffiliateSpec, KubeSpanAffiliateSpec, MachineType};
use weft_api::resources::kubespan::IdentitySpec as KubeSpanIdentity;
use weft_api::resources::kubespan::key::{KEY_BASE64_LEN, decode_key};
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::resources::cluster::{ExternalPeerSpec, NAMESPACE_CLUSTER_EXTERNAL};
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::{Kind, State, StateError};

/// Controller name (owner of the published affiliates).
pub const NAME: &str = "cluster.ExternalPeerController";
/// Owner of the `ExternalPeers` resources: the machine API, and the file loaded at start.
pub const OWNER: &str = "machine.ExternalPeers";
/// The file in the state directory.
pub const FILE_NAME: &str = "external-peers.yaml";
/// What the published affiliate's id starts with.
pub const AFFILIATE_ID_PREFIX: &str = "external-";
/// Longest name: a DNS label.
pub const MAX_NAME_LEN: usize = 63;
/// Most external peers one node publishes. Each is one more AffiliateUpdate on every reconnect;
/// with Hello, Watch and the node's own push this stays well under the burst of 60 requests a
/// discovery service allows one IP.
pub const MAX_EXTERNAL_PEERS: usize = 32;
/// Most addresses of one external peer. With IPv6 prefixes this keeps the encrypted affiliate well
/// under the discovery service's 2048-byte limit.
pub const MAX_ADDRESSES: usize = 64;
/// How long `add`/`remove` wait for the controller to persist and publish (it takes milliseconds).
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest piece of user input quoted back in an error message.
const MAX_QUOTED: usize = 64;
/// Version of the file layout.
const FILE_VERSION: &str = "v1";

/// What the admin asked for, as it arrives (strings from the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalPeerRequest {
    pub name: String,
    pub public_key: String,
    /// `ip:port`, or empty.
    pub endpoint: String,
    pub addresses: Vec<String>,
}

/// Why a request was refused; each message names the weftctl flag (or argument) at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalPeerError {
    #[error(
        "NAME {0}: expected a DNS label: 1-{MAX_NAME_LEN} lower-case letters, digits and '-', not starting or ending with '-'"
    )]
    Name(String),
    #[error(
        "--public-key: {0}; expected a WireGuard public key ({KEY_BASE64_LEN} characters of base64 encoding 32 bytes, as `wg pubkey` prints it)"
    )]
    PublicKey(String),
    #[error("--public-key: this is this node's own KubeSpan public key")]
    OwnPublicKey,
    #[error("--public-key: already used by external peer {0:?}")]
    DuplicatePublicKey(String),
    #[error(
        "--endpoint {0}: expected IP:PORT with a port in 1-65535 (e.g. 192.0.2.1:51820 or [2001:db8::1]:51820)"
    )]
    Endpoint(String),
    #[error(
        "--address: at least one is needed (the device's tunnel address, and the networks behind it)"
    )]
    NoAddress,
    #[error("--address: {0} given, at most {MAX_ADDRESSES} are allowed")]
    TooManyAddresses(usize),
    #[error("--address {0}: expected an IP address or a network (CIDR)")]
    Address(String),
    #[error("--address {given}: has host bits set; the network is {network}")]
    HostBits { given: String, network: IpNet },
    #[error("--address {0}: a default route would send every node's traffic to this device")]
    DefaultRoute(IpNet),
    #[error(
        "--address {given}: overlaps the cluster's KubeSpan subnet {subnet}; only single addresses (/128) inside it may be routed to an external peer"
    )]
    KubeSpanSubnet { given: IpNet, subnet: Ipv6Net },
    #[error("this node already publishes {MAX_EXTERNAL_PEERS} external peers, the limit")]
    TooMany,
}

/// Quotes user input for an error message: bounded, control characters escaped.
fn quote(s: &str) -> String {
    let cut: String = s.chars().take(MAX_QUOTED).collect();
    if s.chars().count() > MAX_QUOTED {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Whether `name` is a DNS label (lower-case, as node names are).
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a name.
pub fn validate_name(name: &str) -> Result<(), ExternalPeerError> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(ExternalPeerError::Name(quote(name)))
    }
}

/// One address: a network without host bits, or a single address (a /32 or /128).
fn parse_address(s: &str) -> Result<IpNet, ExternalPeerError> {
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| ExternalPeerError::Address(quote(s)))?,
    };
    if net.trunc() != net {
        return Err(ExternalPeerError::HostBits {
            given: quote(s),
            network: net.trunc(),
        });
    }
    if net.prefix_len() == 0 {
        return Err(ExternalPeerError::DefaultRoute(net));
    }
    Ok(net)
}

/// Checks a request on its own (not against this node's state): the name, the key, the endpoint
/// and the addresses (parsed, deduplicated in order, at most [`MAX_ADDRESSES`]).
pub fn validate(
    req: &ExternalPeerRequest,
) -> Result<(String, ExternalPeerSpec), ExternalPeerError> {
    validate_name(&req.name)?;
    if req.public_key.len() != KEY_BASE64_LEN {
        return Err(ExternalPeerError::PublicKey(format!(
            "{} characters",
            req.public_key.chars().count()
        )));
    }
    // KeyError never carries the key.
    decode_key(&req.public_key).map_err(|e| ExternalPeerError::PublicKey(e.to_string()))?;
    let endpoint = if req.endpoint.is_empty() {
        None
    } else {
        let ep = req
            .endpoint
            .parse::<SocketAddr>()
            .ok()
            .filter(|ep| ep.port() != 0 && !ep.ip().is_unspecified())
            .ok_or_else(|| ExternalPeerError::Endpoint(quote(&req.endpoint)))?;
        Some(SocketAddr::new(ep.ip().to_canonical(), ep.port()))
    };
    if req.addresses.is_empty() {
        return Err(ExternalPeerError::NoAddress);
    }
    if req.addresses.len() > MAX_ADDRESSES {
        return Err(ExternalPeerError::TooManyAddresses(req.addresses.len()));
    }
    let mut addresses: Vec<IpNet> = Vec::with_capacity(req.addresses.len());
    for s in &req.addresses {
        let net = parse_address(s.trim())?;
        if !addresses.contains(&net) {
            addresses.push(net);
        }
    }
    Ok((
        req.name.clone(),
        ExternalPeerSpec {
            public_key: req.public_key.clone(),
            endpoint,
            addresses,
        },
    ))
}

/// How `net` relates to the KubeSpan subnet: `Ok(true)` a single address inside it (a candidate
/// KubeSpan address), `Ok(false)` outside it, `Err` an overlap that would take nodes' addresses.
fn against_subnet(net: &IpNet, subnet: &Ipv6Net) -> Result<bool, ExternalPeerError> {
    let IpNet::V6(v6) = net else {
        return Ok(false);
    };
    if subnet.contains(v6) {
        if v6.prefix_len() == 128 {
            return Ok(true);
        }
    } else if !v6.contains(subnet) {
        return Ok(false);
    }
    Err(ExternalPeerError::KubeSpanSubnet {
        given: *net,
        subnet: *subnet,
    })
}

/// The affiliate id of external peer `name`.
pub fn affiliate_id(name: &str) -> String {
    format!("{AFFILIATE_ID_PREFIX}{name}")
}

/// Pure: the affiliate published for external peer `name` (see the module doc), and the addresses
/// left out because they overlap the KubeSpan subnet `subnet` (the API refuses those; a peer stored
/// before this node knew its subnet may still have some).
pub fn external_affiliate(
    name: &str,
    spec: &ExternalPeerSpec,
    subnet: Option<&Ipv6Net>,
) -> (AffiliateSpec, Vec<IpNet>) {
    let mut address = None;
    let mut routed = Vec::with_capacity(spec.addresses.len());
    let mut dropped = Vec::new();
    for net in &spec.addresses {
        match subnet.map(|s| against_subnet(net, s)) {
            Some(Err(_)) => dropped.push(*net),
            Some(Ok(true)) => {
                address = address.or(Some(net.addr()));
                routed.push(*net);
            }
            Some(Ok(false)) | None => routed.push(*net),
        }
    }
    let affiliate = AffiliateSpec {
        node_id: affiliate_id(name),
        addresses: Vec::new(),
        hostname: name.to_owned(),
        nodename: name.to_owned(),
        operating_system: String::new(),
        machine_type: MachineType::Unknown,
        kubespan: KubeSpanAffiliateSpec {
            public_key: spec.public_key.clone(),
            address,
            additional_addresses: routed,
            endpoints: spec.endpoint.into_iter().collect(),
            exclude_advertised_networks: Vec::new(),
        },
        control_plane: None,
    };
    (affiliate, dropped)
}

/// The file: `version` and the peers by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PeerFile {
    version: String,
    #[serde(default)]
    external_peers: BTreeMap<String, ExternalPeerSpec>,
}

/// Reads the peers stored at `path` (none if it does not exist), each checked as a request is.
pub fn load_file(path: &Path) -> anyhow::Result<BTreeMap<String, ExternalPeerSpec>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: PeerFile = yaml_serde::from_str(&text)
        .with_context(|| format!("{}: not an external peer list", path.display()))?;
    anyhow::ensure!(
        file.version == FILE_VERSION,
        "{}: version {:?} is not {FILE_VERSION:?}",
        path.display(),
        file.version
    );
    anyhow::ensure!(
        file.external_peers.len() <= MAX_EXTERNAL_PEERS,
        "{}: {} external peers, the limit is {MAX_EXTERNAL_PEERS}",
        path.display(),
        file.external_peers.len()
    );
    for (name, spec) in &file.external_peers {
        let request = ExternalPeerRequest {
            name: name.clone(),
            public_key: spec.public_key.clone(),
            endpoint: spec.endpoint.map(|e| e.to_string()).unwrap_or_default(),
            addresses: spec.addresses.iter().map(ToString::to_string).collect(),
        };
        let (_, checked) = validate(&request)
            .with_context(|| format!("{}: external peer {}", path.display(), quote(name)))?;
        anyhow::ensure!(
            checked == *spec,
            "{}: external peer {}: addresses are not normalized",
            path.display(),
            quote(name)
        );
    }
    Ok(file.external_peers)
}

/// Writes the peers to `path` atomically (0600, like every file in the state directory).
pub fn save_file(path: &Path, peers: &BTreeMap<String, ExternalPeerSpec>) -> anyhow::Result<()> {
    let file = PeerFile {
        version: FILE_VERSION.to_owned(),
        external_peers: peers.clone(),
    };
    let text = weft_api::yaml::to_string(&file).context("rendering the external peers")?;
    fsutil::write_atomic(path, text.as_bytes(), fsutil::SECRET_FILE_MODE)
        .with_context(|| format!("writing {}", path.display()))
}

fn peer_pointer(name: &str) -> Pointer {
    Pointer::to::<ExternalPeerSpec>(name)
}

fn affiliate_pointer(name: &str) -> Pointer {
    Pointer::to_in::<AffiliateSpec>(NAMESPACE_CLUSTER_EXTERNAL, &affiliate_id(name))
}

/// See the module doc.
#[derive(Debug)]
pub struct ExternalPeerController {
    path: PathBuf,
    /// What the file holds: as loaded, then as last written.
    persisted: BTreeMap<String, ExternalPeerSpec>,
    /// Peers whose addresses were left out, as last warned about.
    warned: BTreeMap<String, Vec<IpNet>>,
}

impl ExternalPeerController {
    /// Loads `<state_dir>/external-peers.yaml` and creates an `ExternalPeers` resource for each
    /// peer in it, before the engine starts.
    pub fn load(state_dir: &Path, state: &State) -> anyhow::Result<ExternalPeerController> {
        let path = state_dir.join(FILE_NAME);
        let persisted = load_file(&path)?;
        for (name, spec) in &persisted {
            state.create(Resource::new(name, spec)?.owned_by(OWNER))?;
        }
        if !persisted.is_empty() {
            tracing::info!(count = persisted.len(), file = %path.display(), "loaded external peers");
        }
        Ok(ExternalPeerController {
            path,
            persisted,
            warned: BTreeMap::new(),
        })
    }
}

impl Controller for ExternalPeerController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<ExternalPeerSpec>(),
            Kind::of::<KubeSpanIdentity>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![AffiliateSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let mut peers = BTreeMap::new();
        for r in ctx.list::<ExternalPeerSpec>()? {
            peers.insert(r.metadata.id, r.spec);
        }
        // Persist first: an affiliate is published only once it survives a restart (the API
        // waits for it to confirm an add).
        if peers != self.persisted {
            save_file(&self.path, &peers)?;
            tracing::info!(count = peers.len(), file = %self.path.display(), "saved the external peers");
            self.persisted = peers.clone();
        }
        let identity = ctx.get::<KubeSpanIdentity>(LOCAL_ID)?;
        let subnet = identity.as_ref().map(|i| &i.subnet);
        let mut desired = Vec::with_capacity(peers.len());
        let mut warned = BTreeMap::new();
        for (name, spec) in &peers {
            let (affiliate, dropped) = external_affiliate(name, spec, subnet);
            if !dropped.is_empty() {
                if self.warned.get(name) != Some(&dropped) {
                    tracing::warn!(peer = %name, dropped = ?dropped, "external peer addresses overlap the KubeSpan subnet; not routing them to it");
                }
                warned.insert(name.clone(), dropped);
            }
            desired.push((affiliate.node_id.clone(), affiliate));
        }
        self.warned = warned;
        ctx.apply_outputs_in(NAMESPACE_CLUSTER_EXTERNAL, desired)?;
        Ok(())
    }
}

/// Why the machine API could not add or remove an external peer.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request is wrong: InvalidArgument.
    #[error(transparent)]
    Invalid(#[from] ExternalPeerError),
    /// Nothing by that name: NotFound.
    #[error("no external peer {0:?} on this node")]
    NotFound(String),
    /// The change is recorded but not confirmed persisted in time: Unavailable.
    #[error(
        "recorded, but not saved and published within {}s; see the weftd log",
        CONFIRM_TIMEOUT.as_secs()
    )]
    NotConfirmed,
    /// The state store refused: Internal.
    #[error("{0}")]
    State(String),
}

impl From<StateError> for ChangeError {
    fn from(e: StateError) -> ChangeError {
        ChangeError::State(e.to_string())
    }
}

/// What [`add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub name: String,
    pub affiliate_id: String,
    /// It was new (not replacing one by that name).
    pub created: bool,
    /// Its KubeSpan address, as published (None: none of its addresses is in the KubeSpan subnet,
    /// or this node has no KubeSpan identity).
    pub kubespan_address: Option<IpAddr>,
}

/// Waits up to `timeout` until `check` accepts the resource at `pointer` (or its absence).
async fn wait_for(
    state: &State,
    pointer: &Pointer,
    timeout: Duration,
    check: impl Fn(Option<&Resource>) -> bool,
) -> Result<bool, StateError> {
    let (mut current, mut watch) = state.watch(pointer)?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check(current.as_ref()) {
            return Ok(true);
        }
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(Ok(event))) => {
                current = (event.kind != EventKind::Destroyed).then_some(event.resource);
            }
            // Fell behind: start over from the current resource.
            Ok(Some(Err(_))) => (current, watch) = state.watch(pointer)?,
            Ok(None) | Err(_) => return Ok(false),
        }
    }
}

/// `weftctl external-peer add`: validates `req` against this node's state, stores it (replacing one
/// by the same name) and waits until it is persisted and published.
pub async fn add(state: &State, req: &ExternalPeerRequest) -> Result<Added, ChangeError> {
    let (name, spec) = validate(req)?;
    let identity = state
        .get(&Pointer::to::<KubeSpanIdentity>(LOCAL_ID))
        .and_then(|r| r.decode::<KubeSpanIdentity>().ok());
    if let Some(identity) = &identity {
        if identity.public_key == spec.public_key {
            return Err(ExternalPeerError::OwnPublicKey.into());
        }
        for net in &spec.addresses {
            against_subnet(net, &identity.subnet)?;
        }
    }
    let existing = state.list(ExternalPeerSpec::NAMESPACE, ExternalPeerSpec::TYPE);
    for r in &existing {
        let other: Option<ExternalPeerSpec> = r.decode().ok();
        if r.metadata.id != name && other.is_some_and(|o| o.public_key == spec.public_key) {
            return Err(ExternalPeerError::DuplicatePublicKey(r.metadata.id.clone()).into());
        }
    }
    let pointer = peer_pointer(&name);
    let resource = Resource::new(&name, &spec)
        .map_err(|e| ChangeError::State(e.to_string()))?
        .owned_by(OWNER);
    let replacement = resource.spec.clone();
    let created = match state.modify(OWNER, &pointer, |r| r.spec = replacement) {
        Ok(_) => false,
        Err(StateError::NotFound(_)) => {
            if existing.len() >= MAX_EXTERNAL_PEERS {
                return Err(ExternalPeerError::TooMany.into());
            }
            state.create(resource)?;
            true
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(peer = %name, public_key = %spec.public_key, created, "external peer stored");
    let (expected, _) = external_affiliate(&name, &spec, identity.as_ref().map(|i| &i.subnet));
    let published = wait_for(state, &affiliate_pointer(&name), CONFIRM_TIMEOUT, |r| {
        r.and_then(|r| r.decode::<AffiliateSpec>().ok())
            .is_some_and(|a| a == expected)
    })
    .await?;
    if !published {
        return Err(ChangeError::NotConfirmed);
    }
    Ok(Added {
        affiliate_id: expected.node_id.clone(),
        kubespan_address: expected.kubespan.address,
        name,
        created,
    })
}

/// `weftctl external-peer remove`: forgets the peer and waits until that is persisted and its
/// affiliate withdrawn (the discovery clients then delete it from the services).
pub async fn remove(state: &State, name: &str) -> Result<String, ChangeError> {
    validate_name(name)?;
    match state.destroy(OWNER, &peer_pointer(name)) {
        Ok(_) => tracing::info!(peer = %name, "external peer removed"),
        Err(StateError::NotFound(_)) => return Err(ChangeError::NotFound(name.to_owned())),
        Err(e) => return Err(e.into()),
    }
    let gone = wait_for(state, &affiliate_pointer(name), CONFIRM_TIMEOUT, |r| {
        r.is_none()
    })
    .await?;
    if !gone {
        return Err(ChangeError::NotConfirmed);
    }
    Ok(affiliate_id(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Engine;
    use crate::test_support::{fresh_state, key, set_kubespan};

    fn request(name: &str, endpoint: &str, addresses: &[&str]) -> ExternalPeerRequest {
        ExternalPeerRequest {
            name: name.to_owned(),
            public_key: key(7),
            endpoint: endpoint.to_owned(),
            addresses: addresses.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn subnet() -> Ipv6Net {
        "fd7f:175a:b97c:5602::/64".parse().expect("net")
    }

    #[test]
    fn validation_names_the_flag() {
        let ok = validate(&request(
            "router-1",
            "192.0.2.7:51820",
            &["10.99.0.1", "192.168.50.0/24", "10.99.0.1/32"],
        ))
        .expect("valid");
        assert_eq!(ok.0, "router-1");
        assert_eq!(
            ok.1.endpoint,
            Some("192.0.2.7:51820".parse().expect("endpoint"))
        );
        assert_eq!(
            ok.1.addresses,
            ["10.99.0.1/32", "192.168.50.0/24"]
                .map(|s| s.parse::<IpNet>().expect("net"))
                .to_vec(),
            "bare addresses are hosts, duplicates dropped"
        );
        let passive = validate(&request("r", "", &["fd00::1"])).expect("no endpoint");
        assert_eq!(passive.1.endpoint, None);

        let bad_key = |k: &str| ExternalPeerRequest {
            public_key: k.to_owned(),
            ..request("r", "", &["10.0.0.1"])
        };
        let long = "-".repeat(200);
        let cases: Vec<(ExternalPeerRequest, &str)> = vec![
            (request("Router", "", &["10.0.0.1"]), "NAME \"Router\""),
            (request("-r", "", &["10.0.0.1"]), "NAME"),
            (request(&"r".repeat(64), "", &["10.0.0.1"]), "NAME"),
            (request("", "", &["10.0.0.1"]), "NAME"),
            (request(&long, "", &["10.0.0.1"]), "…"),
            (bad_key("short"), "--public-key: 5 characters"),
            (
                bad_key(&"!".repeat(44)),
                "--public-key: not standard base64",
            ),
            (
                bad_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                "--public-key: all-zero key",
            ),
            (
                request("r", "192.0.2.7", &["10.0.0.1"]),
                "--endpoint \"192.0.2.7\"",
            ),
            (request("r", "192.0.2.7:0", &["10.0.0.1"]), "--endpoint"),
            (request("r", "0.0.0.0:51820", &["10.0.0.1"]), "--endpoint"),
            (request("r", "", &[]), "--address: at least one"),
            (
                request("r", "", &["10.0.0.300"]),
                "--address \"10.0.0.300\"",
            ),
            (
                request("r", "", &["10.0.0.1/24"]),
                "--address \"10.0.0.1/24\": has host bits set; the network is 10.0.0.0/24",
            ),
            (
                request("r", "", &["::/0"]),
                "--address ::/0: a default route",
            ),
        ];
        for (req, want) in cases {
            let err = validate(&req).expect_err(want).to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(err.len() < 400, "bounded: {err}");
        }
        let many: Vec<String> = (0..=MAX_ADDRESSES)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            validate(&request("r", "", &many)),
            Err(ExternalPeerError::TooManyAddresses(MAX_ADDRESSES + 1))
        );
    }

    #[test]
    fn kubespan_subnet_rules() {
        let s = subnet();
        let net = |t: &str| t.parse::<IpNet>().expect("net");
        assert_eq!(
            against_subnet(&net("fd7f:175a:b97c:5602::ee/128"), &s),
            Ok(true)
        );
        assert_eq!(against_subnet(&net("10.0.0.0/8"), &s), Ok(false));
        assert_eq!(against_subnet(&net("fd00:1::/64"), &s), Ok(false));
        for overlapping in [
            "fd7f:175a:b97c:5602::/120",
            "fd00::/8",
            "fd7f:175a:b97c:5602::/64",
        ] {
            assert!(
                against_subnet(&net(overlapping), &s).is_err(),
                "{overlapping}"
            );
        }
    }

    #[test]
    fn the_published_affiliate() {
        let (_, spec) = validate(&request(
            "router",
            "[2001:db8::7]:51820",
            &[
                "10.99.0.1",
                "fd7f:175a:b97c:5602::ee",
                "fd7f:175a:b97c:5602::ef",
            ],
        ))
        .expect("valid");
        let (a, dropped) = external_affiliate("router", &spec, Some(&subnet()));
        assert!(dropped.is_empty());
        assert_eq!(a.node_id, "external-router");
        assert_eq!(
            (a.hostname.as_str(), a.nodename.as_str()),
            ("router", "router")
        );
        assert_eq!(a.machine_type, MachineType::Unknown);
        assert_eq!(a.kubespan.public_key, key(7));
        assert_eq!(
            a.kubespan.address,
            Some("fd7f:175a:b97c:5602::ee".parse().expect("ip")),
            "the first single address in the subnet"
        );
        assert_eq!(a.kubespan.additional_addresses, spec.addresses);
        assert_eq!(a.kubespan.endpoints, vec![spec.endpoint.expect("endpoint")]);
        // What peers accept; it seals within the service's limit even at the address limit.
        weft_api::discovery::check_affiliate(&a).expect("publishable");
        let full = ExternalPeerSpec {
            addresses: (0..MAX_ADDRESSES)
                .map(|i| format!("2001:db8:{i:x}::/48").parse().expect("net"))
                .collect(),
            ..spec.clone()
        };
        let name = "r".repeat(MAX_NAME_LEN);
        let (big, _) = external_affiliate(&name, &full, Some(&subnet()));
        let cipher = weft_api::discovery::Cipher::from_key(&[1u8; 32]);
        weft_api::discovery::seal_affiliate(&cipher, &big).expect("fits");

        // No subnet known: no KubeSpan address; an overlap stored earlier is left out.
        let (a, _) = external_affiliate("router", &spec, None);
        assert_eq!(a.kubespan.address, None);
        let odd = ExternalPeerSpec {
            addresses: vec!["fd7f:175a:b97c:5602::/64".parse().expect("net")],
            ..spec
        };
        let (a, dropped) = external_affiliate("router", &odd, Some(&subnet()));
        assert!(a.kubespan.additional_addresses.is_empty());
        assert_eq!(dropped, odd.addresses);
    }

    #[test]
    fn file_round_trip_and_refusals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        assert!(load_file(&path).expect("missing is empty").is_empty());
        let (name, spec) =
            validate(&request("router", "192.0.2.7:51820", &["10.99.0.1"])).expect("valid");
        let peers = BTreeMap::from([(name, spec)]);
        save_file(&path, &peers).expect("save");
        assert_eq!(load_file(&path).expect("load"), peers);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("version: v1\nexternalPeers:\n    router:\n"),
            "{text}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        for (bad, want) in [
            ("version: v2\n", "version"),
            (
                "version: v1\nexternalPeers: {Bad: {publicKey: x}}\n",
                "external peer \"Bad\"",
            ),
            ("nonsense: [", "not an external peer list"),
        ] {
            std::fs::write(&path, bad).expect("write");
            let err = format!("{:#}", load_file(&path).expect_err(bad));
            assert!(err.contains(FILE_NAME) && err.contains(want), "{err}");
        }
    }

    /// The whole path on one state: add → persisted and published; the same add again is
    /// unchanged; a clash and the limit are refused; a new controller (weftd restarted) loads it;
    /// remove → the file and the affiliate lose it.
    #[tokio::test]
    async fn add_persist_reload_and_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        let mut engine = Engine::new(state.clone());
        engine
            .add(ExternalPeerController::load(dir.path(), &state).expect("load"))
            .expect("add");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(engine.run(shutdown.clone()));

        let req = request("router", "192.0.2.7:51820", &["10.99.0.1"]);
        let added = add(&state, &req).await.expect("add");
        assert!(added.created);
        assert_eq!(added.affiliate_id, "external-router");
        assert_eq!(added.kubespan_address, None);
        let stored = load_file(&dir.path().join(FILE_NAME)).expect("load");
        assert_eq!(stored.keys().collect::<Vec<_>>(), ["router"]);
        let again = add(&state, &req).await.expect("again");
        assert!(!again.created);
        // Same key under another name.
        let clash = add(&state, &request("other", "", &["10.99.0.2"])).await;
        assert!(
            matches!(clash, Err(ChangeError::Invalid(ExternalPeerError::DuplicatePublicKey(ref n))) if n == "router"),
            "{clash:?}"
        );
        // A replacement is published as replaced.
        let moved = request("router", "192.0.2.8:51820", &["10.99.0.1"]);
        add(&state, &moved).await.expect("replace");
        let published: AffiliateSpec = state
            .get(&affiliate_pointer("router"))
            .expect("published")
            .decode()
            .expect("spec");
        assert_eq!(
            published.kubespan.endpoints,
            vec!["192.0.2.8:51820".parse::<SocketAddr>().expect("ep")]
        );
        shutdown.cancel();
        let _ = task.await;

        // weftd restarted: the peer is back, and so is its affiliate.
        let state = fresh_state();
        let mut engine = Engine::new(state.clone());
        engine
            .add(ExternalPeerController::load(dir.path(), &state).expect("reload"))
            .expect("add");
        assert!(state.get(&peer_pointer("router")).is_some());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(engine.run(shutdown.clone()));
        crate::runtime::testing::assert_resource(&state, &affiliate_pointer("router"), |_| Ok(()))
            .await;
        assert!(matches!(
            remove(&state, "nobody").await,
            Err(ChangeError::NotFound(_))
        ));
        assert!(matches!(
            remove(&state, "No Such").await,
            Err(ChangeError::Invalid(ExternalPeerError::Name(_)))
        ));
        assert_eq!(
            remove(&state, "router").await.expect("remove"),
            "external-router"
        );
        assert!(state.get(&affiliate_pointer("router")).is_none());
        assert!(
            load_file(&dir.path().join(FILE_NAME))
                .expect("load")
                .is_empty()
        );
        shutdown.cancel();
        let _ = task.await;
    }

    #[tokio::test]
    async fn add_checks_against_this_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        set_kubespan(&state, true, Some(&key(7)));
        let mut engine = Engine::new(state.clone());
        engine
            .add(ExternalPeerController::load(dir.path(), &state).expect("load"))
            .expect("add");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(engine.run(shutdown.clone()));
        // The test identity: key(7), subnet fd00::/64.
        let own = add(&state, &request("r", "", &["10.0.0.1"])).await;
        assert!(matches!(
            own,
            Err(ChangeError::Invalid(ExternalPeerError::OwnPublicKey))
        ));
        let mut req = request("r", "", &["fd00::/80"]);
        req.public_key = key(8);
        let subnet = add(&state, &req).await;
        assert!(
            matches!(
                subnet,
                Err(ChangeError::Invalid(
                    ExternalPeerError::KubeSpanSubnet { .. }
                ))
            ),
            "{subnet:?}"
        );
        req.addresses = vec!["10.0.0.9".into(), "fd00::ee".into()];
        let added = add(&state, &req).await.expect("add");
        assert_eq!(
            added.kubespan_address,
            Some("fd00::ee".parse().expect("ip"))
        );
        for i in 1..MAX_EXTERNAL_PEERS {
            let mut more = request(&format!("r{i}"), "", &[&format!("10.1.{i}.0/24")]);
            more.public_key = key(10 + u8::try_from(i).expect("small"));
            add(&state, &more).await.expect("under the limit");
        }
        let mut over = request("over", "", &["10.2.0.0/24"]);
        over.public_key = key(200);
        assert!(matches!(
            add(&state, &over).await,
            Err(ChangeError::Invalid(ExternalPeerError::TooMany))
        ));
        shutdown.cancel();
        let _ = task.await;
    }
}
