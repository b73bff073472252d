//! A lab's links: bridges, veth pairs, addresses, routes and forwarding — the `ip` steps every lab
//! repeats (`weftctl cluster create`, the end-to-end harness, weftd's data-plane tests), each one
//! function so they read the same everywhere. `ns` is a namespace name, or `None` for the root
//! namespace.

use crate::cmd::{self, LabError};
use crate::netns;

/// One end of a veth pair: the namespace it lives in and its name there.
pub type End<'a> = (Option<&'a str>, &'a str);

/// Creates bridge `name` in `ns`, up.
pub fn bridge(ns: Option<&str>, name: &str) -> Result<(), LabError> {
    cmd::ip_in(ns, &["link", "add", name, "type", "bridge"])?;
    cmd::ip_in(ns, &["link", "set", name, "up"]).map(drop)
}

/// Creates a veth pair from `a` to `b`. Both ends are created where they belong, so an end
/// inside a namespace never takes a name in the root namespace, even for a moment.
pub fn veth(a: End<'_>, b: End<'_>) -> Result<(), LabError> {
    let mut args = vec!["link", "add", a.1, "type", "veth", "peer", "name", b.1];
    if let Some(ns) = b.0 {
        args.extend(["netns", ns]);
    }
    cmd::ip_in(a.0, &args).map(drop)
}

/// Makes `link` (in `ns`) a port of `bridge` there, and brings it up.
pub fn attach(ns: Option<&str>, link: &str, bridge: &str) -> Result<(), LabError> {
    cmd::ip_in(ns, &["link", "set", link, "master", bridge, "up"]).map(drop)
}

/// Gives `link` (in `ns`) the address `cidr` (`10.5.0.2/24`) and brings it up.
pub fn address(ns: Option<&str>, link: &str, cidr: &str) -> Result<(), LabError> {
    cmd::ip_in(ns, &["addr", "add", cidr, "dev", link])?;
    cmd::ip_in(ns, &["link", "set", link, "up"]).map(drop)
}

/// Adds a default route via `gateway` in `ns`.
pub fn default_route(ns: &str, gateway: &str) -> Result<(), LabError> {
    cmd::ip_in(Some(ns), &["route", "add", "default", "via", gateway]).map(drop)
}

/// Deletes `link` in `ns` (and its veth peer with it); whether there was one.
pub fn delete(ns: Option<&str>, link: &str) -> bool {
    cmd::ip_in(ns, &["link", "del", link]).is_ok()
}

/// Turns IPv4 forwarding on in namespace `ns` (a router's or a node's with a network behind it).
/// A thread inside the namespace sees that namespace's `/proc/sys/net`.
pub fn enable_ipv4_forwarding(ns: &str) -> Result<(), LabError> {
    netns::with_ns(ns, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))?.map_err(|source| {
        LabError::Io {
            what: format!("enabling IPv4 forwarding in {ns}"),
            source,
        }
    })
}
