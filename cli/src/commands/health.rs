//! `weftctl health [--matrix]`: is the mesh healthy, and what does every node see of every other.
//!
//! Two halves, kept apart so the verdicts are table-tested without a node:
//!
//! - fetching ([`fetch_all`]): every target node concurrently, each one's resources as a
//!   [`NodeSnapshot`] — or why its API did not answer;
//! - judging, pure: [`check`] turns snapshots into a [`Report`] (four checks per node), and
//!   [`matrix`] into a [`Matrix`] (who sees whom in which state, and where two nodes disagree).
//!
//! The checks, per node:
//!
//! | check       | passes when                                                                  |
//! |-------------|------------------------------------------------------------------------------|
//! | `api`       | the node lists its peer statuses for this client (address, TLS, certificate) |
//! | `identity`  | `KubeSpanIdentities/local` exists (see [`identity_check`] for os:reader)     |
//! | `discovery` | at least one `DiscoveryServiceStatuses` is `connected`                       |
//! | `peers`     | every peer spec has a peer status (same id, the public key) that is `up`,    |
//! |             | and every other target node (by public key) is one of its peer specs         |
//!
//! The last clause is what makes `health` mean "the mesh" and not "each node alone": a node that
//! has discovered nobody yet has no peer specs, and would otherwise pass vacuously. A node whose API
//! fails gets its three other checks `skip`ped; a skipped check is not a pass. Exit code 0 only when
//! every check of every node passes. `weftctl cluster create` waits through [`wait`].
//!
//! `-o json` prints one object (keys sorted, 4-space indent, as `weftctl get -o json`):
//!
//! ```text
//! {
//!     "healthy": false,
//!     "nodes": [{
//!         "node": "10.5.0.2",                 as given with -n or in the context
//!         "healthy": false,
//!         "publicKey": "5o2J…=" | null,      the node's WireGuard key, when it could be read
//!         "checks": [{
//!             "check": "api" | "identity" | "discovery" | "peers",
//!             "status": "pass" | "fail" | "skip",
//!             "message": "1 of 2 up",         one line, as the table prints it
//!             "details": ["worker-1 (5o2JGd…): down"]   one entry per problem
//!         }, …]
//!     }, …],
//!     "summary": {"nodes": 2, "healthyNodes": 1, "checks": 8, "passed": 5, "failed": 1, "skipped": 2}
//! }
//! ```
//!
//! and with `--matrix` ([`Matrix`]):
//!
//! ```text
//! {
//!     "allUp": true,                          every node answered and every cell is "up"
//!     "nodes": [{"node", "publicKey", "keySource": "identity" | "affiliate" | null, "error"}],
//!     "peers": [{"id", "node", "publicKey", "label"}],      the columns
//!     "cells": [{"from", "to", "publicKey", "state": "up" | "down" | "unknown" | "none",
//!                "handshakeAgeSeconds", "lastHandshakeTime", "endpoint", "asymmetric"}],
//!     "asymmetric": [["10.5.0.2", "10.5.0.3"]]
//! }
//! ```
//!
//! Fields are only ever added to these shapes, never renamed or removed.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use time::OffsetDateTime;
use tonic::transport::Channel;
use weft_api::config::client::Context;
use weft_api::proto::resource::resource_service_client::ResourceServiceClient;
use weft_api::proto::resource::{GetRequest, ListRequest};
use weft_api::proto::resource_from_proto;
use weft_api::resource::Resource;
// The status weftd writes, under the name this module has always used.
use weft_api::resources::cluster::DiscoveryServiceStatusSpec as DiscoveryStatus;
use weft_api::resources::cluster::{AffiliateSpec, IdentitySpec as NodeIdentitySpec};
use weft_api::resources::fields::ZERO_TIME;
use weft_api::resources::kubespan::{IdentitySpec, PeerSpec, PeerState, PeerStatusSpec};
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::args::{GlobalArgs, HealthArgs, HealthOutput};
use crate::client::{self, Target};
use crate::output::json::{GoValue, to_string_indented};

/// Pause between two rounds of checks while waiting.
const POLL: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// What is fetched: the input of the pure part.

/// Why one resource (or list) could not be read from a node that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// PermissionDenied: the type is sensitive and this client is not os:admin.
    Denied(String),
    /// Anything else (an unknown type, a spec that does not decode, a timeout).
    Other(String),
}

impl FetchError {
    fn message(&self) -> &str {
        match self {
            FetchError::Denied(m) | FetchError::Other(m) => m,
        }
    }
}

/// What a node that answered holds.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeData {
    /// Peer statuses by id (the peer's public key); listing them is what proves the API answers.
    pub peer_statuses: BTreeMap<String, PeerStatusSpec>,
    /// `KubeSpanIdentities/local`'s public key; `Ok(None)` when the node has no identity.
    pub identity: Result<Option<String>, FetchError>,
    /// The KubeSpan public key of the node's own affiliate (`Identities/local` → `Affiliates/<node
    /// id>`, both readable by os:reader); read only when the identity could not be.
    pub affiliate_key: Option<String>,
    /// Discovery service statuses.
    pub discovery: Result<Vec<DiscoveryStatus>, FetchError>,
    /// Peer specs by id (the peer's public key).
    pub peer_specs: Result<BTreeMap<String, PeerSpec>, FetchError>,
}

/// One target node: its name as given, and its resources or why its API did not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSnapshot {
    pub node: String,
    pub data: Result<NodeData, String>,
}

/// Where a node's public key was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// `KubeSpanIdentities/local` (os:admin).
    Identity,
    /// The node's own affiliate (any role).
    Affiliate,
}

