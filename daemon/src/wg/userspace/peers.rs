//! The pure peer plan of the userspace backend: what the device has ([`DevicePeer`]) against
//! what is desired ([`PeerConfig`]) → add, update in place, remove (§5.1 semantics), and the
//! conversions to and from gotatun's peers. No I/O; table-tested below.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use gotatun::device::Peer;
use gotatun::x25519::PublicKey;
use ipnet::IpNet;
use ipnetwork::IpNetwork;

use crate::wg::{Key, PeerConfig, base64_key};

/// A derived handshake time that moved by less than this is the same handshake (see
/// [`stable_handshake`]). A new handshake with the same peer cannot come sooner than the 5 s
/// rekey timeout, so 1 s never hides one.
const HANDSHAKE_JITTER: Duration = Duration::from_secs(1);

/// One peer as the device has it, reduced to what [`plan_peers`] compares.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DevicePeer {
    pub public_key: Key,
    pub preshared_key: Option<Key>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds; `None` when off.
    pub keepalive: Option<u16>,
    /// Sorted, truncated, deduplicated.
    pub allowed_ips: Vec<IpNet>,
}

impl fmt::Debug for DevicePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevicePeer")
            .field("public_key", &base64_key(&self.public_key))
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("keepalive", &self.keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

/// The fields of one existing peer to change; `None` leaves a field as it is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PeerUpdate {
    pub public_key: Key,
    pub preshared_key: Option<Option<Key>>,
    pub keepalive: Option<Option<u16>>,
    pub allowed_ips: Option<Vec<IpNet>>,
    pub endpoint: Option<SocketAddr>,
}

impl fmt::Debug for PeerUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerUpdate")
            .field("public_key", &base64_key(&self.public_key))
            .field(
                "preshared_key",
                &self.preshared_key.map(|k| k.map(|_| "<redacted>")),
            )
            .field("keepalive", &self.keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What to do to the device's peers, each list sorted by public key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PeerPlan {
    pub add: Vec<PeerConfig>,
    pub update: Vec<PeerUpdate>,
    pub remove: Vec<Key>,
}

