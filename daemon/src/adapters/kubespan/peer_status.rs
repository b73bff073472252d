//! A KubeSpan peer's state and endpoint choice (Talos's `kubespan/peer_status.go` and the state
//! rules of `wireguard.go`, §4.2–4.3 of the reference), as a pure function: previous status, the
//! spec's endpoints, what the device reports and the time in; new status and the endpoint to
//! configure out.
//!
//! # Liveness: why probes, and the timing
//! Talos evaluates every 30 s and calls a peer down after 275 s without a handshake, so a dead peer
//! is noticed after 4½ to 5 minutes. Weft evaluates whenever the data plane reports a change (and
//! on a 1 s tick) and judges liveness from the receive counter too. But WireGuard's own traffic
//! cannot be the evidence: its persistent-keepalive timer is reset by any authenticated packet
//! sent *or received*, so on an idle link only one side sends keepalives; gotatun counts a
//! received keepalive as 0 bytes; and handshakes come only when data is sent. An idle, healthy
//! peer can be silent towards us for minutes. So every node sends every peer a liveness probe
//! through the tunnel every [`PROBE_INTERVAL`] (an ICMPv6 echo request to its KubeSpan address,
//! `crate::wg` `probe`): real data, which the peer's device counts and the peer answers. Each
//! side then hears the other at least once per interval from the other's probe and once more
//! from the answer to its own. A peer is *heard* when
//!
//! - its last handshake is at most [`PEER_SILENCE_TIMEOUT`] (16 s) old, or
//! - its receive counter grew at most [`PEER_SILENCE_TIMEOUT`] ago **and** its last handshake is
//!   at most [`SESSION_TIMEOUT`] (Talos's 275 s) old — past that no session can carry packets, so
//!   what still arrives are handshake attempts that never complete. (Probes are data, so a live
//!   link rekeys every ~2 minutes, REKEY_AFTER_TIME, and stays well inside this.)
//!
//! ```text
//!  live idle peer   hs  p p p p p p p p … hs (rekey, 120 s) p p …   p: a probe or an answer,
//!                   ├───┼─┼─┼─┼─┼─┼─┼─┼───┼──────────────────┼─┼──   at least one per 2 s:
//!                                                                    up, never flaps
//!  lossy link       p . . p . p . . . p …  up while any 1 of the 8 probe intervals in 16 s
//!                                          brought something (20 % loss at both ends: 1 in 10⁵)
//!  peer dies        last packet at t
//!                   t+16 s   nothing heard for > 16 s: down, next endpoint set (kept down)
//!                   t+17.3 s latest verdict: 1 s tick, 250 ms change poll — within 30 s
//!                   t+31 s   that endpoint brought nothing in 15 s: the one after it …
//!  path heals       the next probe (≤ 2 s) arrives on the still-valid session: up at the peer;
//!                   its answer or the peer's own probe: up here. A session that expired meanwhile
//!                   is renewed by the handshake the probe starts (retried every 5 s).
//!  new peer         0        first endpoint set: unknown; the first probe starts the handshake
//!                   ~0       handshake reported through `changes()`: up
//!                   15 s     nothing yet: down, next endpoint set
//! ```
//!
//! Why these numbers: 16 s is eight probe intervals. A live peer is falsely `down` only if eight
//! intervals in a row bring neither its probe nor the answer to ours; with 20 % loss on each
//! node's link in both directions (36 % per path, 59 % per round trip) that is 0.21⁸ ≈ 4·10⁻⁶ per
//! window, and a node starved of CPU for a few seconds still has slack. It keeps a dead peer's
//! verdict within 30 s with room to spare. The probes (echo requests and their replies) cost
//! about 5 KB of WireGuard messages sent per peer per minute, as `weft-bench soak` measures.
//!
//! # Rules, in order
//! 1. Copy endpoint, counters and handshake from the device (unchanged if the device has no such
//!    peer yet). The counter moved iff it grew since the last evaluation (a smaller value is a
//!    recreated device, not traffic).
//! 2. State: heard ⇒ `up`; else a peer that was `up` or `down` ⇒ `down`; else (never judged) ⇒
//!    `down` once its first endpoint has been tried for [`ENDPOINT_TRY_TIMEOUT`], otherwise
//!    `unknown` (still trying, or no endpoint ever set: a passive peer that has not called).
//! 3. Pick a new endpoint when `down` and the current one has had its try (or none was ever set),
//!    or when `unknown` with none set yet: no endpoints ⇒ none; first time ⇒ the first; otherwise
//!    the one after the last used in the spec's order, wrapping, and the first if the last used is
//!    gone — except a single endpoint that is the last used and still reported: nothing else to
//!    try. A pick sets `endpoint`, `lastUsedEndpoint` and `lastEndpointChange = now`.
//! 4. Configure `lastUsedEndpoint` when the device reports none or that one; when it reports
//!    another, the peer roamed there (it reached us from there) and the device is left alone.
//!
//! Where Weft differs from Talos on purpose:
//! - A pick leaves the state as it is; Talos resets it to `unknown`, so a dead peer with several
//!   endpoints reads `unknown` forever instead of `down`.
//! - Liveness probes through the tunnel (see above); Talos relies on handshakes alone.
//! - A peer that is `up` with no endpoint ever set (it called us first) keeps the endpoint it
//!   roamed to; Talos overrides it with the spec's first endpoint on its first evaluation.
//! - A passive peer (no endpoint set) that was up and went quiet is `down`; Talos says `unknown`.