impl NodeSnapshot {
    /// The node's WireGuard public key and where it was read.
    ///
    /// Peers are matched to target nodes by this key, never by label: a peer status's id *is* the
    /// peer's public key, unique by construction, while its label is a hostname the peer announced
    /// itself (not unique, and not what `-n` names). The key comes from the node's own
    /// KubeSpanIdentity when this client may read it (os:admin), else from the KubeSpan section of
    /// the node's own affiliate, which os:reader may read and which weftd fills from that same
    /// identity. A node whose key is known neither way cannot be a column of the matrix.
    pub fn key(&self) -> Option<(&str, KeySource)> {
        let data = self.data.as_ref().ok()?;
        match &data.identity {
            Ok(Some(key)) => Some((key, KeySource::Identity)),
            _ => data
                .affiliate_key
                .as_deref()
                .map(|k| (k, KeySource::Affiliate)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checks (pure).

/// The four checks, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckName {
    Api,
    Identity,
    Discovery,
    Peers,
}

impl CheckName {
    fn as_str(self) -> &'static str {
        match self {
            CheckName::Api => "api",
            CheckName::Identity => "identity",
            CheckName::Discovery => "discovery",
            CheckName::Peers => "peers",
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Not run: the node's API did not answer.
    Skip,
}

impl CheckStatus {
    /// As the table prints it.
    fn label(self) -> &'static str {
        match self {
            CheckStatus::Pass => "ok",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "skip",
        }
    }
}

/// One check of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: CheckName,
    pub status: CheckStatus,
    /// One line.
    pub message: String,
    /// One entry per problem (a peer down, a service not connected).
    pub details: Vec<String>,
}

impl Check {
    fn pass(check: CheckName, message: impl Into<String>) -> Check {
        Check {
            check,
            status: CheckStatus::Pass,
            message: message.into(),
            details: Vec::new(),
        }
    }

    fn fail(check: CheckName, message: impl Into<String>, details: Vec<String>) -> Check {
        Check {
            check,
            status: CheckStatus::Fail,
            message: message.into(),
            details,
        }
    }
}

/// Every check of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    pub node: String,
    pub healthy: bool,
    pub public_key: Option<String>,
    pub checks: Vec<Check>,
}

/// Counts over a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub nodes: usize,
    pub healthy_nodes: usize,
    pub checks: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The verdict over every target node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub nodes: Vec<NodeReport>,
    pub summary: Summary,
}

impl Report {
    /// `10.5.0.3 (api, peers), 10.5.0.4 (peers)`: the failing checks by node.
    pub fn failing(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| !n.healthy)
            .map(|n| {
                let names: Vec<&str> = n
                    .checks
                    .iter()
                    .filter(|c| c.status == CheckStatus::Fail)
                    .map(|c| c.check.as_str())
                    .collect();
                format!("{} ({})", n.node, names.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first problem, for a progress line: `10.5.0.3 peers: 1 of 2 up`.
    fn first_problem(&self) -> Option<String> {
        self.nodes.iter().find_map(|n| {
            n.checks
                .iter()
                .find(|c| c.status == CheckStatus::Fail)
                .map(|c| format!("{} {}: {}", n.node, c.check.as_str(), c.message))
        })
    }

    /// The closing line of the table.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let verdict = if self.healthy {
            "healthy"
        } else {
            "not healthy"
        };
        let mut line = format!(
            "{verdict}: {} of {} nodes healthy, {} of {} checks passed",
            s.healthy_nodes, s.nodes, s.passed, s.checks
        );
        if s.failed > 0 {
            line.push_str(&format!(", {} failed", s.failed));
        }
        if s.skipped > 0 {
            line.push_str(&format!(", {} skipped", s.skipped));
        }
        line
    }
}

/// A public key as tables show it: its first 8 characters (`5o2JGdWf…`).
pub(crate) fn short_key(key: &str) -> String {
    match key.char_indices().nth(8) {
        Some((i, _)) => format!("{}…", &key[..i]),
        None => key.to_owned(),
    }
}

/// `worker-1 (5o2JGdWf…)`, or the short key alone for a peer without a label.
fn peer_name(key: &str, label: &str) -> String {
    if label.is_empty() {
        short_key(key)
    } else {
        format!("{label} ({})", short_key(key))
    }
}

/// The checks of every node. `snapshots` are every target node, in the order given.
pub fn check(snapshots: &[NodeSnapshot]) -> Report {
    // Every target node's key, to check that each node has every other one as a peer.
    let keys: Vec<(&str, Option<&str>)> = snapshots
        .iter()
        .map(|s| (s.node.as_str(), s.key().map(|(k, _)| k)))
        .collect();
    let nodes: Vec<NodeReport> = snapshots
        .iter()
        .map(|snapshot| {
            let checks = match &snapshot.data {
                Err(message) => {
                    let skipped = |check| Check {
                        check,
                        status: CheckStatus::Skip,
                        message: "the node's API did not answer".to_owned(),
                        details: Vec::new(),
                    };
                    vec![
                        Check::fail(CheckName::Api, message.clone(), Vec::new()),
                        skipped(CheckName::Identity),
                        skipped(CheckName::Discovery),
                        skipped(CheckName::Peers),
                    ]
                }
                Ok(data) => {
                    let own = snapshot.key().map(|(k, _)| k);
                    let others: Vec<(&str, &str)> = keys
                        .iter()
                        .filter_map(|(node, key)| key.map(|k| (*node, k)))
                        .filter(|(_, k)| Some(*k) != own)
                        .collect();
                    vec![
                        Check::pass(CheckName::Api, "reachable"),
                        identity_check(data),
                        discovery_check(data),
                        peers_check(data, &others),
                    ]
                }
            };
            NodeReport {
                node: snapshot.node.clone(),
                healthy: checks.iter().all(|c| c.status == CheckStatus::Pass),
                public_key: snapshot.key().map(|(k, _)| k.to_owned()),
                checks,
            }
        })
        .collect();
    let mut summary = Summary {
        nodes: nodes.len(),
        healthy_nodes: nodes.iter().filter(|n| n.healthy).count(),
        ..Summary::default()
    };
    for c in nodes.iter().flat_map(|n| &n.checks) {
        summary.checks += 1;
        match c.status {
            CheckStatus::Pass => summary.passed += 1,
            CheckStatus::Fail => summary.failed += 1,
            CheckStatus::Skip => summary.skipped += 1,
        }
    }
    Report {
        healthy: !nodes.is_empty() && nodes.iter().all(|n| n.healthy),
        nodes,
        summary,
    }
}

/// The KubeSpan identity is present.
///
/// `KubeSpanIdentities` is sensitive (it holds the private key), so an os:reader client is refused
/// it. The check then looks at the node's own affiliate: weftd puts the identity's public key
/// there, so a key in it proves the identity exists, and the message says the identity itself
/// was refused. Without an affiliate (no discovery service configured) the check fails, naming
/// the role as the reason.
pub fn identity_check(data: &NodeData) -> Check {
    let name = CheckName::Identity;
    match (&data.identity, &data.affiliate_key) {
        (Ok(Some(key)), _) => Check::pass(name, format!("public key {key}")),
        (Ok(None), _) => Check::fail(
            name,
            "no KubeSpanIdentity: is KubeSpan enabled in the node's machine config?",
            Vec::new(),
        ),
        (Err(FetchError::Denied(_)), Some(key)) => Check::pass(
            name,
            format!(
                "public key {key} (from the node's affiliate: KubeSpanIdentities is sensitive and this client is not os:admin)"
            ),
        ),
        (Err(FetchError::Denied(why)), None) => Check::fail(
            name,
            format!(
                "permission denied: KubeSpanIdentities is sensitive and needs an os:admin client, and the node's affiliate shows no KubeSpan key either ({why})"
            ),
            Vec::new(),
        ),
        (Err(FetchError::Other(why)), _) => Check::fail(
            name,
            format!("cannot read KubeSpanIdentities: {why}"),
            Vec::new(),
        ),
    }
}

/// At least one discovery service is connected.
pub fn discovery_check(data: &NodeData) -> Check {
    let name = CheckName::Discovery;
    let services = match &data.discovery {
        Ok(services) => services,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read DiscoveryServiceStatuses: {}", e.message()),
                Vec::new(),
            );
        }
    };
    if services.is_empty() {
        return Check::fail(
            name,
            "no discovery service is configured (cluster.discovery.registries.service)",
            Vec::new(),
        );
    }
    let connected: Vec<&DiscoveryStatus> = services.iter().filter(|s| s.connected).collect();
    let message = format!("{} of {} connected", connected.len(), services.len());
    if connected.is_empty() {
        let details = services
            .iter()
            .map(|s| {
                if s.last_error.is_empty() {
                    format!("{}: not connected", s.endpoint)
                } else {
                    format!("{}: {}", s.endpoint, s.last_error)
                }
            })
            .collect();
        Check::fail(name, message, details)
    } else {
        let endpoints: Vec<&str> = connected.iter().map(|s| s.endpoint.as_str()).collect();
        Check::pass(name, format!("{message} ({})", endpoints.join(", ")))
    }
}