impl PeerPlan {
    pub(crate) fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// Diffs the device's peers against the desired ones (§5.1): add the missing, update the changed
/// fields of the rest in place, remove the extra. An endpoint is compared only when one is desired:
/// `None` means "keep what the device has" (roamed, or nothing for a passive peer).
pub(crate) fn plan_peers(current: &[DevicePeer], desired: &[PeerConfig]) -> PeerPlan {
    let current: BTreeMap<Key, &DevicePeer> = current.iter().map(|p| (p.public_key, p)).collect();
    let desired: BTreeMap<Key, &PeerConfig> = desired.iter().map(|p| (p.public_key, p)).collect();
    let mut plan = PeerPlan::default();
    for (key, want) in &desired {
        let Some(have) = current.get(key) else {
            plan.add.push((*want).clone());
            continue;
        };
        let keepalive = keepalive_secs(want.persistent_keepalive);
        let allowed_ips = normalize(want.allowed_ips.iter().copied());
        let endpoint = want.endpoint.map(canonical);
        let update = PeerUpdate {
            public_key: *key,
            preshared_key: (want.preshared_key != have.preshared_key).then_some(want.preshared_key),
            keepalive: (keepalive != have.keepalive).then_some(keepalive),
            allowed_ips: (allowed_ips != have.allowed_ips).then_some(allowed_ips),
            endpoint: endpoint.filter(|e| Some(*e) != have.endpoint.map(canonical)),
        };
        if update.preshared_key.is_some()
            || update.keepalive.is_some()
            || update.allowed_ips.is_some()
            || update.endpoint.is_some()
        {
            plan.update.push(update);
        }
    }
    plan.remove = current
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .copied()
        .collect();
    plan
}

/// The handshake time to report, stable across reads. gotatun reports "time since the handshake",
/// so `now − since` moves by the read's latency each time; a time within [`HANDSHAKE_JITTER`] of
/// the one reported before is that same handshake and reported unchanged, so statuses do not
/// churn. When gotatun forgets the handshake (its session expired), the last known time stays, as
/// a kernel device reports it.
pub(crate) fn stable_handshake(
    previous: Option<SystemTime>,
    now: SystemTime,
    since: Option<Duration>,
) -> Option<SystemTime> {
    let Some(since) = since else {
        return previous;
    };
    let derived = now.checked_sub(since)?;
    match previous {
        Some(prev) => {
            let drift = derived
                .duration_since(prev)
                .or_else(|_| prev.duration_since(derived))
                .unwrap_or_default();
            if drift < HANDSHAKE_JITTER {
                Some(prev)
            } else {
                Some(derived)
            }
        }
        None => Some(derived),
    }
}

/// Persistent keepalive in whole seconds as WireGuard takes it; zero or unset is off, a fraction of
/// a second rounds up (so it never becomes "off"), more than `u16::MAX` seconds is capped.
pub(crate) fn keepalive_secs(keepalive: Option<Duration>) -> Option<u16> {
    let d = keepalive?;
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    (secs > 0).then(|| u16::try_from(secs).unwrap_or(u16::MAX))
}

/// Truncated (host bits cleared, as the kernel and WireGuard store them), sorted, deduplicated.
pub(crate) fn normalize(nets: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let set: BTreeSet<IpNet> = nets.into_iter().map(|n| n.trunc()).collect();
    set.into_iter().collect()
}

/// An IPv4-mapped IPv6 endpoint as plain IPv4, the form gotatun reports.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

pub(crate) fn to_ipnetworks(nets: &[IpNet]) -> Result<Vec<IpNetwork>, String> {
    nets.iter()
        .map(|n| {
            IpNetwork::new(n.addr(), n.prefix_len()).map_err(|e| format!("allowed IP {n}: {e}"))
        })
        .collect()
}

pub(crate) fn to_gotatun(config: &PeerConfig) -> Result<Peer, String> {
    let mut peer = Peer::new(PublicKey::from(config.public_key));
    peer.endpoint = config.endpoint;
    peer.preshared_key = config.preshared_key;
    peer.keepalive = keepalive_secs(config.persistent_keepalive);
    peer.allowed_ips = to_ipnetworks(&normalize(config.allowed_ips.iter().copied()))?;
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    fn want(key: u8, endpoint: Option<&str>, ips: &[&str]) -> PeerConfig {
        PeerConfig {
            public_key: [key; 32],
            preshared_key: Some([7; 32]),
            endpoint: endpoint.map(addr),
            persistent_keepalive: Some(Duration::from_secs(25)),
            allowed_ips: ips.iter().map(|s| net(s)).collect(),
        }
    }

    fn have(key: u8, endpoint: Option<&str>, ips: &[&str]) -> DevicePeer {
        DevicePeer {
            public_key: [key; 32],
            preshared_key: Some([7; 32]),
            endpoint: endpoint.map(addr),
            keepalive: Some(25),
            allowed_ips: normalize(ips.iter().map(|s| net(s))),
        }
    }

    #[test]
    fn identical_peers_need_nothing() {
        let plan = plan_peers(
            &[have(
                1,
                Some("192.0.2.1:51820"),
                &["fd00::1/128", "10.0.0.0/24"],
            )],
            // Desired allowed IPs in another order and with host bits: the same set.
            &[want(
                1,
                Some("192.0.2.1:51820"),
                &["10.0.0.7/24", "fd00::1/128"],
            )],
        );
        assert_eq!(plan, PeerPlan::default());
    }

    #[test]
    fn add_update_remove_sorted() {
        let plan = plan_peers(
            &[
                have(3, None, &["fd00::3/128"]),
                have(1, None, &["fd00::1/128"]),
                have(5, None, &[]),
            ],
            &[
                want(4, None, &["fd00::4/128"]),
                want(3, None, &["fd00::3/128", "10.3.0.0/16"]),
                want(2, Some("192.0.2.2:51820"), &[]),
            ],
        );
        let added: Vec<Key> = plan.add.iter().map(|p| p.public_key).collect();
        assert_eq!(added, vec![[2; 32], [4; 32]]);
        assert_eq!(
            plan.update,
            vec![PeerUpdate {
                public_key: [3; 32],
                preshared_key: None,
                keepalive: None,
                allowed_ips: Some(vec![net("10.3.0.0/16"), net("fd00::3/128")]),
                endpoint: None,
            }]
        );
        assert_eq!(plan.remove, vec![[1; 32], [5; 32]]);
    }

    #[test]
    fn no_desired_endpoint_keeps_any_device_endpoint() {
        // Roamed: the device learned 198.51.100.9 from an incoming handshake.
        let current = [have(1, Some("198.51.100.9:40000"), &["fd00::1/128"])];
        assert!(plan_peers(&current, &[want(1, None, &["fd00::1/128"])]).is_empty());
        // Passive: no endpoint anywhere.
        let current = [have(1, None, &["fd00::1/128"])];
        assert!(plan_peers(&current, &[want(1, None, &["fd00::1/128"])]).is_empty());
    }

    #[test]
    fn a_desired_endpoint_replaces_a_different_one() {
        let current = [
            have(1, Some("198.51.100.9:40000"), &[]),
            have(2, None, &[]),
            have(3, Some("192.0.2.3:51820"), &[]),
        ];
        let plan = plan_peers(
            &current,
            &[
                want(1, Some("192.0.2.1:51820"), &[]),
                want(2, Some("192.0.2.2:51820"), &[]),
                // The same endpoint written IPv4-mapped: not a change.
                want(3, Some("[::ffff:192.0.2.3]:51820"), &[]),
            ],
        );
        let endpoints: Vec<(Key, Option<SocketAddr>)> = plan
            .update
            .iter()
            .map(|u| (u.public_key, u.endpoint))
            .collect();
        assert_eq!(
            endpoints,
            vec![
                ([1; 32], Some(addr("192.0.2.1:51820"))),
                ([2; 32], Some(addr("192.0.2.2:51820"))),
            ]
        );
        assert!(
            plan.update
                .iter()
                .all(|u| u.allowed_ips.is_none() && u.keepalive.is_none())
        );
    }

    #[test]
    fn key_and_keepalive_changes_are_updates() {
        let mut changed = want(1, None, &[]);
        changed.preshared_key = None;
        changed.persistent_keepalive = None;
        let plan = plan_peers(&[have(1, None, &[])], &[changed]);
        assert_eq!(
            plan.update,
            vec![PeerUpdate {
                public_key: [1; 32],
                preshared_key: Some(None),
                keepalive: Some(None),
                allowed_ips: None,
                endpoint: None,
            }]
        );
    }

    #[test]
    fn keepalive_in_seconds() {
        assert_eq!(keepalive_secs(None), None);
        assert_eq!(keepalive_secs(Some(Duration::ZERO)), None);
        assert_eq!(keepalive_secs(Some(Duration::from_secs(25))), Some(25));
        assert_eq!(keepalive_secs(Some(Duration::from_millis(1500))), Some(2));
        assert_eq!(keepalive_secs(Some(Duration::from_millis(1))), Some(1));
        assert_eq!(
            keepalive_secs(Some(Duration::from_secs(1 << 20))),
            Some(u16::MAX)
        );
    }

    #[test]
    fn handshake_times_are_stable() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        // First report: now − since.
        let first = stable_handshake(None, t0, Some(Duration::from_secs(3)));
        assert_eq!(first, Some(t0 - Duration::from_secs(3)));
        // Read again 10.0004 s later, "since" measured with a little skew: the same handshake.
        let later = t0 + Duration::from_micros(10_000_400);
        assert_eq!(
            stable_handshake(first, later, Some(Duration::from_secs(13))),
            first
        );
        // A new handshake 2 s ago.
        assert_eq!(
            stable_handshake(first, later, Some(Duration::from_secs(2))),
            Some(later - Duration::from_secs(2))
        );
        // The session expired and gotatun forgot it: keep the last known time.
        assert_eq!(stable_handshake(first, later, None), first);
        assert_eq!(stable_handshake(None, later, None), None);
    }

    #[test]
    fn debug_output_redacts_preshared_keys() {
        let shown = format!("{:?}", have(1, None, &[]));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&base64_key(&[7; 32])), "{shown}");
    }
}