use std::net::SocketAddr;
use std::time::Duration;

use time::OffsetDateTime;
use weft_api::resources::fields::ZERO_TIME;
use weft_api::resources::kubespan::{PeerState, PeerStatusSpec};

use crate::wg::PeerState as DevicePeer;

/// The persistent keepalive every KubeSpan peer is configured with (Talos's value). It keeps NAT
/// mappings open for peers that run no weftd; liveness does not rely on it (see the module doc).
pub const PERSISTENT_KEEPALIVE: Duration = Duration::from_secs(25);

/// How often each node probes each peer through the tunnel (see the module doc).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// A peer not heard from for longer than this is down: eight probe intervals (why eight: the
/// module doc). With the manager's 1 s tick a dead peer is down within ~17.3 s of its last
/// packet.
pub const PEER_SILENCE_TIMEOUT: Duration = Duration::from_secs(16);

/// Received packets show life only while the last handshake is younger than this: Talos's peer
/// down interval, REJECT_AFTER_TIME (180 s) + REKEY_TIMEOUT (5 s) + REKEY_ATTEMPT_TIME (90 s), the
/// longest WireGuard keeps a live peer's session going without a completed handshake.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(275);

/// How long a newly set endpoint is tried before the next one (Talos's 15 s): seven probes, each
/// of which reaches the peer at once on a live session, and three handshake attempts (REKEY_TIMEOUT
/// 5 s) when the session is gone.
pub const ENDPOINT_TRY_TIMEOUT: Duration = Duration::from_secs(15);

/// What the manager keeps about one peer between evaluations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The status it publishes.
    pub status: PeerStatusSpec,
    /// When the receive counter was last seen to grow: the device reports counters, not when
    /// they moved. `None` until it first does.
    pub rx_moved_at: Option<OffsetDateTime>,
}

