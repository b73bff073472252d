//! KubeSpan's traffic capture (reference §5), apart from any WireGuard backend: nftables marks
//! (`nft`), a routing table with default routes through the interface, its rules, and per-prefix
//! routes of the routed set. The manager computes what it should be ([`Capture`], carried in
//! `DeviceConfig::capture`); [`plan`] diffs it against what is applied ([`Applied`]), purely, and
//! [`reconcile`] carries the plan out over netlink and `nft` on whatever interface a backend made.
//! A kernel backend calls the same [`reconcile`] and [`remove`] with its link.
//!
//! ```text
//! desired ─┐
//!          ├─ plan ─► remove the old capture (moved or off) ─► default routes (MTU), rules
//! applied ─┘          ─► stale routes out, fresh routes in ─► nft table ─► Applied::Full
//! ```

pub mod nft;

use std::collections::BTreeSet;

use ipnet::IpNet;
use weft_api::config::validate::RoutingSettings;

use crate::wg::DataPlaneError;
use crate::wg::link::{Netlink, Rule};

/// KubeSpan's traffic capture (reference §5): nftables marks packets bound for [`Capture::routed`]
/// with `force_mark`; a rule sends packets with that mark to `table`, whose default routes (with
/// the MTU) go through the interface; the tunnel's own UDP carries `tunnel_mark` and is left
/// alone, so a peer's endpoint inside the routed set does not loop. TCP SYNs to the routed set
/// get their MSS clamped to fit the MTU ([`mss_v4`], [`mss_v6`]). Weft adds per-prefix routes of
/// the routed set to `table` and a fallback rule after the main table, for the node's own
/// packets the main table has no route for (see [`fallback_rule`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub table: u32,
    pub rule_priority: u32,
    pub tunnel_mark: u32,
    pub force_mark: u32,
    pub mark_mask: u32,
    /// nftables table (family `inet`) the capture owns whole.
    pub nftables_table: String,
    /// Destinations sent through the tunnel: sorted, non-overlapping.
    pub routed: Vec<IpNet>,
}

impl Capture {
    /// The capture `routing` describes, of the destinations `routed`.
    pub fn new(routing: &RoutingSettings, routed: Vec<IpNet>) -> Capture {
        Capture {
            table: routing.table,
            rule_priority: routing.rule_priority,
            tunnel_mark: routing.tunnel_mark,
            force_mark: routing.force_mark,
            mark_mask: routing.mark_mask,
            nftables_table: routing.nftables_table.clone(),
            routed,
        }
    }

    /// Whether `other` lives in other places (table, rules, nftables table): then the old one is
    /// removed whole before the new one goes in, instead of being updated.
    fn moved_from(&self, other: &Capture) -> bool {
        self.table != other.table
            || capture_rule(self) != capture_rule(other)
            || fallback_rule(self) != fallback_rule(other)
            || self.nftables_table != other.nftables_table
    }
}

/// The TCP MSS that fits an IPv4 packet into `mtu`: 20 bytes of IP, 20 of TCP and 12 of options
/// (timestamps), as Talos clamps.
pub fn mss_v4(mtu: u32) -> u32 {
    mtu.saturating_sub(52)
}

/// The TCP MSS that fits an IPv6 packet into `mtu` (40 bytes of IP, 20 of TCP, 12 of options).
pub fn mss_v6(mtu: u32) -> u32 {
    mtu.saturating_sub(72)
}

/// What of a capture is on the host, as far as this process knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Applied {
    /// Nothing.
    #[default]
    Off,
    /// Installing it started and did not finish (an error partway): some of it may be there, so
    /// a teardown removes it and the next apply installs it all again.
    Partial(Capture),
    /// All of it, rendered for a link of `mtu`.
    Full { capture: Capture, mtu: u32 },
}

impl Applied {
    /// The capture that may be (partly) on the host.
    pub fn capture(&self) -> Option<&Capture> {
        match self {
            Applied::Off => None,
            Applied::Partial(capture) | Applied::Full { capture, .. } => Some(capture),
        }
    }
}

/// What [`reconcile`] does, computed by [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// A capture to remove whole first: the desired one is off, or lives elsewhere.
    pub remove: Option<Capture>,
    /// The desired capture, to (re)assert; `None` when it is off.
    pub install: Option<Install>,
}

/// Installing (or updating) the desired capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Already applied in full with this MTU: only the default routes and the rules are asserted
    /// again (cheap, and they repair what someone deleted).
    pub unchanged: bool,
    /// Per-prefix routes of the table no longer routed.
    pub stale: Vec<IpNet>,
    /// Per-prefix routes to install: only the new ones when the previous capture was applied in
    /// full with the same MTU, else all of them.
    pub fresh: Vec<IpNet>,
}

