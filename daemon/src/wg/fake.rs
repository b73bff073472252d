//! An in-memory [`DataPlane`] for controller tests: no OS, no threads, no time.
//!
//! It behaves like a device where that matters to a controller:
//! - `apply` records the config and keeps each remaining peer's state (handshake, counters); a
//!   peer whose desired endpoint is `None` keeps the endpoint it has (roamed or previously set),
//!   as a real device does; peers no longer desired disappear.
//! - the test plays the remote side with [`FakeDataPlane::set_peer_state`] /
//!   [`FakeDataPlane::update_peer`], which raise [`DataPlane::changes`] like the real poller does.
//! - [`FakeDataPlane::fail_applies`] makes `apply` fail, to test a controller's error path.
//! - NAT traversal: [`FakeDataPlane::set_reflexive`] sets what a STUN server would answer (only
//!   while the interface exists, like the real socket); punches are recorded
//!   ([`FakeDataPlane::punches`]).
//! - Liveness probes are recorded ([`FakeDataPlane::probes`]) and change nothing: the fake sends
//!   no keepalives and answers no probes, so a peer's counters move only when the test says so.
//!   What probes do on a real device is tested against the real one (`tests/tests/liveness.rs`).
//!
//! Clones share the same state, so a test keeps one handle and gives another to the controller.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::{Capture, DataPlane, DataPlaneError, DeviceConfig, Key, PeerState};

/// See the module doc.
#[derive(Debug, Clone)]
pub struct FakeDataPlane {
    state: Arc<Mutex<FakeState>>,
    changes: Arc<watch::Sender<()>>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// The last config applied successfully; `None` before the first apply and after `remove`.
    config: Option<DeviceConfig>,
    /// Each configured peer's state, by public key.
    peers: BTreeMap<Key, PeerState>,
    applies: usize,
    removes: usize,
    /// While set, `apply` fails with this reason.
    fail_applies: Option<String>,
    /// What `reflexive_endpoint` answers, per STUN server.
    reflexive: BTreeMap<SocketAddr, SocketAddr>,
    /// Every punch sent, in order.
    punches: Vec<SocketAddr>,
    /// What `heard_from` reports.
    heard: Vec<SocketAddr>,
    /// Every `remove_capture` call.
    captures_removed: Vec<Capture>,
    /// Every probe round sent: the targets of each `probe` call, in order.
    probes: Vec<Vec<Ipv6Addr>>,
}

impl Default for FakeDataPlane {
    fn default() -> Self {
        FakeDataPlane::new()
    }
}