impl Tracked {
    /// A peer seen for the first time: a fresh status carrying the spec's label.
    pub fn new(label: &str) -> Tracked {
        Tracked {
            status: PeerStatusSpec {
                label: label.to_owned(),
                ..PeerStatusSpec::default()
            },
            rx_moved_at: None,
        }
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub tracked: Tracked,
    /// The endpoint to configure: `Some` sets it; `None` keeps whatever the device has (an
    /// endpoint it roamed to, or none for a passive peer).
    pub endpoint: Option<SocketAddr>,
    /// A new endpoint was picked in this evaluation.
    pub picked: bool,
}

/// One evaluation of a peer at `now` (rules in the module doc): `previous` is what the last one
/// left, `endpoints` the spec's, `device` what the data plane reports (`None` if it has no such
/// peer yet).
pub fn evaluate(
    previous: &Tracked,
    endpoints: &[SocketAddr],
    device: Option<&DevicePeer>,
    now: OffsetDateTime,
) -> Evaluation {
    let mut status = previous.status.clone();
    // A clock stepped back must not leave our own records in the future, where they would look
    // fresh for as long as the step.
    let mut rx_moved_at = previous.rx_moved_at.map(|t| t.min(now));
    status.last_endpoint_change = status.last_endpoint_change.min(now);

    // 1. What the device reports.
    if let Some(device) = device {
        if device.rx_bytes > status.receive_bytes {
            rx_moved_at = Some(now);
        }
        status.endpoint = device.endpoint;
        status.receive_bytes = device.rx_bytes;
        status.transmit_bytes = device.tx_bytes;
        status.last_handshake_time = device
            .last_handshake
            .map_or(ZERO_TIME, OffsetDateTime::from);
    }

    // 2. The state.
    let handshake = (status.last_handshake_time != ZERO_TIME).then_some(status.last_handshake_time);
    let within =
        |t: Option<OffsetDateTime>, limit: Duration| t.is_some_and(|t| age(now, t) <= limit);
    let heard = within(handshake, PEER_SILENCE_TIMEOUT)
        || (within(rx_moved_at, PEER_SILENCE_TIMEOUT) && within(handshake, SESSION_TIMEOUT));
    let trying = status.last_used_endpoint.is_some()
        && age(now, status.last_endpoint_change) < ENDPOINT_TRY_TIMEOUT;
    // Never judged before: unknown while the first endpoint is tried, or while none was ever set.
    let undecided = previous.status.state == PeerState::Unknown
        && (status.last_used_endpoint.is_none() || trying);
    status.state = if heard {
        PeerState::Up
    } else if undecided {
        PeerState::Unknown
    } else {
        PeerState::Down
    };

    // 3. A new endpoint?
    let pick = match status.state {
        PeerState::Up => false,
        PeerState::Down => !trying,
        PeerState::Unknown => status.last_used_endpoint.is_none(),
    };
    let mut picked = false;
    if pick && let Some(next) = next_endpoint(endpoints, status.last_used_endpoint, status.endpoint)
    {
        status.endpoint = Some(next);
        status.last_used_endpoint = Some(next);
        status.last_endpoint_change = now;
        picked = true;
    }

    // 4. What to configure.
    let endpoint = match status.last_used_endpoint {
        Some(last) if status.endpoint.is_none_or(|e| e == last) => Some(last),
        _ => None,
    };

    Evaluation {
        tracked: Tracked {
            status,
            rx_moved_at,
        },
        endpoint,
        picked,
    }
}

/// Weft's NAT connectivity check, on top of [`evaluate`]: when a peer that is not up has an
/// endpoint in `heard` — an address a hole-punching datagram just came from, so one whose packets
/// reach this node through every NAT on the way — switch to it at once rather than waiting for
/// cycling to come round to it. The endpoint in use is kept if it is one of them; otherwise the
/// first such endpoint in the spec's order is picked, and tried like any pick.
pub fn prefer_heard(
    mut eval: Evaluation,
    endpoints: &[SocketAddr],
    heard: &[SocketAddr],
    now: OffsetDateTime,
) -> Evaluation {
    let status = &mut eval.tracked.status;
    if status.state == PeerState::Up
        || status
            .last_used_endpoint
            .is_some_and(|e| heard.contains(&e))
    {
        return eval;
    }
    if let Some(next) = endpoints.iter().find(|e| heard.contains(e)).copied() {
        status.endpoint = Some(next);
        status.last_used_endpoint = Some(next);
        status.last_endpoint_change = now;
        eval.endpoint = Some(next);
        eval.picked = true;
    }
    eval
}

/// The endpoint to try next, or `None` for "nothing to change" (rule 3).
fn next_endpoint(
    endpoints: &[SocketAddr],
    last_used: Option<SocketAddr>,
    reported: Option<SocketAddr>,
) -> Option<SocketAddr> {
    let first = *endpoints.first()?;
    let Some(last) = last_used else {
        return Some(first);
    };
    if endpoints == [last] && reported == Some(last) {
        return None;
    }
    let next = endpoints
        .iter()
        .position(|e| *e == last)
        .map_or(0, |i| (i + 1) % endpoints.len());
    Some(endpoints[next])
}

/// How long ago `then` was; zero if it is in the future (a clock step, or the zero time never is).
fn age(now: OffsetDateTime, then: OffsetDateTime) -> Duration {
    Duration::try_from(now - then).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use PeerState::{Down, Unknown, Up};

    const A: &str = "192.0.2.1:51820";
    const B: &str = "198.51.100.1:51820";
    const C: &str = "203.0.113.9:40000";

    fn ep(s: &str) -> SocketAddr {
        s.parse().expect("endpoint")
    }

    fn eps(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| ep(s)).collect()
    }