/// Every peer spec has a status that is up, and every other target node (`others`: node name and
/// public key) is a peer.
pub fn peers_check(data: &NodeData, others: &[(&str, &str)]) -> Check {
    let name = CheckName::Peers;
    let specs = match &data.peer_specs {
        Ok(specs) => specs,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read KubeSpanPeerSpecs: {}", e.message()),
                Vec::new(),
            );
        }
    };
    let mut problems = Vec::new();
    let mut up = 0;
    for (key, spec) in specs {
        match data.peer_statuses.get(key) {
            Some(status) if status.state == PeerState::Up => up += 1,
            Some(status) => {
                problems.push(format!("{}: {}", peer_name(key, &spec.label), status.state))
            }
            None => problems.push(format!("{}: no peer status", peer_name(key, &spec.label))),
        }
    }
    let mut missing = 0;
    for (node, key) in others {
        if !specs.contains_key(*key) {
            missing += 1;
            problems.push(format!("{node} ({}): not a peer", short_key(key)));
        }
    }
    let mut message = if specs.is_empty() && missing == 0 {
        "no peers".to_owned()
    } else {
        format!("{up} of {} up", specs.len())
    };
    if missing > 0 {
        message.push_str(&format!(
            ", {missing} other node{} not a peer",
            if missing == 1 { " is" } else { "s are" }
        ));
    }
    if problems.is_empty() {
        Check::pass(name, message)
    } else {
        Check::fail(name, message, problems)
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix (pure).

/// What a row node says of a column peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CellState {
    Up,
    Down,
    Unknown,
    /// The node has no peer status for this peer.
    None,
}

impl CellState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CellState::Up => "up",
            CellState::Down => "down",
            CellState::Unknown => "unknown",
            CellState::None => "none",
        }
    }
}

impl From<PeerState> for CellState {
    fn from(s: PeerState) -> CellState {
        match s {
            PeerState::Up => CellState::Up,
            PeerState::Down => CellState::Down,
            PeerState::Unknown => CellState::Unknown,
        }
    }
}

/// A row: a target node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixNode {
    pub node: String,
    pub public_key: Option<String>,
    pub key_source: Option<KeySource>,
    /// Why its statuses could not be read.
    pub error: Option<String>,
}

/// A column: a peer some node has a status for, matched to a target node when its key is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixPeer {
    /// The target node's name, else the public key.
    pub id: String,
    pub node: Option<String>,
    pub public_key: String,
    /// The label of the first status that names it.
    pub label: String,
}

/// What `from` sees of `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixCell {
    pub from: String,
    /// The column's id.
    pub to: String,
    pub public_key: String,
    pub state: CellState,
    /// Seconds since the last handshake; `null` when there was none.
    pub handshake_age_seconds: Option<u64>,
    /// RFC 3339; `null` when there was none.
    pub last_handshake_time: Option<String>,
    /// The endpoint WireGuard uses for the peer.
    pub endpoint: Option<String>,
    /// The two nodes disagree: one sees the other up, the other does not.
    pub asymmetric: bool,
}

/// Every node × every peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Matrix {
    pub all_up: bool,
    pub nodes: Vec<MatrixNode>,
    pub peers: Vec<MatrixPeer>,
    /// Row-major; no cell for a node and itself, none for a row that could not be read.
    pub cells: Vec<MatrixCell>,
    /// Pairs of target nodes that disagree, each once, in row order.
    pub asymmetric: Vec<[String; 2]>,
}

impl Matrix {
    /// The cell of `from` (a row's node) and the column `to`.
    pub fn cell(&self, from: &str, to: &str) -> Option<&MatrixCell> {
        self.cells.iter().find(|c| c.from == from && c.to == to)
    }
}