impl FakeDataPlane {
    /// An empty data plane: no interface, no peers.
    pub fn new() -> FakeDataPlane {
        FakeDataPlane {
            state: Arc::default(),
            changes: Arc::new(watch::Sender::new(())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock has already failed; keep serving the state
        // so the panic that matters is the one reported.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last successfully applied config (`None` before any apply and after `remove`).
    pub fn config(&self) -> Option<DeviceConfig> {
        self.lock().config.clone()
    }

    /// How many times `apply` succeeded.
    pub fn applies(&self) -> usize {
        self.lock().applies
    }

    /// How many times `remove` was called.
    pub fn removes(&self) -> usize {
        self.lock().removes
    }

    /// One configured peer's state.
    pub fn peer(&self, public_key: &Key) -> Option<PeerState> {
        self.lock().peers.get(public_key).cloned()
    }

    /// Replaces a configured peer's state (as if the device reported it) and raises `changes()`.
    /// Returns `false`, changing nothing, when no such peer is configured: a real device reports
    /// only peers it has.
    pub fn set_peer_state(&self, state: PeerState) -> bool {
        let known = {
            let mut s = self.lock();
            match s.peers.get_mut(&state.public_key) {
                Some(slot) => {
                    *slot = state;
                    true
                }
                None => false,
            }
        };
        if known {
            self.changes.send_replace(());
        }
        known
    }

    /// Edits a configured peer's state in place and raises `changes()`; `false` when no such peer.
    pub fn update_peer(&self, public_key: &Key, edit: impl FnOnce(&mut PeerState)) -> bool {
        let known = {
            let mut s = self.lock();
            match s.peers.get_mut(public_key) {
                Some(slot) => {
                    edit(slot);
                    true
                }
                None => false,
            }
        };
        if known {
            self.changes.send_replace(());
        }
        known
    }

    /// What the STUN server `server` answers from now on (`None`: it does not answer).
    pub fn set_reflexive(&self, server: SocketAddr, mapped: Option<SocketAddr>) {
        let mut s = self.lock();
        match mapped {
            Some(m) => s.reflexive.insert(server, m),
            None => s.reflexive.remove(&server),
        };
    }

    /// Sets where punches came from lately (what `heard_from` reports).
    pub fn set_heard(&self, heard: &[SocketAddr]) {
        self.lock().heard = heard.to_vec();
    }

    /// The captures `remove_capture` was asked to remove, in order.
    pub fn captures_removed(&self) -> Vec<Capture> {
        self.lock().captures_removed.clone()
    }

    /// Every punch sent so far, in order.
    pub fn punches(&self) -> Vec<SocketAddr> {
        self.lock().punches.clone()
    }

    /// Every probe round sent so far (the targets of each `probe` call), in order.
    pub fn probes(&self) -> Vec<Vec<Ipv6Addr>> {
        self.lock().probes.clone()
    }

    /// Makes every following `apply` fail with `reason` (`None`: succeed again).
    pub fn fail_applies(&self, reason: Option<&str>) {
        self.lock().fail_applies = reason.map(str::to_owned);
    }
}

impl DataPlane for FakeDataPlane {
    async fn apply(&self, config: &DeviceConfig) -> Result<(), DataPlaneError> {
        let changed = {
            let mut s = self.lock();
            if let Some(reason) = &s.fail_applies {
                return Err(DataPlaneError::failed(
                    format!("configuring {}", config.name),
                    reason,
                ));
            }
            let mut peers = BTreeMap::new();
            for desired in &config.peers {
                let mut state = s
                    .peers
                    .get(&desired.public_key)
                    .cloned()
                    .unwrap_or(PeerState {
                        public_key: desired.public_key,
                        endpoint: None,
                        last_handshake: None,
                        rx_bytes: 0,
                        tx_bytes: 0,
                    });
                // §5.1: a desired endpoint replaces the device's; none keeps whatever it has.
                if desired.endpoint.is_some() {
                    state.endpoint = desired.endpoint;
                }
                peers.insert(desired.public_key, state);
            }
            let changed = peers != s.peers;
            s.peers = peers;
            s.config = Some(config.clone());
            s.applies += 1;
            changed
        };
        if changed {
            self.changes.send_replace(());
        }
        Ok(())
    }

    async fn peers(&self) -> Result<Vec<PeerState>, DataPlaneError> {
        // BTreeMap order: sorted by public key, like the real backend.
        Ok(self.lock().peers.values().cloned().collect())
    }

    fn changes(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    fn offloads(&self) -> super::OffloadReport {
        super::OffloadReport::default()
    }

    async fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, DataPlaneError> {
        let s = self.lock();
        let fail = |reason: String| {
            DataPlaneError::failed(
                format!("asking the STUN server {server} for this node's public endpoint"),
                reason,
            )
        };
        if s.config.is_none() {
            return Err(fail("the WireGuard socket is not open yet".into()));
        }
        s.reflexive
            .get(&server)
            .copied()
            .ok_or_else(|| fail(format!("no answer within {timeout:?}")))
    }

    async fn remove_capture(&self, capture: &Capture) -> Result<(), DataPlaneError> {
        self.lock().captures_removed.push(capture.clone());
        Ok(())
    }

    async fn heard_from(&self) -> Result<Vec<SocketAddr>, DataPlaneError> {
        Ok(self.lock().heard.clone())
    }

    async fn punch(&self, targets: &[SocketAddr]) -> Result<usize, DataPlaneError> {
        let mut s = self.lock();
        if s.config.is_none() {
            return Err(DataPlaneError::refused(
                "punching through NAT",
                "the WireGuard socket is not open yet",
            ));
        }
        s.punches.extend_from_slice(targets);
        Ok(targets.len())
    }

    async fn probe(&self, targets: &[Ipv6Addr]) -> Result<usize, DataPlaneError> {
        let mut s = self.lock();
        if s.config.is_none() {
            return Err(DataPlaneError::refused(
                "sending liveness probes",
                "the interface does not exist",
            ));
        }
        s.probes.push(targets.to_vec());
        Ok(targets.len())
    }

    async fn remove(&self) -> Result<(), DataPlaneError> {
        let changed = {
            let mut s = self.lock();
            s.removes += 1;
            s.config = None;
            let had_peers = !s.peers.is_empty();
            s.peers.clear();
            had_peers
        };
        if changed {
            self.changes.send_replace(());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::wg::PeerConfig;

    fn peer(key: u8, endpoint: Option<&str>) -> PeerConfig {
        PeerConfig {
            public_key: [key; 32],
            preshared_key: Some([9; 32]),
            endpoint: endpoint.map(|e| e.parse().expect("endpoint")),
            persistent_keepalive: Some(Duration::from_secs(25)),
            allowed_ips: vec!["fd00::1/128".parse().expect("net")],
        }
    }

    fn config(peers: Vec<PeerConfig>) -> DeviceConfig {
        DeviceConfig {
            name: "kubespan".into(),
            private_key: [1; 32],
            listen_port: 51820,
            mtu: 1420,
            address: "fd00::2/64".parse().expect("net"),
            peers,
            capture: None,
        }
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("addr"))
    }

    #[tokio::test]
    async fn apply_records_config_and_keeps_roamed_endpoints() {
        let fake = FakeDataPlane::new();
        let mut changes = fake.changes();
        fake.apply(&config(vec![
            peer(2, Some("192.0.2.1:51820")),
            peer(3, None),
        ]))
        .await
        .expect("apply");
        assert!(changes.has_changed().expect("sender alive"));
        changes.borrow_and_update();
        assert_eq!(fake.applies(), 1);
        assert_eq!(fake.config().expect("config").peers.len(), 2);

        // The remote side roams peer 2 and handshakes with peer 3.
        let now = SystemTime::now();
        assert!(fake.update_peer(&[2; 32], |p| {
            p.endpoint = addr("198.51.100.7:40000");
            p.last_handshake = Some(now);
            p.rx_bytes = 100;
        }));
        assert!(fake.set_peer_state(PeerState {
            public_key: [3; 32],
            endpoint: addr("203.0.113.5:51820"),
            last_handshake: Some(now),
            rx_bytes: 1,
            tx_bytes: 2,
        }));
        assert!(changes.has_changed().expect("sender alive"));
        changes.borrow_and_update();

        // Re-applying with no endpoint keeps the roamed one and the counters; a set endpoint wins.
        fake.apply(&config(vec![
            peer(2, None),
            peer(3, Some("192.0.2.3:51820")),
        ]))
        .await
        .expect("apply");
        let peers = fake.peers().await.expect("peers");
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].endpoint, addr("198.51.100.7:40000"));
        assert_eq!(peers[0].rx_bytes, 100);
        assert_eq!(peers[0].last_handshake, Some(now));
        assert_eq!(peers[1].endpoint, addr("192.0.2.3:51820"));
        assert!(changes.has_changed().expect("sender alive"));
    }

    #[tokio::test]
    async fn unknown_peers_are_refused_and_removed_peers_vanish() {
        let fake = FakeDataPlane::new();
        assert!(!fake.update_peer(&[2; 32], |p| p.rx_bytes = 1));
        fake.apply(&config(vec![peer(2, None)]))
            .await
            .expect("apply");
        fake.apply(&config(vec![])).await.expect("apply");
        assert!(fake.peer(&[2; 32]).is_none());
        assert!(fake.peers().await.expect("peers").is_empty());
    }

    #[tokio::test]
    async fn failures_and_remove() {
        let fake = FakeDataPlane::new();
        fake.fail_applies(Some("boom"));
        let err = fake.apply(&config(vec![])).await.expect_err("fails");
        assert_eq!(err.to_string(), "configuring kubespan: boom");
        assert_eq!(fake.applies(), 0);
        fake.fail_applies(None);
        fake.apply(&config(vec![peer(2, None)]))
            .await
            .expect("apply");
        fake.remove().await.expect("remove");
        assert_eq!(fake.removes(), 1);
        assert!(fake.config().is_none());
        assert!(fake.peers().await.expect("peers").is_empty());
    }
}