    /// `secs` after an arbitrary start (fractions allowed).
    fn t(secs: f64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
            + Duration::from_secs_f64(secs)
    }

    fn sys(secs: f64) -> SystemTime {
        t(secs).into()
    }

    /// The device's view of the peer.
    fn device(endpoint: Option<&str>, handshake: Option<f64>, rx: u64) -> DevicePeer {
        DevicePeer {
            public_key: [7; 32],
            endpoint: endpoint.map(ep),
            last_handshake: handshake.map(sys),
            rx_bytes: rx,
            tx_bytes: rx * 2,
        }
    }

    /// A previous evaluation's result.
    struct Prev {
        state: PeerState,
        endpoint: Option<&'static str>,
        last_used: Option<&'static str>,
        changed: Option<f64>,
        handshake: Option<f64>,
        rx: u64,
        rx_moved: Option<f64>,
    }

    const NEW: Prev = Prev {
        state: Unknown,
        endpoint: None,
        last_used: None,
        changed: None,
        handshake: None,
        rx: 0,
        rx_moved: None,
    };

    impl Prev {
        fn tracked(&self) -> Tracked {
            Tracked {
                status: PeerStatusSpec {
                    endpoint: self.endpoint.map(ep),
                    label: "peer".into(),
                    state: self.state,
                    receive_bytes: self.rx,
                    transmit_bytes: self.rx * 2,
                    last_handshake_time: self.handshake.map_or(ZERO_TIME, t),
                    last_used_endpoint: self.last_used.map(ep),
                    last_endpoint_change: self.changed.map_or(ZERO_TIME, t),
                },
                rx_moved_at: self.rx_moved.map(t),
            }
        }
    }

    /// Up on A since 0: last handshake at 100, last packet at 110 (rx 1000).
    const UP_ON_A: Prev = Prev {
        state: Up,
        endpoint: Some(A),
        last_used: Some(A),
        changed: Some(0.0),
        handshake: Some(100.0),
        rx: 1000,
        rx_moved: Some(110.0),
    };