/// Diffs the `desired` capture (for a link of `mtu`) against the `applied` one.
pub fn plan(applied: &Applied, desired: Option<&Capture>, mtu: u32) -> Plan {
    let Some(desired) = desired else {
        return Plan {
            remove: applied.capture().cloned(),
            install: None,
        };
    };
    let (remove, applied) = match applied.capture() {
        Some(old) if desired.moved_from(old) => (Some(old.clone()), &Applied::Off),
        _ => (None, applied),
    };
    let unchanged =
        matches!(applied, Applied::Full { capture, mtu: m } if capture == desired && *m == mtu);
    let (stale, fresh) = match applied {
        _ if unchanged => (Vec::new(), Vec::new()),
        Applied::Off => (Vec::new(), desired.routed.clone()),
        Applied::Partial(old) | Applied::Full { capture: old, .. } => {
            let now: BTreeSet<&IpNet> = desired.routed.iter().collect();
            let before: BTreeSet<&IpNet> = old.routed.iter().collect();
            let stale = before.difference(&now).map(|n| **n).collect();
            let fresh = match applied {
                Applied::Full { mtu: old_mtu, .. } if *old_mtu == mtu => {
                    now.difference(&before).map(|n| **n).collect()
                }
                _ => desired.routed.clone(),
            };
            (stale, fresh)
        }
    };
    Plan {
        remove,
        install: Some(Install {
            unchanged,
            stale,
            fresh,
        }),
    }
}

/// The interface a capture routes into.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub name: &'a str,
    pub index: u32,
}

/// Makes the host's capture `desired` on `link` (of `mtu`), updating `applied` as it goes, so
/// that after an error it still says what may be there.
pub async fn reconcile(
    netlink: &Netlink,
    link: Link<'_>,
    applied: &mut Applied,
    desired: Option<&Capture>,
    mtu: u32,
) -> Result<(), DataPlaneError> {
    let plan = plan(applied, desired, mtu);
    if let Some(old) = plan.remove {
        *applied = Applied::Off;
        remove(netlink, link, &old).await?;
    }
    let (Some(capture), Some(install)) = (desired, plan.install) else {
        return Ok(());
    };
    if !install.unchanged {
        // Recorded before anything is installed, so that a teardown after a failure below
        // removes whatever got in, and the next apply installs it all again.
        *applied = Applied::Partial(capture.clone());
    }
    for v6 in [false, true] {
        netlink
            .replace_default_route(link.name, link.index, capture.table, v6, mtu)
            .await?;
    }
    netlink
        .ensure_rules(&[capture_rule(capture), fallback_rule(capture)])
        .await?;
    if install.unchanged {
        return Ok(());
    }
    for net in install.stale {
        netlink
            .delete_route(link.name, link.index, capture.table, net)
            .await?;
    }
    // For the fallback rule (see there); the default routes above serve marked packets.
    for net in install.fresh {
        netlink
            .replace_route_with_mtu(link.name, link.index, capture.table, net, mtu)
            .await?;
    }
    nft::apply(capture, mtu).await?;
    tracing::debug!(
        interface = link.name,
        table = %capture.nftables_table,
        routed = capture.routed.len(),
        "applied the traffic capture"
    );
    *applied = Applied::Full {
        capture: capture.clone(),
        mtu,
    };
    Ok(())
}

