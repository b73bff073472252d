//! What the dashboard shows, computed from the nodes' snapshots (pure, table-tested): the node ×
//! node grid (`weftctl health --matrix`'s), a row per node and peer with its rx/tx rates — the
//! byte counters' growth since the previous refresh — and a row per node and discovery service.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::commands::health::{self, CellState, FetchError, Matrix, NodeSnapshot};

/// Byte counters of one refresh, to turn the next one's into rates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Seconds on a monotonic clock.
    pub at: f64,
    /// (node, peer public key) → (received, transmitted) bytes.
    pub bytes: BTreeMap<(String, String), (u64, u64)>,
}

/// One node's view of one peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRow {
    pub node: String,
    /// The grid column's id (a target node's name, else the key) and the peer's label.
    pub peer: String,
    pub label: String,
    pub state: CellState,
    pub handshake_age: Option<u64>,
    pub endpoint: Option<String>,
    /// Bytes per second since the previous refresh; `None` on the first one or after a counter
    /// went back (the node restarted).
    pub rx_rate: Option<f64>,
    pub tx_rate: Option<f64>,
    pub rx_total: u64,
    pub tx_total: u64,
}

/// One node's view of one discovery service, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRow {
    pub node: String,
    pub service: String,
    /// `Err`: the statuses could not be read (the message).
    pub status: Result<ServiceState, String>,
}

/// A discovery service as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub connected: bool,
    pub affiliates: usize,
    pub last_error: String,
}

/// The whole screen's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub nodes: usize,
    pub matrix: Matrix,
    pub peers: Vec<PeerRow>,
    pub discovery: Vec<DiscoveryRow>,
    /// When the snapshots were taken (UTC), `None` before the first arrived.
    pub refreshed: Option<OffsetDateTime>,
    pub interval: Duration,
}

impl Model {
    /// The screen before the first answers: the target nodes, nothing known yet.
    pub fn waiting(nodes: usize, interval: Duration) -> Model {
        Model {
            nodes,
            matrix: health::matrix(&[], OffsetDateTime::UNIX_EPOCH),
            peers: Vec::new(),
            discovery: Vec::new(),
            refreshed: None,
            interval,
        }
    }
}

/// Rate of a counter that went from `before` to `now` in `secs`; `None` when it went back.
fn rate(before: u64, now: u64, secs: f64) -> Option<f64> {
    (now >= before && secs > 0.0).then(|| (now - before) as f64 / secs)
}