    struct Case {
        name: &'static str,
        prev: Prev,
        endpoints: &'static [&'static str],
        device: Option<DevicePeer>,
        now: f64,
        // Expected:
        state: PeerState,
        configure: Option<&'static str>,
        picked: bool,
        last_used: Option<&'static str>,
        last_change: Option<f64>,
        rx_moved: Option<f64>,
    }

    #[test]
    fn rules() {
        let cases = [
            // Rule 3, first pick; rule 2, unknown while trying.
            Case {
                name: "new peer: the first endpoint, unknown",
                prev: NEW,
                endpoints: &[A, B],
                device: None,
                now: 0.0,
                state: Unknown,
                configure: Some(A),
                picked: true,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: None,
            },
            Case {
                name: "no endpoints: passive, unknown, the device keeps what it has",
                prev: NEW,
                endpoints: &[],
                device: Some(device(None, None, 0)),
                now: 0.0,
                state: Unknown,
                configure: None,
                picked: false,
                last_used: None,
                last_change: None,
                rx_moved: None,
            },
            Case {
                name: "passive peer calls us: up, roamed endpoint kept",
                prev: NEW,
                endpoints: &[],
                device: Some(device(Some(C), Some(5.0), 92)),
                now: 5.5,
                state: Up,
                configure: None,
                picked: false,
                last_used: None,
                last_change: None,
                rx_moved: Some(5.5),
            },
            Case {
                name: "up through a roamed endpoint before any was set: not overridden",
                prev: NEW,
                endpoints: &[A, B],
                device: Some(device(Some(C), Some(1.0), 92)),
                now: 1.2,
                state: Up,
                configure: None,
                picked: false,
                last_used: None,
                last_change: None,
                rx_moved: Some(1.2),
            },
            Case {
                name: "handshake while trying the first endpoint: up at once",
                prev: Prev {
                    endpoint: Some(A),
                    last_used: Some(A),
                    changed: Some(0.0),
                    ..NEW
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(0.3), 92)),
                now: 0.4,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(0.4),
            },
            Case {
                name: "first endpoint still being tried: unknown, no change",
                prev: Prev {
                    endpoint: Some(A),
                    last_used: Some(A),
                    changed: Some(0.0),
                    ..NEW
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), None, 0)),
                now: 14.9,
                state: Unknown,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: None,
            },
            Case {
                name: "first endpoint tried for 15 s without news: down, the next one",
                prev: Prev {
                    endpoint: Some(A),
                    last_used: Some(A),
                    changed: Some(0.0),
                    ..NEW
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), None, 0)),
                now: 15.0,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(15.0),
                rx_moved: None,
            },
            // Rule 2: heard.
            Case {
                name: "live idle: a probe 2 s after the last packet keeps it up",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 1064)),
                now: 112.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(112.0),
            },
            Case {
                name: "quiet for exactly the silence timeout: still up",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 126.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "quiet for longer: down, the next endpoint",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 126.001,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(126.001),
                rx_moved: Some(110.0),
            },
            Case {
                name: "a recent handshake alone is life (counter not moving)",
                prev: Prev {
                    rx_moved: Some(50.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 116.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(50.0),
            },
            Case {
                name: "packets without a handshake for 275 s are failing handshakes: down",
                prev: Prev {
                    handshake: Some(0.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(0.0), 1148)),
                now: 275.5,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(275.5),
                rx_moved: Some(275.5),
            },
            Case {
                name: "packets but never a handshake: not up",
                prev: Prev {
                    endpoint: Some(A),
                    last_used: Some(A),
                    changed: Some(0.0),
                    ..NEW
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), None, 148)),
                now: 10.0,
                state: Unknown,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(10.0),
            },
            Case {
                name: "a smaller counter is a recreated device, not traffic",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 10)),
                now: 140.0,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(140.0),
                rx_moved: Some(110.0),
            },
            // Rule 3: cycling while down.
            Case {
                name: "down, next endpoint still being tried: stays down, no change",
                prev: Prev {
                    state: Down,
                    endpoint: Some(B),
                    last_used: Some(B),
                    changed: Some(137.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(B), Some(100.0), 1000)),
                now: 151.9,
                state: Down,
                configure: Some(B),
                picked: false,
                last_used: Some(B),
                last_change: Some(137.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down, try over: round robin wraps to the first",
                prev: Prev {
                    state: Down,
                    endpoint: Some(B),
                    last_used: Some(B),
                    changed: Some(137.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(B), Some(100.0), 1000)),
                now: 152.0,
                state: Down,
                configure: Some(A),
                picked: true,
                last_used: Some(A),
                last_change: Some(152.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down, last used no longer advertised: the first",
                prev: Prev {
                    state: Down,
                    endpoint: Some(C),
                    last_used: Some(C),
                    changed: Some(0.0),
                    ..UP_ON_A
                },
                endpoints: &[B, A],
                device: Some(device(Some(C), Some(100.0), 1000)),
                now: 200.0,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(200.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down, single endpoint still in use: nothing else to try",
                prev: Prev {
                    state: Down,
                    ..UP_ON_A
                },
                endpoints: &[A],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 200.0,
                state: Down,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down, single endpoint but the device roamed away: set it again",
                prev: Prev {
                    state: Down,
                    ..UP_ON_A
                },
                endpoints: &[A],
                device: Some(device(Some(C), Some(100.0), 1000)),
                now: 200.0,
                state: Down,
                configure: Some(A),
                picked: true,
                last_used: Some(A),
                last_change: Some(200.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down with no endpoints: nothing to pick",
                prev: Prev {
                    state: Down,
                    ..UP_ON_A
                },
                endpoints: &[],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 200.0,
                state: Down,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "down peer calls back: up, wherever it called from",
                prev: Prev {
                    state: Down,
                    endpoint: Some(B),
                    last_used: Some(B),
                    changed: Some(137.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(150.0), 1092)),
                now: 150.1,
                state: Up,
                configure: None,
                picked: false,
                last_used: Some(B),
                last_change: Some(137.0),
                rx_moved: Some(150.1),
            },
            // Rule 4: roaming.
            Case {
                name: "up, roamed to another endpoint: left alone",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(Some(C), Some(120.0), 1100)),
                now: 120.0,
                state: Up,
                configure: None,
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(120.0),
            },
            Case {
                name: "roamed, then down: the next endpoint after the last used overrides it",
                prev: Prev {
                    endpoint: Some(C),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(C), Some(100.0), 1000)),
                now: 140.0,
                state: Down,
                configure: Some(B),
                picked: true,
                last_used: Some(B),
                last_change: Some(140.0),
                rx_moved: Some(110.0),
            },
            Case {
                name: "device lost the endpoint: set the last used again",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: Some(device(None, Some(100.0), 1000)),
                now: 120.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(110.0),
            },
            // Passive peers and the clock.
            Case {
                name: "passive peer that was up goes quiet: down (Talos: unknown)",
                prev: Prev {
                    state: Up,
                    endpoint: Some(C),
                    handshake: Some(0.0),
                    rx: 500,
                    rx_moved: Some(10.0),
                    ..NEW
                },
                endpoints: &[],
                device: Some(device(Some(C), Some(0.0), 500)),
                now: 40.0,
                state: Down,
                configure: None,
                picked: false,
                last_used: None,
                last_change: None,
                rx_moved: Some(10.0),
            },
            Case {
                name: "clock stepped back: our records are clamped to now, not fresh for the step",
                prev: Prev {
                    rx_moved: Some(500.0),
                    changed: Some(600.0),
                    ..UP_ON_A
                },
                endpoints: &[A, B],
                device: Some(device(Some(A), Some(100.0), 1000)),
                now: 120.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(120.0),
                rx_moved: Some(120.0),
            },
            Case {
                name: "the device has no such peer yet: the status keeps what it had",
                prev: UP_ON_A,
                endpoints: &[A, B],
                device: None,
                now: 120.0,
                state: Up,
                configure: Some(A),
                picked: false,
                last_used: Some(A),
                last_change: Some(0.0),
                rx_moved: Some(110.0),
            },
        ];
        for case in cases {
            let endpoints = eps(case.endpoints);
            let got = evaluate(
                &case.prev.tracked(),
                &endpoints,
                case.device.as_ref(),
                t(case.now),
            );
            let s = &got.tracked.status;
            let name = case.name;
            assert_eq!(s.state, case.state, "{name}: state");
            assert_eq!(got.endpoint, case.configure.map(ep), "{name}: configured");
            assert_eq!(got.picked, case.picked, "{name}: picked");
            assert_eq!(
                s.last_used_endpoint,
                case.last_used.map(ep),
                "{name}: last used"
            );
            assert_eq!(
                s.last_endpoint_change,
                case.last_change.map_or(ZERO_TIME, t),
                "{name}: last change"
            );
            assert_eq!(
                got.tracked.rx_moved_at,
                case.rx_moved.map(t),
                "{name}: rx moved"
            );
            assert_eq!(s.label, "peer", "{name}: label kept");
            if got.picked {
                assert_eq!(
                    s.endpoint, s.last_used_endpoint,
                    "{name}: endpoint = picked"
                );
            } else if let Some(d) = &case.device {
                assert_eq!(s.endpoint, d.endpoint, "{name}: endpoint as reported");
                assert_eq!(
                    (s.receive_bytes, s.transmit_bytes),
                    (d.rx_bytes, d.tx_bytes),
                    "{name}: counters"
                );
            }
        }
    }

    #[test]
    fn device_fields_are_copied() {
        let got = evaluate(
            &Tracked::new("worker-1"),
            &eps(&[A]),
            Some(&device(Some(A), Some(3.5), 1234)),
            t(4.0),
        );
        let s = got.tracked.status;
        assert_eq!(s.label, "worker-1");
        assert_eq!((s.receive_bytes, s.transmit_bytes), (1234, 2468));
        assert_eq!(s.last_handshake_time, t(3.5));
        assert_eq!(s.endpoint, Some(ep(A)));
        // Never set an endpoint before, yet already up: no pick.
        assert_eq!((s.state, got.picked, got.endpoint), (Up, false, None));
    }

    /// Drives one peer through time the way the manager does (an evaluation every second and one
    /// at every packet) and returns every state it published, with the time.
    struct Sim {
        tracked: Tracked,
        endpoints: Vec<SocketAddr>,
        device: DevicePeer,
        states: Vec<(f64, PeerState)>,
        /// Endpoints picked after the first, with the time.
        picks: Vec<(f64, SocketAddr)>,
    }

    impl Sim {
        fn new(endpoints: &[&str]) -> Sim {
            Sim {
                tracked: Tracked::new("peer"),
                endpoints: eps(endpoints),
                device: device(None, None, 0),
                states: Vec::new(),
                picks: Vec::new(),
            }
        }

        fn eval(&mut self, now: f64) {
            let got = evaluate(&self.tracked, &self.endpoints, Some(&self.device), t(now));
            if let Some(e) = got.endpoint {
                self.device.endpoint = Some(e);
            }
            if got.picked && self.tracked.status.last_used_endpoint.is_some() {
                self.picks.extend(got.endpoint.map(|e| (now, e)));
            }
            if self.states.last().map(|(_, s)| *s) != Some(got.tracked.status.state) {
                self.states.push((now, got.tracked.status.state));
            }
            self.tracked = got.tracked;
        }

        /// Ticks every second from `from` to `to` (exclusive), with a packet at each `packets`
        /// time (a handshake where `handshakes` says so).
        fn run(&mut self, from: f64, to: f64, packets: &[f64], handshakes: &[f64]) {
            let mut events: Vec<(f64, bool)> = packets.iter().map(|p| (*p, false)).collect();
            events.extend(handshakes.iter().map(|h| (*h, true)));
            let mut tick = from;
            while tick < to {
                events.sort_by(|a, b| a.0.total_cmp(&b.0));
                while let Some(&(at, hs)) = events.first().filter(|(at, _)| *at <= tick) {
                    events.remove(0);
                    self.device.rx_bytes += if hs { 92 } else { 32 };
                    if hs {
                        self.device.last_handshake = Some(sys(at));
                    }
                    self.eval(at);
                }
                self.eval(tick);
                tick += 1.0;
            }
        }
    }

    #[test]
    fn live_idle_peer_never_flaps_and_a_dead_one_is_down_within_30s() {
        let mut sim = Sim::new(&[A, B]);
        // Ten minutes of an idle link: a rekey handshake every 120 s, and in between what the
        // probes bring — one packet per probe interval, up to 0.4 s late (scheduling, jitter),
        // with bursts of loss: 6 intervals in a row lost in every 40 (a 14 s gap).
        let handshakes: Vec<f64> = (0..5).map(|i| 0.2 + 120.0 * f64::from(i)).collect();
        let interval = PROBE_INTERVAL.as_secs_f64();
        let packets: Vec<f64> = (1..300u32)
            .filter(|i| !(10..16).contains(&(i % 40)))
            .map(|i| 0.2 + interval * f64::from(i) + 0.1 * f64::from(i % 5))
            .collect();
        sim.run(0.0, 600.0, &packets, &handshakes);
        assert_eq!(sim.states, [(0.0, Unknown), (0.2, Up)], "never left up");
        let last_packet = packets[packets.len() - 1];

        // The peer dies after its last packet: down within 30 s of it (within the silence
        // timeout and one tick), and the next endpoint set.
        sim.run(600.0, 700.0, &[], &[]);
        let (down_at, state) = sim.states[2];
        assert_eq!(state, Down);
        let silent = down_at - last_packet;
        assert!(
            silent > PEER_SILENCE_TIMEOUT.as_secs_f64()
                && silent <= PEER_SILENCE_TIMEOUT.as_secs_f64() + 1.0,
            "down {silent}s after the last packet"
        );
        assert!(silent <= 30.0);
        assert_eq!(
            sim.states.len(),
            3,
            "stays down while cycling: {:?}",
            sim.states
        );
        // Cycling: B at the verdict, then A, then B …, each tried for 15 s.
        let try_secs = ENDPOINT_TRY_TIMEOUT.as_secs_f64();
        let expected: Vec<(f64, SocketAddr)> = (0..)
            .map(|k| down_at + try_secs * f64::from(k))
            .take_while(|at| *at < 700.0)
            .zip([ep(B), ep(A)].into_iter().cycle())
            .collect();
        assert!(expected.len() >= 5);
        assert_eq!(sim.picks, expected);

        // It comes back: up at its first handshake.
        sim.run(700.0, 705.0, &[], &[702.5]);
        assert_eq!(sim.states.last(), Some(&(702.5, Up)));
    }

    #[test]
    fn a_peer_heard_punching_switches_to_that_endpoint_at_once() {
        let endpoints = eps(&[A, B, C]);
        let first = evaluate(&Tracked::new("p"), &endpoints, None, t(0.0));
        assert_eq!(first.endpoint, Some(ep(A)), "cycling starts at the first");

        // 2 s later a punch came from C: switch now, not after two try periods.
        let second = prefer_heard(
            evaluate(&first.tracked, &endpoints, None, t(2.0)),
            &endpoints,
            &eps(&[C]),
            t(2.0),
        );
        assert_eq!(second.endpoint, Some(ep(C)));
        assert!(second.picked);
        assert_eq!(second.tracked.status.last_used_endpoint, Some(ep(C)));
        assert_eq!(second.tracked.status.last_endpoint_change, t(2.0));
        assert_eq!(second.tracked.status.state, Unknown);

        // Still heard from C and B: C is kept (no flapping between heard endpoints).
        let third = prefer_heard(
            evaluate(&second.tracked, &endpoints, None, t(4.0)),
            &endpoints,
            &eps(&[B, C]),
            t(4.0),
        );
        assert_eq!(third.endpoint, Some(ep(C)));
        assert!(!third.picked);

        // Nothing heard: plain evaluation.
        let plain = evaluate(&second.tracked, &endpoints, None, t(4.0));
        assert_eq!(prefer_heard(plain.clone(), &endpoints, &[], t(4.0)), plain);
        // A heard address that is none of the peer's endpoints changes nothing.
        assert_eq!(
            prefer_heard(plain.clone(), &endpoints, &eps(&["192.0.2.77:1"]), t(4.0)),
            plain
        );
    }

    #[test]
    fn an_up_peer_is_not_moved_by_punches() {
        let endpoints = eps(&[A, B]);
        let first = evaluate(&Tracked::new("p"), &endpoints, None, t(0.0));
        let up = evaluate(
            &first.tracked,
            &endpoints,
            Some(&device(Some(A), Some(1.0), 92)),
            t(1.0),
        );
        assert_eq!(up.tracked.status.state, Up);
        assert_eq!(prefer_heard(up.clone(), &endpoints, &eps(&[B]), t(1.0)), up);
    }
}
