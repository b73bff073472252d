//! KubeSpan peer status (`KubeSpanPeerStatuses.kubespan.weft.dev`), id = the peer's WireGuard
//! public key: what WireGuard reports about a peer, the state computed from it, and the endpoint
//! selection's memory (which endpoint Weft last set, and when).

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::resources::fields::{ZERO_TIME, empty_as_none, rfc3339};
use crate::resources::{KUBESPAN_PEER_STATUS_TYPE, NAMESPACE_KUBESPAN, TypedSpec};

/// A peer's connection state. The discriminants are Talos's (`unknown` 0, `up` 1, `down` 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    /// No verdict yet: a new endpoint is being tried, or the peer never had an endpoint set.
    #[default]
    Unknown = 0,
    /// A handshake happened recently enough.
    Up = 1,
    /// No handshake for too long: the next endpoint will be tried.
    Down = 2,
}

impl PeerState {
    /// The state as Talos prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Unknown => "unknown",
            PeerState::Up => "up",
            PeerState::Down => "down",
        }
    }
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The observed state of one WireGuard peer. Unset endpoints render as `""` and unset times as the
/// zero time `0001-01-01T00:00:00Z`, as in Talos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerStatusSpec {
    /// The endpoint WireGuard currently reports (it may have roamed away from the one set).
    #[serde(with = "empty_as_none", default)]
    pub endpoint: Option<SocketAddr>,
    /// The peer spec's label when this status was created.
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub state: PeerState,
    /// Bytes received from the peer, as WireGuard counts them. Talos's field is an int64; the
    /// counter never goes negative, so it is unsigned here (same YAML).
    #[serde(default)]
    pub receive_bytes: u64,
    /// Bytes sent to the peer.
    #[serde(default)]
    pub transmit_bytes: u64,
    /// The last completed handshake; [`ZERO_TIME`] if none.
    #[serde(with = "rfc3339", default = "zero_time")]
    pub last_handshake_time: OffsetDateTime,
    /// The endpoint Weft last configured for the peer; `None` if it never set one.
    #[serde(with = "empty_as_none", default)]
    pub last_used_endpoint: Option<SocketAddr>,
    /// When Weft last configured an endpoint; [`ZERO_TIME`] if never.
    #[serde(with = "rfc3339", default = "zero_time")]
    pub last_endpoint_change: OffsetDateTime,
}

fn zero_time() -> OffsetDateTime {
    ZERO_TIME
}

impl Default for PeerStatusSpec {
    fn default() -> PeerStatusSpec {
        PeerStatusSpec {
            endpoint: None,
            label: String::new(),
            state: PeerState::Unknown,
            receive_bytes: 0,
            transmit_bytes: 0,
            last_handshake_time: ZERO_TIME,
            last_used_endpoint: None,
            last_endpoint_change: ZERO_TIME,
        }
    }
}

impl TypedSpec for PeerStatusSpec {
    const TYPE: &'static str = KUBESPAN_PEER_STATUS_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_KUBESPAN;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_status_renders_zero_values() {
        let spec = PeerStatusSpec {
            label: "worker-1".to_owned(),
            ..PeerStatusSpec::default()
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "endpoint: ''\nlabel: worker-1\nstate: unknown\nreceiveBytes: 0\ntransmitBytes: 0\nlastHandshakeTime: 0001-01-01T00:00:00Z\nlastUsedEndpoint: ''\nlastEndpointChange: 0001-01-01T00:00:00Z\n"
        );
        assert_eq!(
            yaml_serde::from_str::<PeerStatusSpec>(&yaml).expect("parse"),
            spec
        );
    }

    #[test]
    fn reference_example_round_trips() {
        // The spec from the reference's `talosctl get ... -o yaml` example.
        let yaml = "endpoint: 172.20.0.3:51820\nlabel: talos-default-controlplane-2\nstate: up\nreceiveBytes: 1234\ntransmitBytes: 5678\nlastHandshakeTime: 2026-01-01T10:04:51.123456789Z\nlastUsedEndpoint: 172.20.0.3:51820\nlastEndpointChange: 2026-01-01T10:00:02.5Z\n";
        let spec: PeerStatusSpec = yaml_serde::from_str(yaml).expect("parse");
        assert_eq!(spec.state, PeerState::Up);
        assert_eq!(spec.receive_bytes, 1234);
        assert_eq!(spec.last_handshake_time.nanosecond(), 123_456_789);
        assert_eq!(yaml_serde::to_string(&spec).expect("yaml"), yaml);
    }

    #[test]
    fn states() {
        assert_eq!(PeerState::default(), PeerState::Unknown);
        for (state, text, n) in [
            (PeerState::Unknown, "unknown", 0),
            (PeerState::Up, "up", 1),
            (PeerState::Down, "down", 2),
        ] {
            assert_eq!(state.to_string(), text);
            assert_eq!(state as i32, n);
            assert_eq!(
                yaml_serde::from_str::<PeerState>(text).expect("parse"),
                state
            );
        }
    }
}