/// The matrix of `snapshots`, handshake ages counted to `now`.
pub fn matrix(snapshots: &[NodeSnapshot], now: OffsetDateTime) -> Matrix {
    let nodes: Vec<MatrixNode> = snapshots
        .iter()
        .map(|s| MatrixNode {
            node: s.node.clone(),
            public_key: s.key().map(|(k, _)| k.to_owned()),
            key_source: s.key().map(|(_, src)| src),
            error: s.data.as_ref().err().cloned(),
        })
        .collect();
    // Columns: target nodes with a known key, in order (the first of duplicates), then every
    // other key some node has a status for, sorted.
    let mut peers: Vec<MatrixPeer> = Vec::new();
    for n in &nodes {
        if let Some(key) = &n.public_key
            && !peers.iter().any(|p| &p.public_key == key)
        {
            peers.push(MatrixPeer {
                id: n.node.clone(),
                node: Some(n.node.clone()),
                public_key: key.clone(),
                label: String::new(),
            });
        }
    }
    let mut extra: BTreeMap<&str, &str> = BTreeMap::new();
    for data in snapshots.iter().filter_map(|s| s.data.as_ref().ok()) {
        for (key, status) in &data.peer_statuses {
            if let Some(p) = peers.iter_mut().find(|p| &p.public_key == key) {
                if p.label.is_empty() {
                    p.label.clone_from(&status.label);
                }
            } else {
                let label = extra.entry(key).or_default();
                if label.is_empty() {
                    *label = &status.label;
                }
            }
        }
    }
    peers.extend(extra.into_iter().map(|(key, label)| MatrixPeer {
        id: key.to_owned(),
        node: None,
        public_key: key.to_owned(),
        label: label.to_owned(),
    }));

    let mut cells = Vec::new();
    for (snapshot, row) in snapshots.iter().zip(&nodes) {
        let Ok(data) = &snapshot.data else { continue };
        for peer in &peers {
            if row.public_key.as_deref() == Some(peer.public_key.as_str()) {
                continue;
            }
            let status = data.peer_statuses.get(&peer.public_key);
            let handshake = status
                .map(|s| s.last_handshake_time)
                .filter(|t| *t != ZERO_TIME);
            cells.push(MatrixCell {
                from: row.node.clone(),
                to: peer.id.clone(),
                public_key: peer.public_key.clone(),
                state: status.map_or(CellState::None, |s| s.state.into()),
                handshake_age_seconds: handshake
                    .map(|t| u64::try_from((now - t).whole_seconds()).unwrap_or(0)),
                last_handshake_time: handshake.map(crate::output::json::rfc3339),
                endpoint: status.and_then(|s| s.endpoint).map(|e| e.to_string()),
                asymmetric: false,
            });
        }
    }

    // Asymmetry: both rows read, each the other's column, one sees the other up and the other
    // does not (a missing status counts as "not up").
    let mut asymmetric = Vec::new();
    let readable: Vec<&MatrixNode> = nodes
        .iter()
        .filter(|n| n.error.is_none() && n.public_key.is_some())
        .collect();
    for (i, a) in readable.iter().enumerate() {
        for b in &readable[i + 1..] {
            let (Some(col_a), Some(col_b)) = (column_of(&peers, a), column_of(&peers, b)) else {
                continue;
            };
            if col_a == col_b {
                continue;
            }
            let ab = state_of(&cells, &a.node, col_b);
            let ba = state_of(&cells, &b.node, col_a);
            if (ab == CellState::Up) != (ba == CellState::Up) {
                for c in cells.iter_mut() {
                    if (c.from == a.node && c.to == col_b) || (c.from == b.node && c.to == col_a) {
                        c.asymmetric = true;
                    }
                }
                asymmetric.push([a.node.clone(), b.node.clone()]);
            }
        }
    }
    let all_up =
        nodes.iter().all(|n| n.error.is_none()) && cells.iter().all(|c| c.state == CellState::Up);
    Matrix {
        all_up,
        nodes,
        peers,
        cells,
        asymmetric,
    }
}

/// The id of the column that is `node`.
fn column_of<'a>(peers: &'a [MatrixPeer], node: &MatrixNode) -> Option<&'a str> {
    let key = node.public_key.as_deref()?;
    peers
        .iter()
        .find(|p| p.public_key == key)
        .map(|p| p.id.as_str())
}

fn state_of(cells: &[MatrixCell], from: &str, to: &str) -> CellState {
    cells
        .iter()
        .find(|c| c.from == from && c.to == to)
        .map_or(CellState::None, |c| c.state)
}

/// `42s`, `3m07s`, `2h05m`, `3d04h`.
pub(crate) fn format_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// The checks as aligned lines and a summary line.
pub fn render_report(report: &Report) -> String {
    let mut tw = crate::output::TabWriter::new(0, 3);
    tw.write_str("NODE\tCHECK\tRESULT\tMESSAGE\n");
    for n in &report.nodes {
        for c in &n.checks {
            let mut message = c.message.clone();
            if !c.details.is_empty() {
                message.push_str(": ");
                message.push_str(&c.details.join("; "));
            }
            tw.write_str(&format!(
                "{}\t{}\t{}\t{}\n",
                n.node,
                c.check.as_str(),
                c.status.label(),
                message
            ));
        }
    }
    let mut text = tw.flush();
    text.push_str(&report.summary_line());
    text.push('\n');
    text
}

