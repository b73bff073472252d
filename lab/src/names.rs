//! Names of a local cluster's host-global things. Namespaces, root-namespace links and
//! WireGuard UAPI sockets (`/var/run/wireguard/<link>.sock`, one directory for every namespace)
//! are each one namespace of names for the whole machine, so each carries the cluster's name or
//! a tag of it: two clusters side by side never share one, and destroying one never touches the
//! other's. Links inside a cluster's own namespaces (`br0`, `up0`, `n<i>`, `eth0`) need no such
//! care.
//!
//! ```text
//!   root namespace     switch namespace [`ClusterNames::switch_ns`]   node namespaces
//!   host link  ──────  up0 ── br0 ── n<i> ───────────────────────────  eth0  (weft-<name>-<i>)
//!   wft<tag>                                                           WireGuard link
//! ```

/// The cluster name `weftctl cluster create --name` defaults to.
pub const DEFAULT_CLUSTER: &str = "weft-default";

/// Linux's longest interface name (`IFNAMSIZ` - 1).
pub const MAX_LINK_NAME: usize = 15;

/// A short, stable tag of `name` for link names, which must fit [`MAX_LINK_NAME`].
pub fn tag(name: &str) -> String {
    // FNV-1a: stable across versions and platforms, unlike std's hasher, so a later weftctl
    // still finds the links an earlier one created.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")[..6].to_owned()
}

/// The host-global names of the cluster called `name` (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct ClusterNames<'a>(pub &'a str);

impl ClusterNames<'_> {
    /// The namespace holding the cluster's bridge.
    pub fn switch_ns(&self) -> String {
        format!("weft-{}-sw", self.0)
    }

    /// Node `i`'s namespace (1-based).
    pub fn node_ns(&self, i: usize) -> String {
        format!("weft-{}-{i}", self.0)
    }

    /// The root-namespace end of the link to the cluster's bridge; it carries the gateway address.
    pub fn host_link(&self) -> String {
        format!("wft{}", tag(self.0))
    }

    /// Node `i`'s WireGuard link (and UAPI socket) name: `kubespan<i>` in the default cluster
    /// (what users type after `wg show`), `ks<tag><i>` in any other; at most 11 characters.
    pub fn wg_link(&self, i: usize) -> String {
        if self.0 == DEFAULT_CLUSTER {
            format!("kubespan{i}")
        } else {
            format!("ks{}{i}", tag(self.0))
        }
    }

    /// Node `i`'s host name, as `talosctl cluster create` names them.
    pub fn hostname(&self, i: usize) -> String {
        if i == 1 {
            format!("{}-controlplane-1", self.0)
        } else {
            format!("{}-worker-{}", self.0, i - 1)
        }
    }

    /// Every host-global name of a cluster of `nodes` nodes, but the UAPI sockets: what must
    /// not exist yet when it is created.
    pub fn host_global(&self, nodes: usize) -> Vec<String> {
        let mut names = vec![self.switch_ns(), self.host_link()];
        names.extend((1..=nodes).map(|i| self.node_ns(i)));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wg_links_are_unique_per_cluster_and_short() {
        assert_eq!(ClusterNames("weft-default").wg_link(1), "kubespan1");
        let other = ClusterNames("lab-b").wg_link(12);
        assert!(other.starts_with("ks") && other.ends_with("12"), "{other}");
        assert_ne!(
            ClusterNames("lab-a").wg_link(1),
            ClusterNames("lab-b").wg_link(1)
        );
        assert!(ClusterNames(&"x".repeat(32)).wg_link(255).len() <= MAX_LINK_NAME);
    }

    #[test]
    fn tags_are_short_and_stable() {
        assert_eq!(
            tag("weft-default"),
            "fff82e",
            "stable: older clusters' links keep their names"
        );
        assert_ne!(tag("a"), tag("b"));
        assert!(ClusterNames("x").host_link().len() <= MAX_LINK_NAME);
    }

    #[test]
    fn every_host_global_name_carries_the_cluster() {
        let a = ClusterNames("a").host_global(3);
        let b = ClusterNames("b").host_global(3);
        assert_eq!(a.len(), 5);
        assert!(a.iter().all(|n| !b.contains(n)), "{a:?} {b:?}");
        assert_eq!(ClusterNames("demo").hostname(1), "demo-controlplane-1");
        assert_eq!(ClusterNames("demo").hostname(3), "demo-worker-2");
    }
}
