//! Permanent ARP entries for a whole lab. Why: the kernel's ARP table is one for all network
//! namespaces, and its garbage collector refuses new entries past `gc_thresh3` (1024 by default)
//! — a full mesh of n nodes needs n² of them, so at 32 nodes some sends failed with ENOBUFS
//! ("neighbor table overflow") and those peers came up only minutes later. Permanent entries are
//! exempt from that count (Linux ≥ 4.20), and a lab's addresses never change.

use std::net::Ipv4Addr;

use crate::cmd::{self, LabError};

/// The link every node namespace reaches the lab through.
pub const NODE_LINK: &str = "eth0";

/// The `ip -batch` commands for a lab: the host side (`host_link`, the gateway's) learns every
/// node; each node learns the gateway and every other node. `nodes`: (address, MAC) of each
/// node. Returns (`None` for the host side or the node's index, commands).
pub fn plan(
    gateway: (Ipv4Addr, &str),
    host_link: &str,
    nodes: &[(Ipv4Addr, String)],
) -> Vec<(Option<usize>, String)> {
    let entry = |addr: &Ipv4Addr, mac: &str, dev: &str| {
        format!("neigh replace {addr} lladdr {mac} dev {dev} nud permanent\n")
    };
    let mut out = Vec::with_capacity(nodes.len() + 1);
    let host: String = nodes
        .iter()
        .map(|(addr, mac)| entry(addr, mac, host_link))
        .collect();
    out.push((None, host));
    for i in 0..nodes.len() {
        let mut lines = entry(&gateway.0, gateway.1, NODE_LINK);
        for (j, (addr, mac)) in nodes.iter().enumerate() {
            if j != i {
                lines.push_str(&entry(addr, mac, NODE_LINK));
            }
        }
        out.push((Some(i), lines));
    }
    out
}

/// Installs [`plan`]'s entries: `host_link` in the root namespace carries `gateway`; `nodes` are
/// (namespace, address) pairs whose [`NODE_LINK`] is on the same segment.
pub fn pin(
    host_link: &str,
    gateway: Ipv4Addr,
    nodes: &[(String, Ipv4Addr)],
) -> Result<(), LabError> {
    let gateway_mac = cmd::link_mac(None, host_link)?;
    let macs = nodes
        .iter()
        .map(|(ns, addr)| Ok((*addr, cmd::link_mac(Some(ns), NODE_LINK)?)))
        .collect::<Result<Vec<_>, LabError>>()?;
    for (i, commands) in plan((gateway, &gateway_mac), host_link, &macs) {
        cmd::ip_batch(i.map(|i| nodes[i].0.as_str()), &commands)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_every_pair_once() {
        let nodes: Vec<(Ipv4Addr, String)> = (2..=4u8)
            .map(|i| (Ipv4Addr::new(10, 5, 0, i), format!("02:00:00:00:00:0{i}")))
            .collect();
        let gw = Ipv4Addr::new(10, 5, 0, 1);
        let plan = plan((gw, "02:00:00:00:00:01"), "wftabc", &nodes);
        assert_eq!(plan.len(), 4, "the host side and each node");
        assert_eq!(plan[0].0, None);
        assert_eq!(plan[0].1.lines().count(), 3);
        assert!(
            plan[0].1.contains(
                "neigh replace 10.5.0.3 lladdr 02:00:00:00:00:03 dev wftabc nud permanent"
            )
        );
        for (i, (ns, lines)) in plan[1..].iter().enumerate() {
            assert_eq!(*ns, Some(i));
            // The gateway and the two others, never itself.
            assert_eq!(lines.lines().count(), 3, "{lines}");
            assert!(lines.contains("neigh replace 10.5.0.1 lladdr 02:00:00:00:00:01 dev eth0"));
            assert!(!lines.contains(&format!("{} ", nodes[i].0)), "{lines}");
        }
    }
}