/// The matrix as a bordered grid: a row per node, a column per peer; each cell its state, the
/// handshake age and the endpoint. A `!` marks asymmetric cells (also reversed when coloured).
pub fn render_matrix(m: &Matrix, color: bool) -> String {
    use comfy_table::{Attribute, Cell, Color, Table};

    let mut table = Table::new();
    if color {
        table.load_style(comfy_table::presets::UTF8_FULL);
    } else {
        // Plain: ASCII borders, no escape codes, no wrapping to a terminal's width.
        table.force_no_tty();
    }
    let mut header = vec![Cell::new("FROM \\ TO")];
    for p in &m.peers {
        let title = match &p.node {
            Some(node) => format!("{node}\n{}", short_key(&p.public_key)),
            None if p.label.is_empty() => short_key(&p.public_key),
            None => format!("{}\n{}", p.label, short_key(&p.public_key)),
        };
        header.push(Cell::new(title));
    }
    table.set_header(header);
    for n in &m.nodes {
        let title = match &n.public_key {
            Some(key) => format!("{}\n{}", n.node, short_key(key)),
            None => n.node.clone(),
        };
        let mut row = vec![Cell::new(title)];
        for p in &m.peers {
            if n.public_key.as_deref() == Some(p.public_key.as_str()) {
                row.push(Cell::new("·"));
                continue;
            }
            if n.error.is_some() {
                row.push(Cell::new("?"));
                continue;
            }
            let Some(c) = m.cell(&n.node, &p.id) else {
                row.push(Cell::new(""));
                continue;
            };
            let mut text = String::new();
            if c.asymmetric {
                text.push_str("! ");
            }
            text.push_str(c.state.as_str());
            if c.state != CellState::None {
                text.push('\n');
                text.push_str(&match c.handshake_age_seconds {
                    Some(age) => format!("hs {} ago", format_age(age)),
                    None => "no handshake".to_owned(),
                });
                text.push('\n');
                text.push_str(c.endpoint.as_deref().unwrap_or("no endpoint"));
            }
            let mut cell = Cell::new(text);
            if color {
                cell = cell.fg(match c.state {
                    CellState::Up => Color::Green,
                    CellState::Down => Color::Red,
                    CellState::Unknown => Color::Yellow,
                    CellState::None => Color::DarkGrey,
                });
                if c.asymmetric {
                    cell = cell.add_attribute(Attribute::Reverse);
                }
            }
            row.push(cell);
        }
        table.add_row(row);
    }
    let mut text = table.to_string();
    text.push('\n');
    for n in &m.nodes {
        if let Some(e) = &n.error {
            text.push_str(&format!("? {}: {e}\n", n.node));
        }
    }
    for [a, b] in &m.asymmetric {
        text.push_str(&format!(
            "! {a} and {b} disagree: one sees the other up, the other does not\n"
        ));
    }
    text
}

/// Any serializable value as `weftctl get -o json` prints JSON: sorted keys, 4-space indent.
fn to_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let tree = yaml_serde::to_value(value)?;
    let mut text = to_string_indented(&GoValue::from_spec(&tree))?;
    text.push('\n');
    Ok(text)
}

/// Colour only at a terminal, and never with `NO_COLOR` set (https://no-color.org).
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Fetching.

fn fetch_error(status: &tonic::Status) -> FetchError {
    let message = client::describe_status(status);
    if status.code() == tonic::Code::PermissionDenied {
        FetchError::Denied(message)
    } else {
        FetchError::Other(message)
    }
}

fn decode<S: TypedSpec>(
    wire: weft_api::proto::resource::Resource,
) -> Result<(String, S), FetchError> {
    let resource: Resource = resource_from_proto(wire)
        .map_err(|e| FetchError::Other(format!("decoding a {}: {e}", S::TYPE)))?;
    let spec = resource.decode::<S>().map_err(|e| {
        // The YAML error, as before: the type and id are in the message already.
        let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        FetchError::Other(format!(
            "decoding {} {}: {why}",
            S::TYPE,
            resource.metadata.id
        ))
    })?;
    Ok((resource.metadata.id, spec))
}

async fn list<S: TypedSpec>(channel: Channel) -> Result<Vec<(String, S)>, FetchError> {
    let reply = ResourceServiceClient::new(channel)
        .list(ListRequest {
            namespace: S::NAMESPACE.to_owned(),
            r#type: S::TYPE.to_owned(),
        })
        .await
        .map_err(|s| fetch_error(&s))?;
    reply
        .into_inner()
        .resources
        .into_iter()
        .map(decode)
        .collect()
}

/// A resource by id; `Ok(None)` when the node has none.
async fn get<S: TypedSpec>(channel: Channel, id: &str) -> Result<Option<S>, FetchError> {
    let reply = ResourceServiceClient::new(channel)
        .get(GetRequest {
            namespace: S::NAMESPACE.to_owned(),
            r#type: S::TYPE.to_owned(),
            id: id.to_owned(),
        })
        .await;
    match reply {
        Ok(reply) => match reply.into_inner().resource {
            Some(wire) => decode(wire).map(|(_, spec)| Some(spec)),
            None => Ok(None),
        },
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(fetch_error(&status)),
    }
}

/// The KubeSpan key of the node's own affiliate, if it has one.
async fn affiliate_key(channel: Channel) -> Option<String> {
    let id = get::<NodeIdentitySpec>(channel.clone(), LOCAL_ID)
        .await
        .ok()??;
    let affiliate = get::<AffiliateSpec>(channel, &id.node_id).await.ok()??;
    Some(affiliate.kubespan.public_key).filter(|k| !k.is_empty())
}

/// One node's resources. The peer statuses come first: they are readable by every role, so a
/// failure there is the API's (address, TLS, certificate), and the rest is not asked for.
async fn fetch_node(target: &Target, ctx: &Context, timeout: Duration) -> NodeSnapshot {
    let node = target.name.clone();
    let channel = match client::channel(target, ctx, timeout) {
        Ok(c) => c,
        Err(e) => {
            return NodeSnapshot {
                node,
                data: Err(format!("{e:#}")),
            };
        }
    };
    let peer_statuses = match list::<PeerStatusSpec>(channel.clone()).await {
        Ok(statuses) => statuses.into_iter().collect(),
        Err(e) => {
            return NodeSnapshot {
                node,
                data: Err(e.message().to_owned()),
            };
        }
    };
    let (identity, discovery, peer_specs) = futures::join!(
        get::<IdentitySpec>(channel.clone(), LOCAL_ID),
        list::<DiscoveryStatus>(channel.clone()),
        list::<PeerSpec>(channel.clone()),
    );
    let identity = identity.map(|i| i.map(|i| i.public_key));
    let affiliate_key = match &identity {
        Ok(Some(_)) => None,
        _ => affiliate_key(channel).await,
    };
    NodeSnapshot {
        node,
        data: Ok(NodeData {
            peer_statuses,
            identity,
            affiliate_key,
            discovery: discovery.map(|d| {
                d.into_iter()
                    .map(|(id, mut s)| {
                        if s.endpoint.is_empty() {
                            s.endpoint = id;
                        }
                        s
                    })
                    .collect()
            }),
            peer_specs: peer_specs.map(|p| p.into_iter().collect()),
        }),
    }
}