/// The model of `snapshots`, taken at `wall` (UTC) and `at` (monotonic seconds), rates against
/// `previous`; and the sample the next refresh compares with.
pub fn build(
    snapshots: &[NodeSnapshot],
    previous: Option<&Sample>,
    wall: OffsetDateTime,
    at: f64,
    interval: Duration,
) -> (Model, Sample) {
    let matrix = health::matrix(snapshots, wall);
    let mut sample = Sample {
        at,
        bytes: BTreeMap::new(),
    };
    let mut peers = Vec::new();
    for cell in &matrix.cells {
        let Some(status) = snapshots
            .iter()
            .find(|s| s.node == cell.from)
            .and_then(|s| s.data.as_ref().ok())
            .and_then(|d| d.peer_statuses.get(&cell.public_key))
        else {
            continue;
        };
        let (rx, tx) = (status.receive_bytes, status.transmit_bytes);
        let key = (cell.from.clone(), cell.public_key.clone());
        let before = previous.and_then(|p| Some((p.bytes.get(&key)?, at - p.at)));
        sample.bytes.insert(key, (rx, tx));
        peers.push(PeerRow {
            node: cell.from.clone(),
            peer: cell.to.clone(),
            label: status.label.clone(),
            state: cell.state,
            handshake_age: cell.handshake_age_seconds,
            endpoint: cell.endpoint.clone(),
            rx_rate: before.and_then(|(&(rx0, _), secs)| rate(rx0, rx, secs)),
            tx_rate: before.and_then(|(&(_, tx0), secs)| rate(tx0, tx, secs)),
            rx_total: rx,
            tx_total: tx,
        });
    }
    let mut discovery = Vec::new();
    for s in snapshots {
        let Ok(data) = &s.data else { continue };
        match &data.discovery {
            Ok(services) => discovery.extend(services.iter().map(|d| DiscoveryRow {
                node: s.node.clone(),
                service: d.endpoint.clone(),
                status: Ok(ServiceState {
                    connected: d.connected,
                    affiliates: d.affiliates,
                    last_error: d.last_error.clone(),
                }),
            })),
            Err(e) => discovery.push(DiscoveryRow {
                node: s.node.clone(),
                service: String::new(),
                status: Err(match e {
                    FetchError::Denied(m) | FetchError::Other(m) => m.clone(),
                }),
            }),
        }
    }
    let model = Model {
        nodes: snapshots.len(),
        matrix,
        peers,
        discovery,
        refreshed: Some(wall),
        interval,
    };
    (model, sample)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::health::NodeData;
    use weft_api::resources::cluster::DiscoveryServiceStatusSpec;
    use weft_api::resources::kubespan::{PeerState, PeerStatusSpec};

    pub(crate) const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    pub(crate) const KEY_B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";

    fn status(label: &str, state: PeerState, rx: u64, tx: u64, hs: i64) -> PeerStatusSpec {
        PeerStatusSpec {
            endpoint: Some("10.5.0.3:51820".parse().expect("addr")),
            label: label.to_owned(),
            state,
            receive_bytes: rx,
            transmit_bytes: tx,
            // 0: never.
            last_handshake_time: if hs == 0 {
                weft_api::resources::fields::ZERO_TIME
            } else {
                OffsetDateTime::from_unix_timestamp(hs).expect("time")
            },
            ..PeerStatusSpec::default()
        }
    }

    /// Two nodes, a sees b (up, counters `rx`/`tx`), b sees a down; b's discovery unreadable.
    pub(crate) fn snapshots(rx: u64, tx: u64) -> Vec<NodeSnapshot> {
        let node = |name: &str, key: &str, peer: (&str, PeerStatusSpec)| NodeSnapshot {
            node: name.to_owned(),
            data: Ok(NodeData {
                peer_statuses: [(peer.0.to_owned(), peer.1)].into_iter().collect(),
                identity: Ok(Some(key.to_owned())),
                affiliate_key: None,
                discovery: Ok(vec![DiscoveryServiceStatusSpec {
                    endpoint: "http://10.5.0.1:3000".to_owned(),
                    connected: true,
                    affiliates: 1,
                    ..DiscoveryServiceStatusSpec::default()
                }]),
                peer_specs: Ok(BTreeMap::new()),
            }),
        };
        let a = node(
            "10.5.0.2",
            KEY_A,
            (KEY_B, status("b", PeerState::Up, rx, tx, 990)),
        );
        let mut b = node(
            "10.5.0.3",
            KEY_B,
            (KEY_A, status("a", PeerState::Down, 0, 0, 0)),
        );
        if let Ok(d) = &mut b.data {
            d.discovery = Err(FetchError::Denied("needs os:admin".to_owned()));
        }
        vec![a, b]
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).expect("time")
    }

    #[test]
    fn rows_rates_and_discovery() {
        let interval = Duration::from_secs(2);
        let (first, sample) = build(&snapshots(1000, 500), None, at(1000), 10.0, interval);
        assert_eq!(first.peers.len(), 2);
        let ab = &first.peers[0];
        assert_eq!(
            (
                ab.node.as_str(),
                ab.peer.as_str(),
                ab.label.as_str(),
                ab.state
            ),
            ("10.5.0.2", "10.5.0.3", "b", CellState::Up)
        );
        assert_eq!(ab.handshake_age, Some(10));
        assert_eq!(
            (ab.rx_rate, ab.tx_rate),
            (None, None),
            "no rate on the first refresh"
        );
        assert_eq!(first.peers[1].state, CellState::Down);
        assert_eq!(first.peers[1].handshake_age, None);

        /// rx, tx, seconds later, rx rate, tx rate.
        type Case = (u64, u64, f64, Option<f64>, Option<f64>);
        let cases: &[Case] = &[
            (3000, 500, 2.0, Some(1000.0), Some(0.0)),
            (1000, 4500, 4.0, Some(0.0), Some(1000.0)),
            // A counter went back (the node restarted): no rate rather than a negative one.
            (10, 600, 2.0, None, Some(50.0)),
        ];
        for &(rx, tx, later, want_rx, want_tx) in cases {
            let (next, _) = build(
                &snapshots(rx, tx),
                Some(&sample),
                at(1002),
                10.0 + later,
                interval,
            );
            let row = &next.peers[0];
            assert_eq!((row.rx_rate, row.tx_rate), (want_rx, want_tx), "{rx} {tx}");
            assert_eq!((row.rx_total, row.tx_total), (rx, tx));
        }

        assert_eq!(
            first.discovery,
            [
                DiscoveryRow {
                    node: "10.5.0.2".to_owned(),
                    service: "http://10.5.0.1:3000".to_owned(),
                    status: Ok(ServiceState {
                        connected: true,
                        affiliates: 1,
                        last_error: String::new()
                    }),
                },
                DiscoveryRow {
                    node: "10.5.0.3".to_owned(),
                    service: String::new(),
                    status: Err("needs os:admin".to_owned()),
                },
            ]
        );
        assert_eq!(sample.bytes.len(), 2);
    }

    #[test]
    fn a_node_that_does_not_answer_has_no_rows() {
        let mut snaps = snapshots(1, 1);
        snaps[1].data = Err("connection refused".to_owned());
        let (m, sample) = build(&snaps, None, at(1000), 0.0, Duration::from_secs(3));
        assert_eq!(m.peers.len(), 1);
        assert_eq!(m.discovery.len(), 1);
        assert_eq!(sample.bytes.len(), 1);
        assert_eq!(
            m.matrix.nodes[1].error.as_deref(),
            Some("connection refused")
        );
    }
}