/// Removes a capture: nftables first (nothing is marked for a table about to go), then the rule
/// and the routes. Keeps going past errors and returns the first.
pub async fn remove(
    netlink: &Netlink,
    link: Link<'_>,
    capture: &Capture,
) -> Result<(), DataPlaneError> {
    let mut first_error = remove_leftover(netlink, capture).await.err();
    for net in &capture.routed {
        if let Err(e) = netlink
            .delete_route(link.name, link.index, capture.table, *net)
            .await
        {
            first_error.get_or_insert(e);
        }
    }
    for v6 in [false, true] {
        if let Err(e) = netlink
            .delete_default_route(link.name, link.index, capture.table, v6)
            .await
        {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Removes what of a capture outlives its interface — the nftables table and the rules (the
/// routes in its table went with the link): a leftover of a process killed before it could clean
/// up. Keeps going past errors and returns the first.
pub async fn remove_leftover(netlink: &Netlink, capture: &Capture) -> Result<(), DataPlaneError> {
    let mut first_error = nft::remove(&capture.nftables_table).await.err();
    for rule in [capture_rule(capture), fallback_rule(capture)] {
        if let Err(e) = netlink.delete_rule(&rule).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The rule of a capture: packets marked for the tunnel look up its table.
fn capture_rule(capture: &Capture) -> Rule {
    Rule {
        table: capture.table,
        priority: capture.rule_priority,
        fwmark: capture.force_mark,
        mask: capture.mark_mask,
        invert: false,
        suppress_prefix_length: None,
    }
}

/// Priority of the capture's fallback rule: after the main table's rule (32766) and the default
/// table's (32767).
pub const FALLBACK_RULE_PRIORITY: u32 = 32768;

/// The capture's fallback rule (Weft; Talos has none), `not fwmark <tunnel>/<mask> lookup <table>
/// suppress_prefixlength 0` after the main table.
///
/// Why: nftables marks the node's own packets in the output hook, which runs only after the
/// kernel found a first route for them. A destination the main table has no route for — a peer's
/// advertised network on a node without a default route, or a peer's address only reachable
/// through the tunnel — fails there, with "network unreachable", before it can be marked (a pod's
/// forwarded packet is marked in prerouting, before any lookup, so it is not affected). With
/// this rule, such a lookup falls through to the capture table's per-prefix routes of the routed
/// set; its default routes are suppressed, so any other destination still fails at once instead
/// of vanishing into the tunnel, and the tunnel's own UDP is left out, so it cannot loop.
fn fallback_rule(capture: &Capture) -> Rule {
    Rule {
        table: capture.table,
        priority: FALLBACK_RULE_PRIORITY,
        fwmark: capture.tunnel_mark,
        mask: capture.mark_mask,
        invert: true,
        suppress_prefix_length: Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(routed: &[&str]) -> Capture {
        let routed = routed.iter().map(|n| n.parse().expect("net")).collect();
        Capture::new(&RoutingSettings::default(), routed)
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn full(routed: &[&str], mtu: u32) -> Applied {
        Applied::Full {
            capture: capture(routed),
            mtu,
        }
    }

    fn install(unchanged: bool, stale: &[&str], fresh: &[&str]) -> Option<Install> {
        Some(Install {
            unchanged,
            stale: nets(stale),
            fresh: nets(fresh),
        })
    }

    #[test]
    fn plans() {
        let a = "10.0.0.0/24";
        let b = "10.0.1.0/24";
        let mut moved = capture(&[a]);
        moved.table = 181;
        let cases: Vec<(&str, Applied, Option<Capture>, u32, Plan)> = vec![
            ("off stays off", Applied::Off, None, 1420, Plan::default()),
            (
                "off → installed whole",
                Applied::Off,
                Some(capture(&[a, b])),
                1420,
                Plan {
                    remove: None,
                    install: install(false, &[], &[a, b]),
                },
            ),
            (
                "applied in full: nothing but the cheap assertions",
                full(&[a], 1420),
                Some(capture(&[a])),
                1420,
                Plan {
                    remove: None,
                    install: install(true, &[], &[]),
                },
            ),
            (
                "a prefix leaves, one joins",
                full(&[a], 1420),
                Some(capture(&[b])),
                1420,
                Plan {
                    remove: None,
                    install: install(false, &[a], &[b]),
                },
            ),
            (
                "a new MTU re-installs every route",
                full(&[a], 1420),
                Some(capture(&[a, b])),
                1380,
                Plan {
                    remove: None,
                    install: install(false, &[], &[a, b]),
                },
            ),
            (
                "a partial install is redone whole",
                Applied::Partial(capture(&[a])),
                Some(capture(&[b])),
                1420,
                Plan {
                    remove: None,
                    install: install(false, &[a], &[b]),
                },
            ),
            (
                "turned off: removed",
                full(&[a], 1420),
                None,
                1420,
                Plan {
                    remove: Some(capture(&[a])),
                    install: None,
                },
            ),
            (
                "a partial one is removed too",
                Applied::Partial(capture(&[a])),
                None,
                1420,
                Plan {
                    remove: Some(capture(&[a])),
                    install: None,
                },
            ),
            (
                "moved to another table: old removed, new installed whole",
                full(&[a], 1420),
                Some(moved.clone()),
                1420,
                Plan {
                    remove: Some(capture(&[a])),
                    install: install(false, &[], &[a]),
                },
            ),
        ];
        for (name, applied, desired, mtu, want) in cases {
            assert_eq!(plan(&applied, desired.as_ref(), mtu), want, "{name}");
        }
    }

    #[test]
    fn the_fallback_rule_follows_the_main_table_and_spares_the_tunnel() {
        let c = capture(&[]);
        let rule = fallback_rule(&c);
        assert_eq!(rule.priority, FALLBACK_RULE_PRIORITY);
        assert!(rule.invert);
        assert_eq!(rule.fwmark, c.tunnel_mark);
        assert_eq!(rule.suppress_prefix_length, Some(0));
        assert!(!capture_rule(&c).invert);
        assert_eq!(capture_rule(&c).fwmark, c.force_mark);
    }
}