/// Every target node's snapshot, fetched concurrently, in the targets' order.
pub async fn fetch_all(targets: &[Target], ctx: &Context, timeout: Duration) -> Vec<NodeSnapshot> {
    futures::future::join_all(targets.iter().map(|t| fetch_node(t, ctx, timeout))).await
}

/// Progress while waiting: a bar at a terminal, else a plain line on stderr whenever the picture
/// changes.
#[derive(Debug)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} waiting for the mesh to be healthy [{bar:30}] {pos}/{len} checks {msg}",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            last: String::new(),
        }
    }

    fn update(&mut self, report: &Report) {
        let problem = report.first_problem().unwrap_or_default();
        match &self.bar {
            Some(bar) => {
                bar.set_length(report.summary.checks as u64);
                bar.set_position(report.summary.passed as u64);
                bar.set_message(problem);
            }
            None => {
                let line = format!(
                    "waiting: {} of {} checks passed{}",
                    report.summary.passed,
                    report.summary.checks,
                    if problem.is_empty() {
                        String::new()
                    } else {
                        format!(" ({problem})")
                    }
                );
                if line != self.last {
                    eprintln!("{line}");
                    self.last = line;
                }
            }
        }
    }

    /// Replaces the bar with one plain line ending in a newline: indicatif leaves its last line
    /// open, and whatever follows on stdout (cluster create's table) would start on it.
    fn finish(&self, healthy: bool, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            let (passed, checks) = (bar.position(), bar.length().unwrap_or(0));
            bar.finish_and_clear();
            if healthy {
                eprintln!(
                    "the mesh is healthy: {passed}/{checks} checks in {:.1}s",
                    elapsed.as_secs_f64()
                );
            } else {
                eprintln!("timed out waiting for the mesh: {passed}/{checks} checks passed");
            }
        }
    }
}

/// Checks until healthy or `limit` has passed, showing progress; returns the last report.
/// `guard` runs between rounds and ends the wait with its error (`cluster create`: a process of
/// the cluster exited).
pub async fn wait(
    targets: &[Target],
    ctx: &Context,
    timeout: Duration,
    limit: Duration,
    mut guard: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    let start = Instant::now();
    let mut progress = Progress::new();
    loop {
        let report = check(&fetch_all(targets, ctx, timeout).await);
        progress.update(&report);
        if report.healthy || start.elapsed() >= limit {
            progress.finish(report.healthy, start.elapsed());
            return Ok(report);
        }
        if let Err(e) = guard() {
            progress.finish(false, start.elapsed());
            return Err(e);
        }
        tokio::time::sleep(POLL.min(limit.saturating_sub(start.elapsed()))).await;
    }
}

