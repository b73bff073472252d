//! Network links, read from sysfs (`/sys/class/net`), for the KubeSpan address's EUI-64 part.
//!
//! "First link" rule (Talos takes the first *physical* link in name order): candidates are
//! Ethernet-type links (`type` 1) with a non-zero, non-broadcast MAC, excluding loopback; links
//! backed by a device (`/sys/class/net/X/device` exists: a real NIC) come first, then the rest
//! (veth, bridges, macvlan), each group in name order. So a host with NICs behaves as Talos does,
//! and a network namespace whose only link is a veth still has a first link. `ip netns exec`
//! mounts a sysfs for the namespace, so this sees the namespace's own links.

use std::fs;
use std::io;
use std::path::Path;

/// Linux's ARPHRD_ETHER.
const ARPHRD_ETHER: u32 = 1;

/// A link that can give the node its hardware address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddr {
    pub name: String,
    pub mac: [u8; 6],
    pub physical: bool,
}

/// Reads one link's candidate entry from a sysfs-like directory; `None` when it does not qualify.
fn read_link(dir: &Path, name: &str) -> Option<LinkAddr> {
    let link = dir.join(name);
    let kind: u32 = fs::read_to_string(link.join("type"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if kind != ARPHRD_ETHER || name == "lo" {
        return None;
    }
    let mac = parse_mac(fs::read_to_string(link.join("address")).ok()?.trim())?;
    if mac == [0; 6] || mac == [0xff; 6] {
        return None;
    }
    Some(LinkAddr {
        name: name.to_owned(),
        mac,
        physical: link.join("device").exists(),
    })
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The first link under `sysfs_net` by the rule in the module doc.
pub fn first_link_in(sysfs_net: &Path) -> io::Result<Option<LinkAddr>> {
    let mut names: Vec<String> = fs::read_dir(sysfs_net)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut links: Vec<LinkAddr> = names
        .iter()
        .filter_map(|n| read_link(sysfs_net, n))
        .collect();
    // Stable sort: physical first, name order kept within each group.
    links.sort_by_key(|l| !l.physical);
    Ok(links.into_iter().next())
}

/// The first link of this host (or network namespace).
pub fn first_link() -> io::Result<Option<LinkAddr>> {
    first_link_in(Path::new("/sys/class/net"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(root: &Path, name: &str, kind: u32, mac: &str, device: bool) {
        let dir = root.join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("type"), format!("{kind}\n")).expect("type");
        fs::write(dir.join("address"), format!("{mac}\n")).expect("address");
        if device {
            fs::create_dir(dir.join("device")).expect("device");
        }
    }

    #[test]
    fn physical_links_come_first_in_name_order() {
        let root = tempfile::tempdir().expect("tempdir");
        link(root.path(), "lo", 772, "00:00:00:00:00:00", false);
        link(root.path(), "br0", 1, "02:00:00:00:00:01", false);
        link(root.path(), "eth1", 1, "2e:1a:b6:53:81:69", true);
        link(root.path(), "eth0", 1, "ea:71:1b:b2:cc:ee", true);
        let first = first_link_in(root.path()).expect("read").expect("a link");
        assert_eq!(first.name, "eth0");
        assert_eq!(first.mac, [0xea, 0x71, 0x1b, 0xb2, 0xcc, 0xee]);
    }

    #[test]
    fn a_namespace_with_only_a_veth_uses_it() {
        let root = tempfile::tempdir().expect("tempdir");
        link(root.path(), "lo", 772, "00:00:00:00:00:00", false);
        link(root.path(), "kubespan", 65534, "", false);
        link(root.path(), "veth-n1", 1, "86:2b:05:1e:77:10", false);
        let first = first_link_in(root.path()).expect("read").expect("a link");
        assert_eq!(first.name, "veth-n1");
        assert!(!first.physical);
    }

    #[test]
    fn no_candidates() {
        let root = tempfile::tempdir().expect("tempdir");
        link(root.path(), "lo", 772, "00:00:00:00:00:00", false);
        link(root.path(), "dummy0", 1, "00:00:00:00:00:00", false);
        assert_eq!(first_link_in(root.path()).expect("read"), None);
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("2e:1a:b6:53:81:69"),
            Some([0x2e, 0x1a, 0xb6, 0x53, 0x81, 0x69])
        );
        assert_eq!(parse_mac("2e:1a:b6:53:81"), None);
        assert_eq!(parse_mac("2e:1a:b6:53:81:69:00"), None);
        assert_eq!(parse_mac("zz:1a:b6:53:81:69"), None);
    }
}
