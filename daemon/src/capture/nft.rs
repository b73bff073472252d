//! KubeSpan's nftables rules (reference §5.2), rendered as an `nft -f` script and applied with the
//! `nft` command.
//!
//! Weft owns one table (`inet weft` by default) whole, where Talos adds its chains to the shared
//! `inet talos`: the table can then be replaced atomically — one script deletes and recreates it in
//! a single nftables transaction, so there is no moment with half the rules — and removed without
//! touching anyone else's rules.
//!
//! ```text
//! table inet weft
//!   set kubespan_targets_ipv4 / _ipv6    the routed set R (intervals)
//!   chain kubespan_prerouting            filter/prerouting 0: forwarded traffic (pods)
//!     mark & mask == tunnel  → accept                  (the tunnel's own UDP)
//!     daddr ∈ R, TCP SYN, MSS > M → MSS = M           (Weft; falls through)
//!     daddr ∈ R → mark = (mark & ~mask) ^ force, accept
//!   chain kubespan_outgoing              route/output 0: the node's own traffic, re-routed
//!     mark & mask == tunnel  → accept
//!     oifname "lo"           → accept
//!     daddr ∈ R, TCP SYN, MSS > M → MSS = M           (M = mtu−52 v4, mtu−72 v6; falls through)
//!     daddr ∈ R → mark = (mark & ~mask) ^ force, accept
//! ```
//!
//! Talos clamps the MSS only in `kubespan_outgoing`, so a pod's SYN (MSS 1460 on a 1500-byte pod
//! network) enters the tunnel unclamped and the connection relies on ICMP "fragmentation needed"
//! reaching the pod; Weft clamps forwarded SYNs in `kubespan_prerouting` too.
//!
//! Why the `nft` command and not netlink: nftables' netlink protocol is a bytecode assembler, and
//! the Rust bindings for it either wrap libnftnl (C) or are young; `nft` is what every
//! distribution ships with nftables, it validates the script as a whole and reports errors with
//! the line at fault. Rendering stays pure (and unit-tested); only [`apply`] and [`remove`] run it.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncWriteExt as _;

use super::{Capture, mss_v4, mss_v6};
use crate::wg::DataPlaneError;

/// Upper bound for one `nft` run: it takes milliseconds; more means something is stuck.
pub const NFT_TIMEOUT: Duration = Duration::from_secs(10);

/// Set of the routed IPv4 destinations.
pub const SET_V4: &str = "kubespan_targets_ipv4";
/// Set of the routed IPv6 destinations.
pub const SET_V6: &str = "kubespan_targets_ipv6";
/// Chain for forwarded traffic.
pub const CHAIN_PREROUTING: &str = "kubespan_prerouting";
/// Chain for the node's own traffic.
pub const CHAIN_OUTGOING: &str = "kubespan_outgoing";

/// The script that makes the table exactly `capture` (for a link of `mtu`), replacing whatever
/// the table held, in one transaction.
pub fn render(capture: &Capture, mtu: u32) -> String {
    let table = &capture.nftables_table;
    let mask = capture.mark_mask;
    let tunnel = capture.tunnel_mark;
    // (mark & ~mask) ^ force, as Talos sets it: other users' bits survive.
    let set_mark = format!(
        "meta mark set meta mark and {:#010x} xor {:#010x} accept",
        !mask, capture.force_mark
    );
    let is_tunnel = format!("meta mark and {mask:#010x} == {tunnel:#010x} accept");

    let mut s = String::new();
    // Declaring the table first makes the delete succeed when it does not exist yet.
    let _ = writeln!(s, "table inet {table}");
    let _ = writeln!(s, "delete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");
    for (set, kind, v6) in [(SET_V4, "ipv4_addr", false), (SET_V6, "ipv6_addr", true)] {
        let _ = writeln!(s, "\tset {set} {{");
        let _ = writeln!(s, "\t\ttype {kind}");
        let _ = writeln!(s, "\t\tflags interval");
        let _ = writeln!(s, "\t\tauto-merge");
        let elements: Vec<String> = capture
            .routed
            .iter()
            .filter(|n| matches!(n, IpNet::V6(_)) == v6)
            .map(ToString::to_string)
            .collect();
        if !elements.is_empty() {
            let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
        }
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "\tchain {CHAIN_PREROUTING} {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook prerouting priority filter; policy accept;"
    );
    let _ = writeln!(s, "\t\t{is_tunnel}");
    clamp_mss(&mut s, mtu);
    let _ = writeln!(s, "\t\tip daddr @{SET_V4} {set_mark}");
    let _ = writeln!(s, "\t\tip6 daddr @{SET_V6} {set_mark}");
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "\tchain {CHAIN_OUTGOING} {{");
    let _ = writeln!(
        s,
        "\t\ttype route hook output priority filter; policy accept;"
    );
    let _ = writeln!(s, "\t\t{is_tunnel}");
    let _ = writeln!(s, "\t\toifname \"lo\" accept");
    clamp_mss(&mut s, mtu);
    let _ = writeln!(s, "\t\tip daddr @{SET_V4} {set_mark}");
    let _ = writeln!(s, "\t\tip6 daddr @{SET_V6} {set_mark}");
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "}}");
    s
}