/// `weftctl health`.
pub async fn run(global: &GlobalArgs, args: &HealthArgs) -> anyhow::Result<()> {
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let mut stdout = std::io::stdout().lock();
    if args.matrix {
        let snapshots = fetch_all(&targets, &ctx, global.timeout).await;
        let m = matrix(&snapshots, OffsetDateTime::now_utc());
        match args.output {
            HealthOutput::Json => stdout.write_all(to_json(&m)?.as_bytes())?,
            HealthOutput::Table => stdout.write_all(render_matrix(&m, use_color()).as_bytes())?,
        }
        stdout.flush()?;
        if !m.all_up {
            let unread = m.nodes.iter().filter(|n| n.error.is_some()).count();
            let not_up = m.cells.iter().filter(|c| c.state != CellState::Up).count();
            bail!(
                "not every node sees every peer up: {not_up} of {} cells not up, {} asymmetric pairs, {unread} of {} nodes not read",
                m.cells.len(),
                m.asymmetric.len(),
                m.nodes.len()
            );
        }
        return Ok(());
    }
    let report = match args.wait_timeout {
        Some(limit) => wait(&targets, &ctx, global.timeout, limit, || Ok(())).await?,
        None => check(&fetch_all(&targets, &ctx, global.timeout).await),
    };
    match args.output {
        HealthOutput::Json => stdout.write_all(to_json(&report)?.as_bytes())?,
        HealthOutput::Table => stdout.write_all(render_report(&report).as_bytes())?,
    }
    stdout.flush()?;
    if !report.healthy {
        match args.wait_timeout {
            Some(limit) => bail!(
                "not healthy after {}s: {}",
                limit.as_secs_f64(),
                report.failing()
            ),
            None => bail!("not healthy: {}", report.failing()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";
    const C: &str = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC=";
    const X: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX=";

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("time")
    }

    fn status(state: PeerState, label: &str) -> PeerStatusSpec {
        PeerStatusSpec {
            label: label.to_owned(),
            state,
            endpoint: Some("10.5.0.9:51820".parse().expect("addr")),
            last_handshake_time: at(0),
            ..PeerStatusSpec::default()
        }
    }

    fn spec(label: &str) -> PeerSpec {
        PeerSpec {
            address: None,
            allowed_ips: Vec::new(),
            endpoints: Vec::new(),
            label: label.to_owned(),
        }
    }

    fn connected() -> Vec<DiscoveryStatus> {
        vec![DiscoveryStatus {
            endpoint: "http://10.5.0.1:3000".to_owned(),
            connected: true,
            last_error: String::new(),
            ..DiscoveryStatus::default()
        }]
    }

    /// A healthy node with key `key` whose peers are `peers` (key, state).
    fn node(name: &str, key: &str, peers: &[(&str, PeerState)]) -> NodeSnapshot {
        NodeSnapshot {
            node: name.to_owned(),
            data: Ok(NodeData {
                peer_statuses: peers
                    .iter()
                    .map(|(k, s)| ((*k).to_owned(), status(*s, &format!("host-{}", &k[..1]))))
                    .collect(),
                identity: Ok(Some(key.to_owned())),
                affiliate_key: None,
                discovery: Ok(connected()),
                peer_specs: Ok(peers
                    .iter()
                    .map(|(k, _)| ((*k).to_owned(), spec(&format!("host-{}", &k[..1]))))
                    .collect()),
            }),
        }
    }

    fn edit(mut s: NodeSnapshot, f: impl FnOnce(&mut NodeData)) -> NodeSnapshot {
        f(s.data.as_mut().expect("data"));
        s
    }

    fn unreachable(name: &str) -> NodeSnapshot {
        NodeSnapshot {
            node: name.to_owned(),
            data: Err("tcp connect error: Connection refused (os error 111)".to_owned()),
        }
    }

    fn statuses(report: &Report) -> Vec<(String, &'static str, CheckStatus)> {
        report
            .nodes
            .iter()
            .flat_map(|n| {
                n.checks
                    .iter()
                    .map(|c| (n.node.clone(), c.check.as_str(), c.status))
            })
            .filter(|(_, _, s)| *s != CheckStatus::Pass)
            .collect()
    }

    use CheckStatus::{Fail, Skip};
    use PeerState::{Down, Unknown, Up};

    #[test]
    fn checks_table() {
        let denied = || FetchError::Denied("KubeSpanIdentities… is sensitive".to_owned());
        type Case = (
            &'static str,
            Vec<NodeSnapshot>,
            Vec<(&'static str, &'static str, CheckStatus)>,
        );
        let cases: Vec<Case> = vec![
            (
                "two nodes up",
                vec![node("a", A, &[(B, Up)]), node("b", B, &[(A, Up)])],
                vec![],
            ),
            ("one node, no peers", vec![node("a", A, &[])], vec![]),
            (
                "a peer down",
                vec![node("a", A, &[(B, Down)]), node("b", B, &[(A, Up)])],
                vec![("a", "peers", Fail)],
            ),
            (
                "a peer unknown",
                vec![node("a", A, &[(B, Unknown)]), node("b", B, &[(A, Up)])],
                vec![("a", "peers", Fail)],
            ),
            (
                "a spec without status",
                vec![
                    edit(node("a", A, &[(B, Up)]), |d| d.peer_statuses.clear()),
                    node("b", B, &[(A, Up)]),
                ],
                vec![("a", "peers", Fail)],
            ),
            (
                "a status without spec is not a problem (being removed)",
                vec![
                    edit(node("a", A, &[(B, Up), (X, Down)]), |d| {
                        d.peer_specs.as_mut().expect("specs").remove(X);
                    }),
                    node("b", B, &[(A, Up)]),
                ],
                vec![],
            ),
            (
                "an other target node is not a peer yet",
                vec![node("a", A, &[]), node("b", B, &[(A, Up)])],
                vec![("a", "peers", Fail)],
            ),
            (
                "the same node twice is not its own peer",
                vec![node("a", A, &[]), node("a2", A, &[])],
                vec![],
            ),
            (
                "unreachable node: api fails, the rest is skipped",
                vec![node("a", A, &[(B, Up)]), unreachable("b")],
                vec![
                    ("b", "api", Fail),
                    ("b", "identity", Skip),
                    ("b", "discovery", Skip),
                    ("b", "peers", Skip),
                ],
            ),
            (
                "no identity",
                vec![edit(node("a", A, &[]), |d| d.identity = Ok(None))],
                vec![("a", "identity", Fail)],
            ),
            (
                "reader: identity denied, the affiliate has the key",
                vec![edit(node("a", A, &[]), |d| {
                    d.identity = Err(denied());
                    d.affiliate_key = Some(A.to_owned());
                })],
                vec![],
            ),
            (
                "reader without an affiliate",
                vec![edit(node("a", A, &[]), |d| d.identity = Err(denied()))],
                vec![("a", "identity", Fail)],
            ),
            (
                "no discovery service",
                vec![edit(node("a", A, &[]), |d| d.discovery = Ok(Vec::new()))],
                vec![("a", "discovery", Fail)],
            ),
            (
                "discovery not connected",
                vec![edit(node("a", A, &[]), |d| {
                    d.discovery = Ok(vec![DiscoveryStatus {
                        endpoint: "http://x".to_owned(),
                        connected: false,
                        last_error: "connection refused".to_owned(),
                        ..DiscoveryStatus::default()
                    }]);
                })],
                vec![("a", "discovery", Fail)],
            ),
            (
                "one of two discovery services is enough",
                vec![edit(node("a", A, &[]), |d| {
                    d.discovery.as_mut().expect("list").push(DiscoveryStatus {
                        endpoint: "http://y".to_owned(),
                        ..DiscoveryStatus::default()
                    });
                })],
                vec![],
            ),
            (
                "discovery type unknown to the node",
                vec![edit(node("a", A, &[]), |d| {
                    d.discovery = Err(FetchError::Other("not registered".to_owned()));
                })],
                vec![("a", "discovery", Fail)],
            ),
        ];
        for (name, snapshots, want) in cases {
            let report = check(&snapshots);
            let want: Vec<(String, &str, CheckStatus)> = want
                .into_iter()
                .map(|(n, c, s)| (n.to_owned(), c, s))
                .collect();
            assert_eq!(statuses(&report), want, "{name}");
            assert_eq!(report.healthy, want.is_empty(), "{name}");
            assert_eq!(report.summary.checks, 4 * snapshots.len(), "{name}");
            assert_eq!(
                report.summary.passed + report.summary.failed + report.summary.skipped,
                report.summary.checks,
                "{name}"
            );
        }
        assert!(!check(&[]).healthy, "no node is not healthy");
    }

    #[test]
    fn messages_name_the_problem() {
        let report = check(&[
            node("a", A, &[(B, Down), (C, Up)]),
            node("b", B, &[(A, Up)]),
            edit(node("c", C, &[]), |d| {
                d.identity = Err(FetchError::Denied("sensitive".to_owned()));
            }),
        ]);
        let peers = &report.nodes[0].checks[3];
        assert_eq!(peers.message, "1 of 2 up");
        assert_eq!(peers.details, ["host-B (BBBBBBBB…): down"]);
        let peers = &report.nodes[1].checks[3];
        assert_eq!(peers.message, "1 of 1 up");
        let identity = &report.nodes[2].checks[1];
        assert!(
            identity.message.starts_with(
                "permission denied: KubeSpanIdentities is sensitive and needs an os:admin client"
            ),
            "{}",
            identity.message
        );
        // c's key is unknown, so nobody is asked to have it as a peer; c itself lacks a and b.
        let peers = &report.nodes[2].checks[3];
        assert_eq!(peers.message, "0 of 0 up, 2 other nodes are not a peer");
        assert_eq!(
            peers.details,
            ["a (AAAAAAAA…): not a peer", "b (BBBBBBBB…): not a peer"]
        );
        assert_eq!(report.failing(), "a (peers), c (identity, peers)");
        assert_eq!(
            report.summary_line(),
            "not healthy: 1 of 3 nodes healthy, 9 of 12 checks passed, 3 failed"
        );
        let text = render_report(&report);
        assert!(
            text.starts_with(
                "NODE   CHECK       RESULT   MESSAGE\na      api         ok       reachable\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("a      peers       FAIL     1 of 2 up: host-B (BBBBBBBB…): down\n"),
            "{text}"
        );
    }

    #[test]
    fn matrix_cells_and_asymmetry() {
        let snapshots = [
            node("a", A, &[(B, Up), (C, Up), (X, Down)]),
            node("b", B, &[(A, Down), (C, Up)]),
            node("c", C, &[(A, Up)]),
            unreachable("d"),
        ];
        let m = matrix(&snapshots, at(75));
        let ids: Vec<&str> = m.peers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            ["a", "b", "c", X],
            "target nodes first, then other keys"
        );
        assert_eq!(m.peers[3].label, "host-X");
        assert_eq!(m.peers[1].label, "host-B");
        assert_eq!(
            m.nodes[3].error.as_deref().map(|e| e.contains("refused")),
            Some(true)
        );

        let ab = m.cell("a", "b").expect("a→b");
        assert_eq!(
            (
                ab.state,
                ab.asymmetric,
                ab.handshake_age_seconds,
                ab.endpoint.as_deref()
            ),
            (CellState::Up, true, Some(75), Some("10.5.0.9:51820"))
        );
        assert!(m.cell("b", "a").expect("b→a").asymmetric);
        // c has no status for b: b sees c up, c does not see b.
        assert_eq!(m.cell("c", "b").expect("c→b").state, CellState::None);
        assert!(m.cell("b", "c").expect("b→c").asymmetric);
        assert!(!m.cell("a", "c").expect("a→c").asymmetric);
        assert!(m.cell("a", "a").is_none(), "no diagonal");
        assert!(m.cell("d", "a").is_none(), "no cells for an unread row");
        assert_eq!(
            m.asymmetric,
            [
                ["a".to_owned(), "b".to_owned()],
                ["b".to_owned(), "c".to_owned()]
            ]
        );
        assert!(!m.all_up);
        // Every readable row has a cell for every column but its own.
        assert_eq!(m.cells.len(), 3 * 3);

        let all_up = matrix(&[node("a", A, &[(B, Up)]), node("b", B, &[(A, Up)])], at(1));
        assert!(all_up.all_up && all_up.asymmetric.is_empty());
        // No handshake yet: no age, no time.
        let fresh = matrix(
            &[edit(node("a", A, &[(B, Unknown)]), |d| {
                d.peer_statuses.get_mut(B).expect("b").last_handshake_time = ZERO_TIME;
            })],
            at(1),
        );
        let c = fresh.cell("a", B).expect("column by key");
        assert_eq!(
            (c.handshake_age_seconds, c.last_handshake_time.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn matrix_keys_from_affiliates_for_readers() {
        let reader = |s: NodeSnapshot, key: &str| {
            let key = key.to_owned();
            edit(s, move |d| {
                d.identity = Err(FetchError::Denied("sensitive".to_owned()));
                d.affiliate_key = Some(key);
            })
        };
        let m = matrix(
            &[
                reader(node("a", A, &[(B, Up)]), A),
                reader(node("b", B, &[(A, Up)]), B),
            ],
            at(0),
        );
        assert_eq!(m.nodes[0].key_source, Some(KeySource::Affiliate));
        assert_eq!(m.peers.len(), 2);
        assert!(m.all_up);
    }

    #[test]
    fn matrix_renders_plain_and_json() {
        let m = matrix(
            &[node("a", A, &[(B, Up)]), node("b", B, &[(A, Down)])],
            at(3),
        );
        let text = render_matrix(&m, false);
        assert!(!text.contains('\u{1b}'), "no escape codes when plain");
        assert!(text.contains("! up"), "{text}");
        assert!(text.contains("! down"), "{text}");
        assert!(text.contains("hs 3s ago"), "{text}");
        assert!(text.contains("! a and b disagree"), "{text}");
        let json = to_json(&m).expect("json");
        for needle in [
            "\"allUp\": false",
            "\"asymmetric\": true",
            "\"handshakeAgeSeconds\": 3",
            "\"keySource\": \"identity\"",
            "\"state\": \"down\"",
            "\"from\": \"b\"",
        ] {
            assert!(json.contains(needle), "{needle} in {json}");
        }
        let report = to_json(&check(&[node("a", A, &[])])).expect("json");
        for needle in [
            "\"healthy\": true",
            "\"check\": \"api\"",
            "\"status\": \"pass\"",
            "\"healthyNodes\": 1",
            "\"details\": []",
        ] {
            assert!(report.contains(needle), "{needle} in {report}");
        }
    }

    #[test]
    fn ages() {
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (187, "3m07s"),
            (7500, "2h05m"),
            (3 * 86400 + 4 * 3600, "3d04h"),
        ] {
            assert_eq!(format_age(secs), text);
        }
        assert_eq!(short_key("abc"), "abc");
        assert_eq!(short_key(A), "AAAAAAAA…");
    }
}