/// The rules that lower the MSS of SYNs into the tunnel to what fits its `mtu` (no verdict: the
/// packet goes on to be marked).
fn clamp_mss(s: &mut String, mtu: u32) {
    for (family, set, mss) in [("ip", SET_V4, mss_v4(mtu)), ("ip6", SET_V6, mss_v6(mtu))] {
        let _ = writeln!(
            s,
            "\t\t{family} daddr @{set} tcp flags & (syn | rst) == syn tcp option maxseg size > {mss} tcp option maxseg size set {mss}"
        );
    }
}

/// The script that removes the table, whether or not it exists.
pub fn render_removal(table: &str) -> String {
    format!("table inet {table}\ndelete table inet {table}\n")
}

/// Makes the table exactly `capture`.
pub async fn apply(capture: &Capture, mtu: u32) -> Result<(), DataPlaneError> {
    let what = format!(
        "applying the nftables table inet {}",
        capture.nftables_table
    );
    run(&what, &render(capture, mtu)).await
}

/// Removes the table; one that does not exist is fine.
pub async fn remove(table: &str) -> Result<(), DataPlaneError> {
    let what = format!("removing the nftables table inet {table}");
    run(&what, &render_removal(table)).await
}

/// Feeds `script` to `nft -f -`. The child is forked from the calling thread, so it acts in that
/// thread's network namespace (the data-plane thread's).
async fn run(what: &str, script: &str) -> Result<(), DataPlaneError> {
    let fail = |reason: String| DataPlaneError::failed(what, reason);
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                fail("the `nft` command is missing (install nftables)".to_owned())
            } else {
                fail(format!("running nft: {e}"))
            }
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| fail("nft has no stdin".to_owned()))?;
    let script = script.to_owned();
    let run = async move {
        stdin.write_all(script.as_bytes()).await?;
        drop(stdin);
        child.wait_with_output().await
    };
    let output = tokio::time::timeout(NFT_TIMEOUT, run)
        .await
        .map_err(|_| fail(format!("nft did not finish within {NFT_TIMEOUT:?}")))?
        .map_err(|e| fail(format!("running nft: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(fail(format!(
            "nft failed ({}): {}",
            output.status,
            stderr.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use weft_api::config::validate::RoutingSettings;

    use super::*;

    fn capture(routed: &[&str]) -> Capture {
        let routed = routed.iter().map(|n| n.parse().expect("net")).collect();
        Capture::new(&RoutingSettings::default(), routed)
    }

    #[test]
    fn renders_talos_rules_with_the_sets_split_by_family() {
        let script = render(
            &capture(&["10.0.0.2/32", "fd00::2/128", "192.168.0.0/24"]),
            1420,
        );
        let expected = "\
table inet weft
delete table inet weft
table inet weft {
\tset kubespan_targets_ipv4 {
\t\ttype ipv4_addr
\t\tflags interval
\t\tauto-merge
\t\telements = { 10.0.0.2/32, 192.168.0.0/24 }
\t}
\tset kubespan_targets_ipv6 {
\t\ttype ipv6_addr
\t\tflags interval
\t\tauto-merge
\t\telements = { fd00::2/128 }
\t}
\tchain kubespan_prerouting {
\t\ttype filter hook prerouting priority filter; policy accept;
\t\tmeta mark and 0x00000060 == 0x00000020 accept
\t\tip daddr @kubespan_targets_ipv4 tcp flags & (syn | rst) == syn tcp option maxseg size > 1368 tcp option maxseg size set 1368
\t\tip6 daddr @kubespan_targets_ipv6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1348 tcp option maxseg size set 1348
\t\tip daddr @kubespan_targets_ipv4 meta mark set meta mark and 0xffffff9f xor 0x00000040 accept
\t\tip6 daddr @kubespan_targets_ipv6 meta mark set meta mark and 0xffffff9f xor 0x00000040 accept
\t}
\tchain kubespan_outgoing {
\t\ttype route hook output priority filter; policy accept;
\t\tmeta mark and 0x00000060 == 0x00000020 accept
\t\toifname \"lo\" accept
\t\tip daddr @kubespan_targets_ipv4 tcp flags & (syn | rst) == syn tcp option maxseg size > 1368 tcp option maxseg size set 1368
\t\tip6 daddr @kubespan_targets_ipv6 tcp flags & (syn | rst) == syn tcp option maxseg size > 1348 tcp option maxseg size set 1348
\t\tip daddr @kubespan_targets_ipv4 meta mark set meta mark and 0xffffff9f xor 0x00000040 accept
\t\tip6 daddr @kubespan_targets_ipv6 meta mark set meta mark and 0xffffff9f xor 0x00000040 accept
\t}
}
";
        assert_eq!(script, expected);
    }

    #[test]
    fn an_empty_set_has_no_elements_line_and_marks_follow_the_config() {
        let mut c = capture(&[]);
        c.nftables_table = "mesh".into();
        c.tunnel_mark = 0x100;
        c.force_mark = 0x200;
        c.mark_mask = 0x300;
        let script = render(&c, 1280);
        assert!(!script.contains("elements"));
        assert!(script.starts_with("table inet mesh\ndelete table inet mesh\n"));
        assert!(script.contains("meta mark and 0x00000300 == 0x00000100 accept"));
        assert!(script.contains("meta mark set meta mark and 0xfffffcff xor 0x00000200 accept"));
        assert!(script.contains("maxseg size set 1228"));
        assert!(script.contains("maxseg size set 1208"));
    }

    #[test]
    fn removal_works_whether_or_not_the_table_exists() {
        assert_eq!(
            render_removal("weft"),
            "table inet weft\ndelete table inet weft\n"
        );
    }
}
